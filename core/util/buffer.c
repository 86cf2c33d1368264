/* buffer.c — refcounted byte buffers (see buffer.h). */
#include "util/buffer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Buffers up to this size hold their (64-byte aligned) data in the same
 * allocation as their record: one malloc, no posix_memalign (task
 * payloads and small results, one per task, are most of the frames a
 * scheduler or a worker receives). */
#define INLINE_MAX 4096

/* Whether B's data lives in its record's allocation (aligned inline data
 * starts within 64 bytes after the record; small buffers right after it). */
static int inline_data(const ld_buffer *b) {
  const char *d = b->data, *after = (const char *)(b + 1);
  return d >= after && d < after + 64;
}

static ld_buffer *alloc_buffer(size_t size, int zero) {
  size_t rounded = (size + 63) & ~(size_t)63;
  if (rounded == 0) rounded = 64;
  if (size <= INLINE_MAX) {
    ld_buffer *b = malloc(sizeof *b + 63 + rounded);
    if (b == NULL) return NULL;
    uintptr_t at = ((uintptr_t)(b + 1) + 63) & ~(uintptr_t)63;
    if (zero) memset((void *)at, 0, rounded);
    atomic_init(&b->refs, 1);
    b->size = size;
    b->data = (void *)at;
    b->release = NULL;
    b->ctx = NULL;
    return b;
  }
  ld_buffer *b = malloc(sizeof *b);
  if (b == NULL) return NULL;
  void *data = NULL;
  if (posix_memalign(&data, 64, rounded) != 0) {
    free(b);
    return NULL;
  }
  if (zero) memset(data, 0, rounded);
  atomic_init(&b->refs, 1);
  b->size = size;
  b->data = data;
  b->release = NULL;
  b->ctx = NULL;
  return b;
}

ld_buffer *ld_buffer_new(size_t size) { return alloc_buffer(size, 0); }

ld_buffer *ld_buffer_new_zeroed(size_t size) { return alloc_buffer(size, 1); }

ld_buffer *ld_buffer_new_small(size_t size) {
  ld_buffer *b = malloc(sizeof *b + (size ? size : 1));
  if (b == NULL) return NULL;
  atomic_init(&b->refs, 1);
  b->size = size;
  b->data = b + 1; /* right after the record: freed with it */
  b->release = NULL;
  b->ctx = NULL;
  return b;
}

ld_buffer *ld_buffer_wrap(void *data, size_t size, ld_buffer_release_fn release, void *ctx) {
  ld_buffer *b = malloc(sizeof *b);
  if (b == NULL) return NULL;
  atomic_init(&b->refs, 1);
  b->size = size;
  b->data = data;
  b->release = release;
  b->ctx = ctx;
  return b;
}

ld_buffer *ld_buffer_retain(ld_buffer *b) {
  atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
  return b;
}

void ld_buffer_release(ld_buffer *b) {
  if (b == NULL) return;
  if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) return;
  if (b->release != NULL)
    b->release(b->ctx, b->data, b->size);
  else if (!inline_data(b)) /* its data was allocated apart */
    free(b->data);
  free(b);
}
