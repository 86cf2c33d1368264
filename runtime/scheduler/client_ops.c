/* client_ops.c — ldask-scheduler's handlers of client messages:
 * release-keys, cancel, gather, scatter, identity, who-has,
 * register-functions, shutdown (docs/protocol.md; update-graph is in graph.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack.h"
#include "util/strmap.h"

/* ---- client ops ---- */

static void op_keys(sc_state *st, sc_client *cl, const msgpack_object *h, int what) {
  const msgpack_object *keys = arr(h, "keys");
  if (keys == NULL) return;
  uint32_t n = keys->via.array.size;
  /* Collect first: a release may free other records. */
  for (uint32_t i = 0; i < n; i++) {
    sc_task *t = find(st, &keys->via.array.ptr[i]);
    if (t == NULL) continue;
    if (what == 0)
      sc_unwant(st, cl, t);
    else
      ld_sched_cancel_task(st->eng, t->id);
  }
}

static void op_gather(sc_state *st, sc_client *cl, const msgpack_object *h) {
  const msgpack_object *keys = arr(h, "keys");
  if (keys == NULL) {
    send_error(cl->conn, "gather: 'keys' must be an array");
    return;
  }
  /* Each key looked up once: engine ids, -1 unknown. */
  uint32_t n = keys->via.array.size;
  int32_t *ids = sc_xrealloc(NULL, (n ? n : 1) * sizeof *ids);
  for (uint32_t i = 0; i < n; i++) {
    const sc_task *t = find(st, &keys->via.array.ptr[i]);
    ids[i] = t ? t->id : -1;
  }
  /* Small results kept here are answered at once, in one message. */
  {
    sc_task *batch[256];
    int nb = 0;
    for (uint32_t i = 0; i < n; i++) {
      sc_task *t = ids[i] >= 0 ? sc_side(st, ids[i]) : NULL;
      if (t && sc_state_of(st, t) == LD_TASK_MEMORY && t->result.n > 0) {
        batch[nb++] = t;
        if (nb == 256) sc_send_inline(st, batch, nb, cl->id), nb = 0;
      }
    }
    if (nb) sc_send_inline(st, batch, nb, cl->id);
  }
  /* Other keys in memory are requested per holding worker in one message. */
  for (sc_worker *w = st->workers; w; w = w->next) {
    sc_task *batch[256];
    int nb = 0;
    for (uint32_t i = 0; i < n; i++) {
      sc_task *t = ids[i] >= 0 ? sc_side(st, ids[i]) : NULL;
      if (t && sc_state_of(st, t) == LD_TASK_MEMORY && t->result.n == 0 && t->nwho > 0 &&
          sc_who_has(t)[0] == w) {
        sc_add_gather(t, cl->id);
        batch[nb++] = t;
        if (nb == 256) sc_send_data_request(st, w, batch, nb, cl->id), nb = 0;
      }
    }
    if (nb) sc_send_data_request(st, w, batch, nb, cl->id);
  }
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *o = &keys->via.array.ptr[i];
    /* (a recomputation started for an earlier key may have forgotten it) */
    int state = ids[i] >= 0 ? ld_sched_state(st->eng, ids[i]) : LD_TASK_FREE;
    sc_task *t = state != LD_TASK_FREE ? sc_side(st, ids[i]) : NULL;
    char msg[300];
    if (t == NULL) {
      if (o->type != MSGPACK_OBJECT_STR) continue;
      snprintf(msg, sizeof msg,
               "gather: key '%.*s' is not known to the scheduler (never submitted, or released)",
               (int)o->via.str.size, o->via.str.ptr);
      key_error(cl->conn, o->via.str.ptr, o->via.str.size, msg);
    } else if (state == LD_TASK_MEMORY && (t->nwho > 0 || t->result.n > 0)) {
      continue; /* answered or requested above */
    } else if (state == LD_TASK_ERRED) {
      sc_notify_one(cl, t, "key-erred");
    } else if (state == LD_TASK_CANCELLED) {
      sc_notify_one(cl, t, "key-cancelled");
    } else {
      sc_request_data(st, t, cl->id);
    }
  }
  free(ids);
}

