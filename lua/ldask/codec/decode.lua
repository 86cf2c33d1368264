-- ldask.codec.decode: rebuilds a value from a header and its buffers (see
-- docs/codec.md). Every malformed input raises a message starting with what
-- was wrong; nothing in a header can crash the state except bytecode, which
-- is only loaded after the header's checksum matched.
local ffi = require "ffi"
local sbuf = require "string.buffer"
require "ldask.ffi.buffer"
local tnew = require "table.new"
local bit = require "bit"
local index = require "ldask.codec.index"
local cdatareg = require "ldask.codec.cdata"
local encode = require "ldask.codec.encode"
local bounds = require "ldask.codec.bounds"

local type, error, tostring, tonumber, rawget, rawset, pcall, pairs, require =
  type, error, tostring, tonumber, rawget, rawset, pcall, pairs, require
local setmetatable, setfenv, loadstring = setmetatable, setfenv, loadstring
local setupvalue, upvaluejoin = debug.setupvalue, debug.upvaluejoin
local byte, sub, format = string.byte, string.sub, string.format
local istype, ffi_string = ffi.istype, ffi.string

local M = {}

local buffer_ptr = ffi.typeof("ld_buffer *")
local rbuf = sbuf.new()
local VERSION, PLAIN, GENERAL = encode.VERSION, encode.PLAIN, encode.GENERAL

local function fail(msg) error(msg, 0) end

--- Decodes a plain body (after the 2-byte prefix).
local function decode_plain(header)
  local bad = bounds.check(header, 2)
  if bad then fail("malformed header: " .. bad) end
  rbuf:set(header)
  rbuf:skip(2)
  local ok, v = pcall(rbuf.decode, rbuf)
  if not ok then fail("malformed header: " .. tostring(v)) end
  if #rbuf ~= 0 then fail(format("malformed header: %d trailing bytes", #rbuf)) end
  rbuf:reset()
  return v
end
-- string.buffer's decoder raising an error (corrupt input) from a compiled
-- trace crashes this LuaJIT (2.1 20220320, trace stitching around the C
-- call): functions that call it run interpreted. See docs/codec.md.
jit.off(decode_plain)

local function check(cond, msg)
  if not cond then fail("malformed header: " .. msg) end
end

local val, complete
local BUSY = {} -- D.cobjs[id] while the object's table is completed

