--- ldask.array.reductions: sum, prod, mean, min, max, var, std, any, all,
-- argmin, argmax over any set of axes with keepdims, as tree reductions:
-- one partial per block (kept dims), then groups of up to split_every
-- partials along each reduced axis are combined, level by level, until one
-- block remains along every reduced axis; a final task converts it. The
-- depth-first order runs each group as soon as its inputs exist, so few
-- partials are alive at a time.
-- @submodule ldask.array
local core = require "ldask.array.core"
local nd = require "ldask.array.ndarray"
local K = require "ldask.array.kernels"

local unpack = unpack
local getmetatable = getmetatable
local type, ipairs, pairs, error, format, floor, ceil, max = type, ipairs, pairs, error, string.format, math.floor,
  math.ceil, math.max

local M = {}

M.SPLIT_EVERY = 8

-- Per-axis group sizes from SPLIT_EVERY (a number: total fan-in spread over
-- the reduced axes that have several blocks; or a table {[axis] = n}).
local function group_sizes(split_every, axes, nb)
  local g = {}
  if type(split_every) == "table" then
    for _, d in ipairs(axes) do g[d] = max(2, split_every[d] or 2) end -- 0-based axis keys
    return g
  end
  local total = split_every or M.SPLIT_EVERY
  local multi = 0
  for _, d in ipairs(axes) do if nb[d + 1] > 1 then multi = multi + 1 end end
  local per = multi > 0 and max(2, floor(total ^ (1 / multi) + 1e-9)) or 2
  for _, d in ipairs(axes) do g[d] = per end
  return g
end

local CHUNK_OP = { std = "var" }

