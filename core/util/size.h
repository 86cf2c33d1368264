/* size.h — parsing byte sizes written by people on command lines
 * ("4GiB", "512MB", "2e9", "100 kB"), shared by ldask-scheduler and
 * ldask-worker. */
#ifndef LDASK_UTIL_SIZE_H
#define LDASK_UTIL_SIZE_H

#include <stdint.h>

/* Parses S: a non-negative number with an optional unit (b, kB, MB, GB,
 * TB: powers of 1000; KiB, MiB, GiB, TiB: powers of 1024; k, m, g alone
 * as kB, MB, GB; case-insensitive; spaces allowed before the unit) into
 * *OUT bytes. Returns 0, or -1 when S is not such a size (OUT untouched). */
int ld_parse_size(const char *s, int64_t *out);

#endif
