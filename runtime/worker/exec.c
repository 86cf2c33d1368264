/* exec.c — ldask-worker's executor threads: each owns a LuaJIT state
 * (runtime/lib/xstate.h) running lua/ldask/worker/exec.lua, takes a batch
 * of the highest-priority ready tasks from a shared heap (one lock), runs
 * them and hands their results back to the loop thread together through
 * an ld_wake (core/net/wake.h).
 * A lone short task (a round trip) is waited for awake by the loop thread
 * instead (on_lone), which saves that thread's wake-up. */
#include <lauxlib.h>
#include <lua.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker.h"
#include "xstate.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Monotonic seconds, for the loop's short waits (on_lone). */
static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int ld_wtask_set_result(ld_wtask *t, const char *hdr, size_t len, ld_buffer *const *bufs,
                        uint32_t n) {
  ld_buffer **out = n == 0 ? &t->out1 : calloc(n + 1, sizeof *out);
  if (out == NULL) return -1;
  out[0] = ld_buffer_new_small(len); /* the codec header: parsed, not array data */
  if (out[0] == NULL) {
    if (out != &t->out1) free(out);
    return -1;
  }
  memcpy(out[0]->data, hdr, len);
  for (uint32_t i = 0; i < n; i++) out[i + 1] = ld_buffer_retain(bufs[i]);
  t->out = out;
  t->nout = n + 1;
  t->ok = 1;
  return 0;
}

static char *dupn(const char *s, size_t n) {
  char *r = malloc(n + 1);
  if (r) {
    memcpy(r, s, n);
    r[n] = '\0';
  }
  return r;
}

void ld_wtask_set_error(ld_wtask *t, const char *msg, size_t mlen, const char *tb, size_t tblen) {
  free(t->err);
  free(t->tb);
  t->err = dupn(msg, mlen);
  t->tb = dupn(tb, tblen);
  t->ok = 0;
}

void ld_wtask_free(ld_wtask *r) {
  if (r == NULL) return;
  for (uint32_t i = 0; i < r->ndeps; i++) {
    for (uint32_t j = 0; j < r->dep_nframes[i]; j++) ld_buffer_release(r->dep_frames[i][j]);
    free(r->dep_frames[i]);
  }
  if (!r->in_task) { /* a client's run (requests.c): its own arrays */
    free(r->dep_keys);
    free(r->dep_keylens);
    free(r->dep_frames);
    free(r->dep_nframes);
  }
  for (uint32_t i = 0; i < r->nout; i++) ld_buffer_release(r->out[i]);
  if (r->out != &r->out1) free(r->out);
  free(r->err);
  free(r->tb);
  if (r->owns_payload) {
    for (uint32_t i = 0; i < r->npayload; i++) ld_buffer_release(r->payload[i]);
    free(r->payload);
  }
  if (!r->in_task) free(r);
}

typedef struct thread_arg {
  wk_state *w;
  int index;
} thread_arg;

/* ---- ready heap (lower prio first), under w->mu ---- */

/* An entry: the run and its priority (kept here: no run is read to
 * compare). */
typedef struct wk_ready {
  int64_t prio;
  ld_wtask *r;
} wk_ready;

/* A client's run (no owner) goes before every task. */
static int64_t prio_of(const ld_wtask *r) { return r->owner ? r->owner->prio : INT64_MIN; }

static void heap_push(wk_state *w, ld_wtask *r) {
  if (w->nready == w->capready) {
    w->capready = w->capready ? w->capready * 2 : 64;
    wk_ready *n = realloc(w->ready, (size_t)w->capready * sizeof *n);
    if (n == NULL) abort();
    w->ready = n;
  }
  wk_ready e = {prio_of(r), r};
  int i = w->nready++;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (w->ready[p].prio <= e.prio) break;
    w->ready[i] = w->ready[p];
    i = p;
  }
  w->ready[i] = e;
}

