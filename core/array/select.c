/* select.c — ordering kernels of ldask.array: argsort along the last axis
 * (topk, argtopk, percentile) and gathering along the last axis
 * (take_along_axis). Declared in kernels.h. */
#include <stdlib.h>
#include <string.h>

#include "array/iter.h"
#include "array/kernels.h"

typedef struct {
  const char *row;
  int desc;
} sort_ctx;

/* Comparators on indices into one row: ascending puts NaN last, descending
 * first (NaN counts as the largest value, as numpy's sort); ties keep index
 * order so results are deterministic. */
#define CMP(NAME, T, ISNAN)                                         \
  static int NAME(const void *pa, const void *pb, void *c) {        \
    const sort_ctx *ctx = c;                                        \
    int64_t ia = *(const int64_t *)pa, ib = *(const int64_t *)pb;   \
    T a = ((const T *)ctx->row)[ia], b = ((const T *)ctx->row)[ib]; \
    int na = ISNAN(a), nb = ISNAN(b), r;                            \
    if (na || nb)                                                   \
      r = na - nb;                                                  \
    else                                                            \
      r = (a > b) - (a < b);                                        \
    if (ctx->desc) r = -r;                                          \
    return r ? r : (ia > ib) - (ia < ib);                           \
  }
#define FNAN(v) ((v) != (v))
#define INAN(v) ((void)(v), 0)
CMP(cmp_f64, double, FNAN)
CMP(cmp_f32, float, FNAN)
CMP(cmp_i64, int64_t, INAN)
CMP(cmp_i32, int32_t, INAN)
CMP(cmp_u8, uint8_t, INAN)

int ld_nd_argsort(const ld_ndarray *a, int descending, ld_ndarray *out_idx) {
  int rc;
  if ((rc = ld_nd_check(a, "argsort")) < 0) return rc;
  if (a->ndim < 1) return ld_array_error(LD_ARR_EINVAL, "argsort: needs at least one axis");
  ld_ndarray w = {0};
  if ((rc = ld_nd_astype(a, a->dtype, &w)) < 0) return rc;
  if ((rc = ld_nd_alloc(out_idx, LD_I64, a->ndim, a->shape, 0)) < 0) {
    ld_nd_clear(&w);
    return rc;
  }
  int64_t n = a->shape[a->ndim - 1], rows = n ? ld_nd_size(a) / n : 0;
  size_t isz = ld_dtype_size(a->dtype);
  int (*cmp)(const void *, const void *, void *) = a->dtype == LD_F64   ? cmp_f64
                                                   : a->dtype == LD_F32 ? cmp_f32
                                                   : a->dtype == LD_I64 ? cmp_i64
                                                   : a->dtype == LD_I32 ? cmp_i32
                                                                        : cmp_u8;
  int64_t *pi = ld_nd_data(out_idx);
  const char *pw = ld_nd_data(&w);
  for (int64_t r = 0; r < rows; r++) {
    int64_t *idx = pi + r * n;
    for (int64_t j = 0; j < n; j++) idx[j] = j;
    sort_ctx ctx = {pw + (size_t)(r * n) * isz, descending};
    qsort_r(idx, (size_t)n, sizeof *idx, cmp, &ctx);
  }
  ld_nd_clear(&w);
  return 0;
}

int ld_nd_take_along(const ld_ndarray *a, const ld_ndarray *idx, ld_ndarray *out) {
  int rc;
  char b1[160], b2[160];
  if ((rc = ld_nd_check(a, "take_along_axis")) < 0 ||
      (rc = ld_nd_check(idx, "take_along_axis")) < 0)
    return rc;
  int ok = a->ndim >= 1 && idx->ndim == a->ndim && idx->dtype == LD_I64;
  for (int d = 0; ok && d < a->ndim - 1; d++) ok = a->shape[d] == idx->shape[d];
  if (!ok)
    return ld_array_error(LD_ARR_ESHAPE,
                          "take_along_axis: int64 indices of shape %s do not fit array %s",
                          ld_shape_str(idx, b1, sizeof b1), ld_shape_str(a, b2, sizeof b2));
  ld_ndarray w = {0}, wi = {0};
  if ((rc = ld_nd_astype(a, a->dtype, &w)) < 0) return rc;
  if ((rc = ld_nd_astype(idx, LD_I64, &wi)) < 0) {
    ld_nd_clear(&w);
    return rc;
  }
  if ((rc = ld_nd_alloc(out, a->dtype, idx->ndim, idx->shape, 0)) < 0) {
    ld_nd_clear(&w);
    ld_nd_clear(&wi);
    return rc;
  }
  int64_t n = a->shape[a->ndim - 1], k = idx->shape[idx->ndim - 1];
  int64_t rows = k ? ld_nd_size(idx) / k : 0;
  size_t isz = ld_dtype_size(a->dtype);
  const char *pa = ld_nd_data(&w);
  const int64_t *pi = ld_nd_data(&wi);
  char *po = ld_nd_data(out);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < k; j++) {
      int64_t i = pi[r * k + j];
      if (i < 0) i += n;
      if (i < 0 || i >= n) {
        ld_nd_clear(&w);
        ld_nd_clear(&wi);
        ld_nd_clear(out);
        return ld_array_error(LD_ARR_EINVAL,
                              "take_along_axis: index %lld out of range for size %lld",
                              (long long)pi[r * k + j], (long long)n);
      }
      memcpy(po + (size_t)(r * k + j) * isz, pa + (size_t)(r * n + i) * isz, isz);
    }
  ld_nd_clear(&w);
  ld_nd_clear(&wi);
  return 0;
}
