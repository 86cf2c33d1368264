/* histogram.c — counts of values in equal-width bins (see kernels.h): the
 * per-block step of ldask.array.histogram. NaN and values outside [lo, hi]
 * are not counted; hi itself falls in the last bin (like NumPy). */
#include "array/iter.h"
#include "array/kernels.h"

typedef struct {
  int64_t *counts;
  int64_t nbins;
  double lo, hi, scale, step;
} hctx;

#define HIST(NAME, T)                                                        \
  static void NAME(int64_t n, char **p, const int64_t *s, const void *ctx) { \
    const hctx *h = ctx;                                                     \
    const T *a = (const T *)p[0];                                            \
    for (int64_t i = 0; i < n; i++) {                                        \
      double v = (double)a[i * s[0]];                                        \
      if (!(v >= h->lo && v <= h->hi)) continue;                             \
      int64_t b = (int64_t)((v - h->lo) * h->scale);                         \
      if (b >= h->nbins) b = h->nbins - 1;                                   \
      /* like NumPy: settle values within an ulp of an edge by the edges */  \
      if (b > 0 && v < (double)b * h->step + h->lo)                          \
        b--;                                                                 \
      else if (b < h->nbins - 1 && v >= (double)(b + 1) * h->step + h->lo)   \
        b++;                                                                 \
      h->counts[b]++;                                                        \
    }                                                                        \
  }
HIST(h_f64, double)
HIST(h_f32, float)
HIST(h_i64, int64_t)
HIST(h_i32, int32_t)
HIST(h_u8, uint8_t)
static const ld_row_fn table[LD_NDTYPES] = {h_f64, h_f32, h_i64, h_i32, h_u8, h_u8};

int ld_nd_histogram(const ld_ndarray *a, int64_t nbins, double lo, double hi, ld_ndarray *out) {
  int rc = ld_nd_check(a, "histogram");
  if (rc < 0) return rc;
  if (nbins < 1 || !(hi > lo))
    return ld_array_error(LD_ARR_EINVAL,
                          "histogram: need bins >= 1 and range lo < hi, got %lld bins in [%g, %g]",
                          (long long)nbins, lo, hi);
  if ((rc = ld_nd_alloc(out, LD_I64, 1, &nbins, 1)) < 0) return rc;
  hctx h = {ld_nd_data(out), nbins, lo, hi, (double)nbins / (hi - lo), (hi - lo) / (double)nbins};
  const ld_ndarray *ops[1] = {a};
  ld_iter it;
  ld_iter_init(&it, 1, ops, a->ndim, a->shape);
  ld_iter_coalesce(&it);
  ld_iter_run(&it, table[a->dtype], &h);
  return 0;
}
