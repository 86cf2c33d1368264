/* pool.h — the executor pool of the threaded local scheduler: N threads,
 * each with its own LuaJIT state (runtime/lib/xstate.h, started by
 * lua/ldask/task/state.lua) running lua/ldask/scheduler/executor.lua, fed
 * from one scheduling engine (core/sched/engine.h) under one mutex. The
 * pool lives for the process and serves every compute; a compute is an
 * ld_run: the engine, the encoded task payloads and the result slots of one
 * graph.
 *
 * Threads take ready tasks in batches (several per lock), run them in their
 * own state, write each result into its slot (header + refcounted buffers,
 * or a number/boolean/string inline) and report batches back. The main
 * thread waits with a timeout (so it stays responsive to Ctrl-C), reads
 * progress and events, and reads the outputs when the run is done. */
#ifndef LDASK_POOL_H
#define LDASK_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "sched/engine.h"
#include "util/buffer.h"

/* Kinds of ld_value. */
enum {
  LD_VAL_EMPTY = 0, /* no value (cancelled task) */
  LD_VAL_NIL = 1,
  LD_VAL_FALSE = 2,
  LD_VAL_TRUE = 3,
  LD_VAL_NUM = 4,  /* num */
  LD_VAL_STR = 5,  /* data/len: the string's bytes */
  LD_VAL_ENC = 6,  /* data/len: codec header; bufs/nbufs: its buffers */
  LD_VAL_FAST = 7, /* payloads only: a simple task {f, scalar args...} in the
                      format of lua/ldask/task/payload.lua (fast path) */
  LD_VAL_LAYER = 8 /* payloads only: the codec-encoded task template of a
                      compact layer (lua/ldask/layer.lua), shared by a range
                      of ids; num: the range's first id */
};

/* A task payload or a result: a small value inline, or an encoded header
 * plus buffer references. Result slots own data (malloc) and one reference
 * to each buffer; payloads borrow data (see ld_run_set_payload). */
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

/* Creates a pool of NTHREADS executor threads whose states use package PATH
 * and CPATH (copied; NULL keeps LuaJIT's defaults). Each thread creates its
 * state and loads ldask.scheduler.executor before this returns. Returns the
 * pool, or NULL with *ERR a malloc'ed message (caller frees). */
ld_pool *ld_pool_new(int nthreads, const char *path, const char *cpath, char **err);

/* Adds threads until the pool has NTHREADS. Returns 0, or -1 with *ERR a
 * malloc'ed message (the pool keeps the threads it has). Not while a run is
 * active. */
int ld_pool_grow(ld_pool *p, int nthreads, char **err);

/* Number of threads. */
int ld_pool_size(const ld_pool *p);

/* Stops and joins every thread, closes their states, frees the pool. No run
 * should be active; if one is (a program exiting mid-compute), it is
 * cancelled and its running tasks interrupted, and when a thread is still
 * busy 2 s later (a JIT-compiled loop) the pool is left running, not freed:
 * joining it would hang. NULL is ignored. */
void ld_pool_free(ld_pool *p);

/* ---- runs (main thread) ---- */

/* Creates a run of N tasks on pool P: an engine whose results are the run's
 * slots. Add the tasks to ld_run_sched(r) (ids 0..n-1), set their payloads,
 * then ld_run_start. Returns NULL when out of memory. Free with
 * ld_run_free. */
ld_run *ld_run_new(ld_pool *p, int32_t n);

/* The run's engine (owned by the run). Only touch it before ld_run_start or
 * after ld_run_wait reported the end. */
ld_sched *ld_run_sched(ld_run *r);

/* Sets the payload of task ID: DATA/LEN are borrowed (the caller keeps them
 * alive and unchanged until ld_run_free); the NBUFS buffers in BUFS are
 * retained by the run. Returns 0, or -1 (bad id or out of memory). */
int ld_run_set_payload(ld_run *r, int32_t id, int32_t kind, const char *data, size_t len,
                       ld_buffer **bufs, int32_t nbufs);

/* Sets one payload for the COUNT tasks FIRST..FIRST+COUNT-1 (a compact
 * layer: ld_run_payload(r, id) returns it for each of them, with num =
 * FIRST, unless ld_run_set_payload gave the task its own). Borrowed and
 * retained as ld_run_set_payload; ranges are set in ascending order and do
 * not overlap. Costs no memory per task. Returns 0, or -1 (bad range,
 * started run, or out of memory). */
