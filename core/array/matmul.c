/* matmul.c — 2-D matrix product: float64/float32 through CBLAS (OpenBLAS),
 * using transposed views directly; integer dtypes with a plain i-k-j loop
 * (see kernels.h). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "array/iter.h"
#include "array/kernels.h"

/* BLAS view of a 2-D array: row-major with leading dimension LD, possibly
 * transposed. Returns 0 when A can be passed to BLAS as is. */
static int blas_layout(const ld_ndarray *a, CBLAS_TRANSPOSE *tr, int64_t *ld) {
  int64_t r = a->shape[0], c = a->shape[1];
  if ((a->strides[1] == 1 || c == 1) && a->strides[0] >= (c > 1 ? c : 1)) {
    *tr = CblasNoTrans;
    *ld = a->strides[0] > 0 ? a->strides[0] : 1;
    return 0;
  }
  if ((a->strides[0] == 1 || r == 1) && a->strides[1] >= (r > 1 ? r : 1)) {
    *tr = CblasTrans;
    *ld = a->strides[1] > 0 ? a->strides[1] : 1;
    return 0;
  }
  return -1;
}

#define IMM(NAME, T, U)                                                                  \
  static void NAME(const ld_ndarray *a, const ld_ndarray *b, T *c, int64_t m, int64_t k, \
                   int64_t n) {                                                          \
    const T *pa = ld_nd_data(a), *pb = ld_nd_data(b);                                    \
    for (int64_t i = 0; i < m; i++) {                                                    \
      T *restrict ci = c + i * n;                                                        \
      for (int64_t l = 0; l < k; l++) {                                                  \
        U av = (U)pa[i * a->strides[0] + l * a->strides[1]];                             \
        const T *bl = pb + l * b->strides[0];                                            \
        int64_t sb = b->strides[1];                                                      \
        for (int64_t j = 0; j < n; j++) ci[j] = (T)((U)ci[j] + av * (U)bl[j * sb]);      \
      }                                                                                  \
    }                                                                                    \
  }
IMM(imm_i64, int64_t, uint64_t)
IMM(imm_i32, int32_t, uint32_t)
IMM(imm_u8, uint8_t, unsigned)

static int check2(const ld_ndarray *a, const ld_ndarray *b, const char *name) {
  int rc;
  if ((rc = ld_nd_check(a, name)) < 0 || (rc = ld_nd_check(b, name)) < 0) return rc;
  char b1[160], b2[160];
  if (a->ndim != 2 || b->ndim != 2 || a->shape[1] != b->shape[0])
    return ld_array_error(LD_ARR_ESHAPE, "%s: shapes %s and %s not aligned (need (m, k) @ (k, n))",
                          name, ld_shape_str(a, b1, sizeof b1), ld_shape_str(b, b2, sizeof b2));
  if (a->dtype != b->dtype)
    return ld_array_error(LD_ARR_EINVAL, "%s: dtypes %s and %s differ (promote first)", name,
                          ld_dtype_name(a->dtype), ld_dtype_name(b->dtype));
  if (a->dtype == LD_BOOL)
    return ld_array_error(LD_ARR_EINVAL, "%s: not supported for dtype bool", name);
  return 0;
}

/* C (contiguous m x n) += A @ B, shapes and dtypes checked. */
static int gemm_acc(const ld_ndarray *a, const ld_ndarray *b, ld_ndarray *c) {
  int64_t m = a->shape[0], k = a->shape[1], n = b->shape[1];
  if (m == 0 || n == 0 || k == 0) return 0;
  if (a->dtype == LD_F64 || a->dtype == LD_F32) {
    ld_ndarray ca = {0}, cb = {0};
    const ld_ndarray *pa = a, *pb = b;
    CBLAS_TRANSPOSE ta, tb;
    int64_t lda, ldb;
    int rc;
    if (blas_layout(pa, &ta, &lda) < 0) {
      if ((rc = ld_nd_astype(a, a->dtype, &ca)) < 0) return rc;
      pa = &ca;
      blas_layout(pa, &ta, &lda);
    }
    if (blas_layout(pb, &tb, &ldb) < 0) {
      if ((rc = ld_nd_astype(b, b->dtype, &cb)) < 0) {
        ld_nd_clear(&ca);
        return rc;
      }
      pb = &cb;
      blas_layout(pb, &tb, &ldb);
    }
    if (a->dtype == LD_F64)
      cblas_dgemm(CblasRowMajor, ta, tb, (blasint)m, (blasint)n, (blasint)k, 1.0, ld_nd_data(pa),
                  (blasint)lda, ld_nd_data(pb), (blasint)ldb, 1.0, ld_nd_data(c), (blasint)n);
    else
      cblas_sgemm(CblasRowMajor, ta, tb, (blasint)m, (blasint)n, (blasint)k, 1.0f, ld_nd_data(pa),
                  (blasint)lda, ld_nd_data(pb), (blasint)ldb, 1.0f, ld_nd_data(c), (blasint)n);
    ld_nd_clear(&ca);
    ld_nd_clear(&cb);
    return 0;
  }
  switch (a->dtype) {
    case LD_I64:
      imm_i64(a, b, ld_nd_data(c), m, k, n);
      break;
    case LD_I32:
      imm_i32(a, b, ld_nd_data(c), m, k, n);
      break;
    default:
      imm_u8(a, b, ld_nd_data(c), m, k, n);
      break;
  }
  return 0;
}

int ld_nd_matmul(const ld_ndarray *a, const ld_ndarray *b, ld_ndarray *out) {
  int rc = check2(a, b, "matmul");
  if (rc < 0) return rc;
  int64_t shape[2] = {a->shape[0], b->shape[1]};
  if ((rc = ld_nd_alloc(out, a->dtype, 2, shape, 1)) < 0) return rc;
  if ((rc = gemm_acc(a, b, out)) < 0) ld_nd_clear(out);
  return rc;
}

int ld_nd_matmul_acc(const ld_ndarray *a, const ld_ndarray *b, ld_ndarray *c) {
  int rc = check2(a, b, "matmul");
  if (rc < 0) return rc;
  if ((rc = ld_nd_check(c, "matmul")) < 0) return rc;
  char b1[160];
  if (c->ndim != 2 || c->shape[0] != a->shape[0] || c->shape[1] != b->shape[1] ||
      c->dtype != a->dtype || !ld_nd_is_contiguous(c))
    return ld_array_error(LD_ARR_ESHAPE,
                          "matmul: accumulator %s %s must be contiguous (%lld, %lld) %s",
                          ld_shape_str(c, b1, sizeof b1), ld_dtype_name(c->dtype),
                          (long long)a->shape[0], (long long)b->shape[1], ld_dtype_name(a->dtype));
  return gemm_acc(a, b, c);
}

int ld_blas_one_thread(void) {
  static const char *const vars[] = {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
    const char *v = getenv(vars[i]);
    if (v != NULL && *v != '\0') return 0;
  }
  openblas_set_num_threads(1);
  return 1;
}
