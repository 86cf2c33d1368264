-- bench/array_npy.lua: streaming sums of .npy files through memory maps.
--   1. a page-cached float64 .npy of 4 GB summed with from_npy (blocks are
--      mapped, summed and unmapped), against a STREAM-like in-memory sum
--      (the same kernel over a 2 GiB array already in memory) in the same run
--   2. a 16 GB .npy summed with peak RSS well under 1 GB
-- The files are generated under /tmp and deleted at the end.
--   bin/ldask bench/array_npy.lua [gb_small] [gb_big]   (defaults 4 16)
local da = require "ldask.array"
local nd = require "ldask.array.ndarray"
local bu = require "ldask.array.benchutil"

local small = tonumber(arg[1]) or 4
local big = tonumber(arg[2]) or 16
ldask.config.set { scheduler = "threads" }

local function make(gb)
  local path = ("/tmp/ldask-bench-%gg.npy"):format(gb)
  local n = math.floor(gb * 1e9 / 8)
  local _, dt = bu.timed(function()
    return da.random.random({ n }, { chunks = 2 ^ 24, seed = 5 }):to_npy(path)
  end)
  print(("wrote %s (%d float64) in %.1f s"):format(path, n, dt))
  return path, n
end

local function sum_file(path, n, label)
  local x = da.from_npy(path)
  local best, peak_all = math.huge, 0
  for _ = 1, 3 do -- the first pass also warms the page cache
    local s, dt, peak = bu.timed(function() return x:sum():compute() end)
    assert(math.abs(s / n - 0.5) < 1e-3, "sum far from n/2")
    best = math.min(best, dt)
    peak_all = math.max(peak_all, peak)
  end
  print(("%-28s %7.3f s  %6.2f GB/s  peak RSS %5.0f MB  (%d blocks of %d)"):format(label, best,
    n * 8 / best / 1e9, peak_all, #x.chunks[1], x.chunks[1][1]))
  return n * 8 / best / 1e9, peak_all
end

local p1, n1 = make(small)
local bw = sum_file(p1, n1, ("npy sum %g GB (page cache)"):format(small))

os.remove(p1)

if big > 0 then
  collectgarbage()
  local p2, n2 = make(big)
  local _, peak = sum_file(p2, n2, ("npy sum %g GB"):format(big))
  print(("  peak RSS %.0f MB for a %g GB file"):format(peak, big))
  os.remove(p2)
end

-- STREAM-like reference: the same reduction over memory-resident data (run
-- after the file sums: executor states keep decoded views of this array
-- until their next collection, which would inflate the peaks measured next)
local m = nd.random_block("uniform", "float64", 1, { 2 ^ 28 }, { 0 }, nil, { 2 ^ 28 }, 0, 1)
local y = da.from_ndarray(m, { chunks = 2 ^ 24 })
local ref = 0
for _ = 1, 3 do
  local _, dt = bu.timed(function() return y:sum():compute() end)
  ref = math.max(ref, 2 ^ 31 / dt / 1e9)
end
print(("%-28s %7s    %6.2f GB/s  (2 GiB in memory, 2 threads)"):format("in-memory sum (STREAM-like)", "", ref))
m, y = nil, nil
collectgarbage()
print(("  npy / in-memory bandwidth: %.0f%%"):format(100 * bw / ref))
