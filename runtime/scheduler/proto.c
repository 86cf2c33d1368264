/* proto.c — ldask-scheduler's message handlers and senders: the ops of
 * docs/protocol.md between the scheduler and its clients and workers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/mp.h"
#include "sched.h"

static sc_state *g_st;

double sc_now(sc_state *st) { return (double)uv_now(st->loop) / 1000.0; }

/* ---- small packing helpers ---- */

typedef struct pk_t {
  msgpack_sbuffer sb;
  msgpack_packer pk;
} pk_t;

static void pk_init(pk_t *p) {
  msgpack_sbuffer_init(&p->sb);
  msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

static void pk_send(pk_t *p, ld_conn *c, ld_buffer *const *bufs, uint32_t n) {
  if (c) ld_conn_send_packed(c, &p->sb, bufs, n);
  msgpack_sbuffer_destroy(&p->sb);
}

#define S(p, s) ld_mp_pack_cstr(&(p)->pk, s)
#define SN(p, s, n) ld_mp_pack_str(&(p)->pk, s, n)
#define I(p, v) msgpack_pack_int64(&(p)->pk, (int64_t)(v))

static void send_error(ld_conn *c, const char *msg) {
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 2);
  S(&p, "op"), S(&p, "error");
  S(&p, "message"), S(&p, msg);
  pk_send(&p, c, NULL, 0);
}

sc_client *sc_find_client(sc_state *st, int id) {
  for (sc_client *c = st->clients; c; c = c->next)
    if (c->id == id) return c;
  return NULL;
}

void sc_send_compute(sc_state *st, sc_task *t, sc_worker *w) {
  (void)st;
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 5);
  S(&p, "op"), S(&p, "compute-task");
  S(&p, "key"), SN(&p, t->key, t->keylen);
  S(&p, "priority"), I(&p, t->prio);
  S(&p, "nframes"), I(&p, t->npayload);
  S(&p, "deps");
  msgpack_pack_array(&p.pk, (size_t)t->ndeps);
  for (int i = 0; i < t->ndeps; i++) {
    sc_task *d = t->deps[i];
    msgpack_pack_map(&p.pk, 3);
    S(&p, "key"), SN(&p, d->key, d->keylen);
    S(&p, "nbytes"), I(&p, d->nbytes);
    S(&p, "who_has");
    msgpack_pack_array(&p.pk, (size_t)d->nwho);
    for (int j = 0; j < d->nwho; j++) S(&p, d->who_has[j]->addr);
  }
  pk_send(&p, w->conn, t->payload, t->npayload);
}

void sc_send_free(sc_worker *w, sc_task *t) {
  if (!w->alive) return;
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 2);
  S(&p, "op"), S(&p, "free-keys");
  S(&p, "keys");
  msgpack_pack_array(&p.pk, 1);
  SN(&p, t->key, t->keylen);
  pk_send(&p, w->conn, NULL, 0);
}

/* Sends each client's batched keys-finished (a uv_check: right after the
 * messages of one poll were handled, before the loop writes). */
static void flush_finished(uv_check_t *chk) {
  sc_state *st = chk->data;
  uv_check_stop(chk);
  for (sc_client *c = st->clients; c; c = c->next) {
    if (c->nfin == 0) continue;
    pk_t p;
    pk_init(&p);
    msgpack_pack_map(&p.pk, 2);
    S(&p, "op"), S(&p, "keys-finished");
    S(&p, "keys");
    msgpack_pack_array(&p.pk, c->nfin);
    msgpack_sbuffer_write(&p.sb, c->fin_keys.data, c->fin_keys.size);
    pk_send(&p, c->conn, NULL, 0);
    c->fin_keys.size = 0;
    c->nfin = 0;
  }
}

void sc_client_free(sc_client *c) {
  msgpack_sbuffer_destroy(&c->fin_keys);
  ld_kmap_free(&c->wants);
  free(c);
}

