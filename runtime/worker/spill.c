/* spill.c — ldask-worker's spill files: the spill directory (locked while
 * the worker lives; the directories of workers that are gone are removed),
 * writing a value's frames to a file and reading them back on libuv's
 * threadpool (the loop is not blocked by big files; a synchronous read
 * remains for when the threadpool refuses a job), and the checks that turn
 * a short or missing file into a clear error. File format: the frames back
 * to back; their sizes stay in memory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "spill.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* Whether NAME is a spill file's name: digits then ".spill". */
static int is_spill_name(const char *name) {
  const char *p = name;
  while (*p >= '0' && *p <= '9') p++;
  return p > name && strcmp(p, ".spill") == 0;
}

/* A live worker holds an exclusive flock on its spill directory for its
 * whole life (the descriptor stays open until the process ends, whatever
 * the way). A directory ldask-spill-* under BASE whose lock can be taken
 * belonged to a worker that is gone (killed with SIGKILL, say): its spill
 * files and then the directory are removed. Directories younger than a
 * minute are left alone: their worker may not have locked them yet. */
static void purge_stale(wk_state *w, const char *base) {
  DIR *dir = opendir(base);
  if (dir == NULL) return;
  struct dirent *e;
  time_t now = time(NULL);
  while ((e = readdir(dir)) != NULL) {
    if (strncmp(e->d_name, "ldask-spill-", 12) != 0) continue;
    int fd = openat(dirfd(dir), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || now - st.st_mtime < 60 ||
        flock(fd, LOCK_EX | LOCK_NB) != 0) {
      close(fd);
      continue;
    }
    DIR *sub = fdopendir(dup(fd));
    struct dirent *f;
    int n = 0;
    while (sub && (f = readdir(sub)) != NULL)
      if (is_spill_name(f->d_name) && unlinkat(fd, f->d_name, 0) == 0) n++;
    if (sub) closedir(sub);
    if (unlinkat(dirfd(dir), e->d_name, AT_REMOVEDIR) == 0)
      fprintf(stderr,
              "ldask-worker %s: removed %s/%s and its %d spill files, left by a worker that is "
              "gone\n",
              w->name, base, e->d_name, n);
    close(fd);
  }
  closedir(dir);
}

int wk_spill_dir(wk_state *w) {
  if (w->spill_dir) return 0;
  if (w->spill_off) return -EACCES;
  const char *base = wk_scratch_base(w);
  purge_stale(w, base);
  char *tmpl = wk_fresh_dir(base, "ldask-spill");
  if (tmpl == NULL) {
    int e = errno;
    fprintf(stderr,
            "ldask-worker %s: cannot create the spill directory '%s/ldask-spill-XXXXXX': %s; "
            "results stay in RAM\n",
            w->name, base, strerror(e));
    w->spill_off = 1;
    return -e;
  }
  /* The lock that tells other workers this directory is in use: held
   * until the process ends (the descriptor is never closed). */
  int lock = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) != 0)
    fprintf(stderr, "ldask-worker %s: cannot lock the spill directory '%s': %s\n", w->name, tmpl,
            strerror(errno));
  w->spill_dir = tmpl;
  fprintf(stderr, "ldask-worker %s: spilling to %s (memory limit %lld bytes)\n", w->name, tmpl,
          (long long)w->memory_limit);
  return 0;
}

typedef struct wk_spill_job {
  uv_work_t req;
  wk_state *w;
  wk_data *d; /* NULL once dropped */
  char *path;
  ld_buffer **frames; /* references held during the write */
  uint32_t nframes;
  int err;
  const char *what;
} wk_spill_job;

/* Writes every byte of IOV[0..N) (edited on the way) to FD. Returns 0 or
 * an errno. */
