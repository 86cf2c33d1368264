/* keys.c — interned task keys: one copy per key, looked up through the
 * tree's string hash table (see keys.h). */
#include "sched/keys.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void ld_keys_init(ld_keys *k) {
  memset(k, 0, sizeof *k);
  ld_strmap_init(&k->map);
}

void ld_keys_free(ld_keys *k) {
  for (int32_t i = 0; i < k->nids; i++) free(k->str[i]);
  free(k->str);
  free(k->len);
  ld_strmap_free(&k->map);
  ld_keys_init(k);
}

/* What a copy of LEN bytes costs, allocator header and rounding included. */
static size_t copy_cost(size_t len) { return ((len + 1 + 8 + 15) / 16) * 16; }

int32_t ld_keys_find(const ld_keys *k, const char *key, size_t len) {
  void *v = ld_strmap_get(&k->map, key, len);
  return v ? (int32_t)((intptr_t)v - 1) : -1;
}

int ld_keys_set(ld_keys *k, int32_t id, const char *key, size_t len) {
  if (id < 0 || len > UINT32_MAX) return -1;
  if (memchr(key, '\0', len) != NULL) return -4;
  if (id >= k->nids) {
    int32_t n = k->nids ? k->nids : 1024;
    while (n <= id) n = n > INT32_MAX / 2 ? INT32_MAX : n * 2;
    char **str = realloc(k->str, (size_t)n * sizeof *str);
    if (str == NULL) return -1;
    memset(str + k->nids, 0, (size_t)(n - k->nids) * sizeof *str);
    k->str = str;
    uint32_t *lens = realloc(k->len, (size_t)n * sizeof *lens);
    if (lens == NULL) return -1; /* str grew: harmless, nids unchanged */
    k->len = lens;
    k->nids = n;
  }
  if (k->str[id] != NULL) return -3;
  char *s = malloc(len + 1);
  if (s == NULL) return -1;
  memcpy(s, key, len);
  s[len] = '\0';
  int rc = ld_strmap_add(&k->map, s, len, (void *)((intptr_t)id + 1));
  if (rc != 0) {
    free(s);
    return rc == 1 ? -2 : -1;
  }
  k->str[id] = s;
  k->len[id] = (uint32_t)len;
  k->bytes += copy_cost(len);
  k->count++;
  return 0;
}

void ld_keys_remove(ld_keys *k, int32_t id) {
  if (id < 0 || id >= k->nids || k->str[id] == NULL) return;
  char *s = k->str[id];
  size_t len = k->len[id];
  ld_strmap_del(&k->map, s, len);
  k->bytes -= copy_cost(len);
  k->count--;
  k->str[id] = NULL;
  free(s);
}

const char *ld_keys_get(const ld_keys *k, int32_t id, size_t *len) {
  if (id < 0 || id >= k->nids || k->str[id] == NULL) return NULL;
  if (len) *len = k->len[id];
  return k->str[id];
}

size_t ld_keys_bytes(const ld_keys *k) {
  return k->bytes + (size_t)k->nids * (sizeof *k->str + sizeof *k->len) + ld_strmap_bytes(&k->map);
}
