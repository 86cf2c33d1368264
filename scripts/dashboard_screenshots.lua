-- scripts/dashboard_screenshots.lua: remakes docs/img/dashboard-*.png, one
-- screenshot of each dashboard page and of a performance report, taken by
-- headless Chromium from a local cluster of 2 workers x 2 threads running
-- an array computation and a map (the status page while it runs).
--   bin/ldask scripts/dashboard_screenshots.lua [OUTDIR]
local ldask = require "ldask"
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"

local out = arg[1] or "docs/img"
local function shot(url, file, budget, height)
  local cmd = string.format("timeout 90 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars " ..
    "--user-data-dir=/tmp/ldask-shots-profile --window-size=1200,%d --virtual-time-budget=%d --screenshot=%s '%s' >/dev/null 2>&1",
    height or 760, budget or 3000, out .. "/" .. file, url)
  assert(os.execute(cmd) == 0, "chromium failed: " .. cmd)
  print("wrote " .. out .. "/" .. file)
end

local cl = cluster_mod.start { n_workers = 2, threads_per_worker = 2 }
local c = client(cl.address, { set_as_default = false })
local ok, err = pcall(function()
  c:wait_for_workers(2, 20)
  local base = c:dashboard_link():match("^(http://[^/]+)")
  local f = assert(io.open(cluster_mod.token_file(cl.address)))
  local token = f:read("*a"):gsub("%s+$", "")
  f:close()
  local function url(path) return base .. path .. "?poll=1&token=" .. token end
  local function work(prefix, n, dt)
    local seq = {}
    for i = 1, n do seq[i] = i end
    return c:map(function(x) require("socket").sleep(dt * (0.5 + (x % 7) / 7)) return string.rep("x", 1000 * x) end,
      seq, client.options { key = prefix })
  end
  local a = work("load", 120, 0.03)
  local b = c:map(function(s) return #s end, a, client.options { key = "measure" })
  local d = work("transform", 200, 0.02)
  require("socket").sleep(0.6)
  shot(url("/status"), "dashboard-status.png", 2500, 820)
  c:gather(b, 60)
  c:gather(d, 60)
  local e = c:submit(function(x) error("cannot parse record " .. x) end, 17, client.options { key = "parse-17" })
  pcall(e.result, e, 20)
  shot(url("/workers"), "dashboard-workers.png", 1500, 300)
  shot(url("/graph"), "dashboard-graph.png", 2500, 700)
  shot(url("/prefix/load"), "dashboard-prefix.png", 2500, 760)
  shot(url("/key/parse-17"), "dashboard-key.png", 1500, 560)
  local x = ldask.array.random.random({ 2000, 2000 }, { chunks = 250 })
  ldask.diagnostics.performance_report("/tmp/ldask-report-shot.html", function()
    return (x + x:transpose()):mean(0):sum():compute { num_workers = 2 }
  end)
  shot("file:///tmp/ldask-report-shot.html", "performance-report.png", 2000, 640)
end)
pcall(c.close, c)
cl:stop()
if not ok then error(err, 0) end
