/* pool.c — executor threads and runs of the threaded local scheduler (see
 * pool.h). One mutex guards the engine of the active run and the pool's
 * bookkeeping; executors take batches of ready tasks per lock and report
 * finished tasks in batches. */
#include "pool.h"

#include <lauxlib.h>
#include <lua.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "array/kernels.h" /* ld_blas_one_thread */
#include "pool_impl.h"
#include "xstate.h"

#define BATCH_SECONDS 20e-6 /* aim: one lock per this much work */
#define EXECUTOR_MODULE "ldask.scheduler.executor"

double ld_pool_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *dupstr(const char *s) {
  size_t len = strlen(s);
  char *d = malloc(len + 1);
  if (d) memcpy(d, s, len + 1);
  return d;
}

/* Returns a malloc'ed "PREFIX: MSG" (MSG may be NULL). */
static char *join_err(const char *prefix, const char *msg) {
  char buf[2048];
  snprintf(buf, sizeof buf, "%s: %s", prefix, msg ? msg : "(no message)");
  return dupstr(buf);
}

/* Returns a malloc'ed "PREFIX N". */
static char *int_err(const char *prefix, int n) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s %d", prefix, n);
  return dupstr(buf);
}

/* ---- values ---- */

static void value_clear(ld_value *v) {
  free(v->data);
  for (int32_t i = 0; i < v->nbufs; i++) ld_buffer_release(v->bufs[i]);
  free(v->bufs);
  memset(v, 0, sizeof *v);
}

static void release_slot(void *ctx, int32_t id, void *value) {
  (void)ctx;
  (void)id;
  value_clear(value);
}

/* ---- failure bookkeeping (pool mutex held) ---- */

static void run_fail_locked(ld_run *r, int32_t worker, int32_t id, const char *msg, size_t len,
                            double t0, double t1) {
  int rc = ld_sched_fail(r->s, id, worker, t0, t1);
  if (rc == 0 && r->err_msg == NULL) {
    r->err_id = id;
    r->err_msg = malloc(len + 1);
    if (r->err_msg) {
      memcpy(r->err_msg, msg, len);
      r->err_msg[len] = '\0';
      r->err_len = len;
    }
  }
  r->stopping = 1;
  ld_sched_cancel(r->s);
  pthread_cond_broadcast(&r->pool->main_cv);
}

/* Reports worker W's finished tasks and fails those it held without
 * reporting (lost to an error in the executor loop itself). */
static void flush_locked(worker *w, const char *lost_msg) {
  ld_run *r = w->held_run;
  if (r == NULL) return;
  for (int32_t i = 0; i < w->ndone; i++) {
    done_rec *d = &w->done[i];
    if (ld_sched_finish(r->s, d->id, &r->slots[d->id], d->nbytes, w->idx, d->t0, d->t1) != 0)
      value_clear(&r->slots[d->id]);
  }
  w->ndone = 0;
  for (int32_t i = 0; i < w->nheld; i++) {
    int32_t id = w->held[i];
    if (ld_sched_state(r->s, id) == LD_TASK_PROCESSING) {
      char buf[512];
      snprintf(buf, sizeof buf, "executor thread %d lost the task: %s", w->idx,
               lost_msg ? lost_msg : "it was not reported");
      run_fail_locked(r, w->idx, id, buf, strlen(buf), 0, 0);
    }
  }
  w->nheld = 0;
  w->held_run = NULL;
  if (ld_sched_status(r->s) != LD_SCHED_RUNNING) pthread_cond_broadcast(&r->pool->main_cv);
}

/* ---- executor side ---- */

