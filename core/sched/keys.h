/* keys.h — interned task keys of the scheduling engine: each task id's key
 * (one copy, in 64 KiB chunks of 8-byte-rounded blocks reused by size once
 * freed; keys over 256 bytes get their own allocation) and the map from key
 * to id: an index of 8-byte slots {hash, id + 1} that reads the key from
 * its one copy (a util/strmap.h table would hold a second pointer and
 * length per key: 24-byte slots, for millions of keys in ldask-scheduler). Keys
 * can be removed (forgotten tasks) and their ids reused; the memory held
 * stays bounded by the most keys alive at once. Used by schedulers that address tasks by key
 * (ldask-scheduler, error messages); the local driver may leave it empty. */
#ifndef LDASK_SCHED_KEYS_H
#define LDASK_SCHED_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define LD_KEYS_CLASSES 32 /* block sizes 8, 16, ..., 256 */

/* One slot of the index: the key's 32-bit hash and id + 1 (0: empty). */
typedef struct ld_keys_slot {
  uint32_t hash;
  int32_t id1;
} ld_keys_slot;

typedef struct ld_keys {
  ld_keys_slot *slots; /* owned: the index, CAP slots (a power of 2, or 0) */
  size_t cap;
  char **str;    /* owned; str[id] = its NUL-terminated copy, or NULL */
  uint32_t *len; /* owned; len[id] = its length */
  int32_t nids;  /* entries in str and len */
  char **chunks; /* owned; blocks of small keys */
  int32_t nchunks;
  size_t chunk_used;                  /* bytes used in the last chunk */
  char *free_blocks[LD_KEYS_CLASSES]; /* freed blocks by size, chained */
  size_t big_bytes;                   /* bytes of the keys over 256 bytes */
  int32_t count;                      /* keys set */
} ld_keys;

/* Initialises an empty key table (no allocation). */
void ld_keys_init(ld_keys *k);

/* Frees the table's storage and every key (not the struct). */
void ld_keys_free(ld_keys *k);

/* Sets the key of task ID (copied). Returns 0; -1 when out of memory; -2
 * when the key is already used by another task; -3 when ID already has a
 * key; -4 when the key holds a NUL byte. */
int ld_keys_set(ld_keys *k, int32_t id, const char *key, size_t len);

/* Removes the key of task ID (if any): the key is free for another task
 * and ID may get a new key. */
void ld_keys_remove(ld_keys *k, int32_t id);

/* Returns the task id of KEY, or -1 when unknown. */
int32_t ld_keys_find(const ld_keys *k, const char *key, size_t len);

/* Returns the key of task ID (NUL-terminated, owned by the table, valid
 * and unmoved until the key is removed) and its length in *LEN (may be
 * NULL), or NULL when unset. */
const char *ld_keys_get(const ld_keys *k, int32_t id, size_t *len);

/* Bytes of memory held by the table. */
size_t ld_keys_bytes(const ld_keys *k);

#endif
