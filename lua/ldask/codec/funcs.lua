-- ldask.codec.funcs: what a Lua function is made of, for shipping it —
-- its bytecode (string.dump, debug info kept so tracebacks show file:line),
-- the globals it and its nested functions read or write (GGET/GSET found in
-- the bytecode), its upvalues, and a printable name (source:line).
-- Results are cached per function prototype.
local jutil = require "jit.util"
local vmdef = require "jit.vmdef"
local bit = require "bit"

local funcinfo, funcbc, funck = jutil.funcinfo, jutil.funcbc, jutil.funck
local band, rshift = bit.band, bit.rshift
local dump = string.dump
local type, sort = type, table.sort

local M = {}

local function opcode(name)
  local names = vmdef.bcnames
  for i = 0, #names / 6 - 1 do
    if names:sub(i * 6 + 1, i * 6 + 6):match("^%S+") == name then return i end
  end
  error("ldask.codec: bytecode op " .. name .. " not found in jit.vmdef")
end
local GGET, GSET = opcode("GGET"), opcode("GSET")

local cache = setmetatable({}, { __mode = "k" }) -- proto -> info
local byclosure = setmetatable({}, { __mode = "k" }) -- closure -> info or false (C)

-- Adds the global names used by PROTO and its children to SET.
local function scan(proto, set, list)
  local fi = funcinfo(proto)
  for pc = 1, fi.bytecodes - 1 do
    local ins = funcbc(proto, pc)
    if not ins then break end
    local op = band(ins, 0xff)
    if op == GGET or op == GSET then
      local name = funck(proto, -rshift(ins, 16) - 1)
      if type(name) == "string" and not set[name] then
        set[name] = true
        list[#list + 1] = name
      end
    end
  end
  if fi.children then
    for n = -1, -fi.gcconsts, -1 do
      local k = funck(proto, n)
      if type(k) == "proto" then scan(k, set, list) end
    end
  end
end

--- Returns nil when F is a C function (or a fast function), else a table
-- { proto, bytecode, globals (sorted names), where ("src:line"), nups }.
function M.info(f)
  local known = byclosure[f]
  if known ~= nil then return known or nil end
  local fi = funcinfo(f)
  local proto = fi.proto
  if proto == nil then
    byclosure[f] = false
    return nil
  end
  local info = cache[proto]
  if info == nil then
    local list = {}
    scan(proto, {}, list)
    sort(list)
    local src = fi.source or "?"
    src = src:gsub("^[@=]", "")
    info = {
      proto = proto,
      bytecode = dump(f),
      globals = list,
      where = src .. ":" .. tostring(fi.linedefined or 0),
      nups = fi.upvalues,
    }
    cache[proto] = info
  end
  byclosure[f] = info
  return info
end

--- "src:line" of a Lua function, "[C]" for a C function.
function M.where(f)
  local fi = funcinfo(f)
  if fi.proto == nil then return "[C]" end
  local src = (fi.source or "?"):gsub("^[@=]", "")
  return src .. ":" .. tostring(fi.linedefined or 0)
end

--- True when F is a C (or builtin fast) function.
function M.is_c(f)
  return M.info(f) == nil
end

return M
