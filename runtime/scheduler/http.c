/* http.c — ldask-scheduler's dashboard server (http.h): the listener and
 * connections on the scheduler's loop, request parsing with
 * libhttp-parser, the bounds on every request, the token check (cookie,
 * ?token= once, login form, or a bearer header for scrapers), routing,
 * static files, and the Server-Sent Events streams of /api/v1/events.
 * Answers come from http_api.c. Nothing here blocks except reading the
 * small static files. */
#include "http.h"

#include <errno.h>
#include <http_parser.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_impl.h"

static http_parser_settings settings;

/* ---- connections ---- */

static void maybe_free_server(sc_http *h) {
  if (h->closing && h->nhandles == 0 && h->conns == NULL) free(h);
}

static void on_conn_handle_closed(uv_handle_t *hd) {
  hconn *c = hd->data;
  if (--c->nhandles > 0) return;
  sc_http *h = c->srv;
  for (hconn **pp = &h->conns; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  h->nconns--;
  if (c->stream) h->nstreams--;
  free(c);
  maybe_free_server(h);
}

static void conn_close(hconn *c) {
  if (c->closing) return;
  c->closing = 1;
  uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

typedef struct hwrite {
  uv_write_t req;
  hconn *c;
  int close_after;
  char data[];
} hwrite;

static void on_written(uv_write_t *req, int status) {
  hwrite *w = (hwrite *)req;
  if (status < 0 || w->close_after) conn_close(w->c);
  free(w);
}

/* Writes the N bytes at S (copied) to C; closes C after when CLOSE_AFTER,
 * or at once when too much waits to be written already. */
static void conn_write(hconn *c, const char *s, size_t n, int close_after) {
  if (c->closing) return;
  if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > H_WQUEUE_MAX) {
    conn_close(c); /* a client that does not read */
    return;
  }
  hwrite *w = malloc(sizeof *w + n);
  if (w == NULL) {
    conn_close(c);
    return;
  }
  memcpy(w->data, s, n);
  w->c = c;
  w->close_after = close_after;
  uv_buf_t buf = uv_buf_init(w->data, (unsigned)n);
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written) != 0) {
    free(w);
    conn_close(c);
  }
}

static const char *reason_of(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Internal Server Error";
  }
}

/* Answers STATUS with BODY (N bytes) of content type TYPE and the extra
 * header lines EXTRA ("Name: value\r\n"..., may be NULL); HEAD requests get
 * the headers only. The connection stays open when the client keeps it
 * alive and CLOSE is 0. */
void h_respond(hconn *c, int status, const char *type, const char *body, size_t n,
               const char *extra, int close) {
  hbuf b = {0};
  int keep = !close && !c->error && http_should_keep_alive(&c->parser);
  hb_printf(&b,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
            "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n%s%s\r\n",
            status, reason_of(status), type, n, extra ? extra : "",
            keep ? "" : "Connection: close\r\n");
  if (c->parser.method != HTTP_HEAD) hb_add(&b, body, n);
  conn_write(c, b.p, b.n, !keep);
  hb_free(&b);
  if (!keep) { /* pipelined requests after this one are not answered */
    c->ended = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (HTTP_PARSER_ERRNO(&c->parser) == HPE_OK) http_parser_pause(&c->parser, 1);
  }
}

void h_respond_text(hconn *c, int status, const char *text) {
  h_respond(c, status, "text/plain; charset=utf-8", text, strlen(text), NULL, 0);
}

void h_respond_json_error(hconn *c, int status, const char *msg) {
  hbuf b = {0};
  js j;
  js_init(&j, &b);
  js_obj(&j);
  js_kstr(&j, "error", msg);
  js_end_obj(&j);
  h_respond(c, status, "application/json", b.p, b.n, NULL, 0);
  hb_free(&b);
}

/* ---- request parsing ---- */

