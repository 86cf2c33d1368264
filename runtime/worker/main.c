/* main.c — ldask-worker: parses the command line, starts the executor
 * threads, serves its data to peers, registers with the scheduler, sends
 * heartbeats, handles the scheduler's messages, reconnects when the
 * scheduler goes away and exits cleanly once it has been gone for
 * --death-timeout seconds, or at once when the process that started it is
 * (--lifeline-fd: a local cluster). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "array/kernels.h" /* ld_blas_one_thread */
#include "net/auth.h"
#include "net/mp.h"
#include "net/netopts.h"
#include "spill.h"
#include "util/lifeline.h"
#include "util/size.h"
#include "util/version.h"
#include "worker.h"

static const char *USAGE =
    "usage: ldask-worker tcp://HOST:PORT [--nthreads N] [--name NAME] [--memory-limit SIZE]\n"
    "                    [--local-directory DIR] [--death-timeout SECONDS]\n"
    "                    [--peer-timeout SECONDS] [--nanny | --no-nanny] [--lifeline-fd FD]\n"
    "                    [--resources \"NAME=AMOUNT,...\"]\n"
    "                    [--scheduler-file FILE] [--host HOST] [--auth-token-file FILE]\n"
    "                    [--tls-ca-file FILE --tls-cert FILE [--tls-key FILE]] [--insecure]\n"
    "                    [connection options]\n"
    "\n"
    "  tcp://HOST:PORT          the scheduler (or --scheduler-file FILE written by it)\n"
    "  --nthreads N             executor threads, one LuaJIT state each (default 1)\n"
    "  --name NAME              the worker's name (default: its address)\n"
    "  --memory-limit SIZE      bytes, with an optional kB/MB/GB/KiB/MiB/GiB suffix, a\n"
    "                           fraction (0 < F <= 1) of the machine's memory, or auto\n"
    "                           (all of it); results above 0.6 x SIZE spill to disk\n"
    "  --local-directory DIR    scratch directory for tasks (created when missing;\n"
    "                           spill files go in a fresh DIR/ldask-spill-XXXXXX,\n"
    "                           else under $TMPDIR or /tmp; removed at exit;\n"
    "                           ldask.client.get_worker().local_directory)\n"
    "  --death-timeout SECONDS  exit after the scheduler has been unreachable this long\n"
    "                           (default 60)\n"
    "  --peer-timeout SECONDS   give up fetching from a peer that owes data and has\n"
    "                           said nothing this long; the task goes back to the\n"
    "                           scheduler, which finds the data elsewhere (default 30)\n"
    "  --host HOST              address peers reach this worker at (default 127.0.0.1)\n"
    "  --resources \"GPU=2,MEM=8e9\"  abstract resources this worker has: tasks that\n"
    "                           need some (options{resources = {GPU = 1}}) run only\n"
    "                           here, as many at once as the amounts allow\n"
    "  --nanny, --no-nanny      run the worker under a nanny process that restarts it\n"
    "                           when it dies, passes 0.95 x SIZE in RSS or is asked\n"
    "                           to (client:restart()) (default --nanny)\n"
    "  --lifeline-fd FD         stop when descriptor FD, the read end of a pipe, reaches\n"
    "                           end-of-file: the process holding its write end is gone\n"
    "                           (local clusters; docs/distributed.md)\n"
    "connection options (the peer port and the connection to the scheduler):\n";

static wk_state W;
static uv_timer_t hb_timer, reconnect_timer;
static uv_signal_t sig_int, sig_term;
static ld_server *peer_server;
static int exit_code;
static int ever_registered; /* else still waiting for a first scheduler */
static double waiting_said; /* when "waiting for the scheduler" was last said */
static ld_lifeline *lifeline;

static void connect_scheduler(void);

static void stop(int code) {
  exit_code = code;
  uv_stop(W.loop);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  fprintf(stderr, "ldask-worker %s: signal %d, stopping\n", W.name, signum);
  stop(0);
}

