/* state.c — task transitions, placement and the ready queue of
 * ldask-scheduler (see sched.h and docs/protocol.md, "Scheduler
 * behaviour"). Everything runs on the scheduler's loop thread. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"

/* ---- ready heap (by prio, then seq) ---- */

static int before(const sc_task *a, const sc_task *b) {
  return a->prio < b->prio || (a->prio == b->prio && a->seq < b->seq);
}

static void heap_set(sc_state *st, int i, sc_task *t) {
  st->heap[i] = t;
  t->heap_pos = i;
}

static void sift_up(sc_state *st, int i) {
  sc_task *t = st->heap[i];
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!before(t, st->heap[p])) break;
    heap_set(st, i, st->heap[p]);
    i = p;
  }
  heap_set(st, i, t);
}

static void sift_down(sc_state *st, int i) {
  sc_task *t = st->heap[i];
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    sc_task *best = t;
    if (l < st->heap_len && before(st->heap[l], best)) m = l, best = st->heap[l];
    if (r < st->heap_len && before(st->heap[r], best)) m = r, best = st->heap[r];
    if (m == i) break;
    heap_set(st, i, best);
    i = m;
  }
  heap_set(st, i, t);
}

static void heap_push(sc_state *st, sc_task *t) {
  if (t->heap_pos >= 0) return;
  if (st->heap_len == st->heap_cap) {
    int ncap = st->heap_cap ? st->heap_cap * 2 : 256;
    sc_task **nh = realloc(st->heap, (size_t)ncap * sizeof *nh);
    if (nh == NULL) {
      fprintf(stderr, "ldask-scheduler: out of memory queueing a task\n");
      abort();
    }
    st->heap = nh;
    st->heap_cap = ncap;
  }
  heap_set(st, st->heap_len++, t);
  sift_up(st, st->heap_len - 1);
}

static void heap_remove(sc_state *st, sc_task *t) {
  int i = t->heap_pos;
  if (i < 0) return;
  t->heap_pos = -1;
  sc_task *last = st->heap[--st->heap_len];
  if (i == st->heap_len) return;
  heap_set(st, i, last);
  sift_up(st, i);
  sift_down(st, last->heap_pos);
}

/* ---- task records ---- */

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (q == NULL) {
    fprintf(stderr, "ldask-scheduler: out of memory\n");
    abort();
  }
  return q;
}

sc_task *sc_task_new(sc_state *st, const char *key, size_t len) {
  sc_task *t = calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  t->key = malloc(len + 1);
  if (t->key == NULL) {
    free(t);
    return NULL;
  }
  memcpy(t->key, key, len);
  t->key[len] = '\0';
  t->keylen = len;
  t->heap_pos = -1;
  t->seq = st->seq++;
  t->state = T_RELEASED;
  if (ld_kmap_put(&st->tasks, t->key, len, t) != 0) {
    free(t->key);
    free(t);
    return NULL;
  }
  return t;
}

void sc_task_add_dependent(sc_task *dep, sc_task *t) {
  if (dep->ndependents == dep->capdependents) {
    dep->capdependents = dep->capdependents ? dep->capdependents * 2 : 4;
    dep->dependents = xrealloc(dep->dependents, (size_t)dep->capdependents * sizeof(sc_task *));
  }
  dep->dependents[dep->ndependents++] = t;
}

static void add_holder(sc_task *t, sc_worker *w) {
  for (int i = 0; i < t->nwho; i++)
    if (t->who_has[i] == w) return;
  if (t->nwho == t->capwho) {
    t->capwho = t->capwho ? t->capwho * 2 : 2;
    t->who_has = xrealloc(t->who_has, (size_t)t->capwho * sizeof(sc_worker *));
  }
  t->who_has[t->nwho++] = w;
  ld_kmap_put(&w->has, t->key, t->keylen, t);
  w->nbytes += t->nbytes;
}

