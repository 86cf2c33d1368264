-- Specs of ldask.delayed, ldask.compute and ldask.tokenize.
local ldask = require "ldask"

local function inc(x) return x + 1 end
local function add(a, b) return a + b end

describe("delayed", function()
  setup(function() ldask.config.set { scheduler = "sync" } end)

  it("builds lazy calls and computes them", function()
    local dinc, dadd = ldask.delayed(inc), ldask.delayed(add)
    local total = dadd(dinc(1), dinc(2))
    assert.equal(5, total:compute())
  end)

  it("gives deterministic keys from function and arguments", function()
    local dinc = ldask.delayed(inc, { name = "inc" })
    assert.equal(dinc(1):key(), dinc(1):key())
    assert.are_not.equal(dinc(1):key(), dinc(2):key())
    assert.matches("^inc%-%x+$", dinc(1):key())
  end)

  it("gives fresh keys with pure=false and explicit keys when asked", function()
    local r = ldask.delayed(math.random, { pure = false })
    assert.are_not.equal(r():key(), r():key())
    assert.equal("my-key", ldask.delayed(inc, { key = "my-key" })(1):key())
  end)

  it("builds tasks from operators, concatenation, indexing and methods", function()
    local x = ldask.delayed(10)
    assert.equal(21, (x * 2 + 1):compute())
    assert.equal(-10, (-x):compute())
    assert.equal(1, (x % 3):compute())
    assert.equal(100, (x ^ 2):compute())
    assert.equal("10!", (x .. "!"):compute())
    local t = ldask.delayed({ a = { 1, 2, 3 }, s = "abc" })
    assert.equal(2, t.a[2]:compute())
    assert.equal("ABC", t.s:upper():compute())
  end)

  it("finds delayed values inside table arguments", function()
    local a, b = ldask.delayed(1), ldask.delayed(2)
    local sum = ldask.delayed(function(t) return t[1] + t[2] + t.c end)
    assert.equal(6, sum({ a, b, c = 3 }):compute())
  end)

  it("computes several values from one merged graph", function()
    local dinc = ldask.delayed(inc)
    local a = dinc(1)
    local b = a * 10
    local r1, r2, r3 = ldask.compute(a, b, "plain")
    assert.equal(2, r1)
    assert.equal(20, r2)
    assert.equal("plain", r3)
  end)

  it("reports task errors with the key", function()
    local bad = ldask.delayed(function() error("nope") end, { name = "bad" })()
    local ok, err = pcall(function() return bad:compute() end)
    assert.is_false(ok)
    assert.matches("^bad%-", err.key)
    assert.matches("nope", err.message, 1, true)
  end)

  it("prints as its key", function()
    local d = ldask.delayed(inc, { key = "k1" })(1)
    assert.equal("Delayed('k1')", tostring(d))
  end)
end)

describe("several results", function()
  local function divmod(a, b) return math.floor(a / b), a % b end
  local function h(a, b) return tostring(a) .. "/" .. tostring(b) end

  for _, sched in ipairs { "sync", "threads" } do
    for _, opt in ipairs { true, false } do
      local o = { scheduler = sched, optimize_graph = opt }
      local where = " on " .. sched .. " (optimize_graph=" .. tostring(opt) .. ")"

      it("a task's result is its function's first value" .. where, function()
        assert.equal(3, ldask.delayed(divmod)(17, 5):compute(o))
        -- also as the argument of another task, fused or not
        assert.equal("1/nil", ldask.get({ a = { divmod, 7, 5 }, b = { h, "a" } }, "b", o))
        assert.equal("1/nil", ldask.get({ b = { h, { divmod, 7, 5 } } }, "b", o))
        local function h2(_, a, b) return h(a, b) end
        assert.equal("1/nil", ldask.get({ b = { h2, 0, { divmod, 7, 5 } } }, "b", o))
      end)

      it("nout gives one Delayed per result" .. where, function()
        local q, r = ldask.delayed(divmod, { nout = 2 })(17, 5)
        assert.equal(3, q:compute(o))
        assert.equal(2, r:compute(o))
        assert.equal(32, (q * 10 + r):compute(o))
        local a, b = ldask.compute(q, r, o)
        assert.same({ 3, 2 }, { a, b })
        -- one returned table of nout values works as well
        local x, y, z = ldask.delayed(function(n) return { n, n * 2, n * 3 } end, { nout = 3 })(ldask.delayed(5))
        assert.same({ 5, 10, 15 }, { ldask.compute(x, y, z, o) })
        -- a nil among the results stays nil
        local n1, n2 = ldask.delayed(function() return nil, 4 end, { nout = 2 })()
        assert.same({ nil, 4 }, { ldask.compute(n1, n2, o) })
      end)
    end
  end

  it("nout=1 gives the first value, even a table", function()
    local t = ldask.delayed(function() return { 1, 2 } end, { nout = 1 })()
    assert.same({ 1, 2 }, t:compute())
    assert.equal(1, select("#", ldask.delayed(divmod, { nout = 1 })(7, 2)))
  end)

  it("keys differ from the call without nout, and between results", function()
    local q, r = ldask.delayed(divmod, { nout = 2 })(17, 5)
    local plain = ldask.delayed(divmod)(17, 5)
    assert.are_not.equal(q:key(), r:key())
    assert.are_not.equal(plain:key(), q:key())
    local q2 = ldask.delayed(divmod, { nout = 2 })(17, 5)
    assert.equal(q:key(), q2:key())
  end)

  it("works with a delayed function value", function()
    local fn = ldask.delayed(function() return divmod end)()
    local q, r = ldask.delayed(fn, { nout = 2 })(9, 4)
    assert.same({ 2, 1 }, { ldask.compute(q, r) })
  end)

  it("raises naming nout when the function returns too few values", function()
    local _, _, c = ldask.delayed(divmod, { nout = 3 })(7, 2)
    local ok, err = pcall(function() return c:compute() end)
    assert.is_false(ok)
    assert.matches("declared with nout = 3 returned 2 value", err.message, 1, true)
    local ok2, err2 = pcall(function()
      local _, b = ldask.delayed(function() return { 1 } end, { nout = 2 })()
      return b:compute()
    end)
    assert.is_false(ok2)
    assert.matches("returned a table of 1 values", err2.message, 1, true)
  end)

  it("refuses a bad nout at the user's line", function()
    assert.has_error(function() ldask.delayed(divmod, { nout = 0 }) end,
      "ldask.delayed: nout must be a positive integer, got 0")
    assert.has_error(function() ldask.delayed(5, { nout = 2 }) end,
      "ldask.delayed: nout applies to a function, got number")
  end)
end)

