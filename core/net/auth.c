/* auth.c — security settings (token file, TLS files, the loopback rule)
 * and the token handshake of a connection (see auth.h). The crypto is
 * OpenSSL's: HMAC-SHA256, RAND_bytes, CRYPTO_memcmp. Messages of the
 * handshake (docs/protocol.md):
 *   hello {..., auth = "hmac-sha256", nonce = 32 random bytes}  both sides
 *   auth  {proof = HMAC(token, "ldask-auth-1" 0 LABEL 0 N_verifier N_prover)}
 * LABEL is "connect" for the connecting side's proof and "accept" for the
 * accepting side's, so a proof can never be replayed in the other
 * direction; each side's nonce makes every proof fresh. The connecting
 * side proves first; the accepting side answers with its own proof only
 * after checking it. */
#include "net/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/mp.h"
#include "net/tls.h"

#define NONCE_LEN 32
#define PROOF_LEN 32
#define TOKEN_MIN 16
#define TOKEN_MAX 4096
#define SCHEME "hmac-sha256"

struct ld_sec {
  unsigned char *token; /* owned; NULL when none */
  size_t token_len;
  ld_tls_ctx *tls; /* owned; NULL when none */
};

struct ld_auth {
  const ld_sec *sec;
  int acceptor;
  int state; /* 0 before the peer's hello, 1 waiting for its proof, 2 done */
  unsigned char nonce[NONCE_LEN], peer_nonce[NONCE_LEN];
  char role[16];
};

static ld_sec *g_default_sec;

void ld_net_set_default_sec(ld_sec *s) { g_default_sec = s; }
ld_sec *ld_net_default_sec(void) { return g_default_sec; }
int ld_sec_has_token(const ld_sec *s) { return s != NULL && s->token != NULL; }

int ld_sec_token_equal(const ld_sec *s, const char *given, size_t len) {
  if (!ld_sec_has_token(s)) return 0;
  /* Hashes of both (fixed length) are compared, so neither the length nor
   * the first differing byte of the token shows in the time taken. */
  unsigned char a[32], b[32];
  unsigned int alen = 0, blen = 0;
  static const unsigned char label[] = "ldask-dashboard-compare";
  if (HMAC(EVP_sha256(), label, (int)sizeof label, s->token, s->token_len, a, &alen) == NULL ||
      HMAC(EVP_sha256(), label, (int)sizeof label, (const unsigned char *)given, len, b, &blen) ==
          NULL)
    return 0;
  return alen == 32 && blen == 32 && CRYPTO_memcmp(a, b, 32) == 0;
}

int ld_sec_token_cookie(const ld_sec *s, char out[65]) {
  if (!ld_sec_has_token(s)) return -1;
  unsigned char h[32];
  unsigned int hlen = 0;
  static const unsigned char label[] = "ldask-dashboard-cookie-1";
  if (HMAC(EVP_sha256(), s->token, (int)s->token_len, label, sizeof label, h, &hlen) == NULL ||
      hlen != 32)
    return -1;
  for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", h[i]);
  return 0;
}
struct ld_tls_ctx *ld_sec_tls(const ld_sec *s) {
  return s ? s->tls : NULL;
}

const char *const ld_sec_usage =
    "  --auth-token-file FILE   the cluster's shared secret (at least 16 bytes, a file\n"
    "                           only its owner can read; also LDASK_AUTH_TOKEN_FILE):\n"
    "                           every connection must prove it knows it\n"
    "  --tls-ca-file FILE       TLS: the CA certificate that signs every member (PEM)\n"
    "  --tls-cert FILE          TLS: this process's certificate (PEM)\n"
    "  --tls-key FILE           TLS: its private key (PEM; default: in --tls-cert)\n"
    "  --insecure               allow listening on a non-loopback address without a\n"
    "                           token or TLS (anyone who reaches the port may run code)\n";

static void set_from_env(const char **field, const char *var) {
  const char *v = getenv(var);
  if (*field == NULL && v != NULL && v[0] != '\0') *field = v;
}

void ld_sec_opts_env(ld_sec_opts *o) {
  set_from_env(&o->token_file, "LDASK_AUTH_TOKEN_FILE");
  set_from_env(&o->tls_ca_file, "LDASK_TLS_CA_FILE");
  set_from_env(&o->tls_cert, "LDASK_TLS_CERT");
  set_from_env(&o->tls_key, "LDASK_TLS_KEY");
}

