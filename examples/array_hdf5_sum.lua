-- examples/array_hdf5_sum.lua: the seed talk's first blocked algorithm,
--   x = h5py.File('myfile.hdf5')['/x']; sum chunk by chunk,
-- on an HDF5 dataset. Building the array reads only the dataset's metadata;
-- each block's task reads its hyperslab when it runs, so the dataset may be
-- far larger than memory.
--   ldask examples/array_hdf5_sum.lua [file.h5 [/dataset]]
-- Without a file it first writes /tmp/ldask_example.h5 with a dataset /x of
-- 4000 x 1000 float64 values i + j (chunked 500 x 1000, gzip), block by
-- block with x:to_hdf5, and checks the sum against the closed form.
local da = require "ldask.array"
ldask.config.set { scheduler = "threads" }

local path, dset = arg[1], arg[2] or "/x"
local rows, cols = 4000, 1000
if not path then
  path = "/tmp/ldask_example.h5"
  os.remove(path)
  local i = da.arange(rows, { chunks = 500 }):reshape({ rows, 1 })
  local j = da.arange(cols, { chunks = cols })
  local written = (i + j):astype("float64"):to_hdf5(path, "/x", { compression = "gzip" })
  print(("wrote %s:/x, %d values"):format(path, written))
end

-- metadata only: shape, dtype, chunking. Blocks default to whole multiples
-- of the dataset's chunks near 128 MiB; the seed's talk asked for (1000, 1000).
local x = da.from_hdf5(path, dset, { chunks = arg[1] and nil or { 1000, 1000 } })
print(("array: %s"):format(tostring(x)))
local t0 = os.clock()
local s = x:sum():compute()
print(("sum = %.17g (%.2f s of CPU)"):format(s, os.clock() - t0))
if not arg[1] then
  local want = cols * rows * (rows - 1) / 2 + rows * cols * (cols - 1) / 2
  assert(s == want, ("expected %.17g"):format(want))
  print("checked against the closed form")
end
