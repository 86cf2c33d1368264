--- ldask.array: blocked N-d arrays on C kernels (the collection, like
-- dask.array). `local da = require "ldask.array"` (or ldask.array). An
-- Array is a grid of ndarray blocks described by a task graph; compute()
-- returns one ndarray. See docs/array.md for the guide and conventions.
-- @module ldask.array
local core = require "ldask.array.core"
local nd = require "ldask.array.ndarray"
local creation = require "ldask.array.creation"
local elemwise = require "ldask.array.elemwise"
local reductions = require "ldask.array.reductions"
local slicing = require "ldask.array.slicing"
local rechunk = require "ldask.array.rechunk"
local linalg = require "ldask.array.linalg"
local aio = require "ldask.array.io"
local h5 = require "ldask.array.hdf5"
local zarr = require "ldask.array.zarr"
local IX = require "ldask.array.indexing"
require "ldask.array.blocks" -- x.blocks[{i, j}] and x:block(i, j)
local E = require "ldask.ffi.array"

local pairs, ipairs = pairs, ipairs

local M = {}

--- Fields of an Array x: `x.shape` and `x.chunks` (Lua lists), `x.dtype`, `x.ndim`,
-- `x.size`, `x.itemsize`, `x.nbytes`, `x.numblocks`, `x.T` (the transpose),
-- `x.name`. Module fields: `Array` (the metatable), `is_array(v)`, `ndarray`
-- (ldask.array.ndarray), `random` (below), `normalize_chunks(chunks, shape[, dtype])`
-- (per-axis lists of block sizes), `from_array` (= from_ndarray), `store`
-- (= to_npy).
-- @table Array
M.Array = core.Array
M.is_array = core.is_array
M.ndarray = nd
M.normalize_chunks = function(chunks, shape, dtype)
  return core.normalize_chunks(chunks, shape, nd.itemsize_of[nd.dtype_code(dtype or "float64")])
end

-- Creation
M.ones, M.zeros, M.full, M.empty = creation.ones, creation.zeros, creation.full, creation.empty
M.arange, M.linspace, M.eye = creation.arange, creation.linspace, creation.eye
M.random = creation.random
M.from_table, M.from_ndarray, M.from_delayed = creation.from_table, creation.from_ndarray, creation.from_delayed
M.from_array = creation.from_ndarray -- dask's name
M.from_npy, M.to_npy, M.store = aio.from_npy, aio.to_npy, aio.store
M.from_hdf5, M.to_hdf5 = h5.from_hdf5, h5.to_hdf5
M.from_zarr, M.to_zarr = zarr.from_zarr, zarr.to_zarr
M.zeros_like, M.ones_like, M.empty_like, M.full_like =
  creation.zeros_like, creation.ones_like, creation.empty_like, creation.full_like

--- Slice spec helper: da.s(start, stop, step) == {start, stop, step}.
-- @param[opt] start first index
-- @param[opt] stop end index (excluded)
-- @param[opt] step step (default 1)
-- @return the slice spec
function M.s(start, stop, step) return { start or false, stop or false, step or 1 } end

-- Structure
M.rechunk = rechunk.rechunk
M.transpose = slicing.transpose
M.reshape = slicing.reshape
M.concatenate = slicing.concatenate
M.stack = slicing.stack
M.squeeze = slicing.squeeze
M.take = slicing.take
M.flip, M.swapaxes, M.moveaxis, M.broadcast_to = slicing.flip, slicing.swapaxes, slicing.moveaxis,
  slicing.broadcast_to
--- flipud(x): reversed along axis 0.
-- @param x an Array
-- @return an Array
function M.flipud(x) return slicing.flip(x, 0) end
--- fliplr(x): reversed along axis 1.
-- @param x an Array
-- @return an Array
function M.fliplr(x) return slicing.flip(x, 1) end
M.expand_dims = slicing.expand_dims
M.ix = IX.ix
do
  local O, OV = require "ldask.array.order", require "ldask.array.overlap"
  M.topk, M.argtopk, M.percentile = O.topk, O.argtopk, O.percentile
  M.map_overlap = OV.map_overlap
  --- da.overlap(x, {depth =, boundary =}): x with ghost cells (see map_overlap).
  -- @param x an Array
  -- @param opts `{ depth =, boundary = }`
  -- @return an Array
  function M.overlap(x, opts)
    local r = OV.overlap(x, opts, 2)
    return r
  end
