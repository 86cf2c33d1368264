/* frame.c — message framing: encoding the wire prefix and the incremental
 * reader that reassembles messages (see frame.h). */
#include "net/frame.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

ld_msg *ld_msg_new(uint32_t nframes) {
  if (nframes == 0) return NULL;
  /* the frame slots live right after the record: one allocation */
  ld_msg *m = calloc(1, sizeof *m + (size_t)nframes * sizeof *m->frames);
  if (m == NULL) return NULL;
  m->frames = (ld_buffer **)(m + 1);
  m->nframes = nframes;
  return m;
}

ld_msg *ld_msg_make(const void *header, size_t len, ld_buffer *const *bufs, uint32_t nbuf) {
  ld_msg *m = ld_msg_new(nbuf + 1);
  if (m == NULL) return NULL;
  m->frames[0] = ld_buffer_new_small(len);
  if (m->frames[0] == NULL) {
    ld_msg_free(m);
    return NULL;
  }
  if (len) memcpy(m->frames[0]->data, header, len);
  for (uint32_t i = 0; i < nbuf; i++) m->frames[i + 1] = ld_buffer_retain(bufs[i]);
  return m;
}

void ld_msg_free(ld_msg *m) {
  if (m == NULL) return;
  for (uint32_t i = 0; i < m->nframes; i++) ld_buffer_release(m->frames[i]);
  free(m);
}

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

uint64_t ld_msg_wire_size(const ld_msg *m) {
  uint64_t n = 4 + 8 * (uint64_t)m->nframes;
  for (uint32_t i = 0; i < m->nframes; i++) n += m->frames[i] ? m->frames[i]->size : 0;
  return n;
}

size_t ld_msg_prefix(const ld_msg *m, unsigned char *out) {
  put_u32(out, m->nframes);
  for (uint32_t i = 0; i < m->nframes; i++)
    put_u64(out + 4 + 8 * i, m->frames[i] ? m->frames[i]->size : 0);
  return 4 + 8 * (size_t)m->nframes;
}

ld_buffer *ld_msg_encode(const ld_msg *m) {
  uint64_t total = ld_msg_wire_size(m);
  if (total > SIZE_MAX) return NULL;
  ld_buffer *b = ld_buffer_new((size_t)total);
  if (b == NULL) return NULL;
  unsigned char *p = b->data;
  p += ld_msg_prefix(m, p);
  for (uint32_t i = 0; i < m->nframes; i++) {
    if (m->frames[i] && m->frames[i]->size) {
      memcpy(p, m->frames[i]->data, m->frames[i]->size);
      p += m->frames[i]->size;
    }
  }
  return b;
}

ld_buffer *ld_msg_encode_parts(const void *hdr, size_t len, const char *const *ptrs,
                               const size_t *lens, uint32_t n) {
  size_t total = 4 + 8 * ((size_t)n + 1) + len;
  for (uint32_t i = 0; i < n; i++) total += lens[i];
  ld_buffer *b = ld_buffer_new(total);
  if (b == NULL) return NULL;
  unsigned char *p = b->data;
  put_u32(p, n + 1);
  put_u64(p + 4, len);
  for (uint32_t i = 0; i < n; i++) put_u64(p + 12 + 8 * (size_t)i, lens[i]);
  p += 12 + 8 * (size_t)n;
  memcpy(p, hdr, len);
  p += len;
  for (uint32_t i = 0; i < n; i++) {
    if (lens[i]) memcpy(p, ptrs[i], lens[i]);
    p += lens[i];
  }
  return b;
}

/* ---- the reader ---- */

/* Frames up to this size get their whole buffer when their first byte
 * arrives; larger ones start with this much and double as bytes come. */
#define GROW_MIN ((size_t)4 << 20)
/* A growing frame of up to this size stays on the heap (new block and
 * copy: freed blocks are reused without page faults, as glibc keeps blocks
 * under its largest mmap threshold); a larger one is an anonymous mapping
 * grown with mremap (no copy: the pages are moved). */
#define HEAP_MAX ((size_t)32 << 20)
/* Messages of up to this many bytes are not charged to the budget. */
#define UNCHARGED ((uint64_t)65536)
/* Lengths kept in the reader itself (more: a heap table). */
#define LENS_INLINE 8
/* What a frame costs beyond its bytes (record, allocation), charged to the
 * budget so that many empty frames are not free. */
#define FRAME_OVERHEAD (sizeof(ld_buffer) + 64)

