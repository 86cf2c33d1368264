/* str.c — the .str kernels of ldask.dataframe over plain string columns
 * (int64 offsets + bytes): lower/upper (UTF-8 aware for Latin-1, Latin
 * Extended-A, Greek and Cyrillic; ß upper-cases to SS as Python does),
 * strip, slice by characters (Python's slice rules), length in characters,
 * startswith/endswith and contains (a literal or a POSIX extended regular
 * expression with \d \D \s \S \w \W). A dictionary column runs these on its
 * categories only (lua/ldask/dataframe/strings.lua); ld_fr_codes_remap then
 * maps its codes when transformed categories collide. See frame.h. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame/frame.h"

/* Decodes the UTF-8 character at P (LEN bytes left) into *CP; returns its
 * length (1 for an invalid byte, taken as is). */
static int utf8_dec(const unsigned char *p, int64_t len, uint32_t *cp) {
  unsigned c = p[0];
  if (c < 0x80 || len < 2) {
    *cp = c;
    return 1;
  }
  if ((c & 0xe0) == 0xc0 && (p[1] & 0xc0) == 0x80) {
    *cp = ((c & 0x1fu) << 6) | (p[1] & 0x3fu);
    return 2;
  }
  if ((c & 0xf0) == 0xe0 && len >= 3 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
    *cp = ((c & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
    return 3;
  }
  if ((c & 0xf8) == 0xf0 && len >= 4 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 &&
      (p[3] & 0xc0) == 0x80) {
    *cp = ((c & 0x07u) << 18) | ((p[1] & 0x3fu) << 12) | ((p[2] & 0x3fu) << 6) | (p[3] & 0x3fu);
    return 4;
  }
  *cp = c;
  return 1;
}

/* Encodes CP (< 0x800 here: case mapping stays in 2-byte characters). */
static int utf8_enc(uint32_t cp, char *out) {
  if (cp < 0x80) {
    if (out) out[0] = (char)cp;
    return 1;
  }
  if (out) {
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
  }
  return 2;
}

static uint32_t to_lower(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0xc0) return c;
  if ((c >= 0xc0 && c <= 0xde && c != 0xd7)) return c + 32;
  if (c >= 0x100 && c <= 0x17f && c != 0x130 && c != 0x138 && c != 0x149) {
    /* Latin Extended-A: pairs (even upper) except 0x139..0x148, 0x179..0x17e (odd upper) */
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) return (c & 1) ? c + 1 : c;
    if (c == 0x178) return 0xff;
    return (c & 1) ? c : c + 1;
  }
  if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) return c + 32;
  if (c >= 0x410 && c <= 0x42f) return c + 32;
  if (c >= 0x400 && c <= 0x40f) return c + 80;
  return c;
}

static uint32_t to_upper(uint32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0xe0) return c;
  if (c >= 0xe0 && c <= 0xfe && c != 0xf7) return c - 32;
  if (c == 0xff) return 0x178;
  if (c >= 0x100 && c <= 0x17f && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17f) {
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) return (c & 1) ? c : c - 1;
    return (c & 1) ? c - 1 : c;
  }
  if (c == 0x3c2) return 0x3a3; /* final sigma */
  if (c >= 0x3b1 && c <= 0x3c9) return c - 32;
  if (c >= 0x430 && c <= 0x44f) return c - 32;
  if (c >= 0x450 && c <= 0x45f) return c - 80;
  return c;
}

static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Characters of [P, P+LEN). */
static int64_t nchars(const unsigned char *p, int64_t len) {
  int64_t k = 0;
  for (int64_t i = 0; i < len; i++) k += (p[i] & 0xc0) != 0x80;
  return k;
}

/* Byte offset of character CH (0..nchars) of [P, P+LEN). */
static int64_t char_at(const unsigned char *p, int64_t len, int64_t ch) {
  int64_t k = 0;
  for (int64_t i = 0; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80) {
      if (k == ch) return i;
      k++;
    }
  }
  return len;
}

/* Python's slice.indices for a sequence of N items. */
static void slice_indices(int64_t n, int64_t start, int64_t stop, int64_t step, int64_t *s,
                          int64_t *e) {
  int64_t lo = step < 0 ? -1 : 0, hi = step < 0 ? n - 1 : n;
  if (start == LD_NAT) {
    *s = step < 0 ? hi : lo;
  } else {
    *s = start < 0 ? start + n : start;
    if (*s < lo) *s = lo;
    if (*s > hi) *s = hi;
  }
  if (stop == LD_NAT) {
    *e = step < 0 ? lo : hi;
  } else {
    *e = stop < 0 ? stop + n : stop;
    if (*e < lo) *e = lo;
    if (*e > hi) *e = hi;
  }
}

