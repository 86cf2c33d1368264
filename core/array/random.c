/* random.c — counter-based random numbers: the value at a global position
 * is a hash (splitmix64 finalizer) of the seed and the position's row-major
 * index in the global shape, so any block is reproducible on its own and the
 * values do not depend on chunking (see kernels.h). Uniform doubles take the
 * top 53 bits; normals use the ziggurat method (Marsaglia and Tsang, in
 * Doornik's form: 128 layers, the first draw accepted ~99% of the time,
 * retries and the tail drawing further hashes of the same position);
 * integers use a 128-bit multiply-shift of the hash onto the range. */
#include <math.h>
#include <pthread.h>

#include "array/iter.h"
#include "array/kernels.h"
#include "array/loops.h"

static inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static inline uint64_t hash2(uint64_t key, uint64_t ctr) {
  return mix64(ctr * 0x9E3779B97F4A7C15ull + key);
}

static inline double u01(uint64_t h) { return (double)(h >> 11) * 0x1.0p-53; }

typedef struct {
  int kind, dtype;
  uint64_t k1, k2;
  double p1, p2;
  float f1, f2; /* p1, p2 - p1 as float */
  uint64_t range;
  int64_t low;
} rctx;

#define LD_CLONES LD_VEC

#define RLOOP(NAME, T, EXPR)                                                                       \
  LD_CLONES static void NAME(T *restrict o, int64_t n, uint64_t c0, int64_t step, const rctx *r) { \
    for (int64_t i = 0; i < n; i++) {                                                              \
      uint64_t c = c0 + (uint64_t)(i * step);                                                      \
      o[i] = (T)(EXPR);                                                                            \
    }                                                                                              \
  }

/* ---- ziggurat normals ---- */

#define ZIG_C 128
#define ZIG_R 3.442619855899           /* start of the tail */
#define ZIG_V 9.91256303526217e-3      /* area of each layer */
#define ZIG_STEP 0x632BE59BD9B4E019ull /* key step between a position's draws */

static double zig_x[ZIG_C + 1], zig_ratio[ZIG_C];
static pthread_once_t zig_once = PTHREAD_ONCE_INIT;

/* Layer edges: zig_x[i] the right edge of layer i (zig_x[0] the base
 * strip's width V / f(R)), zig_ratio[i] the share of layer i inside the
 * curve for sure. Runs once. */
static void zig_init(void) {
  double f = exp(-0.5 * ZIG_R * ZIG_R);
  zig_x[0] = ZIG_V / f;
  zig_x[1] = ZIG_R;
  zig_x[ZIG_C] = 0;
  for (int i = 2; i < ZIG_C; i++) {
    zig_x[i] = sqrt(-2.0 * log(ZIG_V / zig_x[i - 1] + f));
    f = exp(-0.5 * zig_x[i] * zig_x[i]);
  }
  for (int i = 0; i < ZIG_C; i++) zig_ratio[i] = zig_x[i + 1] / zig_x[i];
}

/* Draw J of position C under key K: a uniform hash. */
static inline uint64_t zig_draw(uint64_t k, uint64_t c, uint64_t j) {
  return hash2(k + j * ZIG_STEP, c);
}

/* A standard normal for position C of key K: a function of (K, C) only. */
static double zig_normal(uint64_t k, uint64_t c) {
  for (uint64_t j = 0;; j += 2) {
    uint64_t h = zig_draw(k, c, j);
    double u = 2.0 * u01(h) - 1.0;  /* the top 53 bits */
    int i = (int)(h & (ZIG_C - 1)); /* the low 7 bits */
    if (fabs(u) < zig_ratio[i]) return u * zig_x[i];
    if (i == 0) { /* the tail beyond R */
      double x, y;
      uint64_t t = j + 1;
      do {
        x = log(1.0 - u01(zig_draw(k, c, t++ << 32))) / ZIG_R;
        y = log(1.0 - u01(zig_draw(k, c, t++ << 32)));
      } while (-2.0 * y < x * x);
      return u < 0 ? x - ZIG_R : ZIG_R - x;
    }
    /* the wedge between the layer's inner and outer edges */
    double x = u * zig_x[i];
    double f0 = exp(-0.5 * (zig_x[i] * zig_x[i] - x * x));
    double f1 = exp(-0.5 * (zig_x[i + 1] * zig_x[i + 1] - x * x));
    if (f1 + u01(zig_draw(k, c, j + 1)) * (f0 - f1) < 1.0) return x;
  }
}

#define NORMAL(c) (r->p1 + r->p2 * zig_normal(r->k1, c))
#define UNIFORM(c) (r->p1 + (r->p2 - r->p1) * u01(hash2(r->k1, c)))
#define INTEGER(c) (r->low + (int64_t)(((unsigned __int128)hash2(r->k1, c) * r->range) >> 64))

RLOOP(uni_f64, double, UNIFORM(c))
/* float32 uniforms: two rounds of a 32-bit multiply-xorshift hash (lowbias32)
 * over the counter's halves; 32-bit lanes vectorize (8 per AVX2 op). */
static inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}
#define U32(c) \
  mix32(mix32((uint32_t)(c) + (uint32_t)r->k1) ^ ((uint32_t)((c) >> 32) + (uint32_t)(r->k1 >> 32)))
#define UNIFORM32(c) (r->f1 + r->f2 * ((float)(int32_t)(U32(c) >> 8) * 0x1.0p-24f))
RLOOP(uni_f32, float, UNIFORM32(c))

