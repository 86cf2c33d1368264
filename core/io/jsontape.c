/* jsontape.c — tokenizes JSON lines into a flat tape (kinds, numbers,
 * string spans, interned short strings, container sizes) for ldask.bag's
 * fast JSON path. A line outside the strict subset is marked for the
 * caller's fallback decoder. See jsontape.h. */
#include "io/jsontape.h"

#include <stdlib.h>
#include <string.h>

#define INTERN_MAX_LEN 24 /* strings up to this long are interned */
#define MEMO_BITS 10      /* memo of short interned strings: 1024 entries */
#define INTERN_MAX 4096   /* at most this many interned strings per tape */
#define HASH_CAP 16384    /* power of two, > 2 * INTERN_MAX */
#define SHAPE_MAX 1024    /* at most this many shapes per tape */
#define SHAPE_HASH_CAP 4096
#define SIG_MAX 1024 /* at most this many signatures per tape */
#define SIG_HASH_CAP 4096

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

ld_jsontape *ld_jsontape_new(void) {
  ld_jsontape *t = calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  t->hcap = HASH_CAP;
  t->hash = malloc(HASH_CAP * sizeof *t->hash);
  t->scap = 256;
  t->str_off = malloc(t->scap * sizeof *t->str_off);
  t->str_len = malloc(t->scap * sizeof *t->str_len);
  t->acap = 4096;
  t->arena_mut = malloc(t->acap);
  if (t->hash == NULL || t->str_off == NULL || t->str_len == NULL || t->arena_mut == NULL) {
    ld_jsontape_free(t);
    return NULL;
  }
  memset(t->hash, 0xff, HASH_CAP * sizeof *t->hash);
  t->memo = malloc(((size_t)1 << MEMO_BITS) * sizeof *t->memo);
  if (t->memo == NULL) {
    ld_jsontape_free(t);
    return NULL;
  }
  for (size_t i = 0; i < ((size_t)1 << MEMO_BITS); i++) t->memo[i].id = -1;
  t->shash = malloc(SHAPE_HASH_CAP * sizeof *t->shash);
  t->sfcap = 64;
  t->shape_first = malloc(t->sfcap * sizeof *t->shape_first);
  t->shape_n = malloc(t->sfcap * sizeof *t->shape_n);
  t->skcap = 512;
  t->shape_keys = malloc(t->skcap * sizeof *t->shape_keys);
  if (t->shash == NULL || t->shape_first == NULL || t->shape_n == NULL || t->shape_keys == NULL) {
    ld_jsontape_free(t);
    return NULL;
  }
  memset(t->shash, 0xff, SHAPE_HASH_CAP * sizeof *t->shash);
  t->ghash = malloc(SIG_HASH_CAP * sizeof *t->ghash);
  t->gfcap = 64;
  t->sig_first = malloc(t->gfcap * sizeof *t->sig_first);
  t->sig_n = malloc(t->gfcap * sizeof *t->sig_n);
  t->gccap = 1024;
  t->sig_codes = malloc(t->gccap * sizeof *t->sig_codes);
  if (t->ghash == NULL || t->sig_first == NULL || t->sig_n == NULL || t->sig_codes == NULL) {
    ld_jsontape_free(t);
    return NULL;
  }
  memset(t->ghash, 0xff, SIG_HASH_CAP * sizeof *t->ghash);
  t->arena = t->arena_mut;
  return t;
}

void ld_jsontape_free(ld_jsontape *t) {
  if (t == NULL) return;
  free(t->kind);
  free(t->ival);
  free(t->off);
  free(t->len);
  free(t->num);
  free(t->line_first);
  free(t->str_off);
  free(t->str_len);
  free(t->hash);
  free(t->arena_mut);
  free(t->shape);
  free(t->shash);
  free(t->shape_first);
  free(t->shape_n);
  free(t->shape_keys);
  free(t->kids);
  free(t->line_sig);
  free(t->memo);
  free(t->ghash);
  free(t->sig_first);
  free(t->sig_n);
  free(t->sig_codes);
  free(t);
}

