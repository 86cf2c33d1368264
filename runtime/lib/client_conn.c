/* client_conn.c — the client side of ldask's protocol for the user's
 * process: a background thread runs a libuv loop holding one connection to
 * ldask-scheduler, so messages arrive (futures complete) while the script
 * or the REPL goes on. The Lua client (lua/ldask/client/) takes received
 * messages from a locked inbox and sends from its own thread: straight to
 * the socket (a dup of its descriptor) while the loop has nothing of ours
 * to write, else through a locked outbox that wakes the loop (ld_wake). It
 * never touches the loop itself. A wait for one reply may first stay awake
 * a little (ld_client_recv_spin): the reply is then taken without waking
 * the Lua thread. Declared for the FFI in lua/ldask/ffi/client.lua. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "client_conn.h"
#include "net/auth.h"
#include "net/conn.h"
#include "net/mp.h"
#include "net/wake.h"

struct ld_client {
  uv_loop_t loop;
  ld_wake wake; /* Lua thread -> loop: the outbox has messages, or stop */
  ld_conn *conn;
  ld_sec *sec; /* owned: token and TLS settings of the connection */
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  ld_msg *out_head, *out_tail; /* to send */
  ld_msg *in_head, *in_tail;   /* received */
  size_t nin;
  atomic_size_t arrived; /* messages pushed to the inbox so far (for spinners) */
  int welcomed;          /* the scheduler's welcome arrived */
  int dfd;               /* dup of the socket for direct writes, -1 when none */
  int busy;              /* the loop thread has messages to write (outbox or conn) */
  int closed;            /* the connection is gone */
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
    if (ld_mp_str_eq(op, "welcome")) {
      cl->welcomed = 1;
      int fd = ld_conn_fd(c);
      if (cl->dfd < 0 && fd >= 0) cl->dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    }
    push(&cl->in_head, &cl->in_tail, m);
    cl->nin++;
    atomic_fetch_add_explicit(&cl->arrived, 1, memory_order_release);
  }
  pthread_mutex_unlock(&cl->mu);
  pthread_cond_broadcast(&cl->cv); /* after unlocking: the waiter can run at once */
}

static void on_close(ld_conn *c, const char *reason) {
  ld_client *cl = ld_conn_data(c);
  pthread_mutex_lock(&cl->mu);
  cl->closed = 1;
  cl->conn = NULL;
  if (cl->dfd >= 0) close(cl->dfd);
  cl->dfd = -1;
  if (cl->error[0] == '\0') snprintf(cl->error, sizeof cl->error, "%s", reason);
  pthread_cond_broadcast(&cl->cv);
  pthread_mutex_unlock(&cl->mu);
}

static const ld_conn_handlers handlers = {on_msg, on_close};

/* The conn wrote everything it was given: unless more waits in the
 * outbox, the Lua thread may write to the socket itself again. */
static void on_drained(ld_conn *c) {
  ld_client *cl = ld_conn_data(c);
  pthread_mutex_lock(&cl->mu);
  if (cl->out_head == NULL) cl->busy = 0;
  pthread_mutex_unlock(&cl->mu);
}

static void on_wake(ld_wake *k) {
  ld_client *cl = k->data;
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
    ld_wake_close(&cl->wake, NULL);
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
  return ld_client_connect(addr, timeout, NULL, NULL, NULL, NULL, err, errlen);
}

/* ld_client_new with security settings (net/auth.h; each NULL when not
 * given, then taken from LDASK_AUTH_TOKEN_FILE and LDASK_TLS_*): the token
 * file, and the TLS CA, certificate and key files. A bad file fails here
 * with ERR naming it. */
