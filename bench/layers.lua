-- bench/layers.lua: the anchor graph of ../shared/anchors/dask_overhead.py
-- (N inc tasks and a fan-in-8 tree sum; 11,428,575 tasks for N = 10
-- million) described compactly (ldask.layer: one blockwise layer and tree
-- layers) against the same graph as a Lua table: wall time to build and
-- run, and peak RSS, each case in its own process; on threads and on a
-- local cluster of 2 workers (with the scheduler's and workers' peak RSS
-- and the scheduler's bytes per task); Python dask's threaded scheduler on
-- the table graph side by side (N_DASK tasks: it holds every task as a
-- Python tuple).
--   bin/ldask bench/layers.lua [N [N_TABLE [N_DASK]]]      (10e6, 1e6, 1e6)
--   bin/ldask bench/layers.lua --case threads|sync|table|cluster N   (one case)
local ldask = require "ldask"
local L = ldask.layer
require "ldask.ffi.pool"
local now = require("ldask.native").ld_pool_now
local here = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
local support = dofile(here .. "support.lua")

local inc, sum = support.inc, support.sum_list

local function vmhwm_mb(pid)
  local f = io.open("/proc/" .. (pid or "self") .. "/status")
  if not f then return nil end
  local kb
  for l in f:lines() do kb = kb or tonumber(l:match("^VmHWM:%s+(%d+)")) end
  f:close()
  return kb and kb / 1024
end

local function tasks_of(n)
  local total, level = n, n
  while level > 8 do
    level = math.ceil(level / 8)
    total = total + level
  end
  return total + 1
end

local function compact(n)
  return L.reduce(L.blockwise("inc", n, { inc, L.INDEX }), { sum, L.DEPS }, 8)
end

local cases = {}

function cases.threads(n)
  local t0 = now()
  local t = compact(n)
  local t1 = now()
  local r = t:compute { scheduler = "threads" }
  local t2 = now()
  assert(r == n * (n + 1) / 2, "wrong sum " .. tostring(r))
  return string.format("build %.3f s, run %.2f s, wall %.2f s, peak RSS %.0f MiB", t1 - t0, t2 - t1, t2 - t0, vmhwm_mb())
end

function cases.sync(n)
  local t0 = now()
  local r = compact(n):compute { scheduler = "sync" }
  local t2 = now()
  assert(r == n * (n + 1) / 2, "wrong sum " .. tostring(r))
  return string.format("wall %.2f s, peak RSS %.0f MiB", t2 - t0, vmhwm_mb())
end

function cases.table(n)
  local t0 = now()
  local g, root = support.anchor_graph(n)
  local t1 = now()
  local r = ldask.get(g, root, { scheduler = "threads", optimize_graph = false })
  local t2 = now()
  assert(r == n * (n + 1) / 2, "wrong sum " .. tostring(r))
  return string.format("build %.2f s, run %.2f s, wall %.2f s, peak RSS %.0f MiB (optimize_graph=false)",
    t1 - t0, t2 - t1, t2 - t0, vmhwm_mb())
end

function cases.cluster(n)
  local client = ldask.Client { n_workers = 2, threads_per_worker = 1 }
  local sched_pid
  local t0 = now()
  local r = compact(n):compute()
  local t2 = now()
  assert(r == n * (n + 1) / 2, "wrong sum " .. tostring(r))
  -- peak RSS of the cluster's processes
  local peaks = {}
  for _, pid in ipairs(client.cluster.pids) do
    local cf = io.open("/proc/" .. pid .. "/cmdline")
    local cmd = cf and cf:read("*a") or ""
    if cf then cf:close() end
    local what = cmd:match("ldask%-(%a+)")
    if what then peaks[#peaks + 1] = string.format("%s %.0f MiB", what, vmhwm_mb(pid) or -1) end
  end
  sched_pid = client.cluster.scheduler_pid
  local sched_mb = sched_pid and vmhwm_mb(sched_pid)
  client:close()
  return string.format("wall %.2f s (%.0f tasks/s), client peak %.0f MiB; %s; scheduler %.0f bytes/task at its peak",
    t2 - t0, tasks_of(n) / (t2 - t0), vmhwm_mb(), table.concat(peaks, ", "),
    sched_mb and sched_mb * 1048576 / tasks_of(n) or -1)
end

if arg[1] == "--case" then
  print(cases[arg[2]](tonumber(arg[3])))
  return
end

local N = tonumber(arg[1]) or 10000000
local NT = tonumber(arg[2]) or 1000000
local ND = tonumber(arg[3]) or 1000000
local self = arg[0]
print(string.format("ldask %s, %s, %s", ldask.version, jit.version, os.date("!%Y-%m-%d %H:%M UTC")))
local function run(case, n)
  local p = io.popen(string.format("%s %s --case %s %d 2>&1", arg[-1] or "bin/ldask", self, case, n))
  local out = p:read("*a")
  p:close()
  print(string.format("%-22s %10d tasks: %s", case, tasks_of(n), (out:gsub("\n$", ""))))
end
run("threads", N)
run("sync", N)
run("table", NT)
run("cluster", N)
local py = io.popen("/usr/bin/python3 -c 'import dask' 2>/dev/null && echo yes")
local have = py:read("*a"):match("yes")
py:close()
if have then
  local p = io.popen("/usr/bin/time -f 'peak RSS %M KiB' /usr/bin/python3 " .. here
    .. "../../shared/anchors/dask_overhead.py " .. ND .. " 2>&1")
  io.write("python dask, table graph of ", ND, " inc tasks:\n", (p:read("*a"):gsub("([^\n]+)", "  %1")))
  p:close()
else
  print("python dask: not installed (/usr/bin/python3 -c 'import dask' failed)")
end
