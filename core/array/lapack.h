/* lapack.h — dense linear algebra on one ndarray block through LAPACKE
 * (Debian's liblapacke over OpenBLAS): QR, SVD, Cholesky, LU with partial
 * pivoting, triangular solves. ldask.array's blocked algorithms
 * (lua/ldask/array/linalg_*.lua) call these once per block.
 *
 * Conventions (as kernels.h): inputs are borrowed and never written (each
 * kernel works on its own float64 C-contiguous copy); every `out` struct
 * must be empty and receives a new float64 C-contiguous array owning one
 * buffer reference; on failure every `out` stays empty. Functions return 0
 * or a negative LD_ARR_* code with a message in ld_array_errmsg() naming
 * WHAT (the operation, for messages) and, for numerical failures, where
 * (e.g. "cholesky: the matrix is not positive definite (leading minor 3)"). */
#ifndef LDASK_ARRAY_LAPACK_H
#define LDASK_ARRAY_LAPACK_H

#include <stdint.h>

#include "array/ndarray.h"

/* Numerical failure of a factorization (singular, not positive definite,
 * no convergence): the message says which. */
#define LD_ARR_ELINALG (-5)

/* Reduced QR of the 2-D (m, n) A: Q (m, k) with orthonormal columns and R
 * (k, n) upper triangular, k = min(m, n), A = Q R. */
int ld_la_qr(const ld_ndarray *a, ld_ndarray *q, ld_ndarray *r);

/* Thin SVD of the 2-D (m, n) A: U (m, k), S (k,) descending, VT (k, n),
 * A = U diag(S) VT, k = min(m, n) (LAPACK gesdd). */
int ld_la_svd(const ld_ndarray *a, ld_ndarray *u, ld_ndarray *s, ld_ndarray *vt);

/* Cholesky factor of the symmetric positive definite (n, n) A: OUT = L
 * (lower, A = L L^T) when LOWER, else U = L^T (A = U^T U); the other triangle
 * is zero. Only A's LOWER (resp. upper) triangle is read. A failure names
 * the leading minor counted from MINOR0 + 1 (the block's offset in the whole
 * matrix). */
int ld_la_cholesky(const ld_ndarray *a, int lower, int64_t minor0, const char *what,
                   ld_ndarray *out);

/* LU with partial pivoting of the (n, n) A: PERM (int64, n) with
 * A[PERM] = L U, L unit lower triangular, U upper triangular. An exactly
 * zero pivot is an error naming its index counted from MINOR0. */
int ld_la_lu(const ld_ndarray *a, int64_t minor0, const char *what, ld_ndarray *perm, ld_ndarray *l,
             ld_ndarray *u);

/* OUT = op(T)^-1 B for the triangular (n, n) T (LOWER or upper; op
 * transposes when TRANS; UNIT: the diagonal is taken as ones) and B (n,) or
 * (n, r). A zero on the diagonal is an error (singular matrix). */
int ld_la_trsolve(const ld_ndarray *t, const ld_ndarray *b, int lower, int trans, int unit,
                  const char *what, ld_ndarray *out);

/* Copies the (m, n) A into OUT keeping its lower (LOWER) or upper triangle
 * shifted by K diagonals (numpy's tril(a, k) / triu(a, k)), zeros elsewhere;
 * OUT keeps A's dtype. */
int ld_la_tri(const ld_ndarray *a, int lower, int64_t k, ld_ndarray *out);

#endif
