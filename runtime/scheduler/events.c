/* events.c — ldask-scheduler's event stream (events.h): the bounded ring
 * of computes and transfers, the workers' addresses by id, the task
 * prefix table. Recording an event is a slot write and a key copy (no
 * allocation for keys up to SC_EV_INLINE bytes), so the ring costs next
 * to nothing when nobody reads it. */
#include "events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double sc_wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double sc_events_now(const sc_events *e) { return sc_wall() - e->t0_real; }

/* An owned copy of the N bytes at S with a NUL, or NULL when out of
 * memory. */
static char *dupn(const char *s, size_t n) {
  char *r = malloc(n + 1);
  if (r == NULL) return NULL;
  memcpy(r, s, n);
  r[n] = '\0';
  return r;
}

int sc_events_init(sc_events *e, uint32_t cap) {
  memset(e, 0, sizeof *e);
  e->cap = cap; /* 0: no events kept (the counters still count) */
  e->next_seq = 1;
  e->t0_real = sc_wall();
  ld_strmap_init(&e->prefix_ix);
  /* prefix 0 is "other": where names beyond SC_PREFIX_MAX go */
  e->capprefix = 16;
  e->prefix = malloc((size_t)e->capprefix * sizeof *e->prefix);
  if (e->prefix == NULL) return -1;
  e->prefix[0] = dupn("other", 5);
  if (e->prefix[0] == NULL) return -1;
  e->nprefix = 1;
  return ld_strmap_put(&e->prefix_ix, e->prefix[0], 5, (void *)(intptr_t)1);
}

void sc_events_free(sc_events *e) {
  if (e->ring)
    for (uint32_t i = 0; i < e->cap; i++) free(e->ring[i].heap_key);
  free(e->ring);
  for (int32_t i = 0; i < e->nwaddr; i++) free(e->waddr[i]);
  free(e->waddr);
  for (int32_t i = 0; i < e->nprefix; i++) free(e->prefix[i]);
  free(e->prefix);
  ld_strmap_free(&e->prefix_ix);
  memset(e, 0, sizeof *e);
}

/* The slot for the next event (the oldest one is overwritten and counted
 * when the ring is full), or NULL when the ring cannot be allocated (the
 * event is then counted as dropped). */
static sc_event *next_slot(sc_events *e, const char *key, size_t klen) {
  if (e->cap == 0) return NULL;
  if (e->ring == NULL) {
    e->ring = calloc(e->cap, sizeof *e->ring);
    if (e->ring == NULL) {
      e->dropped++;
      return NULL;
    }
  }
  uint64_t seq = e->next_seq;
  sc_event *ev = &e->ring[seq % e->cap];
  if (ev->seq != 0) e->dropped++; /* overwritten before anyone may have read it */
  free(ev->heap_key);
  ev->heap_key = NULL;
  if (klen > SC_EV_INLINE) {
    ev->heap_key = dupn(key, klen);
    if (ev->heap_key == NULL) {
      ev->seq = 0;
      e->dropped++;
      return NULL;
    }
  } else {
    memcpy(ev->inl, key, klen);
  }
  ev->keylen = (uint32_t)klen;
  ev->seq = seq;
  e->next_seq++;
  return ev;
}

void sc_events_compute(sc_events *e, const char *key, size_t klen, int32_t worker, int thread,
                       double start, double stop, int64_t nbytes, int erred) {
  if (erred)
    e->erred++;
  else
    e->completed++;
  sc_event *ev = next_slot(e, key, klen);
  if (ev == NULL) return;
  ev->kind = SC_EV_COMPUTE;
  ev->erred = erred != 0;
  ev->worker = worker;
  ev->peer = -1;
  ev->thread = (int16_t)(thread >= 0 && thread < 32767 ? thread : -1);
  ev->start = start;
  ev->stop = stop;
  ev->bytes = nbytes;
}

void sc_events_transfer(sc_events *e, const char *key, size_t klen, int32_t to, int32_t from,
                        double start, double stop, int64_t nbytes) {
  e->transfers++;
  sc_event *ev = next_slot(e, key, klen);
  if (ev == NULL) return;
  ev->kind = SC_EV_TRANSFER;
  ev->erred = 0;
  ev->worker = to;
  ev->peer = from;
  ev->thread = -1;
  ev->start = start;
  ev->stop = stop;
  ev->bytes = nbytes;
}

uint64_t sc_events_first(const sc_events *e) {
  return e->next_seq - 1 > e->cap ? e->next_seq - e->cap : 1;
}

