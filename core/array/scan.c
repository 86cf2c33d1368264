/* scan.c — cumulative sums and products along one axis (see kernels.h).
 * The result is a C-contiguous copy in the accumulation dtype, scanned in
 * place: each slice along the axis adds (multiplies) the previous one, a
 * contiguous inner loop the compiler vectorizes. */
#include "array/iter.h"
#include "array/kernels.h"
#include "array/loops.h"

#define SCAN(NAME, T, U, OP)                                                        \
  LD_VEC static void NAME(T *restrict p, int64_t outer, int64_t n, int64_t inner) { \
    for (int64_t o = 0; o < outer; o++) {                                           \
      T *base = p + o * n * inner;                                                  \
      for (int64_t i = 1; i < n; i++) {                                             \
        T *restrict cur = base + i * inner;                                         \
        const T *restrict prev = base + (i - 1) * inner;                            \
        for (int64_t j = 0; j < inner; j++) cur[j] = (T)((U)cur[j] OP(U) prev[j]);  \
      }                                                                             \
    }                                                                               \
  }
SCAN(sum_f64, double, double, +)
SCAN(sum_f32, float, float, +)
SCAN(sum_i64, int64_t, uint64_t, +)
SCAN(prod_f64, double, double, *)
SCAN(prod_f32, float, float, *)
SCAN(prod_i64, int64_t, uint64_t, *)

int ld_nd_cumulate(int prod, const ld_ndarray *a, int axis, ld_ndarray *out) {
  const char *name = prod ? "cumprod" : "cumsum";
  int rc = ld_nd_check(a, name);
  if (rc < 0) return rc;
  char b[160];
  if (axis < 0 || axis >= a->ndim)
    return ld_array_error(LD_ARR_EINVAL, "%s: axis %d out of range for shape %s", name, axis,
                          ld_shape_str(a, b, sizeof b));
  int dt = (a->dtype == LD_F64 || a->dtype == LD_F32) ? a->dtype : LD_I64;
  if ((rc = ld_nd_astype(a, dt, out)) < 0) return rc;
  int64_t outer = 1, inner = 1, n = a->shape[axis];
  for (int d = 0; d < axis; d++) outer *= a->shape[d];
  for (int d = axis + 1; d < a->ndim; d++) inner *= a->shape[d];
  void *p = ld_nd_data(out);
  switch (dt) {
    case LD_F64:
      (prod ? prod_f64 : sum_f64)(p, outer, n, inner);
      break;
    case LD_F32:
      (prod ? prod_f32 : sum_f32)(p, outer, n, inner);
      break;
    default:
      (prod ? prod_i64 : sum_i64)(p, outer, n, inner);
      break;
  }
  return 0;
}
