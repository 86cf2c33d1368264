/* loops.h — macros generating the inner row loops of the elementwise
 * kernels (internal to core/array). Each loop has a contiguous fast path
 * (and scalar-operand fast paths) written as plain indexed loops over
 * restrict pointers so the compiler vectorizes them; EXPR sees the operands
 * as x (and y). */
#ifndef LDASK_ARRAY_LOOPS_H
#define LDASK_ARRAY_LOOPS_H

#include <stdint.h>

/* -O2 (the project's flags) uses GCC's "very cheap" vectorizer cost model,
 * which skips loops whose trip count is unknown, i.e. all of ours. Kernel
 * loops are therefore compiled at O3, and on x86-64 also cloned for AVX2
 * (picked at load time through an ifunc). Not under sanitizers (ifuncs and
 * sanitizer runtimes do not mix well) nor under clang. */
#if defined(__GNUC__) && !defined(__clang__)
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define LD_VEC __attribute__((target_clones("avx2", "default"), optimize("O3")))
#else
#define LD_VEC __attribute__((optimize("O3")))
#endif
#else
#define LD_VEC
#endif

/* unary: p[0] out (TO), p[1] in (T) */
#define LD_LOOP1(NAME, T, TO, EXPR)                                                 \
  LD_VEC static void NAME(int64_t n, char **p, const int64_t *s, const void *ctx) { \
    (void)ctx;                                                                      \
    TO *restrict o = (TO *)p[0];                                                    \
    const T *restrict a = (const T *)p[1];                                          \
    if (s[0] == 1 && s[1] == 1) {                                                   \
      for (int64_t i = 0; i < n; i++) {                                             \
        T x = a[i];                                                                 \
        o[i] = (TO)(EXPR);                                                          \
      }                                                                             \
    } else {                                                                        \
      int64_t so = s[0], sa = s[1];                                                 \
      for (int64_t i = 0; i < n; i++) {                                             \
        T x = a[i * sa];                                                            \
        o[i * so] = (TO)(EXPR);                                                     \
      }                                                                             \
    }                                                                               \
  }

/* binary: p[0] out (TO), p[1], p[2] in (T) */
#define LD_LOOP2(NAME, T, TO, EXPR)                                                 \
  LD_VEC static void NAME(int64_t n, char **p, const int64_t *s, const void *ctx) { \
    (void)ctx;                                                                      \
    TO *restrict o = (TO *)p[0];                                                    \
    const T *restrict a = (const T *)p[1];                                          \
    const T *restrict b = (const T *)p[2];                                          \
    if (s[0] == 1 && s[1] == 1 && s[2] == 1) {                                      \
      for (int64_t i = 0; i < n; i++) {                                             \
        T x = a[i], y = b[i];                                                       \
        o[i] = (TO)(EXPR);                                                          \
      }                                                                             \
    } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {                               \
      const T y = b[0];                                                             \
      for (int64_t i = 0; i < n; i++) {                                             \
        T x = a[i];                                                                 \
        o[i] = (TO)(EXPR);                                                          \
      }                                                                             \
    } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {                               \
      const T x = a[0];                                                             \
      for (int64_t i = 0; i < n; i++) {                                             \
        T y = b[i];                                                                 \
        o[i] = (TO)(EXPR);                                                          \
      }                                                                             \
    } else {                                                                        \
      int64_t so = s[0], sa = s[1], sb = s[2];                                      \
      for (int64_t i = 0; i < n; i++) {                                             \
        T x = a[i * sa], y = b[i * sb];                                             \
        o[i * so] = (TO)(EXPR);                                                     \
      }                                                                             \
    }                                                                               \
  }

#endif
