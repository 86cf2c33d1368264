-- bench/optimize.lua: what graph optimization (cull, inline, fuse: the
-- defaults of ldask.get and compute) costs on a graph where most tasks fuse:
-- C chains of L inc links under a fan-in-8 tree sum, in microseconds per
-- task of the graph as built, with and without optimization, on threads
-- and sync (docs/bench-scheduler.md; bench/overhead.lua measures the anchor
-- graph, where nothing fuses).
--   bin/ldask bench/optimize.lua [C] [L]      (default 10000 chains of 10)
local ldask = require "ldask"
local lib = require "ldask.native"
require "ldask.ffi.pool"
local now = lib.ld_pool_now

local C, L = tonumber(arg and arg[1]) or 10000, tonumber(arg and arg[2]) or 10
local NW = ldask.config.get("num_workers")
local support = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "support.lua")
local inc = support.inc

-- The graph: chain c is a,c,0 = inc(c) <- a,c,1 <- ... <- a,c,L-1; the
-- chains' last links are summed 8 at a time, level by level.
local g, tops = {}, {}
for c = 1, C do
  g["a," .. c .. ",0"] = { inc, c }
  for l = 1, L - 1 do g["a," .. c .. "," .. l] = { inc, "a," .. c .. "," .. (l - 1) } end
  tops[c] = "a," .. c .. "," .. (L - 1)
end
local root, ntasks = support.tree_sum(g, tops), 0
for _ in pairs(g) do ntasks = ntasks + 1 end
local expect = C * (C + 1) / 2 + C * L

print(string.format("ldask %s, %s, %d executor threads, %s; %d chains of %d links, %d tasks", ldask.version,
  jit.version, NW, os.date("!%Y-%m-%d %H:%M UTC"), C, L, ntasks))
ldask.get({ warm = { inc, 1 } }, "warm", { scheduler = "threads", num_workers = NW })
for _, case in ipairs {
  { "threads", { scheduler = "threads", optimize_graph = false, num_workers = NW } },
  { "threads, optimized", { scheduler = "threads", num_workers = NW } },
  { "sync", { scheduler = "sync", optimize_graph = false } },
  { "sync, optimized", { scheduler = "sync" } },
} do
  local stats = {}
  case[2].stats = stats
  local dt = support.best_of(3, function()
    local r = ldask.get(g, root, case[2])
    assert(r == expect, "wrong sum " .. tostring(r))
  end, now)
  print(string.format("%-20s %d tasks (%d run) %.3fs  %.2f us/task", case[1] .. ":", ntasks, stats.tasks, dt,
    dt / ntasks * 1e6))
end
