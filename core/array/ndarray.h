/* ndarray.h — the ndarray chunk type of ldask.array: a dtype, up to 8
 * dimensions, strides and an offset (both counted in ELEMENTS, not bytes)
 * into a refcounted ld_buffer. Views (slices, transposes) share the buffer,
 * so chunks cross executor threads and the network without copies.
 *
 * Ownership: an ld_ndarray struct owns one reference to its `buf`. The
 * struct itself is allocated by the caller (in Lua: ffi.new, with ffi.gc
 * calling ld_nd_clear). Every function that fills an `out` struct expects it
 * empty (buf == NULL) and leaves it holding one new reference on success;
 * on failure `out` stays empty. */
#ifndef LDASK_NDARRAY_H
#define LDASK_NDARRAY_H

#include <stddef.h>
#include <stdint.h>

#include "util/buffer.h"

#define LD_MAXDIM 8

typedef enum {
  LD_F64 = 0,
  LD_F32 = 1,
  LD_I64 = 2,
  LD_I32 = 3,
  LD_U8 = 4,
  LD_BOOL = 5,
  LD_NDTYPES = 6
} ld_dtype;

/* Error codes of the array kernels (negative). The message of the last
 * error on this thread is ld_array_errmsg(). */
enum {
  LD_ARR_EINVAL = -1, /* bad argument: dtype, ndim, axis, shapes */
  LD_ARR_ESHAPE = -2, /* shapes do not broadcast / match */
  LD_ARR_ENOMEM = -3, /* out of memory */
  LD_ARR_EIO = -4     /* file error (npy) */
};

typedef struct ld_ndarray {
  int32_t dtype;
  int32_t ndim;
  int64_t shape[LD_MAXDIM];
  int64_t strides[LD_MAXDIM]; /* in elements; may be 0 or negative */
  int64_t offset;             /* in elements from buf->data */
  ld_buffer *buf;             /* one reference owned by this struct */
} ld_ndarray;

/* Size in bytes of one element of DTYPE, 0 for an unknown dtype. */
size_t ld_dtype_size(int dtype);

/* Name of DTYPE ("float64", ...), "?" for an unknown dtype. Static string. */
const char *ld_dtype_name(int dtype);

/* The message of the last error raised on this thread (static per-thread
 * storage, valid until the next failing call on this thread). */
const char *ld_array_errmsg(void);

/* Records an error message (printf format) for this thread; returns CODE. */
int ld_array_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Number of elements (product of the shape; 1 for 0-d). */
int64_t ld_nd_size(const ld_ndarray *a);

/* Fills OUT (must be empty) with a new C-contiguous array of DTYPE and SHAPE,
 * zero-filled when ZERO is nonzero. OUT owns the new buffer. Returns 0 or a
 * negative code. */
int ld_nd_alloc(ld_ndarray *out, int dtype, int ndim, const int64_t *shape, int zero);

/* Makes OUT (must be empty) a view sharing A's buffer (one new reference):
 * same dtype, shape, strides, offset. Returns 0. */
int ld_nd_view(ld_ndarray *out, const ld_ndarray *a);

/* Drops the buffer reference held by A and marks it empty. Safe to call on
 * an empty struct and twice. (The Lua finalizer.) */
void ld_nd_clear(ld_ndarray *a);

/* 1 when A is C-contiguous (row-major, no gaps), else 0. */
int ld_nd_is_contiguous(const ld_ndarray *a);

/* Pointer to the first element of A (buf->data + offset * itemsize). */
void *ld_nd_data(const ld_ndarray *a);

/* Memory pressure for garbage-collected owners (Lua): ld_nd_alloc and the
 * .npy block maps add their sizes to a per-thread counter; ld_nd_gc_due
 * returns 1 (and resets the counter) once it reaches LIMIT bytes, telling the
 * caller to run its collector so unreachable arrays release their buffers. */
void ld_nd_note_alloc(size_t bytes);
int ld_nd_gc_due(size_t limit);

/* Checks that A's strides/offset/shape stay inside its buffer. Returns 0 or
 * LD_ARR_EINVAL with a message naming WHAT. */
int ld_nd_check(const ld_ndarray *a, const char *what);

#endif
