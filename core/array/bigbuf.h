/* bigbuf.h — storage of big ndarray blocks (internal to core/array): 2 MiB
 * aligned anonymous maps advised as huge pages, with a small process-wide
 * pool of released maps that new blocks of the same size reuse, so writing
 * a fresh block rarely pays page faults and zeroing. */
#ifndef LDASK_ARRAY_BIGBUF_H
#define LDASK_ARRAY_BIGBUF_H

#include <stddef.h>

#include "util/buffer.h"

/* Buffers of at least this many bytes come from here. */
#define LD_BIGBUF_MIN ((size_t)4 << 20)

/* A new buffer of BYTES (>= LD_BIGBUF_MIN) with one reference owned by the
 * caller, zero-filled when ZERO is nonzero; NULL when out of memory. Its
 * release returns the map to the pool (or unmaps it when the pool is full). */
ld_buffer *ld_bigbuf_new(size_t bytes, int zero);

#endif