/* The same values as uni_f32 for a row whose counters share their high 32
 * bits: only 32-bit lanes, so 8 elements per AVX2 operation. */
LD_CLONES static void uni_f32_row(float *restrict o, int64_t n, uint32_t lo0, uint32_t step,
                                  uint32_t k, uint32_t hik, float f1, float f2) {
  for (int64_t i = 0; i < n; i++) {
    uint32_t c = lo0 + (uint32_t)i * step;
    uint32_t x = mix32(mix32(c + k) ^ hik);
    o[i] = f1 + f2 * ((float)(int32_t)(x >> 8) * 0x1.0p-24f);
  }
}
RLOOP(nor_f64, double, NORMAL(c))
RLOOP(nor_f32, float, NORMAL(c))
RLOOP(int_i64, int64_t, INTEGER(c))
RLOOP(int_i32, int32_t, INTEGER(c))
RLOOP(int_u8, uint8_t, INTEGER(c))

int ld_nd_random(ld_ndarray *dst, int kind, uint64_t seed, const int64_t *gshape,
                 const int64_t *gstart, const int64_t *gstep, double p1, double p2) {
  int rc = ld_nd_check(dst, "random");
  if (rc < 0) return rc;
  if (!ld_nd_is_contiguous(dst))
    return ld_array_error(LD_ARR_EINVAL, "random: target must be C-contiguous");
  int isfloat = dst->dtype == LD_F64 || dst->dtype == LD_F32;
  int isint = dst->dtype == LD_I64 || dst->dtype == LD_I32 || dst->dtype == LD_U8;
  if (kind == LD_RAND_INTEGERS ? !isint
                               : (!isfloat || (kind != LD_RAND_UNIFORM && kind != LD_RAND_NORMAL)))
    return ld_array_error(LD_ARR_EINVAL, "random: kind %d not available for dtype %s", kind,
                          ld_dtype_name(dst->dtype));
  rctx r = {kind,
            dst->dtype,
            mix64(seed ^ 0x243F6A8885A308D3ull),
            mix64(seed ^ 0x13198A2E03707344ull),
            p1,
            p2,
            (float)p1,
            (float)(p2 - p1),
            0,
            0};
  if (kind == LD_RAND_INTEGERS) {
    if (!(p2 > p1))
      return ld_array_error(LD_ARR_EINVAL, "randint: high %.17g must be greater than low %.17g", p2,
                            p1);
    r.low = (int64_t)p1;
    r.range = (uint64_t)((int64_t)p2 - (int64_t)p1);
  }
  if (kind == LD_RAND_NORMAL) pthread_once(&zig_once, zig_init);
  int nd = dst->ndim;
  int64_t gstr[LD_MAXDIM];
  int64_t s = 1;
  for (int d = nd - 1; d >= 0; d--) {
    if (gstart[d] < 0 || gstart[d] + (dst->shape[d] - 1) * gstep[d] >= gshape[d] ||
        gstart[d] + (dst->shape[d] - 1) * gstep[d] < 0)
      if (dst->shape[d] > 0)
        return ld_array_error(LD_ARR_EINVAL, "random: block outside the global shape at axis %d",
                              d);
    gstr[d] = s;
    s *= gshape[d];
  }
  int64_t total = ld_nd_size(dst);
  if (total == 0) return 0;
  int64_t n = nd ? dst->shape[nd - 1] : 1;
  int64_t istep = nd ? gstep[nd - 1] : 0;
  int64_t idx[LD_MAXDIM] = {0};
  char *o = ld_nd_data(dst);
  size_t isz = ld_dtype_size(dst->dtype);
  for (int64_t row = 0; row * n < total; row++) {
    uint64_t c0 = 0;
    for (int d = 0; d < nd; d++) c0 += (uint64_t)((gstart[d] + idx[d] * gstep[d]) * gstr[d]);
    void *p = o + (size_t)(row * n) * isz;
    int key = kind * 8 + dst->dtype;
    switch (key) {
      case LD_RAND_UNIFORM * 8 + LD_F64:
        uni_f64(p, n, c0, istep, &r);
        break;
      case LD_RAND_UNIFORM * 8 + LD_F32: {
        uint64_t last = c0 + (uint64_t)((n - 1) * istep);
        if (istep >= 0 && (c0 >> 32) == (last >> 32))
          uni_f32_row(p, n, (uint32_t)c0, (uint32_t)istep, (uint32_t)r.k1,
                      (uint32_t)(c0 >> 32) + (uint32_t)(r.k1 >> 32), r.f1, r.f2);
        else
          uni_f32(p, n, c0, istep, &r);
        break;
      }
      case LD_RAND_NORMAL * 8 + LD_F64:
        nor_f64(p, n, c0, istep, &r);
        break;
      case LD_RAND_NORMAL * 8 + LD_F32:
        nor_f32(p, n, c0, istep, &r);
        break;
      case LD_RAND_INTEGERS * 8 + LD_I64:
        int_i64(p, n, c0, istep, &r);
        break;
      case LD_RAND_INTEGERS * 8 + LD_I32:
        int_i32(p, n, c0, istep, &r);
        break;
      default:
        int_u8(p, n, c0, istep, &r);
        break;
    }
    for (int d = nd - 2; d >= 0; d--) {
      if (++idx[d] < dst->shape[d]) break;
      idx[d] = 0;
    }
  }
  return 0;
}
