-- ldask.array.kernels: the task functions of ldask.array graphs. Every task
-- of an array graph is {kernels.f, args...}; module functions travel to
-- executors by module path. Each function works on ndarray blocks
-- (lua/ldask/array/ndarray.lua) and never sees the whole array.
local ffi = require "ffi"
local nd = require "ldask.array.ndarray"
local lib = require "ldask.native"
require "ldask.ffi.array"

local type, ipairs, error, tonumber, tostring, unpack, format =
  type, ipairs, error, tonumber, tostring, unpack, string.format

local M = {}

-- Creation ---------------------------------------------------------------

-- A constant block is one element broadcast (stride 0) to SHAPE, like
-- dask's broadcast trick: no memory per element. Treat blocks as read-only.
function M.full(shape, value, dtype) return nd.full({}, value, dtype):broadcast_to(shape) end

function M.ramp(n, start, step, dtype) return nd.ramp(n, start, step, dtype) end

-- Block of eye(N, M, k): ROW0/COL0 the block's global offsets.
function M.eye_block(shape, row0, col0, k, dtype)
  local a = nd.zeros(shape, dtype)
  local rows, cols = shape[1], shape[2]
  -- diagonal elements i - j == -k  <=>  global col = global row + k
  for i = 0, rows - 1 do
    local j = row0 + i + k - col0
    if j >= 0 and j < cols then a:set(i, j, 1) end
  end
  return a
end

-- Counter-based random block (see ldask.array.creation): GEN describes the
-- generator and the map from this array's positions to global positions.
function M.random(gen, bstart, bshape)
  local n = #gen.gshape
  local start, step, shape = {}, {}, {}
  -- positions along this array's axes; dropped axes are fixed at one index
  local k = 0
  for d = 1, n do
    if gen.fixed[d] then
      start[d], step[d], shape[d] = gen.fixed[d], 1, 1
    else
      k = k + 1
      start[d] = gen.start[d] + bstart[k] * gen.step[d]
      step[d] = gen.step[d]
      shape[d] = bshape[k]
    end
  end
  local a = nd.random_block(gen.kind, gen.dtype, gen.seed, gen.gshape, start, step, shape, gen.p1, gen.p2)
  if k ~= n then a = a:reshape(bshape) end
  if gen.cast then a = a:astype(gen.cast) end
  return a
end

-- Elementwise --------------------------------------------------------------

function M.binary(op, x, y) return nd.binary(op, x, y) end

function M.unary(op, x) return nd.unary(op, x) end

function M.where(c, x, y) return nd.where(c, x, y) end

function M.isclose(rtol, atol, equal_nan, x, y) return nd.isclose(x, y, rtol, atol, equal_nan) end

function M.astype(x, dtype) return x:astype(dtype) end

function M.identity(x) return x end

-- The value a 0-d array computes to (ndarray.scalar_value: a number, a
-- boolean, or an exact int64_t beyond 2^53); other values pass.
function M.scalar_result(r)
  if nd.is_ndarray(r) and r.ndim == 0 then return nd.scalar_value(r) end
  return r
end

-- Checks that X (e.g. the result of a delayed value) is an ndarray of SHAPE
-- and converts it to DTYPE.
function M.check_block(x, shape, dtype, what)
  if type(x) == "number" and #shape == 0 then x = nd.scalar(x, nd.dtype_code(dtype)) end
  if not nd.is_ndarray(x) then
    error(format("%s: block is %s, expected an ndarray of shape %s", what, type(x), nd.shape_str(shape)), 0)
  end
  local s = x.shape
  local ok = #s == #shape
  for d = 1, #shape do if s[d] ~= shape[d] then ok = false end end
  if not ok then
    error(format("%s: block has shape %s, expected %s", what, nd.shape_str(s), nd.shape_str(shape)), 0)
  end
  if x.dtype ~= dtype then x = x:astype(dtype) end
  return x
end

-- Views ----------------------------------------------------------------------

