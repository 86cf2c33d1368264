/* pool_impl.h — the records of runtime/lib/pool.c shared with
 * runtime/lib/run_payload.c (private to the two: users see pool.h): the
 * executor threads, the pool, a run. */
#ifndef LDASK_POOL_IMPL_H
#define LDASK_POOL_IMPL_H

#include <lua.h>
#include <pthread.h>
#include <stdatomic.h>

#include "pool.h"
#include "xstate.h"

#define MAX_BATCH 64

enum { W_STARTING = 0, W_READY = 1, W_FAILED = 2, W_DEAD = 3 };

typedef struct done_rec {
  int32_t id;
  int64_t nbytes;
  double t0, t1;
} done_rec;

typedef struct worker {
  ld_pool *pool;
  int idx;
  pthread_t th;
  int joinable;
  ld_xstate *xs;
  lua_State *L;
  int state;
  char *err; /* malloc'ed: why the state could not be created */
  /* tasks handed out and not yet reported (guarded by the pool mutex) */
  ld_run *held_run;
  int32_t held[MAX_BATCH];
  int32_t nheld;
  /* finished since the last ld_pool_next (owned by the thread) */
  done_rec done[MAX_BATCH];
  int32_t ndone;
  double avg_task;  /* moving average of task durations, seconds */
  int64_t last_gen; /* run the average belongs to */
  double batch_t0;  /* when the current batch was taken */
  int32_t batch_n;  /* its size (0: none) */
} worker;

struct ld_pool {
  pthread_mutex_t mu;
  pthread_cond_t work_cv; /* executors wait for tasks */
  pthread_cond_t main_cv; /* the main thread waits for the run's end */
  worker **w;
  int n;
  char *path, *cpath;
  int shutdown;
  ld_run *run; /* the active run or NULL */
  int64_t gen;
  int idle;
  /* the result and payload arrays of the last run freed, kept for the
   * next one (their first-touch page faults paid); main thread only */
  ld_value *spare_slots, *spare_payloads;
  int32_t spare_cap;
  ld_sched *spare_sched; /* the last run's engine, emptied (ld_sched_reset) */
};

/* Runs of at most this many tasks give their arrays back to the pool
 * (80 bytes a task: 20 MiB at most are kept), and engines of at most
 * SPARE_MAX_ENGINE bytes their engine. */
#define SPARE_MAX_TASKS (1 << 18)
#define SPARE_MAX_ENGINE ((size_t)32 << 20)

/* One payload shared by the ids FIRST..FIRST+COUNT-1 (v.num = FIRST). */
typedef struct ld_run_range {
  int32_t first, count;
  ld_value v;
} ld_run_range;

struct ld_run {
  ld_pool *pool;
  ld_sched *s;
  int32_t n;
  int32_t cap;          /* entries of slots and payloads (>= n) */
  ld_value *slots;      /* results, owned */
  ld_value *payloads;   /* borrowed data, retained buffers */
  ld_run_range *ranges; /* payloads shared by ranges of ids, ascending */
  int32_t nranges, cranges;
  ld_value prelude;
  int64_t gen;
  int timed; /* executors time each task (for the finished events) */
  int nworkers;
  int started, ended;
  atomic_int stopping; /* read by executors without the lock */
  int32_t err_id;
  char *err_msg;
  size_t err_len;
};

/* Retains NBUFS buffers into a new array at *OUT (NULL when NBUFS <= 0).
 * Returns 0 or -1 (out of memory: nothing retained). */
int pool_retain_bufs(ld_buffer **bufs, int32_t nbufs, ld_buffer ***out);

/* Sets R's slots and payloads to zeroed arrays of at least R->n entries,
 * owned by R: the pool's spares when large enough, else new ones (NULL
 * when out of memory). Main thread only. */
void pool_take_arrays(ld_pool *p, ld_run *r);

/* Gives R's arrays (emptied) to P as its spares when they are small enough
 * and larger than the spares it has; frees them otherwise. Main thread. */
void pool_give_arrays(ld_pool *p, ld_run *r);

#endif
