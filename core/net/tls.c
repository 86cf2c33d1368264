/* tls.c — the SSL state of one ldask connection over memory BIOs (see
 * tls.h): OpenSSL never touches the socket; conn.c moves ciphertext
 * between the BIOs and the libuv stream. Contexts require TLS 1.2 or
 * later and a peer certificate signed by the configured CA, on both
 * sides (as dask's TLS: no host name check, the private CA is the trust
 * anchor). */
#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ld_tls_ctx {
  SSL_CTX *ssl_ctx;
};

struct ld_tls {
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by SSL */
  char error[256];
};

/* OpenSSL's last error queued on this thread, as text (and clears it). */
static void openssl_reason(char *out, size_t outlen) {
  unsigned long e = ERR_get_error();
  if (e == 0) {
    snprintf(out, outlen, "unknown error");
  } else {
    ERR_error_string_n(e, out, outlen);
  }
  ERR_clear_error();
}

ld_tls_ctx *ld_tls_ctx_new(const char *ca, const char *cert, const char *key, char *err,
                           size_t errlen) {
  char why[200];
  ld_tls_ctx *c = calloc(1, sizeof *c);
  if (c == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  ERR_clear_error();
  c->ssl_ctx = SSL_CTX_new(TLS_method());
  if (c->ssl_ctx == NULL) {
    openssl_reason(why, sizeof why);
    snprintf(err, errlen, "cannot create a TLS context: %s", why);
    free(c);
    return NULL;
  }
  SSL_CTX *x = c->ssl_ctx;
  SSL_CTX_set_min_proto_version(x, TLS1_2_VERSION);
  SSL_CTX_set_mode(x, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
  SSL_CTX_set_verify(x, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  const char *what = NULL, *file = NULL;
  if (SSL_CTX_load_verify_locations(x, ca, NULL) != 1)
    what = "CA certificate (--tls-ca-file)", file = ca;
  else if (SSL_CTX_use_certificate_chain_file(x, cert) != 1)
    what = "certificate (--tls-cert)", file = cert;
  else if (SSL_CTX_use_PrivateKey_file(x, key ? key : cert, SSL_FILETYPE_PEM) != 1)
    what = "private key (--tls-key)", file = key ? key : cert;
  else if (SSL_CTX_check_private_key(x) != 1)
    what = "private key (--tls-key) for the certificate", file = key ? key : cert;
  if (what) {
    openssl_reason(why, sizeof why);
    snprintf(err, errlen, "cannot load the TLS %s from '%s': %s", what, file, why);
    ld_tls_ctx_free(c);
    return NULL;
  }
  /* Members also present the CA's name when asked for a certificate. */
  STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
  if (names) SSL_CTX_set_client_CA_list(x, names);
  ERR_clear_error();
  return c;
}

void ld_tls_ctx_free(ld_tls_ctx *c) {
  if (c == NULL) return;
  SSL_CTX_free(c->ssl_ctx);
  free(c);
}

ld_tls *ld_tls_new(ld_tls_ctx *ctx, int acceptor) {
  ld_tls *t = calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  t->ssl = SSL_new(ctx->ssl_ctx);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    SSL_free(t->ssl);
    free(t);
    ERR_clear_error();
    return NULL;
  }
  SSL_set_bio(t->ssl, t->rbio, t->wbio); /* SSL owns them now */
  if (acceptor)
    SSL_set_accept_state(t->ssl);
  else
    SSL_set_connect_state(t->ssl);
  return t;
}

void ld_tls_free(ld_tls *t) {
  if (t == NULL) return;
  SSL_free(t->ssl);
  free(t);
}

/* Records why an SSL call returning RC failed; returns -1, or 0 when it
 * only needs more input (or has output to send). */
static int failed(ld_tls *t, int rc, const char *what) {
  int e = SSL_get_error(t->ssl, rc);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  char why[200];
  if (e == SSL_ERROR_ZERO_RETURN) {
    snprintf(t->error, sizeof t->error, "TLS connection closed by peer");
    return -1;
  }
  long v = SSL_get_verify_result(t->ssl);
  if (v != X509_V_OK && !SSL_is_init_finished(t->ssl)) {
    snprintf(t->error, sizeof t->error,
             "TLS %s failed: the peer's certificate is not accepted: %s (is it signed by the "
             "cluster's --tls-ca-file?)",
             what, X509_verify_cert_error_string(v));
    ERR_clear_error();
    return -1;
  }
  openssl_reason(why, sizeof why);
  snprintf(t->error, sizeof t->error, "TLS %s failed: %s", what, why);
  return -1;
}

int ld_tls_handshake(ld_tls *t) {
  if (SSL_is_init_finished(t->ssl)) return 1;
  int rc = SSL_do_handshake(t->ssl);
  if (rc == 1) return 1;
  return failed(t, rc, "handshake");
}

int ld_tls_feed(ld_tls *t, const void *data, size_t len) {
  while (len > 0) {
    int n = BIO_write(t->rbio, data, len > 1u << 30 ? 1 << 30 : (int)len);
    if (n <= 0) {
      snprintf(t->error, sizeof t->error, "out of memory buffering TLS input");
      return -1;
    }
    data = (const char *)data + n;
    len -= (size_t)n;
  }
  return 0;
}

ssize_t ld_tls_read(ld_tls *t, void *buf, size_t cap) {
  size_t got = 0;
  int rc = SSL_read_ex(t->ssl, buf, cap, &got);
  if (rc == 1) return (ssize_t)got;
  return failed(t, 0, "read") < 0 ? -1 : 0;
}

int ld_tls_write(ld_tls *t, const void *data, size_t len) {
  while (len > 0) {
    size_t done = 0;
    if (SSL_write_ex(t->ssl, data, len, &done) != 1) {
      failed(t, 0, "write");
      if (t->error[0] == '\0') snprintf(t->error, sizeof t->error, "TLS write failed");
      return -1;
    }
    data = (const char *)data + done;
    len -= done;
  }
  return 0;
}

size_t ld_tls_pending(const ld_tls *t) { return BIO_ctrl_pending(t->wbio); }

size_t ld_tls_take(ld_tls *t, void *buf, size_t cap) {
  size_t got = 0;
  if (cap == 0 || BIO_read_ex(t->wbio, buf, cap, &got) != 1) return 0;
  return got;
}

const char *ld_tls_error(const ld_tls *t) { return t->error; }

/* A write of a copy of some bytes. */
typedef struct tls_req {
  uv_write_t req;
  ld_tls_sent_cb sent;
  void *conn;
  int last;
  char data[];
} tls_req;

static void req_done(uv_write_t *req, int status) {
  tls_req *w = req->data;
  ld_tls_sent_cb sent = w->sent;
  void *conn = w->conn;
  int last = w->last;
  free(w);
  sent(conn, last, status);
}

/* Writes a request W (owned) of LEN bytes to STREAM. Returns 0 or a
 * libuv error (W freed). */
static int start_req(uv_stream_t *stream, tls_req *w, size_t len) {
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data, (unsigned)len);
  int rc = uv_write(&w->req, stream, &buf, 1, req_done);
  if (rc < 0) free(w);
  return rc;
}

static tls_req *new_req(size_t len, int last, ld_tls_sent_cb sent, void *conn) {
  tls_req *w = malloc(sizeof *w + len);
  if (w) w->sent = sent, w->conn = conn, w->last = last;
  return w;
}

int ld_tls_flush(ld_tls *t, uv_stream_t *stream, int last, ld_tls_sent_cb sent, void *conn) {
  size_t n = ld_tls_pending(t);
  if (n == 0) return 0;
  tls_req *w = new_req(n, last, sent, conn);
  if (w == NULL) return UV_ENOMEM;
  int rc = start_req(stream, w, ld_tls_take(t, w->data, n));
  return rc < 0 ? rc : 1;
}

int ld_tls_write_plain(uv_stream_t *stream, const void *data, size_t len, ld_tls_sent_cb sent,
                       void *conn) {
  tls_req *w = new_req(len, 2, sent, conn);
  if (w == NULL) return UV_ENOMEM;
  memcpy(w->data, data, len);
  return start_req(stream, w, len);
}
