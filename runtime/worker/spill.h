/* spill.h — ldask-worker's memory under --memory-limit. memory.c keeps the
 * accounting (bytes in RAM, bytes on disk), the least-recently-used order
 * of the data in RAM and the thresholds (spill above 0.6 × limit, report
 * at once when crossing the 0.8 × limit pause threshold); spill.c writes
 * frames to files in the spill directory on libuv's threadpool, reads them
 * back and deletes them. All calls are made on the loop thread. */
#ifndef LDASK_WORKER_SPILL_H
#define LDASK_WORKER_SPILL_H

#include "worker.h"

/* Fractions of --memory-limit (dask's distributed.worker.memory.*): the
 * results held in RAM are spilled down to TARGET; process memory (the RSS
 * the worker has beyond what it had when ready: results, task inputs,
 * the executors' heaps, buffers in flight) above SPILL spills more; above
 * PAUSE the scheduler sends no new input tasks; above TERMINATE the nanny
 * kills and restarts the worker. */
#define WK_MEM_TARGET 0.6
#define WK_MEM_SPILL 0.7
#define WK_MEM_PAUSE 0.8
#define WK_MEM_TERMINATE 0.95

/* Values spilled for process memory are at least this big. */
#define WK_SPILL_MIN (64 * 1024)

/* The exit code by which a worker asks its nanny to start it again. */
#define WK_EXIT_RESTART 75

/* ---- nanny.c ---- */

/* The resident set size of process PID (0: this one) from /proc, in bytes;
 * -1 when it cannot be read. */
int64_t wk_rss_of(int pid);

/* Runs the nanny (see nanny.c) for the worker started with ARGC/ARGV:
 * returns the exit code of the program. NAME and MEMORY_LIMIT are the
 * parsed --name and --memory-limit (0: none); LIFELINE the descriptor of
 * --lifeline-fd (-1: none; borrowed, and inherited by the worker, which
 * gets the same option). */
int wk_nanny_main(int argc, char **argv, const char *name, int64_t memory_limit, int lifeline);

/* This process's RSS in bytes (a descriptor on /proc/self/statm kept
 * open: cheap enough to call for every result), -1 when unreadable. */
int64_t wk_rss_self(void);

/* ---- memory.c ---- */

/* At start-up, after the options: makes freed big buffers go back to the
 * system at once (a fixed malloc mmap threshold), and starts the memory
 * monitor on W's loop (every 100 ms: process memory, spilling, and giving
 * freed heap back with malloc_trim). */
void wk_mem_init(wk_state *w);

/* The worker is ready (registered for the first time): its RSS now is the
 * base process memory is counted from; told to the nanny, if any, through
 * the descriptor in LDASK_NANNY_FD. */
void wk_mem_ready(wk_state *w);

/* D has just entered the data table with its frames in RAM: counts it,
 * makes it the most recently used, and starts spilling what the target
 * asks for (D itself at once when it alone is bigger than the target). A
 * copy fetched from a peer is counted but never spilled: it goes as soon
 * as the tasks waiting for it start. D's frames stay valid until a later
 * loop iteration at least. */
void wk_mem_added(wk_state *w, wk_data *d);

/* While process memory is above the pause threshold (dask's paused
 * worker), or it would be with the room tasks have lately needed while
 * other tasks run or spill writes are under way, tasks ready to run wait:
 * wk_mem_hold keeps run R (1) or lets it go to the executors (0; the
 * caller submits it); held runs go, in the order they came, as room comes
 * back (and all of them when the worker stops).
 * wk_mem_unhold takes R back (1 when it was held). */
int wk_mem_hold(wk_state *w, ld_wtask *r);
int wk_mem_unhold(wk_state *w, ld_wtask *r);
/* A task run handed to the executors (wk_mem_hold said 0, or released
 * later) ended or was taken back: room for held ones may be there now. */
void wk_mem_task_left(wk_state *w);

/* D is leaving the data table (the caller frees it next): uncounts it,
 * deletes its spill file, or lets a write in flight delete it when done. */
void wk_mem_removed(wk_state *w, wk_data *d);

/* D was used (a task's input, sent away): makes it the most recently used
 * when it is in RAM. */
void wk_mem_touch(wk_state *w, wk_data *d);

/* Stores in *OUT a malloc'ed array of d->nframes new references to D's
 * frames (the caller releases each and frees the array): from RAM, or read
 * back from its spill file synchronously (the value is served from the
 * file: it does not move back into RAM; callers prefer
 * wk_spill_read_async). Returns 0, or a negative errno with a message
 * naming the key, the file and the error in ERR (then *OUT is untouched). */
int wk_mem_frames(wk_state *w, wk_data *d, ld_buffer ***out, char *err, size_t errlen);

/* Called by spill.c on the loop thread when the write of D's frames to
 * PATH finished: ERR is 0 or the errno of the failed call (described by
 * WHAT, e.g. "write"). D is NULL when the data was dropped meanwhile. Takes
 * PATH (malloc'ed) over. */
void wk_mem_written(wk_state *w, wk_data *d, char *path, int err, const char *what);

/* Called as soon as the worker stops, and again after its loop has
 * finished: deletes every spill file, stops spilling, and removes the
 * spill directory once no write is in flight (a write that ends later
 * deletes its file at once). Doing it early leaves no time for a second
 * signal (its handler is gone during shutdown) to kill the worker before
 * the clean-up. */
void wk_mem_shutdown(wk_state *w);

/* ---- spill.c ---- */

/* Creates the spill directory if there is none yet: a fresh directory
 * (mkdtemp) named ldask-spill-XXXXXX under --local-directory, else under
 * $TMPDIR or /tmp. Returns 0, or a negative errno after saying on stderr
 * (once) which path failed and why; later calls then fail at once. */
int wk_spill_dir(wk_state *w);

/* Starts writing D's frames to a new file of the spill directory on the
 * threadpool; D must be in RAM and not in the LRU list. Sets D's state to
 * WK_WRITING, its path and sizes. wk_mem_written follows on the loop
 * thread. Returns 0, or a negative errno (no callback; D is unchanged). */
int wk_spill_write(wk_state *w, wk_data *d);

/* D is dropped while its write is in flight: the write deletes its file
 * when done and reports D as NULL. */
void wk_spill_disown(wk_data *d);

/* Reads D's frames back from its spill file, synchronously (see
 * wk_mem_frames). */
int wk_spill_read(const wk_data *d, ld_buffer ***out, char *err, size_t errlen);

/* Called on the loop thread when an asynchronous read finished: FRAMES is
 * a malloc'ed array of N owned references (the callee takes it over), or
 * NULL with ERR saying what failed (key, file, errno). */
typedef void (*wk_read_cb)(wk_state *w, void *ctx, int slot, ld_buffer **frames, uint32_t n,
                           const char *err);

/* Reads D's frames back on the threadpool (D may be dropped meanwhile: the
 * job has its own copy of the key, path and sizes), then calls CB(w, CTX,
 * SLOT, ...). Returns 0, or a negative code (then CB is never called). */
int wk_spill_read_async(wk_state *w, const wk_data *d, wk_read_cb cb, void *ctx, int slot);

#endif
