/* wake.c — cross-thread loop wake-ups on an eventfd (see wake.h). */
#include "net/wake.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

static void on_poll(uv_poll_t *p, int status, int events) {
  (void)status;
  (void)events;
  ld_wake *w = p->data;
  uint64_t v[8];
  /* Drain: an eventfd in one read; a pipe may hold several bytes. */
  while (read(w->rfd, v, sizeof v) == (ssize_t)sizeof v) {
  }
  atomic_store(&w->pending, 0); /* before CB looks at the data */
  w->cb(w);
}

int ld_wake_init(uv_loop_t *loop, ld_wake *w, ld_wake_cb cb) {
  w->cb = cb;
  w->on_closed = NULL;
  atomic_init(&w->pending, 0);
#ifdef __linux__
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) {
    w->rfd = w->wfd = -1;
    return -errno;
  }
  w->rfd = w->wfd = fd;
#else
  int fds[2];
  if (pipe(fds) != 0) {
    w->rfd = w->wfd = -1;
    return -errno;
  }
  for (int i = 0; i < 2; i++) {
    fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
    fcntl(fds[i], F_SETFD, FD_CLOEXEC);
  }
  w->rfd = fds[0];
  w->wfd = fds[1];
#endif
  int rc = uv_poll_init(loop, &w->poll, w->rfd);
  if (rc != 0) {
    close(w->rfd);
    if (w->wfd != w->rfd) close(w->wfd);
    w->rfd = w->wfd = -1;
    return rc;
  }
  w->poll.data = w;
  return uv_poll_start(&w->poll, UV_READABLE, on_poll);
}

void ld_wake_send(ld_wake *w) {
  if (atomic_load_explicit(&w->pending, memory_order_relaxed)) return;
  if (atomic_exchange(&w->pending, 1)) return;
  uint64_t one = 1;
  ssize_t n;
  do n = write(w->wfd, &one, sizeof one);
  while (n < 0 && errno == EINTR);
  /* EAGAIN: the counter (or pipe) is full, so the loop is woken anyway. */
}

static void on_closed(uv_handle_t *h) {
  ld_wake *w = h->data;
  close(w->rfd);
  if (w->wfd != w->rfd) close(w->wfd);
  if (w->on_closed) w->on_closed(w);
}

void ld_wake_close(ld_wake *w, ld_wake_cb closed) {
  w->on_closed = closed;
  uv_close((uv_handle_t *)&w->poll, on_closed);
}