static void notify_one(sc_client *c, sc_task *t, const char *op) {
  if (strcmp(op, "key-finished") == 0) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c->fin_keys, msgpack_sbuffer_write);
    ld_mp_pack_str(&pk, t->key, t->keylen);
    c->nfin++;
    if (!uv_is_active((uv_handle_t *)&g_st->notify)) uv_check_start(&g_st->notify, flush_finished);
    return;
  }
  pk_t p;
  pk_init(&p);
  int erred = strcmp(op, "key-erred") == 0;
  msgpack_pack_map(&p.pk, erred ? 5 : 3);
  S(&p, "op"), S(&p, op);
  S(&p, "key"), SN(&p, t->key, t->keylen);
  if (erred) {
    S(&p, "message"), S(&p, t->err_msg);
    S(&p, "traceback"), S(&p, t->err_tb);
    S(&p, "lost");
    if (t->lost)
      msgpack_pack_true(&p.pk);
    else
      msgpack_pack_false(&p.pk);
  } else {
    S(&p, "nbytes"), I(&p, t->nbytes);
  }
  pk_send(&p, c->conn, NULL, 0);
}

void sc_notify_key(sc_state *st, sc_task *t, const char *op) {
  int finished = strcmp(op, "key-finished") == 0;
  for (sc_client *c = st->clients; c; c = c->next) {
    int tell = ld_kmap_get(&c->wants, t->key, t->keylen) != NULL;
    for (int i = 0; !tell && !finished && i < t->ngather; i++) tell = t->gather_clients[i] == c->id;
    if (tell) notify_one(c, t, op);
  }
}

void sc_send_data_request(sc_state *st, sc_worker *w, sc_task **ts, int n, int client_id) {
  (void)st;
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 3);
  S(&p, "op"), S(&p, "send-data");
  S(&p, "client"), I(&p, client_id);
  S(&p, "keys");
  msgpack_pack_array(&p.pk, (size_t)n);
  for (int i = 0; i < n; i++) SN(&p, ts[i]->key, ts[i]->keylen);
  pk_send(&p, w->conn, NULL, 0);
}

/* Answers a client's gather from the small results kept here. */
void sc_send_inline(sc_state *st, sc_task **ts, int n, int client_id) {
  sc_client *c = sc_find_client(st, client_id);
  if (c == NULL) return;
  uint32_t nframes = 0;
  for (int i = 0; i < n; i++) nframes += ts[i]->ninline;
  ld_buffer **frames = malloc((nframes ? nframes : 1) * sizeof *frames);
  if (frames == NULL) abort();
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 3);
  S(&p, "op"), S(&p, "gather-data");
  S(&p, "client"), I(&p, client_id);
  S(&p, "keys");
  msgpack_pack_array(&p.pk, (size_t)n);
  uint32_t f = 0;
  for (int i = 0; i < n; i++) {
    msgpack_pack_map(&p.pk, 2);
    S(&p, "key"), SN(&p, ts[i]->key, ts[i]->keylen);
    S(&p, "nframes"), I(&p, ts[i]->ninline);
    for (uint32_t j = 0; j < ts[i]->ninline; j++) frames[f++] = ts[i]->inline_data[j];
  }
  pk_send(&p, c->conn, frames, f);
  free(frames);
}

/* ---- helpers reading headers ---- */

static const msgpack_object *arr(const msgpack_object *h, const char *k) {
  const msgpack_object *o = ld_mp_get(h, k);
  return o && o->type == MSGPACK_OBJECT_ARRAY ? o : NULL;
}

static sc_task *find(sc_state *st, const msgpack_object *o) {
  if (o == NULL || o->type != MSGPACK_OBJECT_STR) return NULL;
  return ld_kmap_get(&st->tasks, o->via.str.ptr, o->via.str.size);
}

