/* conn.h — ldask connections on libuv TCP: message framing (frame.h) on a
 * stream, write batching (every message queued during one loop iteration
 * goes out in one uv_write before the loop blocks again), the hello
 * handshake that refuses a peer of another protocol version with a message
 * naming both versions, listening servers and outgoing connects. Everything
 * here runs on the thread of the loop that owns the connection. Handles are
 * freed only in their close callbacks. */
#ifndef LDASK_NET_CONN_H
#define LDASK_NET_CONN_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/frame.h"

/* Bumped whenever a message changes incompatibly; peers must match. */
#define LD_PROTOCOL 2

typedef struct ld_conn ld_conn;
typedef struct ld_server ld_server;
struct ld_sec;

typedef struct ld_conn_handlers {
  /* A message arrived. The callback owns M (ld_msg_free it or keep it);
   * HDR is M's decoded header map, valid only during the call. The first
   * message of every connection is the peer's hello, already checked. */
  void (*on_msg)(ld_conn *c, ld_msg *m, const msgpack_object *hdr);
  /* The connection is closed for REASON (a message: "closed by peer",
   * "connect to tcp://... failed: connection refused", ...). Called exactly
   * once per connection that was returned to the caller, after which C is
   * freed: do not use it afterwards. */
  void (*on_close)(ld_conn *c, const char *reason);
} ld_conn_handlers;

/* Parses "tcp://HOST:PORT", "tls://HOST:PORT" or "HOST:PORT" (numeric IPv4, or localhost) into
 * *out. Returns 0 or LD_NET_EARG with a message in ERR. */
int ld_net_parse_addr(const char *addr, struct sockaddr_in *out, char *err, size_t errlen);

/* Starts connecting to ADDR on LOOP, introducing itself as ROLE ("client",
 * "worker", "peer"; copied). Messages sent before the connection is up are
 * queued. Returns the connection (owned by the loop: it is freed after its
 * on_close), or NULL with a message in ERR when ADDR is malformed, in which
 * case no callback will be called. */
ld_conn *ld_conn_connect(uv_loop_t *loop, const char *addr, const char *role,
                         const ld_conn_handlers *h, void *data, char *err, size_t errlen);

/* ld_conn_connect with the security settings SEC (borrowed: they must
 * outlive the connection; NULL: none) instead of the process's default
 * (ld_net_set_default_sec, net/auth.h). A tls:// ADDR needs SEC with TLS,
 * and SEC with TLS only connects to tls:// addresses. With a token in
 * SEC both sides prove they know it before on_msg sees the peer's hello. */
ld_conn *ld_conn_connect_sec(uv_loop_t *loop, const char *addr, const char *role,
                             struct ld_sec *sec, const ld_conn_handlers *h, void *data, char *err,
                             size_t errlen);

/* Non-zero when C was closed because authentication failed on either side
 * (the token handshake, or TLS before the hellos): for on_close, to tell a
 * refusal from a lost connection. */
int ld_conn_auth_failed(const ld_conn *c);

/* Queues M for sending; the connection takes ownership of M (also on error).
 * Returns 0, or LD_NET_EIO when the connection is closing. */
int ld_conn_send(ld_conn *c, ld_msg *m);

/* Packs a header with msgpack and queues it with NBUF extra frames (the
 * connection takes a new reference to each). Returns 0 or a negative code. */
int ld_conn_send_packed(ld_conn *c, const msgpack_sbuffer *hdr, ld_buffer *const *bufs,
                        uint32_t nbuf);

/* Writes the messages queued on C at once (loop thread) rather than just
 * before the loop next blocks: for senders running in a uv_prepare
 * callback, whose queueing would otherwise wait for the next wake-up.
 * A failed write closes C (on_close follows). NULL is ignored. */
void ld_conn_flush(ld_conn *c);

/* Calls FN(C) on the loop thread each time a write finished and nothing is
 * left queued (the socket has taken every message sent so far). NULL
 * stops it. */
