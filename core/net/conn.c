/* conn.c — connections, servers and the hello handshake on libuv TCP (see
 * conn.h). Writes are batched: messages queued in one loop iteration are
 * coalesced by a uv_prepare handle into a single write, tried at once with
 * uv_try_write (only what the socket does not take waits in a uv_write
 * request); frames under COPY_MAX bytes are copied into one contiguous
 * block, larger ones are written from their buffers without a copy.
 * Reads go through the frame reader (frame.h), one message at a time until
 * the handshake is done. The deadlines and the end of the handshake are in
 * lifecycle.c; the records in conn_impl.h. */
#include "net/conn.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/conn_impl.h"
#include "net/mp.h"
#include "util/version.h"

#define COPY_MAX 16384
/* A connection keeps the block of its last write for the next one, up to
 * this size: a busy connection then writes without malloc/free of blocks
 * large enough to make glibc consolidate its free lists each time. */
#define SPARE_MAX ((size_t)4 << 20)

static int g_protocol = LD_PROTOCOL;
/* Process-wide counters (ld_net_stats). */
static _Atomic uint64_t g_msgs_sent, g_writes;
static const char *g_version = LD_VERSION_STRING;

/* Test hook (docs/protocol.md): makes this process claim another protocol
 * and version in its hellos. VERSION must stay valid. */
void ld_net_set_identity(int protocol, const char *version) {
  g_protocol = protocol;
  g_version = version;
}

/* A batch of messages in one uv_write. */
typedef struct write_batch {
  uv_write_t req;
  ld_conn *conn;
  char *block; /* prefixes and small frames */
  size_t block_cap;
  ld_buffer **big; /* referenced large frames */
  size_t nbig;
  uv_buf_t *bufs;
  unsigned nbufs;
} write_batch;

static void conn_shutdown(ld_conn *c, const char *reason);
#define WRITABLE(c) LD_CONN_WRITABLE(c)

void *ld_conn_data(const ld_conn *c) { return c->data; }
void ld_conn_set_data(ld_conn *c, void *data) { c->data = data; }
const char *ld_conn_peer_role(const ld_conn *c) { return c->peer_role; }
const char *ld_conn_peer_addr(const ld_conn *c) { return c->peer_addr; }
size_t ld_conn_pending(const ld_conn *c) { return c->q_len + c->nheld; }
int ld_conn_auth_failed(const ld_conn *c) { return c->auth_failed; }
int ld_server_port(const ld_server *s) { return s->port; }
void ld_conn_set_on_drained(ld_conn *c, void (*fn)(ld_conn *c)) { c->on_drained = fn; }

int ld_conn_fd(const ld_conn *c) {
  uv_os_fd_t fd;
  if (!c->connected || c->closing || c->tls || uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0)
    return -1;
  return (int)fd;
}
void *ld_server_data(const ld_server *s) { return s->data; }

int ld_net_parse_addr(const char *addr, struct sockaddr_in *out, char *err, size_t errlen) {
  const char *p = addr;
  if (strncmp(p, "tcp://", 6) == 0 || strncmp(p, "tls://", 6) == 0) p += 6;
  const char *colon = strrchr(p, ':');
  if (colon == NULL || colon == p || colon[1] == '\0') {
    snprintf(err, errlen, "bad address '%s': expected tcp://HOST:PORT or tls://HOST:PORT", addr);
    return LD_NET_EARG;
  }
  char host[64];
  size_t hl = (size_t)(colon - p);
  if (hl >= sizeof host) {
    snprintf(err, errlen, "bad address '%s': host too long", addr);
    return LD_NET_EARG;
  }
  memcpy(host, p, hl);
  host[hl] = '\0';
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535) {
    snprintf(err, errlen, "bad address '%s': port '%s' is not a number in 0..65535", addr,
             colon + 1);
    return LD_NET_EARG;
  }
  if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
  if (uv_ip4_addr(host, (int)port, out) != 0) {
    snprintf(err, errlen, "bad address '%s': host '%s' is not a numeric IPv4 address", addr, host);
    return LD_NET_EARG;
  }
  return 0;
}

/* The hello of ROLE, with the fields of the token handshake AUTH when not
 * NULL. */
