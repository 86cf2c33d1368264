/* resources.c — abstract resources in ldask-scheduler, as dask's worker
 * resources: a worker registers what it has (`ldask-worker --resources
 * "GPU=2,MEM=8e9"`, register-worker's `resources` map), a task says what it
 * needs while it runs (update-graph's `resources` map: submit/map/compute
 * options, ldask.annotate). A task runs only on a worker that has its
 * resources, and the scheduler counts what the tasks processing on each
 * worker take, so that a worker never runs more of them at once than its
 * resources allow (dask counts on the worker; here the scheduler holds
 * such tasks until a worker has the resources free). Ready tasks that must
 * wait are parked aside (not in the ready queues, so they hold up nothing)
 * and looked at again when resources are freed or a worker joins. Runs on
 * the scheduler's loop thread. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/mp.h"
#include "sched.h"

/* The number of resource NAME (LEN bytes), added when new and ADD is set;
 * -1 when unknown (not added) or when the table is full (*FULL set). */
static int res_index(sc_state *st, const char *name, size_t len, int add, int *full) {
  for (int i = 0; i < st->nres; i++)
    if (strlen(st->res_names[i]) == len && memcmp(st->res_names[i], name, len) == 0) return i;
  if (!add) return -1;
  if (st->nres == SC_RES_MAX) {
    *full = 1;
    return -1;
  }
  memcpy(st->res_names[st->nres], name, len);
  st->res_names[st->nres][len] = '\0';
  return st->nres++;
}

/* A finite number >= 0 from O into *V. */
static int amount_of(const msgpack_object *o, double *v) {
  switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
      *v = (double)o->via.u64;
      return 1;
    case MSGPACK_OBJECT_FLOAT64:
    case MSGPACK_OBJECT_FLOAT32:
      *v = o->via.f64;
      return isfinite(*v) && *v >= 0;
    default:
      return 0;
  }
}

/* Checks the map O of resource names to amounts (WHAT names the message
 * in errors) and interns its names. Returns the number of entries, or -1
 * with the reason in ERR. */
static int read_map(sc_state *st, const msgpack_object *o, const char *what, int idx[SC_RES_MAX],
                    double amt[SC_RES_MAX], char *err, size_t errlen) {
  if (o->type != MSGPACK_OBJECT_MAP) {
    snprintf(err, errlen, "%s: 'resources' must be a map of names to amounts", what);
    return -1;
  }
  uint32_t n = o->via.map.size;
  if (n > SC_RES_MAX) {
    snprintf(err, errlen, "%s: 'resources' names %u resources, at most %d are allowed", what, n,
             SC_RES_MAX);
    return -1;
  }
  /* checked whole before any name is interned */
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
    if (k->type != MSGPACK_OBJECT_STR || k->via.str.size == 0 || k->via.str.size >= SC_RES_NAME ||
        memchr(k->via.str.ptr, '\0', k->via.str.size)) {
      snprintf(err, errlen, "%s: resource name %u must be a string of 1 to %d bytes", what, i,
               SC_RES_NAME - 1);
      return -1;
    }
    if (!amount_of(v, &amt[i])) {
      snprintf(err, errlen, "%s: the amount of resource '%.*s' must be a finite number >= 0", what,
               (int)k->via.str.size, k->via.str.ptr);
      return -1;
    }
  }
  int fresh = 0, dummy = 0;
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *k = &o->via.map.ptr[i].key;
    if (res_index(st, k->via.str.ptr, k->via.str.size, 0, &dummy) < 0) fresh++;
  }
  if (st->nres + fresh > SC_RES_MAX) {
    snprintf(err, errlen, "%s: the cluster knows %d resource names already, at most %d", what,
             st->nres, SC_RES_MAX);
    return -1;
  }
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *k = &o->via.map.ptr[i].key;
    idx[i] = res_index(st, k->via.str.ptr, k->via.str.size, 1, &dummy);
    assert(idx[i] >= 0); /* room was checked above */
  }
  return (int)n;
}

/* (sched.h) */
int sc_res_worker(sc_state *st, sc_worker *w, const msgpack_object *o, char *err, size_t errlen) {
  if (o == NULL || o->type == MSGPACK_OBJECT_NIL) return 0;
  int idx[SC_RES_MAX];
  double amt[SC_RES_MAX];
  int n = read_map(st, o, "register-worker", idx, amt, err, errlen);
  if (n < 0) return -1;
  for (int i = 0; i < n; i++) {
    w->res_total[idx[i]] = amt[i];
    if (amt[i] > 0) w->has_res = 1;
  }
  return 0;
}