/* Removes entry AT of the heap and returns its run. */
static ld_wtask *heap_take(wk_state *w, int at) {
  wk_ready *h = w->ready;
  ld_wtask *top = h[at].r;
  wk_ready last = h[--w->nready];
  int n = w->nready;
  if (at == n) return top;
  int i = at;
  /* sift the last entry down from AT, then up if it must */
  for (;;) {
    int l = 2 * i + 1, m = i;
    int64_t best = last.prio;
    if (l < n && h[l].prio < best) m = l, best = h[l].prio;
    if (l + 1 < n && h[l + 1].prio < best) m = l + 1;
    if (m == i) break;
    h[i] = h[m];
    i = m;
  }
  while (i > 0 && h[(i - 1) / 2].prio > last.prio) {
    h[i] = h[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h[i] = last;
  return top;
}

void wk_exec_submit(wk_state *w, ld_wtask *r) {
  if (w->defer > 0) {
    if (w->npending == w->cappending) {
      w->cappending = w->cappending ? 2 * w->cappending : 64;
      ld_wtask **n = realloc(w->pending, (size_t)w->cappending * sizeof *n);
      if (n == NULL) abort();
      w->pending = n;
    }
    w->pending[w->npending++] = r;
    return;
  }
  pthread_mutex_lock(&w->mu);
  heap_push(w, r);
  pthread_mutex_unlock(&w->mu);
  pthread_cond_signal(&w->cv); /* after unlocking: the woken thread can run at once */
}

void wk_exec_defer(wk_state *w) { w->defer++; }

void wk_exec_flush(wk_state *w) {
  if (--w->defer > 0 || w->npending == 0) return;
  int n = w->npending;
  pthread_mutex_lock(&w->mu);
  for (int i = 0; i < n; i++) heap_push(w, w->pending[i]);
  pthread_mutex_unlock(&w->mu);
  w->npending = 0;
  if (n > 1 && w->nthreads > 1)
    pthread_cond_broadcast(&w->cv);
  else
    pthread_cond_signal(&w->cv);
}

/* Empties slot I of B: its task, or NULL when already emptied (claimed or
 * taken back). Any thread; the slot's only synchronization. */
static ld_wtask *slot_take(ld_wbatch *b, int i) {
  return __atomic_exchange_n(&b->task[i], NULL, __ATOMIC_ACQ_REL);
}

/* Under w->mu: takes run R back from the batch that took it when no
 * executor claimed it yet: 1, else 0. */
static int batch_cancel(wk_state *w, ld_wtask *r) {
  if (r->batch == NULL || slot_take(r->batch, r->slot) != r) return 0;
  r->batch = NULL;
  w->executing--;
  return 1;
}

int wk_exec_cancel(wk_state *w, ld_wtask *r) {
  for (int i = 0; i < w->npending; i++) /* (loop thread: no lock) */
    if (w->pending[i] == r) {
      w->pending[i] = w->pending[--w->npending]; /* (the flush pushes by priority) */
      return 1;
    }
  int found = 0;
  pthread_mutex_lock(&w->mu);
  for (int i = 0; i < w->nready; i++) {
    if (w->ready[i].r == r) {
      heap_take(w, i);
      found = 1;
      break;
    }
  }
  if (!found) found = batch_cancel(w, r);
  pthread_mutex_unlock(&w->mu);
  return found;
}

void wk_exec_add_function(wk_state *w, ld_buffer *name, ld_buffer *blob) {
  pthread_mutex_lock(&w->mu);
  if (w->nfn == w->capfn) {
    w->capfn = w->capfn ? w->capfn * 2 : 16;
    w->fn_names = realloc(w->fn_names, (size_t)w->capfn * sizeof(ld_buffer *));
    w->fn_blobs = realloc(w->fn_blobs, (size_t)w->capfn * sizeof(ld_buffer *));
    if (w->fn_names == NULL || w->fn_blobs == NULL) abort();
  }
  w->fn_names[w->nfn] = ld_buffer_retain(name);
  w->fn_blobs[w->nfn] = ld_buffer_retain(blob);
  w->nfn++;
  pthread_mutex_unlock(&w->mu);
}

/* ---- threads ---- */

static int started_ok, started_count;
static char start_err[512];

/* The worker of the executor thread running (set once per thread): what
 * the ld_wexec_* calls of its Lua loop work on. */
static _Thread_local wk_state *tl_w;
/* Its index (0-based): the row of the dashboard's task stream. */
static _Thread_local int tl_index;

wk_state *wk_exec_state(void) { return tl_w; }

/* Whether the calling thread's task has seceded. */
static _Thread_local int tl_seceded;

static void *thread_main(void *p);

/* Starts an extra executor thread (detached) for a seceded task, when the
 * threads not seceded are fewer than nthreads (under w->mu). */
static void start_extra(wk_state *w) {
  if (w->nlive - w->nseceded >= w->nthreads || w->nextra >= WK_MAX_EXTRA) return;
  thread_arg *a = malloc(sizeof *a);
  if (a == NULL) return;
  a->w = w;
  a->index = w->nthreads + w->nextra;
  pthread_t th;
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&th, &at, thread_main, a) != 0) {
    free(a);
  } else {
    w->nlive++;
    w->nextra++;
  }
  pthread_attr_destroy(&at);
}

