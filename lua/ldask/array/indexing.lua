--- ldask.array.indexing: the indexing dask users rely on beyond slices.
--
-- Lua forms (0-based, as slicing; see docs/array.md, "Indexing"):
--   x[mask]                 mask a bool Array (or ndarray) of x's shape: the
--                           selected elements in C order, 1-D; or a 1-D bool
--                           Array along axis 0. With a lazy mask the result
--                           has unknown chunk sizes (NaN, as dask):
--                           x:compute_chunk_sizes() makes them known.
--   x[{":", m}]             a 1-D bool Array (unknown sizes) or ndarray on one axis
--   x[{da.ix{3, 0, -1}}]    an integer list on one axis (any order, repeats);
--                           also an int ndarray or a 1-D int Array (lazy
--                           positions); several da.ix give numpy's np.ix_
--                           (outer) selection
--   x:vindex(is, js, ...)   point-wise selection (dask's x.vindex[is, js])
--   x[sel] = v              assignment (dask's __setitem__): replaces x's
--   x:setitem(sel, v)       graph in place; SEL a mask (where-based) or
--                           slices/integers (block by block)
-- @submodule ldask.array
local core = require "ldask.array.core"
local nd = require "ldask.array.ndarray"
local K = require "ldask.array.kernels"
local rechunk = require "ldask.array.rechunk"

local type, ipairs, pairs, error, format, tostring, getmetatable, setmetatable, floor, min, unpack =
  type, ipairs, pairs, error, string.format, tostring, getmetatable, setmetatable, math.floor, math.min, unpack
local NAN = 0 / 0

local M = {}

local IX = { __name = "ldask.array.ix" }

--- da.ix(list): an integer list as an index spec on one axis,
-- `x[{":", da.ix{3, 0, -1}}]` (Lua's {a, b, c} is a slice spec).
-- @param list a Lua list of 0-based integers (negative from the end) or an int ndarray
-- @return an index spec
function M.ix(list)
  if nd.is_ndarray(list) then list = list:tolist() end
  if type(list) ~= "table" then error("ix: expected a list of integers, got " .. type(list), 2) end
  return setmetatable({ list = list }, IX)
end

--- True for the index specs handled here (arrays, ndarrays, da.ix lists).
-- @local
function M.is_advanced(v)
  return core.is_array(v) or nd.is_ndarray(v) or (type(v) == "table" and getmetatable(v) == IX)
end

local function is_bool(v) return v.dtype == "bool" end

-- Task functions --------------------------------------------------------------

--- Elements of block X where the 1-D bool block M is true, along AXIS.
-- @local
function M.k_mask_axis(x, m, axis)
  local idx = {}
  local t = m:tolist()
  for i, v in ipairs(t) do if v then idx[#idx + 1] = i - 1 end end
  if #idx == x.shape[axis + 1] then return x end
  return K.take(x, idx, axis)
end

--- Elements of X along AXIS at the global positions of the int block IDX;
-- BLOCKS are X's blocks along AXIS, STARTS their global starts.
-- @local
function M.k_take_global(idx, blocks, starts, axis, size)
  local list = idx:tolist()
  local first = blocks[1]
  local shape = first.shape
  shape[axis + 1] = #list
  local out = nd.alloc(shape, first.dtype)
  local so, sx = {}, {}
  for d = 1, first.ndim do so[d], sx[d] = ":", ":" end
  for i, g in ipairs(list) do
    if g < 0 then g = g + size end
    if g < 0 or g >= size then
      error(format("getitem: index %d out of range for axis %d with size %d", list[i], axis, size), 0)
    end
    local lo, hi = 1, #starts - 1
    while lo < hi do
      local mid = floor((lo + hi + 1) / 2)
      if starts[mid] <= g then lo = mid else hi = mid - 1 end
    end
    so[axis + 1] = { i - 1, i }
    sx[axis + 1] = { g - starts[lo], g - starts[lo] + 1 }
    nd.assign(out:slice(so), blocks[lo]:slice(sx))
  end
  return out
end

--- The shape of block X as a (1, ndim) int64 row.
-- @local
function M.k_shape_row(x)
  local s = x.shape
  if #s == 0 then s = { 0 } end
  return nd.from_table({ s }, "int64")
end

--- Block X with VALUE (a number or an ndarray) written at the local SPECS.
-- @local
function M.k_assign(x, specs, value, dtype)
  local out = x:astype(dtype) -- a new contiguous copy (broadcast blocks are read-only)
  local v = K.slice(out, specs)
  if type(value) == "number" or type(value) == "boolean" then value = nd.full({}, value, dtype) end
  nd.assign(v, value)
  return out
end

--- Points of the source blocks SRCS: LOCS[s] lists the local leading
-- indices of each point (flat, NLEAD per point), POS[s] its output position.
-- @local
function M.k_vindex(shape, dtype, srcs, locs, pos, nlead)
  local out = nd.zeros(shape, dtype)
  local trailing = #shape > 1
  for s, blk in ipairs(srcs) do
    local l, p = locs[s], pos[s]
    for i = 1, #p do
      local spec = {}
      for d = 1, nlead do spec[d] = l[(i - 1) * nlead + d] end
      if trailing then nd.assign(out:slice({ p[i] }), blk:slice(spec))
      else out:set(p[i], blk:get(unpack(spec))) end
    end
  end
  return out
end

-- Graph builders ------------------------------------------------------------------

-- X selected along AXIS by the 1-D bool Array MASK: unknown sizes.
local function mask_axis(x, mask, axis, level)
  local size = x.shape[axis + 1]
  if mask.ndim ~= 1 or not (mask.shape[1] == size or (mask.shape[1] ~= mask.shape[1] and size ~= size)) then
    error(format("getitem: boolean index of shape %s does not match axis %d of shape %s", nd.shape_str(mask.shape),
      axis, nd.shape_str(x.shape)), level + 1)
  end
  if size == size then mask = rechunk.rechunk(mask, { x.chunks[axis + 1] })
  elseif #mask.chunks[1] ~= #x.chunks[axis + 1] then
    core.check_known(mask, "getitem", level + 1)
  end
  local name = core.name("getitem-mask", x.name, mask.name, axis)
  local layer = {}
  local chunks = {}
  for d = 1, x.ndim do chunks[d] = x.chunks[d] end
  local c = {}
  for i = 1, #x.chunks[axis + 1] do c[i] = NAN end
  chunks[axis + 1] = c
  core.each_block(core.numblocks(x.chunks), function(idx)
    layer[core.bkey(name, idx)] = { M.k_mask_axis, core.bkey(x.name, idx), core.bkey(mask.name, { idx[axis + 1] }), axis }
  end)
  return core.new(name, layer, chunks, x.dtype, { x, mask })
end

-- X at the positions of the 1-D int Array IDX along AXIS (known size).
local function take_lazy(x, idx, axis, level)
  if idx.ndim ~= 1 then
    error(format("getitem: integer array index must be 1-d, got shape %s", nd.shape_str(idx.shape)), level + 1)
  end
  core.check_known(x, "getitem", level + 1)
  core.check_known(idx, "getitem", level + 1)
  local chunks = {}
  for d = 1, x.ndim do chunks[d] = x.chunks[d] end
  chunks[axis + 1] = idx.chunks[1]
  local name = core.name("getitem-take", x.name, idx.name, axis)
  local starts = core.starts(x.chunks[axis + 1])
  local layer = {}
  core.each_block(core.numblocks(chunks), function(oidx)
    local blocks = {}
    local src = { unpack(oidx) }
    for j = 1, #x.chunks[axis + 1] do
      src[axis + 1] = j - 1
      blocks[j] = core.bkey(x.name, src)
    end
    layer[core.bkey(name, oidx)] = { M.k_take_global, core.bkey(idx.name, { oidx[axis + 1] }), blocks, starts, axis,
      x.shape[axis + 1] }
  end)
  return core.new(name, layer, chunks, x.dtype, { x, idx })
end

-- X[MASK] for a bool MASK of X's shape: 1-D, C order.
local function mask_full(x, mask, level)
  for d = 1, x.ndim do
    if mask.shape[d] ~= x.shape[d] then
      error(format("getitem: boolean index of shape %s does not match the array's shape %s",
        nd.shape_str(mask.shape), nd.shape_str(x.shape)), level + 1)
    end
  end
  if x.ndim == 1 then return mask_axis(x, mask, 0, level + 1) end
  core.check_known(x, "getitem", level + 1)
  local slicing = require "ldask.array.slicing"
  local xr = slicing.reshape(x, { -1 })
  local mr = slicing.reshape(mask, { -1 })
  return mask_axis(xr, mr, 0, level + 1)
end

local function to_array(v, chunks)
  return require("ldask.array.creation").from_ndarray(v, { chunks = chunks or -1 })
end

--- x[specs] with advanced entries (see the header).
-- @local
function M.getitem(x, specs, level)
  level = (level or 1) + 1
  if M.is_advanced(specs) then
    if core.is_array(specs) and is_bool(specs) and specs.ndim == x.ndim then return mask_full(x, specs, level) end
    if nd.is_ndarray(specs) and specs.dtype == "bool" and specs.ndim == x.ndim and x.ndim > 1 then
      return mask_full(x, to_array(specs, x.chunks), level)
    end
    specs = { specs }
  end
  local n = 0
  for k in pairs(specs) do if type(k) == "number" and k > n then n = k end end
  if n > x.ndim then
    error(format("getitem: %d indices for a %d-d array of shape %s", n, x.ndim, nd.shape_str(x.shape)), level)
  end
  local basic, adv = {}, {}
  local out_axis = 0
  local lazy = 0
  for d = 1, n do
    local sp = specs[d]
    if M.is_advanced(sp) then
      basic[d] = ":"
      if core.is_array(sp) or (nd.is_ndarray(sp) and sp.ndim ~= 1) then
        lazy = lazy + 1
        if sp.ndim ~= 1 then
          error(format("getitem: an array index on axis %d must be 1-d (a mask of the whole array is x[mask] alone), "
            .. "got shape %s", d - 1, nd.shape_str(sp.shape)), level)
        end
      end
      adv[#adv + 1] = { axis = out_axis, v = sp }
      out_axis = out_axis + 1
    else
      basic[d] = sp
      if type(sp) ~= "number" then out_axis = out_axis + 1 end
    end
  end
  if lazy > 1 then
    error("getitem: only one array index per selection (use x:vindex(...) for points, da.ix lists for outer "
      .. "selection)", level)
  end
  local y = require("ldask.array.slicing").getitem(x, basic, level)
  local slicing = require "ldask.array.slicing"
  for _, a in ipairs(adv) do
    local v = a.v
    if getmetatable(v) == IX then
      y = slicing.take(y, v.list, a.axis, level)
    elseif nd.is_ndarray(v) then
      if v.dtype == "bool" then
        if v.shape[1] ~= y.shape[a.axis + 1] then
          error(format("getitem: boolean index of shape %s does not match axis %d of shape %s",
            nd.shape_str(v.shape), a.axis, nd.shape_str(y.shape)), level)
        end
        local list = {}
        for i, b in ipairs(v:tolist()) do if b then list[#list + 1] = i - 1 end end
        y = slicing.take(y, list, a.axis, level)
      elseif v.dtype == "float64" or v.dtype == "float32" then
        error("getitem: index arrays must be integers or booleans, got " .. v.dtype, level)
      else
        y = slicing.take(y, v:tolist(), a.axis, level)
      end
    elseif is_bool(v) then
      y = mask_axis(y, v, a.axis, level)
    elseif v.dtype == "float64" or v.dtype == "float32" then
      error("getitem: index arrays must be integers or booleans, got " .. v.dtype, level)
    else
      y = take_lazy(y, v, a.axis, level)
    end
  end
  return y
end

--- x:compute_chunk_sizes(opts): computes the sizes of every block (after
-- boolean mask indexing they are unknown, NaN) and records them in x (as
-- dask, x is changed in place and returned).
-- @local
function M.compute_chunk_sizes(x, opts)
  local unknown = false
  for d = 1, x.ndim do
    for _, c in ipairs(x.chunks[d]) do if c ~= c then unknown = true end end
  end
  if not unknown then return x end
  local name = core.name("chunk-sizes", x.name)
  local layer = {}
  local rows = {}
  local i = 0
  core.each_block(core.numblocks(x.chunks), function(idx)
    layer[core.bkey(name, { i, 0 })] = { M.k_shape_row, core.bkey(x.name, idx) }
    rows[#rows + 1] = { unpack(idx) }
    i = i + 1
  end)
  local ones = {}
  for j = 1, i do ones[j] = 1 end
  local sizes = core.new(name, layer, { ones, { x.ndim } }, "int64", { x })
  local t = sizes:compute(opts):totable()
  local chunks = {}
  for d = 1, x.ndim do chunks[d] = {} end
  for j, idx in ipairs(rows) do
    for d = 1, x.ndim do
      local prev, v = chunks[d][idx[d] + 1], t[j][d]
      if prev and prev ~= v then
        error(format("compute_chunk_sizes: blocks of axis %d disagree on block %d's size (%d and %d)", d - 1, idx[d],
          prev, v), 2)
      end
      chunks[d][idx[d] + 1] = v
    end
  end
  local shape = {}
  for d = 1, x.ndim do shape[d] = core.sum(chunks[d]) end
  x.chunks, x.shape = chunks, shape
  return x
end

-- Assignment ----------------------------------------------------------------------

-- Replaces X's graph (fields) by NEW's, in place.
local function replace(x, new)
  local proxy = require "ldask.proxy"
  local f, g = proxy.fields(x), proxy.fields(new)
  f.gen, f.fn_token = nil, nil
  for k, v in pairs(g) do f[k] = v end
end

local function setitem_blocks(x, specs, value, level)
  local slicing = require "ldask.array.slicing"
  core.check_known(x, "setitem", level + 1)
  local plan, per, out_chunks = slicing.plan(x, specs, level + 1)
  if not plan then
    local full = {}
    for d = 1, x.ndim do full[d] = { { 0, { "s", 0, false, 1 }, x.shape[d] } } end
    plan, per, out_chunks = {}, full, x.chunks
    for d = 1, x.ndim do plan[d] = { kind = "slice" } end
  end
  local sel_shape = {}
  for d = 1, #out_chunks do sel_shape[d] = core.sum(out_chunks[d]) end
  local vname
  if core.is_array(value) or nd.is_ndarray(value) then
    local v = core.is_array(value) and value or to_array(value)
    core.check_known(v, "setitem", level + 1)
    local ok = v.ndim <= #sel_shape
    for d = 1, v.ndim do
      local s = v.shape[v.ndim - d + 1]
      if s ~= 1 and s ~= sel_shape[#sel_shape - d + 1] then ok = false end
    end
    if not ok then
      error(format("setitem: value of shape %s does not broadcast to the selection's shape %s", nd.shape_str(v.shape),
        nd.shape_str(sel_shape)), level + 1)
    end
    v = slicing.broadcast_to(v, sel_shape, out_chunks)
    v = rechunk.rechunk(v, out_chunks)
    value, vname = v, v.name
  elseif type(value) ~= "number" and type(value) ~= "boolean" then
    error("setitem: the value must be a number, a boolean, an ndarray or an array, got " .. type(value), level + 1)
  end
  -- per axis: source block -> piece position
  local where = {}
  for d = 1, x.ndim do
    where[d] = {}
    for i, piece in ipairs(per[d]) do where[d][piece[1]] = i end
  end
  local name = core.name("setitem", x.name, plan, vname or value)
  local layer = {}
  core.each_block(core.numblocks(x.chunks), function(idx)
    local touched, specs_l, vidx = true, {}, {}
    for d = 1, x.ndim do
      local i = where[d][idx[d]]
      if not i or per[d][i][3] == 0 then touched = false; break end
      specs_l[d] = per[d][i][2]
      if plan[d].kind == "slice" then vidx[#vidx + 1] = i - 1 end
    end
    local key = core.bkey(name, idx)
    if not touched then
      layer[key] = { K.identity, core.bkey(x.name, idx) }
    else
      local v = vname and (#vidx == 0 and vname or core.bkey(vname, vidx)) or value
      layer[key] = { M.k_assign, core.bkey(x.name, idx), specs_l, v, x.dtype }
    end
  end)
  if x.ndim == 0 then
    layer = { [name] = { M.k_assign, x.name, {}, vname or value, x.dtype } }
  end
  return core.new(name, layer, x.chunks, x.dtype, vname and { x, value } or { x })
end

--- x:setitem(sel, value) (also x[sel] = value): dask's __setitem__. SEL is a
-- bool array of x's shape (where(sel, value, x)) or a list of integer/slice
-- specs (each touched block is copied and written; the others are reused);
-- VALUE a number, an ndarray or an array broadcasting to the selection. The
-- value is cast to x's dtype. X's graph is replaced in place; returns X.
-- @local
function M.setitem(x, sel, value, level)
  level = (level or 1) + 1
  local new
  if core.is_array(sel) or nd.is_ndarray(sel) then
    if sel.dtype ~= "bool" then
      error("setitem: an array selection must be a boolean mask of the array's shape (integer arrays: use da.ix "
        .. "lists with getitem)", level)
    end
    local m = core.is_array(sel) and sel or to_array(sel, x.chunks)
    for d = 1, x.ndim do
      if m.ndim ~= x.ndim or m.shape[d] ~= x.shape[d] then
        error(format("setitem: boolean mask of shape %s does not match the array's shape %s", nd.shape_str(m.shape),
          nd.shape_str(x.shape)), level)
      end
    end
    if nd.is_ndarray(value) then value = to_array(value) end
    local E = require "ldask.array.elemwise"
    new = E.astype(E.where(m, value, x), x.dtype, nil, level)
  elseif type(sel) == "table" and getmetatable(sel) == nil then
    for _, sp in pairs(sel) do
      if M.is_advanced(sp) then
        error("setitem: selections with arrays or lists inside are not supported; use a boolean mask of the whole "
          .. "array or slices and integers", level)
      end
    end
    new = setitem_blocks(x, sel, value, level)
  else
    error("setitem: expected a list of index specs or a boolean mask, got " .. type(sel), level)
  end
  replace(x, new)
  return x
end

-- vindex ------------------------------------------------------------------------------

M.VINDEX_BLOCK = 2 ^ 20 -- points per output block

--- x:vindex(i0, i1, ...): point-wise selection, dask's x.vindex[i0, i1]:
-- point p is x[i0[p], i1[p], ...] (lists or int ndarrays of one length; a
-- number applies to every point); the result has one axis of points
-- followed by the axes not indexed.
-- @local
function M.vindex(x, lists, level)
  level = (level or 1) + 1
  local nlead = #lists
  if nlead == 0 then error("vindex: needs at least one list of indices", level) end
  if nlead > x.ndim then
    error(format("vindex: %d index lists for a %d-d array of shape %s", nlead, x.ndim, nd.shape_str(x.shape)), level)
  end
  core.check_known(x, "vindex", level)
  local npts
  for i, l in ipairs(lists) do
    if nd.is_ndarray(l) then l = l:tolist(); lists[i] = l end
    if type(l) == "table" then
      if npts and #l ~= npts then
        error(format("vindex: index lists of lengths %d and %d do not broadcast", npts, #l), level)
      end
      npts = #l
    elseif type(l) ~= "number" then
      error(format("vindex: index %d must be a list of integers, an int ndarray or a number, got %s", i, type(l)), level)
    end
  end
  npts = npts or 1
  local starts = {}
  for d = 1, nlead do starts[d] = core.starts(x.chunks[d]) end
  local function locate(d, g)
    local s = starts[d]
    local lo, hi = 1, #s - 1
    while lo < hi do
      local mid = floor((lo + hi + 1) / 2)
      if s[mid] <= g then lo = mid else hi = mid - 1 end
    end
    return lo - 1, g - s[lo]
  end
  -- point p -> (source leading block index list, local indices)
  local per_block = M.VINDEX_BLOCK
  local out_c = {}
  local left = npts
  while left > 0 do out_c[#out_c + 1] = min(per_block, left); left = left - out_c[#out_c] end
  if #out_c == 0 then out_c[1] = 0 end
  local groups = {} -- output block -> ordered list of {key of leading block, locs, pos}
  for p = 1, npts do
    local ob = floor((p - 1) / per_block) + 1
    local bidx, loc = {}, {}
    for d = 1, nlead do
      local l = lists[d]
      local v = type(l) == "number" and l or l[p]
      if type(v) ~= "number" or v ~= floor(v) then
        error(format("vindex: index %s (point %d, axis %d) is not an integer", tostring(v), p - 1, d - 1), level)
      end
      local size = x.shape[d]
      local g = v < 0 and v + size or v
      if g < 0 or g >= size then
        error(format("vindex: index %d out of range for axis %d with size %d (shape %s)", v, d - 1, size,
          nd.shape_str(x.shape)), level)
      end
      bidx[d], loc[d] = locate(d, g)
    end
    local gk = table.concat(bidx, ",")
    local grp = groups[ob] or { order = {}, by = {} }
    groups[ob] = grp
    local e = grp.by[gk]
    if not e then
      e = { bidx = bidx, locs = {}, pos = {} }
      grp.by[gk] = e
      grp.order[#grp.order + 1] = e
    end
    for d = 1, nlead do e.locs[#e.locs + 1] = loc[d] end
    e.pos[#e.pos + 1] = p - 1 - (ob - 1) * per_block
  end
  local chunks = { out_c }
  for d = nlead + 1, x.ndim do chunks[#chunks + 1] = x.chunks[d] end
  local name = core.name("vindex", x.name, lists)
  local layer = {}
  core.each_block(core.numblocks(chunks), function(oidx)
    local grp = groups[oidx[1] + 1] or { order = {} }
    local srcs, locs, pos = {}, {}, {}
    for i, e in ipairs(grp.order) do
      local src = {}
      for d = 1, nlead do src[d] = e.bidx[d] end
      for d = 2, #oidx do src[nlead + d - 1] = oidx[d] end
      srcs[i], locs[i], pos[i] = core.bkey(x.name, src), e.locs, e.pos
    end
    layer[core.bkey(name, oidx)] = { M.k_vindex, core.bshape(chunks, oidx), x.dtype, srcs, locs, pos, nlead }
  end)
  return core.new(name, layer, chunks, x.dtype, { x })
end

return M
