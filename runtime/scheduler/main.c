/* main.c — ldask-scheduler: parses the command line, listens, writes the
 * scheduler file, runs the one libuv loop that owns all state, removes
 * workers whose heartbeats stopped, exits cleanly on SIGINT/SIGTERM, a
 * client's shutdown, or when the process that started it is gone
 * (--lifeline-fd, --parent-pid: a local cluster). C only: no Lua state. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "net/auth.h"
#include "net/netopts.h"
#include "sched.h"
#include "util/lifeline.h"
#include "util/version.h"

static const char *USAGE =
    "usage: ldask-scheduler [--host 127.0.0.1] [--port 8786] [--scheduler-file FILE]\n"
    "                       [--worker-ttl SECONDS] [--worker-saturation X] [--parent-pid PID]\n"
    "                       [--lifeline-fd FD]\n"
    "                       [--dashboard-address HOST:PORT | --no-dashboard]\n"
    "                       [--events-capacity N] [--no-work-stealing]\n"
    "                       [--auth-token-file FILE] [--tls-ca-file FILE --tls-cert FILE\n"
    "                       [--tls-key FILE]] [--insecure] [connection options]\n"
    "\n"
    "  --host HOST              address to bind (default 127.0.0.1: this machine only)\n"
    "  --port PORT              TCP port (default 8786; 0 picks a free one)\n"
    "  --scheduler-file FILE    write {\"address\": ...} as JSON to FILE for workers and\n"
    "                           clients to find, removed at exit\n"
    "  --worker-ttl SECONDS     remove a worker silent that long (default 30)\n"
    "  --worker-saturation X    input tasks a worker holds at least per thread (default 2;\n"
    "                           more when tasks are shorter than the message round trip)\n"
    "  --parent-pid PID         exit when process PID is gone (checked every second)\n"
    "  --lifeline-fd FD         exit when descriptor FD, the read end of a pipe, reaches\n"
    "                           end-of-file: the process holding its write end is gone\n"
    "                           (local clusters; docs/distributed.md)\n"
    "  --dashboard-address HOST:PORT  where the web dashboard listens (default\n"
    "                           127.0.0.1:8787; port 0 picks a free one; when 8787 is\n"
    "                           taken another free port is used); docs/dashboard.md\n"
    "  --no-dashboard           no web dashboard\n"
    "  --events-capacity N      events the dashboard's task stream keeps (default 50000;\n"
    "                           0: none, the counters only)\n"
    "  --no-work-stealing       never move queued tasks from busy workers to idle ones\n"
    "                           (docs/distributed.md, \"Work stealing\")\n"
    "  --version, --help\n"
    "connection options:\n";

static sc_state st;
static const char *sched_file;
static uv_signal_t sig_int, sig_term;
static uv_timer_t ttl_timer;
static double parent_pid;
static ld_lifeline *lifeline;
static uv_timer_t drain_timer;
static int drain_timed_out;

/* The shutdown's last loop run did not end in time (a handle left
 * active): stop it anyway rather than stay on without a listener. */
static void on_drain_timeout(uv_timer_t *t) {
  fprintf(
      stderr,
      "ldask-scheduler: shutdown still waiting after 10 s (%u handles active): exiting anyway\n",
      t->loop->active_handles);
  drain_timed_out = 1;
  uv_stop(t->loop);
}

/* The lifeline fired: whoever started this scheduler is gone. */
static void on_parent_gone(void *arg) {
  (void)arg;
  fprintf(stderr,
          "ldask-scheduler: the process that started it is gone (--lifeline-fd), "
          "shutting down\n");
  uv_stop(st.loop);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  fprintf(stderr, "ldask-scheduler: signal %d, shutting down\n", signum);
  uv_stop(st.loop);
}

/* Connections come and go (each held a read buffer and its handshake's
 * state), large messages are received and handed on: after many closed
 * connections or 16 MiB of receive buffers, the allocator's free memory
 * goes back to the system, which glibc does not do by itself for the
 * middle of its heap. */
static void trim_after_churn(void) {
  static uint64_t closed_at_trim;
  uint64_t closed = ld_net_conns_closed();
  if (closed - closed_at_trim < 64 && ld_frame_peak_reset() < ((uint64_t)16 << 20)) return;
  closed_at_trim = closed;
  malloc_trim(0);
}

static void check_ttl(uv_timer_t *t) {
  (void)t;
  trim_after_churn();
  if (parent_pid > 0 && kill((pid_t)parent_pid, 0) != 0 && errno == ESRCH) {
    fprintf(stderr, "ldask-scheduler: parent process %d is gone, shutting down\n", (int)parent_pid);
    uv_stop(st.loop);
    return;
  }
  double now = sc_now(&st);
  for (sc_worker *w = st.workers; w;) {
    sc_worker *next = w->next;
    if (now - w->last_seen > st.worker_ttl) {
      char msg[120];
      snprintf(msg, sizeof msg, "no heartbeat for %.1f s (worker ttl %.1f s)", now - w->last_seen,
               st.worker_ttl);
      ld_conn_close(w->conn, msg, 0);
    }
    w = next;
  }
}

