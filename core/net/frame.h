/* frame.h — the wire framing of ldask messages: a message is a list of
 * frames, frame 0 a msgpack header and frames 1..n-1 raw buffers. On the
 * wire: u32 (little endian) frame count, u64 (little endian) length of each
 * frame, then the frames' bytes back to back. The reader reassembles
 * messages from arbitrary chunks and refuses garbage with an error message
 * (never a crash). See docs/protocol.md. */
#ifndef LDASK_NET_FRAME_H
#define LDASK_NET_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "util/buffer.h"

/* Limits a reader enforces (a peer that exceeds them is refused). */
#define LD_NET_MAX_FRAMES 65536u
#define LD_NET_MAX_HEADER ((uint64_t)256 << 20) /* frame 0 (msgpack) */
/* Before its handshake a peer may send only small messages (the hello and
 * the handshake's own): at most this many bytes and frames each. */
#define LD_NET_HELLO_MAX 16384u
#define LD_NET_HELLO_FRAMES 8u
/* Defaults of the process-wide budgets (ld_frame_set_budgets): the largest
 * message a peer may announce, and the bytes all readers of the process
 * may hold in partly received messages (0: half the machine's memory,
 * at least 1 GiB). */
#define LD_NET_DEFAULT_MAX_MESSAGE ((uint64_t)4 << 30)
#define LD_NET_DEFAULT_MAX_BUFFERED 0

/* Error codes of this subsystem (negative). */
enum {
  LD_NET_ENOMEM = -1,
  LD_NET_EPROTO = -2, /* malformed input */
  LD_NET_EIO = -3,    /* connection failure */
  LD_NET_EVERSION = -4,
  LD_NET_EARG = -5,
};

/* A message: NFRAMES >= 1 references to buffers, frames[0] the msgpack
 * header. The message owns one reference to each frame; the FRAMES array
 * is part of the message's own allocation (never reallocate or free it). */
typedef struct ld_msg {
  uint32_t nframes;
  int raw; /* set by a sender: frames hold bytes already framed for the
              wire (the rest of a message begun elsewhere); no prefix */
  ld_buffer **frames;
  struct ld_msg *next; /* for queues; NULL when not queued */
} ld_msg;

/* Creates a message of NFRAMES (>= 1) empty (NULL) frame slots. Caller owns
 * the result (ld_msg_free). NULL when out of memory or NFRAMES is 0. */
ld_msg *ld_msg_new(uint32_t nframes);

/* Creates a message whose header is a copy of HEADER (LEN bytes) followed by
 * NBUF extra frames: the message takes a new reference to each BUFS[i]
 * (the caller keeps its own). Caller owns the result. NULL when out of
 * memory. */
ld_msg *ld_msg_make(const void *header, size_t len, ld_buffer *const *bufs, uint32_t nbuf);

/* Frees M and drops its frame references. NULL is ignored. */
void ld_msg_free(ld_msg *m);

/* Bytes of the message on the wire (prefix plus frames). */
uint64_t ld_msg_wire_size(const ld_msg *m);

/* Writes the wire prefix of M (4 + 8 * nframes bytes) into OUT, which must
 * have room for it. Returns the number of bytes written. */
size_t ld_msg_prefix(const ld_msg *m, unsigned char *out);

/* Encodes M into one contiguous new buffer (prefix and frames). Caller owns
 * the result. NULL when out of memory. Used by specs and simple senders. */
ld_buffer *ld_msg_encode(const ld_msg *m);

/* The same for a message not built as an ld_msg: header HDR (LEN bytes)
 * and N frames of LENS[i] bytes at PTRS[i], all copied into one new buffer
 * (the caller owns it) in wire form. NULL when out of memory. */
ld_buffer *ld_msg_encode_parts(const void *hdr, size_t len, const char *const *ptrs,
                               const size_t *lens, uint32_t n);

/* An incremental reader: feed bytes as they arrive, take out messages.
 * Memory follows the bytes received, not the lengths announced: frames of
 * up to 4 MiB are allocated when their first byte arrives, larger ones
 * grow (doubling, up to their length) as their bytes come. The whole
 * message a peer announces is checked against the reader's maximum
 * message size, and everything a reader allocates for a partly received
 * message against the process's receive budget (ld_frame_set_budgets). */
typedef struct ld_frame_reader ld_frame_reader;

/* Creates a reader with the process's maximum message size and
 * LD_NET_MAX_FRAMES. Caller owns it (ld_frame_reader_free). NULL on OOM. */
ld_frame_reader *ld_frame_reader_new(void);

/* Frees R, its partial message and the complete messages not taken out. */
void ld_frame_reader_free(ld_frame_reader *r);

/* Sets the largest message (bytes on the wire, 0: the process's maximum
 * message size) and the most frames (1..LD_NET_MAX_FRAMES) R accepts from
 * now on (a connection before and after its handshake). */
void ld_frame_reader_set_limits(ld_frame_reader *r, uint64_t max_message, uint32_t max_frames);

/* Process-wide budgets of every reader (any thread): MAX_MESSAGE, the
 * largest message a peer may announce (0: LD_NET_DEFAULT_MAX_MESSAGE);
 * MAX_BUFFERED, the bytes all readers together may hold for partly
 * received messages (0: half the machine's memory, at least 1 GiB). A
 * reader that would pass it fails (its connection is closed). Call before
 * connections exist. */
void ld_frame_set_budgets(uint64_t max_message, uint64_t max_buffered);

/* Process-wide: frames of at most MAX bytes (0, the default: none) are
 * received into buffers that hold their bytes right after their record,
 * unaligned (ld_buffer_new_small: one malloc of the exact size), instead
 * of 64-byte aligned ones. For a process that never reads received frames
 * as array data (the scheduler: it keeps and forwards task payloads and
 * small results). Call before connections exist. */
void ld_frame_set_unaligned_max(size_t max);

/* The budgets in force (after defaults) and the bytes held right now by
 * all readers for partly received messages. NULL pointers are skipped. */
void ld_frame_budgets(uint64_t *max_message, uint64_t *max_buffered, uint64_t *held);

/* The most bytes held by all readers since the previous call (a hint for a
 * program deciding to return freed memory to the system). */
uint64_t ld_frame_peak_reset(void);

/* Consumes LEN bytes at DATA (copied; the caller keeps DATA). Returns 0, or a
 * negative code after which the reader refuses further input; the message
 * is then in ld_frame_reader_error. Complete messages are queued. */
int ld_frame_reader_feed(ld_frame_reader *r, const void *data, size_t len);

/* Like ld_frame_reader_feed, but stops after the first message it
 * completes: *USED is the number of bytes consumed (the rest is to be fed
 * once that message has been handled: a handshake changes the limits). */
int ld_frame_reader_feed_one(ld_frame_reader *r, const void *data, size_t len, size_t *used);

/* Takes out the oldest complete message, or NULL when none is ready. The
 * caller owns the message. */
ld_msg *ld_frame_reader_next(ld_frame_reader *r);

/* The reader's error message ("" when none); static storage in R. */
const char *ld_frame_reader_error(const ld_frame_reader *r);

/* Non-zero while a message is partly read. */
int ld_frame_reader_partial(const ld_frame_reader *r);

#endif
