/* nearest.c — k-means' assignment step on one block: the nearest centre of
 * every row from the BLAS dot products, and optionally the per-centre sums
 * and counts of a Lloyd step, in one pass over the rows (see nearest.h). */
#include "ml/nearest.h"

#include <stddef.h>

void ld_ml_nearest(const double *xc, const double *x, const double *c, int64_t n, int64_t p,
                   int64_t k, int32_t *lab, double *dist, double *sums, int64_t *counts,
                   double *cn) {
  for (int64_t j = 0; j < k; j++) {
    double s = 0;
    for (int64_t t = 0; t < p; t++) s += c[j * p + t] * c[j * p + t];
    cn[j] = s;
  }
  for (int64_t i = 0; i < n; i++) {
    const double *row = x + i * p;
    double xn = 0;
    for (int64_t t = 0; t < p; t++) xn += row[t] * row[t];
    const double *d = xc + i * k;
    double best = 0;
    int64_t bj = 0;
    for (int64_t j = 0; j < k; j++) {
      double v = xn - 2 * d[j] + cn[j];
      if (v < 0) v = 0;
      if (j == 0 || v < best) best = v, bj = j;
    }
    lab[i] = (int32_t)bj;
    dist[i] = best;
    if (sums != NULL) {
      double *s = sums + bj * p;
      for (int64_t t = 0; t < p; t++) s[t] += row[t];
      counts[bj]++;
    }
  }
}
