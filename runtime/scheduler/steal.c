/* steal.c — work stealing in ldask-scheduler, as dask's: when a worker
 * has idle threads while another holds tasks it has not started (tasks
 * with inputs go where their inputs are, however many), the scheduler asks
 * the busy worker (the victim) to give some back (`steal-request`); the
 * victim drops each one that has not started and confirms, or refuses one
 * already running or done (`steal-response`); only a confirmed task is
 * sent to the idle worker (the thief). Tasks are chosen by how their run
 * time (the mean of their key prefix's runs, as dask's TaskPrefix
 * durations; 0.5 s while none has finished) compares with moving their
 * inputs (bytes not on the thief / bandwidth + latency): tasks shorter than
 * 5 ms, tasks with resources or scattered data stay; workers= is honoured.
 * Cheap when there is nothing to do: a count of processing tasks of slow
 * prefixes, kept as tasks are assigned, gates everything, and a scan of
 * the tasks runs at most every 2 ms, and after 20 times the last scan's
 * time (100 ms after one that moved nothing, unless the workers' loads
 * changed). docs/distributed.md, "Work
 * stealing"; docs/protocol.md. Runs on the scheduler's loop thread. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack.h"

#define STEAL_MIN_DURATION 0.005 /* s: shorter tasks are never moved (dask's) */
#define STEAL_UNKNOWN 0.5        /* s: a prefix none of whose tasks finished yet */
#define STEAL_LATENCY 0.002      /* s: a steal's round trips on a LAN */
#define STEAL_BANDWIDTH 100e6    /* bytes/s, dask's default estimate */
#define STEAL_MAX_COST 100.0     /* transfer / compute beyond which nothing moves */
#define STEAL_RESCAN 0.002       /* s between scans */
#define STEAL_BACKOFF 0.1        /* s after a scan that moved nothing */
#define STEAL_CANDIDATES 4096    /* tasks looked at per scan at most */
#define STEAL_MAX_KEYS 1024      /* keys in one steal-request / steal-response */

uint64_t sc_steals_asked, sc_steals_done, sc_steals_refused;

typedef struct sc_steal {
  uv_timer_t timer;             /* first: the struct is freed through it */
  double dur[SC_PREFIX_MAX];    /* mean run time by prefix, < 0 unknown */
  int32_t nproc[SC_PREFIX_MAX]; /* tasks of each prefix processing */
  int64_t nslow;                /* processing tasks of slow prefixes */
  double last_scan;             /* sc_now of the last scan */
  double next_scan;             /* no scan before (2 ms, or 20 x the last one's time) */
  int fruitless;                /* it moved nothing */
  uint64_t last_sig;            /* the workers' loads then */
} sc_steal;

/* Whether prefix P is long enough to move (unknown counts as long). */
static int slow(const sc_steal *s, int32_t p) {
  return s->dur[p] < 0 || s->dur[p] >= STEAL_MIN_DURATION;
}

/* T's index in the prefix tables (SC_PREFIX_OTHER when out of range). */
static int32_t prefix_of(const sc_task *t) {
  return t->prefix >= 0 && t->prefix < SC_PREFIX_MAX ? t->prefix : SC_PREFIX_OTHER;
}

/* Every 100 ms: balances even when no message comes (a worker that just
 * joined, long tasks running). TM->data is the sc_state. */
static void on_timer(uv_timer_t *tm) {
  sc_state *st = tm->data;
  sc_steal_maybe(st);
}

/* (sched.h) The state is owned by ST until sc_steal_free. */
int sc_steal_init(sc_state *st) {
  sc_steal *s = calloc(1, sizeof *s);
  if (s == NULL) return -1;
  for (int i = 0; i < SC_PREFIX_MAX; i++) s->dur[i] = -1;
  s->last_scan = -1;
  uv_timer_init(st->loop, &s->timer);
  uv_unref((uv_handle_t *)&s->timer);
  s->timer.data = st;
  uv_timer_start(&s->timer, on_timer, 100, 100);
  st->steal = s;
  return 0;
}

