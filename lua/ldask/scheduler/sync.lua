-- ldask.scheduler.sync: the synchronous scheduler. Runs a graph in the
-- caller's Lua state, one task at a time, in the depth-first order of
-- graph.order, and releases each intermediate as soon as no waiting task
-- needs it. For debugging and for nested computes inside tasks.
local graph = require "ldask.graph"
local optimize = require "ldask.optimize"
local errors = require "ldask.errors"

local type, getmetatable, pairs, xpcall, unpack = type, getmetatable, pairs, xpcall, unpack
local NIL, Quote, Ref = graph.NIL, graph.Quote, graph.Ref

local M = {}

-- Evaluates argument V against computed results CACHE (key -> value, NIL
-- for nil) of graph G.
local function eval(v, g, cache)
  local t = type(v)
  if t == "string" then
    if g[v] ~= nil then
      local r = cache[v]
      if r == NIL then return nil end
      return r
    end
    return v
  end
  if t ~= "table" then return v end
  local mt = getmetatable(v)
  if mt == nil then
    local f = v[1]
    if type(f) == "function" then
      local n = #v
      if n == 1 then return f() end
      if n == 2 then return f(eval(v[2], g, cache)) end
      if n == 3 then return f(eval(v[2], g, cache), eval(v[3], g, cache)) end
      local args = {}
      for i = 2, n do args[i - 1] = eval(v[i], g, cache) end
      return f(unpack(args, 1, n - 1))
    end
    local out = {}
    for k, x in pairs(v) do out[k] = eval(x, g, cache) end
    return out
  elseif mt == Quote then
    return v[1]
  elseif mt == Ref then
    local r = cache[v[1]]
    if r == NIL then return nil end
    return r
  end
  return v
end
M.eval = eval

local function shape(keys, cache)
  if type(keys) == "table" and getmetatable(keys) == nil then
    local out = {}
    for i = 1, #keys do out[i] = shape(keys[i], cache) end
    return out
  end
  local r = cache[keys]
  if r == NIL then return nil end
  return r
end

-- Runs graph G for KEYS (a key or nested list of keys); returns the results
-- in the same shape. OPTS: optimize_graph (default true), progress and
-- profile (see ldask.diagnostics), stats (a table
-- that receives tasks = count run, max_live = the largest number of results
-- held at once), callbacks = {start = fn(key), finish = fn(key)}.
function M.get(g, keys, opts)
  opts = opts or {}
  local flat = graph.flatten_keys(keys)
  graph.check_keys(g, flat, 3)
  local deps
  if opts.optimize_graph == false then
    deps = graph.deps(g)
  else
    g, deps = optimize.optimize(g, flat)
  end
  local ix = graph.index(g, deps)
  local seq = graph.order(ix)
  local n, ikeys = ix.n, ix.keys
  local wanted, remaining = {}, {}
  for i = 1, #flat do wanted[flat[i]] = true end
  for i = 1, n do
    local d = ix.deps[i]
    for j = 1, #d do remaining[d[j]] = (remaining[d[j]] or 0) + 1 end
  end
  local cache, live, max_live = {}, 0, 0
  local cb = opts.callbacks or require("ldask.diagnostics").adapter(opts, n)
  local handler = errors.handler
  for p = 1, n do
    local i = seq[p]
    local key = ikeys[i]
    if cb and cb.start then cb.start(key) end
    local task = g[key]
    local ok, res = xpcall(eval, handler, task, g, cache)
    if not ok then
      if cb and cb.close then cb.close(false) end
      if errors.is_task_error(res) then error(res, 0) end
      error(errors.task_error(key, res.message, res.traceback), 0)
    end
    if res == nil then res = NIL end
    cache[key] = res
    live = live + 1
    if live > max_live then max_live = live end
    local d = ix.deps[i]
    for j = 1, #d do
      local di = d[j]
      local r = remaining[di] - 1
      remaining[di] = r
      if r == 0 then
        local dk = ikeys[di]
        if not wanted[dk] then cache[dk] = nil; live = live - 1 end
      end
    end
    if cb and cb.finish then cb.finish(key) end
  end
  if cb and cb.close then cb.close(true) end
  if opts.stats then
    opts.stats.tasks = n
    opts.stats.max_live = max_live
  end
  return shape(keys, cache)
end

return M
