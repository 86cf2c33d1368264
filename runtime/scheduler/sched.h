/* sched.h — the state of ldask-scheduler: the engine (core/sched, live
 * mode: task states, dependencies, want counts, ready queues — every
 * transition), and what is distributed-specific: workers, clients, each
 * task's side record (payload frames, who_has, the worker running it,
 * error text, gathers, restrictions). All owned by the one libuv loop of
 * the program (no locks). tasks.c holds the side records and the engine's
 * hooks, placement.c the placement of ready tasks, proto.c, graph.c
 * (update-graph) and client_ops.c the message handlers, send.c what goes
 * out, batch.c the compute-tasks batches, broadcast.c
 * the requests to every worker (upload-file, run), resources.c abstract
 * resources, steal.c work stealing, main.c the program.
 * Task payloads are opaque frames kept by reference for recomputation;
 * the scheduler never decodes them. */
#ifndef LDASK_SCHEDULER_SCHED_H
#define LDASK_SCHEDULER_SCHED_H

#include <stdint.h>
#include <uv.h>

#include "events.h"
#include "net/conn.h"
#include "sched/engine.h"

/* A compute-tasks message being packed for one worker (batch.c): the
 * columns keys, priority, nframes, ndeps (one entry per task), dep_keys,
 * dep_nbytes, dep_who (one per dependency), and the payload frames
 * (references). */
#define SC_BATCH_NCOLS 7
#define SC_BATCH_TASKS 1024              /* tasks per compute-tasks at most */
#define SC_BATCH_FRAMES 60000            /* payload frames per message at most */
#define SC_BATCH_BYTES ((size_t)4 << 20) /* header bytes before a cut */
typedef struct sc_batch {
  msgpack_sbuffer col[SC_BATCH_NCOLS];
  uint32_t n, ndeps;
  uint64_t payload_bytes; /* of the frames */
  ld_buffer **frames;
  uint32_t nframes, capframes;
} sc_batch;

/* Frames of at most this many bytes are kept as a copy in a buffer of
 * their exact size (record and bytes in one malloc: about 80 bytes for a
 * task's payload of 30, 1,064 for one of 1,020) rather than by reference
 * to the buffer they arrived in (64-byte aligned, record apart from the
 * bytes' rounding: about 176 and 1,136). The scheduler never reads them
 * as array data, so their alignment does not matter here. Larger frames
 * (their bytes allocated apart) are kept by reference. */
#define SC_COMPACT_MAX 4096

/* Abstract resources (resources.c): a cluster knows at most SC_RES_MAX
 * distinct names (GPU, MEM, ...), each of at most SC_RES_NAME - 1 bytes. */
#define SC_RES_MAX 16
#define SC_RES_NAME 64
/* What one task needs: N amounts, each of the resource numbered IDX[i]. */
typedef struct sc_need {
  int n;
  uint8_t idx[SC_RES_MAX];
  double amount[SC_RES_MAX];
} sc_need;

typedef struct sc_worker {
  int id;
  ld_conn *conn;
  char name[96];
  char addr[96];    /* where peers fetch data: tcp://host:port */
  int nthreads;     /* executor threads counted for placement: base_threads + seceded */
  int base_threads; /* as registered */
  int seceded;      /* its tasks seceded now (ldask.secede): each frees a thread */
  int nanny;        /* it has a nanny: a restart brings it back */
  int retiring;     /* retire_workers: no new tasks, results moving away (retire.c) */
  int64_t memory_limit;
  int nprocessing;
  int64_t nkeys; /* results it holds */
  int64_t nbytes;
  int64_t executed, fetched, fetched_bytes; /* from heartbeats */
  int64_t mem_reported;                     /* heartbeat 'memory': bytes in RAM, -1 unknown */
  int64_t spilled;                          /* heartbeat 'spilled': bytes on disk */
  int64_t proc_reported; /* heartbeat 'process_memory': RSS beyond its start-up footprint */
  double last_seen;
  double cpu;       /* heartbeat 'cpu': percent of one core since the previous heartbeat */
  double clock_off; /* our wall clock minus its (heartbeat 'now'), lowest seen: maps its times */
  int clock_known;
  int alive;
  msgpack_sbuffer free_keys; /* packed keys of a free-keys not yet sent */
  uint32_t nfree;
  uint64_t max_msg; /* the largest message it accepts (register-worker's max_message_size) */
  sc_batch compute; /* tasks placed here not yet sent (batch.c); never both
                       this and free_keys pending: the order is kept */
  int has_res;      /* it registered resources */
  double res_total[SC_RES_MAX]; /* by resource number: what it has */
  double res_used[SC_RES_MAX];  /* what its processing tasks take */
  int steal_in, steal_out;      /* steals in flight to it, from it (steal.c) */
  struct sc_worker *next;
} sc_worker;

