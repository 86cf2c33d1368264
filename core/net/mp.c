/* mp.c — msgpack helpers for message headers (see mp.h). */
#include "net/mp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/frame.h"

/* The checks of a parsed header: RC and OFF from msgpack, the decoded
 * object's TYPE. Returns 0 or a negative code with a message in ERR. */
static int check_parsed(msgpack_unpack_return rc, size_t off, size_t len, msgpack_object_type type,
                        char *err, size_t errlen) {
  if (rc != MSGPACK_UNPACK_SUCCESS && rc != MSGPACK_UNPACK_EXTRA_BYTES) {
    snprintf(err, errlen, "bad message header: %s msgpack (%zu bytes)",
             rc == MSGPACK_UNPACK_CONTINUE      ? "truncated"
             : rc == MSGPACK_UNPACK_NOMEM_ERROR ? "out of memory decoding"
                                                : "invalid",
             len);
    return rc == MSGPACK_UNPACK_NOMEM_ERROR ? LD_NET_ENOMEM : LD_NET_EPROTO;
  }
  if (off != len) {
    snprintf(err, errlen, "bad message header: %zu trailing bytes after the msgpack map",
             len - off);
    return LD_NET_EPROTO;
  }
  if (type != MSGPACK_OBJECT_MAP) {
    snprintf(err, errlen, "bad message header: expected a msgpack map, got type %d", (int)type);
    return LD_NET_EPROTO;
  }
  return 0;
}

/* Big-endian length field of N bytes at P. */
static uint64_t be(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

/* 0 when no container in the LEN bytes at P announces more elements than
 * the bytes left could hold (each takes at least one), else -1: msgpack-c
 * allocates a container's elements before reading them, so a 5-byte
 * header announcing 2^32 would cost 64 GiB. Truncated or malformed
 * documents pass: the decoder reports them. */
static int sizes_fit(const unsigned char *p, size_t len) {
  size_t pos = 0;
  uint64_t pending = 1; /* values still to read */
  while (pending > 0 && pos < len) {
    unsigned b = p[pos++];
    pending--;
    uint64_t add = 0, skip = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
      /* fixint, nil, bool */
    } else if (b <= 0x8f) {
      add = 2 * (uint64_t)(b & 0x0f);
    } else if (b <= 0x9f) {
      add = b & 0x0f;
    } else if (b <= 0xbf) {
      skip = b & 0x1f;
    } else {
      static const signed char lenbytes[32] = {
          /* c0 */ 0, -1, 0, 0, 1, 2, 4, 1, 2, 4, 0, 0, 0, 0, 0, 0,
          /* d0 */ 0, 0,  0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 2, 4, 2, 4};
      static const unsigned char fixed[32] = {
          /* c0 */ 0, 0, 0, 0, 0, 0, 0, 1, 1,  1, 4, 8, 1, 2, 4, 8,
          /* d0 */ 1, 2, 4, 8, 2, 3, 5, 9, 17, 0, 0, 0, 0, 0, 0, 0};
      int lb = lenbytes[b - 0xc0];
      if (lb < 0) return 0; /* 0xc1: the decoder refuses it */
      if (pos + (size_t)lb > len) return 0;
      uint64_t n = be(p + pos, lb);
      pos += (size_t)lb;
      if (b >= 0xdc && b <= 0xdd)
        add = n;
      else if (b >= 0xde)
        add = 2 * n;
      else
        skip = n + fixed[b - 0xc0]; /* str, bin, ext (+ type byte), numbers */
    }
    if (skip > len - pos) return 0;
    pos += (size_t)skip;
    pending += add;
    if (pending > len - pos) return -1;
  }
  return 0;
}

int ld_mp_parse_zone(const void *data, size_t len, msgpack_zone *zone, msgpack_object *out,
                     char *err, size_t errlen) {
  if (sizes_fit(data, len) != 0) {
    snprintf(err, errlen,
             "bad message header: truncated msgpack (%zu bytes): a map or array announces more "
             "elements than the bytes left",
             len);
    return LD_NET_EPROTO;
  }
  size_t off = 0;
  msgpack_unpack_return rc = msgpack_unpack(data, len, &off, zone, out);
  int ok = rc == MSGPACK_UNPACK_SUCCESS || rc == MSGPACK_UNPACK_EXTRA_BYTES;
  return check_parsed(rc, off, len, ok ? out->type : MSGPACK_OBJECT_NIL, err, errlen);
}