const sc_event *sc_events_get(const sc_events *e, uint64_t seq) {
  if (e->ring == NULL || seq == 0 || seq >= e->next_seq || seq < sc_events_first(e)) return NULL;
  const sc_event *ev = &e->ring[seq % e->cap];
  return ev->seq == seq ? ev : NULL;
}

void sc_events_worker(sc_events *e, int32_t id, const char *addr) {
  if (id < 0) return;
  if (id >= e->capwaddr) {
    int32_t cap = e->capwaddr ? e->capwaddr : 16;
    while (cap <= id) cap *= 2;
    char **p = realloc(e->waddr, (size_t)cap * sizeof *p);
    if (p == NULL) return;
    e->waddr = p;
    e->capwaddr = cap;
  }
  while (e->nwaddr <= id) e->waddr[e->nwaddr++] = NULL;
  free(e->waddr[id]);
  e->waddr[id] = dupn(addr, strlen(addr));
}

const char *sc_events_worker_addr(const sc_events *e, int32_t id) {
  return id >= 0 && id < e->nwaddr && e->waddr[id] ? e->waddr[id] : "";
}

static int is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Whether the N bytes at W are a word dask's key_split keeps after the
 * first: letters only, and not an 8-digit hex token. */
static int name_word(const char *w, size_t n) {
  if (n == 0) return 0;
  int hex = n == 8;
  for (size_t i = 0; i < n; i++) {
    char c = w[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return 0;
    if (!is_hex(c)) hex = 0;
  }
  return !hex;
}

const char *sc_key_prefix(const char *key, size_t klen, size_t *len) {
  const char *p = key;
  size_t n = klen;
  /* a tuple key written as "('name-token', i, j)": the name */
  while (n > 0 && (*p == '(' || *p == '\'' || *p == '"' || *p == '_')) p++, n--;
  size_t end = 0;
  while (end < n && p[end] != ',' && p[end] != '\'' && p[end] != '"' && p[end] != ')') end++;
  /* the first '-' word, then the following words made of letters only */
  size_t cut = 0;
  while (cut < end && p[cut] != '-') cut++;
  while (cut < end) {
    size_t w = cut + 1, e = w;
    while (e < end && p[e] != '-') e++;
    if (!name_word(p + w, e - w)) break;
    cut = e;
  }
  if (cut == 0) { /* nothing left: the whole key names itself */
    *len = klen;
    return key;
  }
  *len = cut;
  return p;
}

int32_t sc_events_prefix_of(sc_events *e, const char *key, size_t klen) {
  int32_t last = e->last_prefix - 1; /* (stored + 1: a zeroed state means none) */
  if (last > 0 && last < e->nprefix) {
    /* Keys come in runs of one prefix: KEY is "LAST-word..." whose word
     * holds a character that is no letter (a token, an index) names LAST,
     * as sc_key_prefix would find, without scanning the whole key. */
    const char *lp = e->prefix[last];
    size_t ll = strlen(lp);
    if (klen > ll + 1 && key[ll] == '-' && memcmp(key, lp, ll) == 0) {
      for (size_t i = ll + 1; i < klen; i++) {
        char c = key[i];
        if (c == '-' || c == ',' || c == '\'' || c == '"' || c == ')') break;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return last;
      }
    }
  }
  size_t plen;
  const char *p = sc_key_prefix(key, klen, &plen);
  if (last >= 0 && last < e->nprefix && strlen(e->prefix[last]) == plen &&
      memcmp(e->prefix[last], p, plen) == 0)
    return last;
  void *v = ld_strmap_get(&e->prefix_ix, p, plen);
  if (v) {
    e->last_prefix = (int32_t)(intptr_t)v;
    return (int32_t)((intptr_t)v - 1);
  }
  if (e->nprefix >= SC_PREFIX_MAX) return SC_PREFIX_OTHER;
  if (e->nprefix == e->capprefix) {
    int32_t cap = e->capprefix ? e->capprefix * 2 : 16;
    char **q = realloc(e->prefix, (size_t)cap * sizeof *q);
    if (q == NULL) return SC_PREFIX_OTHER;
    e->prefix = q;
    e->capprefix = cap;
  }
  char *name = dupn(p, plen);
  if (name == NULL) return SC_PREFIX_OTHER;
  int32_t ix = e->nprefix;
  if (ld_strmap_put(&e->prefix_ix, name, plen, (void *)(intptr_t)(ix + 1)) != 0) {
    free(name);
    return SC_PREFIX_OTHER;
  }
  e->prefix[e->nprefix++] = name;
  e->last_prefix = ix + 1;
  return ix;
}