typedef struct sc_client {
  int id;
  ld_conn *conn;
  msgpack_sbuffer fin_keys;    /* packed keys of a keys-finished not yet sent */
  msgpack_sbuffer fin_nframes; /* packed value frame counts, one per key */
  uint32_t nfin;
  ld_buffer **fin_frames; /* the small values' frames (references), in order */
  uint32_t nfin_frames, capfin_frames;
  struct sc_client *next;
} sc_client;

/* Frames held by reference (ld_buffer_retain): one without an allocation,
 * more in an owned array. */
typedef struct sc_frames {
  union {
    ld_buffer **many; /* owned, when n > 1 */
    ld_buffer *one;   /* when n == 1 */
  };
  uint32_t n;
} sc_frames;

static inline ld_buffer *const *sc_frames_ptr(const sc_frames *f) {
  return f->n > 1 ? f->many : &f->one;
}

/* What few tasks need of their side record (sc_task.rare): restrictions,
 * extra wanting clients, gathers waiting, error text, resources, steals.
 * Allocated on first write (sc_rw), freed with the record. */
typedef struct sc_rare {
  char **restrict_to; /* owned: worker names or addresses */
  int nrestrict;
  int capmore;
  int *want_more;      /* owned: the ids of the wanting clients after the first (nwant - 1) */
  int *gather_clients; /* owned: clients waiting for the data */
  int ngather, capgather;
  char *err_msg, *err_tb; /* owned: the error text, or NULL */
  char *err_key;          /* owned: the key of the task that failed first, when a
                             dependency's error made this one fail (else NULL) */
  sc_need *need;          /* owned: the resources it needs while it runs, or NULL */
  int res_parked;         /* parked in st->res_parked, waiting for resources */
  int steal_to;           /* 1 + the id of the thief of a steal in flight, 0 none */
  int no_steal;           /* its worker refused to give it up: not asked again there */
} sc_rare;

/* The scheduler's side record of engine task ID: what the engine does not
 * know. Kept in pages (stable addresses) indexed by the engine's id; zeroed
 * when the engine forgets the task. 96 bytes: what most tasks never use is
 * in RARE. */
typedef struct sc_task {
  int32_t id;
  int32_t prefix; /* index in the prefix table (events.h) */
  int64_t nbytes;
  union {
    sc_worker **who_has; /* owned, when capwho > 0 */
    sc_worker *who_has1; /* the one holder while capwho == 0 */
  };
  int32_t nwho, capwho;
  sc_worker *processing_on;
  sc_frames payload; /* the task's payload frames, kept for recomputation */
  sc_frames result;  /* a small result's frames, kept to answer gathers */
  int32_t nwant;     /* clients wanting it (each counted once by the engine) */
  int32_t want1;     /* the first one's id */
  int32_t retries;   /* reruns left after an error */
  uint8_t scattered; /* data came from scatter: cannot be recomputed */
  uint8_t lost;      /* erred because its data was lost for good */
  sc_rare *rare;     /* owned, or NULL: all zero */
} sc_task;

