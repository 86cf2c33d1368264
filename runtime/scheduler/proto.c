/* proto.c — ldask-scheduler's connections: the hello of each peer, worker
 * registration and worker messages (task-finished, task-erred,
 * gather-data, missing-data, heartbeat), and what happens when a client or
 * a worker goes away. Client messages are in client_ops.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack.h"

/* ---- worker ops ---- */

static void op_register(sc_state *st, ld_conn *c, const msgpack_object *h) {
  const char *name = "", *addr = "";
  size_t nlen = 0, alen = 0;
  int64_t nthreads = 1, memlimit = 0;
  ld_mp_get_str(h, "name", &name, &nlen);
  ld_mp_get_str(h, "address", &addr, &alen);
  ld_mp_get_i64(h, "nthreads", &nthreads);
  ld_mp_get_i64(h, "memory_limit", &memlimit);
  if (alen == 0 || alen >= 96 || nlen >= 96 || nthreads < 1) {
    send_error(c, "register-worker: needs 'address' (tcp://host:port) and 'nthreads' >= 1");
    ld_conn_close(c, "bad register-worker", 1);
    return;
  }
  sc_worker *w = calloc(1, sizeof *w);
  if (w == NULL) abort();
  w->id = st->next_worker_id++;
  w->conn = c;
  if (nlen == 0)
    snprintf(w->name, sizeof w->name, "%.*s", (int)alen, addr);
  else
    snprintf(w->name, sizeof w->name, "%.*s", (int)nlen, name);
  for (sc_worker *o = st->workers; o; o = o->next) {
    if (strcmp(o->name, w->name) == 0) {
      char msg[200];
      snprintf(msg, sizeof msg, "register-worker: a worker named '%s' is already registered",
               w->name);
      send_error(c, msg);
      ld_conn_close(c, msg, 1);
      free(w);
      return;
    }
  }
  char rerr[300];
  if (sc_res_worker(st, w, ld_mp_get(h, "resources"), rerr, sizeof rerr) != 0) {
    send_error(c, rerr);
    ld_conn_close(c, rerr, 1);
    free(w);
    return;
  }
  if (st->nres_parked > 0) st->res_wake = 1; /* it may have what they wait for */
  snprintf(w->addr, sizeof w->addr, "%.*s", (int)alen, addr);
  w->nthreads = w->base_threads = (int)nthreads;
  w->memory_limit = memlimit;
  int64_t maxmsg = 0;
  w->max_msg =
      ld_mp_get_i64(h, "max_message_size", &maxmsg) && maxmsg > 0 ? (uint64_t)maxmsg : UINT64_MAX;
  const msgpack_object *nanny = ld_mp_get(h, "nanny");
  w->nanny = nanny && nanny->type == MSGPACK_OBJECT_BOOLEAN && nanny->via.boolean;
  w->alive = 1;
  w->last_seen = sc_now(st);
  w->mem_reported = -1;
  sc_events_worker(&st->ev, w->id, w->addr);
  msgpack_sbuffer_init(&w->free_keys);
  w->next = st->workers;
  st->workers = w;
  st->nworkers++;
  ld_conn_set_data(c, w);
  pk_t p;
  pk_init(&p);
  uint64_t max_message, max_buffered, held;
  ld_frame_budgets(&max_message, &max_buffered, &held);
  msgpack_pack_map(&p.pk, 3);
  S(&p, "op"), S(&p, "registered");
  S(&p, "id"), I(&p, w->id);
  S(&p, "max_message_size"), I(&p, max_message > INT64_MAX ? INT64_MAX : max_message);
  pk_send(&p, c, NULL, 0);
  for (int i = 0; i < st->nfn_msgs; i++) ld_conn_send(c, sc_msg_clone(st->fn_msgs[i]));
  sc_replay_uploads(st, w);
  fprintf(stderr, "ldask-scheduler: worker %s joined (%s, %d threads)\n", w->name, w->addr,
          w->nthreads);
  sc_fill(st);
}

/* ---- the event stream (events.h) ---- */

double sc_worker_time(const sc_state *st, const sc_worker *w, double t) {
  return t + (w->clock_known ? w->clock_off : 0) - st->ev.t0_real;
}

/* Reads H's 'start' and 'stop' (a worker's wall clock) into *T0, *T1 as
 * scheduler times; 0 when absent or not a sane interval. */
