/* wake.h — waking a libuv loop from another thread, without uv_async.
 *
 * uv_async_send (libuv 1.44) makes the loop thread busy-wait (then
 * sched_yield) while the sending thread finishes its call: when the write
 * that wakes the loop preempts the sender on a busy core, the loop spins.
 * An ld_wake is an eventfd (a pipe where there is none) watched by a
 * uv_poll handle, with an atomic flag so that many sends before the loop
 * runs cost one write: no spinning, one write and one read per wake-up.
 *
 * Use: the sender publishes its data (e.g. under a mutex), then calls
 * ld_wake_send. The loop clears the flag before calling CB, so data
 * published after CB has looked is followed by a new wake-up. */
#ifndef LDASK_NET_WAKE_H
#define LDASK_NET_WAKE_H

#include <stdatomic.h>
#include <uv.h>

typedef struct ld_wake ld_wake;
typedef void (*ld_wake_cb)(ld_wake *w);

struct ld_wake {
  uv_poll_t poll;
  int rfd, wfd;         /* the same eventfd, or a pipe's two ends */
  atomic_int pending;   /* a wake-up is on its way */
  ld_wake_cb cb;        /* called on the loop thread */
  ld_wake_cb on_closed; /* after ld_wake_close, from the close callback */
  void *data;           /* the user's */
};

/* Sets up W (storage owned by the caller, kept until ON_CLOSED of
 * ld_wake_close runs) on LOOP: CB runs on the loop's thread after sends.
 * Returns 0, or a negative libuv error: W still needs ld_wake_close
 * unless the error came before the handle existed (W->rfd is then -1). */
int ld_wake_init(uv_loop_t *loop, ld_wake *w, ld_wake_cb cb);

/* Wakes the loop: any thread, any number of times, until ld_wake_close. */
void ld_wake_send(ld_wake *w);

/* Stops watching (loop thread). The descriptors are closed in the handle's
 * close callback, which then calls ON_CLOSED (may be NULL): W's storage may
 * be freed from there on. No ld_wake_send may follow. */
void ld_wake_close(ld_wake *w, ld_wake_cb on_closed);

#endif
