-- bench/distributed_run.lua: the cost of client:run and client:upload_file
-- on a local cluster (scheduler + WORKERS workers of 1 thread, loopback).
-- Times N calls of c:run(trivial function) (every worker, one round trip
-- through the scheduler each), N of c:run restricted to one worker, and N
-- uploads of a small module (written on every worker) each followed by a
-- require of it in a run; prints the mean per call.
--   bin/ldask bench/distributed_run.lua [N=2000] [WORKERS=2]
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
