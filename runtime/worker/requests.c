/* requests.c — the worker's side of the requests a client addresses to
 * every worker, outside the task graph (docs/protocol.md, "Requests to
 * workers"): `upload-file` writes a Lua module into the worker's files
 * directory (a fresh ldask-files-XXXXXX under --local-directory, else
 * $TMPDIR or /tmp; removed at exit), which the executors put first on
 * package.path and whose module they unload so the next require loads the
 * new version; `run` calls a function once on one executor state and sends
 * its result (or error) back. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/mp.h"
#include "util/names.h"
#include "worker.h"

/* Packs {op, id, ok[, message, traceback]} (+ NFRAMES when ok and
 * NFRAMES >= 0) and sends it to the scheduler with FRAMES. */
static void reply(wk_state *w, const char *op, int64_t id, int ok, const char *msg, const char *tb,
                  ld_buffer *const *frames, uint32_t nframes) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, ok ? 3 : 5);
  ld_mp_pack_cstr(&pk, "op"), ld_mp_pack_cstr(&pk, op);
  ld_mp_pack_cstr(&pk, "id"), msgpack_pack_int64(&pk, id);
  ld_mp_pack_cstr(&pk, "ok");
  if (ok) {
    msgpack_pack_true(&pk);
  } else {
    msgpack_pack_false(&pk);
    ld_mp_pack_cstr(&pk, "message"), ld_mp_pack_cstr(&pk, msg ? msg : "unknown error");
    ld_mp_pack_cstr(&pk, "traceback"), ld_mp_pack_cstr(&pk, tb ? tb : "");
  }
  wk_send_sched(w, &sb, ok ? frames : NULL, ok ? nframes : 0);
}

/* ---- upload-file ---- */

/* Creates the files directory unless done. Returns 0, or -1 with ERR set. */
static int files_dir(wk_state *w, char *err, size_t errlen) {
  if (w->files_dir) return 0;
  const char *parent = wk_scratch_base(w);
  char *dir = wk_fresh_dir(parent, "ldask-files");
  if (dir == NULL) {
    snprintf(err, errlen, "cannot create a files directory '%s/ldask-files-XXXXXX': %s", parent,
             strerror(errno));
    return -1;
  }
  w->files_dir = dir;
  return 0;
}

/* Writes DATA to DIR/NAME.lua through a temporary file renamed over it, so
 * an executor never reads half a file. Returns 0, or -1 with ERR set. */
