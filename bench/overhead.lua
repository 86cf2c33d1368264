-- bench/overhead.lua: per-task overhead of the local schedulers on the graph
-- of ../shared/anchors/dask_overhead.py — N trivial tasks (inc on each
-- integer) plus a fan-in-8 tree sum — in microseconds per task, for sync and
-- threads; the engine's bytes per task on a 1,000,000-task graph, which
-- also runs to completion; Python dask side by side when installed.
--   bin/ldask bench/overhead.lua [N]
local ffi = require "ffi"
local ldask = require "ldask"
local lib = require "ldask.native"
require "ldask.ffi.pool"
local now = lib.ld_pool_now

local N = tonumber(arg and arg[1]) or 100000
local NW = ldask.config.get("num_workers")

local support = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "support.lua")
local inc, anchor_graph, peak_rss_mb = support.inc, support.anchor_graph, support.peak_rss_mb
local function best_of(k, fn) return support.best_of(k, fn, now) end

print(string.format("ldask %s, %s, %d executor threads, %s", ldask.version, jit.version, NW, os.date("!%Y-%m-%d %H:%M UTC")))
local g, root, ntasks = anchor_graph(N)
local expect = N * (N + 1) / 2
ldask.get({ warm = { inc, 1 } }, "warm", { scheduler = "threads", num_workers = NW })

local results = {}
for _, case in ipairs {
  { "sync", { scheduler = "sync", optimize_graph = false } },
  { "threads", { scheduler = "threads", optimize_graph = false, num_workers = NW } },
  { "threads (1 thread)", { scheduler = "threads", optimize_graph = false, num_workers = 1 } },
  { "threads, optimized", { scheduler = "threads", num_workers = NW } },
  { "sync, optimized", { scheduler = "sync" } },
} do
  local dt = best_of(3, function()
    local r = ldask.get(g, root, case[2])
    assert(r == expect, "wrong sum " .. tostring(r))
  end)
  results[case[1]] = dt / ntasks * 1e6
  print(string.format("%-20s %d tasks %.3fs  %.2f us/task", case[1] .. ":", ntasks, dt, dt / ntasks * 1e6))
end

-- Python dask on the same graph, same machine, same run.
local py = io.popen("/usr/bin/python3 -c 'import dask' 2>/dev/null && echo yes")
local have_py = py:read("*a"):match("yes")
py:close()
if have_py then
  local script = "/work/shared/anchors/dask_overhead.py"
  local f = io.open(script)
  if f then
    f:close()
    local p = io.popen("/usr/bin/python3 " .. script .. " " .. N .. " 2>&1")
    local out = p:read("*a")
    p:close()
    io.write("python dask:\n", (out:gsub("([^\n]+)", "  %1")))
    local ps = tonumber(out:match("sync:.-([%d.]+) us/task"))
    local pt = tonumber(out:match("threaded:.-([%d.]+) us/task"))
    if ps and pt then
      print(string.format("ratio python/ldask: sync %.1fx, threads %.1fx", ps / results.sync, pt / results.threads))
    end
  else
    print("python dask: " .. script .. " not found")
  end
else
  print("python dask: not installed (/usr/bin/python3 -c 'import dask' failed)")
end

-- The engine alone on a 1,000,000-task graph: bytes per task, with keys.
require "ldask.ffi.sched"
do
  local n = 1000000
  local s = lib.ld_sched_new(nil, nil)
  -- the anchor structure: n - n/8 - ... leaves and a fan-in-8 tree
  local leaves = math.floor(n * 7 / 8)
  local off = ffi.new("int32_t[?]", n + 1)
  local idx = ffi.new("int32_t[?]", n)
  local m, nxt, lo, hi = 0, leaves, 0, leaves
  for i = 0, leaves - 1 do off[i] = 0 end
  -- parents of [lo, hi) in groups of 8
  while hi - lo > 1 and nxt < n do
    local first = nxt
    for j = lo, hi - 1, 8 do
      if nxt >= n then break end
      off[nxt] = m
      for q = j, math.min(j + 7, hi - 1) do idx[m] = q; m = m + 1 end
      nxt = nxt + 1
    end
    lo, hi = first, nxt
  end
  for i = nxt, n - 1 do off[i] = m end -- remaining: independent tasks
  off[n] = m
  assert(lib.ld_sched_add(s, n, off, idx, nil) == 0)
  for i = 0, n - 1 do
    local k = (i < leaves and "inc-9f3a1c5d," or "sum-77ab02e1,") .. i
    lib.ld_sched_set_key(s, i, k, #k)
  end
  local t = now()
  assert(lib.ld_sched_start(s) == 0)
  local out = ffi.new("int32_t[64]")
  local done = 0
  while true do
    local k = lib.ld_sched_pop(s, out, 64, 0)
    if k == 0 then break end
    for j = 0, k - 1 do lib.ld_sched_finish(s, out[j], nil, 8, 0, 0, 0) end
    done = done + k
  end
  local dt = now() - t
  assert(done == n and lib.ld_sched_status(s) == 1)
  print(string.format("engine: %d tasks, %d edges, %.1f bytes/task (keys included), %.3f us/task to run the state machine",
    n, m, tonumber(lib.ld_sched_bytes(s)) / n, dt / n * 1e6))
  lib.ld_sched_free(s)
end

-- A 1,000,000-task graph through the threaded scheduler, to completion.
do
  g = nil
  collectgarbage()
  local n1 = 875000
  local g1, root1, nt1 = anchor_graph(n1)
  local t = now()
  local r = ldask.get(g1, root1, { scheduler = "threads", optimize_graph = false, num_workers = NW })
  local dt = now() - t
  assert(r == n1 * (n1 + 1) / 2)
  print(string.format("threads: %d-task graph done in %.2fs (%.2f us/task)", nt1, dt, dt / nt1 * 1e6))
end
print(string.format("peak RSS: %.0f MiB", peak_rss_mb()))
