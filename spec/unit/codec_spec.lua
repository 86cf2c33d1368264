-- Specs of ldask.codec: values and functions make the round trip through a
-- separate lua_State (ldask.xstate), never the state that encoded them.
local ffi = require "ffi"
require "ldask.ffi.buffer"
local lib = require "ldask.native"
local codec = require "ldask.codec"
local xstate = require "ldask.xstate"
local selftest = require "ldask.codec.selftest"

local xs = assert(xstate.new())

-- Encodes V here, decodes and re-encodes it in the other state, decodes the
-- answer here. Returns the value and the other side's info table.
local function via(v, session)
  local h, b
  if session then h, b = session:encode(v) else h, b = codec.encode(v) end
  local out, err = xs:call("ldask.codec.selftest", "echo",
    selftest.pack(h, b, session and session:functions()))
  assert(out, err)
  local h2, b2, _, info = selftest.unpack(out)
  return codec.decode(h2, b2), info
end

-- Runs task { f, ... } in the other state; returns its results as a list.
local function run(task, session)
  session = session or codec.session()
  local h, b = session:encode(task)
  local out, err = xs:call("ldask.codec.selftest", "call", selftest.pack(h, b, session:functions()))
  if not out then return nil, err end
  local h2, b2, _, info = selftest.unpack(out)
  return codec.decode(h2, b2), info
end

local function refs(b) return ffi.cast("ld_buffer *", b).refs end