static void pack_hello(msgpack_sbuffer *sb, const char *role, int protocol, const char *version,
                       const ld_auth *auth) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 4 + (auth ? LD_AUTH_HELLO_FIELDS : 0));
  if (auth) ld_auth_pack_hello(auth, &pk);
  ld_mp_pack_cstr(&pk, "op");
  ld_mp_pack_cstr(&pk, "hello");
  ld_mp_pack_cstr(&pk, "protocol");
  msgpack_pack_int(&pk, protocol);
  ld_mp_pack_cstr(&pk, "version");
  ld_mp_pack_cstr(&pk, version);
  ld_mp_pack_cstr(&pk, "role");
  ld_mp_pack_cstr(&pk, role);
}

void ld_net_pack_hello(msgpack_sbuffer *sb, const char *role, int protocol, const char *version) {
  pack_hello(sb, role, protocol, version, NULL);
}

static void handle_closed(uv_handle_t *h) {
  ld_conn *c = h->data;
  if (--c->open_handles > 0) return;
  while (c->q_head) {
    ld_msg *m = c->q_head;
    c->q_head = m->next;
    ld_msg_free(m);
  }
  ld_frame_reader_free(c->reader);
  ld_auth_free(c->auth);
  ld_msg_free(c->held_hello);
  while (c->held_head) {
    ld_msg *m = c->held_head;
    c->held_head = m->next;
    ld_msg_free(m);
  }
  ld_tls_free(c->tls);
  if (c->zone_ready) msgpack_zone_destroy(&c->zone);
  free(c->spare);
  free(c->rbuf);
  ld_conn_count_closed();
  if (c->h.on_close) c->h.on_close(c, c->reason);
  free(c);
}

static void flush_cb(uv_prepare_t *p);

static ld_conn *conn_new(uv_loop_t *loop, const char *role, const ld_conn_handlers *h, void *data,
                         ld_sec *sec, int acceptor, int tls) {
  ld_conn *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->reader = ld_frame_reader_new();
  c->sec = sec, c->acceptor = acceptor;
  if (ld_sec_has_token(sec)) c->auth = ld_auth_new(sec, acceptor, role);
  if (tls) c->tls = ld_tls_new(ld_sec_tls(sec), acceptor);
  if (c->reader == NULL || (ld_sec_has_token(sec) && c->auth == NULL) || (tls && c->tls == NULL)) {
    ld_frame_reader_free(c->reader);
    ld_auth_free(c->auth);
    ld_tls_free(c->tls);
    free(c);
    return NULL;
  }
  /* only a small hello until the handshake is done */
  ld_frame_reader_set_limits(c->reader, LD_NET_HELLO_MAX, LD_NET_HELLO_FRAMES);
  uv_tcp_init(loop, &c->tcp);
  uv_prepare_init(loop, &c->flush);
  uv_timer_init(loop, &c->timer);
  c->tcp.data = c->flush.data = c->timer.data = c;
  c->open_handles = 3;
  snprintf(c->role, sizeof c->role, "%s", role);
  c->h = *h;
  c->data = data;
  return c;
}

static void free_batch(write_batch *b) {
  for (size_t i = 0; i < b->nbig; i++) ld_buffer_release(b->big[i]);
  free(b->big);
  ld_conn *c = b->conn;
  if (c && b->block && c->spare == NULL && b->block_cap <= SPARE_MAX) {
    c->spare = b->block; /* kept for the next write */
    c->spare_cap = b->block_cap;
  } else {
    free(b->block);
  }
  free(b->bufs);
  free(b);
}

/* What follows a finished write (STATUS 0 or a libuv error): close when a
 * close waits for it, or schedule the next batch. */
void ld_conn_after_write(ld_conn *c, int status) {
  if (status < 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "write to %s failed: %s", c->peer_addr, uv_strerror(status));
    conn_shutdown(c, msg);
    return;
  }
  if (c->closing) {
    if (c->flush_close && c->q_head && !uv_is_closing((uv_handle_t *)&c->tcp))
      uv_prepare_start(&c->flush, flush_cb);
    else
      conn_shutdown(c, NULL);
    return;
  }
  if (c->q_head)
    uv_prepare_start(&c->flush, flush_cb);
  else if (c->on_drained)
    c->on_drained(c);
}

