/* buffer.h — refcounted byte buffers: the storage of numeric chunks and of
 * raw frames. A buffer is shared between executor threads without a copy
 * and sent over the network as one frame. Thread-safe reference counts. */
#ifndef LDASK_BUFFER_H
#define LDASK_BUFFER_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct ld_buffer ld_buffer;
typedef void (*ld_buffer_release_fn)(void *ctx, void *data, size_t size);

struct ld_buffer {
  atomic_int refs;
  size_t size;                  /* bytes at data */
  void *data;                   /* 64-byte aligned when allocated here */
  ld_buffer_release_fn release; /* NULL: data was allocated with the buffer */
  void *ctx;                    /* passed to release */
};

/* Allocates a buffer of SIZE bytes (64-byte aligned, uninitialised) with one
 * reference owned by the caller. Returns NULL when out of memory. */
ld_buffer *ld_buffer_new(size_t size);

/* Same as ld_buffer_new, zero-filled. */
ld_buffer *ld_buffer_new_zeroed(size_t size);

/* Allocates a buffer of SIZE bytes stored right after its record, in one
 * malloc (not 64-byte aligned): for message headers and other small byte
 * strings that are parsed rather than used as array data. One reference,
 * owned by the caller; NULL when out of memory. */
ld_buffer *ld_buffer_new_small(size_t size);

/* Wraps memory the caller owns (e.g. an mmap'ed region): the buffer takes it
 * over and calls RELEASE(ctx, data, size) when the last reference goes.
 * Returns NULL (and does not call RELEASE) when out of memory. */
ld_buffer *ld_buffer_wrap(void *data, size_t size, ld_buffer_release_fn release, void *ctx);

/* Adds a reference. Returns B. */
ld_buffer *ld_buffer_retain(ld_buffer *b);

/* Drops a reference; frees the buffer and its data at the last one. NULL is
 * accepted and ignored. */
void ld_buffer_release(ld_buffer *b);

#endif
