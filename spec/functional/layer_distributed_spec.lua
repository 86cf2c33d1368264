-- Compact layers (ldask.layer) on a real cluster (ldask-scheduler and two
-- ldask-worker processes on 127.0.0.1): the client writes the tasks out
-- chunk by chunk in execution order (lua/ldask/client/layers.lua), holding
-- what later chunks need and pacing itself on the cluster; results equal
-- the sync scheduler's, through ldask.compute, client:compute, persist and
-- chunks far smaller than the graph.
local layers = require "ldask.client.layers"
local ldask = require "ldask"
local L = ldask.layer

local helpers = require "helpers"

-- (local functions travel by value; a module the workers cannot require
-- would not)
local function inc(i) return i + 1 end
local function sum(t) local s = 0 for i = 1, #t do s = s + t[i] end return s end

describe("compact layers on a cluster of two workers", function()
  local cl, c
  local chunk, window = layers.CHUNK, layers.WINDOW
  setup(function() cl, c = helpers.cluster_client(2) end)
  teardown(function()
    layers.CHUNK, layers.WINDOW = chunk, window
    helpers.stop_cluster(cl, c)
  end)

  it("computes a tree reduction and a layer of layers like the sync scheduler", function()
    local dist = require "ldask.client.scheduler"
    local x = L.blockwise("inc", 3000, { inc, L.INDEX })
    local d = ldask.delayed(function() return 7 end)()
    local y = L.blockwise("mul", 3000, { function(a, b, i) return a * b - i end, L.dep(1), L.dep(2), L.INDEX }, { x, d })
    local t = L.reduce(y, { sum, L.DEPS }, 5)
    local want = t:compute { scheduler = "sync" }
    assert.equal(want, ldask.compute(t, { scheduler = dist }))
    assert.equal(want, c:compute(t):result())
    assert.same(y:compute { scheduler = "sync" }, y:compute { scheduler = dist })
  end)

  it("keeps a template's strings literal, also one spelling an input's key", function()
    -- (inputs travel as bare key strings, which a worker reads as the
    -- inputs: the template's own strings must not be taken for them)
    local dist = require "ldask.client.scheduler"
    local x = L.blockwise("lit", 40, { inc, L.INDEX })
    local y = L.blockwise("pair", 40, { function(a, s, t) return a .. "|" .. s .. "|" .. #t end,
      L.dep(1), "lit,0", L.DEPS }, { x })
    local t = L.reduce(y, { function(list) return table.concat(list, ";") end, L.DEPS }, 4)
    local want = t:compute { scheduler = "sync" }
    assert.matches("^1|lit,0|1;2|lit,0|1;", want)
    assert.equal(want, ldask.compute(t, { scheduler = dist }))
    assert.equal(want, c:compute(t):result())
  end)

  it("sends a graph in many small chunks, paced, holding what later chunks need", function()
    layers.CHUNK, layers.WINDOW = 97, 3
    local n = 20000
    local t = L.reduce(L.blockwise("inc", n, { inc, L.INDEX }), { sum, L.DEPS }, 8)
    assert.equal(n * (n + 1) / 2, c:compute(t):result())
    -- nothing of it is left on the cluster but what a future holds
    local cubes = c:persist(L.blockwise("cube", 400, { function(i) return i ^ 3 end, L.INDEX })):compute()
    assert.same({ 0, 1, 8 }, { cubes[1], cubes[2], cubes[3] })
    assert.equal(399 ^ 3, cubes[400])
    layers.CHUNK, layers.WINDOW = chunk, window
  end)

  it("runs a range bag's compact partitions and reductions", function()
    local b = ldask.bag.range(30000, { npartitions = 3000 }):map(function(i) return i % 7 end)
    local dist = require "ldask.client.scheduler"
    local want = { ldask.compute(b:sum(), b:frequencies(), { scheduler = "sync" }) }
    assert.same(want, { ldask.compute(b:sum(), b:frequencies(), { scheduler = dist }) })
    assert.same(b:compute { scheduler = "sync" }, c:compute(b):result())
  end)

  it("reports a failing block by its key", function()
    local x = L.blockwise("boom", 50, { function(i)
      if i == 31 then error("bad block 31") end
      return i
    end, L.INDEX })
    local ok, err = pcall(function() return c:compute(L.reduce(x, { sum, L.DEPS })):result() end)
    assert.is_false(ok)
    assert.matches("bad block 31", tostring(err))
    assert.matches(x.name .. ",31", tostring(err), 1, true)
    -- a key no graph holds: refused before anything is sent, at this line
    local y = L.blockwise("y", 4, { inc, L.dep(1) }, { "no-such-key" })
    ok, err = pcall(function() return c:compute(y) end)
    assert.is_false(ok)
    assert.matches("layer_distributed_spec.lua:%d+: ldask: layer 'y%-[^']*' depends on missing key 'no%-such%-key'", tostring(err))
  end)
end)
