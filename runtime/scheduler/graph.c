/* graph.c — ldask-scheduler's update-graph (docs/protocol.md): tasks
 * sent as columns (keys, nframes, priority, ndeps, deps in CSR form, with
 * dependencies inside the message named by their index), checked as a
 * whole before any record changes, or in the older form of one map per
 * task. Both end in the same records, dependencies and wants. Runs on the
 * scheduler's loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack.h"

/* Copies the restriction list WS (worker names or addresses) into T. */
static void set_restrictions(sc_task *t, const msgpack_object *ws) {
  sc_rare *r = sc_rw(t);
  r->restrict_to = sc_xrealloc(r->restrict_to, ws->via.array.size * sizeof(char *));
  for (uint32_t j = 0; j < ws->via.array.size; j++) {
    const msgpack_object *o = &ws->via.array.ptr[j];
    if (o->type != MSGPACK_OBJECT_STR) continue;
    char *s = sc_xrealloc(NULL, o->via.str.size + 1);
    memcpy(s, o->via.str.ptr, o->via.str.size);
    s[o->via.str.size] = '\0';
    r->restrict_to[r->nrestrict++] = s;
  }
}

/* An integer (or an integral float) O into *V. */
static int obj_i64(const msgpack_object *o, int64_t *v) {
  if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
    *v = (int64_t)o->via.u64;
    return 1;
  }
  if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
    *v = o->via.i64;
    return 1;
  }
  if ((o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) &&
      o->via.f64 >= -9.2e18 && o->via.f64 <= 9.2e18 && o->via.f64 == (double)(int64_t)o->via.f64) {
    *v = (int64_t)o->via.f64;
    return 1;
  }
  return 0;
}

/* A priority: an integer, or a float (rounded down) within range. */
static int obj_prio(const msgpack_object *o, int64_t *v) {
  if ((o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) &&
      o->via.f64 >= -9.2e18 && o->via.f64 <= 9.2e18) {
    double f = o->via.f64;
    int64_t i = (int64_t)f;
    *v = (double)i > f ? i - 1 : i;
    return 1;
  }
  return obj_i64(o, v);
}

/* The tasks of one update-graph, in either form. */
typedef struct ug_src {
  const msgpack_object *tasks; /* the map form: one map per task; NULL for columns */
  uint32_t n;
  /* the column form: element arrays of n entries (nframes may be NULL: 1
   * frame each), deps of dep_off[n] entries */
  const msgpack_object *keys, *nframes, *prio, *deps;
  uint32_t *dep_off; /* owned: n + 1 offsets into deps */
  int64_t retries;
  const msgpack_object *workers; /* every task's restriction, or NULL */
} ug_src;

/* The array FIELD of H with N elements (ptr), NULL when absent; *BAD set
 * when present but not such an array. */
static const msgpack_object *col(const msgpack_object *h, const char *field, uint32_t n,
                                 const char **bad) {
  const msgpack_object *o = ld_mp_get(h, field);
  if (o == NULL) return NULL;
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != n) {
    *bad = field;
    return NULL;
  }
  return o->via.array.ptr;
}

/* Reads and checks the column form of H into S. Returns 0, or -1 with
 * the reason in ERR (nothing was changed). */
