/* restart.c — client:restart() on ldask-scheduler (dask's
 * Scheduler.restart): every task is cancelled and every result dropped
 * (clients get key-cancelled for the keys they want), every worker is told
 * to restart (a worker with a nanny exits with WK_EXIT_RESTART and its
 * nanny starts it again; one without stops, as in dask), and the client's
 * request is answered with restart-reply once every old worker has left
 * and as many workers as had nannies are registered again — or with an
 * error naming how many came back when its timeout passes. Runs on the
 * scheduler's loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack.h"

typedef struct sc_restart {
  int client;   /* who asked */
  int64_t id;   /* its request id */
  int want;     /* workers expected back (those with nannies) */
  double until; /* when to give up waiting */
  double timeout;
  int *old; /* ids of the workers told to restart */
  int nold;
  struct sc_restart *next;
} sc_restart;

static sc_restart *pending;
static uv_timer_t check_timer;
static int timer_ready;

/* Answers restart R (ok, or an error MSG) and frees it. */
static void answer(sc_state *st, sc_restart *r, const char *msg) {
  sc_client *c = sc_find_client(st, r->client);
  if (c) {
    pk_t p;
    pk_init(&p);
    pk_reply_head(&p, msg ? 5 : 4, "restart-reply", r->id, msg == NULL);
    S(&p, "nworkers"), I(&p, st->nworkers);
    if (msg) S(&p, "message"), S(&p, msg);
    pk_send(&p, c->conn, NULL, 0);
  }
  free(r->old);
  free(r);
}

/* Whether a worker of id ID is still registered. */
static int registered(const sc_state *st, int id) {
  for (const sc_worker *w = st->workers; w; w = w->next)
    if (w->id == id) return 1;
  return 0;
}

/* Answers the restarts that are complete or past their time. */
static void check(uv_timer_t *t) {
  sc_state *st = t->data;
  double now = sc_now(st);
  for (sc_restart **pp = &pending; *pp;) {
    sc_restart *r = *pp;
    int old_left = 0;
    for (int i = 0; i < r->nold; i++) old_left += registered(st, r->old[i]);
    char msg[200];
    const char *err = NULL;
    if (old_left == 0 && st->nworkers >= r->want) {
      err = NULL;
    } else if (now > r->until) {
      snprintf(msg, sizeof msg,
               "restart: %d of %d worker(s) came back within %g s (%d old one(s) still "
               "registered)",
               old_left ? st->nworkers - old_left : st->nworkers, r->want, r->timeout, old_left);
      err = msg;
    } else {
      pp = &r->next;
      continue;
    }
    *pp = r->next;
    if (err) fprintf(stderr, "ldask-scheduler: %s\n", err);
    answer(st, r, err);
  }
  if (pending == NULL) uv_timer_stop(&check_timer);
}

/* Drops every result and cancels every task (two passes: losing a result
 * may make tasks ready again, which the second pass cancels). */
static void forget_all(sc_state *st) {
  int32_t limit = ld_sched_id_limit(st->eng);
  for (int32_t id = 0; id < limit; id++) {
    if (ld_sched_state(st->eng, id) != LD_TASK_MEMORY) continue;
    sc_task *t = sc_side(st, id);
    while (t->nwho > 0 && sc_side(st, id)->id == id) sc_remove_holder(st, t, sc_who_has(t)[0]);
    if (ld_sched_state(st->eng, id) == LD_TASK_MEMORY) {
      /* kept only here (a small result with no holder left): dropped */
      sc_frames_drop(&t->result);
      ld_sched_lost(st->eng, id);
    }
  }
  limit = ld_sched_id_limit(st->eng);
  for (int32_t id = 0; id < limit; id++) {
    int s = ld_sched_state(st->eng, id);
    if (s == LD_TASK_RELEASED || s == LD_TASK_WAITING || s == LD_TASK_READY ||
        s == LD_TASK_PROCESSING)
      ld_sched_cancel_task(st->eng, id);
  }
}

void sc_op_restart(sc_state *st, sc_client *cl, const msgpack_object *h) {
  int64_t id = 0;
  double timeout = 30;
  ld_mp_get_i64(h, "id", &id);
  const msgpack_object *to = ld_mp_get(h, "timeout");
  if (to && to->type == MSGPACK_OBJECT_FLOAT64 && to->via.f64 > 0) timeout = to->via.f64;
  if (to && to->type == MSGPACK_OBJECT_POSITIVE_INTEGER && to->via.u64 > 0)
    timeout = (double)to->via.u64;
  fprintf(stderr,
          "ldask-scheduler: restart asked by client %d: cancelling every task, "
          "restarting %d worker(s)\n",
          cl->id, st->nworkers);
  forget_all(st);
  sc_restart *r = calloc(1, sizeof *r);
  if (r == NULL) abort();
  r->client = cl->id;
  r->id = id;
  r->timeout = timeout;
  r->until = sc_now(st) + timeout;
  r->old = sc_xrealloc(NULL, (size_t)(st->nworkers + 1) * sizeof *r->old);
  for (sc_worker *w = st->workers; w; w = w->next) {
    r->old[r->nold++] = w->id;
    if (w->nanny) r->want++;
    sc_flush_worker(w);
    pk_t p;
    pk_init(&p);
    msgpack_pack_map(&p.pk, 1);
    S(&p, "op"), S(&p, "restart");
    pk_send(&p, w->conn, NULL, 0);
  }
  r->next = pending;
  pending = r;
  sc_poll_timer(st, &check_timer, &timer_ready, check);
}

void sc_restart_free(void) {
  while (pending) {
    sc_restart *r = pending;
    pending = r->next;
    free(r->old);
    free(r);
  }
}
