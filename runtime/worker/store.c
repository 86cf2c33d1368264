/* store.c — ldask-worker's tasks and data: compute-task handling, fetching
 * missing inputs directly from the peers that hold them (serve.c answers
 * peers and gathers), reading spilled inputs back before a task runs,
 * freeing what the scheduler releases. Runs on the loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/mp.h"
#include "spill.h"
#include "worker.h"

static char *dupn(const char *s, size_t n) {
  char *r = malloc(n + 1);
  if (r == NULL) abort();
  memcpy(r, s, n);
  r[n] = '\0';
  return r;
}

typedef struct pk_t {
  msgpack_sbuffer sb;
  msgpack_packer pk;
} pk_t;

/* One packing buffer kept between messages (loop thread only): a fresh
 * msgpack_sbuffer costs an 8 KiB malloc at its first write. */
static msgpack_sbuffer spare;

static void pk_init(pk_t *p) {
  p->sb = spare; /* takes the spare's storage, if any */
  p->sb.size = 0;
  msgpack_sbuffer_init(&spare);
  msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

/* Done with SB (its bytes were copied or sent): keeps its storage as the
 * spare, or frees it. */
static void pk_done(msgpack_sbuffer *sb) {
  if (spare.data == NULL && sb->alloc <= 65536) {
    spare = *sb;
    spare.size = 0;
    msgpack_sbuffer_init(sb);
  } else {
    msgpack_sbuffer_destroy(sb);
  }
}

#define S(p, s) ld_mp_pack_cstr(&(p)->pk, s)
#define SN(p, s, n) ld_mp_pack_str(&(p)->pk, s, n)
#define I(p, v) msgpack_pack_int64(&(p)->pk, (int64_t)(v))

void wk_send_sched(wk_state *w, msgpack_sbuffer *sb, ld_buffer *const *bufs, uint32_t n) {
  wk_fin_flush(w); /* the reports queued before go first */
  if (w->sched && w->registered) ld_conn_send_packed(w->sched, sb, bufs, n);
  pk_done(sb);
}

/* ---- data ---- */

static void data_free(wk_data *d) {
  for (uint32_t i = 0; d->frames && i < d->nframes; i++) ld_buffer_release(d->frames[i]);
  if (!wk_data_frames_inline(d)) free(d->frames);
  wk_rec_free(d); /* (its key and frame array are in the same allocation) */
}

static void data_drop(wk_state *w, const char *key, size_t len) {
  wk_data *d = ld_strmap_del(&w->data, key, len);
  if (d == NULL) return;
  w->nbytes -= d->nbytes;
  wk_mem_removed(w, d);
  data_free(d);
}

void wk_data_drop(wk_state *w, const char *key, size_t len) { data_drop(w, key, len); }

/* Stores FRAMES (N references, taken over; the array stays the caller's)
 * under KEY: one allocation holds the entry, a copy of the array and the
 * key. Returns the entry. */
static wk_data *data_put(wk_state *w, const char *key, size_t len, ld_buffer *const *frames,
                         uint32_t n, int fetched) {
  wk_data *d = wk_rec_alloc(sizeof *d + n * sizeof *frames + len + 1);
  if (d == NULL) abort();
  d->frames = (ld_buffer **)(d + 1);
  d->key = memcpy((char *)(d->frames + n), key, len);
  d->key[len] = '\0';
  d->keylen = len;
  memcpy(d->frames, frames, n * sizeof *frames);
  d->nframes = n;
  for (uint32_t i = 0; i < n; i++) d->nbytes += (int64_t)frames[i]->size;
  d->fetched = fetched;
  int rc = ld_strmap_add(&w->data, d->key, len, d); /* (one lookup when new) */
  if (rc == 1) {                                    /* replaces a value held */
    data_drop(w, key, len);
    rc = ld_strmap_add(&w->data, d->key, len, d);
  }
  if (rc != 0) abort();
  w->nbytes += d->nbytes;
  wk_mem_added(w, d);
  return d;
}

/* ---- tasks ---- */

/* Releases N frame references and frees their array (NULL accepted). */
static void release_frames(ld_buffer **frames, uint32_t n) {
  for (uint32_t j = 0; frames && j < n; j++) ld_buffer_release(frames[j]);
  free(frames);
}

/* Drops a reference to T; the last frees it (one allocation: wk_compute)
 * with its payload references and inputs read back for it. */
static void task_unref(wk_task *t) {
  if (--t->refs > 0) return;
  for (uint32_t i = 0; i < t->npayload; i++) ld_buffer_release(t->payload[i]);
  for (int i = 0; i < t->ndeps; i++) release_frames(t->deps[i].loaded, t->deps[i].nloaded);
  wk_rec_free(t);
}

static void task_run(wk_state *w, wk_task *t);
static int cancel_run(wk_state *w, ld_wtask *r);

/* Spilled inputs are read back only for a few tasks at a time (those about
 * to run), else every task sent at once would bring its inputs back into
 * RAM together. */
static int admit_max(const wk_state *w) { return 2 * w->nthreads; }

/* Admits queued tasks, best priority first, while there is room. */
static void admit_pump(wk_state *w) {
  while (w->nload_queue > 0 && w->nadmitted < admit_max(w)) {
    int best = 0;
    for (int i = 1; i < w->nload_queue; i++)
      if (w->load_queue[i]->prio < w->load_queue[best]->prio) best = i;
    wk_task *t = w->load_queue[best];
    w->load_queue[best] = w->load_queue[--w->nload_queue];
    t->queued = 0;
    if (t->state == W_FETCHING && t->missing == 0) task_run(w, t);
    task_unref(t); /* the queue's reference */
  }
}

/* T no longer holds read-back inputs (it ended, or was dropped). */
static void admit_done(wk_state *w, wk_task *t) {
  if (!t->admitted) return;
  t->admitted = 0;
  w->nadmitted--;
  admit_pump(w);
}

/* Takes T out of the task table (it may live on in fetch lists). */
static void task_abandon(wk_state *w, wk_task *t) {
  if (t->state == W_ABANDONED) return;
  if (t->state == W_FETCHING) {
    for (int i = 0; i < t->ndeps; i++) {
      wk_data *d = ld_strmap_get(&w->data, t->deps[i].key, t->deps[i].keylen);
      if (d && d->fetched && --d->waiters <= 0) data_drop(w, d->key, d->keylen);
    }
  }
  t->state = W_ABANDONED;
  ld_strmap_del(&w->tasks, t->key, t->keylen);
  if (t->run == NULL) admit_done(w, t); /* else when the run ends */
  task_unref(t);
}

/* Tells the scheduler that T's input DEP could not be had from FROM. */
static void report_missing(wk_state *w, wk_task *t, const char *dep, size_t deplen,
                           const char *from) {
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 4);
  S(&p, "op"), S(&p, "missing-data");
  S(&p, "key"), SN(&p, t->key, t->keylen);
  S(&p, "dep"), SN(&p, dep, deplen);
  S(&p, "from"), S(&p, from);
  wk_send_sched(w, &p.sb, NULL, 0);
}

