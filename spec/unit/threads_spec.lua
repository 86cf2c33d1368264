-- spec/unit/threads_spec.lua: the threaded local scheduler
-- (lua/ldask/scheduler/threads.lua + runtime/lib/pool.c): same results as
-- the sync scheduler, errors naming the task with the executor's traceback,
-- a pool that survives failures, nested computes, parallel execution.
local threads = require "ldask.scheduler.threads"
local sync = require "ldask.scheduler.sync"
local graph = require "ldask.graph"
local errors = require "ldask.errors"
local lib = require "ldask.native"
local helpers = require "helpers"
require "ldask.ffi.pool"

local function inc(x) return x + 1 end
local function add(...)
  local s = 0
  for i = 1, select("#", ...) do s = s + select(i, ...) end
  return s
end

describe("threads scheduler", function()
  it("computes simple and general tasks like the sync scheduler", function()
    local g = {
      a = 1,
      b = { inc, "a" },
      c = { add, "a", "b", 10 },
      d = { function(t) return { sum = t[1] + t[2], name = t.name } end, { "b", "c", name = "nm" } },
      e = { inc, { inc, { inc, "a" } } },
      f = { function(s, flag, z) return s .. tostring(flag) .. tostring(z) end, "str", true, nil },
      q = { function(t) return t[1] end, graph.quote({ "a" }) },
      r = { inc, graph.ref("b") },
      alias = "c",
      lst = { function(...) return select("#", ...) end, "a", "b", "c", "a", "b", "c", "a" },
    }
    local keys = { "c", { "d", "e" }, "f", "q", "r", "alias", "lst" }
    local want = sync.get(g, keys)
    for _, nw in ipairs { 1, 2, 3 } do
      local got = threads.get(g, keys, { num_workers = nw })
      assert.same(want, got)
    end
    local got = threads.get(g, keys, { optimize_graph = false })
    assert.same(want, got)
    assert.equal(13, got[1])
    assert.same({ sum = 15, name = "nm" }, got[2][1])
    assert.equal("a", got[4])
  end)

  it("passes plain data tables and quoted values to simple tasks", function()
    local q = graph.quote
    local g = {
      a = 5,
      t1 = { function(t) return t.x + t[1] + #t.list end, { 10, x = 1, list = { 1, 2, 3 } } },
      t2 = { function(t) return t[1] end, q({ "a" }) },          -- quoted: "a" is not a reference
      t3 = { function(s, n, b) return s .. n .. tostring(b) end, q("a"), q(7), q(false) },
      t4 = { function(t) return t[1] end, { "a" } },             -- a reference inside a table
      t5 = { function(t) return t[1][1] + 1 end, { { 41 } } },
      t6 = { function(t) return t[1] end, { { inc, 1 } } },      -- a nested task inside a table
    }
    local deep = 0
    for _ = 1, 30 do deep = { inc, deep } end -- deeper than the fast path nests
    g.t7 = deep
    g.t8 = { function(x, s, t) return x .. s .. t[1] end,
      { tostring, { inc, "a" } }, { string.rep, "ab", 2 }, { function(q) return q end, q({ "z" }) } }
    local keys = { "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8" }
    local want = sync.get(g, keys, { optimize_graph = false })
    assert.same({ 14, "a", "a7false", 5, 42, 2, 30, "6ababz" }, want)
    assert.same(want, threads.get(g, keys, { optimize_graph = false }))
  end)

  it("returns nil, booleans, strings and nested tables", function()
    local g = {
      n = { function() return nil end },
      t = { function() return true end },
      f = { function() return false end },
      s = { function() return ("x"):rep(1000) end },
      tab = { function() return { 1, { 2, { 3 } }, k = "v" } end },
      use = { function(a, b, c) return tostring(a) .. tostring(b) .. tostring(c) end, "n", "t", "f" },
    }
    local r = threads.get(g, { "n", "t", "f", "s", "tab", "use" }, { num_workers = 2 })
    assert.is_nil(r[1])
    assert.is_true(r[2])
    assert.is_false(r[3])
    assert.equal(1000, #r[4])
    assert.same({ 1, { 2, { 3 } }, k = "v" }, r[5])
    assert.equal("niltruefalse", r[6])
  end)

  it("shares numeric buffers between states without a copy", function()
    local nd = require "ldask.array.ndarray"
    local function addr(a) return tonumber(require("ffi").cast("intptr_t", a.buf_.data)) end
    local g = {
      a = { function() return require("ldask.array.ndarray").ones({ 1000 }, "float64") end },
      p1 = { addr, "a" },
      p2 = { addr, "a" },
      s = { function(a) return a:sum() end, "a" },
    }
    local r = threads.get(g, { "a", "p1", "p2", "s" }, { num_workers = 2, optimize_graph = false })
    assert.is_true(nd.is_ndarray(r[1]))
    assert.equal(addr(r[1]), r[2])
    assert.equal(r[2], r[3])
    assert.equal(1000, tonumber(r[4]) or r[4]:item())
  end)

  it("runs a wide tree reduction", function()
    local n = 5000
    local g, root = helpers.anchor_graph(n)
    local stats = {}
    assert.equal(n * (n + 1) / 2, threads.get(g, root, { stats = stats, optimize_graph = false }))
    assert.equal(5000 + 625 + 79 + 10 + 2 + 1, stats.tasks)
  end)

  it("agrees with the sync scheduler on random graphs", function()
    local function node(id, ...)
      local s = id
      for i = 1, select("#", ...) do s = (s * 31 + select(i, ...)) % 1000003 end
      return s
    end
    for seed = 1, 8 do
      math.randomseed(seed)
      local n = 300 + seed * 50
      local g, keys = {}, {}
      for i = 1, n do
        local t = { node, i }
        for _ = 1, math.random(0, 4) do
          if i > 1 then t[#t + 1] = "n," .. math.random(1, i - 1) end
        end
        g["n," .. i] = t
        if math.random() < 0.1 then keys[#keys + 1] = "n," .. i end
      end
      keys[#keys + 1] = "n," .. n
      local want = sync.get(g, keys, { optimize_graph = false })
      local got = threads.get(g, keys, { optimize_graph = false, num_workers = 1 + seed % 3 })
      assert.same(want, got)
      assert.same(want, threads.get(g, keys))
    end
  end)

  it("names the failing task and carries the executor's traceback", function()
    local function boom(x) error("boom at " .. x) end
    local g = { a = 1, b = { boom, "a" }, c = { inc, "b" } }
    local ok, e = pcall(threads.get, g, "c", { optimize_graph = false })
    assert.is_false(ok)
    assert.is_true(errors.is_task_error(e))
    assert.equal("b", e.key)
    assert.matches("boom at 1", e.message)
    assert.matches("threads_spec.lua:%d+: in function", e.traceback)
    assert.matches("task 'b' failed", tostring(e))
  end)

  it("stops at the first failure, does not hang, and serves the next compute", function()
    local g = {}
    local keys = {}
    for i = 1, 200 do
      g["t," .. i] = { function(x) if x % 7 == 0 then error("bad " .. x) end return x end, i }
      keys[#keys + 1] = "t," .. i
    end
    for _ = 1, 5 do
      local ok, e = pcall(threads.get, g, keys, { num_workers = 2 })
      assert.is_false(ok)
      assert.matches("bad %d+", e.message)
    end
    assert.equal(42, threads.get({ x = { inc, 41 } }, "x"))
  end)

  it("refuses a task that cannot travel, naming it", function()
    local co = coroutine.create(function() end)
    local g = { a = { function() return co end } }
    local ok, e = pcall(threads.get, g, "a")
    assert.is_false(ok)
    assert.matches("task 'a'", tostring(e))
    assert.matches("coroutine", tostring(e))
  end)

  it("fails a task whose result cannot travel, naming the task", function()
    local g = { a = { function() return coroutine.create(function() end) end } }
    local ok, e = pcall(threads.get, g, "a")
    assert.is_false(ok)
    assert.equal("a", e.key)
    assert.matches("cannot ship the result: value is a coroutine", e.message)
  end)

  it("raises on missing keys and cycles", function()
    assert.has_error(function() threads.get({ a = 1 }, "zz") end)
    local ok, e = pcall(threads.get, { a = { inc, "b" }, b = { inc, "a" } }, "a", { optimize_graph = false })
    assert.is_false(ok)
    assert.matches("cycle", tostring(e))
    ok, e = pcall(threads.get, { a = 1 }, "a", { num_workers = 0 })
    assert.is_false(ok)
    assert.matches("num_workers", tostring(e))
  end)

  it("runs a compute() called inside a task inline, without deadlock", function()
    local g = {
      outer = { function(n)
        local inner = { x = { function(v) return v * 2 end, n }, y = { function(v) return v + 1 end, "x" } }
        return ldask.get(inner, "y", { scheduler = "threads" })
      end, 20 },
    }
    -- more outer tasks than threads: each would block a thread if nested
    -- computes went back to the pool
    local keys = {}
    for i = 1, 6 do g["o," .. i] = { g.outer[1], i }; keys[i] = "o," .. i end
    local r = threads.get(g, keys, { num_workers = 2 })
    assert.same({ 3, 5, 7, 9, 11, 13 }, r)
  end)

  it("keeps intermediates small: peak memory follows the ordering", function()
    local g = {}
    local keys = {}
    for i = 1, 200 do
      g["big," .. i] = { function()
        local s = 0
        for j = 1, 20000 do s = s + j end -- make the task last ~20 us or more
        return ("x"):rep(10000 + s % 2)
      end }
      g["len," .. i] = { function(s) return #s end, "big," .. i }
      keys[i] = "len," .. i
    end
    local stats = {}
    threads.get(g, keys, { optimize_graph = false, stats = stats, num_workers = 2 })
    -- all 200 strings would be 2 MB; a few at a time are held
    assert.is_true(stats.peak_bytes < 200 * 10000 / 4, "peak " .. stats.peak_bytes)
  end)

  it("runs CPU-bound Lua tasks on two threads at the same time (no interpreter lock)", function()
    -- Each task reports its executor thread and when it ran; two tasks of
    -- different threads overlapping in time ran Lua code at once. (Speed-up
    -- figures are in bench/parallel.lua: a spec on a shared machine cannot
    -- time them without flaking.)
    local function work(n)
      local ex = require "ldask.scheduler.executor"
      local clock = require("ldask.native").ld_pool_now
      local t0 = clock()
      local s = 0
      for i = 1, n do s = (s + i * i) % 1000003 end
      return { ex.worker_index(), t0, clock(), s }
    end
    local g, keys = {}, {}
    for i = 1, 8 do g["w," .. i] = { work, 1e6 + i }; keys[i] = "w," .. i end
    local r = threads.get(g, keys, { num_workers = 2 })
    local workers, overlap = {}, false
    for i = 1, #r do
      workers[r[i][1]] = true
      for j = 1, #r do
        if r[i][1] ~= r[j][1] and r[i][2] < r[j][3] and r[j][2] < r[i][3] then overlap = true end
      end
    end
    assert.is_true(workers[0] and workers[1])
    assert.is_true(overlap)
    -- the results are right, whichever thread ran them
    local function ref(n)
      local s = 0
      for i = 1, n do s = (s + i * i) % 1000003 end
      return s
    end
    assert.equal(ref(1e6 + 3), r[3][4])
  end)
end)