/* scatter: keys [{key, nframes, nbytes}], optional workers [names]; the
 * frames are the values. Each value goes to the least loaded worker. */
static void op_scatter(sc_state *st, sc_client *cl, ld_msg *m, const msgpack_object *h) {
  const msgpack_object *keys = arr(h, "keys");
  const msgpack_object *ws = arr(h, "workers");
  if (keys == NULL) {
    send_error(cl->conn, "scatter: 'keys' must be an array");
    return;
  }
  uint32_t next = 1;
  for (uint32_t i = 0; i < keys->via.array.size; i++) {
    const msgpack_object *rec = &keys->via.array.ptr[i];
    const char *key;
    size_t klen;
    int64_t nf = 0, nbytes = 0;
    if (!ld_mp_get_str(rec, "key", &key, &klen)) continue;
    ld_mp_get_i64(rec, "nframes", &nf);
    ld_mp_get_i64(rec, "nbytes", &nbytes);
    if (nf < 1 || next + (uint64_t)nf > m->nframes) {
      key_error(cl->conn, key, klen, "scatter: frame count out of range");
      return;
    }
    sc_worker *best = NULL;
    for (sc_worker *w = st->workers; w; w = w->next) {
      if (w->retiring) continue; /* retire_workers: it takes no new data */
      int ok = ws == NULL || ws->via.array.size == 0;
      for (uint32_t j = 0; !ok && j < ws->via.array.size; j++)
        ok = ld_mp_str_eq(&ws->via.array.ptr[j], w->name) ||
             ld_mp_str_eq(&ws->via.array.ptr[j], w->addr);
      if (ok && (best == NULL || w->nbytes < best->nbytes)) best = w;
    }
    int rc;
    sc_task *t = find_key(st, key, klen);
    if (t == NULL) t = sc_task_new(st, key, klen, 0, &rc);
    if (t == NULL) {
      key_error(cl->conn, key, klen,
                rc == LD_SCHED_EKEY ? "scatter: a NUL byte in the key"
                                    : "scatter: cannot create the key (out of memory)");
      return;
    }
    sc_want(st, cl, t);
    int state = sc_state_of(st, t);
    if (state == LD_TASK_MEMORY || (state == LD_TASK_PROCESSING && t->scattered)) {
      /* the same value, stored or on its way */
      next += (uint32_t)nf;
      if (state == LD_TASK_MEMORY) sc_notify_key(st, t, "key-finished");
      continue;
    }
    if (best == NULL) {
      char msg[200];
      snprintf(msg, sizeof msg, "scatter: no worker to hold key '%.*s'%s", (int)klen, key,
               ws ? " among the workers asked for" : "");
      sc_erred(st, t, msg, strlen(msg), "", 0);
      next += (uint32_t)nf;
      continue;
    }
    ld_sched_put_data(st->eng, t->id);
    if (t->rare) {
      free(t->rare->err_msg);
      free(t->rare->err_tb);
      free(t->rare->err_key);
      t->rare->err_msg = t->rare->err_tb = t->rare->err_key = NULL;
    }
    t->lost = 0;
    t->scattered = 1;
    t->processing_on = best;
    best->nprocessing++;
    if (st->steal) sc_steal_count(st, t, 1);
    sc_send_put_data(best, key, klen, m->frames + next, (uint32_t)nf);
    next += (uint32_t)nf;
  }
}

