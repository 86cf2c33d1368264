/* tasks.c — ldask-scheduler's side records of tasks (payloads, who_has,
 * the worker running each task, error text, gathers) and the hooks through
 * which the engine (core/sched, live mode) tells the scheduler what its
 * transitions mean for workers and clients: stop a task on its worker,
 * free released data, notify errors and cancellations, free a forgotten
 * record. Every transition is the engine's; this file only reacts and
 * feeds it worker and client events. Runs on the scheduler's loop thread. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"

void *sc_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (q == NULL) {
    fprintf(stderr, "ldask-scheduler: out of memory\n");
    abort();
  }
  return q;
}

/* An owned NUL-terminated copy of the N bytes at S (aborts when out of
 * memory). */
static char *dupn(const char *s, size_t n) {
  char *r = sc_xrealloc(NULL, n + 1);
  memcpy(r, s, n);
  r[n] = '\0';
  return r;
}

/* ---- side records ---- */

const sc_rare sc_no_rare;

/* Every task has one: keep it small (rare fields go in sc_rare). */
_Static_assert(sizeof(sc_task) <= 96, "sc_task grew past 96 bytes");

sc_rare *sc_rw(sc_task *t) {
  if (t->rare == NULL) {
    t->rare = calloc(1, sizeof *t->rare);
    if (t->rare == NULL) sc_xrealloc(NULL, (size_t)-1);
  }
  return t->rare;
}

const char *sc_key(const sc_state *st, const sc_task *t, size_t *len) {
  return ld_sched_key(st->eng, t->id, len);
}

int sc_state_of(const sc_state *st, const sc_task *t) { return ld_sched_state(st->eng, t->id); }

sc_task *sc_task_new(sc_state *st, const char *key, size_t len, int64_t prio, int *rc) {
  int32_t id = ld_sched_create(st->eng, key, len, prio);
  *rc = id < 0 ? id : 0;
  if (id < 0) return NULL;
  int32_t page = id >> SC_PAGE_BITS;
  if (page >= st->npages) {
    st->pages = sc_xrealloc(st->pages, (size_t)(page + 1) * sizeof *st->pages);
    while (st->npages <= page) {
      st->pages[st->npages] = calloc(SC_PAGE, sizeof(sc_task));
      if (st->pages[st->npages] == NULL) sc_xrealloc(NULL, (size_t)-1);
      st->npages++;
    }
  }
  sc_task *t = sc_side(st, id);
  assert(t->rare == NULL); /* (forgotten records have none) */
  memset(t, 0, sizeof *t);
  t->id = id;
  t->prefix = sc_events_prefix_of(&st->ev, key, len);
  return t;
}

sc_worker *const *sc_who_has(const sc_task *t) { return t->capwho ? t->who_has : &t->who_has1; }

void sc_frames_drop(sc_frames *f) {
  ld_buffer *const *p = sc_frames_ptr(f);
  for (uint32_t i = 0; i < f->n; i++) ld_buffer_release(p[i]);
  if (f->n > 1) free(f->many);
  f->many = NULL;
  f->one = NULL;
  f->n = 0;
}

/* (SC_COMPACT_MAX, sched.h. main.c has the frame readers receive frames up
 * to that size compact in the first place, ld_frame_set_unaligned_max:
 * what is copied here is what came otherwise.) */

/* A reference to B to keep for long: a compact copy when B is small and
 * its allocation has slack, else B retained. */
static ld_buffer *keep_frame(ld_buffer *b) {
  const char *after = (const char *)(b + 1);
  if (b->size > SC_COMPACT_MAX || b->release != NULL || (const char *)b->data == after)
    return ld_buffer_retain(b); /* large, wrapped, or already compact */
  ld_buffer *c = ld_buffer_new_small(b->size);
  if (c == NULL) return ld_buffer_retain(b);
  if (b->size) memcpy(c->data, b->data, b->size);
  return c;
}

void sc_frames_set(sc_frames *f, ld_buffer *const *frames, uint32_t n) {
  sc_frames_drop(f);
  if (n > 1) f->many = sc_xrealloc(NULL, n * sizeof *f->many);
  ld_buffer **p = n > 1 ? f->many : &f->one;
  for (uint32_t i = 0; i < n; i++) p[i] = keep_frame(frames[i]);
  f->n = n;
}

