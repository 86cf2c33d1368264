/* csv.c — CSV blocks parsed in C straight into typed columns for
 * ldask.dataframe's read_csv: one line-aligned byte range of a file (read
 * through core/io/textblocks, which also does gzip), only the fields asked
 * for (projection), numbers parsed without locale-bound strtod (an exact
 * fast path for plain decimals, strtod_l in the C locale for the rest),
 * ISO datetimes on a fast path, strings dictionary-encoded while they have
 * few distinct values. Also type inference from a sample. See frame.h. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include <emmintrin.h>

#include "frame/csvblock.h"
#include "frame/frame.h"
#include "frame/parse_fast.h"
#include "io/textblocks.h"

/* ---- missing values --------------------------------------------------- */

#define NA_MAX 64

typedef struct nalist {
  const char *str[NA_MAX]; /* the strings, from a NUL-separated list */
  uint8_t len[NA_MAX];
  int n;
  uint64_t lens; /* bit L set: some entry has length L (< 64) */
} nalist;

static void nalist_init(nalist *na, const char *list) {
  na->n = 0;
  na->lens = 1; /* "" is always missing */
  if (list == NULL) return;
  for (const char *q = list; *q && na->n < NA_MAX; q += strlen(q) + 1) {
    size_t l = strlen(q);
    if (l >= 64) continue;
    na->str[na->n] = q;
    na->len[na->n++] = (uint8_t)l;
    na->lens |= (uint64_t)1 << l;
  }
}

static inline int is_na(const nalist *na, const char *p, size_t len) {
  if (len >= 64 || !(na->lens & ((uint64_t)1 << len))) return 0;
  if (len == 0) return 1;
  for (int i = 0; i < na->n; i++)
    if (na->len[i] == len && memcmp(na->str[i], p, len) == 0) return 1;
  return 0;
}

/* ---- column builders -------------------------------------------------- */

typedef struct colstate {
  int type;
  char *data; /* values (plain strings: bytes) */
  size_t cap, len;
  uint8_t *valid; /* NULL until the first missing value */
  size_t vcap;
  int64_t *off; /* plain strings: offsets; dict: category offsets */
  size_t offcap, noff;
  int dict;
  uint32_t *ht; /* dict: hash slots holding category index + 1 */
  uint64_t *hh; /* dict: hash of each category */
  uint8_t *cna; /* dict: 1 where the category is a missing-value string */
  size_t cnacap;
  size_t htcap, hhcap;
  char *cb; /* dict: category bytes */
  size_t cbcap, cblen;
  int64_t ncats;
} colstate;

static int grow(void **p, size_t *cap, size_t need, size_t item) {
  if (need <= *cap) return 0;
  size_t nc = *cap ? *cap : 4096;
  while (nc < need) nc *= 2;
  void *q = realloc(*p, nc * item);
  if (q == NULL) return -1;
  *p = q;
  *cap = nc;
  return 0;
}

static void col_free(colstate *c) {
  free(c->data);
  free(c->valid);
  free(c->off);
  free(c->ht);
  free(c->hh);
  free(c->cb);
  free(c->cna);
  memset(c, 0, sizeof *c);
}

/* Marks row ROW missing (allocating the mask, all present before). */
static int set_missing(colstate *c, int64_t row) {
  if (c->valid == NULL || c->vcap <= (size_t)row) {
    size_t old = c->valid ? c->vcap : 0;
    if (grow((void **)&c->valid, &c->vcap, (size_t)row + 1, 1)) return -1;
    memset(c->valid + old, 1, c->vcap - old);
  }
  c->valid[row] = 0;
  return 0;
}

/* Appends N (a constant at each call site) bytes of V. */
static inline __attribute__((always_inline)) int push_fixed(colstate *c, const void *v, size_t n) {
  if (__builtin_expect(c->len + n > c->cap, 0) && grow((void **)&c->data, &c->cap, c->len + n, 1))
    return -1;
  memcpy(c->data + c->len, v, n);
  c->len += n;
  return 0;
}

