/* http.h — ldask-scheduler's dashboard server: HTTP/1.1 on the
 * scheduler's own libuv loop (no extra threads), requests parsed by
 * Debian's libhttp-parser, every request bounded (URL, headers, body,
 * connections, time), the cluster token asked of browsers (a cookie set
 * from ?token= once, or a login form), the pages and static files from the
 * installed dashboard folder, and the JSON API, /metrics and /health of
 * http_api.c. See docs/dashboard.md. */
#ifndef LDASK_SCHEDULER_HTTP_H
#define LDASK_SCHEDULER_HTTP_H

#include <stddef.h>

#include "http_json.h"
#include "sched.h"

struct ld_sec;

typedef struct sc_http_opts {
  const char *host;         /* address to bind */
  int port;                 /* 0: any free port */
  int fallback;             /* port taken: take any free one (and say so) */
  const struct ld_sec *sec; /* the cluster's token (may be NULL: open dashboard) */
  const char *static_dir;   /* the dashboard folder; NULL: search (sc_http_find_static) */
} sc_http_opts;

typedef struct sc_http sc_http;

/* Starts the server on ST's loop and sets ST->dashboard to its link
 * ("http://HOST:PORT"). Returns it (owned by the caller: sc_http_close),
 * or NULL with the reason in ERR. */
sc_http *sc_http_start(sc_state *st, const sc_http_opts *o, char *err, size_t errlen);
/* The port it listens on. */
int sc_http_port(const sc_http *h);
/* Closes the listener and every connection (their handles close on the
 * loop's next run) and frees the server once they have. */
void sc_http_close(sc_http *h);

/* Finds the dashboard folder: $LDASK_DASHBOARD_DIR, else
 * share/ldask/dashboard or share/lua/5.1/ldask/dashboard beside the
 * program's directory or up to 4 levels above it (the build tree, an
 * install prefix, a luarocks tree). Writes it into OUT and returns 0, or
 * returns -1 with the places looked at in OUT. */
int sc_http_find_static(char *out, size_t outlen);

/* http_api.c: the answers. Each writes a JSON document (or text) into B
 * and returns the HTTP status. QUERY is the URL's query string (may be
 * NULL). */
int sc_api_status(sc_state *st, hbuf *b);
int sc_api_workers(sc_state *st, hbuf *b);
int sc_api_task_stream(sc_state *st, const char *query, hbuf *b);
int sc_api_graph(sc_state *st, hbuf *b);
int sc_api_key(sc_state *st, const char *key, size_t klen, hbuf *b);
int sc_api_metrics(sc_state *st, hbuf *b);
/* The task stream events after SINCE as the task_stream object, into J:
 * the oldest MAX of them, or with NEWEST the newest MAX (those passed over
 * are counted in "skipped"). Returns the last seq written. */
uint64_t sc_api_stream_into(sc_state *st, js *j, uint64_t since, int max, int newest);
/* Reads since=N from QUERY (may be NULL) into *SINCE (0 when absent).
 * Returns 0, or -1 when the value is not an integer >= 0. */
int sc_api_parse_since(const char *query, uint64_t *since);
#define SC_API_SINCE_ERROR "since must be a sequence number (an integer >= 0)"
/* The status object into J. */
void sc_api_status_into(sc_state *st, js *j);

#define SC_API_STREAM_MAX 10000 /* events per task_stream answer */
#define SC_API_SSE_EVENTS 2000  /* events per update message of /api/v1/events */
#define SC_API_GRAPH_MAX 2000   /* nodes of /api/v1/graph */

#endif