static void write_cb(uv_write_t *req, int status) {
  write_batch *b = req->data;
  ld_conn *c = b->conn;
  free_batch(b);
  c->writing = 0;
  ld_conn_after_write(c, status);
}

/* Writes every queued message: first straight to the socket (uv_try_write:
 * no request, no completion callback, no extra loop iteration: the common
 * case for small messages), then whatever the kernel did not take through
 * one uv_write. Returns 0 or a libuv error. */
static int flush_queue(ld_conn *c) {
  size_t block_size = 0, nbufs = 0, nbig = 0;
  for (ld_msg *m = c->q_head; m; m = m->next) {
    if (!m->raw) block_size += 4 + 8 * (size_t)m->nframes;
    nbufs++;
    for (uint32_t i = 0; i < m->nframes; i++) {
      size_t sz = m->frames[i] ? m->frames[i]->size : 0;
      if (sz <= COPY_MAX) {
        block_size += sz;
      } else {
        nbig++;
        nbufs += 2; /* the frame, then the block segment after it */
      }
    }
  }
  write_batch *b = calloc(1, sizeof *b);
  if (b == NULL) return UV_ENOMEM;
  b->conn = c;
  if (c->spare && c->spare_cap >= block_size) {
    b->block = c->spare;
    b->block_cap = c->spare_cap;
    c->spare = NULL;
  } else {
    free(c->spare); /* too small: the new block replaces it */
    c->spare = NULL;
    b->block_cap = block_size > 256 ? block_size : 256;
    b->block = malloc(b->block_cap);
  }
  b->big = nbig ? malloc(nbig * sizeof *b->big) : NULL;
  b->bufs = malloc(nbufs * sizeof *b->bufs);
  if (b->block == NULL || (nbig && b->big == NULL) || b->bufs == NULL) {
    free_batch(b);
    return UV_ENOMEM;
  }
  char *p = b->block, *seg = b->block;
  unsigned nb = 0;
  while (c->q_head) {
    ld_msg *m = c->q_head;
    c->q_head = m->next;
    if (!m->raw) p += ld_msg_prefix(m, (unsigned char *)p);
    for (uint32_t i = 0; i < m->nframes; i++) {
      ld_buffer *f = m->frames[i];
      if (f == NULL || f->size == 0) continue;
      if (f->size <= COPY_MAX) {
        memcpy(p, f->data, f->size);
        p += f->size;
      } else {
        if (p > seg) b->bufs[nb++] = uv_buf_init(seg, (unsigned)(p - seg));
        seg = p;
        b->big[b->nbig++] = ld_buffer_retain(f);
        /* uv_buf_t lengths are unsigned int: split huge frames. */
        char *d = f->data;
        size_t left = f->size;
        while (left > 0) {
          size_t n = left > (1u << 30) ? (1u << 30) : left;
          if (nb == nbufs) {
            uv_buf_t *nbv = realloc(b->bufs, (nbufs *= 2) * sizeof *nbv);
            if (nbv == NULL) {
              ld_msg_free(m);
              free_batch(b);
              return UV_ENOMEM;
            }
            b->bufs = nbv;
          }
          b->bufs[nb++] = uv_buf_init(d, (unsigned)n);
          d += n, left -= n;
        }
      }
    }
    ld_msg_free(m);
  }
  c->q_tail = NULL;
  c->q_len = 0;
  if (p > seg) b->bufs[nb++] = uv_buf_init(seg, (unsigned)(p - seg));
  b->nbufs = nb;
  b->req.data = b;
  g_writes++;
  if (c->tls) {
    int rc = ld_conn_tls_encrypt(c, b->bufs, b->nbufs);
    free_batch(b);
    return rc ? rc : ld_conn_tls_output(c, 1);
  }
  uv_buf_t *bufs = b->bufs;
  unsigned left = nb;
  int n = uv_try_write((uv_stream_t *)&c->tcp, bufs, left);
  if (n == UV_EAGAIN || n == UV_ENOSYS) n = 0;
  if (n < 0) {
    free_batch(b);
    return n;
  }
  /* Skip what was written. */
  size_t done = (size_t)n;
  while (left > 0 && done >= bufs->len) {
    done -= bufs->len;
    bufs++, left--;
  }
  if (left == 0) {
    free_batch(b);
    ld_conn_after_write(c, 0);
    return 0;
  }
  bufs->base += done;
  bufs->len -= (unsigned)done;
  int rc = uv_write(&b->req, (uv_stream_t *)&c->tcp, bufs, left, write_cb);
  if (rc < 0) {
    free_batch(b);
    return rc;
  }
  c->writing = 1;
  return 0;
}