static void key_error(ld_conn *c, const char *key, size_t klen, const char *msg) {
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 4);
  S(&p, "op"), S(&p, "key-erred");
  S(&p, "key"), SN(&p, key, klen);
  S(&p, "message"), S(&p, msg);
  S(&p, "traceback"), S(&p, "");
  pk_send(&p, c, NULL, 0);
}

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
  /* Tasks nobody wants and nothing needs are dropped at once. */
  for (uint32_t i = 0; i < n; i++)
    if (added[i] && added[i]->refs == 0 && added[i]->ndependents == 0)
      sc_maybe_release(st, added[i]);
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
      notify_one(cl, t, "key-erred");
    } else if (t->state == T_CANCELLED) {
      notify_one(cl, t, "key-cancelled");
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
    if (t->state == T_MEMORY) { /* same key already scattered */
      next += (uint32_t)nf;
      sc_notify_key(st, t, "key-finished");
      continue;
    }
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
    pk_send(&p, best->conn, m->frames + next, (uint32_t)nf);
    next += (uint32_t)nf;
  }
}

static void op_identity(sc_state *st, ld_conn *c, const msgpack_object *h) {
  int64_t id = 0;
  ld_mp_get_i64(h, "id", &id);
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 6);
  S(&p, "op"), S(&p, "identity-reply");
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

static ld_msg *msg_clone(const ld_msg *m) {
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
  ld_msg *keep = msg_clone(m);
  if (keep == NULL) abort();
  st->fn_msgs[st->nfn_msgs++] = keep;
  for (sc_worker *w = st->workers; w; w = w->next) ld_conn_send(w->conn, msg_clone(keep));
}

static void on_client_msg(sc_state *st, sc_client *cl, ld_msg *m, const msgpack_object *h) {
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
  snprintf(w->addr, sizeof w->addr, "%.*s", (int)alen, addr);
  w->nthreads = (int)nthreads;
  w->memory_limit = memlimit;
  w->alive = 1;
  w->last_seen = sc_now(st);
  ld_kmap_init(&w->has);
  w->next = st->workers;
  st->workers = w;
  st->nworkers++;
  ld_conn_set_data(c, w);
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 2);
  S(&p, "op"), S(&p, "registered");
  S(&p, "id"), I(&p, w->id);
  pk_send(&p, c, NULL, 0);
  for (int i = 0; i < st->nfn_msgs; i++) ld_conn_send(c, msg_clone(st->fn_msgs[i]));
  fprintf(stderr, "ldask-scheduler: worker %s joined (%s, %d threads)\n", w->name, w->addr,
          w->nthreads);
  sc_fill(st);
}