/* Tells the scheduler that task KEY failed with MSG (and traceback TB). */
void wk_send_erred(wk_state *w, const char *key, size_t klen, const char *msg, const char *tb) {
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 4);
  S(&p, "op"), S(&p, "task-erred");
  S(&p, "key"), SN(&p, key, klen);
  S(&p, "message"), S(&p, msg);
  S(&p, "traceback"), S(&p, tb);
  wk_send_sched(w, &p.sb, NULL, 0);
}

/* A spilled input of T was read back (or not) on the threadpool. */
static void input_read(wk_state *w, void *ctx, int slot, ld_buffer **frames, uint32_t n,
                       const char *err) {
  wk_task *t = ctx;
  wk_dep *dp = &t->deps[slot];
  dp->loading = 0;
  t->loading--;
  if (t->state != W_FETCHING) { /* freed or replaced meanwhile */
    release_frames(frames, n);
  } else if (frames == NULL) {
    char msg[1200];
    fprintf(stderr, "ldask-worker %s: task '%.*s': %s\n", w->name, (int)t->keylen, t->key, err);
    snprintf(msg, sizeof msg, "worker %s: %s", w->name, err);
    wk_send_erred(w, t->key, t->keylen, msg, "");
    task_abandon(w, t);
  } else {
    dp->loaded = frames;
    dp->nloaded = n;
    if (t->loading == 0 && t->missing == 0) task_run(w, t);
  }
  task_unref(t); /* the read's reference */
}

/* Hands T (all inputs here) to the executors. Inputs in spill files are
 * read back on the threadpool first (T waits, still W_FETCHING); one that
 * cannot be read makes T fail with a message naming the input, the file
 * and the error. */
