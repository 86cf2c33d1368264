/* loopback.c — plays fuzz inputs as messages over loopback TCP to a server
 * running on a libuv loop of this thread (see loopback.h). */
#include "loopback.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/conn.h"
#include "net/frame.h"

typedef struct fz_conn {
  int fd;
  int eof;    /* the server closed it */
  size_t got; /* bytes received */
} fz_conn;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs LOOP once without blocking, then reads what C received. */
static void pump(uv_loop_t *loop, fz_conn *cs, int n) {
  uv_run(loop, UV_RUN_NOWAIT);
  char buf[65536];
  for (int i = 0; i < n; i++) {
    while (!cs[i].eof) {
      ssize_t r = recv(cs[i].fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0) {
        cs[i].got += (size_t)r;
      } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        cs[i].eof = 1;
      } else {
        break;
      }
    }
  }
}

/* Writes N bytes on C while running LOOP (the server reads as we write). */
static void send_all(uv_loop_t *loop, fz_conn *cs, int nc, fz_conn *c, const void *p, size_t n) {
  const char *q = p;
  double t0 = now_s();
  while (n > 0 && !c->eof) {
    ssize_t w = send(c->fd, q, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0) {
      q += w, n -= (size_t)w;
    } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return; /* the server closed it: the rest is dropped */
    }
    pump(loop, cs, nc);
    fz_check(now_s() - t0 < 10, "the server stopped reading for 10 s");
  }
  pump(loop, cs, nc);
}

static void send_msg(uv_loop_t *loop, fz_conn *cs, int nc, fz_conn *c, const uint8_t **parts,
                     const size_t *lens, uint32_t n) {
  unsigned char prefix[4 + 8 * 4];
  ld_msg m = {.nframes = n};
  ld_buffer bufs[4], *ptrs[4];
  for (uint32_t i = 0; i < n; i++) {
    bufs[i].size = lens[i];
    bufs[i].data = (void *)parts[i];
    ptrs[i] = &bufs[i];
  }
  m.frames = ptrs;
  size_t plen = ld_msg_prefix(&m, prefix), total = plen;
  for (uint32_t i = 0; i < n; i++) total += lens[i];
  /* one send per message, as a peer's batched write */
  unsigned char *all = malloc(total);
  fz_check(all != NULL, "allocation");
  memcpy(all, prefix, plen);
  for (uint32_t i = 0, at = (uint32_t)plen; i < n; at += (uint32_t)lens[i], i++)
    memcpy(all + at, parts[i], lens[i]);
  send_all(loop, cs, nc, c, all, total);
  free(all);
}

static void send_hello(uv_loop_t *loop, fz_conn *cs, int nc, fz_conn *c, const char *role) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  ld_net_pack_hello(&sb, role, LD_PROTOCOL, "fuzz");
  const uint8_t *part = (const uint8_t *)sb.data;
  size_t len = sb.size;
  send_msg(loop, cs, nc, c, &part, &len, 1);
  msgpack_sbuffer_destroy(&sb);
}

size_t fz_play(uv_loop_t *loop, int port, fz_in *in) {
  static const char *roles[] = {"client", "worker", NULL, "peer"};
  uint8_t r = fz_u8(in);
  fz_conn cs[FZ_MAX_CONNS];
  int nc = FZ_MAX_CONNS;
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < nc; i++) {
    cs[i].eof = 0, cs[i].got = 0;
    cs[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    fz_check(cs[i].fd >= 0, "socket: %s", strerror(errno));
    fz_check(fz_connect(cs[i].fd, (struct sockaddr *)&sin, sizeof sin) == 0, "connect: %s",
             strerror(errno));
    int one = 1;
    setsockopt(cs[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  for (int i = 0; i < nc; i++) {
    const char *role = roles[(r >> (2 * i)) & 3];
    if (role) send_hello(loop, cs, nc, &cs[i], role);
  }
  while (in->n > 0) {
    uint8_t tag = fz_u8(in);
    fz_conn *c = &cs[tag & 3];
    uint32_t nx = (tag >> 2) & 3;
    const uint8_t *parts[4];
    size_t lens[4];
    lens[0] = fz_take(in, fz_u16(in), &parts[0]);
    for (uint32_t i = 1; i <= nx; i++) lens[i] = fz_take(in, fz_u16(in), &parts[i]);
    if (tag & 0x10) { /* raw bytes: no framing */
      for (uint32_t i = 0; i <= nx; i++) send_all(loop, cs, nc, c, parts[i], lens[i]);
    } else {
      if (lens[0] == 0) continue; /* an empty header is a framing error: raw covers it */
      send_msg(loop, cs, nc, c, parts, lens, nx + 1);
    }
  }
  for (int i = 0; i < nc; i++) shutdown(cs[i].fd, SHUT_WR);
  double t0 = now_s();
  size_t got = 0;
  for (;;) {
    int open = 0;
    for (int i = 0; i < nc; i++) open += !cs[i].eof;
    if (open == 0) break;
    struct pollfd pf[FZ_MAX_CONNS + 1];
    int np = 0;
    pf[np++] = (struct pollfd){.fd = uv_backend_fd(loop), .events = POLLIN};
    for (int i = 0; i < nc; i++)
      if (!cs[i].eof) pf[np++] = (struct pollfd){.fd = cs[i].fd, .events = POLLIN};
    poll(pf, (nfds_t)np, 5);
    pump(loop, cs, nc);
    fz_check(now_s() - t0 < 10, "a connection is still open 10 s after its peer's EOF");
  }
  for (int i = 0; i < nc; i++) {
    got += cs[i].got;
    close(cs[i].fd);
  }
  pump(loop, cs, 0); /* the server's close callbacks */
  return got;
}
