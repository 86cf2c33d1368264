/* worker.h — the state of ldask-worker: tasks the scheduler assigned, data
 * it holds (results and fetched inputs, each a list of frames: frame 0 the
 * codec header, then raw buffers), connections to the scheduler and to
 * peers, and the executor threads. main.c: program and scheduler link;
 * store.c: tasks, data and peer fetches; batch.c: compute-tasks and the
 * batched tasks-finished reports; serve.c: answering requests for
 * data; memory.c: memory accounting and the spill policy under
 * --memory-limit; spill.c: spill files; requests.c: upload-file and run;
 * resources.c: --resources;
 * exec.c: executor threads, each with its own LuaJIT state running
 * lua/ldask/worker/exec.lua. */
#ifndef LDASK_WORKER_WORKER_H
#define LDASK_WORKER_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "net/conn.h"
#include "net/wake.h"
#include "util/strmap.h"

#include "wtask.h"

/* Results up to this size go to the scheduler with task-finished. */
#define WK_INLINE_MAX 1024

/* Executor threads a worker may start beyond --nthreads for seceded tasks
 * (ldask.secede), alive at the same time. */
#define WK_MAX_EXTRA 256

enum { W_FETCHING = 1, W_READY, W_EXECUTING, W_ABANDONED };

typedef struct wk_dep {
  char *key; /* (in the task's allocation, as who_has and its strings) */
  size_t keylen;
  char **who_has;
  int nwho;
  int64_t nbytes;
  ld_buffer **loaded; /* read back from a spill file for this task (owned) */
  uint32_t nloaded;
  int loading; /* a read of it is in flight */
  int fetched; /* a peer's copy when the task was handed over (store.c) */
} wk_dep;

/* A task the scheduler assigned. One allocation holds the record, its
 * run (given to the executors once its inputs are here), the payload's
 * frame array, the dependencies with their keys and holders, and the
 * run's input arrays (store.c: wk_compute). */
typedef struct wk_task {
  char *key; /* in the record's allocation, after it */
  size_t keylen;
  int state;
  int released; /* the scheduler freed it while executing */
  int64_t prio;
  ld_buffer **payload;
  uint32_t npayload;
  wk_dep *deps;
  int ndeps;
  int missing;   /* dependencies not yet here */
  int loading;   /* spilled dependencies being read back */
  int admitted;  /* may read spilled inputs back (counted in w->nadmitted) */
  int queued;    /* waiting in w->load_queue to be admitted */
  int refs;      /* the task table, each fetch waiting list holding it, each
                    read of a spilled input in flight, the load queue, the run */
  ld_wtask *run; /* &run_rec while handed to the executors, else NULL */
  ld_wtask run_rec;
} wk_task;

typedef struct wk_data {
  char *key; /* in the record's allocation, after it */
  size_t keylen;
  ld_buffer **frames;
  uint32_t nframes;
  int64_t nbytes;
  int fetched; /* a copy from a peer, unknown to the scheduler */
  int waiters; /* fetched: local tasks still to start that need it */
  /* memory.c / spill.c: where the frames are (frames is NULL on disk) */
  int where;                     /* WK_IN_RAM, WK_WRITING, WK_ON_DISK */
  int pinned;                    /* its spill failed: it stays in RAM */
  struct wk_data *older, *newer; /* the LRU list of spillable data in RAM */
  struct wk_spill_job *job;      /* WK_WRITING: the write in flight */
  char *path;                    /* WK_WRITING, WK_ON_DISK: the spill file */
  size_t *sizes;                 /* WK_WRITING, WK_ON_DISK: the frame sizes */
} wk_data;

enum { WK_IN_RAM = 0, WK_WRITING, WK_ON_DISK };

/* Whether D's frame array is the one in D's own allocation (store.c:
 * data_put), freed with D and never alone. */
static inline int wk_data_frames_inline(const wk_data *d) {
  return (const void *)d->frames == (const void *)(d + 1);
}

