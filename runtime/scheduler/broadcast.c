/* broadcast.c — requests a client addresses to every worker (or some),
 * outside the task graph: `upload-file` (a Lua module file written into
 * each worker's files directory, kept and replayed to workers that join
 * later) and `run` (a function called once on each worker). The scheduler
 * forwards the request to each target worker, relays each worker's answer
 * to the client (`worker-result`) and says when every target has answered
 * (`worker-results-done`). A worker that leaves before answering is
 * answered for, with an error naming it: a request never hangs.
 * docs/protocol.md, "Requests to workers". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack.h"
#include "util/names.h"

/* One request in flight: the client's id for it, and the workers (ids)
 * that have not answered yet. */
typedef struct sc_request {
  int64_t id;        /* the scheduler's id, sent to the workers */
  int client_id;     /* who asked */
  int64_t client_rq; /* the client's id of the request */
  int *pending;      /* owned: ids of workers still to answer */
  int npending;
  struct sc_request *next;
} sc_request;

/* Sends `worker-results-done` for R to its client (if still connected),
 * with UNKNOWN (NUNKNOWN strings, may be NULL) naming requested workers
 * that are not in the cluster, and frees R (already unlinked). */
static void finish(sc_state *st, sc_request *r, const msgpack_object *unknown, uint32_t nunknown) {
  sc_client *cl = sc_find_client(st, r->client_id);
  if (cl) {
    pk_t p;
    pk_init(&p);
    msgpack_pack_map(&p.pk, 3);
    S(&p, "op"), S(&p, "worker-results-done");
    S(&p, "id"), I(&p, r->client_rq);
    S(&p, "unknown");
    msgpack_pack_array(&p.pk, nunknown);
    for (uint32_t i = 0; i < nunknown; i++) SN(&p, unknown[i].via.str.ptr, unknown[i].via.str.size);
    pk_send(&p, cl->conn, NULL, 0);
  }
  free(r->pending);
  free(r);
}

/* Unlinks R from the requests in flight. */
static void unlink_request(sc_state *st, sc_request *r) {
  for (sc_request **pp = &st->requests; *pp; pp = &(*pp)->next)
    if (*pp == r) {
      *pp = r->next;
      return;
    }
}

/* Relays one worker's answer to R's client: OK with the value FRAMES, or
 * the error MSG / TB. Frames are retained by the message, not taken. */
static void relay(sc_state *st, sc_request *r, const sc_worker *w, int ok, const char *msg,
                  size_t mlen, const char *tb, size_t tblen, ld_buffer *const *frames,
                  uint32_t nframes) {
  sc_client *cl = sc_find_client(st, r->client_id);
  if (cl == NULL) return;
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, ok ? 5 : 7);
  S(&p, "op"), S(&p, "worker-result");
  S(&p, "id"), I(&p, r->client_rq);
  S(&p, "worker"), S(&p, w->addr);
  S(&p, "name"), S(&p, w->name);
  S(&p, "ok");
  if (ok) {
    msgpack_pack_true(&p.pk);
  } else {
    msgpack_pack_false(&p.pk);
    S(&p, "message"), SN(&p, msg, mlen);
    S(&p, "traceback"), SN(&p, tb, tblen);
  }
  pk_send(&p, cl->conn, ok ? frames : NULL, ok ? nframes : 0);
}

/* Removes worker W from R's pending list. Returns 1 when it was there. */
static int take_pending(sc_request *r, const sc_worker *w) {
  for (int i = 0; i < r->npending; i++)
    if (r->pending[i] == w->id) {
      r->pending[i] = r->pending[--r->npending];
      return 1;
    }
  return 0;
}

/* Whether W's name or address is the string O. */
static int is_named(const sc_worker *w, const msgpack_object *o) {
  if (o->type != MSGPACK_OBJECT_STR) return 0;
  size_t n = o->via.str.size;
  return (strlen(w->name) == n && memcmp(w->name, o->via.str.ptr, n) == 0) ||
         (strlen(w->addr) == n && memcmp(w->addr, o->via.str.ptr, n) == 0);
}

/* Whether W is named (by name or address) in the array WORKERS. */
static int named(const sc_worker *w, const msgpack_object *workers) {
  for (uint32_t i = 0; i < workers->via.array.size; i++)
    if (is_named(w, &workers->via.array.ptr[i])) return 1;
  return 0;
}