static int push_bytes(colstate *c, const void *v, size_t n) {
  if (c->len + n > c->cap && grow((void **)&c->data, &c->cap, c->len + n, 1)) return -1;
  memcpy(c->data + c->len, v, n);
  c->len += n;
  return 0;
}

/* Dictionary: the code of string [P, P+N), added when new; -2 when the
 * dictionary passed MAX categories (switch to plain), -3 out of memory. */
/* Equality of N bytes, inline for the short strings of categories. */
static inline int same_bytes(const char *a, const char *b, size_t n) {
  while (n >= 8) {
    uint64_t x, y;
    memcpy(&x, a, 8);
    memcpy(&y, b, 8);
    if (x != y) return 0;
    a += 8;
    b += 8;
    n -= 8;
  }
  while (n--)
    if (*a++ != *b++) return 0;
  return 1;
}

static int64_t dict_code(colstate *c, const char *p, size_t n, int64_t max, const nalist *na) {
  uint64_t h = XXH3_64bits(p, n);
  if (c->htcap == 0 || (size_t)(c->ncats + 1) * 2 > c->htcap) {
    size_t nc = c->htcap ? c->htcap * 2 : 256;
    uint32_t *nt = calloc(nc, sizeof *nt);
    if (nt == NULL) return -3;
    for (int64_t i = 0; i < c->ncats; i++) {
      size_t s = (size_t)c->hh[i] & (nc - 1);
      while (nt[s]) s = (s + 1) & (nc - 1);
      nt[s] = (uint32_t)(i + 1);
    }
    free(c->ht);
    c->ht = nt;
    c->htcap = nc;
  }
  size_t s = (size_t)h & (c->htcap - 1);
  while (c->ht[s]) {
    int64_t i = c->ht[s] - 1;
    if (c->hh[i] == h && (size_t)(c->off[i + 1] - c->off[i]) == n &&
        same_bytes(c->cb + c->off[i], p, n))
      return i;
    s = (s + 1) & (c->htcap - 1);
  }
  if (c->ncats >= max) return -2;
  int64_t i = c->ncats;
  if (grow((void **)&c->hh, &c->hhcap, (size_t)i + 1, sizeof *c->hh) ||
      grow((void **)&c->off, &c->offcap, (size_t)i + 2, sizeof *c->off) ||
      grow((void **)&c->cb, &c->cbcap, c->cblen + n + 1, 1) ||
      grow((void **)&c->cna, &c->cnacap, (size_t)i + 1, 1))
    return -3;
  c->cna[i] = (uint8_t)is_na(na, p, n);
  if (i == 0) c->off[0] = 0;
  memcpy(c->cb + c->cblen, p, n);
  c->cblen += n;
  c->off[i + 1] = (int64_t)c->cblen;
  c->hh[i] = h;
  c->ht[s] = (uint32_t)(i + 1);
  c->ncats = i + 1;
  return i;
}

/* Turns a dictionary column of NROWS rows into plain strings. */
static int dict_to_plain(colstate *c, int64_t nrows) {
  const int32_t *codes = (const int32_t *)c->data;
  size_t total = 0;
  for (int64_t r = 0; r < nrows; r++)
    if (codes[r] >= 0) total += (size_t)(c->off[codes[r] + 1] - c->off[codes[r]]);
  char *bytes = malloc(total + 1);
  int64_t *off = malloc(((size_t)nrows + 1) * sizeof *off);
  if (bytes == NULL || off == NULL) {
    free(bytes);
    free(off);
    return -1;
  }
  size_t pos = 0;
  off[0] = 0;
  for (int64_t r = 0; r < nrows; r++) {
    int32_t k = codes[r];
    if (k >= 0) {
      size_t n = (size_t)(c->off[k + 1] - c->off[k]);
      memcpy(bytes + pos, c->cb + c->off[k], n);
      pos += n;
    } else if (set_missing(c, r)) { /* a missing value keeps its mark in the plain form */
      free(bytes);
      free(off);
      return -1;
    }
    off[r + 1] = (int64_t)pos;
  }
  free(c->data);
  free(c->off);
  free(c->ht);
  free(c->hh);
  free(c->cb);
  free(c->cna);
  c->cna = NULL;
  c->cnacap = 0;
  c->ht = NULL;
  c->hh = NULL;
  c->cb = NULL;
  c->htcap = c->hhcap = c->cbcap = c->cblen = 0;
  c->data = bytes;
  c->cap = total + 1;
  c->len = total;
  c->off = off;
  c->offcap = (size_t)nrows + 1;
  c->noff = (size_t)nrows + 1;
  c->dict = 0;
  c->ncats = 0;
  return 0;
}