static void task_run(wk_state *w, wk_task *t) {
  /* (nothing is on disk while no bytes are: then no input is looked up) */
  for (int i = 0; w->spilled > 0 && i < t->ndeps; i++) {
    wk_dep *dp = &t->deps[i];
    wk_data *d = ld_strmap_get(&w->data, dp->key, dp->keylen);
    if (dp->loaded || dp->loading || d == NULL || d->where != WK_ON_DISK) continue;
    if (!t->admitted) {
      if (w->nadmitted >= admit_max(w)) { /* wait for room */
        if (!t->queued) {
          if (w->nload_queue == w->capload_queue) {
            w->capload_queue = w->capload_queue ? 2 * w->capload_queue : 16;
            w->load_queue =
                realloc(w->load_queue, (size_t)w->capload_queue * sizeof *w->load_queue);
            if (w->load_queue == NULL) abort();
          }
          w->load_queue[w->nload_queue++] = t;
          t->queued = 1;
          t->refs++;
        }
        return;
      }
      t->admitted = 1;
      w->nadmitted++;
    }
    if (wk_spill_read_async(w, d, input_read, t, i) == 0) {
      dp->loading = 1;
      t->loading++;
      t->refs++;
    } /* else read below, synchronously */
  }
  if (t->loading > 0) return;
  /* The run and its four dependency arrays are in T's allocation
   * (wk_compute); the inputs' frames go straight into it. */
  ld_wtask *r = &t->run_rec;
  ld_buffer ***in = r->dep_frames;
  uint32_t *nin = r->dep_nframes;
  for (int i = 0; i < t->ndeps; i++) {
    wk_dep *dp = &t->deps[i];
    if (dp->loaded) { /* the references move to the run */
      in[i] = dp->loaded, nin[i] = dp->nloaded;
      dp->loaded = NULL, dp->nloaded = 0;
      continue;
    }
    wk_data *d = ld_strmap_get(&w->data, dp->key, dp->keylen);
    char err[1024], msg[1200];
    if (d == NULL) /* dropped after its file was lost (wk_on_send_data) */
      snprintf(err, sizeof err, "input '%.*s' is no longer held here", (int)dp->keylen, dp->key);
    else
      nin[i] = d->nframes, dp->fetched = d->fetched;
    if (d == NULL || wk_mem_frames(w, d, &in[i], err, sizeof err) != 0) {
      fprintf(stderr, "ldask-worker %s: task '%.*s': %s\n", w->name, (int)t->keylen, t->key, err);
      snprintf(msg, sizeof msg, "worker %s: %s", w->name, err);
      if (d)
        wk_send_erred(w, t->key, t->keylen, msg, "");
      else /* the scheduler recomputes it or finds another copy */
        report_missing(w, t, dp->key, dp->keylen, w->address);
      for (int k = 0; k < i; k++) release_frames(in[k], nin[k]), in[k] = NULL, nin[k] = 0;
      task_abandon(w, t);
      return;
    }
  }
  r->key = t->key;
  r->keylen = t->keylen;
  r->payload = t->payload;
  r->npayload = t->npayload;
  r->owner = t;
  r->ndeps = (uint32_t)t->ndeps;
  for (int i = 0; i < t->ndeps; i++) {
    r->dep_keys[i] = t->deps[i].key;
    r->dep_keylens[i] = t->deps[i].keylen;
    if (!t->deps[i].fetched) continue; /* (a peer's copy: dropped once no task waits) */
    wk_data *d = ld_strmap_get(&w->data, t->deps[i].key, t->deps[i].keylen);
    if (d && d->fetched && --d->waiters <= 0) data_drop(w, d->key, d->keylen);
  }
  t->run = r;
  t->state = W_EXECUTING;                       /* from the loop's point of view: handed over */
  t->refs++;                                    /* held by the run until wk_task_done */
  if (!wk_mem_hold(w, r)) wk_exec_submit(w, r); /* (held while paused) */
}

/* Takes run R back before it started (held while paused, or still queued
 * for the executors): 1 when it was, 0 when it is running. */
static int cancel_run(wk_state *w, ld_wtask *r) {
  if (wk_mem_unhold(w, r)) return 1;
  if (!wk_exec_cancel(w, r)) return 0;
  wk_mem_task_left(w);
  return 1;
}

