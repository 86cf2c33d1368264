/* client_ops.c — ldask-scheduler's handlers of client messages:
 * update-graph, release-keys, cancel, gather, scatter, identity, who-has,
 * register-functions, shutdown (docs/protocol.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack.h"

/* ---- client ops ---- */

/* update-graph: tasks [{key, deps, priority, nframes, retries, workers}],
 * wanted [keys]; frames = the payloads back to back. */
static void op_update_graph(sc_state *st, sc_client *cl, ld_msg *m, const msgpack_object *h) {
  const msgpack_object *tasks = arr(h, "tasks");
  uint32_t next_frame = 1;
  char err[400];
  if (tasks == NULL) {
    send_error(cl->conn, "update-graph: 'tasks' must be an array");
    return;
  }
  uint32_t n = tasks->via.array.size;
  sc_task **added = calloc(n ? n : 1, sizeof *added);
  if (added == NULL) abort();
  /* Pass 1: records. */
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *rec = &tasks->via.array.ptr[i];
    const char *key;
    size_t klen;
    int64_t nf = 0, prio = 0, retries = 0;
    if (!ld_mp_get_str(rec, "key", &key, &klen)) {
      snprintf(err, sizeof err, "update-graph: task record %u has no string 'key'", i);
      send_error(cl->conn, err);
      break;
    }
    ld_mp_get_i64(rec, "nframes", &nf);
    ld_mp_get_i64(rec, "priority", &prio);
    ld_mp_get_i64(rec, "retries", &retries);
    if (nf < 1 || next_frame + (uint64_t)nf > m->nframes) {
      snprintf(err, sizeof err,
               "update-graph: task '%.*s' claims %lld payload frames but the message has %u left",
               (int)klen, key, (long long)nf, m->nframes - next_frame);
      key_error(cl->conn, key, klen, err);
      break;
    }
    uint32_t first = next_frame;
    next_frame += (uint32_t)nf;
    sc_task *t = ld_kmap_get(&st->tasks, key, klen);
    if (t && t->state != T_CANCELLED && !(t->state == T_RELEASED && t->npayload == 0)) {
      continue; /* same key: same computation, already known */
    }
    if (t == NULL) t = sc_task_new(st, key, klen);
    if (t == NULL) abort();
    for (uint32_t f = 0; f < t->npayload; f++) ld_buffer_release(t->payload[f]);
    free(t->payload);
    t->payload = malloc((size_t)nf * sizeof *t->payload);
    if (t->payload == NULL) abort();
    for (uint32_t f = 0; f < (uint32_t)nf; f++)
      t->payload[f] = ld_buffer_retain(m->frames[first + f]);
    t->npayload = (uint32_t)nf;
    t->prio = prio;
    t->retries = (int)retries;
    t->suspicious = 0;
    t->state = T_RELEASED;
    const msgpack_object *ws = arr(rec, "workers");
    if (ws && ws->via.array.size > 0 && t->nrestrict == 0) {
      t->restrict_to = calloc(ws->via.array.size, sizeof(char *));
      for (uint32_t j = 0; j < ws->via.array.size; j++) {
        const msgpack_object *o = &ws->via.array.ptr[j];
        if (o->type != MSGPACK_OBJECT_STR) continue;
        char *s = malloc(o->via.str.size + 1);
        memcpy(s, o->via.str.ptr, o->via.str.size);
        s[o->via.str.size] = '\0';
        t->restrict_to[t->nrestrict++] = s;
      }
    }
    added[i] = t;
  }
  /* Pass 2: dependencies (may refer to tasks of this batch). */
  for (uint32_t i = 0; i < n; i++) {
    sc_task *t = added[i];
    if (t == NULL || t->ndeps > 0) continue;
    const msgpack_object *deps = arr(&tasks->via.array.ptr[i], "deps");
    uint32_t nd = deps ? deps->via.array.size : 0;
    t->deps = calloc(nd ? nd : 1, sizeof *t->deps);
    for (uint32_t j = 0; j < nd; j++) {
      sc_task *d = find(st, &deps->via.array.ptr[j]);
      if (d == NULL || d == t) {
        const msgpack_object *o = &deps->via.array.ptr[j];
        snprintf(err, sizeof err, "task '%s' depends on unknown key '%.*s'", t->key,
                 o->type == MSGPACK_OBJECT_STR ? (int)o->via.str.size : 1,
                 o->type == MSGPACK_OBJECT_STR ? o->via.str.ptr : "?");
        t->state = T_WAITING;
        sc_want(st, cl, t);
        sc_erred(st, t, err, strlen(err), "", 0);
        added[i] = NULL;
        break;
      }
      t->deps[t->ndeps++] = d;
      sc_task_add_dependent(d, t);
    }
  }
  /* Wanted keys, then start what is new. */
  const msgpack_object *wanted = arr(h, "wanted");
  for (uint32_t i = 0; wanted && i < wanted->via.array.size; i++) {
    sc_task *t = find(st, &wanted->via.array.ptr[i]);
    if (t == NULL) continue;
    sc_want(st, cl, t);
    if (t->state == T_MEMORY) sc_notify_key(st, t, "key-finished");
    if (t->state == T_ERRED) sc_notify_key(st, t, "key-erred");
  }
  for (uint32_t i = 0; i < n; i++) {
    sc_task *t = added[i];
    if (t && t->state == T_RELEASED) sc_recount(st, t);
  }
  /* Tasks nobody wants and nothing needs are dropped at once. Dropping one
   * may drop others of this batch: pin them all, then let go one by one. */
  for (uint32_t i = 0; i < n; i++)
    if (added[i]) added[i]->refs++;
  for (uint32_t i = 0; i < n; i++) {
    if (added[i] == NULL) continue;
    added[i]->refs--;
    sc_maybe_release(st, added[i]);
  }
  free(added);
}

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
      sc_cancel(st, t);
  }
}

