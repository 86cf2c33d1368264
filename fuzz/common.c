/* common.c — the fuzz input cursor and checks shared by the harnesses
 * (see common.h). */
#include "common.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

uint8_t fz_u8(fz_in *in) {
  if (in->n == 0) return 0;
  in->n--;
  return *in->p++;
}

uint16_t fz_u16(fz_in *in) {
  uint16_t lo = fz_u8(in);
  return (uint16_t)(lo | (uint16_t)fz_u8(in) << 8);
}

size_t fz_take(fz_in *in, size_t n, const uint8_t **out) {
  if (n > in->n) n = in->n;
  *out = in->p;
  in->p += n, in->n -= n;
  return n;
}

void fz_check(int cond, const char *fmt, ...) {
  if (cond) return;
  va_list ap;
  va_start(ap, fmt);
  fputs("fuzz harness check failed: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  abort();
}

int fz_connect(int fd, const struct sockaddr *sa, socklen_t len) {
  if (connect(fd, sa, len) == 0) return 0;
  if (errno != EINTR && errno != EINPROGRESS) return -1;
  /* interrupted (libFuzzer's timers): the connect goes on; wait for it */
  struct pollfd pf = {.fd = fd, .events = POLLOUT};
  while (poll(&pf, 1, 10000) < 0 && errno == EINTR) {
  }
  int err = 0;
  socklen_t el = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) return -1;
  errno = err;
  return err == 0 ? 0 : -1;
}

int fz_accept(int lfd) {
  int fd;
  while ((fd = accept(lfd, NULL, NULL)) < 0 && errno == EINTR) {
  }
  return fd;
}
