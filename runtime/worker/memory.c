/* memory.c — ldask-worker's memory accounting and spill policy under
 * --memory-limit: bytes of data in RAM and in spill files, the
 * least-recently-used order of the data in RAM, spilling the oldest above
 * 0.6 × limit (a value bigger than that alone goes to disk at once) or
 * while process memory (RSS beyond the worker's start-up footprint) is
 * above 0.7 × limit, an immediate heartbeat when either crosses 0.8 ×
 * limit (the scheduler's pause), giving freed memory back to the system,
 * and what happens when a spill file cannot be written or read. Loop
 * thread only. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spill.h"

static uv_timer_t monitor;
static int monitor_on;

int64_t wk_rss_self(void) {
  static int fd = -1;
  if (fd < 0) fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[128];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = '\0';
  long long size, resident;
  if (sscanf(buf, "%lld %lld", &size, &resident) != 2) return -1;
  static long page;
  if (page == 0) page = sysconf(_SC_PAGESIZE);
  return (int64_t)resident * page;
}

/* The peak RSS since the last reset_peak (VmHWM), -1 when unknown. */
static int64_t read_peak(void) {
  static int fd = -1;
  if (fd < 0) fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[4096];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char *p = strstr(buf, "VmHWM:");
  long long kb;
  if (p == NULL || sscanf(p + 6, "%lld", &kb) != 1) return -1;
  return (int64_t)kb * 1024;
}

/* Starts a new peak RSS measurement (Linux: 5 > /proc/self/clear_refs). */
static int reset_peak(void) {
  static int fd = -2;
  if (fd == -2) fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  return fd >= 0 && pwrite(fd, "5", 1, 0) == 1 ? 0 : -1;
}

/* Measures process memory into w->proc (under a limit only), and the
 * headroom tasks need: how far process memory rose (the peak RSS) above
 * its level when the last task was handed to the executors (their working
 * memory, their new results). */
static void measure(wk_state *w) {
  if (w->memory_limit <= 0 || w->rss_base <= 0) return;
  int64_t rss = wk_rss_self();
  if (rss < 0) return;
  int64_t peak = w->peak_ok ? read_peak() : -1;
  if (peak > 0 && peak - w->rss_base - w->floor > w->headroom)
    w->headroom = peak - w->rss_base - w->floor;
  w->proc = rss > w->rss_base ? rss - w->rss_base : 0;
}

/* A task goes to the executors: the peak is measured from now on, and the
 * headroom decays (tasks may need less than before). */
static void handing_out(wk_state *w) {
  w->handed++;
  if (w->memory_limit <= 0 || w->rss_base <= 0) return;
  measure(w);
  w->headroom = (int64_t)(0.9 * (double)w->headroom);
  w->floor = w->proc;
  if (w->peak_ok) w->peak_ok = reset_peak() == 0;
}

static void shrink(wk_state *w);
static void check_pause(wk_state *w);

/* Whether a task ready to run must wait: the worker is paused, every
 * executor is busy, or the
 * room tasks have needed lately (headroom) is not there while tasks run or
 * spill writes are under way (which then make room; an idle worker runs
 * the task whatever it may need). */
static int must_wait(const wk_state *w) {
  if (w->memory_limit <= 0 || w->stopping_mem) return 0;
  /* (under a limit a task goes to the executors only when one is free, so
   * that the decision is taken with what memory is then) */
  if (w->handed >= w->nthreads) return 1;
  /* Nothing running and nothing being written: waiting would not make
   * room (a limit too small for the tasks): the task runs. */
  if (w->writing == 0 && w->handed == 0) return 0;
  if (w->paused) return 1;
  return (double)(w->proc + w->headroom) > WK_MEM_PAUSE * (double)w->memory_limit;
}