int ld_mp_str_eq(const msgpack_object *o, const char *s) {
  if (o == NULL || o->type != MSGPACK_OBJECT_STR) return 0;
  size_t n = strlen(s);
  return o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

const msgpack_object *ld_mp_get(const msgpack_object *m, const char *key) {
  if (m == NULL || m->type != MSGPACK_OBJECT_MAP) return NULL;
  for (uint32_t i = 0; i < m->via.map.size; i++)
    if (ld_mp_str_eq(&m->via.map.ptr[i].key, key)) return &m->via.map.ptr[i].val;
  return NULL;
}

int ld_mp_get_str(const msgpack_object *m, const char *key, const char **out, size_t *len) {
  const msgpack_object *o = ld_mp_get(m, key);
  if (o == NULL || o->type != MSGPACK_OBJECT_STR) return 0;
  *out = o->via.str.ptr;
  *len = o->via.str.size;
  return 1;
}

int ld_mp_get_i64(const msgpack_object *m, const char *key, int64_t *out) {
  const msgpack_object *o = ld_mp_get(m, key);
  if (o == NULL) return 0;
  if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
    if (o->via.u64 > INT64_MAX) return 0;
    *out = (int64_t)o->via.u64;
    return 1;
  }
  if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
    *out = o->via.i64;
    return 1;
  }
  if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) {
    double d = o->via.f64;
    if (d != (double)(int64_t)d) return 0;
    *out = (int64_t)d;
    return 1;
  }
  return 0;
}

int ld_mp_get_f64(const msgpack_object *m, const char *key, double *out) {
  const msgpack_object *o = ld_mp_get(m, key);
  if (o == NULL) return 0;
  switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
      *out = (double)o->via.u64;
      return 1;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
      *out = (double)o->via.i64;
      return 1;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
      *out = o->via.f64;
      return 1;
    default:
      return 0;
  }
}

void ld_mp_pack_str(msgpack_packer *pk, const char *s, size_t len) {
  msgpack_pack_str(pk, len);
  msgpack_pack_str_body(pk, s, len);
}

void ld_mp_pack_cstr(msgpack_packer *pk, const char *s) { ld_mp_pack_str(pk, s, strlen(s)); }

struct ld_mpw {
  msgpack_sbuffer sb;
  msgpack_packer pk;
};

ld_mpw *ld_mpw_new(void) {
  ld_mpw *w = malloc(sizeof *w);
  if (w == NULL) return NULL;
  msgpack_sbuffer_init(&w->sb);
  msgpack_packer_init(&w->pk, &w->sb, msgpack_sbuffer_write);
  return w;
}

void ld_mpw_free(ld_mpw *w) {
  if (w == NULL) return;
  msgpack_sbuffer_destroy(&w->sb);
  free(w);
}

void ld_mpw_reset(ld_mpw *w) { w->sb.size = 0; }

#define MPW_RC(x) ((x) == 0 ? 0 : LD_NET_ENOMEM)
int ld_mpw_nil(ld_mpw *w) { return MPW_RC(msgpack_pack_nil(&w->pk)); }
int ld_mpw_bool(ld_mpw *w, int v) {
  return MPW_RC(v ? msgpack_pack_true(&w->pk) : msgpack_pack_false(&w->pk));
}
int ld_mpw_int(ld_mpw *w, int64_t v) { return MPW_RC(msgpack_pack_int64(&w->pk, v)); }
int ld_mpw_double(ld_mpw *w, double v) { return MPW_RC(msgpack_pack_double(&w->pk, v)); }
int ld_mpw_str(ld_mpw *w, const char *s, size_t len) {
  if (msgpack_pack_str(&w->pk, len) != 0) return LD_NET_ENOMEM;
  return MPW_RC(msgpack_pack_str_body(&w->pk, s, len));
}
int ld_mpw_array(ld_mpw *w, uint32_t n) { return MPW_RC(msgpack_pack_array(&w->pk, n)); }
int ld_mpw_map(ld_mpw *w, uint32_t n) { return MPW_RC(msgpack_pack_map(&w->pk, n)); }
size_t ld_mpw_size(const ld_mpw *w) { return w->sb.size; }
const char *ld_mpw_data(const ld_mpw *w) { return w->sb.data; }

struct ld_mp_reader {
  msgpack_zone zone;
  msgpack_object obj;
};

ld_mp_reader *ld_mp_reader_new(void) {
  ld_mp_reader *r = malloc(sizeof *r);
  if (r == NULL) return NULL;
  if (!msgpack_zone_init(&r->zone, MSGPACK_ZONE_CHUNK_SIZE)) {
    free(r);
    return NULL;
  }
  return r;
}

void ld_mp_reader_free(ld_mp_reader *r) {
  if (r == NULL) return;
  msgpack_zone_destroy(&r->zone);
  free(r);
}

const msgpack_object *ld_mp_reader_parse(ld_mp_reader *r, const void *data, size_t len, char *err,
                                         size_t errlen) {
  msgpack_zone_clear(&r->zone);
  if (ld_mp_parse_zone(data, len, &r->zone, &r->obj, err, errlen) != 0) return NULL;
  return &r->obj;
}
