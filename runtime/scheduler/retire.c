/* retire.c — client:retire_workers() on ldask-scheduler (dask's
 * Scheduler.retire_workers): the chosen workers (named, or the N holding
 * the fewest bytes) are marked retiring (placement.c gives them no new
 * task), the tasks already sent to them finish, every result held only
 * by retiring workers is copied to a remaining worker (the retiring one
 * sends it here with send-data, it goes on as put-data; the receiver's
 * task-finished adds it as a replica), then each retiring worker is told
 * to close (code 0: its nanny does not restart it) and the client's
 * request is answered with retire-workers-reply once they have left. If
 * the copies cannot be made within the request's timeout, the workers
 * are kept (no longer retiring) and the reply is an error. With no
 * remaining worker the results cannot move: the workers close anyway
 * (dask's behaviour) and their results are recomputed when needed.
 * Runs on the scheduler's loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack.h"

/* The client id send-data carries for a copy made by a retirement: the
 * worker's gather-data then comes back to sc_retire_on_data. */
#define RETIRE_CLIENT (-2)

typedef struct sc_retire {
  int client;   /* who asked */
  int64_t id;   /* its request id */
  double until; /* when to give up */
  double timeout;
  double asked; /* when the copies were last asked for (<0: not yet) */
  int phase;    /* 0 draining tasks, 1 copying, 2 closing */
  int *ids;     /* the retiring workers' ids */
  char (*names)[96], (*addrs)[96];
  int n;
  struct sc_retire *next;
} sc_retire;

static sc_retire *pending;
static uv_timer_t check_timer;
static int timer_ready;

static sc_worker *by_id(const sc_state *st, int id) {
  for (sc_worker *w = st->workers; w; w = w->next)
    if (w->id == id) return w;
  return NULL;
}

/* Answers R (ok, or an error MSG) and frees it. */
static void answer(sc_state *st, sc_retire *r, const char *msg) {
  sc_client *c = sc_find_client(st, r->client);
  if (c) {
    pk_t p;
    pk_init(&p);
    pk_reply_head(&p, msg ? 5 : 4, "retire-workers-reply", r->id, msg == NULL);
    S(&p, "workers");
    msgpack_pack_array(&p.pk, (size_t)r->n);
    for (int i = 0; i < r->n; i++) {
      msgpack_pack_map(&p.pk, 2);
      S(&p, "name"), S(&p, r->names[i]);
      S(&p, "address"), S(&p, r->addrs[i]);
    }
    if (msg) S(&p, "message"), S(&p, msg);
    pk_send(&p, c->conn, NULL, 0);
  }
  free(r->ids);
  free(r->names);
  free(r->addrs);
  free(r);
}

/* The remaining (not retiring) worker holding the fewest bytes, or NULL. */
static sc_worker *receiver(sc_state *st) {
  sc_worker *best = NULL;
  for (sc_worker *w = st->workers; w; w = w->next)
    if (!w->retiring && (best == NULL || w->nbytes < best->nbytes)) best = w;
  return best;
}

/* Whether T (in memory) is held by retiring workers only. */
static int stranded(const sc_task *t) {
  sc_worker *const *who = sc_who_has(t);
  for (int i = 0; i < t->nwho; i++)
    if (!who[i]->retiring) return 0;
  return t->nwho > 0;
}

/* Counts the results held only by retiring workers; with ASK, asks the
 * first holder of each to send it here (one send-data per worker). */
static int count_stranded(sc_state *st, int ask) {
  int n = 0;
  int32_t limit = ld_sched_id_limit(st->eng);
  sc_task **batch = NULL;
  int nbatch = 0;
  for (sc_worker *w = ask ? st->workers : NULL; w; w = w->next) {
    if (!w->retiring) continue;
    nbatch = 0;
    for (int32_t id = 0; id < limit; id++) {
      if (ld_sched_state(st->eng, id) != LD_TASK_MEMORY) continue;
      sc_task *t = sc_side(st, id);
      if (!stranded(t) || sc_who_has(t)[0] != w) continue;
      batch = sc_xrealloc(batch, (size_t)(nbatch + 1) * sizeof *batch);
      batch[nbatch++] = t;
    }
    if (nbatch > 0) sc_send_data_request(st, w, batch, nbatch, RETIRE_CLIENT);
  }
  free(batch);
  for (int32_t id = 0; id < limit; id++)
    if (ld_sched_state(st->eng, id) == LD_TASK_MEMORY && stranded(sc_side(st, id))) n++;
  return n;
}