static int on_message_begin(http_parser *p) {
  hconn *c = p->data;
  c->urllen = c->header_bytes = c->fieldlen = c->bodylen = 0;
  c->cookielen = c->authzlen = c->hostlen = 0;
  c->in_value = c->which = 0;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
  hconn *c = p->data;
  if (c->urllen + n > H_URL_MAX) {
    c->error = 414;
    return 1;
  }
  memcpy(c->url + c->urllen, at, n);
  c->urllen += n;
  return 0;
}

static int count_header(hconn *c, size_t n) {
  c->header_bytes += n;
  if (c->header_bytes > H_HEADERS_MAX) {
    c->error = 431;
    return 1;
  }
  return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
  hconn *c = p->data;
  if (count_header(c, n)) return 1;
  if (c->in_value) c->fieldlen = 0, c->in_value = 0;
  for (size_t i = 0; i < n && c->fieldlen < sizeof c->field - 1; i++) {
    char ch = at[i];
    c->field[c->fieldlen++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
  }
  return 0;
}

/* Appends N bytes at AT to a header value buffer BUF (CAP) of length *LEN;
 * a value too long for it is cut (it is then wrong, which is safe). */
static void append(char *buf, size_t cap, size_t *len, const char *at, size_t n) {
  if (*len + n > cap - 1) n = cap - 1 > *len ? cap - 1 - *len : 0;
  memcpy(buf + *len, at, n);
  *len += n;
  buf[*len] = '\0';
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
  hconn *c = p->data;
  if (count_header(c, n)) return 1;
  if (!c->in_value) {
    c->in_value = 1;
    c->field[c->fieldlen] = '\0';
    c->which = strcmp(c->field, "cookie") == 0          ? 1
               : strcmp(c->field, "authorization") == 0 ? 2
               : strcmp(c->field, "host") == 0          ? 3
                                                        : 0;
    if (c->which == 1 && c->cookielen > 0)
      append(c->cookie, sizeof c->cookie, &c->cookielen, "; ", 2);
  }
  if (c->which == 1) append(c->cookie, sizeof c->cookie, &c->cookielen, at, n);
  if (c->which == 2) append(c->authz, sizeof c->authz, &c->authzlen, at, n);
  if (c->which == 3) append(c->host, sizeof c->host, &c->hostlen, at, n);
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
  hconn *c = p->data;
  if (c->bodylen + n > H_BODY_MAX) {
    c->error = 413;
    return 1;
  }
  memcpy(c->body + c->bodylen, at, n);
  c->bodylen += n;
  return 0;
}

static void handle(hconn *c);

static int on_message_complete(http_parser *p) {
  hconn *c = p->data;
  c->url[c->urllen] = '\0';
  c->body[c->bodylen] = '\0';
  handle(c);
  /* the next request of a kept-alive connection has its own deadline */
  if (!c->closing && !c->stream) uv_timer_again(&c->timer);
  return 0;
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf) {
  (void)hd, (void)suggested;
  static char space[16384]; /* one loop thread: read callbacks run one at a time */
  *buf = uv_buf_init(space, sizeof space);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  hconn *c = s->data;
  if (n < 0) {
    conn_close(c);
    return;
  }
  if (n == 0 || c->closing || c->stream) return; /* a stream's client has nothing more to say */
  if (c->ended) return;
  size_t done = http_parser_execute(&c->parser, &settings, buf->base, (size_t)n);
  if (c->closing || c->stream || c->ended) return;
  if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || done != (size_t)n) {
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    int status = c->error ? c->error : e == HPE_HEADER_OVERFLOW ? 431 : 400;
    c->error = status;
    char msg[160];
    snprintf(msg, sizeof msg, "%d %s: %s\n", status, reason_of(status),
             status == 431   ? "the request's headers are larger than 8 KiB"
             : status == 414 ? "the URL is longer than 2048 bytes"
             : status == 413 ? "the request's body is larger than 1 KiB"
                             : http_errno_description(e));
    h_respond(c, status, "text/plain; charset=utf-8", msg, strlen(msg), NULL, 1);
  }
}

