/* http_impl.h — what the dashboard server's files share (private to
 * runtime/scheduler/http*.c): the bounds of a request, a connection's and
 * the server's state, and the calls that answer a request. http.c runs
 * the connections and routes; http_auth.c checks the token and logs a
 * browser in; http_static.c serves the pages and static files. */
#ifndef LDASK_SCHEDULER_HTTP_IMPL_H
#define LDASK_SCHEDULER_HTTP_IMPL_H

#include <http_parser.h>
#include <limits.h>

#include "http.h"
#include "net/auth.h"

/* Bounds of a request and of the server. */
#define H_URL_MAX 2048          /* longer: 414 */
#define H_HEADERS_MAX 8192      /* header bytes (names and values): more is 431 */
#define H_BODY_MAX 1024         /* request body (the login form): more is 413 */
#define H_CONNS_MAX 64          /* open connections: more are answered 503 and closed */
#define H_STREAMS_MAX 4         /* concurrent /api/v1/events streams */
#define H_REQUEST_MS 10000      /* a request must arrive whole within this of the last answer */
#define H_WQUEUE_MAX (8u << 20) /* bytes waiting to be written: more closes the connection */
#define H_FILE_MAX (8 << 20)    /* static files */
#define H_COOKIE "ldask_dashboard"

typedef struct hconn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  http_parser parser;
  struct sc_http *srv;
  char url[H_URL_MAX + 1];
  size_t urllen;
  size_t header_bytes;
  char field[32]; /* the current header's name (lower case, cut) */
  size_t fieldlen;
  int in_value; /* the last callback was a header value */
  int which;    /* the header being read: 0 other, 1 cookie, 2 authorization, 3 host */
  char cookie[1024], authz[512], host[256];
  size_t cookielen, authzlen, hostlen;
  char body[H_BODY_MAX + 1];
  size_t bodylen;
  int error;  /* the status to answer with after a parse callback failed */
  int stream; /* an /api/v1/events stream */
  int ended;  /* the last answer closes the connection: nothing more is read */
  uint64_t stream_seq;
  int closing;
  int nhandles; /* handles still open (tcp, timer) */
  struct hconn *next;
} hconn;

struct sc_http {
  sc_state *st;
  uv_tcp_t listener;
  uv_timer_t tick; /* the streams' update, once a second */
  const ld_sec *sec;
  char static_dir[PATH_MAX];
  int have_static;
  char looked[1024]; /* where the folder was looked for (when missing) */
  int loopback;
  int port;
  hconn *conns;
  int nconns, nstreams;
  int closing, nhandles;
};

/* Answers STATUS with BODY (N bytes) of content type TYPE and the extra
 * header lines EXTRA ("Name: value\r\n"..., may be NULL); HEAD requests get
 * the headers only. The connection stays open when the client keeps it
 * alive and CLOSE is 0. (http.c) */
void h_respond(hconn *c, int status, const char *type, const char *body, size_t n,
               const char *extra, int close);
void h_respond_text(hconn *c, int status, const char *text);
void h_respond_json_error(hconn *c, int status, const char *msg);

/* http_auth.c */
/* Decodes the N bytes at S (%XX; '+' as space when FORM) into OUT (room
 * for N + 1). Returns the decoded length, or -1 for a bad escape. */
long h_url_decode(const char *s, size_t n, char *out, int form);
/* Parameter NAME of the query string Q (name=value&...): its raw value
 * and length, or NULL. */
const char *h_query_param(const char *q, const char *name, size_t *len);
/* Whether the request carries the token (cookie or bearer header). */
int h_authorized(hconn *c);
/* The login page (STATUS), coming back to NEXT, saying MSG (may be NULL). */
void h_respond_login(hconn *c, int status, const char *next, const char *msg);
/* NEXT if it is a local path, else "/status". */
const char *h_safe_next(const char *next);
/* ?token=TOK (TOKLEN raw bytes) on PATH with query QUERY. */
void h_token_in_query(hconn *c, const char *path, const char *query, const char *tok,
                      size_t toklen);
/* POST /login. */
void h_login_post(hconn *c);

/* http_static.c */
/* Whether REL (LEN decoded bytes) is a safe path inside the folder. */
int h_safe_rel(const char *rel, size_t len);
/* Answers with the file REL of the dashboard folder (404 when absent, 500
 * naming where the folder was looked for when it is missing). */
void h_serve_file(hconn *c, const char *rel);

#endif