/* ---- fields ----------------------------------------------------------- */

/* Copies a quoted field's content without its "" escapes into SCRATCH. */
static size_t unescape(const char *p, size_t n, int quote, char *scratch) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    scratch[o++] = p[i];
    if (p[i] == quote && i + 1 < n && p[i + 1] == quote) i++;
  }
  return o;
}

typedef struct parser {
  ld_csv_spec *s;
  colstate *cols;
  nalist na;
  int na_numeric; /* some missing-value string parses as a number */
  char *scratch;
  size_t scratchcap;
  void *ctx; /* inference state */
} parser;

static int value_error(parser *ps, int64_t line, int k, const char *p, size_t n) {
  ld_csv_spec *s = ps->s;
  s->err_line = line;
  s->err_col = k;
  size_t m = n < sizeof s->err_value - 1 ? n : sizeof s->err_value - 1;
  memcpy(s->err_value, p, m);
  s->err_value[m] = 0;
  return LD_CSV_EVALUE;
}

/* Stores field [P, P+N) (unquoted content) as row ROW of output column K. */
static inline __attribute__((always_inline)) int store(parser *ps, int k, int64_t row, int64_t line,
                                                       const char *p, size_t n) {
  colstate *c = &ps->cols[k];
  int missing = 0;
  switch (c->type) {
    case LD_COL_F64: {
      double v;
      if (ps->na_numeric && is_na(&ps->na, p, n)) {
        v = NAN;
      } else if (!ld_fast_f64(p, n, &v) && ld_parse_f64_term(p, n, &v) != 0) {
        if (!is_na(&ps->na, p, n)) return value_error(ps, line, k, p, n);
        v = NAN;
      }
      return push_fixed(c, &v, 8) ? LD_TEXT_ENOMEM : 0;
    }
    case LD_COL_I64: {
      int64_t v = 0;
      if (ps->na_numeric && is_na(&ps->na, p, n)) {
        missing = 1;
      } else if (!ld_fast_i64(p, n, &v) && ld_parse_i64_term(p, n, &v) != 0) {
        if (!is_na(&ps->na, p, n)) return value_error(ps, line, k, p, n);
        missing = 1;
      }
      if (missing && set_missing(c, row)) return LD_TEXT_ENOMEM;
      return push_fixed(c, &v, 8) ? LD_TEXT_ENOMEM : 0;
    }
    case LD_COL_BOOL: {
      uint8_t v = 0;
      if (ld_parse_bool(p, n, &v) != 0) {
        if (!is_na(&ps->na, p, n)) return value_error(ps, line, k, p, n);
        if (set_missing(c, row)) return LD_TEXT_ENOMEM;
      }
      return push_fixed(c, &v, 1) ? LD_TEXT_ENOMEM : 0;
    }
    case LD_COL_DT: {
      int64_t v;
      if (ld_parse_datetime(p, n, &v) != 0) {
        if (!is_na(&ps->na, p, n)) return value_error(ps, line, k, p, n);
        v = LD_NAT;
      }
      return push_fixed(c, &v, 8) ? LD_TEXT_ENOMEM : 0;
    }
    default: {       /* strings */
      if (c->dict) { /* (a category knows whether it is a missing value) */
        int64_t r = dict_code(c, p, n, ps->s->dict_max, &ps->na);
        if (r == -3) return LD_TEXT_ENOMEM;
        if (r == -2) {
          if (dict_to_plain(c, row)) return LD_TEXT_ENOMEM;
          return store(ps, k, row, line, p, n);
        }
        int32_t code = c->cna[r] ? -1 : (int32_t)r;
        if (c->len + 4 > c->cap && grow((void **)&c->data, &c->cap, c->len + 4, 1))
          return LD_TEXT_ENOMEM;
        memcpy(c->data + c->len, &code, 4);
        c->len += 4;
        return 0;
      }
      missing = is_na(&ps->na, p, n);
      if (missing) {
        if (set_missing(c, row)) return LD_TEXT_ENOMEM;
        n = 0;
      }
      if (push_bytes(c, p, n)) return LD_TEXT_ENOMEM;
      if (grow((void **)&c->off, &c->offcap, (size_t)row + 2, sizeof *c->off))
        return LD_TEXT_ENOMEM;
      c->off[row + 1] = (int64_t)c->len;
      c->noff = (size_t)row + 2;
      return 0;
    }
  }
}

