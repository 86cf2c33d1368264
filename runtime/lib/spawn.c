/* spawn.c — the parent's end of a local cluster's processes: the
 * process-wide lifeline pipe (its write end dies only with this process;
 * core/util/lifeline.c is the child's end) and a detached start of a
 * shell command that hands the child the lifeline's read end as
 * descriptor 3. Between fork and exec only async-signal-safe calls: the
 * user's process has threads (the client's loop, executors). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"

static pthread_once_t life_once = PTHREAD_ONCE_INIT;
static int life[2] = {-1, -1};
static int life_errno;

static void make_lifeline(void) {
  if (pipe2(life, O_CLOEXEC) != 0) life_errno = errno;
}

int ld_lifeline_parent_fd(char *err, size_t errlen) {
  pthread_once(&life_once, make_lifeline);
  if (life[0] < 0) {
    snprintf(err, errlen, "cannot make the local cluster's lifeline pipe: %s",
             strerror(life_errno));
    return -1;
  }
  return life[0];
}

/* In the grandchild: descriptors, signals and session as spawn.h says,
 * then exec. Never returns. */
static void exec_child(const char *cmd, int lifeline) {
  int first_closed = 3;
  if (lifeline >= 0) {
    if (lifeline == 3)
      fcntl(3, F_SETFD, 0);
    else if (dup2(lifeline, 3) != 3)
      _exit(126);
    first_closed = 4;
  }
  int nul = open("/dev/null", O_RDONLY);
  if (nul > 0) {
    dup2(nul, 0);
    if (nul >= first_closed) close(nul);
  }
  if (close_range((unsigned)first_closed, ~0U, 0) != 0) {
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = first_closed; fd < max; fd++) close(fd);
  }
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &dfl, NULL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
  _exit(127);
}

int ld_spawn_detached(const char *cmd, int lifeline, char *err, size_t errlen) {
  int rep[2];
  if (pipe2(rep, O_CLOEXEC) != 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    return -1;
  }
  pid_t mid = fork();
  if (mid < 0) {
    snprintf(err, errlen, "fork: %s", strerror(errno));
    close(rep[0]);
    close(rep[1]);
    return -1;
  }
  if (mid == 0) {
    /* The middle process: a new session, the grandchild, its pid back to
     * the parent, gone at once (the grandchild goes to init or the
     * nearest subreaper, which reaps it). */
    close(rep[0]);
    setsid();
    int said[2];
    said[0] = (int)fork();
    said[1] = errno;
    if (said[0] == 0) exec_child(cmd, lifeline);
    ssize_t w = write(rep[1], said, sizeof said);
    _exit(w == (ssize_t)sizeof said ? 0 : 1);
  }
  close(rep[1]);
  int said[2] = {-1, 0};
  ssize_t n;
  do {
    n = read(rep[0], said, sizeof said);
  } while (n < 0 && errno == EINTR);
  close(rep[0]);
  while (waitpid(mid, NULL, 0) < 0 && errno == EINTR) {
  }
  if (n != (ssize_t)sizeof said || said[0] <= 0) {
    snprintf(err, errlen, "fork: %s", n == (ssize_t)sizeof said ? strerror(said[1]) : "no pid");
    return -1;
  }
  return said[0];
}
