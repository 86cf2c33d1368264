-- spec/unit/diagnostics_events_spec.lua: the local event stream
-- (lua/ldask/diagnostics/events.lua) of the threaded and sync schedulers,
-- its bounded rings, and performance_report's file (report.lua) and
-- `ldask --report` (the file's rendering in Chromium is checked by
-- spec/functional/dashboard_pages_spec.lua).
local diag = require "ldask.diagnostics"
local events = require "ldask.diagnostics.events"
local threads = require "ldask.scheduler.threads"
local sync = require "ldask.scheduler.sync"
local cjson = require "cjson"
local helpers = require "spec.support.helpers"

local graph_of = helpers.graph_of

local function fail_on_7(x)
  if x == 7 then error("seven is not allowed") end
  return x
end

-- The JSON inside a report's <script>window.LDASK_REPORT = ...;</script>.
local function report_data(path)
  local f = assert(io.open(path, "rb"))
  local html = f:read("*a")
  f:close()
  local json = html:match("window%.LDASK_REPORT = (.-);</script>")
  assert.is_truthy(json, "no data in " .. path)
  return cjson.decode(json), html
end

describe("diagnostics.events", function()
  after_each(function()
    assert.is_false(events.watching(), "a spec left a ring watching")
  end)

  it("records nothing when nobody watches", function()
    local before = events.last_seq()
    local g, keys = graph_of(20, "idle-0123456789abcdef", function(x) return x end)
    threads.get(g, keys, { num_workers = 2 })
    sync.get(g, keys)
    assert.equal(before, events.last_seq())
  end)

  it("gives every task of a threaded compute with thread, prefix, start <= stop", function()
    local ring = events.watch()
    local g, keys = graph_of(200, "sq-0123456789abcdef", function(x) return x * x end)
    local r = threads.get(g, keys, { num_workers = 2 })
    ring:close()
    assert.equal(4, r[2])
    local evs = ring:since(0)
    assert.equal(202, #evs) -- graph, 200 computes, finish
    assert.equal("graph", evs[1].kind)
    assert.equal(200, evs[1].ntasks)
    assert.equal(200, evs[1].prefixes.sq)
    assert.equal("threads", evs[1].scheduler)
    assert.equal("finish", evs[202].kind)
    assert.is_true(evs[202].ok)
    local seen, threads_seen = {}, {}
    for i = 2, 201 do
      local e = evs[i]
      assert.equal("compute", e.kind)
      assert.equal("sq", e.prefix)
      assert.equal("threads", e.worker)
      assert.equal("ok", e.status)
      assert.is_true(e.start <= e.stop)
      assert.is_true(e.seq > evs[i - 1].seq)
      assert.is_true(e.thread == 0 or e.thread == 1)
      threads_seen[e.thread] = true
      seen[e.key] = true
    end
    for _, k in ipairs(keys) do assert.is_true(seen[k], k) end
  end)

  it("marks the failing task erred (tasks that never ran are not events)", function()
    local ring = events.watch()
    local g, keys = graph_of(10, "f-0123456789abcdef", fail_on_7)
    g.total = { function(...) return select("#", ...) end, keys[1], keys[7] }
    assert.has_error(function() threads.get(g, "total", { num_workers = 1 }) end)
    ring:close()
    local erred, total_ran = {}, false
    for _, e in ipairs(ring:since(0)) do
      if e.kind == "compute" and e.status == "erred" then erred[#erred + 1] = e.key end
      if e.key == "total" then total_ran = true end
      if e.kind == "finish" then assert.is_false(e.ok) end
    end
    assert.same({ "f-0123456789abcdef,7" }, erred)
    assert.is_false(total_ran)
  end)

  it("gives the sync scheduler's tasks too, and its failing task", function()
    local ring = events.watch()
    local g, keys = graph_of(10, "s-0123456789abcdef", fail_on_7)
    assert.has_error(function() sync.get(g, keys) end)
    ring:close()
    local evs = ring:since(0)
    assert.equal("graph", evs[1].kind)
    assert.equal("sync", evs[1].scheduler)
    local last = evs[#evs - 1]
    assert.equal("compute", last.kind)
    assert.equal("erred", last.status)
    assert.equal("sync", last.worker)
    assert.equal("s-0123456789abcdef,7", last.key)
    assert.equal("finish", evs[#evs].kind)
  end)

  it("keeps a ring bounded, dropping the oldest and counting them", function()
    local ring = events.watch { capacity = 16 }
    local g, keys = graph_of(100, "b-0123456789abcdef", function(x) return x end)
    threads.get(g, keys, { num_workers = 2 })
    ring:close()
    assert.equal(16, ring:size())
    assert.equal(102 - 16, ring.dropped)
    local evs = ring:since(0)
    assert.equal(16, #evs)
    assert.equal("finish", evs[16].kind)
    for i = 2, 16 do assert.equal(evs[i - 1].seq + 1, evs[i].seq) end
    -- since() filters by sequence number and bounds the answer
    assert.equal(3, #ring:since(evs[13].seq))
    assert.equal(2, #ring:since(0, 2))
  end)

  it("feeds the profiler from the same place as the stream", function()
    local ring = events.watch()
    local prof = diag.Profiler()
    local g, keys = graph_of(30, "p-0123456789abcdef", function(x) return x end)
    threads.get(g, keys, { num_workers = 2, profile = prof })
    ring:close()
    local n = 0
    for _, e in ipairs(ring:since(0)) do if e.kind == "compute" then n = n + 1 end end
    assert.equal(30, n)
    assert.equal(30, #prof.records)
  end)

  it("refuses bad watch options at the caller's line", function()
    local ok, err = pcall(events.watch, { capacity = 0 })
    assert.is_false(ok)
    assert.matches("capacity must be a positive integer", err)
    ok, err = pcall(events.watch, 3)
    assert.is_false(ok)
    assert.matches("opts must be a table", err)
  end)
end)

describe("performance_report", function()
  it("writes one self-contained file with the task stream, progress and profile data", function()
    local path = helpers.tmpdir() .. "/report.html"
    local g, keys = graph_of(40, "inc-0123456789abcdef", function(x) return x + 1 end)
    local r = diag.performance_report(path, function()
      local a = threads.get(g, keys, { num_workers = 2 })
      local b = sync.get(g, keys)
      return a[40], b[1]
    end)
    assert.equal(41, r)
    local data, html = report_data(path)
    assert.equal(80, #data.events)
    for _, e in ipairs(data.events) do
      assert.equal("inc", e.prefix)
      assert.is_true(e.start >= 0 and e.start <= e.stop and e.stop <= data.duration + 1e-6)
    end
    assert.same({ { prefix = "inc", waiting = 0, processing = 0, memory = 80, erred = 0, total = 80 } }, data.prefixes)
    assert.equal(2, data.nthreads)
    -- self-contained: nothing loaded from elsewhere, the scripts inline
    assert.is_nil(html:find("<script src=", 1, true))
    assert.is_nil(html:find("<link", 1, true))
    assert.is_truthy(html:find("uPlot", 1, true))
    assert.is_truthy(html:find("LD.TaskStream", 1, true))
  end)

  it("is written also when the function fails, and the error is raised again", function()
    local path = helpers.tmpdir() .. "/report-err.html"
    local g, keys = graph_of(10, "f-0123456789abcdef", fail_on_7)
    local ok, err = pcall(diag.performance_report, path, function() return threads.get(g, keys, { num_workers = 1 }) end)
    assert.is_false(ok)
    assert.matches("seven is not allowed", tostring(err))
    local data = report_data(path)
    assert.equal(1, data.prefixes[1].erred)
    assert.equal(10, data.prefixes[1].total)
  end)

  it("refuses bad arguments at the caller's line", function()
    local ok, err = pcall(diag.performance_report, 42, function() end)
    assert.is_false(ok)
    assert.matches("path must be a file name", err)
    ok, err = pcall(diag.performance_report, "x.html", nil)
    assert.is_false(ok)
    assert.matches("fn must be a function", err)
    ok, err = pcall(diag.performance_report, "/nonexistent-dir/x.html", function() end)
    assert.is_false(ok)
    assert.matches("cannot write the report", err)
  end)

  it("ldask script.lua --report FILE writes the report of the script's computes", function()
    local script = helpers.write_tmp("report_script.lua",
      "local x = ldask.array.ones({ 100 }, { chunks = 10 })\nprint((x + 1):sum():compute())\n")
    local path = helpers.tmpdir() .. "/cli-report.html"
    local out, rc = helpers.run_sh(helpers.ldask .. " " .. script .. " --report " .. path .. " 2>&1")
    assert.equal(0, rc, out)
    assert.matches("200", out)
    local data = report_data(path)
    local total = 0
    for _, p in ipairs(data.prefixes) do total = total + p.total end
    assert.equal(#data.events, total)
    assert.is_true(#data.events > 0)
    out, rc = helpers.run_sh(helpers.ldask .. " --report 2>&1")
    assert.equal(2, rc)
    assert.matches("%-%-report needs a file name", out)
  end)
end)
