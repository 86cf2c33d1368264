-- bench/events_overhead.lua: what watching the local event stream
-- (ldask.diagnostics.events) costs the threaded scheduler: the anchor graph
-- of bench/overhead.lua (N inc tasks + a fan-in-8 sum) in microseconds per
-- task, not watched (the default: the engine neither times tasks nor records
-- events) and watched (every task's start/stop published into a ring).
--   bin/ldask bench/events_overhead.lua [N]
local ldask = require "ldask"
local lib = require "ldask.native"
require "ldask.ffi.pool"
local now = lib.ld_pool_now
local events = ldask.diagnostics.events

local N = tonumber(arg and arg[1]) or 100000
local NW = ldask.config.get("num_workers")
local support = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "support.lua")
local g, root, ntasks = support.anchor_graph(N)
local expect = N * (N + 1) / 2
local opts = { scheduler = "threads", optimize_graph = false, num_workers = NW }
ldask.get(g, root, opts)

print(string.format("ldask %s, %d executor threads, %d tasks, %s", ldask.version, NW, ntasks,
  os.date("!%Y-%m-%d %H:%M UTC")))
local best = { off = math.huge, on = math.huge }
for _ = 1, 5 do -- interleaved, best of 5 each
  for _, mode in ipairs { "off", "on" } do
    local ring = mode == "on" and events.watch { capacity = 2 * ntasks } or nil
    local t0 = now()
    assert(ldask.get(g, root, opts) == expect)
    local dt = now() - t0
    if ring then
      assert(ring:size() == ntasks + 2, "events missing: " .. ring:size())
      ring:close()
    end
    if dt < best[mode] then best[mode] = dt end
  end
end
print(string.format("not watched: %.3f s  %.2f us/task", best.off, best.off / ntasks * 1e6))
print(string.format("watched:     %.3f s  %.2f us/task  (%+.1f%%)", best.on, best.on / ntasks * 1e6,
  (best.on / best.off - 1) * 100))
