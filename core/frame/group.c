/* group.c — the grouping kernels of ldask.dataframe: factorize keys
 * (int64, float64, strings, dictionary codes) into dense group codes with
 * open-addressing hash tables (a direct table for small integer ranges),
 * accumulate per-group partial aggregates (sum, sum of squares, min, max,
 * count, first/last row) in one pass, and argsort keys. See frame.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "frame/frame.h"

static inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= UINT64_C(0xff51afd7ed558ccd);
  x ^= x >> 33;
  x *= UINT64_C(0xc4ceb9fe1a85ec53);
  x ^= x >> 33;
  return x;
}

/* An open-addressing table of group numbers + 1. */
typedef struct table {
  int64_t *slot;
  uint64_t *hash; /* hash of each group (by group number) */
  size_t cap;
} table;

static int table_init(table *t, size_t groups_hint) {
  size_t cap = 1024;
  while (cap < groups_hint * 2) cap *= 2;
  t->slot = calloc(cap, sizeof *t->slot);
  t->hash = NULL;
  t->cap = cap;
  return t->slot == NULL ? -1 : 0;
}

static int table_grow(table *t, int64_t ngroups) {
  size_t cap = t->cap * 2;
  int64_t *ns = calloc(cap, sizeof *ns);
  if (ns == NULL) return -1;
  for (int64_t g = 0; g < ngroups; g++) {
    size_t s = (size_t)t->hash[g] & (cap - 1);
    while (ns[s]) s = (s + 1) & (cap - 1);
    ns[s] = g + 1;
  }
  free(t->slot);
  t->slot = ns;
  t->cap = cap;
  return 0;
}

static void table_free(table *t) {
  free(t->slot);
  free(t->hash);
}

/* The generic loop: HASH(i), EQ(group's first row, i). */
#define FACTORIZE_LOOP(MISSING, HASH, EQ)                      \
  do {                                                         \
    table t;                                                   \
    if (table_init(&t, 0)) return -1;                          \
    t.hash = malloc((size_t)(n > 0 ? n : 1) * sizeof *t.hash); \
    if (t.hash == NULL) {                                      \
      table_free(&t);                                          \
      return -1;                                               \
    }                                                          \
    int64_t ng = 0;                                            \
    for (int64_t i = 0; i < n; i++) {                          \
      if (MISSING) {                                           \
        codes[i] = -1;                                         \
        continue;                                              \
      }                                                        \
      uint64_t h = (HASH);                                     \
      size_t s = (size_t)h & (t.cap - 1);                      \
      int64_t g = -1;                                          \
      while (t.slot[s]) {                                      \
        int64_t c = t.slot[s] - 1;                             \
        int64_t j = first[c];                                  \
        if (t.hash[c] == h && (EQ)) {                          \
          g = c;                                               \
          break;                                               \
        }                                                      \
        s = (s + 1) & (t.cap - 1);                             \
      }                                                        \
      if (g < 0) {                                             \
        g = ng++;                                              \
        first[g] = i;                                          \
        t.hash[g] = h;                                         \
        t.slot[s] = g + 1;                                     \
        if ((size_t)ng * 2 > t.cap && table_grow(&t, ng)) {    \
          table_free(&t);                                      \
          return -1;                                           \
        }                                                      \
      }                                                        \
      codes[i] = g;                                            \
    }                                                          \
    table_free(&t);                                            \
    return ng;                                                 \
  } while (0)

