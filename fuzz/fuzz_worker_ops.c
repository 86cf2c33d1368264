/* fuzz_worker_ops.c — libFuzzer harness of ldask-worker's message
 * handlers: the real worker (runtime/worker/, its main() renamed
 * ldask_worker_main) runs in a thread of this process with its executors,
 * connected to the harness posing as its scheduler. Each input is a list
 * of records (the format of fz_play, docs/fuzzing.md): record connection 0
 * goes to the worker as the scheduler's messages (compute-task, free-keys,
 * send-data, put-data, upload-file, run, register-functions, ...; "close"
 * and "restart" are left out: they stop a worker without a nanny by
 * design), connection 1 to its peer port as a
 * peer's (get-data, ...). After each input the worker must still answer
 * the scheduler: a send-data of no keys gets its gather-data back within
 * 10 s, else the input is reported as a hang. The keys the input named
 * are freed after it (free-keys), as a scheduler does. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "net/conn.h"
#include "net/mp.h"

int ldask_worker_main(int argc, char **argv);

static int sfd = -1;             /* the worker's scheduler connection */
static ld_frame_reader *sreader; /* what the worker sends us */
static ld_mp_reader *mp;
static char peer_addr[96];           /* the worker's peer port */
static int64_t barrier_id = 1000000; /* send-data 'client' ids */
static char workdir[] = "/tmp/ldask-fuzz-worker-XXXXXX";

static void *worker_thread(void *arg) {
  char **argv = arg;
  int rc = ldask_worker_main(7, argv);
  fprintf(stderr, "fuzz_worker_ops: the worker stopped (exit %d)\n", rc);
  abort(); /* an input made the worker stop: reported with that input */
  return NULL;
}

static void send_all(int fd, const void *p, size_t n) {
  const char *q = p;
  while (n > 0) {
    ssize_t w = send(fd, q, n, MSG_NOSIGNAL);
    if (w <= 0) return;
    q += w, n -= (size_t)w;
  }
}

static void send_msg(int fd, const uint8_t *const *parts, const size_t *lens, uint32_t n) {
  ld_msg m = {.nframes = n};
  ld_buffer bufs[4], *ptrs[4];
  for (uint32_t i = 0; i < n; i++) bufs[i].size = lens[i], bufs[i].data = (void *)parts[i];
  for (uint32_t i = 0; i < n; i++) ptrs[i] = &bufs[i];
  m.frames = ptrs;
  ld_buffer *enc = ld_msg_encode(&m);
  fz_check(enc != NULL, "allocation");
  send_all(fd, enc->data, enc->size);
  ld_buffer_release(enc);
}

static void send_packed(int fd, msgpack_sbuffer *sb) {
  const uint8_t *part = (const uint8_t *)sb->data;
  size_t len = sb->size;
  send_msg(fd, &part, &len, 1);
  msgpack_sbuffer_destroy(sb);
}

/* Reads what the worker sent until a message satisfies WANT (op OP and,
 * when CLIENT >= 0, that client id; CLIENT -2: 'executing' 0); returns 0,
 * or -1 after 10 s. Copies
 * the 'address' of a register-worker into peer_addr. */
static int await(const char *op, int64_t client);

/* At exit, before LeakSanitizer looks: waits (10 s at most) for a
 * heartbeat saying no executor runs a task. A task in flight is referenced
 * only from its executor's LuaJIT memory, which LeakSanitizer does not
 * scan: it would read as a leak. (libFuzzer's own per-input leak check is
 * off for this harness for the same reason: fuzz/run.sh.) */
static void drain_executors(void) {
  if (sfd >= 0) await("heartbeat", -2);
}

