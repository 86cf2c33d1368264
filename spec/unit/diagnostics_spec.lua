-- spec/unit/diagnostics_spec.lua: progress bar and profiler
-- (lua/ldask/diagnostics/) on the threaded scheduler.
local diag = require "ldask.diagnostics"
local threads = require "ldask.scheduler.threads"
local config = require "ldask.config"

local graph_of = require("spec.support.helpers").graph_of

-- A file-like object collecting what is written.
local function sink()
  local s = { parts = {} }
  function s:write(...)
    for i = 1, select("#", ...) do self.parts[#self.parts + 1] = tostring((select(i, ...))) end
    return self
  end
  function s:flush() end
  function s:text() return table.concat(self.parts) end
  return s
end

describe("diagnostics", function()
  it("splits keys into prefixes like dask's key_split", function()
    assert.equal("inc", diag.key_prefix("inc-3f9a0b1c5d,0,2"))
    assert.equal("x", diag.key_prefix("x,12"))
    assert.equal("load-data", diag.key_prefix("load-data-0123456789abcdef0123456789abcdef"))
    assert.equal("plain", diag.key_prefix("plain"))
  end)

  it("profiles every task with key, start, end and thread", function()
    local g, keys = graph_of(50, "sq-0123456789abcdef", function(x) return x * x end)
    local prof = diag.Profiler()
    local r = threads.get(g, keys, { profile = prof, num_workers = 2 })
    assert.equal(2500, r[50])
    local res = prof:results()
    assert.equal(50, #res)
    local seen = {}
    for _, rec in ipairs(res) do
      assert.is_true(rec.finish >= rec.start)
      assert.is_true(rec.worker == 0 or rec.worker == 1)
      seen[rec.key] = true
    end
    for _, k in ipairs(keys) do assert.is_true(seen[k], k) end
    local rows = prof:by_prefix()
    assert.equal(1, #rows)
    assert.equal("sq", rows[1].prefix)
    assert.equal(50, rows[1].count)
    assert.matches("^<Profiler: %d+ tasks recorded; :summary%(%)", tostring(prof))
    local text = prof:summary()
    assert.matches("sq%s+50", text)
  end)

  it("writes Chrome trace JSON", function()
    local g, keys = graph_of(5, "w", function(x) return x end)
    g["odd\"key\n,1"] = { function() return 1 end }
    keys[#keys + 1] = "odd\"key\n,1"
    local prof = diag.Profiler()
    threads.get(g, keys, { profile = prof })
    local path = os.tmpname()
    assert.is_true(prof:chrome_trace(path))
    local f = assert(io.open(path))
    local text = f:read("*a")
    f:close()
    os.remove(path)
    local cjson = require "cjson"
    local doc = cjson.decode(text)
    local complete = 0
    for _, e in ipairs(doc.traceEvents) do
      if e.ph == "X" then
        complete = complete + 1
        assert.is_number(e.ts)
        assert.is_true(e.dur >= 0)
      end
    end
    assert.equal(6, complete)
    assert.matches('odd\\"key\\n,1', text, 1, true)
    local ok, err = prof:chrome_trace("/nonexistent-dir/x.json")
    assert.is_nil(ok)
    assert.is_string(err)
  end)

  it("draws a progress bar at most about ten times a second", function()
    local out = sink()
    local bar = diag.ProgressBar { out = out, force = true, width = 10 }
    local g, keys = graph_of(20, "slow", function(x)
      local t = require("ldask.native").ld_pool_now()
      while require("ldask.native").ld_pool_now() - t < 0.02 do end
      return x
    end)
    threads.get(g, keys, { progress = bar, num_workers = 2 })
    local text = out:text()
    assert.matches("%[##########%] | 100%% Completed", text)
    local draws = select(2, text:gsub("\r", ""))
    -- 20 tasks x 20 ms on 2 threads: ~0.2 s; at most 10 draws a second plus the final one
    assert.is_true(draws >= 1 and draws <= 12, "draws " .. draws)
  end)

  it("stays silent when not on a terminal unless asked", function()
    local out = sink()
    local bar = diag.ProgressBar { out = out }
    local g, keys = graph_of(3, "q", function(x) return x end)
    threads.get(g, keys, { progress = bar })
    assert.equal("", out:text())
    assert.equal("[##        ] |  25% Completed |  1.5s", diag.ProgressBar { width = 10 }:render(1, 4, 1.5))
  end)

  it("calls registered callbacks for every compute, and unregisters", function()
    local calls = { start = 0, finish = 0, tasks = 0 }
    local cb = {
      wants_tasks = true,
      start = function(_, info) calls.start = calls.start + 1; calls.ntasks = info.ntasks end,
      progress = function() end,
      task = function() calls.tasks = calls.tasks + 1 end,
      finish = function(_, ok) calls.finish = calls.finish + 1; calls.ok = ok end,
    }
    local g, keys = graph_of(7, "c", function(x) return x end)
    diag.with(cb, function() threads.get(g, keys) end)
    assert.same({ start = 1, finish = 1, tasks = 7, ntasks = 7, ok = true }, calls)
    threads.get(g, keys)
    assert.equal(1, calls.start)
    local p, r = diag.profile(function() return threads.get(g, keys[2]) end)
    assert.equal(2, r)
    assert.equal(1, #p:results())
  end)

  it("reports a failed compute to the callbacks", function()
    local got
    local cb = { start = function() end, progress = function() end, finish = function(_, ok) got = ok end }
    local ok = pcall(diag.with, cb, function()
      return threads.get({ a = { function() error("x") end } }, "a")
    end)
    assert.is_false(ok)
    assert.is_false(got)
  end)

  it("rejects callback objects without the methods", function()
    assert.has_error(function() threads.get({ a = 1 }, "a", { profile = {} }) end)
    assert.has_error(function() diag.register(42) end)
  end)

  it("adapts the callbacks to a scheduler running tasks one by one", function()
    local prof = diag.Profiler()
    assert.is_nil(diag.adapter({}, 3))
    local a = diag.adapter({ profile = prof }, 2)
    a.start("x,1"); a.finish("x,1")
    a.start("y,1"); a.finish("y,1")
    a.close(true)
    local res = prof:results()
    assert.equal(2, #res)
    assert.equal("x,1", res[1].key)
    assert.equal(0, res[2].worker)
  end)

  it("follows config progress", function()
    local g, keys = graph_of(2, "cfg", function(x) return x end)
    config.with({ progress = false }, function()
      assert.same({ 1, 2 }, threads.get(g, keys))
    end)
  end)
end)