static void op_identity(sc_state *st, ld_conn *c, const msgpack_object *h) {
  int64_t id = 0;
  ld_mp_get_i64(h, "id", &id);
  pk_t p;
  pk_init(&p);
  uint64_t msgs, writes;
  ld_net_stats(&msgs, &writes);
  msgpack_pack_map(&p.pk, st->dashboard[0] ? 18 : 17);
  S(&p, "op"), S(&p, "identity-reply");
  S(&p, "work_stealing"), msgpack_pack_int(&p.pk, st->steal != NULL);
  S(&p, "steals_asked"), I(&p, sc_steals_asked);
  S(&p, "steals_done"), I(&p, sc_steals_done);
  S(&p, "steals_refused"), I(&p, sc_steals_refused);
  S(&p, "compute_batches"), I(&p, sc_batches_sent);
  S(&p, "tasks_sent"), I(&p, sc_batched_tasks);
  S(&p, "largest_batch"), I(&p, sc_largest_batch);
  S(&p, "batches_cut"), I(&p, sc_batches_cut);
  S(&p, "transfers_pending"), I(&p, sc_copies_pending());
  if (st->dashboard[0]) S(&p, "dashboard"), S(&p, st->dashboard);
  S(&p, "messages_sent"), I(&p, msgs);
  S(&p, "writes"), I(&p, writes);
  S(&p, "id"), I(&p, id);
  S(&p, "address"), S(&p, st->address);
  ld_sched_stats stats;
  ld_sched_get_stats(st->eng, &stats);
  S(&p, "ntasks"), I(&p, stats.ntasks);
  S(&p, "queued"), I(&p, stats.ready);
  S(&p, "workers");
  msgpack_pack_array(&p.pk, (size_t)st->nworkers);
  for (sc_worker *w = st->workers; w; w = w->next) {
    msgpack_pack_map(&p.pk, 11);
    S(&p, "name"), S(&p, w->name);
    S(&p, "resources"), sc_res_pack(st, &p.pk, w->res_total, NULL);
    S(&p, "address"), S(&p, w->addr);
    S(&p, "nthreads"), I(&p, w->nthreads);
    S(&p, "processing"), I(&p, w->nprocessing);
    S(&p, "nkeys"), I(&p, w->nkeys);
    S(&p, "executed"), I(&p, w->executed);
    S(&p, "fetched"), I(&p, w->fetched);
    S(&p, "fetched_bytes"), I(&p, w->fetched_bytes);
    S(&p, "memory"), I(&p, w->mem_reported >= 0 ? w->mem_reported : w->nbytes);
    S(&p, "spilled"), I(&p, w->spilled);
  }
  pk_send(&p, c, NULL, 0);
}

/* The protocol's name of engine state S (docs/protocol.md, "Task
 * states"). */
static const char *state_name(int s) {
  switch (s) {
    case LD_TASK_WAITING:
      return "waiting";
    case LD_TASK_READY:
      return "ready";
    case LD_TASK_PROCESSING:
      return "processing";
    case LD_TASK_MEMORY:
      return "memory";
    case LD_TASK_ERRED:
      return "erred";
    case LD_TASK_CANCELLED:
      return "cancelled";
    default:
      return "released";
  }
}

/* task-info: the scheduler's view of one key (for diagnostics). */
static void op_task_info(sc_state *st, ld_conn *c, const msgpack_object *h) {
  int64_t id = 0;
  ld_mp_get_i64(h, "id", &id);
  sc_task *t = find(st, ld_mp_get(h, "key"));
  pk_t p;
  pk_init(&p);
  if (t == NULL) {
    msgpack_pack_map(&p.pk, 3);
    S(&p, "op"), S(&p, "task-info-reply");
    S(&p, "id"), I(&p, id);
    S(&p, "state"), S(&p, "forgotten");
    pk_send(&p, c, NULL, 0);
    return;
  }
  ld_sched_info info;
  ld_sched_info_of(st->eng, t->id, &info);
  int32_t ndeps;
  const int32_t *deps = ld_sched_deps(st->eng, t->id, &ndeps);
  sc_worker *const *who = sc_who_has(t);
  msgpack_pack_map(&p.pk, 13);
  S(&p, "op"), S(&p, "task-info-reply");
  S(&p, "resources"), sc_res_pack(st, &p.pk, NULL, sc_r(t)->need);
  S(&p, "id"), I(&p, id);
  /* a ready task that no connected worker may run: dask's no-worker */
  int no_worker = info.state == LD_TASK_READY && sc_no_worker(st, t);
  S(&p, "state"), S(&p, no_worker ? "no-worker" : state_name(info.state));
  S(&p, "workers");
  msgpack_pack_array(&p.pk, (size_t)sc_r(t)->nrestrict);
  for (int j = 0; j < sc_r(t)->nrestrict; j++) S(&p, sc_r(t)->restrict_to[j]);
  S(&p, "waiting_on"), I(&p, info.waiting_on);
  S(&p, "refs"), I(&p, info.wants);
  S(&p, "gathers"), I(&p, sc_r(t)->ngather);
  S(&p, "retries"), I(&p, t->retries);
  S(&p, "suspicious"), I(&p, info.deaths);
  S(&p, "processing_on"), S(&p, t->processing_on ? t->processing_on->addr : "");
  S(&p, "who_has");
  msgpack_pack_array(&p.pk, (size_t)t->nwho);
  for (int j = 0; j < t->nwho; j++) S(&p, who[j]->addr);
  S(&p, "deps");
  msgpack_pack_array(&p.pk, (size_t)ndeps);
  for (int32_t j = 0; j < ndeps; j++) {
    size_t dlen;
    const char *dkey = ld_sched_key(st->eng, deps[j], &dlen);
    msgpack_pack_map(&p.pk, 2);
    S(&p, "key"), SN(&p, dkey, dlen);
    S(&p, "state"), S(&p, state_name(ld_sched_state(st->eng, deps[j])));
  }
  pk_send(&p, c, NULL, 0);
}

