--- ldask.array.order: order statistics of arrays: topk / argtopk (as dask:
-- per-block candidates, then one merge per output block; negative k gives
-- the smallest) and percentile (as dask: per-block percentiles merged by
-- their counts, exact for one block, an approximation otherwise).
-- @submodule ldask.array
local core = require "ldask.array.core"
local nd = require "ldask.array.ndarray"
local ND = require "ldask.array.ndlinalg"

local type, ipairs, error, format, abs, floor, min, tostring, unpack =
  type, ipairs, error, string.format, math.abs, math.floor, math.min, tostring, unpack

local M = {}

-- Permutation moving AXIS last, and its inverse.
local function last_perm(n, axis)
  local p, inv = {}, {}
  for d = 0, n - 1 do if d ~= axis then p[#p + 1] = d end end
  p[n] = axis
  for i, d in ipairs(p) do inv[d + 1] = i - 1 end
  return p, inv
end

-- The K best (k > 0: largest first; k < 0: smallest first) along the last
-- axis of the (axis-last) ndarray X: values and positions.
local function best(x, k)
  local order = ND.argsort(x, k > 0)
  local n = x.shape[x.ndim]
  local m = min(abs(k), n)
  local spec = {}
  for d = 1, x.ndim - 1 do spec[d] = ":" end
  spec[x.ndim] = { 0, m }
  local pos = order:slice(spec)
  return ND.take_along(x, pos), pos
end

--- Task: candidates of one block along AXIS: {v = values, i = global int64
-- positions} with AXIS last.
-- @local
function M.k_topk_chunk(x, k, axis, offset)
  local p = last_perm(x.ndim, axis)
  local xt = x:transpose(p)
  local v, pos = best(xt, k)
  return { v = v, i = nd.binary("add", pos:astype("int64"), offset) }
end

--- Task: the merge of the candidates PARTS; values (or, with ARG, global
-- positions) with AXIS back in place.
-- @local
function M.k_topk_merge(parts, k, axis, arg)
  local vs, is = {}, {}
  for i, p in ipairs(parts) do vs[i], is[i] = p.v, p.i end
  local n = parts[1].v.ndim
  local v = nd.concatenate(vs, n - 1)
  local v2, pos = best(v, k)
  local r = arg and ND.take_along(nd.concatenate(is, n - 1), pos) or v2
  local _, inv = last_perm(n, axis)
  return r:transpose(inv):astype(r.dtype)
end

local function topk_impl(x, k, axis, arg, what, level)
  level = level + 1
  if not core.is_array(x) then error(format("%s: expected an array, got %s", what, type(x)), level) end
  if type(k) ~= "number" or k == 0 or k ~= floor(k) then
    error(format("%s: k must be a non-zero integer (negative: the smallest), got %s", what, tostring(k)), level)
  end
  if x.ndim == 0 then error(what .. ": needs an array with at least one axis", level) end
  local ax = nd.norm_axis(axis or -1, x.ndim, what, level)
  core.check_known(x, what, level)
  if abs(k) > x.shape[ax + 1] then
    error(format("%s: |k| = %d is larger than axis %d of size %d", what, abs(k), ax, x.shape[ax + 1]), level)
  end
  if x.dtype == "bool" then x = require("ldask.array.elemwise").astype(x, "uint8", nil, level) end
  local name = core.name(what, x.name, k, ax)
  local cand = "cand-" .. name
  local inter = {}
  local starts = core.starts(x.chunks[ax + 1])
  core.each_block(core.numblocks(x.chunks), function(idx)
    inter[core.bkey(cand, idx)] = { M.k_topk_chunk, core.bkey(x.name, idx), k, ax, starts[idx[ax + 1] + 1] }
  end)
  local dep = core.graph_dep(cand, inter, { x })
  local chunks = {}
  for d = 1, x.ndim do chunks[d] = x.chunks[d] end
  chunks[ax + 1] = { abs(k) }
  local layer = {}
  core.each_block(core.numblocks(chunks), function(oidx)
    local parts = {}
    local src = { unpack(oidx) }
    for j = 0, #x.chunks[ax + 1] - 1 do
      src[ax + 1] = j
      parts[#parts + 1] = core.bkey(cand, src)
    end
    layer[core.bkey(name, oidx)] = { M.k_topk_merge, parts, k, ax, arg }
  end)
  return core.new(name, layer, chunks, arg and "int64" or x.dtype, { dep })
end

--- da.topk(x, k, axis): the K largest values along AXIS (default -1),
-- largest first; a negative K gives the |K| smallest, smallest first (as dask).
-- NaN counts as the largest value.
-- @param x an Array
-- @param k a non-zero integer
-- @param[opt] axis an axis (default -1)
-- @return an Array with |k| entries along AXIS
function M.topk(x, k, axis)
  local r = topk_impl(x, k, axis, false, "topk", 2)
  return r
end

--- da.argtopk(x, k, axis): the positions (int64) of topk's values along AXIS.
-- @param x an Array
-- @param k a non-zero integer
-- @param[opt] axis an axis (default -1)
-- @return an int64 Array with |k| entries along AXIS
function M.argtopk(x, k, axis)
  local r = topk_impl(x, k, axis, true, "argtopk", 2)
  return r
end

-- percentile --------------------------------------------------------------------

-- numpy's linear percentile of the sorted Lua list S at Q (0..100).
local function lerp_pct(s, q)
  local n = #s
  local v = q / 100 * (n - 1)
  local lo = floor(v)
  local hi = min(lo + 1, n - 1)
  local t = v - lo
  local a, b = s[lo + 1], s[hi + 1]
  local d = b - a
  if t >= 0.5 then return b - d * (1 - t) end
  return a + d * t
end

--- Task: {vals, n}: numpy's percentiles of block X at the list QS.
-- @local
function M.k_pct_chunk(x, qs)
  local n = x.size
  if n == 0 then return { n = 0 } end
  local flat = x:reshape({ n })
  local sorted = ND.take_along(flat, ND.argsort(flat, false)):astype("float64"):tolist()
  local vals = {}
  for i, q in ipairs(qs) do vals[i] = lerp_pct(sorted, q) end
  return { vals = vals, n = n }
end

-- numpy.interp(x, xp, fp) for increasing XP (Lua lists).
local function interp(x, xp, fp)
  local n = #xp
  if x <= xp[1] then return fp[1] end
  if x >= xp[n] then return fp[n] end
  local lo, hi = 1, n
  while hi - lo > 1 do
    local mid = floor((lo + hi) / 2)
    if xp[mid] <= x then lo = mid else hi = mid end
  end
  local slope = (fp[lo + 1] - fp[lo]) / (xp[lo + 1] - xp[lo])
  return slope * (x - xp[lo]) + fp[lo]
end

--- Task: dask's merge_percentiles (linear) of the block partials for the
-- requested Q; a float DTYPE ndarray.
-- @local
function M.k_pct_merge(parts, calc_q, q, dtype)
  local vals, counts, total = {}, {}, 0
  for _, p in ipairs(parts) do
    if p.n > 0 then
      for i, v in ipairs(p.vals) do
        vals[#vals + 1] = v
        counts[#counts + 1] = (i == 1 and calc_q[1] or calc_q[i] - calc_q[i - 1]) * p.n
      end
      total = total + p.n
    end
  end
  if total == 0 then error("percentile: the array is empty", 0) end
  local order = {}
  for i = 1, #vals do order[i] = i end
  table.sort(order, function(a, b) if vals[a] ~= vals[b] then return vals[a] < vals[b] end return a < b end)
  local sv, cq, acc = {}, {}, 0
  for i, j in ipairs(order) do
    sv[i] = vals[j]
    acc = acc + counts[j]
    cq[i] = acc
  end
  local out = {}
  for i, qq in ipairs(q) do out[i] = interp(qq * total, cq, sv) end
  return nd.from_table(out, "float64"):astype(dtype)
end

--- da.percentile(x, q): percentiles of a 1-D array at Q (a number or a list,
-- 0..100), linear interpolation, as dask's: each block's percentiles (at
-- 0, Q and 100) are merged weighting them by the blocks' sizes; exact
-- (numpy's) for one block, an approximation otherwise. Integers give float64.
-- @param x a 1-D Array
-- @param q a number or a list of numbers in [0, 100]
-- @return a 1-D Array of #q values
function M.percentile(x, q)
  if not core.is_array(x) then error("percentile: expected an array, got " .. type(x), 2) end
  if x.ndim ~= 1 then
    error(format("percentile: only 1-d arrays are supported (as dask), got shape %s; ravel() it first",
      nd.shape_str(x.shape)), 2)
  end
  if type(q) == "number" then q = { q } end
  if type(q) ~= "table" or #q == 0 then error("percentile: q must be a number or a list of numbers", 2) end
  for _, v in ipairs(q) do
    if type(v) ~= "number" or v < 0 or v > 100 then
      error(format("percentile: q must be in [0, 100], got %s", tostring(v)), 2)
    end
  end
  if x.dtype == "bool" then error("percentile: bool arrays are not supported (cast with astype first)", 2) end
  local calc_q = { 0 }
  for _, v in ipairs(q) do calc_q[#calc_q + 1] = v end
  calc_q[#calc_q + 1] = 100
  local dtype = x.dtype == "float32" and "float32" or "float64"
  local name = core.name("percentile", x.name, q)
  local chunk = "percentile_chunk-" .. name
  local inter, parts = {}, {}
  for i = 0, #x.chunks[1] - 1 do
    local k = core.bkey(chunk, { i })
    inter[k] = { M.k_pct_chunk, core.bkey(x.name, { i }), calc_q }
    parts[#parts + 1] = k
  end
  local dep = core.graph_dep(chunk, inter, { x })
  local layer = { [core.bkey(name, { 0 })] = { M.k_pct_merge, parts, calc_q, q, dtype } }
  return core.new(name, layer, { { #q } }, dtype, { dep })
end


return M
