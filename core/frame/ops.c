/* ops.c — row kernels of ldask.dataframe partitions: boolean masks to row
 * numbers, gathers of fixed-width and string columns, dictionary decoding,
 * string equality, datetime fields and formatting. See frame.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "frame/frame.h"

int64_t ld_fr_mask_idx(const uint8_t *mask, const uint8_t *valid, int64_t n, int64_t *idx) {
  int64_t k = 0;
  if (valid == NULL) {
    for (int64_t i = 0; i < n; i++) {
      idx[k] = i;
      k += mask[i] != 0;
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      idx[k] = i;
      k += (mask[i] != 0) & (valid[i] != 0);
    }
  }
  return k;
}

void ld_fr_take(const void *src, size_t itemsize, const int64_t *idx, int64_t n, void *dst) {
  switch (itemsize) {
    case 8: {
      const uint64_t *s = src;
      uint64_t *d = dst;
      for (int64_t i = 0; i < n; i++) d[i] = s[idx[i]];
      break;
    }
    case 4: {
      const uint32_t *s = src;
      uint32_t *d = dst;
      for (int64_t i = 0; i < n; i++) d[i] = s[idx[i]];
      break;
    }
    case 1: {
      const uint8_t *s = src;
      uint8_t *d = dst;
      for (int64_t i = 0; i < n; i++) d[i] = s[idx[i]];
      break;
    }
    default:
      for (int64_t i = 0; i < n; i++)
        memcpy((char *)dst + (size_t)i * itemsize, (const char *)src + (size_t)idx[i] * itemsize,
               itemsize);
  }
}

int64_t ld_fr_str_take_size(const int64_t *offsets, const int64_t *idx, int64_t n) {
  int64_t t = 0;
  for (int64_t i = 0; i < n; i++) t += offsets[idx[i] + 1] - offsets[idx[i]];
  return t;
}

void ld_fr_str_take(const int64_t *offsets, const char *bytes, const int64_t *idx, int64_t n,
                    int64_t *out_off, char *out_bytes) {
  int64_t pos = 0;
  out_off[0] = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t s = offsets[idx[i]], l = offsets[idx[i] + 1] - s;
    memcpy(out_bytes + pos, bytes + s, (size_t)l);
    pos += l;
    out_off[i + 1] = pos;
  }
}

int64_t ld_fr_dict_size(const int32_t *codes, const int64_t *cat_off, int64_t n) {
  int64_t t = 0;
  for (int64_t i = 0; i < n; i++)
    if (codes[i] >= 0) t += cat_off[codes[i] + 1] - cat_off[codes[i]];
  return t;
}

void ld_fr_dict_decode(const int32_t *codes, const int64_t *cat_off, const char *cat_bytes,
                       int64_t n, int64_t *out_off, char *out_bytes, uint8_t *out_valid) {
  int64_t pos = 0;
  out_off[0] = 0;
  for (int64_t i = 0; i < n; i++) {
    int32_t k = codes[i];
    if (k >= 0) {
      int64_t l = cat_off[k + 1] - cat_off[k];
      memcpy(out_bytes + pos, cat_bytes + cat_off[k], (size_t)l);
      pos += l;
    }
    out_valid[i] = k >= 0;
    out_off[i + 1] = pos;
  }
}

void ld_fr_str_eq(const int64_t *offsets, const char *bytes, const uint8_t *valid, int64_t n,
                  const char *s, size_t len, uint8_t *out) {
  for (int64_t i = 0; i < n; i++) {
    int64_t o = offsets[i];
    out[i] = (!valid || valid[i]) && (size_t)(offsets[i + 1] - o) == len &&
             memcmp(bytes + o, s, len) == 0;
  }
}

int64_t ld_fr_str_find(const int64_t *offsets, const char *bytes, int64_t ncats, const char *s,
                       size_t len) {
  for (int64_t i = 0; i < ncats; i++)
    if ((size_t)(offsets[i + 1] - offsets[i]) == len && memcmp(bytes + offsets[i], s, len) == 0)
      return i;
  return -1;
}

void ld_fr_codes_eq(const int32_t *codes, int64_t n, int32_t code, uint8_t *out) {
  for (int64_t i = 0; i < n; i++) out[i] = codes[i] == code;
}

/* ---- datetimes -------------------------------------------------------- */

#define NS_PER_DAY INT64_C(86400000000000)

static inline int64_t floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Civil date of DAYS since the epoch (H. Hinnant's algorithm). */
static void civil(int64_t days, int64_t *y, int *m, int *d) {
  days += 719468;
  int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  int64_t doe = days - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int64_t field(int64_t v, int32_t f, int64_t unit) {
  int64_t days = floordiv(v, NS_PER_DAY);
  int64_t in_day = v - days * NS_PER_DAY;
  switch (f) {
    case 0:
    case 1:
    case 2: {
      int64_t y;
      int m, d;
      civil(days, &y, &m, &d);
      return f == 0 ? y : f == 1 ? m : d;
    }
    case 3:
      return in_day / INT64_C(3600000000000);
    case 4:
      return in_day / INT64_C(60000000000) % 60;
    case 5:
      return in_day / INT64_C(1000000000) % 60;
    case 6:
      return ((days % 7) + 7 + 3) % 7; /* 1970-01-01 was a Thursday (3) */
    case 7:
      return days * NS_PER_DAY;
    default:
      return unit > 0 ? floordiv(v, unit) * unit : v;
  }
}

int64_t ld_fr_dt_field(const int64_t *ns, int64_t n, int32_t f, int64_t unit, int64_t *iout,
                       double *fout) {
  int64_t nat = 0;
  if (f <= 2) {
    /* year/month/day: one civil conversion per day run (sorted data has long runs) */
    int64_t last_day = INT64_MIN, last = 0;
    for (int64_t i = 0; i < n; i++) {
      int64_t v = ns[i];
      if (v == LD_NAT) {
        nat++;
        if (fout)
          fout[i] = NAN;
        else
          iout[i] = 0;
        continue;
      }
      int64_t days = floordiv(v, NS_PER_DAY);
      if (days != last_day) {
        last_day = days;
        last = field(v, f, unit);
      }
      if (fout)
        fout[i] = (double)last;
      else
        iout[i] = last;
    }
    return nat;
  }
  for (int64_t i = 0; i < n; i++) {
    int64_t v = ns[i];
    if (v == LD_NAT) {
      nat++;
      if (fout)
        fout[i] = NAN;
      else
        iout[i] = f >= 7 ? LD_NAT : 0;
      continue;
    }
    int64_t r = field(v, f, unit);
    if (fout)
      fout[i] = (double)r;
    else
      iout[i] = r;
  }
  return nat;
}

int ld_fr_dt_format(int64_t v, int32_t date_only, char *out) {
  if (v == LD_NAT) return snprintf(out, 40, "NaT");
  int64_t days = floordiv(v, NS_PER_DAY);
  int64_t in_day = v - days * NS_PER_DAY;
  int64_t y;
  int m, d;
  civil(days, &y, &m, &d);
  if (date_only) return snprintf(out, 40, "%04lld-%02d-%02d", (long long)y, m, d);
  int64_t secs = in_day / INT64_C(1000000000), frac = in_day % INT64_C(1000000000);
  int len = snprintf(out, 40, "%04lld-%02d-%02d %02d:%02d:%02d", (long long)y, m, d,
                     (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
  if (frac) len += snprintf(out + len, (size_t)(40 - len), ".%09lld", (long long)frac);
  return len;
}