static int task_times(const sc_state *st, const sc_worker *w, const msgpack_object *h, double *t0,
                      double *t1) {
  double a, b;
  if (!ld_mp_get_f64(h, "start", &a) || !ld_mp_get_f64(h, "stop", &b)) return 0;
  if (!(a > 0 && b >= a && b - a < 1e7 && b < 1e12)) return 0; /* NaN fails too */
  *t0 = sc_worker_time(st, w, a);
  *t1 = sc_worker_time(st, w, b);
  return 1;
}

/* A compute of KEY on W (worker times A, B; THREAD) goes into the stream
 * when its times are sane. */
static void record_run(sc_state *st, sc_worker *w, const char *key, size_t klen, double a, double b,
                       int64_t thread, int64_t nbytes, int erred) {
  if (!(a > 0 && b >= a && b - a < 1e7 && b < 1e12)) return; /* NaN fails too */
  if (thread < 0 || thread >= w->nthreads) thread = -1;
  sc_events_compute(&st->ev, key, klen, w->id, (int)thread, sc_worker_time(st, w, a),
                    sc_worker_time(st, w, b), nbytes, erred);
}

/* A compute (task-finished or task-erred H from W) goes into the stream. */
static void record_compute(sc_state *st, sc_worker *w, const msgpack_object *h, int64_t nbytes,
                           int erred) {
  const msgpack_object *k = ld_mp_get(h, "key");
  double t0, t1;
  if (k == NULL || k->type != MSGPACK_OBJECT_STR || !task_times(st, w, h, &t0, &t1)) return;
  int64_t thread = -1;
  if (!ld_mp_get_i64(h, "thread", &thread) || thread < 0 || thread >= w->nthreads) thread = -1;
  sc_events_compute(&st->ev, k->via.str.ptr, k->via.str.size, w->id, (int)thread, t0, t1, nbytes,
                    erred);
}

/* W finished task KEY (K: a msgpack str, or anything else: ignored) with
 * NBYTES of result, of which the NDATA frames DATA are a small copy, after
 * a run of DUR seconds (< 0: unknown). */
static void finished(sc_state *st, sc_worker *w, const msgpack_object *k, int64_t nbytes,
                     ld_buffer *const *data, uint32_t ndata, double dur) {
  sc_task *t = find(st, k);
  if (t && dur >= 0 && t->processing_on == w) sc_steal_learn(st, t, dur);
  if (t)
    sc_finished(st, w, t, nbytes, data, ndata);
  else if (k && k->type == MSGPACK_OBJECT_STR) /* forgotten meanwhile: the worker may drop it */
    sc_queue_free(w, k->via.str.ptr, k->via.str.size);
}

/* Updates the moving average of task run times with one run of D s. */
static void run_time(sc_state *st, double d) {
  st->avg_task = st->avg_task < 0 ? d : 0.95 * st->avg_task + 0.05 * d;
}

static double num(const msgpack_object *o) {
  switch (o->type) {
    case MSGPACK_OBJECT_FLOAT64:
    case MSGPACK_OBJECT_FLOAT32:
      return o->via.f64;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
      return (double)o->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
      return (double)o->via.i64;
    default:
      return -1;
  }
}

/* The array COL of H when it has N elements, else NULL. */
static const msgpack_object *column(const msgpack_object *h, const char *name, uint32_t n) {
  const msgpack_object *o = arr(h, name);
  return o && o->via.array.size == n ? o->via.array.ptr : NULL;
}

/* tasks-finished: the columns keys, nbytes, start, stop, thread, nframes
 * (docs/protocol.md), then the small results' frames in key order. Checked
 * as a whole before anything changes: a malformed one is answered with
 * an error and ignored. */