void ld_conn_set_on_drained(ld_conn *c, void (*fn)(ld_conn *c));

/* The socket's descriptor while connected and not closing, else -1.
 * Borrowed: the connection closes it. A sender in another thread (the
 * client) writes to a dup() of it while the connection is drained, and
 * queues the rest of a message it could not finish as a raw message
 * (ld_msg.raw): bytes go out in order either way. */
int ld_conn_fd(const ld_conn *c);

/* Closes C with REASON (copied): pending messages are written first when
 * FLUSH is non-zero. on_close follows (from the loop). Closing twice is
 * harmless. */
void ld_conn_close(ld_conn *c, const char *reason, int flush);

/* User data and identity. */
void *ld_conn_data(const ld_conn *c);
void ld_conn_set_data(ld_conn *c, void *data);
/* The peer's role from its hello ("" before it arrived). */
const char *ld_conn_peer_role(const ld_conn *c);
/* The peer's address as "tcp://IP:PORT" (static storage in C). */
const char *ld_conn_peer_addr(const ld_conn *c);
/* Messages queued but not yet written. */
size_t ld_conn_pending(const ld_conn *c);

/* Called for each accepted connection; set its data with ld_conn_set_data. */
typedef void (*ld_server_conn_cb)(ld_server *s, ld_conn *c);

/* Listens on HOST:PORT (PORT 0 picks a free port), accepting connections
 * that introduce themselves as ROLE ("scheduler", "worker"), with the
 * process's default security settings (net/auth.h: a token, TLS; see
 * ld_sec_check_bind for the address rule). Returns the
 * server (free with ld_server_close), or NULL with a message in ERR. */
ld_server *ld_server_listen(uv_loop_t *loop, const char *host, int port, const char *role,
                            const ld_conn_handlers *h, ld_server_conn_cb on_conn, void *data,
                            char *err, size_t errlen);
/* The bound port. */
int ld_server_port(const ld_server *s);
void *ld_server_data(const ld_server *s);
/* Stops listening; the server is freed from its close callback. */
void ld_server_close(ld_server *s);

/* Ends the handshake of C: from now on it accepts messages up to the
 * process's maximum message size (before: only LD_NET_HELLO_MAX bytes and
 * LD_NET_HELLO_FRAMES frames each), its handshake deadline is off and, on
 * an accepted connection, the idle timeout is on. Called when the peer
 * is authenticated: both token proofs checked, or its hello accepted when
 * no token is involved (lifecycle.c); idempotent. */
void ld_conn_handshake_done(ld_conn *c);

/* Default of the handshake timeout (seconds). */
#define LD_NET_DEFAULT_HANDSHAKE_TIMEOUT 10.0

/* Process-wide timeouts of the connections created afterwards, in
 * seconds (0: none). HANDSHAKE: a connection whose peer has not finished
 * its handshake that long after the TCP connection is closed (a peer that
 * never says hello, or trickles it). IDLE: an accepted connection that
 * received nothing that long after its handshake is closed (default 0:
 * workers heartbeat and clients may legitimately be idle). */
void ld_net_set_timeouts(double handshake, double idle);
void ld_net_timeouts(double *handshake, double *idle);

/* Connections of this process closed and freed so far. */
uint64_t ld_net_conns_closed(void);

/* Test hook: makes this process claim PROTOCOL and VERSION (kept, not
 * copied) in its hellos, to exercise the version check. */
void ld_net_set_identity(int protocol, const char *version);

/* Messages queued for sending and uv_write calls made by this process so
 * far (batching shows as fewer writes than messages). */
void ld_net_stats(uint64_t *msgs_sent, uint64_t *writes);

/* Builds the hello header of ROLE into SB (initialised by the caller). */
void ld_net_pack_hello(msgpack_sbuffer *sb, const char *role, int protocol, const char *version);

#endif
