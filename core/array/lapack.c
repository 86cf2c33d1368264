/* lapack.c — the per-block dense linear algebra of ldask.array through
 * LAPACKE: QR (geqrf + orgqr on a column-major copy), SVD (gesdd), Cholesky
 * (potrf), LU (getrf), triangular solves (trtrs) and tril/triu copies.
 * Contracts and ownership: see lapack.h. */
#include <lapacke.h>
#include <stdlib.h>
#include <string.h>

#include "array/iter.h"
#include "array/kernels.h"
#include "array/lapack.h"

/* Checks that A is a 2-D array of a numeric dtype (square when SQUARE) and
 * fills W (empty) with its own float64 C-contiguous copy. */
static int work_copy(const ld_ndarray *a, int square, const char *what, ld_ndarray *w) {
  int rc;
  char b[160];
  if ((rc = ld_nd_check(a, what)) < 0) return rc;
  if (a->ndim != 2)
    return ld_array_error(LD_ARR_EINVAL, "%s: expected a 2-d array, got shape %s", what,
                          ld_shape_str(a, b, sizeof b));
  if (square && a->shape[0] != a->shape[1])
    return ld_array_error(LD_ARR_ESHAPE, "%s: expected a square matrix, got shape %s", what,
                          ld_shape_str(a, b, sizeof b));
  if (a->dtype == LD_BOOL)
    return ld_array_error(LD_ARR_EINVAL, "%s: not supported for dtype bool", what);
  return ld_nd_astype(a, LD_F64, w);
}

static int alloc2(ld_ndarray *out, int64_t r, int64_t c) {
  int64_t shape[2] = {r, c};
  return ld_nd_alloc(out, LD_F64, 2, shape, 1);
}

static int lapack_failed(lapack_int info, const char *what, const char *routine) {
  if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR)
    return ld_array_error(LD_ARR_ENOMEM, "%s: out of memory in LAPACK %s", what, routine);
  return ld_array_error(LD_ARR_EINVAL, "%s: LAPACK %s rejected argument %d", what, routine,
                        (int)-info);
}

/* Clears every array of LIST (N entries) and returns RC. */
static int clear_all(int rc, int n, ld_ndarray **list) {
  for (int i = 0; i < n; i++) ld_nd_clear(list[i]);
  return rc;
}

int ld_la_qr(const ld_ndarray *a, ld_ndarray *q, ld_ndarray *r) {
  ld_ndarray w = {0};
  int rc = work_copy(a, 0, "qr", &w);
  if (rc < 0) return rc;
  int64_t m = w.shape[0], n = w.shape[1], k = m < n ? m : n;
  ld_ndarray *all[3] = {&w, q, r};
  if ((rc = alloc2(r, k, n)) < 0 || (rc = alloc2(q, m, k)) < 0) return clear_all(rc, 3, all);
  if (k == 0) return clear_all(0, 1, all);
  double *pw = ld_nd_data(&w), *pq = ld_nd_data(q), *pr = ld_nd_data(r);
  double *tau = malloc((size_t)k * sizeof *tau);
  if (!tau) return clear_all(ld_array_error(LD_ARR_ENOMEM, "qr: out of memory"), 3, all);
  /* LAPACK's column-major QR (dgeqrf + dorgqr) on a column-major copy: about
   * twice as fast as the LQ of the transpose (the row-major buffer as is)
   * for tall blocks, the transposes included. */
  double *c = malloc((size_t)(m * n) * sizeof *c);
  if (!c) {
    free(tau);
    return clear_all(ld_array_error(LD_ARR_ENOMEM, "qr: out of memory"), 3, all);
  }
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) c[i + j * m] = pw[i * n + j];
  lapack_int info =
      LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)n, c, (lapack_int)m, tau);
  if (info == 0) {
    for (int64_t i = 0; i < k; i++)
      for (int64_t j = i; j < n; j++) pr[i * n + j] = c[i + j * m];
    info = LAPACKE_dorgqr(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)k, (lapack_int)k, c,
                          (lapack_int)m, tau);
  }
  free(tau);
  if (info != 0) {
    free(c);
    return clear_all(lapack_failed(info, "qr", "dgeqrf/dorgqr"), 3, all);
  }
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < k; j++) pq[i * k + j] = c[i + j * m];
  free(c);
  ld_nd_clear(&w);
  return 0;
}