int64_t ld_fr_factorize_i64(const int64_t *keys, const uint8_t *valid, int32_t na_sentinel,
                            int64_t n, int64_t *codes, int64_t *first) {
  /* Small ranges: a direct table indexed by key - min. */
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (int64_t i = 0; i < n; i++) {
    if ((valid && !valid[i]) || (na_sentinel && keys[i] == LD_NAT)) continue;
    if (keys[i] < lo) lo = keys[i];
    if (keys[i] > hi) hi = keys[i];
  }
  if (lo > hi) {
    for (int64_t i = 0; i < n; i++) codes[i] = -1;
    return 0;
  }
  uint64_t range = (uint64_t)hi - (uint64_t)lo;
  if (range < ((uint64_t)1 << 20) && range <= (uint64_t)n * 4 + 1024) {
    int64_t *direct = malloc((size_t)(range + 1) * sizeof *direct);
    if (direct == NULL) return -1;
    memset(direct, 0xff, (size_t)(range + 1) * sizeof *direct);
    int64_t ng = 0;
    for (int64_t i = 0; i < n; i++) {
      if ((valid && !valid[i]) || (na_sentinel && keys[i] == LD_NAT)) {
        codes[i] = -1;
        continue;
      }
      int64_t *d = &direct[keys[i] - lo];
      if (*d < 0) {
        *d = ng;
        first[ng++] = i;
      }
      codes[i] = *d;
    }
    free(direct);
    return ng;
  }
  FACTORIZE_LOOP((valid && !valid[i]) || (na_sentinel && keys[i] == LD_NAT),
                 mix64((uint64_t)keys[i]), keys[j] == keys[i]);
}

static inline uint64_t f64bits(double v) {
  if (v == 0) v = 0; /* -0.0 and 0.0 are one key */
  uint64_t b;
  memcpy(&b, &v, 8);
  return b;
}

int64_t ld_fr_factorize_f64(const double *keys, int64_t n, int64_t *codes, int64_t *first) {
  FACTORIZE_LOOP(isnan(keys[i]), mix64(f64bits(keys[i])), keys[j] == keys[i]);
}

int64_t ld_fr_factorize_str(const int64_t *offsets, const char *bytes, const uint8_t *valid,
                            int64_t n, int64_t *codes, int64_t *first) {
  FACTORIZE_LOOP(valid && !valid[i],
                 XXH3_64bits(bytes + offsets[i], (size_t)(offsets[i + 1] - offsets[i])),
                 offsets[j + 1] - offsets[j] == offsets[i + 1] - offsets[i] &&
                     memcmp(bytes + offsets[j], bytes + offsets[i],
                            (size_t)(offsets[i + 1] - offsets[i])) == 0);
}

int64_t ld_fr_factorize_codes(const int32_t *keys, int64_t ncats, int64_t n, int64_t *codes,
                              int64_t *first) {
  int64_t *direct = malloc((size_t)(ncats > 0 ? ncats : 1) * sizeof *direct);
  if (direct == NULL) return -1;
  memset(direct, 0xff, (size_t)(ncats > 0 ? ncats : 1) * sizeof *direct);
  int64_t ng = 0;
  for (int64_t i = 0; i < n; i++) {
    int32_t k = keys[i];
    if (k < 0 || k >= ncats) {
      codes[i] = -1;
      continue;
    }
    if (direct[k] < 0) {
      direct[k] = ng;
      first[ng++] = i;
    }
    codes[i] = direct[k];
  }
  free(direct);
  return ng;
}

void ld_fr_codes_combine(const int64_t *a, const int64_t *b, int64_t nb, int64_t n, int64_t *out) {
  for (int64_t i = 0; i < n; i++) out[i] = (a[i] < 0 || b[i] < 0) ? -1 : a[i] * nb + b[i];
}

/* ---- aggregation ------------------------------------------------------ */

#define AGG_COMMON(G, I)                                      \
  do {                                                        \
    if (out->count) out->count[G]++;                          \
    if (out->first && out->first[G] < 0) out->first[G] = (I); \
    if (out->last) out->last[G] = (I);                        \
  } while (0)

