-- Unit specs of ld_buffer_new_small (core/util/buffer.c): headers and other
-- small byte strings in one allocation with their record, released like
-- any ld_buffer, and carried by messages like the others.
local ffi = require "ffi"
require "ldask.ffi.net"
require "ldask.ffi.buffer"
local lib = require "ldask.native"

describe("small buffers", function()
  it("hold SIZE bytes right after their record and free with the last reference", function()
    for _, size in ipairs({ 0, 1, 40, 1000, 70000 }) do
      local b = lib.ld_buffer_new_small(size)
      assert.is_true(b ~= nil)
      assert.equal(size, tonumber(b.size))
      if size > 0 then
        ffi.fill(b.data, size, 0x5a)
        assert.equal(0x5a, ffi.cast("unsigned char *", b.data)[size - 1])
      end
      assert.equal(1, tonumber(b.refs))
      lib.ld_buffer_retain(b)
      lib.ld_buffer_release(b)
      assert.equal(1, tonumber(b.refs))
      lib.ld_buffer_release(b) -- frees record and data (ASan checks the build)
    end
  end)

  it("carry message headers: ld_msg_make copies the header into one", function()
    local hdr = "\129\162op\165hello"
    local m = lib.ld_msg_make(hdr, #hdr, nil, 0)
    assert.equal(1, m.nframes)
    assert.equal(hdr, ffi.string(m.frames[0].data, m.frames[0].size))
    local enc = lib.ld_msg_encode(m)
    assert.equal(4 + 8 + #hdr, tonumber(enc.size))
    lib.ld_buffer_release(enc)
    lib.ld_msg_free(m)
  end)
end)
