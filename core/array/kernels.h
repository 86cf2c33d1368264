/* kernels.h — the numeric kernels of ldask.array over ld_ndarray: binary
 * elementwise operations with broadcasting, unary math, where, casts and
 * strided copies, fills, reductions, matrix product (CBLAS) and
 * counter-based random numbers.
 *
 * Conventions: inputs are borrowed; every `out` must be an empty struct and
 * receives a new C-contiguous array owning one buffer reference (see
 * ndarray.h). Functions return 0 or a negative LD_ARR_* code with a message
 * in ld_array_errmsg(). Binary operations need both operands of the same
 * dtype (the Lua layer promotes). */
#ifndef LDASK_ARRAY_KERNELS_H
#define LDASK_ARRAY_KERNELS_H

#include <stdint.h>

#include "array/ndarray.h"

enum ld_binop {
  LD_ADD,
  LD_SUB,
  LD_MUL,
  LD_DIV,
  LD_FLOORDIV,
  LD_MOD,
  LD_POW,
  LD_MAXIMUM,
  LD_MINIMUM,
  LD_EQ,
  LD_NE,
  LD_LT,
  LD_LE,
  LD_GT,
  LD_GE,
  LD_AND,
  LD_OR,
  LD_XOR,
  LD_FMOD,
  LD_NBINOP
};

enum ld_unop {
  LD_NEG,
  LD_ABS,
  LD_SIGN,
  LD_SQUARE,
  LD_SQRT,
  LD_EXP,
  LD_EXPM1,
  LD_LOG,
  LD_LOG2,
  LD_LOG10,
  LD_LOG1P,
  LD_SIN,
  LD_COS,
  LD_TAN,
  LD_ARCSIN,
  LD_ARCCOS,
  LD_ARCTAN,
  LD_SINH,
  LD_COSH,
  LD_TANH,
  LD_FLOOR,
  LD_CEIL,
  LD_RINT,
  LD_TRUNC,
  LD_ISNAN,
  LD_ISINF,
  LD_ISFINITE,
  LD_NOT,
  LD_NUNOP
};

enum ld_redop { LD_RSUM, LD_RPROD, LD_RMIN, LD_RMAX, LD_RANY, LD_RALL, LD_NREDOP };

enum ld_randkind { LD_RAND_UNIFORM, LD_RAND_NORMAL, LD_RAND_INTEGERS };

/* Name of a binary / unary / reduction op, for messages. Static strings. */
const char *ld_binop_name(int op);
const char *ld_unop_name(int op);

/* OUT = A op B with broadcasting; A and B of the same dtype. Comparisons give
 * bool; AND/OR/XOR work on bool and integer dtypes; arithmetic on every
 * dtype but bool. Integer division by zero gives 0 (numpy's value, without
 * its warning); float FLOORDIV and MOD follow numpy's divmod, FMOD is C's. */
int ld_nd_binary(int op, const ld_ndarray *a, const ld_ndarray *b, ld_ndarray *out);

/* OUT = op(A). Math functions need a float dtype; NEG/ABS/SIGN/SQUARE work
 * on numbers; ISNAN/ISINF/ISFINITE give bool; NOT needs bool. */
int ld_nd_unary(int op, const ld_ndarray *a, ld_ndarray *out);

/* OUT = C ? X : Y with broadcasting; C bool, X and Y of the same dtype. */
int ld_nd_where(const ld_ndarray *c, const ld_ndarray *x, const ld_ndarray *y, ld_ndarray *out);

/* OUT = A converted to DTYPE (C-contiguous copy of any strided view). */
int ld_nd_astype(const ld_ndarray *a, int dtype, ld_ndarray *out);

/* Copies SRC into the (possibly strided) view DST, broadcasting SRC to DST's
 * shape and converting dtypes. DST's buffer is written, not replaced. */
int ld_nd_assign(ld_ndarray *dst, const ld_ndarray *src);

/* Sets every element of the view DST to V (float dtypes, bool: V != 0) or
 * IV (integer dtypes). */
int ld_nd_fill(ld_ndarray *dst, double v, int64_t iv);

