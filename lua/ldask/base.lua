-- ldask.base: running graphs and collections. get() picks a scheduler and
-- runs a graph; compute() merges the graphs of several collections (the
-- collection protocol of docs/architecture.md), runs them once, and
-- finalizes each result.
local graph = require "ldask.graph"
local config = require "ldask.config"
local misuse = require("ldask.errors").misuse

local type, getmetatable, pairs, select, tostring = type, getmetatable, pairs, select, tostring

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
  return M.scheduler_for(opts).get(g, keys, opts)
end

-- Runs graph G and returns the results of KEYS (a key or nested list) in
-- the same shape. OPTS: scheduler, num_workers, optimize_graph, ...
function M.get(g, keys, opts)
  if type(g) ~= "table" then misuse("ldask.get: graph must be a table, got " .. type(g)) end
  if keys == nil then misuse("ldask.get: no keys given") end
  check_opts(opts, "ldask.get")
  check_tasks(g)
  return run(g, keys, opts)
end

-- True when X implements the collection protocol.
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

-- compute(a, b, ... [, opts]): computes every collection among the
-- arguments in one merged graph; other values pass through unchanged.
-- Returns the results in order.
function M.compute(...)
  local n, opts = M.split_options(...)
  local args = { ... }
  local layers, keys, which = {}, {}, {}
  for i = 1, n do
    local a = args[i]
    if M.is_collection(a) then
      add_graph(layers, a)
      keys[#keys + 1] = a:__ldask_keys()
      which[#which + 1] = i
    end
  end
  local results = {}
  for i = 1, n do results[i] = args[i] end
  if #which == 0 then return unpack(results, 1, n) end
  local g = graph.flatten_layers(layers)
  local flatkeys = graph.flatten_keys(keys)
  for _, i in ipairs(which) do
    local c = args[i]
    if c.__ldask_optimize then g = c:__ldask_optimize(g, flatkeys) end
  end
  local out = run(g, keys, opts)
  for j, i in ipairs(which) do
    local finalize = args[i]:__ldask_postcompute()
    local r = out[j]
    results[i] = finalize and finalize(r) or r
  end
  return unpack(results, 1, n)
end

return M
