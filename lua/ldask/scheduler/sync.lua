-- ldask.scheduler.sync: the synchronous scheduler. Runs a graph in the
-- caller's Lua state, one task at a time, in the depth-first order of
-- graph.order, and releases each intermediate as soon as no waiting task
-- needs it. For debugging and for nested computes inside tasks.
local graph = require "ldask.graph"
local optimize = require "ldask.optimize"
local errors = require "ldask.errors"
local OPT = require("ldask.ffi.util").opt

local ffi = require "ffi"

local type, getmetatable, xpcall, tostring = type, getmetatable, xpcall, tostring
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

-- The reader of a table of results T (NIL standing for nil).
local function reader(t)
  return function(k)
    local r = t[k]
    if r == NIL then return nil end
    return r
  end
end

-- Task KEY failed with RES (errors.handler's): tells the callbacks CB, then
-- raises the task error naming KEY.
local function failed(cb, key, res)
  if cb and cb.fail then cb.fail(key) end
  if cb and cb.close then cb.close(false) end
  if errors.is_task_error(res) then error(res, 0) end
  error(errors.task_error(key, res.message, res.traceback), 0)
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
  local value = reader(cache)
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
    if not ok then failed(cb, key, res) end
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

--- Runs a graph holding compact layers (ldask.layer) for KEYS: PLAIN the
-- graph of its plain tasks, COMPACT its layers
-- (ldask.scheduler.layered.split), indexed as integers and never written
-- out: a compact task is its layer's template evaluated with the block
-- index and its inputs' values. OPTS as for get (no optimization: a layer
-- is fused as built). Returns the results in the shape of KEYS.
function M.get_layers(plain, compact, keys, opts)
  opts = opts or {}
  local layered = require "ldask.scheduler.layered"
  local layer = require "ldask.layer"
  local flat = graph.flatten_keys(keys)
  local ix = layered.index(plain, compact, layered.index_only)
  local index, ikeys, n, P = ix.index, ix.keys, ix.n, ix.nplain
  for i = 1, #flat do
    if not index[flat[i]] then errors.misuse("ldask.get: key(s) not in the graph: '" .. tostring(flat[i]) .. "'") end
  end
  local seq = optimize.order(ix, nil, flat)
  local offsets, cdeps = ix.offsets, ix.cdeps
  local remaining = ffi.new("int32_t[?]", n)
  for e = 0, offsets[n] - 1 do remaining[cdeps[e]] = remaining[cdeps[e]] + 1 end
  local wanted = {}
  for i = 1, #flat do wanted[index[flat[i]]] = true end
  local values = {} -- position -> value (NIL for nil)
  local value_at = reader(values)
  local eval = graph.evaluator(function(s)
    local i = index[s]
    if i then return value_at(i) end
    return s
  end, Ref, function(k) return value_at(index[k]) end)
  local cur, cur_index = 0, 0
  local leval = graph.evaluator(nil, layer.Arg, function(code)
    if code == -1 then return cur_index end
    local first = offsets[cur - 1]
    if code > 0 then return value_at(cdeps[first + code - 1] + 1) end
    local out = {}
    for e = first, offsets[cur] - 1 do out[#out + 1] = value_at(cdeps[e] + 1) end
    return out
  end)
  local function run(i)
    if i <= P then return eval(plain[ikeys[i]]) end
    local l, b = layered.block_of(ix, i)
    cur, cur_index = i, b
    return leval(l.template)
  end
  local cb = opts.callbacks or require("ldask.diagnostics").adapter(opts, n, ikeys, nil)
  local handler = errors.handler
  for p = 1, n do
    local i = seq[p]
    if cb and cb.start then cb.start(ikeys[i]) end
    local ok, res = xpcall(run, handler, i)
    if not ok then failed(cb, ikeys[i], res) end
    if res == nil then res = NIL end
    values[i] = res
    for e = offsets[i - 1], offsets[i] - 1 do
      local d = cdeps[e]
      local r = remaining[d] - 1
      remaining[d] = r
      if r == 0 and not wanted[d + 1] then values[d + 1] = nil end
    end
    if cb and cb.finish then cb.finish(ikeys[i]) end
  end
  if cb and cb.close then cb.close(true) end
  if opts.stats then opts.stats.tasks = n end
  local out = {}
  for i = 1, #flat do out[flat[i]] = values[index[flat[i]]] end
  return shape(keys, out)
end

return M
