-- ldask.ffi.lapack: C declarations of core/array/lapack.h (per-block dense
-- linear algebra through LAPACKE), used by ldask.array.ndlinalg.
local ffi = require "ffi"
require "ldask.ffi.array"

ffi.cdef [[
int ld_la_qr(const ld_ndarray *a, ld_ndarray *q, ld_ndarray *r);
int ld_la_svd(const ld_ndarray *a, ld_ndarray *u, ld_ndarray *s, ld_ndarray *vt);
int ld_la_cholesky(const ld_ndarray *a, int lower, int64_t minor0, const char *what, ld_ndarray *out);
int ld_la_lu(const ld_ndarray *a, int64_t minor0, const char *what, ld_ndarray *perm, ld_ndarray *l,
             ld_ndarray *u);
int ld_la_trsolve(const ld_ndarray *t, const ld_ndarray *b, int lower, int trans, int unit,
                  const char *what, ld_ndarray *out);
int ld_la_tri(const ld_ndarray *a, int lower, int64_t k, ld_ndarray *out);
]]

return {}