describe("tokenize", function()
  it("is deterministic over tables regardless of insertion order", function()
    local a = { x = 1, y = { 2, 3 } }
    local b = {}; b.y = { 2, 3 }; b.x = 1
    assert.equal(ldask.tokenize(a), ldask.tokenize(b))
    assert.are_not.equal(ldask.tokenize({ x = 1 }), ldask.tokenize({ x = 2 }))
    assert.equal(32, #ldask.tokenize(1))
  end)

  it("tells functions apart by code and upvalues", function()
    local function mk(n) return function(x) return x + n end end
    assert.equal(ldask.tokenize(mk(1)), ldask.tokenize(mk(1)))
    assert.are_not.equal(ldask.tokenize(mk(1)), ldask.tokenize(mk(2)))
  end)

  it("handles cycles", function()
    local t = {}; t.self = t
    assert.equal(32, #ldask.tokenize(t))
  end)
end)

describe("visualize", function()
  local helpers = require "helpers"
  it("writes a .dot with one node per task, coloured by order", function()
    local dinc = ldask.delayed(inc, { name = "inc" })
    local x = dinc(1) + dinc(2)
    local path = helpers.tmpdir() .. "/g.dot"
    assert.equal(path, (ldask.visualize(x, path)))
    local text = assert(io.open(path)):read("*a")
    assert.matches("digraph ldask", text, 1, true)
    local nodes = select(2, text:gsub("fillcolor", ""))
    assert.equal(3, nodes)
    assert.matches('label="inc"', text, 1, true)
  end)

  it("renders svg through dot when it is installed, else says it wrote .dot", function()
    local path = helpers.tmpdir() .. "/g.svg"
    local written, msg = ldask.visualize(ldask.delayed(inc)(1), path)
    if written == path then
      assert.matches("<svg", assert(io.open(path)):read("*a"), 1, true)
    else
      assert.matches("not installed", msg, 1, true)
    end
  end)

  it("draws the graph as built by default, the optimized one when asked", function()
    local dinc = ldask.delayed(inc, { name = "inc" })
    local x = dinc(dinc(1))
    local dir = helpers.tmpdir()
    local function nodes(path) return select(2, assert(io.open(path)):read("*a"):gsub("fillcolor", "")) end
    x:visualize(dir .. "/built.dot")
    x:visualize(dir .. "/opt.dot", { optimize_graph = true })
    assert.equal(2, nodes(dir .. "/built.dot"))
    assert.equal(1, nodes(dir .. "/opt.dot")) -- the chain fused into one task
  end)

  it("is a method of bags, their items and arrays", function()
    local dir = helpers.tmpdir()
    local b = ldask.bag.from_sequence({ 1, 2, 3, 4 }, { npartitions = 2 }):map(inc)
    local objs = { bag = b, item = b:sum(), array = ldask.array.ones({ 4, 4 }, { chunks = 2 }):sum() }
    for name, obj in pairs(objs) do
      local path = dir .. "/" .. name .. ".dot"
      assert.equal(path, (obj:visualize(path)))
      local text = assert(io.open(path)):read("*a")
      assert.matches("digraph ldask", text, 1, true)
      assert.is_true(select(2, text:gsub("fillcolor", "")) >= 2, name)
    end
  end)

  it("refuses an unknown extension", function()
    assert.has_error(function() ldask.visualize(ldask.delayed(1), "x.bmp") end,
      "ldask.visualize: filename must end in .dot, .svg or .png, got 'x.bmp'")
  end)
end)
