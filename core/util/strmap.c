/* strmap.c — the string-keyed hash map with removal (see strmap.h). */
#include "util/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

void ld_strmap_init(ld_strmap *m) {
  m->slots = NULL;
  m->cap = 0;
  m->count = 0;
}

void ld_strmap_free(ld_strmap *m) {
  free(m->slots);
  ld_strmap_init(m);
}

static uint32_t hash_of(const char *key, size_t len) { return (uint32_t)ld_hash64(key, len, 0); }

/* Index of KEY's slot, or of the empty slot where it would go. */
static size_t find(const ld_strmap *m, const char *key, size_t len, uint32_t h) {
  size_t mask = m->cap - 1, i = (size_t)h & mask;
  for (;;) {
    const ld_strmap_slot *s = &m->slots[i];
    if (s->key == NULL) return i;
    if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return i;
    i = (i + 1) & mask;
  }
}

void *ld_strmap_get(const ld_strmap *m, const char *key, size_t len) {
  if (m->cap == 0) return NULL;
  size_t i = find(m, key, len, hash_of(key, len));
  return m->slots[i].key ? m->slots[i].val : NULL;
}

static int grow(ld_strmap *m) {
  size_t ncap = m->cap ? m->cap * 2 : 64;
  ld_strmap_slot *ns = calloc(ncap, sizeof *ns);
  if (ns == NULL) return -1;
  ld_strmap old = *m;
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

/* Puts KEY -> VAL; when KEY is present, replaces its value if REPLACE.
 * Returns 0, 1 (present), -1 (no memory, or LEN too long). */
static int insert(ld_strmap *m, const char *key, size_t len, void *val, int replace) {
  if (len > UINT32_MAX) return -1;
  /* Load factor up to 0.8: the slots hold a 32-bit hash, so a probe costs
   * a compare of two integers until the key matches. */
  if ((m->count + 1) * 5 > m->cap * 4 && grow(m) != 0) return -1;
  uint32_t h = hash_of(key, len);
  size_t i = find(m, key, len, h);
  if (m->slots[i].key != NULL) {
    if (!replace) return 1;
  } else {
    m->count++;
  }
  m->slots[i] = (ld_strmap_slot){key, (uint32_t)len, h, val};
  return 0;
}

int ld_strmap_put(ld_strmap *m, const char *key, size_t len, void *val) {
  return insert(m, key, len, val, 1) < 0 ? -1 : 0;
}

int ld_strmap_add(ld_strmap *m, const char *key, size_t len, void *val) {
  return insert(m, key, len, val, 0);
}

void *ld_strmap_del(ld_strmap *m, const char *key, size_t len) {
  if (m->cap == 0) return NULL;
  size_t mask = m->cap - 1, i = find(m, key, len, hash_of(key, len));
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

ld_strmap_slot *ld_strmap_next(const ld_strmap *m, size_t *i) {
  while (*i < m->cap) {
    ld_strmap_slot *s = &m->slots[(*i)++];
    if (s->key) return s;
  }
  return NULL;
}

size_t ld_strmap_bytes(const ld_strmap *m) { return m->cap * sizeof(ld_strmap_slot); }
