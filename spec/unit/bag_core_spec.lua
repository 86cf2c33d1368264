-- Specs of ldask.bag: creation, element transformations, reductions,
-- foldby/groupby/topk/repartition and their errors, on every local
-- scheduler that is available (sync always; threads once it lands).
local bag = require "ldask.bag"
local ldask = require "ldask"

local schedulers = { "sync" }
if pcall(require, "ldask.scheduler.threads") then schedulers[#schedulers + 1] = "threads" end

local function pairs_to_map(list)
  local m = {}
  for _, p in ipairs(list) do m[p[1]] = p[2] end
  return m
end

local function seq(n)
  local t = {}
  for i = 1, n do t[i] = i end
  return t
end

for _, sched in ipairs(schedulers) do
  local o = { scheduler = sched }

  describe("ldask.bag on the " .. sched .. " scheduler", function()
    it("cuts a sequence into partitions and computes it back in order", function()
      local b = bag.from_sequence(seq(10), { npartitions = 3 })
      assert.equal(3, b.npartitions)
      assert.same(seq(10), b:compute(o))
      assert.equal(4, bag.from_sequence(seq(10), { partition_size = 3 }).npartitions)
      assert.equal(100, bag.from_sequence(seq(1000)).npartitions)
      assert.same({}, bag.from_sequence({}):compute(o))
    end)

    it("has keys name,i and implements the collection protocol", function()
      local b = bag.from_sequence(seq(6), { npartitions = 2 }):map(function(x) return x + 1 end)
      assert.same({ b.name .. ",0", b.name .. ",1" }, b:__ldask_keys())
      assert.matches("^map%-%x+$", b.name)
      local g = b:__ldask_graph()
      assert.is_table(g[b.name .. ",0"])
      local r1, r2 = ldask.compute(b, b:sum(), o)
      assert.same({ 2, 3, 4, 5, 6, 7 }, r1)
      assert.equal(27, r2)
    end)

    it("fuses map and filter chains into one task per partition", function()
      local b = bag.from_sequence(seq(8), { npartitions = 2 })
      local c = b:map(function(x) return x * 3 end):filter(function(x) return x % 2 == 0 end)
        :map(function(x) return x + 1 end)
      local n = 0
      for _ in pairs(c:__ldask_graph()) do n = n + 1 end
      assert.equal(2, n)
      assert.same({ 7, 13, 19, 25 }, c:compute(o))
      -- same operations, same names
      local triple = function(x) return x * 3 end
      assert.equal(b:map(triple).name, b:map(triple).name)
      assert.are_not.equal(b:map(triple).name, b:filter(triple).name)
    end)

    it("maps with extra arguments, removes, plucks, flattens and starmaps", function()
      local b = bag.from_sequence({ 1, 2, 3, 4 }, { npartitions = 2 })
      assert.same({ 11, 12, 13, 14 }, b:map(function(x, y) return x + y end, 10):compute(o))
      assert.same({ 1, 3 }, b:remove(function(x) return x % 2 == 0 end):compute(o))
      local recs = bag.from_sequence({ { a = 1, b = "x" }, { a = 2 }, { b = "y" } })
      assert.same({ "x", "none", "y" }, recs:pluck("b", "none"):compute(o))
      assert.same({ 10, 20 }, bag.from_sequence({ { 10, 20 } }):pluck(1):compute(o)
        and bag.from_sequence({ { 10 }, { 20 } }):pluck(1):compute(o))
      assert.same({ 1, 2, 3 }, bag.from_sequence({ { 1, 2 }, {}, { 3 } }):flatten():compute(o))
      assert.same({ 3, 7 }, bag.from_sequence({ { 1, 2 }, { 3, 4 } }):starmap(function(x, y) return x + y end):compute(o))
    end)

    it("computes count, sum, min, max, mean, var, std, any, all", function()
      local b = bag.from_sequence({ 4, 8, 15, 16, 23, 42 }, { npartitions = 4 })
      assert.equal(6, b:count():compute(o))
      assert.equal(108, b:sum():compute(o))
      assert.equal(4, b:min():compute(o))
      assert.equal(42, b:max():compute(o))
      assert.equal(18, b:mean():compute(o))
      local var0 = ((4-18)^2 + (8-18)^2 + (15-18)^2 + (16-18)^2 + (23-18)^2 + (42-18)^2) / 6
      assert.near(var0, b:var():compute(o), 1e-9)
      assert.near(var0 * 6 / 5, b:var({ ddof = 1 }):compute(o), 1e-9)
      assert.near(math.sqrt(var0), b:std():compute(o), 1e-9)
      assert.is_true(b:map(function(x) return x > 40 end):any():compute(o))
      assert.is_false(b:map(function(x) return x > 4 end):all():compute(o))
      assert.equal(0, bag.from_sequence({}):sum():compute(o))
      assert.equal(0, bag.from_sequence({}):count():compute(o))
    end)

    it("reduces in a tree with split_every", function()
      local b = bag.from_sequence(seq(100), { npartitions = 50 })
      local item = b:sum({ split_every = 3 })
      local n = 0
      for _ in pairs(item:__ldask_graph()) do n = n + 1 end
      assert.is_true(n > 51) -- partitions + intermediate levels + final
      assert.equal(5050, item:compute(o))
      assert.equal(5050, b:count({ split_every = 2 }):compute(o) * 101 / 2)
    end)

    it("runs a user reduction and a fold", function()
      local b = bag.from_sequence(seq(10), { npartitions = 4 })
      local r = b:reduction(function(p) return #p end, function(ps)
        local s = 0; for _, v in ipairs(ps) do s = s + v end; return s end)
      assert.equal(10, r:compute(o))
      assert.equal(55, b:fold(function(a, x) return a + x end):compute(o))
      assert.equal(3628800, b:fold(function(a, x) return a * x end, nil, 1):compute(o))
      assert.equal(7, bag.from_sequence({}):fold(function(a, x) return a + x end, nil, 7):compute(o))
      assert.equal(56, b:sum():apply(function(v, d) return v + d end, 1):compute(o))
    end)

    it("counts frequencies, sorted on request", function()
      local b = bag.from_sequence({ "a", "b", "a", "c", "a", "b" }, { npartitions = 3 })
      assert.same({ a = 3, b = 2, c = 1 }, pairs_to_map(b:frequencies():compute(o)))
      assert.same({ { "a", 3 }, { "b", 2 }, { "c", 1 } }, b:frequencies({ sort = true }):compute(o))
      assert.equal(1, b:frequencies().npartitions)
    end)

    it("finds distinct elements in first-seen order, by key too", function()
      assert.same({ 3, 1, 2 }, bag.from_sequence({ 3, 1, 3, 2, 1 }, { npartitions = 2 }):distinct():compute(o))
      local recs = bag.from_sequence({ { k = "x", v = 1 }, { k = "y", v = 2 }, { k = "x", v = 3 } })
      assert.same({ 1, 2 }, recs:distinct("k"):pluck("v"):compute(o))
    end)

    it("folds by key with initial, combine and combine_initial", function()
      local b = bag.from_sequence(seq(10), { npartitions = 3 })
      local even = function(x) return x % 2 == 0 end
      local add = function(a, x) return a + x end
      assert.same({ [false] = 25, [true] = 30 }, pairs_to_map(b:foldby(even, add):compute(o)))
      assert.same({ [false] = 25, [true] = 30 }, pairs_to_map(b:foldby(even, add, 0, add, 0):compute(o)))
      -- counting per key: binop counts, combine adds the counts, + 100 once
      local cnt = b:foldby(even, function(a) return a + 1 end, 0, add, 100):compute(o)
      assert.same({ [false] = 105, [true] = 105 }, pairs_to_map(cnt))
      local recs = bag.from_sequence({ { n = "a", v = 1 }, { n = "b", v = 2 }, { n = "a", v = 3 } }, { npartitions = 2 })
      local by = recs:foldby("n", function(a, r) return a + r.v end, 0, add):compute(o)
      assert.same({ a = 4, b = 2 }, pairs_to_map(by))
    end)

    it("groups by key across partitions with a hash shuffle", function()
      local b = bag.from_sequence(seq(20), { npartitions = 4 })
      local g = b:groupby(function(x) return x % 3 end, { npartitions = 2 })
      assert.equal(2, g.npartitions)
      local m = pairs_to_map(g:compute(o))
      assert.same({ 3, 6, 9, 12, 15, 18 }, m[0])
      assert.same({ 1, 4, 7, 10, 13, 16, 19 }, m[1])
      assert.same({ 2, 5, 8, 11, 14, 17, 20 }, m[2])
      local words = bag.from_sequence({ "apple", "avocado", "banana", "blueberry", "cherry" }, { npartitions = 3 })
      local byfirst = pairs_to_map(words:groupby(function(w) return w:sub(1, 1) end):compute(o))
      assert.same({ "apple", "avocado" }, byfirst.a)
      assert.same({ "banana", "blueberry" }, byfirst.b)
      local sizes = g:map(function(p) return #p[2] end):sum():compute(o)
      assert.equal(20, sizes)
    end)

    it("takes the top k, by key too", function()
      local b = bag.from_sequence({ 5, 1, 9, 3, 7, 2 }, { npartitions = 3 })
      assert.same({ 9, 7, 5 }, b:topk(3):compute(o))
      assert.same({}, b:topk(0):compute(o))
      local recs = bag.from_sequence({ { v = 2 }, { v = 8 }, { v = 5 } }, { npartitions = 2 })
      assert.same({ { v = 8 }, { v = 5 } }, recs:topk(2, "v"):compute(o))
      assert.same({ 1, 2 }, b:topk(2, function(x) return -x end):compute(o))
    end)

    it("repartitions to fewer and more partitions, keeping the order", function()
      local b = bag.from_sequence(seq(10), { npartitions = 3 })
      local fewer = b:repartition(2)
      assert.equal(2, fewer.npartitions)
      assert.same(seq(10), fewer:compute(o))
      local more = b:repartition(7)
      assert.equal(7, more.npartitions)
      assert.same(seq(10), more:compute(o))
      assert.same({ 1, 1, 2, 2, 2, 1, 1 }, more:map_partitions(function(p) return { #p } end):compute(o))
    end)

    it("maps partitions and concatenates bags", function()
      local b = bag.from_sequence(seq(6), { npartitions = 2 })
      assert.same({ 6, 15 }, b:map_partitions(function(p)
        local s = 0; for _, v in ipairs(p) do s = s + v end; return { s } end):compute(o))
      local c = bag.concat({ b, bag.from_sequence({ 7, 8 }) })
      assert.equal(4, c.npartitions)
      assert.same(seq(8), c:compute(o))
    end)

    it("makes ranges and bags from delayed values", function()
      assert.equal(4950, bag.range(100, { npartitions = 7 }):sum():compute(o))
      assert.same({ 0, 1, 2 }, bag.range(3):compute(o))
      local parts = {}
      for i = 1, 3 do parts[i] = ldask.delayed(function(n) return { n, n * 10 } end)(i) end
      local b = bag.from_delayed(parts)
      assert.equal(3, b.npartitions)
      assert.same({ 1, 10, 2, 20, 3, 30 }, b:compute(o))
      assert.equal(66, b:sum():compute(o))
    end)

    it("maps with items and zipped bags as arguments", function()
      local a = bag.from_sequence({ 1, 2, 3, 4, 5, 6 }, { npartitions = 2 })
      local b = bag.from_sequence({ 10, 20, 30, 40, 50, 60 }, { npartitions = 2 })
      assert.same({ 11, 22, 33, 44, 55, 66 }, a:map(function(x, y) return x + y end, b):compute(o))
      assert.same({ 1 / 21, 2 / 21 }, a:map(function(x, t) return x / t end, a:sum()):take(2, o))
      local even = function(x) return x % 2 == 0 end
      assert.same({ 2002, 4004, 6006 }, a:filter(even)
        :map(function(x, y, t, k) return x * 1000 + y + t + k end, a:filter(even), a:sum(), -21):compute(o))
      local z = bag.zip(a, b, a):compute(o)
      assert.same({ 6, 60, 6 }, z[6])
      assert.error_matches(function()
        a:map(function(x) return x end, bag.from_sequence({ 1, 2, 3 }, { npartitions = 2 })):compute(o)
      end, "partition %d of the bag in argument 2 has %d elements, fewer than the mapped bag's")
      assert.error_matches(function()
        a:map(function(x) return x end, bag.from_sequence({ 1, 2, 3, 4, 5, 6, 7, 8 }, { npartitions = 2 })):compute(o)
      end, "has 4 elements, the mapped bag's has 3")
      assert.error_matches(function() a:map(function(x) return x end, bag.from_sequence({ 1 })) end,
        "has 1 partitions, the mapped bag 2")
    end)

    it("plucks several fields, samples reproducibly, makes products and delayed partitions", function()
      local recs = bag.from_sequence({ { a = 1, b = 2 }, { a = 3, b = 4 } })
      assert.same({ { 2, 1 }, { 4, 3 } }, recs:pluck({ "b", "a" }):compute(o))
      local r = bag.range(1000, { npartitions = 4 })
      local s1, s2 = r:random_sample(0.1, 42):compute(o), r:random_sample(0.1, 42):compute(o)
      assert.same(s1, s2)
      assert.is_true(#s1 > 50 and #s1 < 150)
      assert.equal(0, r:random_sample(0, 1):count():compute(o))
      assert.equal(1000, r:random_sample(1, 1):count():compute(o))
      local p = bag.from_sequence({ 1, 2 }, { npartitions = 2 }):product(bag.from_sequence({ "x", "y", "z" }))
      assert.same({ { 1, "x" }, { 1, "y" }, { 1, "z" }, { 2, "x" }, { 2, "y" }, { 2, "z" } }, p:compute(o))
      local ds = bag.from_sequence({ 1, 2, 3, 4 }, { npartitions = 2 }):map(function(x) return x * 2 end):to_delayed()
      assert.equal(2, #ds)
      assert.same({ 6, 8 }, ds[2]:compute(o))
      assert.same({ 8, 12 }, ldask.compute(ldask.delayed(function(p1, p2)
        return { p1[1] + p2[1], p1[2] + p2[2] } end)(ds[1], ds[2]), o))
    end)

    it("accumulates across partitions and joins with an array or a bag", function()
      local b = bag.from_sequence({ 1, 2, 3, 4, 5 }, { npartitions = 3 })
      local add = function(a, x) return a + x end
      assert.same({ 1, 3, 6, 10, 15 }, b:accumulate(add):compute(o))
      assert.same({ 100, 101, 103, 106, 110, 115 }, b:accumulate(add, 100):compute(o))
      assert.equal(3, b:accumulate(add).npartitions)
      local people = bag.from_sequence({ { name = "Al", fruit = "apple" }, { name = "Bo", fruit = "kiwi" },
        { name = "Cy", fruit = "fig" } }, { npartitions = 2 })
      local fruit = { { fruit = "apple", color = "red" }, { fruit = "kiwi", color = "green" },
        { fruit = "apple", color = "green" } }
      local function names(pairs_)
        local out = {}
        for i, p in ipairs(pairs_) do out[i] = p[2].name .. "-" .. p[1].color end
        return out
      end
      local expect = { "Al-red", "Al-green", "Bo-green" }
      assert.same(expect, names(people:join(fruit, "fruit"):compute(o)))
      assert.same(expect, names(people:join(bag.from_sequence(fruit, { npartitions = 1 }), "fruit"):compute(o)))
      assert.same(expect, names(people:join(fruit, function(p) return p.fruit end, "fruit"):compute(o)))
      assert.error_matches(function() people:join(bag.from_sequence(fruit, { npartitions = 2 }), "fruit") end,
        "repartition%(1%) it first")
    end)

    it("unzips, persists, and turns items into delayed values", function()
      local pairs_ = bag.from_sequence({ { 1, "a" }, { 2, "b" }, { 3, "c" } }, { npartitions = 2 })
      local nums, letters = pairs_:unzip(2)
      assert.same({ 1, 2, 3 }, nums:compute(o))
      assert.same({ "a", "b", "c" }, letters:compute(o))
      local b = bag.range(10, { npartitions = 3 }):map(function(x) return x * x end)
      local p = b:persist(o)
      assert.equal(3, p.npartitions)
      assert.equal(b.name, p.name)
      assert.same(b:compute(o), p:compute(o))
      assert.equal(285, p:sum():compute(o))
      -- persisted partitions are data: no task of b runs again
      local n, tasks = 0, 0
      for _, t in pairs(p:map(function(x) return x end):__ldask_graph()) do
        n = n + 1
        if require("ldask.graph").is_task(t) then tasks = tasks + 1 end
      end
      assert.equal(6, n)
      assert.equal(3, tasks) -- the map's own: b's partitions are data
      
      local d = p:sum():to_delayed()
      assert.equal(286, ldask.compute(ldask.delayed(function(v) return v + 1 end)(d), o))
    end)

    it("takes the first elements, computing only the partitions needed", function()
      local b = bag.from_sequence(seq(100), { npartitions = 10 })
      assert.same({ 1, 2, 3 }, b:take(3, o))
      assert.same(seq(15), b:take(15, o))
      assert.same(seq(100), b:take(1000, o))
      assert.same({}, b:take(0, o))
      -- only the first partition runs for a small take
      local f = b:map(function(x) if x > 10 then error("partition beyond the first was computed") end; return x end)
      assert.same({ 1, 2 }, f:take(2, o))
    end)
  end)
end

describe("ldask.bag.range as compact layers", function()
  local L = require "ldask.layer"
  it("runs its partitions and reductions on threads without writing them out, as sync does", function()
    local scale = bag.from_sequence({ 3 }):sum() -- an Item: the same value for every element
    local b = bag.range(100000, { npartitions = 5000 }):map(function(i, k) return i * k end, scale)
      :filter(function(v) return v % 2 == 0 end)
    local total, count, top = b:sum(), b:count(), b:topk(2)
    local want = { ldask.compute(total, count, top, { scheduler = "sync" }) }
    local saved = L.materialize
    L.materialize = function() error("materialized", 0) end
    local ok, got = pcall(function() return { ldask.compute(total, count, top, { scheduler = "threads" }) } end)
    L.materialize = saved
    assert(ok, got)
    assert.same(want, got)
    assert.equal(3 * 2 * (49999 * 50000 / 2), want[1]) -- 3i for even i: 6 * (0 + 1 + ... + 49999)
    assert.equal(50000, want[2])
    -- the partitions themselves, and a layer the bag's pipeline reads by position
    assert.same(bag.range(10, { npartitions = 4 }):compute(), { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 })
    local layers = bag.range(10, { npartitions = 4 }):map(tostring):__ldask_layers()
    local compact = 0
    for _, g in pairs(layers) do if L.is_layer(g) then compact = compact + 1 end end
    assert.equal(1, compact)
  end)
end)

describe("ldask.bag errors", function()
  local o = { scheduler = "sync" }

  it("refuses bad arguments at the caller", function()
    local b = bag.from_sequence({ 1, 2 })
    assert.error_matches(function() b:map(42) end, "bag.map function must be a function, got number")
    assert.error_matches(function() bag.from_sequence("nope") end, "expected an array")
    assert.error_matches(function() bag.from_sequence({ 1, nil, 3, x = 1 }) end, "not an array")
    assert.error_matches(function() bag.from_sequence({ 1 }, { npartitions = 0 }) end, "npartitions must be a positive integer")
    assert.error_matches(function() b:repartition(-1) end, "npartitions must be a positive integer")
    assert.error_matches(function() b:topk("x") end, "k must be a non%-negative integer")
    assert.error_matches(function() b:take(-2) end, "n must be a non%-negative integer")
    assert.error_matches(function() b:sum({ split_every = 1 }) end, "split_every must be an integer >= 2")
    assert.error_matches(function() bag.concat({ b, 3 }) end, "item 2 is a number, not a bag")
    assert.error_matches(function() b.map(nil, print) end, "expected a bag")
    assert.error_matches(function() b:map_partitions(function(p) return p end, bag.from_sequence({})) end,
      "argument 2 is a lazy bag")
  end)

  it("refuses functions that cannot travel to the executors when the bag is built", function()
    local co = coroutine.create(print)
    local b = bag.from_sequence({ 1, 2 })
    assert.error_matches(function() b:map(function() return co end) end,
      "cannot ship bag.map function: .*upvalue 'co' is a coroutine")
    assert.error_matches(function() b:filter(function() return co end) end, "cannot ship bag.filter predicate")
    assert.error_matches(function() b:foldby(function() return co end, function(a) return a end) end,
      "cannot ship bag.foldby key")
  end)

  it("reports element errors with the task key and the cause", function()
    local b = bag.from_sequence({ { a = 1 }, {} }, { npartitions = 2 })
    local ok, err = pcall(function() return b:pluck("a"):compute(o) end)
    assert.is_false(ok)
    assert.matches("pluck%-%x+,1", tostring(err))
    assert.matches('no field "a"', tostring(err))
    assert.error_matches(function() bag.from_sequence({ 1, "x" }):sum():compute(o) end, 'element is a string %("x"%), not a number')
    assert.error_matches(function() bag.from_sequence({}):max():compute(o) end, "bag.max: the bag is empty")
    assert.error_matches(function() bag.from_sequence({}):mean():compute(o) end, "bag.mean: the bag is empty")
    assert.error_matches(function() bag.from_sequence({ 1 }):map(function() end):compute(o) end, "returned nil")
    assert.error_matches(function() bag.from_sequence({ {}, {} }):frequencies():compute(o) end, "key must be a string, number or boolean, got table")
    assert.error_matches(function() bag.from_sequence({ 0 / 0 }):frequencies():compute(o) end, "key is NaN")
    assert.error_matches(function() bag.from_sequence({ 1 }):map_partitions(function() return 5 end):compute(o) end,
      "expected an array")
    assert.error_matches(function() bag.from_sequence({ 1, 2 }):flatten():compute(o) end, "bag.flatten: element is a number")
  end)
end)
