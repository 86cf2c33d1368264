-- Functional spec of ldask-scheduler's long-lived engine: a session that
-- runs many batches, each let go after use, ends with nothing left at the
-- scheduler (every record forgotten) or on the workers, and the scheduler's
-- memory does not grow with the number of batches. Real scheduler and
-- workers on 127.0.0.1.
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"

local function rss_kb(pid)
  local f = io.open("/proc/" .. pid .. "/status")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)"))
end

local function nap(s) require("socket").sleep(s) end

describe("ldask-scheduler over a long session", function()
  local cl, c
  setup(function()
    cl = cluster_mod.start({ n_workers = 2 })
    c = client(cl.address, { set_as_default = false })
    c:wait_for_workers(2, 20)
  end)
  teardown(function()
    if c then pcall(c.close, c) end
    if cl then cl:stop() end
  end)

  it("computes again a key submitted anew after its result was released", function()
    local inc = function(x) return x + 1 end
    local x = c:submit(inc, 41)
    local y = c:submit(inc, x)
    assert.equal(43, y:result(20))
    local key = x.key
    x:release()
    -- y's record still depends on x: x's record stays, its result goes
    local state
    for _ = 1, 100 do
      state = c:task_info(key).state
      if state == "released" then break end
      nap(0.02)
    end
    assert.equal("released", state)
    local again = c:submit(inc, 41)
    assert.equal(key, again.key)
    assert.equal(42, again:result(20))
    -- and a new task on it, once released again, recomputes it too
    again:release()
    local w = c:submit(inc, 41)
    local z = c:submit(function(a, b) return a * b end, y, w)
    assert.equal(43 * 42, z:result(20))
    -- let go of everything (the next spec counts what is left)
    z:release()
    w:release()
    y:release()
  end)

  it("forgets every batch once let go, and its memory stays flat", function()
    local inc = function(x) return x + 1 end
    local sum = function(...)
      local s = 0
      for i = 1, select("#", ...) do s = s + select(i, ...) end
      return s
    end
    local seq = {}
    for i = 1, 500 do seq[i] = i end
    local function batch(b)
      local fs = c:map(inc, seq, client.options { key = "inc-" .. b })
      local total = c:submit(sum, unpack(fs))
      assert.equal(500 * 501 / 2 + 500, total:result(30))
      for _, f in ipairs(fs) do f:release() end
      total:release()
    end
    for b = 1, 10 do batch(b) end
    local rss10 = rss_kb(cl.scheduler_pid)
    for b = 11, 60 do batch(b) end
    -- the releases reach the scheduler; then nothing is left anywhere
    local info
    for _ = 1, 100 do
      info = c:scheduler_info()
      local held = 0
      for _, w in ipairs(info.workers) do held = held + w.nkeys end
      if info.ntasks == 0 and held == 0 then break end
      nap(0.05)
    end
    assert.equal(0, info.ntasks)
    for _, w in ipairs(info.workers) do assert.equal(0, w.nkeys) end
    local rss60 = rss_kb(cl.scheduler_pid)
    -- (under AddressSanitizer freed memory is quarantined: RSS tells nothing)
    if rss10 and rss60 and not os.getenv("ASAN_OPTIONS") then
      -- 25,000 more tasks came and went: a leak of even 100 bytes per task
      -- would show; allocator noise stays well under this bound
      assert.is_true(rss60 - rss10 < 4096, ("scheduler RSS %d kB after 10 batches, %d kB after 60"):format(rss10, rss60))
    end
  end)
end)