/* The rare part of T for reading (all zero when it has none). */
extern const sc_rare sc_no_rare;
static inline const sc_rare *sc_r(const sc_task *t) { return t->rare ? t->rare : &sc_no_rare; }
/* The rare part of T for writing (allocated zeroed on first use; aborts
 * when out of memory). */
sc_rare *sc_rw(sc_task *t);

#define SC_PAGE_BITS 12
#define SC_PAGE (1 << SC_PAGE_BITS)

typedef struct sc_state {
  uv_loop_t *loop;
  ld_sched *eng;   /* live mode; ids index the side records */
  sc_task **pages; /* side records, SC_PAGE per page */
  int32_t npages;
  sc_worker *workers; /* alive ones */
  int nworkers;
  int next_worker_id;
  sc_client *clients;
  int next_client_id;
  double saturation;           /* input tasks a worker may hold per thread, at least */
  double avg_task;             /* moving average of task run times (s), <0 unknown */
  struct sc_worker *last_root; /* where the previous input task went */
  double worker_ttl;           /* seconds without heartbeat before a worker is dead */
  char address[96];
  int closing;
  uv_check_t notify; /* sends the batched keys-finished after each poll */
  uv_idle_t kick;    /* while batches wait: the loop does not block before notify */
  ld_msg **fn_msgs;  /* register-functions messages, replayed to joining workers */
  int nfn_msgs, capfn_msgs;
  /* broadcast.c: requests to workers in flight, uploaded files (by name) */
  struct sc_request *requests;
  int64_t next_request;
  ld_msg **uploads; /* upload-file messages (id 0), replayed to joining workers */
  char **upload_names;
  int nuploads, capuploads;
  /* the dashboard (events.c, http*.c) */
  sc_events ev;         /* the event stream */
  char dashboard[128];  /* "http://HOST:PORT", empty when disabled */
  struct sc_http *http; /* the dashboard's server, or NULL */
  /* resources.c: resource names by number; ready tasks waiting for
   * resources (parked; an entry counts while its task's res_parked is
   * set); res_wake: resources were freed, look again */
  char res_names[SC_RES_MAX][SC_RES_NAME];
  int nres;
  int32_t *res_parked;
  int nres_parked, capres_parked;
  int res_wake;
  struct sc_steal *steal; /* steal.c: work stealing, NULL when off */
} sc_state;

/* tasks.c: side records and the engine's hooks. */
/* Creates the engine (hooks set). Returns 0 or -1. */
int sc_tasks_init(sc_state *st);
/* The side record of engine id ID (must be live). */
static inline sc_task *sc_side(const sc_state *st, int32_t id) {
  return &st->pages[id >> SC_PAGE_BITS][id & (SC_PAGE - 1)];
}
/* Creates a record for KEY (engine + side record). NULL when the key is
 * known or holds a NUL byte (*RC = LD_SCHED_EKEY) or when out of memory
 * (*RC = LD_SCHED_ENOMEM). */
sc_task *sc_task_new(sc_state *st, const char *key, size_t len, int64_t prio, int *rc);
/* The key of T (owned by the engine, stable while T lives). */
const char *sc_key(const sc_state *st, const sc_task *t, size_t *len);
/* The engine state of T (LD_TASK_*). */
int sc_state_of(const sc_state *st, const sc_task *t);
/* Sets F to the N FRAMES (references taken, or compact copies of small
 * frames; the previous ones released). */
void sc_frames_set(sc_frames *f, ld_buffer *const *frames, uint32_t n);
/* Releases the frames of F; F is empty after. */
void sc_frames_drop(sc_frames *f);
sc_worker *const *sc_who_has(const sc_task *t);
void sc_finished(sc_state *st, sc_worker *w, sc_task *t, int64_t nbytes, ld_buffer *const *data,
                 uint32_t ndata);
/* T errs with MSG and TB (copied) unless already erred or in memory. */
void sc_erred(sc_state *st, sc_task *t, const char *msg, size_t mlen, const char *tb, size_t tblen);
void sc_failed_on_worker(sc_state *st, sc_worker *w, sc_task *t, const char *msg, size_t mlen,
                         const char *tb, size_t tblen);