-- SPECS: a list of {"i", index} or {"s", start, stop, step} entries.
function M.slice(x, specs)
  local s = {}
  for i, sp in ipairs(specs) do
    if sp[1] == "i" then s[i] = sp[2]
    else s[i] = { sp[2], sp[3], sp[4] } end -- false bounds mean "none"
  end
  return x:slice(s)
end

function M.transpose(x, axes) return x:transpose(axes) end

function M.reshape(x, shape) return x:reshape(shape) end

function M.broadcast_to(x, shape) return x:broadcast_to(shape) end

function M.expand_dims(x, axis) return x:expand_dims(axis) end

function M.squeeze(x, axes) return x:squeeze(axes) end

-- Assembles a grid (nested lists, NDIM levels) of blocks into one block.
function M.block(grid, ndim) return nd.block(grid, ndim) end

function M.concatenate(list, axis) return nd.concatenate(list, axis) end

-- Rechunk piece: block X restricted to [lo, hi) per axis (0-based lists).
function M.piece(x, lo, hi)
  local s = {}
  for d = 1, #lo do s[d] = { lo[d], hi[d], 1 } end
  return x:slice(s)
end

-- Elements of X at the 0-based local INDICES along AXIS (a new array).
function M.take(x, indices, axis)
  local shape = x.shape
  shape[axis + 1] = #indices
  local out = nd.alloc(shape, x.dtype)
  local spec_o, spec_x = {}, {}
  for d = 1, x.ndim do spec_o[d], spec_x[d] = ":", ":" end
  for i, li in ipairs(indices) do
    spec_o[axis + 1] = { i - 1, i }
    spec_x[axis + 1] = { li, li + 1 }
    nd.assign(out:slice(spec_o), x:slice(spec_x))
  end
  return out
end

-- Linear algebra -------------------------------------------------------------

-- Sum over k of A[k] @ B[k] (lists of blocks), accumulated in one output.
function M.dot_sum(as, bs, dtype)
  local m, n = as[1].shape[1], bs[1].shape[2]
  local c = nd.zeros({ m, n }, dtype)
  for i = 1, #as do nd.matmul_acc(as[i], bs[i], c) end
  return c
end

-- Reductions -------------------------------------------------------------------
-- A partial is an ndarray (sum, prod, min, max, any, all) or a table:
-- mean {s = sum, n = count}, var/std {n, mean, m2}, arg {i = index, v = value}.

local function mask_of(axes)
  local m = 0
  for _, d in ipairs(axes) do m = m + 2 ^ d end
  return m
end

-- Per-block partial of reduction OP over AXES (0-based list) with keepdims.
-- For argmin/argmax, OFFSET is the block's global start along the axis (or
-- for a flattened reduction, {starts, global shape}).
function M.red_chunk(op, x, axes, arg)
  local mask = mask_of(axes)
  local is_arg = op == "argmin" or op == "argmax" or op == "nanargmin" or op == "nanargmax"
  if (op == "min" or op == "max" or is_arg) and x.size == 0 then
    return { empty = true } -- an empty block has no extreme; the combine skips it
  end
  if op == "sum" or op == "prod" or op == "min" or op == "max" or op == "any" or op == "all" then
    return nd.reduce_raw(op, x, mask)
  end
  local n = 1
  for _, d in ipairs(axes) do n = n * x.shape[d + 1] end
  if op == "mean" then
    return { s = nd.reduce_raw("sum", x, mask), n = n }
  elseif op == "var" then
    local xf = x.dtype == "float64" and x or x:astype("float64")
    local s = nd.reduce_raw("sum", xf, mask)
    local mu = n > 0 and nd.binary("div", s, n) or s
    local dev = nd.binary("sub", xf, mu)
    return { n = n, mean = mu, m2 = nd.reduce_raw("sum", nd.binary("mul", dev, dev), mask) }
  elseif is_arg then
    local idx, val
    if arg.flat then
      -- flattened: local flat index -> global flat index
      local i, v = nd.argreduce(x, op, nil, true, true)
      local li = i:item()
      local shape = x.shape
      local g, rem = 0, li
      local mult = {}
      local acc = 1
      for d = #shape, 1, -1 do mult[d] = acc; acc = acc * shape[d] end
      local gacc = 1
      local gmult = {}
      for d = #arg.gshape, 1, -1 do gmult[d] = gacc; gacc = gacc * arg.gshape[d] end
      for d = 1, #shape do
        local q = math.floor(rem / mult[d])
        rem = rem - q * mult[d]
        g = g + (q + arg.start[d]) * gmult[d]
      end
      idx = nd.full(i.shape, g, "int64")
      val = v
    else
      idx, val = nd.argreduce(x, op, axes[1], true, true)
      if arg.offset ~= 0 then idx = nd.binary("add", idx, arg.offset) end
    end
    return { i = idx, v = val }
  end
  error("red_chunk: unknown reduction " .. tostring(op))