-- reduction(x, op, axis, keepdims, opts {split_every, ddof})
function M.reduction(x, op, axis, keepdims, opts, level)
  level = (level or 1) + 1
  axis, keepdims, opts = nd.reduction_args(axis, keepdims, opts)
  local ndim = x.ndim
  local code = nd.dtype_code(x.dtype)
  if (op == "nanargmin" or op == "nanargmax") and code ~= 0 and code ~= 1 then op = op:sub(4) end
  local is_arg = op == "argmin" or op == "argmax" or op == "nanargmin" or op == "nanargmax"
  local axes, flat
  if is_arg then
    if axis == nil then
      flat = true
      axes = {}
      for d = 0, ndim - 1 do axes[d + 1] = d end
    else
      if type(axis) ~= "number" then error(op .. ": axis must be a single integer or nil", level) end
      axes = { nd.norm_axis(axis, ndim, op, level) }
    end
  else
    axes = nd.axes_of(axis, ndim, op, level)
  end
  local red = {}
  for _, d in ipairs(axes) do red[d + 1] = true end
  if (op == "min" or op == "max" or is_arg) then
    for _, d in ipairs(axes) do
      if x.shape[d + 1] == 0 then
        error(format("%s: zero-size reduction over axis %d of shape %s has no identity", op, d,
          nd.shape_str(x.shape)), level)
      end
    end
  end
  local dtype = nd.dtype_names[nd.reduce_dtype(op, code)]
  local cop = CHUNK_OP[op] or op
  local ddof = opts.ddof or 0
  local tok = { x.name, op, axes, keepdims and true or false, ddof, opts.split_every or M.SPLIT_EVERY }
  local layers = {}

  -- 1. per-block partials
  local cname = core.name(op .. "-chunk", tok)
  local starts = {}
  for d = 1, ndim do starts[d] = core.starts(x.chunks[d]) end
  local layer = {}
  local nb = core.numblocks(x.chunks)
  if ndim == 0 then
    layer[cname] = { K.red_chunk, cop, x.name, axes, is_arg and { flat = true, start = {}, gshape = {} } or false }
  else
    core.each_block(nb, function(idx)
      local arg = false
      if is_arg then
        if flat then
          local st = {}
          for d = 1, ndim do st[d] = starts[d][idx[d] + 1] end
          arg = { flat = true, start = st, gshape = x.shape }
        else
          arg = { offset = starts[axes[1] + 1][idx[axes[1] + 1] + 1] }
        end
      end
      layer[core.bkey(cname, idx)] = { K.red_chunk, cop, core.bkey(x.name, idx), axes, arg }
    end)
  end
  layers[cname] = layer

  -- 2. tree of combines
  local cur, curnb = cname, nb
  local level_no = 0
  while true do
    local more = false
    for _, d in ipairs(axes) do if curnb[d + 1] > 1 then more = true end end
    if not more then break end
    level_no = level_no + 1
    local g = group_sizes(opts.split_every, axes, curnb)
    local newnb = {}
    for d = 1, ndim do newnb[d] = red[d] and ceil(curnb[d] / g[d - 1]) or curnb[d] end
    local nname = core.name(op .. "-combine", tok, level_no)
    local nlayer = {}
    core.each_block(newnb, function(idx)
      local keys = {}
      local lo, cnt = {}, {}
      for d = 1, ndim do
        if red[d] then
          lo[d] = idx[d] * g[d - 1]
          cnt[d] = math.min(g[d - 1], curnb[d] - lo[d])
        else
          lo[d], cnt[d] = idx[d], 1
        end
      end
      core.each_block(cnt, function(sub)
        local src = {}
        for d = 1, ndim do src[d] = lo[d] + sub[d] end
        keys[#keys + 1] = core.bkey(cur, src)
      end)
      nlayer[core.bkey(nname, idx)] = { K.red_combine, cop, keys }
    end)
    layers[nname] = nlayer
    cur, curnb = nname, newnb
  end

  -- 3. final conversion
  local name = core.name(op, tok)
  local out_chunks = {}
  for d = 1, ndim do
    if not red[d] then out_chunks[#out_chunks + 1] = x.chunks[d]
    elseif keepdims then out_chunks[#out_chunks + 1] = { 1 } end
  end
  local flayer = {}
  local function final(idx)
    local src = ndim == 0 and cur or core.bkey(cur, idx)
    local t = { K.red_aggregate, op, src, axes, keepdims and true or false, dtype, ddof }
    if #out_chunks == 0 then
      flayer[name] = t
    else
      local oidx = {}
      for d = 1, ndim do
        if not red[d] or keepdims then oidx[#oidx + 1] = idx[d] end
      end
      flayer[core.bkey(name, oidx)] = t
    end
  end
  if ndim == 0 then final({}) else core.each_block(curnb, final) end
  local out = core.new(name, flayer, out_chunks, dtype, { x })
  for n, l in pairs(layers) do out.layers[n] = l end
  return out
end

--- cumsum(x[, axis]) and cumprod(x[, axis]) (also x:cumsum(axis)): cumulative sum and
-- product along AXIS (nil: over the flattened array). Each block is
-- cumulated on its own, then a chain of running totals along the axis is
-- added (multiplied) in.
-- @function cumsum
-- @param x an Array
-- @param[opt] axis an axis
-- @return an Array
function M.cumulative(x, op, axis, level)
  level = (level or 1) + 1
  if type(axis) == "table" and getmetatable(axis) == nil then axis = axis.axis end
  if axis == nil then
    x = require("ldask.array.slicing").reshape(x, { -1 })
    axis = 0
  end
  local ax = nd.norm_axis(axis, x.ndim, op, level)
  local code = nd.dtype_code(x.dtype)
  local dtype = (code == 0 or code == 1) and x.dtype or "int64"
  local lname = core.name(op .. "-local", x.name, ax)
  local cname = core.name(op .. "-carry", x.name, ax)
  local name = core.name(op, x.name, ax)
  local local_layer, carry_layer, layer = {}, {}, {}
  local bop = op == "cumprod" and "mul" or "add"
  core.each_block(core.numblocks(x.chunks), function(idx)
    local k = core.bkey(x.name, idx)
    local lk = core.bkey(lname, idx)
    local_layer[lk] = { K.cumulate, op, k, ax }
    local j = idx[ax + 1]
    if j == 0 then
      layer[core.bkey(name, idx)] = { K.identity, lk }
    else
      local prev = { unpack(idx) }
      prev[ax + 1] = j - 1
      local pc = j >= 2 and core.bkey(cname, prev) or false
      carry_layer[core.bkey(cname, idx)] = { K.carry, op, pc, core.bkey(lname, prev), ax }
      layer[core.bkey(name, idx)] = { K.binary, bop, lk, core.bkey(cname, idx) }
    end
  end)
  local out = core.new(name, layer, x.chunks, dtype, { x })
  out.layers[lname] = local_layer
  out.layers[cname] = carry_layer
  return out
end

-- histogram(x, {bins = 10, range = {lo, hi}}): counts (an int64 array of
-- BINS) and the bin edges (an ndarray of BINS + 1), like numpy.histogram
-- with equal bins. RANGE is required (finding it would need a pass over the
-- data first: compute x:min() and x:max() when needed).
function M.histogram(x, opts, level)
  level = (level or 1) + 1
  opts = opts or {}
  local bins, range = opts.bins or 10, opts.range
  if type(bins) ~= "number" or bins < 1 or bins ~= floor(bins) then
    error("histogram: bins must be a positive integer", level)
  end
  if type(range) ~= "table" or type(range[1]) ~= "number" or type(range[2]) ~= "number" or not (range[2] > range[1]) then
    error("histogram: range = {lo, hi} with lo < hi is required", level)
  end
  local lo, hi = range[1], range[2]
  local tok = { x.name, bins, lo, hi }
  local cname = core.name("histogram-chunk", tok)
  local layers = {}
  local layer, keys = {}, {}
  core.each_block(core.numblocks(x.chunks), function(idx)
    local k = cname .. "," .. #keys
    layer[k] = { K.histogram, x.ndim == 0 and x.name or core.bkey(x.name, idx), bins, lo, hi }
    keys[#keys + 1] = k
  end)
  layers[cname] = layer
  local level_no = 0
  local split = opts.split_every or M.SPLIT_EVERY
  while #keys > 1 do
    level_no = level_no + 1
    local nname = core.name("histogram-combine", tok, level_no)
    local nlayer, nkeys = {}, {}
    for i = 1, #keys, split do
      local group = {}
      for j = i, math.min(i + split - 1, #keys) do group[#group + 1] = keys[j] end
      local k = nname .. "," .. #nkeys
      nlayer[k] = { K.red_combine, "sum", group }
      nkeys[#nkeys + 1] = k
    end
    layers[nname] = nlayer
    keys = nkeys
  end
  local name = core.name("histogram", tok)
  local out = core.new(name, { [core.bkey(name, { 0 })] = { K.identity, keys[1] } }, { { bins } }, "int64", { x })
  for n, l in pairs(layers) do out.layers[n] = l end
  local edges = nd.ramp(bins + 1, lo, (hi - lo) / bins, "float64")
  edges:set(bins, hi)
  return out, edges
end

-- NaN-skipping reductions (NumPy's nansum & co.): NaNs count as 0 for
-- nansum, are left out of nanmean/nanvar/nanstd, and are ignored by
-- nanmin/nanmax (an all-NaN slice gives NaN, as in NumPy).
function M.nan_reduction(x, op, axis, keepdims, opts, level)
  level = (level or 1) + 1
  axis, keepdims, opts = nd.reduction_args(axis, keepdims, opts)
  local ew = require "ldask.array.elemwise"
  if x.dtype ~= "float64" and x.dtype ~= "float32" and (op == "nansum" or op == "nanprod" or op == "nanmin" or op == "nanmax") then
    return M.reduction(x, op:sub(4), axis, keepdims, opts, level) -- no NaN to skip; keeps the dtype
  end
  local nan = ew.unary("isnan", x, level)
  local function fill(v) return ew.where(nan, v, x) end
  if op == "nansum" or op == "nanprod" then
    return M.reduction(fill(op == "nansum" and 0 or 1), op:sub(4), axis, keepdims, opts, level)
  end
  local ok = ew.unary("logical_not", nan, level)
  local n = M.reduction(ok, "sum", axis, keepdims, opts, level)
  if op == "nanmin" or op == "nanmax" then
    local m = M.reduction(fill(op == "nanmin" and math.huge or -math.huge), op:sub(4), axis, keepdims, opts, level)
    return ew.where(ew.binary("eq", n, 0, level), 0 / 0, m)
  end
  local s = M.reduction(fill(0), "sum", axis, keepdims, opts, level)
  local mean = ew.binary("div", s, n, level)
  if op == "nanmean" then
    if x.dtype == "float32" then mean = ew.astype(mean, "float32") end
    return mean
  end
  -- nanvar/nanstd: mean of squared deviations of the non-NaN values
  local ddof = opts and opts.ddof or 0
  local kmean = keepdims and mean or M.reduction(fill(0), "sum", axis, true, opts, level) / M.reduction(ok, "sum", axis, true, opts, level)
  local dev = ew.where(nan, 0, ew.binary("sub", x, kmean, level))
  local m2 = M.reduction(ew.binary("mul", dev, dev, level), "sum", axis, keepdims, opts, level)
  local dof = ew.binary("sub", n, ddof, level)
  -- numpy: NaN where the degrees of freedom are <= 0 (too few non-NaN values)
  local var = ew.where(ew.binary("le", dof, 0, level), 0 / 0, ew.binary("div", m2, dof, level))
  if op == "nanstd" then var = ew.unary("sqrt", var, level) end
  if x.dtype == "float32" then var = ew.astype(var, "float32") end
  return var
end

return M
