/* placement.c — where ldask-scheduler runs ready tasks: takes them from the
 * engine's ready queues in priority order and picks a worker: the one
 * holding most of the task's input bytes, else the least loaded; honours
 * restrictions (workers=); sends input tasks (no dependencies) only as
 * fast as the workers run them, and none to a worker over its memory
 * limit while another can take them (see docs/protocol.md, "Scheduler
 * behaviour"). Runs on the scheduler's loop thread. */
#include <math.h>
#include <string.h>

#include "sched.h"

/* (sched.h) Its workers= restriction, if any, and the resources it needs. */
int sc_allowed(const sc_task *t, const sc_worker *w) {
  if (w->retiring) return 0; /* retire_workers: it takes no new task */
  if (sc_r(t)->need && !sc_res_has(t, w)) return 0;
  if (sc_r(t)->nrestrict == 0) return 1;
  for (int i = 0; i < sc_r(t)->nrestrict; i++)
    if (strcmp(sc_r(t)->restrict_to[i], w->name) == 0 ||
        strcmp(sc_r(t)->restrict_to[i], w->addr) == 0)
      return 1;
  return 0;
}

/* Whether T is restricted (workers=, resources) to workers none of which
 * is connected: dask's no-worker state (it waits until one joins). */
int sc_no_worker(const sc_state *st, const sc_task *t) {
  if (sc_r(t)->nrestrict == 0 && sc_r(t)->need == NULL) return 0;
  for (const sc_worker *w = st->workers; w; w = w->next)
    if (sc_allowed(t, w)) return 0;
  return 1;
}

/* Queued work a worker should hold so that it never idles while the
 * scheduler's next message is under way (seconds). */
#define QUEUE_BUDGET 0.002
#define MAX_PER_THREAD 1000.0

enum { NEED_ROOM = 1, NEED_ROOM_URGENT = 2 };

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

/* (sched.h) A worker at its memory limit takes no new input tasks: the bytes of
 * results in RAM or its process memory, whichever is more, as reported in
 * its heartbeats (memory, process_memory), against 0.8 x its limit (it
 * spills beyond), else the scheduler's own sum of its results against the
 * limit. */
int sc_paused(const sc_worker *w) {
  if (w->memory_limit <= 0) return 0;
  if (w->mem_reported >= 0) {
    int64_t held = w->proc_reported > w->mem_reported ? w->proc_reported : w->mem_reported;
    return (double)held >= 0.8 * (double)w->memory_limit;
  }
  return w->nbytes >= w->memory_limit;
}

/* Whether some worker T may run on is not paused. */
static int someone_unpaused(const sc_state *st, const sc_task *t) {
  for (const sc_worker *w = st->workers; w; w = w->next)
    if (!sc_paused(w) && sc_allowed(t, w)) return 1;
  return 0;
}

/* The worker for T: most input bytes held, then least occupied. With
 * NEED_ROOM only workers below their capacity qualify (NEED_ROOM_URGENT:
 * below capacity + nthreads, see urgent()). */
static sc_worker *decide(sc_state *st, sc_task *t, int need_room) {
  int32_t ndeps;
  const int32_t *deps = ld_sched_deps(st->eng, t->id, &ndeps);
  /* Input tasks that come one after the other in priority order are
   * usually siblings (their results meet in the same task): keep them on
   * one worker while it has room, so that fewer results need to move. */
  sc_worker *last = st->last_root;
  if (ndeps == 0 && last && sc_allowed(t, last) && last->nprocessing < capacity(st, last) &&
      (sc_r(t)->need == NULL || sc_res_fits(t, last)) &&
      !(sc_paused(last) && someone_unpaused(st, t)))
    return last;
  sc_worker *best = NULL;
  int64_t best_bytes = -1;
  double best_occ = 0;
  for (sc_worker *w = st->workers; w; w = w->next) {
    if (!sc_allowed(t, w) || (sc_r(t)->need && !sc_res_fits(t, w))) continue;
    if (need_room &&
        w->nprocessing >= capacity(st, w) + (need_room == NEED_ROOM_URGENT ? w->nthreads : 0))
      continue;
    /* A paused worker takes no new input tasks while another one can;
     * tasks with inputs still go where the inputs are, since running them
     * is what frees memory. */
    if (need_room && sc_paused(w) && someone_unpaused(st, t)) continue;
    int64_t bytes = 0;
    for (int32_t i = 0; i < ndeps; i++) {
      const sc_task *d = sc_side(st, deps[i]);
      sc_worker *const *who = sc_who_has(d);
      for (int j = 0; j < d->nwho; j++)
        if (who[j] == w) bytes += d->nbytes + 1;
    }
    double occ = (double)w->nprocessing / w->nthreads;
    if (bytes > best_bytes || (bytes == best_bytes && occ < best_occ)) {
      best = w;
      best_bytes = bytes;
      best_occ = occ;
    }
  }
  if (ndeps == 0 && best) st->last_root = best;
  return best;
}

/* Whether input task ID carries a priority the user raised (priority= > 0:
 * the client sends -priority * 2^32 + position). Such a task does not wait
 * behind the input tasks already queued on the workers: it may go out
 * beyond capacity (by nthreads per worker at most), and the worker, which
 * runs its queue in priority order, starts it next, as dask does. */
static int urgent(const sc_state *st, int32_t id) {
  ld_sched_info info;
  if (ld_sched_info_of(st->eng, id, &info) != 0) return 0;
  return info.prio < -((int64_t)1 << 31);
}

/* (sched.h) */
void sc_run_on(sc_state *st, sc_task *t, sc_worker *w) {
  ld_sched_assign(st->eng, t->id, w->id);
  t->processing_on = w;
  w->nprocessing++;
  if (t->rare) t->rare->no_steal = 0;
  if (sc_r(t)->need) sc_res_take(t, w);
  if (st->steal) sc_steal_count(st, t, 1);
  sc_send_compute(st, t, w);
}

/* (sched.h) Both queues, tasks with inputs first. */
void sc_fill(sc_state *st) {
  if (st->nworkers == 0) return;
  if (st->res_wake) sc_res_unpark_all(st);
  int32_t parked[64];
  int nparked = 0;
  /* Tasks with inputs go out at once (running them frees memory); a task
   * restricted to absent workers waits aside. */
  int32_t id;
  while ((id = ld_sched_peek(st->eng, 0)) >= 0) {
    sc_task *t = sc_side(st, id);
    sc_worker *w = decide(st, t, 0);
    if (w) {
      sc_run_on(st, t, w);
      continue;
    }
    if (sc_r(t)->need) { /* waits aside for its resources */
      sc_res_park(st, id);
      continue;
    }
    if (nparked == 64) break;
    ld_sched_park(st->eng, id);
    parked[nparked++] = id;
  }
  /* Input tasks only while some worker has room. */
  int skipped = 0;
  while ((id = ld_sched_peek(st->eng, 1)) >= 0) {
    sc_task *t = sc_side(st, id);
    sc_worker *w = decide(st, t, NEED_ROOM);
    if (!w && urgent(st, id)) w = decide(st, t, NEED_ROOM_URGENT);
    if (w) {
      sc_run_on(st, t, w);
      continue;
    }
    if (sc_r(t)->need) {
      sc_res_park(st, id);
      continue;
    }
    if (sc_r(t)->nrestrict == 0 || skipped == 64 || nparked == 64) break;
    ld_sched_park(st->eng, id);
    parked[nparked++] = id;
    skipped++;
  }
  for (int i = 0; i < nparked; i++) ld_sched_unpark(st->eng, parked[i]);
  if (st->steal) sc_steal_maybe(st);
}
