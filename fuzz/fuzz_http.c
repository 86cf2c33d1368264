/* fuzz_http.c — libFuzzer harness of ldask-scheduler's dashboard server
 * (runtime/scheduler/http*.c): the scheduler's state and its HTTP server
 * with a cluster token run on this thread's loop, and each input is sent
 * as raw bytes over one loopback connection (fz_play, loopback.c): request
 * lines, headers, bodies, pipelined requests, the token in a query, a
 * login form or a bearer header. After each input the connection is
 * closed and the server must have closed its side within 10 s. The seeds
 * (fuzz/corpus/http) are requests to every path, with the token of the
 * harness's token file. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "loopback.h"
#include "schedstate.h"
#include "net/auth.h"

static sc_state st;
static int port;

/* The token the seeds carry (fuzz/corpus/http). */
#define FZ_TOKEN "fuzz-token-0123456789abcdef"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fz_sched_state_init(&st);
  snprintf(st.address, sizeof st.address, "tcp://127.0.0.1:1");
  char path[64];
  snprintf(path, sizeof path, "/tmp/ldask-fuzz-http-token-%d", (int)getpid());
  FILE *f = fopen(path, "w");
  fz_check(f != NULL, "cannot write %s", path);
  fputs(FZ_TOKEN "\n", f);
  fclose(f);
  chmod(path, 0600);
  ld_sec_opts so = {0};
  so.token_file = path;
  char err[512];
  ld_sec *sec = ld_sec_new(&so, err, sizeof err);
  unlink(path);
  fz_check(sec != NULL, "token: %s", err);
  /* the pages: the spec's fixture folder */
  setenv("LDASK_DASHBOARD_DIR", LDASK_SRC_ROOT "/spec/fixtures/dashboard", 1);
  sc_http_opts o = {"127.0.0.1", 0, 0, sec, NULL};
  sc_http *h = sc_http_start(&st, &o, err, sizeof err);
  fz_check(h != NULL, "listen: %s", err);
  port = sc_http_port(h);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* as a message input (docs/fuzzing.md): every connection raw, the bytes
   * on connection 0 in records of at most 4 KiB */
  size_t nrec = size / 4096 + 1;
  uint8_t *buf = malloc(1 + size + 3 * nrec);
  fz_check(buf != NULL, "out of memory");
  size_t k = 0;
  buf[k++] = 0xAA;
  for (size_t off = 0; off < size || off == 0; off += 4096) {
    size_t n = size - off < 4096 ? size - off : 4096;
    buf[k++] = 0x10;
    buf[k++] = (uint8_t)(n & 0xff), buf[k++] = (uint8_t)(n >> 8);
    memcpy(buf + k, data + off, n);
    k += n;
    if (size == 0) break;
  }
  fz_in in = {buf, k};
  fz_play(st.loop, port, &in);
  free(buf);
  return 0;
}