/* Splits the next field at P (before E): its content [*FS, *FS + *FN)
 * (quotes removed, escapes resolved into the scratch buffer when needed).
 * Returns the position after the separator, or NULL at the line's end. */
static const char *next_field(parser *ps, const char *p, const char *e, const char **fs, size_t *fn,
                              int want) {
  int sep = ps->s->sep, quote = ps->s->quote;
  if (p < e && *p == quote && quote != 0) {
    const char *q = p + 1;
    int escaped = 0;
    for (;;) {
      const char *t = memchr(q, quote, (size_t)(e - q));
      if (t == NULL) { /* unterminated: take the rest */
        q = e;
        break;
      }
      if (t + 1 < e && t[1] == quote) {
        escaped = 1;
        q = t + 2;
        continue;
      }
      q = t;
      break;
    }
    *fs = p + 1;
    *fn = (size_t)(q - (p + 1));
    if (want && escaped) {
      if (*fn > ps->scratchcap) {
        char *nb = realloc(ps->scratch, *fn);
        if (nb != NULL) {
          ps->scratch = nb;
          ps->scratchcap = *fn;
        }
      }
      if (*fn <= ps->scratchcap) {
        *fn = unescape(*fs, *fn, quote, ps->scratch);
        *fs = ps->scratch;
      }
    }
    const char *t = q < e ? memchr(q, sep, (size_t)(e - q)) : NULL;
    return t ? t + 1 : NULL;
  }
  const char *t = memchr(p, sep, (size_t)(e - p));
  *fs = p;
  *fn = (size_t)((t ? t : e) - p);
  return t ? t + 1 : NULL;
}

/* 1 when a missing-value string reads as a (non-NaN) number: then numeric
 * fields are checked against the list before parsing. */
static int na_is_numeric(const char *list) {
  if (list == NULL) return 0;
  for (const char *q = list; *q; q += strlen(q) + 1) {
    double v;
    if (ld_parse_f64(q, strlen(q), &v) == 0 && v == v) return 1;
  }
  return 0;
}

/* Opens the block's reader. */
static int open_block(ld_csv_spec *s, ld_textreader **r) {
  return ld_textreader_open(s->path, s->compression, s->start, s->stop, 4u << 20, 1, r, s->err,
                            sizeof s->err);
}

static void release_outputs(ld_csv_spec *s) {
  for (int k = 0; k < s->ncols; k++) {
    ld_csv_out *o = &s->out[k];
    ld_buffer_release(o->data);
    ld_buffer_release(o->offsets);
    ld_buffer_release(o->cats);
    ld_buffer_release(o->valid);
    o->data = o->offsets = o->cats = o->valid = NULL;
  }
}