/* The lifeline fired: whoever started this worker is gone, and nobody
 * waits for what it runs: the executors get WK_ORPHAN_GRACE seconds to
 * finish their tasks, then SIGALRM ends the process (its spill and file
 * directories are removed before the executors are waited for). */
#define WK_ORPHAN_GRACE 10
static void on_parent_gone(void *arg) {
  (void)arg;
  fprintf(stderr,
          "ldask-worker %s: the process that started it is gone (--lifeline-fd), stopping (running "
          "tasks get %d s)\n",
          W.name, WK_ORPHAN_GRACE);
  alarm(WK_ORPHAN_GRACE);
  stop(0);
}

/* The CPU time of this process since the previous call, in percent of
 * the wall time between (100 = one core busy); 0 at the first call. */
static double cpu_percent(void) {
  static double last_wall, last_cpu;
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
               (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
  double wall = wk_wall(), pct = 0;
  if (last_wall > 0 && wall > last_wall) pct = 100.0 * (cpu - last_cpu) / (wall - last_wall);
  last_wall = wall, last_cpu = cpu;
  return pct < 0 ? 0 : pct;
}

/* Sends a heartbeat: counters, the bytes of results held in RAM (memory)
 * and in spill files (spilled), and process memory (under a limit: RSS
 * beyond the worker's start-up footprint). */
void wk_heartbeat(wk_state *w) {
  if (!w->registered) return;
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 14);
  ld_mp_pack_cstr(&pk, "op"), ld_mp_pack_cstr(&pk, "heartbeat");
  /* for the dashboard: our clock (the scheduler maps task times onto its
   * own), CPU use since the last heartbeat, the transfers since then */
  ld_mp_pack_cstr(&pk, "now"), msgpack_pack_double(&pk, wk_wall());
  ld_mp_pack_cstr(&pk, "cpu"), msgpack_pack_double(&pk, cpu_percent());
  ld_mp_pack_cstr(&pk, "transfers_dropped"), msgpack_pack_int64(&pk, w->xfers_dropped);
  ld_mp_pack_cstr(&pk, "transfers"), msgpack_pack_array(&pk, (uint32_t)w->nxfers);
  for (int i = 0; i < w->nxfers; i++) {
    wk_xfer *x = &w->xfers[i];
    msgpack_pack_array(&pk, 5);
    ld_mp_pack_cstr(&pk, x->key), ld_mp_pack_cstr(&pk, x->from);
    msgpack_pack_int64(&pk, x->nbytes);
    msgpack_pack_double(&pk, x->t0), msgpack_pack_double(&pk, x->t1);
    free(x->key);
  }
  w->nxfers = 0;
  w->xfers_dropped = 0;
  ld_mp_pack_cstr(&pk, "process_memory"), msgpack_pack_int64(&pk, w->proc);
  ld_mp_pack_cstr(&pk, "executing"), msgpack_pack_int(&pk, w->executing);
  ld_mp_pack_cstr(&pk, "nkeys"), msgpack_pack_int64(&pk, (int64_t)w->data.count);
  ld_mp_pack_cstr(&pk, "nbytes"), msgpack_pack_int64(&pk, w->nbytes);
  ld_mp_pack_cstr(&pk, "executed"), msgpack_pack_int64(&pk, w->executed);
  ld_mp_pack_cstr(&pk, "fetched"), msgpack_pack_int64(&pk, w->fetched);
  ld_mp_pack_cstr(&pk, "fetched_bytes"), msgpack_pack_int64(&pk, w->fetched_bytes);
  ld_mp_pack_cstr(&pk, "memory"), msgpack_pack_int64(&pk, w->memory);
  ld_mp_pack_cstr(&pk, "spilled"), msgpack_pack_int64(&pk, w->spilled);
  wk_send_sched(w, &sb, NULL, 0);
}

void wk_send_secede(wk_state *w, int delta) {
  if (!w->registered) return;
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 2);
  ld_mp_pack_cstr(&pk, "op"), ld_mp_pack_cstr(&pk, "secede");
  ld_mp_pack_cstr(&pk, "delta"), msgpack_pack_int(&pk, delta);
  wk_send_sched(w, &sb, NULL, 0);
}

