/* lifecycle.c — the stages of a connection's life that are about time and
 * trust rather than bytes (see conn.h): the handshake deadline (a peer
 * that never finishes its hello and token proof, or trickles them, is
 * refused and closed), the token handshake after the hellos (net/auth.h),
 * the end of the handshake (full limits, the large read buffer, the idle
 * timeout), a second hello refused, and the process's counters. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "net/conn_impl.h"
#include "net/mp.h"

/* Timeouts (ld_net_set_timeouts), in milliseconds; 0: none. */
static uint64_t g_handshake_ms = (uint64_t)(LD_NET_DEFAULT_HANDSHAKE_TIMEOUT * 1000);
static uint64_t g_idle_ms;
/* Connections closed so far (ld_net_conns_closed). */
static _Atomic uint64_t g_closed;

void ld_net_set_timeouts(double handshake, double idle) {
  g_handshake_ms = handshake > 0 ? (uint64_t)(handshake * 1000 + 0.5) : 0;
  g_idle_ms = idle > 0 ? (uint64_t)(idle * 1000 + 0.5) : 0;
}

void ld_net_timeouts(double *handshake, double *idle) {
  *handshake = (double)g_handshake_ms / 1000;
  *idle = (double)g_idle_ms / 1000;
}

uint64_t ld_net_conns_closed(void) { return g_closed; }

void ld_conn_count_closed(void) { g_closed++; }

/* Tells the peer MSG and closes C at once: what the socket does not take
 * right away is dropped (for a peer that may not be reading). */
static void refuse_now(ld_conn *c, const char *msg) {
  if (c->closing) return;
  ld_conn_send_error(c, msg);
  ld_conn_flush(c);
  ld_conn_shutdown(c, msg);
}

/* Idle check (accepted connections, --idle-timeout): nothing received for
 * that long closes the connection. */
static void idle_check(uv_timer_t *t) {
  ld_conn *c = t->data;
  if (c->closing || uv_now(t->loop) - c->last_read < g_idle_ms) return;
  char msg[200];
  snprintf(msg, sizeof msg, "%s (%s) sent nothing for %.1f s (idle timeout)", c->peer_addr,
           c->peer_role[0] ? c->peer_role : "peer", (double)g_idle_ms / 1000);
  refuse_now(c, msg);
}

void ld_conn_handshake_done(ld_conn *c) {
  if (c->handshake_done) return;
  c->handshake_done = 1;
  ld_frame_reader_set_limits(c->reader, 0, LD_NET_MAX_FRAMES);
  if (c->rbuf == NULL) c->rbuf = malloc(READ_CHUNK); /* (else reads stay small) */
  uv_timer_stop(&c->timer);
  if (g_idle_ms && c->acceptor) {
    uint64_t every = g_idle_ms / 4 ? g_idle_ms / 4 : 1;
    uv_timer_start(&c->timer, idle_check, every, every);
  }
}

/* The handshake deadline passed. Bytes waiting unread (a loop that was
 * busy, not a slow peer) get one more second. */
static void handshake_expired(uv_timer_t *t) {
  ld_conn *c = t->data;
  if (c->closing || c->handshake_done) return;
  uv_os_fd_t fd;
  int pending = 0;
  if (!c->grace && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 &&
      ioctl(fd, FIONREAD, &pending) == 0 && pending > 0) {
    c->grace = 1;
    uv_timer_start(&c->timer, handshake_expired, 1000, 0);
    return;
  }
  char msg[200];
  snprintf(msg, sizeof msg, "no handshake from %s within %.1f s (handshake timeout)", c->peer_addr,
           (double)g_handshake_ms / 1000);
  refuse_now(c, msg);
}

void ld_conn_start_deadline(ld_conn *c) {
  if (g_handshake_ms) uv_timer_start(&c->timer, handshake_expired, g_handshake_ms, 0);
}

/* A hello after the first is a protocol error: refused, C closed.
 * Returns 1 then, else 0. */
int ld_conn_second_hello(ld_conn *c, const msgpack_object *hdr) {
  const char *op;
  size_t oplen;
  if (!ld_mp_get_str(hdr, "op", &op, &oplen) || oplen != 5 || memcmp(op, "hello", 5) != 0) return 0;
  char msg[200];
  snprintf(msg, sizeof msg, "peer %s (%s) sent a second hello: protocol error", c->peer_addr,
           c->peer_role);
  ld_conn_send_error(c, msg);
  ld_conn_close(c, msg, 1);
  return 1;
}

/* The token handshake (see conn_impl.h). No other message of the peer
 * reaches on_msg before it succeeded; until then the handshake deadline
 * runs and the pre-handshake limits hold (the proofs fit them). */
ld_msg *ld_conn_auth_filter(ld_conn *c, ld_msg *m, msgpack_object *doc) {
  int first = !c->got_hello;
  if (first && ld_conn_check_hello(c, doc) != 0) {
    ld_msg_free(m);
    return NULL;
  }
  char err[400], peer[100];
  snprintf(peer, sizeof peer, "the %s at %s", c->peer_role, c->peer_addr);
  msgpack_sbuffer reply;
  msgpack_sbuffer_init(&reply);
  int r = first ? ld_auth_on_hello(c->auth, c->role, doc, peer, &reply, err, sizeof err)
                : ld_auth_on_msg(c->auth, doc, peer, &reply, err, sizeof err);
  ld_msg *rm = reply.size > 0 ? ld_msg_make(reply.data, reply.size, NULL, 0) : NULL;
  if (rm) ld_conn_queue(c, rm);
  msgpack_sbuffer_destroy(&reply);
  if (r == LD_AUTH_WAIT) {
    if (first)
      c->held_hello = m;
    else
      ld_msg_free(m);
    return NULL;
  }
  if (r != LD_AUTH_DONE) {
    ld_msg_free(m);
    c->auth_failed = 1;
    if (r == LD_AUTH_REFUSE)
      ld_conn_refuse(c, err);
    else
      ld_conn_shutdown(c, err);
    return NULL;
  }
  c->authed = 1;
  ld_conn_handshake_done(c);
  ld_auth_free(c->auth);
  c->auth = NULL;
  while (c->held_head) { /* what was sent meanwhile goes now, in order */
    ld_msg *h = c->held_head;
    c->held_head = h->next;
    c->nheld--;
    ld_conn_queue(c, h);
  }
  c->held_tail = NULL;
  if (first) return m;
  ld_msg_free(m);
  m = c->held_hello;
  c->held_hello = NULL;
  msgpack_zone_clear(&c->zone);
  ld_mp_parse_zone(m->frames[0]->data, m->frames[0]->size, &c->zone, doc, err, sizeof err);
  return m;
}
