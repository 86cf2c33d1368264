/* engine.c — the scheduling engine's tables, its batch mode (the local
 * threaded scheduler) and the queries of both modes (see engine.h; live
 * mode is in live.c). */
#include <stdlib.h>
#include <string.h>

#include "sched/engine_impl.h"

static int grow(void **p, size_t elem, int32_t cap) {
  void *n = realloc(*p, elem * (size_t)cap);
  if (n == NULL) return -1;
  *p = n;
  return 0;
}

int sched_reserve_tasks(ld_sched *s, int32_t need) {
  if (need <= s->cap) return 0;
  int32_t cap = s->cap ? s->cap : 1024;
  while (cap < need) cap = cap > INT32_MAX / 2 ? INT32_MAX - 1 : cap * 2;
  if (grow((void **)&s->state, 1, cap) || grow((void **)&s->flags, 1, cap) ||
      grow((void **)&s->deaths, 1, cap) || grow((void **)&s->prio, 8, cap) ||
      grow((void **)&s->seq, 4, cap) || grow((void **)&s->nwait, 4, cap) ||
      grow((void **)&s->nrefs, 4, cap) || grow((void **)&s->wants, 4, cap) ||
      grow((void **)&s->ndependents, 4, cap) || grow((void **)&s->dep_start, 4, cap) ||
      grow((void **)&s->dep_n, 4, cap) || grow((void **)&s->dhead, 4, cap) ||
      grow((void **)&s->hpos, 4, cap) || grow((void **)&s->value, sizeof(void *), cap) ||
      grow((void **)&s->nbytes, 8, cap))
    return -1;
  s->cap = cap;
  return 0;
}

int sched_reserve_edges(ld_sched *s, int64_t need) {
  if (need > INT32_MAX - 1) return -1;
  if (need <= s->ecap) return 0;
  int64_t cap = s->ecap ? s->ecap : 1024;
  while (cap < need) cap *= 2;
  if (cap > INT32_MAX - 1) cap = INT32_MAX - 1;
  if (grow((void **)&s->dep_idx, 4, (int32_t)cap) || grow((void **)&s->enext, 4, (int32_t)cap) ||
      grow((void **)&s->etask, 4, (int32_t)cap))
    return -1;
  s->ecap = (int32_t)cap;
  return 0;
}

ld_sched *ld_sched_new(ld_sched_release_fn release, void *ctx) {
  ld_sched *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->release = release;
  s->ctx = ctx;
  s->first_error = -1;
  s->free_head = -1;
  ld_heap_init(&s->ready[0]);
  ld_heap_init(&s->ready[1]);
  ld_keys_init(&s->keys);
  if (sched_reserve_tasks(s, 1) != 0) {
    ld_sched_free(s);
    return NULL;
  }
  return s;
}

ld_sched *ld_sched_new_live(const ld_sched_hooks *hooks, void *ctx) {
  ld_sched *s = ld_sched_new(NULL, NULL);
  if (s == NULL) return NULL;
  s->live = 1;
  s->hooks = hooks;
  s->hctx = ctx;
  return s;
}

void sched_drop_value(ld_sched *s, int32_t id) {
  void *v = s->value[id];
  s->value[id] = NULL;
  s->in_memory--;
  s->mem_bytes -= s->nbytes[id];
  if (s->release) s->release(s->ctx, id, v);
}

int ld_sched_reset(ld_sched *s, ld_sched_release_fn release, void *ctx) {
  if (s->live) return LD_SCHED_EINVAL;
  for (int32_t i = 0; i < s->n; i++)
    if (s->state[i] == LD_TASK_MEMORY) sched_drop_value(s, i);
  s->release = release;
  s->ctx = ctx;
  s->n = s->nedges = s->dead_edges = s->started = s->nlive = 0;
  s->free_head = -1;
  s->next_seq = 0;
  ld_heap_reset(&s->ready[0]);
  ld_heap_reset(&s->ready[1]);
  ld_keys_free(&s->keys);
  ld_keys_init(&s->keys);
  s->ncheck = 0;
  s->needed = s->finished = s->processing = s->erred = s->in_memory = s->mem_bytes = s->peak_bytes =
      0;
  s->first_error = -1;
  s->cancelled = 0;
  s->ev_mask = 0;
  s->ev_head = s->ev_len = 0;
  return 0;
}

