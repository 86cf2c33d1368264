-- ldask.codec.encode: turns a Lua value into a header string and a list of
-- ld_buffer references. Plain data (no functions, metatables, shared or
-- cyclic tables) goes straight through LuaJIT's string.buffer; anything else
-- is first flattened into a "plan" (numbered tables, functions and cdata
-- objects, references between them as small wrapper tables) that
-- string.buffer then encodes. The format is described in docs/codec.md.
local ffi = require "ffi"
local sbuf = require "string.buffer"
require "ldask.ffi.buffer"
require "ldask.ffi.util"
local lib = require "ldask.native"
local index = require "ldask.codec.index"
local funcs = require "ldask.codec.funcs"
local cdatareg = require "ldask.codec.cdata"

local type, next, rawget, rawequal, pairs, tostring, tonumber, error =
  type, next, rawget, rawequal, pairs, tostring, tonumber, error
local getmetatable = debug.getmetatable
local getupvalue, upvalueid, getfenv = debug.getupvalue, debug.upvalueid, getfenv
local istype, ffi_gc, ffi_string = ffi.istype, ffi.gc, ffi.string
local format = string.format

local M = {}

M.VERSION = 1
M.PLAIN = 0x50 -- 'P'
M.GENERAL = 0x47 -- 'G'
local PLAIN_PREFIX = "\1P"
M.PLAIN_PREFIX = PLAIN_PREFIX -- a plain header's first bytes (VERSION, PLAIN)
local GENERAL_PREFIX = "\1G"
M.MAXDEPTH = 90 -- deeper plain tables take the general path (string.buffer stops at 100)

local int64_t, uint64_t = ffi.typeof("int64_t"), ffi.typeof("uint64_t")
local buffer_ptr = ffi.typeof("ld_buffer *")
local hash_box = ffi.new("uint64_t[1]")

local out = sbuf.new()

local function is_int64(v) return istype(int64_t, v) or istype(uint64_t, v) end
M.is_int64 = is_int64

-- True when the whole tree under T is plain: tables without metatables,
-- reached once, no deeper than MAXDEPTH, holding strings, numbers, booleans
-- and int64 cdata only.
local function plain_table(t, depth, seen)
  if depth > M.MAXDEPTH or seen[t] or getmetatable(t) ~= nil then return false end
  seen[t] = true
  for k, v in next, t do
    local tk = type(k)
    if tk ~= "string" and tk ~= "number" and tk ~= "boolean" then
      if tk ~= "cdata" or not is_int64(k) then return false end
    end
    local tv = type(v)
    if tv == "table" then
      if not plain_table(v, depth + 1, seen) then return false end
    elseif tv ~= "string" and tv ~= "number" and tv ~= "boolean" then
      if tv ~= "cdata" or not is_int64(v) then return false end
    end
  end
  return true
end

--- True when V can take the plain path.
function M.is_plain(v)
  local tv = type(v)
  if tv == "table" then return plain_table(v, 0, {}) end
  if tv == "string" or tv == "number" or tv == "boolean" or tv == "nil" then return true end
  return tv == "cdata" and is_int64(v)
end

--- Header of a plain value.
-- (A buffer that grew past BIG is freed after use: kept, it would hold the
-- biggest value ever encoded for the life of the process.)
local BIG = 1048576

function M.plain(v)
  out:reset()
  out:put(PLAIN_PREFIX)
  out:encode(v)
  local h = out:tostring()
  if #out > BIG then out:free() end
  return h
end

--- The header of a plain value left in the encoder's buffer: a pointer and
-- a length, valid until the next encoding or plain_done() (a big value is
-- then copied once, by the caller, rather than also into a Lua string).
function M.plain_ref(v)
  out:reset()
  out:put(PLAIN_PREFIX)
  out:encode(v)
  return out:ref()
end

--- Done with plain_ref's header: a big buffer is freed.
function M.plain_done()
  if #out > BIG then out:free() else out:reset() end
end

