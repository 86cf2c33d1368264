/* jsontape.h — tokenizes JSON lines into a flat tape for ldask.bag's fast
 * JSON path: the Lua side builds tables from the tape (one step per token,
 * tables presized, short strings interned once) instead of scanning bytes.
 *
 * A line whose objects all have shapes gets a signature: the sequence of
 * its token kinds with shapes and array lengths. Lines of one signature
 * have the same structure, so the Lua side builds them with straight-line
 * code generated once per signature.
 *
 * Only a strict subset of JSON is tokenized: strings without escapes or
 * control bytes, numbers in JSON's grammar, nesting up to LD_JSONTAPE_DEPTH.
 * A line outside the subset is marked (line_first = -1) and the caller
 * decodes it another way (with lua-cjson, so its result or error is exactly
 * cjson's). Numbers: m / 10^k when exact (Clinger's fast path), otherwise
 * strtod on the token, as cjson does: both give the correctly rounded value.
 */
#ifndef LDASK_JSONTAPE_H
#define LDASK_JSONTAPE_H

#include <stddef.h>
#include <stdint.h>

#define LD_JSONTAPE_DEPTH 200
#define LD_JSONTAPE_SHAPE_KEYS 32
#define LD_JSONTAPE_SIG_TOKENS 64 /* longer lines get no signature */
#define LD_JSONTAPE_SHAPE_KEYS 32
#define LD_JSONTAPE_SIG_TOKENS 64 /* longer lines get no signature */

enum {
  LD_JT_OBJ = 1, /* object begins; ival = number of members (a size hint);
                    shape = its shape: the sequence of its keys, when all are
                    interned, distinct, and at most LD_JSONTAPE_SHAPE_KEYS */
  LD_JT_ARR = 2, /* array begins; ival = number of elements */
  LD_JT_END = 3, /* the innermost open container ends */
  LD_JT_KEY = 4, /* object key: interned id in ival (>= 0), else off/len */
  LD_JT_STR = 5, /* string value: as KEY */
  LD_JT_NUM = 6, /* number: num */
  LD_JT_TRUE = 7,
  LD_JT_FALSE = 8,
  LD_JT_NULL = 9
};

enum { LD_JSONTAPE_ENOMEM = -1 };

/* The tape. The public fields come first (the FFI declares only these);
 * arrays are owned by the tape and valid until the next parse or free. */
typedef struct ld_jsontape {
  size_t ntok;         /* tokens of the last parse */
  uint8_t *kind;       /* LD_JT_* per token */
  int32_t *ival;       /* see the kinds above */
  uint32_t *off, *len; /* string bytes at data + off (when ival < 0) */
  double *num;         /* number tokens */
  int32_t *line_first; /* per line: its first token, or -1 (not in the subset);
                          line_first[nlines] = ntok */
  const char *arena;   /* interned strings: bytes at arena + str_off[id] */
  uint32_t *str_off, *str_len;
  size_t nstr;         /* interned strings so far (ids 0 .. nstr-1, stable) */
  int32_t *shape;      /* OBJ tokens: shape id (>= 0) or -1 */
  int32_t *shape_keys; /* shape s: the key ids shape_keys[shape_first[s] ..] */
  uint32_t *shape_first, *shape_n;
  size_t nshape;      /* shapes so far (ids stable across parses) */
  int32_t *line_sig;  /* per line: its signature id, or -1 */
  int32_t *sig_codes; /* signature g: codes sig_codes[sig_first[g] .. + sig_n[g]],
                         one per token: kind + 16 * (OBJ: shape, ARR: length) */
  uint32_t *sig_first, *sig_n;
  size_t nsig; /* signatures so far (ids stable across parses) */
  /* private */
  size_t cap, lcap, scap, acap, alen, hcap;
  int32_t *hash; /* open addressing: interned id or -1 */
  char *arena_mut;
  int32_t *shash; /* open addressing: shape id or -1 */
  size_t skcap, sfcap, nskeys;
  int32_t *kids;  /* key ids of the open objects of the line being parsed */
  int32_t *ghash; /* open addressing: signature id or -1 */
  struct memo_ent {
    uint64_t key;
    uint32_t len;
    int32_t id;
  } * memo; /* short strings: bytes as a word -> interned id */
  size_t gfcap, gccap, ngcodes;
} ld_jsontape;

/* Returns a new empty tape owned by the caller (free with ld_jsontape_free),
 * or NULL when out of memory. */
ld_jsontape *ld_jsontape_new(void);

/* Frees T and everything it owns. NULL is accepted. */
void ld_jsontape_free(ld_jsontape *t);

/* Tokenizes N lines: line i is LENS[i] bytes at DATA + STARTS[i] (borrowed;
 * string tokens refer into DATA, so keep it while reading the tape).
 * Replaces the previous tokens; interned strings accumulate (up to a bound)
 * across calls. Returns 0 or LD_JSONTAPE_ENOMEM. */
int ld_jsontape_parse(ld_jsontape *t, const char *data, const uint32_t *starts,
                      const uint32_t *lens, size_t n);

#endif