static void drop_inline(sc_task *t) {
  for (uint32_t i = 0; i < t->ninline; i++) ld_buffer_release(t->inline_data[i]);
  free(t->inline_data);
  t->inline_data = NULL;
  t->ninline = 0;
}

static void free_task(sc_state *st, sc_task *t) {
  ld_kmap_del(&st->tasks, t->key, t->keylen);
  drop_inline(t);
  for (uint32_t i = 0; i < t->npayload; i++) ld_buffer_release(t->payload[i]);
  for (int i = 0; i < t->nrestrict; i++) free(t->restrict_to[i]);
  free(t->restrict_to);
  free(t->payload);
  free(t->deps);
  free(t->dependents);
  free(t->who_has);
  free(t->gather_clients);
  free(t->err_msg);
  free(t->err_tb);
  free(t->key);
  free(t);
}

/* Drops the data of T on every holder. */
static void drop_data(sc_state *st, sc_task *t) {
  (void)st;
  drop_inline(t);
  while (t->nwho > 0) {
    sc_worker *w = t->who_has[--t->nwho];
    ld_kmap_del(&w->has, t->key, t->keylen);
    w->nbytes -= t->nbytes;
    sc_send_free(w, t);
  }
}

static int pending_state(int s) { return s == T_WAITING || s == T_READY || s == T_PROCESSING; }

/* Whether anything still needs T's result. */
static int needed(const sc_task *t) {
  if (t->refs > 0) return 1;
  /* From the newest: dependents tend to finish in the order they came, so
   * a pending one is found at once even for an input shared by many. */
  for (int i = t->ndependents - 1; i >= 0; i--)
    if (pending_state(t->dependents[i]->state)) return 1;
  return 0;
}

static void stop_processing(sc_task *t) {
  sc_worker *w = t->processing_on;
  if (w == NULL) return;
  t->processing_on = NULL;
  w->nprocessing--;
  if (w->alive) sc_send_free(w, t);
}

/* Forgets T when no client wants it and no dependent record exists. */
static void maybe_forget(sc_state *st, sc_task *t) {
  if (t->refs > 0 || t->ndependents > 0) return;
  stop_processing(t);
  heap_remove(st, t);
  drop_data(st, t);
  for (int i = 0; i < t->ndeps; i++) {
    sc_task *d = t->deps[i];
    for (int j = 0; j < d->ndependents; j++) {
      if (d->dependents[j] == t) {
        d->dependents[j] = d->dependents[--d->ndependents];
        break;
      }
    }
  }
  sc_task **deps = t->deps;
  int ndeps = t->ndeps;
  t->deps = NULL;
  t->ndeps = 0;
  free_task(st, t);
  /* Pin the dependencies while releasing them one by one: releasing one may
   * cascade into another, which must not be freed under our feet. */
  for (int i = 0; i < ndeps; i++) deps[i]->refs++;
  for (int i = 0; i < ndeps; i++) {
    deps[i]->refs--;
    sc_maybe_release(st, deps[i]);
  }
  free(deps);
}

void sc_maybe_release(sc_state *st, sc_task *t) {
  if (t->state == T_MEMORY && !needed(t)) {
    drop_data(st, t);
    t->state = T_RELEASED;
  } else if (pending_state(t->state) && !needed(t) && t->refs == 0 && t->ndependents == 0) {
    /* Nobody wants it any more: stop it. */
    stop_processing(t);
    heap_remove(st, t);
    t->state = T_RELEASED;
  }
  maybe_forget(st, t);
}

/* ---- placement ---- */

static int allowed(const sc_task *t, const sc_worker *w) {
  if (t->nrestrict == 0) return 1;
  for (int i = 0; i < t->nrestrict; i++)
    if (strcmp(t->restrict_to[i], w->name) == 0 || strcmp(t->restrict_to[i], w->addr) == 0)
      return 1;
  return 0;
}

/* Queued work a worker should hold so that it never idles while the
 * scheduler's next message is under way (seconds). */
