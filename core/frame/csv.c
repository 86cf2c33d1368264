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

#include "frame/frame.h"
#include "io/textblocks.h"

/* ---- numbers and datetimes -------------------------------------------- */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void c_locale_init(void) { c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0); }

static const double P10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                             1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                             1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int slow_f64(const char *p, size_t len, double *out) {
  char tmp[128];
  if (len >= sizeof tmp) return -1;
  memcpy(tmp, p, len);
  tmp[len] = 0;
  pthread_once(&c_locale_once, c_locale_init);
  if (c_locale == (locale_t)0) return -1;
  char *end;
  errno = 0;
  double v = strtod_l(tmp, &end, c_locale);
  if (end == tmp || *end != 0) return -1;
  if (tmp[0] == '0' && (tmp[1] == 'x' || tmp[1] == 'X')) return -1; /* no hex floats */
  *out = v;
  return 0;
}

int ld_parse_f64(const char *p, size_t len, double *out) {
  const char *e = p + len;
  while (p < e && (*p == ' ' || *p == '\t')) p++;
  while (e > p && (e[-1] == ' ' || e[-1] == '\t')) e--;
  if (p == e) return -1;
  const char *s0 = p;
  int neg = 0;
  if (*p == '-' || *p == '+') neg = *p++ == '-';
  uint64_t m = 0;
  int nd = 0, digits = 0, exp10 = 0;
  while (p < e && (unsigned)(*p - '0') < 10) {
    if (nd < 19) {
      m = m * 10 + (uint64_t)(*p - '0');
      if (m) nd++;
    } else {
      return slow_f64(s0, (size_t)(e - s0), out);
    }
    digits++;
    p++;
  }
  if (p < e && *p == '.') {
    p++;
    while (p < e && (unsigned)(*p - '0') < 10) {
      if (nd < 19) {
        m = m * 10 + (uint64_t)(*p - '0');
        if (m) nd++;
        exp10--;
      } else {
        return slow_f64(s0, (size_t)(e - s0), out);
      }
      digits++;
      p++;
    }
  }
  if (digits == 0) return slow_f64(s0, (size_t)(e - s0), out); /* inf, nan, ... */
  if (p < e && (*p == 'e' || *p == 'E')) {
    p++;
    int eneg = 0, ed = 0, ev = 0;
    if (p < e && (*p == '-' || *p == '+')) eneg = *p++ == '-';
    while (p < e && (unsigned)(*p - '0') < 10) {
      if (ev < 100000) ev = ev * 10 + (*p - '0');
      ed++;
      p++;
    }
    if (ed == 0) return -1;
    exp10 += eneg ? -ev : ev;
  }
  if (p != e) return -1;
  if (m <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
    double d = (double)m;
    d = exp10 < 0 ? d / P10[-exp10] : d * P10[exp10];
    *out = neg ? -d : d;
    return 0;
  }
  if (m == 0) {
    *out = neg ? -0.0 : 0.0;
    return 0;
  }
  return slow_f64(s0, (size_t)(e - s0), out);
}

static int parse_i64(const char *p, size_t len, int64_t *out) {
  const char *e = p + len;
  while (p < e && (*p == ' ' || *p == '\t')) p++;
  while (e > p && (e[-1] == ' ' || e[-1] == '\t')) e--;
  if (p == e) return -1;
  int neg = 0;
  if (*p == '-' || *p == '+') neg = *p++ == '-';
  if (p == e || e - p > 19) return -1;
  uint64_t v = 0;
  for (; p < e; p++) {
    unsigned d = (unsigned)(*p - '0');
    if (d >= 10) return -1;
    v = v * 10 + d;
  }
  if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) return -1;
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return 0;
}

static int parse_bool(const char *p, size_t len, uint8_t *out) {
  if (len == 4 && (!memcmp(p, "True", 4) || !memcmp(p, "true", 4) || !memcmp(p, "TRUE", 4))) {
    *out = 1;
    return 0;
  }
  if (len == 5 && (!memcmp(p, "False", 5) || !memcmp(p, "false", 5) || !memcmp(p, "FALSE", 5))) {
    *out = 0;
    return 0;
  }
  return -1;
}

static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int num2(const char *p, int *v) {
  unsigned a = (unsigned)(p[0] - '0'), b = (unsigned)(p[1] - '0');
  if (a >= 10 || b >= 10) return -1;
  *v = (int)(a * 10 + b);
  return 0;
}

