/* conn_impl.h — internal to core/net: the records of a connection and a
 * server, shared by conn.c (streams, writes, reads, the hello) and
 * lifecycle.c (handshake deadline, idle timeout, the end of the
 * handshake). Not for use outside core/net. */
#ifndef LDASK_NET_CONN_IMPL_H
#define LDASK_NET_CONN_IMPL_H

#include "net/conn.h"

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
  int handshake_done; /* ld_conn_handshake_done was called */
  int grace;          /* the handshake deadline was extended once */
  int accepted;       /* accepted by a server (else connected by us) */
  uint64_t last_read; /* loop time (ms) of the last bytes received */
  char role[16];
  char peer_role[16];
  char peer_addr[64];
  char reason[256];
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
  char role[16];
  ld_conn_handlers h;
  ld_server_conn_cb on_conn;
  void *data;
  int port;
};

/* conn.c: queues {op = "error", message = MSG} on C. */
void ld_conn_send_error(ld_conn *c, const char *msg);
/* conn.c: closes C's handles now (its queue is dropped); REASON (copied,
 * may be NULL) unless one was given before. */
void ld_conn_shutdown(ld_conn *c, const char *reason);

/* lifecycle.c: arms C's handshake deadline (when it starts). */
void ld_conn_start_deadline(ld_conn *c);
/* lifecycle.c: a hello after the first (HDR) is a protocol error: refused,
 * C closed, returns 1; else 0. */
int ld_conn_second_hello(ld_conn *c, const msgpack_object *hdr);
/* lifecycle.c: counts a connection freed (ld_net_conns_closed). */
void ld_conn_count_closed(void);

#endif