static int write_all(int fd, struct iovec *iov, int n) {
  while (n > 0) {
    ssize_t k = writev(fd, iov, n < IOV_MAX ? n : IOV_MAX);
    if (k < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    while (n > 0 && (size_t)k >= iov->iov_len) k -= (ssize_t)iov->iov_len, iov++, n--;
    if (n > 0) {
      iov->iov_base = (char *)iov->iov_base + k;
      iov->iov_len -= (size_t)k;
    }
  }
  return 0;
}

/* Threadpool: creates the file and writes the frames (read-only buffers,
 * safe to read from another thread). */
static void job_work(uv_work_t *req) {
  wk_spill_job *j = req->data;
  int fd = open(j->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    j->err = errno, j->what = "open";
    return;
  }
  struct iovec *iov = calloc(j->nframes ? j->nframes : 1, sizeof *iov);
  if (iov == NULL) {
    j->err = ENOMEM, j->what = "write";
  } else {
    for (uint32_t i = 0; i < j->nframes; i++)
      iov[i].iov_base = j->frames[i]->data, iov[i].iov_len = j->frames[i]->size;
    j->err = write_all(fd, iov, (int)j->nframes);
    if (j->err) j->what = "write";
    free(iov);
  }
  if (close(fd) != 0 && j->err == 0) j->err = errno, j->what = "close";
  if (j->err) unlink(j->path);
}

/* Loop thread: hands the outcome to memory.c. */
static void job_after(uv_work_t *req, int status) {
  wk_spill_job *j = req->data;
  if (status != 0 && j->err == 0) j->err = -status, j->what = "queue";
  for (uint32_t i = 0; i < j->nframes; i++) ld_buffer_release(j->frames[i]);
  free(j->frames);
  if (j->d) j->d->job = NULL;
  j->w->spill_jobs--;
  wk_mem_written(j->w, j->d, j->path, j->err, j->what);
  free(j);
}

int wk_spill_write(wk_state *w, wk_data *d) {
  int rc = wk_spill_dir(w);
  if (rc != 0) return rc;
  size_t n = strlen(w->spill_dir) + 32;
  char *path = malloc(n);
  size_t *sizes = calloc(d->nframes ? d->nframes : 1, sizeof *sizes);
  wk_spill_job *j = calloc(1, sizeof *j);
  ld_buffer **frames = calloc(d->nframes ? d->nframes : 1, sizeof *frames);
  if (path == NULL || sizes == NULL || j == NULL || frames == NULL) abort();
  snprintf(path, n, "%s/%llu.spill", w->spill_dir, (unsigned long long)++w->spill_seq);
  for (uint32_t i = 0; i < d->nframes; i++) {
    frames[i] = ld_buffer_retain(d->frames[i]);
    sizes[i] = d->frames[i]->size;
  }
  j->req.data = j;
  j->w = w;
  j->d = d;
  j->path = path;
  j->frames = frames;
  j->nframes = d->nframes;
  rc = uv_queue_work(w->loop, &j->req, job_work, job_after);
  if (rc != 0) {
    for (uint32_t i = 0; i < d->nframes; i++) ld_buffer_release(frames[i]);
    free(frames);
    free(sizes);
    free(path);
    free(j);
    return rc;
  }
  w->spill_jobs++;
  d->where = WK_WRITING;
  d->job = j;
  d->path = j->path; /* shared until the write is done: then memory.c owns it */
  d->sizes = sizes;
  return 0;
}

void wk_spill_disown(wk_data *d) {
  if (d->job) d->job->d = NULL;
  d->job = NULL;
}

/* Reads the N frames of SIZES bytes of KEY from PATH into new buffers.
 * Returns 0 with the array in *OUT (owned by the caller), or a negative
 * errno with a message in ERR. Safe on any thread (touches no worker
 * state). */
static int read_frames(const char *key, size_t keylen, const char *path, const size_t *sizes,
                       uint32_t n, ld_buffer ***out, char *err, size_t errlen) {
  int64_t want = 0;
  for (uint32_t i = 0; i < n; i++) want += (int64_t)sizes[i];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  int e = 0;
  const char *what = "open";
  struct stat st;
  ld_buffer **frames = NULL;
  struct iovec *iov = NULL;
  if (fd < 0) {
    e = errno;
    goto fail;
  }
  if (fstat(fd, &st) != 0) {
    e = errno, what = "stat";
    goto fail;
  }
  if ((int64_t)st.st_size != want) {
    snprintf(err, errlen,
             "cannot read '%.*s' back from spill file '%s': it holds %lld bytes, expected %lld",
             (int)keylen, key, path, (long long)st.st_size, (long long)want);
    close(fd);
    return -EIO;
  }
  frames = calloc(n ? n : 1, sizeof *frames);
  iov = calloc(n ? n : 1, sizeof *iov);
  if (frames == NULL || iov == NULL) abort();
  for (uint32_t i = 0; i < n; i++) {
    frames[i] = ld_buffer_new(sizes[i]);
    if (frames[i] == NULL) {
      e = ENOMEM, what = "allocate";
      goto fail;
    }
    iov[i].iov_base = frames[i]->data, iov[i].iov_len = sizes[i];
  }
  /* Read everything, batch by batch (a short read is retried; EOF before
   * the end means the file shrank under us). */
  off_t off = 0;
  struct iovec *v = iov;
  int left = (int)n;
  while (left > 0 && v->iov_len == 0) v++, left--;
  what = "read";
  while (left > 0) {
    ssize_t k = preadv(fd, v, left < IOV_MAX ? left : IOV_MAX, off);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      e = errno;
      goto fail;
    }
    if (k == 0) {
      e = EIO, what = "read (the file is shorter than expected)";
      goto fail;
    }
    off += k;
    while (left > 0 && (size_t)k >= v->iov_len) k -= (ssize_t)v->iov_len, v++, left--;
    if (left > 0) v->iov_base = (char *)v->iov_base + k, v->iov_len -= (size_t)k;
  }
  close(fd);
  free(iov);
  *out = frames;
  return 0;
fail:
  snprintf(err, errlen, "cannot read '%.*s' back from spill file '%s': %s: %s (errno %d)",
           (int)keylen, key, path, what, strerror(e), e);
  if (fd >= 0) close(fd);
  for (uint32_t i = 0; frames && i < n; i++) ld_buffer_release(frames[i]);
  free(frames);
  free(iov);
  return -e;
}