static void heartbeat(uv_timer_t *t) {
  (void)t;
  wk_heartbeat(&W);
  wk_peers_check(&W);
}

static void on_sched_msg(ld_conn *c, ld_msg *m, const msgpack_object *h) {
  const msgpack_object *op = ld_mp_get(h, "op");
  if (ld_mp_str_eq(op, "compute-tasks")) {
    wk_on_compute_batch(&W, m, h);
  } else if (ld_mp_str_eq(op, "compute-task")) {
    wk_on_compute(&W, m, h);
  } else if (ld_mp_str_eq(op, "free-keys")) {
    wk_on_free(&W, h);
  } else if (ld_mp_str_eq(op, "send-data")) {
    wk_on_send_data(&W, c, h, "gather-data");
  } else if (ld_mp_str_eq(op, "put-data")) {
    wk_on_put_data(&W, m, h);
  } else if (ld_mp_str_eq(op, "upload-file")) {
    wk_on_upload(&W, m, h);
  } else if (ld_mp_str_eq(op, "run")) {
    wk_on_run(&W, m, h);
  } else if (ld_mp_str_eq(op, "register-functions")) {
    const msgpack_object *names = ld_mp_get(h, "names");
    for (uint32_t i = 0; names && names->type == MSGPACK_OBJECT_ARRAY &&
                         i < names->via.array.size && i + 1 < m->nframes;
         i++) {
      const msgpack_object *n = &names->via.array.ptr[i];
      if (n->type != MSGPACK_OBJECT_STR) continue;
      ld_buffer *nb = ld_buffer_new(n->via.str.size);
      if (nb == NULL) abort();
      memcpy(nb->data, n->via.str.ptr, n->via.str.size);
      wk_exec_add_function(&W, nb, m->frames[i + 1]);
      ld_buffer_release(nb);
    }
  } else if (ld_mp_str_eq(op, "hello")) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    uint64_t max_message, max_buffered, held;
    ld_frame_budgets(&max_message, &max_buffered, &held);
    msgpack_pack_map(&pk, W.nres > 0 ? 9 : 8);
    ld_mp_pack_cstr(&pk, "op"), ld_mp_pack_cstr(&pk, "register-worker");
    if (W.nres > 0) ld_mp_pack_cstr(&pk, "resources"), wk_pack_resources(&W, &pk);
    ld_mp_pack_cstr(&pk, "max_message_size");
    msgpack_pack_int64(&pk, max_message > INT64_MAX ? INT64_MAX : (int64_t)max_message);
    ld_mp_pack_cstr(&pk, "nanny"), W.nanny ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
    ld_mp_pack_cstr(&pk, "name"), ld_mp_pack_cstr(&pk, W.name);
    ld_mp_pack_cstr(&pk, "address"), ld_mp_pack_cstr(&pk, W.address);
    ld_mp_pack_cstr(&pk, "nthreads"), msgpack_pack_int(&pk, W.nthreads);
    ld_mp_pack_cstr(&pk, "memory_limit"), msgpack_pack_int64(&pk, W.memory_limit);
    ld_mp_pack_cstr(&pk, "pid"), msgpack_pack_int(&pk, (int)getpid());
    ld_conn_send_packed(c, &sb, NULL, 0);
    msgpack_sbuffer_destroy(&sb);
  } else if (ld_mp_str_eq(op, "registered")) {
    int64_t maxmsg = 0;
    W.sched_max_msg =
        ld_mp_get_i64(h, "max_message_size", &maxmsg) && maxmsg > 0 ? (uint64_t)maxmsg : UINT64_MAX;
    W.registered = 1;
    ever_registered = 1;
    wk_mem_ready(&W);
    W.lost_since = -1;
    fprintf(stderr, "ldask-worker %s: registered with %s\n", W.name, W.sched_addr);
  } else if (ld_mp_str_eq(op, "steal-request")) {
    wk_on_steal(&W, h);
  } else if (ld_mp_str_eq(op, "worker-removed")) {
    /* A peer the scheduler gave up: our fetches from it will never be
     * answered (it may be frozen with its connections open). */
    const char *addr;
    size_t alen;
    if (ld_mp_get_str(h, "address", &addr, &alen))
      wk_peer_drop(&W, addr, alen, "the scheduler removed that worker");
  } else if (ld_mp_str_eq(op, "restart")) {
    /* client:restart(): the nanny starts us again (without one, we just
     * stop, as dask's workers without nannies do). */
    fprintf(stderr, "ldask-worker %s: the scheduler asked us to restart%s\n", W.name,
            W.nanny ? "" : " (no nanny: stopping)");
    stop(W.nanny ? WK_EXIT_RESTART : 0);
  } else if (ld_mp_str_eq(op, "close")) {
    fprintf(stderr, "ldask-worker %s: the scheduler asked us to close\n", W.name);
    stop(0);
  } else if (ld_mp_str_eq(op, "error")) {
    const char *msg = "";
    size_t len = 0;
    ld_mp_get_str(h, "message", &msg, &len);
    fprintf(stderr, "ldask-worker %s: the scheduler refused us: %.*s\n", W.name, (int)len, msg);
    if (!W.registered) stop(1);
  }
  ld_msg_free(m);
}

