/* live.c — the scheduling engine's live mode (see engine.h): records
 * created, wanted and forgotten one by one with ids reused, recomputation
 * of released and lost results, requeues, per-task failure and
 * cancellation, ready queues the owner places from. Side effects go to the
 * owner's hooks; records to re-examine (release, stop, forget) go on a
 * check list drained at the end of each call. */
#include <stdlib.h>
#include <string.h>

#include "sched/engine_impl.h"

/* ---- helpers ---- */

/* Puts ID on the check list (once). */
static void check_later(ld_sched *s, int32_t id) {
  if (s->flags[id] & F_CHECK) return;
  s->flags[id] |= F_CHECK;
  s->check[s->ncheck++] = id; /* room for every id: see ld_sched_create */
}

/* Sets the state of ID to NS, keeping the pending-dependent counts of its
 * dependencies and the processing count. */
static void set_state(ld_sched *s, int32_t id, int ns) {
  int os = s->state[id];
  int dp = sched_pending(ns) - sched_pending(os);
  s->state[id] = (uint8_t)ns;
  if (os == LD_TASK_PROCESSING) s->processing--;
  if (ns == LD_TASK_PROCESSING) s->processing++;
  if (dp == 0 || s->dep_n[id] == 0) return; /* dep_idx may be NULL */
  const int32_t *d = s->dep_idx + s->dep_start[id];
  for (int32_t j = 0; j < s->dep_n[id]; j++) {
    s->nrefs[d[j]] += dp;
    if (s->nrefs[d[j]] == 0) check_later(s, d[j]);
  }
}

/* Tells the owner that processing task ID must be dropped. */
static void hook_stop(ld_sched *s, int32_t id) {
  if (s->hooks && s->hooks->stop) s->hooks->stop(s->hctx, id);
}

/* Takes READY or PROCESSING task ID off its queue or its worker. */
static void unrun(ld_sched *s, int32_t id) {
  if (s->state[id] == LD_TASK_PROCESSING) hook_stop(s, id);
  if (s->state[id] == LD_TASK_READY) sched_unqueue(s, id);
  s->flags[id] &= (uint8_t) ~(F_PARKED | F_RECOUNT);
}

/* Puts the dependencies of ID on the check list. */
static void check_deps_later(ld_sched *s, int32_t id) {
  if (s->dep_n[id] == 0) return; /* dep_idx may be NULL */
  const int32_t *d = s->dep_idx + s->dep_start[id];
  for (int32_t j = 0; j < s->dep_n[id]; j++) check_later(s, d[j]);
}

/* A growable stack of task ids (with a tag) for the cascades. */
typedef struct stk {
  int32_t *v;
  int32_t len, cap;
} stk;

/* Pushes the pair (A, B). Returns 0 or -1 (out of memory). */
static int stk_push(stk *k, int32_t a, int32_t b) {
  if (k->len + 2 > k->cap) {
    int32_t cap = k->cap ? k->cap * 2 : 64;
    int32_t *n = realloc(k->v, (size_t)cap * sizeof *n);
    if (n == NULL) return -1;
    k->v = n;
    k->cap = cap;
  }
  k->v[k->len++] = a;
  k->v[k->len++] = b;
  return 0;
}

/* ---- failure and cancellation (cascading to dependents) ---- */

/* ID errs for REASON taking CAUSE's error; its pending or released
 * dependents err through it. */
static void lv_err(ld_sched *s, int32_t id, int32_t cause, int reason) {
  stk k = {NULL, 0, 0};
  int32_t t = id, c = cause, r = reason;
  for (;;) {
    int st = s->state[t];
    if (st != LD_TASK_ERRED && st != LD_TASK_MEMORY && st != LD_TASK_FREE) {
      unrun(s, t);
      set_state(s, t, LD_TASK_ERRED);
      s->erred++;
      if (s->first_error < 0) s->first_error = t;
      if (s->hooks && s->hooks->erred) s->hooks->erred(s->hctx, t, c, r);
      check_deps_later(s, t);
      check_later(s, t);
      for (int32_t e = s->dhead[t]; e >= 0; e = s->enext[e]) {
        int32_t u = s->etask[e];
        if (u < 0) continue;
        int su = s->state[u];
        /* out of memory: the dependent keeps its state (it never runs) */
        if ((sched_pending(su) || su == LD_TASK_RELEASED) && stk_push(&k, u, t) != 0) break;
      }
    }
    if (k.len == 0) break;
    c = k.v[--k.len];
    t = k.v[--k.len];
    r = LD_ERR_DEP;
  }
  free(k.v);
}

