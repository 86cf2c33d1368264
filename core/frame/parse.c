/* parse.c — the value parsers of read_csv (core/frame/csv.c): decimal
 * numbers without locale-bound strtod (an exact fast path for plain forms:
 * at most 19 significant digits and a power of ten up to 22, one IEEE
 * operation, so correctly rounded; strtod_l in the C locale otherwise),
 * integers with overflow checks, pandas' booleans, ISO 8601 date-times. */
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "frame/frame.h"
#include "frame/parse_fast.h"

/* ---- numbers and datetimes -------------------------------------------- */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void c_locale_init(void) { c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0); }

const double ld_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int slow_f64(const char *p, size_t len, double *out) {
  char tmp[128];
  if (len >= sizeof tmp) return -1;
  memcpy(tmp, p, len);
  tmp[len] = 0;
  pthread_once(&c_locale_once, c_locale_init);
  if (c_locale == (locale_t)0) return -1;
  char *end;
  errno = 0;
  double v = strtod_l(tmp, &end, c_locale);
  if (end == tmp || *end != 0) return -1;
  if (tmp[0] == '0' && (tmp[1] == 'x' || tmp[1] == 'X')) return -1; /* no hex floats */
  *out = v;
  return 0;
}

/* The general decimal parser (blanks, exponents, long mantissas). */
static int parse_f64_general(const char *p, size_t len, double *out) {
  const char *e = p + len;
  while (p < e && (*p == ' ' || *p == '\t')) p++;
  while (e > p && (e[-1] == ' ' || e[-1] == '\t')) e--;
  if (p == e) return -1;
  const char *s0 = p;
  int neg = 0;
  if (*p == '-' || *p == '+') neg = *p++ == '-';
  uint64_t m = 0;
  int nd = 0, digits = 0, exp10 = 0;
  while (p < e && (unsigned)(*p - '0') < 10) {
    if (nd < 19) {
      m = m * 10 + (uint64_t)(*p - '0');
      if (m) nd++;
    } else {
      return slow_f64(s0, (size_t)(e - s0), out);
    }
    digits++;
    p++;
  }
  if (p < e && *p == '.') {
    p++;
    while (p < e && (unsigned)(*p - '0') < 10) {
      if (nd < 19) {
        m = m * 10 + (uint64_t)(*p - '0');
        if (m) nd++;
        exp10--;
      } else {
        return slow_f64(s0, (size_t)(e - s0), out);
      }
      digits++;
      p++;
    }
  }
  if (digits == 0) return slow_f64(s0, (size_t)(e - s0), out); /* inf, nan, ... */
  if (p < e && (*p == 'e' || *p == 'E')) {
    p++;
    int eneg = 0, ed = 0, ev = 0;
    if (p < e && (*p == '-' || *p == '+')) eneg = *p++ == '-';
    while (p < e && (unsigned)(*p - '0') < 10) {
      if (ev < 100000) ev = ev * 10 + (*p - '0');
      ed++;
      p++;
    }
    if (ed == 0) return -1;
    exp10 += eneg ? -ev : ev;
  }
  if (p != e) return -1;
  if (m <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
    double d = (double)m;
    d = exp10 < 0 ? d / ld_pow10[-exp10] : d * ld_pow10[exp10];
    *out = neg ? -d : d;
    return 0;
  }
  if (m == 0) {
    *out = neg ? -0.0 : 0.0;
    return 0;
  }
  return slow_f64(s0, (size_t)(e - s0), out);
}

/* The common case first: [-]digits[.digits], at most 19 digits, one
 * exact division (correctly rounded); the rest on the general path. The
 * digit loops stop at the first non-digit: P[LEN] must be readable and
 * not a digit (the CSV scanner guarantees it: a separator, a newline, a
 * quote or a NUL follows every field). */
int ld_parse_f64_term(const char *p, size_t len, double *out) {
  if (ld_fast_f64(p, len, out)) return 0;
  return parse_f64_general(p, len, out);
}

int ld_parse_f64(const char *p, size_t len, double *out) {
  /* (no terminator guaranteed: copy short fields, else the general path) */
  char tmp[32];
  if (len < sizeof tmp) {
    memcpy(tmp, p, len);
    tmp[len] = 0;
    return ld_parse_f64_term(tmp, len, out);
  }
  return parse_f64_general(p, len, out);
}

/* An integer with a terminator after it (as above). */
int ld_parse_i64_term(const char *p, size_t len, int64_t *out) {
  if (ld_fast_i64(p, len, out)) return 0;
  return ld_parse_i64(p, len, out);
}

int ld_parse_i64(const char *p, size_t len, int64_t *out) {
  const char *e = p + len;
  while (p < e && (*p == ' ' || *p == '\t')) p++;
  while (e > p && (e[-1] == ' ' || e[-1] == '\t')) e--;
  if (p == e) return -1;
  int neg = 0;
  if (*p == '-' || *p == '+') neg = *p++ == '-';
  if (p == e || e - p > 19) return -1;
  uint64_t v = 0;
  for (; p < e; p++) {
    unsigned d = (unsigned)(*p - '0');
    if (d >= 10) return -1;
    v = v * 10 + d;
  }
  if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) return -1;
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return 0;
}

int ld_parse_bool(const char *p, size_t len, uint8_t *out) {
  if (len == 4 && (!memcmp(p, "True", 4) || !memcmp(p, "true", 4) || !memcmp(p, "TRUE", 4))) {
    *out = 1;
    return 0;
  }
  if (len == 5 && (!memcmp(p, "False", 5) || !memcmp(p, "false", 5) || !memcmp(p, "FALSE", 5))) {
    *out = 0;
    return 0;
  }
  return -1;
}

static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int num2(const char *p, int *v) {
  unsigned a = (unsigned)(p[0] - '0'), b = (unsigned)(p[1] - '0');
  if (a >= 10 || b >= 10) return -1;
  *v = (int)(a * 10 + b);
  return 0;
}

int ld_parse_datetime(const char *p, size_t len, int64_t *out) {
  const char *e = p + len;
  while (p < e && *p == ' ') p++;
  while (e > p && e[-1] == ' ') e--;
  if (e - p < 10 || p[4] != '-' || p[7] != '-') return -1;
  int y1, y2, mo, d, h = 0, mi = 0, s = 0;
  if (num2(p, &y1) || num2(p + 2, &y2) || num2(p + 5, &mo) || num2(p + 8, &d)) return -1;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int year = y1 * 100 + y2;
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1]) return -1;
  if (mo == 2 && d == 29 && !((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) return -1;
  int64_t frac = 0;
  p += 10;
  if (p < e) {
    if ((*p != ' ' && *p != 'T') || e - p < 6 || p[3] != ':') return -1;
    if (num2(p + 1, &h) || num2(p + 4, &mi) || h > 23 || mi > 59) return -1;
    p += 6;
    if (p < e && *p == ':') {
      if (e - p < 3 || num2(p + 1, &s) || s > 59) return -1;
      p += 3;
      if (p < e && *p == '.') {
        p++;
        int nd = 0;
        while (p < e && (unsigned)(*p - '0') < 10) {
          if (nd < 9) frac = frac * 10 + (*p - '0');
          nd++;
          p++;
        }
        if (nd == 0) return -1;
        for (; nd < 9; nd++) frac *= 10;
      }
    }
    if (p < e && *p == 'Z') p++;
    if (p != e) return -1;
  }
  int64_t days = days_from_civil(year, mo, d);
  *out = ((days * 24 + h) * 60 + mi) * 60 * INT64_C(1000000000) + s * INT64_C(1000000000) + frac;
  return 0;
}
