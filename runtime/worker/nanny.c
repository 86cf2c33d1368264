/* nanny.c — ldask-worker's nanny (dask's Nanny): with --nanny (the
 * default) the program started by the user is a small supervising process
 * that runs the real worker as its child (this same executable with
 * --no-nanny) and
 *   - restarts it when it dies (a signal, a crash, the OOM killer) or asks
 *     to be restarted (exit code WK_EXIT_RESTART: the scheduler's restart,
 *     client:restart()), after a short pause when it dies again at once;
 *   - under --memory-limit, reads the child's resident set size from
 *     /proc/PID/statm every 100 ms and kills it (SIGKILL: a worker running
 *     away with memory may not get to a clean stop) when its process
 *     memory (RSS beyond what it had when ready, which it tells through a
 *     pipe) passes WK_MEM_TERMINATE x the limit, then restarts it;
 *   - passes SIGINT / SIGTERM on to the child and exits with its code;
 *   - does the same when its --lifeline-fd reaches end-of-file (the
 *     process that started it is gone: a local cluster's client; the
 *     worker inherits the descriptor and watches it too);
 *   - exits (without restarting) when the child stops by itself with code
 *     0 (the scheduler closed it, its death timeout), 2 (bad options) or
 *     fails at start-up (1 within a second). Any other exit (a task calling
 *     os.exit) is a death: restarted.
 * The child gets SIGTERM if the nanny itself dies (PR_SET_PDEATHSIG), and
 * learns its nanny's pid from LDASK_NANNY_PID (it tells the scheduler it
 * has a nanny). No event loop, no threads: just fork, exec, waitpid. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spill.h"
#include "util/lifeline.h"

static volatile sig_atomic_t got_signal;

static void on_signal(int signum) { got_signal = signum; }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t wk_rss_of(int pid) {
  char path[64];
  if (pid > 0)
    snprintf(path, sizeof path, "/proc/%d/statm", pid);
  else
    snprintf(path, sizeof path, "/proc/self/statm");
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  long long size = 0, resident = 0;
  int n = fscanf(f, "%lld %lld", &size, &resident);
  fclose(f);
  if (n != 2) return -1;
  return (int64_t)resident * (int64_t)sysconf(_SC_PAGESIZE);
}

/* Starts the worker: this executable with ARGV[1..] and --no-nanny; it
 * writes its start-up RSS to descriptor TELL (LDASK_NANNY_FD) once ready.
 * Returns its pid, or -1 after saying why. */
static pid_t spawn(char **argv, int argc, int tell) {
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (args == NULL) abort();
  int n = 0;
  args[n++] = argv[0];
  args[n++] = "--no-nanny";
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--nanny") != 0) args[n++] = argv[i];
  args[n] = NULL;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    /* The child dies with its nanny, and undoes the nanny's handlers. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    char fdbuf[16];
    snprintf(fdbuf, sizeof fdbuf, "%d", tell);
    setenv("LDASK_NANNY_FD", fdbuf, 1);
    fcntl(tell, F_SETFD, 0); /* kept across exec */
    execv("/proc/self/exe", args);
    fprintf(stderr, "ldask-worker nanny: cannot start the worker: %s\n", strerror(errno));
    _exit(127);
  }
  free(args);
  if (pid < 0) fprintf(stderr, "ldask-worker nanny: fork: %s\n", strerror(errno));
  return pid;
}

int wk_nanny_main(int argc, char **argv, const char *name, int64_t memory_limit, int lifeline) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  char pidbuf[32];
  snprintf(pidbuf, sizeof pidbuf, "%d", (int)getpid());
  setenv("LDASK_NANNY_PID", pidbuf, 1);
  const char *who = name[0] ? name : "(unnamed)";
  int64_t terminate = memory_limit > 0 ? (int64_t)(WK_MEM_TERMINATE * (double)memory_limit) : 0;
  for (;;) {
    double started = now_s();
    int tell[2];
    if (pipe2(tell, O_CLOEXEC | O_NONBLOCK) != 0) {
      fprintf(stderr, "ldask-worker nanny %s: pipe: %s\n", who, strerror(errno));
      return 1;
    }
    pid_t pid = spawn(argv, argc, tell[1]);
    close(tell[1]);
    if (pid < 0) {
      close(tell[0]);
      return 1;
    }
    int status = 0, forwarded = 0, killed_for_memory = 0;
    /* The worker's RSS when it was ready: process memory is counted above
     * it, as the worker itself does (unknown until it says: no check). */
    int64_t base = -1;
    char basebuf[32];
    size_t nbase = 0;
    for (;;) {
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) break;
      if (r < 0 && errno != EINTR) {
        fprintf(stderr, "ldask-worker nanny %s: waitpid: %s\n", who, strerror(errno));
        return 1;
      }
      if (got_signal && forwarded != got_signal) {
        forwarded = got_signal;
        kill(pid, got_signal); /* the worker stops cleanly; we follow */
      }
      if (base < 0 && nbase < sizeof basebuf - 1) {
        ssize_t n = read(tell[0], basebuf + nbase, sizeof basebuf - 1 - nbase);
        if (n > 0) nbase += (size_t)n;
        basebuf[nbase] = '\0';
        if (strchr(basebuf, '\n')) base = strtoll(basebuf, NULL, 10);
      }
      if (terminate > 0 && base >= 0 && !killed_for_memory && !got_signal) {
        int64_t rss = wk_rss_of(pid);
        if (rss - base > terminate) {
          fprintf(stderr,
                  "ldask-worker nanny %s: worker process %d uses %lld bytes (RSS; %lld at "
                  "start-up), above %.0f%% of its memory limit %lld: killing and restarting it\n",
                  who, (int)pid, (long long)rss, (long long)base, 100 * WK_MEM_TERMINATE,
                  (long long)memory_limit);
          kill(pid, SIGKILL);
          killed_for_memory = 1;
        }
      }
      if (lifeline >= 0 && !got_signal) {
        /* the pause between two checks is the wait on the lifeline */
        if (ld_lifeline_gone(lifeline, 100)) {
          fprintf(stderr,
                  "ldask-worker nanny %s: the process that started it is gone (--lifeline-fd), "
                  "stopping\n",
                  who);
          got_signal = SIGTERM;
        }
      } else {
        struct timespec nap = {0, 100 * 1000 * 1000};
        nanosleep(&nap, NULL);
      }
    }
    close(tell[0]);
    if (got_signal) return WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    double ran = now_s() - started;
    if (code == WK_EXIT_RESTART) {
      fprintf(stderr, "ldask-worker nanny %s: restarting the worker (asked to)\n", who);
    } else if (WIFSIGNALED(status)) {
      fprintf(stderr,
              "ldask-worker nanny %s: the worker (pid %d) was killed by signal %d%s: "
              "restarting it\n",
              who, (int)pid, WTERMSIG(status), killed_for_memory ? " (memory)" : "");
    } else if (code != 0 && code != 2 && !(code == 1 && ran < 1)) {
      fprintf(stderr, "ldask-worker nanny %s: the worker exited with code %d: restarting it\n", who,
              code);
    } else {
      /* Stopped by itself (code 0), bad options (2), or failed at start-up
       * (1 at once: a port, a directory): no restart. */
      return code;
    }
    /* A worker that dies at once again is restarted at most once a second. */
    if (ran < 1) sleep(1);
    if (got_signal || (lifeline >= 0 && ld_lifeline_gone(lifeline, 0))) return 0;
  }
}
