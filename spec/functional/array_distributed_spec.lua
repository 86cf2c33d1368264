-- ldask.array on a real cluster (ldask-scheduler and two ldask-worker
-- processes on 127.0.0.1): blocks travel between workers as raw buffer
-- frames; results equal the synchronous scheduler's.
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"
local da = require "ldask.array"
local ldask = require "ldask"

describe("ldask.array on a cluster of two workers", function()
  local cl, c
  setup(function()
    cl = cluster_mod.start({ n_workers = 2 })
    c = client(cl.address, { set_as_default = false })
    c:wait_for_workers(2, 20)
    c:set_as_default()
  end)
  teardown(function()
    if c then pcall(c.close, c) end
    if cl then cl:stop() end
  end)

  it("computes slices, reductions and dot like the sync scheduler", function()
    local dist = require "ldask.client.scheduler"
    local x = da.random.random({ 400, 300 }, { chunks = { 100, 100 }, seed = 4 })
    local y = x:slice { { 0, nil, 4 } }:mean(0) - x:slice { { 2, nil, 4 } }:mean(0)
    local r = ldask.compute(y, { scheduler = dist })
    assert.same({ 300 }, r.shape)
    assert.is_true(r:eq(y:compute({ scheduler = "sync" })):all():item())
    local d = x:dot(x.T):sum()
    assert.equal(d:compute({ scheduler = "sync" }), d:compute({ scheduler = dist }))
    local i = da.arange(1000, { chunks = 128 }):reshape({ 10, 100 })
    assert.same(i:compute({ scheduler = "sync" }):totable(), i:compute({ scheduler = dist }):totable())
  end)
end)