static void on_sched_close(ld_conn *c, const char *reason) {
  W.sched = NULL;
  if (ld_conn_auth_failed(c)) { /* a wrong token does not get better by retrying */
    fprintf(stderr, "ldask-worker %s: %s\n", W.name, reason);
    stop(1);
    return;
  }
  double now = (double)uv_now(W.loop) / 1000.0;
  if (!ever_registered) {
    /* Started before its scheduler (as dask's "Waiting to connect"): said
     * at once, then every 10 s, until the death timeout. */
    if (W.lost_since < 0 || now - waiting_said >= 10) {
      fprintf(stderr,
              "ldask-worker %s: waiting for the scheduler at %s (%s); retrying until the death "
              "timeout (%.1f s)\n",
              W.name, W.sched_addr, reason, W.death_timeout);
      waiting_said = now;
    }
  } else if (W.registered || W.lost_since < 0) {
    fprintf(stderr, "ldask-worker %s: lost the scheduler: %s\n", W.name, reason);
  }
  W.registered = 0;
  wk_reset(&W);
  if (W.lost_since < 0) W.lost_since = now;
  if (exit_code == 0 && !uv_is_closing((uv_handle_t *)&reconnect_timer))
    uv_timer_start(&reconnect_timer, (uv_timer_cb)connect_scheduler, 500, 0);
}

static const ld_conn_handlers sched_handlers = {on_sched_msg, on_sched_close};

static void connect_scheduler(void) {
  double now = (double)uv_now(W.loop) / 1000.0;
  if (W.lost_since >= 0 && now - W.lost_since > W.death_timeout) {
    fprintf(stderr, "ldask-worker %s: %s for %.1f s (death timeout %.1f s): exiting\n", W.name,
            ever_registered ? "no scheduler" : "no scheduler ever answered", now - W.lost_since,
            W.death_timeout);
    stop(0);
    return;
  }
  char err[256];
  W.sched = ld_conn_connect(W.loop, W.sched_addr, "worker", &sched_handlers, NULL, err, sizeof err);
  if (W.sched == NULL) {
    fprintf(stderr, "ldask-worker: %s\n", err);
    stop(2);
  }
}

/* Incoming peer connections: get-data. */
static void on_peer_in_msg(ld_conn *c, ld_msg *m, const msgpack_object *h) {
  const msgpack_object *op = ld_mp_get(h, "op");
  if (ld_mp_str_eq(op, "get-data")) wk_on_send_data(&W, c, h, "data");
  ld_msg_free(m);
}
/* Accepted peer connections, closed at shutdown (an open one would keep
 * the loop, and so the worker, alive). */