/* T (processing on W) must be recomputed: an input was missing. */
void sc_missing_input(sc_state *st, sc_worker *w, sc_task *t);
void sc_remove_holder(sc_state *st, sc_task *t, sc_worker *w);
void sc_worker_gone(sc_state *st, sc_worker *w, const char *reason);
void sc_want(sc_state *st, sc_client *c, sc_task *t);
/* Whether client CLIENT_ID wants T. */
int sc_wanted_by(const sc_task *t, int client_id);
void sc_unwant(sc_state *st, sc_client *c, sc_task *t);
void sc_request_data(sc_state *st, sc_task *t, int client_id);
/* Records / clears that CLIENT_ID waits for the data of T. */
void sc_add_gather(sc_task *t, int client_id);
void sc_gather_done(sc_task *t, int client_id);
/* Out of memory in the scheduler: says so and aborts. */
void *sc_xrealloc(void *p, size_t n);

/* placement.c: whether T's workers= names no connected worker, or no
 * connected worker has the resources it needs. */
int sc_no_worker(const sc_state *st, const sc_task *t);
/* placement.c: whether W is at its memory limit (no new input tasks). */
int sc_paused(const sc_worker *w);
/* placement.c: whether T may run on W (workers=, resources, retiring). */
int sc_allowed(const sc_task *t, const sc_worker *w);
/* placement.c: hands ready task T to W: processing there (resources
 * taken), compute-tasks queued. */
void sc_run_on(sc_state *st, sc_task *t, sc_worker *w);
/* tasks.c: T (processing on its worker) leaves it: the count and the
 * resources go back, a steal in flight is forgotten. The worker is not
 * told (the caller does, when needed). */
void sc_unassign(sc_state *st, sc_task *t);

/* resources.c: abstract resources (docs/distributed.md, "Resources").
 * sc_res_worker reads register-worker's 'resources' map (O, may be NULL)
 * into W; sc_res_need reads update-graph's 'resources' map into a new
 * *OUT (NULL when O is absent or empty; the caller owns it). Both return
 * 0, or -1 with the reason in ERR (nothing changed). */
int sc_res_worker(sc_state *st, sc_worker *w, const msgpack_object *o, char *err, size_t errlen);
int sc_res_need(sc_state *st, const msgpack_object *o, sc_need **out, char *err, size_t errlen);
/* Whether W has (in total) / has free now what T needs (T without needs:
 * 1). */
int sc_res_has(const sc_task *t, const sc_worker *w);
int sc_res_fits(const sc_task *t, const sc_worker *w);
/* T starts / stops taking its resources on W. */
void sc_res_take(sc_task *t, sc_worker *w);
void sc_res_give(sc_state *st, sc_task *t, sc_worker *w);
/* Parks ready task ID (it needs resources no worker has free) until
 * sc_res_unpark_all; sc_res_unpark_all puts every parked task back in
 * the ready queue (when resources were freed or a worker joined). */
void sc_res_park(sc_state *st, int32_t id);
void sc_res_unpark_all(sc_state *st);
/* Packs a map of resource names to amounts: a worker's TOTALS (by
 * resource number, the non-zero ones), else NEED (NULL: an empty map). */
void sc_res_pack(const sc_state *st, msgpack_packer *pk, const double *totals, const sc_need *need);
void sc_res_free(sc_state *st);

/* steal.c: work stealing (docs/distributed.md, "Work stealing").
 * sc_steal_init turns it on (0, or -1 out of memory); sc_steal_learn
 * records a run of D seconds of T's prefix; sc_steal_maybe balances when
 * a worker has idle threads while another holds queued tasks (cheap when
 * not: O(workers)); sc_steal_response handles a victim's steal-response
 * (H borrowed); sc_steal_free stops it (at exit). */
