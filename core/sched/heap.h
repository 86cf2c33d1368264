/* heap.h — the ready queues of the scheduling engine: binary min-heaps of
 * task ids ordered by external per-task arrays (priority, lower runs
 * first; ties by arrival sequence). Each task's index in its heap is kept
 * in an external position array, so any queued task can be removed in
 * O(log n). Compact: 4 bytes per queued task.
 *
 * Tasks pushed in order (each after the previous one pushed in order) go
 * to a sorted run instead, taken from its front in O(1): a graph's ten
 * million input tasks, queued at start in priority order, never pay a
 * heap's O(log n) cache misses per pop (docs/scheduler.md, "Compact
 * layers"). The first task is the first of the heap's and the run's. */
#ifndef LDASK_SCHED_HEAP_H
#define LDASK_SCHED_HEAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ld_heap {
  int32_t *items; /* owned; task ids, the binary heap */
  int32_t len, cap;
  int32_t *run; /* owned; task ids in order from rpos to rlen (-1: removed) */
  int32_t rpos, rlen, rcap, rlive;
  int32_t rlast; /* the last id appended to the run (-1: none since it emptied) */
} ld_heap;

/* The order of a heap's tasks and where they sit (arrays owned by the
 * engine, indexed by task id): PRIO then SEQ, lowest first; POS[id] is the
 * index of id in its heap, -2 - its index in the run, or -1. */
typedef struct ld_heap_order {
  const int64_t *prio;
  const uint32_t *seq;
  int32_t *pos;
} ld_heap_order;

/* Initialises an empty heap (no allocation). */
void ld_heap_init(ld_heap *h);

/* Frees the heap's storage (not the struct itself). */
void ld_heap_free(ld_heap *h);

/* Pushes task ID (not already queued). Returns 0, or -1 when out of memory
 * (the heap is unchanged). */
int ld_heap_push(ld_heap *h, int32_t id, const ld_heap_order *o);

/* Pops the first task into *ID. Returns 0, or -1 when the heap is empty. */
int ld_heap_pop(ld_heap *h, const ld_heap_order *o, int32_t *id);

/* Removes task ID when queued (O(log n)); does nothing otherwise. */
void ld_heap_remove(ld_heap *h, int32_t id, const ld_heap_order *o);

/* The first task, or -1 when empty. */
int32_t ld_heap_top(const ld_heap *h, const ld_heap_order *o);

/* Number of queued tasks. */
static inline int32_t ld_heap_size(const ld_heap *h) { return h->len + h->rlive; }

/* Bytes of storage the heap holds. */
static inline size_t ld_heap_bytes(const ld_heap *h) {
  return ((size_t)h->cap + (size_t)h->rcap) * 4;
}

/* Empties the heap without freeing its storage or touching positions (the
 * owner resets them). */
void ld_heap_reset(ld_heap *h);

/* Empties the heap without freeing its storage (positions set to -1). */
void ld_heap_clear(ld_heap *h, const ld_heap_order *o);

#endif