local refusal = require("ldask.codec.refuse").message

local RESTART = { restart = true }
M.RESTART = RESTART

local function refuse(E, v, parent, how, name)
  error({ refuse = refusal(E, v, parent, how, name) }, 0)
end

---------------------------------------------------------------------------
-- General path

local conv

local function new_encoder(what, session, no_embed)
  return {
    what = what or "value",
    session = session,
    embed = not no_embed, -- plain sub-trees go into the plan as they are
    embedded = {}, -- tables inside embedded sub-trees
    noembed = {}, -- tables known not to be embeddable
    ids = {}, -- object -> wrapper
    nodes = {}, -- plan nodes
    fns = {}, -- plan functions
    cds = {}, -- plan cdata objects
    queue = {},
    qn = 0,
    parent = {}, -- object -> { parent, how, name }
    bufs = {}, -- ld_buffer * (retained, gc'ed)
    upids = {}, -- upvalue id -> { fn id, index }
    g = nil, -- shipped globals: node id
    gnames = nil, -- names already put into the globals node
  }
end
M.new_encoder = new_encoder

-- Shipped globals node: created on first use.
local function globals_node(E)
  if E.g == nil then
    local id = #E.nodes + 1
    E.nodes[id] = { 1, {}, {} }
    E.g = id
    E.gnames = {}
  end
  return E.nodes[E.g]
end

-- Modules that declare C types (ldask.ffi.*), for decoding ctypes.
local function ffi_modules()
  local list = {}
  for name in pairs(package.loaded) do
    if type(name) == "string" and name:find("^ldask%.ffi%.") then list[#list + 1] = name end
  end
  table.sort(list)
  return list
end

-- The declaration of V when V is a ctype object (ffi.typeof(...)), else nil.
-- tonumber gives a ctype object's type id and nil for pointer, struct and
-- array instances, so tostring (which would run an instance's __tostring)
-- is only called on ctype objects and numeric scalars.
local function ctype_decl(v)
  if tonumber(v) == nil then return nil end
  return tostring(v):match("^ctype<(.*)>$")
end

local function conv_cdata(E, v, parent, how, name)
  if is_int64(v) then return v end
  local decl = ctype_decl(v)
  if decl then
    if decl:find("^struct %d") or decl:find("^union %d") or decl:find("^enum %d") then
      error({ refuse = refusal(E, v, parent, how, name):gsub(" is a .*$", " is an anonymous ctype (" .. decl
        .. "): declare it with ffi.cdef in a module") }, 0)
    end
    E.ffimods = E.ffimods or ffi_modules()
    local w = { 9, decl, E.ffimods }
    E.ids[v] = w
    return w
  end
  local entry = cdatareg.find(v)
  if entry == nil then refuse(E, v, parent, how, name) end
  local id = #E.cds + 1
  local w = { 6, id }
  E.ids[v] = w
  E.parent[v] = { parent, how, name }
  E.cds[id] = false
  local ok, tbl, bufs = pcall(entry.encode, v)
  if not ok then
    error({ refuse = format("cannot ship %s: encoder of %s failed: %s", E.what, entry.name, tostring(tbl)) }, 0)
  end
  bufs = bufs or {}
  local first = #E.bufs + 1
  for i = 1, #bufs do
    local b = bufs[i]
    if not istype(buffer_ptr, b) or b == nil then
      error({ refuse = format("cannot ship %s: encoder of %s returned buffer #%d as a %s, not an ld_buffer *",
        E.what, entry.name, i, type(b)) }, 0)
    end
    E.bufs[#E.bufs + 1] = ffi_gc(lib.ld_buffer_retain(b), lib.ld_buffer_release)
  end
  E.cds[id] = { entry.name, entry.module, conv(E, tbl, v, "cdata", nil), first, #bufs }
  return w
end

local function conv_function(E, f, parent, how, name)
  local session = E.session
  if session ~= nil then
    local h = session.byfn[f]
    if h then
      local w = { 7, h }
      E.ids[f] = w
      return w
    end
  end
  if funcs.is_c(f) then refuse(E, f, parent, how, name) end
  if session ~= nil then
    local w = session:function_ref(f, E, parent, how, name)
    if w then
      E.ids[f] = w
      return w
    end
  end
  local id = #E.fns + 1
  local w = { 3, id }
  E.ids[f] = w
  E.parent[f] = { parent, how, name }
  E.fns[id] = false
  local qn = E.qn + 1
  E.qn = qn
  E.queue[qn] = f
  return w
end

-- Converts V (reached from PARENT as HOW NAME) into a plan value.
conv = function(E, v, parent, how, name)
  local tv = type(v)
  if tv == "string" or tv == "number" or tv == "boolean" or tv == "nil" then return v end
  local w = E.ids[v]
  if w ~= nil then return w end
  local rec = index.lookup_fast(v)
  if rec ~= nil then
    E.ids[v] = rec
    return rec
  end
  if tv == "table" then
    -- a table embedded earlier is reached again: it is shared after all
    if E.embedded[v] then error(RESTART, 0) end
    local id = #E.nodes + 1
    w = { 1, id }
    E.ids[v] = w
    E.parent[v] = { parent, how, name }
    E.nodes[id] = false
    local qn = E.qn + 1
    E.qn = qn
    E.queue[qn] = v
    return w
  elseif tv == "function" then
    return conv_function(E, v, parent, how, name)
  elseif tv == "cdata" then
    return conv_cdata(E, v, parent, how, name)
  end
  refuse(E, v, parent, how, name)
end
M.conv = conv

local function is_prim(v)
  local tv = type(v)
  return tv == "string" or tv == "number" or tv == "boolean" or (tv == "cdata" and is_int64(v))
end

-- Embedding: a sub-table that is plain (no metatable, primitives only, not
-- shared, not a module value, not deeper than EMBED_DEPTH) is put into the
-- plan as it is, as { 2, t }, and string.buffer encodes it directly. Sharing
-- is checked optimistically: when an embedded table is reached a second
-- time, encoding restarts without embedding (RESTART).
local EMBED_DEPTH = 60
local lookup_fast = index.lookup_fast

local function embed_ok(E, t, depth, seen)
  if depth > EMBED_DEPTH or seen[t] or E.noembed[t] or E.ids[t] ~= nil or E.embedded[t]
    or getmetatable(t) ~= nil or lookup_fast(t) ~= nil then
    E.noembed[t] = true
    return false
  end
  seen[t] = true
  for k, v in next, t do
    local tk = type(k)
    if tk ~= "string" and tk ~= "number" and tk ~= "boolean" and not (tk == "cdata" and is_int64(k)) then
      E.noembed[t] = true
      return false
    end
    local tv = type(v)
    if tv == "table" then
      if not embed_ok(E, v, depth + 1, seen) then
        E.noembed[t] = true
        return false
      end
    elseif tv ~= "string" and tv ~= "number" and tv ~= "boolean" and not (tv == "cdata" and is_int64(v)) then
      E.noembed[t] = true
      return false
    end
  end
  return true
end

local function conv_value(E, v, t, k)
  if E.embed and type(v) == "table" and E.ids[v] == nil and not E.noembed[v] then
    local seen = {}
    if embed_ok(E, v, 0, seen) then
      local embedded = E.embedded
      for x in next, seen do embedded[x] = true end
      return { 2, v }
    end
  end
  return conv(E, v, t, "field", k)
end

local function process_table(E, t)
  local id = E.ids[t][2]
  local mt = getmetatable(t)
  local leaf = true
  for k, v in next, t do
    if not is_prim(v) or not is_prim(k) then
      leaf = false
      break
    end
  end
  local mtw
  if mt ~= nil then mtw = conv(E, mt, t, "metatable", nil) end
  if leaf then
    E.nodes[id] = { 0, t, false, mtw }
    return
  end
  local arr, n = {}, 0
  while true do
    local v = rawget(t, n + 1)
    if v == nil then break end
    n = n + 1
    arr[n] = conv_value(E, v, t, n)
  end
  local hash, h = {}, 0
  for k, v in next, t do
    if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then
      hash[h + 1] = conv(E, k, t, "key", k)
      hash[h + 2] = conv_value(E, v, t, k)
      h = h + 2
    end
  end
  E.nodes[id] = { 1, arr, hash, mtw }
end

local std_globals = index.std_globals

local function process_function(E, f)
  local id = E.ids[f][2]
  local info = funcs.info(f)
  local ups, joins = {}, {}
  for i = 1, info.nups do
    local uname, val = getupvalue(f, i)
    local uid = upvalueid(f, i)
    local prev = E.upids[uid]
    if prev then
      joins[#joins + 1] = { i, prev[1], prev[2] }
    else
      E.upids[uid] = { id, i }
      ups[i] = conv(E, val, f, "upvalue", uname)
    end
  end
  -- The environment: a module table (or other by-reference value) travels
  -- by reference; otherwise (the usual _G, or a sandbox like busted's) the
  -- globals the code names are looked up through it and shipped by value,
  -- except the standard ones that hold their standard value.
  local env = getfenv(f)
  local envw
  local envref = env ~= _G and index.lookup_fast(env)
  if envref then
    envw = envref
  else
    local g = globals_node(E)
    local gnames = E.gnames
    local names = info.globals
    for i = 1, #names do
      local gname = names[i]
      if not gnames[gname] then
        local val
        if env == _G then val = rawget(_G, gname) else val = env[gname] end
        if val ~= nil and not (std_globals[gname] and rawequal(val, rawget(_G, gname))) then
          gnames[gname] = true
          local hash = g[3]
          hash[#hash + 1] = gname
          hash[#hash + 1] = conv(E, val, f, "global", gname)
        end
      end
    end
    envw = true
  end
  local bytecode = info.bytecode
  if E.proto_ref then bytecode = E.proto_ref(info) end
  E.fns[id] = { bytecode, ups, joins, envw, info.where }
end

-- Drains the queue of E.
local function run(E)
  local q = E.queue
  local i = 1
  while i <= E.qn do
    local obj = q[i]
    q[i] = nil
    if type(obj) == "table" then
      process_table(E, obj)
    else
      process_function(E, obj)
    end
    i = i + 1
  end
  E.qn = 0
end

--- Encodes V through the general path with encoder state E; returns the
-- header. Raises { refuse = msg } tables for unshippable values.
local body = sbuf.new()
local hash_ptr = ffi.typeof("const uint8_t *")

function M.general(E, v, parent, how, name)
  local root = conv(E, v, parent, how, name)
  run(E)
  local plan = { root, E.nodes, E.fns, E.cds, E.g }
  body:reset()
  body:encode(plan)
  local ptr, len = body:ref()
  hash_box[0] = lib.ld_hash64(ptr, len, 0x6c64)
  out:reset()
  out:put(GENERAL_PREFIX)
  out:putcdata(hash_box, 8)
  out:put(body)
  if #body > BIG then body:free() else body:reset() end
  local h = out:tostring()
  if #out > BIG then out:free() end
  return h
end

--- True when the 8 checksum bytes of general HEADER match its body.
function M.checksum_ok(header)
  local n = #header
  if n < 10 then return false end
  local p = ffi.cast(hash_ptr, header)
  hash_box[0] = lib.ld_hash64(p + 10, n - 10, 0x6c64)
  local h = ffi.cast(hash_ptr, hash_box)
  for i = 0, 7 do
    if h[i] ~= p[2 + i] then return false end
  end
  return true
end

--- Checksum of a general body, as 8 raw bytes.
function M.checksum(b)
  hash_box[0] = lib.ld_hash64(b, #b, 0x6c64)
  return ffi_string(hash_box, 8)
end

return M
