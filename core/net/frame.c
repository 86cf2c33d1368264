/* frame.c — message framing: encoding the wire prefix and the incremental
 * reader that reassembles messages (see frame.h). */
#include "net/frame.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Reader phases: the 4-byte count, the 8-byte lengths, the frame bodies.
 * Memory follows the bytes that arrived, never the sizes announced: the
 * lengths are kept in an array grown as they arrive, the message is made
 * once they are all in, and a frame's buffer is allocated when its body
 * begins: at its size up to GROW_MIN, else bytes gather in a staging block
 * doubled as they come until the frame's own buffer is due (at most half
 * its size is copied). */
enum { PH_COUNT, PH_LENGTHS, PH_BODY, PH_FAILED };
#define GROW_MIN ((size_t)64 << 10)

struct ld_frame_reader {
  int phase;
  unsigned char small[8]; /* partial count or length */
  size_t small_have;
  uint32_t nframes; /* of the message being read */
  uint64_t *lens;   /* owned: its frame lengths read so far */
  uint32_t lens_cap;
  ld_msg *cur;      /* message being read (from PH_BODY on) */
  uint32_t frame;   /* index of the frame being read (lengths or body) */
  size_t body_have; /* bytes of the current frame read */
  char *stage;      /* owned: the current frame's first bytes, or NULL */
  size_t stage_cap;
  ld_msg *head, *tail;
  char err[160];
};

ld_frame_reader *ld_frame_reader_new(void) {
  ld_frame_reader *r = calloc(1, sizeof *r);
  return r;
}

void ld_frame_reader_free(ld_frame_reader *r) {
  if (r == NULL) return;
  ld_msg_free(r->cur);
  free(r->lens);
  free(r->stage);
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
  ld_msg_free(r->cur);
  r->cur = NULL;
  free(r->stage);
  r->stage = NULL;
  return code;
}

static void finish(ld_frame_reader *r) {
  ld_msg *m = r->cur;
  r->cur = NULL;
  m->next = NULL;
  if (r->tail)
    r->tail->next = m;
  else
    r->head = m;
  r->tail = m;
  r->phase = PH_COUNT;
  r->small_have = 0;
}

/* Allocates frame I's buffer of its full length (header frames unaligned:
 * parsed, never used as array data). 0 or -1 (out of memory). */
static int alloc_frame(ld_frame_reader *r, uint32_t i) {
  size_t len = (size_t)r->lens[i];
  r->cur->frames[i] = i == 0 ? ld_buffer_new_small(len) : ld_buffer_new(len);
  return r->cur->frames[i] ? 0 : -1;
}

/* Moves to the next frame body that has bytes to read, finishing the message
 * when none is left. Empty frames get empty buffers. 0 or -1 (OOM). */
static int next_body(ld_frame_reader *r) {
  while (r->frame < r->nframes && r->lens[r->frame] == 0)
    if (alloc_frame(r, r->frame++) != 0) return -1;
  r->body_have = 0;
  if (r->frame == r->nframes) {
    finish(r);
    return 0;
  }
  if (r->lens[r->frame] <= GROW_MIN) return alloc_frame(r, r->frame);
  return 0; /* a large frame: staged (PH_BODY) */
}

/* Takes up to LEN bytes of the current frame's body; returns how many. */
static size_t take_body(ld_frame_reader *r, const unsigned char *p, size_t len, int *rc) {
  size_t flen = (size_t)r->lens[r->frame];
  size_t take = flen - r->body_have;
  if (take > len) take = len;
  ld_buffer *b = r->cur->frames[r->frame];
  if (b == NULL) { /* staged: grow the staging block, or allocate the frame */
    size_t need = r->body_have + take;
    if (need > r->stage_cap) {
      size_t cap = r->stage_cap ? r->stage_cap : GROW_MIN;
      while (cap < need) cap *= 2;
      if (cap >= flen / 2 + 1) { /* the frame's own buffer is due */
        if (alloc_frame(r, r->frame) != 0) {
          *rc = -1;
          return 0;
        }
        b = r->cur->frames[r->frame];
        if (r->body_have) memcpy(b->data, r->stage, r->body_have);
        free(r->stage);
        r->stage = NULL, r->stage_cap = 0;
      } else {
        char *ns = realloc(r->stage, cap);
        if (ns == NULL) {
          *rc = -1;
          return 0;
        }
        r->stage = ns, r->stage_cap = cap;
      }
    }
  }
  memcpy(b ? (unsigned char *)b->data + r->body_have : (unsigned char *)r->stage + r->body_have, p,
         take);
  r->body_have += take;
  return take;
}

