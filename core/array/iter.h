/* iter.h — the broadcasting N-operand iterator shared by the array kernels
 * (internal to core/array). Operands are aligned to the right of a common
 * shape, broadcast dimensions get stride 0, size-1 dimensions are dropped and
 * adjacent dimensions that are contiguous for every operand are merged, so a
 * contiguous N-d operation becomes one long inner loop the compiler can
 * vectorize. A row function is called once per inner row (never per
 * element). */
#ifndef LDASK_ARRAY_ITER_H
#define LDASK_ARRAY_ITER_H

#include "array/ndarray.h"

#define LD_ITER_MAXOP 4

/* Called for each inner row: N elements; P[k] points to operand k's first
 * element of the row, S[k] is its stride in elements; CTX passed through. */
typedef void (*ld_row_fn)(int64_t n, char **p, const int64_t *s, const void *ctx);

typedef struct {
  int nop;
  int ndim; /* >= 1 after init */
  int64_t shape[LD_MAXDIM];
  int64_t st[LD_ITER_MAXOP][LD_MAXDIM];
  char *base[LD_ITER_MAXOP];
  size_t isz[LD_ITER_MAXOP];
} ld_iter;

/* Broadcast shape of the N arrays IN (numpy rules) into *NDIM / SHAPE.
 * Returns 0, or LD_ARR_ESHAPE with a message naming OPNAME and the shapes. */
int ld_iter_broadcast(int n, const ld_ndarray *const *in, int *ndim, int64_t *shape,
                      const char *opname);

/* Prepares IT over NOP operands OPS (borrowed) for the common shape
 * NDIM/SHAPE; every operand must broadcast to it (checked by the caller).
 * Operand strides may be overridden afterwards with ld_iter_set_strides. */
void ld_iter_init(ld_iter *it, int nop, const ld_ndarray *const *ops, int ndim,
                  const int64_t *shape);

/* Merges and drops dimensions (call after the strides are final). */
void ld_iter_coalesce(ld_iter *it);

/* Runs FN over every row. */
void ld_iter_run(const ld_iter *it, ld_row_fn fn, const void *ctx);

/* Writes the shape of A as "(2, 3)" into BUF (size N); returns BUF. */
const char *ld_shape_str(const ld_ndarray *a, char *buf, size_t n);

#endif
