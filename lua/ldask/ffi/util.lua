-- ldask.ffi.util: C declarations of core/util/hash.h and of the graph
-- algorithms of core/sched: order.h (execution order) and optimize.h (the
-- plan of inlining and fusion); returns the constants of optimize.h.
local ffi = require "ffi"

ffi.cdef [[
uint64_t ld_hash64(const void *data, size_t len, uint64_t seed);
void ld_hash128_hex(const void *data, size_t len, char out[33]);
int ld_order(int32_t n, const int32_t *offsets, const int32_t *deps, int32_t *seq,
             int32_t *priority, int32_t *cycle_at);
typedef struct ld_opt_stats { int32_t ninlined, nfused, nchanged, ndeps; } ld_opt_stats;
int ld_opt_plan(int32_t n, const int32_t *offsets, const int32_t *deps, const uint8_t *flags,
                int passes, int32_t max_chain, int32_t *into, int32_t *below,
                int32_t *new_offsets, int32_t *new_deps, int32_t *changed, ld_opt_stats *stats);
]]

return {
  -- core/sched/optimize.h: task flags, passes, INTO marks, errors
  opt = { TASK = 1, OUTPUT = 2, HOLDS = 4, INLINE = 1, FUSE = 2, KEPT = -1, INLINED = -2, EINVAL = -1, ENOMEM = -2 },
}
