-- ldask.codec.bounds: checks a string.buffer serialization before it is
-- decoded (see docs/codec.md, "Malformed input"). LuaJIT's decoder sizes
-- each table from the counts it announces before reading its elements, so
-- a 200-byte header announcing 2^28 slots made a worker allocate 800 MB
-- (found by fuzz/fuzz_codec). This walks the encoding once, refusing a
-- table that announces more elements than the bytes left could hold (each
-- takes at least one) and nesting deeper than string.buffer's encoder ever
-- writes (100); it also reads the prefix numbers for decode.lua's fast path.
local ffi = require "ffi"
local bit = require "bit"

local band, lshift = bit.band, bit.lshift
local copy, cast = ffi.copy, ffi.cast
local tonumber = tonumber

local M = {}

local ubox = ffi.new("uint32_t[1]")
local u8p = ffi.typeof("const uint8_t *")
M.MAX_DEPTH = 100

-- string.buffer's prefix-encoded unsigned number at P[I]; returns it and the
-- next index, or nil.
local function ru124(p, i, n)
  if i >= n then return nil end
  local v = p[i]
  if v < 0xe0 then return v, i + 1 end
  if v ~= 0xff then
    if i + 1 >= n then return nil end
    return lshift(band(v, 0x1f), 8) + p[i + 1] + 0xe0, i + 2
  end
  if i + 5 > n then return nil end
  copy(ubox, p + i + 1, 4)
  return tonumber(ubox[0]), i + 5
end
M.ru124 = ru124

-- Fixed sizes after the tag byte (nil: the tag has a variable part).
local FIXED = { [0] = 0, 0, 0, 0, 4, 8, 4, 8, [0x10] = 8, [0x11] = 8, [0x12] = 16 }

local stack = {} -- values left to read at each open table

--- Returns nil when the serialization in HEADER from byte START (0-based)
-- fits its bytes, else a message saying what does not. Truncated or
-- unknown encodings pass: the decoder reports them.
function M.check(header, start)
  local n = #header
  local p = cast(u8p, header)
  local i, depth = start, 0
  local pending = 1 -- values still to read at the current level
  while true do
    while pending == 0 do
      if depth == 0 then return nil end
      pending = stack[depth]
      depth = depth - 1
    end
    if i >= n then return nil end
    local tag = p[i]
    pending = pending - 1
    if tag >= 0x20 then
      local u, j = ru124(p, i, n)
      if j == nil then return nil end
      i = j + (u - 0x20)
    elseif FIXED[tag] then
      i = i + 1 + FIXED[tag]
    elseif tag >= 0x08 and tag <= 0x0d then
      local j, narr, nhash = i + 1, 0, 0
      if tag >= 0x0a then
        narr, j = ru124(p, j, n)
        if j == nil then return nil end
      end
      if band(tag, 1) ~= 0 then
        nhash, j = ru124(p, j, n)
        if j == nil then return nil end
      end
      local first = tag >= 0x0c and 1 or 0
      local count = narr - first + 2 * nhash
      if count > n - j then
        return ("a table announces %d array and %d hash slots in a header of %d bytes"):format(narr, nhash, n)
      end
      i = j
      if count > 0 then
        depth = depth + 1
        if depth > M.MAX_DEPTH then
          return ("tables nested deeper than %d levels"):format(M.MAX_DEPTH)
        end
        stack[depth] = pending
        pending = count
      end
    elseif tag == 0x0e then -- a metatable from the dictionary: a table follows
      local _, j = ru124(p, i + 1, n)
      if j == nil then return nil end
      i = j
      pending = pending + 1
    elseif tag == 0x0f then -- a string from the dictionary
      local _, j = ru124(p, i + 1, n)
      if j == nil then return nil end
      i = j
    else
      return nil -- unknown tag: the decoder refuses it
    end
  end
end

return M
