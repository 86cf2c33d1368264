/* run_payload.c — what a run of the threaded pool holds per task besides
 * the engine: its payloads (one per task, or one per range of a compact
 * layer, and the prelude) and its result and payload arrays, reused from
 * the pool's spares across computes (see pool.h). Main thread, before
 * ld_run_start, except ld_run_payload (executors). */
#include <stdlib.h>
#include <string.h>

#include "pool_impl.h"

/* Retains NBUFS buffers into a new array at *OUT. Returns 0 or -1. */
int pool_retain_bufs(ld_buffer **bufs, int32_t nbufs, ld_buffer ***out) {
  *out = NULL;
  if (nbufs <= 0) return 0;
  ld_buffer **a = malloc((size_t)nbufs * sizeof *a);
  if (a == NULL) return -1;
  for (int32_t i = 0; i < nbufs; i++) a[i] = ld_buffer_retain(bufs[i]);
  *out = a;
  return 0;
}

/* Sets R's slots and payloads to zeroed arrays of at least R->n entries:
 * the pool's spares when they are large enough (no page faults on first
 * touch: a compute of 100k tasks saves milliseconds), else new ones.
 * The arrays are owned by R. */
void pool_take_arrays(ld_pool *p, ld_run *r) {
  size_t k = r->n ? (size_t)r->n : 1;
  if (p->spare_slots != NULL && (size_t)p->spare_cap >= k) {
    r->slots = p->spare_slots;
    r->payloads = p->spare_payloads;
    r->cap = p->spare_cap;
    p->spare_slots = p->spare_payloads = NULL;
    p->spare_cap = 0;
    memset(r->slots, 0, k * sizeof *r->slots);
    memset(r->payloads, 0, k * sizeof *r->payloads);
    return;
  }
  r->slots = calloc(k, sizeof *r->slots);
  r->payloads = calloc(k, sizeof *r->payloads);
  r->cap = (int32_t)k;
}

/* Gives R's arrays (emptied) to the pool as its spares when they are small
 * enough and larger than the spares it has; frees them otherwise. */
void pool_give_arrays(ld_pool *p, ld_run *r) {
  if (p != NULL && r->slots != NULL && r->payloads != NULL && r->cap <= SPARE_MAX_TASKS &&
      r->cap > p->spare_cap) {
    free(p->spare_slots);
    free(p->spare_payloads);
    p->spare_slots = r->slots;
    p->spare_payloads = r->payloads;
    p->spare_cap = r->cap;
    return;
  }
  free(r->slots);
  free(r->payloads);
}

static int set_borrowed(ld_value *v, int32_t kind, const char *data, size_t len, ld_buffer **bufs,
                        int32_t nbufs) {
  ld_buffer **b;
  if (pool_retain_bufs(bufs, nbufs, &b) != 0) return -1;
  for (int32_t i = 0; i < v->nbufs; i++) ld_buffer_release(v->bufs[i]);
  free(v->bufs);
  v->kind = kind;
  v->data = (char *)data;
  v->len = len;
  v->bufs = b;
  v->nbufs = nbufs > 0 ? nbufs : 0;
  return 0;
}

int ld_run_set_payload(ld_run *r, int32_t id, int32_t kind, const char *data, size_t len,
                       ld_buffer **bufs, int32_t nbufs) {
  if (id < 0 || id >= r->n || r->started) return -1;
  return set_borrowed(&r->payloads[id], kind, data, len, bufs, nbufs);
}

int ld_run_set_payload_range(ld_run *r, int32_t first, int32_t count, int32_t kind,
                             const char *data, size_t len, ld_buffer **bufs, int32_t nbufs) {
  if (r->started || first < 0 || count < 1 || count > r->n - first) return -1;
  if (r->nranges > 0) {
    const ld_run_range *last = &r->ranges[r->nranges - 1];
    if (first < last->first + last->count) return -1;
  }
  if (r->nranges == r->cranges) {
    int32_t c = r->cranges ? 2 * r->cranges : 8;
    ld_run_range *g = realloc(r->ranges, (size_t)c * sizeof *g);
    if (g == NULL) return -1;
    r->ranges = g;
    r->cranges = c;
  }
  ld_run_range *g = &r->ranges[r->nranges];
  memset(g, 0, sizeof *g);
  if (set_borrowed(&g->v, kind, data, len, bufs, nbufs) != 0) return -1;
  g->first = first;
  g->count = count;
  g->v.num = first;
  r->nranges++;
  return 0;
}

int ld_run_set_prelude(ld_run *r, const char *data, size_t len, ld_buffer **bufs, int32_t nbufs) {
  if (r->started) return -1;
  return set_borrowed(&r->prelude, LD_VAL_ENC, data, len, bufs, nbufs);
}

const ld_value *ld_run_payload(const ld_run *r, int32_t id) {
  if (id == -1) return &r->prelude;
  if (id < 0 || id >= r->n) return NULL;
  if (r->payloads[id].kind != LD_VAL_EMPTY || r->nranges == 0) return &r->payloads[id];
  int32_t lo = 0, hi = r->nranges - 1; /* the last range starting at or before id */
  while (lo < hi) {
    int32_t mid = (lo + hi + 1) / 2;
    if (r->ranges[mid].first <= id)
      lo = mid;
    else
      hi = mid - 1;
  }
  ld_run_range *g = &r->ranges[lo];
  if (id >= g->first && id - g->first < g->count) return &g->v;
  return &r->payloads[id];
}
