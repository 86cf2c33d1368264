--- ldask.array.routines: numpy routines built from the array's own
-- operations (slicing, concatenation, elementwise and reductions), as
-- dask.array has them: vstack, hstack, dstack, diff, roll, isin,
-- count_nonzero, average, nan_to_num, meshgrid, tril, triu, cov, corrcoef.
-- Each is lazy and works on any chunking; errors name the argument.
-- @submodule ldask.array
local core = require "ldask.array.core"
local slicing = require "ldask.array.slicing"
local elemwise = require "ldask.array.elemwise"
local reductions = require "ldask.array.reductions"
local nd = require "ldask.array.ndarray"

local type, error, ipairs, tostring, unpack, getmetatable = type, error, ipairs, tostring, unpack, getmetatable
local format = string.format
local is_array = core.is_array

local M = {}

-- (LEVEL: the user's frame from here; 3 = the caller of our caller)
local function check_array(x, what, i, level)
  if not is_array(x) then
    error(format("%s: argument %s must be an ldask array, got %s", what, tostring(i or 1), type(x)), level or 3)
  end
end

-- AXIS of an N-d array (negative from the end), checked; 0-based.
local function norm_axis(axis, ndim, what)
  axis = axis or 0
  if type(axis) ~= "number" or axis % 1 ~= 0 or axis < -ndim or axis >= ndim then
    error(format("%s: axis %s out of range for %d dimensions", what, tostring(axis), ndim), 3)
  end
  return axis < 0 and axis + ndim or axis
end

local function list_of_arrays(list, what, level)
  if type(list) ~= "table" or getmetatable(list) ~= nil or #list == 0 then
    error(what .. ": expected a non-empty list of arrays", level)
  end
  for i, a in ipairs(list) do check_array(a, what, "list[" .. i .. "]", level + 1) end
end

-- A spec selecting [lo, hi) along AXIS of an NDIM array (":" elsewhere).
local function along(ndim, axis, lo, hi)
  local spec = {}
  for d = 1, ndim do spec[d] = ":" end
  spec[axis + 1] = { lo or false, hi or false }
  return spec
end

-- Arrays of LIST with at least N dimensions (numpy's atleast_Nd layout:
-- 1-d (n) -> (1, n), 2-d (a, b) -> (a, b, 1) for N = 3).
local function atleast(list, n)
  local out = {}
  for i, a in ipairs(list) do
    local x = a
    if n >= 2 and x.ndim == 0 then x = slicing.reshape(x, { 1, 1 })
    elseif n >= 2 and x.ndim == 1 then x = slicing.expand_dims(x, 0) end
    if n == 3 and x.ndim == 2 then x = slicing.expand_dims(x, 2) end
    out[i] = x
  end
  return out
end

-- LIST concatenated along AXIS after atleast(LIST, N) (N = 0: as given).
local function stacked(list, what, n, axis)
  list_of_arrays(list, what, 4)
  local arrays = n > 0 and atleast(list, n) or list
  return slicing.concatenate(arrays, axis or (arrays[1].ndim == 1 and 0 or 1))
end

--- vstack(list): arrays stacked row-wise (1-d ones become rows), numpy's.
-- @param list a list of Arrays
-- @return an Array
function M.vstack(list) return (stacked(list, "vstack", 2, 0)) end

--- hstack(list): arrays stacked column-wise (1-d ones end to end), numpy's.
-- @param list a list of Arrays
-- @return an Array
function M.hstack(list) return (stacked(list, "hstack", 0)) end

--- dstack(list): arrays stacked along a third axis, numpy's.
-- @param list a list of Arrays
-- @return an Array
function M.dstack(list) return (stacked(list, "dstack", 3, 2)) end

--- diff(x, n, axis): the N-th discrete difference along AXIS (default 1,
-- the last axis), numpy's.
-- @param x an Array
-- @param[opt] n how many times (default 1)
-- @param[opt] axis the axis (default -1)
-- @return an Array, one shorter along AXIS per difference
function M.diff(x, n, axis)
  check_array(x, "diff")
  n = n or 1
  if type(n) ~= "number" or n < 0 or n % 1 ~= 0 then
    error("diff: n must be a non-negative integer, got " .. tostring(n), 2)
  end
  local ax = norm_axis(axis or -1, x.ndim, "diff")
  for _ = 1, n do
    local len = x.shape[ax + 1]
    x = slicing.getitem(x, along(x.ndim, ax, 1, len), 2) - slicing.getitem(x, along(x.ndim, ax, 0, len - 1), 2)
  end
  return x
end

--- roll(x, shift, axis): elements shifted by SHIFT along AXIS, those
-- past the end coming back at the start; without AXIS, over the flattened
-- array (reshaped back), numpy's.
-- @param x an Array
-- @param shift the shift (an integer)
-- @param[opt] axis the axis
-- @return an Array
function M.roll(x, shift, axis)
  check_array(x, "roll")
  if type(shift) ~= "number" or shift % 1 ~= 0 then
    error("roll: shift must be an integer, got " .. tostring(shift), 2)
  end
  if axis == nil then
    local flat = slicing.reshape(x, { -1 })
    return (slicing.reshape(M.roll(flat, shift, 0), x.shape))
  end
  local ax = norm_axis(axis, x.ndim, "roll")
  local len = x.shape[ax + 1]
  if len == 0 then return x end
  local s = shift % len
  if s == 0 then return x end
  local tail = slicing.getitem(x, along(x.ndim, ax, len - s, len), 2)
  local head = slicing.getitem(x, along(x.ndim, ax, 0, len - s), 2)
  return (slicing.concatenate({ tail, head }, ax))
end

--- isin(x, values): true where an element of X is in VALUES (a list of
-- numbers or a small ndarray), numpy's.
-- @param x an Array
-- @param values a list of numbers or a 1-D ndarray
-- @return a bool Array
function M.isin(x, values)
  check_array(x, "isin")
  if nd.is_ndarray(values) then values = values:totable() end
  if type(values) ~= "table" or #values == 0 then
    error("isin: values must be a non-empty list of numbers or a 1-D ndarray", 2)
  end
  local r = elemwise.binary("eq", x, values[1], 2)
  for i = 2, #values do r = elemwise.binary("or", r, elemwise.binary("eq", x, values[i], 2), 2) end
  return r
end

--- count_nonzero(x, axis): how many elements are not zero (int64), numpy's.
-- @param x an Array
-- @param[opt] axis an axis or a list of axes (all when nil)
-- @return an Array (0-d for all axes)
function M.count_nonzero(x, axis)
  check_array(x, "count_nonzero")
  local nz = elemwise.astype(elemwise.binary("ne", x, 0, 2), "int64")
  local r = reductions.reduction(nz, "sum", axis, false, nil, 2)
  return r
end

--- average(x, axis, weights): the weighted mean (numpy's average); WEIGHTS
-- an array of X's shape, or 1-D along AXIS.
-- @param x an Array
-- @param[opt] axis the axis (all when nil)
-- @param[opt] weights an Array
-- @return an Array
function M.average(x, axis, weights)
  check_array(x, "average")
  if weights == nil then
    local r = reductions.reduction(x, "mean", axis, false, nil, 2)
    return r
  end
  check_array(weights, "average", "weights")
  local w = weights
  if w.ndim == 1 and x.ndim > 1 then
    if axis == nil then error("average: 1-D weights need an axis", 2) end
    local ax = norm_axis(axis, x.ndim, "average")
    if w.shape[1] ~= x.shape[ax + 1] then
      error(format("average: %d weights for axis %d of length %d", w.shape[1], ax, x.shape[ax + 1]), 2)
    end
    local shape = {}
    for d = 1, x.ndim do shape[d] = 1 end
    shape[ax + 1] = w.shape[1]
    w = slicing.reshape(w, shape)
  end
  local num = reductions.reduction(elemwise.binary("mul", x, w, 2), "sum", axis, false, nil, 2)
  -- (the weights broadcast to X's shape, then summed the same way)
  local ones = require("ldask.array.creation").ones_like(x, { dtype = "float64" })
  local den = reductions.reduction(elemwise.binary("mul", ones, w, 2), "sum", axis, false, nil, 2)
  return (elemwise.binary("div", num, den, 2))
end

--- nan_to_num(x, {nan = 0, posinf =, neginf =}): NaN and infinities
-- replaced (by 0 and the dtype's largest finite values by default), numpy's.
-- @param x an Array
-- @param[opt] opts `{ nan =, posinf =, neginf = }`
-- @return an Array
function M.nan_to_num(x, opts)
  check_array(x, "nan_to_num")
  if x.dtype ~= "float64" and x.dtype ~= "float32" then return x end
  opts = opts or {}
  local big = x.dtype == "float32" and 3.4028234663852886e38 or 1.7976931348623157e308
  local r = elemwise.where(elemwise.unary("isnan", x, 2), opts.nan or 0, x)
  r = elemwise.where(elemwise.binary("eq", r, math.huge, 2), opts.posinf or big, r)
  r = elemwise.where(elemwise.binary("eq", r, -math.huge, 2), opts.neginf or -big, r)
  return elemwise.astype(r, x.dtype)
end

--- meshgrid(x1, x2, ..., {indexing = "xy"}): coordinate arrays from 1-D
-- arrays, numpy's (the first two axes swapped with "xy", the default).
-- @param ... 1-D Arrays, then optionally `{ indexing = "xy" | "ij" }`
-- @return one Array per input
function M.meshgrid(...)
  local args = { ... }
  local opts = {}
  if #args > 0 and not is_array(args[#args]) and type(args[#args]) == "table" then opts = table.remove(args) end
  local indexing = opts.indexing or "xy"
  if indexing ~= "xy" and indexing ~= "ij" then
    error("meshgrid: indexing must be \"xy\" or \"ij\", got " .. tostring(indexing), 2)
  end
  local n = #args
  for i, a in ipairs(args) do
    check_array(a, "meshgrid", i)
    if a.ndim ~= 1 then error(format("meshgrid: argument %d is %d-D (1-D arrays only)", i, a.ndim), 2) end
  end
  local shape = {}
  for i, a in ipairs(args) do shape[i] = a.shape[1] end
  if indexing == "xy" and n >= 2 then shape[1], shape[2] = shape[2], shape[1] end
  local out = {}
  for i, a in ipairs(args) do
    local pos = i
    if indexing == "xy" and n >= 2 and i <= 2 then pos = 3 - i end
    local sh = {}
    for d = 1, n do sh[d] = 1 end
    sh[pos] = a.shape[1]
    out[i] = slicing.broadcast_to(slicing.reshape(a, sh), shape)
  end
  return unpack(out, 1, n)
end

--- Task: numpy's tril (LOWER) or triu of block B, whose first element is
-- at (ROW0, COL0) of the whole matrix, for diagonal K.
function M._tri_block(lower, k, row0, col0, b)
  return require("ldask.array.ndlinalg").tri(b, lower, k + row0 - col0)
end

local function tri(x, k, lower, what)
  check_array(x, what)
  if x.ndim ~= 2 then error(format("%s: expected a 2-D array, got %d-D", what, x.ndim), 3) end
  k = k or 0
  if type(k) ~= "number" or k % 1 ~= 0 then error(what .. ": k must be an integer, got " .. tostring(k), 3) end
  local starts = {}
  for d = 1, 2 do
    local s, acc = {}, 0
    for i, c in ipairs(x.chunks[d]) do s[i] = acc; acc = acc + c end
    starts[d] = s
  end
  local layer = {}
  local name = core.name(what, { what, k, x.name })
  core.each_block(core.numblocks(x.chunks), function(idx)
    layer[core.bkey(name, idx)] = { M._tri_block, lower, k, starts[1][idx[1] + 1], starts[2][idx[2] + 1],
      core.bkey(x.name, idx) }
  end)
  return core.new(name, layer, x.chunks, x.dtype, { x })
end

--- tril(x, k): the lower triangle of a 2-D array (below diagonal K), numpy's.
-- @param x a 2-D Array
-- @param[opt] k the diagonal (0 the main one)
-- @return an Array
function M.tril(x, k)
  local r = tri(x, k, true, "tril")
  return r
end

--- triu(x, k): the upper triangle of a 2-D array (from diagonal K), numpy's.
-- @param x a 2-D Array
-- @param[opt] k the diagonal (0 the main one)
-- @return an Array
function M.triu(x, k)
  local r = tri(x, k, false, "triu")
  return r
end

--- cov(x, {rowvar = true, ddof = 1}): the covariance matrix of the
-- variables in X's rows (its columns with rowvar = false), numpy's.
-- @param x a 1-D or 2-D Array
-- @param[opt] opts `{ rowvar =, ddof = }`
-- @return a 2-D Array (0-d for one variable)
function M.cov(x, opts)
  check_array(x, "cov")
  opts = opts or {}
  if x.ndim > 2 then error("cov: expected a 1-D or 2-D array, got " .. x.ndim .. "-D", 2) end
  if x.ndim == 1 then x = slicing.expand_dims(x, 0) end
  if opts.rowvar == false then x = slicing.transpose(x) end
  x = elemwise.astype(x, "float64")
  local nobs = x.shape[2]
  local ddof = opts.ddof or 1
  local centered = x - reductions.reduction(x, "mean", 1, true, nil, 2)
  local c = require("ldask.array.linalg").dot(centered, slicing.transpose(centered)) / (nobs - ddof)
  if c.shape[1] == 1 then return (slicing.reshape(c, {})) end
  return c
end

--- corrcoef(x, {rowvar = true}): Pearson correlation coefficients, numpy's.
-- @param x a 1-D or 2-D Array
-- @param[opt] opts `{ rowvar = }`
-- @return a 2-D Array
function M.corrcoef(x, opts)
  local c = M.cov(x, { rowvar = opts and opts.rowvar })
  if c.ndim == 0 then return c / c end
  local n = c.shape[1]
  local eye = require("ldask.array.creation").eye(n, { chunks = c.chunks[1] })
  local d = elemwise.unary("sqrt", reductions.reduction(c * eye, "sum", 1, false, nil, 2), 2)
  return c / slicing.reshape(d, { n, 1 }) / slicing.reshape(d, { 1, n })
end

return M