end

local function combine2(op, a, b)
  if type(a) == "table" and a.empty then return b end
  if type(b) == "table" and b.empty then return a end
  if op == "sum" or op == "mean_s" then return nd.binary("add", a, b) end
  if op == "prod" then return nd.binary("mul", a, b) end
  if op == "min" then return nd.binary("minimum", a, b) end
  if op == "max" then return nd.binary("maximum", a, b) end
  if op == "any" then return nd.binary("or", a, b) end
  if op == "all" then return nd.binary("and", a, b) end
  if op == "mean" then return { s = nd.binary("add", a.s, b.s), n = a.n + b.n } end
  if op == "var" then
    local n = a.n + b.n
    if a.n == 0 then return b end
    if b.n == 0 then return a end
    local delta = nd.binary("sub", b.mean, a.mean)
    local mean = nd.binary("add", a.mean, nd.binary("mul", delta, b.n / n))
    local m2 = nd.binary("add", nd.binary("add", a.m2, b.m2),
      nd.binary("mul", nd.binary("mul", delta, delta), a.n * b.n / n))
    return { n = n, mean = mean, m2 = m2 }
  end
  if op == "argmin" or op == "argmax" or op == "nanargmin" or op == "nanargmax" then
    -- B wins when its value is more extreme, or equal and earlier (global
    -- indices: blocks of a flattened reduction are not in position order);
    -- a NaN is the extreme for argmin/argmax (the first one wins) and means
    -- "no value" for the nan variants (an all-NaN part).
    local max = op == "argmax" or op == "nanargmax"
    local bin, un = nd.binary, nd.unary
    local bnan, anan = un("isnan", b.v), un("isnan", a.v)
    local earlier = bin("lt", b.i, a.i)
    local better = bin("or", bin(max and "gt" or "lt", b.v, a.v), bin("and", bin("eq", b.v, a.v), earlier))
    if op == "argmin" or op == "argmax" then
      better = bin("or", better, bin("and", bnan, bin("or", un("logical_not", anan), earlier)))
    else
      better = bin("or", better, bin("and", anan, un("logical_not", bnan)))
    end
    return { i = nd.where(better, b.i, a.i), v = nd.where(better, b.v, a.v) }
  end
  error("combine: unknown reduction " .. tostring(op))
end

-- Combines a list of partials of the same shape (in block order).
function M.red_combine(op, parts)
  local acc = parts[1]
  for i = 2, #parts do acc = combine2(op, acc, parts[i]) end
  return acc
end

-- Final value from the combined partial: DTYPE the result dtype, AXES
-- dropped unless KEEPDIMS, DDOF for var/std.
function M.red_aggregate(op, part, axes, keepdims, dtype, ddof)
  if type(part) == "table" and part.empty then
    error(op .. ": zero-size reduction has no identity", 0)
  end
  local r
  if op == "mean" then
    r = nd.binary("div", part.s, part.n)
  elseif op == "var" or op == "std" then
    local denom = part.n - (ddof or 0)
    r = nd.binary("div", part.m2, denom > 0 and denom or 0)
    if op == "std" then r = nd.unary("sqrt", r) end
  elseif op == "argmin" or op == "argmax" then
    r = part.i
  elseif op == "nanargmin" or op == "nanargmax" then
    if nd.any_nan(part.v) then error(op .. ": All-NaN slice encountered", 0) end
    r = part.i
  else
    r = part
  end
  if r.dtype ~= dtype then r = r:astype(dtype) end
  if not keepdims and #axes > 0 then r = r:squeeze(axes) end
  return r
