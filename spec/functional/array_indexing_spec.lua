-- The indexing dask users rely on, against numpy (and dask.array's own
-- percentile) on seeded data, on the sync and threads schedulers and a
-- two-worker local cluster: boolean masks (unknown chunk sizes,
-- compute_chunk_sizes), integer lists and arrays, vindex, assignment,
-- topk/argtopk, percentile, map_overlap with every boundary mode.
local helpers = require "helpers"
local npcheck = require "npcheck"
local da = require "ldask.array"
local nd = require "ldask.array.ndarray"

local PY = [==[
X = load('X'); V = load('V')
save('mask', X[X > 0.5]); save('mask_rows', X[X[:, 0] > 0.5]); save('mask_cols', X[:, X[0] > 0.5])
save('ix', X[:, [7, 0, 0, -1]]); save('ix_outer', X[np.ix_([3, 1], [2, 2, 0])])
save('take_arr', X[[5, 1, 9, 2]]); save('vindex', X[[0, 9, 4, 4], [3, 0, 11, 11]])
save('vindex_rows', X[[8, 1, 1]]); save('bmask_nd', X[:, np.arange(12) % 3 == 0])
Y = X.copy(); Y[Y > 0.7] = -1; Y[2:5, ::3] = 7; Y[-1] = np.arange(12); Y[0, 0] = 5; save('setitem', Y)
save('topk', -np.sort(-X, axis=1)[:, :3]); save('topk_neg', np.sort(X, axis=0)[:2])
save('argtopk', np.argsort(-X, axis=1, kind='stable')[:, :3]); save('argtopk_neg', np.argsort(V, kind='stable')[:4])
save('pct_one', np.percentile(V, [0, 12.5, 50, 99, 100]))
import dask.array as dda
save('pct_dask', dda.percentile(dda.from_array(V, chunks=37), [5, 50, 95]).compute())
def stencil(a):
    return a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:] - 4 * a[1:-1, 1:-1]
for mode, pad in [('reflect', 'symmetric'), ('periodic', 'wrap'), ('nearest', 'edge')]:
    save('lap_' + mode, stencil(np.pad(X, 1, mode=pad)))
save('lap_const', stencil(np.pad(X, 1, mode='constant', constant_values=2.5)))
]==]

-- The Laplacian of the inner cells of the extended block A (same shape: the
-- outer ring stays as it is and is trimmed away).
local function laplace(a)
  local out = a:astype("float64")
  local r, c = a.shape[1], a.shape[2]
  if r < 3 or c < 3 then return out end
  local function s(r0, r1, c0, c1) return a:slice({ { r0, r1 }, { c0, c1 } }) end
  local inner = s(0, r - 2, 1, c - 1) + s(2, r, 1, c - 1) + s(1, r - 1, 0, c - 2) + s(1, r - 1, 2, c) - s(1, r - 1, 1, c - 1) * 4
  nd.assign(out:slice({ { 1, r - 1 }, { 1, c - 1 } }), inner)
  return out
end

