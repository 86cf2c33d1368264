-- spec/unit/optimize_spec.lua: the graph optimizations of get/compute
-- (lua/ldask/optimize.lua, core/sched/optimize.c): the same results with
-- and without optimization, on the sync and the threaded scheduler, over
-- graph shapes that cull, inline, fuse (chains longer than MAX_CHAIN too)
-- or do none of these; the plan of ld_opt_plan on small CSR graphs; the
-- errors users get.
local ffi = require "ffi"
local bit = require "bit"
local ldask = require "ldask"
local graph = require "ldask.graph"
local optimize = require "ldask.optimize"
local O = require("ldask.ffi.util").opt
local lib = require "ldask.native"
local helpers = require "helpers"

local function inc(x) return x + 1 end
local function add(...)
  local s = 0
  for i = 1, select("#", ...) do s = s + (select(i, ...) or 0) end
  return s
end
local function double(x) return 2 * x end
local function sum_list(t)
  local s = 0
  for i = 1, #t do s = s + t[i] end
  return s
end

-- A chain c,0 (a constant) <- c,1 <- ... <- c,N of inc tasks.
local function chain(n, name)
  name = name or "c"
  local g = { [name .. ",0"] = 0 }
  for i = 1, n do g[name .. "," .. i] = { inc, name .. "," .. (i - 1) } end
  return g, name .. "," .. n
end

