-- ldask.client.mp: msgpack headers <-> Lua tables, through msgpack-c (core/net/mp.h).
-- Tables with a positive integer sequence (or empty and marked by M.array)
-- become arrays; other tables maps with string keys.
local ffi = require "ffi"
require "ldask.ffi.net"
local lib = require "ldask.native"

local type, pairs, tostring, error, floor = type, pairs, tostring, error, math.floor
local ffi_string, tonumber = ffi.string, tonumber

local M = {}

local ARRAY = setmetatable({}, { __mode = "k" })
-- Marks T (usually empty) to encode as a msgpack array. Returns T.
function M.array(t) ARRAY[t] = true; return t end

-- An empty array, shared (never modify it).
M.EMPTY = M.array({})

local function is_array(t)
  if ARRAY[t] then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1; if count > n then return false end end
  return true
end

local function where(parent, key)
  return key == nil and parent or (parent .. "." .. tostring(key))
end

-- Appends V; PARENT and KEY name its place for error messages (built only
-- when needed).
local function put(w, v, parent, key)
  local tv = type(v)
  if tv == "string" then
    lib.ld_mpw_str(w, v, #v)
  elseif tv == "number" then
    if v == floor(v) and v >= -9007199254740992 and v <= 9007199254740992 then
      lib.ld_mpw_int(w, v)
    else
      lib.ld_mpw_double(w, v)
    end
  elseif tv == "boolean" then
    lib.ld_mpw_bool(w, v and 1 or 0)
  elseif v == nil then
    lib.ld_mpw_nil(w)
  elseif tv == "table" then
    if is_array(v) then
      local n = #v
      lib.ld_mpw_array(w, n)
      for i = 1, n do put(w, v[i], parent, key) end
    else
      local n = 0
      for _ in pairs(v) do n = n + 1 end
      lib.ld_mpw_map(w, n)
      for k, x in pairs(v) do
        if type(k) ~= "string" then
          error("msgpack header: map key " .. tostring(k) .. " at " .. where(parent, key) .. " is not a string", 3)
        end
        lib.ld_mpw_str(w, k, #k)
        if type(x) == "table" then put(w, x, where(parent, key), k) else put(w, x, parent, k) end
      end
    end
  else
    error("msgpack header: cannot encode a " .. tv .. " at " .. where(parent, key), 3)
  end
end

local writer = ffi.gc(lib.ld_mpw_new(), lib.ld_mpw_free)

-- Encodes the table T as a msgpack string.
function M.encode(t)
  lib.ld_mpw_reset(writer)
  put(writer, t, "header", nil)
  return ffi_string(lib.ld_mpw_data(writer), lib.ld_mpw_size(writer))
end

-- Encodes the table T in place: a pointer to the bytes and their length,
-- valid until the next header is written here (no Lua string made).
function M.encode_ref(t)
  lib.ld_mpw_reset(writer)
  put(writer, t, "header", nil)
  return lib.ld_mpw_data(writer), tonumber(lib.ld_mpw_size(writer))
end

local ld_mpw_str, ld_mpw_int, ld_mpw_map, ld_mpw_array =
  lib.ld_mpw_str, lib.ld_mpw_int, lib.ld_mpw_map, lib.ld_mpw_array

-- A priority (integral, as the scheduler reads it, when in range).
local function put_prio(w, p)
  if p ~= floor(p) and p > -9007199254740992 and p < 9007199254740992 then p = floor(p) end
  put(w, p, "header", "priority")
end

-- The optional fields shared by every task of an update-graph.
local function put_shared(w, retries, workers)
  if retries ~= nil then ld_mpw_str(w, "retries", 7); put(w, retries, "header", "retries") end
  if workers ~= nil then ld_mpw_str(w, "workers", 7); put(w, workers, "header", "workers") end
end

local function put_key(w, k)
  if type(k) == "string" then ld_mpw_str(w, k, #k) else put(w, k, "header", "key") end
end

-- Encodes the header of an update-graph for TASKS[FIRST..LAST] (each
-- {key=, deps = {keys}}) in the column form (docs/protocol.md): NFRAMES[i]
-- and PRIOS[i] are task i's frame count and priority, RETRIES, WORKERS and
-- RESOURCES (may be nil) apply to every task (a task's own `resources`
-- field, from ldask.annotate, wins: then the column has one entry per
-- task), WANTED is the list of wanted keys. A
-- dependency on a task of the same message is written as that task's
-- 0-based index in the message, any other as its key (TASKS.pos, when
-- set, maps each key to its index in TASKS). Returns a pointer to the
-- header and its length, valid until the next header is written here.
function M.update_graph(tasks, first, last, nframes, prios, retries, workers, wanted, resources)
  local w = writer
  lib.ld_mpw_reset(w)
  local n = last - first + 1
  local ndeps, own = 0, false
  for i = first, last do
    local t = tasks[i]
    ndeps = ndeps + #t.deps
    if t.resources then own = true end
  end
  ld_mpw_map(w, 6 + (ndeps > 0 and 1 or 0) + (retries ~= nil and 1 or 0) + (workers ~= nil and 1 or 0)
    + ((own or resources ~= nil) and 1 or 0))
  ld_mpw_str(w, "op", 2); ld_mpw_str(w, "update-graph", 12)
  ld_mpw_str(w, "keys", 4); ld_mpw_array(w, n)
  for i = first, last do put_key(w, tasks[i].key) end
  ld_mpw_str(w, "nframes", 7); ld_mpw_array(w, n)
  for i = first, last do ld_mpw_int(w, nframes[i]) end
  ld_mpw_str(w, "priority", 8); ld_mpw_array(w, n)
  for i = first, last do put_prio(w, prios[i]) end
  ld_mpw_str(w, "ndeps", 5); ld_mpw_array(w, n)
  for i = first, last do ld_mpw_int(w, #tasks[i].deps) end
  if ndeps > 0 then
    -- (TASKS.pos, when the caller has it: key -> position in TASKS)
    local pos = tasks.pos
    if not pos then
      pos = {}
      for i = first, last do pos[tasks[i].key] = i end
    end
    ld_mpw_str(w, "deps", 4); ld_mpw_array(w, ndeps)
    for i = first, last do
      local d = tasks[i].deps
      for j = 1, #d do
        local k = d[j]
        local x = pos[k]
        if x and x >= first and x <= last then ld_mpw_int(w, x - first) else put_key(w, k) end
      end
    end
  end
  put_shared(w, retries, workers)
  if own then
    ld_mpw_str(w, "resources", 9); ld_mpw_array(w, n)
    for i = first, last do put(w, tasks[i].resources or resources, "header", "resources") end
  elseif resources ~= nil then
    ld_mpw_str(w, "resources", 9); put(w, resources, "header", "resources")
  end
  ld_mpw_str(w, "wanted", 6)
  local nw = #wanted
  ld_mpw_array(w, nw)
  for i = 1, nw do put_key(w, wanted[i]) end
  return lib.ld_mpw_data(w), tonumber(lib.ld_mpw_size(w))
end

-- The same header for tasks without dependencies, of one frame each, all
-- wanted: keys KEYS[FIRST..LAST] (strings), task i's priority PBASE +
-- ORDER0 + i; RETRIES, WORKERS and RESOURCES (may be nil) apply to all.
function M.update_graph_flat(keys, first, last, pbase, order0, retries, workers, resources)
  local w = writer
  lib.ld_mpw_reset(w)
  local n = last - first + 1
  ld_mpw_map(w, 6 + (retries ~= nil and 1 or 0) + (workers ~= nil and 1 or 0) + (resources ~= nil and 1 or 0))
  ld_mpw_str(w, "op", 2); ld_mpw_str(w, "update-graph", 12)
  ld_mpw_str(w, "keys", 4); ld_mpw_array(w, n)
  for i = first, last do local k = keys[i]; ld_mpw_str(w, k, #k) end
  ld_mpw_str(w, "nframes", 7); ld_mpw_array(w, n)
  for _ = 1, n do ld_mpw_int(w, 1) end
  ld_mpw_str(w, "priority", 8); ld_mpw_array(w, n)
  local p0 = pbase + order0
  for i = first, last do put_prio(w, p0 + i) end
  ld_mpw_str(w, "ndeps", 5); ld_mpw_array(w, n)
  for _ = 1, n do ld_mpw_int(w, 0) end
  put_shared(w, retries, workers)
  if resources ~= nil then ld_mpw_str(w, "resources", 9); put(w, resources, "header", "resources") end
  ld_mpw_str(w, "wanted", 6); ld_mpw_array(w, n)
  for i = first, last do local k = keys[i]; ld_mpw_str(w, k, #k) end
  return lib.ld_mpw_data(w), tonumber(lib.ld_mpw_size(w))
end

local T_NIL, T_BOOL, T_POS, T_NEG = 0, 1, 2, 3
local T_F64, T_STR, T_ARR, T_MAP, T_BIN, T_F32 = 4, 5, 6, 7, 8, 10

local function get(o)
  local t = tonumber(o.type)
  if t == T_STR or t == T_BIN then return ffi_string(o.via.str.ptr, o.via.str.size)
  elseif t == T_POS then return tonumber(o.via.u64)
  elseif t == T_NEG then return tonumber(o.via.i64)
  elseif t == T_MAP then
    local r, kv = {}, o.via.map.ptr
    for i = 0, o.via.map.size - 1 do
      r[get(kv[i].key)] = get(kv[i].val)
    end
    return r
  elseif t == T_ARR then
    local r, p = {}, o.via.array.ptr
    for i = 0, o.via.array.size - 1 do r[i + 1] = get(p[i]) end
    return r
  elseif t == T_BOOL then return o.via.boolean
  elseif t == T_F64 or t == T_F32 then return o.via.f64
  elseif t == T_NIL then return nil
  end
  return nil
end

local errbuf = ffi.new("char[256]")
local reader = ffi.gc(lib.ld_mp_reader_new(), lib.ld_mp_reader_free)
-- Decodes LEN bytes at PTR (or the string PTR) holding one msgpack map.
-- Returns the table, or nil and an error message.
function M.decode(ptr, len)
  if type(ptr) == "string" then len = #ptr end
  local o = lib.ld_mp_reader_parse(reader, ptr, len, errbuf, 256)
  if o == nil then return nil, ffi_string(errbuf) end
  return get(o)
end

-- Reading a header in place, without a table for each of its arrays: the
-- parsed object (valid until the next parse or decode), its fields and
-- elements.

--- Parses LEN bytes at PTR: the root object, or nil and an error message.
function M.parse(ptr, len)
  local o = lib.ld_mp_reader_parse(reader, ptr, len, errbuf, 256)
  if o == nil then return nil, ffi_string(errbuf) end
  return o
end

--- Object O as a Lua value (tables for maps and arrays).
M.value = get

--- The value object of field NAME of map object O, or nil.
function M.field(o, name)
  if tonumber(o.type) ~= T_MAP then return nil end
  local kv, n = o.via.map.ptr, #name
  for i = 0, o.via.map.size - 1 do
    local k = kv[i].key
    if tonumber(k.type) == T_STR and k.via.str.size == n and ffi_string(k.via.str.ptr, n) == name then
      return kv[i].val
    end
  end
  return nil
end

--- The elements of array object O: a pointer to the first and their count;
-- nil when O is not an array.
function M.elements(o)
  if o == nil or tonumber(o.type) ~= T_ARR then return nil, 0 end
  return o.via.array.ptr, o.via.array.size
end

--- A string object's Lua string, or any other object's value (M.value).
function M.str(o)
  if tonumber(o.type) == T_STR then return ffi_string(o.via.str.ptr, o.via.str.size) end
  return get(o)
end

return M
