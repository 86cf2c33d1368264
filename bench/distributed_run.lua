-- bench/distributed_run.lua: the cost of client:run and client:upload_file
-- on a local cluster (scheduler + WORKERS workers of 1 thread, loopback).
-- Times N calls of c:run(trivial function) (every worker, one round trip
-- through the scheduler each), N of c:run restricted to one worker, and N
-- uploads of a small module (written on every worker) each followed by a
-- require of it in a run; prints the mean per call.
--   bin/ldask bench/distributed_run.lua [N=2000] [WORKERS=2] [--no-anchor]
-- With python3-distributed installed, dask's client.run is timed beside it.
local client = require "ldask.client"
local lib = require "ldask.native"

local n = tonumber(arg[1]) or 2000
local nworkers = tonumber(arg[2]) or 2
local now = lib.ld_client_now

local c = client({ n_workers = nworkers, threads_per_worker = 1 })
local opts = client.options

local function per_call(label, count, fn)
  fn() -- warm up (function registration, JIT)
  local t0 = now()
  for _ = 1, count do fn() end
  local dt = now() - t0
  print(string.format("%-44s %8.1f us per call (%d calls, %.2f s)", label, dt / count * 1e6, count, dt))
end

local trivial = function(x) return x end
per_call("run on " .. nworkers .. " workers", n, function() c:run(trivial, 1) end)
per_call("run on 1 worker (workers = 'local-1')", n, function() c:run(trivial, 1, opts { workers = "local-1" }) end)

local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p '" .. dir .. "'")
local path = dir .. "/bench_run_mod.lua"
local f = assert(io.open(path, "w"))
f:write("return { v = function() return 1 end }\n")
f:close()
local use = function() return require("bench_run_mod").v() end
per_call("upload_file + run(require) on " .. nworkers .. " workers", math.max(1, math.floor(n / 4)), function()
  c:upload_file(path)
  c:run(use)
end)
os.execute("rm -rf '" .. dir .. "'")
c:close()

-- dask.distributed's client.run on the same kind of cluster, in the same
-- run, when /usr/bin/python3 has it.
local py = [[
import sys, time
from distributed import Client, LocalCluster
if __name__ == "__main__":
    n, w = int(sys.argv[1]), int(sys.argv[2])
    cl = LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None)
    c = Client(cl)
    f = lambda x: x
    for _ in range(20): c.run(f, 1)
    t = time.perf_counter()
    for _ in range(n): c.run(f, 1)
    print("%.1f" % ((time.perf_counter() - t) / n * 1e6))
    c.close(); cl.close()
]]
local p = io.popen("/usr/bin/python3 -c 'import distributed' 2>/dev/null && echo yes")
local have = p:read("*a"):match("yes")
p:close()
if have and arg[3] ~= "--no-anchor" then
  local script = os.tmpname()
  local sf = assert(io.open(script, "w"))
  sf:write(py)
  sf:close()
  p = io.popen(("/usr/bin/python3 %s %d %d 2>/dev/null"):format(script, math.min(n, 200), nworkers))
  local us = tonumber(p:read("*a"):match("([%d.]+)"))
  p:close()
  os.remove(script)
  if us then print(string.format("%-44s %8.1f us per call (dask.distributed, same cluster shape)", "dask client.run on " .. nworkers .. " workers", us)) end
else
  print("(dask.distributed not installed or --no-anchor: no side-by-side run)")
end