void ld_sched_free(ld_sched *s) {
  if (s == NULL) return;
  for (int32_t i = 0; i < s->n; i++)
    if (s->state[i] == LD_TASK_MEMORY) sched_drop_value(s, i);
  free(s->state);
  free(s->flags);
  free(s->deaths);
  free(s->prio);
  free(s->seq);
  free(s->nwait);
  free(s->nrefs);
  free(s->wants);
  free(s->ndependents);
  free(s->dep_start);
  free(s->dep_n);
  free(s->dhead);
  free(s->hpos);
  free(s->value);
  free(s->nbytes);
  free(s->dep_idx);
  free(s->enext);
  free(s->etask);
  free(s->ev);
  free(s->check);
  free(s->stack);
  ld_heap_free(&s->ready[0]);
  ld_heap_free(&s->ready[1]);
  ld_keys_free(&s->keys);
  free(s);
}

void sched_emit(ld_sched *s, int kind, int32_t id, int32_t worker, double t0, double t1) {
  if (!(s->ev_mask & kind)) return;
  if (s->ev_len == s->ev_cap) {
    int32_t cap = s->ev_cap ? s->ev_cap * 2 : 1024;
    ld_sched_event *n = malloc((size_t)cap * sizeof *n);
    if (n == NULL) return; /* events are best effort: never fail the run */
    for (int32_t i = 0; i < s->ev_len; i++) n[i] = s->ev[(s->ev_head + i) % s->ev_cap];
    free(s->ev);
    s->ev = n;
    s->ev_head = 0;
    s->ev_cap = cap;
  }
  ld_sched_event *e = &s->ev[(s->ev_head + s->ev_len) % s->ev_cap];
  e->task = id;
  e->kind = (int16_t)kind;
  e->worker = (int16_t)worker;
  e->t0 = t0;
  e->t1 = t1;
  s->ev_len++;
}

void sched_init_task(ld_sched *s, int32_t id, int state, int64_t prio) {
  s->state[id] = (uint8_t)state;
  s->flags[id] = 0;
  s->deaths[id] = 0;
  s->prio[id] = prio;
  s->seq[id] = s->next_seq++;
  s->nwait[id] = 0;
  s->nrefs[id] = 0;
  s->wants[id] = 0;
  s->ndependents[id] = 0;
  s->dep_start[id] = 0;
  s->dep_n[id] = 0;
  s->dhead[id] = -1;
  s->hpos[id] = -1;
  s->value[id] = NULL;
  s->nbytes[id] = 0;
}

int sched_queue(ld_sched *s, int32_t id) {
  ld_heap_order o = sched_order(s);
  return ld_heap_push(&s->ready[s->dep_n[id] == 0], id, &o);
}

void sched_unqueue(ld_sched *s, int32_t id) {
  if (s->hpos[id] == -1) return; /* not queued (-2 - k: in a run) */
  ld_heap_order o = sched_order(s);
  ld_heap_remove(&s->ready[s->dep_n[id] == 0], id, &o);
}

