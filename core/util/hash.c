/* hash.c — content hashing through libxxhash (Debian's libxxhash-dev):
 * deterministic tokens of task arguments and content hashes of functions. */
#include "util/hash.h"

#include <stdio.h>
#include <xxhash.h>

uint64_t ld_hash64(const void *data, size_t len, uint64_t seed) {
  return XXH3_64bits_withSeed(data, len, seed);
}

void ld_hash128_hex(const void *data, size_t len, char out[33]) {
  XXH128_hash_t h = XXH3_128bits(data, len);
  snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64, (unsigned long long)h.low64);
}
