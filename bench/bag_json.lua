-- bench/bag_json.lua: ldask.bag on 2,000,000 JSON-lines records in 8 files
-- (../shared/anchors/make_data.py), the seed's pipelines on the threaded
-- scheduler, side by side with Python dask.bag (../shared/anchors/
-- dask_bag_df.py) when /usr/bin/python3 has dask. Prints wall times (best
-- of REPEAT), the ratio to dask, and peak RSS (VmHWM).
--   bin/ldask bench/bag_json.lua [DATA_DIR]     (default /tmp/ldask-bagdata)
-- Env: LDASK_BENCH_REPEAT (default 3), LDASK_BENCH_WRITE=1 writes
-- docs/bench-bag.md, LDASK_BENCH_NO_DASK=1 skips the dask run.
local bag = require "ldask.bag"
local cjson = require "cjson"
local benchutil = require "ldask.array.benchutil"

local format = string.format
local data = arg and arg[1] or "/tmp/ldask-bagdata"
local here = debug.getinfo(1, "S").source:sub(2):match("(.*)/bench/bag_json.lua$") or "."
local anchors = here .. "/../shared/anchors"
local REPEAT = tonumber(os.getenv("LDASK_BENCH_REPEAT") or "") or 3

local now = benchutil.clock -- monotonic wall clock

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

local function vmhwm()
  local f = io.open("/proc/self/status")
  if not f then return nil end
  for l in f:lines() do
    local kb = l:match("^VmHWM:%s+(%d+)")
    if kb then f:close(); return tonumber(kb) / 1024 end
  end
  f:close()
end

-- Data: generate it once when missing (2M records; a small CSV part so the
-- anchor's dataframe lines run quickly).
if not exists(data .. "/json/part-7.jsonl") then
  print("== generating " .. data .. " with make_data.py (once)")
  local rc = os.execute("/usr/bin/python3 " .. anchors .. "/make_data.py " .. data .. " 2000000 1 20000")
  if rc ~= 0 and rc ~= true then error("bench/bag_json.lua: make_data.py failed; is /usr/bin/python3 there?") end
end
local glob = data .. "/json/*.jsonl"
local size_mb = tonumber((sh("du -cb " .. data .. "/json/*.jsonl | tail -1"):match("^(%d+)"))) / 1e6

local opts = { scheduler = "threads" }
local b = bag.read_text(glob)

local queries = {
  { "count", "bag map(json.loads).filter(name==Alice).count", function()
    return b:map(cjson.decode):filter(function(d) return d.name == "Alice" end):count():compute(opts)
  end },
  { "freq", "bag frequencies(name)", function()
    local fr = b:map(cjson.decode):pluck("name"):frequencies():compute(opts)
    table.sort(fr, function(x, y) return x[1] < y[1] end)
    return format("%s=%d %s=%d %s=%d", fr[1][1], fr[1][2], fr[2][1], fr[2][2], fr[3][1], fr[3][2])
  end },
  { "sum", "bag sum(amount) where amount>0", function()
    local s = b:map(cjson.decode):pluck("amount"):filter(function(a) return a > 0 end):sum():compute(opts)
    return format("%.2f", s)
  end },
  { "read_json", "read_json + filter + count (same as count)", function()
    return bag.read_json(glob):filter(function(d) return d.name == "Alice" end):count():compute(opts)
  end },
}

print(format("== ldask.bag: %d files, %.0f MB, threads scheduler, best of %d", 8, size_mb, REPEAT))
local ours = {}
for _, q in ipairs(queries) do
  local best, result = math.huge, nil
  for _ = 1, REPEAT do
    collectgarbage()
    local t0 = now()
    result = q[3]()
    local dt = now() - t0
    if dt < best then best = dt end
  end
  ours[q[2]] = best
  ours[q[1]] = best
  print(format("%-48s %7.3f s  -> %s", q[2], best, tostring(result)))
end
local rss = vmhwm()
print(format("peak RSS (VmHWM) of the ldask process: %.1f MB", rss or -1))

-- dask, in the same run.
local dask = {}
local dask_rss
local have_dask = os.getenv("LDASK_BENCH_NO_DASK") ~= "1"
  and sh("/usr/bin/python3 -c 'import dask, dask.bag; print(dask.__version__)' 2>/dev/null"):match("%d[%w%.%+]*")
if have_dask then
  print("== dask " .. have_dask .. " (" .. anchors .. "/dask_bag_df.py, threads)")
  local out = sh("/usr/bin/time -f 'RSS %M' /usr/bin/python3 " .. anchors .. "/dask_bag_df.py " .. data
    .. " threads 2>&1")
  for line in out:gmatch("[^\n]+") do
    local label, secs = line:match("^(bag [^:]+): ([%d%.]+)s")
    if label then
      dask[label] = tonumber(secs)
      print(line)
    end
    local kb = line:match("^RSS (%d+)")
    if kb then dask_rss = tonumber(kb) / 1024 end
  end
  if dask_rss then print(format("peak RSS of the dask process: %.1f MB", dask_rss)) end
  print("== ratio (dask time / ldask time)")
  for _, q in ipairs(queries) do
    local d = dask[q[2]]
    if d then print(format("%-48s %6.1fx  (%.3f s vs %.3f s)", q[2], d / ours[q[2]], d, ours[q[2]])) end
  end
else
  print("(dask not available to /usr/bin/python3: no side-by-side run)")
end

if os.getenv("LDASK_BENCH_WRITE") == "1" then
  local f = assert(io.open(here .. "/docs/bench-bag.md", "w"))
  f:write("# ldask.bag benchmark\n\n")
  f:write("Command: `bin/ldask bench/bag_json.lua` (data: `make_data.py " .. data .. " 2000000 1 20000`,\n")
  f:write(format("8 files, %.0f MB, 2,000,000 records). Machine: 2 cores, 24 GiB, shared. Date: %s.\n",
    size_mb, os.date("!%Y-%m-%d %H:%M UTC")))
  f:write(format("Best of %d runs, threads scheduler (2 executors); dask %s on its threaded scheduler, one run.\n\n",
    REPEAT, have_dask or "n/a"))
  f:write("| pipeline | ldask | dask | ratio |\n| --- | --- | --- | --- |\n")
  for _, q in ipairs(queries) do
    local d = dask[q[2]]
    f:write(format("| %s | %.3f s | %s | %s |\n", q[2], ours[q[2]], d and format("%.3f s", d) or "-",
      d and format("%.1fx", d / ours[q[2]]) or "-"))
  end
  f:write(format("\nPeak RSS: ldask %.1f MB (VmHWM, whole run)%s.\n", rss or -1,
    dask_rss and format("; dask %.1f MB", dask_rss) or ""))
  f:close()
  print("wrote docs/bench-bag.md")
end
