-- ldask.codec.selftest: the far side of the codec's round-trip specs and
-- benchmark. Called through ldask.xstate in a separate lua_State: receives a
-- message (header, buffer addresses, session functions), decodes it with a
-- decoder that lives as long as the state, runs it, and sends the result
-- back the same way. Buffer references cross by address: the sender hands
-- one reference per buffer to the receiver.
local ffi = require "ffi"
local sbuf = require "string.buffer"
require "ldask.ffi.buffer"
local lib = require "ldask.native"
local codec = require "ldask.codec"

local buffer_ptr = ffi.typeof("ld_buffer *")
local uintptr_t = ffi.typeof("uintptr_t")
local unpack, select, type, pcall = unpack, select, type, pcall

local M = {}

--- Packs HEADER, BUFFERS (ld_buffer * cdata) and FUNCTIONS into one string;
-- each buffer gets one extra reference that the receiver takes over.
function M.pack(header, buffers, functions, extra)
  local addrs = {}
  for i = 1, #buffers do
    addrs[i] = ffi.cast(uintptr_t, lib.ld_buffer_retain(buffers[i]))
  end
  return sbuf.encode({ header, addrs, functions, extra })
end

--- Unpacks a message from pack: header, buffers (gc'ed ld_buffer *, owning
-- the transferred references), functions, extra.
function M.unpack(msg)
  local m = sbuf.decode(msg)
  local bufs = {}
  for i = 1, #m[2] do
    bufs[i] = ffi.gc(ffi.cast(buffer_ptr, m[2][i]), lib.ld_buffer_release)
  end
  return m[1], bufs, m[3], m[4]
end

local decoder = codec.decoder()

local function reply(v, info)
  local h, b = codec.encode(v)
  return M.pack(h, b, nil, info)
end

--- Decodes the value and encodes it again.
function M.echo(msg)
  local h, bufs, fns = M.unpack(msg)
  if fns then decoder:add_functions(fns) end
  local v = decoder:decode(h, bufs)
  return reply(v, { cached = decoder:cached() })
end

--- Decodes a task { f, arg1, ... }, calls it, encodes its result.
function M.call(msg)
  local h, bufs, fns = M.unpack(msg)
  if fns then decoder:add_functions(fns) end
  local task = decoder:decode(h, bufs)
  if type(task) ~= "table" or type(task[1]) ~= "function" then
    error("selftest.call: expected a task { f, ... }, got a " .. type(task))
  end
  local res = { pcall(task[1], unpack(task, 2, task.n or #task)) }
  if not res[1] then error(res[2], 0) end
  return reply({ select(2, unpack(res, 1, table.maxn(res))) }, { cached = decoder:cached() })
end

--- Decodes the value and reports a description of it (used for garbage tests).
function M.describe(msg)
  local h, bufs = M.unpack(msg)
  local ok, v = pcall(codec.decode, h, bufs)
  if not ok then return "error: " .. tostring(v) end
  return "ok: " .. type(v)
end

return M
