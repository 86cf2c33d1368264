/* engine.h — the scheduling engine: a task table with dependency counts,
 * states, priorities, ready queues, release of intermediates, failure and
 * cancellation. Written once for every scheduler: the threaded local
 * scheduler (runtime/lib/pool.c, "batch mode") and ldask-scheduler
 * (runtime/scheduler/, "live mode"). It knows tasks as records (id,
 * optional interned key, dependencies, priority, result value and its
 * size) and never runs user code; values are opaque pointers that the
 * engine hands back to a release callback when nothing needs them.
 *
 * Not thread-safe: one owner at a time (the local pool holds its mutex
 * around every call). Storage is struct-of-arrays (ld_sched_bytes reports
 * the exact figure); no allocation per task beyond its key's copy.
 *
 * Batch mode (ld_sched_new): tasks are added in batches with contiguous
 * ids (ld_sched_add, ld_sched_start). WAITING (dependencies unfinished) ->
 * READY (in the queue) -> PROCESSING (handed out by ld_sched_pop) ->
 * MEMORY (result stored) -> RELEASED (result freed: no needed dependent
 * still waits for it, and it is not an output). ERRED: the task failed or
 * a dependency did. CANCELLED: ld_sched_cancel stopped it before it ran.
 * SKIPPED: not needed by any output (culled at start). A new task may not
 * depend on a released one (LD_SCHED_ERELEASED).
 *
 * Live mode (ld_sched_new_live, for a long-lived scheduler): records are
 * created one by one (ld_sched_create), wanted by a count (ld_sched_want /
 * ld_sched_unwant) and forgotten when nothing wants them and no record
 * depends on them; their ids are then reused, so memory stays bounded over
 * a long session. A record starts RELEASED (no result); ld_sched_compute
 * makes it (and any released dependency, recursively) WAITING / READY. A
 * result nothing needs is released; pending work nothing needs is stopped;
 * a lost result (ld_sched_lost) is recomputed when needed; a PROCESSING
 * task can be requeued (retries, dead workers). Every side effect reaches
 * the owner synchronously through ld_sched_hooks, during the call that
 * caused it. See docs/scheduler.md. */
#ifndef LDASK_SCHED_ENGINE_H
#define LDASK_SCHED_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "sched/heap.h"
#include "sched/keys.h"

enum {
  LD_TASK_WAITING = 0,
  LD_TASK_READY = 1,
  LD_TASK_PROCESSING = 2,
  LD_TASK_MEMORY = 3,
  LD_TASK_RELEASED = 4,
  LD_TASK_ERRED = 5,
  LD_TASK_CANCELLED = 6,
  LD_TASK_SKIPPED = 7,
  LD_TASK_NEW = 8, /* added, ld_sched_start not yet called */
  LD_TASK_FREE = 9 /* live mode: an unused (forgotten) id */
};

/* Error codes (negative). */
enum {
  LD_SCHED_ENOMEM = -1,
  LD_SCHED_EINVAL = -2,   /* an argument out of range (task id, dependency) */
  LD_SCHED_ESTATE = -3,   /* the task is not in a state allowing the call */
  LD_SCHED_EKEY = -4,     /* duplicate key, or a NUL byte in a key */
  LD_SCHED_ECYCLE = -5,   /* the graph has a cycle: no task can run */
  LD_SCHED_ERELEASED = -6 /* a new task depends on a released/unneeded one */
};

/* Status of a computation (ld_sched_status). */
enum {
  LD_SCHED_RUNNING = 0,
  LD_SCHED_DONE = 1,      /* every needed task finished */
  LD_SCHED_ERRED = 2,     /* a task failed */
  LD_SCHED_CANCELLED = 3, /* ld_sched_cancel was called */
  LD_SCHED_STUCK = 4      /* nothing ready or running but tasks remain: a cycle */
};