/* Moves malloc'ed P (SIZE bytes) into a new buffer; NULL on failure (P is
 * then freed). */
static ld_buffer *wrap(void *p, size_t size) {
  if (p == NULL) {
    p = malloc(1);
    if (p == NULL) return NULL;
  }
  ld_buffer *b = ld_buffer_wrap(p, size, NULL, NULL);
  if (b == NULL) free(p);
  return b;
}

static int finish(parser *ps) {
  ld_csv_spec *s = ps->s;
  int64_t n = s->nrows;
  for (int k = 0; k < s->ncols; k++) {
    colstate *c = &ps->cols[k];
    ld_csv_out *o = &s->out[k];
    if (c->type == LD_COL_STR && !c->dict) {
      if (grow((void **)&c->off, &c->offcap, (size_t)n + 1, sizeof *c->off)) return -1;
      c->off[0] = 0;
      if (n == 0) c->len = 0;
    }
    if (c->valid != NULL && c->vcap < (size_t)n) {
      size_t old = c->vcap;
      if (grow((void **)&c->valid, &c->vcap, (size_t)n, 1)) return -1;
      memset(c->valid + old, 1, c->vcap - old);
    }
    o->dict = c->type == LD_COL_STR && c->dict;
    o->data = wrap(c->data, c->len);
    c->data = NULL;
    if (o->data == NULL) return -1;
    if (c->valid != NULL) {
      o->valid = wrap(c->valid, (size_t)n);
      c->valid = NULL;
      if (o->valid == NULL) return -1;
    }
    if (c->type == LD_COL_STR) {
      if (o->dict) {
        if (c->ncats == 0) {
          if (grow((void **)&c->off, &c->offcap, 1, sizeof *c->off)) return -1;
          c->off[0] = 0;
        }
        o->ncats = c->ncats;
        o->nbytes = (int64_t)c->cblen;
        o->offsets = wrap(c->off, ((size_t)c->ncats + 1) * sizeof *c->off);
        c->off = NULL;
        o->cats = wrap(c->cb, c->cblen);
        c->cb = NULL;
        if (o->offsets == NULL || o->cats == NULL) return -1;
      } else {
        o->nbytes = (int64_t)c->len;
        o->offsets = wrap(c->off, ((size_t)n + 1) * sizeof *c->off);
        c->off = NULL;
        if (o->offsets == NULL) return -1;
      }
    }
  }
  return 0;
}

/* Walks the lines of the block, calling ROW(ps, line, p, e) for each
 * non-blank line (after the header when skipped). */
typedef int (*row_fn)(parser *ps, int64_t line, const char *p, const char *e);

static int walk(parser *ps, row_fn fn, int64_t maxlines) {
  ld_csv_spec *s = ps->s;
  ld_textreader *r = NULL;
  int rc = open_block(s, &r);
  if (rc < 0) return rc;
  int64_t line = 0, seen = 0;
  int skip = s->skip_header;
  for (;;) {
    const char *data;
    const uint32_t *starts, *lens;
    int64_t n = ld_textreader_next(r, &data, &starts, &lens);
    if (n < 0) {
      snprintf(s->err, sizeof s->err, "%s", ld_textreader_error(r));
      ld_textreader_close(r);
      return (int)n;
    }
    if (n == 0) break;
    for (int64_t i = 0; i < n; i++, line++) {
      const char *p = data + starts[i], *e = p + lens[i];
      if (skip) {
        skip = 0;
        continue;
      }
      if (p == e) continue; /* blank lines are skipped, as pandas */
      if ((rc = fn(ps, line, p, e)) < 0) {
        ld_textreader_close(r);
        return rc;
      }
      if (maxlines > 0 && ++seen >= maxlines) {
        ld_textreader_close(r);
        return 0;
      }
    }
  }
  ld_textreader_close(r);
  return 0;
}