/* Cancels ID and its pending or released dependents. */
static void lv_cancel(ld_sched *s, int32_t id) {
  stk k = {NULL, 0, 0};
  int32_t t = id;
  for (;;) {
    int st = s->state[t];
    if (sched_pending(st) || st == LD_TASK_RELEASED) {
      unrun(s, t);
      set_state(s, t, LD_TASK_CANCELLED);
      if (s->hooks && s->hooks->cancelled) s->hooks->cancelled(s->hctx, t);
      check_deps_later(s, t);
      check_later(s, t);
      for (int32_t e = s->dhead[t]; e >= 0; e = s->enext[e])
        if (s->etask[e] >= 0 && stk_push(&k, s->etask[e], 0) != 0) break;
    }
    if (k.len == 0) break;
    k.len--;
    t = k.v[--k.len];
  }
  free(k.v);
}

/* ---- releasing, stopping, forgetting ---- */

static void forget(ld_sched *s, int32_t id) {
  if (s->hooks && s->hooks->forget) s->hooks->forget(s->hctx, id);
  int32_t j0 = s->dep_start[id], n = s->dep_n[id];
  for (int32_t j = j0; j < j0 + n; j++) {
    int32_t d = s->dep_idx[j];
    s->etask[j] = -1;
    s->ndependents[d]--;
    check_later(s, d);
  }
  s->dead_edges += n;
  s->dep_n[id] = 0;
  ld_keys_remove(&s->keys, id);
  s->state[id] = LD_TASK_FREE;
  s->flags[id] = 0;
  s->value[id] = NULL;
  s->nwait[id] = s->free_head;
  s->free_head = id;
  s->nlive--;
}

/* Releases, stops or forgets ID when nothing needs it. */
static void check(ld_sched *s, int32_t id) {
  int st = s->state[id];
  if (st == LD_TASK_FREE || s->wants[id] > 0 || s->nrefs[id] > 0) return;
  if (st == LD_TASK_MEMORY) {
    s->in_memory--;
    s->mem_bytes -= s->nbytes[id];
    s->value[id] = NULL;
    set_state(s, id, LD_TASK_RELEASED);
    if (s->hooks && s->hooks->released) s->hooks->released(s->hctx, id);
    sched_emit(s, LD_EV_RELEASED, id, -1, 0, 0);
  }
  if (s->ndependents[id] > 0) return;
  if (sched_pending(s->state[id])) { /* nobody wants it any more: stop it */
    unrun(s, id);
    set_state(s, id, LD_TASK_RELEASED);
  }
  forget(s, id);
}

/* Examines the records on the check list until it is empty. */
static void drain(ld_sched *s) {
  while (s->ncheck > 0) {
    int32_t id = s->check[--s->ncheck];
    s->flags[id] &= (uint8_t)~F_CHECK;
    check(s, id);
  }
}

/* ---- computing ---- */

/* Queues ID, whose inputs are all in memory (data without a computation
 * errs instead). */
static void make_ready(ld_sched *s, int32_t id) {
  if (s->flags[id] & F_DATA) { /* data only: nothing to run */
    lv_err(s, id, id, LD_ERR_LOST);
    return;
  }
  set_state(s, id, LD_TASK_READY);
  if (sched_queue(s, id) != 0) lv_err(s, id, id, LD_ERR_NOMEM);
}

/* Counts the unfinished dependencies of ID (RELEASED, or WAITING to be
 * recounted) whose released dependencies were computed first. */
static void recount(ld_sched *s, int32_t id) {
  if (s->state[id] == LD_TASK_RELEASED && (s->flags[id] & F_DATA)) {
    lv_err(s, id, id, LD_ERR_LOST);
    return;
  }
  s->flags[id] &= (uint8_t)~F_RECOUNT;
  if (s->state[id] == LD_TASK_RELEASED) set_state(s, id, LD_TASK_WAITING);
  int32_t nwait = 0;
  for (int32_t j = s->dep_start[id]; j < s->dep_start[id] + s->dep_n[id]; j++) {
    int32_t d = s->dep_idx[j];
    int sd = s->state[d];
    if (sd == LD_TASK_MEMORY) continue;
    if (sd == LD_TASK_RELEASED && (s->flags[d] & F_DATA)) {
      lv_err(s, d, d, LD_ERR_LOST); /* errs ID too, through d */
      return;
    }
    if (sd == LD_TASK_ERRED || sd == LD_TASK_CANCELLED) {
      lv_err(s, id, d, sd == LD_TASK_ERRED ? LD_ERR_DEP : LD_ERR_CANCELLED);
      return;
    }
    nwait++; /* WAITING, READY, PROCESSING, or RELEASED in a cycle */
  }
  s->nwait[id] = nwait;
  if (nwait == 0) make_ready(s, id);
}

