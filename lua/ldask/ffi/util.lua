-- ldask.ffi.util: C declarations of core/util/hash.h and core/sched/order.h.
local ffi = require "ffi"

ffi.cdef [[
uint64_t ld_hash64(const void *data, size_t len, uint64_t seed);
void ld_hash128_hex(const void *data, size_t len, char out[33]);
int ld_order(int32_t n, const int32_t *offsets, const int32_t *deps, int32_t *seq,
             int32_t *priority, int32_t *cycle_at);
]]

return true
