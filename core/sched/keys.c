/* keys.c — interned task keys: arena + open addressing (see keys.h). */
#include "sched/keys.h"

#include <stdlib.h>
#include <string.h>

void ld_keys_init(ld_keys *k) { memset(k, 0, sizeof *k); }

void ld_keys_free(ld_keys *k) {
  free(k->arena);
  free(k->off);
  free(k->slots);
  ld_keys_init(k);
}

/* FNV-1a, 64 bits. */
static uint64_t hash_bytes(const char *s, size_t len) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

static const char *key_at(const ld_keys *k, int32_t id) { return k->arena + k->off[id]; }

static int grow_slots(ld_keys *k) {
  int32_t n = k->nslots ? k->nslots * 2 : 1024;
  int32_t *slots = malloc((size_t)n * sizeof *slots);
  if (slots == NULL) return -1;
  memset(slots, 0xff, (size_t)n * sizeof *slots);
  for (int32_t i = 0; i < k->nslots; i++) {
    int32_t id = k->slots[i];
    if (id < 0) continue;
    const char *s = key_at(k, id);
    uint64_t h = hash_bytes(s, strlen(s));
    size_t j = (size_t)h & (size_t)(n - 1);
    while (slots[j] >= 0) j = (j + 1) & (size_t)(n - 1);
    slots[j] = id;
  }
  free(k->slots);
  k->slots = slots;
  k->nslots = n;
  return 0;
}

int32_t ld_keys_find(const ld_keys *k, const char *key, size_t len) {
  if (k->nslots == 0) return -1;
  size_t mask = (size_t)(k->nslots - 1);
  size_t j = (size_t)hash_bytes(key, len) & mask;
  for (;;) {
    int32_t id = k->slots[j];
    if (id < 0) return -1;
    const char *s = key_at(k, id);
    if (memcmp(s, key, len) == 0 && s[len] == '\0') return id;
    j = (j + 1) & mask;
  }
}

int ld_keys_set(ld_keys *k, int32_t id, const char *key, size_t len) {
  if (memchr(key, '\0', len) != NULL) return -1 - 3; /* -4: NUL in key */
  if (id >= k->noff) {
    int32_t n = k->noff ? k->noff : 1024;
    while (n <= id) n *= 2;
    int64_t *off = realloc(k->off, (size_t)n * sizeof *off);
    if (off == NULL) return -1;
    for (int32_t i = k->noff; i < n; i++) off[i] = -1;
    k->off = off;
    k->noff = n;
  }
  if (k->off[id] >= 0) return -3;
  if (ld_keys_find(k, key, len) >= 0) return -2;
  if ((int64_t)(k->count + 1) * 4 > (int64_t)k->nslots * 3 && grow_slots(k) != 0) return -1;
  if (k->used + len + 1 > k->cap) {
    size_t ncap = k->cap ? k->cap : 16384;
    while (ncap < k->used + len + 1) ncap *= 2;
    char *a = realloc(k->arena, ncap);
    if (a == NULL) return -1;
    k->arena = a;
    k->cap = ncap;
  }
  memcpy(k->arena + k->used, key, len);
  k->arena[k->used + len] = '\0';
  k->off[id] = (int64_t)k->used;
  k->used += len + 1;
  size_t mask = (size_t)(k->nslots - 1);
  size_t j = (size_t)hash_bytes(key, len) & mask;
  while (k->slots[j] >= 0) j = (j + 1) & mask;
  k->slots[j] = id;
  k->count++;
  return 0;
}

const char *ld_keys_get(const ld_keys *k, int32_t id, size_t *len) {
  if (id < 0 || id >= k->noff || k->off[id] < 0) return NULL;
  const char *s = key_at(k, id);
  if (len) *len = strlen(s);
  return s;
}

size_t ld_keys_bytes(const ld_keys *k) {
  return k->cap + (size_t)k->noff * sizeof *k->off + (size_t)k->nslots * sizeof *k->slots;
}
