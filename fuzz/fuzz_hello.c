/* fuzz_hello.c — libFuzzer harness of the handshake (core/net/conn.c):
 * both sides of a connection meet the input. As a server: a listening
 * ld_server receives the input's messages (fz_play: the first is the
 * hello, unless the harness sends a valid one first) and must answer or
 * refuse it and close when its peer does. As a client: ld_conn_connect
 * reaches a plain socket of the harness that answers with the input's
 * first record as its hello and the rest as messages; the connection must
 * close (on_close exactly once) after the harness closes its socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopback.h"
#include "net/conn.h"

static uv_loop_t *loop;
static int port, lfd, lport;
static int closes, msgs;

static void on_msg(ld_conn *c, ld_msg *m, const msgpack_object *h) {
  fz_check(h->type == MSGPACK_OBJECT_MAP, "a header that is not a map reached on_msg");
  fz_check(ld_conn_peer_role(c)[0] != '\0', "a message before the peer's role is known");
  msgs++;
  ld_msg_free(m);
}

static void on_close(ld_conn *c, const char *reason) {
  (void)c;
  fz_check(reason != NULL, "closed without a reason");
  closes++;
}

static const ld_conn_handlers handlers = {on_msg, on_close};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  signal(SIGPIPE, SIG_IGN);
  loop = uv_default_loop();
  char err[256];
  ld_server *srv =
      ld_server_listen(loop, "127.0.0.1", 0, "scheduler", &handlers, NULL, NULL, err, sizeof err);
  fz_check(srv != NULL, "listen: %s", err);
  port = ld_server_port(srv);
  lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  fz_check(bind(lfd, (struct sockaddr *)&sin, sizeof sin) == 0 && listen(lfd, 8) == 0, "listen");
  socklen_t sl = sizeof sin;
  getsockname(lfd, (struct sockaddr *)&sin, &sl);
  lport = ntohs(sin.sin_port);
  return 0;
}

/* The client side: the input's bytes (framed by record as fz_play does)
 * come from a plain socket posing as the server. */
static void client_side(const uint8_t *data, size_t size) {
  char addr[64], err[256];
  snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d", lport);
  closes = 0;
  ld_conn *c = ld_conn_connect(loop, addr, "client", &handlers, NULL, err, sizeof err);
  fz_check(c != NULL, "connect: %s", err);
  int fd = fz_accept(lfd);
  fz_check(fd >= 0, "accept: %s", strerror(errno));
  /* A header frame from the first bytes, then the rest raw. */
  fz_in in = {data, size};
  const uint8_t *h;
  size_t hl = fz_take(&in, fz_u16(&in), &h);
  unsigned char prefix[12] = {1, 0, 0, 0, (unsigned char)hl, (unsigned char)(hl >> 8)};
  if (hl && send(fd, prefix, sizeof prefix, MSG_NOSIGNAL) == (ssize_t)sizeof prefix) {
    (void)!send(fd, h, hl, MSG_NOSIGNAL);
    (void)!send(fd, in.p, in.n, MSG_NOSIGNAL);
  }
  shutdown(fd, SHUT_WR);
  char buf[4096];
  for (int i = 0; closes == 0; i++) {
    uv_run(loop, UV_RUN_NOWAIT);
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
    struct pollfd pf = {.fd = uv_backend_fd(loop), .events = POLLIN};
    poll(&pf, 1, 2);
    fz_check(i < 5000, "the client connection is still open 10 s after the server's EOF");
  }
  close(fd);
  uv_run(loop, UV_RUN_NOWAIT);
  fz_check(closes == 1, "on_close called %d times", closes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  if (data[0] & 0x80) {
    client_side(data + 1, size - 1);
  } else {
    fz_in in = {data, size};
    fz_play(loop, port, &in);
  }
  return 0;
}
