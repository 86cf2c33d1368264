/* http_json.h — the dashboard's output buffers: a growing byte buffer and
 * a small JSON writer over it (strings escaped, invalid UTF-8 replaced by
 * U+FFFD, '<' '>' '&' written as \u escapes so JSON is safe inside HTML,
 * NaN and infinities written as null), and Prometheus label escaping.
 * Used by http.c and http_api.c on the scheduler's loop. */
#ifndef LDASK_SCHEDULER_HTTP_JSON_H
#define LDASK_SCHEDULER_HTTP_JSON_H

#include <stddef.h>
#include <stdint.h>

/* A growing buffer. Zero-initialise; free with hb_free. Out of memory
 * aborts the scheduler (as sc_xrealloc does). */
typedef struct hbuf {
  char *p;
  size_t n, cap;
} hbuf;

void hb_add(hbuf *b, const void *s, size_t n);
static inline void hb_str(hbuf *b, const char *s);
void hb_printf(hbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hb_free(hbuf *b);
/* Text S (N bytes) as a Prometheus label value: \\, \" and \n escaped. */
void hb_prom_label(hbuf *b, const char *s, size_t n);
/* Text S (N bytes) escaped for HTML (& < > " '). */
void hb_html(hbuf *b, const char *s, size_t n);

/* The JSON writer: values and keys in order; commas are its business. */
#define JS_DEPTH 32
typedef struct js {
  hbuf *b;
  int depth;
  int after_key;
  uint32_t items[JS_DEPTH];
} js;

void js_init(js *j, hbuf *b);
void js_obj(js *j);
void js_end_obj(js *j);
void js_arr(js *j);
void js_end_arr(js *j);
void js_key(js *j, const char *k);
void js_strn(js *j, const char *s, size_t n);
void js_str(js *j, const char *s); /* NULL writes null */
void js_int(js *j, int64_t v);
void js_num(js *j, double v);
void js_bool(js *j, int v);
void js_null(js *j);
/* Key and value in one call. */
void js_kstr(js *j, const char *k, const char *s);
void js_kint(js *j, const char *k, int64_t v);
void js_knum(js *j, const char *k, double v);

static inline void hb_str(hbuf *b, const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  hb_add(b, s, n);
}

#endif
