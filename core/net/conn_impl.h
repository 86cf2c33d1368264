/* conn_impl.h — internal to core/net: the records of a connection and a
 * server, shared by conn.c (streams, writes, reads, the hello),
 * lifecycle.c (handshake deadline, idle timeout, the token handshake, the
 * end of the handshake) and conn_tls.c (a connection's TLS stream). Not
 * for use outside core/net. */
#ifndef LDASK_NET_CONN_IMPL_H
#define LDASK_NET_CONN_IMPL_H

#include "net/auth.h"
#include "net/conn.h"
#include "net/tls.h"

/* A connection's read buffer once its handshake is done. */
#define READ_CHUNK 65536
/* Before the handshake a connection reads into a small buffer of its own
 * (a hello is tens of bytes): an idle or hostile connection costs little.
 * The READ_CHUNK buffer comes with the handshake. */
#define HELLO_CHUNK 2048

struct ld_conn {
  uv_tcp_t tcp;
  uv_prepare_t flush;
  uv_connect_t connect_req;
  uv_timer_t timer; /* the handshake deadline, then the idle check */
  int open_handles; /* handles not yet closed */
  int connected;    /* the TCP stream is up */
  int closing;      /* close requested */
  int flush_close;  /* close once the queue is written */
  int writing;      /* a uv_write is in flight */
  int got_hello;
  /* Security (net/auth.h, net/tls.h): see ld_conn_auth_filter and
   * ld_conn_tls_input. */
  int acceptor, authed, auth_failed, tls_up, tls_fed;
  ld_sec *sec;                   /* borrowed settings, or NULL */
  ld_auth *auth;                 /* owned: the token handshake while it runs */
  ld_msg *held_hello;            /* owned: the peer's hello, given once authenticated */
  ld_msg *held_head, *held_tail; /* owned: sent before that, queued then */
  size_t nheld;
  ld_tls *tls;        /* owned: the TLS state of a tls:// connection */
  int handshake_done; /* ld_conn_handshake_done was called */
  int grace;          /* the handshake deadline was extended once */
  uint64_t last_read; /* loop time (ms) of the last bytes received */
  char role[16];
  char peer_role[16];
  char peer_addr[64];
  char reason[512];
  ld_msg *q_head, *q_tail;
  size_t q_len;
  char *spare; /* owned: a write block to reuse (SPARE_MAX at most) */
  size_t spare_cap;
  ld_frame_reader *reader;
  msgpack_zone zone; /* headers are decoded into it, cleared after each */
  int zone_ready;
  ld_conn_handlers h;
  void (*on_drained)(ld_conn *c);
  void *data;
  char *rbuf; /* owned: READ_CHUNK bytes, from the handshake on */
  char hbuf[HELLO_CHUNK];
};

struct ld_server {
  uv_tcp_t tcp;
  ld_sec *sec; /* borrowed: given to each accepted connection */
  char role[16];
  ld_conn_handlers h;
  ld_server_conn_cb on_conn;
  void *data;
  int port;
};

/* Messages may be written: connected, and over TLS once its handshake is
 * done. */
#define LD_CONN_WRITABLE(c) ((c)->connected && (!(c)->tls || (c)->tls_up))

/* conn.c: the message {op = "error", message = MSG}; caller owns it. NULL
 * on OOM. */
ld_msg *ld_net_error_msg(const char *msg);
/* conn.c: queues {op = "error", message = MSG} on C, ahead of what is held
 * for the token handshake. */
void ld_conn_send_error(ld_conn *c, const char *msg);
/* conn.c: ld_conn_send_error, then closes C once it is written. */
void ld_conn_refuse(ld_conn *c, const char *msg);
/* conn.c: queues M (owned) for the next write, also during the token
 * handshake. Returns 0 or LD_NET_EIO (C closing; M freed). */
int ld_conn_queue(ld_conn *c, ld_msg *m);
/* conn.c: schedules the write of C's queue for this loop iteration. */
void ld_conn_flush_soon(ld_conn *c);
/* conn.c: what follows a finished write (STATUS 0 or a libuv error). */
void ld_conn_after_write(ld_conn *c, int status);
/* conn.c: closes C's handles now (its queue is dropped); REASON (copied,
 * may be NULL) unless one was given before. */
void ld_conn_shutdown(ld_conn *c, const char *reason);
/* conn.c: checks the peer's first message HDR, its hello (protocol,
 * version, role); returns 0, or refuses and closes C. */
int ld_conn_check_hello(ld_conn *c, const msgpack_object *hdr);
/* conn.c: gives LEN received bytes of plaintext at DATA to C's frame
 * reader and dispatches the messages complete before the handshake, one
 * at a time (the limits change with it). Returns 0 or the reader's error. */
int ld_conn_feed_plain(ld_conn *c, const char *data, size_t len);

/* conn_tls.c: received ciphertext DATA (LEN bytes): advances the TLS
 * handshake, gives the plaintext to ld_conn_feed_plain. Returns what that
 * returned, or LD_NET_EIO when C was closed. */
int ld_conn_tls_input(ld_conn *c, const char *data, size_t len);
/* conn_tls.c: encrypts the NBUFS buffers at BUFS (borrowed) into C's SSL
 * state, sending each MiB of ciphertext on the way. Returns 0 or a libuv
 * error; ld_conn_tls_output(C, 1) then sends the rest. */
int ld_conn_tls_encrypt(ld_conn *c, const uv_buf_t *bufs, unsigned nbufs);
/* conn_tls.c: sends the ciphertext waiting in C's SSL state. LAST: 1 it
 * ends a batch of messages (ld_conn_after_write follows), 2 it carries the
 * last words of a failed connection (C closes), 0 neither. Returns 0 or a
 * libuv error. */
int ld_conn_tls_output(ld_conn *c, int last);
/* conn_tls.c: starts the TLS handshake of a connecting C (the client
 * speaks first in TLS); closes C when that fails. */
void ld_conn_tls_start(ld_conn *c);

/* lifecycle.c: arms C's handshake deadline (when it starts). */
void ld_conn_start_deadline(ld_conn *c);
/* lifecycle.c: a hello after the first (HDR) is a protocol error: refused,
 * C closed, returns 1; else 0. */
int ld_conn_second_hello(ld_conn *c, const msgpack_object *hdr);
/* lifecycle.c: counts a connection freed (ld_net_conns_closed). */
void ld_conn_count_closed(void);
/* lifecycle.c: the token handshake (net/auth.h) of C, not yet
 * authenticated, on its message M (owned; header DOC, parsed into C's
 * zone): the peer's hello or what follows it until both sides proved they
 * know the token. Ends C's handshake (ld_conn_handshake_done) when they
 * did, or at the hello when no token is involved. Returns the message to
 * give to on_msg now (DOC then describes it), or NULL when M was held (the
 * hello: given on success), consumed, or C is closing. */
ld_msg *ld_conn_auth_filter(ld_conn *c, ld_msg *m, msgpack_object *doc);

#endif