/* Starts request CLIENT_RQ of CL, sent to every live worker (or those
 * named in WORKERS, when not NULL) by SEND(st, w, request id, ctx). When
 * WORKERS names a worker that is not in the cluster (or holds a
 * non-string), nothing is sent and worker-results-done names them. */
static void start(sc_state *st, sc_client *cl, int64_t client_rq, const msgpack_object *workers,
                  void (*send)(sc_state *, sc_worker *, int64_t, void *), void *ctx) {
  sc_request *r = calloc(1, sizeof *r);
  if (r == NULL) abort();
  r->id = ++st->next_request;
  r->client_id = cl->id;
  r->client_rq = client_rq;
  if (workers) {
    uint32_t n = workers->via.array.size, nunknown = 0;
    msgpack_object *unknown = sc_xrealloc(NULL, (n + 1) * sizeof *unknown);
    for (uint32_t i = 0; i < n; i++) {
      const msgpack_object *o = &workers->via.array.ptr[i];
      sc_worker *w = st->workers;
      while (w && !is_named(w, o)) w = w->next;
      if (w == NULL) {
        unknown[nunknown] = *o;
        if (o->type != MSGPACK_OBJECT_STR) {
          unknown[nunknown].type = MSGPACK_OBJECT_STR;
          unknown[nunknown].via.str.ptr = "(not a string)";
          unknown[nunknown].via.str.size = 14;
        }
        nunknown++;
      }
    }
    if (nunknown > 0) {
      finish(st, r, unknown, nunknown);
      free(unknown);
      return;
    }
    free(unknown);
  }
  r->pending = sc_xrealloc(NULL, (size_t)(st->nworkers + 1) * sizeof *r->pending);
  for (sc_worker *w = st->workers; w; w = w->next) {
    if (workers && !named(w, workers)) continue;
    r->pending[r->npending++] = w->id;
    send(st, w, r->id, ctx);
  }
  if (r->npending == 0) {
    finish(st, r, NULL, 0);
  } else {
    r->next = st->requests;
    st->requests = r;
  }
}

/* ---- run ---- */

typedef struct run_ctx {
  ld_buffer *const *frames;
  uint32_t n;
} run_ctx;

static void send_run(sc_state *st, sc_worker *w, int64_t id, void *ctx) {
  (void)st;
  const run_ctx *rc = ctx;
  sc_flush_worker(w);
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 2);
  S(&p, "op"), S(&p, "run");
  S(&p, "id"), I(&p, id);
  pk_send(&p, w->conn, rc->frames, rc->n);
}

void sc_op_run(sc_state *st, sc_client *cl, ld_msg *m, const msgpack_object *h) {
  int64_t id = 0;
  ld_mp_get_i64(h, "id", &id);
  if (m->nframes < 2) {
    send_error(cl->conn, "run: needs the function's payload frames after the header");
    return;
  }
  run_ctx rc = {m->frames + 1, m->nframes - 1};
  start(st, cl, id, arr(h, "workers"), send_run, &rc);
}

/* ---- upload-file ---- */

/* Packs the worker's upload-file header (NAME, request ID, 0 for a
 * replay) into P. */
static void pack_upload(pk_t *p, const char *name, size_t len, int64_t id) {
  msgpack_pack_map(&p->pk, 3);
  S(p, "op"), S(p, "upload-file");
  S(p, "id"), I(p, id);
  S(p, "name"), SN(p, name, len);
}

typedef struct upload_ctx {
  const char *name;
  size_t len;
  ld_buffer *data;
} upload_ctx;

static void send_upload(sc_state *st, sc_worker *w, int64_t id, void *ctx) {
  (void)st;
  const upload_ctx *u = ctx;
  pk_t p;
  pk_init(&p);
  pack_upload(&p, u->name, u->len, id);
  pk_send(&p, w->conn, &u->data, 1);
}