int ld_sec_take_arg(ld_sec_opts *o, int argc, char **argv, int *i, char *err, size_t errlen) {
  static const char *names[] = {"--auth-token-file", "--tls-ca-file", "--tls-cert", "--tls-key"};
  const char **fields[] = {&o->token_file, &o->tls_ca_file, &o->tls_cert, &o->tls_key};
  const char *a = argv[*i];
  if (strcmp(a, "--insecure") == 0) {
    o->insecure = 1;
    return 1;
  }
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    if (strcmp(a, names[k]) != 0) continue;
    if (*i + 1 >= argc || argv[*i + 1][0] == '\0') {
      snprintf(err, errlen, "%s needs a file name", a);
      return -1;
    }
    *fields[k] = argv[++*i];
    return 1;
  }
  return 0;
}

/* Reads the token file PATH into S. Returns 0 or -1 with ERR set. */
static int read_token(ld_sec *s, const char *path, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "cannot read the auth token file '%s': %s", path, strerror(errno));
    return -1;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    snprintf(err, errlen, "the auth token file '%s' is not a regular file", path);
    close(fd);
    return -1;
  }
  if (sb.st_mode & 077) {
    snprintf(err, errlen,
             "the auth token file '%s' can be read or written by other users (mode %04o): "
             "run chmod 600 '%s'",
             path, (unsigned)(sb.st_mode & 07777), path);
    close(fd);
    return -1;
  }
  unsigned char buf[TOKEN_MAX + 1];
  size_t n = 0;
  for (;;) {
    ssize_t k = read(fd, buf + n, sizeof buf - n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    n += (size_t)k;
    if (n == sizeof buf) break;
  }
  close(fd);
  /* Trailing white space (the newline of `echo`) is not part of it. */
  while (n > 0 &&
         (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
    n--;
  if (n > TOKEN_MAX) {
    snprintf(err, errlen, "the auth token file '%s' is longer than %d bytes", path, TOKEN_MAX);
    return -1;
  }
  if (n < TOKEN_MIN) {
    snprintf(err, errlen,
             "the auth token in '%s' is %s (%zu bytes; at least %d needed: make one with "
             "`openssl rand -hex 32 > FILE`)",
             path, n == 0 ? "empty" : "too short", n, TOKEN_MIN);
    OPENSSL_cleanse(buf, sizeof buf);
    return -1;
  }
  s->token = malloc(n);
  if (s->token == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  memcpy(s->token, buf, n);
  s->token_len = n;
  OPENSSL_cleanse(buf, sizeof buf);
  return 0;
}

ld_sec *ld_sec_new(const ld_sec_opts *o, char *err, size_t errlen) {
  ld_sec *s = calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (o->token_file && read_token(s, o->token_file, err, errlen) != 0) {
    ld_sec_free(s);
    return NULL;
  }
  int ntls = !!o->tls_ca_file + !!o->tls_cert;
  if (ntls == 1 || (o->tls_key && ntls == 0)) {
    snprintf(err, errlen,
             "TLS needs both --tls-ca-file (the cluster's CA) and --tls-cert (this process's "
             "certificate), and --tls-key unless the key is in the certificate file");
    ld_sec_free(s);
    return NULL;
  }
  if (ntls == 2) {
    s->tls = ld_tls_ctx_new(o->tls_ca_file, o->tls_cert, o->tls_key, err, errlen);
    if (s->tls == NULL) {
      ld_sec_free(s);
      return NULL;
    }
  }
  return s;
}

void ld_sec_free(ld_sec *s) {
  if (s == NULL) return;
  if (s->token) {
    OPENSSL_cleanse(s->token, s->token_len);
    free(s->token);
  }
  ld_tls_ctx_free(s->tls);
  if (g_default_sec == s) g_default_sec = NULL;
  free(s);
}

/* Whether HOST (an IPv4 address or "localhost") is a loopback address. */
static int is_loopback(const char *host) {
  return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0;
}

int ld_sec_check_bind(const ld_sec *s, const ld_sec_opts *o, const char *host, const char *prog,
                      char *err, size_t errlen) {
  if (is_loopback(host) || ld_sec_has_token(s) || ld_sec_tls(s)) return 0;
  if (o && o->insecure) {
    fprintf(stderr,
            "%s: WARNING: listening on %s without a token or TLS (--insecure): anyone who can "
            "reach this port can run code on the cluster and read its data\n",
            prog, host);
    return 0;
  }
  snprintf(err, errlen,
           "refusing to listen on %s without authentication: anyone who can reach it could "
           "run code on the cluster. Give the cluster a token (--auth-token-file FILE) or TLS "
           "(--tls-ca-file, --tls-cert, --tls-key), bind 127.0.0.1, or pass --insecure to "
           "allow it anyway",
           host);
  return -1;
}

int ld_auth_random_hex(char *out, size_t nbytes) {
  unsigned char b[256];
  if (nbytes > sizeof b || RAND_bytes(b, (int)nbytes) != 1) return -1;
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < nbytes; i++) {
    out[2 * i] = hex[b[i] >> 4];
    out[2 * i + 1] = hex[b[i] & 15];
  }
  out[2 * nbytes] = '\0';
  OPENSSL_cleanse(b, sizeof b);
  return 0;
}

ld_auth *ld_auth_new(const ld_sec *s, int acceptor, const char *role) {
  ld_auth *a = calloc(1, sizeof *a);
  if (a == NULL) return NULL;
  a->sec = s;
  a->acceptor = acceptor;
  snprintf(a->role, sizeof a->role, "%s", role);
  if (ld_sec_has_token(s) && RAND_bytes(a->nonce, NONCE_LEN) != 1) {
    free(a);
    return NULL;
  }
  return a;
}

void ld_auth_free(ld_auth *a) { free(a); }

static int has_token(const ld_auth *a) { return a && ld_sec_has_token(a->sec); }

int ld_auth_pack_hello(const ld_auth *a, msgpack_packer *pk) {
  ld_mp_pack_cstr(pk, "auth");
  ld_mp_pack_cstr(pk, SCHEME);
  ld_mp_pack_cstr(pk, "nonce");
  msgpack_pack_bin(pk, NONCE_LEN);
  msgpack_pack_bin_body(pk, a->nonce, NONCE_LEN);
  return LD_AUTH_HELLO_FIELDS;
}

/* PROOF = HMAC-SHA256(token, "ldask-auth-1" 0 LABEL 0 VERIFIER PROVER). */
static int compute_proof(const ld_auth *a, const char *label, const unsigned char *verifier,
                         const unsigned char *prover, unsigned char *proof) {
  unsigned char msg[64 + 2 * NONCE_LEN];
  size_t n = 0;
  static const char ctx[] = "ldask-auth-1";
  memcpy(msg, ctx, sizeof ctx), n += sizeof ctx; /* with its NUL */
  size_t ll = strlen(label) + 1;
  memcpy(msg + n, label, ll), n += ll;
  memcpy(msg + n, verifier, NONCE_LEN), n += NONCE_LEN;
  memcpy(msg + n, prover, NONCE_LEN), n += NONCE_LEN;
  unsigned int plen = 0;
  if (HMAC(EVP_sha256(), a->sec->token, (int)a->sec->token_len, msg, n, proof, &plen) == NULL ||
      plen != PROOF_LEN)
    return -1;
  return 0;
}

/* Packs {op = "auth", proof = this side's proof} into REPLY. */
static int pack_proof(const ld_auth *a, msgpack_sbuffer *reply) {
  unsigned char proof[PROOF_LEN];
  if (compute_proof(a, a->acceptor ? "accept" : "connect", a->peer_nonce, a->nonce, proof) != 0)
    return -1;
  msgpack_packer pk;
  msgpack_packer_init(&pk, reply, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 2);
  ld_mp_pack_cstr(&pk, "op");
  ld_mp_pack_cstr(&pk, "auth");
  ld_mp_pack_cstr(&pk, "proof");
  msgpack_pack_bin(&pk, PROOF_LEN);
  msgpack_pack_bin_body(&pk, proof, PROOF_LEN);
  return 0;
}

static const char *const HOW =
    "give the cluster's token with --auth-token-file FILE, LDASK_AUTH_TOKEN_FILE or "
    "Client(address, {auth_token_file = FILE})";

int ld_auth_on_hello(ld_auth *a, const char *role, const msgpack_object *hello, const char *peer,
                     msgpack_sbuffer *reply, char *err, size_t errlen) {
  const char *scheme = NULL;
  size_t slen = 0;
  int wants = ld_mp_get_str(hello, "auth", &scheme, &slen) && slen > 0;
  if (!has_token(a)) {
    if (!wants) return LD_AUTH_DONE;
    snprintf(err, errlen,
             "authentication required: %s requires the cluster's token and this %s has none: %s",
             peer, role, HOW);
    return LD_AUTH_REFUSE;
  }
  if (!wants) {
    if (a->acceptor)
      snprintf(err, errlen,
               "authentication required: this %s requires the cluster's token and %s sent none: %s",
               role, peer, HOW);
    else
      snprintf(err, errlen,
               "%s does not authenticate (it has no token) but this %s has one: refusing to talk "
               "to it (it may not be your cluster; start it with --auth-token-file)",
               peer, role);
    return LD_AUTH_REFUSE;
  }
  const msgpack_object *nonce = ld_mp_get(hello, "nonce");
  if (!(slen == sizeof SCHEME - 1 && memcmp(scheme, SCHEME, slen) == 0) || nonce == NULL ||
      nonce->type != MSGPACK_OBJECT_BIN || nonce->via.bin.size != NONCE_LEN) {
    snprintf(err, errlen,
             "%s asked for authentication '%.*s' with a %s nonce; this %s speaks " SCHEME
             " with %d-byte nonces",
             peer, (int)(slen > 40 ? 40 : slen), scheme,
             nonce && nonce->type == MSGPACK_OBJECT_BIN ? "wrong-sized" : "missing", role,
             NONCE_LEN);
    return LD_AUTH_REFUSE;
  }
  memcpy(a->peer_nonce, nonce->via.bin.ptr, NONCE_LEN);
  if (CRYPTO_memcmp(a->peer_nonce, a->nonce, NONCE_LEN) == 0) {
    snprintf(err, errlen, "%s sent back this %s's own nonce", peer, role);
    return LD_AUTH_REFUSE;
  }
  a->state = 1;
  if (!a->acceptor && pack_proof(a, reply) != 0) {
    snprintf(err, errlen, "cannot compute the authentication proof (OpenSSL HMAC failed)");
    return LD_AUTH_REFUSE;
  }
  return LD_AUTH_WAIT;
}

int ld_auth_on_msg(ld_auth *a, const msgpack_object *hdr, const char *peer, msgpack_sbuffer *reply,
                   char *err, size_t errlen) {
  const char *op = "";
  size_t oplen = 0;
  ld_mp_get_str(hdr, "op", &op, &oplen);
  if (oplen == 5 && memcmp(op, "error", 5) == 0) {
    const char *em = "";
    size_t emlen = 0;
    ld_mp_get_str(hdr, "message", &em, &emlen);
    snprintf(err, errlen, "refused by %s: %.*s", peer, (int)emlen, em);
    return LD_AUTH_PEER_REFUSED;
  }
  if (!(oplen == 4 && memcmp(op, "auth", 4) == 0) || a->state != 1) {
    snprintf(err, errlen,
             "authentication required: %s sent op '%.*s' before proving it knows the cluster's "
             "token",
             peer, (int)(oplen > 40 ? 40 : oplen), op);
    return LD_AUTH_REFUSE;
  }
  const msgpack_object *p = ld_mp_get(hdr, "proof");
  unsigned char want[PROOF_LEN];
  if (compute_proof(a, a->acceptor ? "connect" : "accept", a->nonce, a->peer_nonce, want) != 0) {
    snprintf(err, errlen, "cannot compute the authentication proof (OpenSSL HMAC failed)");
    return LD_AUTH_REFUSE;
  }
  int ok = p != NULL && p->type == MSGPACK_OBJECT_BIN && p->via.bin.size == PROOF_LEN &&
           CRYPTO_memcmp(p->via.bin.ptr, want, PROOF_LEN) == 0;
  OPENSSL_cleanse(want, sizeof want);
  if (!ok) {
    if (a->acceptor)
      snprintf(err, errlen,
               "authentication failed: %s does not know this %s's token (a wrong "
               "--auth-token-file?)",
               peer, a->role);
    else
      snprintf(err, errlen,
               "authentication failed: %s does not know this %s's token: refusing to talk to "
               "it (a wrong --auth-token-file, or not your cluster)",
               peer, a->role);
    return LD_AUTH_REFUSE;
  }
  a->state = 2;
  if (a->acceptor && pack_proof(a, reply) != 0) {
    snprintf(err, errlen, "cannot compute the authentication proof (OpenSSL HMAC failed)");
    return LD_AUTH_REFUSE;
  }
  return LD_AUTH_DONE;
}
