-- bench/makespan.lua: balance on a cluster (issue 17). Tasks of mixed
-- durations (sleeps of 1 ms to 1 s: 2 cores suffice) that all need a small
-- value scattered to the first of 3 workers (1 thread each), so that data
-- locality places them all there; work stealing must spread them. Prints
-- the makespan (first submit to last result), the ideal (max(longest
-- task, sum of durations / 3)) and their ratio, for ldask and, in the same
-- run, for Python dask.distributed (bench/makespan.py) when installed.
--   bin/ldask bench/makespan.lua [--no-anchor] [--no-stealing]
local client = require "ldask.client"
local lib = require "ldask.native"

local now = lib.ld_client_now
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local no_anchor, no_stealing = false, false
for _, a in ipairs(arg or {}) do
  if a == "--no-anchor" then no_anchor = true end
  if a == "--no-stealing" then no_stealing = true end
end

-- The tasks: {prefix, seconds, count}; the same list as bench/makespan.py,
-- in the same shuffled order (a fixed linear congruential sequence).
local CLASSES = { { "t1000ms", 1.0, 2 }, { "t300ms", 0.3, 6 }, { "t100ms", 0.1, 12 },
  { "t10ms", 0.01, 40 }, { "t1ms", 0.001, 100 } }
local tasks, sum, longest = {}, 0, 0
for _, cl in ipairs(CLASSES) do
  for _ = 1, cl[3] do
    tasks[#tasks + 1] = { cl[1], cl[2] }
    sum = sum + cl[2]
    if cl[2] > longest then longest = cl[2] end
  end
end
local seed = 12345
for i = #tasks, 2, -1 do
  seed = (seed * 1103515245 + 12345) % 2147483648
  local j = seed % i + 1
  tasks[i], tasks[j] = tasks[j], tasks[i]
end
local NW = 3
local ideal = math.max(longest, sum / NW)

local function work(_, d)
  require("socket").sleep(d)
  return require("ldask.client").get_worker().name
end

local c = client({ n_workers = NW, threads_per_worker = 1, work_stealing = not no_stealing })
c:wait_for_workers(NW, 20)
c:gather(c:map(function(x) return x end, { 1, 2, 3, 4, 5, 6 })) -- warm
local x = c:scatter(string.rep("x", 1000), client.options { workers = "local-1" })

local t0 = now()
local fs = {}
for i, t in ipairs(tasks) do
  fs[i] = c:submit(work, x, t[2], client.options { key = t[1] .. "-" .. i, pure = false })
end
local where = c:gather(fs)
local makespan = now() - t0
local count = {}
for _, w in ipairs(where) do count[w] = (count[w] or 0) + 1 end
local info = c:scheduler_info()
c:close()
print(("%d tasks, %.3f s of work, on %d workers x 1 thread; all need data on local-1"):format(
  #tasks, sum, NW))
print(("ldask: makespan %.3f s, ideal %.3f s, ratio %.3f (tasks per worker: local-1 %d, local-2 %d, "
  .. "local-3 %d; steals %d asked, %d done, %d refused%s)"):format(makespan, ideal, makespan / ideal,
  count["local-1"] or 0, count["local-2"] or 0, count["local-3"] or 0, info.steals_asked,
  info.steals_done, info.steals_refused, no_stealing and "; --no-work-stealing" or ""))

local p = io.popen("/usr/bin/python3 -c 'import distributed' 2>&1; echo rc=$?")
local have = p:read("*a"):match("rc=0")
p:close()
if no_anchor then return end
if not have then
  print("(Python dask.distributed is not installed: ldask's side only)")
  return
end
p = io.popen("/usr/bin/python3 " .. here .. "makespan.py 2>/dev/null")
local out = p:read("*a")
p:close()
io.write(out)
local theirs = tonumber(out:match("dask: makespan ([%d.]+) s"))
if theirs then print(("ldask / dask makespan: %.2f"):format(makespan / theirs)) end
