-- bench/distributed.lua: overhead of distributed ldask on one machine, next
-- to Python dask.distributed on ../shared/anchors/dask_distributed_overhead.py
-- in the same run: a local cluster of a scheduler and 2 workers of 1 thread
-- each, all on loopback.
--   1. client:map of N trivial tasks, then gather (tasks/s)
--   2. the tree graph of the anchor (N inc tasks summed 8 at a time,
--      22,859 tasks for N = 20,000) through client:get
--   3. one submit -> result round trip of a trivial task (mean of 200)
-- then the scheduler's and workers' peak RSS.
--   bin/ldask bench/distributed.lua [N] [--no-anchor]
local client = require "ldask.client"
local lib = require "ldask.native"

local n = tonumber(arg[1]) or 20000
local now = lib.ld_client_now
local here = _LDASK_ROOT or debug.getinfo(1, "S").source:sub(2):match("(.*)/bench/") or "."
local anchor = here .. "/../shared/anchors/dask_distributed_overhead.py"

local support = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "support.lua")
local inc = support.inc

local c = client({ n_workers = 2, threads_per_worker = 1 })
c:gather(c:map(inc, { 1, 2, 3, 4, 5 })) -- warm

local ours = {}

-- 1. map + gather
local seq = {}
for i = 1, n do seq[i] = i end
local t0 = now()
local fs = c:map(inc, seq)
local r = c:gather(fs)
local dt = now() - t0
local s = 0
for i = 1, n do s = s + r[i] end
assert(s == n * (n + 1) / 2 + n, "map+gather result is wrong")
ours.map = n / dt
print(("map+gather %d tasks: %.3fs %.1f us/task  %.0f tasks/s"):format(n, dt, dt / n * 1e6, n / dt))
for _, f in ipairs(fs) do f:release() end
fs, r = nil, nil
collectgarbage()

-- 2. tree graph
local g, root, ntasks = support.anchor_graph(n)
t0 = now()
local total = c:get(g, root)
dt = now() - t0
assert(total == n * (n + 1) / 2, "tree graph result is wrong: " .. tostring(total))
ours.graph = ntasks / dt
print(("graph %d tasks: %.3fs %.1f us/task %.0f tasks/s"):format(ntasks, dt, dt / ntasks * 1e6, ntasks / dt))

-- 3. round trip (after a full collection: the steady state, not the
-- previous cases' garbage)
g = nil
collectgarbage()
local o = client.options { pure = false }
for i = 1, 20 do c:submit(inc, i, o):result() end
t0 = now()
for i = 1, 200 do c:submit(inc, i, o):result() end
dt = (now() - t0) / 200
ours.rtt = dt
print(("round trip: %.3f ms (%.0f us)"):format(dt * 1e3, dt * 1e6))

-- peak RSS
local function hwm(pid)
  local f = io.open("/proc/" .. pid .. "/status")
  if not f then return 0 end
  local st = f:read("*a"); f:close()
  return tonumber(st:match("VmHWM:%s*(%d+)")) or 0
end
local pids = c.cluster.pids
print(("peak RSS: scheduler %.1f MB, workers %.1f MB and %.1f MB, client %.1f MB"):format(
  hwm(c.cluster.scheduler_pid) / 1024, hwm(c.cluster.workers[1]) / 1024, hwm(c.cluster.workers[2]) / 1024,
  hwm("self") / 1024))
c:close()
assert(#pids == 3)

-- Python dask.distributed, same machine, same run
local p = io.popen("/usr/bin/python3 -c 'import distributed' 2>&1; echo rc=$?")
local have = p:read("*a"):match("rc=0") and arg[2] ~= "--no-anchor"
p:close()
if have then
  print("\n== Python dask.distributed: " .. anchor)
  p = io.popen("/usr/bin/python3 " .. anchor .. " " .. n .. " 2>/dev/null")
  local out = p:read("*a"); p:close()
  io.write(out)
  local map_rate = tonumber(out:match("map%+gather %d+ tasks: [%d.]+s [%d.]+ us/task%s+(%d+) tasks/s"))
  local graph_rate = tonumber(out:match("graph %d+ tasks: [%d.]+s [%d.]+ us/task (%d+) tasks/s"))
  local rtt = tonumber(out:match("round trip: ([%d.]+) ms"))
  print("\n== ldask / dask")
  if map_rate then print(("map+gather: %.1fx the tasks/s"):format(ours.map / map_rate)) end
  if graph_rate then print(("graph: %.1fx the tasks/s"):format(ours.graph / graph_rate)) end
  if rtt then print(("round trip: %.1fx faster"):format(rtt / 1e3 / ours.rtt)) end
else
  print("\n(Python dask.distributed not installed: no side-by-side run)")
end