end
do
  local R = require "ldask.array.routines"
  for _, k in ipairs({ "vstack", "hstack", "dstack", "diff", "roll", "isin", "count_nonzero", "average",
    "nan_to_num", "meshgrid", "tril", "triu", "cov", "corrcoef", "unique", "bincount" }) do
    M[k] = R[k]
  end
end
M.map_blocks = elemwise.map_blocks
M.where = elemwise.where
M.astype = elemwise.astype
M.dot, M.matmul = linalg.dot, linalg.matmul
M.tensordot, M.einsum, M.outer = linalg.tensordot, linalg.einsum, linalg.outer
--- da.linalg: tsqr, qr, svd, svd_compressed, lstsq, norm (ldask.array.linalg_qr),
-- cholesky, solve, inv, solve_triangular (ldask.array.linalg_solve); see
-- docs/array.md, "Linear algebra".
-- @table linalg
M.linalg = {}
do
  local LQ, LS = require "ldask.array.linalg_qr", require "ldask.array.linalg_solve"
  for _, k in ipairs({ "tsqr", "qr", "svd", "svd_compressed", "lstsq", "norm" }) do M.linalg[k] = LQ[k] end
  for _, k in ipairs({ "cholesky", "solve", "inv", "solve_triangular" }) do M.linalg[k] = LS[k] end
end
M.clip = elemwise.clip

--- isclose(x, y, rtol, atol, equal_nan) or isclose(x, y, {rtol =, atol =, equal_nan =}):
-- numpy.isclose elementwise.
-- @param x an Array
-- @param y an Array or a number
-- @param[opt] rtol relative tolerance (default 1e-5), or an options table
-- @param[opt] atol absolute tolerance (default 1e-8)
-- @param[opt] equal_nan NaN is close to NaN when true
-- @return a bool Array
function M.isclose(x, y, rtol, atol, equal_nan)
  local r = elemwise.isclose(x, y, rtol, atol, equal_nan, 2)
  return r
end

--- allclose(x, y, ...): isclose(...) everywhere, a 0-d bool array (its
-- compute() gives a Lua boolean).
-- @param x an Array
-- @param y an Array or a number
-- @param[opt] rtol relative tolerance, or an options table
-- @param[opt] atol absolute tolerance
-- @param[opt] equal_nan NaN is close to NaN when true
-- @return a 0-d bool Array
function M.allclose(x, y, rtol, atol, equal_nan)
  local r = reductions.reduction(elemwise.isclose(x, y, rtol, atol, equal_nan, 2), "all", nil, false, nil, 2)
  return r
end

--- ravel(x): the array flattened to one axis (also x:ravel(), x:flatten()).
-- @param x an Array
-- @return an Array
function M.ravel(x)
  local r = slicing.reshape(x, { -1 })
  return r
end

--- Unary elementwise functions, as numpy's: `da.NAME(x)` and `x:NAME()` for NAME in
-- abs, arccos, arcsin, arctan, ceil, cos, cosh, exp, expm1, floor, isfinite,
-- isinf, isnan, log, log10, log1p, log2, logical_not, negative, rint, sign,
-- sin, sinh, sqrt, square, tan, tanh, trunc; also `da.round(x)`, `x:round()`.
-- @function sqrt
-- @param x an Array
-- @return an Array
-- Elementwise functions: da.sqrt(x), da.add(x, y), da.maximum(x, y), ...
for op in pairs(E.unop) do
  M[op] = function(x)
    local r = elemwise.unary(op, x, 2)
    return r
  end
