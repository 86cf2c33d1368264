/* binary.c — binary elementwise kernels with broadcasting: arithmetic,
 * comparisons, logical/bitwise operations (see kernels.h). Signed integer
 * arithmetic wraps like numpy (computed in the unsigned type). */
#include <math.h>

#include "array/iter.h"
#include "array/kernels.h"
#include "array/loops.h"

static const char *binop_names[LD_NBINOP] = {"add",
                                             "subtract",
                                             "multiply",
                                             "divide",
                                             "floor_divide",
                                             "mod",
                                             "pow",
                                             "maximum",
                                             "minimum",
                                             "eq",
                                             "ne",
                                             "lt",
                                             "le",
                                             "gt",
                                             "ge",
                                             "logical_and/bitwise_and",
                                             "logical_or/bitwise_or",
                                             "xor",
                                             "fmod"};

const char *ld_binop_name(int op) { return op >= 0 && op < LD_NBINOP ? binop_names[op] : "?"; }

/* ---- scalar helpers (inlined into the loops) ----
 * Float floor division and remainder follow numpy's npy_divmod: both come
 * from one fmod, so a == (a // b) * b + a % b holds as closely as rounding
 * allows (1e-300 // -1e300 is -1 with remainder -1e300 + 1e-300), a zero
 * remainder takes the divisor's sign, and division by zero gives a / b
 * (inf or nan) and a nan remainder. fmod is C's (the dividend's sign). */
#define FLOAT_HELPERS(T, SFX, FMOD, FLOOR, COPYSIGN) \
  static inline T mod_##SFX(T x, T y) {              \
    T r = FMOD(x, y);                                \
    if (y == 0) return r;                            \
    if (r != 0) {                                    \
      if ((y < 0) != (r < 0)) r += y;                \
    } else {                                         \
      r = COPYSIGN((T)0, y);                         \
    }                                                \
    return r;                                        \
  }                                                  \
  static inline T fdiv_##SFX(T x, T y) {             \
    if (y == 0) return x / y;                        \
    T r = FMOD(x, y);                                \
    T d = (x - r) / y;                               \
    if (r != 0 && ((y < 0) != (r < 0))) d -= 1;      \
    if (d == 0) return COPYSIGN((T)0, x / y);        \
    T q = FLOOR(d);                                  \
    if (d - q > (T)0.5) q += 1;                      \
    return q;                                        \
  }
FLOAT_HELPERS(double, f64, fmod, floor, copysign)
FLOAT_HELPERS(float, f32, fmodf, floorf, copysignf)

#define SINT_HELPERS(T, U, SFX)                                      \
  static inline T mod_##SFX(T x, T y) {                              \
    if (y == 0 || y == -1) return 0;                                 \
    T r = x % y;                                                     \
    if (r != 0 && ((r < 0) != (y < 0))) r += y;                      \
    return r;                                                        \
  }                                                                  \
  static inline T cmod_##SFX(T x, T y) {                             \
    if (y == 0 || y == -1) return 0;                                 \
    return x % y;                                                    \
  }                                                                  \
  static inline T fdiv_##SFX(T x, T y) {                             \
    if (y == 0) return 0;                                            \
    if (y == -1) return (T)(0 - (U)x);                               \
    T q = x / y;                                                     \
    if ((x % y != 0) && ((x < 0) != (y < 0))) q--;                   \
    return q;                                                        \
  }                                                                  \
  static inline T div_##SFX(T x, T y) {                              \
    if (y == 0) return 0;                                            \
    if (y == -1) return (T)(0 - (U)x);                               \
    return x / y;                                                    \
  }                                                                  \
  static inline T pow_##SFX(T x, T y) {                              \
    if (y < 0) return x == 1 ? 1 : x == -1 ? ((y & 1) ? -1 : 1) : 0; \
    U r = 1, b = (U)x;                                               \
    for (T e = y; e; e >>= 1) {                                      \
      if (e & 1) r *= b;                                             \
      b *= b;                                                        \
    }                                                                \
    return (T)r;                                                     \
  }