/* Packs KEY -> [addresses of its holders] for task T. */
static void pack_holders(pk_t *p, const sc_task *t) {
  int nw = t ? t->nwho : 0;
  msgpack_pack_array(&p->pk, (size_t)nw);
  for (int j = 0; j < nw; j++) S(p, sc_who_has(t)[j]->addr);
}

/* who-has {keys}: the holders of each key; without keys, of every result
 * held on the cluster (dask's who_has() of all data). */
static void op_who_has(sc_state *st, ld_conn *c, const msgpack_object *h) {
  int64_t id = 0;
  ld_mp_get_i64(h, "id", &id);
  const msgpack_object *keys = arr(h, "keys");
  int all = ld_mp_get(h, "keys") == NULL;
  uint32_t n = keys ? keys->via.array.size : 0;
  int32_t limit = ld_sched_id_limit(st->eng);
  if (all)
    for (int32_t tid = 0; tid < limit; tid++)
      n += ld_sched_state(st->eng, tid) == LD_TASK_MEMORY && sc_side(st, tid)->nwho > 0;
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 3);
  S(&p, "op"), S(&p, "who-has-reply");
  S(&p, "id"), I(&p, id);
  S(&p, "who_has");
  msgpack_pack_map(&p.pk, n);
  if (all) {
    for (int32_t tid = 0; tid < limit; tid++) {
      if (ld_sched_state(st->eng, tid) != LD_TASK_MEMORY) continue;
      const sc_task *t = sc_side(st, tid);
      if (t->nwho == 0) continue;
      size_t klen;
      const char *k = sc_key(st, t, &klen);
      SN(&p, k, klen);
      pack_holders(&p, t);
    }
    pk_send(&p, c, NULL, 0);
    return;
  }
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *o = &keys->via.array.ptr[i];
    if (o->type == MSGPACK_OBJECT_STR)
      SN(&p, o->via.str.ptr, o->via.str.size);
    else
      S(&p, "?");
    pack_holders(&p, find(st, o));
  }
  pk_send(&p, c, NULL, 0);
}

ld_msg *sc_msg_clone(const ld_msg *m) {
  return ld_msg_make(m->frames[0]->data, m->frames[0]->size, m->frames + 1, m->nframes - 1);
}

/* Function names (content hashes) registered so far: a register-functions
 * naming none that is new is already on every worker and is not kept (a
 * client connecting again, or many clients sharing functions, would
 * otherwise grow the scheduler and every worker's join without bound). */
static ld_strmap fn_names;

/* register-functions: names [hash] + one frame per function; kept and sent
 * to every worker, now and when it joins. */