/* A fetch in flight from one peer. */
typedef struct wk_peer {
  char addr[80];
  ld_conn *conn;
  double heard; /* when it last answered (or was first asked), seconds */
  int asked;    /* fetches from it in flight */
  struct wk_peer *next;
} wk_peer;

typedef struct wk_fetch {
  char *key;
  size_t keylen;
  wk_peer *peer;
  double t0;         /* when it was asked for (wall clock, wk_wall) */
  wk_task **waiters; /* each holds a task reference */
  int nwaiters, capwaiters;
} wk_fetch;

/* A finished transfer, reported with the next heartbeat (the scheduler's
 * task stream shows it). */
typedef struct wk_xfer {
  char *key; /* owned */
  char from[80];
  int64_t nbytes;
  double t0, t1; /* wall clock (wk_wall) */
} wk_xfer;
#define WK_XFER_MAX 256 /* transfers kept between heartbeats; more are counted */

#define WK_RES_MAX 16  /* --resources: names at most (the scheduler's SC_RES_MAX) */
#define WK_RES_NAME 64 /* bytes of a name, with its NUL */

typedef struct wk_state {
  uv_loop_t *loop;
  ld_conn *sched;
  char sched_addr[96];
  char name[96];
  char address[96]; /* our peer server */
  char *local_dir;  /* --local-directory (absolute), or NULL */
  int nthreads;
  int64_t memory_limit;
  double death_timeout;
  double peer_timeout; /* a peer owing data silent this long is given up */
  double lost_since;   /* when the scheduler link went down, <0 when up */
  int registered;
  uint64_t sched_max_msg; /* the largest message the scheduler accepts ('registered') */
  int nanny;              /* started by a nanny (LDASK_NANNY_PID): it restarts us */
  int nres;               /* --resources (resources.c) */
  char res_name[WK_RES_MAX][WK_RES_NAME];
  double res_amount[WK_RES_MAX];
  ld_strmap tasks;    /* key -> wk_task */
  ld_strmap data;     /* key -> wk_data */
  ld_strmap fetching; /* key -> wk_fetch */
  wk_peer *peers;
  int64_t nbytes; /* data held, in RAM and on disk */
  int64_t executed, fetched, fetched_bytes;
  wk_xfer xfers[WK_XFER_MAX]; /* transfers since the last heartbeat */
  int nxfers;
  int64_t xfers_dropped; /* beyond WK_XFER_MAX since the last heartbeat */
  /* memory.c / spill.c: spilling under --memory-limit */
  int64_t memory;  /* bytes of data whose frames are in RAM (writes included) */
  int64_t spilled; /* bytes of data in spill files */
  int64_t writing; /* bytes being written to spill files */
  wk_data *lru_old, *lru_new;
  int64_t rss_base; /* RSS when the worker was ready (interpreters, libraries) */
  int64_t proc;     /* process memory: RSS above rss_base, last measured */
  int64_t headroom; /* how much tasks raise process memory while they run */
  int64_t floor;    /* process memory when the last task was handed out */
  int peak_ok;      /* the peak RSS can be reset (/proc/self/clear_refs) */
  int paused;       /* process memory above the pause threshold: tasks wait */
  int handed;       /* task runs handed to the executors, not yet back */
  int stopping_mem; /* stopping: nothing is held any more */
  /* runs waiting for room (memory.c; linked by next) */
  ld_wtask *held_head, *held_tail;
  int64_t freed;     /* bytes of frames freed since the last malloc_trim */
  int mem_high;      /* memory was above the pause threshold at the last check */
  char *spill_dir;   /* created at the first spill, removed at exit */
  int spill_off;     /* the directory could not be created: no spilling */
  int spill_logged;  /* a write failure was reported on stderr */
  int spill_jobs;    /* writes in flight (also of dropped data) */
  int spill_closing; /* stopping: files go as soon as they are written */
  uint64_t spill_seq;
  wk_task **load_queue; /* tasks waiting to read spilled inputs back */
  int nload_queue, capload_queue;
  int nadmitted; /* tasks reading spilled inputs or running with them */
  /* executor side */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct wk_ready *ready; /* heap by prio (exec.c) */
  int nready, capready;
  /* runs submitted while a message is handled (wk_exec_defer), pushed
   * onto the heap together at its end (loop thread only) */
  ld_wtask **pending;
  int npending, cappending, defer;
  ld_wtask *done_head;
  int executing;
  int stopping;
  ld_wake done_wake; /* executors -> loop: finished tasks */
  atomic_uint ndone; /* tasks the executors have finished so far */
  double run_avg;    /* recent mean run time of a task in seconds, under mu */
  uv_prepare_t lone; /* before the loop blocks: waits briefly for a lone short task */
  pthread_t *threads;
  int nstarted;
  /* secede (exec.c): executor threads alive (started ones and extra ones,
   * started for seceded tasks, detached), tasks seceded now, extra threads
   * not yet exited, and the change of seceded tasks the scheduler has not
   * been told about (sent by the loop thread as 'secede'); all under mu */
  int nlive, nseceded, nextra, secede_delta;
  char *lua_path, *lua_cpath;
  /* functions registered by clients (codec session blobs by hash) */
  ld_buffer **fn_names, **fn_blobs;
  int nfn, capfn;
  /* requests.c: uploaded modules (names, under mu) and where they are */
  char *files_dir; /* created at the first upload, removed at exit */
  char **uploads;  /* module names, each once */
  int *upload_seq; /* the number of each one's latest upload */
  int nuploads, capuploads;
  atomic_int upload_gen; /* uploads taken so far, published after the entry */
} wk_state;