/* Hands held runs to the executors, in order, while there is room. */
static void release_held(wk_state *w) {
  while (w->held_head && !must_wait(w)) {
    ld_wtask *r = w->held_head;
    w->held_head = r->next;
    if (w->held_head == NULL) w->held_tail = NULL;
    r->next = NULL;
    handing_out(w);
    wk_exec_submit(w, r);
  }
}

void wk_mem_task_left(wk_state *w) {
  w->handed--;
  release_held(w);
}

int wk_mem_hold(wk_state *w, ld_wtask *r) {
  if (w->held_head == NULL && !must_wait(w)) {
    handing_out(w);
    return 0;
  }
  r->next = NULL;
  if (w->held_tail)
    w->held_tail->next = r;
  else
    w->held_head = r;
  w->held_tail = r;
  return 1;
}

int wk_mem_unhold(wk_state *w, ld_wtask *r) {
  ld_wtask *prev = NULL;
  for (ld_wtask *q = w->held_head; q; prev = q, q = q->next) {
    if (q != r) continue;
    if (prev)
      prev->next = q->next;
    else
      w->held_head = q->next;
    if (w->held_tail == q) w->held_tail = prev;
    q->next = NULL;
    return 1;
  }
  return 0;
}

/* Pauses (tasks wait) above the pause threshold of process memory, and
 * resumes below it, saying so on stderr as dask's workers do. */
static void pause_or_resume(wk_state *w) {
  if (w->memory_limit <= 0) return;
  int over = (double)w->proc > WK_MEM_PAUSE * (double)w->memory_limit;
  if (over && !w->paused) {
    w->paused = 1;
    fprintf(stderr,
            "ldask-worker %s: process memory %lld bytes is above %.0f%% of the limit: pausing "
            "(no new task starts until it is back under)\n",
            w->name, (long long)w->proc, 100 * WK_MEM_PAUSE);
  } else if (!over && w->paused) {
    w->paused = 0;
    fprintf(stderr, "ldask-worker %s: process memory %lld bytes: resuming\n", w->name,
            (long long)w->proc);
  }
  release_held(w);
}

/* Every 100 ms: freed heap goes back to the system (glibc keeps freed
 * small blocks, and freed blocks of its per-thread arenas, in the process
 * otherwise), and process memory is checked against the limit. */
static void tick(uv_timer_t *t) {
  wk_state *w = t->data;
  if (w->freed >= 1 << 20) {
    malloc_trim(0);
    w->freed = 0;
  }
  measure(w);
  shrink(w);
  check_pause(w);
  pause_or_resume(w);
}

void wk_mem_init(wk_state *w) {
  /* glibc raises its mmap threshold each time a big block is freed, after
   * which freed result buffers stay in the heap, counted in the RSS. A
   * fixed threshold keeps big buffers in their own mappings, returned to
   * the system as soon as they are released (spilled or freed). */
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  uv_timer_init(w->loop, &monitor);
  uv_unref((uv_handle_t *)&monitor); /* never keeps the worker alive */
  monitor.data = w;
  uv_timer_start(&monitor, tick, 100, 100);
  monitor_on = 1;
}

void wk_mem_ready(wk_state *w) {
  if (w->rss_base > 0) return;
  w->rss_base = wk_rss_self();
  w->peak_ok = reset_peak() == 0;
  w->floor = 0;
  const char *fd = getenv("LDASK_NANNY_FD");
  if (fd && w->rss_base > 0) {
    char line[32];
    int n = snprintf(line, sizeof line, "%lld\n", (long long)w->rss_base);
    if (write(atoi(fd), line, (size_t)n) != n)
      fprintf(stderr, "ldask-worker %s: cannot tell the nanny our base memory: %s\n", w->name,
              strerror(errno));
    close(atoi(fd));
  }
}

/* Takes D out of the LRU list (it must be in it). */
static void lru_unlink(wk_state *w, wk_data *d) {
  if (d->older)
    d->older->newer = d->newer;
  else if (w->lru_old == d)
    w->lru_old = d->newer;
  if (d->newer)
    d->newer->older = d->older;
  else if (w->lru_new == d)
    w->lru_new = d->older;
  d->older = d->newer = NULL;
}