int32_t ld_pool_next(ld_pool *p, int32_t wi, int32_t *ids, int32_t max, ld_run **run) {
  worker *w = p->w[wi];
  if (max > MAX_BATCH) max = MAX_BATCH;
  if (w->batch_n > 0) { /* duration per task of the previous batch, overhead included */
    double dt = (ld_pool_now() - w->batch_t0) / w->batch_n;
    w->avg_task = w->avg_task > 0 ? 0.8 * w->avg_task + 0.2 * dt : dt;
    w->batch_n = 0;
  }
  pthread_mutex_lock(&p->mu);
  lua_sethook(w->L, NULL, 0, 0); /* drop an interrupt aimed at the previous batch */
  flush_locked(w, NULL);
  for (;;) {
    if (p->shutdown) {
      pthread_mutex_unlock(&p->mu);
      return -1;
    }
    ld_run *r = p->run;
    if (r != NULL && wi < r->nworkers && !r->stopping && !r->ended) {
      int32_t avail = ld_sched_nready(r->s);
      if (w->last_gen != r->gen) { /* a new graph: forget the old durations */
        w->last_gen = r->gen;
        w->avg_task = 0;
      }
      if (avail > 0) {
        /* several tasks per lock when tasks are short (the lock costs more
         * than they do); one at a time when they are long, so that results
         * are consumed in priority order and memory stays small */
        int32_t batch = (avail + r->nworkers - 1) / r->nworkers;
        int32_t by_time = w->avg_task > 0 ? (int32_t)(BATCH_SECONDS / w->avg_task) : 4;
        if (by_time < 1) by_time = 1;
        if (batch > by_time) batch = by_time;
        if (batch > max) batch = max;
        int32_t k = ld_sched_pop(r->s, ids, batch, wi);
        memcpy(w->held, ids, (size_t)k * sizeof *ids);
        w->nheld = k;
        w->held_run = r;
        if (ld_sched_nready(r->s) > 0 && p->idle > 0) pthread_cond_signal(&p->work_cv);
        *run = r;
        pthread_mutex_unlock(&p->mu);
        w->batch_n = k;
        w->batch_t0 = ld_pool_now();
        return k;
      }
      if (ld_sched_status(r->s) != LD_SCHED_RUNNING) pthread_cond_broadcast(&p->main_cv);
    }
    p->idle++;
    pthread_cond_wait(&p->work_cv, &p->mu);
    p->idle--;
  }
}

int ld_pool_done(ld_pool *p, int32_t wi, int32_t id, int32_t kind, double num, const char *data,
                 size_t len, ld_buffer **bufs, int32_t nbufs, double t0, double t1) {
  worker *w = p->w[wi];
  ld_run *r = w->held_run;
  ld_value *v = &r->slots[id];
  v->kind = kind;
  v->num = num;
  v->len = 0;
  int64_t nbytes = 8;
  if (data != NULL && (kind == LD_VAL_STR || kind == LD_VAL_ENC)) {
    v->data = malloc(len + 1);
    if (v->data == NULL) goto oom;
    memcpy(v->data, data, len);
    v->data[len] = '\0';
    v->len = len;
    nbytes = (int64_t)len;
  }
  if (pool_retain_bufs(bufs, nbufs, &v->bufs) != 0) goto oom;
  v->nbufs = nbufs > 0 ? nbufs : 0;
  for (int32_t i = 0; i < v->nbufs; i++) nbytes += (int64_t)v->bufs[i]->size;
  if (w->ndone == MAX_BATCH) { /* more results than one batch: report now */
    pthread_mutex_lock(&p->mu);
    for (int32_t i = 0; i < w->ndone; i++) {
      done_rec *d = &w->done[i];
      if (ld_sched_finish(r->s, d->id, &r->slots[d->id], d->nbytes, wi, d->t0, d->t1) != 0)
        value_clear(&r->slots[d->id]);
    }
    w->ndone = 0;
    if (ld_sched_nready(r->s) > 0 && p->idle > 0) pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
  }
  w->done[w->ndone++] = (done_rec){id, nbytes, t0, t1};

  return 0;
oom:
  value_clear(v);
  static const char msg[] = "out of memory storing the task's result";
  ld_pool_fail(p, wi, id, msg, sizeof msg - 1, t0, t1);
  return -1;
}

