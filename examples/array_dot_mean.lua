-- examples/array_dot_mean.lua: the seed talk's x.dot(y.T).mean(axis=0) on
-- blocked random matrices: each output block accumulates its row of A
-- blocks times its column of B.T blocks through BLAS (the transposes are
-- views), then a tree reduction takes the mean over axis 0.
--   ldask examples/array_dot_mean.lua [n] [block]   (default 4000 1000)
local da = require "ldask.array"
local bu = require "ldask.array.benchutil"

local n = tonumber(arg[1]) or 4000
local b = tonumber(arg[2]) or 1000
ldask.config.set { scheduler = "threads" }

local x = da.random.random({ n, n }, { chunks = { b, b }, seed = 1 })
local y = da.random.normal({ n, n }, { chunks = { b, b }, seed = 2 })
local z = x:dot(y.T):mean(0)
print(tostring(z))
local r, dt, peak = bu.timed(function() return z:compute() end)
print(("computed %s in %.2f s (%.1f GFLOP/s), peak RSS %.0f MB"):format(tostring(r.shape[1]), dt,
  2 * n ^ 3 / dt / 1e9, peak))
print(("first values: %.4f %.4f %.4f"):format(r:get(0), r:get(1), r:get(2)))
-- check one column against a direct computation: mean_i sum_k x[i,k] y[j,k]
local xm, ym = x:compute(), y:slice { { 0, 1 } }:compute()
local direct = da.ndarray.matmul(xm, ym.T):mean(0):get(0)
assert(math.abs(direct - r:get(0)) < 1e-9 * math.max(1, math.abs(direct)), "mismatch with the direct product")
print("checked against a direct product")