static void set_retiring(sc_state *st, sc_retire *r, int on) {
  for (int i = 0; i < r->n; i++) {
    sc_worker *w = by_id(st, r->ids[i]);
    if (w) w->retiring = on;
  }
}

/* Moves each pending retirement on; answers those done or past their time. */
static void check(uv_timer_t *t) {
  sc_state *st = t->data;
  double now = sc_now(st);
  for (sc_retire **pp = &pending; *pp;) {
    sc_retire *r = *pp;
    const char *err = NULL;
    char msg[240];
    int done = 0, present = 0, busy = 0;
    for (int i = 0; i < r->n; i++) {
      sc_worker *w = by_id(st, r->ids[i]);
      if (w) present++, busy += w->nprocessing;
    }
    if (r->phase == 0 && (busy == 0 || now > r->until - r->timeout / 2)) r->phase = 1;
    if (r->phase == 1) {
      int left = receiver(st) ? count_stranded(st, 0) : 0;
      if (left == 0) {
        r->phase = 2;
        for (int i = 0; i < r->n; i++) {
          sc_worker *w = by_id(st, r->ids[i]);
          if (w == NULL) continue;
          fprintf(stderr, "ldask-scheduler: retiring worker %s (%s): closing it\n", w->name,
                  w->addr);
          sc_flush_worker(w);
          pk_t p;
          pk_init(&p);
          msgpack_pack_map(&p.pk, 1);
          S(&p, "op"), S(&p, "close");
          pk_send(&p, w->conn, NULL, 0);
        }
      } else if (now > r->until) {
        snprintf(msg, sizeof msg,
                 "retire_workers: %d result(s) held only by the retiring worker(s) could not be "
                 "copied to another worker within %g s; the workers are kept",
                 left, r->timeout);
        err = msg;
        set_retiring(st, r, 0);
      } else if (r->asked < 0 || now - r->asked > 5) {
        count_stranded(st, 1);
        r->asked = now;
      }
    }
    if (r->phase == 2 && present == 0) done = 1;
    if (!done && !err && r->phase == 2 && now > r->until + 10) {
      snprintf(msg, sizeof msg, "retire_workers: %d worker(s) told to close are still connected",
               present);
      err = msg;
    }
    if (!done && !err) {
      pp = &r->next;
      continue;
    }
    *pp = r->next;
    if (err) fprintf(stderr, "ldask-scheduler: %s\n", err);
    answer(st, r, err);
    sc_fill(st); /* tasks parked while only retiring workers could take them */
  }
  if (pending == NULL) uv_timer_stop(&check_timer);
}

/* Whether worker W is named by one of the strings of array WS. */
static int named(const msgpack_object *ws, const sc_worker *w) {
  for (uint32_t j = 0; j < ws->via.array.size; j++)
    if (ld_mp_str_eq(&ws->via.array.ptr[j], w->name) ||
        ld_mp_str_eq(&ws->via.array.ptr[j], w->addr))
      return 1;
  return 0;
}