void sc_op_upload(sc_state *st, sc_client *cl, ld_msg *m, const msgpack_object *h) {
  int64_t id = 0;
  const char *name = "";
  size_t len = 0;
  ld_mp_get_i64(h, "id", &id);
  ld_mp_get_str(h, "name", &name, &len);
  char why[160];
  /* The name becomes a file name on every worker: checked here by the
   * workers' own rule (net/auth.h), so a bad one is neither kept nor
   * replayed. */
  if (!ld_valid_file_name(name, len, why, sizeof why) || m->nframes != 2) {
    char msg[300];
    if (m->nframes != 2)
      snprintf(msg, sizeof msg, "upload-file: needs one data frame (got %u)",
               m->nframes > 0 ? m->nframes - 1 : 0);
    else
      snprintf(msg, sizeof msg, "upload-file: %s", why);
    send_error(cl->conn, msg);
    return;
  }
  /* Kept for workers that join later; a new version replaces the old. */
  pk_t p;
  pk_init(&p);
  pack_upload(&p, name, len, 0);
  ld_msg *keep = ld_msg_make(p.sb.data, p.sb.size, m->frames + 1, 1);
  pk_send(&p, NULL, NULL, 0);
  if (keep == NULL) abort();
  int slot = st->nuploads;
  for (int i = 0; i < st->nuploads; i++)
    if (strlen(st->upload_names[i]) == len && memcmp(st->upload_names[i], name, len) == 0) slot = i;
  if (slot == st->nuploads) {
    if (st->nuploads == st->capuploads) {
      st->capuploads = st->capuploads ? 2 * st->capuploads : 4;
      st->uploads = sc_xrealloc(st->uploads, (size_t)st->capuploads * sizeof *st->uploads);
      st->upload_names =
          sc_xrealloc(st->upload_names, (size_t)st->capuploads * sizeof *st->upload_names);
    }
    st->upload_names[slot] = sc_xrealloc(NULL, len + 1);
    memcpy(st->upload_names[slot], name, len);
    st->upload_names[slot][len] = '\0';
    st->nuploads++;
  } else {
    ld_msg_free(st->uploads[slot]);
  }
  st->uploads[slot] = keep;
  upload_ctx u = {st->upload_names[slot], len, m->frames[1]};
  start(st, cl, id, NULL, send_upload, &u);
}

void sc_replay_uploads(sc_state *st, sc_worker *w) {
  for (int i = 0; i < st->nuploads; i++) ld_conn_send(w->conn, sc_msg_clone(st->uploads[i]));
}

/* ---- answers ---- */

void sc_on_worker_reply(sc_state *st, sc_worker *w, ld_msg *m, const msgpack_object *h) {
  int64_t id = 0;
  ld_mp_get_i64(h, "id", &id);
  sc_request *r = st->requests;
  while (r && r->id != id) r = r->next;
  if (r == NULL || !take_pending(r, w)) return; /* a replay's answer, or a late one */
  const msgpack_object *ok = ld_mp_get(h, "ok");
  int good = ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean;
  const char *msg = "", *tb = "";
  size_t mlen = 0, tblen = 0;
  ld_mp_get_str(h, "message", &msg, &mlen);
  ld_mp_get_str(h, "traceback", &tb, &tblen);
  relay(st, r, w, good, msg, mlen, tb, tblen, m->frames + 1, m->nframes - 1);
  if (r->npending == 0) {
    unlink_request(st, r);
    finish(st, r, NULL, 0);
  }
}

void sc_requests_worker_gone(sc_state *st, sc_worker *w, const char *reason) {
  char msg[400];
  int n = snprintf(msg, sizeof msg, "worker %s (%s) left before answering: %s", w->addr, w->name,
                   reason ? reason : "connection lost");
  size_t mlen = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
  sc_request **pp = &st->requests;
  while (*pp) {
    sc_request *r = *pp;
    if (take_pending(r, w)) relay(st, r, w, 0, msg, mlen, "", 0, NULL, 0);
    if (r->npending == 0) {
      *pp = r->next;
      finish(st, r, NULL, 0);
    } else {
      pp = &r->next;
    }
  }
}

void sc_broadcast_free(sc_state *st) {
  sc_restart_free();
  sc_retire_free();
  while (st->requests) {
    sc_request *r = st->requests;
    st->requests = r->next;
    free(r->pending);
    free(r);
  }
  for (int i = 0; i < st->nuploads; i++) {
    ld_msg_free(st->uploads[i]);
    free(st->upload_names[i]);
  }
  free(st->uploads);
  free(st->upload_names);
  st->uploads = NULL;
  st->upload_names = NULL;
  st->nuploads = st->capuploads = 0;
}
