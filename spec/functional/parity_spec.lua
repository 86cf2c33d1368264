-- The parity matrix: the same workloads on the sync scheduler, the threaded
-- scheduler and a local cluster must give identical results, whatever
-- ran before them. Each ordering gets a fresh ldask.Client() (real
-- ldask-scheduler and ldask-worker processes on 127.0.0.1), so that the
-- workers' executor threads meet the workloads in that order. Futures made
-- by the client are passed into delayed functions and collections on all
-- three schedulers (sync and threads gather them first, as dask's local
-- schedulers do).
local ldask = require "ldask"
local helpers = require "helpers"
-- (ldask.array.ndarray is not required here at load time: a fresh process
-- below checks what a user meets before any array module is loaded)
local nd = setmetatable({}, { __index = function(_, k) return require("ldask.array.ndarray")[k] end })

local SCHEDULERS = { "sync", "threads", "distributed" }

-- A comparable plain value: ndarrays become { ndarray = nested lists,
-- dtype = ... }, tables are converted element by element.
local function norm(v)
  if nd.is_ndarray(v) then return { ndarray = v:totable(), dtype = tostring(v.dtype) } end
  if type(v) == "table" and getmetatable(v) == nil then
    local out = {}
    for k, x in pairs(v) do out[k] = norm(x) end
    return out
  end
  return v
end

local function inc(x) return x + 1 end
local function add(a, b) return a + b end
local function total(t) local s = 0 for _, x in ipairs(t) do s = s + x end return s end

-- Each workload: build(c) -> a function(opts) computing its result with
-- the scheduler options OPTS; expected: what it must give (checked against
-- sums computed here, and numpy where the spec below says so).
local workloads = {}

workloads.submit = {
  build = function(c)
    local f = c:submit(function(x) return x * 2 end, 21)
    return function(opts) return ldask.delayed(inc)(f):compute(opts) end
  end,
  expected = 43,
}

workloads.delayed = {
  build = function()
    return function(opts)
      local parts = {}
      for i = 1, 10 do parts[i] = ldask.delayed(inc)(i) end
      local s = ldask.delayed(total)(parts)
      local t = ldask.delayed(add)(s, ldask.delayed(inc)(s))
      return t:compute(opts)
    end
  end,
  expected = 65 + 66,
}

workloads.array = {
  build = function()
    return function(opts)
      local x = ldask.array.arange(100, { chunks = 30 })
      local y = x * x - 3
      local r = { ldask.compute(y:sum(), ldask.array.ones({ 100, 100 }, { chunks = 50 }):sum(), opts) }
      r[3] = (x + 1):compute(opts)
      return r
    end
  end,
  -- sum(x*x - 3) over 0..99 = 328350 - 300
  expected = { 328050, 10000, "arange" },
}

-- the issue's own sequence: ones, then a reduction, alone in its compute
workloads.ones_sum = {
  build = function()
    return function(opts)
      local r = ldask.array.ones({ 100, 100 }, { chunks = 50 }):sum():compute(opts)
      return nd.is_ndarray(r) and r:totable() or r
    end
  end,
  expected = 10000,
}

workloads.bag = {
  build = function()
    return function(opts)
      local seq = {}
      for i = 1, 20 do seq[i] = i end
      local b = ldask.bag.from_sequence(seq, { npartitions = 4 })
      local sq = b:map(function(x) return x * x end):filter(function(x) return x % 2 == 0 end)
      return { sq:compute(opts), sq:sum():compute(opts) }
    end
  end,
  expected = { { 4, 16, 36, 64, 100, 144, 196, 256, 324, 400 }, 1540 },
}

workloads.futures_in_delayed = {
  build = function(c)
    local fa = c:submit(function(x) return x + 1 end, 1)
    local fb = c:submit(function(x) return x + 2 end, 2)
    return function(opts) return ldask.delayed(add)(fa, fb):compute(opts) end
  end,
  expected = 6,
}

workloads.futures_in_collections = {
  build = function(c)
    local p1 = c:submit(function() return { 1, 2, 3 } end)
    local p2 = c:submit(function() return { 4, 5 } end)
    local blk = c:submit(function() return require("ldask.array.ndarray").ones({ 4 }) end)
    local k = c:submit(function() return 10 end)
    return function(opts)
      local b = ldask.bag.from_delayed({ p1, p2 })
      local a = ldask.array.from_delayed(blk, { 4 }, { dtype = "float64" })
      return {
        b:map(function(x, y) return x * y end, k):compute(opts),
        (a * 2):sum():compute(opts),
      }
    end
  end,
  expected = { { 10, 20, 30, 40, 50 }, 8 },
}

