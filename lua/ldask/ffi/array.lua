-- ldask.ffi.array: C declarations of core/array/ (ndarray.h, kernels.h) and
-- core/io/npy.h. The ld_ndarray fields carry a trailing underscore here (the
-- layout is what matters) so the Lua metatype can offer `a.shape`,
-- `a.dtype`, ... as Lua values (lua/ldask/array/ndarray.lua).
local ffi = require "ffi"
require "ldask.ffi.buffer"

ffi.cdef [[
typedef struct ld_ndarray {
  int32_t dtype_;
  int32_t ndim_;
  int64_t shape_[8];
  int64_t strides_[8];
  int64_t offset_;
  ld_buffer *buf_;
} ld_ndarray;

typedef struct ld_npy_info {
  int32_t dtype;
  int32_t ndim;
  int64_t shape[8];
  int64_t data_offset;
  int32_t fortran;
} ld_npy_info;

size_t ld_dtype_size(int dtype);
const char *ld_dtype_name(int dtype);
const char *ld_array_errmsg(void);
int64_t ld_nd_size(const ld_ndarray *a);
int ld_nd_alloc(ld_ndarray *out, int dtype, int ndim, const int64_t *shape, int zero);
int ld_nd_view(ld_ndarray *out, const ld_ndarray *a);
void ld_nd_clear(ld_ndarray *a);
int ld_nd_is_contiguous(const ld_ndarray *a);
void *ld_nd_data(const ld_ndarray *a);
int ld_nd_check(const ld_ndarray *a, const char *what);
void ld_nd_note_alloc(size_t bytes);
int ld_nd_gc_due(size_t limit);

const char *ld_binop_name(int op);
const char *ld_unop_name(int op);
int ld_nd_binary(int op, const ld_ndarray *a, const ld_ndarray *b, ld_ndarray *out);
int ld_nd_unary(int op, const ld_ndarray *a, ld_ndarray *out);
int ld_nd_where(const ld_ndarray *c, const ld_ndarray *x, const ld_ndarray *y, ld_ndarray *out);
int ld_nd_astype(const ld_ndarray *a, int dtype, ld_ndarray *out);
int ld_nd_assign(ld_ndarray *dst, const ld_ndarray *src);
int ld_nd_fill(ld_ndarray *dst, double v, int64_t iv);
int ld_nd_ramp(ld_ndarray *dst, double start, double step);
int ld_nd_reduce(int op, const ld_ndarray *a, uint32_t axes, ld_ndarray *out);
int ld_nd_argreduce(int mode, const ld_ndarray *a, int axis, ld_ndarray *out_idx,
                    ld_ndarray *out_val);
int ld_nd_histogram(const ld_ndarray *a, int64_t nbins, double lo, double hi, ld_ndarray *out);
int ld_nd_cumulate(int prod, const ld_ndarray *a, int axis, ld_ndarray *out);
int ld_nd_matmul(const ld_ndarray *a, const ld_ndarray *b, ld_ndarray *out);
int ld_nd_matmul_acc(const ld_ndarray *a, const ld_ndarray *b, ld_ndarray *c);
int ld_blas_one_thread(void);
int ld_nd_argsort(const ld_ndarray *a, int descending, ld_ndarray *out_idx);
int ld_nd_take_along(const ld_ndarray *a, const ld_ndarray *idx, ld_ndarray *out);
int ld_nd_random(ld_ndarray *dst, int kind, uint64_t seed, const int64_t *gshape,
                 const int64_t *gstart, const int64_t *gstep, double p1, double p2);

int ld_npy_read_header(const char *path, ld_npy_info *info);
int ld_npy_read_block(const char *path, const ld_npy_info *info, const int64_t *start,
                      const int64_t *shape, ld_ndarray *out);
int ld_npy_create(const char *path, int dtype, int ndim, const int64_t *shape, ld_npy_info *info);
int ld_npy_write_block(const char *path, const ld_npy_info *info, const int64_t *start,
                       const ld_ndarray *block);

/* libc, for the array benchmarks (ldask.array.benchutil) */
typedef struct ld_bench_timespec { long tv_sec; long tv_nsec; } ld_bench_timespec;
int ld_bench_clock_gettime(int clk, ld_bench_timespec *tp) __asm__("clock_gettime");
]]

return {
  -- enum values of kernels.h, by name. and/or/xor are numpy's logical_and,
  -- logical_or, logical_xor (the Lua layer casts operands to bool first);
  -- bitwise_* run the same C code on integer and bool operands as they are.
  dtypes = { float64 = 0, float32 = 1, int64 = 2, int32 = 3, uint8 = 4, bool = 5 },
  binop = {
    add = 0, sub = 1, mul = 2, div = 3, floordiv = 4, mod = 5, pow = 6, maximum = 7,
    minimum = 8, eq = 9, ne = 10, lt = 11, le = 12, gt = 13, ge = 14, ["and"] = 15,
    ["or"] = 16, xor = 17, bitwise_and = 15, bitwise_or = 16, bitwise_xor = 17, fmod = 18,
  },
  unop = {
    negative = 0, abs = 1, sign = 2, square = 3, sqrt = 4, exp = 5, expm1 = 6, log = 7,
    log2 = 8, log10 = 9, log1p = 10, sin = 11, cos = 12, tan = 13, arcsin = 14, arccos = 15,
    arctan = 16, sinh = 17, cosh = 18, tanh = 19, floor = 20, ceil = 21, rint = 22, trunc = 23,
    isnan = 24, isinf = 25, isfinite = 26, logical_not = 27,
  },
  redop = { sum = 0, prod = 1, min = 2, max = 3, any = 4, all = 5 },
  rand = { uniform = 0, normal = 1, integers = 2 },
}