end
local BINARY_FUNCS = {
  add = "add", subtract = "sub", multiply = "mul", divide = "div", true_divide = "div",
  floor_divide = "floordiv", mod = "mod", remainder = "mod", power = "pow", maximum = "maximum",
  minimum = "minimum", equal = "eq", not_equal = "ne", less = "lt", less_equal = "le",
  greater = "gt", greater_equal = "ge", logical_and = "and", logical_or = "or", logical_xor = "xor",
  bitwise_and = "bitwise_and", bitwise_or = "bitwise_or", bitwise_xor = "bitwise_xor", fmod = "fmod",
}
--- Binary elementwise functions with broadcasting, as numpy's: `da.NAME(x, y)` for
-- NAME in add, subtract, multiply, divide, true_divide, floor_divide, mod,
-- remainder, power, maximum, minimum, equal, not_equal, less, less_equal,
-- greater, greater_equal, logical_and, logical_or, logical_xor (bool results,
-- as numpy), bitwise_and, bitwise_or, bitwise_xor (integers and bools), fmod
-- (C's remainder, the dividend's sign). Methods:
-- `x:add(y)`, `x:sub(y)`, `x:mul(y)`, `x:div(y)`, `x:floordiv(y)`, `x:mod(y)`,
-- `x:pow(y)`, `x:maximum(y)`, `x:minimum(y)`, `x:eq(y)`, `x:ne(y)`, `x:lt(y)`,
-- `x:le(y)`, `x:gt(y)`, `x:ge(y)`, `x:and_(y)`, `x:or_(y)`, `x:xor(y)` (logical),
-- `x:bitwise_and(y)`, `x:bitwise_or(y)`, `x:bitwise_xor(y)`, `x:fmod(y)`;
-- operators `+ - * / % ^` and unary `-`.
-- @function add
-- @param x an Array or a number
-- @param y an Array or a number
-- @return an Array
for fname, op in pairs(BINARY_FUNCS) do
  M[fname] = function(x, y)
    local r = elemwise.binary(op, x, y, 2)
    return r
  end
end

--- Reductions, as numpy's: `da.NAME(x[, axis[, keepdims[, opts]]])` and
-- `x:NAME(axis, keepdims, opts)` or `x:NAME{ axis =, keepdims =, split_every =, ddof = }`
-- for NAME in sum, prod, mean, min, max, var, std, any, all, argmin, argmax,
-- nanargmin, nanargmax;
-- the NaN-skipping nansum, nanprod, nanmean, nanmin, nanmax, nanvar, nanstd
-- likewise. AXIS: an axis, a list of axes, or nil (all). Partial results
-- combine in a tree (split_every at a time).
-- @function sum
-- @param x an Array
-- @param[opt] axis an axis or a list of axes
-- @param[opt] keepdims keep reduced axes as size 1
-- @param[opt] opts `{ split_every =, ddof = }`
-- @return an Array (0-d for a full reduction)
-- Reductions as functions: da.sum(x, axis, keepdims, opts), ...
local REDUCTIONS = { "sum", "prod", "mean", "min", "max", "var", "std", "any", "all", "argmin", "argmax",
  "nanargmin", "nanargmax" }
for _, op in ipairs(REDUCTIONS) do
  M[op] = function(x, axis, keepdims, opts)
    local r = reductions.reduction(x, op, axis, keepdims, opts, 2)
    return r
  end
end

-- Methods ------------------------------------------------------------------------
local methods = core.methods

-- x:sum(axis, keepdims, {split_every, ddof}) or x:sum{axis = 0, keepdims = true, ...}
-- (ndarray.reduction_args reads both forms, for every reduction)
for _, op in ipairs(REDUCTIONS) do methods[op] = M[op] end
local NANRED = { "nansum", "nanprod", "nanmean", "nanmin", "nanmax", "nanvar", "nanstd" }
for _, op in ipairs(NANRED) do
  M[op] = function(x, axis, keepdims, opts)
    local r = reductions.nan_reduction(x, op, axis, keepdims, opts, 2)
    return r
  end
  methods[op] = M[op]
end
for _, op in ipairs({ "cumsum", "cumprod" }) do
  M[op] = function(x, axis)
    local r = reductions.cumulative(x, op, axis, 2)
    return r
  end
  methods[op] = M[op]
end
--- counts, edges = da.histogram(x, {bins = 10, range = {lo, hi}})
-- @param x an Array
-- @param opts `{ bins = 10, range = { lo, hi } }` (range required)
-- @return counts (an int64 Array of BINS) and edges (an ndarray of BINS + 1)
function M.histogram(x, opts)
  local counts, edges = reductions.histogram(x, opts, 2)
  return counts, edges
end
--- x:clip(lo, hi): values limited to [lo, hi] (either may be nil).
-- @function Array:clip
-- @param lo lower bound, or nil
-- @param hi upper bound, or nil
-- @return an Array
function methods.clip(x, lo, hi) return elemwise.clip(x, lo, hi) end
--- x:ravel() (also x:flatten()): the array flattened to one axis.
-- @function Array:ravel
-- @return an Array
function methods.ravel(x) return slicing.reshape(x, { -1 }) end
methods.flatten = methods.ravel
--- x:round() (also da.round(x)): rounded to the nearest integer, halves to even (numpy.round).
-- @function Array:round
-- @return an Array
function methods.round(x) return elemwise.unary("rint", x, 2) end
M.round = methods.round