void ld_net_stats(uint64_t *msgs_sent, uint64_t *writes) {
  *msgs_sent = g_msgs_sent;
  *writes = g_writes;
}

void ld_conn_flush_soon(ld_conn *c) { uv_prepare_start(&c->flush, flush_cb); }

static void flush_cb(uv_prepare_t *p) {
  ld_conn *c = p->data;
  uv_prepare_stop(&c->flush);
  if (!WRITABLE(c) || c->writing || c->q_head == NULL) return;
  int rc = flush_queue(c);
  if (rc < 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "write to %s failed: %s", c->peer_addr, uv_strerror(rc));
    conn_shutdown(c, msg);
  }
}

/* Appends M (owned) to the list HEAD..TAIL. */
static void append(ld_msg **head, ld_msg **tail, ld_msg *m) {
  m->next = NULL;
  if (*tail)
    (*tail)->next = m;
  else
    *head = m;
  *tail = m;
}

int ld_conn_send(ld_conn *c, ld_msg *m) {
  if (c->closing) {
    ld_msg_free(m);
    return LD_NET_EIO;
  }
  if (c->auth && !c->authed) { /* the peer has not proved itself yet: held */
    append(&c->held_head, &c->held_tail, m);
    c->nheld++;
    return 0;
  }
  return ld_conn_queue(c, m);
}

int ld_conn_queue(ld_conn *c, ld_msg *m) {
  if (c->closing) {
    ld_msg_free(m);
    return LD_NET_EIO;
  }
  m->next = NULL;
  if (c->q_tail)
    c->q_tail->next = m;
  else
    c->q_head = m;
  c->q_tail = m;
  c->q_len++;
  g_msgs_sent++;
  if (c->connected && !c->writing) uv_prepare_start(&c->flush, flush_cb);
  return 0;
}

/* Writes what is queued on C now instead of before the loop next blocks
 * (loop thread). For callers that queue from a uv_prepare callback, after
 * which the loop would block without running the connection's own. */
void ld_conn_flush(ld_conn *c) {
  if (c == NULL || !WRITABLE(c) || c->writing || c->q_head == NULL ||
      uv_is_closing((uv_handle_t *)&c->tcp))
    return;
  uv_prepare_stop(&c->flush);
  int rc = flush_queue(c);
  if (rc < 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "write to %s failed: %s", c->peer_addr, uv_strerror(rc));
    conn_shutdown(c, msg);
  }
}

int ld_conn_send_packed(ld_conn *c, const msgpack_sbuffer *hdr, ld_buffer *const *bufs,
                        uint32_t nbuf) {
  ld_msg *m = ld_msg_make(hdr->data, hdr->size, bufs, nbuf);
  if (m == NULL) return LD_NET_ENOMEM;
  return ld_conn_send(c, m);
}

/* Closes the handles now (the queue is dropped). */
static void conn_shutdown(ld_conn *c, const char *reason) { ld_conn_shutdown(c, reason); }

void ld_conn_shutdown(ld_conn *c, const char *reason) {
  if (reason && c->reason[0] == '\0') snprintf(c->reason, sizeof c->reason, "%s", reason);
  c->closing = 1;
  if (uv_is_closing((uv_handle_t *)&c->tcp)) return;
  uv_close((uv_handle_t *)&c->tcp, handle_closed);
  uv_close((uv_handle_t *)&c->flush, handle_closed);
  uv_close((uv_handle_t *)&c->timer, handle_closed);
}