/* Puts D at the most recently used end of the LRU list. */
static void lru_append(wk_state *w, wk_data *d) {
  d->older = w->lru_new;
  d->newer = NULL;
  if (w->lru_new)
    w->lru_new->newer = d;
  else
    w->lru_old = d;
  w->lru_new = d;
}

/* Whether D is in the LRU list (a spillable value in RAM). */
static int in_lru(const wk_state *w, const wk_data *d) {
  return d->older != NULL || w->lru_old == d;
}

/* The bytes of RAM holdings spilling brings things back under. */
static int64_t target(const wk_state *w) { return (int64_t)(WK_MEM_TARGET * w->memory_limit); }

/* Starts spilling D (taken out of the LRU list). A value whose write
 * cannot even start stays in RAM for good (pinned). */
static void spill_one(wk_state *w, wk_data *d) {
  if (in_lru(w, d)) lru_unlink(w, d);
  if (wk_spill_write(w, d) == 0)
    w->writing += d->nbytes;
  else
    d->pinned = 1;
}

/* Spills the oldest data until what stays in RAM (writes in flight aside,
 * their frames go when written) is under the target, and process memory
 * under the spill threshold. */
static void shrink(wk_state *w) {
  if (w->memory_limit <= 0) return;
  while (w->memory - w->writing > target(w) && w->lru_old && !w->spill_off)
    spill_one(w, w->lru_old);
  /* Process memory, with room for what tasks need while they run (their
   * peak above the level between them): values too small to matter stay
   * (a file each for nothing); a bounded walk from the oldest. */
  int64_t spill_at = (int64_t)(WK_MEM_SPILL * (double)w->memory_limit) - w->headroom;
  wk_data *d = w->lru_old;
  for (int steps = 0; d && steps < 64 && !w->spill_off && w->proc - w->writing > spill_at;
       steps++) {
    wk_data *next = d->newer;
    if (d->nbytes >= WK_SPILL_MIN) spill_one(w, d);
    d = next;
  }
}

/* Sends a heartbeat at once when RAM holdings or process memory crossed
 * the pause threshold (either way) since the last check, so the
 * scheduler's pause decision follows without waiting for the next
 * periodic heartbeat. */
static void check_pause(wk_state *w) {
  if (w->memory_limit <= 0) return;
  int64_t held = w->proc > w->memory ? w->proc : w->memory;
  int high = (double)held > WK_MEM_PAUSE * (double)w->memory_limit;
  if (high == w->mem_high) return;
  w->mem_high = high;
  wk_heartbeat(w);
}

void wk_mem_added(wk_state *w, wk_data *d) {
  d->where = WK_IN_RAM;
  w->memory += d->nbytes;
  measure(w);
  pause_or_resume(w);
  if (d->fetched) {
    /* A peer's copy lives only until the tasks waiting for it start
     * (usually at once): counted, never written. */
  } else if (w->memory_limit > 0 && d->nbytes > target(w) && !w->spill_off) {
    spill_one(w, d);
  } else {
    lru_append(w, d);
  }
  shrink(w);
  check_pause(w);
}

void wk_mem_touch(wk_state *w, wk_data *d) {
  if (!in_lru(w, d) || w->lru_new == d) return;
  lru_unlink(w, d);
  lru_append(w, d);
}

