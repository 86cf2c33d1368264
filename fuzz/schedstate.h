/* schedstate.h — the scheduler's state as the scheduler harnesses set it
 * up (fuzz_sched_ops.c, fuzz_http.c): main.c's defaults, the event ring,
 * the engine, on this thread's default loop; SIGPIPE ignored. */
#ifndef LDASK_FUZZ_SCHEDSTATE_H
#define LDASK_FUZZ_SCHEDSTATE_H

#include <signal.h>

#include "common.h"
#include "sched.h"

static inline void fz_sched_state_init(sc_state *st) {
  signal(SIGPIPE, SIG_IGN);
  st->saturation = 2;
  st->avg_task = -1;
  st->worker_ttl = 30;
  st->loop = uv_default_loop();
  fz_check(sc_events_init(&st->ev, SC_EV_DEFAULT_CAP) == 0 && sc_tasks_init(st) == 0,
           "the scheduler's state: out of memory");
}

#endif