-- Graph shapes: { name, graph, keys, expected results }.
local function shapes()
  local out = {}
  local function shape(name, g, keys, want) out[#out + 1] = { name, g, keys, want } end

  local g, top = chain(100)
  shape("a chain of 100 links (constant at the bottom)", g, top, 100)
  shape("the same chain, an intermediate requested too", g, { top, "c,50", "c,0" }, { 100, 50, 0 })

  shape("a diamond", {
    a = { inc, 1 }, b = { double, "a" }, c = { inc, "a" }, d = { add, "b", "c" },
  }, "d", 7)

  shape("constants of every kind", {
    n = 5, s = "text", t = { 1, 2, 3 }, q = ldask.quote({ "n", "s" }), z = false,
    r = { function(n, s, t, q, z) return n .. s .. #t .. q[1] .. q[2] .. tostring(z) end, "n", "s", "t", "q", "z" },
  }, "r", "5text3nsfalse")
  shape("a literal holding tasks (a list of tasks is not a constant)", {
    l = { { inc, 1 }, { double, 3 }, { 7, { inc, 9 } } },
    r = { function(t) return t[1] + t[2] + t[3][1] + t[3][2] end, "l" },
  }, "r", 2 + 6 + 7 + 10)

  shape("nested tasks and lists of references", {
    a = { inc, 1 }, b = { inc, 2 },
    c = { add, { inc, { double, "a" } }, { sum_list, { "a", "b", 10 } } },
    d = { inc, "c" },
  }, "d", 5 + 15 + 1)

  local called = {}
  shape("culling: what the keys do not need never runs", {
    a = { inc, 1 },
    b = { inc, "a" },
    unused = { function() error("must not run") end, "a" },
    far = { inc, "unused" },
  }, "b", 3)
  shape("culling an unused constant and chain", {
    k = 7, a = { inc, "k" }, b = { inc, "a" }, x = { inc, "k" }, y = { inc, "x" },
  }, { "b" }, { 9 })

  local hd, root = helpers.anchor_graph(512)
  shape("the anchor graph (nothing to fuse or inline)", hd, root, 512 * 513 / 2)

  shape("chains into a tree", (function()
    local t = {}
    for i = 1, 8 do
      t["x," .. i] = { inc, i }
      t["y," .. i] = { double, "x," .. i }
      t["z," .. i] = { inc, "y," .. i }
    end
    t.sum = { add, "z,1", "z,2", "z,3", "z,4", "z,5", "z,6", "z,7", "z,8" }
    return t
  end)(), "sum", (function()
    local s = 0
    for i = 1, 8 do s = s + 2 * (i + 1) + 1 end
    return s
  end)())

  shape("nil results through a fused chain", {
    a = { function() return nil end },
    b = { function(x) return x == nil end, "a" },
    c = { function(x) return not x end, "b" },
  }, { "c", "b" }, { false, true })

  shape("a requested constant and an alias", { k = 3, alias = "k", u = { inc, "alias" } }, { "k", "u", "alias" },
    { 3, 4, 3 })

  shape("explicit references", {
    a = { inc, 1 }, b = { inc, graph.ref("a") }, c = { add, graph.ref("b"), "a" },
  }, "c", 5)

  shape("keys requested twice", { a = { inc, 1 }, b = { inc, "a" } }, { "b", "b", { "b" } }, { 3, 3, { 3 } })
  return out, called
end

describe("optimized and unoptimized runs", function()
  local list = shapes()
  for _, s in ipairs(list) do
    it("agree on " .. s[1], function()
      local g, keys, want = s[2], s[3], s[4]
      for _, sched in ipairs { "sync", "threads" } do
        for _, opt in ipairs { true, false } do
          -- an unoptimized run keeps unneeded tasks: leave out the one that fails
          local g2 = g
          if not opt and g.unused then
            g2 = {}
            for k, v in pairs(g) do g2[k] = v end
            g2.unused, g2.far = nil, nil
          end
          local got = ldask.get(g2, keys, { scheduler = sched, optimize_graph = opt, num_workers = 2 })
          assert.same(want, got, s[1] .. " on " .. sched .. " (optimize_graph=" .. tostring(opt) .. ")")
        end
      end
    end)
  end

  it("leave the graph untouched", function()
    local g, top = chain(40)
    local copy = {}
    for k, v in pairs(g) do copy[k] = { v, type(v) == "table" and v[2] } end
    ldask.get(g, top, { scheduler = "threads" })
    ldask.get(g, top, { scheduler = "sync" })
    optimize.optimize(g, { top })
    for k, v in pairs(copy) do
      assert.equal(v[1], g[k])
      if type(v[1]) == "table" then assert.equal(v[2], g[k][2]) end
    end
  end)

  it("run fewer tasks when chains fuse, as many when nothing fuses", function()
    local g, top = chain(100)
    for _, sched in ipairs { "sync", "threads" } do
      local plain, opt = {}, {}
      ldask.get(g, top, { scheduler = sched, optimize_graph = false, stats = plain })
      ldask.get(g, top, { scheduler = sched, stats = opt })
      assert.equal(101, plain.tasks)
      -- 100 tasks and a constant: MAX_CHAIN (32) links nested per task
      assert.equal(math.ceil(100 / (optimize.MAX_CHAIN + 1)), opt.tasks, sched)
      local hg, root, nt = helpers.anchor_graph(1000)
      local st = {}
      ldask.get(hg, root, { scheduler = sched, stats = st })
      assert.equal(nt, st.tasks, sched)
    end
  end)

  it("count only the tasks that run in the progress callbacks", function()
    local g, top = chain(10)
    local seen = {}
    local cb = {
      start = function(_, info) seen.ntasks = info.ntasks end,
      progress = function() end,
      finish = function(_, ok, _, done, total) seen.ok, seen.done, seen.total = ok, done, total end,
    }
    for _, sched in ipairs { "sync", "threads" } do
      seen = {}
      assert.equal(10, ldask.get(g, top, { scheduler = sched, progress = cb }))
      assert.equal(1, seen.ntasks, sched)
      assert.equal(1, seen.done, sched)
      assert.is_true(seen.ok, sched)
    end
  end)
end)

describe("optimize.optimize", function()
  it("nests a chain MAX_CHAIN links deep at most", function()
    local g, top = chain(100)
    local out, deps = optimize.optimize(g, { top })
    local n, maxdepth = 0, 0
    local function depth(v)
      if type(v) ~= "table" or type(v[1]) ~= "function" then return 0 end
      return 1 + depth(v[2])
    end
    for k, v in pairs(out) do
      n = n + 1
      if depth(v) > maxdepth then maxdepth = depth(v) end
      for _, d in ipairs(deps[k]) do assert.is_not_nil(out[d]) end
    end
    assert.equal(4, n) -- c,100 (c,99..c,68), c,67 (..c,35), c,34 (..c,2), c,1 (c,0 inlined)
    assert.equal(optimize.MAX_CHAIN + 1, maxdepth)
    assert.same({}, deps["c,1"])
    assert.same({ "c,67" }, deps[top])
    assert.equal(100, ldask.get(out, top, { scheduler = "sync", optimize_graph = false }))
    -- the threaded scheduler ships such a chain as one fast record
    local index = {}
    for k in pairs(out) do index[k] = 1 end
    assert.is_not_nil(require("ldask.task.payload").fast_size(out[top], index, 0))
  end)

  it("keeps requested keys and culls the rest", function()
    local g = { a = 1, b = { inc, "a" }, c = { inc, "b" }, d = { inc, "c" }, x = { inc, "d" } }
    local out, deps = optimize.optimize(g, { "d", "b" })
    assert.is_nil(out.x)
    assert.is_nil(out.a) -- inlined
    assert.is_nil(out.c) -- fused into d
    assert.is_not_nil(out.b)
    assert.same({ "b" }, deps.d)
    assert.same({}, deps.b)
  end)

  it("returns the culled graph when there is nothing to inline or fuse", function()
    local g = { a = { inc, 1 }, b = { inc, 2 }, c = { add, "a", "b" }, u = { inc, "c" } }
    local out = optimize.optimize(g, { "c" })
    assert.equal(g.a, out.a)
    assert.equal(g.c, out.c)
    assert.is_nil(out.u)
  end)
end)

describe("ld_opt_plan", function()
  -- Plans graph DEPS ({[i] = {dependencies}}, 0-based ids) with FLAGS
  -- ({[i] = flag bits}); returns the rc, into, below, new deps and changed
  -- as Lua tables.
  local function plan(n, deps, flags, passes, max_chain)
    local off = ffi.new("int32_t[?]", n + 1)
    local idx = ffi.new("int32_t[?]", 64)
    local m = 0
    for i = 0, n - 1 do
      off[i] = m
      for _, d in ipairs(deps[i] or {}) do idx[m] = d; m = m + 1 end
    end
    off[n] = m
    local fl = ffi.new("uint8_t[?]", n)
    for i = 0, n - 1 do fl[i] = flags[i] or O.TASK end
    local into, below = ffi.new("int32_t[?]", n), ffi.new("int32_t[?]", n)
    local noff, nd, ch = ffi.new("int32_t[?]", n + 1), ffi.new("int32_t[?]", 64), ffi.new("int32_t[?]", n)
    local st = ffi.new("ld_opt_stats")
    local rc = lib.ld_opt_plan(n, off, idx, fl, passes or bit.bor(O.INLINE, O.FUSE), max_chain or 32, into, below,
      noff, nd, ch, st)
    local r = { rc = rc, into = {}, below = {}, deps = {}, changed = {}, st = st }
    if rc ~= 0 then return r end
    for i = 0, n - 1 do r.into[i] = into[i]; r.below[i] = below[i] end
    if st.ninlined + st.nfused > 0 then
      for i = 0, n - 1 do
        local d = {}
        for p = noff[i], noff[i + 1] - 1 do d[#d + 1] = nd[p] end
        r.deps[i] = d
      end
      for c = 0, st.nchanged - 1 do r.changed[#r.changed + 1] = ch[c] end
    end
    return r
  end

  it("fuses a chain in segments of MAX_CHAIN links", function()
    -- 0 <- 1 <- ... <- 9: task i depends on i - 1; 9 is the output
    local deps = {}
    for i = 1, 9 do deps[i] = { i - 1 } end
    local r = plan(10, deps, { [9] = O.TASK + O.OUTPUT }, nil, 3)
    assert.equal(0, r.rc)
    -- 9 takes 8, 7, 6; 5 stays and takes 4, 3, 2; 1 stays and takes 0
    assert.same({ [0] = 1, -1, 5, 5, 5, -1, 9, 9, 9, -1 }, r.into)
    assert.equal(7, r.st.nfused)
    assert.same({ 1, 5, 9 }, r.changed)
    assert.same({}, r.deps[1])
    assert.same({ 1 }, r.deps[5])
    assert.same({ 5 }, r.deps[9])
    assert.same({}, r.deps[6])
  end)

  it("inlines constants, not outputs, not values with dependencies", function()
    -- 0: constant, 1: constant but requested, 2: a list of 0 (not a task),
    -- 3: task on 0, 1, 2
    local r = plan(4, { [2] = { 0 }, [3] = { 0, 1, 2 } }, { [0] = 0, [1] = O.OUTPUT, [2] = 0, [3] = O.OUTPUT + O.TASK })
    assert.equal(0, r.rc)
    assert.same({ [0] = O.INLINED, O.KEPT, O.KEPT, O.KEPT }, r.into)
    assert.same({ 2, 3 }, r.changed)
    assert.same({}, r.deps[2])
    assert.same({ 1, 2 }, r.deps[3])
  end)

  it("does not fuse a task with two dependents, into a task with two dependencies, or a cycle", function()
    -- 0 <- 1, 0 <- 2 (two dependents); 3 <- 4 -> 5 (4 depends on 3 and 5)
    local r = plan(6, { [1] = { 0 }, [2] = { 0 }, [4] = { 3, 5 } }, { [1] = 3, [2] = 3, [4] = 3 }, O.FUSE)
    assert.equal(0, r.rc)
    for i = 0, 5 do assert.equal(O.KEPT, r.into[i]) end
    -- 0 -> 1 -> 2 -> 0, none requested: every link fusable, no top
    r = plan(3, { [0] = { 2 }, [1] = { 0 }, [2] = { 1 } }, {}, O.FUSE)
    assert.equal(0, r.rc)
    assert.equal(0, r.st.nfused)
    -- a self-dependency is never fused
    r = plan(2, { [0] = { 0 }, [1] = { 0 } }, { [1] = 3 }, O.FUSE)
    assert.equal(0, r.st.nfused)
  end)

  it("refuses bad input", function()
    assert.equal(O.EINVAL, plan(2, { [1] = { 5 } }, {}).rc)
    assert.equal(O.EINVAL, plan(2, { [1] = { 0 } }, {}, nil, 0).rc)
  end)
end)

describe("errors with optimization", function()
  local err_of = helpers.err_of

  it("name the missing key of a reference as without it", function()
    local g = { a = { inc, ldask.ref("nope") }, b = { inc, "a" } }
    for _, sched in ipairs { "sync", "threads" } do
      local e1 = err_of(function() ldask.get(g, "b", { scheduler = sched }) end)
      local e2 = err_of(function() ldask.get(g, "b", { scheduler = sched, optimize_graph = false }) end)
      assert.matches("task 'a' depends on missing key 'nope'", e1, 1, true)
      assert.equal(e2, e1)
    end
  end)

  it("name the task of a fused chain that failed, with its message", function()
    local g, top = chain(5)
    g["c,3"] = { function() error("boom at 3") end, "c,2" }
    for _, sched in ipairs { "sync", "threads" } do
      local ok, e = pcall(ldask.get, g, top, { scheduler = sched })
      assert.is_false(ok)
      assert.matches("boom at 3", e.message, 1, true)
      assert.equal(top, e.key)
    end
  end)

  it("name the task a function that cannot travel runs in, fused or not", function()
    local co = coroutine.create(function() end)
    local function bad(x)
      local _ = co
      return x
    end
    local g = { a = { bad, 1 }, b = { inc, "a" }, c = { inc, "b" } }
    local e1 = err_of(function() ldask.get(g, "c", { scheduler = "threads" }) end)
    assert.matches("cannot ship the function of task 'c': function 'bad'", e1, 1, true)
    assert.matches("upvalue 'co' is a coroutine", e1, 1, true)
    local e2 = err_of(function() ldask.get(g, "c", { scheduler = "threads", optimize_graph = false }) end)
    assert.matches("cannot ship the function of task 'a': function 'bad'", e2, 1, true)
  end)

  it("report a missing requested key at the caller's line", function()
    local line = debug.getinfo(1, "l").currentline + 1
    local e = err_of(function() ldask.get({ a = 1 }, "b") end)
    assert.matches("optimize_spec.lua:" .. line .. ": ldask.get: key(s) not in the graph: 'b'", e, 1, true)
  end)
end)