static void batch_return_rest(wk_state *w, ld_wbatch *b);
static _Thread_local ld_wbatch tl_batch;

int ld_wexec_secede(void) {
  wk_state *w = tl_w;
  if (w == NULL || tl_seceded) return -1;
  pthread_mutex_lock(&w->mu);
  tl_seceded = 1;
  w->nseceded++;
  w->secede_delta++;
  batch_return_rest(w, &tl_batch);
  start_extra(w);
  pthread_mutex_unlock(&w->mu);
  ld_wake_send(&w->done_wake);
  return 0;
}

/* Under w->mu: the calling thread's task rejoins the counted threads. */
static void rejoin_locked(wk_state *w) {
  tl_seceded = 0;
  w->nseceded--;
  w->secede_delta--;
  pthread_cond_broadcast(&w->cv); /* a thread too many may now retire */
}

int ld_wexec_rejoin(void) {
  wk_state *w = tl_w;
  if (w == NULL || !tl_seceded) return -1;
  pthread_mutex_lock(&w->mu);
  rejoin_locked(w);
  pthread_mutex_unlock(&w->mu);
  ld_wake_send(&w->done_wake);
  return 0;
}

/* A batch's time at most (seconds, by recent run times; the Lua loop
 * gives the rest back past it): a ready task of better priority that
 * arrives meanwhile waits for the batch's end. */
#define BATCH_BUDGET 300e-6

/* How many ready tasks the calling thread takes (under w->mu, nready >
 * 0): all up to LD_WBATCH_MAX and the budget, and when several threads
 * run, its share of them, so that the others have work too. */
static int batch_size(const wk_state *w) {
  int n = w->nready;
  if (w->nthreads > 1) n = (n + w->nthreads - 1) / w->nthreads;
  if (w->run_avg > 0 && n > 1) {
    double fit = BATCH_BUDGET / w->run_avg;
    if (fit < n) n = fit < 1 ? 1 : (int)fit;
  }
  return n < LD_WBATCH_MAX ? n : LD_WBATCH_MAX;
}

ld_wbatch *ld_wexec_batch(void) { return &tl_batch; }

double ld_wexec_now(void) { return now(); }

ld_wtask *ld_wexec_claim(ld_wbatch *b, int i) {
  return i >= 0 && i < b->n ? slot_take(b, i) : NULL;
}

int ld_wexec_take(ld_wbatch *b) {
  wk_state *w = tl_w;
  pthread_mutex_lock(&w->mu);
  b->n = b->ndone = b->cur = 0;
  /* more threads than nthreads not seceded (a seceded task came back): this
   * one retires */
  while (!w->stopping && w->nready == 0 && w->nlive - w->nseceded <= w->nthreads)
    pthread_cond_wait(&w->cv, &w->mu);
  if (w->stopping || w->nlive - w->nseceded > w->nthreads) {
    if (!w->stopping) w->nlive--;
    pthread_mutex_unlock(&w->mu);
    return 0;
  }
  int n = batch_size(w);
  for (int i = 0; i < n; i++) {
    ld_wtask *r = heap_take(w, 0);
    r->thread = tl_index;
    r->batch = b;
    r->slot = i;
    __atomic_store_n(&b->task[i], r, __ATOMIC_RELAXED);
  }
  b->n = n;
  w->executing += n;
  pthread_mutex_unlock(&w->mu);
  return n;
}

/* Under w->mu: the tasks of batch B not claimed yet go back to the ready
 * heap (its task seceded and must not hold them, or the batch ran past
 * its time). */
static void batch_return_rest(wk_state *w, ld_wbatch *b) {
  int back = 0;
  for (int i = 0; i < b->n; i++) {
    ld_wtask *r = slot_take(b, i);
    if (r == NULL) continue;
    r->batch = NULL;
    heap_push(w, r);
    back++;
  }
  if (back == 0) return;
  w->executing -= back;
  pthread_cond_broadcast(&w->cv);
}

