/* fuzz_sched_ops.c — libFuzzer harness of ldask-scheduler's message
 * handlers: the scheduler's own state, handlers and listening server
 * (runtime/scheduler/ without main.c) run on this thread's loop, and each
 * input is played by fz_play (loopback.c) as up to four connections —
 * clients, workers, raw bytes — sending msgpack headers and frames of any
 * op (update-graph, gather, scatter, register-worker, task-finished, ...).
 * The scheduler's state lives on across inputs, as a long-running
 * scheduler's does; after each input every connection is closed and the
 * scheduler must have forgotten every client and worker. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "loopback.h"
#include "schedstate.h"
#include "sched.h"

static sc_state st;
static int port;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fz_sched_state_init(&st);
  const ld_conn_handlers *h;
  sc_proto_init(&st, &h);
  char err[256];
  ld_server *srv =
      ld_server_listen(st.loop, "127.0.0.1", 0, "scheduler", h, NULL, &st, err, sizeof err);
  fz_check(srv != NULL, "listen: %s", err);
  port = ld_server_port(srv);
  snprintf(st.address, sizeof st.address, "tcp://127.0.0.1:%d", port);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_in in = {data, size};
  fz_play(st.loop, port, &in);
  st.closing = 0; /* a client's shutdown stops the loop: the next input restarts it */
  fz_check(st.clients == NULL, "a client record outlives its connection");
  fz_check(st.workers == NULL && st.nworkers == 0, "a worker record outlives its connection");
  /* With no client left, no task is wanted: every one must be forgotten. */
  int32_t limit = ld_sched_id_limit(st.eng), live = 0, first = -1;
  for (int32_t id = 0; id < limit; id++) {
    int state = ld_sched_state(st.eng, id);
    if (state != LD_TASK_FREE && state >= 0) live++, first = first < 0 ? id : first;
  }
  if (live) {
    size_t klen = 0;
    const char *key = sc_key(&st, sc_side(&st, first), &klen);
    fz_check(0, "%d tasks outlive every client, e.g. '%.*s' in state %d", live, (int)klen, key,
             ld_sched_state(st.eng, first));
  }
  return 0;
}
