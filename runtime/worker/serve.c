/* serve.c — ldask-worker's answers to requests for its data: get-data from
 * peers and send-data from the scheduler (for a client's gather), with
 * spilled values read back from their files. Runs on the loop thread. */
#include <stdio.h>
#include <stdlib.h>

#include "net/mp.h"
#include "spill.h"
#include "worker.h"

/* Replies to get-data (a peer) or send-data (the scheduler, for a client):
 * {op=REPLY_OP, keys=[{key, nframes}], missing=[keys], client=} + frames.
 * Spilled values are read back for the reply (synchronously); one that
 * cannot be read is reported on stderr and answered as missing, so that the
 * scheduler looks for it elsewhere or recomputes it. */
void wk_on_send_data(wk_state *w, ld_conn *to, const msgpack_object *h, const char *reply_op) {
  const msgpack_object *keys = ld_mp_get(h, "keys");
  if (keys == NULL || keys->type != MSGPACK_OBJECT_ARRAY) return;
  uint32_t n = keys->via.array.size, nhave = 0, nframes = 0;
  wk_data **ds = calloc(n ? n : 1, sizeof *ds);
  ld_buffer ***got = calloc(n ? n : 1, sizeof *got);
  uint32_t *lost = calloc(n ? n : 1, sizeof *lost);
  uint32_t nlost = 0;
  if (ds == NULL || got == NULL || lost == NULL) abort();
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *k = &keys->via.array.ptr[i];
    if (k->type != MSGPACK_OBJECT_STR) continue;
    ds[i] = ld_kmap_get(&w->data, k->via.str.ptr, k->via.str.size);
    char err[1024];
    if (ds[i] && wk_mem_frames(w, ds[i], &got[i], err, sizeof err) != 0) {
      fprintf(stderr, "ldask-worker %s: %s; answered as missing\n", w->name, err);
      lost[nlost++] = i; /* the scheduler forgets this copy */
      ds[i] = NULL;
    }
    if (ds[i]) nhave++, nframes += ds[i]->nframes;
  }
  ld_buffer **frames = calloc(nframes ? nframes : 1, sizeof *frames);
  if (frames == NULL) abort();
  struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
  } p;
  msgpack_sbuffer_init(&p.sb);
  msgpack_packer_init(&p.pk, &p.sb, msgpack_sbuffer_write);
  int64_t client = -1;
  int has_client = ld_mp_get_i64(h, "client", &client);
  msgpack_pack_map(&p.pk, has_client ? 4 : 3);
  ld_mp_pack_cstr(&p.pk, "op"), ld_mp_pack_cstr(&p.pk, reply_op);
  if (has_client) ld_mp_pack_cstr(&p.pk, "client"), msgpack_pack_int64(&p.pk, client);
  ld_mp_pack_cstr(&p.pk, "keys");
  msgpack_pack_array(&p.pk, nhave);
  uint32_t fi = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (ds[i] == NULL) continue;
    msgpack_pack_map(&p.pk, 2);
    ld_mp_pack_cstr(&p.pk, "key"), ld_mp_pack_str(&p.pk, ds[i]->key, ds[i]->keylen);
    ld_mp_pack_cstr(&p.pk, "nframes"), msgpack_pack_int64(&p.pk, (int64_t)ds[i]->nframes);
    for (uint32_t j = 0; j < ds[i]->nframes; j++) frames[fi++] = got[i][j];
    free(got[i]);
  }
  ld_mp_pack_cstr(&p.pk, "missing");
  msgpack_pack_array(&p.pk, n - nhave);
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *k = &keys->via.array.ptr[i];
    if (ds[i] == NULL) {
      if (k->type == MSGPACK_OBJECT_STR)
        ld_mp_pack_str(&p.pk, k->via.str.ptr, k->via.str.size);
      else
        msgpack_pack_nil(&p.pk);
    }
  }
  ld_conn_send_packed(to, &p.sb, frames, fi);
  msgpack_sbuffer_destroy(&p.sb);
  for (uint32_t j = 0; j < fi; j++) ld_buffer_release(frames[j]);
  free(frames);
  free(got);
  free(ds);
  /* Answered as missing: the scheduler drops this worker from the holders
   * and recomputes the key if needed, so its entry must go (a compute-task
   * would otherwise find it "already here"). */
  for (uint32_t i = 0; i < nlost; i++) {
    const msgpack_object *k = &keys->via.array.ptr[lost[i]];
    wk_data *d = ld_kmap_get(&w->data, k->via.str.ptr, k->via.str.size);
    if (d && !d->fetched) wk_data_drop(w, k->via.str.ptr, k->via.str.size);
  }
  free(lost);
}
