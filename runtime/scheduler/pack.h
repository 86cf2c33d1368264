/* pack.h — small helpers shared by the scheduler's message code: packing a
 * header and sending it, reading fields of a received header. Private to
 * runtime/scheduler/. */
#ifndef LDASK_SCHEDULER_PACK_H
#define LDASK_SCHEDULER_PACK_H

#include <stdlib.h>
#include <string.h>

#include "net/mp.h"
#include "sched.h"

/* ---- small packing helpers ---- */

typedef struct pk_t {
  msgpack_sbuffer sb;
  msgpack_packer pk;
} pk_t;

/* One packing buffer kept from message to message (send.c; the loop is
 * single-threaded): a fresh msgpack_sbuffer allocates 8 KiB at its first
 * write, a request large enough to make glibc consolidate its fast bins
 * for every message sent. */
extern char *sc_pk_spare;
extern size_t sc_pk_spare_cap;
#define SC_PK_SPARE_MAX ((size_t)1 << 20)

static inline void pk_init(pk_t *p) {
  if (sc_pk_spare) {
    p->sb.data = sc_pk_spare;
    p->sb.alloc = sc_pk_spare_cap;
    p->sb.size = 0;
    sc_pk_spare = NULL;
  } else {
    msgpack_sbuffer_init(&p->sb);
  }
  msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

/* Sends the header packed in P (copied) with N frames (retained) on C (NULL:
 * drop it), and gives P's buffer back. */
static inline void pk_send(pk_t *p, ld_conn *c, ld_buffer *const *bufs, uint32_t n) {
  if (c) ld_conn_send_packed(c, &p->sb, bufs, n);
  if (sc_pk_spare == NULL && p->sb.data && p->sb.alloc <= SC_PK_SPARE_MAX) {
    sc_pk_spare = p->sb.data;
    sc_pk_spare_cap = p->sb.alloc;
  } else {
    msgpack_sbuffer_destroy(&p->sb);
  }
}

/* (strlen of a literal is folded at compile time) */
#define S(p, s) ld_mp_pack_str(&(p)->pk, s, strlen(s))
#define SN(p, s, n) ld_mp_pack_str(&(p)->pk, s, n)
#define I(p, v) msgpack_pack_int64(&(p)->pk, (int64_t)(v))

static inline void send_error(ld_conn *c, const char *msg) {
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 2);
  S(&p, "op"), S(&p, "error");
  S(&p, "message"), S(&p, msg);
  pk_send(&p, c, NULL, 0);
}

/* ---- helpers reading headers ---- */

static inline const msgpack_object *arr(const msgpack_object *h, const char *k) {
  const msgpack_object *o = ld_mp_get(h, k);
  return o && o->type == MSGPACK_OBJECT_ARRAY ? o : NULL;
}

static inline sc_task *find_key(sc_state *st, const char *key, size_t len) {
  int32_t id = ld_sched_find(st->eng, key, len);
  return id >= 0 ? sc_side(st, id) : NULL;
}

static inline sc_task *find(sc_state *st, const msgpack_object *o) {
  if (o == NULL || o->type != MSGPACK_OBJECT_STR) return NULL;
  return find_key(st, o->via.str.ptr, o->via.str.size);
}

static inline void key_error(ld_conn *c, const char *key, size_t klen, const char *msg) {
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 4);
  S(&p, "op"), S(&p, "key-erred");
  S(&p, "key"), SN(&p, key, klen);
  S(&p, "message"), S(&p, msg);
  S(&p, "traceback"), S(&p, "");
  pk_send(&p, c, NULL, 0);
}

/* Starts the head of a reply to a client's request: a map of NFIELDS
 * fields of which op = OP, id = ID and ok = OK are packed here. */
static inline void pk_reply_head(pk_t *p, uint32_t nfields, const char *op, int64_t id, int ok) {
  msgpack_pack_map(&p->pk, nfields);
  S(p, "op"), S(p, op);
  S(p, "id"), I(p, id);
  S(p, "ok");
  ok ? msgpack_pack_true(&p->pk) : msgpack_pack_false(&p->pk);
}

/* Starts T (every 50 ms, CB) on the loop of ST, initialising it (unref'd:
 * it never keeps the loop alive) the first time (*READY 0). */
static inline void sc_poll_timer(sc_state *st, uv_timer_t *t, int *ready, uv_timer_cb cb) {
  if (!*ready) {
    uv_timer_init(st->loop, t);
    uv_unref((uv_handle_t *)t);
    t->data = st;
    *ready = 1;
  }
  uv_timer_start(t, cb, 20, 50);
}

#endif
