--- ldask.base: running graphs and collections. get() picks a scheduler and
-- runs a graph; compute() merges the graphs of several collections (the
-- collection protocol of docs/architecture.md), runs them once, and
-- finalizes each result.
-- @submodule ldask
local graph = require "ldask.graph"
local config = require "ldask.config"
local misuse = require("ldask.errors").misuse
local layered = require "ldask.scheduler.layered"

local type, getmetatable, pairs, ipairs, select, tostring, unpack =
  type, getmetatable, pairs, ipairs, select, tostring, unpack

local M = {}

local schedulers = {
  sync = "ldask.scheduler.sync",
  threads = "ldask.scheduler.threads",
  distributed = "ldask.client.scheduler",
}

-- True when a distributed client is open (without loading the client).
local function have_client()
  local client = package.loaded["ldask.client"]
  return client ~= nil and client.current() ~= nil
end

-- Returns the scheduler module for OPTS: opts.scheduler, else the open
-- client's cluster when there is one, else the configured default.
function M.scheduler_for(opts)
  local name = opts and opts.scheduler
  if name == nil then name = have_client() and "distributed" or config.get("scheduler") end
  if type(name) == "table" and type(name.get) == "function" then return name end
  local mod = schedulers[name]
  if not mod then
    misuse("ldask: unknown scheduler '" .. tostring(name) .. "' (expected 'threads', 'sync' or 'distributed')")
  end
  return require(mod)
end

local OPTION_NAMES = {
  scheduler = true, num_workers = true, optimize_graph = true, stats = true,
  progress = true, profile = true, callbacks = true,
}

-- Raises at the user's line unless OPTS is nil or a table (of compute
-- options only, when NAMES_TOO). WHO names the function in the message.
local function check_opts(opts, who, names_too)
  if opts == nil then return end
  if type(opts) ~= "table" then misuse(who .. ": options must be a table, got " .. type(opts)) end
  if not names_too then return end
  for k in pairs(opts) do
    if not OPTION_NAMES[k] then misuse(who .. ": unknown option '" .. tostring(k) .. "'") end
  end
end
M.check_opts = check_opts

-- A task written with a nil function ({nil, x}: the function's name is
-- misspelled or not yet defined) would otherwise be kept as data.
local function check_tasks(g)
  for k, v in pairs(g) do
    if type(v) == "table" and v[1] == nil and v[2] ~= nil and getmetatable(v) == nil then
      misuse("ldask.get: task '" .. tostring(k) .. "' has nil as its function ({nil, ...}):"
        .. " is the function defined, and spelled right, before this line?"
        .. " (to keep such a table as data, wrap it in ldask.quote)")
    end
  end
end

-- Runs G for KEYS on the scheduler OPTS choose (the arguments are checked).
local function run(g, keys, opts)
  opts = opts or {}
  if opts.optimize_graph == nil then opts.optimize_graph = config.get("optimize_graph") end
  local flat = graph.flatten_keys(keys)
  local ok, err = pcall(graph.check_keys, g, flat, 0)
  if not ok then misuse(err) end
  local sched = M.scheduler_for(opts)
  local fut = package.loaded["ldask.client.future"]
  -- futures (of a persisted collection, or passed to delayed) run here
  -- with their values, as dask's local schedulers do
  if fut and sched ~= package.loaded["ldask.client.scheduler"] then g = fut.resolve(g, 3) end
  return sched.get(g, keys, opts)
end

-- Runs graph G and returns the results of KEYS (a key or nested list) in
-- the same shape. OPTS: scheduler, num_workers, optimize_graph, ...
-- @param g the graph: a table `{ [key] = task or value }`
-- @param keys a key or a nested list of keys
-- @param[opt] opts `{ scheduler =, num_workers =, optimize_graph =, progress =, profile = }`
-- @return the results, in the shape of KEYS
-- @usage local g = { x = 1, y = { function(v) return v + 1 end, "x" } }
-- print(ldask.get(g, "y"))   --> 2
function M.get(g, keys, opts)
  if type(g) ~= "table" then misuse("ldask.get: graph must be a table, got " .. type(g)) end
  if keys == nil then misuse("ldask.get: no keys given") end
  check_opts(opts, "ldask.get")
  check_tasks(g)
  return run(g, keys, opts)
