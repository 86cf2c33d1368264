/* iter.c — the broadcasting N-operand row iterator (see iter.h). */
#include "array/iter.h"

#include <stdio.h>
#include <string.h>

const char *ld_shape_str(const ld_ndarray *a, char *buf, size_t n) {
  size_t k = 0;
  k += (size_t)snprintf(buf + k, n - k, "(");
  for (int d = 0; d < a->ndim && k < n; d++)
    k += (size_t)snprintf(buf + k, n - k, d ? ", %lld" : "%lld", (long long)a->shape[d]);
  if (a->ndim == 1 && k < n) k += (size_t)snprintf(buf + k, n - k, ",");
  if (k < n) snprintf(buf + k, n - k, ")");
  return buf;
}

int ld_iter_broadcast(int n, const ld_ndarray *const *in, int *ndim, int64_t *shape,
                      const char *opname) {
  int nd = 0;
  for (int k = 0; k < n; k++)
    if (in[k]->ndim > nd) nd = in[k]->ndim;
  for (int d = 0; d < nd; d++) shape[d] = 1;
  for (int k = 0; k < n; k++) {
    int off = nd - in[k]->ndim;
    for (int d = 0; d < in[k]->ndim; d++) {
      int64_t s = in[k]->shape[d], *t = &shape[off + d];
      if (s == *t || s == 1) continue;
      if (*t == 1) {
        *t = s;
        continue;
      }
      char b1[160], b2[160];
      return ld_array_error(LD_ARR_ESHAPE, "%s: shapes %s and %s do not broadcast (axis %d)",
                            opname, ld_shape_str(in[0], b1, sizeof b1),
                            ld_shape_str(in[k], b2, sizeof b2), off + d);
    }
  }
  *ndim = nd;
  return 0;
}

void ld_iter_init(ld_iter *it, int nop, const ld_ndarray *const *ops, int ndim,
                  const int64_t *shape) {
  memset(it, 0, sizeof *it);
  it->nop = nop;
  it->ndim = ndim;
  for (int d = 0; d < ndim; d++) it->shape[d] = shape[d];
  for (int k = 0; k < nop; k++) {
    const ld_ndarray *a = ops[k];
    int off = ndim - a->ndim;
    for (int d = 0; d < ndim; d++) {
      int ad = d - off;
      it->st[k][d] = (ad < 0 || a->shape[ad] == 1) ? 0 : a->strides[ad];
    }
    it->isz[k] = ld_dtype_size(a->dtype);
    it->base[k] = (char *)ld_nd_data(a);
  }
}

void ld_iter_coalesce(ld_iter *it) {
  /* drop size-1 dimensions */
  int nd = 0;
  for (int d = 0; d < it->ndim; d++) {
    if (it->shape[d] == 1) continue;
    it->shape[nd] = it->shape[d];
    for (int k = 0; k < it->nop; k++) it->st[k][nd] = it->st[k][d];
    nd++;
  }
  if (nd == 0) {
    it->shape[0] = 1;
    for (int k = 0; k < it->nop; k++) it->st[k][0] = 0;
    nd = 1;
  }
  /* merge d into d+1 when contiguous for every operand */
  int out = 0;
  for (int d = 1; d < nd; d++) {
    int ok = 1;
    for (int k = 0; k < it->nop; k++)
      if (it->st[k][out] != it->st[k][d] * it->shape[d]) ok = 0;
    if (ok) {
      it->shape[out] *= it->shape[d];
      for (int k = 0; k < it->nop; k++) it->st[k][out] = it->st[k][d];
    } else {
      out++;
      it->shape[out] = it->shape[d];
      for (int k = 0; k < it->nop; k++) it->st[k][out] = it->st[k][d];
    }
  }
  it->ndim = out + 1;
}

void ld_iter_run(const ld_iter *it, ld_row_fn fn, const void *ctx) {
  int nd = it->ndim, nop = it->nop;
  for (int d = 0; d < nd; d++)
    if (it->shape[d] == 0) return;
  int64_t idx[LD_MAXDIM] = {0};
  char *p[LD_ITER_MAXOP];
  int64_t s[LD_ITER_MAXOP];
  for (int k = 0; k < nop; k++) s[k] = it->st[k][nd - 1];
  int64_t n = it->shape[nd - 1];
  for (;;) {
    for (int k = 0; k < nop; k++) {
      int64_t e = 0;
      for (int d = 0; d < nd - 1; d++) e += idx[d] * it->st[k][d];
      p[k] = it->base[k] + e * (int64_t)it->isz[k];
    }
    fn(n, p, s, ctx);
    int d = nd - 2;
    while (d >= 0) {
      if (++idx[d] < it->shape[d]) break;
      idx[d] = 0;
      d--;
    }
    if (d < 0) return;
  }
}