void wk_mem_removed(wk_state *w, wk_data *d) {
  if (in_lru(w, d)) lru_unlink(w, d);
  switch (d->where) {
    case WK_WRITING:
      /* The job owns the path and deletes the file once written. */
      wk_spill_disown(d);
      d->path = NULL;
      w->writing -= d->nbytes;
      w->memory -= d->nbytes;
      break;
    case WK_ON_DISK:
      if (unlink(d->path) != 0 && errno != ENOENT)
        fprintf(stderr, "ldask-worker %s: cannot delete spill file '%s': %s\n", w->name, d->path,
                strerror(errno));
      w->spilled -= d->nbytes;
      free(d->path);
      d->path = NULL;
      break;
    default:
      w->memory -= d->nbytes;
      w->freed += d->nbytes;
  }
  free(d->sizes);
  d->sizes = NULL;
  check_pause(w);
}

/* Removes the spill directory once the worker is stopping and nothing is
 * being written into it any more. */
static void remove_dir(wk_state *w) {
  if (!w->spill_closing || w->spill_jobs > 0 || w->spill_dir == NULL) return;
  if (rmdir(w->spill_dir) != 0 && errno != ENOENT)
    fprintf(stderr, "ldask-worker %s: cannot remove the spill directory '%s': %s\n", w->name,
            w->spill_dir, strerror(errno));
  free(w->spill_dir);
  w->spill_dir = NULL;
}

void wk_mem_written(wk_state *w, wk_data *d, char *path, int err, const char *what) {
  if (d == NULL || (w->spill_closing && err == 0)) {
    /* Dropped meanwhile, or the worker is stopping: the file goes (the
     * value, if any, stays in RAM). */
    if (err == 0) unlink(path);
    if (d) {
      w->writing -= d->nbytes;
      free(d->sizes);
      d->path = NULL;
      d->sizes = NULL;
      d->where = WK_IN_RAM;
      d->pinned = 1;
    }
    free(path);
    remove_dir(w);
    return;
  }
  w->writing -= d->nbytes;
  if (err == 0) {
    for (uint32_t i = 0; i < d->nframes; i++) ld_buffer_release(d->frames[i]);
    if (!wk_data_frames_inline(d)) free(d->frames);
    d->frames = NULL;
    d->where = WK_ON_DISK;
    w->memory -= d->nbytes;
    w->spilled += d->nbytes;
    w->freed += d->nbytes;
    measure(w); /* the frames are gone: the next decision sees it */
    pause_or_resume(w);
  } else {
    if (!w->spill_logged)
      fprintf(stderr,
              "ldask-worker %s: cannot spill '%.*s' to '%s': %s: %s; it stays in RAM (further "
              "spill failures are not reported)\n",
              w->name, (int)d->keylen, d->key, path, what, strerror(err));
    w->spill_logged = 1;
    free(path);
    free(d->sizes);
    d->path = NULL;
    d->sizes = NULL;
    d->where = WK_IN_RAM;
    d->pinned = 1;
  }
  shrink(w);
  check_pause(w);
}

int wk_mem_frames(wk_state *w, wk_data *d, ld_buffer ***out, char *err, size_t errlen) {
  if (d->where == WK_ON_DISK) return wk_spill_read(d, out, err, errlen);
  ld_buffer **frames = calloc(d->nframes ? d->nframes : 1, sizeof *frames);
  if (frames == NULL) abort();
  for (uint32_t i = 0; i < d->nframes; i++) frames[i] = ld_buffer_retain(d->frames[i]);
  wk_mem_touch(w, d);
  *out = frames;
  return 0;
}

void wk_mem_shutdown(wk_state *w) {
  if (monitor_on) {
    uv_timer_stop(&monitor);
    uv_close((uv_handle_t *)&monitor, NULL);
    monitor_on = 0;
  }
  w->paused = 0;
  w->stopping_mem = 1;
  release_held(w); /* the executors' stop deals with them */
  w->spill_closing = 1;
  w->spill_off = 1; /* no new spills */
  size_t i = 0;
  ld_strmap_slot *s;
  while ((s = ld_strmap_next(&w->data, &i)) != NULL) {
    wk_data *d = s->val;
    if (d->where == WK_ON_DISK && d->path) unlink(d->path);
  }
  remove_dir(w);
}
