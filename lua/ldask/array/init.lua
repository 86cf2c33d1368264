-- ldask.array: blocked N-d arrays on C kernels (the collection, like
-- dask.array). `local da = require "ldask.array"` (or ldask.array). An
-- Array is a grid of ndarray blocks described by a task graph; compute()
-- returns one ndarray. See docs/array.md for the guide and conventions.
local core = require "ldask.array.core"
local nd = require "ldask.array.ndarray"
local creation = require "ldask.array.creation"
local elemwise = require "ldask.array.elemwise"
local reductions = require "ldask.array.reductions"
local slicing = require "ldask.array.slicing"
local rechunk = require "ldask.array.rechunk"
local linalg = require "ldask.array.linalg"
local aio = require "ldask.array.io"
require "ldask.array.blocks" -- x.blocks[{i, j}] and x:block(i, j)
local E = require "ldask.ffi.array"

local pairs, ipairs = pairs, ipairs

local M = {}

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
M.zeros_like, M.ones_like, M.empty_like, M.full_like =
  creation.zeros_like, creation.ones_like, creation.empty_like, creation.full_like

-- Slice spec helper: da.s(start, stop, step) == {start, stop, step}.
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
function M.flipud(x) return slicing.flip(x, 0) end
function M.fliplr(x) return slicing.flip(x, 1) end
M.expand_dims = slicing.expand_dims
M.map_blocks = elemwise.map_blocks
M.where = elemwise.where
M.astype = elemwise.astype
M.dot, M.matmul = linalg.dot, linalg.matmul
M.clip = elemwise.clip

-- isclose(x, y, rtol, atol, equal_nan) or isclose(x, y, {rtol =, atol =, equal_nan =})
function M.isclose(x, y, rtol, atol, equal_nan)
  local r = elemwise.isclose(x, y, rtol, atol, equal_nan, 2)
  return r
end

-- allclose(x, y, ...): isclose(...) everywhere, a 0-d bool array (its
-- compute() gives a Lua boolean).
function M.allclose(x, y, rtol, atol, equal_nan)
  local r = reductions.reduction(elemwise.isclose(x, y, rtol, atol, equal_nan, 2), "all", nil, false, nil, 2)
  return r
end

function M.ravel(x)
  local r = slicing.reshape(x, { -1 })
  return r
end

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
for fname, op in pairs(BINARY_FUNCS) do
  M[fname] = function(x, y)
    local r = elemwise.binary(op, x, y, 2)
    return r
  end
end

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
-- counts, edges = da.histogram(x, {bins = 10, range = {lo, hi}})
function M.histogram(x, opts)
  local counts, edges = reductions.histogram(x, opts, 2)
  return counts, edges
end
function methods.clip(x, lo, hi) return elemwise.clip(x, lo, hi) end
function methods.ravel(x) return slicing.reshape(x, { -1 }) end
methods.flatten = methods.ravel
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
function methods.slice(x, specs)
  local r = slicing.getitem(x, specs, 2)
  return r
end
function methods.swapaxes(x, a, b) return slicing.swapaxes(x, a, b) end
function methods.flip(x, axis) return slicing.flip(x, axis) end
function methods.take(x, indices, axis) return slicing.take(x, indices, axis) end
function methods.transpose(x, axes) return slicing.transpose(x, axes) end
function methods.reshape(x, shape) return slicing.reshape(x, shape) end
function methods.rechunk(x, chunks) return rechunk.rechunk(x, chunks) end
function methods.astype(x, dtype, casting)
  local r = elemwise.astype(x, dtype, casting, 2)
  return r
end
function methods.dot(x, y) return linalg.dot(x, y) end
methods.matmul = methods.dot
function methods.squeeze(x, axes) return slicing.squeeze(x, axes) end
function methods.expand_dims(x, axis) return slicing.expand_dims(x, axis) end
function methods.map_blocks(x, fn, opts) return elemwise.map_blocks(fn, x, opts or {}) end
function methods.to_npy(x, path, opts) return aio.to_npy(x, path, opts) end
methods.store = methods.to_npy
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