/* Records that W holds the result of T (once). */
static void add_holder(sc_task *t, sc_worker *w) {
  sc_worker *const *who = sc_who_has(t);
  for (int i = 0; i < t->nwho; i++)
    if (who[i] == w) return;
  if (t->nwho == 0 && t->capwho == 0) {
    t->who_has1 = w;
  } else {
    if (t->capwho == 0) {
      sc_worker *first = t->who_has1; /* (shares its place with who_has) */
      t->capwho = 4;
      t->who_has = sc_xrealloc(NULL, 4 * sizeof(sc_worker *));
      t->who_has[0] = first;
    } else if (t->nwho == t->capwho) {
      t->capwho *= 2;
      t->who_has = sc_xrealloc(t->who_has, (size_t)t->capwho * sizeof(sc_worker *));
    }
    t->who_has[t->nwho] = w;
  }
  t->nwho++;
  w->nkeys++;
  w->nbytes += t->nbytes;
}

void sc_add_holder(sc_task *t, sc_worker *w) { add_holder(t, w); }

/* Removes holder number I of T (the map entry and the byte count). */
static sc_worker *unhold(sc_task *t, int i) {
  sc_worker **who = (sc_worker **)sc_who_has(t);
  sc_worker *w = who[i];
  who[i] = who[--t->nwho];
  w->nkeys--;
  w->nbytes -= t->nbytes;
  return w;
}

/* Drops the data of T on every holder. */
static void drop_data(sc_task *t) {
  sc_frames_drop(&t->result);
  while (t->nwho > 0) sc_send_free(unhold(t, t->nwho - 1), t);
}

void sc_unassign(sc_state *st, sc_task *t) {
  sc_worker *w = t->processing_on;
  if (w == NULL) return;
  t->processing_on = NULL;
  w->nprocessing--;
  if (sc_r(t)->need || st->nres_parked > 0) sc_res_give(st, t, w);
  if (st->steal) sc_steal_count(st, t, 0);
  if (sc_r(t)->steal_to) sc_steal_cancel(st, t, w);
}

/* T no longer runs on its worker: the worker is told to drop it (when
 * alive) and its count goes down. */
static void stop_processing(sc_state *st, sc_task *t) {
  sc_worker *w = t->processing_on;
  if (w == NULL) return;
  sc_unassign(st, t);
  if (w->alive) sc_send_free(w, t);
}

/* ---- the engine's hooks ---- */

/* The engine's hooks (ld_sched_hooks): CTX is the sc_state. */
static void hook_stop(void *ctx, int32_t id) { stop_processing(ctx, sc_side(ctx, id)); }

static void hook_released(void *ctx, int32_t id) { drop_data(sc_side(ctx, id)); }

/* Sets the error text of T (copies). */
static void set_error(sc_task *t, const char *msg, size_t mlen, const char *tb, size_t tblen) {
  char *m = dupn(msg, mlen), *b = dupn(tb, tblen); /* MSG may be t's own text */
  sc_rare *r = sc_rw(t);
  free(r->err_msg);
  free(r->err_tb);
  free(r->err_key);
  r->err_msg = m;
  r->err_tb = b;
  r->err_key = NULL;
}

