--- ldask.optimize: graph optimizations applied by get/compute by default
-- (optimize_graph=false turns them off): cull to what the requested keys
-- need, inline constants into the tasks that use them, fuse linear chains
-- of tasks into nested tasks. Each returns a new graph (the input is never
-- mutated) and the dependency table of the result. The schedulers do the
-- same on their indexed graph (M.indexed): graph.index culls while it
-- indexes, core/sched/optimize.c plans inlining and fusion on the CSR
-- arrays, and only the tasks that change are rewritten.
-- @module ldask.optimize
local ffi = require "ffi"
local bit = require "bit"
local graph = require "ldask.graph"
local misuse = require("ldask.errors").misuse

local pairs, type, getmetatable, pcall, tostring = pairs, type, getmetatable, pcall, tostring
local is_task, Ref, Quote, quote = graph.is_task, graph.Ref, graph.Quote, graph.quote

local M = {}

--- Returns the subgraph of G that KEYS (a flat list) need, and its deps.
-- DEPS (optional) gives each key's dependency keys: a table, or a function
-- (key, task) called once per key reached; by default they are read from
-- the tasks.
-- @param g the graph
-- @param keys a flat list of keys
-- @param[opt] deps each key's dependency keys
-- @return the graph and its deps
function M.cull(g, keys, deps)
  local out, odeps, stack = {}, {}, {}
  local deps_fn = type(deps) == "function" and deps
  if deps_fn then deps = nil end
  for i = 1, #keys do stack[i] = keys[i] end
  while #stack > 0 do
    local k = stack[#stack]; stack[#stack] = nil
    if out[k] == nil then
      local v = g[k]
      out[k] = v
      local d = deps_fn and deps_fn(k, v) or deps and deps[k] or graph.task_deps(g, v, k)
      odeps[k] = d
      for j = 1, #d do if out[d[j]] == nil then stack[#stack + 1] = d[j] end end
    end
  end
  return out, odeps
end

-- Returns a copy of task/value V with references to KEY replaced by VAL.
local function subs(v, key, val)
  local t = type(v)
  if t == "string" then return v == key and val or v end
  if t ~= "table" then return v end
  local mt = getmetatable(v)
  if mt == Ref then return v[1] == key and val or v end
  if mt ~= nil then return v end
  local copy, changed = {}, false
  for k, x in pairs(v) do
    local y = subs(x, key, val)
    copy[k] = y
    if y ~= x then changed = true end
  end
  return changed and copy or v
end
M.subs = subs

local O = require("ldask.ffi.util").opt
local lib -- ldask.native, loaded on first use
local ffi_new = ffi.new
local bor = bit.bor

-- Longest chain fused into one task: deeper nesting would only add
-- recursion for no further saving.
M.MAX_CHAIN = 32

-- True when plain table T holds a task (searched as the evaluator does,
-- DEPTH levels down so far).
local function holds_task(t, depth)
  if getmetatable(t) ~= nil or depth > 100 then return false end
  for _, x in pairs(t) do
    if type(x) == "table" and (is_task(x) or holds_task(x, depth + 1)) then return true end
  end
  return false
end

-- The value inlined for constant CV.
local function quoted(cv)
  if type(cv) == "table" and getmetatable(cv) == Quote then return cv end
  return quote(cv)
end

-- Applies the passes PASSES (bits of ldask.ffi.util's opt: INLINE, FUSE;
-- default both) to index IX of graph G (graph.index), KEYS being the
-- requested keys, in place: core/sched/optimize.c plans on the CSR arrays
-- which constants to inline (no dependency, not requested, neither a task
-- nor a literal holding one) and which tasks to nest into their only
-- dependent (a task whose only dependency they are; MAX_CHAIN links deep
-- at most); then only the tasks
-- that change are rewritten here, each given to RETASK(i, v) (1-based
-- position, new value). Inlined and fused tasks stay in the index, with no
-- dependency and no dependent: ix.gone (int32, 0-based) is then set and is
-- not ldask.ffi.util's opt.KEPT for them, ix.live counts the others, and
-- the CSR arrays are the new ones. Returns IX and whether it changed.
function M.indexed(ix, g, keys, retask, passes)
  local n, ikeys, index = ix.n, ix.keys, ix.index
  if n == 0 then return ix, false end
  lib = lib or require "ldask.native"
  local flags = ffi_new("uint8_t[?]", n)
  local off0 = ix.offsets
  for i = 1, n do
    local v = g[ikeys[i]]
    if is_task(v) then
      flags[i - 1] = O.TASK
    elseif type(v) == "table" and off0[i - 1] == off0[i] and holds_task(v, 0) then
      flags[i - 1] = O.HOLDS -- quoted, its tasks would no longer run
    end
  end
  for i = 1, #keys do
    local j = index[keys[i]]
    if j then flags[j - 1] = bor(flags[j - 1], O.OUTPUT) end
  end
  local off, deps = ix.offsets, ix.cdeps
  local into, below = ffi_new("int32_t[?]", n), ffi_new("int32_t[?]", n)
  local noff, ndeps = ffi_new("int32_t[?]", n + 1), ffi_new("int32_t[?]", ix.ndeps > 0 and ix.ndeps or 1)
  local changed, st = ffi_new("int32_t[?]", n), ffi_new("ld_opt_stats")
  local rc = lib.ld_opt_plan(n, off, deps, flags, passes or bor(O.INLINE, O.FUSE), M.MAX_CHAIN, into, below,
    noff, ndeps, changed, st)
  if rc ~= 0 then error("ldask: optimizing the graph failed (code " .. tostring(rc) .. ")", 0) end
  if st.ninlined + st.nfused == 0 then return ix, false end
  local INLINED = O.INLINED
  -- the task at 0-based position X with its constants inlined
  local function inlined(x)
    local v = g[ikeys[x + 1]]
    for p = off[x], off[x + 1] - 1 do
      local d = deps[p]
      if into[d] == INLINED then
        local dk = ikeys[d + 1]
        v = subs(v, dk, quoted(g[dk]))
      end
    end
    return v
  end
  local chain = {}
  for c = 0, st.nchanged - 1 do
    local s = changed[c]
    -- the chain nested into s, from s down
    local k, x = 0, s
    repeat
      k = k + 1
      chain[k] = x
      x = below[x]
    until x < 0 or into[x] ~= s
    local v = inlined(chain[k])
    for j = k - 1, 1, -1 do v = subs(inlined(chain[j]), ikeys[chain[j + 1] + 1], v) end
    retask(s + 1, v)
  end
  ix.offsets, ix.cdeps, ix.ndeps = noff, ndeps, st.ndeps
  ix.gone, ix.live = into, n - st.ninlined - st.nfused
  rawset(ix, "deps", nil)
  return ix, true
end

-- The graph {key -> task} and deps {key -> dependency keys} of index IX of
-- G after M.indexed, with the values CHANGED (position -> value).
local function graph_of(ix, g, changed)
  local out, odeps = {}, {}
  local keys, off, cdeps, gone = ix.keys, ix.offsets, ix.cdeps, ix.gone
  local KEPT = O.KEPT
  for i = 1, ix.n do
    if not gone or gone[i - 1] == KEPT then
      local k = keys[i]
      local v = changed[i]
      if v == nil then v = g[k] end
      out[k] = v
      local d, j = {}, 0
      for p = off[i - 1], off[i] - 1 do j = j + 1; d[j] = keys[cdeps[p] + 1] end
      odeps[k] = d
    end
  end
  return out, odeps
end

-- Applies PASSES to graph G (not culled) with DEPS; returns the new graph
-- and deps, or G and DEPS when nothing changes.
local function pass(g, keys, deps, passes)
  local ix = graph.index(g, deps)
  local changed = {}
  local _, any = M.indexed(ix, g, keys, function(i, v) changed[i] = v end, passes)
  if not any then return g, deps end
  return graph_of(ix, g, changed)
end

--- Inlines constants (keys whose value is not a task, holds no task and
-- refers to no key) into the tasks that use them; requested keys stay.
-- Returns graph, deps.
-- @param g the graph
-- @param keys a flat list of keys
-- @param[opt] deps each key's dependency keys
-- @return the graph and its deps
function M.inline_constants(g, keys, deps) return pass(g, keys, deps, O.INLINE) end

--- Fuses linear chains: a task A with a single dependent B, where B has A as
-- its only dependency and A is not requested, is nested into B's task.
-- B keeps its key. Returns graph, deps.
-- @param g the graph
-- @param keys a flat list of keys
-- @param[opt] deps each key's dependency keys
-- @return the graph and its deps
function M.fuse(g, keys, deps) return pass(g, keys, deps, O.FUSE) end

-- Orders index IX (graph.order) of the graph that the schedulers made
-- from G for KEYS. On a cycle, raises at the user's line naming every key
-- of the cycle as G has it: fusion nests a chain into the task of its last
-- key, so the optimized graph alone would name that key only ('k1' ->
-- 'k1'); the cycle is found again, in G culled but not fused, only then.
-- PRIO_ONLY as for graph.order.
function M.order(ix, g, keys, prio_only)
  local ok, seq, prio = pcall(graph.order, ix, prio_only)
  if ok then return seq, prio end
  if g then
    local cg, cd = M.cull(g, keys)
    local ok2, err = pcall(graph.order, graph.index(cg, cd))
    if not ok2 then seq = err end
  end
  misuse(tostring(seq))
end

-- Applies cull, inline_constants and fuse. Returns graph, deps.
function M.optimize(g, keys)
  local ix = graph.index(g, nil, keys)
  local changed = {}
  M.indexed(ix, g, keys, function(i, v) changed[i] = v end)
  return graph_of(ix, g, changed)
end

return M
