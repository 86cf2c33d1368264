--- ldask.graph: the task-graph format shared by every part of ldask
-- (docs/architecture.md). A graph is {[key] = task | value}; a task is a
-- table whose [1] is a function: {f, arg1, ...}. Arguments that are strings
-- naming a key of the graph, or ldask.ref(key), are references; plain tables
-- are traversed; ldask.quote(v) is a literal. This module holds the helpers:
-- keys, references, dependencies, the one builder of the compact index that
-- C consumes (M.index), order.
-- @submodule ldask
local ffi = require "ffi"
require "ldask.ffi.util"
local table_new = require "table.new"

local type, getmetatable, setmetatable, pairs, next, rawset = type, getmetatable, setmetatable, pairs, next, rawset
local tostring, select, concat, error, unpack = tostring, select, table.concat, error, unpack

local M = {}

-- Literal wrapper: its content is passed to the task as is, never traversed.
local Quote = { __name = "ldask.quote" }
Quote.__index = Quote
Quote.__tostring = function(q) return "quote(" .. tostring(q[1]) .. ")" end
Quote.__ldask_tokenize = function(q) return "quote:" .. require("ldask.tokenize").tokenize(q[1]) end
M.Quote = Quote

-- Explicit reference to a key; unlike a bare string it must exist.
local Ref = { __name = "ldask.ref" }
Ref.__index = Ref
Ref.__tostring = function(r) return "ref(" .. r[1] .. ")" end
Ref.__ldask_tokenize = function(r) return "ref:" .. r[1] end
M.Ref = Ref

-- Sentinel standing for a nil result inside schedulers.
M.NIL = setmetatable({}, { __name = "ldask.nil", __tostring = function() return "nil" end })

--- Returns a literal that schedulers pass through untouched.
-- @param v any value
-- @return the quoted value
function M.quote(v) return setmetatable({ v }, Quote) end

--- Returns a reference to KEY; the graph must define KEY.
-- @param key a key of the graph
-- @return the reference
function M.ref(key)
  if type(key) ~= "string" then error("ldask.ref: key must be a string, got " .. type(key), 2) end
  return setmetatable({ key }, Ref)
end

--- Builds a block key: key("x", 0, 2) -> "x,0,2".
-- @param name the collection's name
-- @param ... the block indices
-- @return the key, a string
function M.key(name, ...)
  if type(name) ~= "string" then error("ldask.key: name must be a string, got " .. type(name), 2) end
  local n = select("#", ...)
  if n == 0 then return name end
  local parts = { name, ... }
  for i = 2, n + 1 do
    local v = parts[i]
    if type(v) ~= "number" and type(v) ~= "string" then
      error("ldask.key: index " .. (i - 1) .. " must be a number or string, got " .. type(v), 2)
    end
    parts[i] = tostring(v)
  end
  return concat(parts, ",")
end