/* Event kinds (bit values for ld_sched_events_enable's mask). */
enum {
  LD_EV_PROCESSING = 1, /* handed to a worker (t0 = t1 = 0) */
  LD_EV_FINISHED = 2,   /* result stored; t0/t1 = start/end given by the worker */
  LD_EV_ERRED = 4,      /* failed (t0/t1 as given) or erred through a dependency */
  LD_EV_RELEASED = 8    /* result released */
};

typedef struct ld_sched_event {
  int32_t task;
  int16_t kind;
  int16_t worker; /* -1 when not applicable */
  double t0, t1;  /* seconds, caller's clock */
} ld_sched_event;

typedef struct ld_sched_stats {
  int64_t ntasks;       /* tasks in the table */
  int64_t needed;       /* tasks that must run (not culled) */
  int64_t finished;     /* needed tasks that finished (memory or released) */
  int64_t processing;   /* handed out, not yet finished */
  int64_t ready;        /* in the ready queue */
  int64_t erred;        /* erred tasks */
  int64_t in_memory;    /* results held */
  int64_t mem_bytes;    /* sum of the nbytes of results held */
  int64_t peak_bytes;   /* highest mem_bytes seen */
  int64_t engine_bytes; /* memory of the engine itself (ld_sched_bytes) */
} ld_sched_stats;

/* Called when the engine drops a result VALUE of task ID (released, cancelled
 * or freed with the engine). The callee owns VALUE from then on. */
typedef void (*ld_sched_release_fn)(void *ctx, int32_t id, void *value);

typedef struct ld_sched ld_sched;

/* Why a task erred (ld_sched_hooks.erred). */
enum {
  LD_ERR_OWN = 0,       /* ld_sched_fail on the task itself */
  LD_ERR_DEP = 1,       /* its dependency CAUSE erred */
  LD_ERR_LOST = 2,      /* it holds data that cannot be recomputed (no computation) and
                           its result was needed after being lost */
  LD_ERR_CANCELLED = 3, /* its dependency CAUSE was cancelled before it could run */
  LD_ERR_NOMEM = 4      /* out of memory queueing it */
};

/* Live mode: what the engine tells its owner, synchronously, during the
 * call that caused it. Each may be NULL. The hooks must not call back into
 * the engine except for read-only calls (ld_sched_state, ld_sched_key,
 * ld_sched_deps, ld_sched_info). */
typedef struct ld_sched_hooks {
  /* Task ID left PROCESSING for another reason than ld_sched_finish or
   * ld_sched_requeue (not needed any more, erred through a dependency,
   * cancelled, an input was lost): its worker should drop it. */
  void (*stop)(void *ctx, int32_t id);
  /* The result of task ID is released (nothing needs it): free it. */
  void (*released)(void *ctx, int32_t id);
  /* Task ID erred for REASON (LD_ERR_*); CAUSE is the task whose error it
   * takes (ID itself for LD_ERR_OWN and LD_ERR_LOST). */
  void (*erred)(void *ctx, int32_t id, int32_t cause, int reason);
  /* Task ID was cancelled (ld_sched_cancel_task, or a dependency was). */
  void (*cancelled)(void *ctx, int32_t id);
  /* Record ID is forgotten: free what the owner keeps for it. Its key is
   * still readable during the call; then the id may be reused. */
  void (*forget)(void *ctx, int32_t id);
} ld_sched_hooks;

/* A task's counters (ld_sched_info). */
typedef struct ld_sched_info {
  int state;                  /* LD_TASK_* */
  int32_t wants;              /* ld_sched_want count */
  int32_t waiting_on;         /* dependencies not in memory (WAITING) */
  int32_t pending_dependents; /* dependents WAITING, READY or PROCESSING */
  int32_t dependents;         /* dependent records */
  int32_t deaths;             /* workers that died while running it (ld_sched_requeue) */
  int32_t ndeps;
  int64_t prio;
} ld_sched_info;

/* Creates an empty engine. RELEASE (may be NULL: values are then not owned)
 * and CTX are kept. Returns NULL when out of memory. Free with
 * ld_sched_free. */
ld_sched *ld_sched_new(ld_sched_release_fn release, void *ctx);