int32_t ld_sched_add(ld_sched *s, int32_t n, const int32_t *dep_off, const int32_t *dep_idx,
                     const int32_t *prio) {
  if (s->live) return LD_SCHED_EINVAL;
  if (n < 0 || (n > 0 && dep_off == NULL) || n > INT32_MAX - 1 - s->n) return LD_SCHED_EINVAL;
  int32_t first = s->n, total = first + n;
  int64_t nd = n ? (int64_t)dep_off[n] - dep_off[0] : 0;
  if (nd < 0 || (nd > 0 && dep_idx == NULL)) return LD_SCHED_EINVAL;
  for (int32_t i = 0; i < n; i++)
    if (dep_off[i + 1] < dep_off[i]) return LD_SCHED_EINVAL;
  const int32_t *d = nd ? dep_idx + dep_off[0] : NULL;
  for (int64_t j = 0; j < nd; j++)
    if (d[j] < 0 || d[j] >= total) return LD_SCHED_EINVAL;
  if (sched_reserve_tasks(s, total) != 0 || sched_reserve_edges(s, s->nedges + nd) != 0)
    return LD_SCHED_ENOMEM;
  int32_t e0 = s->nedges, base = dep_off[0];
  for (int32_t i = 0; i < n; i++) {
    int32_t id = first + i;
    sched_init_task(s, id, LD_TASK_NEW, prio ? prio[i] : id);
    s->dep_start[id] = e0 + (dep_off[i] - base);
    s->dep_n[id] = dep_off[i + 1] - dep_off[i];
  }
  if (nd) memcpy(s->dep_idx + e0, d, (size_t)nd * sizeof *d);
  /* dependents: edge j links dependency dep_idx[j] to its task */
  for (int32_t i = 0; i < n; i++) {
    int32_t id = first + i;
    for (int32_t j = s->dep_start[id]; j < s->dep_start[id] + s->dep_n[id]; j++) {
      int32_t dep = s->dep_idx[j];
      s->etask[j] = id;
      s->enext[j] = s->dhead[dep];
      s->dhead[dep] = j;
      s->ndependents[dep]++;
    }
  }
  s->n = total;
  s->nedges = (int32_t)(e0 + nd);
  return first;
}

static int check_id(const ld_sched *s, int32_t id) {
  return id >= 0 && id < s->n && s->state[id] != LD_TASK_FREE;
}

int ld_sched_set_key(ld_sched *s, int32_t id, const char *key, size_t len) {
  if (!check_id(s, id) || key == NULL) return LD_SCHED_EINVAL;
  int rc = ld_keys_set(&s->keys, id, key, len);
  if (rc == -1) return LD_SCHED_ENOMEM;
  if (rc < 0) return LD_SCHED_EKEY;
  return 0;
}

int32_t ld_sched_find(const ld_sched *s, const char *key, size_t len) {
  return ld_keys_find(&s->keys, key, len);
}

const char *ld_sched_key(const ld_sched *s, int32_t id, size_t *len) {
  if (!check_id(s, id)) return NULL;
  return ld_keys_get(&s->keys, id, len);
}

int ld_sched_want(ld_sched *s, int32_t id) {
  if (!check_id(s, id)) return LD_SCHED_EINVAL;
  uint8_t st = s->state[id];
  if (!s->live && (st == LD_TASK_RELEASED || st == LD_TASK_SKIPPED || st == LD_TASK_CANCELLED))
    return LD_SCHED_ESTATE;
  s->wants[id]++;
  return 0;
}

/* Marks task ID and everything it depends on (among new tasks) as needed.
 * Iterative DFS with an explicit stack. Returns 0 or -1 (out of memory). */
static int mark_needed(ld_sched *s, int32_t root, int32_t **stack, int32_t *cap) {
  int32_t len = 0;
  if (s->flags[root] & F_NEEDED) return 0;
  s->flags[root] |= F_NEEDED;
  (*stack)[len++] = root;
  while (len > 0) {
    int32_t t = (*stack)[--len];
    for (int32_t j = s->dep_start[t]; j < s->dep_start[t] + s->dep_n[t]; j++) {
      int32_t d = s->dep_idx[j];
      if (d < s->started || (s->flags[d] & F_NEEDED)) continue;
      s->flags[d] |= F_NEEDED;
      if (len == *cap) {
        int32_t ncap = *cap * 2;
        int32_t *ns = realloc(*stack, (size_t)ncap * sizeof *ns);
        if (ns == NULL) return -1;
        *stack = ns;
        *cap = ncap;
      }
      (*stack)[len++] = d;
    }
  }
  return 0;
}

static void err_task(ld_sched *s, int32_t id, int32_t worker, double t0, double t1);

