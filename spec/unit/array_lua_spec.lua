-- ldask.array from Lua's side: a reduction to one value computes to a Lua
-- value (numbers, booleans, exact int64 beyond 2^53), tonumber on 0-d
-- ndarrays, x.blocks block selection, and the Lua traps (x[1], #x, a
-- map_blocks function returning a number) raising errors that name the fix
-- at the user's line.
local helpers = require "helpers"
local da = require "ldask.array"
local nd = require "ldask.array.ndarray"
local ldask = require "ldask"

local THIS = "array_lua_spec.lua:"

describe("ldask.array values in Lua", function()
  for _, sched in ipairs({ "sync", "threads" }) do
    local o = { scheduler = sched }
    it("computes a reduction to one value to a Lua value (" .. sched .. ")", function()
      local x = da.ones({ 100, 100 }, { chunks = 50 })
      local s = x:sum():compute(o)
      assert.equal("number", type(s))
      assert.equal(10000, s)
      assert.equal("10000", tostring(s))
      assert.equal(1, x:mean():compute(o))
      assert.is_true(x:gt(0):all():compute(o))
      assert.is_false(x:gt(1):any():compute(o))
      assert.is_false(da.allclose(x, x + 1):compute(o))
      assert.equal(4, da.arange(5, { chunks = 2, dtype = "int32" }):max():compute(o))
      local a, b = ldask.compute(x:sum(), x:max(), o)
      assert.equal(10000, a)
      assert.equal(1, b)
      -- int64 beyond 2^53 stays exact: an int64_t cdata
      local big = da.from_table({ 2 ^ 53, 1, 2 }, { chunks = 1 }):sum():compute(o)
      assert.equal("cdata", type(big))
      assert.is_true(big == 9007199254740995LL)
      assert.equal("9007199254740995LL", tostring(big))
      assert.equal(2 ^ 53, da.from_table({ 2 ^ 53 }):sum():compute(o)) -- within 2^53: a number
      -- arrays with axes stay ndarrays
      assert.is_true(nd.is_ndarray(x:sum(0):compute(o)))
    end)
  end

  it("prints 10000 for print(x:sum():compute())", function()
    local script = helpers.write_tmp("print_sum.lua",
      "print(ldask.array.ones({100, 100}, {chunks = 50}):sum():compute())\n")
    local out, rc = helpers.run_ldask(helpers.shell_quote(script))
    assert.equal(0, rc)
    assert.equal("10000\n", out)
  end)

  it("converts 0-d ndarrays with tonumber and item", function()
    assert.equal(3.5, tonumber(nd.full({}, 3.5)))
    assert.equal(7, tonumber(nd.full({}, 7, "int32")))
    assert.equal(1, tonumber(nd.full({}, true, "bool")))
    assert.equal(6, tonumber(nd.from_table({ 1, 2, 3 }):sum()))
    assert.is_nil(tonumber(nd.ones({ 2 })))             -- like any value tonumber cannot convert
    assert.equal(255, tonumber("ff", 16))               -- the rest is Lua's tonumber
    assert.equal(12, tonumber(" 12 "))
    assert.is_nil(tonumber({}))
    local big = nd.full({}, 2 ^ 53 + 2, "int64")
    assert.is_true(big:item() == 9007199254740994LL)
    assert.equal(2 ^ 53 + 2, tonumber(big))
    assert.is_true(nd.from_table({ true }):sum(0, true):astype("bool"):item())
  end)
end)

