/* wtask.h — a task as an executor thread of ldask-worker sees it, and the
 * calls its Lua loop (lua/ldask/worker/exec.lua) makes through the FFI. This
 * is the one C definition that lua/ldask/ffi/net.lua mirrors field by field;
 * spec/unit/ffi_cdef_spec.lua compiles the cdefs against it. */
#ifndef LDASK_WORKER_WTASK_H
#define LDASK_WORKER_WTASK_H

#include <stddef.h>
#include <stdint.h>

#include "util/buffer.h"

struct wk_task;
struct ld_wbatch;

/* A task handed to an executor thread. Filled by the loop thread; the
 * executor reads inputs and sets outputs through the ld_wtask_* calls
 * (exported for the FFI: lua/ldask/ffi/net.lua). */
typedef struct ld_wtask {
  const char *key; /* borrowed from the wk_task */
  size_t keylen;
  ld_buffer **payload; /* borrowed */
  uint32_t npayload;
  uint32_t ndeps;
  const char **dep_keys; /* owned arrays; the frames are owned references */
  size_t *dep_keylens;
  ld_buffer ***dep_frames;
  uint32_t *dep_nframes;
  /* outputs */
  int ok;
  ld_buffer **out; /* owned references (result frames) */
  uint32_t nout;
  char *err, *tb; /* malloc'ed */
  double t0, t1;
  struct wk_task *owner; /* NULL: a client's run (requests.c) */
  struct ld_wtask *next;
  int owns_payload;        /* a run: the payload array and references are its own */
  int64_t run_id;          /* a run: the scheduler's request id */
  int thread;              /* the executor thread that ran it (0-based; set by ld_wexec_take) */
  struct ld_wbatch *batch; /* the batch that took it, until handed back (exec.c, under mu) */
  int slot;                /* its slot there */
  int in_task;             /* in its wk_task's allocation with its dependency arrays */
  ld_buffer *out1;         /* out's storage for a result of one frame */
} ld_wtask;

/* Called by the executor (Lua, through the FFI) with the result's codec
 * header and buffers: the task takes a new reference to each buffer. */
int ld_wtask_set_result(ld_wtask *t, const char *hdr, size_t len, ld_buffer *const *bufs,
                        uint32_t n);
/* Called by the executor when the task raised. Copies both strings. */
void ld_wtask_set_error(ld_wtask *t, const char *msg, size_t mlen, const char *tb, size_t tblen);

/* What an executor thread runs at a time: a batch of tasks taken from the
 * ready heap in priority order under one lock (ld_wexec_take), claimed one
 * by one by its Lua loop (lua/ldask/worker/exec.lua) and handed back
 * together (ld_wexec_give) with one lock and one wake-up of the loop
 * thread. A task taken but not yet claimed can still be taken back (a
 * steal, free-keys: wk_exec_cancel) or given back to the heap (its thread
 * seceded, or the batch ran past its time): a slot is emptied atomically
 * by whoever gets it first. */
#define LD_WBATCH_MAX 64
typedef struct ld_wbatch {
  ld_wtask *task[LD_WBATCH_MAX]; /* taken; NULL once claimed or taken back (atomic) */
  ld_wtask *done[LD_WBATCH_MAX]; /* claimed (by the Lua loop, in order) */
  int n;                         /* slots taken */
  int ndone;                     /* tasks claimed */
  int cur;                       /* the next slot to claim (the Lua loop's) */
} ld_wbatch;

/* The executor's task loop (lua/ldask/worker/exec.lua, through the FFI;
 * only from an executor thread). ld_wexec_batch is the calling thread's
 * batch record (owned by the thread). ld_wexec_take waits for ready tasks
 * and takes a batch of them into B (best priority first, as many as
 * recent run times allow, a share when several threads run): returns how
 * many, 0 when the worker stops or this thread retires. ld_wexec_claim
 * empties slot I of B and returns its task (borrowed), to run and to put
 * in B->done: NULL when it was taken back meanwhile. ld_wexec_give hands
 * B's claimed tasks (results or errors and t0/t1 set) back to the loop
 * thread and the unclaimed ones back to the heap. ld_wexec_now is the
 * wall clock (task start/stop times). ld_wexec_nfn is the number of
 * functions registered so far and ld_wexec_fn(i) gives function i's name
 * and blob (kept by the worker until it exits), so the loop loads new
 * ones before running a batch. */
ld_wbatch *ld_wexec_batch(void);
int ld_wexec_take(ld_wbatch *b);
ld_wtask *ld_wexec_claim(ld_wbatch *b, int i);
void ld_wexec_give(ld_wbatch *b);
double ld_wexec_now(void);
int ld_wexec_nfn(void);
int ld_wexec_fn(int i, const char **name, size_t *nlen, const char **blob, size_t *blen);
/* Uploaded modules (requests.c), for the executors: ld_wexec_upload_gen
 * is how many uploads the worker has taken so far (a cheap check);
 * ld_wexec_upload(i, &dir, &seq) gives module i's name (i from 0; NULL
 * past the last), sets SEQ to the number of its latest upload (1, 2, ...
 * in the order of ld_wexec_upload_gen) and DIR to the files directory
 * (both strings kept until the worker exits). */
/* Secede / rejoin (ldask.secede, ldask.rejoin, ldask.worker_client): the
 * task running on the calling executor thread stops counting against the
 * worker's threads while it waits on other tasks; another executor thread
 * is started for it (at most WK_MAX_EXTRA extra threads at a time), and
 * the scheduler is told (it may send one more task). A task that ends
 * seceded rejoins then. Both return 0, or -1 when not in a task on an
 * executor thread, or already seceded (secede) / not seceded (rejoin). */
int ld_wexec_secede(void);
int ld_wexec_rejoin(void);
int ld_wexec_upload_gen(void);
const char *ld_wexec_upload(int i, const char **dir, int *seq);

#endif
