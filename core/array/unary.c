/* unary.c — unary elementwise kernels: negation, abs, sign, math functions,
 * rounding, NaN/Inf tests, logical not (see kernels.h). */
#include <math.h>

#include "array/iter.h"
#include "array/kernels.h"
#include "array/loops.h"

static const char *unop_names[LD_NUNOP] = {
    "negative", "abs",    "sign",   "square", "sqrt",  "exp",      "expm1",
    "log",      "log2",   "log10",  "log1p",  "sin",   "cos",      "tan",
    "arcsin",   "arccos", "arctan", "sinh",   "cosh",  "tanh",     "floor",
    "ceil",     "rint",   "trunc",  "isnan",  "isinf", "isfinite", "logical_not"};

const char *ld_unop_name(int op) { return op >= 0 && op < LD_NUNOP ? unop_names[op] : "?"; }

#define SIGNF(x) (T)((x) > 0 ? 1 : (x) < 0 ? -1 : (x))

#define FLOAT_UNARY(T, SFX, F)                    \
  LD_LOOP1(neg_##SFX, T, T, -x)                   \
  LD_LOOP1(abs_##SFX, T, T, F(fabs)(x))           \
  LD_LOOP1(sign_##SFX, T, T, SIGNF(x))            \
  LD_LOOP1(square_##SFX, T, T, x *x)              \
  LD_LOOP1(sqrt_##SFX, T, T, F(sqrt)(x))          \
  LD_LOOP1(exp_##SFX, T, T, F(exp)(x))            \
  LD_LOOP1(expm1_##SFX, T, T, F(expm1)(x))        \
  LD_LOOP1(log_##SFX, T, T, F(log)(x))            \
  LD_LOOP1(log2_##SFX, T, T, F(log2)(x))          \
  LD_LOOP1(log10_##SFX, T, T, F(log10)(x))        \
  LD_LOOP1(log1p_##SFX, T, T, F(log1p)(x))        \
  LD_LOOP1(sin_##SFX, T, T, F(sin)(x))            \
  LD_LOOP1(cos_##SFX, T, T, F(cos)(x))            \
  LD_LOOP1(tan_##SFX, T, T, F(tan)(x))            \
  LD_LOOP1(asin_##SFX, T, T, F(asin)(x))          \
  LD_LOOP1(acos_##SFX, T, T, F(acos)(x))          \
  LD_LOOP1(atan_##SFX, T, T, F(atan)(x))          \
  LD_LOOP1(sinh_##SFX, T, T, F(sinh)(x))          \
  LD_LOOP1(cosh_##SFX, T, T, F(cosh)(x))          \
  LD_LOOP1(tanh_##SFX, T, T, F(tanh)(x))          \
  LD_LOOP1(floor_##SFX, T, T, F(floor)(x))        \
  LD_LOOP1(ceil_##SFX, T, T, F(ceil)(x))          \
  LD_LOOP1(rint_##SFX, T, T, F(rint)(x))          \
  LD_LOOP1(trunc_##SFX, T, T, F(trunc)(x))        \
  LD_LOOP1(isnan_##SFX, T, uint8_t, x != x)       \
  LD_LOOP1(isinf_##SFX, T, uint8_t, F(isinf_)(x)) \
  LD_LOOP1(isfinite_##SFX, T, uint8_t, F(isfinite_)(x))

static inline int isinf_d(double x) { return isinf(x) != 0; }
static inline int isfinite_d(double x) { return isfinite(x) != 0; }
static inline int isinf_f(float x) { return isinf(x) != 0; }
static inline int isfinite_f(float x) { return isfinite(x) != 0; }

#define FD(name) FD_##name
#define FD_fabs fabs
#define FD_sqrt sqrt
#define FD_exp exp
#define FD_expm1 expm1
#define FD_log log
#define FD_log2 log2
#define FD_log10 log10
#define FD_log1p log1p
#define FD_sin sin
#define FD_cos cos
#define FD_tan tan
#define FD_asin asin
#define FD_acos acos
#define FD_atan atan
#define FD_sinh sinh
#define FD_cosh cosh
#define FD_tanh tanh
#define FD_floor floor
#define FD_ceil ceil
#define FD_rint rint
#define FD_trunc trunc
#define FD_isinf_ isinf_d
#define FD_isfinite_ isfinite_d

#define FF(name) FF_##name
#define FF_fabs fabsf
#define FF_sqrt sqrtf
#define FF_exp expf
#define FF_expm1 expm1f
#define FF_log logf
#define FF_log2 log2f
#define FF_log10 log10f
#define FF_log1p log1pf
#define FF_sin sinf
#define FF_cos cosf
#define FF_tan tanf
#define FF_asin asinf
#define FF_acos acosf
#define FF_atan atanf
#define FF_sinh sinhf
#define FF_cosh coshf
#define FF_tanh tanhf
#define FF_floor floorf
#define FF_ceil ceilf
#define FF_rint rintf
#define FF_trunc truncf
#define FF_isinf_ isinf_f
#define FF_isfinite_ isfinite_f

#define T double
FLOAT_UNARY(double, f64, FD)
#undef T
#define T float
FLOAT_UNARY(float, f32, FF)
#undef T

#define INT_UNARY(T, U, SFX)                                  \
  LD_LOOP1(neg_##SFX, T, T, (T)(0 - (U)x))                    \
  LD_LOOP1(abs_##SFX, T, T, x < 0 ? (T)(0 - (U)x) : x)        \
  LD_LOOP1(sign_##SFX, T, T, (T)(x > 0 ? 1 : x < 0 ? -1 : 0)) \
  LD_LOOP1(square_##SFX, T, T, (T)((U)x * (U)x))

INT_UNARY(int64_t, uint64_t, i64)
INT_UNARY(int32_t, uint32_t, i32)
LD_LOOP1(neg_u8, uint8_t, uint8_t, (uint8_t)(0u - x))
LD_LOOP1(abs_u8, uint8_t, uint8_t, x)
LD_LOOP1(sign_u8, uint8_t, uint8_t, x != 0)
LD_LOOP1(square_u8, uint8_t, uint8_t, (uint8_t)((unsigned)x *x))
LD_LOOP1(not_b, uint8_t, uint8_t, !x)

#define FLOAT_ROW(SFX)                                                                            \
  [LD_NEG] = neg_##SFX, [LD_ABS] = abs_##SFX, [LD_SIGN] = sign_##SFX, [LD_SQUARE] = square_##SFX, \
  [LD_SQRT] = sqrt_##SFX, [LD_EXP] = exp_##SFX, [LD_EXPM1] = expm1_##SFX, [LD_LOG] = log_##SFX,   \
  [LD_LOG2] = log2_##SFX, [LD_LOG10] = log10_##SFX, [LD_LOG1P] = log1p_##SFX,                     \
  [LD_SIN] = sin_##SFX, [LD_COS] = cos_##SFX, [LD_TAN] = tan_##SFX, [LD_ARCSIN] = asin_##SFX,     \
  [LD_ARCCOS] = acos_##SFX, [LD_ARCTAN] = atan_##SFX, [LD_SINH] = sinh_##SFX,                     \
  [LD_COSH] = cosh_##SFX, [LD_TANH] = tanh_##SFX, [LD_FLOOR] = floor_##SFX,                       \
  [LD_CEIL] = ceil_##SFX, [LD_RINT] = rint_##SFX, [LD_TRUNC] = trunc_##SFX,                       \
  [LD_ISNAN] = isnan_##SFX, [LD_ISINF] = isinf_##SFX, [LD_ISFINITE] = isfinite_##SFX
#define INT_ROW(SFX) \
  [LD_NEG] = neg_##SFX, [LD_ABS] = abs_##SFX, [LD_SIGN] = sign_##SFX, [LD_SQUARE] = square_##SFX

static const ld_row_fn table[LD_NDTYPES][LD_NUNOP] = {
    [LD_F64] = {FLOAT_ROW(f64)}, [LD_F32] = {FLOAT_ROW(f32)}, [LD_I64] = {INT_ROW(i64)},
    [LD_I32] = {INT_ROW(i32)},   [LD_U8] = {INT_ROW(u8)},     [LD_BOOL] = {[LD_NOT] = not_b},
};

int ld_nd_unary(int op, const ld_ndarray *a, ld_ndarray *out) {
  if (op < 0 || op >= LD_NUNOP)
    return ld_array_error(LD_ARR_EINVAL, "unary: unknown operation code %d", op);
  int rc = ld_nd_check(a, unop_names[op]);
  if (rc < 0) return rc;
  ld_row_fn fn = table[a->dtype][op];
  if (fn == NULL)
    return ld_array_error(LD_ARR_EINVAL, "%s: not supported for dtype %s", unop_names[op],
                          ld_dtype_name(a->dtype));
  int odt = (op == LD_ISNAN || op == LD_ISINF || op == LD_ISFINITE) ? LD_BOOL : a->dtype;
  if ((rc = ld_nd_alloc(out, odt, a->ndim, a->shape, 0)) < 0) return rc;
  const ld_ndarray *ops[2] = {out, a};
  ld_iter it;
  ld_iter_init(&it, 2, ops, a->ndim, a->shape);
  ld_iter_coalesce(&it);
  ld_iter_run(&it, fn, NULL);
  return 0;
}
