/* parse_fast.h — the fast paths of the value parsers (core/frame/parse.c),
 * inline so that the CSV scanner (csv.c) converts a plain number without a
 * call: [-]digits[.digits] with at most 19 digits (one correctly rounded
 * division by a power of ten), and integers of at most 18 digits. The digit
 * loops stop at the first non-digit: P[LEN] must be readable and not a
 * digit. They return 1 when the fast path applies (the value in *OUT),
 * else 0 (the caller takes the general path). */
#ifndef LDASK_PARSE_FAST_H
#define LDASK_PARSE_FAST_H

#include <stddef.h>
#include <stdint.h>

extern const double ld_pow10[23]; /* 1e0 .. 1e22, exact */

static inline int ld_fast_f64(const char *p, size_t len, double *out) {
  const char *q = p, *e = p + len;
  int neg = *q == '-';
  q += neg;
  const char *d0 = q;
  uint64_t m = 0;
  while ((unsigned)(*q - '0') < 10) m = m * 10 + (uint64_t)(*q++ - '0');
  ptrdiff_t nint = q - d0, nfrac = 0;
  if (*q == '.' && q < e) {
    const char *f0 = ++q;
    while ((unsigned)(*q - '0') < 10) m = m * 10 + (uint64_t)(*q++ - '0');
    nfrac = q - f0;
  }
  if (q == e && nint + nfrac > 0 && nint + nfrac <= 19 && nfrac <= 22 && m <= (1ull << 53)) {
    double d = (double)m / ld_pow10[nfrac];
    *out = neg ? -d : d;
    return 1;
  }
  return 0;
}

static inline int ld_fast_i64(const char *p, size_t len, int64_t *out) {
  const char *q = p, *e = p + len;
  int neg = *q == '-';
  q += neg;
  const char *d0 = q;
  uint64_t v = 0;
  while ((unsigned)(*q - '0') < 10) v = v * 10 + (uint64_t)(*q++ - '0');
  if (q == e && q > d0 && q - d0 <= 18) {
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 1;
  }
  return 0;
}

#endif
