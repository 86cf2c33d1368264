-- bench/dataframe_merge.lua: the issue's merge of two 6,000,000-row frames
-- on a key with 1,000,000 distinct values (each key about 6 times per side:
-- about 36M output rows), read from CSV (12 files per side), shuffled by
-- the multi-stage task shuffle and reduced to a sum and a row count
-- without holding the whole result; on threads (2) and on a local
-- 2-worker cluster, with the time and the peak RSS (threads: this process;
-- cluster: each worker process, from /proc/PID/status VmHWM).
--   bin/ldask bench/dataframe_merge.lua [DATA_DIR]   (default /tmp/ldask-dfmerge)
-- Env: LDASK_BENCH_NO_CLUSTER=1 skips the cluster run.
local ldask = require "ldask"
local dd = require "ldask.dataframe"
local benchutil = require "ldask.array.benchutil"

local format = string.format
local data = arg and arg[1] or "/tmp/ldask-dfmerge"
local now = benchutil.clock

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local GEN = [[
import sys, os
import numpy as np, pandas as pd
out = sys.argv[1]
for side, seed in (("l", 1), ("r", 2)):
    os.makedirs(f"{out}/{side}", exist_ok=True)
    rng = np.random.default_rng(seed)
    for p in range(12):
        n = 500000
        pd.DataFrame({"key": rng.integers(0, 1000000, n), "v": np.round(rng.random(n), 4)}).to_csv(
            f"{out}/{side}/part-{p:02d}.csv", index=False)
]]

if not exists(data .. "/r/part-11.csv") then
  print("== generating " .. data .. " (2 x 6,000,000 rows, once)")
  os.execute("mkdir -p " .. data)
  local py = data .. "/gen.py"
  local f = assert(io.open(py, "w"))
  f:write(GEN)
  f:close()
  local rc = os.execute("/usr/bin/python3 " .. py .. " " .. data)
  if rc ~= 0 and rc ~= true then error("bench/dataframe_merge.lua: generating the data failed (python3-pandas?)") end
end

local function query()
  local l = dd.read_csv(data .. "/l/*.csv")
  local r = dd.read_csv(data .. "/r/*.csv")
  local m = l:merge(r, { on = "key" })
  return m.v_x:sum(), m
end

-- Peak RSS (MB) of the worker processes of client C's local cluster.
local function worker_peaks(c)
  local out = {}
  for _, pid in ipairs(c.cluster.workers) do
    local f = io.open("/proc/" .. pid .. "/status")
    if f then
      local st = f:read("*a")
      f:close()
      out[#out + 1] = tonumber(st:match("VmHWM:%s*(%d+)") or "0") / 1024
    end
  end
  return out
end

local sum, merged = query()
local t0 = now()
benchutil.reset_peak()
local rss0 = benchutil.rss_mb()
local s = sum:compute({ scheduler = "threads", num_workers = 2 })
local t1 = now() - t0
print(format("merge of 2 x 6M rows on 1M keys, threads (2): sum %.6g in %.2f s, peak RSS %.0f MB (%.0f MB before)",
  s, t1, benchutil.peak_rss_mb(), rss0))
local t2 = now()
local rows = merged:len({ scheduler = "threads", num_workers = 2 })
print(format("  output rows %d (len: %.2f s)", rows, now() - t2))

if os.getenv("LDASK_BENCH_NO_CLUSTER") ~= "1" then
  local c = ldask.Client({ n_workers = 2, threads_per_worker = 1 })
  local ok, err = pcall(function()
    local t3 = now()
    local s2 = sum:compute({ scheduler = "distributed" })
    local peaks = worker_peaks(c)
    local list = {}
    for i, v in ipairs(peaks) do list[i] = format("%.0f", v) end
    print(format("merge on a local cluster (2 workers x 1 thread): sum %.6g in %.2f s, worker peak RSS %s MB",
      s2, now() - t3, table.concat(list, ", ")))
    assert(math.abs(s2 - s) <= 1e-6 * math.abs(s), "cluster and threads disagree")
  end)
  c:close()
  if not ok then error(err, 0) end
end
