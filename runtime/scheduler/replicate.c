/* replicate.c — copies of results between workers, asked by a client:
 * `replicate` (every key held by N workers) and `rebalance` (results moved
 * from the workers holding more bytes than the mean to those holding
 * less). A copy goes in two steps: the data is asked from a holder
 * (send-data with the client id SC_REPLICA_CLIENT; its gather-data comes
 * to sc_replica_data), then sent to the target as a put-data; the target's
 * task-finished adds it as a holder (sc_replica_arrived) and, for a move,
 * the source is told to drop its copy. A small result the scheduler keeps
 * goes out at once. Copies pending are dropped when a worker involved goes
 * away or the source no longer has the data; their number is in the
 * `identity` reply (`transfers_pending`), which Client:rebalance and
 * Client:replicate wait on (docs/protocol.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack.h"

#define SC_MAX_COPIES 100000 /* copies pending at a time */

typedef struct copy {
  int32_t task;
  int target; /* worker id */
  int source; /* worker id asked for the data; -1: the scheduler's copy */
  int move;   /* the source drops its copy once the target has it */
  int sent;   /* put-data sent to the target */
} copy;

static copy *copies;
static int ncopies, capcopies;

int sc_copies_pending(void) { return ncopies; }

static sc_worker *worker_by_id(sc_state *st, int id) {
  for (sc_worker *w = st->workers; w; w = w->next)
    if (w->id == id) return w;
  return NULL;
}

static int holds(const sc_task *t, const sc_worker *w) {
  sc_worker *const *who = sc_who_has(t);
  for (int i = 0; i < t->nwho; i++)
    if (who[i] == w) return 1;
  return 0;
}

static int pending_to(const sc_task *t, const sc_worker *w) {
  for (int i = 0; i < ncopies; i++)
    if (copies[i].task == t->id && copies[i].target == w->id) return 1;
  return 0;
}

static void send_put(sc_state *st, sc_worker *target, sc_task *t, ld_buffer *const *frames,
                     uint32_t n) {
  size_t klen;
  const char *key = sc_key(st, t, &klen);
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 3);
  S(&p, "op"), S(&p, "put-data");
  S(&p, "key"), SN(&p, key, klen);
  S(&p, "nframes"), I(&p, n);
  sc_flush_worker(target);
  pk_send(&p, target->conn, frames, n);
}

/* Starts a copy of T (in memory) to TARGET, from SOURCE (a holder);
 * MOVE: SOURCE drops it after. Returns 1 when started. */
static int start_copy(sc_state *st, sc_task *t, sc_worker *target, sc_worker *source, int move) {
  if (ncopies >= SC_MAX_COPIES || holds(t, target) || pending_to(t, target)) return 0;
  if (ncopies == capcopies) {
    capcopies = capcopies ? capcopies * 2 : 64;
    copies = sc_xrealloc(copies, (size_t)capcopies * sizeof *copies);
  }
  copy *c = &copies[ncopies++];
  c->task = t->id;
  c->target = target->id;
  c->source = source ? source->id : -1;
  c->move = move;
  c->sent = 0;
  if (t->result.n > 0) { /* kept here: sent at once */
    send_put(st, target, t, sc_frames_ptr(&t->result), t->result.n);
    c->sent = 1;
    c->source = move && source ? source->id : -1;
  } else {
    sc_send_data_request(st, source, &t, 1, SC_REPLICA_CLIENT);
  }
  return 1;
}

static void reply(sc_client *cl, int64_t id, int started) {
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 3);
  S(&p, "op"), S(&p, "admin-reply");
  S(&p, "id"), I(&p, id);
  S(&p, "started"), I(&p, started);
  pk_send(&p, cl->conn, NULL, 0);
}

void sc_op_replicate(sc_state *st, sc_client *cl, const msgpack_object *h) {
  int64_t id = 0, n = 2;
  ld_mp_get_i64(h, "id", &id);
  ld_mp_get_i64(h, "n", &n);
  const msgpack_object *keys = arr(h, "keys");
  int started = 0;
  for (uint32_t i = 0; keys && i < keys->via.array.size; i++) {
    sc_task *t = find(st, &keys->via.array.ptr[i]);
    if (t == NULL || sc_state_of(st, t) != LD_TASK_MEMORY || t->nwho == 0) continue;
    sc_worker *source = sc_who_has(t)[0];
    int have = t->nwho;
    /* the least loaded workers that do not hold it */
    while (have < n) {
      sc_worker *best = NULL;
      for (sc_worker *w = st->workers; w; w = w->next)
        if (!holds(t, w) && !pending_to(t, w) && (best == NULL || w->nbytes < best->nbytes))
          best = w;
      if (best == NULL || !start_copy(st, t, best, source, 0)) break;
      started++;
      have++;
    }
  }
  reply(cl, id, started);
}