void ld_conn_close(ld_conn *c, const char *reason, int flush) {
  if (reason && c->reason[0] == '\0') snprintf(c->reason, sizeof c->reason, "%s", reason);
  if (c->closing && !flush) {
    conn_shutdown(c, NULL);
    return;
  }
  c->closing = 1;
  c->flush_close = flush;
  if (flush && WRITABLE(c) && (c->writing || c->q_head)) {
    if (!c->writing) uv_prepare_start(&c->flush, flush_cb);
    return; /* write_cb finishes the close */
  }
  conn_shutdown(c, NULL);
}

ld_msg *ld_net_error_msg(const char *msg) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 2);
  ld_mp_pack_cstr(&pk, "op");
  ld_mp_pack_cstr(&pk, "error");
  ld_mp_pack_cstr(&pk, "message");
  ld_mp_pack_cstr(&pk, msg);
  ld_msg *m = ld_msg_make(sb.data, sb.size, NULL, 0);
  msgpack_sbuffer_destroy(&sb);
  return m;
}

/* Queued ahead of any message held for the token handshake: a refusal
 * reaches a peer that has not proved itself. */
void ld_conn_send_error(ld_conn *c, const char *msg) {
  ld_msg *m = ld_net_error_msg(msg);
  if (m) ld_conn_queue(c, m);
}

void ld_conn_refuse(ld_conn *c, const char *msg) {
  ld_conn_send_error(c, msg);
  ld_conn_close(c, msg, 1);
}

int ld_conn_check_hello(ld_conn *c, const msgpack_object *hdr) {
  char msg[256];
  const char *op, *ver = "?", *role;
  size_t oplen, verlen = 1, rolelen;
  int64_t proto = -1;
  if (!ld_mp_get_str(hdr, "op", &op, &oplen)) {
    /* The peer may have refused us: show its error. */
    const char *em;
    size_t emlen;
    if (ld_mp_get_str(hdr, "message", &em, &emlen))
      snprintf(msg, sizeof msg, "%.*s", (int)emlen, em);
    else
      snprintf(msg, sizeof msg, "peer %s sent a message without 'op' before its hello",
               c->peer_addr);
    conn_shutdown(c, msg);
    return -1;
  }
  if (oplen == 5 && memcmp(op, "error", 5) == 0) {
    const char *em = "";
    size_t emlen = 0;
    ld_mp_get_str(hdr, "message", &em, &emlen);
    snprintf(msg, sizeof msg, "refused by %s: %.*s", c->peer_addr, (int)emlen, em);
    conn_shutdown(c, msg);
    return -1;
  }
  if (!(oplen == 5 && memcmp(op, "hello", 5) == 0)) {
    snprintf(msg, sizeof msg, "peer %s sent op '%.*s' before its hello", c->peer_addr, (int)oplen,
             op);
    ld_conn_refuse(c, msg);
    return -1;
  }
  ld_mp_get_str(hdr, "version", &ver, &verlen);
  ld_mp_get_i64(hdr, "protocol", &proto);
  if (proto != g_protocol) {
    snprintf(msg, sizeof msg,
             "ldask version mismatch: peer %s runs ldask %.*s (protocol %lld), this %s runs "
             "ldask %s (protocol %d)",
             c->peer_addr, (int)verlen, ver, (long long)proto, c->role, g_version, g_protocol);
    ld_conn_refuse(c, msg);
    return -1;
  }
  if (!ld_mp_get_str(hdr, "role", &role, &rolelen) || rolelen == 0 ||
      rolelen >= sizeof c->peer_role || memchr(role, '\0', rolelen) != NULL) {
    snprintf(msg, sizeof msg, "peer %s sent a hello without a valid 'role'", c->peer_addr);
    ld_conn_refuse(c, msg);
    return -1;
  }
  memcpy(c->peer_role, role, rolelen);
  c->peer_role[rolelen] = '\0';
  c->got_hello = 1; /* the handshake ends after the token's (ld_conn_auth_filter) */
  return 0;
}