static int write_module(const char *dir, const char *name, const ld_buffer *data, char *err,
                        size_t errlen) {
  size_t n = strlen(dir) + strlen(name) + 16;
  char *path = malloc(n), *tmp = malloc(n + 8);
  if (path == NULL || tmp == NULL) abort();
  snprintf(path, n, "%s/%s.lua", dir, name);
  snprintf(tmp, n + 8, "%s/.%s.lua.tmp", dir, name);
  int rc = -1;
  FILE *f = fopen(tmp, "wb");
  if (f == NULL) {
    snprintf(err, errlen, "cannot write '%s': %s", tmp, strerror(errno));
  } else {
    size_t wrote = fwrite(data->data, 1, data->size, f);
    int werr = ferror(f) ? errno : 0;
    if (fclose(f) != 0 && werr == 0) werr = errno ? errno : EIO;
    if (wrote != data->size || werr) {
      snprintf(err, errlen, "cannot write '%s': %s", tmp, strerror(werr ? werr : EIO));
      unlink(tmp);
    } else if (rename(tmp, path) != 0) {
      snprintf(err, errlen, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
      unlink(tmp);
    } else {
      rc = 0;
    }
  }
  free(path);
  free(tmp);
  return rc;
}

void wk_on_upload(wk_state *w, ld_msg *m, const msgpack_object *h) {
  int64_t id = 0;
  const char *name = "";
  size_t len = 0;
  ld_mp_get_i64(h, "id", &id);
  ld_mp_get_str(h, "name", &name, &len);
  char err[600] = "", why[160];
  if (!ld_valid_file_name(name, len, why, sizeof why) || m->nframes != 2) {
    snprintf(err, sizeof err, "upload-file: %s", m->nframes != 2 ? "no data frame" : why);
  } else if (files_dir(w, err, sizeof err) == 0) {
    char *cname = malloc(len + 1);
    if (cname == NULL) abort();
    memcpy(cname, name, len);
    cname[len] = '\0';
    if (write_module(w->files_dir, cname, m->frames[1], err, sizeof err) == 0) {
      /* The executors unload it before their next task or run: its entry
       * gets the next upload number, published last. */
      pthread_mutex_lock(&w->mu);
      int i = 0;
      while (i < w->nuploads && strcmp(w->uploads[i], cname) != 0) i++;
      if (i == w->nuploads) {
        if (w->nuploads == w->capuploads) {
          w->capuploads = w->capuploads ? 2 * w->capuploads : 8;
          w->uploads = realloc(w->uploads, (size_t)w->capuploads * sizeof *w->uploads);
          w->upload_seq = realloc(w->upload_seq, (size_t)w->capuploads * sizeof *w->upload_seq);
          if (w->uploads == NULL || w->upload_seq == NULL) abort();
        }
        w->uploads[w->nuploads++] = cname;
        cname = NULL;
      }
      int gen = atomic_load_explicit(&w->upload_gen, memory_order_relaxed) + 1;
      w->upload_seq[i] = gen;
      atomic_store_explicit(&w->upload_gen, gen, memory_order_release);
      pthread_mutex_unlock(&w->mu);
      fprintf(stderr, "ldask-worker %s: uploaded module '%.*s' to %s\n", w->name, (int)len, name,
              w->files_dir);
    }
    free(cname);
  }
  if (err[0]) fprintf(stderr, "ldask-worker %s: %s\n", w->name, err);
  if (id != 0) reply(w, "upload-file-done", id, err[0] == '\0', err, "", NULL, 0);
}

int ld_wexec_upload_gen(void) {
  return atomic_load_explicit(&wk_exec_state()->upload_gen, memory_order_acquire);
}

const char *ld_wexec_upload(int i, const char **dir, int *seq) {
  wk_state *w = wk_exec_state();
  pthread_mutex_lock(&w->mu);
  const char *name = NULL;
  if (i >= 0 && i < w->nuploads) {
    name = w->uploads[i];
    *seq = w->upload_seq[i];
  }
  *dir = w->files_dir;
  pthread_mutex_unlock(&w->mu);
  return name; /* kept until the worker exits */
}

void wk_files_cleanup(wk_state *w) {
  if (w->files_dir == NULL) return;
  for (int i = 0; i < w->nuploads; i++) {
    size_t n = strlen(w->files_dir) + strlen(w->uploads[i]) + 8;
    char *path = malloc(n);
    if (path == NULL) abort();
    snprintf(path, n, "%s/%s.lua", w->files_dir, w->uploads[i]);
    unlink(path);
    free(path);
  }
  if (rmdir(w->files_dir) != 0)
    fprintf(stderr, "ldask-worker %s: cannot remove '%s': %s\n", w->name, w->files_dir,
            strerror(errno));
  for (int i = 0; i < w->nuploads; i++) free(w->uploads[i]);
  free(w->uploads);
  free(w->upload_seq);
  free(w->files_dir);
  w->uploads = NULL;
  w->upload_seq = NULL;
  w->files_dir = NULL;
  w->nuploads = w->capuploads = 0;
}

/* ---- run ---- */

static const char RUN_KEY[] = "run";

void wk_on_run(wk_state *w, ld_msg *m, const msgpack_object *h) {
  int64_t id = 0;
  ld_mp_get_i64(h, "id", &id);
  if (m->nframes < 2) {
    reply(w, "run-result", id, 0, "run: no function payload", "", NULL, 0);
    return;
  }
  ld_wtask *r = calloc(1, sizeof *r);
  if (r == NULL) abort();
  r->key = RUN_KEY;
  r->keylen = sizeof RUN_KEY - 1;
  r->npayload = m->nframes - 1;
  r->payload = malloc(r->npayload * sizeof *r->payload);
  if (r->payload == NULL) abort();
  for (uint32_t i = 0; i < r->npayload; i++) r->payload[i] = ld_buffer_retain(m->frames[i + 1]);
  r->owns_payload = 1;
  r->run_id = id;
  wk_exec_submit(w, r); /* no owner: runs before any task */
}

void wk_run_done(wk_state *w, ld_wtask *r) {
  reply(w, "run-result", r->run_id, r->ok, r->err, r->tb, r->out, r->nout);
  ld_wtask_free(r);
}