static void op_gather(sc_state *st, sc_client *cl, const msgpack_object *h) {
  const msgpack_object *keys = arr(h, "keys");
  if (keys == NULL) {
    send_error(cl->conn, "gather: 'keys' must be an array");
    return;
  }
  /* Small results kept here are answered at once, in one message. */
  {
    sc_task *batch[256];
    int nb = 0;
    for (uint32_t i = 0; i < keys->via.array.size; i++) {
      sc_task *t = find(st, &keys->via.array.ptr[i]);
      if (t && t->state == T_MEMORY && t->ninline > 0) {
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
    for (uint32_t i = 0; i < keys->via.array.size; i++) {
      sc_task *t = find(st, &keys->via.array.ptr[i]);
      if (t && t->state == T_MEMORY && t->ninline == 0 && t->nwho > 0 && t->who_has[0] == w) {
        sc_add_gather(t, cl->id);
        batch[nb++] = t;
        if (nb == 256) sc_send_data_request(st, w, batch, nb, cl->id), nb = 0;
      }
    }
    if (nb) sc_send_data_request(st, w, batch, nb, cl->id);
  }
  for (uint32_t i = 0; i < keys->via.array.size; i++) {
    const msgpack_object *o = &keys->via.array.ptr[i];
    sc_task *t = find(st, o);
    char msg[300];
    if (t == NULL) {
      if (o->type != MSGPACK_OBJECT_STR) continue;
      snprintf(msg, sizeof msg,
               "gather: key '%.*s' is not known to the scheduler (never submitted, or released)",
               (int)o->via.str.size, o->via.str.ptr);
      key_error(cl->conn, o->via.str.ptr, o->via.str.size, msg);
    } else if (t->state == T_MEMORY && (t->nwho > 0 || t->ninline > 0)) {
      continue; /* answered or requested above */
    } else if (t->state == T_ERRED) {
      sc_notify_one(cl, t, "key-erred");
    } else if (t->state == T_CANCELLED) {
      sc_notify_one(cl, t, "key-cancelled");
    } else {
      sc_request_data(st, t, cl->id);
    }
  }
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
      int ok = ws == NULL || ws->via.array.size == 0;
      for (uint32_t j = 0; !ok && j < ws->via.array.size; j++)
        ok = ld_mp_str_eq(&ws->via.array.ptr[j], w->name) ||
             ld_mp_str_eq(&ws->via.array.ptr[j], w->addr);
      if (ok && (best == NULL || w->nbytes < best->nbytes)) best = w;
    }
    sc_task *t = ld_kmap_get(&st->tasks, key, klen);
    if (t == NULL) t = sc_task_new(st, key, klen);
    if (t == NULL) abort();
    sc_want(st, cl, t);
    if (best == NULL) {
      char msg[200];
      snprintf(msg, sizeof msg, "scatter: no worker to hold key '%.*s'%s", (int)klen, key,
               ws ? " among the workers asked for" : "");
      t->state = T_WAITING;
      sc_erred(st, t, msg, strlen(msg), "", 0);
      next += (uint32_t)nf;
      continue;
    }
    if (t->state == T_MEMORY || (t->state == T_PROCESSING && t->scattered)) {
      /* the same value, stored or on its way */
      next += (uint32_t)nf;
      if (t->state == T_MEMORY) sc_notify_key(st, t, "key-finished");
      continue;
    }
    free(t->err_msg);
    free(t->err_tb);
    t->err_msg = t->err_tb = NULL;
    t->lost = 0;
    t->scattered = 1;
    t->state = T_PROCESSING;
    t->processing_on = best;
    best->nprocessing++;
    pk_t p;
    pk_init(&p);
    msgpack_pack_map(&p.pk, 3);
    S(&p, "op"), S(&p, "put-data");
    S(&p, "key"), SN(&p, key, klen);
    S(&p, "nframes"), I(&p, nf);
    sc_flush_frees(best);
    pk_send(&p, best->conn, m->frames + next, (uint32_t)nf);
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
  msgpack_pack_map(&p.pk, 8);
  S(&p, "op"), S(&p, "identity-reply");
  S(&p, "messages_sent"), I(&p, msgs);
  S(&p, "writes"), I(&p, writes);
  S(&p, "id"), I(&p, id);
  S(&p, "address"), S(&p, st->address);
  S(&p, "ntasks"), I(&p, st->tasks.count);
  S(&p, "queued"), I(&p, st->heap_len);
  S(&p, "workers");
  msgpack_pack_array(&p.pk, (size_t)st->nworkers);
  for (sc_worker *w = st->workers; w; w = w->next) {
    msgpack_pack_map(&p.pk, 8);
    S(&p, "name"), S(&p, w->name);
    S(&p, "address"), S(&p, w->addr);
    S(&p, "nthreads"), I(&p, w->nthreads);
    S(&p, "processing"), I(&p, w->nprocessing);
    S(&p, "nkeys"), I(&p, w->has.count);
    S(&p, "executed"), I(&p, w->executed);
    S(&p, "fetched"), I(&p, w->fetched);
    S(&p, "fetched_bytes"), I(&p, w->fetched_bytes);
  }
  pk_send(&p, c, NULL, 0);
}

static const char *state_name(int s) {
  static const char *names[] = {"released", "waiting", "ready",    "processing",
                                "memory",   "erred",   "cancelled"};
  return s >= 0 && s <= T_CANCELLED ? names[s] : "?";
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
  msgpack_pack_map(&p.pk, 11);
  S(&p, "op"), S(&p, "task-info-reply");
  S(&p, "id"), I(&p, id);
  S(&p, "state"), S(&p, state_name(t->state));
  S(&p, "waiting_on"), I(&p, t->waiting_on);
  S(&p, "refs"), I(&p, t->refs);
  S(&p, "gathers"), I(&p, t->ngather);
  S(&p, "retries"), I(&p, t->retries);
  S(&p, "suspicious"), I(&p, t->suspicious);
  S(&p, "processing_on"), S(&p, t->processing_on ? t->processing_on->addr : "");
  S(&p, "who_has");
  msgpack_pack_array(&p.pk, (size_t)t->nwho);
  for (int j = 0; j < t->nwho; j++) S(&p, t->who_has[j]->addr);
  S(&p, "deps");
  msgpack_pack_array(&p.pk, (size_t)t->ndeps);
  for (int j = 0; j < t->ndeps; j++) {
    msgpack_pack_map(&p.pk, 2);
    S(&p, "key"), SN(&p, t->deps[j]->key, t->deps[j]->keylen);
    S(&p, "state"), S(&p, state_name(t->deps[j]->state));
  }
  pk_send(&p, c, NULL, 0);
}

static void op_who_has(sc_state *st, ld_conn *c, const msgpack_object *h) {
  int64_t id = 0;
  ld_mp_get_i64(h, "id", &id);
  const msgpack_object *keys = arr(h, "keys");
  uint32_t n = keys ? keys->via.array.size : 0;
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 3);
  S(&p, "op"), S(&p, "who-has-reply");
  S(&p, "id"), I(&p, id);
  S(&p, "who_has");
  msgpack_pack_map(&p.pk, n);
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *o = &keys->via.array.ptr[i];
    if (o->type == MSGPACK_OBJECT_STR)
      SN(&p, o->via.str.ptr, o->via.str.size);
    else
      S(&p, "?");
    sc_task *t = find(st, o);
    int nw = t ? t->nwho : 0;
    msgpack_pack_array(&p.pk, (size_t)nw);
    for (int j = 0; j < nw; j++) S(&p, t->who_has[j]->addr);
  }
  pk_send(&p, c, NULL, 0);
}

ld_msg *sc_msg_clone(const ld_msg *m) {
  return ld_msg_make(m->frames[0]->data, m->frames[0]->size, m->frames + 1, m->nframes - 1);
}

/* register-functions: names [hash] + one frame per function; kept and sent
 * to every worker, now and when it joins. */
static void op_register_functions(sc_state *st, ld_msg *m) {
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
    op_register_functions(st, m);
  else if (ld_mp_str_eq(op, "update-graph"))
    op_update_graph(st, cl, m, h);
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