/* The wall clock in seconds (CLOCK_REALTIME, as task start/stop times). */
static inline double wk_wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* store.c */
void wk_data_drop(wk_state *w, const char *key, size_t len); /* frees KEY's data */
void wk_on_compute(wk_state *w, ld_msg *m, const msgpack_object *h);
/* Tells the scheduler that task KEY failed with MSG (and traceback TB). */
void wk_send_erred(wk_state *w, const char *key, size_t klen, const char *msg, const char *tb);
/* A dependency of a task to compute, as the scheduler described it
 * (borrowed from the message). */
typedef struct wk_dep_in {
  const char *key;
  size_t keylen;
  int64_t nbytes;
  const msgpack_object *who_has; /* an array of addresses, or NULL */
} wk_dep_in;
/* Starts task KEY (PAYLOAD: NF frames, retained; NF 0: answered with
 * task-erred) with the ND dependencies IN. */
void wk_compute(wk_state *w, const char *key, size_t klen, int64_t prio, ld_buffer *const *payload,
                uint32_t nf, const wk_dep_in *in, uint32_t nd);
/* batch.c: a compute-tasks message (M, H borrowed); the task-finished
 * reports of one loop turn: wk_fin_add queues one (its N frames
 * retained), wk_fin_flush sends them as one tasks-finished (also called
 * by wk_send_sched before any other message to the scheduler). */
void wk_on_compute_batch(wk_state *w, ld_msg *m, const msgpack_object *h);
void wk_fin_add(wk_state *w, const char *key, size_t klen, int64_t nbytes, double t0, double t1,
                int thread, ld_buffer *const *frames, uint32_t n);
void wk_fin_flush(wk_state *w);
void wk_on_free(wk_state *w, const msgpack_object *h);
void wk_on_put_data(wk_state *w, ld_msg *m, const msgpack_object *h);
void wk_on_peer_data(wk_state *w, wk_peer *p, ld_msg *m, const msgpack_object *h);
void wk_peer_lost(wk_state *w, wk_peer *p, const char *reason);
/* Closes the connection to the peer at ADDR (LEN bytes) with REASON, if
 * there is one: its fetches fail and their tasks go back to the scheduler
 * (the scheduler removed that worker). */