int sc_steal_init(sc_state *st);
void sc_steal_learn(sc_state *st, const sc_task *t, double d);
/* T starts (ON 1) or stops (ON 0) processing on a worker (stealing on). */
void sc_steal_count(sc_state *st, const sc_task *t, int on);
void sc_steal_maybe(sc_state *st);
void sc_steal_response(sc_state *st, sc_worker *w, const msgpack_object *h);
/* T (processing on VICTIM, a steal in flight) leaves VICTIM another way:
 * the steal is forgotten (its response will be ignored). */
void sc_steal_cancel(sc_state *st, sc_task *t, sc_worker *victim);
void sc_steal_free(sc_state *st);
/* identity counters: steal requests sent, confirmed, refused */
extern uint64_t sc_steals_asked, sc_steals_done, sc_steals_refused;
/* placement.c: sends ready tasks to workers (by data locality, else the
 * least loaded; input tasks only as fast as workers run them). */
void sc_fill(sc_state *st);

/* The one scheduler state of the process (send.c). */
extern sc_state *sc_g;

/* graph.c: a client's update-graph (M, H borrowed), either form. */
void sc_op_update_graph(sc_state *st, sc_client *cl, ld_msg *m, const msgpack_object *h);

/* client_ops.c */
void sc_on_client_msg(sc_state *st, sc_client *cl, ld_msg *m, const msgpack_object *h);
ld_msg *sc_msg_clone(const ld_msg *m);

/* broadcast.c: requests to every worker (docs/protocol.md, "Requests to
 * workers"). sc_op_run / sc_op_upload handle a client's run / upload-file
 * (M and H borrowed); sc_on_worker_reply a worker's run-result or
 * upload-file-done; sc_requests_worker_gone answers for W (leaving) in
 * every request waiting on it; sc_replay_uploads sends the uploaded files
 * to a worker that joins; sc_broadcast_free frees it all at exit. */
void sc_op_run(sc_state *st, sc_client *cl, ld_msg *m, const msgpack_object *h);
void sc_op_upload(sc_state *st, sc_client *cl, ld_msg *m, const msgpack_object *h);
void sc_on_worker_reply(sc_state *st, sc_worker *w, ld_msg *m, const msgpack_object *h);
void sc_requests_worker_gone(sc_state *st, sc_worker *w, const char *reason);
void sc_replay_uploads(sc_state *st, sc_worker *w);
void sc_broadcast_free(sc_state *st);

/* restart.c: a client's restart (H borrowed; answered with restart-reply
 * once the workers are back); sc_restart_free frees what is pending (at
 * exit). */
void sc_op_restart(sc_state *st, sc_client *cl, const msgpack_object *h);
void sc_restart_free(void);

/* coord.c: published datasets and coordination primitives (Variable,
 * Queue, Lock, Semaphore, Event). sc_op_coord answers a client's coord
 * request (M and H borrowed); sc_coord_client_gone gives back the locks
 * and leases of a client whose connection closed; sc_coord_free frees
 * everything at exit (the engine is not touched). */
void sc_op_coord(sc_state *st, sc_client *cl, ld_msg *m, const msgpack_object *h);
void sc_coord_client_gone(sc_state *st, int client_id);
/* Lets go of fire-and-forget tasks that finished (at most every 50 ms). */
void sc_coord_sweep(sc_state *st);
void sc_coord_free(void);
/* coord.c: a client's versions request: ldask, protocol, LuaJIT, libuv,
 * OpenSSL and msgpack-c versions of this scheduler. */
void sc_op_versions(sc_state *st, sc_client *cl, const msgpack_object *h);

/* replicate.c: copies of results between workers (Client:replicate,
 * Client:rebalance). The client id of the data requests it makes: */
