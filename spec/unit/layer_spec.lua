-- spec/unit/layer_spec.lua: compact layers (lua/ldask/layer.lua) and their
-- local paths (lua/ldask/scheduler/layered.lua; sync.get_layers; payload
-- ranges in runtime/lib/pool.c for threads): the same values on sync and
-- threads (neither writes the layers out) and as plain graphs (the tasks
-- materialize writes); errors that name the block's key and the caller's
-- line; a compute inside a task.
local ldask = require "ldask"
local L = require "ldask.layer"
local sync = require "ldask.scheduler.sync"

local helpers = require "helpers"
local inc, sum = helpers.bench.inc, helpers.bench.sum_list

-- Runs F with layer.materialize refusing: proves a compute never wrote the
-- tasks of a compact layer.
local function without_materialize(f)
  local saved = L.materialize
  L.materialize = function() error("materialized", 0) end
  local ok, r = pcall(f)
  L.materialize = saved
  assert(ok, r)
  return r
end

describe("ldask.layer", function()
  it("a blockwise layer and its tree reduction agree on sync, threads and the plain graph", function()
    for _, n in ipairs { 1, 7, 8, 9, 100, 1000 } do
      for _, k in ipairs { 2, 3, 8 } do
        local x = L.blockwise("inc", n, { inc, L.INDEX })
        local t = L.reduce(x, { sum, L.DEPS }, k)
        local want = n * (n + 1) / 2
        assert.equal(want, without_materialize(function() return t:compute { scheduler = "sync" } end))
        assert.equal(want, without_materialize(function() return t:compute { scheduler = "threads" } end))
        -- the plain graph, as sync runs it
        assert.equal(want, sync.get(t:graph(), t:key()))
      end
    end
  end)

  it("reads inputs: block i of other layers, a Delayed and a key for every block, in order", function()
    local x = L.blockwise("x", 50, { function(i) return i * 10 end, L.INDEX })
    local d = ldask.delayed(function() return 1000 end)()
    local y = L.blockwise("y", 50, { function(a, b, i, c, s) return a + b + i + c + #s end,
      L.dep(1), L.dep(2), L.INDEX, L.dep(3), "four" }, { x, d, x })
    local want = {}
    for i = 0, 49 do want[i + 1] = 20 * i + 1000 + i + 4 end
    assert.same(want, without_materialize(function() return y:compute { scheduler = "sync" } end))
    assert.same(want, without_materialize(function() return y:compute { scheduler = "threads", num_workers = 2 } end))
    -- DEPS: every input's value, in order
    local z = L.blockwise("z", 50, { function(t) return t[1] .. ":" .. t[2] end, L.DEPS }, { x, d })
    assert.equal("490:1000", without_materialize(function() return z:compute() end)[50])
    assert.equal("490:1000", z:compute({ scheduler = "sync" })[50])
  end)

  it("keeps strings and quoted tables of a template literal, and mixes with delayed", function()
    local g = ldask.delayed(function() return 5 end)()
    local key = g:key()
    local x = L.blockwise("s", 4, { function(s, t, i) return s .. t[1] .. i end, key, ldask.quote({ key }), L.INDEX })
    local want = { key .. key .. "0", key .. key .. "1", key .. key .. "2", key .. key .. "3" }
    assert.same(want, x:compute { scheduler = "sync" })
    assert.same(want, x:compute { scheduler = "threads" })
    local total = L.reduce(L.blockwise("n", 20, { inc, L.INDEX }), { sum, L.DEPS }, 4)
    local both = ldask.delayed(function(a, b) return a * b end)(total, g)
    assert.equal(210 * 5, both:compute { scheduler = "threads" })
    assert.equal(210 * 5, both:compute { scheduler = "sync" })
    local a, b = ldask.compute(total, both)
    assert.same({ 210, 1050 }, { a, b })
  end)

  it("runs a graph of a million tasks on the threads without writing it out", function()
    local n = 1000000
    local t = L.reduce(L.blockwise("inc", n, { inc, L.INDEX }), { sum, L.DEPS }, 8)
    local stats = {}
    local r = without_materialize(function() return t:compute { scheduler = "threads", stats = stats } end)
    assert.equal(n * (n + 1) / 2, r)
    -- leaves, the tree levels (125000 + 15625 + 1954 + 245 + 31 + 4), the final task
    assert.equal(n + 142859 + 1, stats.tasks)
  end)

  it("persists as a Delayed of the list of values", function()
    local x = L.blockwise("sq", 30, { function(i) return i * i end, L.INDEX })
    local p = x:persist()
    assert.same(x:compute(), p:compute())
    assert.equal(29 * 29, p:compute()[30])
    local t = ldask.delayed(sum)(p)
    assert.equal(8555, t:compute())
  end)

  it("runs a compute inside a task (inline, on the executor thread)", function()
    local outer = ldask.delayed(function(n)
      local Ls = require "ldask.layer"
      local x = Ls.blockwise("in", n, { function(i) return 2 * i end, Ls.INDEX })
      return Ls.reduce(x, { function(t) local s = 0 for i = 1, #t do s = s + t[i] end return s end, Ls.DEPS }):compute()
    end)(100)
    assert.equal(9900, outer:compute { scheduler = "threads" })
    assert.equal(9900, outer:compute { scheduler = "sync" })
  end)

  it("names the failing block's key", function()
    local x = L.blockwise("boom", 20, { function(i)
      if i == 13 then error("bad block") end
      return i
    end, L.INDEX })
    local t = L.reduce(x, { sum, L.DEPS })
    for _, sched in ipairs { "sync", "threads" } do
      local ok, err = pcall(t.compute, t, { scheduler = sched })
      assert.is_false(ok)
      assert.matches("bad block", tostring(err))
      assert.matches(x.name .. ",13", tostring(err), 1, true)
    end
  end)

  it("refuses bad arguments at the caller's line", function()
    local x = L.blockwise("x", 4, { inc, L.INDEX })
    local function line_of(f)
      local ok, err = pcall(f)
      assert.is_false(ok)
      return tostring(err)
    end
    assert.matches("layer_spec.lua:%d+: ldask.layer.blockwise: n must be a positive integer", line_of(function()
      L.blockwise("x", 0, { inc, L.INDEX })
    end))
    assert.matches("prefix must be a non%-empty string without ','", line_of(function() L.blockwise("a,b", 3, { inc }) end))
    assert.matches("template must be a task", line_of(function() L.blockwise("a", 3, { 1, 2 }) end))
    assert.matches("input 1 %('x%-[^']*'%) has 4 blocks, not 5", line_of(function()
      L.blockwise("y", 5, { inc, L.dep(1) }, { x })
    end))
    assert.matches("reads dep%(2%) but there are 1 inputs", line_of(function()
      L.blockwise("y", 4, { inc, L.dep(2) }, { x })
    end))
    assert.matches("must be a layer, a Delayed or a key", line_of(function() L.blockwise("y", 4, { inc }, { 3 }) end))
    assert.matches("split_every must be an integer >= 2", line_of(function() L.reduce(x, { sum, L.DEPS }, 1) end))
    assert.matches("reads its group as DEPS", line_of(function() L.reduce(x, { sum, L.dep(1) }) end))
    assert.matches("j must be a positive integer", line_of(function() L.dep(0) end))
    -- a key no graph holds
    local y = L.blockwise("y", 4, { inc, L.dep(1) }, { "no-such-key" })
    for _, sched in ipairs { "threads", "sync" } do
      local ok, err = pcall(function() return y:compute { scheduler = sched } end)
      assert.is_false(ok)
      assert.matches("layer_spec.lua:%d+: ldask: layer 'y%-[^']*' depends on missing key 'no%-such%-key'", tostring(err))
    end
  end)
end)