int ld_sched_start(ld_sched *s) {
  if (s->live) return LD_SCHED_EINVAL;
  int32_t lo = s->started, hi = s->n;
  if (lo == hi) return 0;
  int any_wanted = 0;
  for (int32_t i = lo; i < hi; i++)
    if (s->wants[i] > 0) {
      any_wanted = 1;
      break;
    }
  if (any_wanted) {
    int32_t cap = 1024, *stack = malloc((size_t)cap * sizeof *stack);
    if (stack == NULL) return LD_SCHED_ENOMEM;
    for (int32_t i = lo; i < hi; i++)
      if (s->wants[i] > 0 && mark_needed(s, i, &stack, &cap) != 0) {
        free(stack);
        return LD_SCHED_ENOMEM;
      }
    free(stack);
  } else {
    for (int32_t i = lo; i < hi; i++) s->flags[i] |= F_NEEDED;
  }
  /* dependency counts; an old dependency must be live */
  int bad = 0;
  for (int32_t i = lo; i < hi; i++) {
    if (!(s->flags[i] & F_NEEDED)) {
      s->state[i] = LD_TASK_SKIPPED;
      continue;
    }
    s->state[i] = LD_TASK_WAITING;
    s->needed++;
    for (int32_t j = s->dep_start[i]; j < s->dep_start[i] + s->dep_n[i]; j++) {
      int32_t d = s->dep_idx[j];
      uint8_t st = s->state[d];
      if (d < lo && (st == LD_TASK_RELEASED || st == LD_TASK_SKIPPED || st == LD_TASK_ERRED ||
                     st == LD_TASK_CANCELLED))
        bad = 1;
      s->nrefs[d]++;
      if (st != LD_TASK_MEMORY) s->nwait[i]++;
    }
  }
  s->started = hi;
  if (bad) {
    for (int32_t i = lo; i < hi; i++)
      if (s->state[i] == LD_TASK_WAITING) err_task(s, i, -1, 0, 0);
    return LD_SCHED_ERELEASED;
  }
  int32_t queued = 0;
  for (int32_t i = lo; i < hi; i++) {
    if (s->state[i] == LD_TASK_WAITING && s->nwait[i] == 0) {
      if (sched_queue(s, i) != 0) return LD_SCHED_ENOMEM;
      s->state[i] = LD_TASK_READY;
      queued++;
    }
  }
  int64_t pending = s->needed - s->finished - s->erred;
  if (queued == 0 && s->processing == 0 && ld_sched_nready(s) == 0 && pending > 0)
    return LD_SCHED_ECYCLE;
  return 0;
}

int32_t ld_sched_pop(ld_sched *s, int32_t *out, int32_t max, int32_t worker) {
  if (s->live) return 0;
  ld_heap_order o = sched_order(s);
  int32_t k = 0;
  while (k < max) {
    /* the first of the two queues' heads */
    int32_t a = ld_heap_top(&s->ready[0], &o), b = ld_heap_top(&s->ready[1], &o), id;
    int q;
    if (a < 0 && b < 0) break;
    if (a < 0)
      q = 1;
    else if (b < 0)
      q = 0;
    else
      q = (s->prio[b] < s->prio[a] || (s->prio[b] == s->prio[a] && s->seq[b] < s->seq[a]));
    ld_heap_pop(&s->ready[q], &o, &id);
    s->state[id] = LD_TASK_PROCESSING;
    s->processing++;
    out[k++] = id;
    sched_emit(s, LD_EV_PROCESSING, id, worker, 0, 0);
  }
  return k;
}

/* Releases the result of ID when nothing needs it any more. */
static void maybe_release(ld_sched *s, int32_t id) {
  if (s->state[id] == LD_TASK_MEMORY && s->nrefs[id] == 0 && s->wants[id] == 0) {
    sched_drop_value(s, id);
    s->state[id] = LD_TASK_RELEASED;
    sched_emit(s, LD_EV_RELEASED, id, -1, 0, 0);
  }
}

