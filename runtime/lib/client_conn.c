/* client_conn.c — the client side of ldask's protocol for the user's
 * process: a background thread runs a libuv loop holding one connection to
 * ldask-scheduler, so messages arrive (futures complete) while the script
 * or the REPL goes on. The Lua client (lua/ldask/client/) sends through a
 * locked outbox and takes received messages from a locked inbox; it never
 * touches the loop. Declared for the FFI in lua/ldask/ffi/client.lua. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "client_conn.h"
#include "net/conn.h"
#include "net/mp.h"

struct ld_client {
  uv_loop_t loop;
  uv_async_t wake;
  ld_conn *conn;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  ld_msg *out_head, *out_tail; /* to send */
  ld_msg *in_head, *in_tail;   /* received */
  size_t nin;
  int welcomed; /* the scheduler's welcome arrived */
  int closed;   /* the connection is gone */
  int stopping;
  char addr[128];
  char error[512];
};

static void push(ld_msg **head, ld_msg **tail, ld_msg *m) {
  m->next = NULL;
  if (*tail)
    (*tail)->next = m;
  else
    *head = m;
  *tail = m;
}

static void on_msg(ld_conn *c, ld_msg *m, const msgpack_object *h) {
  ld_client *cl = ld_conn_data(c);
  const msgpack_object *op = ld_mp_get(h, "op");
  pthread_mutex_lock(&cl->mu);
  if (ld_mp_str_eq(op, "hello")) {
    ld_msg_free(m);
  } else {
    if (ld_mp_str_eq(op, "welcome")) cl->welcomed = 1;
    push(&cl->in_head, &cl->in_tail, m);
    cl->nin++;
  }
  pthread_mutex_unlock(&cl->mu);
  pthread_cond_broadcast(&cl->cv); /* after unlocking: the waiter can run at once */
}

static void on_close(ld_conn *c, const char *reason) {
  ld_client *cl = ld_conn_data(c);
  pthread_mutex_lock(&cl->mu);
  cl->closed = 1;
  cl->conn = NULL;
  if (cl->error[0] == '\0') snprintf(cl->error, sizeof cl->error, "%s", reason);
  pthread_cond_broadcast(&cl->cv);
  pthread_mutex_unlock(&cl->mu);
}

static const ld_conn_handlers handlers = {on_msg, on_close};

static void on_wake(uv_async_t *a) {
  ld_client *cl = a->data;
  pthread_mutex_lock(&cl->mu);
  ld_msg *m = cl->out_head;
  cl->out_head = cl->out_tail = NULL;
  int stopping = cl->stopping;
  pthread_mutex_unlock(&cl->mu);
  while (m) {
    ld_msg *next = m->next;
    if (cl->conn)
      ld_conn_send(cl->conn, m);
    else
      ld_msg_free(m);
    m = next;
  }
  if (stopping) {
    if (cl->conn) ld_conn_close(cl->conn, "client closed", 1);
    uv_close((uv_handle_t *)&cl->wake, NULL);
  }
}

static void *thread_main(void *p) {
  ld_client *cl = p;
  uv_run(&cl->loop, UV_RUN_DEFAULT);
  return NULL;
}