static void hook_erred(void *ctx, int32_t id, int32_t cause, int reason) {
  sc_state *st = ctx;
  sc_task *t = sc_side(st, id), *c = sc_side(st, cause);
  char msg[400];
  size_t klen;
  const char *key = sc_key(st, t, &klen);
  switch (reason) {
    case LD_ERR_DEP:
      set_error(t, sc_r(c)->err_msg ? sc_r(c)->err_msg : "",
                sc_r(c)->err_msg ? strlen(sc_r(c)->err_msg) : 0,
                sc_r(c)->err_tb ? sc_r(c)->err_tb : "",
                sc_r(c)->err_tb ? strlen(sc_r(c)->err_tb) : 0);
      /* the error names the task that failed first, as dask's does */
      if (sc_r(c)->err_key) {
        sc_rw(t)->err_key = dupn(sc_r(c)->err_key, strlen(sc_r(c)->err_key));
      } else {
        size_t clen;
        const char *ckey = sc_key(st, c, &clen);
        sc_rw(t)->err_key = dupn(ckey, clen);
      }
      break;
    case LD_ERR_LOST:
      if (t->scattered)
        snprintf(msg, sizeof msg,
                 "the data of scattered key '%s' was lost with its worker and cannot be "
                 "recomputed",
                 key);
      else
        snprintf(msg, sizeof msg, "key '%s' was lost and has no task to recompute it", key);
      t->lost = 1;
      set_error(t, msg, strlen(msg), "", 0);
      break;
    case LD_ERR_CANCELLED:
      snprintf(msg, sizeof msg, "dependency '%s' of '%s' was cancelled",
               ld_sched_key(st->eng, cause, NULL), key);
      set_error(t, msg, strlen(msg), "", 0);
      break;
    case LD_ERR_NOMEM:
      snprintf(msg, sizeof msg, "the scheduler ran out of memory queueing '%s'", key);
      set_error(t, msg, strlen(msg), "", 0);
      break;
    default:
      if (sc_r(t)->err_msg == NULL) set_error(t, "", 0, "", 0);
  }
  ld_sched_info info;
  ld_sched_info_of(st->eng, id, &info);
  if (info.wants > 0 || sc_r(t)->ngather > 0) sc_notify_key(st, t, "key-erred");
  if (t->rare) t->rare->ngather = 0;
}

static void hook_cancelled(void *ctx, int32_t id) {
  sc_state *st = ctx;
  sc_task *t = sc_side(st, id);
  sc_notify_key(st, t, "key-cancelled");
  if (t->rare) t->rare->ngather = 0;
}

/* Frees everything the side record of ID holds and marks it unused. */
static void hook_forget(void *ctx, int32_t id) {
  sc_state *st = ctx;
  sc_task *t = sc_side(st, id);
  stop_processing(st, t);
  drop_data(t);
  sc_frames_drop(&t->payload);
  sc_rare *r = t->rare;
  if (r) {
    free(r->need);
    for (int i = 0; i < r->nrestrict; i++) free(r->restrict_to[i]);
    free(r->restrict_to);
    free(r->want_more);
    free(r->gather_clients);
    free(r->err_msg);
    free(r->err_tb);
    free(r->err_key);
    free(r);
  }
  if (t->capwho) free(t->who_has);
  memset(t, 0, sizeof *t);
  t->id = -1;
}

static const ld_sched_hooks hooks = {hook_stop, hook_released, hook_erred, hook_cancelled,
                                     hook_forget};

int sc_tasks_init(sc_state *st) {
  st->eng = ld_sched_new_live(&hooks, st);
  return st->eng ? 0 : -1;
}

/* ---- events from workers ---- */

/* T is in memory: the clients waiting to gather it get its data (or, when
 * they want it and it is small, already have it with keys-finished). */
static void tell_gatherers(sc_state *st, sc_task *t) {
  int n = sc_r(t)->ngather;
  int *ids = sc_xrealloc(NULL, (size_t)n * sizeof *ids);
  memcpy(ids, sc_r(t)->gather_clients, (size_t)n * sizeof *ids);
  if (t->rare) t->rare->ngather = 0;
  for (int i = 0; i < n; i++) {
    /* A client that wants the key got its small value with keys-finished. */
    if (t->result.n > 0 && sc_wanted_by(t, ids[i]) && sc_find_client(st, ids[i])) continue;
    sc_request_data(st, t, ids[i]);
  }
  free(ids);
}

void sc_finished(sc_state *st, sc_worker *w, sc_task *t, int64_t nbytes, ld_buffer *const *data,
                 uint32_t ndata) {
  int state = sc_state_of(st, t);
  if (state == LD_TASK_MEMORY && sc_replica_arrived(st, w, t)) return; /* a copy (replicate.c) */
  if (state == LD_TASK_MEMORY) { /* a second copy: keep it as a replica */
    add_holder(t, w);
    return;
  }
  if (state != LD_TASK_PROCESSING || t->processing_on != w) {
    sc_send_free(w, t); /* stale: rescheduled or cancelled meanwhile */
    return;
  }
  sc_unassign(st, t);
  t->nbytes = nbytes;
  add_holder(t, w);
  if (ndata > 0) sc_frames_set(&t->result, data, ndata);
  /* The engine decides what becomes ready and what is released; a key
   * only gathered (nobody wants it) is pinned until its gathers are sent. */
  int32_t id = t->id;
  ld_sched_info info;
  ld_sched_info_of(st->eng, id, &info);
  int pin = info.wants == 0 && sc_r(t)->ngather > 0;
  if (pin) ld_sched_want(st->eng, id);
  ld_sched_finish(st->eng, id, NULL, nbytes, w->id, 0, 0);
  if (info.wants > 0) sc_notify_key(st, t, "key-finished");
  if (sc_r(t)->ngather > 0) tell_gatherers(st, t);
  if (pin) ld_sched_unwant(st->eng, id);
}

