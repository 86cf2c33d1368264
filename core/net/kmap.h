/* kmap.h — a hash map from byte-string keys (task keys, addresses) to
 * pointers, with removal: open addressing, linear probing, backward-shift
 * deletion. Used by ldask-scheduler and ldask-worker for their task and
 * data tables. Not thread-safe. */
#ifndef LDASK_NET_KMAP_H
#define LDASK_NET_KMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ld_kmap_slot {
  const char *key; /* borrowed: points into the value's own copy of the key */
  size_t len;
  uint64_t hash;
  void *val;
} ld_kmap_slot;

typedef struct ld_kmap {
  ld_kmap_slot *slots; /* owned */
  size_t cap;          /* power of two, 0 when empty */
  size_t count;
} ld_kmap;

/* Initialises an empty map (no allocation). */
void ld_kmap_init(ld_kmap *m);
/* Frees the slot array (not the keys or values). */
void ld_kmap_free(ld_kmap *m);
/* The value of KEY, or NULL. */
void *ld_kmap_get(const ld_kmap *m, const char *key, size_t len);
/* Sets KEY -> VAL. KEY is NOT copied: it must stay valid while present
 * (store it inside VAL). Returns 0, or -1 when out of memory. */
int ld_kmap_put(ld_kmap *m, const char *key, size_t len, void *val);
/* Removes KEY; returns its value or NULL. */
void *ld_kmap_del(ld_kmap *m, const char *key, size_t len);
/* Iteration: *I starts at 0; returns the next slot or NULL at the end. Do
 * not insert while iterating (deleting the returned slot's key is not safe
 * either: collect first). */
ld_kmap_slot *ld_kmap_next(const ld_kmap *m, size_t *i);

#endif
