-- Functional specs of Client:retire_workers (runtime/scheduler/retire.c,
-- lua/ldask/client/retire.lua) on a real local cluster of three workers
-- with nannies: results held only by a retiring worker survive (copied
-- first), the retired workers' processes end and are not restarted, no
-- new task goes to a retiring worker, bad arguments raise naming the
-- caller's line.
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"
local helpers = require "helpers"

local function alive(pid) return os.execute("kill -0 " .. pid .. " 2>/dev/null") == 0 end

describe("Client:retire_workers", function()
  local cl, c
  before_each(function()
    cl = cluster_mod.start({ n_workers = 3 })
    c = client(cl.address, { set_as_default = false })
    c:wait_for_workers(3, 30)
  end)
  after_each(function()
    if c then pcall(c.close, c) end
    if cl then cl:stop() end
  end)

  it("copies the results only the retiring workers hold, then closes them for good", function()
    local fs = {}
    for i = 1, 30 do fs[i] = c:submit(function(x) return string.rep("v", 20000) .. x end, i) end
    c:gather(fs, 30)
    local info = c:scheduler_info()
    local names = {}
    for _, w in ipairs(info.workers) do names[w.address] = w.name end
    -- every result sits on exactly one worker before
    local holders = c:who_has(fs)
    local busy = {}
    for _, ws in pairs(holders) do assert.equal(1, #ws); busy[ws[1]] = true end
    local out = c:retire_workers{ n = 2 }
    local n = 0
    for addr, w in pairs(out) do
      n = n + 1
      assert.equal(names[addr], w.name)
    end
    assert.equal(2, n)
    local left = c:scheduler_info().workers
    assert.equal(1, #left)
    assert.is_nil(out[left[1].address])
    -- every result now on the remaining worker, with the right value
    for k, ws in pairs(c:who_has(fs)) do assert.same({ left[1].address }, ws, k) end
    for i = 1, 30 do assert.equal(string.rep("v", 20000) .. i, fs[i]:result(10)) end
    -- the nannies of the retired workers end too, and nobody comes back
    assert.is_true(helpers.eventually(function()
      local up = 0
      for i = 1, 3 do if alive(cl.workers[i]) then up = up + 1 end end
      return up == 1
    end, 15))
    require("socket").sleep(1.5)
    assert.equal(1, #c:scheduler_info().workers)
    -- the cluster still computes
    assert.equal(7, c:submit(function(x) return x + 1 end, 6):result(10))
  end)

  it("retires workers by name, and gives them no new task", function()
    local out = c:retire_workers{ workers = { "local-1", "local-3" } }
    local got = {}
    for _, w in pairs(out) do got[#got + 1] = w.name end
    table.sort(got)
    assert.same({ "local-1", "local-3" }, got)
    local fs = c:map(function(x) return x * 2 end, { 1, 2, 3, 4, 5, 6 })
    assert.same({ 2, 4, 6, 8, 10, 12 }, c:gather(fs, 20))
    local w = c:scheduler_info().workers
    assert.equal(1, #w)
    assert.equal("local-2", w[1].name)
    -- an unknown name retires nobody
    assert.same({}, c:retire_workers{ workers = { "nobody" } })
  end)

  it("raises on bad arguments at the caller's line", function()
    local ok, err = pcall(function() c:retire_workers() end)
    assert.is_false(ok)
    assert.matches("retire_workers_spec.lua:%d+: Client:retire_workers: expected a table", err)
    ok, err = pcall(function() c:retire_workers{ n = -1 } end)
    assert.matches("n must be an integer >= 0", err)
    ok, err = pcall(function() c:retire_workers{ n = 1, workers = { "a" } } end)
    assert.matches("exactly one of workers", err)
    ok, err = pcall(function() c:retire_workers{ workers = { 3 } } end)
    assert.matches("workers%[1%] must be a name or address", err)
    assert.equal(3, #c:scheduler_info().workers)
  end)
end)
