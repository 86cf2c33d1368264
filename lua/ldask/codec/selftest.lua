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

-- A test cdata type: a vector of doubles whose storage is an ld_buffer.
-- Its data travels as a buffer, never through the header.
-- Its __tostring counts calls: the codec must never render a value.
M.tostring_calls = 0
M.vec_t = ffi.metatype(ffi.typeof("struct { ld_buffer *buf; int64_t n; }"), {
  __tostring = function(v)
    M.tostring_calls = M.tostring_calls + 1
    return "vec(" .. tostring(v.n) .. ")"
  end,
})
local vec_t = M.vec_t

local function free_vec(v)
  lib.ld_buffer_release(v.buf)
  v.buf = nil
end

--- A vec of N doubles 1..N (or filled by FILL(i) when given).
function M.new_vec(n, fill)
  local b = lib.ld_buffer_new(n * 8)
  assert(b ~= nil, "out of memory")
  local d = ffi.cast("double *", b.data)
  for i = 0, n - 1 do d[i] = fill and fill(i + 1) or i + 1 end
  local v = vec_t()
  v.buf = b
  v.n = n
  return ffi.gc(v, free_vec)
end

function M.vec_data(v) return ffi.cast("double *", v.buf.data) end

codec.register_cdata(vec_t, {
  name = "ldask.selftest.vec",
  module = "ldask.codec.selftest",
  encode = function(v) return { n = tonumber(v.n) }, { v.buf } end,
  decode = function(t, bufs)
    local v = vec_t()
    v.buf = lib.ld_buffer_retain(bufs[1])
    v.n = t.n
    return ffi.gc(v, free_vec)
  end,
})

-- A second test type whose handler's table is nested: a sub-table, a table
-- shared by every object's table (so by all of one message) and a Point
-- (metatable by module path). Its decode refuses anything incomplete and
-- keeps each table it got in M.tagged_seen.
M.tagged_t = ffi.typeof("struct { ld_buffer *buf; int32_t n; }") -- not vec_t's declaration: busted memoizes ffi.typeof
M.tagged_seen = {}
local tagged_meta = { unit = "m", dims = { "x", "y" } }

function M.new_tagged(n)
  local v = M.tagged_t()
  v.buf = lib.ld_buffer_new(8)
  assert(v.buf ~= nil, "out of memory")
  v.n = n
  return ffi.gc(v, free_vec)
end

codec.register_cdata(M.tagged_t, {
  name = "ldask.selftest.tagged",
  module = "ldask.codec.selftest",
  encode = function(v)
    local n = v.n
    return { n = n, shape = { n, { n + 1 } }, meta = tagged_meta, at = M.Point.new(n, 0) }, { v.buf }
  end,
  decode = function(t, bufs)
    local n = t.n
    local s, m = t.shape, t.meta
    if type(s) ~= "table" or s[1] ~= n or type(s[2]) ~= "table" or s[2][1] ~= n + 1 then
      error("tagged: nested table missing")
    end
    if type(m) ~= "table" or m.unit ~= "m" or type(m.dims) ~= "table" or m.dims[2] ~= "y" then
      error("tagged: shared table missing")
    end
    if getmetatable(t.at) ~= M.Point or t.at:norm2() ~= n * n then error("tagged: Point without its metatable") end
    M.tagged_seen[#M.tagged_seen + 1] = t
    local v = M.tagged_t()
    v.buf = lib.ld_buffer_retain(bufs[1])
    v.n = n
    return ffi.gc(v, free_vec)
  end,
})

-- Test classes: Point travels by module path (a field of this module),
-- Hidden only by its registered name.
M.Point = {}
M.Point.__index = M.Point
function M.Point.new(x, y) return setmetatable({ x = x, y = y }, M.Point) end
function M.Point:norm2() return self.x * self.x + self.y * self.y end

local Hidden = {}
Hidden.__index = Hidden
function Hidden:kind() return "hidden" end
codec.register("ldask.selftest.Hidden", Hidden, "ldask.codec.selftest")
function M.new_hidden() return setmetatable({}, Hidden) end

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

--- Runs a full garbage collection in this state (drops buffer references
-- held by collected values).
function M.gc()
  collectgarbage()
  collectgarbage()
  return ""
end

--- Decodes the value and reports a description of it (used for garbage tests).
function M.describe(msg)
  local h, bufs = M.unpack(msg)
  local ok, v = pcall(codec.decode, h, bufs)
  if not ok then return "error: " .. tostring(v) end
  return "ok: " .. type(v)
end

return M