static void dispatch(ld_conn *c) {
  ld_msg *m;
  char err[200];
  if (!c->zone_ready) {
    if (!msgpack_zone_init(&c->zone, MSGPACK_ZONE_CHUNK_SIZE)) {
      conn_shutdown(c, "out of memory decoding a message header");
      return;
    }
    c->zone_ready = 1;
  }
  while (!c->closing && (m = ld_frame_reader_next(c->reader)) != NULL) {
    msgpack_object doc;
    int rc =
        ld_mp_parse_zone(m->frames[0]->data, m->frames[0]->size, &c->zone, &doc, err, sizeof err);
    if (rc != 0) {
      msgpack_zone_clear(&c->zone);
      ld_msg_free(m);
      char msg[300];
      snprintf(msg, sizeof msg, "from %s: %s", c->peer_addr, err);
      ld_conn_refuse(c, msg);
      return;
    }
    if (!c->authed) {
      m = ld_conn_auth_filter(c, m, &doc);
    } else if (ld_conn_second_hello(c, &doc)) {
      ld_msg_free(m);
      m = NULL;
    }
    if (m == NULL) {
      msgpack_zone_clear(&c->zone);
      continue;
    }
    c->h.on_msg(c, m, &doc);
    msgpack_zone_clear(&c->zone);
  }
}

int ld_conn_feed_plain(ld_conn *c, const char *data, size_t left) {
  int rc = 0;
  while (!c->handshake_done && left > 0 && rc == 0 && !c->closing) {
    size_t used;
    rc = ld_frame_reader_feed_one(c->reader, data, left, &used);
    data += used, left -= used;
    dispatch(c);
  }
  if (rc == 0 && left > 0 && !c->closing) rc = ld_frame_reader_feed(c->reader, data, left);
  return rc;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  ld_conn *c = h->data;
  *buf = c->rbuf ? uv_buf_init(c->rbuf, READ_CHUNK) : uv_buf_init(c->hbuf, HELLO_CHUNK);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  ld_conn *c = s->data;
  if (nread == 0 || c->closing) return;
  if (nread < 0) {
    char msg[160];
    if (nread == UV_EOF)
      snprintf(msg, sizeof msg, "connection closed by %s (%s)", c->peer_addr,
               c->peer_role[0] ? c->peer_role : "peer");
    else
      snprintf(msg, sizeof msg, "read from %s failed: %s", c->peer_addr, uv_strerror((int)nread));
    conn_shutdown(c, msg);
    return;
  }
  c->last_read = uv_now(s->loop);
  /* (BUF stays valid: the handshake swaps buffers for the next read.) */
  int rc = c->tls ? ld_conn_tls_input(c, buf->base, (size_t)nread)
                  : ld_conn_feed_plain(c, buf->base, (size_t)nread);
  dispatch(c);
  if (rc < 0 && !c->closing) {
    char msg[400];
    if (c->handshake_done)
      snprintf(msg, sizeof msg, "from %s: %s", c->peer_addr, ld_frame_reader_error(c->reader));
    else
      snprintf(msg, sizeof msg,
               "from %s: %s (before its handshake a peer may send only a hello and its token "
               "proof, of at most %u bytes)",
               c->peer_addr, ld_frame_reader_error(c->reader), LD_NET_HELLO_MAX);
    ld_conn_refuse(c, msg);
  }
}

static void start(ld_conn *c) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    char ip[32];
    uv_ip4_name(sin, ip, sizeof ip);
    snprintf(c->peer_addr, sizeof c->peer_addr, "%s://%s:%d", c->tls ? "tls" : "tcp", ip,
             ntohs(sin->sin_port));
  }
  uv_tcp_nodelay(&c->tcp, 1);
  c->connected = 1;
  /* The hello goes first, ahead of anything queued before the connect. */
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  pack_hello(&sb, c->role, g_protocol, g_version, c->auth);
  ld_msg *hello = ld_msg_make(sb.data, sb.size, NULL, 0);
  msgpack_sbuffer_destroy(&sb);
  if (hello == NULL) {
    conn_shutdown(c, "out of memory");
    return;
  }
  hello->next = c->q_head;
  c->q_head = hello;
  if (c->q_tail == NULL) c->q_tail = hello;
  c->q_len++;
  uv_prepare_start(&c->flush, flush_cb);
  ld_conn_start_deadline(c);
  int rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
  if (rc < 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "read from %s failed: %s", c->peer_addr, uv_strerror(rc));
    conn_shutdown(c, msg);
  } else if (c->tls && !c->acceptor) {
    ld_conn_tls_start(c); /* the client speaks first in TLS */
  }
}