end

--- True when X implements the collection protocol.
-- @param x any value
-- @return boolean
function M.is_collection(x)
  local t = type(x)
  if t ~= "table" and t ~= "userdata" and t ~= "cdata" then return false end
  local ok, f = pcall(function() return x.__ldask_graph end)
  return ok and type(f) == "function"
end


local function is_options(t)
  if type(t) ~= "table" or getmetatable(t) ~= nil then return false end
  local any = false
  for k in pairs(t) do
    if not OPTION_NAMES[k] then return false end
    any = true
  end
  return any
end

-- Gathers the graph layers of a collection into LAYERS.
local function add_graph(layers, c)
  if c.__ldask_layers then
    for name, g in pairs(c:__ldask_layers()) do layers[name] = g end
  else
    layers[#layers + 1] = c:__ldask_graph()
  end
end

-- Splits compute()'s arguments into the objects and the options table.
function M.split_options(...)
  local n = select("#", ...)
  local last = select(n, ...)
  if n > 0 and is_options(last) then return n - 1, last end
  return n, {}
end

-- Collections among ARGS[1..N]: searched inside plain tables (lists and
-- keyed tables, nested), as dask's compute(traverse=True). Calls
-- FOUND(collection) for each, in a stable order (arguments in order,
-- then each table's array part in order and its other keys sorted).
local function sorted_keys(t)
  local ks, n = {}, #t
  for k in pairs(t) do
    if not (type(k) == "number" and k >= 1 and k <= n and k % 1 == 0) then ks[#ks + 1] = k end
  end
  table.sort(ks, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return ks, n
end

local function each_collection(v, found, seen)
  if M.is_collection(v) then found(v); return end
  if type(v) ~= "table" or getmetatable(v) ~= nil or seen[v] then return end
  seen[v] = true
  local ks, n = sorted_keys(v)
  for i = 1, n do each_collection(v[i], found, seen) end
  for _, k in ipairs(ks) do each_collection(v[k], found, seen) end
end

-- V with every value PRED accepts replaced by VALUE(it), in the same
-- nesting (plain tables are traversed; tables holding none are returned as
-- they are, not copied). Returns the result and whether anything was
-- replaced.
local function replace_where(v, pred, value)
  if pred(v) then return value(v), true end
  if type(v) ~= "table" or getmetatable(v) ~= nil then return v, false end
  local out, any = {}, false
  for k, x in pairs(v) do
    local y, has = replace_where(x, pred, value)
    out[k] = y
    any = any or has
  end
  if any then return out, true end
  return v, false
end
M.replace_where = replace_where

-- V with every collection replaced by VALUE(collection), same nesting.
local function replace_collections(v, value) return replace_where(v, M.is_collection, value) end
M.each_collection = function(v, found) return each_collection(v, found, {}) end
M.replace_collections = replace_collections

-- Runs the collections found in ARGS[1..N] as one merged graph (each run
-- once even when it appears twice). Returns { [collection] = result of its
-- keys } (not finalized).
-- The keys of collection C that persist keeps: its __ldask_persist_keys
-- when it has them (a dataframe's partitions, where compute asks for one
-- concatenating task), else its __ldask_keys.
local function persist_keys(c)
  if c.__ldask_persist_keys then return c:__ldask_persist_keys() end
  return c:__ldask_keys()
end
M.persist_keys = persist_keys

local function run_collections(args, n, opts, level, persisting)
  local layers, keys, list, index = {}, {}, {}, {}
  local seen = {}
  for i = 1, n do
    each_collection(args[i], function(c)
      if index[c] then return end
      add_graph(layers, c)
      list[#list + 1] = c
      index[c] = #list
      keys[#list] = persisting and persist_keys(c) or c:__ldask_keys()
    end, seen)
  end
  if #list == 0 then return nil end
  local flatkeys = graph.flatten_keys(keys)
  -- compact layers (ldask.layer) run as they are on threads, sync and a cluster
  local plain, compact = layered.split(layers)
  if compact then
    local sched = M.scheduler_for(opts)
    local ex = package.loaded["ldask.scheduler.executor"]
    local local_sched = sched == package.loaded["ldask.scheduler.threads"] or sched == package.loaded["ldask.scheduler.sync"]
    if local_sched and ex and ex.in_executor then sched = require "ldask.scheduler.sync" end -- (inside a task)
    if sched.get_layers then
      local fut = package.loaded["ldask.client.future"]
      if fut and local_sched then plain = fut.resolve(plain, level + 1) end
      local out = sched.get_layers(plain, compact, keys, opts)
      local results = {}
      for j, c in ipairs(list) do results[c] = out[j] end
      return results
    end
  end
  local g = graph.flatten_layers(layers)
  local optimized = {}
  for _, c in ipairs(list) do
    local opt = c.__ldask_optimize -- once per kind of collection, as dask
    if opt and not optimized[opt] then
      optimized[opt] = true
      g = opt(c, g, flatkeys)
    end
  end
  local out = run(g, keys, opts)
  local results = {}
  for j, c in ipairs(list) do results[c] = out[j] end
  return results
end

--- compute(a, b, ... [, opts]): computes every collection among the
-- arguments, also inside plain tables (nested lists and keyed tables), in
-- one merged graph; other values pass through unchanged. Returns the
-- results in order, tables in the same nesting.
-- @param ... collections, Delayed values, tables of them and other values, then optionally an options table as for get
-- @return the results, one per argument
-- @usage local a, b = ldask.delayed(math.sqrt)(16), ldask.delayed(math.max)(3, 7)
-- print(ldask.compute(a, b))   --> 4  7
-- local r = ldask.compute({ a, { b } })
-- print(r[1], r[2][1])         --> 4  7
function M.compute(...)
  local n, opts = M.split_options(...)
  local args = { ... }
  local results = run_collections(args, n, opts, 2)
  if not results then return unpack(args, 1, n) end
  local out = {}
  for i = 1, n do
    out[i] = (replace_collections(args[i], function(c)
      local finalize = c:__ldask_postcompute()
      local r = results[c]
      if finalize then return finalize(r) end
      return r
    end))
  end
  return unpack(out, 1, n)
end

-- The collection C with its data computed: rebuilt by its
-- __ldask_postpersist from LAYER (key -> value or future).
local function rebuild(c, layer, what, level)
  if not c.__ldask_postpersist then
    misuse(what .. ": a " .. type(c) .. " collection without __ldask_postpersist cannot be persisted")
  end
  return c:__ldask_postpersist()(layer)
end
M.rebuild_persisted = rebuild

--- persist(a, b, ... [, opts]): the collections among the arguments (also
-- inside plain tables) computed, as collections of the same kind whose
-- graphs hold the results: with a client open (or scheduler =
-- "distributed"), futures of data kept on the cluster (client:persist);
-- otherwise the values, in this process. Other values pass through.
-- @param ... collections and other values, then optionally an options table as for compute
-- @return the persisted collections, one per argument
-- @usage local x = ldask.persist(ldask.array.arange(10, { chunks = 5 }) * 2)
-- print(x:sum():compute())   --> 90
function M.persist(...)
  local n, opts = M.split_options(...)
  local args = { ... }
  local sched = M.scheduler_for(opts)
  if sched == package.loaded["ldask.client.scheduler"] then
    local client = require("ldask.client").current()
    if not client then
      misuse("ldask.persist: the 'distributed' scheduler needs a client: create one with ldask.Client(...)")
    end
    return client:persist(unpack(args, 1, n))
  end
  local results = run_collections(args, n, opts, 2, true)
  if not results then return unpack(args, 1, n) end
  local quote = graph.quote
  local out = {}
  for i = 1, n do
    out[i] = (replace_collections(args[i], function(c)
      local r = results[c]
      local layer = {}
      local function fill(k, v)
        if type(k) == "table" then
          for j = 1, #k do fill(k[j], v[j]) end
        else
          local tv = type(v) -- (tables and strings could read as tasks or keys)
          layer[k] = (tv == "table" or tv == "string") and quote(v) or v
        end
      end
      fill(persist_keys(c), r)
      return rebuild(c, layer, "ldask.persist", 4)
    end))
  end
  return unpack(out, 1, n)
end

-- x:persist([opts]), the collections' method: ldask.persist(x[, opts]),
-- with a nil OPTS not passed on as a second argument.
function M.persist_method(self, opts)
  if opts == nil then return M.persist(self) end
  return M.persist(self, opts)
end

return M
