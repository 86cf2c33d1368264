/* reduce.c — reductions over any set of axes (sum, prod, min, max, any,
 * all) and arg reductions (argmin, argmax) along one axis (see kernels.h).
 * Horizontal sums use eight independent accumulators so the loop pipelines
 * and vectorizes without -ffast-math; reductions over outer axes become
 * elementwise accumulation into the (contiguous) output row. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "array/iter.h"
#include "array/kernels.h"
#include "array/loops.h"

static const char *red_names[LD_NREDOP] = {"sum", "prod", "min", "max", "any", "all"};

/* SUM/PROD: T input, A output, C accumulator (unsigned for integers, so
 * overflow wraps instead of being undefined). */
#define RED_ARITH(NAME, T, A, C, OP, ID, IS_SUM)                                           \
  LD_VEC static void NAME(int64_t n, char **p, const int64_t *s, const void *ctx) {        \
    (void)ctx;                                                                             \
    A *restrict o = (A *)p[0];                                                             \
    const T *restrict a = (const T *)p[1];                                                 \
    if (s[0] == 0) {                                                                       \
      C acc = (C)*o;                                                                       \
      if (IS_SUM && s[1] == 0) { /* broadcast input (e.g. ones): n copies */               \
        acc += (C)n * (C)a[0];                                                             \
      } else if (s[1] == 1) {                                                              \
        C r0 = ID, r1 = ID, r2 = ID, r3 = ID, r4 = ID, r5 = ID, r6 = ID, r7 = ID;          \
        int64_t i = 0;                                                                     \
        for (; i + 8 <= n; i += 8) {                                                       \
          r0 OP## = (C)a[i];                                                               \
          r1 OP## = (C)a[i + 1];                                                           \
          r2 OP## = (C)a[i + 2];                                                           \
          r3 OP## = (C)a[i + 3];                                                           \
          r4 OP## = (C)a[i + 4];                                                           \
          r5 OP## = (C)a[i + 5];                                                           \
          r6 OP## = (C)a[i + 6];                                                           \
          r7 OP## = (C)a[i + 7];                                                           \
        }                                                                                  \
        for (; i < n; i++) r0 OP## = (C)a[i];                                              \
        acc OP## = ((r0 OP r1)OP(r2 OP r3))OP((r4 OP r5)OP(r6 OP r7));                     \
      } else {                                                                             \
        for (int64_t i = 0; i < n; i++) acc OP## = (C)a[i * s[1]];                         \
      }                                                                                    \
      *o = (A)acc;                                                                         \
    } else if (s[0] == 1 && s[1] == 1) {                                                   \
      for (int64_t i = 0; i < n; i++) o[i] = (A)((C)o[i] OP(C) a[i]);                      \
    } else {                                                                               \
      for (int64_t i = 0; i < n; i++) o[i * s[0]] = (A)((C)o[i * s[0]] OP(C) a[i * s[1]]); \
    }                                                                                      \
  }

#define ISNAN_F(x) ((x) != (x))
#define ISNAN_I(x) 0

/* MIN/MAX: LT is < for min and > for max; NaN propagates for floats. */
#define RED_EXT(NAME, T, LT, NANCHK)                                                \
  LD_VEC static void NAME(int64_t n, char **p, const int64_t *s, const void *ctx) { \
    (void)ctx;                                                                      \
    T *restrict o = (T *)p[0];                                                      \
    const T *restrict a = (const T *)p[1];                                          \
    if (s[0] == 0) {                                                                \
      T m = *o;                                                                     \
      for (int64_t i = 0; i < n; i++) {                                             \
        T x = a[i * s[1]];                                                          \
        m = (x LT m || NANCHK(x)) ? x : m;                                          \
      }                                                                             \
      *o = m;                                                                       \
    } else {                                                                        \
      for (int64_t i = 0; i < n; i++) {                                             \
        T x = a[i * s[1]], m = o[i * s[0]];                                         \
        o[i * s[0]] = (x LT m || NANCHK(x)) ? x : m;                                \
      }                                                                             \
    }                                                                               \
  }

#define RED_BOOL(NAME, T, OP)                                                         \
  LD_VEC static void NAME(int64_t n, char **p, const int64_t *s, const void *ctx) {   \
    (void)ctx;                                                                        \
    uint8_t *restrict o = (uint8_t *)p[0];                                            \
    const T *restrict a = (const T *)p[1];                                            \
    if (s[0] == 0) {                                                                  \
      uint8_t r = *o;                                                                 \
      for (int64_t i = 0; i < n; i++) r OP## = (uint8_t)(a[i * s[1]] != 0);           \
      *o = r;                                                                         \
    } else {                                                                          \
      for (int64_t i = 0; i < n; i++) o[i * s[0]] OP## = (uint8_t)(a[i * s[1]] != 0); \
    }                                                                                 \
  }

