-- bench/support.lua: what several benchmarks share — the task graph of
-- ../shared/anchors/dask_overhead.py (N inc tasks and a fan-in-8 tree sum),
-- best-of-k timing and peak RSS. Load it with
--   local support = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "support.lua")
local benchutil = require "ldask.array.benchutil"

local M = {}

M.clock = benchutil.clock
M.peak_rss_mb = benchutil.peak_rss_mb

local function inc(x) return x + 1 end
local function add(...)
  local s = 0
  for i = 1, select("#", ...) do s = s + select(i, ...) end
  return s
end
-- The sum of the values of list T (a tree reduction's combining task).
local function sum_list(t)
  local s = 0
  for i = 1, #t do s = s + t[i] end
  return s
end
M.inc, M.add, M.sum_list = inc, add, sum_list

-- Adds to graph G a tree of add over the keys LEVEL, 8 at a time, level by
-- level (keys "s,depth,position"); returns the root key.
function M.tree_sum(g, level)
  local d = 0
  while #level > 1 do
    local nxt = {}
    for j = 1, #level, 8 do
      local k = "s," .. d .. "," .. (j - 1)
      local t = { add }
      for q = j, math.min(j + 7, #level) do t[#t + 1] = level[q] end
      g[k] = t
      nxt[#nxt + 1] = k
    end
    level = nxt
    d = d + 1
  end
  return level[1]
end

-- The anchor graph: {("x", i): (inc, i)} for i < N and a tree of add over
-- 8 at a time. Returns the graph, the root key and the number of tasks.
function M.anchor_graph(n)
  local g, level = {}, {}
  for i = 0, n - 1 do
    local k = "x," .. i
    g[k] = { inc, i }
    level[i + 1] = k
  end
  local root = M.tree_sum(g, level)
  local count = 0
  for _ in pairs(g) do count = count + 1 end
  return g, root, count
end

-- Seconds of the fastest of K runs of FN (a full collection before each),
-- timed with CLOCK (default: a monotonic clock).
function M.best_of(k, fn, clock)
  clock = clock or M.clock
  local best = math.huge
  for _ = 1, k do
    collectgarbage()
    local t = clock()
    fn()
    local dt = clock() - t
    if dt < best then best = dt end
  end
  return best
end

return M
