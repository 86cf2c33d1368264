/* hash.h — content hashes (xxHash's XXH3) for tokens and function caches. */
#ifndef LDASK_HASH_H
#define LDASK_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Returns the 64-bit XXH3 hash of LEN bytes at DATA, continued from SEED. */
uint64_t ld_hash64(const void *data, size_t len, uint64_t seed);

/* Writes the 128-bit XXH3 hash of LEN bytes at DATA as 32 lowercase hex
 * digits plus a NUL into OUT (33 bytes, caller's storage). */
void ld_hash128_hex(const void *data, size_t len, char out[33]);

#endif
