-- bench/dataframe.lua: the issue's three dataframe queries on the
-- make_data.py CSV files (6,000,000 rows in 12 daily files, 228 MB), each
-- timed from the files to the result, on the threaded scheduler (2
-- threads), side by side in the same run with dask.dataframe
-- (/usr/bin/python3 with python3-dask) and, when installed, Polars and
-- DuckDB (../shared/anchors/peers: `npm install` into /tmp/peers).
--   bin/ldask bench/dataframe.lua [DATA_DIR]     (default /tmp/ldask-dfdata)
-- Env: LDASK_BENCH_REPEAT (3), LDASK_BENCH_NO_DASK=1, LDASK_BENCH_PEERS
-- (the folder with node_modules, default /tmp/peers), LDASK_BENCH_BIG=1
-- also runs query 1 over 10x the data and reports peak RSS.
local dd = require "ldask.dataframe"
local benchutil = require "ldask.array.benchutil"

local format = string.format
local data = arg and arg[1] or "/tmp/ldask-dfdata"
local here = debug.getinfo(1, "S").source:sub(2):match("(.*)/bench/dataframe.lua$") or "."
local anchors = here .. "/../shared/anchors"
local REPEAT = tonumber(os.getenv("LDASK_BENCH_REPEAT") or "") or 3
local PEERS = os.getenv("LDASK_BENCH_PEERS") or "/tmp/peers"
local now = benchutil.clock

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  return out
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

if not exists(data .. "/csv/2015-03-19.csv") then
  print("== generating " .. data .. " with make_data.py 8 12 500000 (once)")
  local rc = os.execute("/usr/bin/python3 " .. anchors .. "/make_data.py " .. data .. " 8 12 500000")
  if rc ~= 0 and rc ~= true then error("bench/dataframe.lua: make_data.py failed; is /usr/bin/python3 there?") end
end
local glob = data .. "/csv/*.csv"
local size_mb = tonumber((sh("du -cb " .. data .. "/csv/*.csv | tail -1"):match("^(%d+)"))) / 1e6

local opts = { scheduler = "threads", num_workers = 2 }

local queries = {
  { "groupby(timestamp.dt.day).volume.mean", function()
    local df = dd.read_csv(glob, { parse_dates = { "timestamp" } })
    local r = df:groupby(df.timestamp.dt.day).volume:mean():compute(opts)
    return format("%d groups, first %.4f", dd.len(r), r:to_table()[1])
  end },
  { "groupby(symbol).price.mean", function()
    local df = dd.read_csv(glob)
    local r = df:groupby("symbol").price:mean():compute(opts)
    return format("%d groups, first %.4f", dd.len(r), r:to_table()[1])
  end },
  { "df[price > 250].volume.sum", function()
    local df = dd.read_csv(glob)
    return format("%d", df[df.price:gt(250)].volume:sum():compute(opts))
  end },
}

print(format("== ldask.dataframe: 12 files, %.0f MB, threads scheduler (2 threads), best of %d", size_mb, REPEAT))
local ours = {}
for i, q in ipairs(queries) do
  local best, result = math.huge, nil
  for _ = 1, REPEAT do
    collectgarbage()
    local t0 = now()
    result = q[2]()
    local dt = now() - t0
    if dt < best then best = dt end
  end
  ours[i] = best
  print(format("ldask   %-40s %7.3f s  -> %s", q[1], best, result))
end
print(format("peak RSS %.0f MB", benchutil.peak_rss_mb()))

-- dask.dataframe, same queries, same run
local dask = {}
if os.getenv("LDASK_BENCH_NO_DASK") ~= "1" and
  os.execute("/usr/bin/python3 -c 'import dask.dataframe' >/dev/null 2>&1") then
  local py = [[
import sys, time, dask, dask.dataframe as dd
dask.config.set(scheduler="threads", num_workers=2)
g = sys.argv[1]; rep = int(sys.argv[2])
def best(f):
    b = 1e9
    for _ in range(rep):
        t = time.perf_counter(); r = f(); b = min(b, time.perf_counter() - t)
    return b, r
def q1():
    df = dd.read_csv(g, parse_dates=["timestamp"])
    return len(df.groupby(df.timestamp.dt.day).volume.mean().compute())
def q2():
    df = dd.read_csv(g)
    return len(df.groupby("symbol").price.mean().compute())
def q3():
    df = dd.read_csv(g)
    return int(df[df.price > 250].volume.sum().compute())
for f in (q1, q2, q3):
    t, r = best(f)
    print("%.3f %s" % (t, r), flush=True)
]]
  local path = os.tmpname()
  local f = io.open(path, "w"); f:write(py); f:close()
  local out = sh("/usr/bin/python3 " .. path .. " '" .. glob .. "' " .. REPEAT .. " 2>&1")
  os.remove(path)
  local i = 0
  for t, r in out:gmatch("([%d.]+) (%S+)\n") do
    i = i + 1
    dask[i] = tonumber(t)
    print(format("dask    %-40s %7.3f s  -> %s", queries[i][1], dask[i], r))
  end
  if i == 0 then print("dask: failed: " .. out) end
else
  print("dask: skipped (no python3-dask for /usr/bin/python3, or LDASK_BENCH_NO_DASK=1)")
end

-- Polars and DuckDB
local peers = {}
if exists(PEERS .. "/node_modules/nodejs-polars/package.json") then
  local out = sh("cd " .. PEERS .. " && node df_peers.mjs " .. data .. " 2>&1")
  for label, t in out:gmatch("(%a+ [^:]+): ([%d.]+)s") do
    local engine = label:match("^(%a+)")
    local q = label:find("symbol") and 2 or label:find("price>250") and 3 or 1
    peers[engine] = peers[engine] or {}
    peers[engine][q] = tonumber(t)
  end
  if not next(peers) then print("peers: failed: " .. out) end
else
  print("peers: skipped (npm install ../shared/anchors/peers into " .. PEERS .. ")")
end

print("")
print(format("%-40s %8s %8s %8s %8s %9s", "query", "ldask", "dask", "polars", "duckdb", "vs dask"))
for i, q in ipairs(queries) do
  local function f(v) return v and format("%.3f", v) or "-" end
  local p, d = peers.polars or {}, peers.duckdb or {}
  print(format("%-40s %8s %8s %8s %8s %9s", q[1], f(ours[i]), f(dask[i]), f(p[i]), f(d[i]),
    dask[i] and format("%.1fx", dask[i] / ours[i]) or "-"))
end

if os.getenv("LDASK_BENCH_BIG") == "1" then
  -- memory: query 1 over 10x the files (the same files listed 10 times)
  local list = {}
  local files = {}
  for p in sh("ls " .. glob):gmatch("[^\n]+") do files[#files + 1] = p end
  for _ = 1, 10 do for _, p in ipairs(files) do list[#list + 1] = p end end
  benchutil.reset_peak()
  local t0 = now()
  local df = dd.read_csv(list, { parse_dates = { "timestamp" } })
  local r = df:groupby(df.timestamp.dt.day).volume:mean():compute(opts)
  print(format("10x data (%d files, %.0f MB): %.3f s, %d groups, peak RSS %.0f MB", #list, size_mb * 10,
    now() - t0, dd.len(r), benchutil.peak_rss_mb()))
end
