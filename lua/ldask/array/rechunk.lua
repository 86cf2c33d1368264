--- ldask.array.rechunk: changing the block structure of an array (rechunk)
-- and the common refinement of several chunkings (unify_chunks), used by
-- elementwise operations between arrays chunked differently. Each new block
-- is assembled from slices (views) of the old blocks that overlap it.
-- @submodule ldask.array
local core = require "ldask.array.core"
local K = require "ldask.array.kernels"
local nd = require "ldask.array.ndarray"

local ipairs, pairs, error, format, unpack = ipairs, pairs, error, string.format, unpack

local M = {}

-- (unknown sizes, NaN, count as equal to each other: the same blocks)
local function same(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do
    local x, y = a[i], b[i]
    if x ~= y and (x == x or y == y) then return false end
  end
  return true
end
M.same_chunks = same

-- For one axis: for each new block, the list of {old block, lo, hi} pieces.
local function plan_axis(old, new)
  local os, ns = core.starts(old), core.starts(new)
  local plan = {}
  local j = 1
  for i = 1, #new do
    local a, b = ns[i], ns[i + 1]
    local pieces = {}
    while j <= #old and os[j + 1] <= a and old[j] > 0 do j = j + 1 end
    local k = j
    if b == a then
      pieces[1] = { math.min(k, #old) - 1, 0, 0 }
    else
      while k <= #old and os[k] < b do
        local lo = math.max(a, os[k]) - os[k]
        local hi = math.min(b, os[k + 1]) - os[k]
        if hi > lo then pieces[#pieces + 1] = { k - 1, lo, hi } end
        k = k + 1
      end
    end
    plan[i] = pieces
  end
  return plan
end

--- rechunk(x, chunks): same values, new blocks (chunks as in normalize_chunks).
-- @param x an Array
-- @param chunks the new chunks
-- @return an Array
function M.rechunk(x, chunks)
  if type(chunks) == "table" and #chunks == x.ndim then
    local unchanged = true
    for d = 1, x.ndim do
      if type(chunks[d]) ~= "table" or not same(chunks[d], x.chunks[d]) then unchanged = false end
    end
    if unchanged then return x end
  end
  core.check_known(x, "rechunk", 2)
  local new = core.normalize_chunks(chunks, x.shape, x.itemsize, "rechunk", 2)
  local n = x.ndim
  local changed = false
  for d = 1, n do if not same(new[d], x.chunks[d]) then changed = true end end
  if not changed then return x end
  local name = core.name("rechunk", x.name, new)
  local plans = {}
  for d = 1, n do plans[d] = plan_axis(x.chunks[d], new[d]) end
  local layer = {}
  core.each_block(core.numblocks(new), function(idx)
    local per = {}
    for d = 1, n do per[d] = plans[d][idx[d] + 1] end
    -- single piece covering a whole old block: alias
    local single, whole = true, true
    for d = 1, n do
      if #per[d] ~= 1 then single = false
      else
        local p = per[d][1]
        if p[2] ~= 0 or p[3] ~= x.chunks[d][p[1] + 1] then whole = false end
      end
    end
    if single then
      local oidx, lo, hi = {}, {}, {}
      for d = 1, n do oidx[d], lo[d], hi[d] = per[d][1][1], per[d][1][2], per[d][1][3] end
      if whole then layer[core.bkey(name, idx)] = { K.identity, core.bkey(x.name, oidx) }
      else layer[core.bkey(name, idx)] = { K.piece, core.bkey(x.name, oidx), lo, hi } end
      return
    end
    local function rec(d, oidx, lo, hi)
      local out = {}
      for i, p in ipairs(per[d]) do
        oidx[d], lo[d], hi[d] = p[1], p[2], p[3]
        if d == n then
          out[i] = { K.piece, core.bkey(x.name, oidx), { unpack(lo, 1, n) }, { unpack(hi, 1, n) } }
        else
          out[i] = rec(d + 1, oidx, lo, hi)
        end
      end
      return out
    end
    layer[core.bkey(name, idx)] = { K.block, rec(1, {}, {}, {}), n }
  end)
  return core.new(name, layer, new, x.dtype, { x })
end

-- Common refinement of chunk lists over the same total length.
function M.refine(lists)
  local all_same = true
  for i = 2, #lists do if not same(lists[i], lists[1]) then all_same = false end end
  if all_same and lists[1] then
    local copy = {}
    for i, v in ipairs(lists[1]) do copy[i] = v end
    return copy
  end
  local cuts = {}
  local total
  for _, c in ipairs(lists) do
    local s = core.starts(c)
    total = s[#s]
    for _, v in ipairs(s) do cuts[v] = true end
  end
  local sorted = {}
  for v in pairs(cuts) do sorted[#sorted + 1] = v end
  table.sort(sorted)
  local out = {}
  for i = 2, #sorted do out[#out + 1] = sorted[i] - sorted[i - 1] end
  if #out == 0 then out[1] = total or 0 end
  return out
end

-- Broadcast shape and unified chunks of ARRAYS (right-aligned like NumPy);
-- returns the arrays rechunked to the common chunks, the output shape and
-- the output chunks. WHAT names the operation in errors.
function M.unify(arrays, what, level)
  level = (level or 1) + 1
  local ndim = 0
  for _, a in ipairs(arrays) do if a.ndim > ndim then ndim = a.ndim end end
  local shape = {}
  for d = 1, ndim do shape[d] = 1 end
  for _, a in ipairs(arrays) do
    local off = ndim - a.ndim
    for d = 1, a.ndim do
      local s, t = a.shape[d], shape[off + d]
      if s ~= t and s ~= 1 and (s == s or t == t or t == 1) then
        if t ~= 1 then
          local shapes = {}
          for i, b in ipairs(arrays) do shapes[i] = nd.shape_str(b.shape) end
          error(format("%s: shapes %s do not broadcast (axis %d)", what, table.concat(shapes, " and "),
            off + d - 1), level)
        end
        shape[off + d] = s
      end
    end
  end
  local chunks = {}
  for d = 1, ndim do
    local lists = {}
    for _, a in ipairs(arrays) do
      local ad = d - (ndim - a.ndim)
      local s = ad >= 1 and a.shape[ad]
      if s and (s == shape[d] or (s ~= s and shape[d] ~= shape[d])) then lists[#lists + 1] = a.chunks[ad] end
    end
    chunks[d] = #lists > 0 and M.refine(lists) or { shape[d] }
  end
  local out = {}
  for i, a in ipairs(arrays) do
    local want = {}
    local need = false
    for ad = 1, a.ndim do
      local d = ad + (ndim - a.ndim)
      local s = a.shape[ad]
      if s == shape[d] or (s ~= s and shape[d] ~= shape[d]) then want[ad] = chunks[d] else want[ad] = a.chunks[ad] end
      if not same(want[ad], a.chunks[ad]) then need = true end
    end
    out[i] = need and M.rechunk(a, want) or a
  end
  return out, shape, chunks
end

return M
