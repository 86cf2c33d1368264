/* heap.c — binary min-heaps of task ids with positions (see heap.h). */
#include "sched/heap.h"

#include <stdlib.h>

void ld_heap_init(ld_heap *h) {
  h->items = NULL;
  h->len = 0;
  h->cap = 0;
  h->run = NULL;
  h->rpos = h->rlen = h->rcap = h->rlive = 0;
  h->rlast = -1;
}

void ld_heap_free(ld_heap *h) {
  free(h->items);
  free(h->run);
  ld_heap_init(h);
}

static inline int before(const ld_heap_order *o, int32_t a, int32_t b) {
  int64_t pa = o->prio[a], pb = o->prio[b];
  return pa < pb || (pa == pb && (int32_t)(o->seq[a] - o->seq[b]) < 0);
}

static inline void put(ld_heap *h, const ld_heap_order *o, int32_t i, int32_t id) {
  h->items[i] = id;
  o->pos[id] = i;
}

/* Moves ID up from index I to its place. */
static void sift_up(ld_heap *h, const ld_heap_order *o, int32_t i, int32_t id) {
  while (i > 0) {
    int32_t parent = (i - 1) / 2;
    if (!before(o, id, h->items[parent])) break;
    put(h, o, i, h->items[parent]);
    i = parent;
  }
  put(h, o, i, id);
}

/* Moves ID down from index I to its place. */
static void sift_down(ld_heap *h, const ld_heap_order *o, int32_t i, int32_t id) {
  int32_t n = h->len;
  for (;;) {
    int32_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && before(o, h->items[c + 1], h->items[c])) c++;
    if (!before(o, h->items[c], id)) break;
    put(h, o, i, h->items[c]);
    i = c;
  }
  put(h, o, i, id);
}

/* Skips removed tasks at the run's front; an emptied run starts over. */
static void run_advance(ld_heap *h) {
  while (h->rpos < h->rlen && h->run[h->rpos] < 0) h->rpos++;
  if (h->rpos == h->rlen) {
    h->rpos = h->rlen = 0;
    h->rlast = -1;
  }
}

int ld_heap_push(ld_heap *h, int32_t id, const ld_heap_order *o) {
  if (h->rlast < 0 || before(o, h->rlast, id)) { /* in order: append to the run */
    if (h->rlen == h->rcap) {
      int32_t ncap = h->rcap ? h->rcap * 2 : 256;
      int32_t *n = realloc(h->run, (size_t)ncap * sizeof *n);
      if (n == NULL) return -1;
      h->run = n;
      h->rcap = ncap;
    }
    o->pos[id] = -2 - h->rlen;
    h->run[h->rlen++] = id;
    h->rlive++;
    h->rlast = id;
    return 0;
  }
  if (h->len == h->cap) {
    int32_t ncap = h->cap ? h->cap * 2 : 256;
    int32_t *n = realloc(h->items, (size_t)ncap * sizeof *n);
    if (n == NULL) return -1;
    h->items = n;
    h->cap = ncap;
  }
  sift_up(h, o, h->len++, id);
  return 0;
}

int32_t ld_heap_top(const ld_heap *h, const ld_heap_order *o) {
  int32_t a = h->len ? h->items[0] : -1, b = h->rpos < h->rlen ? h->run[h->rpos] : -1;
  if (b < 0) return a;
  if (a < 0 || before(o, b, a)) return b;
  return a;
}

int ld_heap_pop(ld_heap *h, const ld_heap_order *o, int32_t *id) {
  int32_t b = h->rpos < h->rlen ? h->run[h->rpos] : -1;
  if (b >= 0 && (h->len == 0 || before(o, b, h->items[0]))) {
    *id = b;
    o->pos[b] = -1;
    h->rpos++;
    h->rlive--;
    run_advance(h);
    return 0;
  }
  if (h->len == 0) return -1;
  *id = h->items[0];
  o->pos[*id] = -1;
  int32_t last = h->items[--h->len];
  if (h->len > 0) sift_down(h, o, 0, last);
  return 0;
}

void ld_heap_remove(ld_heap *h, int32_t id, const ld_heap_order *o) {
  int32_t i = o->pos[id];
  if (i <= -2) { /* in the run */
    int32_t k = -2 - i;
    if (k < h->rpos || k >= h->rlen || h->run[k] != id) return;
    h->run[k] = -1;
    o->pos[id] = -1;
    h->rlive--;
    run_advance(h);
    return;
  }
  if (i < 0 || i >= h->len || h->items[i] != id) return;
  o->pos[id] = -1;
  int32_t last = h->items[--h->len];
  if (i == h->len) return;
  if (i > 0 && before(o, last, h->items[(i - 1) / 2]))
    sift_up(h, o, i, last);
  else
    sift_down(h, o, i, last);
}

void ld_heap_clear(ld_heap *h, const ld_heap_order *o) {
  for (int32_t i = 0; i < h->len; i++) o->pos[h->items[i]] = -1;
  h->len = 0;
  for (int32_t k = h->rpos; k < h->rlen; k++)
    if (h->run[k] >= 0) o->pos[h->run[k]] = -1;
  h->rpos = h->rlen = h->rlive = 0;
  h->rlast = -1;
}

void ld_heap_reset(ld_heap *h) {
  h->len = 0;
  h->rpos = h->rlen = h->rlive = 0;
  h->rlast = -1;
}