/* Makes room for NEED more tokens. */
static int reserve(ld_jsontape *t, size_t need) {
  if (t->ntok + need <= t->cap) return 0;
  size_t ncap = t->cap ? t->cap : 4096;
  while (ncap < t->ntok + need) ncap *= 2;
  uint8_t *k = realloc(t->kind, ncap);
  if (k == NULL) return LD_JSONTAPE_ENOMEM;
  t->kind = k;
  int32_t *iv = realloc(t->ival, ncap * sizeof *iv);
  if (iv == NULL) return LD_JSONTAPE_ENOMEM;
  t->ival = iv;
  uint32_t *o = realloc(t->off, ncap * sizeof *o);
  if (o == NULL) return LD_JSONTAPE_ENOMEM;
  t->off = o;
  uint32_t *l = realloc(t->len, ncap * sizeof *l);
  if (l == NULL) return LD_JSONTAPE_ENOMEM;
  t->len = l;
  double *nm = realloc(t->num, ncap * sizeof *nm);
  if (nm == NULL) return LD_JSONTAPE_ENOMEM;
  t->num = nm;
  int32_t *sh = realloc(t->shape, ncap * sizeof *sh);
  if (sh == NULL) return LD_JSONTAPE_ENOMEM;
  t->shape = sh;
  int32_t *ki = realloc(t->kids, ncap * sizeof *ki);
  if (ki == NULL) return LD_JSONTAPE_ENOMEM;
  t->kids = ki;
  t->cap = ncap;
  return 0;
}

/* Whether the LEN (<= INTERN_MAX_LEN) bytes at A and B are equal, without
 * a call to memcmp (most interned strings are a few bytes long). */
static inline int same(const char *a, const char *b, uint32_t len) {
  unsigned char diff = 0;
  for (uint32_t i = 0; i < len; i++) diff |= (unsigned char)(a[i] ^ b[i]);
  return diff == 0;
}

/* Interned id of the LEN bytes at S, adding them if there is room; -1 when
 * not interned. -2 when out of memory. */
static int32_t intern_slow(ld_jsontape *t, const char *s, uint32_t len);

/* Strings of at most 8 bytes are found through a small direct-mapped memo
 * keyed by their bytes as one word (no byte loop, no compare call). END:
 * the end of readable memory after S (to load a whole word at once). */
static inline int32_t intern(ld_jsontape *t, const char *s, uint32_t len, const char *end) {
  if (len > 8) return intern_slow(t, s, len);
  uint64_t w = 0;
  if (s + 8 <= end) {
    memcpy(&w, s, 8);
    if (len < 8) w &= ((uint64_t)1 << (8 * len)) - 1;
  } else {
    for (uint32_t j = 0; j < len; j++) w |= (uint64_t)(unsigned char)s[j] << (8 * j);
  }
  uint64_t key = w ^ ((uint64_t)len << 59);
  size_t slot = (size_t)(((key ^ (key >> 31)) * 0x9E3779B97F4A7C15ull) >> (64 - MEMO_BITS));
  struct memo_ent *m = &t->memo[slot & ~(size_t)1]; /* 2-way: m[0], m[1] */
  if (m[0].key == key && m[0].len == len && m[0].id >= 0) return m[0].id;
  if (m[1].key == key && m[1].len == len && m[1].id >= 0) return m[1].id;
  int32_t id = intern_slow(t, s, len);
  if (id >= 0) {
    if (m[0].id >= 0) m[1] = m[0]; /* keep the most recent first */
    m[0].key = key;
    m[0].len = len;
    m[0].id = id;
  }
  return id;
}

static int32_t intern_slow(ld_jsontape *t, const char *s, uint32_t len) {
  if (len > INTERN_MAX_LEN) return -1;
  /* hash 8 bytes at a time (len <= INTERN_MAX_LEN) */
  uint64_t h = (uint64_t)len * 0x9E3779B97F4A7C15ull;
  uint32_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
  }
  if (i < len) {
    uint64_t w = 0;
    for (uint32_t j = i; j < len; j++) w |= (uint64_t)(unsigned char)s[j] << (8 * (j - i));
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
  }
  h ^= h >> 33;
  size_t mask = t->hcap - 1;
  for (size_t slot = h & mask;; slot = (slot + 1) & mask) {
    int32_t id = t->hash[slot];
    if (id < 0) {
      if (t->nstr >= INTERN_MAX) return -1;
      if (t->nstr == t->scap) {
        size_t ncap = t->scap * 2;
        uint32_t *so = realloc(t->str_off, ncap * sizeof *so);
        if (so == NULL) return -2;
        t->str_off = so;
        uint32_t *sl = realloc(t->str_len, ncap * sizeof *sl);
        if (sl == NULL) return -2;
        t->str_len = sl;
        t->scap = ncap;
      }
      if (t->alen + len > t->acap) {
        size_t ncap = t->acap * 2;
        while (ncap < t->alen + len) ncap *= 2;
        char *na = realloc(t->arena_mut, ncap);
        if (na == NULL) return -2;
        t->arena_mut = na;
        t->arena = na;
        t->acap = ncap;
      }
      memcpy(t->arena_mut + t->alen, s, len);
      id = (int32_t)t->nstr++;
      t->str_off[id] = (uint32_t)t->alen;
      t->str_len[id] = len;
      t->alen += len;
      t->hash[slot] = id;
      return id;
    }
    if (t->str_len[id] == len && same(t->arena + t->str_off[id], s, len)) return id;
  }
}