/* One string's transform into OUT (NULL: only the size). */
static int64_t map_one(const unsigned char *p, int64_t len, const ld_fr_strmap *m, char *out) {
  int64_t w = 0;
  switch (m->mode) {
    case LD_STR_LOWER:
    case LD_STR_UPPER:
      for (int64_t i = 0; i < len;) {
        uint32_t cp;
        int l = utf8_dec(p + i, len - i, &cp);
        uint32_t c2 = m->mode == LD_STR_LOWER ? to_lower(cp) : to_upper(cp);
        if ((l == 1 && cp >= 0x80) || c2 == cp || c2 >= 0x800) {
          if (m->mode == LD_STR_UPPER && cp == 0xdf) { /* ß -> SS */
            if (out) out[w] = 'S', out[w + 1] = 'S';
            w += 2;
          } else {
            if (out) memcpy(out + w, p + i, (size_t)l);
            w += l;
          }
        } else {
          w += utf8_enc(c2, out ? out + w : NULL);
        }
        i += l;
      }
      return w;
    case LD_STR_STRIP:
    case LD_STR_LSTRIP:
    case LD_STR_RSTRIP: {
      int64_t a = 0, b = len;
      if (m->mode != LD_STR_RSTRIP)
        while (a < b && (m->chars ? memchr(m->chars, p[a], m->nchars) != NULL : is_space(p[a])))
          a++;
      if (m->mode != LD_STR_LSTRIP)
        while (b > a &&
               (m->chars ? memchr(m->chars, p[b - 1], m->nchars) != NULL : is_space(p[b - 1])))
          b--;
      if (out) memcpy(out, p + a, (size_t)(b - a));
      return b - a;
    }
    case LD_STR_SLICE: {
      int64_t n = nchars(p, len), s, e;
      slice_indices(n, m->start, m->stop, m->step, &s, &e);
      if (m->step == 1) {
        if (e <= s) return 0;
        int64_t bs = char_at(p, len, s), be = char_at(p, len, e);
        if (out) memcpy(out, p + bs, (size_t)(be - bs));
        return be - bs;
      }
      for (int64_t c = s; m->step > 0 ? c < e : c > e; c += m->step) {
        int64_t bs = char_at(p, len, c), be = char_at(p, len, c + 1);
        if (out) memcpy(out + w, p + bs, (size_t)(be - bs));
        w += be - bs;
      }
      return w;
    }
  }
  return 0;
}

int64_t ld_fr_str_map(const int64_t *offsets, const char *bytes, int64_t n, const ld_fr_strmap *m,
                      int64_t *out_off, char *out_bytes) {
  int64_t pos = 0;
  if (out_off) out_off[0] = 0;
  for (int64_t i = 0; i < n; i++) {
    const unsigned char *p = (const unsigned char *)bytes + offsets[i];
    pos += map_one(p, offsets[i + 1] - offsets[i], m, out_bytes ? out_bytes + pos : NULL);
    if (out_off) out_off[i + 1] = pos;
  }
  return pos;
}

void ld_fr_str_len(const int64_t *offsets, const char *bytes, int64_t n, int64_t *out) {
  for (int64_t i = 0; i < n; i++)
    out[i] = nchars((const unsigned char *)bytes + offsets[i], offsets[i + 1] - offsets[i]);
}

void ld_fr_str_affix(const int64_t *offsets, const char *bytes, int64_t n, const char *s,
                     size_t len, int32_t at_end, uint8_t *out) {
  int64_t l = (int64_t)len;
  for (int64_t i = 0; i < n; i++) {
    int64_t a = offsets[i], sz = offsets[i + 1] - a;
    out[i] = sz >= l && memcmp(bytes + a + (at_end ? sz - l : 0), s, len) == 0;
  }
}

/* PAT translated to POSIX ERE: Python's \d \D \s \S (\w \W as glibc has
 * them); with LITERAL every special character escaped. A new string the
 * caller frees, or NULL. */
static char *to_ere(const char *pat, size_t len, int literal) {
  char *o = malloc(len * 6 + 1);
  if (!o) return NULL;
  size_t w = 0;
  for (size_t i = 0; i < len; i++) {
    char c = pat[i];
    if (literal) {
      if (strchr(".[]()*+?{}|^$\\", c) && c != '\0') o[w++] = '\\';
      o[w++] = c;
    } else if (c == '\\' && i + 1 < len && strchr("dDsS", pat[i + 1])) {
      const char *rep = pat[i + 1] == 'd'   ? "[0-9]"
                        : pat[i + 1] == 'D' ? "[^0-9]"
                        : pat[i + 1] == 's' ? "[[:space:]]"
                                            : "[^[:space:]]";
      size_t rl = strlen(rep);
      memcpy(o + w, rep, rl);
      w += rl;
      i++;
    } else {
      o[w++] = c;
    }
  }
  o[w] = '\0';
  return o;
}

int ld_fr_str_contains(const int64_t *offsets, const char *bytes, int64_t n, const char *pat,
                       size_t len, int32_t regex, int32_t icase, uint8_t *out, char *err,
                       size_t errlen) {
  if (!regex && !icase) {
    for (int64_t i = 0; i < n; i++) {
      int64_t a = offsets[i], sz = offsets[i + 1] - a;
      out[i] = len == 0 || memmem(bytes + a, (size_t)sz, pat, len) != NULL;
    }
    return 0;
  }
  char *ere = to_ere(pat, len, !regex);
  if (!ere) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  regex_t re;
  int rc = regcomp(&re, ere, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
  free(ere);
  if (rc != 0) {
    regerror(rc, &re, err, errlen);
    return -1;
  }
  int64_t cap = 256;
  char *buf = malloc((size_t)cap);
  if (!buf) {
    regfree(&re);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (int64_t i = 0; i < n; i++) {
    int64_t a = offsets[i], sz = offsets[i + 1] - a;
    if (sz + 1 > cap) {
      while (sz + 1 > cap) cap *= 2;
      char *nb = realloc(buf, (size_t)cap);
      if (!nb) {
        free(buf);
        regfree(&re);
        snprintf(err, errlen, "out of memory");
        return -1;
      }
      buf = nb;
    }
    memcpy(buf, bytes + a, (size_t)sz);
    buf[sz] = '\0';
    out[i] = regexec(&re, buf, 0, NULL, 0) == 0;
  }
  free(buf);
  regfree(&re);
  return 0;
}

void ld_fr_codes_remap(const int32_t *codes, int64_t n, const int64_t *map, int32_t *out) {
  for (int64_t i = 0; i < n; i++) out[i] = codes[i] < 0 ? -1 : (int32_t)map[codes[i]];
}