static int await(const char *op, int64_t client) {
  double t0 = (double)time(NULL);
  char buf[65536], err[200];
  for (;;) {
    ld_msg *m;
    while ((m = ld_frame_reader_next(sreader)) != NULL) {
      const msgpack_object *h =
          ld_mp_reader_parse(mp, m->frames[0]->data, m->frames[0]->size, err, sizeof err);
      fz_check(h != NULL, "the worker sent a malformed header: %s", err);
      const char *a;
      size_t alen;
      int64_t cid = -1;
      if (ld_mp_str_eq(ld_mp_get(h, "op"), "register-worker") &&
          ld_mp_get_str(h, "address", &a, &alen) && alen < sizeof peer_addr) {
        memcpy(peer_addr, a, alen);
        peer_addr[alen] = '\0';
      }
      int64_t executing = -1;
      int hit = ld_mp_str_eq(ld_mp_get(h, "op"), op) &&
                (client == -2 ? ld_mp_get_i64(h, "executing", &executing) && executing == 0
                 : client < 0 ? 1
                              : ld_mp_get_i64(h, "client", &cid) && cid == client);
      ld_msg_free(m);
      if (hit) return 0;
    }
    struct pollfd pf = {.fd = sfd, .events = POLLIN};
    if (poll(&pf, 1, 100) > 0) {
      ssize_t r = recv(sfd, buf, sizeof buf, 0);
      fz_check(r > 0, "the worker closed its scheduler connection");
      fz_check(ld_frame_reader_feed(sreader, buf, (size_t)r) == 0, "the worker's framing: %s",
               ld_frame_reader_error(sreader));
    }
    if ((double)time(NULL) - t0 > 10) return -1;
  }
}

/* The worker's directory goes when the harness exits. */
static void remove_workdir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
  if (system(cmd) != 0) fprintf(stderr, "fuzz_worker_ops: could not remove %s\n", workdir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  signal(SIGPIPE, SIG_IGN);
  fz_check(mkdtemp(workdir) != NULL, "mkdtemp");
  atexit(remove_workdir);
  atexit(drain_executors); /* runs first (atexit is last in, first out) */
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  fz_check(bind(lfd, (struct sockaddr *)&sin, sizeof sin) == 0 && listen(lfd, 4) == 0, "listen");
  socklen_t sl = sizeof sin;
  getsockname(lfd, (struct sockaddr *)&sin, &sl);
  static char addr[64];
  snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d", ntohs(sin.sin_port));
  /* --no-nanny: the worker runs in this thread (a nanny would fork and
   * exec this harness); --nthreads stays the default (1). */
  static char *wargv[] = {"ldask-worker", addr,         "--local-directory", workdir,
                          "--name",       "fuzzworker", "--no-nanny",        NULL};
  pthread_t th;
  fz_check(pthread_create(&th, NULL, worker_thread, wargv) == 0, "pthread_create");
  pthread_detach(th);
  sfd = fz_accept(lfd);
  fz_check(sfd >= 0, "accept: %s", strerror(errno));
  close(lfd);
  int one = 1;
  setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sreader = ld_frame_reader_new();
  mp = ld_mp_reader_new();
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  ld_net_pack_hello(&sb, "scheduler", LD_PROTOCOL, "fuzz");
  send_packed(sfd, &sb);
  fz_check(await("register-worker", -1) == 0, "no register-worker from the worker");
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 2);
  ld_mp_pack_cstr(&pk, "op"), ld_mp_pack_cstr(&pk, "registered");
  ld_mp_pack_cstr(&pk, "id"), msgpack_pack_int(&pk, 1);
  send_packed(sfd, &sb);
  return 0;
}

/* A peer connection to the worker's peer port (hello sent), or -1. */
static int peer_connect(void) {
  struct sockaddr_in sin;
  char err[200];
  if (ld_net_parse_addr(peer_addr, &sin, err, sizeof err) != 0) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fz_connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  ld_net_pack_hello(&sb, "peer", LD_PROTOCOL, "fuzz");
  send_packed(fd, &sb);
  return fd;
}

/* Keys the input gave the worker (a 'key' field at the top of a header
 * or in maps of its arrays), freed after the input as a scheduler frees
 * what it no longer needs: the worker's memory then stays bounded. */
