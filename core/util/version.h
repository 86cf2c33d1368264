/* version.h — ldask's version, shared by every program and the wire protocol. */
#ifndef LDASK_VERSION_H
#define LDASK_VERSION_H

#define LD_VERSION_MAJOR 0
#define LD_VERSION_MINOR 1
#define LD_VERSION_PATCH 0
#define LD_VERSION_STRING "0.1.0"

/* Returns the version string of the loaded library (static storage). */
const char *ld_version(void);

#endif