static uint64_t g_max_message = LD_NET_DEFAULT_MAX_MESSAGE;
static _Atomic uint64_t g_max_buffered; /* 0 until set or first used */
static _Atomic uint64_t g_held;         /* bytes held by all readers */
static _Atomic uint64_t g_peak;         /* the most held since ld_frame_peak_reset */
static _Atomic size_t g_unaligned_max;  /* frames up to this size: unaligned */

static uint64_t default_buffered(void) {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  uint64_t half = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page / 2 : 0;
  return half > ((uint64_t)1 << 30) ? half : (uint64_t)1 << 30;
}

void ld_frame_set_unaligned_max(size_t max) { atomic_store(&g_unaligned_max, max); }

void ld_frame_set_budgets(uint64_t max_message, uint64_t max_buffered) {
  g_max_message = max_message ? max_message : LD_NET_DEFAULT_MAX_MESSAGE;
  atomic_store(&g_max_buffered, max_buffered ? max_buffered : default_buffered());
}

static uint64_t max_buffered(void) {
  uint64_t v = atomic_load(&g_max_buffered);
  if (v == 0) atomic_store(&g_max_buffered, v = default_buffered());
  return v;
}

void ld_frame_budgets(uint64_t *max_message, uint64_t *maxbuf, uint64_t *held) {
  if (max_message) *max_message = g_max_message;
  if (maxbuf) *maxbuf = max_buffered();
  if (held) *held = atomic_load(&g_held);
}

/* Reader phases: the 4-byte count, the 8-byte lengths, the frame bodies. */
enum { PH_COUNT, PH_LENGTHS, PH_BODY, PH_FAILED };

struct ld_frame_reader {
  int phase;
  unsigned char small[8]; /* partial count or length */
  size_t small_have;
  uint32_t nframes; /* announced frame count */
  uint32_t frame;   /* index of the frame being read (lengths or body) */
  uint64_t *lens;   /* the lengths read so far: LENS0, or owned when larger */
  uint32_t caplens; /* entries in lens */
  uint64_t lens0[LENS_INLINE];
  uint64_t announced; /* wire bytes of the message announced so far */
  ld_msg *cur;        /* owned: the message, once its lengths are known */
  /* The frame being filled: a buffer allocated at its length (BUF), or a
   * growing block (GROW, GROW_CAP bytes: on the heap, or a mapping when
   * GROW_MAPPED). */
  ld_buffer *buf;
  unsigned char *grow;
  size_t grow_cap;
  int grow_mapped;
  size_t body_have;     /* bytes of the current frame read */
  uint64_t held;        /* bytes charged to the process budget */
  uint64_t max_message; /* 0: the process's */
  uint32_t max_frames;
  ld_msg *head, *tail;
  char err[200];
};

/* Back to the inline length table. */
static void reset_lens(ld_frame_reader *r) {
  if (r->lens != r->lens0) free(r->lens);
  r->lens = r->lens0;
  r->caplens = LENS_INLINE;
}

ld_frame_reader *ld_frame_reader_new(void) {
  ld_frame_reader *r = calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  r->max_frames = LD_NET_MAX_FRAMES;
  r->lens = r->lens0;
  r->caplens = LENS_INLINE;
  return r;
}

void ld_frame_reader_set_limits(ld_frame_reader *r, uint64_t max_message, uint32_t max_frames) {
  r->max_message = max_message;
  r->max_frames =
      max_frames == 0 || max_frames > LD_NET_MAX_FRAMES ? LD_NET_MAX_FRAMES : max_frames;
}

/* Takes N more bytes of the process budget for R; -1 when that would pass
 * it (nothing taken). Messages of up to UNCHARGED bytes on the wire are
 * not counted (a connection holds at most one partly read message, so
 * this is at most UNCHARGED per connection, like its read buffer): the
 * many small messages of a busy cluster cost no atomic operation. */
static int charge(ld_frame_reader *r, uint64_t n) {
  if (r->phase == PH_BODY && r->announced <= UNCHARGED) return 0;
  uint64_t limit = max_buffered();
  uint64_t old = atomic_load(&g_held);
  do {
    if (old + n > limit || old + n < old) return -1;
  } while (!atomic_compare_exchange_weak(&g_held, &old, old + n));
  if (old + n > atomic_load_explicit(&g_peak, memory_order_relaxed))
    atomic_store_explicit(&g_peak, old + n, memory_order_relaxed); /* (racy max: a hint) */
  r->held += n;
  return 0;
}

