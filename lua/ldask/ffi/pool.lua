-- ldask.ffi.pool: C declarations of the executor pool (runtime/lib/pool.h).
local ffi = require "ffi"
require "ldask.ffi.buffer"
require "ldask.ffi.sched"
require "ldask.ffi.xstate" -- free()

ffi.cdef [[
typedef struct ld_value {
  int32_t kind;
  int32_t nbufs;
  double num;
  char *data;
  size_t len;
  ld_buffer **bufs;
} ld_value;
typedef struct ld_pool ld_pool;
typedef struct ld_run ld_run;
ld_pool *ld_pool_new(int nthreads, const char *path, const char *cpath, char **err);
int ld_pool_grow(ld_pool *p, int nthreads, char **err);
int ld_pool_size(const ld_pool *p);
void ld_pool_free(ld_pool *p);
ld_run *ld_run_new(ld_pool *p, int32_t n);
ld_sched *ld_run_sched(ld_run *r);
int ld_run_set_payload(ld_run *r, int32_t id, int32_t kind, const char *data, size_t len,
                       ld_buffer **bufs, int32_t nbufs);
int ld_run_set_payload_range(ld_run *r, int32_t first, int32_t count, int32_t kind,
                             const char *data, size_t len, ld_buffer **bufs, int32_t nbufs);
int ld_run_set_prelude(ld_run *r, const char *data, size_t len, ld_buffer **bufs, int32_t nbufs);
int ld_run_start(ld_run *r, int nworkers);
int ld_run_wait(ld_run *r, int timeout_ms);
void ld_run_cancel(ld_run *r, int interrupt);
void ld_run_stats(ld_run *r, ld_sched_stats *out);
void ld_run_events_enable(ld_run *r, int mask);
int32_t ld_run_events(ld_run *r, ld_sched_event *out, int32_t max);
int32_t ld_run_error(ld_run *r, const char **msg, size_t *len);
const ld_value *ld_run_result(ld_run *r, int32_t id);
void ld_run_free(ld_run *r);
int32_t ld_pool_next(ld_pool *p, int32_t worker, int32_t *ids, int32_t max, ld_run **run);
const ld_value *ld_run_payload(const ld_run *r, int32_t id);
int64_t ld_run_generation(const ld_run *r);
int ld_run_timed(const ld_run *r);
int ld_run_stopping(const ld_run *r);
const int32_t *ld_run_deps(const ld_run *r, int32_t id, int32_t *n);
const ld_value *ld_run_input(const ld_run *r, int32_t id);
int ld_pool_done(ld_pool *p, int32_t worker, int32_t id, int32_t kind, double num,
                 const char *data, size_t len, ld_buffer **bufs, int32_t nbufs, double t0,
                 double t1);
void ld_pool_fail(ld_pool *p, int32_t worker, int32_t id, const char *msg, size_t len, double t0,
                  double t1);
double ld_pool_now(void);
int isatty(int fd);
]]

-- kinds of ld_value (pool.h LD_VAL_*; checked by spec/unit/ffi_cdef_spec.lua).
-- The format of a FAST payload is ldask.task.payload's.
return {
  EMPTY = 0, NIL = 1, FALSE = 2, TRUE = 3, NUM = 4, STR = 5, ENC = 6, FAST = 7, LAYER = 8,
}