#define RED_TYPE(T, SFX, A, C, NANCHK)    \
  RED_ARITH(sum_##SFX, T, A, C, +, 0, 1)  \
  RED_ARITH(prod_##SFX, T, A, C, *, 1, 0) \
  RED_EXT(min_##SFX, T, <, NANCHK)        \
  RED_EXT(max_##SFX, T, >, NANCHK)        \
  RED_BOOL(any_##SFX, T, |)               \
  RED_BOOL(all_##SFX, T, &)

RED_TYPE(double, f64, double, double, ISNAN_F)
RED_TYPE(float, f32, double, double, ISNAN_F)
RED_TYPE(int64_t, i64, int64_t, uint64_t, ISNAN_I)
RED_TYPE(int32_t, i32, int64_t, uint64_t, ISNAN_I)
RED_TYPE(uint8_t, u8, int64_t, uint64_t, ISNAN_I)

#define RROW(SFX) \
  { sum_##SFX, prod_##SFX, min_##SFX, max_##SFX, any_##SFX, all_##SFX }
static const ld_row_fn table[LD_NDTYPES][LD_NREDOP] = {RROW(f64), RROW(f32), RROW(i64),
                                                       RROW(i32), RROW(u8),  RROW(u8)};

static int acc_dtype(int op, int dt) {
  switch (op) {
    case LD_RSUM:
    case LD_RPROD:
      return (dt == LD_F64 || dt == LD_F32) ? LD_F64 : LD_I64;
    case LD_RANY:
    case LD_RALL:
      return LD_BOOL;
    default:
      return dt;
  }
}

static void fill_identity(ld_ndarray *out, int op) {
  double v = 0;
  int64_t iv = 0;
  switch (op) {
    case LD_RPROD:
    case LD_RALL:
      v = 1, iv = 1;
      break;
    case LD_RMIN:
      v = INFINITY;
      iv = out->dtype == LD_I64 ? INT64_MAX : out->dtype == LD_I32 ? INT32_MAX : 255;
      if (out->dtype == LD_BOOL) v = 1;
      break;
    case LD_RMAX:
      v = -INFINITY;
      iv = out->dtype == LD_I64 ? INT64_MIN : out->dtype == LD_I32 ? INT32_MIN : 0;
      if (out->dtype == LD_BOOL) v = 0;
      break;
    default:
      break;
  }
  ld_nd_fill(out, v, iv);
}

int ld_nd_reduce(int op, const ld_ndarray *a, uint32_t axes, ld_ndarray *out) {
  if (op < 0 || op >= LD_NREDOP)
    return ld_array_error(LD_ARR_EINVAL, "reduce: unknown operation code %d", op);
  const char *name = red_names[op];
  int rc = ld_nd_check(a, name);
  if (rc < 0) return rc;
  if (a->ndim < 32 && (axes >> a->ndim) != 0) {
    char b[160];
    return ld_array_error(LD_ARR_EINVAL, "%s: axis mask 0x%x out of range for shape %s", name,
                          (unsigned)axes, ld_shape_str(a, b, sizeof b));
  }
  int64_t oshape[LD_MAXDIM];
  int empty_axis = 0, out_empty = 0;
  for (int d = 0; d < a->ndim; d++) {
    int red = (axes >> d) & 1;
    oshape[d] = red ? 1 : a->shape[d];
    if (red && a->shape[d] == 0) empty_axis = 1;
    if (!red && a->shape[d] == 0) out_empty = 1;
  }
  if (empty_axis && !out_empty && (op == LD_RMIN || op == LD_RMAX)) {
    char b[160];
    return ld_array_error(LD_ARR_EINVAL,
                          "%s: zero-size reduction over an empty axis of shape %s has no identity",
                          name, ld_shape_str(a, b, sizeof b));
  }
  if ((rc = ld_nd_alloc(out, acc_dtype(op, a->dtype), a->ndim, oshape, 0)) < 0) return rc;
  fill_identity(out, op);
  ld_ndarray ov = *out;
  for (int d = 0; d < a->ndim; d++) {
    ov.shape[d] = a->shape[d];
    if ((axes >> d) & 1) ov.strides[d] = 0;
  }
  ld_iter it;
  const ld_ndarray *ops[2] = {&ov, a};
  ld_iter_init(&it, 2, ops, a->ndim, a->shape);
  /* ld_iter_init zeroes strides of size-1 dims of the operand; reduced axes
   * already carry stride 0 in ov. */
  ld_iter_coalesce(&it);
  ld_iter_run(&it, table[a->dtype][op], NULL);
  return 0;
}

/* First extreme of N values at stride ST. Without SKIP a NaN counts as the
 * extreme (the first NaN wins); with SKIP NaNs are ignored and an all-NaN
 * run gives index 0 with a NaN value (the caller reports it). */
#define ARG(NAME, T, NANCHK)                                                               \
  static int64_t NAME(int max, int skip, const T *a, int64_t n, int64_t st, T *best_out) { \
    int64_t i0 = 0;                                                                        \
    if (skip)                                                                              \
      while (i0 < n - 1 && NANCHK(a[i0 * st])) i0++;                                       \
    T best = a[i0 * st];                                                                   \
    int64_t bi = i0;                                                                       \
    if (!NANCHK(best)) {                                                                   \
      for (int64_t i = i0 + 1; i < n; i++) {                                               \
        T x = a[i * st];                                                                   \
        if (NANCHK(x)) {                                                                   \
          if (skip) continue;                                                              \
          best = x, bi = i;                                                                \
          break;                                                                           \
        }                                                                                  \
        if (max ? x > best : x < best) best = x, bi = i;                                   \
      }                                                                                    \
    } else if (skip) {                                                                     \
      bi = 0;                                                                              \
    }                                                                                      \
    *best_out = best;                                                                      \
    return bi;                                                                             \
  }
ARG(arg_f64, double, ISNAN_F)
ARG(arg_f32, float, ISNAN_F)
ARG(arg_i64, int64_t, ISNAN_I)
ARG(arg_i32, int32_t, ISNAN_I)
ARG(arg_u8, uint8_t, ISNAN_I)

int ld_nd_argreduce(int mode, const ld_ndarray *a, int axis, ld_ndarray *out_idx,
                    ld_ndarray *out_val) {
  int max = mode & 1, skip = (mode & 2) != 0;
  const char *name = skip ? (max ? "nanargmax" : "nanargmin") : (max ? "argmax" : "argmin");
  int rc = ld_nd_check(a, name);
  if (rc < 0) return rc;
  char b[160];
  if (axis < 0 || axis >= a->ndim)
    return ld_array_error(LD_ARR_EINVAL, "%s: axis %d out of range for shape %s", name, axis,
                          ld_shape_str(a, b, sizeof b));
  int64_t n = a->shape[axis], st = a->strides[axis];
  int64_t oshape[LD_MAXDIM];
  int64_t total = 1;
  for (int d = 0; d < a->ndim; d++) {
    oshape[d] = d == axis ? 1 : a->shape[d];
    total *= oshape[d];
  }
  if (n == 0 && total > 0)
    return ld_array_error(LD_ARR_EINVAL, "%s: attempt to get %s of an empty axis (shape %s)", name,
                          name, ld_shape_str(a, b, sizeof b));
  if ((rc = ld_nd_alloc(out_idx, LD_I64, a->ndim, oshape, 0)) < 0) return rc;
  if ((rc = ld_nd_alloc(out_val, a->dtype, a->ndim, oshape, 0)) < 0) {
    ld_nd_clear(out_idx);
    return rc;
  }
  int64_t *oi = ld_nd_data(out_idx);
  char *ov = ld_nd_data(out_val);
  size_t isz = ld_dtype_size(a->dtype);
  const char *base = ld_nd_data(a);
  int64_t idx[LD_MAXDIM] = {0};
  for (int64_t k = 0; k < total; k++) {
    int64_t e = 0;
    for (int d = 0; d < a->ndim; d++) e += idx[d] * a->strides[d];
    const char *p = base + e * (int64_t)isz;
    switch (a->dtype) {
      case LD_F64:
        oi[k] = arg_f64(max, skip, (const double *)p, n, st, (double *)ov + k);
        break;
      case LD_F32:
        oi[k] = arg_f32(max, skip, (const float *)p, n, st, (float *)ov + k);
        break;
      case LD_I64:
        oi[k] = arg_i64(max, skip, (const int64_t *)p, n, st, (int64_t *)ov + k);
        break;
      case LD_I32:
        oi[k] = arg_i32(max, skip, (const int32_t *)p, n, st, (int32_t *)ov + k);
        break;
      default:
        oi[k] = arg_u8(max, skip, (const uint8_t *)p, n, st, (uint8_t *)ov + k);
        break;
    }
    for (int d = a->ndim - 1; d >= 0; d--) {
      if (d == axis) continue;
      if (++idx[d] < a->shape[d]) break;
      idx[d] = 0;
    }
  }
  return 0;
}