int wk_spill_read(const wk_data *d, ld_buffer ***out, char *err, size_t errlen) {
  return read_frames(d->key, d->keylen, d->path, d->sizes, d->nframes, out, err, errlen);
}

typedef struct read_job {
  uv_work_t req;
  wk_state *w;
  wk_read_cb cb;
  void *ctx;
  int slot;
  char *key, *path; /* copies */
  size_t keylen;
  size_t *sizes;
  uint32_t n;
  ld_buffer **frames;
  int rc;
  char err[1024];
} read_job;

/* Frees J and its copies (not its frames: the callback took them). */
static void read_job_free(read_job *j) {
  free(j->key);
  free(j->path);
  free(j->sizes);
  free(j);
}

/* Threadpool: reads the file (J's own copies only: no worker state). */
static void read_work(uv_work_t *req) {
  read_job *j = req->data;
  j->rc =
      read_frames(j->key, j->keylen, j->path, j->sizes, j->n, &j->frames, j->err, sizeof j->err);
}

/* Loop thread: hands the frames, or the error, to the callback. */
static void read_after(uv_work_t *req, int status) {
  read_job *j = req->data;
  if (status != 0 && j->rc == 0) { /* not run (cancelled): nothing was read */
    snprintf(j->err, sizeof j->err, "cannot read '%.*s' back from spill file '%s': %s",
             (int)j->keylen, j->key, j->path, uv_strerror(status));
    j->rc = status;
  }
  j->cb(j->w, j->ctx, j->slot, j->rc == 0 ? j->frames : NULL, j->n, j->err);
  read_job_free(j);
}

int wk_spill_read_async(wk_state *w, const wk_data *d, wk_read_cb cb, void *ctx, int slot) {
  read_job *j = calloc(1, sizeof *j);
  if (j == NULL) abort();
  j->req.data = j;
  j->w = w;
  j->cb = cb;
  j->ctx = ctx;
  j->slot = slot;
  j->keylen = d->keylen;
  j->n = d->nframes;
  j->key = malloc(d->keylen + 1);
  j->path = strdup(d->path);
  j->sizes = malloc((d->nframes ? d->nframes : 1) * sizeof *j->sizes);
  if (j->key == NULL || j->path == NULL || j->sizes == NULL) abort();
  memcpy(j->key, d->key, d->keylen);
  j->key[d->keylen] = '\0';
  memcpy(j->sizes, d->sizes, d->nframes * sizeof *j->sizes);
  int rc = uv_queue_work(w->loop, &j->req, read_work, read_after);
  if (rc != 0) read_job_free(j);
  return rc;
}
