/* tls.h — TLS on ldask connections through OpenSSL with memory BIOs: the
 * connection (conn.c) hands received ciphertext to ld_tls_feed, takes
 * plaintext out with ld_tls_read, encrypts with ld_tls_write and has
 * ld_tls_flush write the ciphertext to its libuv stream. OpenSSL never
 * touches the socket. Mutual authentication: both sides present a
 * certificate signed by the cluster's CA (--tls-ca-file) and check the
 * other's; TLS 1.2 at least. See docs/security.md. */
#ifndef LDASK_NET_TLS_H
#define LDASK_NET_TLS_H

#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

typedef struct ld_tls_ctx ld_tls_ctx;
typedef struct ld_tls ld_tls;

/* Loads the CA, certificate and key files (PEM; KEY may be NULL when the
 * key is in CERT). Returns the context (caller owns it: ld_tls_ctx_free),
 * or NULL with a message in ERR naming the file and OpenSSL's reason. */
ld_tls_ctx *ld_tls_ctx_new(const char *ca, const char *cert, const char *key, char *err,
                           size_t errlen);
void ld_tls_ctx_free(ld_tls_ctx *ctx);

/* The TLS state of one connection (ACCEPTOR: the server side). Caller
 * owns it (ld_tls_free). NULL when out of memory. */
ld_tls *ld_tls_new(ld_tls_ctx *ctx, int acceptor);
void ld_tls_free(ld_tls *t);

/* Advances the handshake (call once at the start and after each feed
 * until established). Returns 1 when established, 0 while it goes on,
 * -1 when it failed (ld_tls_error says why). */
int ld_tls_handshake(ld_tls *t);

/* Takes LEN received bytes of ciphertext (copied). Returns 0 or -1. */
int ld_tls_feed(ld_tls *t, const void *data, size_t len);

/* Decrypts into BUF (CAP bytes). Returns the bytes given, 0 when no more
 * are available until more ciphertext arrives, -1 on error (the peer's
 * close_notify counts as an error: "closed by peer"). */
ssize_t ld_tls_read(ld_tls *t, void *buf, size_t cap);

/* Encrypts LEN bytes at DATA (after the handshake). Returns 0 or -1. */
int ld_tls_write(ld_tls *t, const void *data, size_t len);

/* Ciphertext waiting to be sent, and taking it: copies up to CAP bytes
 * into BUF and returns how many. */
size_t ld_tls_pending(const ld_tls *t);
size_t ld_tls_take(ld_tls *t, void *buf, size_t cap);

/* Called when a write started by ld_tls_flush or ld_tls_write_plain
 * finished (STATUS 0 or a libuv error, UV_ECANCELED when the stream was
 * closed first), with the CONN and LAST given to it. */
typedef void (*ld_tls_sent_cb)(void *conn, int last, int status);

/* Sends all the ciphertext waiting in T on STREAM in one write (a copy:
 * T keeps nothing). Returns 1 when a write started (SENT follows), 0 when
 * there was nothing to send (no callback), or a libuv error. */
int ld_tls_flush(ld_tls *t, uv_stream_t *stream, int last, ld_tls_sent_cb sent, void *conn);

/* Writes LEN bytes at DATA (copied) to STREAM unencrypted: for telling a
 * plain peer that this side speaks TLS. Returns 0 (SENT follows, with
 * LAST = 2) or a libuv error. */
int ld_tls_write_plain(uv_stream_t *stream, const void *data, size_t len, ld_tls_sent_cb sent,
                       void *conn);

/* Why the last call failed (static storage in T). */
const char *ld_tls_error(const ld_tls *t);

#endif