void wk_peer_drop(wk_state *w, const char *addr, size_t len, const char *reason);
/* Closes the connection of every peer that owes data and has said nothing
 * for w->peer_timeout seconds (called every second). */
void wk_peers_check(wk_state *w);
void wk_task_done(wk_state *w, ld_wtask *r);
void wk_reset(wk_state *w);
/* Sends the packed header SB with N frames (new references) to the
 * scheduler when registered; SB is consumed (its storage freed or kept for
 * reuse; it is empty after). Loop thread only. */
void wk_send_sched(wk_state *w, msgpack_sbuffer *sb, ld_buffer *const *bufs, uint32_t n);
extern const ld_conn_handlers wk_peer_handlers;

/* resources.c: --resources SPEC ("GPU=2,MEM=8e9") into W; 0, or -1 with
 * the reason (naming the option) in ERR. wk_pack_resources packs them as
 * register-worker's 'resources' map. */
int wk_parse_resources(wk_state *w, const char *spec, char *err, size_t errlen);
void wk_pack_resources(const wk_state *w, msgpack_packer *pk);

/* store.c: the scheduler's steal-request (H borrowed): each task not yet
 * started is dropped and confirmed, others refused, in one
 * steal-response. */
void wk_on_steal(wk_state *w, const msgpack_object *h);

/* recycle.c: zeroed memory for a record of SIZE bytes (NULL when out of
 * memory), and its release; records made and freed on the loop thread. */
void *wk_rec_alloc(size_t size);
void wk_rec_free(void *p);

/* scratch.c */
/* The directory scratch directories go under: --local-directory, else
 * $TMPDIR, else /tmp (a string owned by W or the environment). */
const char *wk_scratch_base(const wk_state *w);
/* Creates BASE/PREFIX-XXXXXX (mkdtemp, mode 0700) and returns its path,
 * malloc'ed (the caller frees it); NULL with errno set on failure. */
char *wk_fresh_dir(const char *base, const char *prefix);

/* serve.c */
void wk_on_send_data(wk_state *w, ld_conn *to, const msgpack_object *h, const char *reply_op);

/* main.c: whether C (a connection a request came on: the scheduler or an
 * accepted peer) is still open, so that a late reply can be sent on it. */
int wk_conn_alive(const wk_state *w, const ld_conn *c);

/* main.c: sends a heartbeat now (memory.c, when memory crosses the pause
 * threshold). Does nothing while not registered. */
void wk_heartbeat(wk_state *w);

/* exec.c */
int wk_exec_start(wk_state *w, char *err, size_t errlen);
void wk_exec_submit(wk_state *w, ld_wtask *r);
/* Between wk_exec_defer and wk_exec_flush (nested: the outermost flush
 * counts), submitted runs wait in W and go to the executors together:
 * one lock and one wake-up for a compute-tasks message (loop thread). */
void wk_exec_defer(wk_state *w);
void wk_exec_flush(wk_state *w);
int wk_exec_cancel(wk_state *w, ld_wtask *r); /* 1 when removed before running */
void wk_exec_stop(wk_state *w);
void wk_exec_add_function(wk_state *w, ld_buffer *name, ld_buffer *blob);
void ld_wtask_free(ld_wtask *r);
/* The worker of the calling executor thread. */
wk_state *wk_exec_state(void);
/* main.c: tells the scheduler that DELTA more tasks seceded (negative:
 * rejoined); it counts them as threads of this worker meanwhile. */
void wk_send_secede(wk_state *w, int delta);

/* requests.c: upload-file and run from the scheduler (M and H borrowed);
 * wk_run_done sends a finished run's result and frees R; wk_files_cleanup
 * removes the uploaded files and their directory (at exit). */
void wk_on_upload(wk_state *w, ld_msg *m, const msgpack_object *h);
void wk_on_run(wk_state *w, ld_msg *m, const msgpack_object *h);
void wk_run_done(wk_state *w, ld_wtask *r);
void wk_files_cleanup(wk_state *w);

#endif
