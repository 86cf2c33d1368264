/* lifeline.c — the child's end of a lifeline (see lifeline.h): parse
 * --lifeline-fd, watch the descriptor from a libuv loop (a uv_poll handle:
 * nobody ever writes to the pipe, so readable means end-of-file), or poll
 * it from a process without a loop. The descriptor is never made
 * non-blocking: its open file description is shared with the parent and
 * the nanny, and a read only follows a readiness that end-of-file keeps. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lifeline.h"

struct ld_lifeline {
  uv_poll_t poll;
  int fd;
  int fired;
  void (*on_gone)(void *arg);
  void *arg;
};

/* Returns 1 when a read of FD (readable) says end-of-file or fails for
 * good, 0 when it found data or was interrupted. */
static int at_eof(int fd) {
  char buf[64];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0) return 0;
  if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
  return 1;
}

int ld_lifeline_parse(const char *v, int *fd, char *err, size_t errlen) {
  char *end;
  long n = v ? strtol(v, &end, 10) : -1;
  if (v == NULL || *v == '\0' || *end != '\0' || n < 0 || n > 1 << 20) {
    snprintf(err, errlen, "--lifeline-fd expects a descriptor number, got '%s'",
             v ? v : "(nothing)");
    return -1;
  }
  if (fcntl((int)n, F_GETFD) < 0) {
    snprintf(err, errlen, "--lifeline-fd %ld: not an open descriptor (%s)", n, strerror(errno));
    return -1;
  }
  *fd = (int)n;
  return 0;
}

static void on_poll(uv_poll_t *p, int status, int events) {
  ld_lifeline *l = p->data;
  if (l->fired) return;
  if (status == 0 && !(events & UV_DISCONNECT) && !at_eof(l->fd)) return;
  l->fired = 1;
  uv_poll_stop(p);
  l->on_gone(l->arg);
}

ld_lifeline *ld_lifeline_watch(uv_loop_t *loop, int fd, void (*on_gone)(void *arg), void *arg,
                               char *err, size_t errlen) {
  ld_lifeline *l = calloc(1, sizeof *l);
  if (l == NULL) {
    snprintf(err, errlen, "out of memory");
    close(fd);
    return NULL;
  }
  int flags = fcntl(fd, F_GETFD);
  if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  l->fd = fd;
  l->on_gone = on_gone;
  l->arg = arg;
  int rc = uv_poll_init(loop, &l->poll, fd);
  if (rc != 0) {
    snprintf(err, errlen, "--lifeline-fd %d: %s", fd, uv_strerror(rc));
    close(fd);
    free(l);
    return NULL;
  }
  l->poll.data = l;
  rc = uv_poll_start(&l->poll, UV_READABLE | UV_DISCONNECT, on_poll);
  if (rc != 0) {
    snprintf(err, errlen, "--lifeline-fd %d: %s", fd, uv_strerror(rc));
    ld_lifeline_close(l);
    return NULL;
  }
  return l;
}

static void on_closed(uv_handle_t *h) {
  ld_lifeline *l = h->data;
  close(l->fd);
  free(l);
}

void ld_lifeline_close(ld_lifeline *l) {
  if (l == NULL) return;
  uv_close((uv_handle_t *)&l->poll, on_closed);
}

int ld_lifeline_gone(int fd, int timeout_ms) {
  struct pollfd p = {fd, POLLIN, 0};
  int n = poll(&p, 1, timeout_ms);
  if (n <= 0) return 0;
  if (p.revents & POLLNVAL) return 1;
  return at_eof(fd);
}