static void op_register_functions(sc_state *st, ld_msg *m, const msgpack_object *h) {
  const msgpack_object *names = ld_mp_get(h, "names");
  int fresh = names == NULL || names->type != MSGPACK_OBJECT_ARRAY;
  for (uint32_t i = 0; !fresh && i < names->via.array.size; i++) {
    const msgpack_object *n = &names->via.array.ptr[i];
    fresh =
        n->type != MSGPACK_OBJECT_STR || !ld_strmap_get(&fn_names, n->via.str.ptr, n->via.str.size);
  }
  if (!fresh) return;
  for (uint32_t i = 0; names && names->type == MSGPACK_OBJECT_ARRAY && i < names->via.array.size;
       i++) {
    const msgpack_object *n = &names->via.array.ptr[i];
    if (n->type != MSGPACK_OBJECT_STR) continue;
    char *name = malloc(n->via.str.size + 1); /* kept as long as the message */
    if (name == NULL) abort();
    memcpy(name, n->via.str.ptr, n->via.str.size);
    int rc = ld_strmap_add(&fn_names, name, n->via.str.size, name);
    if (rc < 0) abort();
    if (rc == 1) free(name); /* named twice in this message */
  }
  if (st->nfn_msgs == st->capfn_msgs) {
    st->capfn_msgs = st->capfn_msgs ? st->capfn_msgs * 2 : 8;
    st->fn_msgs = realloc(st->fn_msgs, (size_t)st->capfn_msgs * sizeof *st->fn_msgs);
    if (st->fn_msgs == NULL) abort();
  }
  ld_msg *keep = sc_msg_clone(m);
  if (keep == NULL) abort();
  st->fn_msgs[st->nfn_msgs++] = keep;
  for (sc_worker *w = st->workers; w; w = w->next) ld_conn_send(w->conn, sc_msg_clone(keep));
}

void sc_on_client_msg(sc_state *st, sc_client *cl, ld_msg *m, const msgpack_object *h) {
  const msgpack_object *op = ld_mp_get(h, "op");
  if (ld_mp_str_eq(op, "register-functions"))
    op_register_functions(st, m, h);
  else if (ld_mp_str_eq(op, "update-graph"))
    sc_op_update_graph(st, cl, m, h);
  else if (ld_mp_str_eq(op, "release-keys"))
    op_keys(st, cl, h, 0);
  else if (ld_mp_str_eq(op, "cancel"))
    op_keys(st, cl, h, 1);
  else if (ld_mp_str_eq(op, "gather"))
    op_gather(st, cl, h);
  else if (ld_mp_str_eq(op, "scatter"))
    op_scatter(st, cl, m, h);
  else if (ld_mp_str_eq(op, "identity"))
    op_identity(st, cl->conn, h);
  else if (ld_mp_str_eq(op, "task-info"))
    op_task_info(st, cl->conn, h);
  else if (ld_mp_str_eq(op, "who-has"))
    op_who_has(st, cl->conn, h);
  else if (ld_mp_str_eq(op, "run"))
    sc_op_run(st, cl, m, h);
  else if (ld_mp_str_eq(op, "upload-file"))
    sc_op_upload(st, cl, m, h);
  else if (ld_mp_str_eq(op, "restart"))
    sc_op_restart(st, cl, h);
  else if (ld_mp_str_eq(op, "coord"))
    sc_op_coord(st, cl, m, h);
  else if (ld_mp_str_eq(op, "versions"))
    sc_op_versions(st, cl, h);
  else if (ld_mp_str_eq(op, "replicate"))
    sc_op_replicate(st, cl, h);
  else if (ld_mp_str_eq(op, "rebalance"))
    sc_op_rebalance(st, cl, h);
  else if (ld_mp_str_eq(op, "retire-workers"))
    sc_op_retire(st, cl, h);
  else if (ld_mp_str_eq(op, "shutdown"))
    st->closing = 1;
  else {
    char msg[200];
    snprintf(msg, sizeof msg, "unknown op '%.*s' from a client",
             op && op->type == MSGPACK_OBJECT_STR ? (int)op->via.str.size : 1,
             op && op->type == MSGPACK_OBJECT_STR ? op->via.str.ptr : "?");
    send_error(cl->conn, msg);
  }
}
