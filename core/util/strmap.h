/* strmap.h — the one string hash table of the tree: a map from byte-string
 * keys to pointers, with removal (open addressing, linear probing,
 * backward-shift deletion). Used by the scheduling engine's key interning
 * (core/sched/keys.c), ldask-scheduler's per-client and per-worker key sets
 * and ldask-worker's task and data tables. Keys are borrowed: the caller
 * keeps each key's bytes alive and unmoved while it is in the map (usually
 * inside the value). Not thread-safe. */
#ifndef LDASK_UTIL_STRMAP_H
#define LDASK_UTIL_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ld_strmap_slot {
  const char *key; /* borrowed; NULL marks an empty slot */
  uint32_t len;
  uint32_t hash; /* low 32 bits of the key's hash */
  void *val;
} ld_strmap_slot;

typedef struct ld_strmap {
  ld_strmap_slot *slots; /* owned */
  size_t cap;            /* power of two, 0 when empty */
  size_t count;
} ld_strmap;

/* Initialises an empty map (no allocation). */
void ld_strmap_init(ld_strmap *m);
/* Frees the slot array (not the keys or values); the map is empty after. */
void ld_strmap_free(ld_strmap *m);
/* The value of KEY, or NULL. */
void *ld_strmap_get(const ld_strmap *m, const char *key, size_t len);
/* Sets KEY -> VAL (replacing the value of an equal key). KEY is NOT
 * copied: it must stay valid while present. Returns 0, or -1 when out of
 * memory or LEN does not fit 32 bits (the map is then unchanged). */
int ld_strmap_put(ld_strmap *m, const char *key, size_t len, void *val);
/* Sets KEY -> VAL only when KEY is absent (one probe sequence). Returns 0,
 * 1 when KEY is present (nothing changed), or -1 as ld_strmap_put. */
int ld_strmap_add(ld_strmap *m, const char *key, size_t len, void *val);
/* Removes KEY; returns its value, or NULL when absent. */
void *ld_strmap_del(ld_strmap *m, const char *key, size_t len);
/* Iteration: *I starts at 0; returns the next slot or NULL at the end. Do
 * not insert or delete while iterating (collect first). */
ld_strmap_slot *ld_strmap_next(const ld_strmap *m, size_t *i);
/* Bytes of memory held by the map's slots. */
size_t ld_strmap_bytes(const ld_strmap *m);

#endif