/* (sched.h) *OUT is malloc'ed; the caller frees it. */
int sc_res_need(sc_state *st, const msgpack_object *o, sc_need **out, char *err, size_t errlen) {
  *out = NULL;
  if (o == NULL || o->type == MSGPACK_OBJECT_NIL) return 0;
  int idx[SC_RES_MAX];
  double amt[SC_RES_MAX];
  int n = read_map(st, o, "update-graph", idx, amt, err, errlen);
  if (n <= 0) return n;
  sc_need *need = sc_xrealloc(NULL, sizeof *need);
  need->n = 0;
  for (int i = 0; i < n; i++) {
    if (amt[i] <= 0) continue; /* needing none of it is no need */
    need->idx[need->n] = (uint8_t)idx[i];
    need->amount[need->n++] = amt[i];
  }
  if (need->n == 0) {
    free(need);
    return 0;
  }
  *out = need;
  return 0;
}

/* (sched.h) */
int sc_res_has(const sc_task *t, const sc_worker *w) {
  const sc_need *need = sc_r(t)->need;
  if (need == NULL) return 1;
  for (int i = 0; i < need->n; i++)
    if (w->res_total[need->idx[i]] < need->amount[i]) return 0;
  return 1;
}

/* (sched.h) */
int sc_res_fits(const sc_task *t, const sc_worker *w) {
  const sc_need *need = sc_r(t)->need;
  if (need == NULL) return 1;
  for (int i = 0; i < need->n; i++) {
    int r = need->idx[i];
    /* a small tolerance: amounts like 0.1 add up inexactly */
    if (w->res_used[r] + need->amount[i] > w->res_total[r] * (1 + 1e-9) + 1e-12) return 0;
  }
  return 1;
}

/* (sched.h) */
void sc_res_take(sc_task *t, sc_worker *w) {
  const sc_need *need = sc_r(t)->need;
  if (need == NULL) return;
  for (int i = 0; i < need->n; i++) w->res_used[need->idx[i]] += need->amount[i];
}

/* (sched.h) */
void sc_res_give(sc_state *st, sc_task *t, sc_worker *w) {
  const sc_need *need = sc_r(t)->need;
  if (need == NULL) {
    /* room on a worker with resources may let a parked task go there */
    if (w->has_res && st->nres_parked > 0) st->res_wake = 1;
    return;
  }
  for (int i = 0; i < need->n; i++) {
    double *u = &w->res_used[need->idx[i]];
    *u -= need->amount[i];
    if (*u < 1e-12) *u = 0; /* rounding */
  }
  if (st->nres_parked > 0) st->res_wake = 1;
}

/* (sched.h) */
void sc_res_park(sc_state *st, int32_t id) {
  sc_task *t = sc_side(st, id);
  if (ld_sched_park(st->eng, id) != 0) return;
  if (sc_r(t)->res_parked) return; /* an entry is there already */
  if (st->nres_parked == st->capres_parked) {
    st->capres_parked = st->capres_parked ? 2 * st->capres_parked : 64;
    st->res_parked =
        sc_xrealloc(st->res_parked, (size_t)st->capres_parked * sizeof *st->res_parked);
  }
  st->res_parked[st->nres_parked++] = id;
  sc_rw(t)->res_parked = 1;
}

/* (sched.h) */
void sc_res_unpark_all(sc_state *st) {
  st->res_wake = 0;
  int n = st->nres_parked;
  st->nres_parked = 0;
  for (int i = 0; i < n; i++) {
    int32_t id = st->res_parked[i];
    /* a forgotten record is zeroed: its (stale) entry is skipped */
    if (ld_sched_state(st->eng, id) < 0 || ld_sched_state(st->eng, id) == LD_TASK_FREE) continue;
    sc_task *t = sc_side(st, id);
    if (!sc_r(t)->res_parked) continue;
    t->rare->res_parked = 0;
    ld_sched_unpark(st->eng, id);
  }
}

/* (sched.h) */
void sc_res_pack(const sc_state *st, msgpack_packer *pk, const double *totals,
                 const sc_need *need) {
  if (totals) {
    uint32_t n = 0;
    for (int i = 0; i < st->nres; i++) n += totals[i] > 0;
    msgpack_pack_map(pk, n);
    for (int i = 0; i < st->nres; i++) {
      if (totals[i] <= 0) continue;
      ld_mp_pack_str(pk, st->res_names[i], strlen(st->res_names[i]));
      msgpack_pack_double(pk, totals[i]);
    }
    return;
  }
  msgpack_pack_map(pk, need ? (uint32_t)need->n : 0);
  for (int i = 0; need && i < need->n; i++) {
    const char *name = st->res_names[need->idx[i]];
    ld_mp_pack_str(pk, name, strlen(name));
    msgpack_pack_double(pk, need->amount[i]);
  }
}

/* (sched.h) */
void sc_res_free(sc_state *st) {
  free(st->res_parked);
  st->res_parked = NULL;
  st->nres_parked = st->capres_parked = 0;
}
