/* cast.c — dtype conversion, strided copy and assignment between views,
 * fills, ramps (arange/linspace) and where (see kernels.h). */
#include <string.h>

#include "array/iter.h"
#include "array/kernels.h"
#include "array/loops.h"

#define CASTS_FROM(FT, FS)               \
  LD_LOOP1(c_##FS##_f64, FT, double, x)  \
  LD_LOOP1(c_##FS##_f32, FT, float, x)   \
  LD_LOOP1(c_##FS##_i64, FT, int64_t, x) \
  LD_LOOP1(c_##FS##_i32, FT, int32_t, x) \
  LD_LOOP1(c_##FS##_u8, FT, uint8_t, x)  \
  LD_LOOP1(c_##FS##_b, FT, uint8_t, x != 0)
CASTS_FROM(double, f64)
CASTS_FROM(float, f32)
CASTS_FROM(int64_t, i64)
CASTS_FROM(int32_t, i32)
CASTS_FROM(uint8_t, u8)
CASTS_FROM(uint8_t, b)

#define CROW(FS) \
  { c_##FS##_f64, c_##FS##_f32, c_##FS##_i64, c_##FS##_i32, c_##FS##_u8, c_##FS##_b }
/* [from][to] */
static const ld_row_fn casts[LD_NDTYPES][LD_NDTYPES] = {CROW(f64), CROW(f32), CROW(i64),
                                                        CROW(i32), CROW(u8),  CROW(b)};

int ld_nd_assign(ld_ndarray *dst, const ld_ndarray *src) {
  int rc;
  if ((rc = ld_nd_check(dst, "assign")) < 0 || (rc = ld_nd_check(src, "assign")) < 0) return rc;
  const ld_ndarray *in[2] = {dst, src};
  int nd;
  int64_t shape[LD_MAXDIM];
  if ((rc = ld_iter_broadcast(2, in, &nd, shape, "assign")) < 0) return rc;
  if (nd != dst->ndim || memcmp(shape, dst->shape, sizeof(int64_t) * (size_t)nd) != 0) {
    char b1[160], b2[160];
    return ld_array_error(LD_ARR_ESHAPE, "assign: value of shape %s does not fit target %s",
                          ld_shape_str(src, b1, sizeof b1), ld_shape_str(dst, b2, sizeof b2));
  }
  ld_iter it;
  ld_iter_init(&it, 2, in, nd, shape);
  ld_iter_coalesce(&it);
  ld_iter_run(&it, casts[src->dtype][dst->dtype], NULL);
  return 0;
}

int ld_nd_astype(const ld_ndarray *a, int dtype, ld_ndarray *out) {
  int rc = ld_nd_check(a, "astype");
  if (rc < 0) return rc;
  if (dtype < 0 || dtype >= LD_NDTYPES)
    return ld_array_error(LD_ARR_EINVAL, "astype: unknown dtype code %d", dtype);
  if ((rc = ld_nd_alloc(out, dtype, a->ndim, a->shape, 0)) < 0) return rc;
  if ((rc = ld_nd_assign(out, a)) < 0) ld_nd_clear(out);
  return rc;
}

typedef struct {
  double v;
  int64_t iv;
} fillv;

#define FILL(NAME, T, VAL)                                                          \
  LD_VEC static void NAME(int64_t n, char **p, const int64_t *s, const void *ctx) { \
    const fillv *f = ctx;                                                           \
    T *restrict o = (T *)p[0];                                                      \
    const T v = (T)(VAL);                                                           \
    if (s[0] == 1)                                                                  \
      for (int64_t i = 0; i < n; i++) o[i] = v;                                     \
    else                                                                            \
      for (int64_t i = 0; i < n; i++) o[i * s[0]] = v;                              \
  }
FILL(fill_f64, double, f->v)
FILL(fill_f32, float, f->v)
FILL(fill_i64, int64_t, f->iv)
FILL(fill_i32, int32_t, f->iv)
FILL(fill_u8, uint8_t, f->iv)
FILL(fill_b, uint8_t, f->v != 0)
static const ld_row_fn fills[LD_NDTYPES] = {fill_f64, fill_f32, fill_i64,
                                            fill_i32, fill_u8,  fill_b};

int ld_nd_fill(ld_ndarray *dst, double v, int64_t iv) {
  int rc = ld_nd_check(dst, "fill");
  if (rc < 0) return rc;
  fillv f = {v, iv};
  const ld_ndarray *ops[1] = {dst};
  ld_iter it;
  ld_iter_init(&it, 1, ops, dst->ndim, dst->shape);
  ld_iter_coalesce(&it);
  ld_iter_run(&it, fills[dst->dtype], &f);
  return 0;
}

#define RAMP(NAME, T)                                                            \
  LD_VEC static void NAME(T *restrict o, int64_t n, double start, double step) { \
    for (int64_t i = 0; i < n; i++) o[i] = (T)(start + (double)i * step);        \
  }
RAMP(ramp_f64, double)
RAMP(ramp_f32, float)
RAMP(ramp_i64, int64_t)
RAMP(ramp_i32, int32_t)
RAMP(ramp_u8, uint8_t)

int ld_nd_ramp(ld_ndarray *dst, double start, double step) {
  int rc = ld_nd_check(dst, "ramp");
  if (rc < 0) return rc;
  if (!ld_nd_is_contiguous(dst))
    return ld_array_error(LD_ARR_EINVAL, "ramp: target must be C-contiguous");
  int64_t n = ld_nd_size(dst);
  void *o = ld_nd_data(dst);
  switch (dst->dtype) {
    case LD_F64:
      ramp_f64(o, n, start, step);
      break;
    case LD_F32:
      ramp_f32(o, n, start, step);
      break;
    case LD_I64:
      ramp_i64(o, n, start, step);
      break;
    case LD_I32:
      ramp_i32(o, n, start, step);
      break;
    case LD_U8:
      ramp_u8(o, n, start, step);
      break;
    default: {
      uint8_t *b = o;
      for (int64_t i = 0; i < n; i++) b[i] = (start + (double)i * step) != 0;
    }
  }
  return 0;
}

#define WHERE(NAME, T)                                                                       \
  LD_VEC static void NAME(int64_t n, char **p, const int64_t *s, const void *ctx) {          \
    (void)ctx;                                                                               \
    T *restrict o = (T *)p[0];                                                               \
    const uint8_t *restrict c = (const uint8_t *)p[1];                                       \
    const T *restrict x = (const T *)p[2], *restrict y = (const T *)p[3];                    \
    if (s[0] == 1 && s[1] == 1 && s[2] == 1 && s[3] == 1)                                    \
      for (int64_t i = 0; i < n; i++) o[i] = c[i] ? x[i] : y[i];                             \
    else                                                                                     \
      for (int64_t i = 0; i < n; i++) o[i * s[0]] = c[i * s[1]] ? x[i * s[2]] : y[i * s[3]]; \
  }
WHERE(where_f64, double)
WHERE(where_f32, float)
WHERE(where_i64, int64_t)
WHERE(where_i32, int32_t)
WHERE(where_u8, uint8_t)
static const ld_row_fn wheres[LD_NDTYPES] = {where_f64, where_f32, where_i64,
                                             where_i32, where_u8,  where_u8};

int ld_nd_where(const ld_ndarray *c, const ld_ndarray *x, const ld_ndarray *y, ld_ndarray *out) {
  int rc;
  if ((rc = ld_nd_check(c, "where")) < 0 || (rc = ld_nd_check(x, "where")) < 0 ||
      (rc = ld_nd_check(y, "where")) < 0)
    return rc;
  if (c->dtype != LD_BOOL)
    return ld_array_error(LD_ARR_EINVAL, "where: condition must be bool, got %s",
                          ld_dtype_name(c->dtype));
  if (x->dtype != y->dtype)
    return ld_array_error(LD_ARR_EINVAL, "where: dtypes %s and %s differ (promote first)",
                          ld_dtype_name(x->dtype), ld_dtype_name(y->dtype));
  const ld_ndarray *in[3] = {c, x, y};
  int nd;
  int64_t shape[LD_MAXDIM];
  if ((rc = ld_iter_broadcast(3, in, &nd, shape, "where")) < 0) return rc;
  if ((rc = ld_nd_alloc(out, x->dtype, nd, shape, 0)) < 0) return rc;
  const ld_ndarray *ops[4] = {out, c, x, y};
  ld_iter it;
  ld_iter_init(&it, 4, ops, nd, shape);
  ld_iter_coalesce(&it);
  ld_iter_run(&it, wheres[x->dtype], NULL);
  return 0;
}
