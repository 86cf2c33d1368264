/* ndarray.c — the ndarray chunk type: dtypes, allocation, views, the
 * per-thread error message of the array kernels (see ndarray.h). */
#include "array/ndarray.h"

#include "array/bigbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char errbuf[512];
static _Thread_local size_t pressure; /* bytes allocated since the last GC hint */

void ld_nd_note_alloc(size_t bytes) { pressure += bytes; }

int ld_nd_gc_due(size_t limit) {
  if (pressure < limit) return 0;
  pressure = 0;
  return 1;
}

const char *ld_array_errmsg(void) { return errbuf; }

int ld_array_error(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, sizeof errbuf, fmt, ap);
  va_end(ap);
  return code;
}

static const size_t sizes[LD_NDTYPES] = {8, 4, 8, 4, 1, 1};
static const char *names[LD_NDTYPES] = {"float64", "float32", "int64", "int32", "uint8", "bool"};

size_t ld_dtype_size(int dtype) { return dtype >= 0 && dtype < LD_NDTYPES ? sizes[dtype] : 0; }

const char *ld_dtype_name(int dtype) {
  return dtype >= 0 && dtype < LD_NDTYPES ? names[dtype] : "?";
}

int64_t ld_nd_size(const ld_ndarray *a) {
  int64_t n = 1;
  for (int d = 0; d < a->ndim; d++) n *= a->shape[d];
  return n;
}

int ld_nd_alloc(ld_ndarray *out, int dtype, int ndim, const int64_t *shape, int zero) {
  if (dtype < 0 || dtype >= LD_NDTYPES)
    return ld_array_error(LD_ARR_EINVAL, "ndarray: unknown dtype code %d", dtype);
  if (ndim < 0 || ndim > LD_MAXDIM)
    return ld_array_error(LD_ARR_EINVAL, "ndarray: ndim %d outside 0..%d", ndim, LD_MAXDIM);
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0)
      return ld_array_error(LD_ARR_EINVAL, "ndarray: negative dimension %lld at axis %d",
                            (long long)shape[d], d);
    if (shape[d] != 0 && n > INT64_MAX / 16 / shape[d])
      return ld_array_error(LD_ARR_EINVAL, "ndarray: shape too large at axis %d", d);
    n *= shape[d];
  }
  size_t bytes = (size_t)n * sizes[dtype];
  /* anonymous maps are zero-filled already */
  ld_buffer *b = bytes >= LD_BIGBUF_MIN ? ld_bigbuf_new(bytes, zero)
                 : zero                 ? ld_buffer_new_zeroed(bytes)
                                        : ld_buffer_new(bytes);
  if (b == NULL)
    return ld_array_error(LD_ARR_ENOMEM, "ndarray: out of memory allocating %zu bytes", bytes);
  ld_nd_note_alloc(bytes);
  memset(out, 0, sizeof *out);
  out->dtype = dtype;
  out->ndim = ndim;
  int64_t st = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    out->shape[d] = shape[d];
    out->strides[d] = st;
    st *= shape[d] > 0 ? shape[d] : 1;
  }
  out->offset = 0;
  out->buf = b;
  return 0;
}

int ld_nd_view(ld_ndarray *out, const ld_ndarray *a) {
  *out = *a;
  if (a->buf) ld_buffer_retain(a->buf);
  return 0;
}

void ld_nd_clear(ld_ndarray *a) {
  if (a == NULL) return;
  ld_buffer_release(a->buf);
  a->buf = NULL;
}

int ld_nd_is_contiguous(const ld_ndarray *a) {
  int64_t st = 1;
  for (int d = a->ndim - 1; d >= 0; d--) {
    if (a->shape[d] == 0) return 1;
    if (a->shape[d] != 1 && a->strides[d] != st) return 0;
    st *= a->shape[d];
  }
  return 1;
}

void *ld_nd_data(const ld_ndarray *a) {
  return (char *)a->buf->data + a->offset * (int64_t)sizes[a->dtype];
}

int ld_nd_check(const ld_ndarray *a, const char *what) {
  if (a->buf == NULL) return ld_array_error(LD_ARR_EINVAL, "%s: ndarray has no buffer", what);
  if (a->dtype < 0 || a->dtype >= LD_NDTYPES)
    return ld_array_error(LD_ARR_EINVAL, "%s: unknown dtype code %d", what, (int)a->dtype);
  if (a->ndim < 0 || a->ndim > LD_MAXDIM)
    return ld_array_error(LD_ARR_EINVAL, "%s: ndim %d outside 0..%d", what, (int)a->ndim,
                          LD_MAXDIM);
  int64_t lo = a->offset;
  int64_t hi = lo;
  for (int d = 0; d < a->ndim; d++) {
    if (a->shape[d] < 0) return ld_array_error(LD_ARR_EINVAL, "%s: negative dimension", what);
    if (a->shape[d] == 0) return 0;
    int64_t span = (a->shape[d] - 1) * a->strides[d];
    if (span < 0)
      lo += span;
    else
      hi += span;
  }
  int64_t cap = (int64_t)(a->buf->size / sizes[a->dtype]);
  if (lo < 0 || hi >= cap)
    return ld_array_error(LD_ARR_EINVAL, "%s: view [%lld, %lld] outside buffer of %lld elements",
                          what, (long long)lo, (long long)hi, (long long)cap);
  return 0;
}