int ld_la_svd(const ld_ndarray *a, ld_ndarray *u, ld_ndarray *s, ld_ndarray *vt) {
  ld_ndarray w = {0};
  int rc = work_copy(a, 0, "svd", &w);
  if (rc < 0) return rc;
  int64_t m = w.shape[0], n = w.shape[1], k = m < n ? m : n;
  ld_ndarray *all[4] = {&w, u, s, vt};
  if ((rc = alloc2(u, m, k)) < 0 || (rc = alloc2(vt, k, n)) < 0 ||
      (rc = ld_nd_alloc(s, LD_F64, 1, &k, 1)) < 0)
    return clear_all(rc, 4, all);
  if (k == 0) return clear_all(0, 1, all);
  lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', (lapack_int)m, (lapack_int)n,
                                   ld_nd_data(&w), (lapack_int)n, ld_nd_data(s), ld_nd_data(u),
                                   (lapack_int)k, ld_nd_data(vt), (lapack_int)n);
  if (info > 0)
    return clear_all(ld_array_error(LD_ARR_ELINALG,
                                    "svd: did not converge (LAPACK dgesdd, %d "
                                    "superdiagonals)",
                                    (int)info),
                     4, all);
  if (info < 0) return clear_all(lapack_failed(info, "svd", "dgesdd"), 4, all);
  ld_nd_clear(&w);
  return 0;
}

int ld_la_cholesky(const ld_ndarray *a, int lower, int64_t minor0, const char *what,
                   ld_ndarray *out) {
  int rc = work_copy(a, 1, what, out);
  if (rc < 0) return rc;
  int64_t n = out->shape[0];
  double *p = ld_nd_data(out);
  if (n == 0) return 0;
  lapack_int info =
      LAPACKE_dpotrf(LAPACK_ROW_MAJOR, lower ? 'L' : 'U', (lapack_int)n, p, (lapack_int)n);
  if (info > 0) {
    ld_nd_clear(out);
    return ld_array_error(LD_ARR_ELINALG,
                          "%s: the matrix is not positive definite (leading minor %lld)", what,
                          (long long)(minor0 + info));
  }
  if (info < 0) {
    ld_nd_clear(out);
    return lapack_failed(info, what, "dpotrf");
  }
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++)
      if (lower ? j > i : j < i) p[i * n + j] = 0.0;
  return 0;
}

int ld_la_lu(const ld_ndarray *a, int64_t minor0, const char *what, ld_ndarray *perm, ld_ndarray *l,
             ld_ndarray *u) {
  ld_ndarray w = {0};
  int rc = work_copy(a, 1, what, &w);
  if (rc < 0) return rc;
  int64_t n = w.shape[0];
  ld_ndarray *all[4] = {&w, perm, l, u};
  if ((rc = alloc2(l, n, n)) < 0 || (rc = alloc2(u, n, n)) < 0 ||
      (rc = ld_nd_alloc(perm, LD_I64, 1, &n, 1)) < 0)
    return clear_all(rc, 4, all);
  if (n == 0) return clear_all(0, 1, all);
  lapack_int *ipiv = malloc((size_t)n * sizeof *ipiv);
  if (!ipiv) return clear_all(ld_array_error(LD_ARR_ENOMEM, "%s: out of memory", what), 4, all);
  double *pw = ld_nd_data(&w), *pl = ld_nd_data(l), *pu = ld_nd_data(u);
  lapack_int info =
      LAPACKE_dgetrf(LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)n, pw, (lapack_int)n, ipiv);
  if (info < 0) {
    free(ipiv);
    return clear_all(lapack_failed(info, what, "dgetrf"), 4, all);
  }
  if (info > 0) {
    free(ipiv);
    return clear_all(
        ld_array_error(LD_ARR_ELINALG, "%s: the matrix is singular (pivot %lld is exactly zero)",
                       what, (long long)(minor0 + info - 1)),
        4, all);
  }
  int64_t *pp = ld_nd_data(perm);
  for (int64_t i = 0; i < n; i++) pp[i] = i;
  for (int64_t i = 0; i < n; i++) {
    int64_t j = ipiv[i] - 1, t = pp[i];
    pp[i] = pp[j];
    pp[j] = t;
  }
  free(ipiv);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      double v = pw[i * n + j];
      if (j < i)
        pl[i * n + j] = v;
      else
        pu[i * n + j] = v;
    }
  for (int64_t i = 0; i < n; i++) pl[i * n + i] = 1.0;
  ld_nd_clear(&w);
  return 0;
}