void sc_erred(sc_state *st, sc_task *t, const char *msg, size_t mlen, const char *tb,
              size_t tblen) {
  int state = sc_state_of(st, t);
  if (state == LD_TASK_ERRED || state == LD_TASK_MEMORY) return;
  set_error(t, msg, mlen, tb, tblen);
  ld_sched_fail(st->eng, t->id, -1, 0, 0);
}

void sc_failed_on_worker(sc_state *st, sc_worker *w, sc_task *t, const char *msg, size_t mlen,
                         const char *tb, size_t tblen) {
  if (sc_state_of(st, t) != LD_TASK_PROCESSING || t->processing_on != w) return; /* stale */
  if (t->retries > 0) {
    t->retries--;
    sc_unassign(st, t);
    ld_sched_requeue(st->eng, t->id, 0);
    ld_sched_compute(st->eng, t->id);
    return;
  }
  sc_erred(st, t, msg, mlen, tb, tblen);
}

void sc_missing_input(sc_state *st, sc_worker *w, sc_task *t) {
  if (sc_state_of(st, t) != LD_TASK_PROCESSING || t->processing_on != w) return;
  sc_unassign(st, t);
  ld_sched_requeue(st->eng, t->id, 0);
  ld_sched_compute(st->eng, t->id);
}

void sc_remove_holder(sc_state *st, sc_task *t, sc_worker *w) {
  sc_worker *const *who = sc_who_has(t);
  for (int i = 0; i < t->nwho; i++) {
    if (who[i] != w) continue;
    unhold(t, i);
    if (t->nwho == 0 && sc_state_of(st, t) == LD_TASK_MEMORY) {
      /* the last copy: recomputed if something needs it */
      sc_frames_drop(&t->result);
      int32_t id = t->id;
      int computing = ld_sched_lost(st->eng, id);
      if (computing == 0 && ld_sched_state(st->eng, id) == LD_TASK_RELEASED &&
          sc_side(st, id)->id == id && sc_r(sc_side(st, id))->ngather > 0)
        ld_sched_compute(st->eng, id);
    }
    return;
  }
}

void sc_worker_gone(sc_state *st, sc_worker *w, const char *reason) {
  if (!w->alive) return;
  w->alive = 0;
  sc_batch_drop(&w->compute); /* its tasks are requeued below */
  fprintf(stderr, "ldask-scheduler: worker %s (%s) removed: %s\n", w->name, w->addr, reason);
  for (sc_worker **pp = &st->workers; *pp; pp = &(*pp)->next) {
    if (*pp == w) {
      *pp = w->next;
      break;
    }
  }
  st->nworkers--;
  if (st->last_root == w) st->last_root = NULL;
  sc_requests_worker_gone(st, w, reason);
  sc_replicas_worker_gone(st, w);
  sc_send_worker_removed(st, w);
  /* Tasks it was running go back to the queue, or fail after 3 deaths. */
  size_t n = 0, cap = 16;
  int32_t *running = sc_xrealloc(NULL, cap * sizeof *running);
  int32_t limit = ld_sched_id_limit(st->eng);
  for (int32_t id = 0; id < limit; id++) {
    if (ld_sched_state(st->eng, id) != LD_TASK_PROCESSING) continue;
    sc_task *t = sc_side(st, id);
    if (t->processing_on != w) continue;
    sc_unassign(st, t);
    ld_sched_requeue(st->eng, id, 1);
    if (n == cap) running = sc_xrealloc(running, (cap *= 2) * sizeof *running);
    running[n++] = id;
  }
  assert(w->nprocessing == 0);
  w->nprocessing = 0;
  /* Results it held: recomputed when still needed. (Records forgotten on
   * the way are FREE, with no holders.) */
  for (int32_t id = 0; id < limit && w->nkeys > 0; id++) {
    int state = ld_sched_state(st->eng, id);
    if (state == LD_TASK_FREE || state < 0) continue;
    sc_task *t = sc_side(st, id);
    if (t->nwho > 0) sc_remove_holder(st, t, w);
  }
  for (size_t k = 0; k < n; k++) {
    int32_t id = running[k];
    if (ld_sched_state(st->eng, id) != LD_TASK_WAITING) continue;
    sc_task *t = sc_side(st, id);
    ld_sched_info info;
    ld_sched_info_of(st->eng, id, &info);
    if (info.deaths >= 3) {
      char msg[400];
      snprintf(msg, sizeof msg,
               "task '%s' was running on %d workers that died (the last: %s at %s, %s); it may "
               "be what kills them",
               sc_key(st, t, NULL), info.deaths, w->name, w->addr, reason);
      sc_erred(st, t, msg, strlen(msg), "", 0);
    } else {
      ld_sched_compute(st->eng, id);
    }
  }
  free(running);
  sc_fill(st);
}

