/* events.h — ldask-scheduler's event stream: a bounded ring of what the
 * engine did on the workers (a task computed or erred on a worker thread,
 * with its start and stop; a transfer of bytes from one worker to
 * another), the names of the task prefixes, the workers' addresses by id,
 * and the counters the dashboard reports (tasks completed, bytes moved,
 * events dropped). Written on every task-finished, task-erred and
 * heartbeat; read by the dashboard (http_api.c). The ring has a fixed
 * capacity (--events-capacity, default 50,000): the oldest events are
 * overwritten and counted as dropped; 0 keeps none. Owned by the
 * scheduler's loop. */
#ifndef LDASK_SCHEDULER_EVENTS_H
#define LDASK_SCHEDULER_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "util/strmap.h"

enum { SC_EV_COMPUTE = 0, SC_EV_TRANSFER = 1 };

#define SC_EV_INLINE 48         /* keys up to this many bytes live in the slot */
#define SC_EV_DEFAULT_CAP 50000 /* default ring capacity */
#define SC_EV_MAX_CAP 10000000  /* --events-capacity upper bound */
#define SC_PREFIX_MAX 1000      /* distinct prefixes named; more count as "other" */
#define SC_PREFIX_OTHER 0       /* the prefix index of "other" */

typedef struct sc_event {
  uint64_t seq;       /* 1, 2, ...: its number in the stream */
  double start, stop; /* seconds since the scheduler started */
  int64_t bytes;      /* the result's size (compute) or the bytes moved (transfer) */
  int32_t worker;     /* the worker's id (sc_events_worker_addr) */
  int32_t peer;       /* transfer: the sending worker's id, -1 unknown */
  int16_t thread;     /* compute: the worker's executor thread, -1 unknown */
  uint8_t kind;       /* SC_EV_* */
  uint8_t erred;      /* compute: the task raised */
  uint32_t keylen;
  char *heap_key; /* owned, when keylen > SC_EV_INLINE */
  char inl[SC_EV_INLINE];
} sc_event;

typedef struct sc_events {
  sc_event *ring; /* owned, cap slots (allocated at the first event) */
  uint32_t cap;
  uint64_t next_seq; /* the seq of the next event (from 1) */
  uint64_t dropped;  /* events lost: overwritten, or not recorded by a worker */
  double t0_real;    /* the scheduler's start, wall clock */
  /* worker addresses by worker id (ids are never reused) */
  char **waddr;
  int32_t nwaddr, capwaddr;
  /* task prefixes: index -> name; name -> index + 1 */
  char **prefix;
  int32_t nprefix, capprefix;
  ld_strmap prefix_ix;
  int32_t last_prefix; /* 1 + the index found last, tried first (keys come in runs); 0 none */
  /* counters since the start */
  int64_t completed, erred, transfer_bytes, transfers;
} sc_events;

/* Sets E up with a ring of CAP events (allocated at the first event; 0:
 * no events are kept, only counted). Returns 0, or -1 when out of memory. */
int sc_events_init(sc_events *e, uint32_t cap);
void sc_events_free(sc_events *e);

/* The wall clock in seconds (CLOCK_REALTIME, the workers' clock for task
 * times), and the same as seconds since the scheduler started. */
double sc_wall(void);
double sc_events_now(const sc_events *e);

/* Records a compute or a transfer (KEY copied). START and STOP are in
 * seconds since the scheduler started. */
void sc_events_compute(sc_events *e, const char *key, size_t klen, int32_t worker, int thread,
                       double start, double stop, int64_t nbytes, int erred);
void sc_events_transfer(sc_events *e, const char *key, size_t klen, int32_t to, int32_t from,
                        double start, double stop, int64_t nbytes);

/* The event numbered SEQ, or NULL when it is not in the ring (not yet
 * recorded, or overwritten). */
const sc_event *sc_events_get(const sc_events *e, uint64_t seq);
/* The oldest seq still in the ring (next_seq when it is empty). */
uint64_t sc_events_first(const sc_events *e);
static inline const char *sc_event_key(const sc_event *ev) {
  return ev->keylen > SC_EV_INLINE ? ev->heap_key : ev->inl;
}

/* Remembers the address of worker ID (copied). */
void sc_events_worker(sc_events *e, int32_t id, const char *addr);
/* The address of worker ID, or "" when unknown. */
const char *sc_events_worker_addr(const sc_events *e, int32_t id);

/* The prefix of KEY as dask's key_split: the first '-' word and the
 * words after it made of letters only (not an 8-digit hex token), of the
 * part before the first ',': "inc-3f9a0b1c,0,2" -> "inc",
 * "read-csv-9ac0...-3" -> "read-csv"; a tuple key "('x-3f9a', 0)" is read
 * without its "('". Sets *LEN; returns a pointer into KEY. */
const char *sc_key_prefix(const char *key, size_t klen, size_t *len);
/* The index of the prefix of KEY in the table (added when new; the table
 * holds at most SC_PREFIX_MAX names, then SC_PREFIX_OTHER). */
int32_t sc_events_prefix_of(sc_events *e, const char *key, size_t klen);
static inline const char *sc_events_prefix_name(const sc_events *e, int32_t ix) {
  return ix >= 0 && ix < e->nprefix ? e->prefix[ix] : "other";
}

#endif