static wk_peer *peer_get(wk_state *w, const char *addr, size_t len) {
  for (wk_peer *p = w->peers; p; p = p->next)
    if (strlen(p->addr) == len && memcmp(p->addr, addr, len) == 0) return p;
  wk_peer *p = calloc(1, sizeof *p);
  if (p == NULL) abort();
  snprintf(p->addr, sizeof p->addr, "%.*s", (int)len, addr);
  char err[200];
  p->conn = ld_conn_connect(w->loop, p->addr, "peer", &wk_peer_handlers, p, err, sizeof err);
  if (p->conn == NULL) {
    fprintf(stderr, "ldask-worker: %s\n", err);
    free(p);
    return NULL;
  }
  p->next = w->peers;
  w->peers = p;
  return p;
}

/* Starts fetching dependency D of T unless already under way. */
static void fetch(wk_state *w, wk_task *t, wk_dep *d) {
  wk_fetch *f = ld_strmap_get(&w->fetching, d->key, d->keylen);
  if (f == NULL) {
    wk_peer *peer = NULL;
    const char *holder = NULL;
    for (int i = 0; i < d->nwho && peer == NULL; i++) {
      if (strcmp(d->who_has[i], w->address) == 0) continue;
      holder = d->who_has[i];
      peer = peer_get(w, holder, strlen(holder));
    }
    if (peer == NULL) {
      report_missing(w, t, d->key, d->keylen, holder ? holder : "");
      task_abandon(w, t);
      return;
    }
    f = calloc(1, sizeof *f);
    if (f == NULL) abort();
    f->key = dupn(d->key, d->keylen);
    f->keylen = d->keylen;
    f->peer = peer;
    f->t0 = wk_wall();
    if (peer->asked++ == 0) peer->heard = (double)uv_now(w->loop) / 1000.0;
    ld_strmap_put(&w->fetching, f->key, f->keylen, f);
    pk_t p;
    pk_init(&p);
    msgpack_pack_map(&p.pk, 2);
    S(&p, "op"), S(&p, "get-data");
    S(&p, "keys");
    msgpack_pack_array(&p.pk, 1);
    SN(&p, d->key, d->keylen);
    ld_conn_send_packed(peer->conn, &p.sb, NULL, 0);
    pk_done(&p.sb);
  }
  if (f->nwaiters == f->capwaiters) {
    f->capwaiters = f->capwaiters ? f->capwaiters * 2 : 4;
    f->waiters = realloc(f->waiters, (size_t)f->capwaiters * sizeof *f->waiters);
    if (f->waiters == NULL) abort();
  }
  f->waiters[f->nwaiters++] = t;
  t->refs++;
}

static void fetch_free(wk_fetch *f) {
  free(f->waiters);
  free(f->key);
  free(f);
}

void wk_on_compute(wk_state *w, ld_msg *m, const msgpack_object *h) {
  const char *key;
  size_t klen;
  int64_t nf = 0, prio = 0;
  if (!ld_mp_get_str(h, "key", &key, &klen)) return;
  ld_mp_get_i64(h, "nframes", &nf);
  ld_mp_get_i64(h, "priority", &prio);
  if (nf < 1 || (uint64_t)nf + 1 > m->nframes) nf = 0;
  const msgpack_object *deps = ld_mp_get(h, "deps");
  uint32_t nd = deps && deps->type == MSGPACK_OBJECT_ARRAY ? deps->via.array.size : 0;
  wk_dep_in *in = calloc(nd ? nd : 1, sizeof *in);
  if (in == NULL) abort();
  uint32_t n = 0;
  for (uint32_t i = 0; i < nd; i++) {
    const msgpack_object *o = &deps->via.array.ptr[i];
    if (!ld_mp_get_str(o, "key", &in[n].key, &in[n].keylen)) continue;
    ld_mp_get_i64(o, "nbytes", &in[n].nbytes);
    in[n++].who_has = ld_mp_get(o, "who_has");
  }
  wk_compute(w, key, klen, prio, m->frames + 1, (uint32_t)nf, in, n);
  free(in);
}