static void op_tasks_finished(sc_state *st, sc_worker *w, ld_msg *m, const msgpack_object *h) {
  const msgpack_object *keys = arr(h, "keys");
  uint32_t n = keys ? keys->via.array.size : 0;
  const msgpack_object *nb = column(h, "nbytes", n), *t0 = column(h, "start", n),
                       *t1 = column(h, "stop", n), *th = column(h, "thread", n),
                       *nf = column(h, "nframes", n);
  if (keys == NULL || (n > 0 && (!nb || !t0 || !t1 || !th || !nf))) {
    send_error(w->conn,
               "tasks-finished: 'keys' must be an array and 'nbytes', 'start', 'stop', "
               "'thread' and 'nframes' arrays as long as it");
    return;
  }
  uint64_t frames = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (keys->via.array.ptr[i].type != MSGPACK_OBJECT_STR ||
        nb[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        nf[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER || nb[i].via.u64 > (uint64_t)INT64_MAX ||
        nf[i].via.u64 >= m->nframes) {
      char msg[160];
      snprintf(msg, sizeof msg,
               "tasks-finished: entry %u needs a string key and integers nbytes, nframes >= 0", i);
      send_error(w->conn, msg);
      return;
    }
    frames += nf[i].via.u64;
  }
  if (frames + 1 > m->nframes) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "tasks-finished: the reports claim %llu value frames, the message has %u",
             (unsigned long long)frames, m->nframes - 1);
    send_error(w->conn, msg);
    return;
  }
  uint32_t frame = 1;
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *k = &keys->via.array.ptr[i];
    int64_t nbytes = (int64_t)nb[i].via.u64;
    double a = num(&t0[i]), b = num(&t1[i]);
    if (a >= 0 && b >= a) run_time(st, b - a);
    record_run(st, w, k->via.str.ptr, k->via.str.size, a, b,
               th[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER && th[i].via.u64 < 1000000
                   ? (int64_t)th[i].via.u64
                   : -1,
               nbytes, 0);
    uint32_t c = (uint32_t)nf[i].via.u64;
    finished(st, w, k, nbytes, m->frames + frame, c, a >= 0 && b >= a ? b - a : -1);
    frame += c;
  }
}

/* A heartbeat's dashboard fields: the worker's clock, CPU, and the
 * transfers it made since the previous one ([key, from, nbytes, start,
 * stop] each; at most SC_HB_TRANSFERS are read, the rest count as
 * dropped). */
#define SC_HB_TRANSFERS 1024
static void heartbeat_events(sc_state *st, sc_worker *w, const msgpack_object *h) {
  double v;
  if (ld_mp_get_f64(h, "now", &v) && v > 0 && v < 1e12) {
    double off = sc_wall() - v; /* its offset plus the message's latency: keep the lowest */
    if (!w->clock_known || off < w->clock_off + 0.001) {
      w->clock_off = w->clock_known && off > w->clock_off ? w->clock_off + 0.001 : off;
      w->clock_known = 1;
    }
  }
  if (ld_mp_get_f64(h, "cpu", &v) && v >= 0 && v < 1e6) w->cpu = v;
  int64_t dropped = 0;
  if (ld_mp_get_i64(h, "transfers_dropped", &dropped) && dropped > 0 &&
      dropped < ((int64_t)1 << 40))
    st->ev.dropped += (uint64_t)dropped;
  const msgpack_object *xs = arr(h, "transfers");
  uint32_t n = xs ? xs->via.array.size : 0;
  if (n > SC_HB_TRANSFERS) {
    st->ev.dropped += n - SC_HB_TRANSFERS;
    n = SC_HB_TRANSFERS;
  }
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *x = &xs->via.array.ptr[i];
    if (x->type != MSGPACK_OBJECT_ARRAY || x->via.array.size != 5) continue;
    const msgpack_object *f = x->via.array.ptr;
    if (f[0].type != MSGPACK_OBJECT_STR || f[1].type != MSGPACK_OBJECT_STR ||
        f[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[3].type != MSGPACK_OBJECT_FLOAT64 ||
        f[4].type != MSGPACK_OBJECT_FLOAT64)
      continue;
    double a = f[3].via.f64, b = f[4].via.f64;
    if (!(a > 0 && b >= a && b - a < 1e7 && b < 1e12)) continue;
    int32_t from = -1;
    for (sc_worker *o = st->workers; o; o = o->next)
      if (strlen(o->addr) == f[1].via.str.size &&
          memcmp(o->addr, f[1].via.str.ptr, f[1].via.str.size) == 0)
        from = o->id;
    int64_t nb = f[2].via.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)f[2].via.u64;
    sc_events_transfer(&st->ev, f[0].via.str.ptr, f[0].via.str.size, w->id, from,
                       sc_worker_time(st, w, a), sc_worker_time(st, w, b), nb);
  }
}