void ld_wexec_give(ld_wbatch *b) {
  wk_state *w = tl_w;
  int n = b->ndone;
  pthread_mutex_lock(&w->mu);
  batch_return_rest(w, b);
  if (tl_seceded) rejoin_locked(w); /* (told before its result) */
  w->executing -= n;
  for (int i = 0; i < n; i++) { /* a stack: on_done reverses it */
    ld_wtask *r = b->done[i];
    r->batch = NULL;
    r->next = w->done_head;
    w->done_head = r;
  }
  if (n > 0) {
    double per = (b->done[n - 1]->t1 - b->done[0]->t0) / n;
    w->run_avg += (per - w->run_avg) * 0.25;
  }
  b->n = b->ndone = b->cur = 0;
  pthread_mutex_unlock(&w->mu);
  if (n == 0) return;
  atomic_fetch_add_explicit(&w->ndone, (unsigned)n, memory_order_release);
  ld_wake_send(&w->done_wake);
}

int ld_wexec_nfn(void) {
  wk_state *w = tl_w;
  pthread_mutex_lock(&w->mu);
  int n = w->nfn;
  pthread_mutex_unlock(&w->mu);
  return n;
}

int ld_wexec_fn(int i, const char **name, size_t *nlen, const char **blob, size_t *blen) {
  wk_state *w = tl_w;
  pthread_mutex_lock(&w->mu);
  int ok = i >= 0 && i < w->nfn;
  if (ok) {
    /* the buffers are kept until the worker exits: pointers stay valid */
    *name = w->fn_names[i]->data, *nlen = w->fn_names[i]->size;
    *blob = w->fn_blobs[i]->data, *blen = w->fn_blobs[i]->size;
  }
  pthread_mutex_unlock(&w->mu);
  return ok ? 0 : -1;
}

static void *thread_main(void *p) {
  thread_arg *a = p;
  wk_state *w = a->w;
  int a_index = a->index;
  free(a);
  char *err = NULL;
  ld_xstate *xs = ld_xstate_new(w->lua_path, w->lua_cpath, &err);
  lua_State *L = xs ? ld_xstate_L(xs) : NULL;
  int ref_serve = LUA_NOREF;
  if (L) {
    lua_getglobal(L, "require");
    lua_pushliteral(L, "ldask.worker.exec");
    if (lua_pcall(L, 1, 1, 0) != 0) {
      const char *m = lua_tostring(L, -1);
      err = dupn(m ? m : "?", strlen(m ? m : "?"));
    } else {
      lua_getfield(L, -1, "serve");
      ref_serve = luaL_ref(L, LUA_REGISTRYINDEX);
      /* What tasks see through ldask.client.get_worker(). */
      lua_getfield(L, -1, "set_worker");
      lua_pushstring(L, w->name);
      lua_pushstring(L, w->address);
      lua_pushstring(L, w->local_dir ? w->local_dir : "");
      lua_pushinteger(L, w->nthreads);
      if (lua_pcall(L, 4, 0, 0) != 0) lua_pop(L, 1);
      lua_pop(L, 1);
    }
  }
  pthread_mutex_lock(&w->mu);
  if (a_index >= w->nthreads) { /* an extra thread: nobody waits for its start */
    if (err) {
      fprintf(stderr, "ldask-worker %s: cannot start an extra executor thread: %s\n", w->name, err);
      free(err);
      w->nlive--;
      w->nextra--;
      pthread_cond_broadcast(&w->cv);
      pthread_mutex_unlock(&w->mu);
      ld_xstate_free(xs);
      return NULL;
    }
    pthread_mutex_unlock(&w->mu);
  } else {
    started_count++;
    if (err) {
      snprintf(start_err, sizeof start_err, "cannot start an executor state: %s", err);
      free(err);
    } else {
      started_ok++;
    }
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
  }
  if (ref_serve == LUA_NOREF) {
    ld_xstate_free(xs);
    return NULL;
  }
  /* The task loop runs in Lua (exec.serve, compiled as a whole by the
   * JIT), calling ld_wexec_take and ld_wexec_give once per batch; it
   * returns when the worker stops. */
  tl_w = w;
  tl_index = a_index;
  for (;;) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref_serve);
    if (lua_pcall(L, 0, 0, 0) == 0) break;
    const char *m = lua_tostring(L, -1);
    fprintf(stderr, "ldask-worker %s: executor loop failed, restarting it: %s\n", w->name,
            m ? m : "(error object is not a string)");
    lua_pop(L, 1);
  }
  ld_xstate_free(xs);
  if (a_index >= w->nthreads) { /* an extra thread (detached) */
    pthread_mutex_lock(&w->mu);
    w->nextra--;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
  }
  return NULL;
}