for op in pairs(E.unop) do
  methods[op] = function(x)
    local r = elemwise.unary(op, x, 2)
    return r
  end
end
for op in pairs(E.binop) do
  local name = (op == "and" or op == "or") and (op .. "_") or op
  methods[name] = function(x, y)
    local r = elemwise.binary(op, x, y, 2)
    return r
  end
end
--- x:slice{spec, ...} (also x[{spec, ...}]): a slice, 0-based, one spec per leading axis:
-- an index, `{start, stop, step}`, or ":" (docs/array.md, "Slicing").
-- @function Array:slice
-- @param specs a list of specs
-- @return an Array
-- @usage local x = ldask.array.arange(24, { chunks = 6 }):reshape({ 4, 6 })
-- print(x:slice{ 1, { 0, nil, 2 } }:compute())   -- NumPy x[1, 0::2]
function methods.slice(x, specs)
  local r = slicing.getitem(x, specs, 2)
  return r
end
--- x:swapaxes(a, b): axes A and B exchanged.
-- @function Array:swapaxes
-- @param a an axis
-- @param b an axis
-- @return an Array
function methods.swapaxes(x, a, b) return slicing.swapaxes(x, a, b) end
--- x:flip([axis]): reversed along AXIS (nil: every axis).
-- @function Array:flip
-- @param[opt] axis an axis
-- @return an Array
function methods.flip(x, axis) return slicing.flip(x, axis) end
--- x:take(indices[, axis]): the elements at INDICES along AXIS (default 0).
-- @function Array:take
-- @param indices a list of 0-based indices, or an integer ndarray
-- @param[opt] axis an axis
-- @return an Array
function methods.take(x, indices, axis) return slicing.take(x, indices, axis) end
--- x:transpose([axes]) (also x.T): permuted axes (default reversed).
-- @function Array:transpose
-- @param[opt] axes a list: the new order of the axes
-- @return an Array
function methods.transpose(x, axes) return slicing.transpose(x, axes) end
--- x:reshape(shape): the same elements in a new shape (one entry may be -1).
-- @function Array:reshape
-- @param shape a list of sizes
-- @return an Array
function methods.reshape(x, shape) return slicing.reshape(x, shape) end
--- x:rechunk(chunks): the same values in new blocks.
-- @function Array:rechunk
-- @param chunks as for the chunks option of creation
-- @return an Array
function methods.rechunk(x, chunks) return rechunk.rechunk(x, chunks) end
--- x:astype(dtype[, casting]): the values converted to DTYPE.
-- @function Array:astype
-- @param dtype "float64", "float32", "int64", "int32", "uint8" or "bool"
-- @param[opt] casting "unsafe" (default), "same_kind" or "safe"
-- @return an Array
function methods.astype(x, dtype, casting)
  local r = elemwise.astype(x, dtype, casting, 2)
  return r