static void on_deadline(uv_timer_t *t) {
  hconn *c = t->data;
  if (!c->stream) conn_close(c); /* idle, or a request that does not come whole */
}

static void on_connection(uv_stream_t *ls, int status) {
  sc_http *h = ls->data;
  if (status < 0 || h->closing) return;
  hconn *c = calloc(1, sizeof *c);
  if (c == NULL) return;
  c->srv = h;
  uv_tcp_init(ls->loop, &c->tcp);
  uv_timer_init(ls->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->nhandles = 2;
  c->next = h->conns;
  h->conns = c;
  h->nconns++;
  if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  if (h->nconns > H_CONNS_MAX) {
    static const char busy[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 38\r\n"
        "Connection: close\r\nRetry-After: 1\r\n\r\ntoo many dashboard connections, retry\n";
    conn_write(c, busy, sizeof busy - 1, 1);
    return;
  }
  uv_timer_start(&c->timer, on_deadline, H_REQUEST_MS, H_REQUEST_MS);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- Server-Sent Events ---- */

/* One update message to stream C: the status and the task stream events
 * since its last message (bounded). */
static void stream_update(hconn *c) {
  hbuf b = {0};
  hb_str(&b, "event: update\ndata: ");
  js j;
  js_init(&j, &b);
  js_obj(&j);
  js_key(&j, "status");
  sc_api_status_into(c->srv->st, &j);
  js_key(&j, "task_stream");
  c->stream_seq = sc_api_stream_into(c->srv->st, &j, c->stream_seq, SC_API_SSE_EVENTS, 1);
  js_end_obj(&j);
  hb_str(&b, "\n\n");
  conn_write(c, b.p, b.n, 0);
  hb_free(&b);
}

static void on_tick(uv_timer_t *t) {
  sc_http *h = t->data;
  for (hconn *c = h->conns; c; c = c->next)
    if (c->stream && !c->closing) stream_update(c);
}

static void start_stream(hconn *c) {
  sc_http *h = c->srv;
  if (h->nstreams >= H_STREAMS_MAX) {
    h_respond_text(c, 503, "503: too many event streams open (at most 4); poll /api/v1/status\n");
    return;
  }
  c->stream = 1;
  h->nstreams++;
  uv_timer_stop(&c->timer);
  static const char head[] =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
      "X-Content-Type-Options: nosniff\r\nConnection: keep-alive\r\n\r\nretry: 2000\n\n";
  conn_write(c, head, sizeof head - 1, 0);
  stream_update(c);
}

/* ---- routing ---- */

/* Whether HOST (the Host header) names this machine: on a loopback
 * dashboard a page of another site that resolves its name to 127.0.0.1
 * (DNS rebinding) must not read it. */
static int host_ok(const hconn *c) {
  if (!c->srv->loopback || c->hostlen == 0) return 1;
  const char *h = c->host;
  size_t n = c->hostlen;
  if (h[0] == '[') return strncmp(h, "[::1]", 5) == 0;
  const char *colon = memchr(h, ':', n);
  size_t hn = colon ? (size_t)(colon - h) : n;
  return (hn == 9 && strncmp(h, "localhost", 9) == 0) || (hn >= 4 && strncmp(h, "127.", 4) == 0);
}

static void handle(hconn *c) {
  sc_state *st = c->srv->st;
  int method = c->parser.method;
  char *q = strchr(c->url, '?');
  if (q) *q++ = '\0';
  const char *path = c->url;
  if (method != HTTP_GET && method != HTTP_HEAD &&
      !(method == HTTP_POST && strcmp(path, "/login") == 0)) {
    h_respond(c, 405, "text/plain; charset=utf-8", "405: GET only\n", 14, "Allow: GET, HEAD\r\n",
              0);
    return;
  }
  if (!host_ok(c)) {
    h_respond_text(c, 403, "403: this dashboard answers to localhost, 127.0.0.1 or [::1] only\n");
    return;
  }
  if (strcmp(path, "/health") == 0) {
    h_respond_text(c, 200, "ok");
    return;
  }
  if (ld_sec_has_token(c->srv->sec)) {
    size_t tl;
    const char *tok = q ? h_query_param(q, "token", &tl) : NULL;
    if (tok) {
      h_token_in_query(c, path, q, tok, tl);
      return;
    }
    if (strcmp(path, "/login") == 0) {
      if (method == HTTP_POST)
        h_login_post(c);
      else
        h_respond_login(c, 200, "/status", NULL);
      return;
    }
    if (!h_authorized(c)) {
      if (strncmp(path, "/api/", 5) == 0 || strcmp(path, "/metrics") == 0)
        h_respond_json_error(c, 401,
                             "this cluster has a token: open /login, add ?token=... once, or send "
                             "'Authorization: Bearer TOKEN'");
      else
        h_respond_login(c, 401, h_safe_next(path), NULL);
      return;
    }
  }
  hbuf b = {0};
  int status = -1;
  const char *type = "application/json";
  if (strcmp(path, "/") == 0) {
    h_respond(c, 302, "text/plain; charset=utf-8", "", 0, "Location: /status\r\n", 0);
    return;
  } else if (strcmp(path, "/status") == 0 || strcmp(path, "/workers") == 0 ||
             strcmp(path, "/graph") == 0) {
    char name[32];
    snprintf(name, sizeof name, "%s.html", path + 1);
    h_serve_file(c, name);
    return;
  } else if (strncmp(path, "/prefix/", 8) == 0) {
    h_serve_file(c, "prefix.html");
    return;
  } else if (strncmp(path, "/key/", 5) == 0) {
    h_serve_file(c, "key.html");
    return;
  } else if (strncmp(path, "/static/", 8) == 0) {
    char rel[H_URL_MAX + 1];
    long n = h_url_decode(path + 8, strlen(path + 8), rel, 0);
    if (n < 0 || !h_safe_rel(rel, (size_t)n)) {
      h_respond_text(c, 404, "404: not a file of the dashboard\n");
      return;
    }
    h_serve_file(c, rel);
    return;
  } else if (strcmp(path, "/metrics") == 0) {
    status = sc_api_metrics(st, &b);
    type = "text/plain; version=0.0.4; charset=utf-8";
  } else if (strcmp(path, "/api/v1/status") == 0) {
    status = sc_api_status(st, &b);
  } else if (strcmp(path, "/api/v1/workers") == 0) {
    status = sc_api_workers(st, &b);
  } else if (strcmp(path, "/api/v1/task_stream") == 0) {
    status = sc_api_task_stream(st, q, &b);
  } else if (strcmp(path, "/api/v1/graph") == 0) {
    status = sc_api_graph(st, &b);
  } else if (strncmp(path, "/api/v1/key/", 12) == 0) {
    char key[H_URL_MAX + 1];
    long n = h_url_decode(path + 12, strlen(path + 12), key, 0);
    if (n < 0) {
      h_respond_json_error(c, 400, "the key in the URL has a bad %-escape");
      return;
    }
    status = sc_api_key(st, key, (size_t)n, &b);
  } else if (strcmp(path, "/api/v1/events") == 0) {
    if (sc_api_parse_since(q, &c->stream_seq) != 0) {
      h_respond_json_error(c, 400, SC_API_SINCE_ERROR);
      return;
    }
    start_stream(c);
    return;
  } else if (strncmp(path, "/api/", 5) == 0) {
    h_respond_json_error(c, 404, "no such API path (see docs/dashboard.md)");
    return;
  } else {
    h_respond_text(c, 404, "404: no such page\n");
    return;
  }
  h_respond(c, status, type, b.p, b.n, NULL, 0);
  hb_free(&b);
}

/* ---- the server ---- */

static int is_loopback_host(const char *host) {
  return strncmp(host, "127.", 4) == 0 || strcmp(host, "localhost") == 0 ||
         strcmp(host, "::1") == 0;
}

/* Binds H's listener to HOST:PORT. Returns 0 or a libuv error. */
static int bind_listen(sc_http *h, const char *host, int port) {
  struct sockaddr_storage addr;
  const char *ip = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
  int rc = strchr(ip, ':') ? uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&addr)
                           : uv_ip4_addr(ip, port, (struct sockaddr_in *)&addr);
  if (rc != 0) return rc;
  rc = uv_tcp_bind(&h->listener, (const struct sockaddr *)&addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&h->listener, 64, on_connection);
  if (rc != 0) return rc;
  struct sockaddr_storage got;
  int len = sizeof got;
  uv_tcp_getsockname(&h->listener, (struct sockaddr *)&got, &len);
  h->port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                            : ((struct sockaddr_in *)&got)->sin_port);
  return 0;
}

static void on_server_handle_closed(uv_handle_t *hd) {
  sc_http *h = hd->data;
  h->nhandles--;
  maybe_free_server(h);
}

sc_http *sc_http_start(sc_state *st, const sc_http_opts *o, char *err, size_t errlen) {
  settings.on_message_begin = on_message_begin;
  settings.on_url = on_url;
  settings.on_header_field = on_header_field;
  settings.on_header_value = on_header_value;
  settings.on_body = on_body;
  settings.on_message_complete = on_message_complete;
  sc_http *h = calloc(1, sizeof *h);
  if (h == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  h->st = st;
  h->sec = o->sec;
  h->loopback = is_loopback_host(o->host);
  if (o->static_dir) {
    snprintf(h->static_dir, sizeof h->static_dir, "%s", o->static_dir);
    snprintf(h->looked, sizeof h->looked, "%.1000s", o->static_dir);
    struct stat sb;
    h->have_static = stat(o->static_dir, &sb) == 0 && S_ISDIR(sb.st_mode);
  } else {
    h->have_static = sc_http_find_static(h->static_dir, sizeof h->static_dir) == 0;
    snprintf(h->looked, sizeof h->looked, "%.1000s", h->static_dir);
  }
  uv_tcp_init(st->loop, &h->listener);
  h->listener.data = h;
  h->nhandles = 1;
  int rc = bind_listen(h, o->host, o->port);
  if (rc == UV_EADDRINUSE && o->fallback && o->port != 0) {
    /* as dask: the usual port is taken (another cluster), take any */
    uv_close((uv_handle_t *)&h->listener, NULL);
    uv_run(st->loop, UV_RUN_NOWAIT);
    uv_tcp_init(st->loop, &h->listener);
    int again = bind_listen(h, o->host, 0);
    if (again == 0)
      fprintf(stderr,
              "ldask-scheduler: port %d is already in use; the dashboard is on port %d instead\n",
              o->port, h->port);
    rc = again;
  }
  if (rc != 0) {
    snprintf(err, errlen, "the dashboard cannot listen on %s:%d: %s", o->host, o->port,
             uv_strerror(rc));
    h->listener.data = NULL;
    uv_close((uv_handle_t *)&h->listener, NULL);
    uv_run(st->loop, UV_RUN_NOWAIT);
    free(h);
    return NULL;
  }
  uv_timer_init(st->loop, &h->tick);
  h->tick.data = h;
  h->nhandles++;
  uv_timer_start(&h->tick, on_tick, 1000, 1000);
  uv_unref((uv_handle_t *)&h->tick);
  const char *shown =
      strcmp(o->host, "0.0.0.0") == 0 || strcmp(o->host, "::") == 0 ? "127.0.0.1" : o->host;
  snprintf(st->dashboard, sizeof st->dashboard,
           strchr(shown, ':') ? "http://[%s]:%d" : "http://%s:%d", shown, h->port);
  return h;
}

int sc_http_port(const sc_http *h) { return h->port; }

void sc_http_close(sc_http *h) {
  if (h == NULL) return;
  h->closing = 1;
  uv_close((uv_handle_t *)&h->listener, on_server_handle_closed);
  uv_close((uv_handle_t *)&h->tick, on_server_handle_closed);
  for (hconn *c = h->conns; c; c = c->next) conn_close(c);
}
