/* names.h — the one check of names that come over the wire and become
 * part of a file path on a worker (uploaded modules: NAME.lua), shared by
 * ldask-scheduler (which refuses a bad name before keeping it for the
 * workers that join later), ldask-worker and the client. */
#ifndef LDASK_UTIL_NAMES_H
#define LDASK_UTIL_NAMES_H

#include <stddef.h>

/* Validates NAME (LEN bytes) as a name that becomes part of a file path
 * on a worker (an uploaded module NAME.lua): 1..200 bytes, a Lua
 * identifier (letters, digits, '_', not starting with a digit), so no
 * '/', '\\', '.', NUL or other byte that could leave the directory or
 * mean something to a shell. Returns 1 when valid, else 0 with the
 * reason in ERR (may be NULL). The one rule shared by scheduler, worker
 * and client. */
int ld_valid_file_name(const char *name, size_t len, char *err, size_t errlen);

#endif