void sc_op_rebalance(sc_state *st, sc_client *cl, const msgpack_object *h) {
  int64_t id = 0;
  ld_mp_get_i64(h, "id", &id);
  int started = 0;
  if (st->nworkers >= 2) {
    int64_t total = 0;
    for (sc_worker *w = st->workers; w; w = w->next) total += w->nbytes;
    int64_t mean = total / st->nworkers;
    /* planned bytes per worker (id -> bytes) */
    int nw = st->nworkers;
    sc_worker **ws = sc_xrealloc(NULL, (size_t)nw * sizeof *ws);
    int64_t *plan = sc_xrealloc(NULL, (size_t)nw * sizeof *plan);
    int k = 0;
    for (sc_worker *w = st->workers; w; w = w->next) ws[k] = w, plan[k++] = w->nbytes;
    int32_t limit = ld_sched_id_limit(st->eng);
    for (int32_t tid = 0; tid < limit; tid++) {
      if (ld_sched_state(st->eng, tid) != LD_TASK_MEMORY) continue;
      sc_task *t = sc_side(st, tid);
      if (t->nwho != 1 || t->nbytes <= 0) continue;
      int s = -1, r = 0;
      for (int i = 0; i < nw; i++) {
        if (ws[i] == sc_who_has(t)[0]) s = i;
        if (plan[i] < plan[r]) r = i;
      }
      if (s < 0 || s == r || plan[s] <= mean || plan[r] + t->nbytes > mean + t->nbytes / 2)
        continue;
      if (!start_copy(st, t, ws[r], ws[s], 1)) continue;
      plan[s] -= t->nbytes;
      plan[r] += t->nbytes;
      started++;
    }
    free(ws);
    free(plan);
  }
  reply(cl, id, started);
}

void sc_replica_data(sc_state *st, sc_worker *w, ld_msg *m, const msgpack_object *h) {
  const msgpack_object *got = arr(h, "keys");
  uint32_t next = 1;
  for (uint32_t i = 0; got && i < got->via.array.size; i++) {
    const msgpack_object *rec = &got->via.array.ptr[i];
    int64_t nf = 1;
    ld_mp_get_i64(rec, "nframes", &nf);
    if (nf < 1 || next + (uint64_t)nf > m->nframes) break;
    sc_task *t = find(st, ld_mp_get(rec, "key"));
    for (int j = 0; t && j < ncopies; j++) {
      copy *c = &copies[j];
      if (c->task != t->id || c->sent || c->source != w->id) continue;
      sc_worker *target = worker_by_id(st, c->target);
      if (target == NULL || sc_state_of(st, t) != LD_TASK_MEMORY) {
        copies[j--] = copies[--ncopies];
        continue;
      }
      send_put(st, target, t, m->frames + next, (uint32_t)nf);
      c->sent = 1;
    }
    next += (uint32_t)nf;
  }
  /* keys the source did not have: their copies are given up */
  const msgpack_object *missing = arr(h, "missing");
  for (uint32_t i = 0; missing && i < missing->via.array.size; i++) {
    sc_task *t = find(st, &missing->via.array.ptr[i]);
    for (int j = 0; t && j < ncopies; j++)
      if (copies[j].task == t->id && !copies[j].sent && copies[j].source == w->id)
        copies[j--] = copies[--ncopies];
  }
}

int sc_replica_arrived(sc_state *st, sc_worker *w, sc_task *t) {
  for (int j = 0; j < ncopies; j++) {
    copy c = copies[j];
    if (c.task != t->id || c.target != w->id || !c.sent) continue;
    copies[j] = copies[--ncopies];
    if (sc_state_of(st, t) != LD_TASK_MEMORY) return 0; /* stale: dropped by the caller */
    sc_add_holder(t, w);
    sc_worker *src = c.move ? worker_by_id(st, c.source) : NULL;
    if (src && src != w && holds(t, src)) {
      sc_remove_holder(st, t, src);
      sc_send_free(src, t);
    }
    return 1;
  }
  return 0;
}

void sc_replicas_worker_gone(sc_state *st, sc_worker *w) {
  (void)st;
  for (int j = 0; j < ncopies; j++)
    if (copies[j].target == w->id || (!copies[j].sent && copies[j].source == w->id))
      copies[j--] = copies[--ncopies];
}

void sc_replicas_free(void) {
  free(copies);
  copies = NULL;
  ncopies = capcopies = 0;
}
