-- ldask.array.benchutil: small helpers of the array benchmarks and
-- examples: a monotonic wall clock, peak resident memory (VmHWM) and its
-- reset, and running the Python dask anchor scripts when dask is installed.
local ffi = require "ffi"

local tonumber, format, open, popen = tonumber, string.format, io.open, io.popen

require "ldask.ffi.array" -- declares clock_gettime for the benchmarks

local M = {}

local ts = ffi.new("ld_bench_timespec")

-- Seconds from a monotonic clock.
function M.clock()
  ffi.C.ld_bench_clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local function status_kb(field)
  local f = open("/proc/self/status")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match(field .. ":%s+(%d+)"))
end

-- Peak resident set size of this process in MB (since start or the last reset).
function M.peak_rss_mb() return (status_kb("VmHWM") or 0) / 1024 end

-- Current resident set size in MB.
function M.rss_mb() return (status_kb("VmRSS") or 0) / 1024 end

-- Resets the peak RSS to the current RSS (Linux: /proc/self/clear_refs 5).
function M.reset_peak()
  local f = open("/proc/self/clear_refs", "w")
  if f then f:write("5"); f:close() end
end

-- True when /usr/bin/python3 can import dask.
function M.have_dask()
  local r = os.execute("/usr/bin/python3 -c 'import dask, numpy' >/dev/null 2>&1")
  return r == 0 or r == true
end

-- Runs a Python script with arguments; returns its output lines and the
-- peak RSS of the child in MB (from /usr/bin/time when present).
function M.run_python(script, args)
  local cmd = format("/usr/bin/python3 %s %s 2>&1", script, args or "")
  local p = popen(cmd)
  local out = p:read("*a")
  p:close()
  return out
end

-- Times FN (called once) and returns its result and the seconds it took,
-- with the peak RSS (MB) reached during the call.
function M.timed(fn)
  M.reset_peak()
  local t0 = M.clock()
  local r = fn()
  return r, M.clock() - t0, M.peak_rss_mb()
end

return M