static int read_columns(const msgpack_object *h, const ld_msg *m, ug_src *s, char *err,
                        size_t errlen) {
  const msgpack_object *keys = arr(h, "keys");
  if (keys == NULL) {
    snprintf(err, errlen, "update-graph: 'keys' must be an array");
    return -1;
  }
  uint32_t n = keys->via.array.size;
  const char *bad = NULL;
  s->n = n;
  s->keys = keys->via.array.ptr;
  s->nframes = col(h, "nframes", n, &bad);
  s->prio = col(h, "priority", n, &bad);
  const msgpack_object *nd = col(h, "ndeps", n, &bad);
  if (bad) {
    snprintf(err, errlen, "update-graph: '%s' must be an array of %u entries, one per key", bad, n);
    return -1;
  }
  if (n > 0 && (s->prio == NULL || nd == NULL)) {
    snprintf(err, errlen, "update-graph: 'priority' and 'ndeps' are required with 'keys'");
    return -1;
  }
  const msgpack_object *r = ld_mp_get(h, "retries");
  s->retries = 0;
  if (r && (!obj_i64(r, &s->retries) || s->retries < 0 || s->retries > 1000000)) {
    snprintf(err, errlen, "update-graph: 'retries' must be an integer from 0 to 1000000");
    return -1;
  }
  s->workers = arr(h, "workers");
  s->dep_off = sc_xrealloc(NULL, ((size_t)n + 1) * sizeof *s->dep_off);
  uint64_t frames = 0, ndeps = 0;
  s->dep_off[0] = 0;
  for (uint32_t i = 0; i < n; i++) {
    int64_t v;
    if (s->keys[i].type != MSGPACK_OBJECT_STR) {
      snprintf(err, errlen, "update-graph: key %u is not a string", i);
      return -1;
    }
    if (!obj_prio(&s->prio[i], &v)) {
      snprintf(err, errlen, "update-graph: the priority of key %u is not a number", i);
      return -1;
    }
    v = 1;
    if (s->nframes && (!obj_i64(&s->nframes[i], &v) || v < 1 || v > (int64_t)m->nframes)) {
      snprintf(err, errlen, "update-graph: the frame count of key %u is not an integer >= 1", i);
      return -1;
    }
    frames += (uint64_t)v;
    if (!obj_i64(&nd[i], &v) || v < 0 || v > (int64_t)UINT32_MAX) {
      snprintf(err, errlen, "update-graph: the dependency count of key %u is out of range", i);
      return -1;
    }
    ndeps += (uint64_t)v;
    if (ndeps > UINT32_MAX) {
      snprintf(err, errlen, "update-graph: too many dependencies");
      return -1;
    }
    s->dep_off[i + 1] = (uint32_t)ndeps;
  }
  if (frames + 1 > m->nframes) {
    snprintf(err, errlen, "update-graph: the tasks claim %llu payload frames, the message has %u",
             (unsigned long long)frames, m->nframes - 1);
    return -1;
  }
  const msgpack_object *deps = arr(h, "deps");
  if (ndeps > 0 && (deps == NULL || deps->via.array.size != ndeps)) {
    snprintf(err, errlen, "update-graph: 'deps' must hold sum(ndeps) = %llu entries, it has %u",
             (unsigned long long)ndeps, deps ? deps->via.array.size : 0);
    return -1;
  }
  s->deps = deps ? deps->via.array.ptr : NULL;
  for (uint32_t j = 0; j < ndeps; j++) {
    const msgpack_object *d = &s->deps[j];
    if (d->type == MSGPACK_OBJECT_STR) continue;
    if (d->type != MSGPACK_OBJECT_POSITIVE_INTEGER || d->via.u64 >= n) {
      snprintf(err, errlen,
               "update-graph: dependency %u is neither a key nor the index of a key of the message",
               j);
      return -1;
    }
  }
  return 0;
}

/* Task I of S: key, frame count, priority, retries, restriction. Returns 0,
 * or -1 after answering the client (map form: a record without a key or
 * with a bad frame count). */
static int task_at(const ug_src *s, uint32_t i, sc_client *cl, const ld_msg *m, uint32_t next_frame,
                   const char **key, size_t *klen, int64_t *nf, int64_t *prio, int64_t *retries,
                   const msgpack_object **ws) {
  char err[400];
  if (s->tasks == NULL) {
    *key = s->keys[i].via.str.ptr;
    *klen = s->keys[i].via.str.size;
    *nf = 1;
    if (s->nframes) obj_i64(&s->nframes[i], nf);
    obj_prio(&s->prio[i], prio);
    *retries = s->retries;
    *ws = s->workers;
    return 0;
  }
  const msgpack_object *rec = &s->tasks->via.array.ptr[i];
  *nf = *prio = *retries = 0;
  if (!ld_mp_get_str(rec, "key", key, klen)) {
    snprintf(err, sizeof err, "update-graph: task record %u has no string 'key'", i);
    send_error(cl->conn, err);
    return -1;
  }
  ld_mp_get_i64(rec, "nframes", nf);
  ld_mp_get_i64(rec, "priority", prio);
  ld_mp_get_i64(rec, "retries", retries);
  if (*nf < 1 || next_frame + (uint64_t)*nf > m->nframes) {
    snprintf(err, sizeof err,
             "update-graph: task '%.*s' claims %lld payload frames but the message has %u left",
             (int)*klen, *key, (long long)*nf, m->nframes - next_frame);
    key_error(cl->conn, *key, *klen, err);
    return -1;
  }
  *ws = arr(rec, "workers");
  return 0;
}

/* Dependency J (of ND) of task I of S as a record, NULL when unknown;
 * *NAME, *NLEN: how the message names it. ADDED: the records of the
 * message by index (-1: not added here). */
