/* batch.c — ldask-worker's batched task messages (docs/protocol.md):
 * compute-tasks from the scheduler (columns, one entry per task, the
 * dependencies in CSR form) checked as a whole and started task by task,
 * and the tasks-finished reports of the tasks that finished during one
 * turn of the loop, sent as one message (columns, then the small results'
 * frames; cut in several at FIN_TASKS reports, FIN_FRAMES frames or
 * before the scheduler's max_message_size). Runs on the loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/mp.h"
#include "worker.h"

/* ---- compute-tasks ---- */

/* COL of H when it is an array of N elements, else NULL. */
static const msgpack_object *column(const msgpack_object *h, const char *name, uint32_t n) {
  const msgpack_object *o = ld_mp_get(h, name);
  if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != n) return NULL;
  return o->via.array.ptr;
}

static int as_count(const msgpack_object *o, uint64_t max, uint64_t *v) {
  if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max) return 0;
  *v = o->via.u64;
  return 1;
}

/* A malformed compute-tasks: said on stderr, and every task it names is
 * answered with task-erred (the scheduler then reports the error rather
 * than waiting for the tasks forever). */
static void refuse(wk_state *w, const msgpack_object *keys, const char *why) {
  fprintf(stderr, "ldask-worker %s: malformed compute-tasks from the scheduler: %s\n", w->name,
          why);
  char msg[200];
  snprintf(msg, sizeof msg, "compute-tasks: %s", why);
  if (keys == NULL || keys->type != MSGPACK_OBJECT_ARRAY) return;
  for (uint32_t i = 0; i < keys->via.array.size; i++) {
    const msgpack_object *k = &keys->via.array.ptr[i];
    if (k->type != MSGPACK_OBJECT_STR) continue;
    wk_send_erred(w, k->via.str.ptr, k->via.str.size, msg, "");
  }
}

#define FAIL(...)        \
  do {                   \
    refuse(__VA_ARGS__); \
    return;              \
  } while (0)

