-- ldask.task.payload: the fast record of a simple task is read back as the
-- graph's rules say (numbers, strings, booleans, references, plain
-- data, quoted values, nested tasks), and the call form runs its function
-- with its arguments evaluated or literal as flagged.
local payload = require "ldask.task.payload"
local graph = require "ldask.graph"

describe("ldask.task.payload", function()
  it("writes fast records that the reader runs like the sync scheduler", function()
    local function f(...) return { n = select("#", ...), ... } end
    local g = {
      a = 41,
      t = { f, 1.5, "lit", true, false, "a", graph.ref("a"), { 1, { x = "y" } },
        graph.quote("a"), { function(x) return x * 2 end, "a" } },
    }
    local index = { a = 1, t = 2 }
    local refs = {}
    local w = payload.writer(index, function(i) refs[#refs + 1] = i end)
    local size = payload.fast_size(g.t, index, 0)
    assert.is_number(size)
    w.emit(g.t, size, "t", 0)
    local run, set_fns = payload.reader(function(id)
      assert.equal(0, id) -- key 'a', 0-based
      return 41
    end)
    set_fns(w.fns)
    local buf = w.fast
    local r = run(buf:ref(), 0)
    assert.same({ 1 }, { refs[1] })
    assert.equal(9, r.n)
    assert.equal(1.5, r[1])
    assert.equal("lit", r[2])
    assert.is_true(r[3])
    assert.is_false(r[4])
    assert.equal(41, r[5])
    assert.equal(41, r[6])
    assert.same({ 1, { x = "y" } }, r[7])
    assert.equal("a", r[8])
    assert.equal(82, r[9])
    -- what the sync scheduler gives for the same task
    local s = ldask.get(g, "t", { scheduler = "sync", optimize_graph = false })
    assert.same(s, r)
  end)

  it("does not write tasks it cannot hold as a record", function()
    local index = { a = 1 }
    assert.is_nil(payload.fast_size({ print, setmetatable({}, {}) }, index, 0))
    assert.is_nil(payload.fast_size({ print, { 1, "a" } }, index, 0)) -- a reference inside data
    assert.is_nil(payload.fast_size("a", index, 0))
  end)

  it("builds and runs the call form", function()
    local fns = { h1 = function(a, b, c) return a + b + (c or 0) end }
    local t = payload.call_task("h1", { fns.h1, "k", 2 })
    assert.is_true(payload.is_call(t))
    assert.is_false(payload.is_call({ "x" }))
    assert.equal("rr", t[3])
    local call = payload.caller(function(h) return fns[h] end, function(v) return v == "k" and 40 or v end)
    assert.equal(42, call(t))
    assert.equal(43, call({ payload.CALL, "h1", "lrl", 1, "k", 2 }))
    assert.equal("llll", payload.LITERALS[4])
  end)
end)
