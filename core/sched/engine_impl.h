/* engine_impl.h — the scheduling engine's tables, shared by engine.c (the
 * tables, batch mode, queries) and live.c (live mode). Private to
 * core/sched/. */
#ifndef LDASK_SCHED_ENGINE_IMPL_H
#define LDASK_SCHED_ENGINE_IMPL_H

#include "sched/engine.h"

/* Per-task flags. */
enum {
  F_NEEDED = 1,  /* batch mode: must run (not culled) */
  F_DATA = 2,    /* live: data without a computation (cannot be recomputed) */
  F_RECOUNT = 4, /* live: requeued WAITING, dependency count stale until compute */
  F_CHECK = 8,   /* live: on the check list */
  F_PARKED = 16, /* live: READY but out of its queue (ld_sched_park) */
  F_VISIT = 32   /* live: on the stack of ld_sched_compute */
};

struct ld_sched {
  ld_sched_release_fn release;
  void *ctx;
  const ld_sched_hooks *hooks; /* live mode */
  void *hctx;
  int live;
  int32_t n, cap;       /* ids in use are below n; capacity of per-task arrays */
  int32_t nedges, ecap; /* dependency entries used, capacity */
  int32_t dead_edges;   /* live: entries of forgotten records, reclaimed by compaction */
  int32_t started;      /* batch: tasks [0, started) went through ld_sched_start */
  int32_t free_head;    /* live: first free id (-1 none); chained through nwait */
  int32_t nlive;        /* live: records in use */
  uint32_t next_seq;    /* creation order, breaks priority ties */
  /* per task */
  uint8_t *state, *flags, *deaths;
  int64_t *prio;
  uint32_t *seq;
  int32_t *nwait;       /* dependencies not in memory (WAITING) */
  int32_t *nrefs;       /* dependents that still need the result */
  int32_t *wants;       /* want count */
  int32_t *ndependents; /* dependent records (live) */
  int32_t *dep_start, *dep_n;
  int32_t *dhead; /* first dependent edge, -1 none */
  int32_t *hpos;  /* index in its ready queue, -1 */
  void **value;
  int64_t *nbytes;
  /* per dependency entry: entry j of task t is both "t depends on
   * dep_idx[j]" and a link in dep_idx[j]'s list of dependents */
  int32_t *dep_idx;
  int32_t *enext, *etask; /* etask -1: a dead entry (forgotten record) */
  ld_heap ready[2];       /* [0] tasks with dependencies, [1] without */
  ld_keys keys;
  /* live: records to re-examine (release, stop, forget) */
  int32_t *check; /* ids to re-examine (release, stop, forget) */
  int32_t ncheck, capcheck;
  int32_t *stack; /* live: ld_sched_compute's stack, kept */
  int32_t capstack;
  /* counters */
  int64_t needed, finished, processing, erred, in_memory, mem_bytes, peak_bytes;
  int32_t first_error;
  int cancelled;
  /* events */
  int ev_mask;
  ld_sched_event *ev;
  int32_t ev_head, ev_len, ev_cap;
};

static inline ld_heap_order sched_order(const ld_sched *s) {
  ld_heap_order o = {s->prio, s->seq, s->hpos};
  return o;
}

static inline int sched_pending(int st) {
  return st == LD_TASK_WAITING || st == LD_TASK_READY || st == LD_TASK_PROCESSING;
}

/* Grows the per-task arrays to hold NEED tasks. Returns 0 or -1. */
int sched_reserve_tasks(ld_sched *s, int32_t need);
/* Grows the dependency entries to hold NEED. Returns 0 or -1. */
int sched_reserve_edges(ld_sched *s, int64_t need);
/* Records an event (best effort). */
void sched_emit(ld_sched *s, int kind, int32_t id, int32_t worker, double t0, double t1);
/* Sets every per-task field of ID to a fresh record's (no dependencies,
 * not queued, not wanted) with STATE and PRIO; the next arrival number. */
void sched_init_task(ld_sched *s, int32_t id, int state, int64_t prio);
/* Queues READY task ID in its ready queue. Returns 0 or -1 (no memory). */
int sched_queue(ld_sched *s, int32_t id);
/* Takes task ID out of its ready queue, if queued. */
void sched_unqueue(ld_sched *s, int32_t id);
/* Drops the value of MEMORY task ID from the accounting; hands it to the
 * release callback. */
void sched_drop_value(ld_sched *s, int32_t id);

/* live.c: the live-mode versions of ld_sched_finish and ld_sched_fail. */
int sched_live_finish(ld_sched *s, int32_t id, int64_t nbytes);
int sched_live_fail(ld_sched *s, int32_t id);

#endif
