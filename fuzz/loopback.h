/* loopback.h — drives a libuv program's server from a fuzz harness over
 * real loopback TCP connections: the harness's own sockets send framed
 * messages (or raw bytes) to a server listening on LOOP, running LOOP
 * between writes, then close their sending side and run LOOP until the
 * server has closed every connection (a connection still open a few
 * seconds after its peer's EOF is reported as a hang). Messages come from
 * the fuzz input (the format in docs/fuzzing.md, "Message inputs"). */
#ifndef LDASK_FUZZ_LOOPBACK_H
#define LDASK_FUZZ_LOOPBACK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common.h"

#define FZ_MAX_CONNS 4

/* Roles a harness connection introduces itself with (hello sent by the
 * harness), or FZ_RAW: nothing is sent for it but the input's bytes. */
enum { FZ_CLIENT = 0, FZ_WORKER = 1, FZ_RAW = 2, FZ_PEER = 3 };

/* Plays the message input IN against the server listening on PORT of
 * LOOP: the first byte gives the roles of the FZ_MAX_CONNS connections
 * (2 bits each), then records follow (see docs/fuzzing.md). Returns the
 * bytes the server sent back over all connections. */
size_t fz_play(uv_loop_t *loop, int port, fz_in *in);

#endif
