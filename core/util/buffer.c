/* buffer.c — refcounted byte buffers (see buffer.h). */
#include "util/buffer.h"

#include <stdlib.h>
#include <string.h>

static ld_buffer *alloc_buffer(size_t size, int zero) {
  ld_buffer *b = malloc(sizeof *b);
  if (b == NULL) return NULL;
  size_t rounded = (size + 63) & ~(size_t)63;
  void *data = NULL;
  if (posix_memalign(&data, 64, rounded ? rounded : 64) != 0) {
    free(b);
    return NULL;
  }
  if (zero) memset(data, 0, rounded ? rounded : 64);
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
  else if (b->data != (void *)(b + 1)) /* not a small buffer */
    free(b->data);
  free(b);
}