end
--- x:dot(y) (also x:matmul(y)): the matrix product, as da.dot.
-- @function Array:dot
-- @param y an Array or an ndarray
-- @return an Array
function methods.dot(x, y) return linalg.dot(x, y) end
methods.matmul = methods.dot
--- x:squeeze([axes]): size-1 axes removed (all when AXES is nil).
-- @function Array:squeeze
-- @param[opt] axes an axis or a list
-- @return an Array
function methods.squeeze(x, axes) return slicing.squeeze(x, axes) end
--- x:expand_dims(axis): a new axis of size 1 at AXIS.
-- @function Array:expand_dims
-- @param axis an axis
-- @return an Array
function methods.expand_dims(x, axis) return slicing.expand_dims(x, axis) end
--- x:map_blocks(fn, ...[, opts]): FN(block, ...) per block, as da.map_blocks(fn, x, ...).
-- @function Array:map_blocks
-- @param fn a function of an ndarray (and the other arguments) returning an ndarray
-- @param ... other arrays, Delayed values or Futures (their values), other values as they are,
-- then optionally `{ dtype =, chunks =, name = }`
-- @return an Array
function methods.map_blocks(x, fn, ...) return elemwise.map_blocks(fn, x, ...) end
--- x:to_npy(path[, opts]) (also x:store(path)): computes X block by block into a .npy file.
-- @function Array:to_npy
-- @param path the file
-- @param[opt] opts options of compute
-- @return the number of elements written
function methods.to_npy(x, path, opts) return aio.to_npy(x, path, opts) end
methods.store = methods.to_npy
--- x:to_hdf5(path, dataset[, opts]): writes X block by block into an HDF5 dataset (da.to_hdf5).
-- @function Array:to_hdf5
-- @param path the file
-- @param dataset the dataset's path in the file, e.g. "/y"
-- @param[opt] opts `{ chunks =, compression = "gzip", compression_opts = }` and options of compute
-- @return the number of elements written
function methods.to_hdf5(x, path, dataset, opts) return h5.to_hdf5(path, dataset, x, opts) end
--- x:to_zarr(dir[, opts]): writes X into a zarr v2 directory store, one task per chunk (da.to_zarr).
-- @function Array:to_zarr
-- @param dir the store's directory
-- @param[opt] opts `{ chunks =, compressor =, order =, fill_value =, component =, overwrite =,
-- attrs = }` and options of compute
-- @return the number of elements written
function methods.to_zarr(x, dir, opts) return zarr.to_zarr(x, dir, opts) end
--- x:map_overlap(fn, opts): as da.map_overlap(fn, x, opts): FN on blocks extended
-- by ghost cells (`{ depth =, boundary = "none"|"reflect"|"periodic"|"nearest"|number }`).
-- @function Array:map_overlap
-- @param fn a function of an ndarray returning an ndarray of the same shape
-- @param opts `{ depth =, boundary =, dtype =, trim = true }`
-- @return an Array
function methods.map_overlap(x, fn, opts)
  local r = require("ldask.array.overlap").map_overlap(fn, x, opts)
  return r
end
--- x:topk(k[, axis]) and x:argtopk(k[, axis]): as da.topk / da.argtopk.
-- @function Array:topk
-- @param k a non-zero integer (negative: the smallest)
-- @param[opt] axis an axis (default -1)
-- @return an Array
function methods.topk(x, k, axis)
  local r = require("ldask.array.order").topk(x, k, axis)
  return r
end
function methods.argtopk(x, k, axis)
  local r = require("ldask.array.order").argtopk(x, k, axis)
  return r
end

--- x:compute_chunk_sizes([opts]): computes unknown block sizes (NaN, after boolean
-- mask indexing) and records them in x, which is returned (in place, as dask).
-- @function Array:compute_chunk_sizes
-- @param[opt] opts options of compute
-- @return x
function methods.compute_chunk_sizes(x, opts) return IX.compute_chunk_sizes(x, opts) end
--- x:setitem(sel, value) (also x[sel] = value): dask's __setitem__, in place: SEL a
-- boolean mask of x's shape (where-based) or a list of integer/slice specs;
-- VALUE a number, an ndarray or an array broadcasting to the selection.
-- @function Array:setitem
-- @param sel a boolean array or a list of index specs
-- @param value the new values
-- @return x
function methods.setitem(x, sel, value)
  local r = IX.setitem(x, sel, value, 2)
  return r
end
--- x:vindex(i0, i1, ...): point-wise indexing, dask's x.vindex[i0, i1, ...]: point p
-- is x[i0[p], i1[p], ...]; the result has one axis of points, then the axes not indexed.
-- @function Array:vindex
-- @param ... lists (or int ndarrays, or numbers) of 0-based indices, one per leading axis
-- @return an Array
function methods.vindex(x, ...)
  local r = IX.vindex(x, { ... }, 2)
  return r
end

--- x:visualize([filename[, opts]]): draws the graph, as ldask.visualize.
-- @function Array:visualize
-- @param[opt] filename the file to write
-- @param[opt] opts options of ldask.visualize
-- @return the path written and a message
function methods.visualize(x, filename, opts) return require("ldask").visualize(x, filename, opts) end

local Array = core.Array
local function binop(op)
  return function(x, y)
    local r = elemwise.binary(op, x, y, 2)
    return r
  end
end
Array.__add, Array.__sub, Array.__mul = binop("add"), binop("sub"), binop("mul")
Array.__div, Array.__mod, Array.__pow = binop("div"), binop("mod"), binop("pow")
Array.__unm = function(x)
  local r = elemwise.unary("negative", x, 2)
  return r
end

return M