/* The timer is the first member of its sc_steal: frees both. */
static void free_timer(uv_handle_t *h) { free(h); }

/* (sched.h) Closes the timer; the state is freed by its close callback. */
void sc_steal_free(sc_state *st) {
  sc_steal *s = st->steal;
  if (s == NULL) return;
  st->steal = NULL;
  uv_timer_stop(&s->timer);
  uv_close((uv_handle_t *)&s->timer, free_timer);
}

/* (sched.h) The prefix's mean, as dask's: half the old one, half the new. */
void sc_steal_learn(sc_state *st, const sc_task *t, double d) {
  sc_steal *s = st->steal;
  if (s == NULL || !(d >= 0 && d < 1e7)) return;
  int32_t p = prefix_of(t);
  int was = slow(s, p);
  s->dur[p] = s->dur[p] < 0 ? d : 0.5 * s->dur[p] + 0.5 * d;
  int now = slow(s, p);
  if (was != now) s->nslow += now ? s->nproc[p] : -s->nproc[p];
}

/* (sched.h) T starts (ON 1) or stops (ON 0) processing: the counts that
 * gate stealing. */
void sc_steal_count(sc_state *st, const sc_task *t, int on) {
  sc_steal *s = st->steal;
  int32_t p = prefix_of(t);
  s->nproc[p] += on ? 1 : -1;
  if (slow(s, p)) s->nslow += on ? 1 : -1;
}

/* The live worker numbered ID, or NULL (it left). */
static sc_worker *worker_by_id(sc_state *st, int id) {
  for (sc_worker *w = st->workers; w; w = w->next)
    if (w->id == id) return w;
  return NULL;
}

/* (sched.h) */
void sc_steal_cancel(sc_state *st, sc_task *t, sc_worker *victim) {
  if (sc_r(t)->steal_to == 0) return;
  sc_worker *thief = worker_by_id(st, sc_r(t)->steal_to - 1);
  if (thief) thief->steal_in--;
  victim->steal_out--;
  t->rare->steal_to = 0;
}

/* Free threads of W counting steals under way to it (none while it
 * retires or is paused at its memory limit); tasks W holds beyond its
 * threads (queued there) counting steals under way from it. */
static int free_threads(const sc_worker *w) {
  return w->retiring || sc_paused(w) ? 0 : w->nthreads - w->nprocessing - w->steal_in;
}
static int queued(const sc_worker *w) { return w->nprocessing - w->steal_out - w->nthreads; }

typedef struct cand {
  int32_t id;
  int victim; /* index into the scan's worker arrays */
  int level;  /* dask's: round(log2(transfer / compute)) + 6, at least 1; 0 no inputs */
  double dur;
  int64_t prio;
} cand;

/* Lower level first (cheaper to move for the time it saves), then the
 * task its victim would run last. */
static int cand_cmp(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->level != y->level) return x->level < y->level ? -1 : 1;
  return (x->prio < y->prio) - (x->prio > y->prio);
}

/* Bytes of T's inputs W does not hold. */
static int64_t bytes_missing(const sc_state *st, const sc_task *t, const sc_worker *w) {
  int32_t nd;
  const int32_t *deps = ld_sched_deps(st->eng, t->id, &nd);
  int64_t b = 0;
  for (int32_t i = 0; i < nd; i++) {
    const sc_task *d = sc_side(st, deps[i]);
    sc_worker *const *who = sc_who_has(d);
    int here = 0;
    for (int j = 0; j < d->nwho && !here; j++) here = who[j] == w;
    if (!here) b += d->nbytes;
  }
  return b;
}

/* Sends W the steal-request for the N tasks IDS (in flight from now). */
static void request(sc_state *st, sc_worker *w, const int32_t *ids, int n) {
  sc_flush_worker(w); /* after the compute-tasks that gave it these */
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 2);
  S(&p, "op"), S(&p, "steal-request");
  S(&p, "keys");
  msgpack_pack_array(&p.pk, (size_t)n);
  for (int i = 0; i < n; i++) {
    size_t klen;
    const char *key = sc_key(st, sc_side(st, ids[i]), &klen);
    SN(&p, key, klen);
  }
  pk_send(&p, w->conn, NULL, 0);
  sc_steals_asked += (uint64_t)n;
}