void ld_pool_fail(ld_pool *p, int32_t wi, int32_t id, const char *msg, size_t len, double t0,
                  double t1) {
  worker *w = p->w[wi];
  pthread_mutex_lock(&p->mu);
  ld_run *r = w->held_run;
  if (r != NULL) {
    run_fail_locked(r, wi, id, msg, len, t0, t1);
    /* reported: the run may end (and be freed) before this thread's next
     * ld_pool_next, which must not look at the task again */
    for (int32_t i = 0; i < w->nheld; i++)
      if (w->held[i] == id) {
        w->held[i] = w->held[--w->nheld];
        break;
      }
    if (w->nheld == 0 && w->ndone == 0) w->held_run = NULL;
  }
  pthread_mutex_unlock(&p->mu);
}

int64_t ld_run_generation(const ld_run *r) { return r->gen; }

int ld_run_timed(const ld_run *r) { return r->timed; }

int ld_run_stopping(const ld_run *r) {
  return atomic_load_explicit(&((ld_run *)r)->stopping, memory_order_relaxed);
}

const int32_t *ld_run_deps(const ld_run *r, int32_t id, int32_t *n) {
  return ld_sched_deps(r->s, id, n);
}

const ld_value *ld_run_input(const ld_run *r, int32_t id) {
  if (id < 0 || id >= r->n) return NULL;
  return &r->slots[id];
}

/* ---- threads ---- */

static void cancel_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "cancelled");
}

/* Cancels run R (its queued tasks never start); with INTERRUPT, also raises
 * "cancelled" in the tasks its threads are running (through a debug hook:
 * a task in a JIT-compiled loop does not see it). Caller holds the lock. */
static void cancel_locked(ld_run *r, int interrupt) {
  ld_pool *p = r->pool;
  r->stopping = 1;
  ld_sched_cancel(r->s);
  if (interrupt) {
    for (int i = 0; i < p->n; i++) {
      worker *w = p->w[i];
      if (w->held_run == r && w->nheld > 0 && w->L != NULL)
        lua_sethook(w->L, cancel_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
    }
  }
  pthread_cond_broadcast(&p->work_cv);
  pthread_cond_broadcast(&p->main_cv);
}

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Loads the executor module: require(EXECUTOR_MODULE). Protected. */
static int load_executor(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, EXECUTOR_MODULE);
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "serve");
  if (!lua_isfunction(L, -1)) return luaL_error(L, EXECUTOR_MODULE ".serve is not a function");
  lua_setfield(L, LUA_REGISTRYINDEX, "ldask.pool.serve");
  return 0;
}

static void *thread_main(void *arg) {
  worker *w = arg;
  ld_pool *p = w->pool;
  char *err = NULL;
  char name[16];
  snprintf(name, sizeof name, "ldask-exec-%d", w->idx % 1000);
  pthread_setname_np(pthread_self(), name); /* shows in top -H and gdb */
  ld_xstate *xs = ld_xstate_new(p->path, p->cpath, &err);
  lua_State *L = xs ? ld_xstate_L(xs) : NULL;
  if (L != NULL) {
    lua_pushcfunction(L, traceback);
    lua_pushcfunction(L, load_executor);
    if (lua_pcall(L, 0, 0, -2) != 0) {
      err = join_err("executor thread: cannot load " EXECUTOR_MODULE, lua_tostring(L, -1));
    }
    lua_settop(L, 0);
  }
  pthread_mutex_lock(&p->mu);
  w->xs = xs;
  w->L = L;
  w->err = err;
  w->state = (L != NULL && err == NULL) ? W_READY : W_FAILED;
  pthread_cond_broadcast(&p->main_cv);
  pthread_mutex_unlock(&p->mu);
  if (w->state != W_READY) return NULL;
  int crashes = 0;
  for (;;) {
    lua_pushcfunction(L, traceback);
    lua_getfield(L, LUA_REGISTRYINDEX, "ldask.pool.serve");
    lua_pushlightuserdata(L, p);
    lua_pushinteger(L, w->idx);
    int rc = lua_pcall(L, 2, 0, -4);
    const char *msg = rc ? lua_tostring(L, -1) : NULL;
    pthread_mutex_lock(&p->mu);
    lua_sethook(L, NULL, 0, 0);
    int had = w->nheld > 0;
    if (rc != 0) flush_locked(w, msg ? msg : "executor loop failed");
    int stop = p->shutdown || rc == 0;
    if (!stop && !had && ++crashes >= 3) {
      w->state = W_DEAD;
      fprintf(stderr, "ldask: executor thread %d stopped: %s\n", w->idx, msg ? msg : "?");
      pthread_cond_broadcast(&p->main_cv);
      stop = 1;
    }
    if (had) crashes = 0;
    pthread_mutex_unlock(&p->mu);
    lua_settop(L, 0);
    if (stop) break;
  }
  return NULL;
}

