-- ldask.codec.funcs: what a Lua function is made of, for shipping it —
-- its bytecode (string.dump, debug info kept so tracebacks show file:line),
-- the globals it and its nested functions read or write (GGET/GSET found in
-- the bytecode), its upvalues, and a printable name (source:line).
-- Results are cached per function prototype.
local jutil = require "jit.util"
local bit = require "bit"

local funcinfo, funcbc, funck = jutil.funcinfo, jutil.funcbc, jutil.funck
local band, rshift = bit.band, bit.rshift
local dump = string.dump
local type, sort = type, table.sort

local M = {}

-- The opcode that PROBE uses on the global named ldask_codec_probe_:
-- found from the bytecode itself, so that jit.vmdef (absent from the
-- module path of a plain luajit under `luarocks path`) is not needed.
local function opcode(probe)
  local fi = funcinfo(probe)
  for pc = 1, fi.bytecodes - 1 do
    local ins = funcbc(probe, pc)
    if funck(probe, -rshift(ins, 16) - 1) == "ldask_codec_probe_" then return band(ins, 0xff) end
  end
  error("ldask.codec: cannot find the global access opcodes of this LuaJIT")
end
local GGET = opcode(function() return ldask_codec_probe_ end) -- luacheck: ignore
local GSET = opcode(function() ldask_codec_probe_ = 1 end) -- luacheck: ignore

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