static void on_worker_msg(sc_state *st, sc_worker *w, ld_msg *m, const msgpack_object *h) {
  const msgpack_object *op = ld_mp_get(h, "op");
  w->last_seen = sc_now(st);
  if (ld_mp_str_eq(op, "tasks-finished")) {
    op_tasks_finished(st, w, m, h);
  } else if (ld_mp_str_eq(op, "task-finished")) {
    int64_t nbytes = 0;
    double t0, t1;
    ld_mp_get_i64(h, "nbytes", &nbytes);
    if (ld_mp_get_f64(h, "start", &t0) && ld_mp_get_f64(h, "stop", &t1) && t1 >= t0)
      run_time(st, t1 - t0);
    record_compute(st, w, h, nbytes, 0);
    int64_t ndata = 0;
    ld_mp_get_i64(h, "nframes", &ndata);
    if (ndata < 0 || (uint64_t)ndata + 1 > m->nframes) ndata = 0;
    finished(st, w, ld_mp_get(h, "key"), nbytes, m->frames + 1, (uint32_t)ndata, -1);
  } else if (ld_mp_str_eq(op, "task-erred")) {
    const char *msg = "", *tb = "";
    size_t mlen = 0, tblen = 0;
    ld_mp_get_str(h, "message", &msg, &mlen);
    ld_mp_get_str(h, "traceback", &tb, &tblen);
    record_compute(st, w, h, 0, 1);
    sc_task *t = find(st, ld_mp_get(h, "key"));
    if (t) sc_failed_on_worker(st, w, t, msg, mlen, tb, tblen);
  } else if (ld_mp_str_eq(op, "gather-data")) {
    if (sc_retire_on_data(st, w, m, h)) return; /* a copy for retire_workers */
    int64_t cid = -1;
    ld_mp_get_i64(h, "client", &cid);
    if (cid == SC_REPLICA_CLIENT) { /* data for a copy (replicate.c) */
      sc_replica_data(st, w, m, h);
      ld_msg_free(m);
      return;
    }
    sc_client *cl = sc_find_client(st, (int)cid);
    const msgpack_object *missing = arr(h, "missing");
    for (uint32_t i = 0; missing && i < missing->via.array.size; i++) {
      sc_task *t = find(st, &missing->via.array.ptr[i]);
      if (t == NULL) continue;
      sc_remove_holder(st, t, w);
      if (cl) sc_request_data(st, t, cl->id);
    }
    const msgpack_object *got = arr(h, "keys");
    for (uint32_t i = 0; cl && got && i < got->via.array.size; i++) {
      sc_task *t = find(st, ld_mp_get(&got->via.array.ptr[i], "key"));
      if (t) sc_gather_done(t, cl->id);
    }
    if (cl && ld_mp_get(h, "keys") && arr(h, "keys")->via.array.size > 0) {
      ld_conn_send(cl->conn, m); /* forwarded as is: the frames are not copied */
      return;
    }
  } else if (ld_mp_str_eq(op, "missing-data")) {
    /* A peer did not have a dependency: drop it from who_has, retry. */
    sc_task *t = find(st, ld_mp_get(h, "key"));
    sc_task *d = find(st, ld_mp_get(h, "dep"));
    const char *from;
    size_t flen;
    if (d && ld_mp_get_str(h, "from", &from, &flen)) {
      for (sc_worker *o = st->workers; o; o = o->next)
        if (strlen(o->addr) == flen && memcmp(o->addr, from, flen) == 0) sc_remove_holder(st, d, o);
    }
    if (t) sc_missing_input(st, w, t);
  } else if (ld_mp_str_eq(op, "steal-response")) {
    sc_steal_response(st, w, h);
  } else if (ld_mp_str_eq(op, "secede")) {
    /* DELTA of its tasks seceded (negative: rejoined): each seceded task
     * waits on others while the worker runs another thread */
    int64_t d = 0;
    ld_mp_get_i64(h, "delta", &d);
    if (d > -100000 && d < 100000) {
      int64_t s = w->seceded + d;
      w->seceded = s < 0 ? 0 : s > 100000 ? 100000 : (int)s;
      w->nthreads = w->base_threads + w->seceded;
    }
  } else if (ld_mp_str_eq(op, "run-result") || ld_mp_str_eq(op, "upload-file-done")) {
    sc_on_worker_reply(st, w, m, h);
  } else if (ld_mp_str_eq(op, "heartbeat")) {
    int64_t before = w->fetched_bytes;
    ld_mp_get_i64(h, "executed", &w->executed);
    ld_mp_get_i64(h, "fetched", &w->fetched);
    ld_mp_get_i64(h, "fetched_bytes", &w->fetched_bytes);
    if (w->fetched_bytes > before) st->ev.transfer_bytes += w->fetched_bytes - before;
    heartbeat_events(st, w, h);
    /* Optional (workers that spill to disk): bytes of results in RAM and
     * on disk; 'memory' then drives the paused test (placement.c). */
    int64_t v;
    if (ld_mp_get_i64(h, "memory", &v) && v >= 0) w->mem_reported = v;
    if (ld_mp_get_i64(h, "spilled", &v) && v >= 0) w->spilled = v;
    if (ld_mp_get_i64(h, "process_memory", &v) && v >= 0) w->proc_reported = v;
  }
  ld_msg_free(m);
}