workloads.array_in_delayed = {
  build = function()
    return function(opts)
      local x = ldask.array.arange(10, { chunks = 4 })
      local d = ldask.delayed(function(a) return a:tolist() end)(x * 10)
      return d:compute(opts)
    end
  end,
  expected = { 0, 10, 20, 30, 40, 50, 60, 70, 80, 90 },
}

-- ldask.dataframe: a groupby mean, a filtered sum, a .dt field and the
-- rows of a filtered frame (partitions travel between states as buffers).
workloads.dataframe = {
  build = function()
    return function(opts)
      local dd = ldask.dataframe
      local d = dd.from_table({ k = { "a", "b", "a", "c", "b", "a" }, v = { 1, 2, 3, 4, 5, 6 },
        t = { "2015-01-01", "2015-01-02", "2015-01-02", "2015-01-03", "2015-01-05", "2015-01-05" } },
        { npartitions = 3, dtype = { t = "datetime64[ns]" } })
      local g = d:groupby("k").v:mean():compute(opts)
      local s = d[d.v:gt(2)].v:sum():compute(opts)
      local day = d:groupby(d.t.dt.day).v:sum():compute(opts)
      local rows = d[d.k:eq("a")][{ "k", "v" }]:compute(opts):to_rows()
      return { g:to_dict(), s, day:to_dict(), rows }
    end
  end,
  expected = { { a = 10 / 3, b = 3.5, c = 4 }, 18, { [1] = 1, [2] = 5, [3] = 4, [5] = 11 },
    { { k = "a", v = 1 }, { k = "a", v = 3 }, { k = "a", v = 6 } } },
}

-- persist on every kind of collection, then computations from the
-- persisted data (futures on a cluster, values in this process otherwise)
workloads.persist = {
  build = function()
    return function(opts)
      local dd = ldask.dataframe
      local d = dd.from_table({ k = { "a", "b", "a", "c" }, v = { 1, 2, 3, 4 } }, { npartitions = 2 })
      local pd = d:persist(opts)
      local ps = (d.v * 2):persist(opts)
      local pd2 = ldask.persist(d[d.v:gt(1)], opts)
      local x = ldask.array.arange(10, { chunks = 4 }):persist(opts)
      local b = ldask.bag.from_sequence({ 1, 2, 3, 4 }, { npartitions = 2 }):map(inc):persist(opts)
      local dl = ldask.delayed(inc)(41):persist(opts)
      return {
        pd.npartitions, pd:groupby("k").v:sum():compute(opts):to_dict(),
        ps:compute(opts):to_table(), ps:sum():compute(opts),
        dd.len(pd2:compute(opts)),
        x:sum():compute(opts), b:sum():compute(opts), dl:compute(opts),
      }
    end
  end,
  expected = { 2, { a = 4, b = 2, c = 4 }, { 2, 4, 6, 8 }, 20, 3, 45, 14, 42 },
}

-- lazy operands of dataframes: a reduction in arithmetic, a future and a
-- Delayed value as map_partitions arguments
workloads.dataframe_lazy = {
  build = function(c)
    local f = c:submit(function() return 10 end)
    return function(opts)
      local dd = ldask.dataframe
      local d = dd.from_table({ v = { 1, 2, 3, 4 }, w = { 0.5, 1.5, 2.5, 3.5 } }, { npartitions = 2 })
      local series = { meta = { name = "v", dtype = "int64" } }
      return {
        (d.v - d.v:mean()):compute(opts):to_table(),
        dd.len(d[d.w:gt(d.w:mean())]:compute(opts)),
        d:map_partitions(function(p, k) return p.v * k end, f, series):sum():compute(opts),
        d:map_partitions(function(p, k) return p.v + k end, ldask.delayed(inc)(0), series):sum():compute(opts),
        d.v:isin { 1, 4 }:astype("int64"):sum():compute(opts),
        d.w:map(function(x) return x * 2 end):compute(opts):to_table(),
        dd.concat({ d, d }).v:unique():compute(opts):to_table(),
        dd.concat({ d, d[d.v:gt(2)] }):len(),
      }
    end
  end,
  expected = { { -1.5, -0.5, 0.5, 1.5 }, 2, 100, 14, 2, { 1, 3, 5, 7 }, { 1, 2, 3, 4 }, 6 },
}

