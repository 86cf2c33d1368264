-- Specs of ldask.graph, ldask.optimize and the synchronous scheduler.
local ldask = require "ldask"
local graph = require "ldask.graph"
local helpers = require "helpers"
local optimize = require "ldask.optimize"

local function inc(x) return x + 1 end
local function add(...) local s = 0 for _, v in ipairs({ ... }) do s = s + v end return s end

local function sync(g, keys, opts)
  opts = opts or {}
  opts.scheduler = "sync"
  return ldask.get(g, keys, opts)
end

describe("graph helpers", function()
  it("builds block keys from a name and indices", function()
    assert.equal("sum-3f9a,0,2", ldask.key("sum-3f9a", 0, 2))
    assert.equal("x", ldask.key("x"))
    local name, idx = graph.split_key("sum-3f9a,0,2")
    assert.equal("sum-3f9a", name)
    assert.same({ 0, 2 }, idx)
  end)

  it("finds dependencies in nested tasks, lists and refs", function()
    local g = { a = 1, b = 2, c = { add, "a", { inc, "b" }, { "a", "b" } }, d = { inc, ldask.ref("c") } }
    local d = graph.deps(g)
    table.sort(d.c)
    assert.same({ "a", "b" }, d.c)
    assert.same({ "c" }, d.d)
    assert.same({}, d.a)
  end)

  it("does not traverse quoted values", function()
    local g = { a = 1, b = { function(t) return t[1] end, ldask.quote({ "a" }) } }
    assert.same({}, graph.deps(g).b)
    assert.equal("a", sync(g, "b"))
  end)

  it("names a missing dependency given as a ref", function()
    local g = { b = { inc, ldask.ref("nope") } }
    assert.has_error(function() sync(g, "b") end, "task 'b' depends on missing key 'nope'")
  end)

  it("names missing requested keys", function()
    assert.has_error(function() sync({ a = 1 }, { "a", "zz" }) end,
      "ldask.get: key(s) not in the graph: 'zz'")
  end)

  it("names the keys of a cycle", function()
    local g = { a = { inc, "b" }, b = { inc, "c" }, c = { inc, "a" }, d = { inc, "a" } }
    local ok, err = pcall(sync, g, "d", { optimize_graph = false })
    assert.is_false(ok)
    assert.matches("cycle in the task graph", err, 1, true)
    for _, k in ipairs { "'a'", "'b'", "'c'" } do assert.matches(k, err, 1, true) end
  end)

  it("orders depth-first: a branch finishes before the next starts", function()
    local g = {}
    for i = 0, 3 do
      g["x" .. i] = i
      g["y" .. i] = { inc, "x" .. i }
    end
    g.s1 = { add, "y0", "y1" }
    g.s2 = { add, "y2", "y3" }
    g.t = { add, "s1", "s2" }
    local ix = graph.index(g)
    local seq = graph.order(ix)
    local pos = {}
    for p, i in ipairs(seq) do pos[ix.keys[i]] = p end
    assert.is_true(pos.s1 < pos.x2 or pos.s2 < pos.x0)
    assert.is_true(pos.t == #seq)
  end)
end)

describe("optimizations", function()
  it("cull keeps only what the keys need", function()
    local g = { a = 1, b = { inc, "a" }, c = { inc, "b" }, unused = { inc, "a" } }
    local out = optimize.cull(g, { "c" })
    assert.is_nil(out.unused)
    assert.is_not_nil(out.a)
  end)

  it("inlines constants into their users", function()
    local g = { a = 5, b = { inc, "a" } }
    local out, deps = optimize.inline_constants(g, { "b" }, graph.deps(g))
    assert.is_nil(out.a)
    assert.same({}, deps.b)
    assert.equal(6, sync(out, "b", { optimize_graph = false }))
  end)

  it("fuses linear chains, keeping the output key", function()
    local g = { a = { inc, 1 }, b = { inc, "a" }, c = { inc, "b" } }
    local out = optimize.fuse(g, { "c" }, graph.deps(g))
    assert.is_nil(out.a)
    assert.is_nil(out.b)
    assert.equal(4, sync(out, "c", { optimize_graph = false }))
  end)

  it("does not fuse into a task with several dependencies", function()
    local g = { a = { inc, 1 }, b = { inc, 2 }, c = { add, "a", "b" } }
    local out = optimize.fuse(g, { "c" }, graph.deps(g))
    assert.is_not_nil(out.a)
    assert.is_not_nil(out.b)
  end)

  it("never mutates the input graph", function()
    local t = { inc, "a" }
    local g = { a = 1, b = t, c = { inc, "b" } }
    optimize.optimize(g, { "c" })
    assert.equal("a", t[2])
    assert.equal(1, g.a)
  end)
end)

describe("the synchronous scheduler", function()
  it("returns results in the shape of the keys", function()
    local g = { a = 1, b = { inc, "a" }, c = { add, "a", "b" } }
    assert.equal(3, sync(g, "c"))
    assert.same({ 2, { 3, 1 } }, sync(g, { "b", { "c", "a" } }))
  end)

  it("passes nil results through", function()
    local g = { a = { function() return nil end }, b = { function(x) return x == nil end, "a" } }
    assert.is_true(sync(g, "b"))
  end)

  it("resolves keys inside list values", function()
    local g = { a = 1, b = 2, l = { "a", "b", "c-literal" } }
    assert.same({ 1, 2, "c-literal" }, sync(g, "l"))
  end)

  it("raises an error naming the key, with the message and traceback", function()
    local boom_line = debug.getinfo(1, "l").currentline + 1
    local function boom() error("bad value 42") end
    local g = { a = 1, b = { boom, "a" } }
    local ok, err = pcall(sync, g, "b")
    assert.is_false(ok)
    assert.equal("b", err.key)
    assert.matches("bad value 42", err.message, 1, true)
    assert.matches("graph_spec.lua:" .. boom_line, err.traceback, 1, true)
    assert.matches("task 'b' failed: ", tostring(err), 1, true)
  end)

  it("keeps live intermediates bounded on a 10,000-step chain", function()
    local g = { ["c,0"] = 0 }
    for i = 1, 10000 do g[ldask.key("c", i)] = { inc, ldask.key("c", i - 1) } end
    local stats = {}
    assert.equal(10000, sync(g, "c,10000", { optimize_graph = false, stats = stats }))
    assert.equal(10001, stats.tasks)
    assert.is_true(stats.max_live <= 2, "max_live = " .. stats.max_live)
    -- fused, the same graph runs as fewer, nested tasks
    local stats2 = {}
    assert.equal(10000, sync(g, "c,10000", { stats = stats2 }))
    assert.is_true(stats2.tasks < 10001)
  end)

  it("keeps live intermediates bounded on a wide tree reduction", function()
    local n = 4096
    local g, root = helpers.anchor_graph(n)
    local depth = 4 -- 4096 -> 512 -> 64 -> 8 -> 1
    local stats = {}
    assert.equal(n * (n + 1) / 2, sync(g, root, { optimize_graph = false, stats = stats }))
    -- depth-first: at most fan-in results per level are alive at once
    assert.is_true(stats.max_live <= 8 * (depth + 1), "max_live = " .. stats.max_live)
  end)
end)