/* Sets DST (C-contiguous) element i to START + i * STEP (computed in double,
 * then converted to DST's dtype). */
int ld_nd_ramp(ld_ndarray *dst, double start, double step);

/* Reduction of A over the axes in the bit mask AXES (bit d = axis d) into a
 * keepdims-shaped OUT. Accumulator dtypes: SUM/PROD give float64 for float
 * inputs and int64 for integer and bool inputs; MIN/MAX keep A's dtype (NaN
 * propagates; an empty reduction is an error); ANY/ALL give bool. */
int ld_nd_reduce(int op, const ld_ndarray *a, uint32_t axes, ld_ndarray *out);

/* ARGMIN (ARGMAX when MODE bit 0 is set) of A along AXIS: OUT_IDX (int64,
 * local indices) and OUT_VAL (A's dtype), both with AXIS kept as size 1. The
 * first occurrence wins; a NaN counts as the extreme, unless MODE bit 1
 * (nanargmin/nanargmax) is set: then NaNs are skipped and an all-NaN run
 * gives index 0 and value NaN. An empty axis is an error. */
int ld_nd_argreduce(int mode, const ld_ndarray *a, int axis, ld_ndarray *out_idx,
                    ld_ndarray *out_val);

/* Cumulative sum (PROD = 0) or product (PROD != 0) of A along AXIS into a
 * new C-contiguous OUT of A's dtype for floats, int64 for integers and bool
 * (like NumPy). */
int ld_nd_cumulate(int prod, const ld_ndarray *a, int axis, ld_ndarray *out);

/* OUT (int64, NBINS) = counts of A's values in NBINS equal bins over
 * [LO, HI]; NaN and values outside are skipped, HI counts in the last bin. */
int ld_nd_histogram(const ld_ndarray *a, int64_t nbins, double lo, double hi, ld_ndarray *out);

/* OUT = A @ B for 2-D A (m, k) and B (k, n) of the same dtype. float64 and
 * float32 go through CBLAS (transposed views need no copy); integer dtypes
 * use a plain loop. */
int ld_nd_matmul(const ld_ndarray *a, const ld_ndarray *b, ld_ndarray *out);

/* C += A @ B, C an existing C-contiguous (m, n) array of the same dtype. */
int ld_nd_matmul_acc(const ld_ndarray *a, const ld_ndarray *b, ld_ndarray *c);

/* Makes BLAS run in its caller's thread (openblas_set_num_threads(1)), for
 * processes whose executor threads are the parallelism: OpenBLAS's own
 * threads then only contend with them (and serialize concurrent calls).
 * Does nothing when the user chose, by OPENBLAS_NUM_THREADS,
 * OMP_NUM_THREADS or GOTO_NUM_THREADS. Process-wide. Returns 1 when it
 * set one thread, 0 when it left the user's setting. */
int ld_blas_one_thread(void);

/* OUT_IDX (int64, A's shape) = the positions sorting each row of A along
 * its last axis, ascending (NaN last) or DESCENDING (NaN first); ties keep
 * their order (core/array/select.c). */
int ld_nd_argsort(const ld_ndarray *a, int descending, ld_ndarray *out_idx);

/* OUT[..., j] = A[..., IDX[..., j]] along the last axis (IDX int64 with A's
 * leading shape; negative indices count from the end). OUT has A's dtype. */
int ld_nd_take_along(const ld_ndarray *a, const ld_ndarray *idx, ld_ndarray *out);

/* Fills DST (C-contiguous) with counter-based random numbers: element at
 * block index (i0, i1, ...) takes the value of global position
 * (GSTART[d] + i_d * GSTEP[d]) of an array of shape GSHAPE (DST's ndim), so
 * values depend only on SEED and the global position, never on chunking.
 * UNIFORM: [P1, P2) float dtypes; NORMAL: mean P1, std P2, float dtypes;
 * INTEGERS: [P1, P2) integer dtypes. */
int ld_nd_random(ld_ndarray *dst, int kind, uint64_t seed, const int64_t *gshape,
                 const int64_t *gstart, const int64_t *gstep, double p1, double p2);

#endif