-- ldask.dataframe through the shuffle: merges (shuffled inner, outer),
-- a groupby with split_out, a custom Aggregation, drop_duplicates,
-- sort_values and a .str method.
workloads.dataframe_shuffle = {
  build = function()
    return function(opts)
      local dd = ldask.dataframe
      local l = dd.from_table({ k = { "a", "b", "a", "c", "b", "a" }, v = { 1, 2, 3, 4, 5, 6 } }, { npartitions = 3 })
      local r = dd.from_table({ k = { "a", "b", "d" }, w = { 10, 20, 40 } }, { npartitions = 2 })
      local m = l:merge(r, { on = "k" })
      local vw = (m.v * m.w):sum():compute(opts)
      local gw = m:groupby("k", { split_out = 2 }).w:sum():compute(opts):to_dict()
      local outer = dd.len(l:merge(r, { on = "k", how = "outer" }):compute(opts))
      local range = dd.Aggregation("range", function(g) return g:max(), g:min() end,
        function(mx, mn) return mx:max(), mn:min() end, function(mx, mn) return mx - mn end)
      local rg = l:groupby("k").v:agg(range):compute(opts):to_dict()
      local dedup = dd.len(l:drop_duplicates({ subset = "k" }):compute(opts))
      local top = l:sort_values("v", { ascending = false }):compute(opts).v:to_table()
      local upper = l.k.str:upper():eq("A"):astype("int64"):sum():compute(opts)
      return { vw, gw, outer, rg, dedup, { top[1], top[2], top[3] }, upper }
    end
  end,
  expected = { 240, { a = 30, b = 40 }, 7, { a = 5, b = 3, c = 0 }, 3, { 6, 5, 4 }, 3 },
}

local function arange_plus_one()
  local t = {}
  for i = 1, 100 do t[i] = i end
  return { ndarray = t, dtype = "int64" }
end

-- Runs the workloads NAMES in order on a fresh client; for each one, the
-- three schedulers must agree with each other and with the expected value.
-- COPTS: the cluster (default one worker with one thread: every task of
-- the ordering meets the same executor state, in that order).
local function run_ordering(names, copts)
  local c = ldask.Client(copts or { n_workers = 1, threads_per_worker = 1 })
  local ok, err = pcall(function()
    for _, name in ipairs(names) do
      local w = workloads[name]
      local run = w.build(c)
      local results = {}
      for _, s in ipairs(SCHEDULERS) do
        local rok, r = pcall(run, { scheduler = s })
        if not rok then error(name .. " on " .. s .. " failed: " .. tostring(r), 0) end
        results[s] = norm(r)
      end
      local expected = w.expected
      if name == "array" then
        expected = { expected[1], expected[2], arange_plus_one() }
        -- 0-d reductions: compare their value
        for _, s in ipairs(SCHEDULERS) do
          local r = results[s]
          for i = 1, 2 do
            if type(r[i]) == "table" and r[i].ndarray then r[i] = r[i].ndarray end
          end
        end
      end
      -- a 0-d array reduction at index I: compare its value
      local zero_d = ({ persist = 6, futures_in_collections = 2 })[name]
      if zero_d then
        for _, sname in ipairs(SCHEDULERS) do
          local r = results[sname]
          if type(r[zero_d]) == "table" and r[zero_d].ndarray then r[zero_d] = r[zero_d].ndarray end
        end
      end
      for _, s in ipairs(SCHEDULERS) do
        assert.same(expected, results[s], name .. " on " .. s)
      end
    end
  end)
  c:close()
  if not ok then error(err, 0) end
end

