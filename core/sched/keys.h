/* keys.h — interned task keys of the scheduling engine: one arena of key
 * bytes plus an open-addressing hash table from key to task id. Used by
 * schedulers that address tasks by key (ldask-scheduler, error messages);
 * the local driver may leave it empty. */
#ifndef LDASK_SCHED_KEYS_H
#define LDASK_SCHED_KEYS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ld_keys {
  char *arena;      /* owned; key bytes, each followed by a NUL */
  size_t used, cap; /* bytes in arena */
  int64_t *off;     /* owned; off[id] = start in arena, -1 when unset */
  int32_t noff;     /* entries in off */
  int32_t *slots;   /* owned; hash table of ids, -1 empty */
  int32_t nslots;   /* power of two */
  int32_t count;    /* keys set */
} ld_keys;

/* Initialises an empty key table (no allocation). */
void ld_keys_init(ld_keys *k);

/* Frees the table's storage (not the struct). */
void ld_keys_free(ld_keys *k);

/* Sets the key of task ID (copied). Returns 0; -1 when out of memory; -2
 * when the key is already used by another task; -3 when ID already has a
 * key; -4 when the key holds a NUL byte. */
int ld_keys_set(ld_keys *k, int32_t id, const char *key, size_t len);

/* Returns the task id of KEY, or -1 when unknown. */
int32_t ld_keys_find(const ld_keys *k, const char *key, size_t len);

/* Returns the key of task ID (NUL-terminated, owned by the table, valid
 * until the next ld_keys_set) and its length in *LEN, or NULL when unset. */
const char *ld_keys_get(const ld_keys *k, int32_t id, size_t *len);

/* Bytes of memory held by the table. */
size_t ld_keys_bytes(const ld_keys *k);

#endif
