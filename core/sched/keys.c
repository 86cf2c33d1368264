/* keys.c — interned task keys: copies in reusable blocks, looked up through
 * an index of ids (see keys.h). */
#include "sched/keys.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

void ld_keys_init(ld_keys *k) { memset(k, 0, sizeof *k); }

/* ---- the index: open addressing (linear probes) over {hash, id + 1};
 * the key itself is read from str[id], so it is stored once ---- */

static uint32_t key_hash(const char *key, size_t len) { return (uint32_t)ld_hash64(key, len, 0); }

/* The slot of KEY (hash H) in K's index, or of the empty slot where it
 * would go. The index must have an empty slot. */
static size_t slot_of(const ld_keys *k, const char *key, size_t len, uint32_t h) {
  size_t mask = k->cap - 1;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    const ld_keys_slot *e = &k->slots[i];
    if (e->id1 == 0) return i;
    int32_t id = e->id1 - 1;
    if (e->hash == h && k->len[id] == len && memcmp(k->str[id], key, len) == 0) return i;
  }
}

/* Doubles the index (64 slots at first). Returns 0, -1 out of memory. */
static int index_grow(ld_keys *k) {
  size_t ncap = k->cap ? k->cap * 2 : 64;
  ld_keys_slot *ns = calloc(ncap, sizeof *ns);
  if (ns == NULL) return -1;
  for (size_t i = 0; i < k->cap; i++) {
    const ld_keys_slot *e = &k->slots[i];
    if (e->id1 == 0) continue;
    size_t j = (size_t)e->hash & (ncap - 1);
    while (ns[j].id1 != 0) j = (j + 1) & (ncap - 1);
    ns[j] = *e;
  }
  free(k->slots);
  k->slots = ns;
  k->cap = ncap;
  return 0;
}

/* Empties slot I, moving later entries of its probe chain back so that
 * every entry stays reachable from its home slot. */
static void index_remove_at(ld_keys *k, size_t i) {
  size_t mask = k->cap - 1;
  for (size_t j = (i + 1) & mask; k->slots[j].id1 != 0; j = (j + 1) & mask) {
    size_t home = (size_t)k->slots[j].hash & mask;
    /* J may fill the hole at I when its home is not cyclically in (I, J] */
    int between = i < j ? (home > i && home <= j) : (home > i || home <= j);
    if (!between) {
      k->slots[i] = k->slots[j];
      i = j;
    }
  }
  k->slots[i].id1 = 0;
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
  free(k->slots);
  ld_keys_init(k);
}

int32_t ld_keys_find(const ld_keys *k, const char *key, size_t len) {
  if (k->cap == 0) return -1;
  size_t i = slot_of(k, key, len, key_hash(key, len));
  return k->slots[i].id1 - 1;
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
  /* Load factor up to 0.8: a probe compares the 32-bit hashes first. */
  if (((size_t)k->count + 1) * 5 > k->cap * 4 && index_grow(k) != 0) return -1;
  uint32_t h = key_hash(key, len);
  size_t at = slot_of(k, key, len, h);
  if (k->slots[at].id1 != 0) return -2;
  char *s = block_new(k, len);
  if (s == NULL) return -1;
  memcpy(s, key, len);
  s[len] = '\0';
  k->slots[at] = (ld_keys_slot){h, id + 1};
  k->str[id] = s;
  k->len[id] = (uint32_t)len;
  k->count++;
  return 0;
}

void ld_keys_remove(ld_keys *k, int32_t id) {
  if (id < 0 || id >= k->nids || k->str[id] == NULL) return;
  char *s = k->str[id];
  size_t len = k->len[id];
  size_t at = slot_of(k, s, len, key_hash(s, len));
  assert(k->slots[at].id1 == id + 1);
  index_remove_at(k, at);
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
         (size_t)k->nids * (sizeof *k->str + sizeof *k->len) + k->cap * sizeof *k->slots;
}