void wk_compute(wk_state *w, const char *key, size_t klen, int64_t prio, ld_buffer *const *payload,
                uint32_t nf, const wk_dep_in *in, uint32_t nd) {
  wk_data *have = ld_strmap_get(&w->data, key, klen);
  if (have && !have->fetched) { /* already computed here */
    pk_t p;
    pk_init(&p);
    msgpack_pack_map(&p.pk, 3);
    S(&p, "op"), S(&p, "task-finished");
    S(&p, "key"), SN(&p, key, klen);
    S(&p, "nbytes"), I(&p, have->nbytes);
    wk_send_sched(w, &p.sb, NULL, 0);
    return;
  }
  wk_task *old = ld_strmap_get(&w->tasks, key, klen);
  if (old) {
    if (old->state == W_EXECUTING) {
      old->run->owner = old;
      return; /* still running: its result will do */
    }
    task_abandon(w, old);
  }
  if (nf < 1) {
    wk_send_erred(w, key, klen, "compute-task: payload frame count out of range", "");
    return;
  }
  /* One allocation: the record (with its run), then the pointer arrays
   * (payload frames, dependencies, the run's four input arrays, holders),
   * then the strings (key, dependency keys, holders' addresses). */
  size_t nwho = 0, chars = klen + 1;
  for (uint32_t i = 0; i < nd; i++) {
    const msgpack_object *wh = in[i].who_has;
    uint32_t nw = wh && wh->type == MSGPACK_OBJECT_ARRAY ? wh->via.array.size : 0;
    chars += in[i].keylen + 1;
    for (uint32_t j = 0; j < nw; j++) {
      const msgpack_object *a = &wh->via.array.ptr[j];
      if (a->type != MSGPACK_OBJECT_STR) continue;
      nwho++;
      chars += a->via.str.size + 1;
    }
  }
  size_t size = sizeof(wk_task) + nf * sizeof(ld_buffer *) + nd * sizeof(wk_dep) +
                nd * (sizeof(char *) + sizeof(ld_buffer **) + sizeof(size_t) + sizeof(uint32_t)) +
                nd % 2 * sizeof(uint32_t) + nwho * sizeof(char *) + chars;
  wk_task *t = wk_rec_alloc(size);
  if (t == NULL) abort();
  char *at = (char *)(t + 1);
  t->payload = (ld_buffer **)at, at += nf * sizeof(ld_buffer *);
  t->deps = (wk_dep *)at, at += nd * sizeof(wk_dep);
  ld_wtask *r = &t->run_rec;
  r->in_task = 1;
  r->dep_keys = (const char **)at, at += nd * sizeof(char *);
  r->dep_frames = (ld_buffer ***)at, at += nd * sizeof(ld_buffer **);
  r->dep_keylens = (size_t *)at, at += nd * sizeof(size_t);
  r->dep_nframes = (uint32_t *)at, at += (nd + nd % 2) * sizeof(uint32_t);
  char **who = (char **)at;
  at += nwho * sizeof(char *);
  t->key = memcpy(at, key, klen);
  t->key[klen] = '\0';
  at += klen + 1;
  t->keylen = klen;
  t->prio = prio;
  t->refs = 1;
  t->npayload = nf;
  for (uint32_t i = 0; i < nf; i++) t->payload[i] = ld_buffer_retain(payload[i]);
  for (uint32_t i = 0; i < nd; i++) {
    wk_dep *d = &t->deps[t->ndeps++];
    d->key = memcpy(at, in[i].key, in[i].keylen);
    d->key[in[i].keylen] = '\0';
    at += in[i].keylen + 1;
    d->keylen = in[i].keylen;
    d->nbytes = in[i].nbytes;
    d->who_has = who;
    const msgpack_object *wh = in[i].who_has;
    uint32_t nw = wh && wh->type == MSGPACK_OBJECT_ARRAY ? wh->via.array.size : 0;
    for (uint32_t j = 0; j < nw; j++) {
      const msgpack_object *a = &wh->via.array.ptr[j];
      if (a->type != MSGPACK_OBJECT_STR) continue;
      char *addr = memcpy(at, a->via.str.ptr, a->via.str.size);
      addr[a->via.str.size] = '\0';
      at += a->via.str.size + 1;
      who[d->nwho++] = addr;
    }
    who += d->nwho;
  }
  ld_strmap_put(&w->tasks, t->key, t->keylen, t);
  t->state = W_FETCHING;
  t->refs++; /* pinned while its fetches start: one may abandon it */
  for (int i = 0; i < t->ndeps && t->state == W_FETCHING; i++) {
    wk_dep *d = &t->deps[i];
    wk_data *have_dep = ld_strmap_get(&w->data, d->key, d->keylen);
    if (have_dep) {
      if (have_dep->fetched) have_dep->waiters++;
    } else {
      t->missing++;
      fetch(w, t, d);
    }
  }
  if (t->state == W_FETCHING && t->missing == 0) task_run(w, t);
  task_unref(t);
}