int ld_parse_datetime(const char *p, size_t len, int64_t *out) {
  const char *e = p + len;
  while (p < e && *p == ' ') p++;
  while (e > p && e[-1] == ' ') e--;
  if (e - p < 10 || p[4] != '-' || p[7] != '-') return -1;
  int y1, y2, mo, d, h = 0, mi = 0, s = 0;
  if (num2(p, &y1) || num2(p + 2, &y2) || num2(p + 5, &mo) || num2(p + 8, &d)) return -1;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int year = y1 * 100 + y2;
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1]) return -1;
  if (mo == 2 && d == 29 && !((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) return -1;
  int64_t frac = 0;
  p += 10;
  if (p < e) {
    if ((*p != ' ' && *p != 'T') || e - p < 6 || p[3] != ':') return -1;
    if (num2(p + 1, &h) || num2(p + 4, &mi) || h > 23 || mi > 59) return -1;
    p += 6;
    if (p < e && *p == ':') {
      if (e - p < 3 || num2(p + 1, &s) || s > 59) return -1;
      p += 3;
      if (p < e && *p == '.') {
        p++;
        int nd = 0;
        while (p < e && (unsigned)(*p - '0') < 10) {
          if (nd < 9) frac = frac * 10 + (*p - '0');
          nd++;
          p++;
        }
        if (nd == 0) return -1;
        for (; nd < 9; nd++) frac *= 10;
      }
    }
    if (p < e && *p == 'Z') p++;
    if (p != e) return -1;
  }
  int64_t days = days_from_civil(year, mo, d);
  *out = ((days * 24 + h) * 60 + mi) * 60 * INT64_C(1000000000) + s * INT64_C(1000000000) + frac;
  return 0;
}

/* ---- missing values --------------------------------------------------- */

typedef struct nalist {
  const char *list; /* NUL-separated, ends with an empty string */
  uint64_t lens;    /* bit L set: some entry has length L (< 64) */
} nalist;

static void nalist_init(nalist *na, const char *list) {
  na->list = list;
  na->lens = 1; /* "" is always missing */
  if (list == NULL) return;
  for (const char *q = list; *q; q += strlen(q) + 1) {
    size_t l = strlen(q);
    if (l < 64) na->lens |= (uint64_t)1 << l;
  }
}

static int is_na(const nalist *na, const char *p, size_t len) {
  if (len >= 64 || !(na->lens & ((uint64_t)1 << len))) return 0;
  if (len == 0) return 1;
  if (na->list == NULL) return 0;
  for (const char *q = na->list; *q; q += strlen(q) + 1)
    if (strlen(q) == len && memcmp(q, p, len) == 0) return 1;
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

static int push_bytes(colstate *c, const void *v, size_t n) {
  if (c->len + n > c->cap && grow((void **)&c->data, &c->cap, c->len + n, 1)) return -1;
  memcpy(c->data + c->len, v, n);
  c->len += n;
  return 0;
}

/* Dictionary: the code of string [P, P+N), added when new; -2 when the
 * dictionary passed MAX categories (switch to plain), -3 out of memory. */
static int64_t dict_code(colstate *c, const char *p, size_t n, int64_t max) {
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
        memcmp(c->cb + c->off[i], p, n) == 0)
      return i;
    s = (s + 1) & (c->htcap - 1);
  }
  if (c->ncats >= max) return -2;
  int64_t i = c->ncats;
  if (grow((void **)&c->hh, &c->hhcap, (size_t)i + 1, sizeof *c->hh) ||
      grow((void **)&c->off, &c->offcap, (size_t)i + 2, sizeof *c->off) ||
      grow((void **)&c->cb, &c->cbcap, c->cblen + n + 1, 1))
    return -3;
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
    }
    off[r + 1] = (int64_t)pos;
  }
  free(c->data);
  free(c->off);
  free(c->ht);
  free(c->hh);
  free(c->cb);
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
static int store(parser *ps, int k, int64_t row, int64_t line, const char *p, size_t n) {
  colstate *c = &ps->cols[k];
  int missing = 0;
  switch (c->type) {
  case LD_COL_F64: {
    double v;
    if (ps->na_numeric && is_na(&ps->na, p, n)) {
      v = NAN;
    } else if (ld_parse_f64(p, n, &v) != 0) {
      if (!is_na(&ps->na, p, n)) return value_error(ps, line, k, p, n);
      v = NAN;
    }
    return push_bytes(c, &v, 8) ? LD_TEXT_ENOMEM : 0;
  }
  case LD_COL_I64: {
    int64_t v = 0;
    if (ps->na_numeric && is_na(&ps->na, p, n)) {
      missing = 1;
    } else if (parse_i64(p, n, &v) != 0) {
      if (!is_na(&ps->na, p, n)) return value_error(ps, line, k, p, n);
      missing = 1;
    }
    if (missing && set_missing(c, row)) return LD_TEXT_ENOMEM;
    return push_bytes(c, &v, 8) ? LD_TEXT_ENOMEM : 0;
  }
  case LD_COL_BOOL: {
    uint8_t v = 0;
    if (parse_bool(p, n, &v) != 0) {
      if (!is_na(&ps->na, p, n)) return value_error(ps, line, k, p, n);
      if (set_missing(c, row)) return LD_TEXT_ENOMEM;
    }
    return push_bytes(c, &v, 1) ? LD_TEXT_ENOMEM : 0;
  }
  case LD_COL_DT: {
    int64_t v;
    if (ld_parse_datetime(p, n, &v) != 0) {
      if (!is_na(&ps->na, p, n)) return value_error(ps, line, k, p, n);
      v = LD_NAT;
    }
    return push_bytes(c, &v, 8) ? LD_TEXT_ENOMEM : 0;
  }
  default: { /* strings */
    missing = is_na(&ps->na, p, n);
    if (c->dict) {
      int32_t code = -1;
      if (!missing) {
        int64_t r = dict_code(c, p, n, ps->s->dict_max);
        if (r == -3) return LD_TEXT_ENOMEM;
        if (r == -2) {
          if (dict_to_plain(c, row)) return LD_TEXT_ENOMEM;
          return store(ps, k, row, line, p, n);
        }
        code = (int32_t)r;
      }
      return push_bytes(c, &code, 4) ? LD_TEXT_ENOMEM : 0;
    }
    if (missing) {
      if (set_missing(c, row)) return LD_TEXT_ENOMEM;
      n = 0;
    }
    if (push_bytes(c, p, n)) return LD_TEXT_ENOMEM;
    if (grow((void **)&c->off, &c->offcap, (size_t)row + 2, sizeof *c->off)) return LD_TEXT_ENOMEM;
    c->off[row + 1] = (int64_t)c->len;
    c->noff = (size_t)row + 2;
    return 0;
  }
  }
}

