--- ldask.tokenize: deterministic tokens (32 hex digits of an XXH3-128 hash)
-- of Lua values and functions, for key names: the same function and
-- arguments give the same key, so identical work is shared in a graph.
-- @submodule ldask
local ffi = require "ffi"
local sbuf = require "string.buffer"
require "ldask.ffi.util"

local type, pairs, tostring, getmetatable, sort = type, pairs, tostring, getmetatable, table.sort
local format, dump, getupvalue = string.format, string.dump, debug.getupvalue

local M = {}

local ctype_tokenizers = {}

-- Registers fn(cdata) -> string giving the canonical content of a ctype.
function M.register(ctype, fn) ctype_tokenizers[tonumber(ffi.typeof(ctype))] = fn end

local function key_lt(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local put

local function put_table(buf, t, seen)
  local mt = getmetatable(t)
  if mt and mt.__ldask_tokenize then buf:put("o", mt.__ldask_tokenize(t), ";"); return end
  if mt and type(t.__ldask_keys) == "function" and type(t.__ldask_graph) == "function" then
    buf:put("c"); put(buf, t:__ldask_keys(), seen); return
  end
  local keys, n = {}, 0
  for k in pairs(t) do n = n + 1; keys[n] = k end
  sort(keys, key_lt)
  buf:put("t", n, "{")
  for i = 1, n do
    local k = keys[i]
    put(buf, k, seen); put(buf, t[k], seen)
  end
  buf:put("}")
  if mt then buf:put("m"); put(buf, mt, seen) end
end

local function put_function(buf, f, seen)
  local ok, code = pcall(dump, f)
  if not ok then buf:put("C", tostring(f), ";"); return end
  buf:put("f", #code, ":", code)
  local i = 1
  while true do
    local name, v = getupvalue(f, i)
    if name == nil then break end
    put(buf, v, seen)
    i = i + 1
  end
  buf:put(";")
end

put = function(buf, v, seen)
  local t = type(v)
  if t == "string" then buf:put("s", #v, ":", v)
  elseif t == "number" then buf:put("d", format("%.17g", v), ";")
  elseif t == "boolean" then buf:put(v and "T" or "F")
  elseif t == "nil" then buf:put("n")
  elseif t == "table" or t == "function" then
    local id = seen[v]
    if id then buf:put("r", id, ";"); return end
    seen.n = seen.n + 1
    seen[v] = seen.n
    if t == "table" then put_table(buf, v, seen) else put_function(buf, v, seen) end
  elseif t == "cdata" then
    local tok = ctype_tokenizers[tonumber(ffi.typeof(v))]
    local s = tostring(v)
    -- a ctype object (ffi.typeof's result, e.g. an upvalue holding the
    -- ndarray type) has its own type's id but is no instance of it
    if tok and s:sub(1, 6) ~= "ctype<" then buf:put("x", tok(v), ";") else buf:put("p", s, ";") end
  else
    buf:put("u", tostring(v), ";")
  end
end

local out = ffi.new("char[33]")

--- Returns the token of the given values.
-- @param ... any values
-- @return the token, a hex string
function M.tokenize(...)
  local lib = require "ldask.native"
  local buf = sbuf.new()
  local seen = { n = 0 }
  local n = select("#", ...)
  for i = 1, n do put(buf, (select(i, ...)), seen) end
  local ptr, len = buf:ref()
  lib.ld_hash128_hex(ptr, len, out)
  return ffi.string(out, 32)
end

local counter = 0
-- Returns a fresh token, different on every call (for pure=false).
function M.unique()
  counter = counter + 1
  return M.tokenize(counter, os.time(), os.clock(), tostring({}))
end

return M
