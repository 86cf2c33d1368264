/* sched.h — the state of ldask-scheduler: tasks, workers and clients, owned
 * by the one libuv loop of the program (no locks). state.c holds the task
 * transitions and placement, proto.c the message handlers, main.c the
 * program. Task payloads are opaque frames kept by reference for
 * recomputation; the scheduler never decodes them. */
#ifndef LDASK_SCHEDULER_SCHED_H
#define LDASK_SCHEDULER_SCHED_H

#include <stdint.h>
#include <uv.h>

#include "net/conn.h"
#include "net/kmap.h"

/* Task states (docs/protocol.md, "Task states"). */
enum {
  T_RELEASED = 0, /* no result held (not yet run, or dropped); record kept */
  T_WAITING,      /* some dependency not in memory */
  T_READY,        /* runnable, queued at the scheduler (no worker free) */
  T_PROCESSING,   /* sent to a worker */
  T_MEMORY,       /* result held by the workers in who_has */
  T_ERRED,
  T_CANCELLED
};

typedef struct sc_worker {
  int id;
  ld_conn *conn;
  char name[96];
  char addr[96]; /* where peers fetch data: tcp://host:port */
  int nthreads;
  int64_t memory_limit;
  int nprocessing;
  ld_kmap has; /* key -> sc_task, results it holds */
  int64_t nbytes;
  int64_t executed, fetched, fetched_bytes; /* from heartbeats */
  double last_seen;
  int alive;
  msgpack_sbuffer free_keys; /* packed keys of a free-keys not yet sent */
  uint32_t nfree;
  struct sc_worker *next;
} sc_worker;

typedef struct sc_client {
  int id;
  ld_conn *conn;
  ld_kmap wants;               /* key -> sc_task */
  msgpack_sbuffer fin_keys;    /* packed keys of a keys-finished not yet sent */
  msgpack_sbuffer fin_nframes; /* packed value frame counts, one per key */
  uint32_t nfin;
  ld_buffer **fin_frames; /* the small values' frames (references), in order */
  uint32_t nfin_frames, capfin_frames;
  struct sc_client *next;
} sc_client;

typedef struct sc_task {
  char *key; /* owned, NUL-terminated */
  size_t keylen;
  int state;
  int64_t prio; /* lower runs first */
  uint64_t seq; /* arrival order, breaks ties */
  struct sc_task **deps;
  int ndeps;
  struct sc_task **dependents;
  int ndependents, capdependents;
  int waiting_on; /* dependencies not in memory (T_WAITING) */
  sc_worker **who_has;
  int nwho, capwho;
  sc_worker *processing_on;
  int64_t nbytes;
  int retries;         /* reruns left after an error */
  int suspicious;      /* workers that died while running it */
  int scattered;       /* data came from scatter: cannot be recomputed */
  int lost;            /* erred because its data was lost for good */
  ld_buffer **payload; /* owned references */
  uint32_t npayload;
  ld_buffer **inline_data; /* a small result's frames, kept to answer gathers */
  uint32_t ninline;
  char **restrict_to; /* worker names or addresses */
  int nrestrict;
  int refs; /* clients wanting it */
  int *gather_clients;
  int ngather, capgather;
  char *err_msg, *err_tb;
  int heap_pos; /* index in the ready heap, -1 when not queued */
} sc_task;

typedef struct sc_state {
  uv_loop_t *loop;
  ld_kmap tasks;
  sc_worker *workers; /* alive ones */
  int nworkers;
  int next_worker_id;
  sc_client *clients;
  int next_client_id;
  sc_task **heap; /* ready tasks waiting for a worker */
  int heap_len, heap_cap;
  uint64_t seq;
  double saturation;           /* input tasks a worker may hold per thread, at least */
  double avg_task;             /* moving average of task run times (s), <0 unknown */
  struct sc_worker *last_root; /* where the previous input task went */
  double worker_ttl;           /* seconds without heartbeat before a worker is dead */
  char address[96];
  int closing;
  uv_check_t notify; /* sends the batched keys-finished after each poll */
  ld_msg **fn_msgs;  /* register-functions messages, replayed to joining workers */
  int nfn_msgs, capfn_msgs;
} sc_state;

/* state.c: transitions. */
sc_task *sc_task_new(sc_state *st, const char *key, size_t len);
void sc_task_add_dependent(sc_task *dep, sc_task *t);
void sc_recount(sc_state *st, sc_task *t); /* waiting -> ready when deps done */
void sc_finished(sc_state *st, sc_worker *w, sc_task *t, int64_t nbytes, ld_buffer *const *data,
                 uint32_t ndata);
void sc_erred(sc_state *st, sc_task *t, const char *msg, size_t mlen, const char *tb, size_t tblen);
void sc_failed_on_worker(sc_state *st, sc_worker *w, sc_task *t, const char *msg, size_t mlen,
                         const char *tb, size_t tblen);
void sc_cancel(sc_state *st, sc_task *t);
void sc_remove_holder(sc_state *st, sc_task *t, sc_worker *w);
void sc_maybe_release(sc_state *st, sc_task *t);
void sc_worker_gone(sc_state *st, sc_worker *w, const char *reason);
void sc_fill(sc_state *st); /* places queued ready tasks on free workers */
void sc_want(sc_state *st, sc_client *c, sc_task *t);
void sc_unwant(sc_state *st, sc_client *c, sc_task *t);
void sc_request_data(sc_state *st, sc_task *t, int client_id);
/* Records / clears that CLIENT_ID waits for the data of T. */
void sc_add_gather(sc_task *t, int client_id);
void sc_gather_done(sc_task *t, int client_id);

/* The one scheduler state of the process (send.c). */
extern sc_state *sc_g;

/* client_ops.c */
void sc_on_client_msg(sc_state *st, sc_client *cl, ld_msg *m, const msgpack_object *h);
ld_msg *sc_msg_clone(const ld_msg *m);

/* send.c, proto.c: messages. */
void sc_send_compute(sc_state *st, sc_task *t, sc_worker *w);
void sc_send_free(sc_worker *w, sc_task *t);
/* Queues KEY for the worker's next free-keys (sent after this loop
 * iteration's messages, or before the next message to that worker, so the
 * order of messages to a worker is kept). */
void sc_queue_free(sc_worker *w, const char *key, size_t len);
void sc_flush_frees(sc_worker *w);
void sc_flush_batches(uv_check_t *chk);
void sc_notify_key(sc_state *st, sc_task *t, const char *op);
void sc_send_data_request(sc_state *st, sc_worker *w, sc_task **ts, int n, int client_id);
void sc_send_inline(sc_state *st, sc_task **ts, int n, int client_id);
/* Tells client C about key T now (key-erred, key-cancelled) or batched
 * (key-finished). */
void sc_notify_one(sc_client *c, sc_task *t, const char *op);
sc_client *sc_find_client(sc_state *st, int id);
void sc_proto_init(sc_state *st, const ld_conn_handlers **h);
void sc_client_free(sc_client *c);
double sc_now(sc_state *st);

#endif