/* Creates an empty live-mode engine (see the top of this file). HOOKS (kept
 * by reference, may be NULL) and CTX are kept. Returns NULL when out of
 * memory. Free with ld_sched_free. */
ld_sched *ld_sched_new_live(const ld_sched_hooks *hooks, void *ctx);

/* Batch mode: empties S for a new computation, keeping its storage (no
 * allocation, no page faults on first touch for a graph no larger than the
 * last): results still held are released (through the old callback), then
 * RELEASE/CTX replace it. Returns 0, or LD_SCHED_EINVAL in live mode. */
int ld_sched_reset(ld_sched *s, ld_sched_release_fn release, void *ctx);

/* Frees the engine; every result still held goes to the release callback. */
void ld_sched_free(ld_sched *s);

/* Batch mode only (LD_SCHED_EINVAL in live mode). Adds N tasks with ids
 * first..first+n-1 (first = the previous task count, returned). Task first+i depends on
 * dep_idx[dep_off[i] .. dep_off[i+1]-1] (absolute task ids: earlier batches or this one; dep_off[0]
 * need not be 0). PRIO (may be NULL: id order) gives priorities, lower runs first. The arrays are
 * copied. Returns the first id, or LD_SCHED_EINVAL (a dependency out of range or a bad offset),
 * LD_SCHED_ENOMEM. On error nothing is added. */
int32_t ld_sched_add(ld_sched *s, int32_t n, const int32_t *dep_off, const int32_t *dep_idx,
                     const int32_t *prio);

/* Sets the key of task ID (copied, interned). Returns 0, LD_SCHED_EINVAL,
 * LD_SCHED_EKEY (duplicate or NUL byte), LD_SCHED_ENOMEM. */
int ld_sched_set_key(ld_sched *s, int32_t id, const char *key, size_t len);

/* Task id of KEY, or -1. */
int32_t ld_sched_find(const ld_sched *s, const char *key, size_t len);

/* Key of task ID (owned by the engine; it stays valid and unmoved until the
 * task is forgotten, live mode) with its length in *LEN (may be NULL), or
 * NULL when the task has no key. */
const char *ld_sched_key(const ld_sched *s, int32_t id, size_t *len);

/* Wants task ID (a count: each want needs its ld_sched_unwant). Batch
 * mode: marks it an output, kept in memory until ld_sched_take or
 * ld_sched_free; when some tasks of a batch are wanted, ld_sched_start runs
 * only what they need (the others are SKIPPED); when none is, all run.
 * Live mode: a wanted record is never forgotten and its result never
 * released. Returns 0, LD_SCHED_EINVAL, or (batch mode) LD_SCHED_ESTATE
 * when the task was already released. */
int ld_sched_want(ld_sched *s, int32_t id);

/* Batch mode only. Starts the tasks added since the previous start: culls, counts unfinished
 * dependencies, queues the tasks that can run. Returns 0, LD_SCHED_ENOMEM,
 * LD_SCHED_ERELEASED (a new task depends on a released or skipped one; the
 * batch is then ERRED), LD_SCHED_ECYCLE (the batch has a cycle; detected
 * here when nothing can start, otherwise reported as LD_SCHED_STUCK). */
int ld_sched_start(ld_sched *s);

/* Batch mode (live mode: 0; see ld_sched_peek). Hands out up to MAX ready
 * tasks, highest priority first, into OUT and marks them PROCESSING by
 * WORKER. Returns how many (0: none ready). */
int32_t ld_sched_pop(ld_sched *s, int32_t *out, int32_t max, int32_t worker);

/* Records the result VALUE (ownership passes to the engine; NBYTES its size
 * for memory accounting) of the PROCESSING task ID run by WORKER between T0
 * and T1. Queues dependents that became ready; releases dependencies that
 * nothing needs any more (live mode: the released hook; the value is the
 * owner's business and should be NULL). After a cancel or failure the value
 * is released at once. Returns 0, LD_SCHED_EINVAL, or LD_SCHED_ESTATE (the task was not
 * processing: VALUE then stays the caller's). */