/* Shape id of the N key ids at KEYS (-1: no shape; -2: out of memory). */
static int32_t shape_of(ld_jsontape *t, const int32_t *keys, size_t n) {
  if (n == 0 || n > LD_JSONTAPE_SHAPE_KEYS) return -1;
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    if (keys[i] < 0) return -1;
    for (size_t j = 0; j < i; j++)
      if (keys[j] == keys[i]) return -1; /* a repeated key: the generic path */
    h = (h ^ (uint32_t)keys[i]) * 16777619u;
  }
  size_t mask = SHAPE_HASH_CAP - 1;
  for (size_t slot = h & mask;; slot = (slot + 1) & mask) {
    int32_t id = t->shash[slot];
    if (id < 0) {
      if (t->nshape >= SHAPE_MAX) return -1;
      if (t->nshape == t->sfcap) {
        size_t ncap = t->sfcap * 2;
        uint32_t *f = realloc(t->shape_first, ncap * sizeof *f);
        if (f == NULL) return -2;
        t->shape_first = f;
        uint32_t *c = realloc(t->shape_n, ncap * sizeof *c);
        if (c == NULL) return -2;
        t->shape_n = c;
        t->sfcap = ncap;
      }
      if (t->nskeys + n > t->skcap) {
        size_t ncap = t->skcap * 2;
        while (ncap < t->nskeys + n) ncap *= 2;
        int32_t *k = realloc(t->shape_keys, ncap * sizeof *k);
        if (k == NULL) return -2;
        t->shape_keys = k;
        t->skcap = ncap;
      }
      id = (int32_t)t->nshape++;
      t->shape_first[id] = (uint32_t)t->nskeys;
      t->shape_n[id] = (uint32_t)n;
      memcpy(t->shape_keys + t->nskeys, keys, n * sizeof *keys);
      t->nskeys += n;
      t->shash[slot] = id;
      return id;
    }
    if (t->shape_n[id] == n &&
        memcmp(t->shape_keys + t->shape_first[id], keys, n * sizeof *keys) == 0)
      return id;
  }
}

/* Signature id of the tokens [FIRST, ntok) of T (-1: none; -2: out of
 * memory). */
static int32_t signature(ld_jsontape *t, size_t first) {
  size_t n = t->ntok - first;
  if (n > LD_JSONTAPE_SIG_TOKENS) return -1;
  int32_t codes[LD_JSONTAPE_SIG_TOKENS];
  uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
  for (size_t i = 0; i < n; i++) {
    int kind = t->kind[first + i];
    int32_t extra = 0;
    if (kind == LD_JT_OBJ) {
      extra = t->shape[first + i];
      if (extra < 0) return -1;
    } else if (kind == LD_JT_ARR) {
      extra = t->ival[first + i];
      if (extra > (1 << 20)) return -1;
    }
    codes[i] = kind + 16 * extra;
    h = (h ^ (uint32_t)codes[i]) * 0xff51afd7ed558ccdull;
  }
  h ^= h >> 33;
  size_t mask = SIG_HASH_CAP - 1;
  for (size_t slot = h & mask;; slot = (slot + 1) & mask) {
    int32_t id = t->ghash[slot];
    if (id < 0) {
      if (t->nsig >= SIG_MAX) return -1;
      if (t->nsig == t->gfcap) {
        size_t ncap = t->gfcap * 2;
        uint32_t *f = realloc(t->sig_first, ncap * sizeof *f);
        if (f == NULL) return -2;
        t->sig_first = f;
        uint32_t *c = realloc(t->sig_n, ncap * sizeof *c);
        if (c == NULL) return -2;
        t->sig_n = c;
        t->gfcap = ncap;
      }
      if (t->ngcodes + n > t->gccap) {
        size_t ncap = t->gccap * 2;
        while (ncap < t->ngcodes + n) ncap *= 2;
        int32_t *k = realloc(t->sig_codes, ncap * sizeof *k);
        if (k == NULL) return -2;
        t->sig_codes = k;
        t->gccap = ncap;
      }
      id = (int32_t)t->nsig++;
      t->sig_first[id] = (uint32_t)t->ngcodes;
      t->sig_n[id] = (uint32_t)n;
      memcpy(t->sig_codes + t->ngcodes, codes, n * sizeof *codes);
      t->ngcodes += n;
      t->ghash[slot] = id;
      return id;
    }
    if (t->sig_n[id] == n && memcmp(t->sig_codes + t->sig_first[id], codes, n * sizeof *codes) == 0)
      return id;
  }
}

