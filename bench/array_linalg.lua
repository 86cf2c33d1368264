-- bench/array_linalg.lua: blocked linear algebra of ldask.array against
-- Python dask.array (Debian's python3-dask) in the same run:
--   1. tsqr of a random 10,000,000 x 100 float64 array (blocks of 100,000
--      rows): q, r = tsqr(x); compute(q.sum(axis=0), r) (q streams into its
--      sum; r is the whole 100 x 100 factor)
--   2. svd_compressed of a random 20,000 x 20,000 float64 array (blocks of
--      2,000 x 2,000), k = 16, 2 power iterations: compute(u, s, v)
-- Each line gives wall time and peak RSS (ours: this process; dask's: its
-- process, from getrusage); the dask side runs when /usr/bin/python3 has dask.
--   bin/ldask bench/array_linalg.lua [scale]   (scale < 1 shrinks the rows / the matrix)
local da = require "ldask.array"
local bu = require "ldask.array.benchutil"
local ldask = require "ldask"

local scale = tonumber(arg[1]) or 1
ldask.config.set { scheduler = "threads" }

local m = math.floor(1e7 * scale / 1e5) * 1e5
local n2 = math.floor(20000 * math.sqrt(scale) / 2000) * 2000
local K, ITERS = 16, 2

local PY = [[
import sys, time, resource, numpy as np, dask, dask.array as da
dask.config.set(scheduler="threads")
m, n2, k, iters = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
x = da.random.RandomState(0).random_sample((m, 100), chunks=(100000, 100))
t = time.time(); q, r = da.linalg.tsqr(x); qs, rv = dask.compute(q.sum(axis=0), r)
print("dask tsqr %d x 100: %.3fs peak RSS %.0f MB" % (m, time.time() - t, peak()), flush=True)
a = da.random.RandomState(1).random_sample((n2, n2), chunks=(2000, 2000))
t = time.time(); u, s, v = da.linalg.svd_compressed(a, k, n_power_iter=iters, seed=0); dask.compute(u, s, v)
print("dask svd_compressed %d^2 k=%d: %.3fs peak RSS %.0f MB" % (n2, k, time.time() - t, peak()), flush=True)
]]

local ours = {}
local function report(label, dt, peak)
  ours[label] = dt
  print(("%-40s %8.3f s  peak RSS %6.0f MB"):format(label, dt, peak))
end

local x = da.random.random({ m, 100 }, { chunks = { 1e5, 100 }, seed = 0 })
local q, r = da.linalg.tsqr(x)
local res, dt, peak = bu.timed(function() return { ldask.compute(q:sum(0), r) } end)
assert(res[2].shape[1] == 100, "tsqr: r is not 100 x 100")
report(("tsqr %d x 100"):format(m), dt, peak)
res, q, r = nil, nil, nil
collectgarbage()

local a = da.random.random({ n2, n2 }, { chunks = { 2000, 2000 }, seed = 1 })
local u, s, v = da.linalg.svd_compressed(a, K, { n_power_iter = ITERS, seed = 0 })
res, dt, peak = bu.timed(function() return { ldask.compute(u, s, v) } end)
assert(res[2].shape[1] == K, "svd_compressed: wrong number of singular values")
report(("svd_compressed %d^2 k=%d"):format(n2, K), dt, peak)

if bu.have_dask() then
  local path = os.tmpname() .. ".py"
  local f = assert(io.open(path, "w"))
  f:write(PY)
  f:close()
  print("\n== Python dask (same machine, same run)")
  local out = bu.run_python(path, ("%d %d %d %d"):format(m, n2, K, ITERS))
  os.remove(path)
  io.write(out)
  local t1 = tonumber(out:match("dask tsqr [^:]*: ([%d.]+)s"))
  local t2 = tonumber(out:match("dask svd_compressed [^:]*: ([%d.]+)s"))
  print("\n== dask time / ldask time")
  if t1 then print(("%-40s %6.2fx"):format("tsqr", t1 / ours[("tsqr %d x 100"):format(m)])) end
  if t2 then print(("%-40s %6.2fx"):format("svd_compressed", t2 / ours[("svd_compressed %d^2 k=%d"):format(n2, K)])) end
else
  print("\n(Python dask not run: /usr/bin/python3 cannot import dask)")
end
