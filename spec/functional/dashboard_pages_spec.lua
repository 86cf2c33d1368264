-- Functional spec of the dashboard's pages as a person sees them: a real
-- ldask-scheduler (its dashboard on a free loopback port, with the local
-- cluster's token) and two ldask-worker processes run a computation, and
-- Debian's headless Chromium loads /status and /workers during and after it
-- (logging in with the token link, as a user's browser would), then /graph,
-- /prefix/<p> and /key/<k> of an erred task, and a performance_report file.
-- The pages write what they drew into <div id="summary" data-...> and data
-- attributes of their rows (share/ldask/dashboard/pages.js); the counts are
-- checked against the JSON API. Fails loudly when chromium is missing.
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"
local http = require "ldask.diagnostics.http"
local helpers = require "helpers"

local opts = client.options

local CHROMIUM
for _, name in ipairs { "chromium", "chromium-browser" } do
  local out, rc = helpers.run_sh("command -v " .. name .. " 2>/dev/null")
  if rc == 0 and out:match("%S") then
    CHROMIUM = out:match("^(%S+)")
    break
  end
end

-- The DOM of URL after Chromium ran its scripts for BUDGET ms of virtual
-- time. Virtual time stands still while a request is open, so the pages
-- either poll (?poll=1) or close their event stream after a few updates
-- (?updates=N).
local profile_n = 0
local function dom(url, budget)
  assert(CHROMIUM, "chromium is missing: the dashboard specs need Debian's chromium (scripts/deps.sh)")
  profile_n = profile_n + 1
  local profile = helpers.tmpdir() .. "/chromium-profile-" .. profile_n
  local out, rc = helpers.run_sh(string.format(
    "timeout 90 %s --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run " ..
    "--user-data-dir=%s --virtual-time-budget=%d --dump-dom %s 2>/dev/null",
    CHROMIUM, helpers.shell_quote(profile), budget or 4000, helpers.shell_quote(url)))
  assert.equal(0, rc, "chromium failed on " .. url)
  assert.is_truthy(out:find("</html>", 1, true), "no page from " .. url .. ": " .. out:sub(1, 300))
  return out
end

-- The attributes of the first element of HTML with id ID (or whose opening
-- tag matches PATTERN) as a table.
local function attrs_of(tag)
  local t = {}
  for k, v in tag:gmatch('([%w%-]+)="([^"]*)"') do t[k] = v end
  return t
end
local function summary(html)
  local tag = html:match('<div id="summary"[^>]*>')
  assert.is_truthy(tag, "no summary element in the page")
  return attrs_of(tag)
end
local function all_tags(html, class)
  local out = {}
  for tag in html:gmatch('<[%w]+ class="' .. class .. '"[^>]*>') do out[#out + 1] = attrs_of(tag) end
  return out
end

local function slow(x)
  require("socket").sleep(0.02)
  return x * 2
end

describe("the dashboard pages in headless Chromium", function()
  local cl, c, base, token, api, link
  setup(function()
    cl = cluster_mod.start { n_workers = 2, threads_per_worker = 2 }
    c = client(cl.address, { set_as_default = false })
    c:wait_for_workers(2, 20)
    link = c:dashboard_link()
    base = assert(link and link:match("^(http://[^/]+)"), "no dashboard link: " .. tostring(link))
    local f = assert(io.open(cluster_mod.token_file(cl.address)))
    token = f:read("*a"):gsub("%s+$", "")
    f:close()
    api = http.json_reader(base, token)
  end)
  teardown(function()
    if c then pcall(c.close, c) end
    if cl then cl:stop() end
  end)

  -- URL of PATH carrying the token once (the scheduler sets its cookie and
  -- redirects to PATH), polling.
  local function page(path) return base .. path .. "?poll=1&token=" .. token end

  local seq = {}
  for i = 1, 300 do seq[i] = i end
  local futures

  it("shows the task stream, one row per worker thread and progress while computing", function()
    futures = c:map(slow, seq, opts { key = "slow" })
    local html = dom(page("/status"), 3000)
    local s = summary(html)
    assert.equal("4", s["data-rows"], "rows: one per worker thread")
    assert.equal("2", s["data-workers"])
    assert.is_true(tonumber(s["data-bars"]) > 0, "no task bars while computing")
    local rows = all_tags(html, "prefix%-row")
    assert.is_true(#rows >= 1, "no progress bars")
    local mine
    for _, r in ipairs(rows) do if r["data-prefix"] == "slow" then mine = r end end
    assert.is_truthy(mine, "no progress bar for the prefix 'slow'")
    assert.equal("300", mine["data-total"])
  end)

  it("shows every task's bar and the progress counts of /api/v1/status after it", function()
    local r = c:gather(futures, 60)
    assert.equal(600, r[300])
    local st = assert(api("/api/v1/status"))
    local html = dom(page("/status"), 3000)
    local s = summary(html)
    assert.matches("^polling", s["data-conn"])
    assert.is_true(tonumber(s["data-bars"]) >= 300, "bars: " .. tostring(s["data-bars"]))
    assert.equal("4", s["data-rows"])
    assert.equal(tostring(st.tasks.memory), s["data-memory"])
    assert.equal(tostring(st.tasks.erred), s["data-erred"])
    local shown = {}
    for _, row in ipairs(all_tags(html, "prefix%-row")) do shown[row["data-prefix"]] = row end
    assert.is_true(#st.prefixes >= 1)
    for _, p in ipairs(st.prefixes) do
      local row = shown[p.prefix]
      assert.is_truthy(row, "no progress bar for prefix " .. p.prefix)
      for _, k in ipairs { "waiting", "processing", "memory", "erred", "total" } do
        assert.equal(tostring(p[k]), row["data-" .. k], p.prefix .. " " .. k)
      end
    end
    assert.equal("300", shown.slow["data-memory"])
  end)

  it("updates live from the event stream (/api/v1/events) too", function()
    local st = assert(api("/api/v1/status"))
    local html = dom(base .. "/status?updates=2&token=" .. token, 2000)
    local s = summary(html)
    assert.equal("stopped after 2 updates", s["data-conn"], "the page did not get its updates from the event stream")
    assert.is_true(tonumber(s["data-bars"]) >= 300, "bars: " .. tostring(s["data-bars"]))
    assert.equal("4", s["data-rows"])
    assert.equal(tostring(st.tasks.memory), s["data-memory"])
  end)

  it("lists one table row per worker with its threads", function()
    local ws = assert(api("/api/v1/workers"))
    local html = dom(page("/workers"), 2000)
    local rows = all_tags(html, "worker")
    assert.equal(2, #rows)
    assert.equal("2", summary(html)["data-workers"])
    local known = {}
    for _, w in ipairs(ws) do known[w.address] = w end
    for _, row in ipairs(rows) do
      local w = known[row["data-address"]]
      assert.is_truthy(w, "unknown worker " .. tostring(row["data-address"]))
      assert.equal(tostring(w.nthreads), row["data-nthreads"])
    end
  end)

  it("draws the graph of the current computation, and a prefix page", function()
    local html = dom(page("/graph"), 2000)
    local s = summary(html)
    assert.is_true(tonumber(s["data-nodes"]) >= 1, "no graph nodes")
    assert.is_truthy(html:find('<circle', 1, true))
    html = dom(page("/prefix/slow"), 2000)
    s = summary(html)
    assert.equal("300", s["data-total"])
    assert.equal("300", s["data-computed"])
  end)

  it("shows an erred task's error and traceback on its key page", function()
    local f = c:submit(function(x) error("no luck with " .. x) end, 5, opts { key = "unlucky-1" })
    assert.has_error(function() f:result(20) end)
    local html = dom(page("/key/unlucky-1"), 2000)
    local s = summary(html)
    assert.equal("erred", s["data-state"])
    assert.is_truthy(html:find("no luck with 5", 1, true), "the error is not on the page")
    assert.is_truthy(html:find('id="traceback"', 1, true), "no traceback on the page")
  end)

  it("puts the cluster's computes into a performance report", function()
    c:set_as_default()
    local path = helpers.tmpdir() .. "/cluster-report.html"
    local xs = {}
    for i = 1, 40 do xs[i] = i end
    local r = require("ldask").diagnostics.performance_report(path, function()
      return c:gather(c:map(slow, xs, opts { key = "rep" }), 30)
    end)
    assert.equal(80, r[40])
    local html = dom("file://" .. path, 2000)
    local s = summary(html)
    assert.equal("40", s["data-tasks"])
    assert.equal("40", s["data-bars"])
    assert.equal("4", s["data-rows"])
    local rows = all_tags(html, "prefix%-row")
    assert.equal(1, #rows)
    assert.equal("rep", rows[1]["data-prefix"])
    assert.equal("40", rows[1]["data-memory"])
    assert.is_truthy(html:find("cluster http://", 1, true), "the report does not name the cluster")
  end)

  it("asks for the token instead of showing the page without it", function()
    local html = dom(base .. "/status?poll=1", 1000)
    assert.is_nil(html:find('data-page="status"', 1, true), "the status page was served without the token")
  end)
end)

describe("a performance report in headless Chromium", function()
  it("renders the task stream, the progress and the profile of a local compute", function()
    local path = helpers.tmpdir() .. "/pages-report.html"
    local ldask = require "ldask"
    local x = ldask.array.ones({ 400, 400 }, { chunks = 100 })
    ldask.diagnostics.performance_report(path, function() return (x + 1):sum():compute { num_workers = 2 } end)
    local html = dom("file://" .. path, 2000)
    local s = summary(html)
    assert.equal("report", s["data-page"])
    local ntasks = tonumber(s["data-tasks"])
    assert.is_true(ntasks >= 16, "tasks: " .. tostring(ntasks))
    assert.equal(tostring(ntasks), s["data-bars"])
    assert.equal("2", s["data-rows"])
    local total = 0
    for _, row in ipairs(all_tags(html, "prefix%-row")) do
      assert.equal(row["data-total"], row["data-memory"])
      total = total + tonumber(row["data-total"])
    end
    assert.equal(ntasks, total)
    local counted = 0
    for _, row in ipairs(all_tags(html, "profile%-row")) do counted = counted + tonumber(row["data-count"]) end
    assert.equal(ntasks, counted)
    assert.is_truthy(html:find("u%-wrap"), "no uPlot chart")
  end)
end)