int ld_frame_reader_feed(ld_frame_reader *r, const void *data, size_t len) {
  const unsigned char *p = data;
  char msg[160];
  if (r->phase == PH_FAILED) return LD_NET_EPROTO;
  while (len > 0) {
    if (r->phase == PH_COUNT) {
      size_t take = 4 - r->small_have;
      if (take > len) take = len;
      memcpy(r->small + r->small_have, p, take);
      r->small_have += take, p += take, len -= take;
      if (r->small_have < 4) break;
      uint32_t n = (uint32_t)r->small[0] | (uint32_t)r->small[1] << 8 |
                   (uint32_t)r->small[2] << 16 | (uint32_t)r->small[3] << 24;
      if (n == 0 || n > LD_NET_MAX_FRAMES) {
        snprintf(msg, sizeof msg, "bad message: frame count %" PRIu32 " not in 1..%u", n,
                 LD_NET_MAX_FRAMES);
        return fail(r, LD_NET_EPROTO, msg);
      }
      r->nframes = n;
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
      uint64_t flen = get_u64(r->small);
      uint64_t limit = r->frame == 0 ? LD_NET_MAX_HEADER : LD_NET_MAX_FRAME;
      if (flen > limit || flen > SIZE_MAX) {
        snprintf(msg, sizeof msg,
                 "bad message: frame %" PRIu32 " length %" PRIu64 " exceeds the limit %" PRIu64,
                 r->frame, flen, limit);
        return fail(r, LD_NET_EPROTO, msg);
      }
      if (r->frame == 0 && flen == 0)
        return fail(r, LD_NET_EPROTO, "bad message: empty header frame");
      if (r->frame == r->lens_cap) {
        uint32_t cap = r->lens_cap ? 2 * r->lens_cap : 8;
        uint64_t *nl = realloc(r->lens, (size_t)cap * sizeof *nl);
        if (nl == NULL) return fail(r, LD_NET_ENOMEM, "out of memory reading a message");
        r->lens = nl, r->lens_cap = cap;
      }
      r->lens[r->frame] = flen;
      if (++r->frame == r->nframes) {
        r->cur = ld_msg_new(r->nframes);
        if (r->cur == NULL) return fail(r, LD_NET_ENOMEM, "out of memory reading a message");
        r->phase = PH_BODY;
        r->frame = 0;
        if (next_body(r) != 0) return fail(r, LD_NET_ENOMEM, "out of memory reading a message");
      }
    } else { /* PH_BODY */
      int rc = 0;
      size_t take = take_body(r, p, len, &rc);
      if (rc != 0) {
        snprintf(msg, sizeof msg, "out of memory allocating a frame of %" PRIu64 " bytes",
                 r->lens[r->frame]);
        return fail(r, LD_NET_ENOMEM, msg);
      }
      p += take, len -= take;
      if (r->body_have == (size_t)r->lens[r->frame]) {
        r->frame++;
        if (next_body(r) != 0) return fail(r, LD_NET_ENOMEM, "out of memory reading a message");
      }
    }
  }
  return 0;
}

ld_msg *ld_frame_reader_next(ld_frame_reader *r) {
  ld_msg *m = r->head;
  if (m == NULL) return NULL;
  r->head = m->next;
  if (r->head == NULL) r->tail = NULL;
  m->next = NULL;
  return m;
}
