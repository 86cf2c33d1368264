-- bench/distributed_cpu.lua: CPU per task of each process of a local
-- cluster (client, scheduler, two workers), read from /proc (utime + stime
-- of the whole process, 10 ms ticks; user and system apart) around R rounds of one case, so that
-- a change is judged by the process it targets, not by the noisy wall time
-- of a shared machine.
--   bin/ldask bench/distributed_cpu.lua [map|graph|rtt] [N] [R]
--   map:   client:map(inc, 1..N) (pure=false: fresh keys) + gather + release
--   graph: the anchor's tree graph of N inc tasks through client:get
--   rtt:   N submit -> result round trips (mean µs also printed)
local client = require "ldask.client"
local lib = require "ldask.native"
local support = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "support.lua")

local what = arg[1] or "map"
local n = tonumber(arg[2]) or (what == "rtt" and 2000 or 20000)
local R = tonumber(arg[3]) or (what == "rtt" and 1 or 8)
assert(what == "map" or what == "graph" or what == "rtt", "case must be map, graph or rtt, got " .. what)
local inc, now = support.inc, lib.ld_client_now

local c = client({ n_workers = 2, threads_per_worker = 1 })
c:gather(c:map(inc, { 1, 2, 3, 4, 5 })) -- warm

-- CPU seconds of process PID so far ("self": this one): user, system.
local function cpu(pid)
  local f = assert(io.open("/proc/" .. pid .. "/stat"))
  local s = f:read("*a"); f:close()
  local fields = {}
  for x in s:match("%) (.*)"):gmatch("%S+") do fields[#fields + 1] = x end
  return tonumber(fields[12]) / 100, tonumber(fields[13]) / 100
end

local procs = { { "client", "self" }, { "scheduler", c.cluster.scheduler_pid },
  { "worker 1", c.cluster:worker_pid(1) }, { "worker 2", c.cluster:worker_pid(2) } }
local seq = {}
for i = 1, n do seq[i] = i end
local g, root, ntasks
if what == "graph" then g, root, ntasks = support.anchor_graph(n) end
local o = client.options { pure = false }
for i = 1, 20 do c:submit(inc, i, o):result() end
collectgarbage()

local before = {}
for i, p in ipairs(procs) do before[i] = { cpu(p[2]) } end
local t0 = now()
for _ = 1, R do
  if what == "map" then
    local fs = c:map(inc, seq, o)
    local r = c:gather(fs)
    assert(r[n] == n + 1, "map+gather result is wrong")
    for _, f in ipairs(fs) do f:release() end
  elseif what == "graph" then
    assert(c:get(g, root) == n * (n + 1) / 2, "tree graph result is wrong")
  else
    for i = 1, n do c:submit(inc, i, o):result() end
  end
end
local dt = now() - t0
local tasks = (what == "graph" and ntasks or n) * R
print(("%s: %d tasks in %.3f s, %.0f tasks/s, %.1f us/task wall"):format(what, tasks, dt, tasks / dt,
  dt / tasks * 1e6))
local tu, ts = 0, 0
for i, p in ipairs(procs) do
  local u, s = cpu(p[2])
  u, s = (u - before[i][1]) / tasks * 1e6, (s - before[i][2]) / tasks * 1e6
  tu, ts = tu + u, ts + s
  print(("  %-9s %7.2f us CPU/task (user %.2f, system %.2f)"):format(p[1], u + s, u, s))
end
print(("  %-9s %7.2f us CPU/task (user %.2f, system %.2f)"):format("all", tu + ts, tu, ts))
c:close()