static ld_conn **peers_in;
static int npeers_in, cappeers_in;
/* A peer connected: remembered until its connection closes. */
static void on_peer_in(ld_server *s, ld_conn *c) {
  (void)s;
  if (npeers_in == cappeers_in) {
    cappeers_in = cappeers_in ? 2 * cappeers_in : 8;
    peers_in = realloc(peers_in, (size_t)cappeers_in * sizeof *peers_in);
    if (peers_in == NULL) abort();
  }
  peers_in[npeers_in++] = c;
}
/* A peer's connection closed: forgotten. */
static void on_peer_in_close(ld_conn *c, const char *reason) {
  if (ld_conn_auth_failed(c))
    fprintf(stderr, "ldask-worker %s: refused peer %s: %s\n", W.name, ld_conn_peer_addr(c), reason);
  for (int i = 0; i < npeers_in; i++)
    if (peers_in[i] == c) peers_in[i] = peers_in[--npeers_in];
}
static const ld_conn_handlers peer_in_handlers = {on_peer_in_msg, on_peer_in_close};

int wk_conn_alive(const wk_state *w, const ld_conn *c) {
  if (c == w->sched) return w->registered;
  for (int i = 0; i < npeers_in; i++)
    if (peers_in[i] == c) return 1;
  return 0;
}

/* Outgoing peer connections: data replies. */
static void on_peer_out_msg(ld_conn *c, ld_msg *m, const msgpack_object *h) {
  const msgpack_object *op = ld_mp_get(h, "op");
  if (ld_mp_str_eq(op, "data")) wk_on_peer_data(&W, ld_conn_data(c), m, h);
  ld_msg_free(m);
}
static void on_peer_out_close(ld_conn *c, const char *reason) {
  wk_peer_lost(&W, ld_conn_data(c), reason);
}
const ld_conn_handlers wk_peer_handlers = {on_peer_out_msg, on_peer_out_close};

/* --memory-limit: "auto" (the machine's memory), a fraction in (0, 1] of
 * it (a bare number), or a size (ld_parse_size). Returns 0 or -1. */
static int parse_memory_limit(const char *s, int64_t *out) {
  char *end;
  double f = strtod(s, &end);
  int fraction = end != s && *end == '\0' && f > 0 && f <= 1;
  if (strcmp(s, "auto") != 0 && !fraction) return ld_parse_size(s, out);
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return -1;
  *out = (int64_t)((fraction ? f : 1.0) * (double)pages * (double)page);
  return 0;
}

/* Finds lua/ and lib/ from the executable's location (the build tree or an
 * install prefix), as bin/ldask does. */
static void setup_paths(void) {
  char exe[PATH_MAX], root[PATH_MAX], probe[PATH_MAX + 64];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash) *slash = '\0';               /* bin */
  snprintf(root, sizeof root, "%s", exe); /* prefix */
  slash = strrchr(root, '/');
  if (slash && slash != root) *slash = '\0';
  /* LuaJIT's own default paths (jit.*, system modules) come after ours. */
  char sys_path[2048] = "./?.lua", sys_cpath[2048] = "./?.so";
  lua_State *L = luaL_newstate();
  if (L) {
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    if (lua_isstring(L, -1)) snprintf(sys_path, sizeof sys_path, "%s", lua_tostring(L, -1));
    lua_getfield(L, -2, "cpath");
    if (lua_isstring(L, -1)) snprintf(sys_cpath, sizeof sys_cpath, "%s", lua_tostring(L, -1));
    lua_close(L);
  }
  size_t cap = 4 * PATH_MAX + 4200;
  W.lua_path = malloc(cap);
  W.lua_cpath = malloc(cap);
  if (!W.lua_path || !W.lua_cpath) abort();
  snprintf(probe, sizeof probe, "%s/lib/ldask/native.so", root);
  if (access(probe, R_OK) == 0) {
    char src[PATH_MAX];
    snprintf(src, sizeof src, "%s", root);
    for (int up = 0; up < 4; up++) {
      snprintf(probe, sizeof probe, "%s/lua/ldask/init.lua", src);
      if (access(probe, R_OK) == 0) break;
      slash = strrchr(src, '/');
      if (slash && slash != src) *slash = '\0';
    }
    snprintf(W.lua_path, cap, "%s/lua/?.lua;%s/lua/?/init.lua;%s", src, src, sys_path);
    snprintf(W.lua_cpath, cap, "%s/lib/?.so;%s", root, sys_cpath);
  } else {
    snprintf(W.lua_path, cap, "%s/share/lua/5.1/?.lua;%s/share/lua/5.1/?/init.lua;%s", root, root,
             sys_path);
    snprintf(W.lua_cpath, cap, "%s/lib/lua/5.1/?.so;%s", root, sys_cpath);
  }
}