void wk_on_compute_batch(wk_state *w, ld_msg *m, const msgpack_object *h) {
  const msgpack_object *keys = ld_mp_get(h, "keys");
  if (keys == NULL || keys->type != MSGPACK_OBJECT_ARRAY) {
    refuse(w, NULL, "'keys' must be an array");
    return;
  }
  uint32_t n = keys->via.array.size;
  const msgpack_object *k = keys->via.array.ptr, *prio = column(h, "priority", n),
                       *nfr = column(h, "nframes", n), *nd = column(h, "ndeps", n);
  if (prio == NULL || nfr == NULL || nd == NULL) {
    refuse(w, keys, "'priority', 'nframes' and 'ndeps' must be arrays as long as 'keys'");
    return;
  }
  /* Checked as a whole first: frames and dependencies add up. */
  uint64_t frames = 0, deps = 0, v;
  for (uint32_t i = 0; i < n; i++) {
    if (k[i].type != MSGPACK_OBJECT_STR) FAIL(w, keys, "a key is not a string");
    if (prio[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER &&
        prio[i].type != MSGPACK_OBJECT_NEGATIVE_INTEGER)
      FAIL(w, keys, "a priority is not an integer");
    if (!as_count(&nfr[i], m->nframes, &v)) FAIL(w, keys, "a frame count is out of range");
    frames += v;
    if (!as_count(&nd[i], UINT32_MAX, &v)) FAIL(w, keys, "a dependency count is out of range");
    deps += v;
  }
  if (frames + 1 > m->nframes) FAIL(w, keys, "the tasks claim more frames than sent");
  if (deps > UINT32_MAX) FAIL(w, keys, "too many dependencies");
  const msgpack_object *dk = column(h, "dep_keys", (uint32_t)deps),
                       *dn = column(h, "dep_nbytes", (uint32_t)deps),
                       *dw = column(h, "dep_who", (uint32_t)deps);
  if (deps > 0 && (dk == NULL || dn == NULL || dw == NULL))
    FAIL(w, keys, "'dep_keys', 'dep_nbytes' and 'dep_who' must hold sum(ndeps) entries");
  for (uint32_t j = 0; j < deps; j++)
    if (dk[j].type != MSGPACK_OBJECT_STR) FAIL(w, keys, "a dependency key is not a string");
  wk_dep_in small[16], *in = small;
  uint32_t capin = 16, frame = 1, dep = 0;
  wk_exec_defer(w); /* the runs go to the executors together */
  for (uint32_t i = 0; i < n; i++) {
    uint32_t c = (uint32_t)nd[i].via.u64;
    if (c > capin) {
      if (in != small) free(in);
      in = malloc(c * sizeof *in);
      if (in == NULL) abort();
      capin = c;
    }
    for (uint32_t j = 0; j < c; j++, dep++) {
      in[j].key = dk[dep].via.str.ptr;
      in[j].keylen = dk[dep].via.str.size;
      in[j].nbytes = dn[dep].type == MSGPACK_OBJECT_POSITIVE_INTEGER && dn[dep].via.u64 < INT64_MAX
                         ? (int64_t)dn[dep].via.u64
                         : 0;
      in[j].who_has = &dw[dep];
    }
    uint32_t f = (uint32_t)nfr[i].via.u64;
    int64_t p = prio[i].type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? prio[i].via.i64
                : prio[i].via.u64 > INT64_MAX                   ? INT64_MAX
                                                                : (int64_t)prio[i].via.u64;
    wk_compute(w, k[i].via.str.ptr, k[i].via.str.size, p, m->frames + frame, f, in, c);
    frame += f;
  }
  wk_exec_flush(w);
  if (in != small) free(in);
}

/* ---- tasks-finished ---- */

#define FIN_NCOLS 6
#define FIN_TASKS 1024   /* reports per message at most */
#define FIN_FRAMES 60000 /* value frames per message at most */

/* The reports not yet sent: columns keys, nbytes, start, stop, thread,
 * nframes, and the small results' frames (references). Loop thread only. */
static struct {
  msgpack_sbuffer col[FIN_NCOLS];
  msgpack_sbuffer hdr; /* the header, its storage kept between messages */
  uint32_t n;
  ld_buffer **frames;
  uint32_t nframes, capframes;
  uint64_t bytes; /* of the columns and frames */
} fin;

static const char *const fin_names[FIN_NCOLS] = {"keys", "nbytes", "start",
                                                 "stop", "thread", "nframes"};

void wk_fin_add(wk_state *w, const char *key, size_t klen, int64_t nbytes, double t0, double t1,
                int thread, ld_buffer *const *frames, uint32_t n) {
  /* this report's share of the message, at most: its columns, frames and
   * their lengths */
  uint64_t more = klen + 48 + 8 * (uint64_t)n;
  for (uint32_t i = 0; i < n; i++) more += frames[i]->size;
  uint64_t wire = 4 + 8 * (uint64_t)(1 + fin.nframes) + 128 + fin.bytes;
  if (fin.n > 0 && (fin.n >= FIN_TASKS || fin.nframes + n > FIN_FRAMES ||
                    wire + more > (w->sched_max_msg ? w->sched_max_msg : UINT64_MAX)))
    wk_fin_flush(w);
  fin.bytes += more;
  msgpack_packer pk;
  msgpack_packer_init(&pk, &fin.col[0], msgpack_sbuffer_write);
  ld_mp_pack_str(&pk, key, klen);
  msgpack_packer_init(&pk, &fin.col[1], msgpack_sbuffer_write);
  msgpack_pack_int64(&pk, nbytes);
  msgpack_packer_init(&pk, &fin.col[2], msgpack_sbuffer_write);
  msgpack_pack_double(&pk, t0);
  msgpack_packer_init(&pk, &fin.col[3], msgpack_sbuffer_write);
  msgpack_pack_double(&pk, t1);
  msgpack_packer_init(&pk, &fin.col[4], msgpack_sbuffer_write);
  msgpack_pack_int(&pk, thread);
  msgpack_packer_init(&pk, &fin.col[5], msgpack_sbuffer_write);
  msgpack_pack_uint32(&pk, n);
  if (fin.nframes + n > fin.capframes) {
    uint32_t cap = fin.capframes ? fin.capframes : 64;
    while (cap < fin.nframes + n) cap *= 2;
    ld_buffer **nf = realloc(fin.frames, cap * sizeof *nf);
    if (nf == NULL) abort();
    fin.frames = nf;
    fin.capframes = cap;
  }
  for (uint32_t i = 0; i < n; i++) fin.frames[fin.nframes++] = ld_buffer_retain(frames[i]);
  fin.n++;
}

void wk_fin_flush(wk_state *w) {
  if (fin.n == 0) return;
  msgpack_sbuffer *sb = &fin.hdr;
  sb->size = 0;
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 1 + FIN_NCOLS);
  ld_mp_pack_cstr(&pk, "op"), ld_mp_pack_cstr(&pk, "tasks-finished");
  for (int i = 0; i < FIN_NCOLS; i++) {
    ld_mp_pack_cstr(&pk, fin_names[i]);
    msgpack_pack_array(&pk, fin.n);
    msgpack_sbuffer_write(sb, fin.col[i].data, fin.col[i].size);
    fin.col[i].size = 0;
  }
  fin.n = 0;
  fin.bytes = 0;
  if (w->sched && w->registered) ld_conn_send_packed(w->sched, sb, fin.frames, fin.nframes);
  if (sb->alloc > ((size_t)1 << 20)) msgpack_sbuffer_destroy(sb); /* a rare large one */
  for (uint32_t i = 0; i < fin.nframes; i++) ld_buffer_release(fin.frames[i]);
  fin.nframes = 0;
}
