-- bench/array_dask.lua: ldask.array against Python dask on the anchors of
-- ../shared/anchors/dask_array.py, in one run on this machine:
--   1. ones(2e9, chunks=1e7).sum()
--   2. day-vs-night: x[::4].mean(0) - x[2::4].mean(0) on a generated random
--      (1464, 721, 1440) float32 array, chunks (24, 721, 1440)
--   3. x.dot(x.T).mean(axis=0) on 8000x8000 random float64 in 2000x2000
--      blocks, next to one bare OpenBLAS dgemm of the same size
-- Each line reports wall time, throughput and peak RSS; then the anchor
-- script runs (when /usr/bin/python3 has dask) and the ratios are printed.
--   bin/ldask bench/array_dask.lua [scale]   (scale < 1 shrinks every case)
local da = require "ldask.array"
local nd = require "ldask.array.ndarray"
local bu = require "ldask.array.benchutil"

local scale = tonumber(arg[1]) or 1
ldask.config.set { scheduler = "threads" }
local here = debug.getinfo(1, "S").source:sub(2):match("(.*)/bench/") or "."
local anchor = here .. "/../shared/anchors/dask_array.py"

local ours = {}
local function report(label, dt, peak, extra)
  ours[label] = dt
  print(("%-34s %8.3f s  %-22s peak RSS %6.0f MB"):format(label, dt, extra or "", peak))
end

-- 1. ones sum
local n = math.floor(2e9 * scale)
local s, dt, peak = bu.timed(function() return da.ones({ n }, { chunks = 1e7 }):sum():compute() end)
assert(s == n, "ones sum is wrong")
report("ones.sum", dt, peak, ("%.1f GB/s"):format(n * 8 / dt / 1e9))

-- 2. day-vs-night
local steps = math.max(8, math.floor(1464 * scale / 4) * 4)
local x3 = da.random.random({ steps, 721, 1440 }, { chunks = { 24, 721, 1440 }, dtype = "float32", seed = 0 })
local r
r, dt, peak = bu.timed(function()
  return (x3:slice { { 0, nil, 4 } }:mean(0) - x3:slice { { 2, nil, 4 } }:mean(0)):compute()
end)
report("day-vs-night", dt, peak, ("max |d| %.3f"):format(math.max(r:max():item(), -r:min():item())))

-- 3. matmul
local m = math.max(1000, math.floor(8000 * math.sqrt(scale) / 1000) * 1000)
local a = da.random.random({ m, m }, { chunks = { m / 4, m / 4 }, seed = 0 })
local am = a:compute()
local c
c, dt, peak = bu.timed(function() return nd.matmul(am, am.T) end)
local bare = dt
report("bare dgemm " .. m, dt, peak, ("%.1f GFLOP/s"):format(2 * m ^ 3 / dt / 1e9))
c, am = nil, nil
collectgarbage()
r, dt, peak = bu.timed(function() return a:dot(a.T):mean(0):compute() end)
report("x.dot(x.T).mean(0) " .. m, dt, peak, ("%.1f GFLOP/s"):format(2 * m ^ 3 / dt / 1e9))
print(("  blocked / bare dgemm: %.3f"):format(dt / bare))

-- Python dask, same machine, same run
if scale == 1 and bu.have_dask() then
  print("\n== Python dask: " .. anchor)
  local out = bu.run_python(anchor, tostring(n))
  io.write(out)
  local theirs = {
    ["ones.sum"] = tonumber(out:match("ones%([^)]*%)%.sum%(%): ([%d.]+)s")),
    ["day-vs-night"] = tonumber(out:match("day%-vs%-night.-: ([%d.]+)s\n")),
    ["x.dot(x.T).mean(0) " .. m] = tonumber(out:match("x%.dot%(x%.T%)%.mean%(axis=0%) [^:]*: ([%d.]+)s")),
  }
  print("\n== dask time / ldask time")
  for label, t in pairs(theirs) do
    if ours[label] then print(("%-34s %6.2fx"):format(label, t / ours[label])) end
  end
else
  print("\n(Python dask not run: " .. (scale ~= 1 and "scale ~= 1" or "/usr/bin/python3 cannot import dask") .. ")")
end