static int too_many(parser *ps, int64_t line, int f) {
  ld_csv_spec *s = ps->s;
  s->err_line = line;
  snprintf(s->err, sizeof s->err, "expected %d fields, saw %d", s->nfields, f);
  return LD_CSV_EFIELDS;
}

/* ---- the block scanner ------------------------------------------------ */

/* Bit i set where P[i] == the byte in C, for 64 bytes. */
static inline uint64_t eqmask(const char *p, __m128i c) {
  uint64_t m0 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)p), c));
  uint64_t m1 =
      (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), c));
  uint64_t m2 =
      (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), c));
  uint64_t m3 =
      (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), c));
  return m0 | (m1 << 16) | (m2 << 32) | (m3 << 48);
}

/* Bit i set when an odd number of bits at or below i are set in X. */
static inline uint64_t prefix_xor(uint64_t x) {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}

typedef struct scanrow {
  int64_t line; /* 0-based line of the block */
  int f;        /* field number in the line */
  int filled;   /* outputs stored for this line */
  int skip;     /* the header line is being skipped */
} scanrow;

/* Ends a line: the field count check and the missing trailing fields. */
static inline __attribute__((always_inline)) int end_row(parser *ps, scanrow *r) {
  ld_csv_spec *s = ps->s;
  int rc;
  if (s->nfields > 0 && r->f > s->nfields) return too_many(ps, r->line, r->f);
  for (int k = r->filled; k < s->ncols; k++)
    if ((rc = store(ps, k, s->nrows, r->line, "", 0)) < 0) return rc;
  s->nrows++;
  return 0;
}

/* Stores the field [FS, FS+FN) of the current line when it is wanted. */
static inline __attribute__((always_inline)) int on_field(parser *ps, scanrow *r,
                                                          const int32_t *map, int nmap,
                                                          const char *fs, size_t fn) {
  int f = r->f++;
  if (f >= nmap || map[f] < 0) return 0;
  int quote = ps->s->quote;
  if (fn > 0 && quote != 0 && fs[0] == quote) {
    fs++;
    fn--;
    if (fn > 0 && fs[fn - 1] == quote) fn--;
    if (memchr(fs, quote, fn) != NULL) {
      if (fn + 1 > ps->scratchcap) {
        char *nb = realloc(ps->scratch, fn + 1);
        if (nb == NULL) return LD_TEXT_ENOMEM;
        ps->scratch = nb;
        ps->scratchcap = fn + 1;
      }
      fn = unescape(fs, fn, quote, ps->scratch);
      ps->scratch[fn] = 0; /* (the parsers' terminator) */
      fs = ps->scratch;
    }
  }
  r->filled++;
  return store(ps, map[f], ps->s->nrows, r->line, fs, fn);
}

/* Sizes the numeric outputs for the rows the block probably holds (its
 * length over the mean length of its first lines, plus 5%): no regrowth
 * copies for a block of similar lines. */
static void presize(parser *ps, const char *p, size_t len) {
  size_t probe = len < 65536 ? len : 65536, lines = 0;
  for (const char *q = p; (q = memchr(q, '\n', (size_t)(p + probe - q))) != NULL; q++) lines++;
  if (lines == 0) return;
  size_t est = (size_t)((double)len / ((double)probe / (double)lines) * 1.05) + 16;
  for (int k = 0; k < ps->s->ncols; k++) {
    colstate *c = &ps->cols[k];
    size_t item = c->type == LD_COL_BOOL ? 1 : c->type == LD_COL_STR ? (c->dict ? 4 : 0) : 8;
    if (item > 0) grow((void **)&c->data, &c->cap, est * item, 1);
  }
}

/* Parses the block: one pass over 64-byte words of separator / newline /
 * quote bit masks (quoted separators and newlines masked out). */
