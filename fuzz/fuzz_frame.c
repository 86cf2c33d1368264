/* fuzz_frame.c — libFuzzer harness of the frame reader (core/net/frame.c):
 * the input after its first byte is a byte stream as a peer sends it, fed
 * to ld_frame_reader_feed in chunks whose sizes come from the first byte
 * (a connection's reads split a stream anywhere). Checks that every
 * message taken out re-encodes (ld_msg_encode) to exactly the bytes it was
 * read from, in order, and that an error leaves a message and refuses
 * further input. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "net/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_in in = {data, size};
  uint32_t seed = fz_u8(&in) * 2654435761u + 1;
  const uint8_t *stream = in.p;
  size_t total = in.n, off = 0, checked = 0;
  ld_frame_reader *r = ld_frame_reader_new();
  fz_check(r != NULL, "reader allocation");
  int rc = 0;
  while (off < total && rc == 0) {
    seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
    size_t chunk = 1 + seed % 97;
    if (seed & 0x100) chunk = total - off; /* sometimes all that is left */
    if (chunk > total - off) chunk = total - off;
    rc = ld_frame_reader_feed(r, stream + off, chunk);
    off += chunk;
    ld_msg *m;
    while ((m = ld_frame_reader_next(r)) != NULL) {
      fz_check(m->nframes >= 1 && m->frames[0] && m->frames[0]->size > 0,
               "a message without a header frame");
      ld_buffer *enc = ld_msg_encode(m);
      fz_check(enc != NULL, "encoding a message read");
      fz_check(checked + enc->size <= off, "a message longer than the bytes fed");
      fz_check(memcmp(enc->data, stream + checked, enc->size) == 0,
               "a message re-encodes to other bytes than it was read from");
      checked += enc->size;
      ld_buffer_release(enc);
      ld_msg_free(m);
    }
  }
  if (rc != 0) {
    fz_check(ld_frame_reader_error(r)[0] != '\0', "an error without a message");
    fz_check(ld_frame_reader_feed(r, "x", 1) < 0, "input accepted after an error");
  } else {
    fz_check(ld_frame_reader_partial(r) == (checked != total),
             "partial() disagrees with the bytes left over");
  }
  ld_frame_reader_free(r);
  return 0;
}
