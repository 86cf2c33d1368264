-- ldask.task.payload: how a task travels, for both executors (the threaded
-- pool's lua/ldask/scheduler/executor.lua and the worker's
-- lua/ldask/worker/exec.lua) and the code that ships tasks to them
-- (lua/ldask/scheduler/threads.lua, ldask.client). One home for:
--   * the kinds of a payload or result slot (ld_value, runtime/lib/pool.h);
--   * RefId, the marker of a reference to another task of a threaded run;
--   * the fast record of a simple task (kind FAST): written by a writer,
--     run by a reader;
--   * the call form of the cluster {CALL, function hash, flags, arg...}:
--     built by call_task, run by a caller.
-- See docs/architecture.md ("How a task travels and runs").
local ffi = require "ffi"
local bit = require "bit"
local sbuf = require "string.buffer"
local V = require "ldask.ffi.pool"
local graph = require "ldask.graph"

local type, getmetatable, setmetatable, pairs, next, error, tostring, unpack =
  type, getmetatable, setmetatable, pairs, next, error, tostring, unpack
local byte, rep = string.byte, string.rep
local ffi_cast, ffi_string = ffi.cast, ffi.string
local Quote, Ref = graph.Quote, graph.Ref

ffi.cdef [[
/* one argument of a fast record (a Lua-side format: C only stores the
   record's bytes) */
typedef struct ld_fastarg { int32_t tag; int32_t i; double d; } ld_fastarg;
]]

local M = {}

-- Kinds of a payload or a result slot (ld_value.kind).
M.kinds = V

-- Tags of an ld_fastarg.
local A_NUM, A_REF, A_STR, A_TRUE, A_FALSE, A_NIL, A_SBUF, A_TASK = 0, 1, 2, 3, 4, 5, 6, 7
M.tags = { NUM = A_NUM, REF = A_REF, STR = A_STR, TRUE = A_TRUE, FALSE = A_FALSE, NIL = A_NIL,
  SBUF = A_SBUF, TASK = A_TASK }

-- A reference to the result of task id v[1] (0-based) in a task shipped to
-- the threaded pool.
local RefId = { __name = "ldask.refid" }
RefId.__index = RefId
M.RefId = RefId

local function refid(id) return setmetatable({ id }, RefId) end
M.refid = refid

-- Returns task/value V with references to keys of the graph (INDEX: key ->
-- 1-based position) replaced by RefId markers, calling ADD(i) for each
-- referenced position; V itself when it has no reference.
local function compile(v, index, owner, add)
  local t = type(v)
  if t == "string" then
    local i = index[v]
    if i then
      add(i)
      return refid(i - 1)
    end
    return v
  end
  if t ~= "table" then return v end
  local mt = getmetatable(v)
  if mt == nil then
    local out
    for k, x in pairs(v) do
      local tx = type(x)
      if tx == "string" or tx == "table" then
        local y = compile(x, index, owner, add)
        if y ~= x then
          if not out then
            out = {}
            for i = 1, #v do out[i] = v[i] end
            for k2, x2 in pairs(v) do out[k2] = x2 end
          end
          out[k] = y
        end
      end
    end
    return out or v
  elseif mt == Ref then
    local i = index[v[1]]
    if not i then error("task '" .. tostring(owner) .. "' depends on missing key '" .. v[1] .. "'", 0) end
    add(i)
    return refid(i - 1)
  end
  return v
end
M.compile = compile

---------------------------------------------------------------------------
-- The fast record of a simple task
--
-- Fast record of a task: int32 function index, int32 nargs, nargs
-- ld_fastarg {tag, i, d}, the bytes of its string arguments, then (after
-- the fixed part) the string.buffer encodings of its table arguments and
-- the records of its nested tasks. Offsets (d) are from the start of the
-- task's top-level record; every record starts 8-aligned.

local fastarg_ptr = ffi.typeof("ld_fastarg *")
local cfastarg_ptr = ffi.typeof("const ld_fastarg *")
local int32_ptr = ffi.typeof("int32_t *")
local cint32_ptr = ffi.typeof("const int32_t *")
local uint8_ptr = ffi.typeof("uint8_t *")
local PAD = "\0\0\0\0\0\0\0\0"

-- True when table T is plain data that string.buffer encodes as is: no
-- metatables, functions, cdata or cycles; keys and values scalars or such
-- tables. Unless QUOTED, it must not hold references (strings naming keys)
-- or tasks, which the task would have to resolve.
local function plain_data(t, index, quoted, depth)
  if depth > 20 or getmetatable(t) ~= nil then return false end
  if not quoted and type(t[1]) == "function" then return false end
  for k, x in next, t do
    local tk = type(k)
    if tk ~= "number" and tk ~= "string" and tk ~= "boolean" then return false end
    local tx = type(x)
    if tx == "string" then
      if not quoted and index[x] then return false end
    elseif tx == "table" then
      if not plain_data(x, index, quoted, depth + 1) then return false end
    elseif tx ~= "number" and tx ~= "boolean" then
      return false
    end
  end
  return true