static int write_sched_file(const char *path, const char *addr) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
  FILE *f = fopen(tmp, "w");
  if (f == NULL) return -1;
  fprintf(
      f, "{\"type\": \"ldask-scheduler\", \"address\": \"%s\", \"pid\": %d, \"version\": \"%s\"}\n",
      addr, (int)getpid(), LD_VERSION_STRING);
  if (fclose(f) != 0) return -1;
  return rename(tmp, path);
}

static int parse_num(const char *opt, const char *v, double lo, double hi, double *out) {
  char *end;
  double d = v ? strtod(v, &end) : 0;
  if (v == NULL || *end != '\0' || d < lo || d > hi) {
    fprintf(stderr, "ldask-scheduler: %s expects a number in %g..%g, got '%s'\n", opt, lo, hi,
            v ? v : "(nothing)");
    return -1;
  }
  *out = d;
  return 0;
}

/* Reads --dashboard-address's HOST:PORT ("[v6]:PORT" too) into HOST and
 * *PORT. Returns 0, or -1 after saying what is wrong. */
static int parse_host_port(const char *v, char *host, size_t hostlen, double *port) {
  const char *colon = v ? strrchr(v, ':') : NULL;
  const char *h = v;
  size_t hl = colon ? (size_t)(colon - v) : 0;
  if (colon && hl >= 2 && v[0] == '[' && v[hl - 1] == ']') h = v + 1, hl -= 2;
  if (colon == NULL || hl == 0 || hl >= hostlen) {
    fprintf(stderr,
            "ldask-scheduler: --dashboard-address expects HOST:PORT (e.g. 127.0.0.1:8787), "
            "got '%s'\n",
            v ? v : "(nothing)");
    return -1;
  }
  memcpy(host, h, hl);
  host[hl] = '\0';
  return parse_num("--dashboard-address's port", colon + 1, 0, 65535, port);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  double port = 8786;
  st.saturation = 2;
  st.avg_task = -1;
  st.worker_ttl = 30;
  ld_sec_opts so = {0};
  char err[512];
  char dash_host[96] = "127.0.0.1";
  double dash_port = 8787, ev_cap = SC_EV_DEFAULT_CAP;
  int dashboard = 1, dash_default_port = 1, lifeline_fd = -1, stealing = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int took = ld_sec_take_arg(&so, argc, argv, &i, err, sizeof err);
    if (took < 0) {
      fprintf(stderr, "ldask-scheduler: %s\n", err);
      return 2;
    } else if (took) {
      continue;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(USAGE, stdout);
      fputs(LD_NET_OPTIONS_USAGE, stdout);
      fputs("security (docs/security.md):\n", stdout);
      fputs(ld_sec_usage, stdout);
      return 0;
    } else if (strcmp(a, "--version") == 0) {
      printf("ldask-scheduler %s\n", LD_VERSION_STRING);
      return 0;
    } else if (strcmp(a, "--host") == 0 && v) {
      host = v, i++;
    } else if (strcmp(a, "--port") == 0) {
      if (parse_num(a, v, 0, 65535, &port) != 0) return 2;
      i++;
    } else if (strcmp(a, "--scheduler-file") == 0 && v) {
      sched_file = v, i++;
    } else if (strcmp(a, "--worker-ttl") == 0) {
      if (parse_num(a, v, 0.1, 1e6, &st.worker_ttl) != 0) return 2;
      i++;
    } else if (strcmp(a, "--parent-pid") == 0) {
      if (parse_num(a, v, 1, 4194304, &parent_pid) != 0) return 2;
      i++;
    } else if (strcmp(a, "--lifeline-fd") == 0) {
      if (ld_lifeline_parse(v, &lifeline_fd, err, sizeof err) != 0) {
        fprintf(stderr, "ldask-scheduler: %s\n", err);
        return 2;
      }
      i++;
    } else if (strcmp(a, "--dashboard-address") == 0) {
      if (parse_host_port(v, dash_host, sizeof dash_host, &dash_port) != 0) return 2;
      dash_default_port = 0;
      i++;
    } else if (strcmp(a, "--no-dashboard") == 0) {
      dashboard = 0;
    } else if (strcmp(a, "--no-work-stealing") == 0) {
      stealing = 0;
    } else if (strcmp(a, "--events-capacity") == 0) {
      if (parse_num(a, v, 0, SC_EV_MAX_CAP, &ev_cap) != 0) return 2;
      i++;
    } else if (strcmp(a, "--worker-saturation") == 0) {
      if (parse_num(a, v, 0.01, 1e6, &st.saturation) != 0) return 2;
      i++;
    } else if (ld_net_option_or_fail("ldask-scheduler", argc, argv, &i, USAGE) < 0) {
      return 2;
    }
  }
  ld_sec_opts_env(&so);
  ld_sec *sec = ld_sec_new(&so, err, sizeof err);
  int dash_refused = 0;
  if (sec == NULL || ld_sec_check_bind(sec, &so, host, "ldask-scheduler", err, sizeof err) != 0 ||
      (dashboard &&
       (dash_refused = ld_sec_check_bind(sec, &so, dash_host, "ldask-scheduler's dashboard", err,
                                         sizeof err) != 0))) {
    fprintf(stderr, "ldask-scheduler: %s%s\n",
            dash_refused ? "the dashboard (--dashboard-address): " : "", err);
    ld_sec_free(sec);
    return 2;
  }
  ld_net_set_default_sec(sec);
  signal(SIGPIPE, SIG_IGN);
  st.loop = uv_default_loop();
  if (lifeline_fd >= 0 && (lifeline = ld_lifeline_watch(st.loop, lifeline_fd, on_parent_gone, NULL,
                                                        err, sizeof err)) == NULL) {
    fprintf(stderr, "ldask-scheduler: %s\n", err);
    return 1;
  }
  if (sc_events_init(&st.ev, (uint32_t)ev_cap) != 0 || sc_tasks_init(&st) != 0 ||
      (stealing && sc_steal_init(&st) != 0)) {
    fprintf(stderr, "ldask-scheduler: out of memory\n");
    return 1;
  }
  const ld_conn_handlers *h;
  sc_proto_init(&st, &h);
  /* small frames arrive compact: kept without a copy (SC_COMPACT_MAX) */
  ld_frame_set_unaligned_max(SC_COMPACT_MAX);
  ld_server *srv =
      ld_server_listen(st.loop, host, (int)port, "scheduler", h, NULL, &st, err, sizeof err);
  if (srv == NULL) {
    fprintf(stderr, "ldask-scheduler: %s\n", err);
    return 1;
  }
  snprintf(st.address, sizeof st.address, "%s://%s:%d", ld_sec_tls(sec) ? "tls" : "tcp", host,
           ld_server_port(srv));
  if (sched_file && write_sched_file(sched_file, st.address) != 0) {
    fprintf(stderr, "ldask-scheduler: cannot write the scheduler file '%s'\n", sched_file);
    return 1;
  }
  if (dashboard) {
    sc_http_opts ho = {dash_host, (int)dash_port, dash_default_port, sec, NULL};
    st.http = sc_http_start(&st, &ho, err, sizeof err);
    if (st.http == NULL) {
      fprintf(stderr, "ldask-scheduler: %s (--no-dashboard runs without one)\n", err);
      return 1;
    }
  }
  printf("ldask-scheduler at %s\n", st.address);
  if (st.http) printf("dashboard at %s/status\n", st.dashboard);
  fflush(stdout);
  uv_signal_init(st.loop, &sig_int);
  uv_signal_init(st.loop, &sig_term);
  uv_signal_start(&sig_int, on_signal, SIGINT);
  uv_signal_start(&sig_term, on_signal, SIGTERM);
  uv_timer_init(st.loop, &ttl_timer);
  uv_timer_start(&ttl_timer, check_ttl, 1000, 1000);
  uv_run(st.loop, UV_RUN_DEFAULT);
  /* Shutdown: tell the workers, flush, close. */
  for (sc_worker *w = st.workers; w; w = w->next) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str(&pk, 2);
    msgpack_pack_str_body(&pk, "op", 2);
    msgpack_pack_str(&pk, 5);
    msgpack_pack_str_body(&pk, "close", 5);
    ld_conn_send_packed(w->conn, &sb, NULL, 0);
    msgpack_sbuffer_destroy(&sb);
    ld_conn_close(w->conn, "scheduler shutting down", 1);
  }
  for (sc_client *c = st.clients; c; c = c->next)
    ld_conn_close(c->conn, "scheduler shutting down", 1);
  ld_server_close(srv);
  sc_http_close(st.http);
  uv_close((uv_handle_t *)&sig_int, NULL);
  uv_close((uv_handle_t *)&sig_term, NULL);
  uv_close((uv_handle_t *)&ttl_timer, NULL);
  ld_lifeline_close(lifeline);
  uv_close((uv_handle_t *)&st.notify, NULL);
  uv_close((uv_handle_t *)&st.kick, NULL);
  sc_steal_free(&st);
  /* The drain ends when every connection has flushed and closed; a drain
   * that never ends must not keep the process (no listener, no lifeline
   * any more): after 10 s it stops, leaving the rest to the exit. */
  uv_timer_init(st.loop, &drain_timer);
  uv_unref((uv_handle_t *)&drain_timer);
  uv_timer_start(&drain_timer, on_drain_timeout, 10000, 0);
  uv_run(st.loop, UV_RUN_DEFAULT);
  if (drain_timed_out) {
    if (sched_file) unlink(sched_file);
    return 1;
  }
  uv_close((uv_handle_t *)&drain_timer, NULL);
  uv_run(st.loop, UV_RUN_NOWAIT);
  sc_broadcast_free(&st);
  sc_coord_free();
  sc_replicas_free();
  sc_res_free(&st);
  sc_events_free(&st.ev);
  if (sched_file) unlink(sched_file);
  ld_sec_free(sec);
  fprintf(stderr, "ldask-scheduler: stopped\n");
  return 0;
}