uint64_t ld_frame_peak_reset(void) { return atomic_exchange(&g_peak, atomic_load(&g_held)); }

/* Gives back everything R holds of the budget. */
static void uncharge(ld_frame_reader *r) {
  if (r->held == 0) return;
  atomic_fetch_sub(&g_held, r->held);
  r->held = 0;
}

static void unmap_release(void *ctx, void *data, size_t size) {
  (void)size;
  munmap(data, (size_t)(uintptr_t)ctx);
}

static void free_release(void *ctx, void *data, size_t size) {
  (void)ctx, (void)size;
  free(data);
}

/* Frees the growing block of R. */
static void drop_grow(ld_frame_reader *r) {
  if (r->grow_mapped)
    munmap(r->grow, r->grow_cap);
  else
    free(r->grow);
  r->grow = NULL;
  r->grow_cap = 0;
  r->grow_mapped = 0;
}

/* Drops the message being read and the frame being filled. */
static void drop_partial(ld_frame_reader *r) {
  ld_msg_free(r->cur);
  r->cur = NULL;
  ld_buffer_release(r->buf);
  r->buf = NULL;
  drop_grow(r);
  reset_lens(r);
  uncharge(r);
}

void ld_frame_reader_free(ld_frame_reader *r) {
  if (r == NULL) return;
  drop_partial(r);
  while (r->head) {
    ld_msg *m = r->head;
    r->head = m->next;
    ld_msg_free(m);
  }
  free(r);
}

const char *ld_frame_reader_error(const ld_frame_reader *r) { return r->err; }

int ld_frame_reader_partial(const ld_frame_reader *r) {
  return r->phase != PH_COUNT || r->small_have != 0;
}

static int fail(ld_frame_reader *r, int code, const char *msg) {
  if (r->phase != PH_FAILED) snprintf(r->err, sizeof r->err, "%s", msg);
  r->phase = PH_FAILED;
  drop_partial(r);
  return code;
}

/* Refuses what does not fit the process budget, naming it. */
static int fail_budget(ld_frame_reader *r, uint64_t want) {
  char msg[200];
  snprintf(msg, sizeof msg,
           "the process's receive budget is used up (%" PRIu64 " of %" PRIu64
           " bytes held for messages being received; %" PRIu64 " more needed: max-buffered)",
           (uint64_t)atomic_load(&g_held), max_buffered(), want);
  return fail(r, LD_NET_ENOMEM, msg);
}

static void finish(ld_frame_reader *r) {
  ld_msg *m = r->cur;
  r->cur = NULL;
  reset_lens(r);
  uncharge(r); /* the message is the caller's now */
  m->next = NULL;
  if (r->tail)
    r->tail->next = m;
  else
    r->head = m;
  r->tail = m;
  r->phase = PH_COUNT;
  r->small_have = 0;
}

static size_t page_round(size_t n) {
  size_t page = 4096;
  return (n + page - 1) & ~(page - 1);
}

/* Starts frame R->frame (of R->lens[frame] > 0 bytes): its whole buffer
 * when small, else a block of GROW_MIN to grow. Returns 0 or fails. */
static int begin_frame(ld_frame_reader *r) {
  uint64_t len = r->lens[r->frame];
  r->body_have = 0;
  if (len <= GROW_MIN) {
    if (charge(r, len) != 0) return fail_budget(r, len);
    /* the header is parsed, never used as array data: no alignment; nor
     * the frames of a process that said so (ld_frame_set_unaligned_max) */
    int small =
        r->frame == 0 || len <= atomic_load_explicit(&g_unaligned_max, memory_order_relaxed);
    r->buf = small ? ld_buffer_new_small((size_t)len) : ld_buffer_new((size_t)len);
  } else {
    /* (a frame that will pass HEAP_MAX is mapped from the start) */
    if (charge(r, GROW_MIN) != 0) return fail_budget(r, GROW_MIN);
    void *p = NULL;
    if (len > HEAP_MAX) {
      p = mmap(NULL, GROW_MIN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) p = NULL;
      r->grow_mapped = p != NULL;
    } else if (posix_memalign(&p, 64, GROW_MIN) != 0) {
      p = NULL;
    }
    r->grow = p;
    r->grow_cap = p ? GROW_MIN : 0;
  }
  if (r->buf == NULL && r->grow == NULL) {
    char msg[160];
    snprintf(msg, sizeof msg, "out of memory allocating a frame of %" PRIu64 " bytes", len);
    return fail(r, LD_NET_ENOMEM, msg);
  }
  return 0;
}

