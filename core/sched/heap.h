/* heap.h — the ready queue of the scheduling engine: a binary min-heap of
 * task ids ordered by an external priority array (lower runs first, ties by
 * lower id). Compact: 4 bytes per queued task. */
#ifndef LDASK_SCHED_HEAP_H
#define LDASK_SCHED_HEAP_H

#include <stdint.h>

typedef struct ld_heap {
  int32_t *items; /* owned; task ids */
  int32_t len, cap;
} ld_heap;

/* Initialises an empty heap (no allocation). */
void ld_heap_init(ld_heap *h);

/* Frees the heap's storage (not the struct itself). */
void ld_heap_free(ld_heap *h);

/* Pushes task ID; PRIO[id] is its priority. Returns 0, or -1 when out of
 * memory (the heap is unchanged). */
int ld_heap_push(ld_heap *h, int32_t id, const int32_t *prio);

/* Pops the task with the lowest priority into *ID. Returns 0, or -1 when
 * the heap is empty. */
int ld_heap_pop(ld_heap *h, const int32_t *prio, int32_t *id);

/* Empties the heap without freeing its storage. */
static inline void ld_heap_clear(ld_heap *h) { h->len = 0; }

#endif
