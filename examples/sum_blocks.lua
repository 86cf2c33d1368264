-- examples/sum_blocks.lua: the seed talk's first example — sum a big array
-- in blocks — written as a delayed graph: load each block, sum it, add the
-- partial sums in a tree. Nothing runs until compute().
--   ldask examples/sum_blocks.lua [nblocks] [block_size]
local nblocks = tonumber(arg[1]) or 64
local block_size = tonumber(arg[2]) or 100000

-- "Load" block i: the integers i*block_size .. (i+1)*block_size - 1.
local load = ldask.delayed(function(i, n)
  local t = {}
  for j = 1, n do t[j] = i * n + j - 1 end
  return t
end, { name = "load" })

local sum = ldask.delayed(function(t)
  local s = 0
  for j = 1, #t do s = s + t[j] end
  return s
end, { name = "sum" })

local sums = {}
for i = 0, nblocks - 1 do sums[#sums + 1] = sum(load(i, block_size)) end

-- pairwise tree of additions, as dask's tree reductions do
while #sums > 1 do
  local nxt = {}
  for i = 1, #sums, 2 do nxt[#nxt + 1] = sums[i + 1] and (sums[i] + sums[i + 1]) or sums[i] end
  sums = nxt
end
local total = sums[1]

local t0 = os.clock()
local result = total:compute()
local n = nblocks * block_size
print(string.format("sum of 0..%d in %d blocks = %.0f (expected %.0f) in %.2f s CPU",
  n - 1, nblocks, result, n * (n - 1) / 2, os.clock() - t0))
assert(result == n * (n - 1) / 2, "wrong sum")