int ld_sched_finish(ld_sched *s, int32_t id, void *value, int64_t nbytes, int32_t worker, double t0,
                    double t1) {
  if (!check_id(s, id)) return LD_SCHED_EINVAL;
  if (s->state[id] != LD_TASK_PROCESSING) return LD_SCHED_ESTATE;
  if (s->live) {
    s->value[id] = value;
    sched_emit(s, LD_EV_FINISHED, id, worker, t0, t1);
    return sched_live_finish(s, id, nbytes);
  }
  s->processing--;
  s->finished++;
  s->state[id] = LD_TASK_MEMORY;
  s->value[id] = value;
  s->nbytes[id] = nbytes;
  s->in_memory++;
  s->mem_bytes += nbytes;
  if (s->mem_bytes > s->peak_bytes) s->peak_bytes = s->mem_bytes;
  sched_emit(s, LD_EV_FINISHED, id, worker, t0, t1);
  if (!s->cancelled) {
    for (int32_t e = s->dhead[id]; e >= 0; e = s->enext[e]) {
      int32_t t = s->etask[e];
      if (s->state[t] == LD_TASK_WAITING && --s->nwait[t] == 0) {
        if (sched_queue(s, t) != 0) {
          /* out of memory: fail the dependent rather than lose it */
          err_task(s, t, -1, 0, 0);
          continue;
        }
        s->state[t] = LD_TASK_READY;
      }
    }
  }
  for (int32_t j = s->dep_start[id]; j < s->dep_start[id] + s->dep_n[id]; j++) {
    int32_t d = s->dep_idx[j];
    s->nrefs[d]--;
    maybe_release(s, d);
  }
  if (s->cancelled) {
    s->nrefs[id] = 0;
    maybe_release(s, id);
  }
  return 0;
}

/* Marks ID erred and, transitively, its waiting dependents. */
static void err_task(ld_sched *s, int32_t id, int32_t worker, double t0, double t1) {
  int32_t cap = 64, len = 0;
  int32_t *stack = malloc((size_t)cap * sizeof *stack);
  s->state[id] = LD_TASK_ERRED;
  s->erred++;
  sched_emit(s, LD_EV_ERRED, id, worker, t0, t1);
  if (stack == NULL) return; /* dependents stay waiting; the status is ERRED */
  stack[len++] = id;
  while (len > 0) {
    int32_t t = stack[--len];
    for (int32_t e = s->dhead[t]; e >= 0; e = s->enext[e]) {
      int32_t u = s->etask[e];
      if (s->state[u] != LD_TASK_WAITING) continue;
      s->state[u] = LD_TASK_ERRED;
      s->erred++;
      sched_emit(s, LD_EV_ERRED, u, -1, 0, 0);
      if (len == cap) {
        int32_t *ns = realloc(stack, (size_t)cap * 2 * sizeof *ns);
        if (ns == NULL) break;
        stack = ns;
        cap *= 2;
      }
      stack[len++] = u;
    }
  }
  free(stack);
}

int ld_sched_fail(ld_sched *s, int32_t id, int32_t worker, double t0, double t1) {
  if (!check_id(s, id)) return LD_SCHED_EINVAL;
  if (s->live) {
    sched_emit(s, LD_EV_ERRED, id, worker, t0, t1);
    return sched_live_fail(s, id);
  }
  if (s->state[id] != LD_TASK_PROCESSING) return LD_SCHED_ESTATE;
  s->processing--;
  if (s->first_error < 0) s->first_error = id;
  err_task(s, id, worker, t0, t1);
  for (int32_t j = s->dep_start[id]; j < s->dep_start[id] + s->dep_n[id]; j++) {
    int32_t d = s->dep_idx[j];
    s->nrefs[d]--;
    maybe_release(s, d);
  }
  return 0;
}

void ld_sched_cancel(ld_sched *s) {
  if (s->live) return;
  s->cancelled = 1;
  ld_heap_order o = sched_order(s);
  ld_heap_clear(&s->ready[0], &o);
  ld_heap_clear(&s->ready[1], &o);
  for (int32_t i = 0; i < s->n; i++) {
    uint8_t st = s->state[i];
    if (st == LD_TASK_WAITING || st == LD_TASK_READY || st == LD_TASK_NEW) {
      s->state[i] = LD_TASK_CANCELLED;
    } else if (st == LD_TASK_MEMORY) {
      s->nrefs[i] = 0;
      maybe_release(s, i);
    }
  }
}

void *ld_sched_value(const ld_sched *s, int32_t id) {
  if (!check_id(s, id) || s->state[id] != LD_TASK_MEMORY) return NULL;
  return s->value[id];
}

