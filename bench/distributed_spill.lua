-- bench/distributed_spill.lua: ldask-worker under --memory-limit. One
-- worker (1 thread) computes N results of SIZE bytes each (strings) and
-- keeps them all (the futures are held), once with no memory limit and once
-- with LIMIT (spilling above 0.6 × LIMIT); then one task per result reads
-- it on the worker (its length), and every result is gathered back in
-- groups of 10. Prints the times, and the worker's peak RSS (VmHWM) after
-- the computation and at the end.
--   bin/ldask bench/distributed_spill.lua [N=200] [SIZE=1000000] [LIMIT=20MB]
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"
local lib = require "ldask.native"

local n = tonumber(arg[1]) or 200
local size = tonumber(arg[2]) or 1000000
local limit = arg[3] or "20MB"
local now = lib.ld_client_now

local function block(i, nbytes) return string.rep(string.char(65 + i % 26), nbytes - #tostring(i)) .. i end

local function peak_rss(pid)
  local f = io.open("/proc/" .. pid .. "/status")
  local s = f and f:read("*a") or ""
  if f then f:close() end
  return (tonumber(s:match("VmHWM:%s*(%d+) kB")) or 0) * 1024
end

local function run(memory_limit)
  local cl = cluster_mod.start({ n_workers = 0 })
  local c = client(cl.address, { set_as_default = false })
  cl:add_worker(1, memory_limit and ("--memory-limit " .. memory_limit) or nil)
  c:wait_for_workers(1, 20)
  c:gather(c:map(function(x) return x end, { 1, 2, 3 })) -- warm
  local seq = {}
  for i = 1, n do seq[i] = i end
  local t0 = now()
  local fs = c:map(block, seq, size)
  client.wait(fs, { timeout = 600 })
  local t_compute = now() - t0
  local rss = peak_rss(cl.workers[1])
  t0 = now()
  local lens = c:gather(c:map(function(v) return #v end, fs), 600)
  for i = 1, n do assert(lens[i] == size, "wrong length") end
  local t_map = now() - t0
  t0 = now()
  for first = 1, n, 10 do
    local group = {}
    for i = first, math.min(n, first + 9) do group[#group + 1] = fs[i] end
    local vals = c:gather(group, 600)
    for k, v in ipairs(vals) do assert(#v == size and v == block(first + k - 1, size), "wrong value") end
  end
  local t_gather = now() - t0
  local rss_end = peak_rss(cl.workers[1])
  local log = cl:log(1) or ""
  c:close()
  cl:stop()
  return { compute = t_compute, map = t_map, gather = t_gather, rss = rss, rss_end = rss_end,
    spilled_to = log:match("spilling to (%S+)") }
end

local mb = 1e6
print(string.format("%d results of %d bytes (%.0f MB), 1 worker x 1 thread", n, size, n * size / mb))
for _, lim in ipairs({ false, limit }) do
  local r = run(lim or nil)
  print(string.format("  %-22s compute %6.3f s  map %6.3f s  gather %6.3f s  peak RSS %6.1f MB, at the end %6.1f MB%s",
    lim and ("--memory-limit " .. lim) or "no memory limit", r.compute, r.map, r.gather,
    r.rss / mb, r.rss_end / mb, r.spilled_to and "  (spilled)" or ""))
end