end

-- Size in bytes of the fixed part of the fast record of task V (padded to
-- 8), or nil when V is not a simple task: {f, args...} whose arguments are
-- numbers, booleans, nil, strings, references (ldask.ref or key strings),
-- plain data tables, quoted scalars and plain data tables, or simple tasks
-- themselves (nested up to MAX_NEST deep: more than the 32 links of a
-- chain ldask.optimize fuses into one task). CHECKED: V is part of a task
-- fast_size accepted already: its nested tasks and tables are not checked
-- again (the writer sizes each nested record in turn: no quadratic work on
-- a deep fused chain).
local MAX_NEST = 40
local function fast_size(v, index, depth, checked)
  if type(v) ~= "table" or getmetatable(v) ~= nil or type(v[1]) ~= "function" then return nil end
  if depth > MAX_NEST then return nil end
  local n = #v
  local bytes = 8 + 16 * (n - 1)
  for j = 2, n do
    local a = v[j]
    local ta = type(a)
    if ta == "string" then
      if not index[a] then bytes = bytes + #a end
    elseif ta == "table" then
      local mt = getmetatable(a)
      if mt == Quote then
        local q = a[1]
        local tq = type(q)
        if tq == "string" then
          bytes = bytes + #q
        elseif tq == "table" then
          if not checked and not plain_data(q, index, true, 0) then return nil end
        elseif tq ~= "number" and tq ~= "boolean" and tq ~= "nil" then
          return nil
        end
      elseif mt == nil then
        if not checked then
          if type(a[1]) == "function" then
            if not fast_size(a, index, depth + 1) then return nil end
          elseif not plain_data(a, index, false, 0) then
            return nil
          end
        end
      elseif mt ~= Ref then
        return nil
      end
    elseif ta ~= "number" and ta ~= "boolean" and ta ~= "nil" then
      return nil
    end
  end
  return bit.band(bytes + 7, -8)
end
M.fast_size = fast_size