/* Reads "address" from a scheduler file. */
static int read_sched_file(const char *path, char *out, size_t outlen) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  char buf[1024];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *a = strstr(buf, "\"address\"");
  if (a == NULL) return -1;
  a = strchr(a + 9, '"');
  if (a == NULL) return -1;
  char *e = strchr(a + 1, '"');
  if (e == NULL || (size_t)(e - a - 1) >= outlen) return -1;
  snprintf(out, outlen, "%.*s", (int)(e - a - 1), a + 1);
  return 0;
}

/* What a task needs to connect a client to this cluster (ldask.get_client,
 * lua/ldask/client/tasks_client.lua): the scheduler's address and the
 * security files (absolute), as environment variables of the process. Set
 * before the executor threads start (setenv is not thread-safe). */
static void export_cluster_env(const ld_sec_opts *so) {
  setenv("LDASK_SCHEDULER_ADDRESS", W.sched_addr, 1);
  const char *files[4] = {so->token_file, so->tls_ca_file, so->tls_cert, so->tls_key};
  static const char *const names[4] = {"LDASK_AUTH_TOKEN_FILE", "LDASK_TLS_CA_FILE",
                                       "LDASK_TLS_CERT", "LDASK_TLS_KEY"};
  for (int i = 0; i < 4; i++) {
    if (files[i] == NULL) continue;
    char *abs = realpath(files[i], NULL);
    setenv(names[i], abs ? abs : files[i], 1);
    free(abs);
  }
}

