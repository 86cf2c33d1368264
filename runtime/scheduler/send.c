/* send.c — what ldask-scheduler sends: tasks to workers, frees, data
 * requests, and the notifications of clients (keys-finished batched once
 * per loop iteration, errors and cancellations at once, small results from
 * the scheduler's own copies). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack.h"

sc_state *sc_g;

double sc_now(sc_state *st) { return (double)uv_now(st->loop) / 1000.0; }

char *sc_pk_spare;
size_t sc_pk_spare_cap;

/* An idle handle only keeps the loop's poll from blocking while batches
 * wait for the check (queued from a close callback, after this
 * iteration's check): sc_flush_batches stops it. */
static void kick_cb(uv_idle_t *h) { (void)h; }

sc_client *sc_find_client(sc_state *st, int id) {
  for (sc_client *c = st->clients; c; c = c->next)
    if (c->id == id) return c;
  return NULL;
}

/* Packs the key of T. */
static void pack_key(pk_t *p, const sc_state *st, const sc_task *t) {
  size_t len;
  const char *key = sc_key(st, t, &len);
  SN(p, key, len);
}

void sc_send_worker_removed(sc_state *st, const sc_worker *gone) {
  for (sc_worker *w = st->workers; w; w = w->next) {
    if (w == gone || !w->alive) continue;
    pk_t p;
    pk_init(&p);
    msgpack_pack_map(&p.pk, 2);
    S(&p, "op"), S(&p, "worker-removed");
    S(&p, "address"), S(&p, gone->addr);
    pk_send(&p, w->conn, NULL, 0);
  }
}

void sc_flush_frees(sc_worker *w) {
  if (w->nfree == 0) return;
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 2);
  S(&p, "op"), S(&p, "free-keys");
  S(&p, "keys");
  msgpack_pack_array(&p.pk, w->nfree);
  msgpack_sbuffer_write(&p.sb, w->free_keys.data, w->free_keys.size);
  w->free_keys.size = 0;
  w->nfree = 0;
  pk_send(&p, w->alive ? w->conn : NULL, NULL, 0);
}

/* Not once shutdown closed the handles: a check or idle handle started
 * while closing would count as active for ever (libuv drops its reference
 * on close without leaving the count), and the loop would never end. */
void sc_flush_soon(sc_state *st) {
  if (uv_is_active((uv_handle_t *)&st->notify) || uv_is_closing((uv_handle_t *)&st->notify)) return;
  uv_check_start(&st->notify, sc_flush_batches);
  uv_idle_start(&st->kick, kick_cb);
}

void sc_queue_free(sc_worker *w, const char *key, size_t len) {
  if (!w->alive) return;
  if (w->compute.n) sc_flush_compute(w); /* tasks placed before go first */
  msgpack_packer pk;
  msgpack_packer_init(&pk, &w->free_keys, msgpack_sbuffer_write);
  ld_mp_pack_str(&pk, key, len);
  w->nfree++;
  sc_flush_soon(sc_g);
}

void sc_send_free(sc_worker *w, sc_task *t) {
  size_t len;
  const char *key = sc_key(sc_g, t, &len);
  sc_queue_free(w, key, len);
}

static void release_fin_frames(sc_client *c) {
  for (uint32_t i = 0; i < c->nfin_frames; i++) ld_buffer_release(c->fin_frames[i]);
  c->nfin_frames = 0;
}

/* Sends each client's batched keys-finished and each worker's batched
 * free-keys (a uv_check: right after the messages of one poll were
 * handled, before the loop writes). */
void sc_flush_batches(uv_check_t *chk) {
  sc_state *st = chk->data;
  uv_check_stop(chk);
  uv_idle_stop(&st->kick);
  for (sc_worker *w = st->workers; w; w = w->next) sc_flush_worker(w);
  for (sc_client *c = st->clients; c; c = c->next) {
    if (c->nfin == 0) continue;
    pk_t p;
    pk_init(&p);
    msgpack_pack_map(&p.pk, 3);
    S(&p, "op"), S(&p, "keys-finished");
    S(&p, "keys");
    msgpack_pack_array(&p.pk, c->nfin);
    msgpack_sbuffer_write(&p.sb, c->fin_keys.data, c->fin_keys.size);
    S(&p, "nframes");
    msgpack_pack_array(&p.pk, c->nfin);
    msgpack_sbuffer_write(&p.sb, c->fin_nframes.data, c->fin_nframes.size);
    pk_send(&p, c->conn, c->fin_frames, c->nfin_frames);
    release_fin_frames(c);
    c->fin_keys.size = 0;
    c->fin_nframes.size = 0;
    c->nfin = 0;
  }
}