#define QUEUE_BUDGET 0.002
#define MAX_PER_THREAD 1000.0

/* Input tasks worker W may hold: at least nthreads * saturation, more for
 * tasks so short that the message round trip would leave it idle. */
static int capacity(const sc_state *st, const sc_worker *w) {
  double per_thread = st->saturation;
  if (st->avg_task >= 0) {
    double fill = QUEUE_BUDGET / (st->avg_task > 1e-7 ? st->avg_task : 1e-7);
    if (fill > MAX_PER_THREAD) fill = MAX_PER_THREAD;
    if (fill > per_thread) per_thread = fill;
  }
  int cap = (int)ceil(w->nthreads * per_thread);
  return cap < 1 ? 1 : cap;
}

static int paused(const sc_worker *w) {
  return w->memory_limit > 0 && w->nbytes >= w->memory_limit;
}

static int someone_unpaused(const sc_state *st, const sc_task *t) {
  for (const sc_worker *w = st->workers; w; w = w->next)
    if (!paused(w) && allowed(t, w)) return 1;
  return 0;
}

/* The worker for T: most input bytes held, then least occupied. With
 * NEED_ROOM only workers below their capacity qualify. */
static sc_worker *decide(sc_state *st, sc_task *t, int need_room) {
  /* Input tasks that come one after the other in priority order are
   * usually siblings (their results meet in the same task): keep them on
   * one worker while it has room, so that fewer results need to move. */
  sc_worker *last = st->last_root;
  if (t->ndeps == 0 && last && allowed(t, last) && last->nprocessing < capacity(st, last) &&
      !(paused(last) && someone_unpaused(st, t)))
    return last;
  sc_worker *best = NULL;
  int64_t best_bytes = -1;
  double best_occ = 0;
  for (sc_worker *w = st->workers; w; w = w->next) {
    if (!allowed(t, w)) continue;
    if (need_room && w->nprocessing >= capacity(st, w)) continue;
    /* A worker holding its --memory-limit or more takes no new input tasks
     * (paused) while another one can; tasks with inputs still go where the
     * inputs are, since running them is what frees memory. */
    if (need_room && paused(w) && someone_unpaused(st, t)) continue;
    int64_t bytes = 0;
    for (int i = 0; i < t->ndeps; i++) {
      sc_task *d = t->deps[i];
      for (int j = 0; j < d->nwho; j++)
        if (d->who_has[j] == w) bytes += d->nbytes + 1;
    }
    double occ = (double)w->nprocessing / w->nthreads;
    if (bytes > best_bytes || (bytes == best_bytes && occ < best_occ)) {
      best = w;
      best_bytes = bytes;
      best_occ = occ;
    }
  }
  if (t->ndeps == 0 && best) st->last_root = best;
  return best;
}

static void make_ready(sc_state *st, sc_task *t) {
  if (t->npayload == 0) { /* scattered data: nothing to run */
    char msg[300];
    snprintf(msg, sizeof msg,
             "the data of scattered key '%s' was lost with its worker and cannot be recomputed",
             t->key);
    t->lost = 1;
    t->state = T_WAITING;
    sc_erred(st, t, msg, strlen(msg), "", 0);
    return;
  }
  t->state = T_READY;
  /* Tasks with inputs go out at once (they free memory); input tasks only
   * as fast as the workers run them. */
  sc_worker *w = decide(st, t, t->ndeps == 0);
  if (w) {
    sc_send_compute(st, t, w);
    t->state = T_PROCESSING;
    t->processing_on = w;
    w->nprocessing++;
  } else {
    heap_push(st, t);
  }
}