ld_client *ld_client_connect(const char *addr, double timeout, const char *token_file,
                             const char *tls_ca, const char *tls_cert, const char *tls_key,
                             char *err, size_t errlen) {
  ld_sec_opts so = {token_file, tls_ca, tls_cert, tls_key, 0};
  ld_sec_opts_env(&so);
  ld_sec *sec = ld_sec_new(&so, err, errlen);
  if (sec == NULL) return NULL;
  ld_client *cl = calloc(1, sizeof *cl);
  if (cl == NULL) {
    ld_sec_free(sec);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  cl->sec = sec;
  snprintf(cl->addr, sizeof cl->addr, "%s", addr);
  cl->dfd = -1;
  cl->busy = 1; /* until the hello is written */
  pthread_mutex_init(&cl->mu, NULL);
  pthread_cond_init(&cl->cv, NULL);
  uv_loop_init(&cl->loop);
  cl->wake.data = cl;
  int wrc = ld_wake_init(&cl->loop, &cl->wake, on_wake);
  if (wrc < 0) {
    snprintf(err, errlen, "cannot create the client's wake-up: %s", uv_strerror(wrc));
    if (cl->wake.rfd >= 0) ld_wake_close(&cl->wake, NULL);
    uv_run(&cl->loop, UV_RUN_DEFAULT);
    uv_loop_close(&cl->loop);
    ld_sec_free(cl->sec);
    free(cl);
    return NULL;
  }
  char cerr[256];
  cl->conn =
      ld_conn_connect_sec(&cl->loop, addr, "client", cl->sec, &handlers, cl, cerr, sizeof cerr);
  if (cl->conn) ld_conn_set_on_drained(cl->conn, on_drained);
  if (cl->conn == NULL) {
    snprintf(err, errlen, "%s", cerr);
    ld_wake_close(&cl->wake, NULL);
    uv_run(&cl->loop, UV_RUN_DEFAULT);
    uv_loop_close(&cl->loop);
    ld_sec_free(cl->sec);
    free(cl);
    return NULL;
  }
  if (pthread_create(&cl->thread, NULL, thread_main, cl) != 0) {
    snprintf(err, errlen, "cannot start the client's network thread");
    ld_conn_close(cl->conn, "no thread", 0);
    ld_wake_close(&cl->wake, NULL);
    uv_run(&cl->loop, UV_RUN_DEFAULT);
    uv_loop_close(&cl->loop);
    ld_sec_free(cl->sec);
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

/* Segment I of M on the wire: 0 the prefix (PFX, PLEN bytes), then frames. */
static void segment(const ld_msg *m, const unsigned char *pfx, size_t plen, uint32_t i,
                    const char **base, size_t *len) {
  if (i == 0) {
    *base = (const char *)pfx, *len = plen;
  } else {
    ld_buffer *f = m->frames[i - 1];
    *base = f ? f->data : NULL, *len = f ? f->size : 0;
  }
}

/* Writes as much of M to the socket FD as it takes now, without blocking.
 * Takes ownership of M. Returns NULL when all of M went out, or what is
 * left to queue: M itself when nothing was written, else a raw message
 * (ld_msg.raw) of the rest of the segment being written followed by the
 * untouched frames (references, not copies). *FAILED is set when the
 * connection cannot go on (out of memory halfway: the socket is shut down
 * so that the failure shows as a closed connection, not a torn stream). */
static ld_msg *write_direct(int fd, ld_msg *m, int *failed) {
  unsigned char small[4 + 8 * 16];
  size_t plen = m->raw ? 0 : 4 + 8 * (size_t)m->nframes; /* raw: framed already */
  unsigned char *pfx = plen <= sizeof small ? small : malloc(plen);
  if (pfx == NULL) return m;
  if (!m->raw) ld_msg_prefix(m, pfx);
  uint32_t nseg = m->nframes + 1, seg = 0;
  size_t off = 0; /* into segment SEG */
  uint64_t done = 0;
  for (;;) {
    struct iovec iov[64];
    int k = 0;
    size_t want = 0;
    for (uint32_t s = seg; s < nseg && k < 64; s++) {
      const char *b;
      size_t len;
      segment(m, pfx, plen, s, &b, &len);
      size_t o = s == seg ? off : 0;
      if (len > o) {
        iov[k].iov_base = (void *)(b + o);
        iov[k].iov_len = len - o;
        want += len - o;
        k++;
      }
    }
    if (k == 0) break; /* all written */
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov;
    mh.msg_iovlen = (size_t)k;
    ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break; /* full, or an error the loop thread will meet too */
    done += (uint64_t)n;
    size_t left = (size_t)n;
    while (left > 0) {
      const char *b;
      size_t len;
      segment(m, pfx, plen, seg, &b, &len);
      if (left >= len - off) {
        left -= len - off;
        seg++, off = 0;
      } else {
        off += left;
        left = 0;
      }
    }
    if ((size_t)n < want) break; /* the socket is full */
  }
  ld_msg *rest = NULL;
  if (done == 0) {
    rest = m;
    m = NULL;
  } else {
    /* skip empty segments at the cut */
    for (;;) {
      const char *b;
      size_t len;
      if (seg >= nseg) break;
      segment(m, pfx, plen, seg, &b, &len);
      if (len > off) break;
      seg++, off = 0;
    }
    if (seg < nseg) {
      rest = ld_msg_new(nseg - seg);
      const char *b;
      size_t len;
      segment(m, pfx, plen, seg, &b, &len);
      ld_buffer *head = rest ? ld_buffer_new(len - off) : NULL;
      if (head == NULL) {
        ld_msg_free(rest);
        rest = NULL;
        shutdown(fd, SHUT_RDWR);
        *failed = 1;
      } else {
        memcpy(head->data, b + off, len - off);
        rest->raw = 1;
        rest->frames[0] = head;
        for (uint32_t s = seg + 1; s < nseg; s++)
          rest->frames[s - seg] = m->frames[s - 1] ? ld_buffer_retain(m->frames[s - 1]) : NULL;
      }
    }
  }
  if (pfx != small) free(pfx);
  ld_msg_free(m);
  return rest;
}

/* Sends M (owned): straight to the socket from the calling thread when the
 * loop thread has nothing of ours to write (no wake-up, no hand-off),
 * otherwise (or for what the socket did not take) through the outbox. */
static int enqueue(ld_client *cl, ld_msg *m) {
  pthread_mutex_lock(&cl->mu);
  if (cl->closed || cl->stopping) {
    pthread_mutex_unlock(&cl->mu);
    ld_msg_free(m);
    return -1;
  }
  if (!cl->busy && cl->dfd >= 0) {
    int failed = 0;
    m = write_direct(cl->dfd, m, &failed);
    if (m == NULL) {
      pthread_mutex_unlock(&cl->mu);
      return failed ? -1 : 0;
    }
  }
  push(&cl->out_head, &cl->out_tail, m);
  cl->busy = 1; /* until on_drained */
  pthread_mutex_unlock(&cl->mu);
  ld_wake_send(&cl->wake);
  return 0;
}

/* Queues a message: header HDR (LEN bytes, copied) and N buffers (each
 * retained by the message). Thread-safe. Returns 0, or -1 when the
 * connection is closed (see ld_client_error) or out of memory. */
int ld_client_send(ld_client *cl, const char *hdr, size_t len, ld_buffer *const *bufs, uint32_t n) {
  ld_msg *m = ld_msg_make(hdr, len, bufs, n);
  if (m == NULL) return -1;
  return enqueue(cl, m);
}

/* A raw message (ld_msg.raw) holding the whole wire form of header HDR
 * (LEN bytes) and N frames of LENS[i] bytes at PTRS[i] in one buffer
 * (ld_msg_encode_parts): one allocation and one copy where a frame each
 * would take one of both. Returns the message (the caller owns it), or
 * NULL when out of memory. */
static ld_msg *raw_message(const char *hdr, size_t len, const char *const *ptrs, const size_t *lens,
                           uint32_t n) {
  ld_msg *m = ld_msg_new(1);
  ld_buffer *b = m ? ld_msg_encode_parts(hdr, len, ptrs, lens, n) : NULL;
  if (b == NULL) {
    ld_msg_free(m);
    return NULL;
  }
  m->raw = 1;
  m->frames[0] = b;
  return m;
}

/* Queues a message whose N frames after the header are either bytes
 * (BUFS[i] == NULL: LENS[i] bytes at PTRS[i], copied) or buffers (BUFS[i],
 * retained by the message). One call per message however many frames: the
 * Lua client sends its task payloads this way; a message of copies only
 * goes as one raw buffer (raw_message). Thread-safe. Returns 0, or -1 when
 * the connection is closed or out of memory. */
int ld_client_send_parts(ld_client *cl, const char *hdr, size_t len, const char *const *ptrs,
                         const size_t *lens, ld_buffer *const *bufs, uint32_t n) {
  uint32_t nbufs = 0;
  for (uint32_t i = 0; bufs && i < n; i++) nbufs += bufs[i] != NULL;
  if (nbufs == 0 && n > 1) {
    ld_msg *raw = raw_message(hdr, len, ptrs, lens, n);
    return raw ? enqueue(cl, raw) : -1;
  }
  ld_msg *m = ld_msg_new(n + 1);
  if (m == NULL) return -1;
  m->frames[0] = ld_buffer_new_small(len);
  if (m->frames[0] == NULL) {
    ld_msg_free(m);
    return -1;
  }
  memcpy(m->frames[0]->data, hdr, len);
  for (uint32_t i = 0; i < n; i++) {
    if (bufs && bufs[i]) {
      m->frames[i + 1] = ld_buffer_retain(bufs[i]);
    } else {
      /* copies are task payloads and value headers (parsed, not array data) */
      m->frames[i + 1] = ld_buffer_new_small(lens[i]);
      if (m->frames[i + 1] == NULL) {
        ld_msg_free(m); /* slots not filled yet are NULL */
        return -1;
      }
      if (lens[i]) memcpy(m->frames[i + 1]->data, ptrs[i], lens[i]);
    }
  }
  return enqueue(cl, m);
}

/* Waits up to SPIN seconds, awake, for a message to arrive after SEEN
 * (a value of cl->arrived). Returns non-zero when one did. */
static int spin_for_message(ld_client *cl, size_t seen, double spin) {
  double until = ld_client_now() + spin;
  do {
    if (atomic_load_explicit(&cl->arrived, memory_order_acquire) != seen) return 1;
    sched_yield(); /* the threads this wait is for may need this core */
  } while (ld_client_now() < until);
  return 0;
}

/* Takes the oldest received message, waiting up to TIMEOUT seconds (0: do
 * not wait). Returns it (the caller owns it: ld_msg_free), or NULL when
 * none arrived in time or the connection is closed and drained. */
ld_msg *ld_client_recv(ld_client *cl, double timeout) {
  return ld_client_recv_spin(cl, timeout, 0);
}

/* ld_client_recv that first waits up to SPIN seconds (at most TIMEOUT)
 * without sleeping: a reply that arrives meanwhile is taken without a
 * thread wake-up. For short waits (a single result); CPU is spent while
 * spinning. */
ld_msg *ld_client_recv_spin(ld_client *cl, double timeout, double spin) {
  pthread_mutex_lock(&cl->mu);
  if (cl->in_head == NULL && timeout > 0 && !cl->closed && spin > 0) {
    size_t seen = atomic_load_explicit(&cl->arrived, memory_order_acquire);
    pthread_mutex_unlock(&cl->mu);
    if (spin > timeout) spin = timeout;
    if (spin_for_message(cl, seen, spin))
      timeout = 0;
    else
      timeout -= spin;
    pthread_mutex_lock(&cl->mu);
  }
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
  ld_wake_send(&cl->wake);
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
  if (cl->dfd >= 0) close(cl->dfd);
  ld_sec_free(cl->sec);
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
