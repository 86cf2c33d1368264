-- examples/array_meteorology.lua: the seed talk's meteorology example. A
-- (time, lat, lon) = (1464, 721, 1440) float32 array (four readings a day
-- for a year: 6 GB) in blocks of one day x 24; the mean of the midnight
-- readings x[::4] minus the mean of the noon readings x[2::4], over time,
-- is a (721, 1440) image written as an image-ready .npy.
--   ldask examples/array_meteorology.lua [timesteps] [out.npy] [in.npy]
-- Without in.npy the data are generated (counter-based random numbers, so
-- the slices generate only the rows they keep). timesteps scales the run.
local da = require "ldask.array"
local bu = require "ldask.array.benchutil"

local steps = tonumber(arg[1]) or 1464
local out = arg[2] or "/tmp/ldask-daynight.npy"
local input = arg[3]
ldask.config.set { scheduler = "threads" }

local x
if input then
  x = da.from_npy(input, { chunks = { 24, -1, -1 } })
else
  x = da.random.random({ steps, 721, 1440 }, { chunks = { 24, 721, 1440 }, dtype = "float32", seed = 2026 })
end
print("data:", tostring(x))

-- x[::4].mean(axis=0) - x[2::4].mean(axis=0)
local diff = x:slice { { 0, nil, 4 } }:mean(0) - x:slice { { 2, nil, 4 } }:mean(0)
print("result:", tostring(diff))

local n, dt, peak = bu.timed(function() return diff:to_npy(out) end)
print(("wrote %s: %d float32 values, in %.2f s, peak RSS %.0f MB"):format(out, n, dt, peak))
local img = da.from_npy(out):compute()
print(("image min %.4f max %.4f mean %.5f"):format(img:min():item(), img:max():item(), img:mean():item()))