/* One scan: the occupancy of every worker (expected seconds of work per
 * thread), the candidates on workers with queued tasks, then moves while
 * dask's rule holds: thief's occupancy + transfer <= victim's - run / 2.
 * Returns the number of steals asked. */
static int balance(sc_state *st) {
  sc_steal *s = st->steal;
  int nw = st->nworkers;
  sc_worker **ws = sc_xrealloc(NULL, (size_t)nw * sizeof *ws);
  double *occ = sc_xrealloc(NULL, (size_t)nw * sizeof *occ);
  int *q = sc_xrealloc(NULL, (size_t)nw * sizeof *q),
      *fr = sc_xrealloc(NULL, (size_t)nw * sizeof *fr);
  int k = 0;
  for (sc_worker *w = st->workers; w; w = w->next, k++) {
    ws[k] = w;
    occ[k] = 0;
    q[k] = queued(w);
    fr[k] = free_threads(w);
  }
  cand *cs = sc_xrealloc(NULL, STEAL_CANDIDATES * sizeof *cs);
  int nc = 0;
  int32_t limit = ld_sched_id_limit(st->eng);
  for (int32_t id = 0; id < limit; id++) {
    if (ld_sched_state(st->eng, id) != LD_TASK_PROCESSING) continue;
    sc_task *t = sc_side(st, id);
    sc_worker *w = t->processing_on;
    if (w == NULL) continue;
    int v = 0;
    while (v < nw && ws[v] != w) v++;
    if (v == nw) continue;
    int32_t p = prefix_of(t);
    double dur = s->dur[p] < 0 ? STEAL_UNKNOWN : s->dur[p];
    occ[v] += dur;
    if (q[v] <= 0 || nc == STEAL_CANDIDATES || sc_r(t)->steal_to || sc_r(t)->no_steal ||
        sc_r(t)->need || t->scattered || dur < STEAL_MIN_DURATION)
      continue;
    int32_t nd;
    ld_sched_deps(st->eng, id, &nd);
    int level = 0;
    if (nd > 0) {
      int64_t bytes = 0;
      const int32_t *deps = ld_sched_deps(st->eng, id, &nd);
      for (int32_t i = 0; i < nd; i++) bytes += sc_side(st, deps[i])->nbytes;
      double cost = ((double)bytes / STEAL_BANDWIDTH + STEAL_LATENCY) / dur;
      if (cost > STEAL_MAX_COST) continue;
      level = (int)lround(log2(cost) + 6);
      if (level < 1) level = 1;
    }
    ld_sched_info info;
    ld_sched_info_of(st->eng, id, &info);
    cs[nc++] = (cand){id, v, level, dur, info.prio};
  }
  for (int i = 0; i < nw; i++) occ[i] /= ws[i]->nthreads > 0 ? ws[i]->nthreads : 1;
  qsort(cs, (size_t)nc, sizeof *cs, cand_cmp);
  /* choose, then ask each victim once */
  int *to = sc_xrealloc(NULL, (size_t)(nc ? nc : 1) * sizeof *to);
  int asked = 0;
  for (int i = 0; i < nc; i++) {
    to[i] = -1;
    cand *c = &cs[i];
    int v = c->victim;
    if (q[v] <= 0) continue;
    sc_task *t = sc_side(st, c->id);
    int best = -1;
    for (int j = 0; j < nw; j++)
      if (j != v && fr[j] > 0 && sc_allowed(t, ws[j]) && (best < 0 || occ[j] < occ[best])) best = j;
    if (best < 0) continue;
    double transfer = (double)bytes_missing(st, t, ws[best]) / STEAL_BANDWIDTH + STEAL_LATENCY;
    if (occ[best] + transfer > occ[v] - c->dur / 2) continue;
    to[i] = best;
    q[v]--;
    fr[best]--;
    occ[best] += (c->dur + transfer) / ws[best]->nthreads;
    occ[v] -= c->dur / ws[v]->nthreads;
    sc_rw(t)->steal_to = ws[best]->id + 1;
    ws[best]->steal_in++;
    ws[v]->steal_out++;
    asked++;
  }
  int32_t *ids = sc_xrealloc(NULL, (size_t)(nc ? nc : 1) * sizeof *ids);
  for (int v = 0; v < nw && asked > 0; v++) {
    int n = 0;
    for (int i = 0; i < nc; i++) {
      if (to[i] < 0 || cs[i].victim != v) continue;
      ids[n++] = cs[i].id;
      if (n == STEAL_MAX_KEYS) {
        request(st, ws[v], ids, n);
        n = 0;
      }
    }
    if (n > 0) request(st, ws[v], ids, n);
  }
  free(ids);
  free(to);
  free(cs);
  free(fr);
  free(q);
  free(occ);
  free(ws);
  return asked;
}