void sc_fill(sc_state *st) {
  sc_task *skipped[64];
  int nskipped = 0;
  while (st->heap_len > 0 && st->nworkers > 0) {
    sc_task *t = st->heap[0];
    sc_worker *w = decide(st, t, 1);
    if (w == NULL) {
      if (t->nrestrict == 0 || nskipped == 64) break;
      heap_remove(st, t);
      skipped[nskipped++] = t;
      continue;
    }
    heap_remove(st, t);
    sc_send_compute(st, t, w);
    t->state = T_PROCESSING;
    t->processing_on = w;
    w->nprocessing++;
  }
  for (int i = 0; i < nskipped; i++) heap_push(st, skipped[i]);
}

/* Makes sure released dependency D gets computed again. */
static void ensure_computing(sc_state *st, sc_task *t);

void sc_recount(sc_state *st, sc_task *t) {
  t->state = T_WAITING;
  t->waiting_on = 0;
  for (int i = 0; i < t->ndeps; i++) {
    sc_task *d = t->deps[i];
    if (d->state == T_MEMORY) continue;
    if (d->state == T_ERRED) {
      sc_erred(st, t, d->err_msg, strlen(d->err_msg), d->err_tb, strlen(d->err_tb));
      return;
    }
    if (d->state == T_CANCELLED) {
      char msg[300];
      snprintf(msg, sizeof msg, "dependency '%s' of '%s' was cancelled", d->key, t->key);
      sc_erred(st, t, msg, strlen(msg), "", 0);
      return;
    }
    if (d->state == T_RELEASED) ensure_computing(st, d);
    if (d->state == T_ERRED) {
      sc_erred(st, t, d->err_msg, strlen(d->err_msg), d->err_tb, strlen(d->err_tb));
      return;
    }
    if (d->state != T_MEMORY) t->waiting_on++;
  }
  if (t->waiting_on == 0) make_ready(st, t);
}

static void ensure_computing(sc_state *st, sc_task *t) {
  if (t->state != T_RELEASED) return;
  if (t->scattered) {
    char msg[300];
    snprintf(msg, sizeof msg,
             "the data of scattered key '%s' was lost with its worker and cannot be recomputed",
             t->key);
    t->lost = 1;
    sc_erred(st, t, msg, strlen(msg), "", 0);
    return;
  }
  if (t->npayload == 0) {
    char msg[300];
    snprintf(msg, sizeof msg, "key '%s' was lost and has no task to recompute it", t->key);
    t->lost = 1;
    sc_erred(st, t, msg, strlen(msg), "", 0);
    return;
  }
  sc_recount(st, t);
}

/* ---- events ---- */

void sc_finished(sc_state *st, sc_worker *w, sc_task *t, int64_t nbytes, ld_buffer *const *data,
                 uint32_t ndata) {
  if (t->state == T_MEMORY) { /* a second copy: keep it as a replica */
    add_holder(t, w);
    return;
  }
  if (t->state != T_PROCESSING || t->processing_on != w) {
    sc_send_free(w, t); /* stale: rescheduled or cancelled meanwhile */
    return;
  }
  t->processing_on = NULL;
  w->nprocessing--;
  t->nbytes = nbytes;
  t->state = T_MEMORY;
  add_holder(t, w);
  if (ndata > 0) {
    drop_inline(t);
    t->inline_data = xrealloc(NULL, ndata * sizeof *t->inline_data);
    for (uint32_t i = 0; i < ndata; i++) t->inline_data[i] = ld_buffer_retain(data[i]);
    t->ninline = ndata;
  }
  if (t->refs > 0) sc_notify_key(st, t, "key-finished");
  if (t->ngather > 0) {
    int n = t->ngather;
    int *ids = xrealloc(NULL, (size_t)n * sizeof *ids);
    memcpy(ids, t->gather_clients, (size_t)n * sizeof *ids);
    t->ngather = 0;
    for (int i = 0; i < n; i++) {
      /* A client that wants the key got its small value with keys-finished. */
      sc_client *c = t->ninline > 0 ? sc_find_client(st, ids[i]) : NULL;
      if (c && ld_kmap_get(&c->wants, t->key, t->keylen)) continue;
      sc_request_data(st, t, ids[i]);
    }
    free(ids);
  }
  for (int i = 0; i < t->ndependents; i++) {
    sc_task *d = t->dependents[i];
    if (d->state == T_WAITING && --d->waiting_on == 0) make_ready(st, d);
  }
  for (int i = 0; i < t->ndeps; i++) sc_maybe_release(st, t->deps[i]);
  sc_maybe_release(st, t);
}