static void on_done(ld_wake *k) {
  wk_state *w = k->data;
  pthread_mutex_lock(&w->mu);
  ld_wtask *list = w->done_head;
  w->done_head = NULL;
  int delta = w->secede_delta;
  w->secede_delta = 0;
  pthread_mutex_unlock(&w->mu);
  if (delta != 0) wk_send_secede(w, delta);
  /* Reverse to completion order. */
  ld_wtask *rev = NULL;
  while (list) {
    ld_wtask *n = list->next;
    list->next = rev;
    rev = list;
    list = n;
  }
  while (rev) {
    ld_wtask *n = rev->next;
    if (rev->owner)
      wk_task_done(w, rev);
    else
      wk_run_done(w, rev);
    rev = n;
  }
  wk_fin_flush(w); /* this turn's task-finished reports, as one message */
}

/* Tasks shorter than this on average are waited for awake (see on_lone). */
#define LONE_TASK_MAX 50e-6

/* Runs before the loop blocks. When exactly one task is in the executors
 * (queued or running), nothing else is, and tasks have been short, the
 * loop waits for it awake for about twice the usual run time plus a
 * wake-up, instead of sleeping in epoll and being woken by the executor:
 * on a lone round trip that saves a thread wake-up on the critical path.
 * The result is handled (and task-finished written) right away; the
 * executor's ld_wake still arrives and then finds nothing. Throughput
 * work (several tasks queued per worker) never waits here. */
static void on_lone(uv_prepare_t *p) {
  wk_state *w = p->data;
  pthread_mutex_lock(&w->mu);
  int lone = w->executing + w->nready == 1 && w->done_head == NULL && !w->stopping &&
             w->run_avg < LONE_TASK_MAX;
  double budget = 2 * w->run_avg + 30e-6;
  unsigned seen = atomic_load_explicit(&w->ndone, memory_order_acquire);
  pthread_mutex_unlock(&w->mu);
  if (!lone) return;
  double until = mono() + budget;
  do {
    if (atomic_load_explicit(&w->ndone, memory_order_acquire) != seen) {
      on_done(&w->done_wake);
      ld_conn_flush(w->sched);
      return;
    }
    sched_yield(); /* the executor may need this core */
  } while (mono() < until);
}

int wk_exec_start(wk_state *w, char *err, size_t errlen) {
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  w->done_wake.data = w;
  int rc = ld_wake_init(w->loop, &w->done_wake, on_done);
  if (rc < 0) {
    snprintf(err, errlen, "cannot create the executors' wake-up: %s", uv_strerror(rc));
    return -1;
  }
  uv_prepare_init(w->loop, &w->lone);
  w->lone.data = w;
  uv_prepare_start(&w->lone, on_lone);
  w->threads = calloc((size_t)w->nthreads, sizeof *w->threads);
  if (w->threads == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (int i = 0; i < w->nthreads; i++) {
    thread_arg *a = malloc(sizeof *a);
    a->w = w;
    a->index = i;
    if (pthread_create(&w->threads[i], NULL, thread_main, a) != 0) {
      free(a);
      snprintf(err, errlen, "cannot start executor thread %d", i);
      return -1;
    }
    w->nstarted++;
    w->nlive++;
  }
  pthread_mutex_lock(&w->mu);
  while (started_count < w->nstarted) pthread_cond_wait(&w->cv, &w->mu);
  int ok = started_ok == w->nstarted;
  pthread_mutex_unlock(&w->mu);
  if (!ok) {
    snprintf(err, errlen, "%s", start_err);
    return -1;
  }
  return 0;
}

void wk_exec_stop(wk_state *w) {
  pthread_mutex_lock(&w->mu);
  w->stopping = 1;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  for (int i = 0; i < w->nstarted; i++) pthread_join(w->threads[i], NULL);
  w->nstarted = 0;
  pthread_mutex_lock(&w->mu);
  while (w->nextra > 0) pthread_cond_wait(&w->cv, &w->mu); /* detached extra threads */
  pthread_mutex_unlock(&w->mu);
  if (!uv_is_closing((uv_handle_t *)&w->lone)) uv_close((uv_handle_t *)&w->lone, NULL);
}