/* Makes room for AVAIL more bytes of the current (growing) frame: doubles
 * its block, up to the frame's length. Returns 0 or fails. */
static int grow_frame(ld_frame_reader *r, size_t avail) {
  size_t len = (size_t)r->lens[r->frame];
  size_t want = r->body_have + avail;
  size_t cap = r->grow_cap * 2;
  if (cap < want) cap = want;
  if (cap > len) cap = len;
  if (r->grow_mapped) cap = page_round(cap);
  if (cap <= r->grow_cap) return 0;
  if (charge(r, cap - r->grow_cap) != 0) return fail_budget(r, cap - r->grow_cap);
  void *p = NULL;
  if (r->grow_mapped) {
    p = mremap(r->grow, r->grow_cap, cap, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) p = NULL;
  } else if (posix_memalign(&p, 64, cap) == 0) { /* (cap <= len <= HEAP_MAX) */
    memcpy(p, r->grow, r->body_have);
    free(r->grow);
  } else {
    p = NULL;
  }
  if (p == NULL) {
    char msg[160];
    snprintf(msg, sizeof msg, "out of memory growing a frame of %zu bytes to %zu", len, cap);
    return fail(r, LD_NET_ENOMEM, msg);
  }
  r->grow = p;
  r->grow_cap = cap;
  return 0;
}

/* The current frame is complete: into the message, on to the next one with
 * bytes (empty frames get an empty buffer), or the message is done. */
static int end_frame(ld_frame_reader *r) {
  if (r->grow) {
    ld_buffer *b = r->grow_mapped
                       ? ld_buffer_wrap(r->grow, (size_t)r->lens[r->frame], unmap_release,
                                        (void *)(uintptr_t)r->grow_cap)
                       : ld_buffer_wrap(r->grow, (size_t)r->lens[r->frame], free_release, NULL);
    if (b == NULL) return fail(r, LD_NET_ENOMEM, "out of memory reading a message");
    r->grow = NULL;
    r->grow_cap = 0;
    r->grow_mapped = 0;
    r->buf = b;
  }
  r->cur->frames[r->frame++] = r->buf;
  r->buf = NULL;
  return 0;
}

/* Moves to the next frame that has bytes to read, finishing the message
 * when none is left. Returns 0 or fails. */
static int next_body(ld_frame_reader *r) {
  while (r->frame < r->nframes && r->lens[r->frame] == 0) {
    r->cur->frames[r->frame] = ld_buffer_new_small(0);
    if (r->cur->frames[r->frame] == NULL)
      return fail(r, LD_NET_ENOMEM, "out of memory reading a message");
    r->frame++;
  }
  if (r->frame == r->nframes) {
    finish(r);
    return 0;
  }
  return begin_frame(r);
}

/* A length arrived: checks it and the message's size so far. */
static int take_length(ld_frame_reader *r, uint64_t flen) {
  char msg[200];
  uint64_t max = r->max_message ? r->max_message : g_max_message;
  if (r->frame == 0 && flen > LD_NET_MAX_HEADER) {
    snprintf(msg, sizeof msg, "bad message: frame 0 length %" PRIu64 " exceeds the limit %" PRIu64,
             flen, LD_NET_MAX_HEADER);
    return fail(r, LD_NET_EPROTO, msg);
  }
  if (r->frame == 0 && flen == 0) return fail(r, LD_NET_EPROTO, "bad message: empty header frame");
  if (flen > max || r->announced + flen > max) {
    snprintf(msg, sizeof msg,
             "bad message: frame %" PRIu32 " of %" PRIu64
             " bytes makes the message larger "
             "than the maximum message size of %" PRIu64 " bytes (max-message-size)",
             r->frame, flen, max);
    return fail(r, LD_NET_EPROTO, msg);
  }
  if (r->announced + flen > max_buffered()) { /* could never be held whole */
    snprintf(msg, sizeof msg,
             "bad message: frame %" PRIu32 " of %" PRIu64
             " bytes makes the message larger than the process's receive budget of %" PRIu64
             " bytes (max-buffered)",
             r->frame, flen, max_buffered());
    return fail(r, LD_NET_EPROTO, msg);
  }
  r->announced += flen;
  if (r->frame == r->caplens) { /* grown with the lengths received */
    uint32_t cap = r->caplens * 2 < r->nframes ? r->caplens * 2 : r->nframes;
    uint64_t cost = (uint64_t)cap * sizeof *r->lens;
    if (charge(r, cost) != 0) return fail_budget(r, cost);
    uint64_t *nl = malloc(cap * sizeof *nl);
    if (nl == NULL) return fail(r, LD_NET_ENOMEM, "out of memory reading a message");
    memcpy(nl, r->lens, r->frame * sizeof *nl);
    if (r->lens != r->lens0) free(r->lens);
    r->lens = nl;
    r->caplens = cap;
  }
  r->lens[r->frame++] = flen;
  if (r->frame < r->nframes) return 0;
  /* All lengths known: the message record, then the bodies. */
  r->phase = PH_BODY;
  uint64_t cost = sizeof(ld_msg) + (uint64_t)r->nframes * (sizeof(ld_buffer *) + FRAME_OVERHEAD);
  if (charge(r, cost) != 0) return fail_budget(r, cost);
  r->cur = ld_msg_new(r->nframes);
  if (r->cur == NULL) return fail(r, LD_NET_ENOMEM, "out of memory reading a message");
  r->frame = 0;
  return next_body(r);
}

