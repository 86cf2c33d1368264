-- ldask.ffi.buffer: C declarations of core/util/buffer.h and version.h.
local ffi = require "ffi"

ffi.cdef [[
typedef struct ld_buffer {
  int refs;
  size_t size;
  void *data;
  void (*release)(void *ctx, void *data, size_t size);
  void *ctx;
} ld_buffer;
ld_buffer *ld_buffer_new(size_t size);
ld_buffer *ld_buffer_new_zeroed(size_t size);
ld_buffer *ld_buffer_new_small(size_t size);
ld_buffer *ld_buffer_retain(ld_buffer *b);
void ld_buffer_release(ld_buffer *b);
const char *ld_version(void);
]]

return true
