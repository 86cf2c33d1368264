-- examples/array_sum_big.lua: the seed talk's blocked "trillion-element
-- sum": an array far larger than memory, summed block by block. Blocks are
-- made, summed and released as the tree reduction goes, so memory stays at
-- a few blocks whatever the size.
--   ldask examples/array_sum_big.lua [rows] [ones|random]
-- ones (default): rows x 1e6 of float64 ones; rows = 1e6 is the full
-- trillion (1e12 elements, 8 TB), about two seconds: constant blocks are one
-- element broadcast, like dask's. random: uniform [0, 1) blocks really
-- generated (16 x 1e6 = 128 MB each) and summed; default rows 2000 (2e9
-- elements, 16 GB) runs in well under a minute on 2 cores.
local da = require "ldask.array"
local bu = require "ldask.array.benchutil"

local mode = arg[2] or "ones"
local rows = tonumber(arg[1]) or (mode == "ones" and 1000000 or 2000)
local cols = 1000000
ldask.config.set { scheduler = "threads" }

local x
if mode == "ones" then
  x = da.ones({ rows, cols }, { chunks = { 16, cols } })
elseif mode == "random" then
  x = da.random.random({ rows, cols }, { chunks = { 16, cols }, seed = 42 })
else
  error("mode must be 'ones' or 'random', got " .. mode)
end
print(("array: %s\n  %.0f elements, %.3g GB if it were in memory"):format(tostring(x), x.size, x.nbytes / 1e9))

local s, dt, peak = bu.timed(function() return x:sum():compute() end)
local n = rows * cols
print(("sum = %.6g in %.2f s (%.3g elements/s), peak RSS %.0f MB"):format(s, dt, n / dt, peak))
if mode == "ones" then
  assert(s == n, "wrong sum")
else
  -- mean of n uniforms: 0.5 within a few standard errors (sd 1/sqrt(12 n))
  assert(math.abs(s / n - 0.5) < 5 / math.sqrt(12 * n), "sum far from n/2")
end
