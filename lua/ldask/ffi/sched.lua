-- ldask.ffi.sched: C declarations of the scheduling engine (core/sched/engine.h)
-- and of the string hash table its keys are built on (core/util/strmap.h).
local ffi = require "ffi"

ffi.cdef [[
typedef struct ld_sched ld_sched;
typedef struct ld_sched_event {
  int32_t task;
  int16_t kind;
  int16_t worker;
  double t0, t1;
} ld_sched_event;
typedef struct ld_sched_stats {
  int64_t ntasks, needed, finished, processing, ready, erred, in_memory, mem_bytes,
          peak_bytes, engine_bytes;
} ld_sched_stats;
typedef void (*ld_sched_release_fn)(void *ctx, int32_t id, void *value);
typedef struct ld_sched_hooks {
  void (*stop)(void *ctx, int32_t id);
  void (*released)(void *ctx, int32_t id);
  void (*erred)(void *ctx, int32_t id, int32_t cause, int reason);
  void (*cancelled)(void *ctx, int32_t id);
  void (*forget)(void *ctx, int32_t id);
} ld_sched_hooks;
typedef struct ld_sched_info {
  int state;
  int32_t wants, waiting_on, pending_dependents, dependents, deaths, ndeps;
  int64_t prio;
} ld_sched_info;
ld_sched *ld_sched_new(ld_sched_release_fn release, void *ctx);
ld_sched *ld_sched_new_live(const ld_sched_hooks *hooks, void *ctx);
void ld_sched_free(ld_sched *s);
int ld_sched_reset(ld_sched *s, ld_sched_release_fn release, void *ctx);
int32_t ld_sched_add(ld_sched *s, int32_t n, const int32_t *dep_off, const int32_t *dep_idx,
                     const int32_t *prio);
int ld_sched_set_key(ld_sched *s, int32_t id, const char *key, size_t len);
int32_t ld_sched_find(const ld_sched *s, const char *key, size_t len);
const char *ld_sched_key(const ld_sched *s, int32_t id, size_t *len);
int ld_sched_want(ld_sched *s, int32_t id);
int ld_sched_start(ld_sched *s);
int32_t ld_sched_pop(ld_sched *s, int32_t *out, int32_t max, int32_t worker);
int ld_sched_finish(ld_sched *s, int32_t id, void *value, int64_t nbytes, int32_t worker,
                    double t0, double t1);
int ld_sched_fail(ld_sched *s, int32_t id, int32_t worker, double t0, double t1);
void ld_sched_cancel(ld_sched *s);
void *ld_sched_value(const ld_sched *s, int32_t id);
void *ld_sched_take(ld_sched *s, int32_t id);
int ld_sched_state(const ld_sched *s, int32_t id);
const int32_t *ld_sched_deps(const ld_sched *s, int32_t id, int32_t *n);
int ld_sched_status(const ld_sched *s);
void ld_sched_get_stats(const ld_sched *s, ld_sched_stats *out);
size_t ld_sched_bytes(const ld_sched *s);
void ld_sched_events_enable(ld_sched *s, int mask);
int32_t ld_sched_events_drain(ld_sched *s, ld_sched_event *out, int32_t max);
int32_t ld_sched_nready(const ld_sched *s);
int32_t ld_sched_first_error(const ld_sched *s);
int ld_sched_info_of(const ld_sched *s, int32_t id, ld_sched_info *out);
int32_t ld_sched_id_limit(const ld_sched *s);
int32_t ld_sched_create(ld_sched *s, const char *key, size_t len, int64_t prio);
int ld_sched_set_deps(ld_sched *s, int32_t id, const int32_t *deps, int32_t n);
int ld_sched_renew(ld_sched *s, int32_t id, int64_t prio);
int ld_sched_unwant(ld_sched *s, int32_t id);
int ld_sched_compute(ld_sched *s, int32_t id);
int ld_sched_check(ld_sched *s, int32_t id);
int32_t ld_sched_peek(const ld_sched *s, int roots);
int ld_sched_assign(ld_sched *s, int32_t id, int32_t worker);
int ld_sched_park(ld_sched *s, int32_t id);
int ld_sched_unpark(ld_sched *s, int32_t id);
int ld_sched_requeue(ld_sched *s, int32_t id, int died);
int ld_sched_lost(ld_sched *s, int32_t id);
int ld_sched_cancel_task(ld_sched *s, int32_t id);
int ld_sched_put_data(ld_sched *s, int32_t id);

typedef struct ld_strmap_slot { const char *key; uint32_t len; uint32_t hash; void *val; } ld_strmap_slot;
typedef struct ld_strmap { ld_strmap_slot *slots; size_t cap; size_t count; } ld_strmap;
void ld_strmap_init(ld_strmap *m);
void ld_strmap_free(ld_strmap *m);
void *ld_strmap_get(const ld_strmap *m, const char *key, size_t len);
int ld_strmap_put(ld_strmap *m, const char *key, size_t len, void *val);
int ld_strmap_add(ld_strmap *m, const char *key, size_t len, void *val);
void *ld_strmap_del(ld_strmap *m, const char *key, size_t len);
ld_strmap_slot *ld_strmap_next(const ld_strmap *m, size_t *i);
size_t ld_strmap_bytes(const ld_strmap *m);
]]

local M = {
  -- task states
  WAITING = 0, READY = 1, PROCESSING = 2, MEMORY = 3, RELEASED = 4, ERRED = 5,
  CANCELLED = 6, SKIPPED = 7, NEW = 8, FREE = 9,
  -- status
  RUNNING = 0, DONE = 1, STATUS_ERRED = 2, STATUS_CANCELLED = 3, STUCK = 4,
  -- errors
  ENOMEM = -1, EINVAL = -2, ESTATE = -3, EKEY = -4, ECYCLE = -5, ERELEASED = -6,
  -- event kinds
  EV_PROCESSING = 1, EV_FINISHED = 2, EV_ERRED = 4, EV_RELEASED = 8,
  -- why a task erred (live mode)
  ERR_OWN = 0, ERR_DEP = 1, ERR_LOST = 2, ERR_CANCELLED = 3, ERR_NOMEM = 4,
}
M.state_names = { [0] = "waiting", "ready", "processing", "memory", "released", "erred",
  "cancelled", "skipped", "new", "free" }
return M