void sc_client_free(sc_client *c) {
  release_fin_frames(c);
  free(c->fin_frames);
  msgpack_sbuffer_destroy(&c->fin_keys);
  msgpack_sbuffer_destroy(&c->fin_nframes);
  free(c);
}

void sc_notify_one(sc_client *c, sc_task *t, const char *op) {
  if (strcmp(op, "key-finished") == 0) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c->fin_keys, msgpack_sbuffer_write);
    size_t klen;
    const char *key = sc_key(sc_g, t, &klen);
    ld_mp_pack_str(&pk, key, klen);
    /* A small result kept here travels along: no gather needed. */
    msgpack_packer_init(&pk, &c->fin_nframes, msgpack_sbuffer_write);
    uint32_t nres = t->result.n;
    msgpack_pack_uint32(&pk, nres);
    if (c->nfin_frames + nres > c->capfin_frames) {
      uint32_t cap = c->capfin_frames ? c->capfin_frames : 64;
      while (cap < c->nfin_frames + nres) cap *= 2;
      ld_buffer **n = realloc(c->fin_frames, cap * sizeof *n);
      if (n == NULL) abort();
      c->fin_frames = n;
      c->capfin_frames = cap;
    }
    for (uint32_t j = 0; j < nres; j++)
      c->fin_frames[c->nfin_frames++] = ld_buffer_retain(sc_frames_ptr(&t->result)[j]);
    c->nfin++;
    sc_flush_soon(sc_g);
    return;
  }
  pk_t p;
  pk_init(&p);
  int erred = strcmp(op, "key-erred") == 0;
  msgpack_pack_map(&p.pk, erred ? (sc_r(t)->err_key ? 6 : 5) : 3);
  S(&p, "op"), S(&p, op);
  S(&p, "key"), pack_key(&p, sc_g, t);
  if (erred) {
    S(&p, "message"), S(&p, sc_r(t)->err_msg ? sc_r(t)->err_msg : "");
    S(&p, "traceback"), S(&p, sc_r(t)->err_tb ? sc_r(t)->err_tb : "");
    if (sc_r(t)->err_key) S(&p, "origin"), S(&p, sc_r(t)->err_key);
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
    int tell = sc_wanted_by(t, c->id);
    for (int i = 0; !tell && !finished && i < sc_r(t)->ngather; i++)
      tell = sc_r(t)->gather_clients[i] == c->id;
    if (tell) sc_notify_one(c, t, op);
  }
}

void sc_send_data_request(sc_state *st, sc_worker *w, sc_task **ts, int n, int client_id) {
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 3);
  S(&p, "op"), S(&p, "send-data");
  S(&p, "client"), I(&p, client_id);
  S(&p, "keys");
  msgpack_pack_array(&p.pk, (size_t)n);
  for (int i = 0; i < n; i++) pack_key(&p, st, ts[i]);
  sc_flush_worker(w);
  pk_send(&p, w->conn, NULL, 0);
}

void sc_send_put_data(sc_worker *w, const char *key, size_t klen, ld_buffer *const *frames,
                      uint32_t n) {
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 3);
  S(&p, "op"), S(&p, "put-data");
  S(&p, "key"), SN(&p, key, klen);
  S(&p, "nframes"), I(&p, n);
  sc_flush_worker(w);
  pk_send(&p, w->conn, frames, n);
}

/* Answers a client's gather from the small results kept here. */
void sc_send_inline(sc_state *st, sc_task **ts, int n, int client_id) {
  sc_client *c = sc_find_client(st, client_id);
  if (c == NULL) return;
  uint32_t nframes = 0;
  for (int i = 0; i < n; i++) nframes += ts[i]->result.n;
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
    S(&p, "key"), pack_key(&p, st, ts[i]);
    S(&p, "nframes"), I(&p, ts[i]->result.n);
    for (uint32_t j = 0; j < ts[i]->result.n; j++) frames[f++] = sc_frames_ptr(&ts[i]->result)[j];
  }
  pk_send(&p, c->conn, frames, f);
  free(frames);
}