SINT_HELPERS(int64_t, uint64_t, i64)
SINT_HELPERS(int32_t, uint32_t, i32)

static inline uint8_t mod_u8(uint8_t x, uint8_t y) { return y == 0 ? 0 : (uint8_t)(x % y); }
static inline uint8_t cmod_u8(uint8_t x, uint8_t y) { return y == 0 ? 0 : (uint8_t)(x % y); }
static inline uint8_t div_u8(uint8_t x, uint8_t y) { return y == 0 ? 0 : (uint8_t)(x / y); }
static inline uint8_t pow_u8(uint8_t x, uint8_t y) {
  unsigned r = 1, b = x;
  for (unsigned e = y; e; e >>= 1) {
    if (e & 1) r = (r * b) & 0xffu;
    b = (b * b) & 0xffu;
  }
  return (uint8_t)r;
}

/* ---- loops ---- */
#define FLOAT_LOOPS(T, SFX, FMOD, POW)                   \
  LD_LOOP2(l_add_##SFX, T, T, x + y)                     \
  LD_LOOP2(l_sub_##SFX, T, T, x - y)                     \
  LD_LOOP2(l_mul_##SFX, T, T, x *y)                      \
  LD_LOOP2(l_div_##SFX, T, T, x / y)                     \
  LD_LOOP2(l_fdiv_##SFX, T, T, fdiv_##SFX(x, y))         \
  LD_LOOP2(l_mod_##SFX, T, T, mod_##SFX(x, y))           \
  LD_LOOP2(l_fmod_##SFX, T, T, FMOD(x, y))               \
  LD_LOOP2(l_pow_##SFX, T, T, POW(x, y))                 \
  LD_LOOP2(l_max_##SFX, T, T, (x > y || x != x) ? x : y) \
  LD_LOOP2(l_min_##SFX, T, T, (x < y || x != x) ? x : y)

#define INT_LOOPS(T, U, SFX)                     \
  LD_LOOP2(l_add_##SFX, T, T, (T)((U)x + (U)y))  \
  LD_LOOP2(l_sub_##SFX, T, T, (T)((U)x - (U)y))  \
  LD_LOOP2(l_mul_##SFX, T, T, (T)((U)x * (U)y))  \
  LD_LOOP2(l_div_##SFX, T, T, div_##SFX(x, y))   \
  LD_LOOP2(l_mod_##SFX, T, T, mod_##SFX(x, y))   \
  LD_LOOP2(l_fmod_##SFX, T, T, cmod_##SFX(x, y)) \
  LD_LOOP2(l_pow_##SFX, T, T, pow_##SFX(x, y))   \
  LD_LOOP2(l_max_##SFX, T, T, x > y ? x : y)     \
  LD_LOOP2(l_min_##SFX, T, T, x < y ? x : y)     \
  LD_LOOP2(l_and_##SFX, T, T, x &y)              \
  LD_LOOP2(l_or_##SFX, T, T, x | y)              \
  LD_LOOP2(l_xor_##SFX, T, T, x ^ y)

#define CMP_LOOPS(T, SFX)                  \
  LD_LOOP2(l_eq_##SFX, T, uint8_t, x == y) \
  LD_LOOP2(l_ne_##SFX, T, uint8_t, x != y) \
  LD_LOOP2(l_lt_##SFX, T, uint8_t, x < y)  \
  LD_LOOP2(l_le_##SFX, T, uint8_t, x <= y) \
  LD_LOOP2(l_gt_##SFX, T, uint8_t, x > y)  \
  LD_LOOP2(l_ge_##SFX, T, uint8_t, x >= y)

FLOAT_LOOPS(double, f64, fmod, pow)
FLOAT_LOOPS(float, f32, fmodf, powf)
INT_LOOPS(int64_t, uint64_t, i64)
INT_LOOPS(int32_t, uint32_t, i32)
INT_LOOPS(uint8_t, unsigned, u8)
LD_LOOP2(l_fdiv_i64, int64_t, int64_t, fdiv_i64(x, y))
LD_LOOP2(l_fdiv_i32, int32_t, int32_t, fdiv_i32(x, y))
LD_LOOP2(l_fdiv_u8, uint8_t, uint8_t, div_u8(x, y))
CMP_LOOPS(double, f64)
CMP_LOOPS(float, f32)
CMP_LOOPS(int64_t, i64)
CMP_LOOPS(int32_t, i32)
CMP_LOOPS(uint8_t, u8)
LD_LOOP2(l_and_b, uint8_t, uint8_t, x &y)
LD_LOOP2(l_or_b, uint8_t, uint8_t, x | y)
LD_LOOP2(l_xor_b, uint8_t, uint8_t, x ^ y)

#define CMP_ROW(SFX)                                                                      \
  [LD_EQ] = l_eq_##SFX, [LD_NE] = l_ne_##SFX, [LD_LT] = l_lt_##SFX, [LD_LE] = l_le_##SFX, \
  [LD_GT] = l_gt_##SFX, [LD_GE] = l_ge_##SFX
#define ARITH_ROW(SFX)                                                                            \
  [LD_ADD] = l_add_##SFX, [LD_SUB] = l_sub_##SFX, [LD_MUL] = l_mul_##SFX, [LD_DIV] = l_div_##SFX, \
  [LD_FLOORDIV] = l_fdiv_##SFX, [LD_MOD] = l_mod_##SFX, [LD_POW] = l_pow_##SFX,                   \
  [LD_MAXIMUM] = l_max_##SFX, [LD_MINIMUM] = l_min_##SFX, [LD_FMOD] = l_fmod_##SFX
#define BIT_ROW(SFX) [LD_AND] = l_and_##SFX, [LD_OR] = l_or_##SFX, [LD_XOR] = l_xor_##SFX

static const ld_row_fn table[LD_NDTYPES][LD_NBINOP] = {
    [LD_F64] = {ARITH_ROW(f64), CMP_ROW(f64)},
    [LD_F32] = {ARITH_ROW(f32), CMP_ROW(f32)},
    [LD_I64] = {ARITH_ROW(i64), CMP_ROW(i64), BIT_ROW(i64)},
    [LD_I32] = {ARITH_ROW(i32), CMP_ROW(i32), BIT_ROW(i32)},
    [LD_U8] = {ARITH_ROW(u8), CMP_ROW(u8), BIT_ROW(u8)},
    [LD_BOOL] = {CMP_ROW(u8), BIT_ROW(b), [LD_MAXIMUM] = l_or_b, [LD_MINIMUM] = l_and_b},
};

int ld_nd_binary(int op, const ld_ndarray *a, const ld_ndarray *b, ld_ndarray *out) {
  if (op < 0 || op >= LD_NBINOP)
    return ld_array_error(LD_ARR_EINVAL, "binary: unknown operation code %d", op);
  const char *name = binop_names[op];
  int rc;
  if ((rc = ld_nd_check(a, name)) < 0 || (rc = ld_nd_check(b, name)) < 0) return rc;
  if (a->dtype != b->dtype)
    return ld_array_error(LD_ARR_EINVAL, "%s: dtypes %s and %s differ (promote first)", name,
                          ld_dtype_name(a->dtype), ld_dtype_name(b->dtype));
  ld_row_fn fn = table[a->dtype][op];
  if (fn == NULL)
    return ld_array_error(LD_ARR_EINVAL, "%s: not supported for dtype %s", name,
                          ld_dtype_name(a->dtype));
  const ld_ndarray *in[2] = {a, b};
  int nd;
  int64_t shape[LD_MAXDIM];
  if ((rc = ld_iter_broadcast(2, in, &nd, shape, name)) < 0) return rc;
  int odt = op >= LD_EQ && op <= LD_GE ? LD_BOOL : a->dtype;
  if ((rc = ld_nd_alloc(out, odt, nd, shape, 0)) < 0) return rc;
  const ld_ndarray *ops[3] = {out, a, b};
  ld_iter it;
  ld_iter_init(&it, 3, ops, nd, shape);
  ld_iter_coalesce(&it);
  ld_iter_run(&it, fn, NULL);
  return 0;
}