/* (sched.h) */
void sc_steal_maybe(sc_state *st) {
  sc_steal *s = st->steal;
  if (s == NULL || s->nslow <= 0 || st->nworkers < 2) return;
  int thieves = 0, victims = 0;
  uint64_t sig = 0; /* the loads, hashed (wraps) */
  for (const sc_worker *w = st->workers; w; w = w->next) {
    int f = free_threads(w), q = queued(w);
    if (f > 0) thieves += f;
    if (q > 0) victims += q;
    sig = sig * 31 + (uint64_t)(f > 0 ? f : 0) * 7 + (uint64_t)(q > 0 ? q : 0);
  }
  if (thieves == 0 || victims == 0) return;
  double now = sc_now(st);
  if (s->last_scan >= 0) {
    if (now < s->next_scan) return;
    if (s->fruitless && sig == s->last_sig && now < s->last_scan + STEAL_BACKOFF) return;
  }
  uint64_t t0 = uv_hrtime();
  s->fruitless = balance(st) == 0;
  double took = (double)(uv_hrtime() - t0) * 1e-9;
  /* a scan reads the whole task table: at most 5% of the loop's time */
  s->last_scan = now;
  s->next_scan = now + (20 * took > STEAL_RESCAN ? 20 * took : STEAL_RESCAN);
  s->last_sig = sig;
}

/* steal-response: keys, ok (one boolean each). A confirmed task was dropped
 * by W: it goes to its thief (or back to the queue when the thief left);
 * a refused one stays where it runs. Entries that no longer match a steal
 * in flight from W (the task finished, was cancelled, moved) are ignored. */
void sc_steal_response(sc_state *st, sc_worker *w, const msgpack_object *h) {
  const msgpack_object *keys = arr(h, "keys"), *ok = arr(h, "ok");
  if (keys == NULL || ok == NULL || keys->via.array.size != ok->via.array.size ||
      keys->via.array.size > STEAL_MAX_KEYS) {
    send_error(w->conn,
               "steal-response: 'keys' and 'ok' must be arrays of the same length, at most 1024");
    return;
  }
  for (uint32_t i = 0; i < keys->via.array.size; i++) {
    sc_task *t = find(st, &keys->via.array.ptr[i]);
    if (t == NULL || sc_r(t)->steal_to == 0 || t->processing_on != w ||
        sc_state_of(st, t) != LD_TASK_PROCESSING)
      continue;
    sc_worker *thief = worker_by_id(st, sc_r(t)->steal_to - 1);
    sc_steal_cancel(st, t, w);
    const msgpack_object *o = &ok->via.array.ptr[i];
    if (o->type != MSGPACK_OBJECT_BOOLEAN || !o->via.boolean) {
      sc_steals_refused++;
      sc_rw(t)->no_steal = 1; /* it runs there: asking again would be refused again */
      continue;
    }
    sc_steals_done++;
    sc_unassign(st, t); /* W dropped it: nothing to tell W */
    ld_sched_requeue(st->eng, t->id, 0);
    ld_sched_compute(st->eng, t->id);
    if (thief && thief->alive && sc_allowed(t, thief) && sc_state_of(st, t) == LD_TASK_READY)
      sc_run_on(st, t, thief);
    /* else the next sc_fill places it */
  }
}