static char *dupn(const char *s, size_t n) {
  char *r = malloc(n + 1);
  if (r == NULL) abort();
  memcpy(r, s, n);
  r[n] = '\0';
  return r;
}

void sc_erred(sc_state *st, sc_task *t, const char *msg, size_t mlen, const char *tb,
              size_t tblen) {
  if (t->state == T_ERRED || t->state == T_MEMORY) return;
  stop_processing(t);
  heap_remove(st, t);
  t->state = T_ERRED;
  free(t->err_msg);
  free(t->err_tb);
  t->err_msg = dupn(msg, mlen);
  t->err_tb = dupn(tb, tblen);
  if (t->refs > 0 || t->ngather > 0) sc_notify_key(st, t, "key-erred");
  t->ngather = 0;
  for (int i = 0; i < t->ndependents; i++) {
    sc_task *d = t->dependents[i];
    if (pending_state(d->state) || d->state == T_RELEASED)
      sc_erred(st, d, t->err_msg, strlen(t->err_msg), t->err_tb, strlen(t->err_tb));
  }
  for (int i = 0; i < t->ndeps; i++) sc_maybe_release(st, t->deps[i]);
}

void sc_failed_on_worker(sc_state *st, sc_worker *w, sc_task *t, const char *msg, size_t mlen,
                         const char *tb, size_t tblen) {
  if (t->state != T_PROCESSING || t->processing_on != w) return; /* stale */
  if (t->retries > 0) {
    t->retries--;
    t->processing_on = NULL;
    w->nprocessing--;
    sc_recount(st, t);
    return;
  }
  sc_erred(st, t, msg, mlen, tb, tblen);
}

void sc_cancel(sc_state *st, sc_task *t) {
  if (!(pending_state(t->state) || t->state == T_RELEASED)) return;
  stop_processing(t);
  heap_remove(st, t);
  t->state = T_CANCELLED;
  sc_notify_key(st, t, "key-cancelled");
  t->ngather = 0;
  for (int i = 0; i < t->ndependents; i++) sc_cancel(st, t->dependents[i]);
  for (int i = 0; i < t->ndeps; i++) sc_maybe_release(st, t->deps[i]);
}

/* T lost its last copy. */
static void key_lost(sc_state *st, sc_task *t) {
  t->state = T_RELEASED;
  drop_inline(t);
  for (int i = 0; i < t->ndependents; i++) {
    sc_task *d = t->dependents[i];
    if (d->state == T_READY || d->state == T_PROCESSING) {
      stop_processing(d);
      heap_remove(st, d);
      d->state = T_WAITING;
      d->waiting_on = 1;
    } else if (d->state == T_WAITING) {
      d->waiting_on++;
    }
  }
  if (needed(t) || t->ngather > 0) ensure_computing(st, t);
}

void sc_remove_holder(sc_state *st, sc_task *t, sc_worker *w) {
  for (int i = 0; i < t->nwho; i++) {
    if (t->who_has[i] != w) continue;
    t->who_has[i] = t->who_has[--t->nwho];
    ld_kmap_del(&w->has, t->key, t->keylen);
    w->nbytes -= t->nbytes;
    if (t->nwho == 0 && t->state == T_MEMORY) key_lost(st, t);
    return;
  }
}

