/* spawn.h — starting a local cluster's processes from the user's process
 * (lua/ldask/client/cluster.lua, through the FFI: lua/ldask/ffi/client.lua)
 * and the parent's end of their lifeline (core/util/lifeline.h). */
#ifndef LDASK_SPAWN_H
#define LDASK_SPAWN_H

#include <stddef.h>

/* The read end of this process's lifeline pipe, made on the first call
 * (thread-safe). Both ends are close-on-exec; the write end is never
 * closed, so it goes only when this process ends, and a process given the
 * read end (ld_spawn_detached) sees end-of-file then. Returns the
 * descriptor (owned by this module: do not close it), or -1 with a
 * message in ERR. */
int ld_lifeline_parent_fd(char *err, size_t errlen);

/* Runs CMD with /bin/sh -c as a detached grandchild: its own session (no
 * terminal's Ctrl-C), reparented away from us (never our zombie), stdin
 * from /dev/null, every descriptor of ours closed at exec except LIFELINE
 * (>= 0), which it gets as descriptor 3. CMD does its own output
 * redirection; starting with "exec" keeps the returned pid the program's.
 * Returns the pid of that shell, or -1 with a message in ERR. */
int ld_spawn_detached(const char *cmd, int lifeline, char *err, size_t errlen);

#endif