static void on_worker_msg(sc_state *st, sc_worker *w, ld_msg *m, const msgpack_object *h) {
  const msgpack_object *op = ld_mp_get(h, "op");
  w->last_seen = sc_now(st);
  if (ld_mp_str_eq(op, "task-finished")) {
    int64_t nbytes = 0;
    double t0, t1;
    ld_mp_get_i64(h, "nbytes", &nbytes);
    if (ld_mp_get_f64(h, "start", &t0) && ld_mp_get_f64(h, "stop", &t1) && t1 >= t0) {
      double d = t1 - t0;
      st->avg_task = st->avg_task < 0 ? d : 0.95 * st->avg_task + 0.05 * d;
    }
    int64_t ndata = 0;
    ld_mp_get_i64(h, "nframes", &ndata);
    if (ndata < 0 || (uint64_t)ndata + 1 > m->nframes) ndata = 0;
    sc_task *t = find(st, ld_mp_get(h, "key"));
    if (t)
      sc_finished(st, w, t, nbytes, m->frames + 1, (uint32_t)ndata);
    else {
      /* Forgotten meanwhile: the worker may drop it. */
      const msgpack_object *k = ld_mp_get(h, "key");
      if (k && k->type == MSGPACK_OBJECT_STR) {
        pk_t p;
        pk_init(&p);
        msgpack_pack_map(&p.pk, 2);
        S(&p, "op"), S(&p, "free-keys");
        S(&p, "keys");
        msgpack_pack_array(&p.pk, 1);
        SN(&p, k->via.str.ptr, k->via.str.size);
        pk_send(&p, w->conn, NULL, 0);
      }
    }
    sc_fill(st);
  } else if (ld_mp_str_eq(op, "task-erred")) {
    const char *msg = "", *tb = "";
    size_t mlen = 0, tblen = 0;
    ld_mp_get_str(h, "message", &msg, &mlen);
    ld_mp_get_str(h, "traceback", &tb, &tblen);
    sc_task *t = find(st, ld_mp_get(h, "key"));
    if (t) sc_failed_on_worker(st, w, t, msg, mlen, tb, tblen);
    sc_fill(st);
  } else if (ld_mp_str_eq(op, "gather-data")) {
    int64_t cid = -1;
    ld_mp_get_i64(h, "client", &cid);
    sc_client *cl = sc_find_client(st, (int)cid);
    const msgpack_object *missing = arr(h, "missing");
    for (uint32_t i = 0; missing && i < missing->via.array.size; i++) {
      sc_task *t = find(st, &missing->via.array.ptr[i]);
      if (t == NULL) continue;
      sc_remove_holder(st, t, w);
      if (cl) sc_request_data(st, t, cl->id);
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
    if (t && t->state == T_PROCESSING && t->processing_on == w) {
      w->nprocessing--;
      t->processing_on = NULL;
      sc_recount(st, t);
    }
  } else if (ld_mp_str_eq(op, "heartbeat")) {
    ld_mp_get_i64(h, "executed", &w->executed);
    ld_mp_get_i64(h, "fetched", &w->fetched);
    ld_mp_get_i64(h, "fetched_bytes", &w->fetched_bytes);
  }
  ld_msg_free(m);
}

/* ---- connections ---- */

typedef struct conn_tag {
  int kind; /* 0 unknown, 1 client, 2 worker */
} conn_tag;

static void on_msg(ld_conn *c, ld_msg *m, const msgpack_object *h) {
  sc_state *st = g_st;
  const char *role = ld_conn_peer_role(c);
  void *data = ld_conn_data(c);
  const msgpack_object *op = ld_mp_get(h, "op");
  if (ld_mp_str_eq(op, "hello")) {
    if (strcmp(role, "client") == 0) {
      sc_client *cl = calloc(1, sizeof *cl);
      if (cl == NULL) abort();
      cl->id = ++st->next_client_id;
      cl->conn = c;
      ld_kmap_init(&cl->wants);
      msgpack_sbuffer_init(&cl->fin_keys);
      cl->next = st->clients;
      st->clients = cl;
      ld_conn_set_data(c, cl);
      pk_t p;
      pk_init(&p);
      msgpack_pack_map(&p.pk, 3);
      S(&p, "op"), S(&p, "welcome");
      S(&p, "id"), I(&p, cl->id);
      S(&p, "nworkers"), I(&p, st->nworkers);
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
    on_client_msg(st, cl, m, h);
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
  if (st->closing) uv_stop(st->loop);
}

static void on_close(ld_conn *c, const char *reason) {
  sc_state *st = g_st;
  const char *role = ld_conn_peer_role(c);
  void *data = ld_conn_data(c);
  if (data == NULL) return;
  if (strcmp(role, "client") == 0) {
    sc_client *cl = data;
    for (sc_client **pp = &st->clients; *pp; pp = &(*pp)->next)
      if (*pp == cl) {
        *pp = cl->next;
        break;
      }
    size_t i = 0, n = 0;
    sc_task **ts = malloc((cl->wants.count + 1) * sizeof *ts);
    if (ts == NULL) abort();
    ld_kmap_slot *s;
    while ((s = ld_kmap_next(&cl->wants, &i)) != NULL) ts[n++] = s->val;
    for (size_t k = 0; k < n; k++) ts[k]->refs++; /* pin while releasing */
    for (size_t k = 0; k < n; k++) ld_kmap_del(&cl->wants, ts[k]->key, ts[k]->keylen);
    for (size_t k = 0; k < n; k++) {
      ts[k]->refs -= 2;
      sc_maybe_release(st, ts[k]);
    }
    free(ts);
    sc_client_free(cl);
  } else {
    sc_worker *w = data;
    sc_worker_gone(st, w, reason);
    free(w);
  }
}

static const ld_conn_handlers handlers = {on_msg, on_close};

void sc_proto_init(sc_state *st, const ld_conn_handlers **h) {
  g_st = st;
  uv_check_init(st->loop, &st->notify);
  st->notify.data = st;
  *h = &handlers;
}
