/* keys.c — interned task keys: copies in reusable blocks, looked up through
 * the tree's string hash table (see keys.h). */
#include "sched/keys.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void ld_keys_init(ld_keys *k) {
  memset(k, 0, sizeof *k);
  ld_strmap_init(&k->map);
}

#define CHUNK ((size_t)65536)
#define BIG ((size_t)8 * LD_KEYS_CLASSES)

/* Bytes of the block holding a key of LEN bytes and its NUL. */
static size_t block_size(size_t len) { return (len + 1 + 7) & ~(size_t)7; }

/* A block for a key of LEN bytes, or NULL when out of memory. */
static char *block_new(ld_keys *k, size_t len) {
  size_t need = block_size(len);
  if (need > BIG) {
    char *b = malloc(need);
    if (b) k->big_bytes += need;
    return b;
  }
  size_t c = need / 8 - 1;
  char *b = k->free_blocks[c];
  if (b) {
    k->free_blocks[c] = *(char **)(void *)b; /* the next free block (8-aligned) */
    return b;
  }
  if (k->nchunks == 0 || k->chunk_used + need > CHUNK) {
    char **chunks = realloc(k->chunks, (size_t)(k->nchunks + 1) * sizeof *chunks);
    if (chunks == NULL) return NULL;
    k->chunks = chunks;
    chunks[k->nchunks] = malloc(CHUNK);
    if (chunks[k->nchunks] == NULL) return NULL;
    k->nchunks++;
    k->chunk_used = 0;
  }
  b = k->chunks[k->nchunks - 1] + k->chunk_used;
  k->chunk_used += need;
  return b;
}

/* Gives back block B of a key of LEN bytes. */
static void block_free(ld_keys *k, char *b, size_t len) {
  size_t need = block_size(len);
  if (need > BIG) {
    k->big_bytes -= need;
    free(b);
    return;
  }
  size_t c = need / 8 - 1;
  *(char **)(void *)b = k->free_blocks[c];
  k->free_blocks[c] = b;
}

void ld_keys_free(ld_keys *k) {
  for (int32_t i = 0; i < k->nids; i++)
    if (k->str[i] && block_size(k->len[i]) > BIG) free(k->str[i]);
  for (int32_t i = 0; i < k->nchunks; i++) free(k->chunks[i]);
  free(k->chunks);
  free(k->str);
  free(k->len);
  ld_strmap_free(&k->map);
  ld_keys_init(k);
}

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
  char *s = block_new(k, len);
  if (s == NULL) return -1;
  memcpy(s, key, len);
  s[len] = '\0';
  int rc = ld_strmap_add(&k->map, s, len, (void *)((intptr_t)id + 1));
  if (rc != 0) {
    block_free(k, s, len);
    return rc == 1 ? -2 : -1;
  }
  k->str[id] = s;
  k->len[id] = (uint32_t)len;
  k->count++;
  return 0;
}

void ld_keys_remove(ld_keys *k, int32_t id) {
  if (id < 0 || id >= k->nids || k->str[id] == NULL) return;
  char *s = k->str[id];
  size_t len = k->len[id];
  ld_strmap_del(&k->map, s, len);
  k->count--;
  k->str[id] = NULL;
  block_free(k, s, len);
}

const char *ld_keys_get(const ld_keys *k, int32_t id, size_t *len) {
  if (id < 0 || id >= k->nids || k->str[id] == NULL) return NULL;
  if (len) *len = k->len[id];
  return k->str[id];
}

size_t ld_keys_bytes(const ld_keys *k) {
  return (size_t)k->nchunks * (CHUNK + sizeof(char *)) + k->big_bytes +
         (size_t)k->nids * (sizeof *k->str + sizeof *k->len) + ld_strmap_bytes(&k->map);
}
