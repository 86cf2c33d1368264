/* serve.c — ldask-worker's answers to requests for its data: get-data from
 * peers and send-data from the scheduler (for a client's gather). Values in
 * RAM are answered at once; spilled ones are read back on the threadpool
 * first, and the reply goes out when the last one is in (if the asker is
 * still connected). Runs on the loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/mp.h"
#include "spill.h"
#include "worker.h"

/* A reply being put together. Keys are copies; frames[i] holds owned
 * references to key i's frames, or NULL when it is missing. */
typedef struct wk_reply {
  ld_conn *to;
  const char *op; /* static string */
  int has_client;
  int64_t client;
  uint32_t n;
  char **keys; /* NULL for a key that was not a string */
  size_t *keylens;
  ld_buffer ***frames;
  uint32_t *nframes;
  int pending; /* reads in flight */
} wk_reply;

/* Sends R when it is complete (the asker may be gone meanwhile: then the
 * values are just released) and frees it. */
static void reply_finish(wk_state *w, wk_reply *r) {
  uint32_t nhave = 0, nf = 0;
  for (uint32_t i = 0; i < r->n; i++)
    if (r->frames[i]) nhave++, nf += r->nframes[i];
  ld_buffer **all = calloc(nf ? nf : 1, sizeof *all);
  if (all == NULL) abort();
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, r->has_client ? 4 : 3);
  ld_mp_pack_cstr(&pk, "op"), ld_mp_pack_cstr(&pk, r->op);
  if (r->has_client) ld_mp_pack_cstr(&pk, "client"), msgpack_pack_int64(&pk, r->client);
  ld_mp_pack_cstr(&pk, "keys");
  msgpack_pack_array(&pk, nhave);
  uint32_t fi = 0;
  for (uint32_t i = 0; i < r->n; i++) {
    if (r->frames[i] == NULL) continue;
    msgpack_pack_map(&pk, 2);
    ld_mp_pack_cstr(&pk, "key"), ld_mp_pack_str(&pk, r->keys[i], r->keylens[i]);
    ld_mp_pack_cstr(&pk, "nframes"), msgpack_pack_int64(&pk, (int64_t)r->nframes[i]);
    for (uint32_t j = 0; j < r->nframes[i]; j++) all[fi++] = r->frames[i][j];
    free(r->frames[i]);
  }
  ld_mp_pack_cstr(&pk, "missing");
  msgpack_pack_array(&pk, r->n - nhave);
  for (uint32_t i = 0; i < r->n; i++) {
    if (r->frames[i]) continue;
    if (r->keys[i])
      ld_mp_pack_str(&pk, r->keys[i], r->keylens[i]);
    else
      msgpack_pack_nil(&pk);
  }
  if (wk_conn_alive(w, r->to)) ld_conn_send_packed(r->to, &sb, all, fi);
  msgpack_sbuffer_destroy(&sb);
  for (uint32_t j = 0; j < fi; j++) ld_buffer_release(all[j]);
  free(all);
  for (uint32_t i = 0; i < r->n; i++) free(r->keys[i]);
  free(r->keys);
  free(r->keylens);
  free(r->frames);
  free(r->nframes);
  free(r);
}

/* Key SLOT of R could not be read back: it is answered as missing. The
 * scheduler then drops this worker from the key's holders and recomputes
 * it if needed, so the entry must go (a compute-task would otherwise find
 * it "already here"). */
static void reply_lost(wk_state *w, wk_reply *r, uint32_t slot, const char *err) {
  fprintf(stderr, "ldask-worker %s: %s; answered as missing\n", w->name, err);
  wk_data *d = ld_strmap_get(&w->data, r->keys[slot], r->keylens[slot]);
  if (d && !d->fetched && d->where == WK_ON_DISK) wk_data_drop(w, r->keys[slot], r->keylens[slot]);
}

/* A spilled value of reply CTX was read back (or not): stores it, and
 * sends the reply when it was the last one. */
static void reply_read(wk_state *w, void *ctx, int slot, ld_buffer **frames, uint32_t n,
                       const char *err) {
  wk_reply *r = ctx;
  if (frames) {
    r->frames[slot] = frames;
    r->nframes[slot] = n;
  } else {
    reply_lost(w, r, (uint32_t)slot, err);
  }
  if (--r->pending == 0) reply_finish(w, r);
}

/* Replies to get-data (a peer) or send-data (the scheduler, for a client):
 * {op=REPLY_OP, keys=[{key, nframes}], missing=[keys], client=} + frames.
 * A value that cannot be read back from its spill file is reported on
 * stderr and answered as missing. */
void wk_on_send_data(wk_state *w, ld_conn *to, const msgpack_object *h, const char *reply_op) {
  const msgpack_object *keys = ld_mp_get(h, "keys");
  if (keys == NULL || keys->type != MSGPACK_OBJECT_ARRAY) return;
  wk_reply *r = calloc(1, sizeof *r);
  if (r == NULL) abort();
  uint32_t n = keys->via.array.size;
  r->to = to;
  r->op = reply_op;
  r->has_client = ld_mp_get_i64(h, "client", &r->client);
  r->n = n;
  r->keys = calloc(n ? n : 1, sizeof *r->keys);
  r->keylens = calloc(n ? n : 1, sizeof *r->keylens);
  r->frames = calloc(n ? n : 1, sizeof *r->frames);
  r->nframes = calloc(n ? n : 1, sizeof *r->nframes);
  if (!r->keys || !r->keylens || !r->frames || !r->nframes) abort();
  r->pending = 1; /* until every read has been started */
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *k = &keys->via.array.ptr[i];
    if (k->type != MSGPACK_OBJECT_STR) continue;
    r->keys[i] = malloc(k->via.str.size + 1);
    if (r->keys[i] == NULL) abort();
    memcpy(r->keys[i], k->via.str.ptr, k->via.str.size);
    r->keys[i][k->via.str.size] = '\0';
    r->keylens[i] = k->via.str.size;
    wk_data *d = ld_strmap_get(&w->data, k->via.str.ptr, k->via.str.size);
    if (d == NULL) continue;
    if (d->where == WK_ON_DISK && wk_spill_read_async(w, d, reply_read, r, (int)i) == 0) {
      r->pending++;
      continue;
    }
    char err[1024];
    if (wk_mem_frames(w, d, &r->frames[i], err, sizeof err) == 0)
      r->nframes[i] = d->nframes;
    else
      reply_lost(w, r, i, err);
  }
  if (--r->pending == 0) reply_finish(w, r);
}
