/* http_json.c — the dashboard's byte buffer and JSON writer (http_json.h). */
#include "http_json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes room for N more bytes in B (aborts when out of memory). */
static void reserve(hbuf *b, size_t n) {
  if (b->n + n <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->n + n) cap *= 2;
  char *p = realloc(b->p, cap);
  if (p == NULL) {
    fprintf(stderr, "ldask-scheduler: out of memory\n");
    abort();
  }
  b->p = p;
  b->cap = cap;
}

void hb_add(hbuf *b, const void *s, size_t n) {
  if (n == 0) return;
  reserve(b, n);
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

void hb_printf(hbuf *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int need = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (need <= 0) return;
  if ((size_t)need < sizeof tmp) {
    hb_add(b, tmp, (size_t)need);
    return;
  }
  reserve(b, (size_t)need + 1);
  va_start(ap, fmt);
  vsnprintf(b->p + b->n, (size_t)need + 1, fmt, ap);
  va_end(ap);
  b->n += (size_t)need;
}

void hb_free(hbuf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

void hb_prom_label(hbuf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '\\')
      hb_add(b, "\\\\", 2);
    else if (c == '"')
      hb_add(b, "\\\"", 2);
    else if (c == '\n')
      hb_add(b, "\\n", 2);
    else
      hb_add(b, &c, 1);
  }
}

void hb_html(hbuf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    switch (s[i]) {
      case '&':
        hb_add(b, "&amp;", 5);
        break;
      case '<':
        hb_add(b, "&lt;", 4);
        break;
      case '>':
        hb_add(b, "&gt;", 4);
        break;
      case '"':
        hb_add(b, "&quot;", 6);
        break;
      case '\'':
        hb_add(b, "&#39;", 5);
        break;
      default:
        hb_add(b, s + i, 1);
    }
  }
}

/* ---- JSON ---- */

void js_init(js *j, hbuf *b) {
  memset(j, 0, sizeof *j);
  j->b = b;
}

/* Before a value or a key: the comma between items. */
static void sep(js *j) {
  if (j->after_key) {
    j->after_key = 0;
    return;
  }
  if (j->depth > 0 && j->items[j->depth - 1]++ > 0) hb_add(j->b, ",", 1);
}

static void open_(js *j, char c) {
  sep(j);
  hb_add(j->b, &c, 1);
  if (j->depth < JS_DEPTH) j->items[j->depth] = 0;
  j->depth++;
}

static void close_(js *j, char c) {
  if (j->depth > 0) j->depth--;
  hb_add(j->b, &c, 1);
}

void js_obj(js *j) { open_(j, '{'); }
void js_end_obj(js *j) { close_(j, '}'); }
void js_arr(js *j) { open_(j, '['); }
void js_end_arr(js *j) { close_(j, ']'); }

/* The length of the valid UTF-8 sequence at S (N bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf)
    len = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4, cp = c & 0x07;
  else
    return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
      (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return len;
}

static void esc(hbuf *b, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  hb_add(b, "\"", 1);
  size_t run = 0; /* bytes copied as they are, pending */
  for (size_t i = 0; i < n;) {
    unsigned char c = u[i];
    const char *rep = NULL;
    char tmp[8];
    size_t step = 1;
    if (c >= 0x80) {
      step = utf8_len(u + i, n - i);
      if (step == 0) rep = "\\ufffd", step = 1;
    } else if (c == '"') {
      rep = "\\\"";
    } else if (c == '\\') {
      rep = "\\\\";
    } else if (c == '\n') {
      rep = "\\n";
    } else if (c == '\t') {
      rep = "\\t";
    } else if (c == '\r') {
      rep = "\\r";
    } else if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f) {
      snprintf(tmp, sizeof tmp, "\\u%04x", c);
      rep = tmp;
    }
    if (rep) {
      hb_add(b, s + i - run, run);
      run = 0;
      hb_str(b, rep);
    } else {
      run += step;
    }
    i += step;
  }
  hb_add(b, s + n - run, run);
  hb_add(b, "\"", 1);
}

void js_key(js *j, const char *k) {
  sep(j);
  esc(j->b, k, strlen(k));
  hb_add(j->b, ":", 1);
  j->after_key = 1;
}

void js_strn(js *j, const char *s, size_t n) {
  sep(j);
  esc(j->b, s, n);
}

void js_str(js *j, const char *s) {
  if (s == NULL)
    js_null(j);
  else
    js_strn(j, s, strlen(s));
}

/* Writes the decimal digits of V into the end of BUF (room for 20);
 * returns where they start. */
static char *digits(uint64_t v, char *end) {
  do *--end = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  return end;
}

/* Numbers are written by hand: printf is most of the cost of a long
 * task stream answer. */
void js_int(js *j, int64_t v) {
  sep(j);
  char buf[24], *end = buf + sizeof buf;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  char *p = digits(u, end);
  if (v < 0) *--p = '-';
  hb_add(j->b, p, (size_t)(end - p));
}

void js_num(js *j, double v) {
  if (!isfinite(v)) {
    js_null(j);
    return;
  }
  if (v >= 9e12 || v <= -9e12) {
    sep(j);
    hb_printf(j->b, "%.6g", v);
    return;
  }
  sep(j);
  /* fixed, 6 decimals: microseconds for times in seconds */
  int neg = v < 0;
  uint64_t scaled = (uint64_t)((neg ? -v : v) * 1e6 + 0.5);
  char buf[40], *end = buf + sizeof buf;
  char *p = digits(scaled % 1000000 + 1000000, end); /* 7 digits: a leading 1, then 6 */
  *p = '.';
  p = digits(scaled / 1000000, p);
  if (neg) *--p = '-';
  hb_add(j->b, p, (size_t)(end - p));
}

void js_bool(js *j, int v) {
  sep(j);
  hb_str(j->b, v ? "true" : "false");
}

void js_null(js *j) {
  sep(j);
  hb_add(j->b, "null", 4);
}

void js_kstr(js *j, const char *k, const char *s) {
  js_key(j, k);
  js_str(j, s);
}

void js_kint(js *j, const char *k, int64_t v) {
  js_key(j, k);
  js_int(j, v);
}

void js_knum(js *j, const char *k, double v) {
  js_key(j, k);
  js_num(j, v);
}