static inline const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

static inline int is_digit(char c) { return (unsigned)(c - '0') < 10u; }

/* A number in JSON's grammar at P: stores its value, returns the end or NULL. */
static const char *number(const char *p, const char *end, double *out) {
  const char *s = p;
  int neg = *p == '-';
  if (neg) p++;
  const char *ds = p;
  uint64_t m = 0;
  int nd = 0, fd = 0, has_exp = 0;
  while (p < end && is_digit(*p)) {
    m = m * 10 + (uint64_t)(*p - '0');
    nd++;
    p++;
  }
  if (nd == 0 || (nd > 1 && *ds == '0')) return NULL;
  if (p < end && *p == '.') {
    p++;
    while (p < end && is_digit(*p)) {
      m = m * 10 + (uint64_t)(*p - '0');
      fd++;
      p++;
    }
    if (fd == 0) return NULL;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    int ed = 0;
    while (p < end && is_digit(*p)) {
      ed++;
      p++;
    }
    if (ed == 0) return NULL;
    has_exp = 1;
  }
  if (!has_exp && nd + fd <= 15) {
    double d = (double)m; /* exact: m < 10^15 < 2^53 */
    if (fd > 0) d /= pow10_exact[fd];
    *out = neg ? -d : d;
    return p;
  }
  char buf[72];
  size_t n = (size_t)(p - s);
  if (n >= sizeof buf) return NULL;
  memcpy(buf, s, n);
  buf[n] = 0;
  char *e = NULL;
  double d = strtod(buf, &e);
  if (e != buf + n) return NULL;
  *out = d;
  return p;
}

/* A string after its opening quote at P: a token of KIND; returns the end
 * (after the closing quote) or NULL. */