static int scan_block(parser *ps) {
  ld_csv_spec *s = ps->s;
  ld_csv_block b;
  int rc = ld_csv_load_block(s->path, s->compression, s->start, s->stop, &b, s->err, sizeof s->err);
  if (rc < 0) return rc;
  int nmap = s->ncols > 0 ? s->fields[s->ncols - 1] + 1 : 0;
  int32_t *map = malloc((size_t)(nmap > 0 ? nmap : 1) * sizeof *map);
  if (map == NULL) {
    ld_csv_block_free(&b);
    return LD_TEXT_ENOMEM;
  }
  for (int f = 0; f < nmap; f++) map[f] = -1;
  for (int k = 0; k < s->ncols; k++) map[s->fields[k]] = k;
  const char *base = b.buf;
  size_t end = b.end, fstart = b.begin;
  presize(ps, base + b.begin, end - b.begin);
  __m128i vsep = _mm_set1_epi8((char)s->sep), vnl = _mm_set1_epi8('\n'),
          vq = _mm_set1_epi8((char)s->quote);
  uint64_t carry = 0;
  scanrow r = {0, 0, 0, s->skip_header};
  char tail[64];
  for (size_t blk = b.begin; blk < end && rc == 0; blk += 64) {
    const char *p = base + blk;
    if (end - blk < 64) { /* the last word: masks from a zero-padded copy */
      memset(tail, 0, sizeof tail);
      memcpy(tail, p, end - blk);
      p = tail;
    }
    uint64_t ms = eqmask(p, vsep) | eqmask(p, vnl);
    uint64_t mq = s->quote ? eqmask(p, vq) : 0;
    if (end - blk < 64) {
      uint64_t live = ((uint64_t)1 << (end - blk)) - 1;
      ms &= live;
      mq &= live;
    }
    if (mq) {
      uint64_t inside = prefix_xor(mq) ^ carry;
      carry = (uint64_t)((int64_t)inside >> 63);
      ms &= ~inside;
    } else {
      ms &= ~carry;
    }
    while (ms) {
      size_t at = blk + (size_t)__builtin_ctzll(ms);
      ms &= ms - 1;
      if (base[at] == '\n') {
        size_t fe = at;
        if (fe > fstart && base[fe - 1] == '\r') fe--;
        if (r.skip) {
          r.skip = 0;
        } else if (!(r.f == 0 && fe == fstart)) { /* (blank lines are skipped) */
          if ((rc = on_field(ps, &r, map, nmap, base + fstart, fe - fstart)) < 0 ||
              (rc = end_row(ps, &r)) < 0)
            break;
        }
        r.line++;
        r.f = r.filled = 0;
      } else if (!r.skip) {
        if (r.f < nmap && map[r.f] >= 0) {
          if ((rc = on_field(ps, &r, map, nmap, base + fstart, at - fstart)) < 0) break;
        } else {
          r.f++; /* a field the query does not read */
        }
      }
      fstart = at + 1;
    }
  }
  if (rc == 0 && fstart < end && !r.skip) { /* a last line without "\n" */
    size_t fe = end;
    if (base[fe - 1] == '\r') fe--;
    if (!(r.f == 0 && fe == fstart)) {
      /* the last field has no separator after it: parse a terminated copy */
      char *last = malloc(fe - fstart + 1);
      if (last == NULL) {
        rc = LD_TEXT_ENOMEM;
      } else {
        memcpy(last, base + fstart, fe - fstart);
        last[fe - fstart] = 0;
        rc = on_field(ps, &r, map, nmap, last, fe - fstart);
        if (rc == 0) rc = end_row(ps, &r);
        free(last);
      }
    }
  }
  free(map);
  ld_csv_block_free(&b);
  return rc;
}