/* Splits the next field at P (before E): its content [*FS, *FS + *FN)
 * (quotes removed, escapes resolved into the scratch buffer when needed).
 * Returns the position after the separator, or NULL at the line's end. */
static const char *next_field(parser *ps, const char *p, const char *e, const char **fs,
                              size_t *fn, int want) {
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

static int na_is_numeric(const char *list) {
  if (list == NULL) return 0;
  for (const char *q = list; *q; q += strlen(q) + 1) {
    double v;
    if (ld_parse_f64(q, strlen(q), &v) == 0) return 1;
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

static int read_row(parser *ps, int64_t line, const char *p, const char *e) {
  ld_csv_spec *s = ps->s;
  int64_t row = s->nrows;
  int k = 0, f = 0, rc;
  const char *next = p;
  while (next != NULL) {
    const char *fs;
    size_t fn;
    int want = k < s->ncols && s->fields[k] == f;
    next = next_field(ps, next, e, &fs, &fn, want);
    if (want) {
      if ((rc = store(ps, k, row, line, fs, fn)) < 0) return rc;
      k++;
    }
    f++;
    if (k == s->ncols && s->nfields == 0) break;
  }
  if (s->nfields > 0 && f > s->nfields) return too_many(ps, line, f);
  for (; k < s->ncols; k++) /* a short line: the rest is missing */
    if ((rc = store(ps, k, row, line, "", 0)) < 0) return rc;
  s->nrows = row + 1;
  return 0;
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
  int rc = walk(&ps, read_row, 0);
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
      if ((*fl & CAN_INT) && parse_i64(fs, fn, &iv) != 0) *fl &= (uint8_t)~CAN_INT;
      if ((*fl & CAN_F64) && ld_parse_f64(fs, fn, &dv) != 0) *fl &= (uint8_t)~CAN_F64;
      if ((*fl & CAN_BOOL) && parse_bool(fs, fn, &bv) != 0) *fl &= (uint8_t)~CAN_BOOL;
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
    if (!(fl & SEEN)) types[f] = types[f] == LD_COL_DT ? LD_COL_DT : LD_COL_F64;
    else if (fl & CAN_DT) types[f] = LD_COL_DT;
    else if (fl & CAN_BOOL) types[f] = LD_COL_BOOL;
    else if (fl & CAN_INT) types[f] = (fl & SEEN_NA) ? LD_COL_F64 : LD_COL_I64;
    else if (fl & CAN_F64) types[f] = LD_COL_F64;
    else types[f] = LD_COL_STR;
  }
  free(st.flags);
  return 0;
}
