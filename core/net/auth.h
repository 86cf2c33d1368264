/* auth.h — who may talk to an ldask process: the security settings of a
 * process or a client (a shared token and/or TLS, ld_sec), and the token
 * handshake every connection runs right after the hellos when a token is
 * set (ld_auth): both sides prove they know the token without sending it,
 * by an HMAC-SHA256 (OpenSSL's libcrypto) over both sides' fresh nonces;
 * the accepting side proves itself only after the connecting side did.
 * See docs/security.md (trust model) and docs/protocol.md ("Handshake"). */
#ifndef LDASK_NET_AUTH_H
#define LDASK_NET_AUTH_H

#include <msgpack.h>
#include <stddef.h>

/* Where the settings come from (command line, environment, client
 * options). Strings are borrowed for the duration of ld_sec_new. */
typedef struct ld_sec_opts {
  const char *token_file;  /* --auth-token-file / LDASK_AUTH_TOKEN_FILE */
  const char *tls_ca_file; /* --tls-ca-file: the CA that signs every member */
  const char *tls_cert;    /* --tls-cert: this process's certificate (PEM) */
  const char *tls_key;     /* --tls-key: its private key (PEM; may be in tls_cert) */
  int insecure;            /* --insecure: allow a non-loopback bind without either */
} ld_sec_opts;

typedef struct ld_sec ld_sec;

/* Fills the unset fields of O from the environment (LDASK_AUTH_TOKEN_FILE,
 * LDASK_TLS_CA_FILE, LDASK_TLS_CERT, LDASK_TLS_KEY). */
void ld_sec_opts_env(ld_sec_opts *o);

/* Takes the security option at ARGV[*I] (--auth-token-file FILE,
 * --tls-ca-file FILE, --tls-cert FILE, --tls-key FILE, --insecure) into O,
 * advancing *I past its value. Returns 1 when taken, 0 when ARGV[*I] is no
 * such option, -1 when its value is missing (message in ERR). */
int ld_sec_take_arg(ld_sec_opts *o, int argc, char **argv, int *i, char *err, size_t errlen);

/* The usage lines of those options, for --help. */
extern const char *const ld_sec_usage;

/* Reads the token file and loads the TLS files named in O. Returns the
 * settings (caller owns them: ld_sec_free; they must outlive every
 * connection using them), or NULL with a message in ERR naming the file
 * and what is wrong (missing, empty, shorter than 16 bytes, readable by
 * other users, a bad certificate, ...). With nothing set in O the result
 * has neither a token nor TLS (plain, unauthenticated connections). */
ld_sec *ld_sec_new(const ld_sec_opts *o, char *err, size_t errlen);
void ld_sec_free(ld_sec *s);
int ld_sec_has_token(const ld_sec *s);
/* Whether GIVEN (LEN bytes, e.g. from a browser) is the token of S, in
 * time independent of where they differ (both are hashed, then compared
 * with CRYPTO_memcmp). 0 when S has no token. */
int ld_sec_token_equal(const ld_sec *s, const char *given, size_t len);

/* A value derived from the token of S (HMAC-SHA256 of a fixed label, as
 * 64 hex digits and a NUL in OUT): what a browser keeps in a cookie
 * instead of the token itself. Returns 0, or -1 when S has no token. */
int ld_sec_token_cookie(const ld_sec *s, char out[65]);

/* The TLS context (struct ld_tls_ctx, net/tls.h), or NULL. Borrowed. */
struct ld_tls_ctx *ld_sec_tls(const ld_sec *s);

/* Checks that a server may listen on HOST with S (NULL: no settings):
 * a loopback address always may; any other needs a token or TLS, unless
 * O->insecure, which allows it with a warning written to stderr (PROG
 * names the program). Returns 0, or -1 with the reason in ERR. */
int ld_sec_check_bind(const ld_sec *s, const ld_sec_opts *o, const char *host, const char *prog,
                      char *err, size_t errlen);

/* The settings connections and servers use when not given their own:
 * those of ldask-scheduler and ldask-worker (S is kept, not copied). */
void ld_net_set_default_sec(ld_sec *s);
ld_sec *ld_net_default_sec(void);

/* Writes 2 * NBYTES hex digits of fresh randomness (RAND_bytes) and a NUL
 * into OUT (room for 2 * NBYTES + 1). Returns 0, or -1 when the system's
 * random source fails. For a local cluster's token. */
int ld_auth_random_hex(char *out, size_t nbytes);

/* ---- the per-connection handshake (used by conn.c) ---- */

typedef struct ld_auth ld_auth;

/* What a handshake step asks of the connection. */
enum {
  LD_AUTH_WAIT = 0,          /* consumed; send REPLY if not empty; wait for more */
  LD_AUTH_DONE = 1,          /* the peer is authenticated; send REPLY if not empty */
  LD_AUTH_REFUSE = -1,       /* refuse: send an error with ERR, then close */
  LD_AUTH_PEER_REFUSED = -2, /* the peer refused us: close with ERR */
};

/* A handshake for one connection with the token of S (NULL when S has no
 * token: no handshake). ACCEPTOR: this side accepted the connection. ROLE
 * names this side in messages ("scheduler", "worker", "client", ...).
 * Caller owns the result (ld_auth_free). */
ld_auth *ld_auth_new(const ld_sec *s, int acceptor, const char *role);
void ld_auth_free(ld_auth *a);

/* Extra fields of this side's hello (A was made with a token): "auth"
 * and "nonce", 2 map entries packed into PK. Returns how many (2). */
int ld_auth_pack_hello(const ld_auth *a, msgpack_packer *pk);
#define LD_AUTH_HELLO_FIELDS 2

/* The peer's hello HELLO arrived (already checked for version and role);
 * PEER names the peer ("client tcp://1.2.3.4:5"). A (NULL when this side
 * has no token) decides: returns LD_AUTH_WAIT (with maybe a REPLY to
 * send), LD_AUTH_DONE (no handshake: this side has no token and the peer
 * asked for none), or a refusal with ERR. REPLY is initialised by the
 * caller. */
int ld_auth_on_hello(ld_auth *a, const char *role, const msgpack_object *hello, const char *peer,
                     msgpack_sbuffer *reply, char *err, size_t errlen);

/* A message HDR arrived while the handshake is not done: the peer's
 * proof, or its refusal. Returns LD_AUTH_WAIT, LD_AUTH_DONE (with maybe a
 * REPLY: the acceptor's own proof) or a refusal with ERR. */
int ld_auth_on_msg(ld_auth *a, const msgpack_object *hdr, const char *peer, msgpack_sbuffer *reply,
                   char *err, size_t errlen);

#endif