describe("the parity matrix: sync, threads and a local cluster give the same results", function()
  it("delayed, array, bag, futures in delayed and collections, arrays in delayed", function()
    run_ordering({ "delayed", "array", "bag", "futures_in_delayed", "futures_in_collections", "array_in_delayed",
      "dataframe", "dataframe_shuffle", "persist", "dataframe_lazy" })
  end)

  it("the same on two workers of two threads (data moves between them)", function()
    run_ordering({ "array", "bag", "dataframe", "delayed", "futures_in_collections", "array_in_delayed",
      "futures_in_delayed", "dataframe_shuffle" },
      { n_workers = 2, threads_per_worker = 2 })
  end)

  it("a plain submit, then an array compute, then a bag", function()
    -- a worker thread whose first task is a plain submit must still run
    -- array tasks (its executor state starts with every cdef and codec)
    run_ordering({ "submit", "ones_sum", "array", "bag", "array_in_delayed" })
  end)

  it("in a fresh process: a plain submit, then an array compute, then a bag, as a user types them", function()
    -- nothing but ldask loaded: the worker thread's first task is the plain
    -- submit, and no array module is loaded in the client yet
    local script = helpers.write_tmp("parity_fresh.lua", [[
local ldask = require "ldask"
local c = ldask.Client({ n_workers = 1, threads_per_worker = 1 })
local ok, err = pcall(function()
  io.write("submit=", c:submit(function(x) return x * 2 end, 21):result(20), "\n")
  local s = ldask.array.ones({ 100, 100 }, { chunks = 50 }):sum():compute()
  io.write("ones=", tostring(tonumber(s) or s:totable()), "\n")
  local r = ldask.array.arange(12, { chunks = 5 })
  io.write("arange=", tostring(tonumber((r * 2):sum():compute()) or (r * 2):sum():compute():totable()), "\n")
  local b = ldask.bag.from_sequence({ 1, 2, 3, 4 }, { npartitions = 2 }):map(function(x) return x + 1 end)
  io.write("bag=", table.concat(b:compute(), ","), "\n")
end)
c:close()
if not ok then io.write("error=", tostring(err), "\n") end
]])
    local out, rc = helpers.run_ldask(helpers.shell_quote(script) .. " 2>&1")
    assert.equal(0, rc, out)
    assert.not_matches("error=", out)
    assert.matches("submit=42\n", out)
    assert.matches("ones=10000\n", out)
    assert.matches("arange=132\n", out)
    assert.matches("bag=2,3,4,5\n", out)
  end)

  it("persist() without options on a current client keeps the data on the cluster, for every collection", function()
    local c = ldask.Client { n_workers = 1, threads_per_worker = 2 }
    local ok, err = pcall(function()
      local is_future = require("ldask.client.future").is_future
      local function held(coll, what)
        local g = coll:__ldask_graph()
        local n = 0
        for _, v in pairs(g) do if is_future(v) then n = n + 1 end end
        assert.is_true(n > 0, what .. ": no futures in the persisted graph")
      end
      local d = ldask.dataframe.from_table({ k = { "a", "b", "a" }, v = { 1, 2, 3 } }, { npartitions = 2 })
      local pd = d:persist()
      held(pd, "DataFrame:persist")
      assert.same({ a = 4, b = 2 }, pd:groupby("k").v:sum():compute():to_dict())
      local ps = (d.v * 10):persist()
      held(ps, "Series:persist")
      assert.same({ 10, 20, 30 }, ps:compute():to_table())
      local x = ldask.array.arange(10, { chunks = 4 }):persist()
      held(x, "Array:persist")
      assert.equal(45, x:sum():compute())
      local b = ldask.bag.from_sequence({ 1, 2, 3 }, { npartitions = 2 }):persist()
      held(b, "Bag:persist")
      assert.equal(6, b:sum():compute())
      local dl = ldask.delayed(inc)(1):persist()
      held(dl, "Delayed:persist")
      assert.equal(2, dl:compute())
      -- who_has() without arguments: every result held, by key
      local all = c:who_has()
      local n = 0
      for k, ws in pairs(all) do n = n + 1; assert.equal(1, #ws, k) end
      assert.is_true(n >= 2 + 3 + 2 + 1, "who_has() listed " .. n .. " keys")
      assert.has_error(function() c:who_has(42) end, "Client:who_has: expected a Future, a key or a list of them, got number")
    end)
    c:close()
    if not ok then error(err, 0) end
  end)

  it("futures and bags first, arrays last", function()
    run_ordering({ "futures_in_delayed", "bag", "delayed", "array_in_delayed", "futures_in_collections", "array" })
  end)

  it("checks the array workload against numpy", function()
    if not os.execute("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") then
      pending("numpy is not installed for /usr/bin/python3")
      return
    end
    local p = io.popen("/usr/bin/python3 -c 'import numpy as np; x = np.arange(100); print(int((x * x - 3).sum()), int(np.ones((100, 100)).sum()))'")
    local out = p:read("*a"); p:close()
    local a, b = out:match("(%-?%d+)%s+(%d+)")
    assert.equal(workloads.array.expected[1], tonumber(a))
    assert.equal(workloads.array.expected[2], tonumber(b))
  end)
end)