static int start_threads(ld_pool *p, int n, char **err) {
  if (n <= p->n) return 0;
  /* several executor threads are the parallelism: BLAS in each task's own
   * thread (docs/array.md, "Implementation notes") */
  if (n >= 2) ld_blas_one_thread();
  worker **nw = realloc(p->w, (size_t)n * sizeof *nw);
  if (nw == NULL) goto oom;
  p->w = nw;
  int first = p->n;
  for (int i = first; i < n; i++) {
    worker *w = calloc(1, sizeof *w);
    if (w == NULL) goto oom;
    w->pool = p;
    w->idx = i;
    p->w[i] = w;
    p->n = i + 1;
    if (pthread_create(&w->th, NULL, thread_main, w) != 0) {
      p->n = i;
      free(w);
      *err = dupstr("ld_pool: cannot create an executor thread");
      return -1;
    }
    w->joinable = 1;
  }
  /* wait until every new thread has its state */
  pthread_mutex_lock(&p->mu);
  for (int i = first; i < p->n; i++)
    while (p->w[i]->state == W_STARTING) pthread_cond_wait(&p->main_cv, &p->mu);
  pthread_mutex_unlock(&p->mu);
  for (int i = first; i < p->n; i++)
    if (p->w[i]->state != W_READY) {
      *err = p->w[i]->err ? dupstr(p->w[i]->err) : dupstr("executor state creation failed");
      return -1;
    }
  return 0;
oom:
  *err = dupstr("ld_pool: out of memory");
  return -1;
}

ld_pool *ld_pool_new(int nthreads, const char *path, const char *cpath, char **err) {
  *err = NULL;
  if (nthreads < 1 || nthreads > 1024) {
    *err = int_err("ld_pool_new: nthreads must be in 1..1024, got", nthreads);
    return NULL;
  }
  ld_pool *p = calloc(1, sizeof *p);
  if (p == NULL) {
    *err = dupstr("ld_pool_new: out of memory");
    return NULL;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->work_cv, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&p->main_cv, &ca);
  pthread_condattr_destroy(&ca);
  p->path = path ? dupstr(path) : NULL;
  p->cpath = cpath ? dupstr(cpath) : NULL;
  if (start_threads(p, nthreads, err) != 0) {
    ld_pool_free(p);
    return NULL;
  }
  return p;
}

int ld_pool_grow(ld_pool *p, int nthreads, char **err) {
  *err = NULL;
  if (nthreads > 1024) {
    *err = int_err("ld_pool_grow: nthreads must be at most 1024, got", nthreads);
    return -1;
  }
  return start_threads(p, nthreads, err);
}

int ld_pool_size(const ld_pool *p) { return p->n; }

/* Seconds ld_pool_free waits for threads busy in an interrupted task. */
#define FREE_GRACE 2.0