void *ld_sched_take(ld_sched *s, int32_t id) {
  if (s->live || !check_id(s, id) || s->state[id] != LD_TASK_MEMORY) return NULL;
  void *v = s->value[id];
  s->value[id] = NULL;
  s->in_memory--;
  s->mem_bytes -= s->nbytes[id];
  s->state[id] = LD_TASK_RELEASED;
  s->wants[id] = 0;
  return v;
}

int ld_sched_state(const ld_sched *s, int32_t id) {
  return id >= 0 && id < s->n ? s->state[id] : -1;
}

const int32_t *ld_sched_deps(const ld_sched *s, int32_t id, int32_t *n) {
  if (!check_id(s, id)) {
    *n = 0;
    return NULL;
  }
  *n = s->dep_n[id];
  /* no dependencies: dep_idx may still be NULL (no offset applied to it) */
  return *n ? s->dep_idx + s->dep_start[id] : NULL;
}

int ld_sched_info_of(const ld_sched *s, int32_t id, ld_sched_info *out) {
  if (!check_id(s, id)) return LD_SCHED_EINVAL;
  out->state = s->state[id];
  out->wants = s->wants[id];
  out->waiting_on = s->nwait[id];
  out->pending_dependents = s->nrefs[id];
  out->dependents = s->ndependents[id];
  out->deaths = s->deaths[id];
  out->ndeps = s->dep_n[id];
  out->prio = s->prio[id];
  return 0;
}

int32_t ld_sched_id_limit(const ld_sched *s) { return s->n; }

int32_t ld_sched_dependents(const ld_sched *s, int32_t id, int32_t *out, int32_t max) {
  if (!check_id(s, id)) return LD_SCHED_EINVAL;
  int32_t n = 0;
  for (int32_t e = s->dhead[id]; e >= 0; e = s->enext[e]) {
    int32_t t = s->etask[e];
    if (t < 0) continue; /* a forgotten record's entry */
    if (n < max) out[n] = t;
    n++;
  }
  return n;
}

int ld_sched_status(const ld_sched *s) {
  if (s->first_error >= 0 || s->erred > 0) return LD_SCHED_ERRED;
  if (s->cancelled) return LD_SCHED_CANCELLED;
  if (s->finished == s->needed) return LD_SCHED_DONE;
  if (ld_sched_nready(s) == 0 && s->processing == 0) return LD_SCHED_STUCK;
  return LD_SCHED_RUNNING;
}

size_t ld_sched_bytes(const ld_sched *s) {
  size_t per_task = 3 + 8 + 4 + 4 * 8 + sizeof(void *) + 8;
  return sizeof *s + (size_t)s->cap * per_task + (size_t)s->ecap * 12 +
         ld_heap_bytes(&s->ready[0]) + ld_heap_bytes(&s->ready[1]) +
         (size_t)(s->capcheck + s->capstack) * 4 + ld_keys_bytes(&s->keys) +
         (size_t)s->ev_cap * sizeof(ld_sched_event);
}

void ld_sched_get_stats(const ld_sched *s, ld_sched_stats *out) {
  out->ntasks = s->live ? s->nlive : s->n;
  out->needed = s->needed;
  out->finished = s->finished;
  out->processing = s->processing;
  out->ready = ld_sched_nready(s);
  out->erred = s->erred;
  out->in_memory = s->in_memory;
  out->mem_bytes = s->mem_bytes;
  out->peak_bytes = s->peak_bytes;
  out->engine_bytes = (int64_t)ld_sched_bytes(s);
}

void ld_sched_events_enable(ld_sched *s, int mask) { s->ev_mask = mask; }

int32_t ld_sched_events_drain(ld_sched *s, ld_sched_event *out, int32_t max) {
  int32_t k = 0;
  while (k < max && s->ev_len > 0) {
    out[k++] = s->ev[s->ev_head];
    s->ev_head = (s->ev_head + 1) % s->ev_cap;
    s->ev_len--;
  }
  return k;
}

int32_t ld_sched_first_error(const ld_sched *s) { return s->first_error; }

int32_t ld_sched_nready(const ld_sched *s) {
  return ld_heap_size(&s->ready[0]) + ld_heap_size(&s->ready[1]);
}