void sc_worker_gone(sc_state *st, sc_worker *w, const char *reason) {
  if (!w->alive) return;
  w->alive = 0;
  fprintf(stderr, "ldask-scheduler: worker %s (%s) removed: %s\n", w->name, w->addr, reason);
  for (sc_worker **pp = &st->workers; *pp; pp = &(*pp)->next) {
    if (*pp == w) {
      *pp = w->next;
      break;
    }
  }
  st->nworkers--;
  if (st->last_root == w) st->last_root = NULL;
  /* Tasks it was running go back to the queue, or fail after 3 deaths. */
  size_t n = 0, cap = 16, i = 0;
  sc_task **running = xrealloc(NULL, cap * sizeof *running);
  ld_kmap_slot *s;
  while ((s = ld_kmap_next(&st->tasks, &i)) != NULL) {
    sc_task *t = s->val;
    if (t->state == T_PROCESSING && t->processing_on == w) {
      t->processing_on = NULL;
      t->state = T_WAITING;
      t->suspicious++;
      if (n == cap) running = xrealloc(running, (cap *= 2) * sizeof *running);
      running[n++] = t;
    }
  }
  w->nprocessing = 0;
  /* Results it held: recomputed when still needed. */
  size_t nk = 0;
  i = 0;
  sc_task **held = xrealloc(NULL, (w->has.count + 1) * sizeof *held);
  while ((s = ld_kmap_next(&w->has, &i)) != NULL) held[nk++] = s->val;
  for (size_t k = 0; k < nk; k++) sc_remove_holder(st, held[k], w);
  free(held);
  for (size_t k = 0; k < n; k++) {
    sc_task *t = running[k];
    if (t->state != T_WAITING) continue;
    if (t->suspicious >= 3) {
      char msg[400];
      snprintf(msg, sizeof msg,
               "task '%s' was running on %d workers that died (the last: %s at %s, %s); it may "
               "be what kills them",
               t->key, t->suspicious, w->name, w->addr, reason);
      sc_erred(st, t, msg, strlen(msg), "", 0);
    } else {
      sc_recount(st, t);
    }
  }
  free(running);
  ld_kmap_free(&w->has);
  sc_fill(st);
}

void sc_want(sc_state *st, sc_client *c, sc_task *t) {
  (void)st;
  if (ld_kmap_get(&c->wants, t->key, t->keylen)) return;
  ld_kmap_put(&c->wants, t->key, t->keylen, t);
  t->refs++;
}

void sc_unwant(sc_state *st, sc_client *c, sc_task *t) {
  if (ld_kmap_del(&c->wants, t->key, t->keylen) == NULL) return;
  t->refs--;
  for (int i = 0; i < t->ngather; i++)
    if (t->gather_clients[i] == c->id) t->gather_clients[i--] = t->gather_clients[--t->ngather];
  sc_maybe_release(st, t);
}

void sc_add_gather(sc_task *t, int client_id) {
  for (int i = 0; i < t->ngather; i++)
    if (t->gather_clients[i] == client_id) return;
  if (t->ngather == t->capgather) {
    t->capgather = t->capgather ? t->capgather * 2 : 2;
    t->gather_clients = xrealloc(t->gather_clients, (size_t)t->capgather * sizeof(int));
  }
  t->gather_clients[t->ngather++] = client_id;
}

void sc_gather_done(sc_task *t, int client_id) {
  for (int i = 0; i < t->ngather; i++)
    if (t->gather_clients[i] == client_id) t->gather_clients[i--] = t->gather_clients[--t->ngather];
}

void sc_request_data(sc_state *st, sc_task *t, int client_id) {
  if (t->state == T_MEMORY && t->ninline > 0) {
    sc_send_inline(st, &t, 1, client_id);
    return;
  }
  /* Remembered until the data reaches the client: if the holder dies
   * first, the key is recomputed and asked for again. */
  sc_add_gather(t, client_id);
  if (t->state == T_MEMORY && t->nwho > 0) {
    sc_send_data_request(st, t->who_has[0], &t, 1, client_id);
    return;
  }
  if (t->state == T_RELEASED) ensure_computing(st, t);
}