/* True when a thread of P holds tasks. Caller holds the lock. */
static int busy_locked(const ld_pool *p) {
  for (int i = 0; i < p->n; i++)
    if (p->w[i]->nheld > 0) return 1;
  return 0;
}

void ld_pool_free(ld_pool *p) {
  if (p == NULL) return;
  pthread_mutex_lock(&p->mu);
  p->shutdown = 1;
  if (p->run != NULL && !p->run->ended) {
    /* a run still active (the program exits mid-compute): interrupt its
     * tasks and give them FREE_GRACE seconds; threads still busy after that
     * (a JIT-compiled loop) cannot be joined, so the pool is left to them */
    cancel_locked(p->run, 1);
    double until = ld_pool_now() + FREE_GRACE;
    while (busy_locked(p) && ld_pool_now() < until) {
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      ts.tv_nsec += 50 * 1000000L;
      if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&p->main_cv, &p->mu, &ts);
    }
    if (busy_locked(p)) {
      pthread_mutex_unlock(&p->mu);
      return;
    }
  }
  pthread_cond_broadcast(&p->work_cv);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->n; i++) {
    worker *w = p->w[i];
    if (w->joinable) pthread_join(w->th, NULL);
    ld_xstate_free(w->xs);
    free(w->err);
    free(w);
  }
  free(p->w);
  free(p->path);
  free(p->cpath);
  pthread_cond_destroy(&p->work_cv);
  pthread_cond_destroy(&p->main_cv);
  pthread_mutex_destroy(&p->mu);
  free(p->spare_slots);
  free(p->spare_payloads);
  ld_sched_free(p->spare_sched);
  free(p);
}

/* ---- runs ---- */

ld_run *ld_run_new(ld_pool *p, int32_t n) {
  if (n < 0) return NULL;
  ld_run *r = calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  r->pool = p;
  r->n = n;
  r->err_id = -1;
  if (p->spare_sched != NULL) { /* its storage reused: see pool_give_arrays */
    r->s = p->spare_sched;
    p->spare_sched = NULL;
    ld_sched_reset(r->s, release_slot, r);
  } else {
    r->s = ld_sched_new(release_slot, r);
  }
  pool_take_arrays(p, r);
  if (r->s == NULL || r->slots == NULL || r->payloads == NULL) {
    ld_run_free(r);
    return NULL;
  }
  return r;
}

ld_sched *ld_run_sched(ld_run *r) { return r->s; }

int ld_run_start(ld_run *r, int nworkers) {
  ld_pool *p = r->pool;
  pthread_mutex_lock(&p->mu);
  if (p->run != NULL || r->started) {
    pthread_mutex_unlock(&p->mu);
    return -100;
  }
  int rc = ld_sched_start(r->s);
  if (rc != 0) {
    pthread_mutex_unlock(&p->mu);
    return rc;
  }
  r->started = 1;
  r->gen = ++p->gen;
  r->nworkers = nworkers < 1 ? 1 : nworkers > p->n ? p->n : nworkers;
  p->run = r;
  pthread_cond_broadcast(&p->work_cv);
  pthread_mutex_unlock(&p->mu);
  return 0;
}

static int live_workers_locked(ld_run *r) {
  int live = 0;
  for (int i = 0; i < r->nworkers; i++) live += r->pool->w[i]->state == W_READY;
  return live;
}

