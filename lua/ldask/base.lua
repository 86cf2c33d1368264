-- ldask.base: running graphs and collections. get() picks a scheduler and
-- runs a graph; compute() merges the graphs of several collections (the
-- collection protocol of docs/architecture.md), runs them once, and
-- finalizes each result.
local graph = require "ldask.graph"
local config = require "ldask.config"

local type, getmetatable, pairs, select = type, getmetatable, pairs, select

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
    error("ldask: unknown scheduler '" .. tostring(name) .. "' (expected 'threads', 'sync' or 'distributed')", 3)
  end
  return require(mod)
end

-- Runs graph G and returns the results of KEYS (a key or nested list) in
-- the same shape. OPTS: scheduler, num_workers, optimize_graph, ...
function M.get(g, keys, opts)
  if type(g) ~= "table" then error("ldask.get: graph must be a table, got " .. type(g), 2) end
  if keys == nil then error("ldask.get: no keys given", 2) end
  opts = opts or {}
  if opts.optimize_graph == nil then opts.optimize_graph = config.get("optimize_graph") end
  return M.scheduler_for(opts).get(g, keys, opts)
end

-- True when X implements the collection protocol.
function M.is_collection(x)
  local t = type(x)
  if t ~= "table" and t ~= "userdata" and t ~= "cdata" then return false end
  local ok, f = pcall(function() return x.__ldask_graph end)
  return ok and type(f) == "function"
end

local OPTION_NAMES = {
  scheduler = true, num_workers = true, optimize_graph = true, stats = true,
  progress = true, profile = true, callbacks = true,
}

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
  local out = M.get(g, keys, opts)
  for j, i in ipairs(which) do
    local finalize = args[i]:__ldask_postcompute()
    local r = out[j]
    if finalize then r = finalize(r) end -- (may be false: a bool 0-d array)
    results[i] = r
  end
  return unpack(results, 1, n)
end

return M