static void connect_cb(uv_connect_t *req, int status) {
  ld_conn *c = req->data;
  if (status < 0) {
    char msg[200];
    snprintf(msg, sizeof msg, "connect to %s failed: %s", c->peer_addr, uv_strerror(status));
    conn_shutdown(c, msg);
    return;
  }
  if (c->closing) return;
  char saved[64];
  memcpy(saved, c->peer_addr, sizeof saved);
  start(c);
  if (c->peer_addr[0] == '\0') memcpy(c->peer_addr, saved, sizeof saved);
}

ld_conn *ld_conn_connect(uv_loop_t *loop, const char *addr, const char *role,
                         const ld_conn_handlers *h, void *data, char *err, size_t errlen) {
  return ld_conn_connect_sec(loop, addr, role, ld_net_default_sec(), h, data, err, errlen);
}

ld_conn *ld_conn_connect_sec(uv_loop_t *loop, const char *addr, const char *role, ld_sec *sec,
                             const ld_conn_handlers *h, void *data, char *err, size_t errlen) {
  struct sockaddr_in sin;
  if (ld_net_parse_addr(addr, &sin, err, errlen) != 0) return NULL;
  int tls = strncmp(addr, "tls://", 6) == 0;
  if (tls != (ld_sec_tls(sec) != NULL)) {
    snprintf(err, errlen,
             tls ? "cannot connect to %s: a tls:// address needs TLS settings (--tls-ca-file, "
                   "--tls-cert, --tls-key)"
                 : "cannot connect to %s: this %s has TLS settings, so only tls:// addresses "
                   "(plain connections would go unencrypted)",
             addr, role);
    return NULL;
  }
  ld_conn *c = conn_new(loop, role, h, data, sec, 0, tls);
  if (c == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  snprintf(c->peer_addr, sizeof c->peer_addr, "%s%s",
           strncmp(addr, "tcp://", 6) && !tls ? "tcp://" : "", addr);
  c->connect_req.data = c;
  int rc = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&sin, connect_cb);
  if (rc < 0) {
    snprintf(err, errlen, "connect to %s failed: %s", addr, uv_strerror(rc));
    c->h.on_close = NULL; /* the caller sees the failure here, not in a callback */
    conn_shutdown(c, err);
    return NULL;
  }
  return c;
}

static void server_closed(uv_handle_t *h) { free(h->data); }

static void accept_cb(uv_stream_t *st, int status) {
  ld_server *s = st->data;
  if (status < 0) return;
  ld_conn *c = conn_new(st->loop, s->role, &s->h, NULL, s->sec, 1, ld_sec_tls(s->sec) != NULL);
  if (c == NULL) return;
  if (uv_accept(st, (uv_stream_t *)&c->tcp) != 0) {
    c->h.on_close = NULL;
    conn_shutdown(c, "accept failed");
    return;
  }
  start(c);
  if (s->on_conn) s->on_conn(s, c);
}

ld_server *ld_server_listen(uv_loop_t *loop, const char *host, int port, const char *role,
                            const ld_conn_handlers *h, ld_server_conn_cb on_conn, void *data,
                            char *err, size_t errlen) {
  struct sockaddr_in sin;
  if (uv_ip4_addr(strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, port, &sin) != 0) {
    snprintf(err, errlen, "bad listen address '%s': not a numeric IPv4 address", host);
    return NULL;
  }
  ld_server *s = calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  uv_tcp_init(loop, &s->tcp);
  s->tcp.data = s;
  s->sec = ld_net_default_sec();
  snprintf(s->role, sizeof s->role, "%s", role);
  s->h = *h;
  s->on_conn = on_conn;
  s->data = data;
  int rc = uv_tcp_bind(&s->tcp, (const struct sockaddr *)&sin, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&s->tcp, 1024, accept_cb);
  if (rc < 0) {
    snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, uv_strerror(rc));
    uv_close((uv_handle_t *)&s->tcp, server_closed);
    return NULL;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &len);
  s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return s;
}

void ld_server_close(ld_server *s) {
  if (!uv_is_closing((uv_handle_t *)&s->tcp)) uv_close((uv_handle_t *)&s->tcp, server_closed);
}