int ld_csv_read(ld_csv_spec *s) {
  s->nrows = 0;
  s->err_line = -1;
  s->err_col = -1;
  s->err[0] = 0;
  s->err_value[0] = 0;
  parser ps = {0};
  ps.s = s;
  nalist_init(&ps.na, s->na);
  ps.na_numeric = na_is_numeric(s->na);
  ps.cols = calloc((size_t)(s->ncols > 0 ? s->ncols : 1), sizeof *ps.cols);
  if (ps.cols == NULL) return LD_TEXT_ENOMEM;
  for (int k = 0; k < s->ncols; k++) {
    int t = s->out[k].type;
    memset(&s->out[k], 0, sizeof s->out[k]);
    s->out[k].type = t;
    ps.cols[k].type = t;
    ps.cols[k].dict = t == LD_COL_STR && s->dict_max > 0;
  }
  int rc = scan_block(&ps);
  if (rc == 0 && finish(&ps) != 0) rc = LD_TEXT_ENOMEM;
  if (rc == LD_TEXT_ENOMEM && s->err[0] == 0) snprintf(s->err, sizeof s->err, "out of memory");
  for (int k = 0; k < s->ncols; k++) col_free(&ps.cols[k]);
  free(ps.cols);
  free(ps.scratch);
  if (rc < 0) release_outputs(s);
  return rc;
}

/* ---- inference -------------------------------------------------------- */

enum { CAN_INT = 1, CAN_F64 = 2, CAN_BOOL = 4, CAN_DT = 8, SEEN = 16, SEEN_NA = 32 };

typedef struct inferstate {
  int32_t nfields;
  uint8_t *flags;
} inferstate;

static int infer_row(parser *ps, int64_t line, const char *p, const char *e) {
  (void)line;
  inferstate *st = ps->ctx;
  int f = 0;
  const char *next = p;
  while (next != NULL && f < st->nfields) {
    const char *fs;
    size_t fn;
    next = next_field(ps, next, e, &fs, &fn, 1);
    uint8_t *fl = &st->flags[f];
    if (is_na(&ps->na, fs, fn)) {
      *fl |= SEEN_NA;
    } else {
      *fl |= SEEN;
      int64_t iv;
      double dv;
      uint8_t bv;
      if ((*fl & CAN_INT) && ld_parse_i64(fs, fn, &iv) != 0) *fl &= (uint8_t)~CAN_INT;
      if ((*fl & CAN_F64) && ld_parse_f64(fs, fn, &dv) != 0) *fl &= (uint8_t)~CAN_F64;
      if ((*fl & CAN_BOOL) && ld_parse_bool(fs, fn, &bv) != 0) *fl &= (uint8_t)~CAN_BOOL;
      if ((*fl & CAN_DT) && ld_parse_datetime(fs, fn, &iv) != 0) *fl &= (uint8_t)~CAN_DT;
    }
    f++;
  }
  return 0;
}

int64_t ld_csv_infer(ld_csv_spec *s, int64_t maxlines, int32_t nfields, int32_t *types) {
  s->err[0] = 0;
  parser ps = {0};
  ps.s = s;
  nalist_init(&ps.na, s->na);
  inferstate st = {nfields, calloc((size_t)(nfields > 0 ? nfields : 1), 1)};
  if (st.flags == NULL) return LD_TEXT_ENOMEM;
  for (int f = 0; f < nfields; f++)
    st.flags[f] = CAN_INT | CAN_F64 | CAN_BOOL | (types[f] == LD_COL_DT ? CAN_DT : 0);
  ps.ctx = &st;
  int rc = walk(&ps, infer_row, maxlines);
  free(ps.scratch);
  if (rc < 0) {
    free(st.flags);
    return rc;
  }
  for (int f = 0; f < nfields; f++) {
    uint8_t fl = st.flags[f];
    if (!(fl & SEEN))
      types[f] = types[f] == LD_COL_DT ? LD_COL_DT : LD_COL_F64;
    else if (fl & CAN_DT)
      types[f] = LD_COL_DT;
    else if (fl & CAN_BOOL)
      types[f] = LD_COL_BOOL;
    else if (fl & CAN_INT)
      types[f] = (fl & SEEN_NA) ? LD_COL_F64 : LD_COL_I64;
    else if (fl & CAN_F64)
      types[f] = LD_COL_F64;
    else
      types[f] = LD_COL_STR;
  }
  free(st.flags);
  return 0;
}