int ld_sched_finish(ld_sched *s, int32_t id, void *value, int64_t nbytes, int32_t worker, double t0,
                    double t1);

/* Records that the PROCESSING task ID failed: it and everything depending on
 * it become ERRED; the status turns LD_SCHED_ERRED. Live mode: any state
 * but MEMORY and ERRED may fail (erred hook with LD_ERR_OWN for ID,
 * LD_ERR_DEP for its pending or released dependents, stop hook for those
 * processing). Returns 0, LD_SCHED_EINVAL, LD_SCHED_ESTATE. */
int ld_sched_fail(ld_sched *s, int32_t id, int32_t worker, double t0, double t1);

/* Batch mode (a no-op in live mode; see ld_sched_cancel_task). Stops the
 * computation: empties the ready queue, marks waiting and ready
 * tasks CANCELLED, releases held results except outputs. Tasks being
 * processed stay so until finished or failed. */
void ld_sched_cancel(ld_sched *s);

/* The result of task ID (owned by the engine; valid while the task is in
 * MEMORY), or NULL. Read-only access from a worker is safe while the worker
 * processes a dependent of ID. */
void *ld_sched_value(const ld_sched *s, int32_t id);

/* Batch mode (live mode: NULL). Takes the result of the MEMORY task ID out
 * of the engine: the caller owns it; the task becomes RELEASED without a
 * release callback. Returns NULL when the task holds no result. */
void *ld_sched_take(ld_sched *s, int32_t id);

/* State of task ID (LD_TASK_*), or -1 when out of range. */
int ld_sched_state(const ld_sched *s, int32_t id);

/* Dependencies of task ID: returns a pointer into the engine (valid until the
 * next ld_sched_add or ld_sched_set_deps) and their count in *N; NULL and 0
 * when out of range. */
const int32_t *ld_sched_deps(const ld_sched *s, int32_t id, int32_t *n);

/* The computation's status (LD_SCHED_*). */
int ld_sched_status(const ld_sched *s);

/* Fills *OUT with counters. */
void ld_sched_get_stats(const ld_sched *s, ld_sched_stats *out);

/* Bytes of memory held by the engine's own tables (not the results). */
size_t ld_sched_bytes(const ld_sched *s);

/* Records events whose kind is in MASK (LD_EV_* bits; 0 stops recording). */
void ld_sched_events_enable(ld_sched *s, int mask);

/* Moves up to MAX recorded events, oldest first, into OUT. Returns how
 * many. */
int32_t ld_sched_events_drain(ld_sched *s, ld_sched_event *out, int32_t max);

/* Number of tasks in the ready queue. */
int32_t ld_sched_nready(const ld_sched *s);

/* Task id of the first task that failed, or -1. */
int32_t ld_sched_first_error(const ld_sched *s);

/* Fills *OUT with the counters of task ID. Returns 0 or LD_SCHED_EINVAL. */
int ld_sched_info_of(const ld_sched *s, int32_t id, ld_sched_info *out);

/* One more than the highest task id in use (ids below it may be FREE). */
int32_t ld_sched_id_limit(const ld_sched *s);

/* The dependent records of task ID: writes up to MAX of their ids into OUT
 * (the caller's) and returns how many there are (may exceed MAX), or
 * LD_SCHED_EINVAL. Read-only. */
int32_t ld_sched_dependents(const ld_sched *s, int32_t id, int32_t *out, int32_t max);

/* ---- live mode (each call returns LD_SCHED_EINVAL in batch mode) ---- */

/* Creates a record with KEY (copied; must be new) and priority PRIO (lower
 * runs first; ties by creation order): state RELEASED, no dependencies,
 * not wanted. Returns its id (a forgotten record's id may be reused),
 * LD_SCHED_EKEY (key known or holding a NUL byte), LD_SCHED_ENOMEM. */
int32_t ld_sched_create(ld_sched *s, const char *key, size_t len, int64_t prio);