static const sc_task *dep_at(sc_state *st, const ug_src *s, const int32_t *added, uint32_t i,
                             uint32_t j, const char **name, int *nlen) {
  const msgpack_object *o;
  if (s->tasks) {
    o = &arr(&s->tasks->via.array.ptr[i], "deps")->via.array.ptr[j];
  } else {
    o = &s->deps[s->dep_off[i] + j];
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
      uint32_t at = (uint32_t)o->via.u64;
      o = &s->keys[at];
      *name = o->via.str.ptr, *nlen = (int)o->via.str.size;
      return added[at] >= 0 ? sc_side(st, added[at]) : find(st, o);
    }
  }
  *name = o->type == MSGPACK_OBJECT_STR ? o->via.str.ptr : "?";
  *nlen = o->type == MSGPACK_OBJECT_STR ? (int)o->via.str.size : 1;
  return find(st, o);
}

static uint32_t ndeps_of(const ug_src *s, uint32_t i) {
  if (s->tasks == NULL) return s->dep_off[i + 1] - s->dep_off[i];
  const msgpack_object *dl = arr(&s->tasks->via.array.ptr[i], "deps");
  return dl ? dl->via.array.size : 0;
}

/* Frees the N needs of NEEDS (entries may share one, or be NULL). */
static void free_needs(sc_need **needs, uint32_t n) {
  if (needs == NULL) return;
  sc_need *last = NULL;
  for (uint32_t i = 0; i < n; i++)
    if (needs[i] && needs[i] != last) free(last = needs[i]);
  free(needs);
}

/* update-graph's 'resources' O (NULL: none): one map for every task, or an
 * array of N entries (a map or nil each). *NEEDS gets NULL (no task needs
 * any) or an owned array of N needs (NULL entries: none; one map shared
 * by every entry). Returns 0, or -1 with the reason in ERR. */
static int read_needs(sc_state *st, const msgpack_object *o, uint32_t n, sc_need ***needs,
                      char *err, size_t errlen) {
  *needs = NULL;
  if (o == NULL || o->type == MSGPACK_OBJECT_NIL || n == 0) return 0;
  sc_need **v = sc_xrealloc(NULL, n * sizeof *v);
  memset(v, 0, n * sizeof *v);
  if (o->type != MSGPACK_OBJECT_ARRAY) {
    sc_need *one;
    if (sc_res_need(st, o, &one, err, errlen) != 0) {
      free(v);
      return -1;
    }
    for (uint32_t i = 0; i < n; i++) v[i] = one;
    *needs = v;
    return 0;
  }
  if (o->via.array.size != n) {
    snprintf(err, errlen,
             "update-graph: 'resources' must be a map, or an array of %u entries (one per key)", n);
    free(v);
    return -1;
  }
  for (uint32_t i = 0; i < n; i++) {
    if (sc_res_need(st, &o->via.array.ptr[i], &v[i], err, errlen) != 0) {
      free_needs(v, i);
      return -1;
    }
  }
  *needs = v;
  return 0;
}

/* update-graph: the column form (keys, nframes, priority, ndeps, deps,
 * retries, workers, resources) or the map form (tasks [{key, deps,
 * priority, nframes, retries, workers}], resources); wanted [keys];
 * frames = the payloads back to back. */