/* ---- clients ---- */

int sc_wanted_by(const sc_task *t, int client_id) {
  if (t->nwant == 0) return 0;
  if (t->want1 == client_id) return 1;
  for (int i = 0; i < t->nwant - 1; i++)
    if (sc_r(t)->want_more[i] == client_id) return 1;
  return 0;
}

void sc_want(sc_state *st, sc_client *c, sc_task *t) {
  if (sc_wanted_by(t, c->id)) return;
  if (t->nwant == 0) {
    t->want1 = c->id;
  } else {
    sc_rare *r = sc_rw(t);
    if (t->nwant - 1 == r->capmore) {
      r->capmore = r->capmore ? r->capmore * 2 : 2;
      r->want_more = sc_xrealloc(r->want_more, (size_t)r->capmore * sizeof(int));
    }
    r->want_more[t->nwant - 1] = c->id;
  }
  t->nwant++;
  ld_sched_want(st->eng, t->id);
}

void sc_unwant(sc_state *st, sc_client *c, sc_task *t) {
  if (!sc_wanted_by(t, c->id)) return;
  int nmore = t->nwant - 1;
  if (t->want1 == c->id) {
    if (nmore > 0) t->want1 = t->rare->want_more[nmore - 1];
  } else {
    int *more = t->rare->want_more; /* (nmore > 0: it is wanted by C) */
    for (int i = 0; i < nmore; i++)
      if (more[i] == c->id) more[i] = more[nmore - 1];
  }
  t->nwant--;
  sc_gather_done(t, c->id);
  ld_sched_unwant(st->eng, t->id);
}

void sc_add_gather(sc_task *t, int client_id) {
  sc_rare *r = sc_rw(t);
  for (int i = 0; i < r->ngather; i++)
    if (r->gather_clients[i] == client_id) return;
  if (r->ngather == r->capgather) {
    r->capgather = r->capgather ? r->capgather * 2 : 2;
    r->gather_clients = sc_xrealloc(r->gather_clients, (size_t)r->capgather * sizeof(int));
  }
  r->gather_clients[r->ngather++] = client_id;
}

void sc_gather_done(sc_task *t, int client_id) {
  sc_rare *r = t->rare;
  if (r == NULL) return;
  for (int i = 0; i < r->ngather; i++)
    if (r->gather_clients[i] == client_id) r->gather_clients[i--] = r->gather_clients[--r->ngather];
}

void sc_request_data(sc_state *st, sc_task *t, int client_id) {
  int state = sc_state_of(st, t);
  if (state == LD_TASK_MEMORY && t->result.n > 0) {
    sc_send_inline(st, &t, 1, client_id);
    return;
  }
  /* Remembered until the data reaches the client: if the holder dies
   * first, the key is recomputed and asked for again. */
  sc_add_gather(t, client_id);
  if (state == LD_TASK_MEMORY && t->nwho > 0) {
    sc_send_data_request(st, sc_who_has(t)[0], &t, 1, client_id);
    return;
  }
  if (state == LD_TASK_RELEASED) ld_sched_compute(st->eng, t->id);
}
