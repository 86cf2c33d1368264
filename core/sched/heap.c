/* heap.c — binary min-heap of task ids by priority (see heap.h). */
#include "sched/heap.h"

#include <stdlib.h>

void ld_heap_init(ld_heap *h) {
  h->items = NULL;
  h->len = 0;
  h->cap = 0;
}

void ld_heap_free(ld_heap *h) {
  free(h->items);
  ld_heap_init(h);
}

static inline int before(const int32_t *prio, int32_t a, int32_t b) {
  int32_t pa = prio ? prio[a] : a, pb = prio ? prio[b] : b;
  return pa < pb || (pa == pb && a < b);
}

int ld_heap_push(ld_heap *h, int32_t id, const int32_t *prio) {
  if (h->len == h->cap) {
    int32_t ncap = h->cap ? h->cap * 2 : 256;
    int32_t *n = realloc(h->items, (size_t)ncap * sizeof *n);
    if (n == NULL) return -1;
    h->items = n;
    h->cap = ncap;
  }
  int32_t i = h->len++;
  while (i > 0) {
    int32_t parent = (i - 1) / 2;
    if (!before(prio, id, h->items[parent])) break;
    h->items[i] = h->items[parent];
    i = parent;
  }
  h->items[i] = id;
  return 0;
}

int ld_heap_pop(ld_heap *h, const int32_t *prio, int32_t *id) {
  if (h->len == 0) return -1;
  *id = h->items[0];
  int32_t last = h->items[--h->len];
  int32_t n = h->len, i = 0;
  for (;;) {
    int32_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && before(prio, h->items[c + 1], h->items[c])) c++;
    if (!before(prio, h->items[c], last)) break;
    h->items[i] = h->items[c];
    i = c;
  }
  if (n > 0) h->items[i] = last;
  return 0;
}