/* Whether ID is to be (re)counted by compute: released, or requeued. */
static int needs_count(const ld_sched *s, int32_t id) {
  int st = s->state[id];
  return st == LD_TASK_RELEASED || (st == LD_TASK_WAITING && (s->flags[id] & F_RECOUNT));
}

/* Computes ID and, first, its released dependencies (depth first with an
 * explicit stack: dependencies are counted before their dependents). */
static int compute(ld_sched *s, int32_t id) {
  if (!needs_count(s, id)) return 0;
  stk k = {s->stack, 0, s->capstack}; /* kept from call to call */
  if (stk_push(&k, id, 0) != 0) return LD_SCHED_ENOMEM;
  s->flags[id] |= F_VISIT;
  int rc = 0;
  while (k.len > 0) {
    int32_t t = k.v[k.len - 2];
    if (k.v[k.len - 1] == 0) { /* first visit: push released dependencies */
      k.v[k.len - 1] = 1;
      for (int32_t j = s->dep_start[t]; j < s->dep_start[t] + s->dep_n[t]; j++) {
        int32_t d = s->dep_idx[j];
        if (s->state[d] != LD_TASK_RELEASED || (s->flags[d] & (F_VISIT | F_DATA))) continue;
        s->flags[d] |= F_VISIT;
        if (stk_push(&k, d, 0) != 0) {
          s->flags[d] &= (uint8_t)~F_VISIT;
          rc = LD_SCHED_ENOMEM;
          break;
        }
      }
      continue;
    }
    k.len -= 2;
    s->flags[t] &= (uint8_t)~F_VISIT;
    if (needs_count(s, t)) recount(s, t);
  }
  s->stack = k.v;
  s->capstack = k.cap;
  return rc;
}

/* ---- the live-mode API ---- */

int32_t ld_sched_create(ld_sched *s, const char *key, size_t len, int64_t prio) {
  if (!s->live) return LD_SCHED_EINVAL;
  if (key == NULL) return LD_SCHED_EINVAL;
  if (memchr(key, '\0', len) != NULL) return LD_SCHED_EKEY;
  int32_t id = s->free_head;
  if (id < 0) {
    if (s->n == INT32_MAX - 1 || sched_reserve_tasks(s, s->n + 1) != 0) return LD_SCHED_ENOMEM;
    if (s->capcheck < s->cap) {
      int32_t *t = realloc(s->check, (size_t)s->cap * sizeof *t);
      if (t == NULL) return LD_SCHED_ENOMEM;
      s->check = t;
      s->capcheck = s->cap;
    }
    id = s->n;
  }
  int rc = ld_keys_set(&s->keys, id, key, len);
  if (rc != 0) return rc == -1 ? LD_SCHED_ENOMEM : LD_SCHED_EKEY;
  if (id == s->n)
    s->n++;
  else
    s->free_head = s->nwait[id];
  sched_init_task(s, id, LD_TASK_RELEASED, prio);
  s->nlive++;
  return id;
}

/* Whether ID names a record of a live-mode engine. */
static int live_id(const ld_sched *s, int32_t id) {
  return s->live && id >= 0 && id < s->n && s->state[id] != LD_TASK_FREE;
}

/* Rebuilds the dependency entries without the dead ones (forgotten
 * records). Returns 0 or -1 (out of memory: nothing changed). */
