-- bench/array_hdf5.lua: sums of HDF5 datasets, side by side with h5py +
-- dask.array (Debian's python3-h5py and python3-dask) in the same run.
--   1. a page-cached HDF5 file of 2 x 4 GB float64 datasets: /x contiguous
--      (h5py's default layout: ldask maps its blocks without HDF5) and /c
--      chunked in 8 MB chunks (read through libhdf5, under its lock);
--      ldask's from_hdf5 and dask's da.from_array(h5py dataset) sum each,
--      best of 3 after a warming pass
--   2. a 16 GB contiguous dataset summed with peak RSS well under 1 GB
-- The files are written by ldask's to_hdf5 under /tmp and deleted at the end.
--   bin/ldask bench/array_hdf5.lua [gb_small] [gb_big]   (defaults 4 16)
local da = require "ldask.array"
local bu = require "ldask.array.benchutil"

local small = tonumber(arg[1]) or 4
local big = tonumber(arg[2]) or 16
ldask.config.set { scheduler = "threads" }

local CHUNK = 2 ^ 20 -- elements of the chunked dataset's chunks (8 MB)

local DASK = [[
import sys, time, resource, h5py, dask, dask.array as da
path, names = sys.argv[1], sys.argv[2:]
dask.config.set(scheduler="threads", num_workers=2)
with h5py.File(path, "r") as f:
  for name in names:
    d = f[name]
    x = da.from_array(d, chunks=d.chunks if d.chunks else "auto")
    if d.chunks:   # whole multiples of the chunks near 128 MiB, as ldask's default
      x = da.from_array(d, chunks=(16 * d.chunks[0],))
    best = 1e9
    for i in range(4):
      t0 = time.perf_counter()
      s = float(x.sum().compute())
      if i > 0: best = min(best, time.perf_counter() - t0)
    print("dask %s %.4f %.6g %d %.0f" % (name, best, s, x.numblocks[0],
          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
]]

local function make(path, gb, datasets)
  os.remove(path)
  local n = math.floor(gb * 1e9 / 8 / CHUNK) * CHUNK
  for _, ds in ipairs(datasets) do
    local x = da.random.random({ n }, { chunks = 16 * CHUNK, seed = 5 })
    local _, dt = bu.timed(function()
      return x:to_hdf5(path, ds.name, { chunks = ds.chunked and { CHUNK } or false })
    end)
    print(("wrote %s:%s (%d float64, %s) in %.1f s"):format(path, ds.name, n,
      ds.chunked and "chunked 8 MB" or "contiguous", dt))
  end
  return n
end

local function sum_dataset(path, name, n, label)
  local x = da.from_hdf5(path, name)
  local best, peak_all = math.huge, 0
  for i = 1, 4 do -- the first pass warms the page cache
    local s, dt, peak = bu.timed(function() return x:sum():compute() end)
    assert(math.abs(s / n - 0.5) < 1e-3, "sum far from n/2")
    if i > 1 then best = math.min(best, dt) end
    peak_all = math.max(peak_all, peak)
  end
  print(("ldask %-34s %7.3f s  %6.2f GB/s  peak RSS %5.0f MB  (%d blocks)"):format(label, best,
    n * 8 / best / 1e9, peak_all, #x.chunks[1]))
  return best, peak_all
end

local p1 = "/tmp/ldask-bench-h5.h5"
local n1 = make(p1, small, { { name = "/x" }, { name = "/c", chunked = true } })
local mine = {}
mine["/x"] = sum_dataset(p1, "/x", n1, ("%g GB contiguous (page cache)"):format(small))
mine["/c"] = sum_dataset(p1, "/c", n1, ("%g GB chunked (page cache)"):format(small))
if bu.have_dask() then
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(DASK)
  f:close()
  local out = bu.run_python(script, p1 .. " /x /c")
  os.remove(script)
  for name, t, s, nb, rss in out:gmatch("dask (%S+) (%S+) (%S+) (%d+) (%S+)") do
    t = tonumber(t)
    print(("dask  %-34s %7.3f s  %6.2f GB/s  peak RSS %5.0f MB  (%d blocks)  ldask %.1fx faster"):format(
      name, t, n1 * 8 / t / 1e9, tonumber(rss), tonumber(nb), t / mine[name]))
    assert(math.abs(tonumber(s) / n1 - 0.5) < 1e-3, "dask's sum far from n/2")
  end
  if not out:find("dask ") then print("dask run failed:\n" .. out) end
else
  print("(python3-dask or python3-h5py missing for /usr/bin/python3: no side-by-side run)")
end
os.remove(p1)

if big > 0 then
  collectgarbage()
  local p2 = "/tmp/ldask-bench-h5big.h5"
  local n2 = make(p2, big, { { name = "/x" } })
  local _, peak = sum_dataset(p2, "/x", n2, ("%g GB contiguous"):format(big))
  print(("  peak RSS %.0f MB for a %g GB dataset"):format(peak, big))
  os.remove(p2)
end