static msgpack_sbuffer freed;
static uint32_t nfreed;

static void note_key(const msgpack_object *k) {
  if (k == NULL || k->type != MSGPACK_OBJECT_STR) return;
  msgpack_packer pk;
  msgpack_packer_init(&pk, &freed, msgpack_sbuffer_write);
  ld_mp_pack_str(&pk, k->via.str.ptr, k->via.str.size);
  nfreed++;
}

static void note_keys(const msgpack_object *h) {
  note_key(ld_mp_get(h, "key"));
  for (uint32_t i = 0; h->type == MSGPACK_OBJECT_MAP && i < h->via.map.size; i++) {
    const msgpack_object *v = &h->via.map.ptr[i].val;
    for (uint32_t j = 0; v->type == MSGPACK_OBJECT_ARRAY && j < v->via.array.size; j++)
      note_key(ld_mp_get(&v->via.array.ptr[j], "key"));
  }
}

static void free_noted(void) {
  if (nfreed == 0) return;
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 2);
  ld_mp_pack_cstr(&pk, "op"), ld_mp_pack_cstr(&pk, "free-keys");
  ld_mp_pack_cstr(&pk, "keys"), msgpack_pack_array(&pk, nfreed);
  msgpack_sbuffer_write(&sb, freed.data, freed.size);
  send_packed(sfd, &sb);
  msgpack_sbuffer_clear(&freed);
  nfreed = 0;
}

/* The scheduler's ops that stop a worker without a nanny by design
 * (runtime/worker/main.c): "close", and "restart" (client:restart(), which
 * a nanny would follow by starting the worker again). */
static int stops_worker(const msgpack_object *h) {
  const msgpack_object *op = ld_mp_get(h, "op");
  return ld_mp_str_eq(op, "close") || ld_mp_str_eq(op, "restart");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_in in = {data, size};
  fz_u8(&in); /* roles byte of the common format: unused here */
  int pfd = -1;
  char err[200];
  while (in.n > 0) {
    uint8_t tag = fz_u8(&in);
    uint32_t nx = (tag >> 2) & 3;
    const uint8_t *parts[4];
    size_t lens[4];
    lens[0] = fz_take(&in, fz_u16(&in), &parts[0]);
    for (uint32_t i = 1; i <= nx; i++) lens[i] = fz_take(&in, fz_u16(&in), &parts[i]);
    if (lens[0] == 0) continue;
    const msgpack_object *h = ld_mp_reader_parse(mp, parts[0], lens[0], err, sizeof err);
    if (tag & 1) {
      if (pfd < 0) pfd = peer_connect();
      if (pfd >= 0) send_msg(pfd, parts, lens, nx + 1);
    } else {
      if (h == NULL) continue; /* the scheduler never sends a malformed header */
      if (stops_worker(h)) continue;
      note_keys(h);
      send_msg(sfd, parts, lens, nx + 1);
    }
  }
  if (pfd >= 0) {
    shutdown(pfd, SHUT_WR);
    char buf[4096];
    struct pollfd pf = {.fd = pfd, .events = POLLIN};
    for (int i = 0; i < 100 && poll(&pf, 1, 100) > 0 && recv(pfd, buf, sizeof buf, 0) > 0; i++) {
    }
    close(pfd);
  }
  free_noted();
  /* The barrier: the worker still answers its scheduler. */
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 3);
  ld_mp_pack_cstr(&pk, "op"), ld_mp_pack_cstr(&pk, "send-data");
  ld_mp_pack_cstr(&pk, "keys"), msgpack_pack_array(&pk, 0);
  ld_mp_pack_cstr(&pk, "client"), msgpack_pack_int64(&pk, ++barrier_id);
  send_packed(sfd, &sb);
  fz_check(await("gather-data", barrier_id) == 0,
           "the worker did not answer a send-data within 10 s of the input");
  return 0;
}