void wk_task_done(wk_state *w, ld_wtask *r) {
  wk_task *t = r->owner;
  /* Still wanted: a task leaves the table only through task_abandon or
   * here, both of which end W_EXECUTING. */
  int live = t->state == W_EXECUTING;
  if (live) {
    pk_t p;
    pk_init(&p);
    if (r->ok) {
      wk_data *d = data_put(w, t->key, t->keylen, r->out, r->nout, 0);
      r->nout = 0; /* (the references moved; ld_wtask_free frees the array) */
      w->executed++;
      /* Small results travel with the message: the scheduler answers
       * gathers of them without asking us. */
      int small = d->nbytes <= WK_INLINE_MAX;
      wk_fin_add(w, t->key, t->keylen, d->nbytes, r->t0, r->t1, r->thread, small ? d->frames : NULL,
                 small ? d->nframes : 0);
      pk_done(&p.sb);
      goto sent;
    } else {
      msgpack_pack_map(&p.pk, 7);
      S(&p, "op"), S(&p, "task-erred");
      S(&p, "key"), SN(&p, t->key, t->keylen);
      S(&p, "message"), S(&p, r->err ? r->err : "unknown error");
      S(&p, "traceback"), S(&p, r->tb ? r->tb : "");
      S(&p, "start"), msgpack_pack_double(&p.pk, r->t0);
      S(&p, "stop"), msgpack_pack_double(&p.pk, r->t1);
      S(&p, "thread"), I(&p, r->thread);
    }
    wk_send_sched(w, &p.sb, NULL, 0);
  sent:
    ld_strmap_del(&w->tasks, t->key, t->keylen);
    t->state = W_ABANDONED;
    task_unref(t); /* the table's reference */
  }
  t->run = NULL;
  admit_done(w, t);
  ld_wtask_free(r); /* (in T's allocation: before T's reference goes) */
  task_unref(t);    /* the run's reference */
  wk_mem_task_left(w);
}

/* Takes executing task T's run back from the executors when none has
 * started it yet (the run is freed): 1, else 0 (it runs or ran). */
static int take_back_run(wk_state *w, wk_task *t) {
  if (t->run == NULL || !cancel_run(w, t->run)) return 0;
  ld_wtask *r = t->run;
  t->run = NULL;
  ld_wtask_free(r);
  task_unref(t); /* the run's reference */
  return 1;
}

void wk_on_free(wk_state *w, const msgpack_object *h) {
  const msgpack_object *keys = ld_mp_get(h, "keys");
  if (keys == NULL || keys->type != MSGPACK_OBJECT_ARRAY) return;
  for (uint32_t i = 0; i < keys->via.array.size; i++) {
    const msgpack_object *k = &keys->via.array.ptr[i];
    if (k->type != MSGPACK_OBJECT_STR) continue;
    wk_task *t = ld_strmap_get(&w->tasks, k->via.str.ptr, k->via.str.size);
    if (t) {
      if (t->state == W_EXECUTING) take_back_run(w, t);
      task_abandon(w, t);
    }
    wk_data *d = ld_strmap_get(&w->data, k->via.str.ptr, k->via.str.size);
    if (d && !d->fetched) data_drop(w, k->via.str.ptr, k->via.str.size);
  }
}

/* Keys in one steal-request at most (the scheduler sends at most 1,024). */
#define WK_STEAL_MAX 1024