int main(int argc, char **argv) {
  const char *sched = NULL, *sched_file = NULL, *local_dir = NULL, *host = "127.0.0.1";
  W.nthreads = 1;
  W.death_timeout = 60;
  W.peer_timeout = 30;
  int nanny = 1, lifeline_fd = -1;
  W.lost_since = -1;
  ld_sec_opts so = {0};
  char err[512];
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end;
    int took = ld_sec_take_arg(&so, argc, argv, &i, err, sizeof err);
    if (took < 0) {
      fprintf(stderr, "ldask-worker: %s\n", err);
      return 2;
    } else if (took) {
      continue;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(USAGE, stdout);
      fputs(LD_NET_OPTIONS_USAGE, stdout);
      fputs("security (docs/security.md; with TLS the scheduler's address is tls://HOST:PORT):\n",
            stdout);
      fputs(ld_sec_usage, stdout);
      return 0;
    } else if (strcmp(a, "--version") == 0) {
      printf("ldask-worker %s\n", LD_VERSION_STRING);
      return 0;
    } else if (strcmp(a, "--nthreads") == 0 && v) {
      long n = strtol(v, &end, 10);
      if (*end || n < 1 || n > 1024) {
        fprintf(stderr, "ldask-worker: --nthreads expects an integer in 1..1024, got '%s'\n", v);
        return 2;
      }
      W.nthreads = (int)n, i++;
    } else if (strcmp(a, "--name") == 0 && v) {
      if (strlen(v) >= sizeof W.name) {
        fprintf(stderr, "ldask-worker: --name is longer than %zu bytes\n", sizeof W.name - 1);
        return 2;
      }
      snprintf(W.name, sizeof W.name, "%s", v), i++;
    } else if (strcmp(a, "--memory-limit") == 0 && v) {
      if (parse_memory_limit(v, &W.memory_limit) != 0) {
        fprintf(stderr,
                "ldask-worker: --memory-limit expects a size like 4GiB or 2e9, got '%s' (or a "
                "fraction like 0.5 of the machine's memory, or auto)\n",
                v);
        return 2;
      }
      i++;
    } else if (strcmp(a, "--local-directory") == 0 && v) {
      local_dir = v, i++;
    } else if (strcmp(a, "--death-timeout") == 0 && v) {
      W.death_timeout = strtod(v, &end);
      if (*end || W.death_timeout <= 0) {
        fprintf(stderr, "ldask-worker: --death-timeout expects seconds > 0, got '%s'\n", v);
        return 2;
      }
      i++;
    } else if (strcmp(a, "--peer-timeout") == 0 && v) {
      W.peer_timeout = strtod(v, &end);
      if (*end || W.peer_timeout <= 0) {
        fprintf(stderr, "ldask-worker: --peer-timeout expects seconds > 0, got '%s'\n", v);
        return 2;
      }
      i++;
    } else if (strcmp(a, "--resources") == 0) {
      if (v == NULL) {
        fprintf(stderr, "ldask-worker: --resources expects a list like \"GPU=2,MEM=8e9\"\n");
        return 2;
      }
      if (wk_parse_resources(&W, v, err, sizeof err) != 0) {
        fprintf(stderr, "ldask-worker: %s\n", err);
        return 2;
      }
      i++;
    } else if (strcmp(a, "--nanny") == 0) {
      nanny = 1;
    } else if (strcmp(a, "--no-nanny") == 0) {
      nanny = 0;
    } else if (strcmp(a, "--lifeline-fd") == 0) {
      if (ld_lifeline_parse(v, &lifeline_fd, err, sizeof err) != 0) {
        fprintf(stderr, "ldask-worker: %s\n", err);
        return 2;
      }
      i++;
    } else if (strcmp(a, "--scheduler-file") == 0 && v) {
      sched_file = v, i++;
    } else if (strcmp(a, "--host") == 0 && v) {
      host = v, i++;
    } else if (a[0] != '-' && sched == NULL) {
      sched = a;
    } else if (ld_net_option_or_fail("ldask-worker", argc, argv, &i, USAGE) < 0) {
      return 2;
    }
  }
  if (sched == NULL && sched_file == NULL) {
    fprintf(stderr, "ldask-worker: needs the scheduler's address\n%s", USAGE);
    return 2;
  }
  if (nanny) return wk_nanny_main(argc, argv, W.name, W.memory_limit, lifeline_fd);
  W.nanny = getenv("LDASK_NANNY_PID") != NULL;
  if (sched == NULL && sched_file) {
    /* The scheduler may still be starting: wait for its file until the
     * death timeout. */
    for (int tries = 0; tries <= (int)(W.death_timeout * 10); tries++) {
      if (read_sched_file(sched_file, W.sched_addr, sizeof W.sched_addr) == 0) break;
      if (tries == 0)
        fprintf(stderr, "ldask-worker: waiting for the scheduler file '%s'\n", sched_file);
      usleep(100000);
    }
    if (W.sched_addr[0] == '\0') {
      fprintf(stderr, "ldask-worker: no scheduler address in '%s' after %.1f s (death timeout)\n",
              sched_file, W.death_timeout);
      return 2;
    }
  } else {
    snprintf(W.sched_addr, sizeof W.sched_addr, "%s", sched);
  }
  struct sockaddr_in sin;
  if (ld_net_parse_addr(W.sched_addr, &sin, err, sizeof err) != 0) {
    fprintf(stderr, "ldask-worker: %s\n", err);
    return 2;
  }
  if (local_dir && mkdir(local_dir, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "ldask-worker: cannot create --local-directory '%s': %s\n", local_dir,
            strerror(errno));
    return 2;
  }
  if (local_dir) {
    W.local_dir = realpath(local_dir, NULL);
    if (W.local_dir == NULL) {
      fprintf(stderr, "ldask-worker: --local-directory '%s': %s\n", local_dir, strerror(errno));
      return 2;
    }
  }
  ld_sec_opts_env(&so);
  export_cluster_env(&so);
  ld_sec *sec = ld_sec_new(&so, err, sizeof err);
  if (sec == NULL || ld_sec_check_bind(sec, &so, host, "ldask-worker", err, sizeof err) != 0) {
    fprintf(stderr, "ldask-worker: %s\n", err);
    ld_sec_free(sec);
    return 2;
  }
  ld_net_set_default_sec(sec);
  signal(SIGPIPE, SIG_IGN);
  /* A file-size limit (ulimit -f) then fails a write with EFBIG instead of
   * killing the worker: a spill file that cannot be written keeps its value
   * in RAM. */
  signal(SIGXFSZ, SIG_IGN);
  W.loop = uv_default_loop();
  if (lifeline_fd >= 0 && (lifeline = ld_lifeline_watch(W.loop, lifeline_fd, on_parent_gone, NULL,
                                                        err, sizeof err)) == NULL) {
    fprintf(stderr, "ldask-worker: %s\n", err);
    return 1;
  }
  wk_mem_init(&W);
  ld_strmap_init(&W.tasks);
  ld_strmap_init(&W.data);
  ld_strmap_init(&W.fetching);
  setup_paths();
  peer_server = ld_server_listen(W.loop, host, 0, "worker", &peer_in_handlers, on_peer_in, &W, err,
                                 sizeof err);
  if (peer_server == NULL) {
    fprintf(stderr, "ldask-worker: %s\n", err);
    return 1;
  }
  snprintf(W.address, sizeof W.address, "%s://%s:%d", ld_sec_tls(sec) ? "tls" : "tcp", host,
           ld_server_port(peer_server));
  if (W.name[0] == '\0') snprintf(W.name, sizeof W.name, "%s", W.address);
  if (W.nthreads >= 2) ld_blas_one_thread(); /* the threads are the parallelism (pool.c) */
  if (wk_exec_start(&W, err, sizeof err) != 0) {
    fprintf(stderr, "ldask-worker: %s\n", err);
    return 1;
  }
  printf("ldask-worker %s at %s, %d threads, scheduler %s", W.name, W.address, W.nthreads,
         W.sched_addr);
  if (W.memory_limit > 0) printf(", memory limit %lld bytes", (long long)W.memory_limit);
  printf("\n");
  fflush(stdout);
  uv_timer_init(W.loop, &hb_timer);
  uv_timer_start(&hb_timer, heartbeat, 500, 500);
  uv_timer_init(W.loop, &reconnect_timer);
  uv_signal_init(W.loop, &sig_int);
  uv_signal_init(W.loop, &sig_term);
  uv_signal_start(&sig_int, on_signal, SIGINT);
  uv_signal_start(&sig_term, on_signal, SIGTERM);
  connect_scheduler();
  uv_run(W.loop, UV_RUN_DEFAULT);
  wk_mem_shutdown(&W);
  wk_files_cleanup(&W); /* uploaded modules go as soon as the worker stops */
  if (exit_code == WK_EXIT_RESTART) {
    /* Restarting: running tasks are lost (as in dask); no wait for them. */
    fprintf(stderr, "ldask-worker %s: stopped for a restart\n", W.name);
    fflush(stderr);
    _exit(WK_EXIT_RESTART);
  }
  /* Shutdown: close connections, let the executors finish what they run. */
  uv_timer_stop(&reconnect_timer);
  uv_close((uv_handle_t *)&reconnect_timer, NULL);
  uv_close((uv_handle_t *)&hb_timer, NULL);
  uv_close((uv_handle_t *)&sig_int, NULL);
  uv_close((uv_handle_t *)&sig_term, NULL);
  ld_lifeline_close(lifeline);
  if (W.sched) ld_conn_close(W.sched, "worker stopping", 1);
  for (wk_peer *p = W.peers; p; p = p->next) ld_conn_close(p->conn, "worker stopping", 0);
  ld_server_close(peer_server);
  for (int i = npeers_in; i-- > 0;) ld_conn_close(peers_in[i], "worker stopping", 0);
  wk_exec_stop(&W);
  ld_wake_close(&W.done_wake, NULL);
  uv_run(W.loop, UV_RUN_DEFAULT);
  wk_mem_shutdown(&W);
  free(peers_in);
  ld_sec_free(sec);
  fprintf(stderr, "ldask-worker %s: stopped\n", W.name);
  return exit_code;
}