int ld_run_set_payload_range(ld_run *r, int32_t first, int32_t count, int32_t kind,
                             const char *data, size_t len, ld_buffer **bufs, int32_t nbufs);

/* Sets the run's prelude (the functions of the graph, encoded): borrowed
 * like a payload. */
int ld_run_set_prelude(ld_run *r, const char *data, size_t len, ld_buffer **bufs, int32_t nbufs);

/* Starts the engine and hands the run to the first NWORKERS threads (at most
 * the pool's size). Only one run is active per pool. Returns 0, an engine
 * error (LD_SCHED_*), or -100 when another run is active. */
int ld_run_start(ld_run *r, int nworkers);

/* Waits up to TIMEOUT_MS for the run to end. Returns its status
 * (LD_SCHED_RUNNING when still going; otherwise DONE, ERRED, CANCELLED or
 * STUCK, and then no thread works on the run any more). */
int ld_run_wait(ld_run *r, int timeout_ms);

/* Cancels the run: nothing more starts; threads skip what they still hold
 * and, when INTERRUPT is non-zero, the Lua code running in busy threads is
 * interrupted with the error "cancelled". */
void ld_run_cancel(ld_run *r, int interrupt);

/* Counters of the run's engine (taken under the lock). */
void ld_run_stats(ld_run *r, ld_sched_stats *out);

/* Enables engine events (LD_EV_* mask) — before ld_run_start. */
void ld_run_events_enable(ld_run *r, int mask);

/* Drains up to MAX events (under the lock). Returns how many. */
int32_t ld_run_events(ld_run *r, ld_sched_event *out, int32_t max);

/* The first failure: task id (-1 when none) and its message (owned by the
 * run, NUL-terminated; may hold a NUL before the traceback) in *MSG with its
 * length in *LEN. */
int32_t ld_run_error(ld_run *r, const char **msg, size_t *len);

/* Result slot of task ID (owned by the run; valid while the task is in
 * memory, e.g. outputs after the run is done), or NULL. */
const ld_value *ld_run_result(ld_run *r, int32_t id);

/* Frees the run, its engine, the results it holds, its buffer references.
 * The run must have ended (ld_run_wait returned non-RUNNING) or never been
 * started. NULL is ignored. */
void ld_run_free(ld_run *r);

/* ---- executor threads (called from executor.lua through the FFI) ---- */

/* Reports the tasks the thread finished since the last call and takes up to
 * MAX ready ones into IDS; blocks while there is nothing to do. Returns how
 * many, or -1 when the pool shuts down. *RUN receives the run they belong
 * to (valid until the thread's next call). */
int32_t ld_pool_next(ld_pool *p, int32_t worker, int32_t *ids, int32_t max, ld_run **run);

/* Payload of task ID in run R, or the prelude when ID is -1. */
const ld_value *ld_run_payload(const ld_run *r, int32_t id);

/* Generation of run R: distinct for every run of the process. */
int64_t ld_run_generation(const ld_run *r);

/* Non-zero when the tasks of R must be timed (finished events recorded);
 * otherwise ld_pool_done may get 0 for T0 and T1. */
int ld_run_timed(const ld_run *r);

/* Non-zero once R was cancelled or failed: threads skip remaining tasks. */
int ld_run_stopping(const ld_run *r);

/* Dependencies of task ID (engine storage) and their count in *N. */
const int32_t *ld_run_deps(const ld_run *r, int32_t id, int32_t *n);

/* Input value of the running task: the result of task ID, a dependency of a
 * task the caller is running (so it stays alive). */
const ld_value *ld_run_input(const ld_run *r, int32_t id);

/* Stores the result of task ID: DATA (LEN bytes) is copied, each of the
 * NBUFS buffers retained. Then marks it finished by WORKER between T0 and T1
 * (reported in the next ld_pool_next). Returns 0 or -1 (out of memory: the
 * task is failed instead). */
int ld_pool_done(ld_pool *p, int32_t worker, int32_t id, int32_t kind, double num, const char *data,
                 size_t len, ld_buffer **bufs, int32_t nbufs, double t0, double t1);

/* Marks task ID failed with message MSG (LEN bytes, copied): the run stops
 * with this error if it is the first. */
void ld_pool_fail(ld_pool *p, int32_t worker, int32_t id, const char *msg, size_t len, double t0,
                  double t1);

/* Monotonic clock in seconds. */
double ld_pool_now(void);

#endif