static int compact_edges(ld_sched *s) {
  int32_t live = s->nedges - s->dead_edges, cap = 1024;
  while (cap < live * 2) cap *= 2;
  int32_t *idx = malloc((size_t)cap * 4), *next = malloc((size_t)cap * 4),
          *task = malloc((size_t)cap * 4);
  if (idx == NULL || next == NULL || task == NULL) {
    free(idx), free(next), free(task);
    return -1;
  }
  int32_t k = 0;
  for (int32_t id = 0; id < s->n; id++) {
    s->dhead[id] = -1;
    if (s->state[id] == LD_TASK_FREE) continue;
    memcpy(idx + k, s->dep_idx + s->dep_start[id], (size_t)s->dep_n[id] * 4);
    s->dep_start[id] = k;
    k += s->dep_n[id];
  }
  for (int32_t id = 0; id < s->n; id++) {
    if (s->state[id] == LD_TASK_FREE) continue;
    for (int32_t j = s->dep_start[id]; j < s->dep_start[id] + s->dep_n[id]; j++) {
      task[j] = id;
      next[j] = s->dhead[idx[j]];
      s->dhead[idx[j]] = j;
    }
  }
  free(s->dep_idx), free(s->enext), free(s->etask);
  s->dep_idx = idx, s->enext = next, s->etask = task;
  s->ecap = cap;
  s->nedges = k;
  s->dead_edges = 0;
  return 0;
}

int ld_sched_set_deps(ld_sched *s, int32_t id, const int32_t *deps, int32_t n) {
  if (!live_id(s, id) || n < 0 || (n > 0 && deps == NULL) || s->dep_n[id] != 0 ||
      s->state[id] != LD_TASK_RELEASED)
    return LD_SCHED_EINVAL;
  for (int32_t i = 0; i < n; i++)
    if (!live_id(s, deps[i]) || deps[i] == id) return LD_SCHED_EINVAL;
  if (n == 0) return 0;
  if (s->dead_edges > 4096 && s->dead_edges * 2 > s->nedges) compact_edges(s);
  if (sched_reserve_edges(s, (int64_t)s->nedges + n) != 0) return LD_SCHED_ENOMEM;
  int32_t e0 = s->nedges;
  memcpy(s->dep_idx + e0, deps, (size_t)n * sizeof *deps);
  for (int32_t j = e0; j < e0 + n; j++) {
    int32_t d = s->dep_idx[j];
    s->etask[j] = id;
    s->enext[j] = s->dhead[d];
    s->dhead[d] = j;
    s->ndependents[d]++;
  }
  s->dep_start[id] = e0;
  s->dep_n[id] = n;
  s->nedges += n;
  return 0;
}

int ld_sched_renew(ld_sched *s, int32_t id, int64_t prio) {
  if (!live_id(s, id)) return LD_SCHED_EINVAL;
  int st = s->state[id];
  if (st != LD_TASK_CANCELLED && st != LD_TASK_ERRED && st != LD_TASK_RELEASED)
    return LD_SCHED_ESTATE;
  set_state(s, id, LD_TASK_RELEASED);
  s->flags[id] &= (uint8_t)~F_DATA;
  s->deaths[id] = 0;
  s->prio[id] = prio;
  s->seq[id] = s->next_seq++;
  drain(s);
  return 0;
}

int ld_sched_unwant(ld_sched *s, int32_t id) {
  if (!live_id(s, id)) return LD_SCHED_EINVAL;
  if (s->wants[id] == 0) return LD_SCHED_ESTATE;
  s->wants[id]--;
  check_later(s, id);
  drain(s);
  return 0;
}

int ld_sched_compute(ld_sched *s, int32_t id) {
  if (!live_id(s, id)) return LD_SCHED_EINVAL;
  int rc = compute(s, id);
  drain(s);
  return rc;
}

int ld_sched_check(ld_sched *s, int32_t id) {
  if (!live_id(s, id)) return LD_SCHED_EINVAL;
  check_later(s, id);
  drain(s);
  return 0;
}

int32_t ld_sched_peek(const ld_sched *s, int roots) {
  if (!s->live) return -1;
  ld_heap_order o = sched_order(s);
  return ld_heap_top(&s->ready[roots ? 1 : 0], &o);
}

int ld_sched_assign(ld_sched *s, int32_t id, int32_t worker) {
  if (!live_id(s, id)) return LD_SCHED_EINVAL;
  if (s->state[id] != LD_TASK_READY) return LD_SCHED_ESTATE;
  sched_unqueue(s, id);
  s->flags[id] &= (uint8_t)~F_PARKED;
  set_state(s, id, LD_TASK_PROCESSING);
  sched_emit(s, LD_EV_PROCESSING, id, worker, 0, 0);
  return 0;
}