describe("x.blocks", function()
  local t = {}
  for i = 1, 5 do
    t[i] = {}
    for j = 1, 7 do t[i][j] = (i - 1) * 7 + (j - 1) end
  end
  local x = da.from_table(t, { chunks = { { 2, 3 }, { 3, 2, 2 } } })
  local full = x:compute()

  it("selects blocks by 0-based index, range and step, keeping every axis", function()
    assert.same({ 2, 3 }, x.blocks.shape)
    assert.equal(6, x.blocks.size)
    assert.equal(2, x.blocks.ndim)
    local b = x.blocks[{ 1, { 0, nil, 2 } }]
    assert.is_true(da.is_array(b))
    assert.same({ { 3 }, { 3, 2 } }, b.chunks)
    local want = nd.concatenate({ full:slice { { 2, 5 }, { 0, 3 } }, full:slice { { 2, 5 }, { 5, 7 } } }, 1)
    assert.same(want:totable(), b:compute():totable())
    assert.same(full:slice { { 2, 5 } }:totable(), x.blocks[-1]:compute():totable())
    assert.same(full:slice { ":", { 3, 5 } }:totable(), x.blocks[{ ":", 1 }]:compute():totable())
    local rev = x.blocks[{ { nil, nil, -1 } }]:compute()
    assert.same(nd.concatenate({ full:slice { { 2, 5 } }, full:slice { { 0, 2 } } }, 0):totable(), rev:totable())
    local list = x.blocks:ravel()
    assert.equal(6, #list)
    assert.same(full:slice { { 2, 5 }, { 5, 7 } }:totable(), list[6]:compute():totable())
    assert.same(list[2]:compute():totable(), x:block(0, 1):compute():totable())
    -- one task per selected block, each naming its source block
    local n = 0
    for k, task in pairs(b.layers[b.name]) do
      n = n + 1
      assert.truthy(task[2]:find("^" .. x.name:gsub("%-", "%%-") .. ",1,[02]$"), k)
    end
    assert.equal(2, n)
  end)

  it("raises at the user's line for bad selections", function()
    local ok, err = pcall(function() return x.blocks[{ 2 }] end)
    assert.is_false(ok)
    assert.truthy(err:find(THIS, 1, true), err)
    assert.truthy(err:find("blocks: index 2 out of range for axis 0 with 2 blocks", 1, true), err)
    ok, err = pcall(function() return x.blocks[{ 0, 0, 0 }] end)
    assert.truthy(err:find(THIS .. debug.getinfo(1, "l").currentline - 1
      .. ": blocks: 3 indices for a 2-d array with numblocks (2, 3)", 1, true), err)
    assert.has_error(function() return x.blocks[{ { 1, 1 } }] end)
    ok, err = pcall(function() return x.blocks.nope end)
    assert.truthy(err:find("x.blocks[{i, j}]", 1, true), err)
    assert.has_error(function() return x:block(0) end)
  end)
end)

describe("Lua traps on arrays", function()
  local x = da.ones({ 3, 4 }, { chunks = 2 })

  it("x[1] and #x raise naming what to write instead", function()
    local ok, err = pcall(function() return x[1] end)
    assert.is_false(ok)
    assert.truthy(err:find(THIS, 1, true), err)
    assert.truthy(err:find("x[{1}] or x:slice{1}", 1, true), err)
    assert.truthy(err:find("x.shape[1]", 1, true), err)
    ok, err = pcall(function() return #x end)
    assert.is_false(ok)
    assert.truthy(err:find(THIS, 1, true), err)
    assert.truthy(err:find("x.shape[1] is the size of axis 0", 1, true), err)
    assert.has_error(function() return x[true] end)
    local ok, err = pcall(function() return x[x == 1] end)
    assert.is_false(ok)
    assert.matches("array_lua_spec.lua:%d+: x%[false%]: indexed with a boolean: .*write x%[x:eq%(1%)%]", err)
    -- the supported forms still work
    assert.equal(3, x.shape[1])
    assert.same({ 1, 1, 1, 1 }, x[{ 0 }]:compute():totable())
    assert.is_nil(x.no_such_field)
  end)

  it("keeps arrays usable as collections (proxies)", function()
    assert.equal("userdata", type(x))
    assert.is_true(da.is_array(x))
    assert.is_true(ldask.is_collection(x))
    assert.equal(require("ldask.tokenize").tokenize(x), require("ldask.tokenize").tokenize(x))
    assert.are_not.equal(require("ldask.tokenize").tokenize(x), require("ldask.tokenize").tokenize(x + 1))
    local d = ldask.delayed(function(a) return a:sum():item() end)(x)
    assert.equal(12, d:compute({ scheduler = "sync" }))
    x.note = "mine"                                   -- fields can still be set
    assert.equal("mine", x.note)
    assert.equal(12, (x * 1):sum():compute())
  end)

  it("map_blocks passes other arguments: Delayed values by value, strings and tables as they are", function()
    local x = da.arange(10, { chunks = 5 })
    local d = ldask.delayed(function() return 100 end)()
    local f = function(b, k, s, t) return b + k + #s + t[1] end
    for _, sched in ipairs({ "sync", "threads" }) do
      local o = { scheduler = sched }
      assert.same({ 104, 105, 106, 107, 108, 109, 110, 111, 112, 113 },
        x:map_blocks(f, d, "abc", { 1 }):compute(o):totable())
      assert.equal(1065, da.map_blocks(f, x, d, "ab", { 0 }, { name = "g" }):sum():compute(o))
    end
    local ok, err = pcall(function() x:map_blocks(f, ldask.bag.range(3, { npartitions = 2 })) end)
    assert.is_false(ok)
    assert.truthy(err:find(THIS .. (debug.getinfo(1, "l").currentline - 2)
      .. ": map_blocks: argument 2 is a collection of several keys", 1, true), err)
  end)

  it("map_blocks returning a number says so, naming the block", function()
    local ok, err = pcall(function()
      return x:map_blocks(function(b) return b:sum():item() end):compute({ scheduler = "sync" })
    end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("map_blocks: the function returned a number %(%d%) for block %(%d, %d%), "
      .. "expected an ndarray"), tostring(err))
    ok, err = pcall(function() return x:map_blocks(function() end):compute({ scheduler = "sync" }) end)
    assert.truthy(tostring(err):find("returned nothing %(nil%) for block %(%d, %d%)"), tostring(err))
    -- a 0-d array may map to a number
    assert.equal(6, da.map_blocks(function(b) return b:item() * 2 end, da.full({}, 3)):compute())
  end)
end)
