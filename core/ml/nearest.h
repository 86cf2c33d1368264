/* nearest.h — the nearest of K centres for every row of a block: k-means'
 * assignment step (lua/ldask/ml/cluster.lua), from the dot products a BLAS
 * product already made. */
#ifndef LDASK_ML_NEAREST_H
#define LDASK_ML_NEAREST_H

#include <stdint.h>

/* For each of the N rows of X (n x p, row-major), the nearest of the K rows
 * of C (k x p) by squared Euclidean distance |x|^2 - 2 x.c + |c|^2 (clamped
 * at 0), given XC = X C^T (n x k, row-major): its index into LAB[i] and the
 * distance into DIST[i] (ties: the lowest index). When SUMS (k x p) and
 * COUNTS (k) are not NULL, each row is also added to its centre's sum and
 * counted (they are accumulated into, not cleared). CN is the caller's
 * scratch of K doubles (it receives |c|^2). All arrays are borrowed;
 * nothing is allocated. */
void ld_ml_nearest(const double *xc, const double *x, const double *c, int64_t n, int64_t p,
                   int64_t k, int32_t *lab, double *dist, double *sums, int64_t *counts,
                   double *cn);

#endif
