/* hash.c — hash partitioning of dataframe rows (groupby split_out, the task
 * shuffle of merge, set_index and drop_duplicates): a 64-bit hash per row
 * accumulated over one or more key columns (ints and datetimes mixed with
 * splitmix64, floats by value with -0.0 = 0.0 and one NaN, strings by their
 * bytes with XXH3 so the plain and dictionary forms agree), then each row's
 * output partition and a stable counting sort of the rows by partition.
 * See frame.h. */
#include <string.h>

#include "frame/frame.h"
#include "util/hash.h"

static inline uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* Folds hash H of a row's next key into ACC. */
static inline uint64_t fold(uint64_t acc, uint64_t h) { return mix(acc ^ h) + h; }

#define LD_HASH_MISSING 0x5bd1e9955bd1e995ULL

void ld_fr_hash_i64(const int64_t *keys, const uint8_t *valid, int64_t n, uint64_t *acc) {
  for (int64_t i = 0; i < n; i++) {
    uint64_t h = (valid && !valid[i]) ? LD_HASH_MISSING : mix((uint64_t)keys[i]);
    acc[i] = fold(acc[i], h);
  }
}

void ld_fr_hash_f64(const double *keys, int64_t n, uint64_t *acc) {
  for (int64_t i = 0; i < n; i++) {
    double v = keys[i];
    uint64_t h;
    if (v != v) {
      h = LD_HASH_MISSING;
    } else {
      if (v == 0) v = 0; /* -0.0 and 0.0 alike */
      uint64_t bits;
      memcpy(&bits, &v, sizeof bits);
      h = mix(bits);
    }
    acc[i] = fold(acc[i], h);
  }
}

void ld_fr_hash_str(const int64_t *offsets, const char *bytes, const uint8_t *valid, int64_t n,
                    uint64_t *out, int32_t accumulate) {
  for (int64_t i = 0; i < n; i++) {
    uint64_t h = (valid && !valid[i])
                     ? LD_HASH_MISSING
                     : ld_hash64(bytes + offsets[i], (size_t)(offsets[i + 1] - offsets[i]), 0);
    out[i] = accumulate ? fold(out[i], h) : h;
  }
}

void ld_fr_hash_codes(const int32_t *codes, int64_t n, const uint64_t *cat_hash, uint64_t *acc) {
  for (int64_t i = 0; i < n; i++) {
    uint64_t h = codes[i] < 0 ? LD_HASH_MISSING : cat_hash[codes[i]];
    acc[i] = fold(acc[i], h);
  }
}

void ld_fr_partition_rows(const uint64_t *hash, int64_t n, int32_t nparts, int64_t *idx,
                          int64_t *bounds) {
  memset(bounds, 0, sizeof *bounds * ((size_t)nparts + 1));
  for (int64_t i = 0; i < n; i++) bounds[(hash[i] % (uint64_t)nparts) + 1]++;
  for (int32_t p = 0; p < nparts; p++) bounds[p + 1] += bounds[p];
  /* bounds[p] is where partition p's rows start; fill with a cursor per part */
  for (int64_t i = 0; i < n; i++) {
    uint64_t p = hash[i] % (uint64_t)nparts;
    idx[bounds[p]++] = i;
  }
  for (int32_t p = nparts; p > 0; p--) bounds[p] = bounds[p - 1];
  bounds[0] = 0;
}
