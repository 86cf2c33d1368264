/* join.c — row kernels of merge, set_index and sort_values: the row pairs
 * of a hash join from group codes (both sides' keys factorized together),
 * and range partition numbers of values against sorted cut points (the
 * approximate quantile divisions). See frame.h. */
#include <stdlib.h>
#include <string.h>

#include "frame/frame.h"

int64_t ld_fr_join_pairs(const int64_t *lcodes, int64_t nl, const int64_t *rcodes, int64_t nr,
                         int64_t ngroups, int32_t how, int64_t *lidx, int64_t *ridx) {
  /* Codes -1 (a missing key) match each other, as pandas: group NGROUPS. */
  int64_t ng = ngroups + 1;
  int64_t *start = calloc((size_t)ng + 1, sizeof *start);
  int64_t *rows = malloc(((size_t)nr + 1) * sizeof *rows);
  uint8_t *used = (how == LD_JOIN_RIGHT || how == LD_JOIN_OUTER) ? calloc((size_t)nr + 1, 1) : NULL;
  if (!start || !rows || ((how == LD_JOIN_RIGHT || how == LD_JOIN_OUTER) && !used)) {
    free(start);
    free(rows);
    free(used);
    return -1;
  }
  for (int64_t j = 0; j < nr; j++) start[(rcodes[j] < 0 ? ngroups : rcodes[j]) + 1]++;
  for (int64_t g = 0; g < ng; g++) start[g + 1] += start[g];
  {
    int64_t *cur = malloc(((size_t)ng + 1) * sizeof *cur);
    if (!cur) {
      free(start);
      free(rows);
      free(used);
      return -1;
    }
    memcpy(cur, start, ((size_t)ng + 1) * sizeof *cur);
    for (int64_t j = 0; j < nr; j++) rows[cur[rcodes[j] < 0 ? ngroups : rcodes[j]]++] = j;
    free(cur);
  }
  int64_t k = 0;
  int keep_left = how == LD_JOIN_LEFT || how == LD_JOIN_OUTER;
  for (int64_t i = 0; i < nl; i++) {
    int64_t g = lcodes[i] < 0 ? ngroups : lcodes[i];
    int64_t a = start[g], b = start[g + 1];
    if (a == b) {
      if (keep_left) {
        if (lidx) lidx[k] = i, ridx[k] = -1;
        k++;
      }
      continue;
    }
    for (int64_t q = a; q < b; q++) {
      if (lidx) lidx[k] = i, ridx[k] = rows[q];
      if (used) used[rows[q]] = 1;
      k++;
    }
  }
  if (used) {
    for (int64_t j = 0; j < nr; j++) {
      if (!used[j]) {
        if (lidx) lidx[k] = -1, ridx[k] = j;
        k++;
      }
    }
  }
  free(start);
  free(rows);
  free(used);
  return k;
}

void ld_fr_range_parts(const double *vals, int64_t n, const double *cuts, int64_t ncuts,
                       int64_t *out) {
  for (int64_t i = 0; i < n; i++) {
    double v = vals[i];
    if (v != v) { /* missing values sort last */
      out[i] = ncuts;
      continue;
    }
    int64_t lo = 0, hi = ncuts; /* first cut > v */
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (cuts[mid] <= v)
        lo = mid + 1;
      else
        hi = mid;
    }
    out[i] = lo;
  }
}

/* Byte order of [A, A+LA) and [B, B+LB) (shorter first on a tie). */
static int cmp_bytes(const char *a, int64_t la, const char *b, int64_t lb) {
  int64_t m = la < lb ? la : lb;
  int c = m > 0 ? memcmp(a, b, (size_t)m) : 0;
  if (c != 0) return c;
  return (la > lb) - (la < lb);
}

void ld_fr_range_parts_str(const int64_t *offsets, const char *bytes, const uint8_t *valid,
                           int64_t n, const int64_t *cut_off, const char *cut_bytes, int64_t ncuts,
                           int64_t *out) {
  for (int64_t i = 0; i < n; i++) {
    if (valid && !valid[i]) {
      out[i] = ncuts;
      continue;
    }
    const char *v = bytes + offsets[i];
    int64_t lv = offsets[i + 1] - offsets[i];
    int64_t lo = 0, hi = ncuts;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (cmp_bytes(cut_bytes + cut_off[mid], cut_off[mid + 1] - cut_off[mid], v, lv) <= 0)
        lo = mid + 1;
      else
        hi = mid;
    }
    out[i] = lo;
  }
}
