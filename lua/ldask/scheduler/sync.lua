-- ldask.scheduler.sync: the synchronous scheduler. Runs a graph in the
-- caller's Lua state, one task at a time, in the depth-first order of
-- graph.order, and releases each intermediate as soon as no waiting task
-- needs it. For debugging and for nested computes inside tasks.
local graph = require "ldask.graph"
local optimize = require "ldask.optimize"
local errors = require "ldask.errors"
local OPT = require("ldask.ffi.util").opt

local type, getmetatable, xpcall = type, getmetatable, xpcall
local NIL, Ref = graph.NIL, graph.Ref

local M = {}

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
  local ix, changed = nil, {}
  if opts.optimize_graph == false then
    ix = graph.index(g)
  else
    -- culled while indexed, then constants inlined and chains fused
    ix = optimize.indexed(graph.index(g, nil, flat), g, flat, function(i, v) changed[i] = v end)
  end
  local seq = optimize.order(ix, g, flat)
  local n, ikeys, gone = ix.n, ix.keys, ix.gone
  local KEPT = OPT.KEPT
  local wanted, remaining = {}, {}
  for i = 1, #flat do wanted[flat[i]] = true end
  for i = 1, n do
    local d = ix.deps[i]
    for j = 1, #d do remaining[d[j]] = (remaining[d[j]] or 0) + 1 end
  end
  local cache, live, max_live = {}, 0, 0
  local function value(k)
    local r = cache[k]
    if r == NIL then return nil end
    return r
  end
  local eval = graph.evaluator(function(s)
    if g[s] ~= nil then return value(s) end
    return s
  end, Ref, value)
  local cb = opts.callbacks or require("ldask.diagnostics").adapter(opts, ix.live or n, ikeys, gone)
  local handler = errors.handler
  for p = 1, n do
    local i = seq[p]
    if gone and gone[i - 1] ~= KEPT then goto continue end -- inlined or fused away
    local key = ikeys[i]
    if cb and cb.start then cb.start(key) end
    local task = changed[i]
    if task == nil then task = g[key] end
    local ok, res = xpcall(eval, handler, task)
    if not ok then
      if cb and cb.fail then cb.fail(key) end
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
    ::continue::
  end
  if cb and cb.close then cb.close(true) end
  if opts.stats then
    opts.stats.tasks = ix.live or n
    opts.stats.max_live = max_live
  end
  return shape(keys, cache)
end

return M
