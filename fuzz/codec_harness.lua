-- fuzz/codec_harness.lua: the Lua side of fuzz_codec.c. Loads ldask.codec
-- in the harness's lua_State the way an executor does (a decoder per
-- state, ldask.native bound to the harness's own instrumented symbols) and
-- returns the function fuzz_codec.c calls with each input: a header string
-- and N buffers (ld_buffer *). Decoding must return a value or raise a
-- message string starting with "codec.decode: "; anything else fails.
local root = ...
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
local ffi = require "ffi"
package.loaded["ldask.native"] = ffi.C -- the harness exports core/ (-Wl,-E)
local codec = require "ldask.codec"

local decoder = codec.decoder()
local buffers = ffi.typeof("ld_buffer **")
local pcall, type, tostring, error = pcall, type, tostring, error

return function(header, bufs, n)
  local list
  if n > 0 then
    local p = ffi.cast(buffers, bufs)
    list = {}
    for i = 1, n do list[i] = p[i - 1] end
  end
  local ok, v = pcall(decoder.decode, decoder, header, list)
  if not ok then
    if type(v) ~= "string" or v:sub(1, 14) ~= "codec.decode: " then
      error("decode raised " .. type(v) .. " " .. tostring(v) .. " (not a codec.decode message)", 0)
    end
  end
  return ok
end