static const char *string(ld_jsontape *t, int kind, const char *data, const char *p,
                          const char *end, int *oom) {
  const char *s = p;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  /* Eight bytes at a time: the lowest byte that is a quote, a backslash or
   * a control byte ends the scan (the zero-byte test is exact for the lowest
   * flagged byte). */
  const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  while (p + 8 <= end) {
    uint64_t w;
    memcpy(&w, p, 8);
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    uint64_t m = ((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w);
    m &= highs;
    if (m != 0) {
      p += __builtin_ctzll(m) >> 3;
      break;
    }
    p += 8;
  }
#endif
  while (p < end && *p != '"') {
    if ((unsigned char)*p < 0x20 || *p == '\\') return NULL;
    p++;
  }
  if (p >= end) return NULL;
  uint32_t len = (uint32_t)(p - s);
  int32_t id = intern(t, s, len, end);
  if (id == -2) {
    *oom = 1;
    return NULL;
  }
  size_t k = t->ntok++;
  t->kind[k] = (uint8_t)kind;
  t->ival[k] = id;
  t->off[k] = (uint32_t)(s - data);
  t->len[k] = len;
  return p + 1;
}

static inline void emit(ld_jsontape *t, int kind) {
  size_t k = t->ntok++;
  t->kind[k] = (uint8_t)kind;
  t->ival[k] = 0;
}

/* Tokenizes one line. Returns 1 when it is in the subset, 0 when not (its
 * tokens are dropped), or LD_JSONTAPE_ENOMEM. */
static int line(ld_jsontape *t, const char *data, uint32_t start, uint32_t len) {
  const char *p = data + start, *end = p + len;
  size_t first = t->ntok;
  size_t open[LD_JSONTAPE_DEPTH];
  size_t kstart[LD_JSONTAPE_DEPTH]; /* where the open object's key ids start */
  size_t nk = 0;
  int32_t count[LD_JSONTAPE_DEPTH];
  unsigned char isobj[LD_JSONTAPE_DEPTH];
  int sp = 0, oom = 0;
  if (reserve(t, (size_t)len + 1) < 0) return LD_JSONTAPE_ENOMEM;

value:
  p = skip_ws(p, end);
  if (p >= end) goto fail;
  switch (*p) {
    case '{':
    case '[': {
      if (sp == LD_JSONTAPE_DEPTH) goto fail;
      int obj = *p == '{';
      open[sp] = t->ntok;
      count[sp] = 0;
      isobj[sp] = (unsigned char)obj;
      kstart[sp] = nk;
      sp++;
      emit(t, obj ? LD_JT_OBJ : LD_JT_ARR);
      p = skip_ws(p + 1, end);
      if (p < end && *p == (obj ? '}' : ']')) {
        p++;
        t->shape[open[sp - 1]] = -1;
        emit(t, LD_JT_END);
        sp--;
        goto after;
      }
      if (obj) goto key;
      goto value;
    }
    case '"':
      p = string(t, LD_JT_STR, data, p + 1, end, &oom);
      if (p == NULL) goto fail;
      goto after;
    case 't':
      if (end - p < 4 || memcmp(p, "true", 4) != 0) goto fail;
      emit(t, LD_JT_TRUE);
      p += 4;
      goto after;
    case 'f':
      if (end - p < 5 || memcmp(p, "false", 5) != 0) goto fail;
      emit(t, LD_JT_FALSE);
      p += 5;
      goto after;
    case 'n':
      if (end - p < 4 || memcmp(p, "null", 4) != 0) goto fail;
      emit(t, LD_JT_NULL);
      p += 4;
      goto after;
    default: {
      if (*p != '-' && !is_digit(*p)) goto fail;
      double d;
      p = number(p, end, &d);
      if (p == NULL) goto fail;
      size_t k = t->ntok++;
      t->kind[k] = LD_JT_NUM;
      t->num[k] = d;
      goto after;
    }
  }

key:
  p = skip_ws(p, end);
  if (p >= end || *p != '"') goto fail;
  p = string(t, LD_JT_KEY, data, p + 1, end, &oom);
  if (p == NULL) goto fail;
  t->kids[nk++] = t->ival[t->ntok - 1];
  p = skip_ws(p, end);
  if (p >= end || *p != ':') goto fail;
  p++;
  goto value;

after:
  if (sp == 0) {
    p = skip_ws(p, end);
    if (p != end) goto fail;
    return 1;
  }
  count[sp - 1]++;
  p = skip_ws(p, end);
  if (p >= end) goto fail;
  if (*p == ',') {
    p++;
    if (isobj[sp - 1]) goto key;
    goto value;
  }
  if (*p == (isobj[sp - 1] ? '}' : ']')) {
    p++;
    emit(t, LD_JT_END);
    sp--;
    t->ival[open[sp]] = count[sp];
    if (isobj[sp]) {
      int32_t sid = shape_of(t, t->kids + kstart[sp], nk - kstart[sp]);
      if (sid == -2) {
        oom = 1;
        goto fail;
      }
      t->shape[open[sp]] = sid;
      nk = kstart[sp];
    }
    goto after;
  }

fail:
  t->ntok = first;
  return oom ? LD_JSONTAPE_ENOMEM : 0;
}

int ld_jsontape_parse(ld_jsontape *t, const char *data, const uint32_t *starts,
                      const uint32_t *lens, size_t n) {
  t->ntok = 0;
  if (n + 1 > t->lcap) {
    size_t ncap = t->lcap ? t->lcap : 1024;
    while (ncap < n + 1) ncap *= 2;
    int32_t *lf = realloc(t->line_first, ncap * sizeof *lf);
    if (lf == NULL) return LD_JSONTAPE_ENOMEM;
    t->line_first = lf;
    int32_t *ls = realloc(t->line_sig, ncap * sizeof *ls);
    if (ls == NULL) return LD_JSONTAPE_ENOMEM;
    t->line_sig = ls;
    t->lcap = ncap;
  }
  for (size_t i = 0; i < n; i++) {
    int32_t first = (int32_t)t->ntok;
    int rc = line(t, data, starts[i], lens[i]);
    if (rc < 0) return rc;
    t->line_first[i] = rc ? first : -1;
    int32_t sig = -1;
    if (rc) {
      sig = signature(t, (size_t)first);
      if (sig == -2) return LD_JSONTAPE_ENOMEM;
    }
    t->line_sig[i] = sig;
  }
  t->line_first[n] = (int32_t)t->ntok;
  return 0;
}
