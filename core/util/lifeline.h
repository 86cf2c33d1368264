/* lifeline.h — the child's end of a lifeline: a pipe whose write end only
 * the process that started us holds, so that end-of-file on our read end
 * means that process is gone, however it ended (exit, error, kill -9).
 * ldask-scheduler and ldask-worker take it as --lifeline-fd FD (a local
 * cluster passes it; runtime/lib/spawn.c is the parent's end) and stop
 * cleanly when it fires. A program started without the option is never
 * affected. */
#ifndef LDASK_UTIL_LIFELINE_H
#define LDASK_UTIL_LIFELINE_H

#include <stddef.h>
#include <uv.h>

typedef struct ld_lifeline ld_lifeline;

/* Reads V, the value of --lifeline-fd, into *FD: a descriptor open in
 * this process. Returns 0, or -1 with a message in ERR (ERRLEN bytes). */
int ld_lifeline_parse(const char *v, int *fd, char *err, size_t errlen);

/* Watches FD on LOOP and calls ON_GONE(ARG) once, from the loop, when it
 * reaches end-of-file (its last writer is gone). Takes ownership of FD
 * (closed with the watch; marked close-on-exec, so no program this one
 * starts inherits it). Returns the watch, to be released with
 * ld_lifeline_close, or NULL with a message in ERR (FD is then closed). */
ld_lifeline *ld_lifeline_watch(uv_loop_t *loop, int fd, void (*on_gone)(void *arg), void *arg,
                               char *err, size_t errlen);

/* Stops watching and closes the descriptor; the watch is freed in its
 * close callback (run the loop once more). NULL is a no-op. */
void ld_lifeline_close(ld_lifeline *l);

/* For a process without a loop (the nanny): waits up to TIMEOUT_MS for FD
 * and returns 1 when it has reached end-of-file, else 0. Does not take
 * FD. */
int ld_lifeline_gone(int fd, int timeout_ms);

#endif