void wk_on_steal(wk_state *w, const msgpack_object *h) {
  const msgpack_object *keys = ld_mp_get(h, "keys");
  if (keys == NULL || keys->type != MSGPACK_OBJECT_ARRAY) return;
  uint32_t n = keys->via.array.size;
  if (n > WK_STEAL_MAX) n = WK_STEAL_MAX; /* the rest stay (refused by silence) */
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 3);
  S(&p, "op"), S(&p, "steal-response");
  S(&p, "keys");
  msgpack_pack_array(&p.pk, n);
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *k = &keys->via.array.ptr[i];
    if (k->type == MSGPACK_OBJECT_STR)
      SN(&p, k->via.str.ptr, k->via.str.size);
    else
      msgpack_pack_nil(&p.pk);
  }
  S(&p, "ok");
  msgpack_pack_array(&p.pk, n);
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *k = &keys->via.array.ptr[i];
    wk_task *t = k->type == MSGPACK_OBJECT_STR
                     ? ld_strmap_get(&w->tasks, k->via.str.ptr, k->via.str.size)
                     : NULL;
    /* Not started: waiting for inputs, or handed over but not yet taken
     * by an executor (cancel_run takes it back). Running or done: refused. */
    int give =
        t != NULL && (t->state == W_FETCHING || (t->state == W_EXECUTING && take_back_run(w, t)));
    if (give) task_abandon(w, t);
    give ? msgpack_pack_true(&p.pk) : msgpack_pack_false(&p.pk);
  }
  wk_send_sched(w, &p.sb, NULL, 0);
}

void wk_on_put_data(wk_state *w, ld_msg *m, const msgpack_object *h) {
  const char *key;
  size_t klen;
  int64_t nf = 0;
  if (!ld_mp_get_str(h, "key", &key, &klen)) return;
  ld_mp_get_i64(h, "nframes", &nf);
  if (nf < 1 || (uint64_t)nf + 1 > m->nframes) return;
  for (uint32_t i = 0; i < (uint32_t)nf; i++) ld_buffer_retain(m->frames[1 + i]);
  wk_data *d = data_put(w, key, klen, m->frames + 1, (uint32_t)nf, 0);
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 3);
  S(&p, "op"), S(&p, "task-finished");
  S(&p, "key"), SN(&p, key, klen);
  S(&p, "nbytes"), I(&p, d->nbytes);
  wk_send_sched(w, &p.sb, NULL, 0);
}

/* Data of one key arrived (or did not): wakes the tasks waiting for it. */
static void fetch_done(wk_state *w, wk_fetch *f, int ok) {
  ld_strmap_del(&w->fetching, f->key, f->keylen);
  f->peer->asked--;
  wk_data *d = ld_strmap_get(&w->data, f->key, f->keylen);
  if (ok && d) {
    /* Count every waiter first: starting one must not drop the copy the
     * others still need. */
    if (d->fetched)
      for (int i = 0; i < f->nwaiters; i++)
        if (f->waiters[i]->state == W_FETCHING) d->waiters++;
    for (int i = 0; i < f->nwaiters; i++) {
      wk_task *t = f->waiters[i];
      if (t->state == W_FETCHING && --t->missing == 0) task_run(w, t);
    }
  } else {
    for (int i = 0; i < f->nwaiters; i++) {
      wk_task *t = f->waiters[i];
      if (t->state != W_FETCHING) continue;
      report_missing(w, t, f->key, f->keylen, f->peer->addr);
      task_abandon(w, t);
    }
  }
  for (int i = 0; i < f->nwaiters; i++) task_unref(f->waiters[i]);
  /* Starting a task may have dropped the copy already: look it up again. */
  d = ld_strmap_get(&w->data, f->key, f->keylen);
  if (d && d->fetched && d->waiters <= 0) data_drop(w, f->key, f->keylen);
  fetch_free(f);
}

/* Keeps the transfer of F (NBYTES from P) for the next heartbeat, or
 * counts it when WK_XFER_MAX are waiting already. */
static void record_transfer(wk_state *w, const wk_fetch *f, const wk_peer *p, int64_t nbytes) {
  if (w->nxfers == WK_XFER_MAX) {
    w->xfers_dropped++;
    return;
  }
  wk_xfer *x = &w->xfers[w->nxfers++];
  x->key = dupn(f->key, f->keylen);
  snprintf(x->from, sizeof x->from, "%s", p->addr);
  x->nbytes = nbytes;
  x->t0 = f->t0;
  x->t1 = wk_wall();
}

