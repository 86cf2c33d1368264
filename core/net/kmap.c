/* kmap.c — string-keyed hash map with deletion (see kmap.h). */
#include "net/kmap.h"

#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

void ld_kmap_init(ld_kmap *m) {
  m->slots = NULL;
  m->cap = 0;
  m->count = 0;
}

void ld_kmap_free(ld_kmap *m) {
  free(m->slots);
  ld_kmap_init(m);
}

static size_t find(const ld_kmap *m, const char *key, size_t len, uint64_t h) {
  size_t mask = m->cap - 1, i = (size_t)h & mask;
  for (;;) {
    ld_kmap_slot *s = &m->slots[i];
    if (s->key == NULL) return i;
    if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return i;
    i = (i + 1) & mask;
  }
}

void *ld_kmap_get(const ld_kmap *m, const char *key, size_t len) {
  if (m->cap == 0) return NULL;
  size_t i = find(m, key, len, ld_hash64(key, len, 0));
  return m->slots[i].key ? m->slots[i].val : NULL;
}

static int grow(ld_kmap *m) {
  size_t ncap = m->cap ? m->cap * 2 : 64;
  ld_kmap_slot *ns = calloc(ncap, sizeof *ns);
  if (ns == NULL) return -1;
  ld_kmap old = *m;
  m->slots = ns;
  m->cap = ncap;
  for (size_t i = 0; i < old.cap; i++) {
    if (old.slots[i].key == NULL) continue;
    size_t j = find(m, old.slots[i].key, old.slots[i].len, old.slots[i].hash);
    m->slots[j] = old.slots[i];
  }
  free(old.slots);
  return 0;
}

int ld_kmap_put(ld_kmap *m, const char *key, size_t len, void *val) {
  if ((m->count + 1) * 4 > m->cap * 3 && grow(m) != 0) return -1;
  uint64_t h = ld_hash64(key, len, 0);
  size_t i = find(m, key, len, h);
  if (m->slots[i].key == NULL) m->count++;
  m->slots[i] = (ld_kmap_slot){key, len, h, val};
  return 0;
}

void *ld_kmap_del(ld_kmap *m, const char *key, size_t len) {
  if (m->cap == 0) return NULL;
  size_t mask = m->cap - 1, i = find(m, key, len, ld_hash64(key, len, 0));
  if (m->slots[i].key == NULL) return NULL;
  void *val = m->slots[i].val;
  /* Backward-shift deletion keeps probe chains intact. */
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (m->slots[j].key == NULL) break;
    size_t home = (size_t)m->slots[j].hash & mask;
    /* Move J into the hole at I when its home is not in (I, J]. */
    if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
      m->slots[i] = m->slots[j];
      i = j;
    }
  }
  m->slots[i].key = NULL;
  m->count--;
  return val;
}

ld_kmap_slot *ld_kmap_next(const ld_kmap *m, size_t *i) {
  while (*i < m->cap) {
    ld_kmap_slot *s = &m->slots[(*i)++];
    if (s->key) return s;
  }
  return NULL;
}