describe("array indexing against numpy", function()
  if not helpers.have_numpy() then
    pending("numpy is not installed for /usr/bin/python3")
    return
  end
  local inputs = {
    X = da.random.random({ 10, 12 }, { seed = 21, chunks = -1 }):compute(),
    V = da.random.normal({ 200 }, { seed = 22, chunks = -1 }):compute(),
  }
  local dir = npcheck.run_numpy(PY, inputs)
  local want = setmetatable({}, { __index = function(t, k) local v = npcheck.load(dir, k); t[k] = v; return v end })
  local X = da.from_ndarray(inputs.X, { chunks = { 4, 5 } })
  local V = da.from_ndarray(inputs.V, { chunks = 37 })

  it("selects with masks, lists, arrays and points as numpy does", function()
    npcheck.on_schedulers(function(opts, label)
      local m = X[X:gt(0.5)]
      assert.is_true(m.shape[1] ~= m.shape[1], "unknown size (NaN) before compute_chunk_sizes")
      npcheck.close(m:compute(opts), want.mask, label .. " x[x > 0.5]")
      npcheck.close((m * 2):sum():compute(opts), want.mask:sum():item() * 2, label .. " arithmetic on unknown sizes")
      npcheck.close(X[X:slice { ":", 0 }:gt(0.5)]:compute(opts), want.mask_rows, label .. " rows by a 1-d mask")
      npcheck.close(X[{ ":", X:slice { 0 }:gt(0.5) }]:compute(opts), want.mask_cols, label .. " columns by a 1-d mask")
      local rows = X[X:slice { ":", 0 }:gt(0.5)]
      assert.equal(rows, rows:compute_chunk_sizes(opts))
      assert.equal(want.mask_rows.shape[1], rows.shape[1])
      local sizes = 0
      for _, c in ipairs(rows.chunks[1]) do sizes = sizes + c end
      assert.equal(rows.shape[1], sizes)
      npcheck.close(rows:slice { { 0, 2 } }:compute(opts), want.mask_rows:slice { { 0, 2 } }, label .. " slice after sizes")
      npcheck.close(X[{ ":", da.ix { 7, 0, 0, -1 } }]:compute(opts), want.ix, label .. " da.ix list")
      npcheck.close(X[{ da.ix { 3, 1 }, da.ix { 2, 2, 0 } }]:compute(opts), want.ix_outer, label .. " two da.ix (np.ix_)")
      npcheck.close(X[{ da.from_table({ 5, 1, 9, 2 }, { chunks = 3 }) }]:compute(opts), want.take_arr,
        label .. " lazy int array")
      npcheck.close(X[{ nd.from_table({ 5, 1, 9, 2 }) }]:compute(opts), want.take_arr, label .. " int ndarray")
      local bm = {}
      for j = 0, 11 do bm[j + 1] = j % 3 == 0 end
      npcheck.close(X[{ ":", nd.from_table(bm, "bool") }]:compute(opts), want.bmask_nd, label .. " bool ndarray")
      npcheck.close(X:vindex({ 0, 9, 4, 4 }, { 3, 0, 11, 11 }):compute(opts), want.vindex, label .. " vindex")
      npcheck.close(X:vindex({ 8, 1, 1 }):compute(opts), want.vindex_rows, label .. " vindex one axis")
    end)
  end)

  it("assigns with masks, slices and items like numpy (x[sel] = v)", function()
    npcheck.on_schedulers(function(opts, label)
      local Y = da.from_ndarray(inputs.X, { chunks = { 4, 5 } })
      local before = Y.name
      Y[Y:gt(0.7)] = -1
      Y[{ { 2, 5 }, { nil, nil, 3 } }] = 7
      Y:setitem({ -1 }, da.arange(12, { chunks = 5 }))
      Y[{ 0, 0 }] = 5
      assert.are_not.equal(before, Y.name)
      assert.equal("float64", Y.dtype)
      npcheck.close(Y:compute(opts), want.setitem, label .. " setitem")
      npcheck.close(X:compute(opts), inputs.X, label .. " the source array is unchanged")
    end)
  end)

  it("computes topk, argtopk and percentile as numpy and dask", function()
    npcheck.on_schedulers(function(opts, label)
      npcheck.close(da.topk(X, 3):compute(opts), want.topk, label .. " topk")
      npcheck.close(X:topk(-2, 0):compute(opts), want.topk_neg, label .. " topk negative k, axis 0")
      assert.same(want.argtopk:totable(), da.argtopk(X, 3, 1):compute(opts):totable())
      assert.same(want.argtopk_neg:totable(), V:argtopk(-4):compute(opts):totable())
      npcheck.close(da.percentile(V:rechunk(-1), { 0, 12.5, 50, 99, 100 }):compute(opts), want.pct_one,
        label .. " percentile, one block (exact)")
      npcheck.close(da.percentile(V, { 5, 50, 95 }):compute(opts), want.pct_dask, label .. " percentile as dask's")
    end)
  end)

  it("runs stencils with map_overlap for every boundary mode", function()
    npcheck.on_schedulers(function(opts, label)
      for _, mode in ipairs({ "reflect", "periodic", "nearest" }) do
        local r = X:map_overlap(laplace, { depth = 1, boundary = mode })
        assert.same(X.chunks, r.chunks)
        npcheck.close(r:compute(opts), want["lap_" .. mode], label .. " map_overlap " .. mode)
      end
      npcheck.close(da.map_overlap(laplace, X, { depth = { 1, 1 }, boundary = 2.5 }):compute(opts), want.lap_const,
        label .. " map_overlap constant")
      -- "none": blocks at the edges get no ghost cells: the edge cells keep their values
      local none = X:map_overlap(laplace, { depth = 1, boundary = "none" }):compute(opts)
      npcheck.close(none:slice { 0 }, inputs.X:slice { 0 }, label .. " map_overlap none keeps the edge")
      npcheck.close(none:slice { { 1, 9 }, { 1, 11 } }, want.lap_reflect:slice { { 1, 9 }, { 1, 11 } },
        label .. " map_overlap none inside")
    end)
  end)

  it("reports what needs known sizes and bad indices clearly", function()
    local m = X[X:gt(0.5)]
    local ok, err = pcall(function() local r = m:slice { { 0, 3 } }; return r end)
    assert.is_false(ok)
    assert.matches("array_indexing_spec.lua:%d+: slice: the array has unknown chunk sizes.*compute_chunk_sizes", err)
    ok, err = pcall(function() local r = m:rechunk(5); return r end)
    assert.matches("rechunk: the array has unknown chunk sizes", err)
    ok, err = pcall(function() local r = m:reshape({ 2, -1 }); return r end)
    assert.is_false(ok)
    ok, err = pcall(function() local r = X[{ ":", da.ix { 12 } }]; return r end)
    assert.matches("index 12 out of range for axis 1 with size 12", err)
    ok, err = pcall(function() local r = X:vindex({ 0, 1 }, { 1 }); return r end)
    assert.matches("do not broadcast", err)
    ok, err = pcall(function() X[{ ":" }] = da.ones({ 3 }); return nil end)
    assert.matches("does not broadcast", err)
    ok, err = pcall(function() local r = da.topk(X, 13); return r end)
    assert.matches("larger than axis 1 of size 12", err)
    ok, err = pcall(function() local r = da.percentile(X, 50); return r end)
    assert.matches("only 1%-d arrays", err)
    ok, err = pcall(function() local r = X:map_overlap(laplace, { depth = 1, boundary = "mirror" }); return r end)
    assert.matches("unknown boundary mirror", err)
    ok, err = pcall(function()
      return X:map_overlap(function(a) return a:slice { { 1, nil } } end, { depth = 1 }):compute()
    end)
    assert.is_false(ok)
    assert.matches("must keep the shape", err)
  end)
end)