#define SC_REPLICA_CLIENT (-7)
void sc_op_replicate(sc_state *st, sc_client *cl, const msgpack_object *h);
void sc_op_rebalance(sc_state *st, sc_client *cl, const msgpack_object *h);
/* A gather-data answering one of its data requests (M, H borrowed). */
void sc_replica_data(sc_state *st, sc_worker *w, ld_msg *m, const msgpack_object *h);
/* W's task-finished for T (in memory) is a copy it was sent: W becomes a
 * holder (returns 1). 0: not a copy. */
int sc_replica_arrived(sc_state *st, sc_worker *w, sc_task *t);
void sc_replicas_worker_gone(sc_state *st, sc_worker *w);
int sc_copies_pending(void);
void sc_replicas_free(void);
/* tasks.c: W holds the data of T (counted once). */
void sc_add_holder(sc_task *t, sc_worker *w);
/* retire.c: a client's retire-workers (H borrowed; answered with
 * retire-workers-reply once the workers have left); sc_retire_on_data
 * takes a worker's gather-data made for a retirement (returns 1 and frees
 * M, else 0); sc_retire_free frees what is pending (at exit). */
void sc_op_retire(sc_state *st, sc_client *cl, const msgpack_object *h);
int sc_retire_on_data(sc_state *st, sc_worker *from, ld_msg *m, const msgpack_object *h);
void sc_retire_free(void);

/* batch.c: compute-tasks batches. sc_send_compute adds T (placed on W)
 * to W's batch; sc_flush_compute sends W's batch now; sc_flush_worker
 * sends whatever W has pending (compute-tasks or free-keys), in order:
 * called before any other message to W. sc_batch_drop empties a batch
 * (a worker gone), sc_batch_free frees it. The counters: compute-tasks
 * messages sent, the tasks in them, the most in one (identity-reply). */
void sc_send_compute(sc_state *st, sc_task *t, sc_worker *w);
void sc_flush_compute(sc_worker *w);
void sc_flush_worker(sc_worker *w);
void sc_batch_drop(sc_batch *b);
void sc_batch_free(sc_batch *b);
extern uint64_t sc_batches_sent, sc_batched_tasks, sc_largest_batch;
/* batches cut because the next task would pass the worker's max_message_size */
extern uint64_t sc_batches_cut;
/* send.c: the batches go out after this loop iteration's messages. */
void sc_flush_soon(sc_state *st);

/* send.c, proto.c: messages. */
void sc_send_free(sc_worker *w, sc_task *t);
/* Tells every other worker that GONE was removed: their fetches from it
 * fail at once (it may be frozen, its peer connections open but mute) and
 * come back as missing-data, so the tasks waiting for them are rescheduled. */
void sc_send_worker_removed(sc_state *st, const sc_worker *gone);
/* Queues KEY for the worker's next free-keys (sent after this loop
 * iteration's messages, or before the next message to that worker, so the
 * order of messages to a worker is kept). */
void sc_queue_free(sc_worker *w, const char *key, size_t len);
void sc_flush_frees(sc_worker *w);
void sc_flush_batches(uv_check_t *chk);
void sc_notify_key(sc_state *st, sc_task *t, const char *op);
void sc_send_data_request(sc_state *st, sc_worker *w, sc_task **ts, int n, int client_id);
/* Sends KEY's value (the N FRAMES, retained) to W to keep (put-data: it
 * answers task-finished, which makes it a holder). */
void sc_send_put_data(sc_worker *w, const char *key, size_t klen, ld_buffer *const *frames,
                      uint32_t n);
void sc_send_inline(sc_state *st, sc_task **ts, int n, int client_id);
/* Tells client C about key T now (key-erred, key-cancelled) or batched
 * (key-finished). */
void sc_notify_one(sc_client *c, sc_task *t, const char *op);
sc_client *sc_find_client(sc_state *st, int id);
void sc_proto_init(sc_state *st, const ld_conn_handlers **h);
void sc_client_free(sc_client *c);
double sc_now(sc_state *st);
/* A worker's wall-clock time T (seconds) as seconds since the scheduler
 * started (its clock offset applied). */
double sc_worker_time(const sc_state *st, const sc_worker *w, double t);

#endif