int ld_run_wait(ld_run *r, int timeout_ms) {
  ld_pool *p = r->pool;
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&p->mu);
  int st;
  for (;;) {
    if (!r->started || r->ended) {
      st = ld_sched_status(r->s);
      break;
    }
    st = ld_sched_status(r->s);
    ld_sched_stats stats;
    ld_sched_get_stats(r->s, &stats);
    if (st != LD_SCHED_RUNNING && stats.processing == 0) {
      r->ended = 1;
      if (p->run == r) p->run = NULL;
      break;
    }
    if (st == LD_SCHED_RUNNING && live_workers_locked(r) == 0) {
      static const char msg[] = "every executor thread of the pool has stopped";
      r->stopping = 1;
      if (r->err_msg == NULL) {
        r->err_msg = dupstr(msg);
        r->err_len = r->err_msg ? strlen(r->err_msg) : 0;
      }
      ld_sched_cancel(r->s);
      continue;
    }
    if (pthread_cond_timedwait(&p->main_cv, &p->mu, &until) != 0) {
      st = LD_SCHED_RUNNING;
      break;
    }
  }
  pthread_mutex_unlock(&p->mu);
  return st;
}

void ld_run_cancel(ld_run *r, int interrupt) {
  ld_pool *p = r->pool;
  pthread_mutex_lock(&p->mu);
  cancel_locked(r, interrupt);
  pthread_mutex_unlock(&p->mu);
}

void ld_run_stats(ld_run *r, ld_sched_stats *out) {
  pthread_mutex_lock(&r->pool->mu);
  ld_sched_get_stats(r->s, out);
  pthread_mutex_unlock(&r->pool->mu);
}

void ld_run_events_enable(ld_run *r, int mask) {
  pthread_mutex_lock(&r->pool->mu);
  ld_sched_events_enable(r->s, mask);
  r->timed = (mask & LD_EV_FINISHED) != 0;
  pthread_mutex_unlock(&r->pool->mu);
}

int32_t ld_run_events(ld_run *r, ld_sched_event *out, int32_t max) {
  pthread_mutex_lock(&r->pool->mu);
  int32_t k = ld_sched_events_drain(r->s, out, max);
  pthread_mutex_unlock(&r->pool->mu);
  return k;
}

int32_t ld_run_error(ld_run *r, const char **msg, size_t *len) {
  *msg = r->err_msg;
  *len = r->err_len;
  return r->err_id;
}

const ld_value *ld_run_result(ld_run *r, int32_t id) {
  if (id < 0 || id >= r->n || ld_sched_state(r->s, id) != LD_TASK_MEMORY) return NULL;
  return &r->slots[id];
}

void ld_run_free(ld_run *r) {
  if (r == NULL) return;
  if (r->started && !r->ended) {
    /* Never free a run threads may still touch: cancel and wait for them. */
    ld_run_cancel(r, 1);
    while (ld_run_wait(r, 1000) == LD_SCHED_RUNNING) {
    }
  }
  /* the engine releases the results it holds into their slots; a small
   * one is kept, emptied, for the pool's next run */
  if (r->s != NULL && r->pool != NULL && r->pool->spare_sched == NULL &&
      ld_sched_bytes(r->s) <= SPARE_MAX_ENGINE) {
    ld_sched_reset(r->s, NULL, NULL);
    r->pool->spare_sched = r->s;
  } else {
    ld_sched_free(r->s);
  }
  if (r->payloads) {
    for (int32_t i = 0; i < r->n; i++) {
      ld_value *v = &r->payloads[i];
      for (int32_t j = 0; j < v->nbufs; j++) ld_buffer_release(v->bufs[j]);
      free(v->bufs);
    }
  }
  for (int32_t k = 0; k < r->nranges; k++) {
    ld_value *v = &r->ranges[k].v;
    for (int32_t j = 0; j < v->nbufs; j++) ld_buffer_release(v->bufs[j]);
    free(v->bufs);
  }
  free(r->ranges);
  for (int32_t j = 0; j < r->prelude.nbufs; j++) ld_buffer_release(r->prelude.bufs[j]);
  free(r->prelude.bufs);
  if (r->slots) /* results taken out of the engine or never handed to it */
    for (int32_t i = 0; i < r->n; i++)
      if (r->slots[i].data || r->slots[i].bufs) value_clear(&r->slots[i]);
  pool_give_arrays(r->pool, r);
  free(r->err_msg);
  free(r);
}