describe("ldask.codec values", function()
  it("round-trips nil, booleans, numbers, strings through another state", function()
    assert.is_nil(via(nil))
    assert.is_true(via(true))
    assert.is_false(via(false))
    for _, n in ipairs { 0, 1, -1, 1.5, 2 ^ 53, 2 ^ 53 + 2, -2 ^ 63, 1e308, 5e-324, math.huge, -math.huge } do
      assert.equal(n, via(n))
    end
    assert.equal(-math.huge, 1 / via(-0.0)) -- the sign of zero survives
    local nan = via(0 / 0)
    assert.is_true(nan ~= nan)
    assert.equal("", via(""))
    local bin = "a\0b\255\n" .. string.rep("xyz", 10000)
    assert.equal(bin, via(bin))
    -- around the length limit of the direct small-value reader
    for _, n in ipairs { 190, 191, 192, 193 } do
      local str = string.rep("s", n)
      assert.equal(str, via(str))
      assert.equal(str, codec.decode((codec.encode(str))))
    end
    assert.equal(2 ^ 31, codec.decode("\1P\7\0\0\0\0\0\0\224\65"))
    assert.equal(-5, codec.decode("\1P\6\251\255\255\255")) -- string.buffer's int32 form
  end)

  it("keeps int64 and uint64 cdata exact", function()
    assert.equal(9007199254740993LL, via(9007199254740993LL))
    assert.equal(18446744073709551615ULL, via(18446744073709551615ULL))
    local t = via({ a = -5LL, b = { 1ULL } })
    assert.is_true(ffi.istype("int64_t", t.a))
    assert.equal(-5LL, t.a)
    assert.equal(1ULL, t.b[1])
  end)

  it("round-trips nested tables, holes and mixed keys", function()
    local v = { 1, 2, nil, 4, x = { y = { z = "deep" } }, [1.5] = "f", [true] = false, [-3] = "neg" }
    local r = via(v)
    assert.same(v, r)
    assert.is_nil(r[3])
    assert.equal(4, r[4])
  end)

  it("preserves cycles and shared sub-tables", function()
    local shared = { "s" }
    local t = { a = shared, b = shared, list = { shared, shared } }
    t.self = t
    local r = via(t)
    assert.equal(r, r.self)
    assert.equal(r.a, r.b)
    assert.equal(r.a, r.list[1])
    assert.equal(r.list[1], r.list[2])
    assert.equal("s", r.a[1])
    -- a cycle through two tables
    local p, q = {}, {}
    p.q, q.p = q, p
    local rp = via(p)
    assert.equal(rp, rp.q.p)
    -- a shared table used as a key and a value
    local k = { "key" }
    local rk = via({ [k] = k })
    local key, val = next(rk)
    assert.equal(key, val)
    assert.equal("key", key[1])
  end)

  it("keeps sharing when plain sub-tables sit next to functions", function()
    -- plain sub-trees of a non-plain value are embedded as they are, unless
    -- shared: whichever way the shared table is reached first
    local s = { 1, 2 }
    local r = via({ { s }, function() return s end })
    assert.equal(r[1][1], r[2]())
    for _ = 1, 5 do -- several hash orders
      local v = { a = { x = s }, b = s, c = { { s } }, f = print }
      for i = 1, math.random(1, 20) do v["k" .. i] = { i } end
      local rv = via(v)
      assert.equal(rv.a.x, rv.b)
      assert.equal(rv.b, rv.c[1][1])
    end
    local recs = {}
    for i = 1, 1000 do recs[i] = { id = i, tags = { "a", i } } end
    local rr = assert(run({ function(list) return #list, list[1000].tags[2] end, recs }))
    assert.same({ 1000, 1000 }, rr)
  end)

  it("handles nesting deeper than string.buffer allows", function()
    local root = {}
    local c = root
    for i = 1, 3000 do
      c.next = { i = i }
      c = c.next
    end
    local r = via(root)
    local n = 0
    c = r.next
    while c do
      n = n + 1
      assert.equal(n, c.i)
      c = c.next
    end
    assert.equal(3000, n)
  end)

  it("ships metatables by value, by module path and by registered name", function()
    local mt = { __index = function(_, k) return k .. "!" end, kind = "by value" }
    local o = via(setmetatable({ 1 }, mt))
    assert.equal("foo!", o.foo)
    assert.equal("by value", getmetatable(o).kind)
    -- two objects sharing one by-value metatable still share it
    local a, b = setmetatable({}, mt), setmetatable({}, mt)
    local r = via({ a, b })
    assert.equal(getmetatable(r[1]), getmetatable(r[2]))
    -- a module field travels as a path: the other state uses its own
    local p = via(selftest.Point.new(3, 4))
    assert.equal(selftest.Point, getmetatable(p))
    assert.equal(25, p:norm2())
    local h = codec.encode(selftest.Point.new(3, 4))
    assert.is_nil(h:find("norm2", 1, true)) -- the class was not copied
    -- a registered name
    local hid = via(selftest.new_hidden())
    assert.equal("hidden", hid:kind())
  end)

  it("ships data a module keeps two levels down by value", function()
    local mine = { 1, 2, x = "y" }
    package.loaded["codec_spec_state"] = { store = { mine = mine } }
    local ok, r = pcall(via, { mine, print }) -- not plain: goes through the module index
    package.loaded["codec_spec_state"] = nil
    assert.is_true(ok, r)
    assert.same({ 1, 2, x = "y" }, r[1])
  end)

  it("ships loaded modules by require name and library functions by path", function()
    local cjson = require "cjson"
    local r = via({ cjson, math.floor, string.format, cjson.decode, codec.hash, print, ldask })
    assert.equal(cjson, r[1])
    assert.equal(math.floor, r[2])
    assert.equal(string.format, r[3])
    assert.equal(cjson.decode, r[4])
    assert.equal(codec.hash, r[5])
    assert.equal(print, r[6])
    assert.equal(ldask, r[7])
    local h = codec.encode({ math.floor })
    assert.truthy(h:find("floor", 1, true))
    assert.falsy(h:find("\27LJ", 1, true)) -- no bytecode
  end)
end)

describe("ldask.codec functions", function()
  it("runs a function with number, string, boolean, nil and table upvalues", function()
    local n, s, b, z, t = 10, "str", true, nil, { k = { 1, 2, 3 } }
    local function f(x) return x + n, s .. "!", not b, z == nil, #t.k end
    local r = assert(run({ f, 5 }))
    assert.same({ 15, "str!", false, true, 3 }, r)
  end)

  it("keeps cyclic table upvalues and functions as upvalues", function()
    local cyc = { name = "c" }
    cyc.me = cyc
    local function helper(x) return x * 2 end
    local function f(x) return helper(x), cyc.me.me.name, cyc.me == cyc end
    assert.same({ 14, "c", true }, (run({ f, 7 })))
  end)

  it("ships upvalues of upvalues", function()
    local base = 100
    local function inner(x) return x + base end
    local function middle(x) return inner(x) * 2 end
    local function outer(x) return middle(x) + 1 end
    assert.same({ 2 * 105 + 1 }, (run({ outer, 5 })))
  end)

  it("ships recursive local functions and mutual recursion", function()
    local function fact(k) if k <= 1 then return 1 end return k * fact(k - 1) end
    local is_even, is_odd
    function is_even(k) if k == 0 then return true end return is_odd(k - 1) end
    function is_odd(k) if k == 0 then return false end return is_even(k - 1) end
    assert.same({ 3628800 }, (run({ fact, 10 })))
    assert.same({ true }, (run({ is_even, 10 })))
    assert.same({ true }, (run({ is_odd, 7 })))
  end)

  it("keeps upvalues shared between functions of one value", function()
    local count = 0
    local function inc() count = count + 1 return count end
    local function get() return count end
    local r = via({ inc, get })
    r[1]()
    r[1]()
    assert.equal(2, r[2]())
    assert.equal(0, count) -- the original is untouched
    -- and through the other state: both closures still share
    local function both() inc() inc() inc() return get() end
    assert.same({ 3 }, (run({ both })))
  end)

  it("ships the user globals a function reads, not the standard ones", function()
    _G.CODEC_SPEC_GV = { scale = 3 }
    _G.codec_spec_gf = function(x) return x * CODEC_SPEC_GV.scale end
    local function f(x) return codec_spec_gf(x) + math.floor(0.5) + #string.rep("a", 2) end
    local r = assert(run({ f, 4 }))
    assert.same({ 14 }, r)
    local h = codec.encode(f)
    assert.truthy(h:find("CODEC_SPEC_GV", 1, true))
    assert.falsy(h:find("\"math\"", 1, true))
    _G.CODEC_SPEC_GV, _G.codec_spec_gf = nil, nil
  end)

  it("ships recursive global functions and keeps writes to globals local", function()
    _G.codec_spec_fib = function(k) if k < 2 then return k end return codec_spec_fib(k - 1) + codec_spec_fib(k - 2) end
    local function f(k)
      codec_spec_written = k -- a global write lands in the function's own environment
      return codec_spec_fib(k), codec_spec_written
    end
    assert.same({ 55, 10 }, (run({ f, 10 })))
    assert.is_nil(rawget(_G, "codec_spec_written"))
    assert.equal("nil", xs:call("ldask.xstate", "_probe_global", "codec_spec_written"))
    _G.codec_spec_fib = nil
  end)

  it("ships functions that use modules and library functions", function()
    local cjson = require "cjson"
    local fmt, floor, decode = string.format, math.floor, cjson.decode
    local function f(s)
      local v = decode(s)
      return fmt("%d", floor(v.a)), cjson.encode({ b = 1 }), ldask.version
    end
    assert.same({ "42", '{"b":1}', ldask.version }, (run({ f, '{"a": 42.7}' })))
    local key = ldask.key
    local function g(i) return key("x", i, 2) end
    assert.same({ ldask.key("x", 7, 2) }, (run({ g, 7 })))
    assert.falsy(codec.encode(key):find("\27LJ", 1, true)) -- by path, not bytecode
  end)

  it("ships ctypes by declaration", function()
    local dvec = ffi.typeof("double[?]")
    local bptr = ffi.typeof("ld_buffer *")
    local function f(n)
      local v = dvec(n)
      for i = 0, n - 1 do v[i] = i * 1.5 end
      return v[n - 1], tostring(bptr)
    end
    assert.same({ 6, "ctype<struct ld_buffer *>" }, (run({ f, 5 })))
    local anon = ffi.typeof("struct { int a; }")
    local ok, err = pcall(codec.check, function() return anon end, "task 'a'")
    assert.is_false(ok)
    assert.matches("upvalue 'anon' is an anonymous ctype (struct ", err, 1, true)
  end)

  it("keeps debug info so errors show file:line", function()
    local function boom() error("kaboom") end
    local r, err = run({ boom })
    assert.is_nil(r)
    assert.matches("codec_spec.lua:%d+: kaboom", err)
  end)
end)

describe("ldask.codec sessions", function()
  -- Counts the entries of s:functions(): closures ("\1G") and bytecode ("\1B").
  local function entries(s)
    local nf, np, bytes = 0, 0, 0
    for _, v in pairs(s:functions()) do
      if v:sub(1, 2) == "\1B" then np = np + 1 else nf = nf + 1 end
      bytes = bytes + #v
    end
    return nf, np, bytes
  end

  it("encodes each distinct function once per session", function()
    local k = 7
    local function inc(x) return x + k end
    local s = codec.session()
    local total = 0
    for i = 1, 100 do
      local h = s:encode({ inc, i })
      total = total + #h
    end
    local nf, np, bytes = entries(s)
    assert.equal(1, nf)
    assert.equal(1, np)
    assert.truthy(total < 100 * bytes) -- headers refer to the function, do not carry it
    assert.falsy(s:encode({ inc, 1 }):find("\27LJ", 1, true))
    -- a different closure with the same content has the same hash
    local function make() return function(x) return x + 1 end end
    s:encode({ make(), 1 })
    s:encode({ make(), 2 })
    nf, np = entries(s)
    assert.equal(2, nf)
    assert.equal(2, np)
  end)

  it("shares the bytecode of closures made by one factory", function()
    local function scaler(m) return function(x) return x * m end end
    local s = codec.session()
    local h, b = s:encode({ scaler(2), scaler(3), scaler(4), scaler(5) })
    local nf, np = entries(s)
    assert.equal(4, nf) -- four closures (different upvalues)
    assert.equal(1, np) -- one prototype
    for _, v in pairs(s:functions()) do
      if v:sub(1, 2) ~= "\1B" then assert.falsy(v:find("\27LJ", 1, true)) end
    end
    local out = assert(xs:call("ldask.codec.selftest", "echo", selftest.pack(h, b, s:functions())))
    local r = codec.decode(selftest.unpack(out))
    assert.equal(10, r[1](5))
    assert.equal(25, r[4](5))
    local d = codec.decoder()
    assert.has_error(function() d:decode(h, b) end) -- without the entries
    d:add_functions(s:functions())
    assert.equal(15, d:decode(h, b)[2](5))
  end)

  it("decodes session functions once per decoder, across calls", function()
    local function sq(x) return x * x end
    local s = codec.session()
    local r1, info1 = run({ sq, 3 }, s)
    local r2, info2 = run({ sq, 4 }, s)
    assert.same({ 9 }, r1)
    assert.same({ 16 }, r2)
    assert.equal(info1.cached, info2.cached) -- the second call found it cached
  end)

  it("refuses session headers decoded without their functions", function()
    local s = codec.session()
    local h = s:encode({ function() end })
    assert.has_error(function() codec.decode(h, {}) end)
    local ok, err = pcall(codec.decode, h, {})
    assert.is_false(ok)
    assert.matches("was encoded by a session", err, 1, true)
    local d = codec.decoder()
    ok, err = pcall(d.decode, d, h, {})
    assert.matches("unknown to this decoder", err, 1, true)
    d:add_functions(s:functions())
    assert.equal("function", type(d:decode(h, {})[1]))
  end)
end)

describe("ldask.codec refusals", function()
  it("names the function, the upvalue and its type for a coroutine", function()
    local co = coroutine.create(function() end)
    local function f() return co end
    local line = debug.getinfo(f, "S").linedefined
    local ok, err = pcall(codec.check, { f, 1 }, "task 'inc-1a2b'")
    assert.is_false(ok)
    assert.equal(("cannot ship task 'inc-1a2b': function 'f' (spec/unit/codec_spec.lua:%d) upvalue 'co' is a coroutine"):format(line),
      (err:gsub("^.*cannot ship", "cannot ship"):gsub("%([^()]-spec/unit", "(spec/unit")))
    assert.has_error(function() codec.encode(f) end)
    assert.has_error(function() codec.session():encode({ f }) end)
  end)

  it("refuses an open file handle global with a clear message", function()
    local fh = io.tmpfile()
    _G.CODEC_SPEC_FH = fh
    local function writer(s) CODEC_SPEC_FH:write(s) end
    local ok, err = pcall(codec.check, writer, "task 'w'")
    assert.is_false(ok)
    assert.matches("cannot ship task 'w': function 'writer' (", err, 1, true)
    assert.matches("global 'CODEC_SPEC_FH' is a userdata (an open file handle)", err, 1, true)
    _G.CODEC_SPEC_FH = nil
    fh:close()
  end)

  it("refuses userdata, unregistered cdata and C functions of no module", function()
    local ud = newproxy(false)
    local ok, err = pcall(codec.check, { data = { ud } }, "task 'u'")
    assert.matches("cannot ship task 'u': field data[1] is a userdata", err, 1, true)
    local arr = ffi.new("int[3]")
    ok, err = pcall(codec.check, { arr }, "task 'c'")
    assert.matches("is a cdata<int [3]> of a type not registered with codec.register_cdata", err, 1, true)
    local iter = string.gmatch("a b", "%a")
    local function f() return iter() end
    ok, err = pcall(codec.check, f, "task 'g'")
    assert.matches("upvalue 'iter' is a C function not found in any loaded module", err, 1, true)
    ok, err = pcall(codec.encode, coroutine.create(print))
    assert.matches("cannot ship value: value is a coroutine", err, 1, true)
  end)

  it("names the path inside a table upvalue", function()
    local cfg = { opts = { co = coroutine.create(print) } }
    local function f() return cfg end
    local ok, err = pcall(codec.check, f, "task 'p'")
    assert.is_false(ok)
    assert.matches("function 'f' (", err, 1, true)
    assert.matches("upvalue 'cfg'.opts.co is a coroutine", err, 1, true)
  end)

  it("ships io.stdout by reference, as a library value", function()
    local r = via({ io.stdout })
    assert.equal(io.stdout, r[1])
  end)
end)

describe("ldask.codec registered cdata", function()
  it("moves a vec's buffer to another state and back without a copy", function()
    local v = selftest.new_vec(1000)
    local data = selftest.vec_data(v)
    local calls = selftest.tostring_calls
    local h, bufs = codec.encode({ vec = v })
    assert.equal(calls, selftest.tostring_calls) -- never rendered to encode it
    assert.equal(1, #bufs)
    assert.is_true(#h < 200) -- the 8000 data bytes are not in the header
    assert.equal(v.buf, bufs[1])
    local function total(vec)
      local d = require("ldask.codec.selftest").vec_data(vec)
      local sum = 0
      for i = 0, tonumber(vec.n) - 1 do sum = sum + d[i] end
      return sum, vec
    end
    local r = assert(run({ total, v }))
    assert.equal(500500, r[1])
    -- the vec that came back points at the very same memory
    assert.equal(data, selftest.vec_data(r[2]))
    assert.equal(v.buf, r[2].buf)
    bufs, r = nil, nil
    assert(xs:call("ldask.codec.selftest", "gc", ""))
    collectgarbage()
    collectgarbage()
    assert.equal(1, refs(v.buf)) -- every reference taken on the way was dropped
  end)

  it("moves an ldask ndarray to another state without a copy", function()
    local ok, nd = pcall(require, "ldask.array.ndarray")
    if not ok or not nd.from_table then return pending("ldask.array.ndarray not available: " .. tostring(nd)) end
    local a = nd.from_table({ { 1, 2 }, { 3, 4 } })
    local function addr(p) return tonumber(ffi.cast("uintptr_t", p)) end
    local function probe(x) return x, tonumber(require("ffi").cast("uintptr_t", x.buf_.data)) end
    local r = assert(run({ probe, a }))
    assert.equal(addr(a.buf_.data), r[2]) -- the other state saw the same memory
    assert.equal(a.buf_, r[1].buf_)
    assert.equal(tostring(a), tostring(r[1]))
  end)

  it("ships ld_buffer * values as buffers", function()
    local b = ffi.gc(lib.ld_buffer_new(16), lib.ld_buffer_release)
    ffi.copy(b.data, "0123456789abcdef", 16)
    local r = via({ b })
    assert.equal(b, r[1])
    assert.equal("0123456789abcdef", ffi.string(r[1].data, 16))
  end)

  it("refuses a decode with a missing buffer", function()
    local v = selftest.new_vec(4)
    local h = codec.encode(v)
    local ok, err = pcall(codec.decode, h, {})
    assert.is_false(ok)
    assert.matches("buffer #1 (of 0 given) for cdata type ldask.selftest.vec is missing", err, 1, true)
  end)

  it("validates register_cdata arguments", function()
    assert.has_error(function() codec.register_cdata("int[3]", nil) end,
      "codec.register_cdata: handlers must be a table, got nil")
    assert.has_error(function() codec.register_cdata("no such type", { encode = print, decode = print }) end)
  end)
end)

describe("ldask.codec registered cdata with nested tables", function()
  -- selftest's tagged type: each object's table has a nested sub-table, a
  -- sub-table shared by all objects and a Point; its decode raises when any
  -- of these is incomplete, in whichever state decodes.
  local function tagged(n)
    local list = {}
    for i = 1, n do list[i] = selftest.new_tagged(i * 10) end
    return list
  end
  local function same(list, r)
    assert.equal(#list, #r)
    for i = 1, #list do
      assert.equal(list[i].n, r[i].n)
      assert.equal(list[i].buf, r[i].buf)
    end
  end

  it("gives the decoder a complete table with 1, 2 and 3 objects in one message", function()
    for n = 1, 3 do
      local list = tagged(n)
      selftest.tagged_seen = {}
      same(list, codec.decode(codec.encode(list)))
      local seen = selftest.tagged_seen
      assert.equal(n, #seen)
      for i = 1, n do
        assert.same({ i * 10, { i * 10 + 1 } }, seen[i].shape)
        assert.equal(seen[1].meta, seen[i].meta) -- the shared table is still one table
      end
      same(list, via(list)) -- decoded in the other state, and back
      same(list, via({ list = list, again = list }).list)
    end
  end)

  it("keeps a sub-table shared by the headers and the rest of the message", function()
    -- (distinct declarations: busted memoizes ffi.typeof by its string)
    local T = ffi.typeof("struct { ld_buffer *shared_buf; }")
    local shared = { k = { 1, 2 } }
    local got = {}
    codec.register_cdata(T, {
      name = "codec_spec.shared",
      encode = function(v) return { s = shared, own = { 3 } }, { v.shared_buf } end,
      decode = function(t, bufs)
        assert(t.s.k[2] == 2 and t.own[1] == 3, "incomplete table")
        got[#got + 1] = t
        return T(bufs[1])
      end,
    })
    local b = ffi.gc(lib.ld_buffer_new(8), lib.ld_buffer_release)
    for _, v in ipairs({ { T(b), T(b), shared }, { shared, T(b), T(b), T(b) } }) do
      got = {}
      local r = codec.decode(codec.encode(v))
      assert.equal(#v - 1, #got)
      local s = type(r[1]) == "table" and r[1] or r[#r]
      for i = 1, #got do assert.equal(s, got[i].s) end
    end
  end)

  it("completes tables holding other cdata, metatables and functions first", function()
    local Outer = ffi.typeof("struct { int32_t outer_n; }")
    local inner = selftest.new_tagged(7)
    local function scale(x) return x * 2 end
    codec.register_cdata(Outer, {
      name = "codec_spec.outer",
      encode = function(o) return { n = o.outer_n, parts = { inner, { f = scale, p = selftest.Point.new(3, 4) } } } end,
      decode = function(t)
        local part = t.parts[2]
        assert(t.parts[1].n == 7 and part.f(t.n) == 2 * t.n and part.p:norm2() == 25, "incomplete table")
        return Outer(t.n)
      end,
    })
    local function probe(objs) return objs[1].outer_n + objs[2].outer_n end
    local r = codec.decode(codec.encode({ Outer(1), { Outer(2) }, probe }))
    assert.equal(3, r[3]({ r[1], r[2][1] }))
    local o5 = Outer(5)
    r = codec.decode(codec.encode({ up = function() return o5 end }))
    assert.equal(5, r.up().outer_n)
  end)

  it("decodes them through a session and a decoder, here and in the other state", function()
    for n = 1, 3 do
      local list = tagged(n)
      local function count(...)
        local total = 0
        for i = 1, select("#", ...) do total = total + tonumber((select(i, ...)).n) end
        return total, ...
      end
      local s = codec.session()
      local h, b = s:encode({ count, unpack(list) })
      local d = codec.decoder()
      d:add_functions(s:functions())
      local task = d:decode(h, b)
      assert.equal(10 * n * (n + 1) / 2, (task[1](unpack(task, 2))))
      local r = assert(run({ count, unpack(list) }, s))
      assert.equal(10 * n * (n + 1) / 2, r[1])
      same(list, { unpack(r, 2) })
      same(list, via({ list, list[1] }, s)[1])
    end
  end)

  it("reports a table that cannot be complete without its own object", function()
    local C = ffi.typeof("struct { int32_t cycle_n; }")
    local holder = {}
    codec.register_cdata(C, {
      name = "codec_spec.cycle",
      encode = function() return { holder = holder, more = { 1 } } end,
      decode = function(t) return C(#t.more) end,
    })
    local c = C(1)
    holder[1] = c
    local r = codec.decode(codec.encode(holder)) -- holder is being filled: fine
    assert.equal(1, r[1].cycle_n)
    local ok, err = pcall(codec.decode, codec.encode({ { c }, holder }))
    assert.is_false(ok)
    assert.matches("type codec_spec.cycle) is reached again while its own table is completed", err, 1, true)
  end)
end)

describe("ldask.codec decoding bad input", function()
  it("gives a clear error for a wrong version byte, garbage and truncation", function()
    local h = codec.encode({ 1, 2, 3 })
    local ok, err = pcall(codec.decode, "\2" .. h:sub(2), {})
    assert.is_false(ok)
    assert.matches("unsupported header version 2", err, 1, true)
    ok, err = pcall(codec.decode, "", {})
    assert.matches("empty header", err, 1, true)
    ok, err = pcall(codec.decode, h:sub(1, -2), {})
    assert.matches("malformed header", err, 1, true)
    ok, err = pcall(codec.decode, "\1P\35ab", {}) -- a 3-byte string with 2 bytes
    assert.matches("malformed header", err, 1, true)
    ok, err = pcall(codec.decode, "\1P\7\0\0", {}) -- a truncated number
    assert.matches("malformed header", err, 1, true)
    ok, err = pcall(codec.decode, 42, {})
    assert.matches("header must be a string", err, 1, true)
    local g = codec.encode(function() return 1 end)
    ok, err = pcall(codec.decode, g:sub(1, -3), {})
    assert.matches("checksum mismatch", err, 1, true)
    local flipped = g:sub(1, 20) .. string.char((g:byte(21) + 1) % 256) .. g:sub(22)
    ok, err = pcall(codec.decode, flipped, {})
    assert.matches("checksum mismatch", err, 1, true)
  end)

  it("never crashes on mutated headers", function()
    math.randomseed(7)
    local enc = require "ldask.codec.encode"
    local t = { 1, "two", { 3 } }
    t.self = t
    local samples = { (codec.encode({ 1, "x", { y = 2.5 } })), (codec.encode(setmetatable(t, { __index = t }))) }
    local errors = 0
    for _, h in ipairs(samples) do
      for _ = 1, 3000 do
        local bytes = { h:byte(1, -1) }
        for _ = 1, math.random(1, 3) do bytes[math.random(#bytes)] = math.random(0, 255) end
        local m = string.char(unpack(bytes))
        if m:byte(2) == 0x47 and #m > 10 then -- re-seal so the plan decoder itself is exercised
          local body = m:sub(11)
          m = m:sub(1, 2) .. enc.checksum(body) .. body
        end
        local ok, e = pcall(codec.decode, m, {})
        if not ok then
          errors = errors + 1
          assert.matches("^codec.decode: ", e)
        end
      end
    end
    assert.truthy(errors > 0)
  end)

  it("reads small plain headers directly, exactly as string.buffer does", function()
    local sbuf = require "string.buffer"
    local fast = require("ldask.codec.decode").fast
    -- string.buffer raising inside a compiled trace crashes this LuaJIT
    local function reference(m) return pcall(sbuf.decode, m:sub(3)) end
    jit.off(reference)
    local vals = { {}, { 1, 2, 3 }, { 1, nil, 3 }, { a = 1, b = "x" }, { 1, x = { y = { z = true } } },
      { [0] = "zero", 1 }, { [1.5] = 2, [-1] = 3 }, { string.rep("a", 300) }, { false, true, -0.0 } }
    math.randomseed(11)
    local accepted = 0
    for _, v in ipairs(vals) do
      local h = codec.encode(v)
      local r, ok = fast(h)
      assert.is_true(ok)
      assert.same(v, r)
      for _ = 1, 300 do
        local b = { h:byte(1, -1) }
        for _ = 1, math.random(1, 2) do b[math.random(3, #b)] = math.random(0, 255) end
        local m = string.char(unpack(b))
        local fr, fok = fast(m)
        if fok then
          accepted = accepted + 1
          local rok, rr = reference(m)
          assert.is_true(rok)
          assert.same(rr, fr)
        end
      end
    end
    assert.truthy(accepted > 100)
    assert.is_false(select(2, fast(codec.encode({ { { { { { { { { { 1 } } } } } } } } } })))) -- too deep: left to string.buffer
  end)

  it("reports garbage decoded in another state as an error there", function()
    local msg = selftest.pack("\1Gnot a real header at all", {}, nil)
    assert.matches("^error: codec.decode: checksum mismatch", xs:call("ldask.codec.selftest", "describe", msg))
  end)
end)