int ld_sched_park(ld_sched *s, int32_t id) {
  if (!live_id(s, id)) return LD_SCHED_EINVAL;
  if (s->state[id] != LD_TASK_READY) return LD_SCHED_ESTATE;
  sched_unqueue(s, id);
  s->flags[id] |= F_PARKED;
  return 0;
}

int ld_sched_unpark(ld_sched *s, int32_t id) {
  if (!live_id(s, id)) return LD_SCHED_EINVAL;
  if (s->state[id] != LD_TASK_READY || !(s->flags[id] & F_PARKED)) return 0;
  s->flags[id] &= (uint8_t)~F_PARKED;
  if (sched_queue(s, id) != 0) {
    lv_err(s, id, id, LD_ERR_NOMEM);
    drain(s);
  }
  return 0;
}

int ld_sched_requeue(ld_sched *s, int32_t id, int died) {
  if (!live_id(s, id)) return LD_SCHED_EINVAL;
  if (s->state[id] != LD_TASK_PROCESSING) return LD_SCHED_ESTATE;
  set_state(s, id, LD_TASK_WAITING);
  s->flags[id] |= F_RECOUNT;
  if (died && s->deaths[id] < 255) s->deaths[id]++;
  return s->deaths[id];
}

int sched_live_finish(ld_sched *s, int32_t id, int64_t nbytes) {
  set_state(s, id, LD_TASK_MEMORY);
  s->flags[id] &= (uint8_t) ~(F_RECOUNT | F_PARKED);
  s->nbytes[id] = nbytes;
  s->in_memory++;
  s->mem_bytes += nbytes;
  if (s->mem_bytes > s->peak_bytes) s->peak_bytes = s->mem_bytes;
  for (int32_t e = s->dhead[id]; e >= 0; e = s->enext[e]) {
    int32_t u = s->etask[e];
    if (u < 0 || s->state[u] != LD_TASK_WAITING || (s->flags[u] & F_RECOUNT)) continue;
    if (--s->nwait[u] == 0) make_ready(s, u);
  }
  check_later(s, id);
  drain(s);
  return 0;
}

int sched_live_fail(ld_sched *s, int32_t id) {
  int st = s->state[id];
  if (st == LD_TASK_MEMORY || st == LD_TASK_ERRED) return LD_SCHED_ESTATE;
  lv_err(s, id, id, LD_ERR_OWN);
  drain(s);
  return 0;
}

int ld_sched_lost(ld_sched *s, int32_t id) {
  if (!live_id(s, id)) return LD_SCHED_EINVAL;
  if (s->state[id] != LD_TASK_MEMORY) return LD_SCHED_ESTATE;
  s->in_memory--;
  s->mem_bytes -= s->nbytes[id];
  s->value[id] = NULL;
  set_state(s, id, LD_TASK_RELEASED);
  for (int32_t e = s->dhead[id]; e >= 0; e = s->enext[e]) {
    int32_t u = s->etask[e];
    if (u < 0) continue;
    int su = s->state[u];
    if (su == LD_TASK_READY || su == LD_TASK_PROCESSING) {
      unrun(s, u);
      set_state(s, u, LD_TASK_WAITING);
      s->nwait[u] = 1;
    } else if (su == LD_TASK_WAITING && !(s->flags[u] & F_RECOUNT)) {
      s->nwait[u]++;
    }
  }
  int rc = 0;
  if (s->wants[id] > 0 || s->nrefs[id] > 0) rc = compute(s, id);
  check_later(s, id);
  drain(s);
  if (rc < 0) return rc;
  return live_id(s, id) && sched_pending(s->state[id]);
}

int ld_sched_cancel_task(ld_sched *s, int32_t id) {
  if (!live_id(s, id)) return LD_SCHED_EINVAL;
  int st = s->state[id];
  if (!(sched_pending(st) || st == LD_TASK_RELEASED)) return LD_SCHED_ESTATE;
  lv_cancel(s, id);
  drain(s);
  return 0;
}

int ld_sched_put_data(ld_sched *s, int32_t id) {
  if (!live_id(s, id)) return LD_SCHED_EINVAL;
  if (s->state[id] == LD_TASK_MEMORY) return LD_SCHED_ESTATE;
  unrun(s, id);
  s->flags[id] |= F_DATA;
  set_state(s, id, LD_TASK_PROCESSING);
  drain(s);
  return 0;
}