int ld_la_trsolve(const ld_ndarray *t, const ld_ndarray *b, int lower, int trans, int unit,
                  const char *what, ld_ndarray *out) {
  ld_ndarray w = {0};
  int rc = work_copy(t, 1, what, &w);
  if (rc < 0) return rc;
  char b1[160], b2[160];
  int64_t n = w.shape[0];
  if ((rc = ld_nd_check(b, what)) < 0) {
    ld_nd_clear(&w);
    return rc;
  }
  if ((b->ndim != 1 && b->ndim != 2) || b->shape[0] != n) {
    ld_nd_clear(&w);
    return ld_array_error(LD_ARR_ESHAPE, "%s: shapes %s and %s not aligned", what,
                          ld_shape_str(t, b1, sizeof b1), ld_shape_str(b, b2, sizeof b2));
  }
  if (b->dtype == LD_BOOL) {
    ld_nd_clear(&w);
    return ld_array_error(LD_ARR_EINVAL, "%s: not supported for dtype bool", what);
  }
  if ((rc = ld_nd_astype(b, LD_F64, out)) < 0) {
    ld_nd_clear(&w);
    return rc;
  }
  int64_t r = b->ndim == 2 ? b->shape[1] : 1;
  if (n == 0 || r == 0) {
    ld_nd_clear(&w);
    return 0;
  }
  lapack_int info = LAPACKE_dtrtrs(LAPACK_ROW_MAJOR, lower ? 'L' : 'U', trans ? 'T' : 'N',
                                   unit ? 'U' : 'N', (lapack_int)n, (lapack_int)r, ld_nd_data(&w),
                                   (lapack_int)n, ld_nd_data(out), (lapack_int)r);
  ld_nd_clear(&w);
  if (info != 0) {
    ld_nd_clear(out);
    if (info > 0)
      return ld_array_error(LD_ARR_ELINALG,
                            "%s: the matrix is singular (diagonal element %d is zero)", what,
                            (int)info - 1);
    return lapack_failed(info, what, "dtrtrs");
  }
  return 0;
}

int ld_la_tri(const ld_ndarray *a, int lower, int64_t k, ld_ndarray *out) {
  int rc;
  char b[160];
  if ((rc = ld_nd_check(a, "tri")) < 0) return rc;
  if (a->ndim != 2)
    return ld_array_error(LD_ARR_EINVAL, "%s: expected a 2-d array, got shape %s",
                          lower ? "tril" : "triu", ld_shape_str(a, b, sizeof b));
  if ((rc = ld_nd_astype(a, a->dtype, out)) < 0) return rc;
  int64_t m = out->shape[0], n = out->shape[1];
  size_t isz = ld_dtype_size(out->dtype);
  char *p = ld_nd_data(out);
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++)
      if (lower ? j - i > k : j - i < k) memset(p + (size_t)(i * n + j) * isz, 0, isz);
  return 0;
}
