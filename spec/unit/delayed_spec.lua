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

  it("refuses an unknown extension", function()
    assert.has_error(function() ldask.visualize(ldask.delayed(1), "x.bmp") end,
      "ldask.visualize: filename must end in .dot, .svg or .png, got 'x.bmp'")
  end)
end)