/* Consumes bytes of DATA (LEN): all of them, or with ONE only up to the end
 * of the first message completed. *USED: the bytes consumed. */
static int feed(ld_frame_reader *r, const void *data, size_t len, int one, size_t *used) {
  const unsigned char *p = data;
  char msg[160];
  *used = 0;
  if (r->phase == PH_FAILED) return LD_NET_EPROTO;
  ld_msg *tail = r->tail;
  while (len > 0 && !(one && r->tail != tail)) {
    if (r->phase == PH_COUNT) {
      size_t take = 4 - r->small_have;
      if (take > len) take = len;
      memcpy(r->small + r->small_have, p, take);
      r->small_have += take, p += take, len -= take;
      if (r->small_have < 4) break;
      uint32_t n = (uint32_t)r->small[0] | (uint32_t)r->small[1] << 8 |
                   (uint32_t)r->small[2] << 16 | (uint32_t)r->small[3] << 24;
      if (n == 0 || n > r->max_frames) {
        snprintf(msg, sizeof msg, "bad message: frame count %" PRIu32 " not in 1..%u", n,
                 r->max_frames);
        return fail(r, LD_NET_EPROTO, msg);
      }
      r->nframes = n;
      r->announced = 4 + 8 * (uint64_t)n;
      r->phase = PH_LENGTHS;
      r->frame = 0;
      r->small_have = 0;
    } else if (r->phase == PH_LENGTHS) {
      size_t take = 8 - r->small_have;
      if (take > len) take = len;
      memcpy(r->small + r->small_have, p, take);
      r->small_have += take, p += take, len -= take;
      if (r->small_have < 8) break;
      r->small_have = 0;
      int rc = take_length(r, get_u64(r->small));
      if (rc != 0) return rc;
    } else { /* PH_BODY */
      size_t flen = (size_t)r->lens[r->frame];
      size_t take = flen - r->body_have;
      if (take > len) take = len;
      unsigned char *dst;
      if (r->grow) {
        if (r->body_have + take > r->grow_cap) {
          int rc = grow_frame(r, take);
          if (rc != 0) return rc;
        }
        dst = r->grow;
      } else {
        dst = r->buf->data;
      }
      memcpy(dst + r->body_have, p, take);
      r->body_have += take, p += take, len -= take;
      if (r->body_have == flen) {
        int rc = end_frame(r);
        if (rc == 0) rc = next_body(r);
        if (rc != 0) return rc;
      }
    }
  }
  *used = (size_t)(p - (const unsigned char *)data);
  return 0;
}

int ld_frame_reader_feed(ld_frame_reader *r, const void *data, size_t len) {
  size_t used;
  return feed(r, data, len, 0, &used);
}

int ld_frame_reader_feed_one(ld_frame_reader *r, const void *data, size_t len, size_t *used) {
  return feed(r, data, len, 1, used);
}

ld_msg *ld_frame_reader_next(ld_frame_reader *r) {
  ld_msg *m = r->head;
  if (m == NULL) return NULL;
  r->head = m->next;
  if (r->head == NULL) r->tail = NULL;
  m->next = NULL;
  return m;
}