end

function M.histogram(x, bins, lo, hi) return nd.histogram(x, bins, lo, hi) end

-- Cumulative sums/products ---------------------------------------------------------

function M.cumulate(op, x, axis) return nd.cumulate(x, op, axis) end

-- Running total after block X along AXIS: PREV (or false) combined with the
-- last slice of X (X already cumulated), keeping AXIS as size 1.
function M.carry(op, prev, x, axis)
  local n = x.shape[axis + 1]
  local last
  if n == 0 then
    local shape = x.shape
    shape[axis + 1] = 1
    last = nd.full(shape, op == "cumprod" and 1 or 0, x.dtype)
  else
    local spec = {}
    for d = 1, x.ndim do spec[d] = ":" end
    spec[axis + 1] = { n - 1, n }
    last = x:slice(spec)
  end
  if not prev then return last end
  return nd.binary(op == "cumprod" and "mul" or "add", prev, last)
end

-- map_blocks ---------------------------------------------------------------------

-- Calls FN on the blocks (and extra arguments) of block IDX (0-based list)
-- and checks it returned an ndarray; a number is accepted only for a 0-d
-- array, anything else is an error naming the block and the fix.
function M.apply(fn, name, idx, ...)
  local r = fn(...)
  if nd.is_ndarray(r) then return r end
  local t = type(r)
  if (t == "number" or t == "boolean") and #idx == 0 then return nd.scalar(r, nd.scalar_dtype(r, 0)) end
  local where = #idx == 0 and "the block" or ("block (" .. table.concat(idx, ", ") .. ")")
  name = name == "map_blocks" and name or ("map_blocks(" .. name .. ")")
  if t == "number" or t == "boolean" then
    error(format("%s: the function returned a %s (%s) for %s, expected an ndarray; "
      .. "return an ndarray (e.g. ndarray.full(block.shape, v)), or use a reduction for one value per block",
      name, t, tostring(r), where), 0)
  end
  error(format("%s: the function returned %s for %s, expected an ndarray", name,
    t == "nil" and "nothing (nil)" or t, where), 0)
end

-- .npy input and output ------------------------------------------------------------

local function info_of(h)
  local info = ffi.new("ld_npy_info")
  info.dtype = h.dtype
  info.ndim = #h.shape
  for d = 1, #h.shape do info.shape[d - 1] = h.shape[d] end
  info.data_offset = h.offset
  return info
end
M.npy_info = info_of

local function i64(t)
  local a = ffi.new("int64_t[8]")
  for i = 1, #t do a[i - 1] = t[i] end
  return a
end

-- Block of the .npy file H.path (H: header table) at START with SHAPE; a
-- contiguous block is a mapping of the file (no copy).
function M.npy_read(h, start, shape)
  local out = nd.empty_struct()
  if lib.ld_npy_read_block(h.path, info_of(h), i64(start), i64(shape), out) ~= 0 then
    error(ffi.string(lib.ld_array_errmsg()), 0)
  end
  return out
end

-- Writes block X at START into the .npy file of header H; returns the
-- number of elements written.
function M.npy_write(h, start, x)
  if lib.ld_npy_write_block(h.path, info_of(h), i64(start), x) ~= 0 then
    error(ffi.string(lib.ld_array_errmsg()), 0)
  end
  return x.size
end

-- Sums a list of numbers (the store barrier).
function M.count(list)
  local s = 0
  for _, v in ipairs(list) do s = s + v end
  return s
end

return M
