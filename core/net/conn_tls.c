/* conn_tls.c — a connection's TLS stream (see conn_impl.h): received
 * ciphertext goes into its SSL state (net/tls.h) and the plaintext on to
 * the frame reader; queued messages are encrypted and the ciphertext is
 * written to the TCP stream; a failed handshake closes the connection
 * after the alert saying why. Split from conn.c, which calls these when a
 * connection has TLS. */
#include <stdio.h>
#include <string.h>

#include "net/conn_impl.h"

/* A write of ciphertext finished (ld_tls_flush). LAST: 1 it ended a batch
 * of messages (after_write follows), 2 it carried the last words of a
 * failed connection (then C closes), 0 neither. */
static void tls_sent(void *conn, int last, int status) {
  ld_conn *c = conn;
  if (last == 2) {
    ld_conn_shutdown(c, NULL);
  } else if (last) {
    c->writing = 0;
    ld_conn_after_write(c, status);
  } else if (status < 0 && status != UV_ECANCELED) {
    char msg[128];
    snprintf(msg, sizeof msg, "write to %s failed: %s", c->peer_addr, uv_strerror(status));
    ld_conn_shutdown(c, msg);
  }
}

/* (conn_impl.h) tls_sent follows at once when there is nothing to send. */
int ld_conn_tls_output(ld_conn *c, int last) {
  if (uv_is_closing((uv_handle_t *)&c->tcp)) return UV_ECANCELED;
  int rc = ld_tls_flush(c->tls, (uv_stream_t *)&c->tcp, last, tls_sent, c);
  if (rc == 0 && last) tls_sent(c, last, 0);
  if (rc == 1 && last == 1) c->writing = 1;
  return rc < 0 ? rc : 0;
}

/* (conn_impl.h) A write per MiB of ciphertext, so that the SSL state
 * never holds a whole large message. */
int ld_conn_tls_encrypt(ld_conn *c, const uv_buf_t *bufs, unsigned nbufs) {
  int rc = 0;
  for (unsigned i = 0; i < nbufs && rc == 0; i++) {
    for (size_t off = 0; off < bufs[i].len && rc == 0;) {
      size_t n = bufs[i].len - off < (1u << 20) ? bufs[i].len - off : (1u << 20);
      if (ld_tls_write(c->tls, bufs[i].base + off, n) != 0) rc = UV_EPROTO;
      off += n;
      if (rc == 0 && ld_tls_pending(c->tls) >= (1u << 20)) rc = ld_conn_tls_output(c, 0);
    }
  }
  return rc;
}

/* Closes C for the TLS failure just met, once the peer was sent the
 * alert saying why (if any). */
static void tls_fail(ld_conn *c) {
  if (c->reason[0] == '\0')
    snprintf(c->reason, sizeof c->reason, "TLS with %s: %s%s", c->peer_addr, ld_tls_error(c->tls),
             c->tls_up ? "" : " (does the peer use tls:// with certificates of the same CA?)");
  if (!c->got_hello) c->auth_failed = 1; /* refused before a word: not retried */
  c->closing = 1;
  if (ld_conn_tls_output(c, 2) < 0) ld_conn_shutdown(c, NULL);
}

/* (conn_impl.h) A tcp:// peer (its first bytes are no TLS record) is
 * told so in plain text. Plaintext goes through ld_conn_feed_plain: one
 * message at a time before the handshake, as without TLS. */
int ld_conn_tls_input(ld_conn *c, const char *data, size_t len) {
  int rc = 0;
  if (!c->tls_fed++ && c->acceptor && len > 0 && (unsigned char)data[0] != 0x16) {
    /* Not a TLS record: an ldask peer using tcp://. Told so in plain. */
    snprintf(c->reason, sizeof c->reason,
             "this %s uses TLS: connect to tls:// with the cluster's certificates", c->role);
    ld_msg *m = ld_net_error_msg(c->reason);
    ld_buffer *wire = m ? ld_msg_encode(m) : NULL;
    ld_msg_free(m);
    c->closing = 1, c->auth_failed = 1;
    if (wire == NULL ||
        ld_tls_write_plain((uv_stream_t *)&c->tcp, wire->data, wire->size, tls_sent, c) != 0)
      ld_conn_shutdown(c, NULL); /* else tls_sent closes C once it is written */
    ld_buffer_release(wire);
    size_t rl = strlen(c->reason);
    snprintf(c->reason + rl, sizeof c->reason - rl, ": %s sent plain text", c->peer_addr);
    return LD_NET_EIO;
  }
  if (ld_tls_feed(c->tls, data, len) != 0) {
    tls_fail(c);
    return LD_NET_EIO;
  }
  if (!c->tls_up) {
    int hs = ld_tls_handshake(c->tls);
    if (hs < 0 || ld_conn_tls_output(c, 0) < 0) {
      tls_fail(c);
      return LD_NET_EIO;
    }
    if (hs == 0) return 0;
    c->tls_up = 1;
    if (c->q_head && !c->writing) ld_conn_flush_soon(c);
  }
  char plain[16384];
  ssize_t n = 0;
  while (rc == 0 && !c->closing && (n = ld_tls_read(c->tls, plain, sizeof plain)) > 0)
    rc = ld_conn_feed_plain(c, plain, (size_t)n);
  if (c->closing) return rc; /* closed by what was dispatched */
  if (rc == 0 && n < 0) {
    tls_fail(c);
    return LD_NET_EIO;
  }
  if (ld_conn_tls_output(c, 0) < 0) { /* e.g. answers to a key update */
    tls_fail(c);
    return LD_NET_EIO;
  }
  return rc;
}

void ld_conn_tls_start(ld_conn *c) {
  if (ld_tls_handshake(c->tls) < 0 || ld_conn_tls_output(c, 0) < 0) tls_fail(c);
}