void ld_fr_group_agg(const int64_t *codes, int64_t ngroups, int32_t vtype, const void *vals,
                     const uint8_t *valid, int64_t n, ld_fr_aggout *out) {
  (void)ngroups;
  if (vtype == LD_COL_F64) {
    const double *v = vals;
    double *sum = out->sum, *sq = out->sumsq, *mn = out->min, *mx = out->max;
    for (int64_t i = 0; i < n; i++) {
      int64_t g = codes ? codes[i] : 0;
      double x = v[i];
      if (g < 0 || isnan(x) || (valid && !valid[i])) continue;
      if (sum) sum[g] += x;
      if (sq) sq[g] += x * x;
      if (mn && x < mn[g]) mn[g] = x;
      if (mx && x > mx[g]) mx[g] = x;
      AGG_COMMON(g, i);
    }
    return;
  }
  double *sum = out->sum, *sq = out->sumsq;
  int64_t *isum = out->isum, *imn = out->imin, *imx = out->imax;
  if (vtype == LD_COL_BOOL) {
    const uint8_t *v = vals;
    for (int64_t i = 0; i < n; i++) {
      int64_t g = codes ? codes[i] : 0;
      if (g < 0 || (valid && !valid[i])) continue;
      int64_t x = v[i] != 0;
      if (isum) isum[g] += x;
      if (sum) sum[g] += (double)x;
      if (sq) sq[g] += (double)x;
      if (imn && x < imn[g]) imn[g] = x;
      if (imx && x > imx[g]) imx[g] = x;
      AGG_COMMON(g, i);
    }
    return;
  }
  const int64_t *v = vals;
  int nat = vtype == LD_COL_DT;
  for (int64_t i = 0; i < n; i++) {
    int64_t g = codes ? codes[i] : 0;
    int64_t x = v[i];
    if (g < 0 || (valid && !valid[i]) || (nat && x == LD_NAT)) continue;
    if (isum) isum[g] = (int64_t)((uint64_t)isum[g] + (uint64_t)x);
    double d = (double)x;
    if (sum) sum[g] += d;
    if (sq) sq[g] += d * d;
    if (imn && x < imn[g]) imn[g] = x;
    if (imx && x > imx[g]) imx[g] = x;
    AGG_COMMON(g, i);
  }
}

void ld_fr_group_size(const int64_t *codes, int64_t n, int64_t *size) {
  for (int64_t i = 0; i < n; i++)
    if (codes[i] >= 0) size[codes[i]]++;
}

/* ---- argsort ---------------------------------------------------------- */

typedef struct sortctx {
  const void *keys;
  const int64_t *off;
  const uint8_t *valid;
} sortctx;

static int cmp_i64(const void *a, const void *b, void *ctx) {
  const sortctx *c = ctx;
  int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
  int mi = c->valid && !c->valid[i], mj = c->valid && !c->valid[j];
  if (mi || mj) return mi - mj;
  const int64_t *k = c->keys;
  return (k[i] > k[j]) - (k[i] < k[j]);
}

static int cmp_f64(const void *a, const void *b, void *ctx) {
  const sortctx *c = ctx;
  int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
  const double *k = c->keys;
  int mi = isnan(k[i]), mj = isnan(k[j]);
  if (mi || mj) return mi - mj;
  return (k[i] > k[j]) - (k[i] < k[j]);
}

static int cmp_str(const void *a, const void *b, void *ctx) {
  const sortctx *c = ctx;
  int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
  int mi = c->valid && !c->valid[i], mj = c->valid && !c->valid[j];
  if (mi || mj) return mi - mj;
  const char *k = c->keys;
  size_t li = (size_t)(c->off[i + 1] - c->off[i]), lj = (size_t)(c->off[j + 1] - c->off[j]);
  int r = memcmp(k + c->off[i], k + c->off[j], li < lj ? li : lj);
  if (r) return r;
  return (li > lj) - (li < lj);
}

int ld_fr_argsort_i64(const int64_t *keys, const uint8_t *valid, int64_t n, int64_t *idx) {
  sortctx c = {keys, NULL, valid};
  qsort_r(idx, (size_t)n, sizeof *idx, cmp_i64, &c);
  return 0;
}

int ld_fr_argsort_f64(const double *keys, int64_t n, int64_t *idx) {
  sortctx c = {keys, NULL, NULL};
  qsort_r(idx, (size_t)n, sizeof *idx, cmp_f64, &c);
  return 0;
}

int ld_fr_argsort_str(const int64_t *offsets, const char *bytes, const uint8_t *valid, int64_t n,
                      int64_t *idx) {
  sortctx c = {bytes, offsets, valid};
  qsort_r(idx, (size_t)n, sizeof *idx, cmp_str, &c);
  return 0;
}