/* Gives record ID (which has none yet) the N dependencies DEPS (live ids;
 * copied). Returns 0, LD_SCHED_EINVAL (bad id, ID itself, or ID already has
 * dependencies), LD_SCHED_ENOMEM. */
int ld_sched_set_deps(ld_sched *s, int32_t id, const int32_t *deps, int32_t n);

/* Makes a CANCELLED or ERRED record RELEASED again (resubmitted), with
 * priority PRIO and its death count cleared; it keeps its dependencies and
 * is a computation again (not data). Returns 0, LD_SCHED_EINVAL,
 * LD_SCHED_ESTATE. */
int ld_sched_renew(ld_sched *s, int32_t id, int64_t prio);

/* Drops one want of ID; a record nothing needs is then released, stopped
 * or forgotten (hooks). Returns 0, LD_SCHED_EINVAL, LD_SCHED_ESTATE (not
 * wanted). */
int ld_sched_unwant(ld_sched *s, int32_t id);

/* Makes sure RELEASED (or requeued WAITING) record ID gets computed:
 * released dependencies are computed first; it becomes WAITING, or READY
 * when every dependency is in memory, or ERRED when a dependency is erred
 * or cancelled, or when it holds data with no computation. Other states:
 * nothing to do. Returns 0, LD_SCHED_EINVAL, LD_SCHED_ENOMEM. */
int ld_sched_compute(ld_sched *s, int32_t id);

/* Releases, stops or forgets record ID if nothing needs it (after a batch
 * of records was created and computed). Returns 0 or LD_SCHED_EINVAL. */
int ld_sched_check(ld_sched *s, int32_t id);

/* The first READY task of a queue (ROOTS: tasks without dependencies;
 * else tasks with dependencies), or -1. */
int32_t ld_sched_peek(const ld_sched *s, int roots);

/* READY task ID goes to WORKER: PROCESSING, out of its queue. Returns 0,
 * LD_SCHED_EINVAL, LD_SCHED_ESTATE. */
int ld_sched_assign(ld_sched *s, int32_t id, int32_t worker);

/* Takes READY task ID out of its queue for now (it stays READY) so that
 * ld_sched_peek shows the next one; ld_sched_unpark puts it back (a no-op
 * when it is no longer READY). Return 0 or LD_SCHED_EINVAL/ESTATE. */
int ld_sched_park(ld_sched *s, int32_t id);
int ld_sched_unpark(ld_sched *s, int32_t id);

/* PROCESSING task ID goes back to WAITING to be recounted by
 * ld_sched_compute (retry after an error, lost input, dead worker; the
 * caller has dealt with the worker). DIED: it was running on a worker that
 * died; counted. Returns the death count, or LD_SCHED_EINVAL,
 * LD_SCHED_ESTATE. */
int ld_sched_requeue(ld_sched *s, int32_t id, int died);

/* MEMORY task ID lost its last copy: RELEASED; its READY and PROCESSING
 * dependents go back to WAITING (stop hook for the processing ones); it is
 * recomputed when something needs it (else ld_sched_compute does it when
 * asked). Returns 1 when it is being recomputed, 0 when not, or
 * LD_SCHED_EINVAL, LD_SCHED_ESTATE. */
int ld_sched_lost(ld_sched *s, int32_t id);

/* Cancels record ID (RELEASED, WAITING, READY or PROCESSING) and its
 * pending or released dependents (cancelled hook for each). Returns 0,
 * LD_SCHED_EINVAL, LD_SCHED_ESTATE. */
int ld_sched_cancel_task(ld_sched *s, int32_t id);

/* Record ID receives data that has no computation (scatter): PROCESSING
 * until ld_sched_finish; if lost later it cannot be recomputed
 * (LD_ERR_LOST). From any state but MEMORY. Returns 0, LD_SCHED_EINVAL,
 * LD_SCHED_ESTATE. */
int ld_sched_put_data(ld_sched *s, int32_t id);

#endif