/* ---- connections ---- */

typedef struct conn_tag {
  int kind; /* 0 unknown, 1 client, 2 worker */
} conn_tag;

static void on_msg(ld_conn *c, ld_msg *m, const msgpack_object *h) {
  sc_state *st = sc_g;
  const char *role = ld_conn_peer_role(c);
  void *data = ld_conn_data(c);
  const msgpack_object *op = ld_mp_get(h, "op");
  if (ld_mp_str_eq(op, "hello")) {
    /* (core/net refuses a second hello: only the first comes here, before
     * any record exists for the connection) */
    if (data != NULL) {
      ld_msg_free(m);
      return;
    }
    if (strcmp(role, "client") == 0) {
      sc_client *cl = calloc(1, sizeof *cl);
      if (cl == NULL) abort();
      cl->id = ++st->next_client_id;
      cl->conn = c;
      msgpack_sbuffer_init(&cl->fin_keys);
      msgpack_sbuffer_init(&cl->fin_nframes);
      cl->next = st->clients;
      st->clients = cl;
      ld_conn_set_data(c, cl);
      pk_t p;
      pk_init(&p);
      msgpack_pack_map(&p.pk, st->dashboard[0] ? 4 : 3);
      S(&p, "op"), S(&p, "welcome");
      S(&p, "id"), I(&p, cl->id);
      S(&p, "nworkers"), I(&p, st->nworkers);
      if (st->dashboard[0]) S(&p, "dashboard"), S(&p, st->dashboard);
      pk_send(&p, c, NULL, 0);
    } else if (strcmp(role, "worker") != 0) {
      char msg[120];
      snprintf(msg, sizeof msg, "the scheduler accepts clients and workers, not a '%s'", role);
      send_error(c, msg);
      ld_conn_close(c, msg, 1);
    }
    ld_msg_free(m);
    return;
  }
  if (strcmp(role, "client") == 0) {
    sc_client *cl = data;
    sc_on_client_msg(st, cl, m, h);
    ld_msg_free(m);
  } else if (data == NULL) {
    if (ld_mp_str_eq(op, "register-worker"))
      op_register(st, c, h);
    else
      send_error(c, "a worker must send register-worker first");
    ld_msg_free(m);
  } else {
    on_worker_msg(st, data, m, h);
  }
  sc_coord_sweep(st); /* finished fire-and-forget tasks */
  sc_fill(st);        /* what became ready goes out */
  if (st->closing) uv_stop(st->loop);
}

static void on_close(ld_conn *c, const char *reason) {
  sc_state *st = sc_g;
  const char *role = ld_conn_peer_role(c);
  void *data = ld_conn_data(c);
  if (ld_conn_auth_failed(c))
    fprintf(stderr, "ldask-scheduler: refused %s: %s\n", ld_conn_peer_addr(c), reason);
  if (data == NULL) return;
  if (strcmp(role, "client") == 0) {
    sc_client *cl = data;
    for (sc_client **pp = &st->clients; *pp; pp = &(*pp)->next)
      if (*pp == cl) {
        *pp = cl->next;
        break;
      }
    sc_coord_client_gone(st, cl->id); /* its locks and leases */
    /* What it wanted is let go (records forgotten on the way are FREE). */
    int32_t limit = ld_sched_id_limit(st->eng);
    for (int32_t id = 0; id < limit; id++) {
      int state = ld_sched_state(st->eng, id);
      if (state == LD_TASK_FREE || state < 0) continue;
      sc_task *t = sc_side(st, id);
      sc_gather_done(t, cl->id);
      if (sc_wanted_by(t, cl->id)) sc_unwant(st, cl, t);
    }
    sc_client_free(cl);
    sc_fill(st);
  } else {
    sc_worker *w = data;
    sc_worker_gone(st, w, reason);
    msgpack_sbuffer_destroy(&w->free_keys);
    sc_batch_free(&w->compute);
    free(w);
  }
}

static const ld_conn_handlers handlers = {on_msg, on_close};

void sc_proto_init(sc_state *st, const ld_conn_handlers **h) {
  sc_g = st;
  uv_check_init(st->loop, &st->notify);
  st->notify.data = st;
  uv_idle_init(st->loop, &st->kick);
  st->kick.data = st;
  *h = &handlers;
}
