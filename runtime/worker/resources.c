/* resources.c — ldask-worker's abstract resources: the --resources
 * "GPU=2,MEM=8e9" option, read into the worker's state and sent to the
 * scheduler with register-worker (docs/distributed.md, "Resources"). The
 * scheduler does the accounting; the worker only declares what it has. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/mp.h"
#include "worker.h"

/* Trims blanks around [*S, *E). */
static void trim(const char **s, const char **e) {
  while (*s < *e && isspace((unsigned char)**s)) (*s)++;
  while (*e > *s && isspace((unsigned char)(*e)[-1])) (*e)--;
}

/* (worker.h) */
int wk_parse_resources(wk_state *w, const char *spec, char *err, size_t errlen) {
  w->nres = 0;
  const char *p = spec;
  for (;;) {
    const char *end = strchr(p, ','), *stop = end ? end : p + strlen(p);
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    const char *ns = p, *ne = eq ? eq : stop;
    trim(&ns, &ne);
    int item = (int)(stop - p);
    if (eq == NULL || ne == ns) {
      snprintf(err, errlen,
               "--resources: '%.*s' is not NAME=AMOUNT (expected a list like \"GPU=2,MEM=8e9\")",
               item, p);
      return -1;
    }
    if (ne - ns >= WK_RES_NAME) {
      snprintf(err, errlen, "--resources: the name '%.*s' is longer than %d bytes", (int)(ne - ns),
               ns, WK_RES_NAME - 1);
      return -1;
    }
    const char *vs = eq + 1, *ve = stop;
    trim(&vs, &ve);
    char num[64];
    char *nend = NULL;
    double v = -1;
    if (ve > vs && ve - vs < (long)sizeof num) {
      memcpy(num, vs, (size_t)(ve - vs));
      num[ve - vs] = '\0';
      v = strtod(num, &nend);
    }
    if (nend == NULL || *nend != '\0' || nend == num || !isfinite(v) || v < 0) {
      snprintf(err, errlen,
               "--resources: the amount of '%.*s' must be a number >= 0 (like 2 or 8e9), got "
               "'%.*s'",
               (int)(ne - ns), ns, (int)(ve - vs), vs);
      return -1;
    }
    for (int i = 0; i < w->nres; i++) {
      if (strlen(w->res_name[i]) == (size_t)(ne - ns) &&
          memcmp(w->res_name[i], ns, (size_t)(ne - ns)) == 0) {
        snprintf(err, errlen, "--resources: '%.*s' is given twice", (int)(ne - ns), ns);
        return -1;
      }
    }
    if (w->nres == WK_RES_MAX) {
      snprintf(err, errlen, "--resources: at most %d resources", WK_RES_MAX);
      return -1;
    }
    memcpy(w->res_name[w->nres], ns, (size_t)(ne - ns));
    w->res_name[w->nres][ne - ns] = '\0';
    w->res_amount[w->nres++] = v;
    if (end == NULL) return 0;
    p = end + 1;
  }
}

/* (worker.h) */
void wk_pack_resources(const wk_state *w, msgpack_packer *pk) {
  msgpack_pack_map(pk, (size_t)w->nres);
  for (int i = 0; i < w->nres; i++) {
    ld_mp_pack_cstr(pk, w->res_name[i]);
    msgpack_pack_double(pk, w->res_amount[i]);
  }
}