void sc_op_retire(sc_state *st, sc_client *cl, const msgpack_object *h) {
  int64_t id = 0, n = -1;
  double timeout = 60;
  ld_mp_get_i64(h, "id", &id);
  ld_mp_get_i64(h, "n", &n);
  ld_mp_get_f64(h, "timeout", &timeout);
  if (!(timeout > 0)) timeout = 60;
  const msgpack_object *ws = ld_mp_get(h, "workers");
  if (ws && ws->type != MSGPACK_OBJECT_ARRAY) ws = NULL;
  sc_retire *r = calloc(1, sizeof *r);
  if (r == NULL) abort();
  r->client = cl->id;
  r->id = id;
  r->timeout = timeout;
  r->until = sc_now(st) + timeout;
  r->asked = -1;
  size_t cap = (size_t)st->nworkers + 1;
  r->ids = sc_xrealloc(NULL, cap * sizeof *r->ids);
  r->names = sc_xrealloc(NULL, cap * sizeof *r->names);
  r->addrs = sc_xrealloc(NULL, cap * sizeof *r->addrs);
  if (ws) {
    for (sc_worker *w = st->workers; w; w = w->next)
      if (!w->retiring && named(ws, w)) r->ids[r->n++] = w->id;
  } else {
    /* The N cheapest to retire: fewest tasks running, then fewest bytes
     * held (dask's workers_to_close picks idle, small workers). */
    while (n > 0) {
      sc_worker *best = NULL;
      for (sc_worker *w = st->workers; w; w = w->next) {
        if (w->retiring) continue;
        int taken = 0;
        for (int i = 0; i < r->n; i++) taken |= r->ids[i] == w->id;
        if (taken) continue;
        if (best == NULL || w->nprocessing < best->nprocessing ||
            (w->nprocessing == best->nprocessing && w->nbytes < best->nbytes))
          best = w;
      }
      if (best == NULL) break;
      r->ids[r->n++] = best->id;
      n--;
    }
  }
  for (int i = 0; i < r->n; i++) {
    sc_worker *w = by_id(st, r->ids[i]);
    w->retiring = 1;
    snprintf(r->names[i], sizeof r->names[i], "%s", w->name);
    snprintf(r->addrs[i], sizeof r->addrs[i], "%s", w->addr);
  }
  fprintf(stderr, "ldask-scheduler: client %d retires %d worker(s)\n", cl->id, r->n);
  if (r->n == 0) {
    answer(st, r, NULL);
    return;
  }
  r->next = pending;
  pending = r;
  sc_poll_timer(st, &check_timer, &timer_ready, check);
}

int sc_retire_on_data(sc_state *st, sc_worker *from, ld_msg *m, const msgpack_object *h) {
  int64_t cid = 0;
  if (!ld_mp_get_i64(h, "client", &cid) || cid != RETIRE_CLIENT) return 0;
  const msgpack_object *missing = ld_mp_get(h, "missing");
  for (uint32_t i = 0;
       missing && missing->type == MSGPACK_OBJECT_ARRAY && i < missing->via.array.size; i++) {
    const msgpack_object *k = &missing->via.array.ptr[i];
    if (k->type != MSGPACK_OBJECT_STR) continue;
    int32_t tid = ld_sched_find(st->eng, k->via.str.ptr, k->via.str.size);
    if (tid >= 0) sc_remove_holder(st, sc_side(st, tid), from);
  }
  const msgpack_object *keys = ld_mp_get(h, "keys");
  uint32_t next = 1;
  for (uint32_t i = 0; keys && keys->type == MSGPACK_OBJECT_ARRAY && i < keys->via.array.size;
       i++) {
    const msgpack_object *rec = &keys->via.array.ptr[i];
    const char *key;
    size_t klen;
    int64_t nf = 1;
    ld_mp_get_i64(rec, "nframes", &nf);
    if (!ld_mp_get_str(rec, "key", &key, &klen) || nf < 1 || next + (uint64_t)nf > m->nframes)
      break;
    int32_t tid = ld_sched_find(st->eng, key, klen);
    sc_worker *to = receiver(st);
    if (tid >= 0 && to && ld_sched_state(st->eng, tid) == LD_TASK_MEMORY) {
      sc_send_put_data(to, key, klen, m->frames + next, (uint32_t)nf);
    }
    next += (uint32_t)nf;
  }
  ld_msg_free(m);
  return 1;
}

void sc_retire_free(void) {
  while (pending) {
    sc_retire *r = pending;
    pending = r->next;
    free(r->ids);
    free(r->names);
    free(r->addrs);
    free(r);
  }
}