static void deadline_in(struct timespec *ts, double seconds) {
  clock_gettime(CLOCK_REALTIME, ts);
  double whole = (double)(long)seconds;
  ts->tv_sec += (time_t)whole;
  ts->tv_nsec += (long)((seconds - whole) * 1e9);
  if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

/* Connects to the scheduler at ADDR and waits up to TIMEOUT seconds for its
 * welcome. Returns the client (free with ld_client_free), or NULL with a
 * message in ERR naming the address and the reason. */
ld_client *ld_client_new(const char *addr, double timeout, char *err, size_t errlen) {
  ld_client *cl = calloc(1, sizeof *cl);
  if (cl == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  snprintf(cl->addr, sizeof cl->addr, "%s", addr);
  pthread_mutex_init(&cl->mu, NULL);
  pthread_cond_init(&cl->cv, NULL);
  uv_loop_init(&cl->loop);
  uv_async_init(&cl->loop, &cl->wake, on_wake);
  cl->wake.data = cl;
  char cerr[256];
  cl->conn = ld_conn_connect(&cl->loop, addr, "client", &handlers, cl, cerr, sizeof cerr);
  if (cl->conn == NULL) {
    snprintf(err, errlen, "%s", cerr);
    uv_close((uv_handle_t *)&cl->wake, NULL);
    uv_run(&cl->loop, UV_RUN_DEFAULT);
    uv_loop_close(&cl->loop);
    free(cl);
    return NULL;
  }
  if (pthread_create(&cl->thread, NULL, thread_main, cl) != 0) {
    snprintf(err, errlen, "cannot start the client's network thread");
    ld_conn_close(cl->conn, "no thread", 0);
    uv_close((uv_handle_t *)&cl->wake, NULL);
    uv_run(&cl->loop, UV_RUN_DEFAULT);
    uv_loop_close(&cl->loop);
    free(cl);
    return NULL;
  }
  struct timespec ts;
  deadline_in(&ts, timeout);
  pthread_mutex_lock(&cl->mu);
  int rc = 0;
  while (!cl->welcomed && !cl->closed && rc == 0)
    rc = pthread_cond_timedwait(&cl->cv, &cl->mu, &ts);
  int ok = cl->welcomed;
  if (!ok) {
    if (cl->closed)
      snprintf(err, errlen, "cannot connect to the scheduler at %s: %s", addr, cl->error);
    else
      snprintf(err, errlen, "no answer from the scheduler at %s within %g s", addr, timeout);
  }
  pthread_mutex_unlock(&cl->mu);
  if (!ok) {
    ld_client_free(cl);
    return NULL;
  }
  return cl;
}

/* Queues a message: header HDR (LEN bytes, copied) and N buffers (each
 * retained by the message). Thread-safe. Returns 0, or -1 when the
 * connection is closed (see ld_client_error) or out of memory. */
int ld_client_send(ld_client *cl, const char *hdr, size_t len, ld_buffer *const *bufs, uint32_t n) {
  ld_msg *m = ld_msg_make(hdr, len, bufs, n);
  if (m == NULL) return -1;
  pthread_mutex_lock(&cl->mu);
  if (cl->closed || cl->stopping) {
    pthread_mutex_unlock(&cl->mu);
    ld_msg_free(m);
    return -1;
  }
  push(&cl->out_head, &cl->out_tail, m);
  pthread_mutex_unlock(&cl->mu);
  uv_async_send(&cl->wake);
  return 0;
}

/* Queues a message whose N frames after the header are either bytes
 * (BUFS[i] == NULL: LENS[i] bytes at PTRS[i], copied) or buffers (BUFS[i],
 * retained by the message). One call per message however many frames: the
 * Lua client sends its task payloads this way. Thread-safe. Returns 0, or
 * -1 when the connection is closed or out of memory. */
int ld_client_send_parts(ld_client *cl, const char *hdr, size_t len, const char *const *ptrs,
                         const size_t *lens, ld_buffer *const *bufs, uint32_t n) {
  ld_msg *m = ld_msg_make(hdr, len, NULL, 0);
  if (m == NULL) return -1;
  ld_buffer **frames = realloc(m->frames, (size_t)(n + 1) * sizeof *frames);
  if (frames == NULL) {
    ld_msg_free(m);
    return -1;
  }
  m->frames = frames;
  for (uint32_t i = 0; i < n; i++) {
    if (bufs && bufs[i]) {
      frames[i + 1] = ld_buffer_retain(bufs[i]);
    } else {
      frames[i + 1] = ld_buffer_new(lens[i]);
      if (frames[i + 1] == NULL) {
        m->nframes = i + 1;
        ld_msg_free(m);
        return -1;
      }
      if (lens[i]) memcpy(frames[i + 1]->data, ptrs[i], lens[i]);
    }
    m->nframes = i + 2;
  }
  pthread_mutex_lock(&cl->mu);
  if (cl->closed || cl->stopping) {
    pthread_mutex_unlock(&cl->mu);
    ld_msg_free(m);
    return -1;
  }
  push(&cl->out_head, &cl->out_tail, m);
  pthread_mutex_unlock(&cl->mu);
  uv_async_send(&cl->wake);
  return 0;
}

/* Takes the oldest received message, waiting up to TIMEOUT seconds (0: do
 * not wait). Returns it (the caller owns it: ld_msg_free), or NULL when
 * none arrived in time or the connection is closed and drained. */
ld_msg *ld_client_recv(ld_client *cl, double timeout) {
  pthread_mutex_lock(&cl->mu);
  if (cl->in_head == NULL && timeout > 0 && !cl->closed) {
    struct timespec ts;
    deadline_in(&ts, timeout);
    int rc = 0;
    while (cl->in_head == NULL && !cl->closed && rc == 0)
      rc = pthread_cond_timedwait(&cl->cv, &cl->mu, &ts);
  }
  ld_msg *m = cl->in_head;
  if (m) {
    cl->in_head = m->next;
    if (cl->in_head == NULL) cl->in_tail = NULL;
    m->next = NULL;
    cl->nin--;
  }
  pthread_mutex_unlock(&cl->mu);
  return m;
}

/* Messages waiting in the inbox. */
size_t ld_client_pending(ld_client *cl) {
  pthread_mutex_lock(&cl->mu);
  size_t n = cl->nin;
  pthread_mutex_unlock(&cl->mu);
  return n;
}

/* Non-zero once the connection is gone; ld_client_error then says why. */
int ld_client_closed(ld_client *cl) {
  pthread_mutex_lock(&cl->mu);
  int c = cl->closed;
  pthread_mutex_unlock(&cl->mu);
  return c;
}

/* Why the connection closed (static storage in CL; "" while open). */
const char *ld_client_error(ld_client *cl) { return cl->error; }

/* Closes the connection (queued messages are written first), stops the
 * thread, frees CL and every message not taken. NULL is ignored. */
void ld_client_free(ld_client *cl) {
  if (cl == NULL) return;
  pthread_mutex_lock(&cl->mu);
  cl->stopping = 1;
  pthread_mutex_unlock(&cl->mu);
  uv_async_send(&cl->wake);
  pthread_join(cl->thread, NULL);
  uv_loop_close(&cl->loop);
  for (ld_msg *m = cl->in_head; m;) {
    ld_msg *n = m->next;
    ld_msg_free(m);
    m = n;
  }
  for (ld_msg *m = cl->out_head; m;) {
    ld_msg *n = m->next;
    ld_msg_free(m);
    m = n;
  }
  pthread_mutex_destroy(&cl->mu);
  pthread_cond_destroy(&cl->cv);
  free(cl);
}

/* Monotonic seconds, for the client's timeouts. */
double ld_client_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* This process's id (for --parent-pid of a local cluster). */
int ld_client_pid(void) { return (int)getpid(); }
