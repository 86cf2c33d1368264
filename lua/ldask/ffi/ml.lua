-- ldask.ffi.ml: C declarations of core/ml/ (per-block kernels of
-- ldask.ml), used by ldask.ml.cluster.
local ffi = require "ffi"

ffi.cdef [[
void ld_ml_nearest(const double *xc, const double *x, const double *c, int64_t n, int64_t p,
                   int64_t k, int32_t *lab, double *dist, double *sums, int64_t *counts,
                   double *cn);
]]

return true
