-- ldask.codec.cdata: the registry of cdata types the codec can ship
-- (codec.register_cdata). Each type has a name (the C type by default), an
-- encoder obj -> table, buffers and a decoder table, buffers -> obj, and an
-- optional module that registers it (required by a decoding state that has
-- not registered the name yet). ld_buffer * is registered here.
local ffi = require "ffi"
require "ldask.ffi.buffer"
local lib = require "ldask.native"

local istype, type, error, tostring, pcall, require = ffi.istype, type, error, tostring, pcall, require

local M = {}

local list = {} -- { ct, name, encode, decode, module }
local byname = {}

--- Registers CTYPE (a ctype or a C type string) with HANDLERS
-- { encode = fn, decode = fn, name = string?, module = string? }.
-- Registering the same name again replaces the handlers.
function M.register(ctype, handlers, level)
  level = (level or 1) + 1
  local ok, ct = pcall(ffi.typeof, ctype)
  if not ok then error("codec.register_cdata: bad ctype " .. tostring(ctype) .. ": " .. tostring(ct), level) end
  if type(handlers) ~= "table" then
    error("codec.register_cdata: handlers must be a table, got " .. type(handlers), level)
  end
  if type(handlers.encode) ~= "function" or type(handlers.decode) ~= "function" then
    error("codec.register_cdata: handlers.encode and handlers.decode must be functions", level)
  end
  local name = handlers.name or tostring(ct):match("^ctype<(.*)>$")
  if type(name) ~= "string" then error("codec.register_cdata: handlers.name must be a string", level) end
  if handlers.module ~= nil and type(handlers.module) ~= "string" then
    error("codec.register_cdata: handlers.module must be a require name (string)", level)
  end
  local entry = { ct = ct, name = name, encode = handlers.encode, decode = handlers.decode, module = handlers.module }
  for i = 1, #list do
    if list[i].name == name then
      list[i] = entry
      byname[name] = entry
      return entry
    end
  end
  list[#list + 1] = entry
  byname[name] = entry
  return entry
end

--- The entry whose type V has, or nil.
function M.find(v)
  for i = #list, 1, -1 do
    local e = list[i]
    if istype(e.ct, v) then return e end
  end
end

--- The entry registered under NAME in this state, requiring MODULE first when
-- needed. Returns the entry or nil, message.
function M.lookup(name, module)
  local e = byname[name]
  if e == nil and type(module) == "string" then
    local ok, err = pcall(require, module)
    if not ok then return nil, "cannot require module '" .. module .. "' for cdata type " .. name .. ": " .. tostring(err) end
    e = byname[name]
  end
  if e == nil then
    return nil, "cdata type '" .. tostring(name) .. "' is not registered in this state (codec.register_cdata)"
  end
  return e
end

-- ld_buffer * values travel as themselves: one buffer, no copy.
local buffer_ptr = ffi.typeof("ld_buffer *")
M.register(buffer_ptr, {
  name = "ld_buffer *",
  module = "ldask.codec",
  encode = function(b) return true, { b } end,
  decode = function(_, bufs) return ffi.gc(lib.ld_buffer_retain(bufs[1]), lib.ld_buffer_release) end,
})

return M
