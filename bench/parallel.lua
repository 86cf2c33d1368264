-- bench/parallel.lua: CPU-bound pure-Lua tasks on 1 and on 2 executor
-- threads — each thread has its own LuaJIT state, so there is no
-- interpreter lock and the speed-up should approach the core count. Python
-- dask runs the same graph (pure-Python tasks, threaded scheduler) for
-- comparison when installed: its GIL keeps it near 1x.
--   bin/ldask bench/parallel.lua [tasks] [iterations]
local ldask = require "ldask"
local lib = require "ldask.native"
require "ldask.ffi.pool"
local now = lib.ld_pool_now

local NT = tonumber(arg and arg[1]) or 16
local ITER = tonumber(arg and arg[2]) or 4000000

local function work(n)
  local s = 0
  for i = 1, n do s = (s + i * i) % 1000003 end
  return s
end

local g, keys = {}, {}
for i = 1, NT do
  g["work," .. i] = { work, ITER + i }
  keys[i] = "work," .. i
end

print(string.format("ldask %s, %s, %d tasks x %d iterations, %s", ldask.version, jit.version, NT, ITER,
  os.date("!%Y-%m-%d %H:%M UTC")))
ldask.get({ w = { work, 10 } }, "w", { scheduler = "threads", num_workers = 2 })

local function best(k, opts)
  local b = math.huge
  for _ = 1, k do
    local t = now()
    ldask.get(g, keys, opts)
    local dt = now() - t
    if dt < b then b = dt end
  end
  return b
end

local t_sync = best(2, { scheduler = "sync" })
local t1 = best(2, { scheduler = "threads", num_workers = 1 })
local t2 = best(2, { scheduler = "threads", num_workers = 2 })
print(string.format("sync:               %.3fs", t_sync))
print(string.format("threads, 1 thread:  %.3fs", t1))
print(string.format("threads, 2 threads: %.3fs", t2))
print(string.format("speed-up 2 vs 1 thread: %.2fx", t1 / t2))
do -- the speed-up needs a second idle core: show how busy the machine was
  local f = io.open("/proc/loadavg")
  if f then
    print("load average (1, 5, 15 min): " .. (f:read("*l") or ""):match("^(%S+ %S+ %S+)"))
    f:close()
  end
end

local py = io.popen("/usr/bin/python3 -c 'import dask' 2>/dev/null && echo yes")
local have_py = py:read("*a"):match("yes")
py:close()
if have_py then
  -- fewer iterations: pure Python is ~50x slower than LuaJIT here
  local piter = math.floor(ITER / 20)
  local src = ([[
import time
from dask.threaded import get
def work(n):
    s = 0
    for i in range(1, n + 1):
        s = (s + i * i) %% 1000003
    return s
g = {("work", i): (work, %d + i) for i in range(%d)}
keys = list(g)
res = {}
for nw in (1, 2):
    best = 1e9
    for _ in range(2):
        t = time.perf_counter(); get(g, keys, num_workers=nw); best = min(best, time.perf_counter() - t)
    res[nw] = best
    print(f"python dask threaded, {nw} thread(s): {best:.3f}s")
print(f"python speed-up 2 vs 1 thread: {res[1] / res[2]:.2f}x")
]]):format(piter, NT)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(src)
  f:close()
  local p = io.popen("/usr/bin/python3 " .. path .. " 2>&1")
  io.write("python (", piter, " iterations per task):\n", (p:read("*a"):gsub("([^\n]+)", "  %1")))
  p:close()
  os.remove(path)
else
  print("python dask: not installed")
end
