/* batch.c — the compute-tasks batches of ldask-scheduler: the tasks
 * placed on a worker during one loop iteration go out as one message
 * (docs/protocol.md, "compute-tasks"), packed column by column as they are
 * placed and sent after the iteration's messages were handled (the uv
 * check of send.c), or before any other message to that worker so that
 * the order of messages to a worker is kept. A batch is cut in several
 * messages at SC_BATCH_TASKS tasks, SC_BATCH_FRAMES payload frames,
 * SC_BATCH_BYTES bytes of header, or before it would pass the largest
 * message the worker accepts (its max_message_size). Runs on the scheduler's loop thread. */
#include <stdlib.h>
#include <string.h>

#include "pack.h"

uint64_t sc_batches_sent, sc_batched_tasks, sc_largest_batch, sc_batches_cut;

/* The columns, in the order they are written (docs/protocol.md). */
static const char *const col_names[SC_BATCH_NCOLS] = {"keys",     "priority",   "nframes", "ndeps",
                                                      "dep_keys", "dep_nbytes", "dep_who"};

static void col_str(msgpack_sbuffer *sb, const char *s, size_t n) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  ld_mp_pack_str(&pk, s, n);
}

static void col_int(msgpack_sbuffer *sb, int64_t v) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  msgpack_pack_int64(&pk, v);
}

static size_t batch_bytes(const sc_batch *b) {
  size_t n = 0;
  for (int i = 0; i < SC_BATCH_NCOLS; i++) n += b->col[i].size;
  return n;
}

/* The wire size of B as one message, at most (prefix, header, frames). */
static uint64_t wire_size(const sc_batch *b) {
  return 4 + 8 * (uint64_t)(1 + b->nframes) + batch_bytes(b) + 128 + b->payload_bytes;
}

static void release_frames(sc_batch *b) {
  for (uint32_t i = 0; i < b->nframes; i++) ld_buffer_release(b->frames[i]);
  b->nframes = 0;
}

void sc_batch_drop(sc_batch *b) {
  release_frames(b);
  for (int i = 0; i < SC_BATCH_NCOLS; i++) b->col[i].size = 0;
  b->n = 0;
  b->ndeps = 0;
  b->payload_bytes = 0;
}

void sc_batch_free(sc_batch *b) {
  release_frames(b);
  free(b->frames);
  b->frames = NULL;
  b->capframes = 0;
  for (int i = 0; i < SC_BATCH_NCOLS; i++) msgpack_sbuffer_destroy(&b->col[i]);
  b->n = 0;
  b->ndeps = 0;
}

void sc_flush_compute(sc_worker *w) {
  sc_batch *b = &w->compute;
  if (b->n == 0) return;
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 1 + SC_BATCH_NCOLS);
  S(&p, "op"), S(&p, "compute-tasks");
  for (int i = 0; i < SC_BATCH_NCOLS; i++) {
    S(&p, col_names[i]);
    msgpack_pack_array(&p.pk, i >= 4 ? b->ndeps : b->n);
    msgpack_sbuffer_write(&p.sb, b->col[i].data, b->col[i].size);
  }
  sc_batches_sent++;
  sc_batched_tasks += b->n;
  if (b->n > sc_largest_batch) sc_largest_batch = b->n;
  pk_send(&p, w->alive ? w->conn : NULL, b->frames, b->nframes);
  sc_batch_drop(b);
}

void sc_flush_worker(sc_worker *w) {
  sc_flush_compute(w);
  sc_flush_frees(w);
}

/* Appends T to W's batch (packed columns, retained frames). */
static void append(sc_state *st, sc_task *t, sc_batch *b) {
  ld_sched_info info;
  ld_sched_info_of(st->eng, t->id, &info);
  int32_t ndeps;
  const int32_t *deps = ld_sched_deps(st->eng, t->id, &ndeps);
  size_t klen;
  const char *key = sc_key(st, t, &klen);
  col_str(&b->col[0], key, klen);
  col_int(&b->col[1], info.prio);
  col_int(&b->col[2], t->payload.n);
  col_int(&b->col[3], ndeps);
  msgpack_packer who;
  msgpack_packer_init(&who, &b->col[6], msgpack_sbuffer_write);
  for (int32_t i = 0; i < ndeps; i++) {
    const sc_task *d = sc_side(st, deps[i]);
    sc_worker *const *holders = sc_who_has(d);
    const char *dk = sc_key(st, d, &klen);
    col_str(&b->col[4], dk, klen);
    col_int(&b->col[5], d->nbytes);
    msgpack_pack_array(&who, (size_t)d->nwho);
    for (int j = 0; j < d->nwho; j++)
      ld_mp_pack_str(&who, holders[j]->addr, strlen(holders[j]->addr));
  }
  b->ndeps += (uint32_t)ndeps;
  uint32_t nf = t->payload.n;
  if (b->nframes + nf > b->capframes) {
    uint32_t cap = b->capframes ? b->capframes : 64;
    while (cap < b->nframes + nf) cap *= 2;
    b->frames = sc_xrealloc(b->frames, cap * sizeof *b->frames);
    b->capframes = cap;
  }
  ld_buffer *const *pf = sc_frames_ptr(&t->payload);
  for (uint32_t i = 0; i < nf; i++) {
    b->frames[b->nframes++] = ld_buffer_retain(pf[i]);
    b->payload_bytes += pf[i]->size;
  }
  b->n++;
}

void sc_send_compute(sc_state *st, sc_task *t, sc_worker *w) {
  sc_batch *b = &w->compute;
  /* a free queued before (of the same key, maybe) goes first */
  if (w->nfree) sc_flush_frees(w);
  if (b->n > 0 && (b->n >= SC_BATCH_TASKS || b->nframes + t->payload.n > SC_BATCH_FRAMES ||
                   batch_bytes(b) > SC_BATCH_BYTES))
    sc_flush_compute(w);
  /* What the batch held before T: T is taken out again when the message
   * would pass the largest one the worker accepts, and goes in the next. */
  size_t sizes[SC_BATCH_NCOLS];
  for (int i = 0; i < SC_BATCH_NCOLS; i++) sizes[i] = b->col[i].size;
  uint32_t n = b->n, ndeps = b->ndeps, nframes = b->nframes;
  uint64_t payload = b->payload_bytes;
  append(st, t, b);
  if (n > 0 && wire_size(b) > w->max_msg) {
    for (uint32_t i = nframes; i < b->nframes; i++) ld_buffer_release(b->frames[i]);
    for (int i = 0; i < SC_BATCH_NCOLS; i++) b->col[i].size = sizes[i];
    b->n = n, b->ndeps = ndeps, b->nframes = nframes, b->payload_bytes = payload;
    sc_batches_cut++;
    sc_flush_compute(w);
    append(st, t, b);
  }
  sc_flush_soon(st);
}
