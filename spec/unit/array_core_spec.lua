-- Specs of the ldask.array collection: creation, chunks, elementwise
-- operations across different chunkings, tree reductions, slicing (steps,
-- negative steps, empty slices, only the needed blocks), structure
-- operations, dot, map_blocks, from_delayed, and their errors; on every
-- local scheduler available.
local ldask = require "ldask"
local da = require "ldask.array"
local nd = require "ldask.array.ndarray"

local schedulers = { "sync" }
if pcall(require, "ldask.scheduler.threads") then schedulers[#schedulers + 1] = "threads" end

local function close(a, b, tol)
  tol = tol or 1e-9
  if type(a) == "table" then
    assert.equal(#b, #a)
    for i = 1, #a do close(a[i], b[i], tol) end
  else
    assert.is_true(math.abs(a - b) <= tol * math.max(1, math.abs(b)),
      ("expected %.17g, got %.17g"):format(b, a))
  end
end

-- 0..n-1 reshaped, as a plain Lua nested table (the reference values)
local function grid(r, c)
  local t = {}
  for i = 1, r do
    t[i] = {}
    for j = 1, c do t[i][j] = (i - 1) * c + (j - 1) end
  end
  return t
end

describe("ldask.array chunks", function()
  it("normalizes chunk specs like dask", function()
    assert.same({ { 4, 4, 2 } }, da.normalize_chunks(4, { 10 }))
    assert.same({ { 2, 2 }, { 5 } }, da.normalize_chunks({ 2, -1 }, { 4, 5 }))
    assert.same({ { 1, 3 }, { 5 } }, da.normalize_chunks({ { 1, 3 }, false }, { 4, 5 }))
    assert.same({ { 0 } }, da.normalize_chunks(3, { 0 }))
    local auto = da.normalize_chunks("auto", { 100000, 1000 })
    assert.equal(1000, auto[2][1])
    assert.is_true(auto[1][1] * 1000 * 8 <= 128 * 2 ^ 20)
    assert.has_error(function() da.normalize_chunks({ { 1, 2 } }, { 4 }) end,
      "chunks: block sizes at axis 0 add up to 3, not the dimension 4")
    assert.has_error(function() da.normalize_chunks({ 2 }, { 4, 4 }) end)
    assert.has_error(function() da.normalize_chunks(0, { 4 }) end)
  end)

  it("describes shape, dtype, numblocks and blocks", function()
    local x = da.ones({ 10, 6 }, { chunks = { 4, 3 } })
    assert.same({ 10, 6 }, x.shape)
    assert.equal(2, x.ndim)
    assert.equal("float64", x.dtype)
    assert.same({ { 4, 4, 2 }, { 3, 3 } }, x.chunks)
    assert.same({ 3, 2 }, x.numblocks)
    assert.equal(480, x.nbytes)
    assert.equal(60, x.size)
    assert.matches("shape=%(10, 6%)", tostring(x))
    local keys = x:__ldask_keys()
    assert.equal(3, #keys)
    assert.equal(2, #keys[1])
    assert.same({ 2, 3 }, x:block(2, 1):compute({ scheduler = "sync" }).shape)
    assert.has_error(function() x:block(3, 0) end, "block: index 3 out of range for axis 0 with 3 blocks")
  end)
end)

for _, sched in ipairs(schedulers) do
  local o = { scheduler = sched }

  describe("ldask.array on the " .. sched .. " scheduler", function()
    it("creates arrays", function()
      assert.same({ { 1, 1, 1 }, { 1, 1, 1 } }, da.ones({ 2, 3 }, { chunks = 2 }):compute(o):totable())
      assert.same({ 0, 0, 0 }, da.zeros(3, { chunks = 2, dtype = "int32" }):compute(o):totable())
      assert.equal("int32", da.zeros(3, { dtype = "int32" }):compute(o).dtype)
      assert.same({ 7, 7 }, da.full({ 2 }, 7, { chunks = 1 }):compute(o):totable())
      assert.same({ 0, 1, 2, 3, 4 }, da.arange(5, { chunks = 2 }):compute(o):totable())
      assert.same({ 2, 5, 8 }, da.arange(2, 10, 3, { chunks = 2 }):compute(o):totable())
      close(da.arange(0, 1, 0.25, { chunks = 3 }):compute(o):totable(), { 0, 0.25, 0.5, 0.75 })
      close(da.linspace(0, 1, 5, { chunks = 2 }):compute(o):totable(), { 0, 0.25, 0.5, 0.75, 1 })
      close(da.linspace(0, 1, 4, { chunks = 3, endpoint = false }):compute(o):totable(), { 0, 0.25, 0.5, 0.75 })
      assert.same({ { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } }, da.eye(3, { chunks = 2 }):compute(o):totable())
      assert.same({ { 0, 1, 0, 0 }, { 0, 0, 1, 0 } }, da.eye(2, { m = 4, k = 1, chunks = { 1, 3 } }):compute(o):totable())
      assert.same(grid(3, 4), da.from_table(grid(3, 4), { chunks = { 2, 3 } }):compute(o):totable())
      local a = nd.from_table(grid(4, 4))
      assert.same(grid(4, 4), da.from_ndarray(a, { chunks = 3 }):compute(o):totable())
      assert.has_error(function() da.ones({ -1 }) end, "ones: bad dimension -1 at axis 0")
      assert.has_error(function() da.ones({ 2 }, { dtype = "complex" }) end)
    end)

    it("makes random arrays that do not depend on chunking", function()
      local a = da.random.random({ 20, 30 }, { seed = 3, chunks = { 7, 11 } }):compute(o)
      local b = da.random.random({ 20, 30 }, { seed = 3, chunks = { 20, 4 } }):compute(o)
      assert.same(a:totable(), b:totable())
      assert.is_true(a:min():item() >= 0 and a:max():item() < 1)
      local n = da.random.normal({ 100000 }, { seed = 1, loc = 5, scale = 2, chunks = 30000 })
      close(n:mean():compute(o), 5, 0.01)
      close(n:std():compute(o), 2, 0.02)
      -- dask's argument order: normal(loc, scale, size, {chunks}) gives the same values
      local n2 = da.random.normal(5, 2, { 100000 }, { seed = 1, chunks = 50000 })
      assert.same(n:compute(o):totable(), n2:compute(o):totable())
      local ok, err = pcall(function() local r = da.random.normal(0, "1", { 3 }); return r end)
      assert.is_false(ok)
      assert.matches("array_core_spec.lua:%d+: random.normal: expected %(loc, scale, shape, opts%)", err)
      local r = da.random.randint(0, 3, { 1000 }, { seed = 1, chunks = 300 }):compute(o)
      assert.equal("int64", r.dtype)
      assert.equal(0, r:min():item())
      assert.equal(2, r:max():item())
      local f = da.random.random({ 10 }, { seed = 1, dtype = "float32" })
      assert.equal("float32", f:compute(o).dtype)
      assert.has_error(function() da.random.randint(0, 3, { 4 }, { dtype = "float64" }) end)
    end)

    it("computes elementwise operations across different chunkings and broadcasting", function()
      local x = da.from_table(grid(6, 4), { chunks = { 4, 3 } })
      local y = da.from_table(grid(6, 4), { chunks = { 2, 1 } })
      local s = (x + y * 2):compute(o)
      local want = {}
      for i, row in ipairs(grid(6, 4)) do
        want[i] = {}
        for j, v in ipairs(row) do want[i][j] = 3 * v end
      end
      assert.same(want, s:totable())
      local row = da.from_table({ 10, 20, 30, 40 }, { chunks = 3 })
      local b = (x + row):compute(o)
      assert.same({ 10, 21, 32, 43 }, b:totable()[1])
      local col = da.from_table({ { 1 }, { 2 }, { 3 }, { 4 }, { 5 }, { 6 } }, { chunks = { 5, 1 } })
      assert.same({ 6, 7, 8, 9 }, (x + col):compute(o):totable()[2])
      assert.same({ { 0, 1, 2, 3 } }, (x:slice({ { 0, 1 } }) * 1):compute(o):totable())
      assert.same({ 0, 1, 2, 3 }, (2 * x - x):compute(o):totable()[1])
      close((x / 4):compute(o):totable()[1], { 0, 0.25, 0.5, 0.75 })
      assert.same({ true, false, false, false }, x:lt(1):compute(o):totable()[1])
      assert.same({ 0, 1, 4, 9 }, (x ^ 2):compute(o):totable()[1])
      close(da.sqrt(x):compute(o):totable()[2], { 2, math.sqrt(5), math.sqrt(6), math.sqrt(7) })
      assert.same({ 0, -1, -2, -3 }, (-x):compute(o):totable()[1])
      assert.same({ 0, 1, 2, 3 }, da.maximum(x, 0):compute(o):totable()[1])
      assert.same({ 100, 1, 2, 3 }, da.where(x:eq(0), 100, x):compute(o):totable()[1])
      local xnd = nd.from_table({ 1, 1, 1, 1 })
      assert.same({ 1, 2, 3, 4 }, (x + xnd):compute(o):totable()[1])
      assert.equal("float32", x:astype("float32"):compute(o).dtype)
      assert.has_error(function() return x + da.ones({ 3, 4 }) end,
        "add: shapes (6, 4) and (3, 4) do not broadcast (axis 0)")
      assert.has_error(function() return x + "a" end)
      -- logical_and works on truth values of any dtype (numpy); bitwise needs integers
      assert.same({ false, true, true, true }, x:and_(1.5):compute(o):totable()[1])
      assert.has_error(function() x:astype("float64"):bitwise_and(1) end,
        "bitwise_and: not supported for dtype float64 (bitwise operations need integers or bools; logical_and works on any dtype)")
    end)

    it("reduces over axes with keepdims as a tree with split_every", function()
      local t = grid(12, 10)
      local x = da.from_table(t, { chunks = { 2, 3 } })
      assert.equal(7140, x:sum():compute(o))
      local col = {}
      for j = 1, 10 do
        local s = 0
        for i = 1, 12 do s = s + t[i][j] end
        col[j] = s
      end
      assert.same(col, x:sum(0):compute(o):totable())
      assert.same(col, x:sum(0, false, { split_every = 2 }):compute(o):totable())
      assert.same(col, x:sum { axis = 0, split_every = 3 }:compute(o):totable())
      assert.same(col, x:sum { axis = 0, split_every = { [0] = 2 } }:compute(o):totable())
      local tree = x:sum(0, false, { split_every = { [0] = 2 } })
      local levels = 0
      for name in pairs(tree.layers) do if name:match("^sum%-combine") then levels = levels + 1 end end
      assert.equal(3, levels) -- 6 blocks on axis 0: 6 -> 3 -> 2 -> 1
      assert.same({ 1, 10 }, x:sum(0, true):compute(o).shape)
      assert.same({ 1, 1 }, x:sum(nil, true):compute(o).shape)
      assert.same({ 45, 145 }, { x:sum(1):compute(o):get(0), x:sum(1):compute(o):get(1) })
      close(x:mean():compute(o), 59.5)
      close(x:mean(1):compute(o):totable()[1], 4.5)
      assert.equal(0, x:min():compute(o))
      assert.equal(119, x:max():compute(o))
      assert.same({ 110, 111, 112 }, { x:max(0):compute(o):get(0), x:max(0):compute(o):get(1), x:max(0):compute(o):get(2) })
      -- var/std of 0..119: (n^2 - 1) / 12
      close(x:var():compute(o), (120 * 120 - 1) / 12)
      close(x:std():compute(o), math.sqrt((120 * 120 - 1) / 12))
      close(x:var(nil, false, { ddof = 1 }):compute(o), 120 * 121 / 12)
      close(x:var(0):compute(o):totable()[1], (12 * 12 - 1) / 12 * 100)
      assert.is_true(x:ge(0):all():compute(o))
      assert.is_false(x:gt(0):all():compute(o))
      assert.is_true(x:eq(57):any():compute(o))
      assert.equal(1, x:prod(1):compute(o):get(0) == 0 and 1 or 0)
      assert.equal("float64", x:mean().dtype)
      assert.equal("int64", x:sum().dtype)
      -- a reduction to one value computes to a Lua value, as numpy's scalars
      assert.equal("number", type(x:sum():compute(o)))
      assert.equal("boolean", type(x:gt(3):any():compute(o)))
      assert.has_error(function() x:sum(2) end, "sum: axis 2 out of range for a 2-d array")
    end)

    it("keeps every dtype through elementwise operations, reductions and slices", function()
      local t = { { 1, 0, 3 }, { 4, 5, 0 } }
      for _, dt in ipairs({ "float64", "float32", "int64", "int32", "uint8", "bool" }) do
        local x = da.from_table(t, { chunks = { 1, 2 } }):astype(dt)
        local want = nd.from_table(t):astype(dt)
        assert.equal(dt, x.dtype)
        assert.same(want:totable(), x:compute(o):totable())
        assert.same(want:slice({ { nil, nil, -1 }, { 2, 0, -2 } }):totable(),
          x:slice({ { nil, nil, -1 }, { 2, 0, -2 } }):compute(o):totable())
        assert.same(want:max(0):totable(), x:max(0):compute(o):totable())
        assert.equal(want:sum():item(), x:sum():compute(o))
        assert.equal(nd.reduce(want, "sum", nil).dtype, x:sum().dtype)
        assert.same(want:eq(want):totable(), x:eq(x):compute(o):totable())
        assert.same(want:any(1):totable(), x:any(1):compute(o):totable())
        if dt ~= "bool" then
          local w2 = want + want
          local y = x + x
          assert.equal(w2.dtype, y.dtype)
          assert.same(w2:totable(), y:compute(o):totable())
          assert.same(want:argmax(1):totable(), x:argmax(1):compute(o):totable())
        end
      end
    end)

    it("skips NaN in nan-reductions and offers like-creators, clip, ravel, isclose", function()
      local nan = 0 / 0
      local x = da.from_table({ { 1, nan, 3 }, { 4, 5, nan } }, { chunks = 1 })
      assert.equal(13, x:nansum():compute(o))
      assert.same({ 5, 5, 3 }, x:nansum(0):compute(o):totable())
      close(x:nanmean(1):compute(o):totable(), { 2, 4.5 })
      assert.same({ 4, 5, 3 }, x:nanmax(0):compute(o):totable())
      assert.equal(1, x:nanmin():compute(o))
      local allnan = da.from_table({ { nan, 2 }, { nan, 1 } }, { chunks = 1 })
      local mn, mx = allnan:nanmin(0):compute(o):totable(), allnan:nanmax(0):compute(o):totable()
      assert.is_true(mn[1] ~= mn[1] and mx[1] ~= mx[1]) -- NaN, as numpy
      assert.same({ 1, 2 }, { mn[2], mx[2] })
      close(x:nanvar(1):compute(o):totable(), { 1, 0.25 })
      close(x:nanstd():compute(o), math.sqrt(2.1875))
      assert.same({ { 7, 7, 7 }, { 7, 7, 7 } }, da.full_like(x, 7, { dtype = "int32" }):compute(o):totable())
      assert.same(x.chunks, da.zeros_like(x).chunks)
      local y = da.arange(6, { chunks = 4 })
      assert.same({ 1, 1, 2, 3, 4, 4 }, y:clip(1, 4):compute(o):totable())
      assert.same({ 0, 1, 2, 3, 4, 5 }, da.ravel(y:reshape({ 2, 3 })):compute(o):totable())
      assert.is_true(da.allclose(y, y + 1e-12):compute(o))
      assert.is_false(da.allclose(y, y + 1e-3):compute(o))
      assert.same({ false, true, false, false, false, false }, da.isclose(y, 1):compute(o):totable())
    end)

    it("computes cumulative sums and products across blocks", function()
      local x = da.arange(12, { chunks = 5 }):reshape({ 3, 4 }):rechunk({ 1, 3 })
      assert.same({ { 0, 1, 2, 3 }, { 4, 6, 8, 10 }, { 12, 15, 18, 21 } }, x:cumsum(0):compute(o):totable())
      assert.same({ { 0, 1, 3, 6 }, { 4, 9, 15, 22 }, { 8, 17, 27, 38 } }, x:cumsum(1):compute(o):totable())
      assert.same({ 0, 1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 66 }, x:cumsum():compute(o):totable())
      assert.same({ 1, 2, 6, 24 }, (x + 1):cumprod(1):compute(o):totable()[1])
      local f = da.ones({ 7 }, { chunks = 2, dtype = "float32" }):cumsum()
      assert.equal("float32", f.dtype)
      assert.same({ 1, 2, 3, 4, 5, 6, 7 }, f:compute(o):totable())
      assert.same({ 0, 0, 1, 1, 2 }, da.from_table({ 0, 0, 1, 0, 1 }, { chunks = 2 }):astype("bool"):cumsum():compute(o):totable())
      assert.has_error(function() x:cumsum(2) end, "cumsum: axis 2 out of range for a 2-d array")
    end)

    it("multiplies vectors and persists blocks", function()
      local x = da.arange(12, { chunks = 5 }):reshape({ 3, 4 }):astype("float64")
      local v = da.from_table({ 1, 2, 3, 4 }, { chunks = 3 })
      assert.same({ 20, 60, 100 }, x:dot(v):compute(o):totable())
      assert.equal(30, v:dot(v):compute(o))
      assert.same({ 12, 15, 18, 21 }, da.from_table({ 1, 1, 1 }):dot(x):compute(o):totable())
      assert.has_error(function() x:dot(da.ones({ 3 })) end)
      local p = (x * 2):persist(o)
      for _, task in pairs(p.layers[p.name]) do assert.is_true(nd.is_ndarray(task)) end
      assert.equal(132, p:sum():compute(o))
      assert.same((x * 2):compute(o):totable(), p:compute(o):totable())
      assert.equal(da.from_ndarray, da.from_array)
    end)

    it("finds argmin and argmax across blocks", function()
      local t = { { 5, 9, 1, 7 }, { 3, 0, 8, 9 }, { 6, 2, 4, 0 } }
      local x = da.from_table(t, { chunks = { 2, 3 } })
      assert.equal(5, x:argmin():compute(o)) -- first 0 at (1, 1)
      assert.equal(1, x:argmax():compute(o)) -- first 9 at (0, 1)
      assert.same({ 1, 1, 0, 2 }, x:argmin(0):compute(o):totable())
      assert.same({ 1, 3, 0 }, x:argmax(1):compute(o):totable())
      assert.same({ 3, 1 }, x:argmax(1, true):compute(o).shape)
      assert.has_error(function() x:argmin({ 0, 1 }) end)
      -- empty blocks among full ones (after concatenating an empty slice)
      local v = da.arange(6, { chunks = 2 })
      local y = da.concatenate({ v, v:slice({ { 0, 0 } }), v }, 0)
      assert.equal(7, #y.chunks[1])
      assert.equal(5, y:max():compute(o))
      assert.equal(0, y:min(0):compute(o))
      assert.equal(5, y:argmax():compute(o))
    end)

    it("slices with steps, negative steps, integers and empty slices", function()
      local t = grid(10, 6)
      local x = da.from_table(t, { chunks = { 3, 4 } })
      local function rows(sel)
        local out = {}
        for _, i in ipairs(sel) do out[#out + 1] = t[i + 1] end
        return out
      end
      assert.same(rows({ 0, 4, 8 }), x:slice({ { 0, nil, 4 } }):compute(o):totable())
      assert.same(rows({ 2, 6 }), x:slice({ { 2, nil, 4 } }):compute(o):totable())
      assert.same(rows({ 9, 8, 7, 6, 5, 4, 3, 2, 1, 0 }), x:slice({ { nil, nil, -1 } }):compute(o):totable())
      assert.same(rows({ 8, 5, 2 }), x:slice({ { 8, 0, -3 } }):compute(o):totable())
      assert.same(rows({ 7, 4 }), x:slice({ { -3, 2, -3 } }):compute(o):totable())
      assert.same(rows({ 1, 2, 3, 4 }), x[{ { 1, 5 } }]:compute(o):totable())
      assert.same(rows({ 1, 3 }), x[{ da.s(1, 5, 2) }]:compute(o):totable())
      assert.same({ 15, 14, 13, 12 }, x:slice({ 2, { 3, nil, -1 } }):compute(o):totable())
      assert.same({ 5, 11, 17 }, x:slice({ { 0, 3 }, -1 }):compute(o):totable())
      assert.equal(33, x:slice({ 5, 3 }):compute(o))
      local e = x:slice({ { 5, 5 } })
      assert.same({ 0, 6 }, e.shape)
      assert.same({ 0, 6 }, e:compute(o).shape)
      assert.same({ 0, 6 }, x:slice({ { 2, 8, -1 } }):compute(o).shape)
      assert.same({ 10, 0 }, x:slice({ ":", { 9, 20 } }):compute(o).shape)
      assert.equal(0, x:slice({ { 5, 5 } }):sum():compute(o))
      assert.same(rows({ 0 }), x:slice({ { -100, 1 } }):compute(o):totable())
      assert.has_error(function() x:slice({ 10 }) end, "slice: index 10 out of range for axis 0 with size 10 (shape (10, 6))")
      assert.has_error(function() x:slice({ 0, 0, 0 }) end, "slice: 3 indices for a 2-d array of shape (10, 6)")
      assert.has_error(function() x:slice({ { 0, nil, 0 } }) end, "slice: slice step cannot be zero (axis 0)")
      assert.has_error(function() x:slice({ 1.5 }) end)
    end)

    it("counts histograms and flips, swaps, moves and broadcasts axes", function()
      local x = da.arange(100, { chunks = 7 }):astype("float64")
      local c, e = da.histogram(x, { bins = 4, range = { 0, 99 } })
      assert.same({ 25, 25, 25, 25 }, c:compute(o):totable())
      assert.same({ 0, 24.75, 49.5, 74.25, 99 }, e:totable())
      assert.same({ 0, 10, 0 }, da.histogram(da.full({ 10 }, 5, { chunks = 3 }), { bins = 3, range = { 0, 15 } }):compute(o):totable())
      assert.has_error(function() da.histogram(x, { bins = 3 }) end, "histogram: range = {lo, hi} with lo < hi is required")
      local y = da.arange(6, { chunks = 4 }):reshape({ 2, 3 })
      assert.same({ { 2, 1, 0 }, { 5, 4, 3 } }, da.flip(y, 1):compute(o):totable())
      assert.same({ { 5, 4, 3 }, { 2, 1, 0 } }, y:flip():compute(o):totable())
      assert.same({ { 3, 4, 5 }, { 0, 1, 2 } }, da.flipud(y):compute(o):totable())
      assert.same({ { 0, 3 }, { 1, 4 }, { 2, 5 } }, y:swapaxes(0, 1):compute(o):totable())
      assert.same({ 3, 4, 2 }, da.moveaxis(da.ones({ 2, 3, 4 }), 0, 2).shape)
      local b = da.broadcast_to(da.from_table({ 1, 2, 3 }, { chunks = 2 }), { 4, 3 })
      assert.same({ { 1, 2, 3 }, { 1, 2, 3 }, { 1, 2, 3 }, { 1, 2, 3 } }, b:compute(o):totable())
      assert.equal(24, b:sum():compute(o))
      assert.has_error(function() da.broadcast_to(y, { 3, 3 }) end,
        "broadcast_to: cannot broadcast shape (2, 3) to (3, 3) (axis 0)")
    end)

    it("takes elements at integer lists in any order", function()
      local t = grid(4, 5)
      local x = da.from_table(t, { chunks = { 2, 2 } })
      assert.same({ t[4], t[1], t[1], t[4], t[2], t[3] }, x:take({ 3, 0, 0, -1, 1, 2 }, 0):compute(o):totable())
      assert.same({ { 4, 3, 1 }, { 9, 8, 6 }, { 14, 13, 11 }, { 19, 18, 16 } }, x:take({ 4, 3, 1 }, 1):compute(o):totable())
      assert.same({ 4, 0 }, x:take({}, 1):compute(o).shape)
      assert.same({ t[3] }, da.take(x, nd.from_table({ 2 }), 0):compute(o):totable())
      assert.has_error(function() x:take({ 7 }) end, "take: index 7 out of range for axis 0 with size 4 (shape (4, 5))")
      assert.has_error(function() x:take({ 1.5 }) end)
    end)

    it("slices random arrays exactly like their computed values", function()
      local r = da.random.random({ 12, 5 }, { seed = 9, chunks = { 5, 2 } })
      local full = r:compute(o)
      for _, spec in ipairs({ { { 0, nil, 4 } }, { { 2, nil, 4 } }, { { nil, nil, -3 }, { 1, nil, 2 } }, { 3, { 4, 0, -1 } } }) do
        assert.same(full:slice(spec):totable(), r:slice(spec):compute(o):totable())
      end
      local f = r:astype("float32")
      assert.is_not_nil(f.gen) -- still a generator: slices generate only what they keep
      assert.same(full:astype("float32"):slice({ { 1, nil, 3 } }):totable(), f:slice({ { 1, nil, 3 } }):compute(o):totable())
      assert.same(full:astype("int32"):astype("float32"):totable(), r:astype("int32"):astype("float32"):compute(o):totable())
      local m = (r:slice({ { 0, nil, 4 } }):mean(0) - r:slice({ { 2, nil, 4 } }):mean(0)):compute(o)
      local want = (full:slice({ { 0, nil, 4 } }):mean(0) - full:slice({ { 2, nil, 4 } }):mean(0))
      close(m:totable(), want:totable())
    end)

    it("transposes, reshapes, rechunks, concatenates and stacks", function()
      local t = grid(4, 6)
      local x = da.from_table(t, { chunks = { 3, 4 } })
      assert.same(nd.from_table(t).T:totable(), x.T:compute(o):totable())
      local a3 = da.arange(24, { chunks = 5 }):reshape({ 2, 3, 4 })
      assert.same(nd.ramp(24, 0, 1, "int64"):reshape({ 2, 3, 4 }):transpose({ 2, 0, 1 }):totable(),
        a3:transpose({ 2, 0, 1 }):compute(o):totable())
      assert.same(t, da.arange(24, { chunks = 7 }):reshape({ 4, 6 }):compute(o):totable())
      assert.same(t, x:reshape({ 4, 2, 3 }):reshape({ 4, -1 }):compute(o):totable())
      assert.same({ 4, 2, 3 }, x:reshape({ 4, 2, 3 }).shape)
      assert.same({ { 3, 1 }, { 1, 1 }, { 3 } }, x:reshape({ 4, 2, 3 }).chunks) -- split axis stays blocked
      assert.same({ { 10, 10, 10 }, { 6 } }, da.arange(180, { chunks = 60 }):reshape({ 30, 6 }).chunks)
      assert.same(nd.ramp(180, 0, 1, "int64"):reshape({ 30, 6 }):totable(), da.arange(180, { chunks = 50 }):reshape({ 30, 6 }):compute(o):totable())
      assert.same({ { 2, 2, 2 }, { 20 } }, da.ones({ 6, 4, 5 }, { chunks = { 2, 4, 5 } }):reshape({ 6, 20 }).chunks)
      assert.has_error(function() x:reshape({ 5, 5 }) end)
      local r = x:rechunk({ 1, 5 })
      assert.same({ { 1, 1, 1, 1 }, { 5, 1 } }, r.chunks)
      assert.same(t, r:compute(o):totable())
      assert.same(t, x:rechunk({ 4, 6 }):compute(o):totable())
      local c = da.concatenate({ x, x:slice({ { 0, 1 } }) }, 0)
      assert.same({ 5, 6 }, c.shape)
      local ct = c:compute(o):totable()
      assert.same(t[1], ct[5])
      assert.same(t[4], ct[4])
      local c1 = da.concatenate({ x, da.ones({ 4, 2 }, { chunks = 1 }) }, 1):compute(o)
      assert.same({ 4, 8 }, c1.shape)
      assert.equal("float64", c1.dtype)
      assert.same({ 0, 1, 2, 3, 4, 5, 1, 1 }, c1:totable()[1])
      local s = da.stack({ x, x * 10 }, 0):compute(o)
      assert.same({ 2, 4, 6 }, s.shape)
      assert.equal(10, s:get(1, 0, 1))
      local s2 = da.stack({ x, x }, 2)
      assert.same({ 4, 6, 2 }, s2.shape)
      assert.same({ 7, 7 }, s2:compute(o):totable()[2][2])
      assert.has_error(function() da.concatenate({ x, da.ones({ 3, 3 }) }, 0) end,
        "concatenate: shapes (4, 6) and (3, 3) differ off axis 0")
      assert.has_error(function() da.stack({ x, da.ones({ 3, 3 }) }) end)
      assert.same({ 6 }, x:slice({ { 0, 1 } }):squeeze(0).shape)
      assert.same({ 1, 4, 6 }, x:expand_dims(0):compute(o).shape)
    end)

    it("multiplies matrices blockwise like numpy", function()
      local t = grid(5, 4)
      local x = da.from_table(t, { chunks = { 2, 3 } }):astype("float64")
      local y = da.from_table(grid(4, 3), { chunks = { 1, 2 } }):astype("float64")
      local want = nd.matmul(nd.from_table(t, "float64"), nd.from_table(grid(4, 3), "float64")):totable()
      assert.same(want, x:dot(y):compute(o):totable())
      local xxt = nd.matmul(nd.from_table(t, "float64"), nd.from_table(t, "float64").T)
      assert.same(xxt:totable(), x:dot(x.T):compute(o):totable())
      close(x:dot(x.T):mean(0):compute(o):totable(), xxt:mean(0):totable())
      assert.same(nd.matmul(nd.from_table(t), nd.from_table(grid(4, 3))):totable(),
        da.from_table(t, { chunks = 2 }):dot(da.from_table(grid(4, 3), { chunks = 3 })):compute(o):totable())
      assert.has_error(function() x:dot(x) end, "dot: shapes (5, 4) and (5, 4) not aligned: 4 (axis 1) != 5 (axis 0)")
      assert.same({ 6, 22, 38, 54, 70 }, x:dot(da.ones({ 4 })):compute(o):totable())
    end)

    it("maps functions over blocks", function()
      local x = da.arange(10, { chunks = 4 })
      local y = x:map_blocks(function(b) return b * 2 + 1 end)
      assert.same({ 1, 3, 5, 7, 9, 11, 13, 15, 17, 19 }, y:compute(o):totable())
      local z = da.map_blocks(function(a, b) return a + b end, x, x)
      assert.same({ 0, 2, 4 }, z:slice({ { 0, 3 } }):compute(o):totable())
      local sums = x:map_blocks(function(b) return b:sum(nil, true) end, { chunks = { { 1, 1, 1 } } })
      assert.same({ 6, 22, 17 }, sums:compute(o):totable())
      local bad = x:map_blocks(function() return "nope" end)
      assert.has_error(function() bad:compute(o) end)
    end)

    it("turns blocks into delayed values", function()
      local x = da.arange(10, { chunks = 4 }):reshape({ 2, 5 }):rechunk({ 1, 3 })
      local d = x:to_delayed()
      assert.equal(2, #d)
      assert.equal(2, #d[1])
      assert.same({ { 8, 9 } }, d[2][2]:compute(o):totable())
      local s = ldask.delayed(function(a, b) return a:sum():item() + b:sum():item() end)(d[1][1], d[2][2])
      assert.equal(20, s:compute(o))
    end)

    it("builds arrays from delayed values", function()
      local mk = ldask.delayed(function(n) return require("ldask.array.ndarray").ramp(n, 0, 2, "float64") end)
      local a = da.from_delayed(mk(4), { 4 })
      assert.same({ 0, 2, 4, 6 }, (a + 0):compute(o):totable())
      local wrong = da.from_delayed(mk(3), { 4 })
      assert.has_error(function() wrong:compute(o) end)
    end)
  end)
end

describe("ldask.array graphs", function()
  it("references only the blocks a slice needs", function()
    local x = da.ones({ 100, 10 }, { chunks = { 10, 10 } })
    local y = x:slice({ { 15, 25 } })
    local g = y:__ldask_graph()
    local refs = {}
    for _, task in pairs(y.layers[y.name]) do refs[#refs + 1] = task[2] end
    table.sort(refs)
    assert.same({ x.name .. ",1,0", x.name .. ",2,0" }, refs)
    assert.is_not_nil(g[x.name .. ",1,0"])
  end)

  it("computes only the needed blocks", function()
    local calls = 0
    local x = da.arange(100, { chunks = 10 }):map_blocks(function(b)
      calls = calls + 1
      return b
    end)
    assert.same({ 42, 43 }, x:slice({ { 42, 44 } }):compute({ scheduler = "sync" }):totable())
    assert.equal(1, calls)
  end)

  it("gives equal names to equal computations", function()
    local a = da.ones({ 4 }, { chunks = 2 })
    assert.equal((a + 1).name, (a + 1).name)
    assert.not_equal((a + 1).name, (a + 2).name)
    assert.equal(a:sum(0).name, a:sum(0).name)
  end)
end)

describe("ldask.array errors", function()
  it("point at the caller's line and name the operation", function()
    local x = da.ones({ 4, 6 }, { chunks = 2 })
    local cases = {
      { function() local r = x:sum("a"); return r end, "sum: axis must be a number or a list" },
      { function() local r = x + {}; return r end, "add: operand of type table" },
      { function() local r = x:mean(5); return r end, "mean: axis 5 out of range for a 2%-d array" },
      { function() local r = x:slice({ { 0, nil, 0 } }); return r end, "slice: slice step cannot be zero %(axis 0%)" },
      { function() local r = da.random.random({ 3 }, { seed = -1 }); return r end, "random.random: seed must be" },
      { function() local r = da.zeros({ 2, -3 }); return r end, "zeros: bad dimension %-3 at axis 1" },
      { function() local r = x:astype("float16"); return r end, "astype: unknown dtype float16" },
      { function() local r = x:astype("int32", "safe"); return r end,
        "astype: cannot cast float64 to int32 under the 'safe' casting rule %(shape %(4, 6%)%)" },
      { function() local r = da.from_npy(123); return r end, "from_npy: path must be a string" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(c[1])
      assert.is_false(ok)
      assert.matches("array_core_spec%.lua:%d+: " .. c[2], err)
    end
  end)
end)
