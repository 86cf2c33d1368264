/* spill.h — ldask-worker's memory under --memory-limit. memory.c keeps the
 * accounting (bytes in RAM, bytes on disk), the least-recently-used order
 * of the data in RAM and the thresholds (spill above 0.6 × limit, report
 * at once when crossing the 0.8 × limit pause threshold); spill.c writes
 * frames to files in the spill directory on libuv's threadpool, reads them
 * back and deletes them. All calls are made on the loop thread. */
#ifndef LDASK_WORKER_SPILL_H
#define LDASK_WORKER_SPILL_H

#include "worker.h"

/* Fractions of --memory-limit: spill down to TARGET, pause above PAUSE. */
#define WK_MEM_TARGET 0.6
#define WK_MEM_PAUSE 0.8

/* ---- memory.c ---- */

/* At start-up, after the options: with a memory limit, makes freed big
 * buffers go back to the system at once (a fixed malloc mmap threshold). */
void wk_mem_init(wk_state *w);

/* D has just entered the data table with its frames in RAM: counts it,
 * makes it the most recently used, and starts spilling what the target
 * asks for (D itself at once when it alone is bigger than the target). A
 * copy fetched from a peer is counted but never spilled: it goes as soon
 * as the tasks waiting for it start. D's frames stay valid until a later
 * loop iteration at least. */
void wk_mem_added(wk_state *w, wk_data *d);

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