void wk_on_peer_data(wk_state *w, wk_peer *p, ld_msg *m, const msgpack_object *h) {
  p->heard = (double)uv_now(w->loop) / 1000.0;
  const msgpack_object *keys = ld_mp_get(h, "keys");
  const msgpack_object *missing = ld_mp_get(h, "missing");
  uint32_t next = 1;
  for (uint32_t i = 0; keys && keys->type == MSGPACK_OBJECT_ARRAY && i < keys->via.array.size;
       i++) {
    const msgpack_object *rec = &keys->via.array.ptr[i];
    const char *key;
    size_t klen;
    int64_t nf = 0;
    if (!ld_mp_get_str(rec, "key", &key, &klen)) continue;
    ld_mp_get_i64(rec, "nframes", &nf);
    if (nf < 1 || next + (uint64_t)nf > m->nframes) break;
    wk_fetch *f = ld_strmap_get(&w->fetching, key, klen);
    if (f && !ld_strmap_get(&w->data, key, klen)) {
      for (uint32_t j = 0; j < (uint32_t)nf; j++) ld_buffer_retain(m->frames[next + j]);
      wk_data *d = data_put(w, key, klen, m->frames + next, (uint32_t)nf, 1);
      w->fetched++;
      w->fetched_bytes += d->nbytes;
      record_transfer(w, f, p, d->nbytes);
    }
    next += (uint32_t)nf;
    if (f) fetch_done(w, f, 1);
  }
  for (uint32_t i = 0;
       missing && missing->type == MSGPACK_OBJECT_ARRAY && i < missing->via.array.size; i++) {
    const msgpack_object *k = &missing->via.array.ptr[i];
    if (k->type != MSGPACK_OBJECT_STR) continue;
    wk_fetch *f = ld_strmap_get(&w->fetching, k->via.str.ptr, k->via.str.size);
    if (f) fetch_done(w, f, 0);
  }
}

void wk_peer_lost(wk_state *w, wk_peer *p, const char *reason) {
  (void)reason;
  for (wk_peer **pp = &w->peers; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  /* Fail every fetch from it (collected first: fetch_done edits the map). */
  size_t i = 0, n = 0;
  wk_fetch **fs = malloc((w->fetching.count + 1) * sizeof *fs);
  if (fs == NULL) abort();
  ld_strmap_slot *s;
  while ((s = ld_strmap_next(&w->fetching, &i)) != NULL)
    if (((wk_fetch *)s->val)->peer == p) fs[n++] = s->val;
  for (size_t k = 0; k < n; k++) fetch_done(w, fs[k], 0);
  free(fs);
  free(p);
}

void wk_peer_drop(wk_state *w, const char *addr, size_t len, const char *reason) {
  for (wk_peer **pp = &w->peers; *pp; pp = &(*pp)->next) {
    wk_peer *p = *pp;
    if (strlen(p->addr) != len || memcmp(p->addr, addr, len) != 0) continue;
    /* Out of the list at once, so that a new fetch opens a fresh
     * connection; wk_peer_lost fails its fetches and frees it. */
    *pp = p->next;
    if (p->asked > 0)
      fprintf(stderr, "ldask-worker %s: giving up %d fetch(es) from %s: %s\n", w->name, p->asked,
              p->addr, reason);
    ld_conn_close(p->conn, reason, 0);
    return;
  }
}

void wk_peers_check(wk_state *w) {
  double now = (double)uv_now(w->loop) / 1000.0;
  for (wk_peer *p = w->peers, *next; p; p = next) {
    next = p->next;
    if (p->asked <= 0 || now - p->heard <= w->peer_timeout) continue;
    char why[160];
    snprintf(why, sizeof why, "no answer for %.1f s (peer timeout %.1f s)", now - p->heard,
             w->peer_timeout);
    wk_peer_drop(w, p->addr, strlen(p->addr), why);
  }
}

void wk_reset(wk_state *w) {
  size_t i = 0, n = 0;
  ld_strmap_slot *s;
  wk_task **ts = malloc((w->tasks.count + 1) * sizeof *ts);
  if (ts == NULL) abort();
  while ((s = ld_strmap_next(&w->tasks, &i)) != NULL) ts[n++] = s->val;
  for (size_t k = 0; k < n; k++) {
    wk_task *t = ts[k];
    if (t->state == W_EXECUTING && t->run && cancel_run(w, t->run)) {
      ld_wtask *r = t->run;
      t->run = NULL;
      ld_wtask_free(r);
      task_unref(t);
    }
    task_abandon(w, t);
  }
  free(ts);
  i = n = 0;
  wk_data **ds = malloc((w->data.count + 1) * sizeof *ds);
  if (ds == NULL) abort();
  while ((s = ld_strmap_next(&w->data, &i)) != NULL) ds[n++] = s->val;
  for (size_t k = 0; k < n; k++) data_drop(w, ds[k]->key, ds[k]->keylen);
  free(ds);
}
