--- ldask.optimize: graph optimizations applied by get/compute by default
-- (optimize_graph=false turns them off): cull to what the requested keys
-- need, inline constants into the tasks that use them, fuse linear chains
-- of tasks into nested tasks. Each returns a new graph (the input is never
-- mutated) and the dependency table of the result.
-- @module ldask.optimize
local graph = require "ldask.graph"
local misuse = require("ldask.errors").misuse

local pairs, type, getmetatable, pcall, tostring = pairs, type, getmetatable, pcall, tostring
local is_task, Ref, quote = graph.is_task, graph.Ref, graph.quote

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

-- Dependents count of every key.
local function dependents(deps)
  local n = {}
  for k, d in pairs(deps) do
    if n[k] == nil then n[k] = {} end
    for j = 1, #d do
      local dk = d[j]
      local l = n[dk]
      if l == nil then l = {}; n[dk] = l end
      l[#l + 1] = k
    end
  end
  return n
end

--- Inlines constants (keys whose value is not a task and refers to no key)
-- into the tasks that use them; requested keys stay. Returns graph, deps.
-- @param g the graph
-- @param keys a flat list of keys
-- @param[opt] deps each key's dependency keys
-- @return the graph and its deps
function M.inline_constants(g, keys, deps)
  local keep = {}
  for i = 1, #keys do keep[keys[i]] = true end
  local consts = {}
  for k, v in pairs(g) do
    if not keep[k] and not is_task(v) and #deps[k] == 0 then consts[k] = v end
  end
  if next(consts) == nil then return g, deps end
  local out, odeps = {}, {}
  for k, v in pairs(g) do
    if not consts[k] then
      local d, nd = deps[k], {}
      for j = 1, #d do
        local dk = d[j]
        if consts[dk] then
          local cv = consts[dk]
          v = subs(v, dk, type(cv) == "table" and getmetatable(cv) == graph.Quote and cv or quote(cv))
        else
          nd[#nd + 1] = dk
        end
      end
      out[k] = v
      odeps[k] = nd
    end
  end
  return out, odeps
end

-- Longest chain fused into one task: deeper nesting would only add
-- recursion for no further saving.
M.MAX_CHAIN = 32

--- Fuses linear chains: a task A with a single dependent B, where B has A as
-- its only dependency and A is not requested, is nested into B's task.
-- B keeps its key. Returns graph, deps.
-- @param g the graph
-- @param keys a flat list of keys
-- @param[opt] deps each key's dependency keys
-- @return the graph and its deps
function M.fuse(g, keys, deps)
  local keep = {}
  for i = 1, #keys do keep[keys[i]] = true end
  local users = dependents(deps)
  local out, odeps = {}, {}
  for k, v in pairs(g) do out[k] = v; odeps[k] = deps[k] end
  local fused = false
  -- walk each chain from its bottom-most fusable link upward
  for b, v in pairs(g) do
    local d = deps[b]
    if out[b] ~= nil and #d == 1 and is_task(v) then
      local a = d[1]
      local cur = b
      local links = 0
      while links < M.MAX_CHAIN do
        links = links + 1
        local ua = users[a]
        if keep[a] or not ua or #ua ~= 1 or not is_task(out[a]) then break end
        out[cur] = subs(out[cur], a, out[a])
        odeps[cur] = odeps[a]
        out[a], odeps[a] = nil, nil
        fused = true
        local da = deps[a]
        if #da ~= 1 then break end
        a = da[1]
      end
    end
  end
  if not fused then return g, deps end
  return out, odeps
end

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
  local og, od = M.cull(g, keys)
  og, od = M.inline_constants(og, keys, od)
  og, od = M.fuse(og, keys, od)
  return og, od
end

return M
