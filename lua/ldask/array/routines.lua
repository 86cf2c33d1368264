--- ldask.array.routines: numpy routines built from the array's own
-- operations (slicing, concatenation, elementwise and reductions), as
-- dask.array has them: vstack, hstack, dstack, diff, roll, isin,
-- count_nonzero, average, nan_to_num, meshgrid, tril, triu, cov, corrcoef,
-- unique, bincount.
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

-- The sorted distinct values of the values of the ndarrays LIST, as a 1-D
-- ndarray of DTYPE (NaNs, sorted last, kept once as numpy does).
local function distinct(list, dtype)
  local vals = {}
  for _, a in ipairs(list) do
    for _, v in ipairs(a:reshape({ -1 }):tolist()) do vals[#vals + 1] = v end
  end
  local nan = false
  local nums = {}
  for _, v in ipairs(vals) do
    if v ~= v then nan = true else nums[#nums + 1] = v end
  end
  table.sort(nums, function(a, b) return a < b end) -- (false < true for bools: as numbers below)
  local out = {}
  for i, v in ipairs(nums) do if i == 1 or v ~= nums[i - 1] then out[#out + 1] = v end end
  if nan then out[#out + 1] = 0 / 0 end
  if #out == 0 then return nd.zeros({ 0 }, dtype) end
  return nd.from_table(out, dtype)
end

--- Task: the sorted distinct values of block B (1-D).
function M._unique_block(b)
  if b.dtype == "bool" then return distinct({ b:astype("uint8") }, "uint8"):astype("bool") end
  return distinct({ b }, b.dtype)
end

--- Task: the sorted distinct values of the 1-D blocks given.
function M._unique_merge(...)
  local parts = { ... }
  local dtype = parts[1].dtype
  if dtype == "bool" then
    for i, p in ipairs(parts) do parts[i] = p:astype("uint8") end
    return distinct(parts, "uint8"):astype("bool")
  end
  return distinct(parts, dtype)
end

-- A tree of FN over the keys LEAVES (8 at a time) under NAME, ending in
-- the key FINAL. Adds the tasks to LAYER.
local function tree(layer, name, leaves, fn, final)
  local level, depth = leaves, 0
  repeat
    local nxt = {}
    for i = 1, #level, 8 do
      local t = { fn }
      for j = i, math.min(i + 7, #level) do t[#t + 1] = level[j] end
      local k = #level <= 8 and final or (name .. "-combine-" .. depth .. "," .. (#nxt))
      layer[k] = t
      nxt[#nxt + 1] = k
    end
    level, depth = nxt, depth + 1
  until #level == 1
end

--- unique(x): the sorted distinct values of X, flattened (a 1-D array of
-- unknown length, one block, as dask's; NaN kept once).
-- @param x an Array
-- @return an Array
function M.unique(x)
  check_array(x, "unique")
  local name = core.name("unique", { "unique", x.name })
  local layer, leaves = {}, {}
  core.each_block(core.numblocks(x.chunks), function(idx)
    local k = name .. "-block," .. #leaves
    layer[k] = { M._unique_block, x.ndim == 0 and x.name or core.bkey(x.name, idx) }
    leaves[#leaves + 1] = k
  end)
  tree(layer, name, leaves, M._unique_merge, core.bkey(name, { 0 }))
  return core.new(name, layer, { { 0 / 0 } }, x.dtype, { x })
end

--- Task: the counts of the non-negative integers of block B, MINLENGTH long
-- at least (numpy's bincount, optional weights W).
function M._bincount_block(minlength, b, w)
  local vals = b:reshape({ -1 }):tolist()
  local wv = w and w:reshape({ -1 }):tolist()
  local counts, n = {}, minlength
  for i, v in ipairs(vals) do
    if v < 0 or v % 1 ~= 0 then
      error(format("bincount: the values must be non-negative integers, found %s", tostring(v)), 0)
    end
    if v + 1 > n then n = v + 1 end
    counts[v + 1] = (counts[v + 1] or 0) + (wv and wv[i] or 1)
  end
  local out = {}
  for i = 1, n do out[i] = counts[i] or 0 end
  if n == 0 then return nd.zeros({ 0 }, w and "float64" or "int64") end
  return nd.from_table(out, w and "float64" or "int64")
end

--- Task: the sum of count vectors of different lengths.
function M._bincount_merge(...)
  local parts, n = { ... }, 0
  for _, p in ipairs(parts) do if p.shape[1] > n then n = p.shape[1] end end
  local out = {}
  for i = 1, n do out[i] = 0 end
  for _, p in ipairs(parts) do for i, v in ipairs(p:tolist()) do out[i] = out[i] + v end end
  if n == 0 then return nd.zeros({ 0 }, parts[1].dtype) end
  return nd.from_table(out, parts[1].dtype)
end

--- bincount(x, {weights =, minlength = 0}): how many times each
-- non-negative integer of the 1-D int array X occurs (weighted: the sum of
-- WEIGHTS there), numpy's; a 1-D array of unknown length, one block.
-- @param x a 1-D integer Array
-- @param[opt] opts `{ weights = (an Array like x), minlength = }`
-- @return an Array
function M.bincount(x, opts)
  check_array(x, "bincount")
  opts = opts or {}
  if x.ndim ~= 1 or not x.dtype:match("int") then
    error(format("bincount: expected a 1-D integer array, got %d-D %s", x.ndim, x.dtype), 2)
  end
  local w = opts.weights
  if w ~= nil then
    check_array(w, "bincount", "weights", 3)
    if w.ndim ~= 1 or w.shape[1] ~= x.shape[1] then error("bincount: weights must have x's shape", 2) end
    w = require("ldask.array.rechunk").rechunk(w, { x.chunks[1] })
  end
  local minlength = opts.minlength or 0
  local name = core.name("bincount", { "bincount", x.name, w and w.name or "", minlength })
  local layer, leaves = {}, {}
  for i = 0, #x.chunks[1] - 1 do
    local k = name .. "-block," .. i
    layer[k] = { M._bincount_block, minlength, core.bkey(x.name, { i }), w and core.bkey(w.name, { i }) or nil }
    leaves[#leaves + 1] = k
  end
  tree(layer, name, leaves, M._bincount_merge, core.bkey(name, { 0 }))
  return core.new(name, layer, { { 0 / 0 } }, w and "float64" or "int64", w and { x, w } or { x })
end

return M
