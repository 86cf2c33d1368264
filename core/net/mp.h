/* mp.h — msgpack helpers for message headers (msgpack-c underneath):
 * reading fields of a decoded header map, packing common shapes, and a
 * writer object with plain (non-inline) functions that the Lua FFI can call
 * to build headers. */
#ifndef LDASK_NET_MP_H
#define LDASK_NET_MP_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buffer.h"

/* Decodes the msgpack document at DATA (LEN bytes), which must be exactly
 * one map, into ZONE (the caller's, initialised with msgpack_zone_init):
 * *OUT points into ZONE until the caller clears it (msgpack_zone_clear),
 * so one zone serves message after message without an allocation each.
 * Returns 0, LD_NET_EPROTO or LD_NET_ENOMEM with a message in ERR. */
int ld_mp_parse_zone(const void *data, size_t len, msgpack_zone *zone, msgpack_object *out,
                     char *err, size_t errlen);

/* The value of string key KEY in map M, or NULL (also when M is not a map). */
const msgpack_object *ld_mp_get(const msgpack_object *m, const char *key);

/* Field readers: return 1 and set *out when KEY is present with the right
 * type, 0 otherwise. Strings point into the decoded document (not
 * NUL-terminated; *len is set). */
int ld_mp_get_str(const msgpack_object *m, const char *key, const char **out, size_t *len);
int ld_mp_get_i64(const msgpack_object *m, const char *key, int64_t *out);
int ld_mp_get_f64(const msgpack_object *m, const char *key, double *out);

/* 1 when O is a string equal to the NUL-terminated S. */
int ld_mp_str_eq(const msgpack_object *o, const char *s);

/* Packs a NUL-terminated string / a string of LEN bytes. */
void ld_mp_pack_cstr(msgpack_packer *pk, const char *s);
void ld_mp_pack_str(msgpack_packer *pk, const char *s, size_t len);

/* A header writer for FFI callers: an in-memory msgpack stream. */
typedef struct ld_mpw ld_mpw;

/* Creates a writer. Caller owns it (ld_mpw_free). NULL on OOM. */
ld_mpw *ld_mpw_new(void);
void ld_mpw_free(ld_mpw *w);
/* Empties the writer (keeps its memory). */
void ld_mpw_reset(ld_mpw *w);
/* Appends values. Each returns 0, or LD_NET_ENOMEM. */
int ld_mpw_nil(ld_mpw *w);
int ld_mpw_bool(ld_mpw *w, int v);
int ld_mpw_int(ld_mpw *w, int64_t v);
int ld_mpw_double(ld_mpw *w, double v);
int ld_mpw_str(ld_mpw *w, const char *s, size_t len);
int ld_mpw_array(ld_mpw *w, uint32_t n);
int ld_mpw_map(ld_mpw *w, uint32_t n);
/* Bytes written so far and their address (valid until the next call). */
size_t ld_mpw_size(const ld_mpw *w);
const char *ld_mpw_data(const ld_mpw *w);

/* A reusable decoder for FFI callers: one zone for header after header,
 * so decoding allocates nothing once the zone has grown to the headers'
 * size. Not thread-safe: one per Lua state. */
typedef struct ld_mp_reader ld_mp_reader;

/* Creates a reader. Caller owns it (ld_mp_reader_free). NULL on OOM. */
ld_mp_reader *ld_mp_reader_new(void);
void ld_mp_reader_free(ld_mp_reader *r);
/* Decodes DATA (LEN bytes, one msgpack map). Returns the decoded object,
 * owned by R and valid until the next parse on R, or NULL with a message
 * in ERR. */
const msgpack_object *ld_mp_reader_parse(ld_mp_reader *r, const void *data, size_t len, char *err,
                                         size_t errlen);

#endif