void sc_op_update_graph(sc_state *st, sc_client *cl, ld_msg *m, const msgpack_object *h) {
  ug_src s;
  memset(&s, 0, sizeof s);
  char err[400];
  if (ld_mp_get(h, "keys")) {
    if (read_columns(h, m, &s, err, sizeof err) != 0) {
      send_error(cl->conn, err);
      free(s.dep_off);
      return;
    }
  } else {
    s.tasks = arr(h, "tasks");
    if (s.tasks == NULL) {
      send_error(cl->conn, "update-graph: 'keys' (columns) or 'tasks' must be an array");
      return;
    }
    s.n = s.tasks->via.array.size;
  }
  /* resources: checked before anything changes */
  sc_need **needs = NULL;
  if (read_needs(st, ld_mp_get(h, "resources"), s.n, &needs, err, sizeof err) != 0) {
    send_error(cl->conn, err);
    free(s.dep_off);
    return;
  }
  uint32_t n = s.n, next_frame = 1;
  /* Engine ids of the records this message (re)defines, -1 for the others.
   * Each is pinned (an engine want of its own) until the end, so that an
   * error cascade in between cannot forget it before it is wanted or
   * computed. */
  int32_t *added = sc_xrealloc(NULL, (n ? n : 1) * sizeof *added);
  for (uint32_t i = 0; i < n; i++) added[i] = -1;
  /* Pass 1: records. */
  for (uint32_t i = 0; i < n; i++) {
    const char *key;
    size_t klen;
    int64_t nf, prio, retries;
    const msgpack_object *ws;
    if (task_at(&s, i, cl, m, next_frame, &key, &klen, &nf, &prio, &retries, &ws) != 0) break;
    uint32_t first = next_frame;
    next_frame += (uint32_t)nf;
    /* Created at once when new (one hash probe); else the known record. */
    int rc;
    sc_task *t = sc_task_new(st, key, klen, prio, &rc);
    if (t == NULL && rc == LD_SCHED_EKEY) t = find_key(st, key, klen);
    if (t == NULL) {
      snprintf(err, sizeof err, "update-graph: cannot create task '%.*s' (%s)", (int)klen, key,
               rc == LD_SCHED_EKEY ? "a NUL byte in the key" : "out of memory");
      key_error(cl->conn, key, klen, err);
      break;
    }
    if (rc == LD_SCHED_EKEY) { /* known */
      int state = sc_state_of(st, t);
      if (state != LD_TASK_CANCELLED && !(state == LD_TASK_RELEASED && t->payload.n == 0))
        continue; /* same key: same computation, already known */
      ld_sched_renew(st->eng, t->id, prio);
      t->scattered = 0;
      t->lost = 0;
    }
    sc_frames_set(&t->payload, m->frames + first, (uint32_t)nf);
    t->retries = (int)retries;
    if (ws && ws->via.array.size > 0 && sc_r(t)->nrestrict == 0) set_restrictions(t, ws);
    if (needs && needs[i] && sc_r(t)->need == NULL) {
      sc_rare *r = sc_rw(t);
      r->need = sc_xrealloc(NULL, sizeof *r->need);
      *r->need = *needs[i];
    }
    added[i] = t->id;
    ld_sched_want(st->eng, t->id);
  }
  /* Pass 2: dependencies (may refer to tasks of this batch). */
  int32_t *deps = NULL;
  uint32_t capdeps = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (added[i] < 0) continue;
    sc_task *t = sc_side(st, added[i]);
    int32_t nold;
    ld_sched_deps(st->eng, t->id, &nold);
    if (nold > 0) continue; /* resubmitted: keeps its dependencies */
    uint32_t nd = ndeps_of(&s, i);
    if (nd > capdeps) deps = sc_xrealloc(deps, (capdeps = nd) * sizeof *deps);
    uint32_t j;
    const char *name = "";
    int nlen = 0;
    for (j = 0; j < nd; j++) {
      const sc_task *d = dep_at(st, &s, added, i, j, &name, &nlen);
      if (d == NULL || d == t) break;
      deps[j] = d->id;
    }
    if (j < nd) {
      snprintf(err, sizeof err, "task '%s' depends on unknown key '%.*s'", sc_key(st, t, NULL),
               nlen, name);
      sc_want(st, cl, t);
      sc_erred(st, t, err, strlen(err), "", 0);
      continue;
    }
    if (ld_sched_set_deps(st->eng, t->id, deps, (int32_t)nd) != 0) {
      snprintf(err, sizeof err, "update-graph: cannot record the dependencies of '%s'",
               sc_key(st, t, NULL));
      sc_want(st, cl, t);
      sc_erred(st, t, err, strlen(err), "", 0);
    }
  }
  free(deps);
  free(s.dep_off);
  free_needs(needs, n);
  /* Wanted keys, then start what is new. */
  const msgpack_object *wanted = arr(h, "wanted");
  for (uint32_t i = 0; wanted && i < wanted->via.array.size; i++) {
    sc_task *t = find(st, &wanted->via.array.ptr[i]);
    if (t == NULL) continue;
    /* A client that wanted T when it erred (in pass 2 above, or earlier)
     * was told then: key-erred goes once. Other clients are not told
     * again either. */
    int had = sc_wanted_by(t, cl->id);
    sc_want(st, cl, t);
    int state = sc_state_of(st, t);
    if (state == LD_TASK_MEMORY) sc_notify_one(cl, t, "key-finished");
    if (state == LD_TASK_ERRED && !had) sc_notify_one(cl, t, "key-erred");
    /* a known key whose result was released (kept as a record because a
     * task depends on it) is computed again */
    if (state == LD_TASK_RELEASED) ld_sched_compute(st->eng, t->id);
  }
  for (uint32_t i = 0; i < n; i++)
    if (added[i] >= 0 && ld_sched_state(st->eng, added[i]) == LD_TASK_RELEASED)
      ld_sched_compute(st->eng, added[i]);
  /* Unpinned: tasks nobody wants and nothing needs are dropped at once. */
  for (uint32_t i = 0; i < n; i++)
    if (added[i] >= 0) ld_sched_unwant(st->eng, added[i]);
  free(added);
}