-- A writer of the fast records of one graph: INDEX maps keys to 1-based
-- positions, ADD(i) is called for each position a record refers to.
-- Returns { fast = the byte buffer, fns = functions by index (1-based),
-- fnkey = the key of the first task of each function, emit = function(v,
-- size, key, top) }: emit appends the record of simple task V (SIZE from
-- fast_size) and returns its offset from TOP.
function M.writer(index, add)
  local fns, fnidx, fnkey = {}, {}, {}
  local fast = sbuf.new()

  -- Appends the record of simple task V (fixed part SIZE bytes) of graph
  -- key KEY; TOP: where the top-level record starts. Returns the record's
  -- offset from TOP.
  local function emit(v, size, key, top)
    local f = v[1]
    local fi = fnidx[f]
    if not fi then
      fi = #fns
      fns[fi + 1] = f
      fnidx[f] = fi
      fnkey[fi + 1] = key
    end
    local na = #v - 1
    local rel = #fast - top
    local base = fast:reserve(size)
    local h = ffi_cast(int32_ptr, base)
    h[0], h[1] = fi, na
    local a = ffi_cast(fastarg_ptr, base + 8)
    local spos = 8 + 16 * na
    local later -- table and task arguments, written after the fixed part
    for j = 0, na - 1 do
      local x = v[j + 2]
      local tx = type(x)
      local r = a[j]
      r.i, r.d = 0, 0
      if tx == "number" then
        r.tag, r.d = A_NUM, x
      elseif tx == "string" then
        local ri = index[x]
        if ri then
          add(ri)
          r.tag, r.i = A_REF, ri - 1
        else
          r.tag, r.i, r.d = A_STR, #x, rel + spos
          ffi.copy(ffi_cast(uint8_ptr, base) + spos, x, #x)
          spos = spos + #x
        end
      elseif tx == "table" then
        local mt = getmetatable(x)
        if mt == Ref then
          local ri = index[x[1]]
          if not ri then error("task '" .. tostring(key) .. "' depends on missing key '" .. x[1] .. "'", 0) end
          add(ri)
          r.tag, r.i = A_REF, ri - 1
        else -- plain data, a nested task or a quote: scalars inline
          local q = x
          if mt == Quote then q = x[1] end
          local tq = type(q)
          if tq == "table" then
            r.tag = (mt == nil and type(q[1]) == "function") and A_TASK or A_SBUF
            later = later or {}
            later[#later + 1] = j
          elseif tq == "number" then
            r.tag, r.d = A_NUM, q
          elseif tq == "string" then
            r.tag, r.i, r.d = A_STR, #q, rel + spos
            ffi.copy(ffi_cast(uint8_ptr, base) + spos, q, #q)
            spos = spos + #q
          elseif q == true then
            r.tag = A_TRUE
          elseif q == false then
            r.tag = A_FALSE
          else
            r.tag = A_NIL
          end
        end
      elseif x == true then
        r.tag = A_TRUE
      elseif x == false then
        r.tag = A_FALSE
      else
        r.tag = A_NIL
      end
    end
    fast:commit(size)
    if later then
      for t = 1, #later do
        local j = later[t]
        local x = v[j + 2]
        local tag = ffi_cast(fastarg_ptr, fast:ref() + top + rel + 8)[j].tag
        local toff, tlen = #fast - top, 0
        if tag == A_TASK then
          toff = emit(x, fast_size(x, index, 0, true), key, top)
        else
          if getmetatable(x) == Quote then x = x[1] end
          fast:encode(x)
          tlen = #fast - top - toff
          local pad = bit.band(-#fast, 7)
          if pad > 0 then fast:put(PAD:sub(1, pad)) end
        end
        local r = ffi_cast(fastarg_ptr, fast:ref() + top + rel + 8) + j
        r.i, r.d = tlen, toff
      end
    end
    return rel
  end

  return { fast = fast, fns = fns, fnkey = fnkey, emit = emit }
end

-- A reader of fast records: INPUT(id) gives the value of the task of
-- 0-based id ID (a reference). Returns run(base, off), which runs the
-- record at OFF of the payload at BASE, and set_fns(fns), which sets the
-- functions of the records (the run's prelude).
function M.reader(input)
  local fns = {}
  local dbuf = sbuf.new() -- decodes plain data arguments in place
  local run_fast_at

  -- Argument X (ld_fastarg) of a simple task whose payload starts at BASE.
  local function fast_arg(base, x)
    local tag = x.tag
    if tag == A_NUM then return x.d end
    if tag == A_REF then return input(x.i) end
    if tag == A_STR then return ffi_string(base + x.d, x.i) end
    if tag == A_SBUF then
      dbuf:set(base + x.d, x.i)
      return dbuf:decode()
    end
    if tag == A_TASK then return (run_fast_at(base, x.d)) end -- a nested task gives one value
    if tag == A_TRUE then return true end
    if tag == A_FALSE then return false end
    return nil
  end

  -- Runs the simple task whose record is at OFF in the payload at BASE.
  run_fast_at = function(base, off)
    local h = ffi_cast(cint32_ptr, base + off)
    local f, na = fns[h[0] + 1], h[1]
    local a = ffi_cast(cfastarg_ptr, base + off + 8)
    if na == 1 then return f(fast_arg(base, a[0])) end
    if na == 0 then return f() end
    if na == 2 then return f(fast_arg(base, a[0]), fast_arg(base, a[1])) end
    local args = {}
    for j = 0, na - 1 do args[j + 1] = fast_arg(base, a[j]) end
    return f(unpack(args, 1, na))
  end

  return run_fast_at, function(f) fns = f end
end

---------------------------------------------------------------------------
-- The call form of the cluster: {CALL, function hash, flags, arg...}. The
-- function travels once (register-functions); flag 'r' marks an argument
-- holding dependency keys (evaluated with the graph's rules on the
-- worker), 'l' a literal.

local CALL = "\0ldask.call"
M.CALL = CALL

-- FLAG repeated N times, made once per N.
local function flags_of(flag)
  return setmetatable({}, { __index = function(t, n)
    local s = rep(flag, n); t[n] = s; return s
  end })
end
M.REFS, M.LITERALS = flags_of("r"), flags_of("l")

--- The call form of task SV ({f, args...}) whose function has hash FH:
-- every argument evaluated with the graph's rules.
function M.call_task(fh, sv)
  local n = #sv
  local t = { CALL, fh, M.REFS[n - 1] }
  for j = 2, n do t[j + 2] = sv[j] end
  return t
end

--- True when TASK is a call form.
function M.is_call(task)
  return type(task) == "table" and task[1] == CALL and getmetatable(task) == nil
end

--- A runner of call forms: RESOLVE(hash) gives the function, EVAL(arg) an
-- argument flagged 'r'. Returns run(task).
function M.caller(resolve, eval)
  return function(task)
    local f = resolve(task[2])
    local flags = task[3]
    local n = #flags
    if n == 0 then return f() end
    if n == 1 then
      local a = task[4]
      if byte(flags, 1) == 114 then a = eval(a) end
      return f(a)
    end
    local args = {}
    for i = 1, n do
      local a = task[3 + i]
      if byte(flags, i) == 114 then a = eval(a) end
      args[i] = a
    end
    return f(unpack(args, 1, n))
  end
end

return M