-- Splits a block key into name and numeric indices: "x,0,2" -> "x", {0, 2}.
function M.split_key(key)
  local name, rest = key:match("^([^,]*),(.*)$")
  if not name then return key, {} end
  local idx = {}
  for part in rest:gmatch("[^,]+") do idx[#idx + 1] = tonumber(part) or part end
  return name, idx
end

--- Task builder: task(f, a, b) -> {f, a, b}.
-- @param f the function
-- @param ... its arguments
-- @return the task, a table
function M.task(f, ...)
  if type(f) ~= "function" then
    error("ldask.task: the function (argument 1) must be a function, got " .. type(f)
      .. (f == nil and ": is it defined, and spelled right, before this line?" or ""), 2)
  end
  return { f, ... }
end

-- True when T is a task: a plain table whose first element is a function.
local function is_task(t)
  return type(t) == "table" and type(t[1]) == "function" and getmetatable(t) == nil
end
M.is_task = is_task

-- Calls ADD(INDEX[k], k) for each key k that ARG refers to (the task or
-- value of key OWNER): a string k with INDEX[k] ~= nil, or ldask.ref(k),
-- which must be there; plain tables are searched, other tables are
-- literals. INDEX is the graph itself (M.task_deps) or an index's key ->
-- position table (M.index).
local function collect(arg, index, add, owner)
  local t = type(arg)
  if t == "string" then
    local i = index[arg]
    if i ~= nil then add(i, arg) end
  elseif t == "table" then
    local mt = getmetatable(arg)
    if mt == nil then
      for _, v in pairs(arg) do
        local tv = type(v)
        if tv == "string" or tv == "table" then collect(v, index, add, owner) end
      end
    elseif mt == Ref then
      local k = arg[1]
      local i = index[k]
      if i == nil then
        error(string.format("task '%s' depends on missing key '%s'", tostring(owner), k), 0)
      end
      add(i, k)
    end
  end
end

M.collect = collect

-- Returns the list of keys that the task or value V (of key KEY) in G needs.
function M.task_deps(g, v, key)
  local out, seen = {}, {}
  collect(v, g, function(_, k)
    if not seen[k] then seen[k] = true; out[#out + 1] = k end
  end, key)
  return out
end

-- Returns {[key] = {dep keys}} for every key of G.
function M.deps(g)
  local d = {}
  for k, v in pairs(g) do d[k] = M.task_deps(g, v, k) end
  return d
end

-- Flattens a key or a nested list of keys into a list.
function M.flatten_keys(keys, out)
  out = out or {}
  if type(keys) == "table" and getmetatable(keys) == nil then
    for i = 1, #keys do M.flatten_keys(keys[i], out) end
  else
    out[#out + 1] = keys
  end
  return out
end

-- Checks that every requested key is in G; raises naming the missing ones.
function M.check_keys(g, flat, level)
  local missing = {}
  for i = 1, #flat do
    local k = flat[i]
    if type(k) ~= "string" then
      error("ldask.get: keys must be strings, got " .. type(k) .. " at position " .. i, level or 3)
    end
    if g[k] == nil then missing[#missing + 1] = "'" .. k .. "'" end
  end
  if #missing > 0 then
    error("ldask.get: key(s) not in the graph: " .. concat(missing, ", "), level or 3)
  end
end

-- The 1-based dependency lists of index IX ({i -> {dep indices}}), made
-- from its CSR arrays on first use of ix.deps.
local function ideps_of(ix)
  local offsets, cdeps, out = ix.offsets, ix.cdeps, {}
  for i = 1, ix.n do
    local il, j = {}, 0
    for p = offsets[i - 1], offsets[i] - 1 do j = j + 1; il[j] = cdeps[p] + 1 end
    out[i] = il
  end
  return out
end
local Index = { __index = function(ix, k)
  if k == "deps" then
    local d = ideps_of(ix)
    rawset(ix, "deps", d)
    return d
  end
end }

-- The one builder of the indexed graph that C consumes (the engine, the
-- ordering, ldask.optimize) — used by every scheduler and the client:
-- { n, keys = {i -> key} (1-based), index = {key -> i} (1-based),
--   offsets, cdeps (int32 CSR of the dependencies, 0-based), ndeps,
--   deps = {i -> {dep indices}} (1-based, made on first use) }.
-- DEPS gives each task's dependencies:
--   * a table key -> list of dependency keys (what ldask.optimize returns:
--     pass it rather than computing them again);
--   * nil: read from the tasks (the keys M.task_deps finds);
--   * a function(i, key, v, index, add, known) called once per task in
--     index order, calling add(j) for each dependency (1-based, duplicates
--     are dropped): the threaded scheduler compiles each task's payload in
--     the same pass. KNOWN: how many keys the index held before the call
--     (with ROOTS, a dependency j > KNOWN was first met in this task).
-- ROOTS (optional, a flat list of keys of G): index only what they need
-- (culling in the same pass), the roots first, then each task's
-- dependencies in the order they are found; a key becomes known when a
-- lookup of INDEX misses it (so INDEX may be read for any string during
-- the pass). Without ROOTS every key of G, in pairs order.
-- EXTERN (optional, not with ROOTS): a function(key) giving the 1-based
-- position (> the number of keys of G) of a task kept outside G (a compact
-- layer's, ldask.scheduler.layered), or nil; INDEX answers through it.
function M.index(g, deps, roots, extern)
  local size = 0 -- every key of G: the most there can be
  for _ in pairs(g) do size = size + 1 end
  local keys, n = table_new(size, 0), 0
  local index = table_new(0, size) -- sized once: no rehashing
  assert(not (roots and extern), "graph.index: roots and extern exclude each other")
  if extern then
    setmetatable(index, { __index = function(_, k) return extern(k) end })
  end
  if roots then
    setmetatable(index, { __index = function(t, k)
      if g[k] == nil then return nil end
      n = n + 1
      keys[n] = k
      rawset(t, k, n)
      return n
    end })
    for i = 1, #roots do
      local _ = index[roots[i]]
    end
  else
    for k in pairs(g) do n = n + 1; keys[n] = k end
    for i = 1, n do index[keys[i]] = i end
  end
  local offsets = ffi.new("int32_t[?]", size + 1)
  local cap = 2 * size + 16
  local cdeps = ffi.new("int32_t[?]", cap)
  local m, cur = 0, 0
  local stamp = ffi.new("int32_t[?]", size + 1) -- the last task that added each dependency
  local stamp_extern = {}
  local function add(i)
    if i > size then -- a task of EXTERN
      if stamp_extern[i] == cur then return end
      stamp_extern[i] = cur
    else
      if stamp[i] == cur then return end
      stamp[i] = cur
    end
    if m == cap then
      local ncap = cap * 2
      local nd = ffi.new("int32_t[?]", ncap)
      ffi.copy(nd, cdeps, m * 4)
      cdeps, cap = nd, ncap
    end
    cdeps[m] = i - 1
    m = m + 1
  end
  local fn = type(deps) == "function" and deps
  local i = 0
  while i < n do -- n grows while ROOTS' dependencies are found
    i = i + 1
    offsets[i - 1] = m
    cur = i
    local key = keys[i]
    if fn then
      fn(i, key, g[key], index, add, n)
    elseif deps and deps[key] then
      local dl = deps[key]
      for j = 1, #dl do
        local x = index[dl[j]]
        if not x then
          error(string.format("task '%s' depends on missing key '%s'", tostring(key), tostring(dl[j])), 0)
        end
        add(x)
      end
    else
      collect(g[key], index, add, key)
    end
  end
  if roots then setmetatable(index, nil) end
  offsets[n] = m
  return setmetatable({ n = n, keys = keys, index = index, offsets = offsets, cdeps = cdeps, ndeps = m }, Index)
end

-- Returns the execution sequence of an index (list of 1-based task indices,
-- dependencies first, depth-first) and the priority array (int32, 0-based
-- positions). Raises naming the keys of a cycle. PRIO_ONLY: return nil and
-- the priorities (no Lua list of the sequence).
function M.order(ix, prio_only)
  local lib = require "ldask.native"
  local n = ix.n
  local seq = ffi.new("int32_t[?]", n > 0 and n or 1)
  local prio = ffi.new("int32_t[?]", n > 0 and n or 1)
  local at = ffi.new("int32_t[1]")
  local rc = lib.ld_order(n, ix.offsets, ix.cdeps, seq, prio, at)
  if rc == -1 then
    -- ld_order wrote the cycle into seq: each task depends on the next
    local names = {}
    for p = 0, n - 1 do
      local i = seq[p]
      if i < 0 then break end
      names[#names + 1] = "'" .. ix.keys[i + 1] .. "'"
    end
    names[#names + 1] = names[1]
    error("cycle in the task graph: " .. concat(names, " -> "), 0)
  elseif rc ~= 0 then
    error("ldask: ordering the graph failed (code " .. rc .. ")", 0)
  end
  if prio_only then return nil, prio end
  local out = {}
  for p = 0, n - 1 do out[p + 1] = seq[p] + 1 end
  return out, prio
end

-- True when task FROM reaches task TO through dependencies (1-based indices).
function M.reaches(ix, from, to)
  local seen, stack = { [from] = true }, { from }
  while #stack > 0 do
    local cur = stack[#stack]; stack[#stack] = nil
    if cur == to then return true end
    for _, d in ipairs(ix.deps[cur]) do
      if not seen[d] then seen[d] = true; stack[#stack + 1] = d end
    end
  end
  return false
end

-- Returns eval(v), the task semantics every executor shares: a task
-- {f, args...} is called with its evaluated arguments (nested tasks too), a
-- plain table is rebuilt from its evaluated values, a quote gives its
-- content. STRING_FN(s) resolves string arguments (nil: strings are
-- literals); a table whose metatable is REF_MT is a reference, resolved by
-- REF_FN(v[1]). Other values pass through.
function M.evaluator(string_fn, ref_mt, ref_fn)
  local eval
  eval = function(v)
    local t = type(v)
    if t == "string" then
      if string_fn then return string_fn(v) end
      return v
    end
    if t ~= "table" then return v end
    local mt = getmetatable(v)
    if mt == nil then
      local f = v[1]
      if type(f) == "function" then
        local n = #v
        if n == 1 then return f() end
        -- a nested task gives one value, its first, as a task's result does
        if n == 2 then return f((eval(v[2]))) end
        if n == 3 then return f(eval(v[2]), (eval(v[3]))) end
        local args = {}
        for i = 2, n do args[i - 1] = eval(v[i]) end
        return f(unpack(args, 1, n - 1))
      end
      local out = {}
      for k, x in pairs(v) do out[k] = eval(x) end
      return out
    elseif mt == ref_mt then
      return ref_fn(v[1])
    elseif mt == Quote then
      return v[1]
    end
    return v
  end
  return eval
end

-- Merges graphs (tables of key -> task) into a new table; later wins.
function M.merge(...)
  local out = {}
  for i = 1, select("#", ...) do
    local g = select(i, ...)
    if g then for k, v in pairs(g) do out[k] = v end end
  end
  return out
end

-- Layered graphs: collections keep {name -> graph} so that combining two
-- collections is O(layers), not O(tasks); flatten before running.
function M.flatten_layers(layers)
  local out = {}
  for _, g in pairs(layers) do
    local mt = getmetatable(g)
    if mt and mt.__name == "ldask.Layer" then
      require("ldask.layer").materialize(g, out) -- a compact layer: its plain tasks
    else
      for k, v in pairs(g) do out[k] = v end
    end
  end
  return out
end

return M