-- The object of cdata record ID, decoded on first use. Its handler's decode
-- runs once everything the record's table reaches is complete (complete).
local function cdata_obj(D, id)
  local obj = D.cobjs[id]
  if obj ~= nil and obj ~= BUSY then return obj end
  local rec = D.cds[id]
  check(type(rec) == "table" and type(rec[1]) == "string", "cdata " .. tostring(id) .. " is not a record")
  if obj == BUSY then
    fail(format("cdata %d (type %s) is reached again while its own table is completed (a cycle through it)", id, rec[1]))
  end
  local entry, err = cdatareg.lookup(rec[1], rec[2])
  if not entry then fail(err) end
  local first, count = rec[4], rec[5]
  check(type(first) == "number" and type(count) == "number", "cdata " .. id .. " has no buffer range")
  local buffers = D.buffers
  local bufs = {}
  for k = 0, count - 1 do
    local b = buffers and buffers[first + k]
    if b == nil or not istype(buffer_ptr, b) then
      fail(format("buffer #%d (of %d given) for cdata type %s is missing or not an ld_buffer *",
        first + k, buffers and #buffers or 0, rec[1]))
    end
    bufs[k + 1] = b
  end
  D.cobjs[id] = BUSY
  complete(D, rec[3])
  local arg = val(D, rec[3])
  local ok, o = pcall(entry.decode, arg, bufs)
  if not ok then fail("decoder of cdata type " .. rec[1] .. " failed: " .. tostring(o)) end
  D.cobjs[id] = o
  return o
end

val = function(D, w)
  if type(w) ~= "table" then return w end
  local tag = w[1]
  if tag == 1 then
    local o = D.objs[w[2]]
    if o == nil then fail("malformed header: reference to missing table " .. tostring(w[2])) end
    return o
  elseif tag == 9 then
    local decl, mods = w[2], w[3]
    if type(decl) ~= "string" then fail("malformed header: bad ctype") end
    local ok, ct = pcall(ffi.typeof, decl)
    if not ok and type(mods) == "table" then
      for i = 1, #mods do
        if type(mods[i]) == "string" then pcall(require, mods[i]) end
      end
      ok, ct = pcall(ffi.typeof, decl)
    end
    if not ok then fail("cannot resolve ctype " .. decl .. " in this state: " .. tostring(ct)) end
    return ct
  elseif tag == 2 then
    local t = w[2]
    if type(t) ~= "table" then fail("malformed header: embedded value is a " .. type(t)) end
    return t
  elseif tag == 7 then
    local h = w[2]
    if type(h) ~= "string" then fail("malformed header: bad function hash") end
    local functions = D.functions
    if functions == nil then
      fail("function " .. h .. " was encoded by a session: decode with codec.decoder() after d:add_functions()")
    end
    return functions(h)
  elseif tag == 3 then
    local o = D.fobjs[w[2]]
    if o == nil then fail("malformed header: reference to missing function " .. tostring(w[2])) end
    return o
  elseif tag == 4 or tag == 5 or tag == 8 then
    local o, err = index.resolve(w)
    if o == nil then fail("cannot resolve reference " .. index.describe(w) .. ": " .. tostring(err)) end
    return o
  elseif tag == 6 then
    if type(w[2]) ~= "number" then fail("malformed header: bad cdata reference") end
    return cdata_obj(D, w[2])
  end
  fail("malformed header: unknown reference tag " .. tostring(tag))
end

-- Filling a table node, setting up a closure (upvalues, joins,
-- environment), setting a node's metatable. The main loops of
-- decode_general do each in order: node i is their step i, closure i step
-- #nodes + i, metatable i step #nodes + #fns + i, D.at the step they are at.
-- complete does some ahead of them, marked in D.nx, D.fx, D.mx. Filling uses
-- rawset: a metatable set early by complete runs no metamethod.
local function fill_node(D, i)
  local rec = D.plan[2][i]
  if rec[1] ~= 1 then return end
  local t, arr, hash = D.objs[i], rec[2], rec[3]
  for k = 1, #arr do rawset(t, k, val(D, arr[k])) end
  for k = 1, #hash, 2 do
    local key = val(D, hash[k])
    check(key ~= nil and key == key, "table key is nil or NaN in node " .. i)
    rawset(t, key, val(D, hash[k + 1]))
  end
end

local function setup_fn(D, i)
  local rec, f = D.plan[3][i], D.fobjs[i]
  for k, w in pairs(rec[2]) do setupvalue(f, k, val(D, w)) end
  local joins = rec[3]
  for k = 1, #joins do
    local j = joins[k]
    local other = D.fobjs[j[2]]
    check(type(j[1]) == "number" and other ~= nil and type(j[3]) == "number", "bad upvalue join")
    upvaluejoin(f, j[1], other, j[3])
  end
  if rec[4] == true then
    local genv = D.objs[D.plan[5]]
    check(genv ~= nil, "function " .. i .. " needs the globals node")
    setfenv(f, genv)
  elseif rec[4] ~= nil then
    local env = val(D, rec[4])
    check(type(env) == "table", "function environment is not a table")
    setfenv(f, env)
  end
end

local function set_mt(D, i)
  local mtw = D.plan[2][i][4]
  if mtw == nil then return end
  local mt = val(D, mtw)
  check(type(mt) == "table", "metatable of node " .. i .. " is a " .. type(mt))
  setmetatable(D.objs[i], mt)
end

local function push(stack, n, w)
  if type(w) ~= "table" then return n end
  stack[n + 1] = w
  return n + 1
end

-- Completes the tables and closures reachable from plan value W (filled,
-- upvalues and metatables set) before a cdata handler's decode sees them:
-- the plan is filled in node order, not in the order cdata objects are
-- reached. Walks the plan iteratively; cdata met on the way are decoded
-- then (recursion only as deep as cdata tables hold cdata). A table still
-- being filled further up (a cycle through the object) stays as it is.
complete = function(D, w)
  if type(w) ~= "table" then return end
  local nodes, fns, objs, fobjs = D.plan[2], D.plan[3], D.objs, D.fobjs
  local tag = w[1]
  if tag ~= 1 and tag ~= 3 then return end -- plain, embedded or by reference
  if tag == 1 then
    local rec = objs[w[2]] ~= nil and nodes[w[2]]
    if rec and rec[1] == 0 and rec[4] == nil then return end -- a leaf: complete from the start
  end
  if D.nx == nil then D.nx, D.fx, D.mx = {}, {}, {} end
  local nx, fx, mx = D.nx, D.fx, D.mx
  local stack, n = { w }, 1
  local nseen, fseen, reached = {}, {}, {}
  while n > 0 do
    local x = stack[n]
    stack[n] = nil
    n = n - 1
    local i = x[2]
    if x[1] == 1 and objs[i] ~= nil and not nseen[i] then
      nseen[i] = true
      reached[#reached + 1] = i
      if i > D.at and not nx[i] then
        nx[i] = true
        fill_node(D, i)
      end
      local rec = nodes[i]
      n = push(stack, n, rec[4])
      if rec[1] == 1 then
        local arr, hash = rec[2], rec[3]
        for k = 1, #arr do n = push(stack, n, arr[k]) end
        for k = 1, #hash do n = push(stack, n, hash[k]) end
      end
    elseif x[1] == 3 and fobjs[i] ~= nil and not fseen[i] then
      fseen[i] = true
      if #nodes + i > D.at and not fx[i] then
        fx[i] = true
        setup_fn(D, i)
      end
      local rec = fns[i]
      n = push(stack, n, rec[4] == true and { 1, D.plan[5] } or rec[4])
      for _, uw in pairs(rec[2]) do n = push(stack, n, uw) end
      for k = 1, #rec[3] do n = push(stack, n, { 3, rec[3][k][2] }) end
    end
  end
  for k = 1, #reached do
    local i = reached[k]
    if #nodes + #fns + i > D.at and not mx[i] then
      mx[i] = true
      set_mt(D, i)
    end
  end
end

-- The plan of a general header (after prefix and checksum).
local function decode_plan(header)
  local bad = bounds.check(header, 10)
  if bad then fail("malformed header: " .. bad) end
  rbuf:set(header)
  rbuf:skip(10)
  local ok, plan = pcall(rbuf.decode, rbuf)
  local left = #rbuf
  rbuf:reset()
  if not ok then fail("malformed header: " .. tostring(plan)) end
  check(left == 0, "trailing bytes")
  return plan
end
jit.off(decode_plan) -- see decode_plain

-- Decodes a general plan. FUNCTIONS(hash) resolves session function
-- references (nil outside a decoder).
local function decode_general(header, buffers, functions)
  if not encode.checksum_ok(header) then fail("checksum mismatch (corrupt or truncated header)") end
  local plan = decode_plan(header)
  check(type(plan) == "table", "plan is not a table")
  local nodes, fns, cds, gid = plan[2], plan[3], plan[4], plan[5]
  check(type(nodes) == "table" and type(fns) == "table" and type(cds) == "table", "plan lists missing")
  check(gid == nil or type(gid) == "number", "bad globals reference")

  local objs, fobjs = {}, {}
  local D = { objs = objs, fobjs = fobjs, cobjs = {}, cds = cds, buffers = buffers, functions = functions,
    plan = plan, at = 0 }
  -- 1. tables and closures exist before anything refers to them
  for i = 1, #nodes do
    local rec = nodes[i]
    check(type(rec) == "table", "node " .. i .. " is not a record")
    if rec[1] == 0 then
      check(type(rec[2]) == "table", "node " .. i .. " has no table")
      objs[i] = rec[2]
    elseif rec[1] == 1 then
      check(type(rec[2]) == "table" and type(rec[3]) == "table", "node " .. i .. " has no contents")
      objs[i] = tnew(#rec[2], #rec[3] / 2)
    else
      fail("malformed header: node " .. i .. " has kind " .. tostring(rec[1]))
    end
  end
  for i = 1, #fns do
    local rec = fns[i]
    check(type(rec) == "table" and type(rec[2]) == "table" and type(rec[3]) == "table",
      "function " .. i .. " is not a record")
    local where = tostring(rec[5])
    local bytecode = rec[1]
    if type(bytecode) == "table" then -- a session's shared prototype, by hash
      local h = bytecode[1]
      check(type(h) == "string", "function " .. i .. " has a bad prototype reference")
      if functions == nil then
        fail("function " .. where .. " was encoded by a session: decode with codec.decoder() after d:add_functions()")
      end
      bytecode = functions(h, "proto")
    end
    check(type(bytecode) == "string" and sub(bytecode, 1, 3) == "\27LJ",
      "function " .. i .. " (" .. where .. ") is not LuaJIT bytecode")
    local f, err = loadstring(bytecode)
    if not f then fail("cannot load function " .. where .. ": " .. tostring(err)) end
    fobjs[i] = f
  end
  if gid ~= nil then
    check(objs[gid] ~= nil, "globals node missing")
    setmetatable(objs[gid], { __index = _G })
  end

  -- 2. contents, then metatables (no metamethod runs while filling); a
  -- cdata object is decoded when first reached, its table completed first
  local nn, nf = #nodes, #fns
  for i = 1, nn do
    D.at = i
    if nodes[i][1] == 1 and (D.nx == nil or not D.nx[i]) then fill_node(D, i) end
  end
  for i = 1, nf do
    D.at = nn + i
    if D.fx == nil or not D.fx[i] then setup_fn(D, i) end
  end
  for i = 1, nn do
    if nodes[i][4] ~= nil then
      D.at = nn + nf + i
      if D.mx == nil or not D.mx[i] then set_mt(D, i) end
    end
  end
  return val(D, plan[1])
end

-- Small plain headers (up to FASTMAX bytes: nil, booleans, numbers,
-- strings, tables of these up to 8 deep) are read here directly, in Lua, with
-- every length checked, so this reader never raises and stays compiled.
-- Anything else (or anything odd) makes it give up: it returns nil, false
-- and the caller takes the string.buffer path, which reports errors.
local dbox = ffi.new("double[1]")
local NAN = 0 / 0
local ibox = ffi.new("int32_t[1]")
local u8p = ffi.typeof("const uint8_t *")
local copy, cast = ffi.copy, ffi.cast
local band = bit.band
local FASTMAX = 2048

local ru124 = bounds.ru124

-- Reads one object at P[I] (N bytes in all; HEADER: the same bytes as a
-- string, or nil); returns value, next index, or nil, nil to give up.
local function read_obj(p, i, n, header, depth)
  if i >= n then return nil, nil end
  local tag = p[i]
  if tag >= 0x20 then
    local u, j = ru124(p, i, n)
    if j == nil then return nil, nil end
    local len = u - 0x20
    if j + len > n then return nil, nil end
    if header == nil then return ffi_string(p + j, len), j + len end
    return sub(header, j + 1, j + len), j + len
  elseif tag == 0x07 then
    if i + 9 > n then return nil, nil end
    -- A NaN with other bits than LuaJIT's own reads as a tagged object from
    -- a compiled trace (a crash; found by fuzz/fuzz_codec): every NaN is
    -- given as the canonical one, as string.buffer's decoder does.
    if band(p[i + 8], 0x7f) == 0x7f and p[i + 7] >= 0xf0 and
       (band(p[i + 7], 0x0f) ~= 0 or p[i + 1] + p[i + 2] + p[i + 3] + p[i + 4] + p[i + 5] + p[i + 6] ~= 0) then
      return NAN, i + 9
    end
    copy(dbox, p + i + 1, 8)
    return dbox[0], i + 9
  elseif tag == 0x06 then
    if i + 5 > n then return nil, nil end
    copy(ibox, p + i + 1, 4)
    return tonumber(ibox[0]), i + 5
  elseif tag <= 0x02 then
    if tag == 0x00 then return nil, i + 1 end
    return tag == 0x02, i + 1
  elseif tag >= 0x08 and tag <= 0x0d and depth < 8 then
    local j = i + 1
    local narr, nhash = 0, 0
    if tag >= 0x0a then
      narr, j = ru124(p, j, n)
      if j == nil then return nil, nil end
    end
    if band(tag, 1) ~= 0 then
      nhash, j = ru124(p, j, n)
      if j == nil then return nil, nil end
    end
    local first = tag >= 0x0c and 1 or 0
    if narr - first + 2 * nhash > n - j then return nil, nil end
    local t = tnew(narr, nhash)
    local v
    for k = first, narr - 1 do
      v, j = read_obj(p, j, n, header, depth + 1)
      if j == nil then return nil, nil end
      if v ~= nil then t[k] = v end
    end
    for _ = 1, nhash do
      local key
      key, j = read_obj(p, j, n, header, depth + 1)
      if j == nil or key == nil or key ~= key then return nil, nil end
      v, j = read_obj(p, j, n, header, depth + 1)
      if j == nil or rawget(t, key) ~= nil then return nil, nil end
      rawset(t, key, v)
    end
    return t, j
  end
  return nil, nil
end

-- The value of the N bytes at P (HEADER: the same as a string, or nil)
-- and true, or nil and false when they are not a small plain header.
local function fast_at(p, n, header)
  if n < 3 or n > FASTMAX then return nil, false end
  if p[0] ~= VERSION or p[1] ~= PLAIN then return nil, false end
  local v, j = read_obj(p, 2, n, header, 0)
  if j ~= n then return nil, false end
  return v, true
end

--- Returns the value of a small plain header and true, or nil and false
-- when the header is not one this reader takes.
function M.fast(header) return fast_at(cast(u8p, header), #header, header) end

--- M.fast for the LEN bytes at PTR (a frame's data: no string made of the
-- whole header).
function M.fast_ptr(ptr, len) return fast_at(cast(u8p, ptr), tonumber(len), nil) end

--- Decodes HEADER with BUFFERS (array of ld_buffer *, borrowed) and
-- FUNCTIONS (nil, or hash -> function resolver). Raises a message string.
function M.decode(header, buffers, functions)
  if type(header) ~= "string" then fail("header must be a string, got " .. type(header)) end
  local v, mode = byte(header, 1, 2)
  if v ~= VERSION then
    if v == nil then fail("empty header") end
    fail(format("unsupported header version %d (this ldask reads version %d)", v, VERSION))
  end
  if mode == PLAIN then return decode_plain(header) end
  if mode == GENERAL then return decode_general(header, buffers, functions) end
  fail("malformed header: unknown mode byte " .. tostring(mode))
end

return M
