/* version.c — the library's version, for programs and the Lua side to check
 * that they run against the library they were built with. */
#include "util/version.h"

const char *ld_version(void) { return LD_VERSION_STRING; }
