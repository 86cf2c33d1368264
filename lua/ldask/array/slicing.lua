--- ldask.array.slicing: selecting parts of an array, and the other
-- block-structure operations: transpose, reshape, concatenate, stack,
-- squeeze, expand_dims.
--
-- Slicing form (0-based, like NumPy; see docs/array.md):
--   x:slice{ spec, spec, ... }   or   x[{ spec, spec, ... }]
-- one spec per leading axis (missing axes are whole):
--   i                      an integer index (negative from the end); drops the axis
--   {start, stop, step}    a slice; nil/false entries take the defaults,
--                          negative step walks backwards: {nil, nil, -1}
--   ":"                    the whole axis
-- e.g. x[::4] is x:slice{ {0, nil, 4} } and x[2::4] is x:slice{ {2, nil, 4} }.
-- Only the blocks a selection touches are referenced by its graph; a slice
-- of a random array remaps positions and generates only what it keeps.
-- @submodule ldask.array
local core = require "ldask.array.core"
local nd = require "ldask.array.ndarray"
local K = require "ldask.array.kernels"
local rechunk = require "ldask.array.rechunk"

local type, ipairs, pairs, tostring, error, format, floor, ceil, max, min, unpack =
  type, ipairs, pairs, tostring, error, string.format, math.floor, math.ceil, math.max, math.min, unpack

local M = {}

-- Pieces of one axis of size N with chunks C for slice (lo, cnt, step):
-- list of {block, local spec {"s", start, stop|false, step}, count}.
local function slice_axis(c, lo, cnt, step)
  local s = core.starts(c)
  local pieces = {}
  if cnt == 0 then
    return { { 0, { "s", 0, 0, 1 }, 0 } }
  end
  if step > 0 then
    for j = 1, #c do
      local b0, b1 = s[j], s[j + 1]
      local k0 = max(0, ceil((b0 - lo) / step))
      local k1 = min(cnt - 1, ceil((b1 - lo) / step) - 1)
      if k0 <= k1 then
        local ls = lo + k0 * step - b0
        local n = k1 - k0 + 1
        pieces[#pieces + 1] = { j - 1, { "s", ls, ls + (n - 1) * step + 1, step }, n }
      end
    end
  else
    local ns = -step
    for j = #c, 1, -1 do
      local b0, b1 = s[j], s[j + 1]
      local k0 = max(0, floor((lo - b1) / ns) + 1)
      local k1 = min(cnt - 1, floor((lo - b0) / ns))
      if k0 <= k1 then
        local ls = lo + k0 * step - b0
        local n = k1 - k0 + 1
        local stop = ls + (n - 1) * step - 1
        pieces[#pieces + 1] = { j - 1, { "s", ls, stop >= 0 and stop or false, step }, n }
      end
    end
  end
  return pieces
end

-- Slices the generator description of a random array (no data touched).
local function slice_gen(gen, plan)
  local g = {}
  for k, v in pairs(gen) do g[k] = v end
  g.start, g.step, g.fixed = {}, {}, {}
  for d = 1, #gen.gshape do
    g.start[d], g.step[d], g.fixed[d] = gen.start[d], gen.step[d], gen.fixed[d]
  end
  local ax = 0
  for d = 1, #gen.gshape do
    if not gen.fixed[d] then
      ax = ax + 1
      local p = plan[ax]
      if p.kind == "int" then
        g.fixed[d] = gen.start[d] + p.index * gen.step[d]
      else
        g.start[d] = gen.start[d] + (p.cnt > 0 and p.lo or 0) * gen.step[d]
        g.step[d] = gen.step[d] * p.step
      end
    end
  end
  return g
end

-- The selection plan of SPECS (ints, slices, ":") on X: per axis the plan
-- {kind = "int", index} or {kind = "slice", lo, cnt, step}, the pieces
-- {source block, local spec, count} in output order, and the output chunks;
-- nil when SPECS selects everything.
function M.plan(x, specs, level)
  level = (level or 1) + 1
  local n = x.ndim
  local nspecs = 0
  for k in pairs(specs) do
    if type(k) ~= "number" then error("slice: spec list has a non-integer key " .. tostring(k), level) end
    if k > nspecs then nspecs = k end
  end
  if nspecs > n then
    error(format("slice: %d indices for a %d-d array of shape %s", nspecs, n, nd.shape_str(x.shape)), level)
  end
  local plan = {}
  local all_full = true
  for d = 1, n do
    local size = x.shape[d]
    local spec = specs[d]
    local kind, s, e, st = "slice", nil, nil, 1
    if spec ~= nil then kind, s, e, st = nd.parse_index(spec, "slice", d - 1, level) end
    if size ~= size and not (kind == "slice" and s == nil and e == nil and st == 1) then
      core.check_known(x, "slice", level)
    end
    if kind == "int" then
      local i = s < 0 and s + size or s
      if i < 0 or i >= size then
        error(format("slice: index %d out of range for axis %d with size %d (shape %s)", s, d - 1,
          size, nd.shape_str(x.shape)), level)
      end
      plan[d] = { kind = "int", index = i }
      all_full = false
    elseif size ~= size then
      plan[d] = { kind = "slice", whole = true }
    else
      local lo, cnt, step = nd.norm_slice(s, e, st, size, "slice", d - 1, level)
      plan[d] = { kind = "slice", lo = lo, cnt = cnt, step = step }
      if not (lo == 0 and cnt == size and step == 1) then all_full = false end
    end
  end
  if all_full then return nil end
  -- per-axis pieces
  local per, out_chunks = {}, {}
  for d = 1, n do
    local p = plan[d]
    if p.kind == "int" then
      local s = core.starts(x.chunks[d])
      local j = 1
      while s[j + 1] <= p.index do j = j + 1 end
      per[d] = { { j - 1, { "i", p.index - s[j] }, 1 } }
    elseif p.whole then -- an axis of unknown size kept whole
      per[d] = {}
      for j, c in ipairs(x.chunks[d]) do per[d][j] = { j - 1, { "s", 0, false, 1 }, c } end
      out_chunks[#out_chunks + 1] = x.chunks[d]
    else
      per[d] = slice_axis(x.chunks[d], p.lo, p.cnt, p.step)
      local c = {}
      for i, piece in ipairs(per[d]) do c[i] = piece[3] end
      out_chunks[#out_chunks + 1] = c
    end
  end
  return plan, per, out_chunks
end

-- getitem(x, specs): see the header. SPECS may also hold boolean or
-- integer arrays, integer ndarrays and da.ix lists (ldask.array.indexing),
-- or be one boolean array (a mask).
function M.getitem(x, specs, level)
  level = (level or 1) + 1
  local IX = require "ldask.array.indexing"
  if IX.is_advanced(specs) then return IX.getitem(x, specs, level) end
  if type(specs) ~= "table" then
    error("slice: expected a list of index specs, e.g. x:slice{ {0, nil, 4}, \":\" }", level)
  end
  for _, sp in pairs(specs) do
    if IX.is_advanced(sp) then return IX.getitem(x, specs, level) end
  end
  local n = x.ndim
  local plan, per, out_chunks = M.plan(x, specs, level)
  if not plan then return x end
  if x.gen then
    local gen = slice_gen(x.gen, plan)
    local shape = {}
    for d = 1, #out_chunks do shape[d] = core.sum(out_chunks[d]) end
    return require("ldask.array.creation").from_generator(gen, shape, out_chunks)
  end
  local name = core.name("getitem", x.name, plan)
  local layer = {}
  local nb = {}
  for d = 1, n do nb[d] = #per[d] end
  local function add(idx)
    local src, sp, oidx = {}, {}, {}
    for d = 1, n do
      local piece = per[d][idx[d] + 1]
      src[d] = piece[1]
      sp[d] = piece[2]
      if plan[d].kind == "slice" then oidx[#oidx + 1] = idx[d] end
    end
    local k = #out_chunks == 0 and name or core.bkey(name, oidx)
    layer[k] = { K.slice, core.bkey(x.name, src), sp }
  end
  if n == 0 then add({}) else core.each_block(nb, add) end
  return core.new(name, layer, out_chunks, x.dtype, { x })
end

--- transpose(x, axes): permuted axes (default reversed); blocks are views.
-- @param x an Array
-- @param[opt] axes the new order of the axes
-- @return an Array
function M.transpose(x, axes)
  local n = x.ndim
  if axes == nil then
    axes = {}
    for d = 1, n do axes[d] = n - d end
  end
  if type(axes) ~= "table" or #axes ~= n then
    error(format("transpose: axes must list %d axes for shape %s", n, nd.shape_str(x.shape)), 2)
  end
  local perm, seen = {}, {}
  for d = 1, n do
    local a = nd.norm_axis(axes[d], n, "transpose", 2)
    if seen[a] then error("transpose: repeated axis " .. axes[d], 2) end
    seen[a] = true
    perm[d] = a
  end
  local chunks = {}
  for d = 1, n do chunks[d] = x.chunks[perm[d] + 1] end
  local name = core.name("transpose", x.name, perm)
  local layer = {}
  if n == 0 then return x end
  core.each_block(core.numblocks(chunks), function(idx)
    local src = {}
    for d = 1, n do src[perm[d] + 1] = idx[d] end
    layer[core.bkey(name, idx)] = { K.transpose, core.bkey(x.name, src), perm }
  end)
  return core.new(name, layer, chunks, x.dtype, { x })
end

--- reshape(x, shape): the leading axes that keep their size keep their
-- chunks; the remaining axes are gathered into one block each and
-- reshaped per block (chunk-aligned: no data crosses blocks).
-- @param x an Array
-- @param shape a list of sizes (one may be -1)
-- @return an Array
function M.reshape(x, shape)
  if type(shape) == "number" then shape = { shape } end
  local size, known, neg = x.size, 1, nil
  local s = {}
  for i, v in ipairs(shape) do
    if v == -1 then
      if neg then error("reshape: only one dimension can be -1", 2) end
      neg = i
    elseif type(v) ~= "number" or v < 0 or v ~= floor(v) then
      error(format("reshape: bad dimension %s", tostring(v)), 2)
    else known = known * v end
    s[i] = v
  end
  if neg then
    if known == 0 or size % known ~= 0 then
      error(format("reshape: cannot reshape array of shape %s into %s", nd.shape_str(x.shape), nd.shape_str(s)), 2)
    end
    s[neg] = size / known
  elseif known ~= size then
    error(format("reshape: cannot reshape array of shape %s (size %d) into shape %s", nd.shape_str(x.shape),
      size, nd.shape_str(s)), 2)
  end
  local same = #s == x.ndim
  for d = 1, #s do if s[d] ~= x.shape[d] then same = false end end
  if same then return x end
  local p = 0
  while p < #s and p < x.ndim and s[p + 1] == x.shape[p + 1] do p = p + 1 end
  local want = {}
  for d = 1, x.ndim do want[d] = d <= p and x.chunks[d] or -1 end
  local chunks = {}
  for d = 1, #s do chunks[d] = d <= p and x.chunks[d] or { s[d] } end
  -- The first differing axis keeps blocks when it can: an input block of c
  -- rows (each R_in elements) is c * R_in / R_out output rows when that
  -- divides; the input chunks are first aligned to multiples of
  -- unit = R_out / gcd(R_in, R_out) rows. Later axes are whole.
  local q = p + 1
  if q <= x.ndim and q <= #s then
    local r_in, r_out = 1, 1
    for d = q + 1, x.ndim do r_in = r_in * x.shape[d] end
    for d = q + 1, #s do r_out = r_out * s[d] end
    local function gcd(a, b) while b ~= 0 do a, b = b, a % b end return a end
    local unit = r_out / gcd(r_in, r_out)
    local c = x.chunks[q]
    local aligned = true
    for _, v in ipairs(c) do if v % unit ~= 0 then aligned = false end end
    if not aligned then
      local avg = x.shape[q] / #c
      local size = math.max(unit, floor(avg / unit) * unit)
      c = core.normalize_chunks({ size }, { x.shape[q] }, 8, "reshape", 2)[1]
    end
    want[q] = c
    local oc = {}
    for i, v in ipairs(c) do oc[i] = v * r_in / r_out end
    chunks[q] = oc
  end
  local y = rechunk.rechunk(x, want)
  local name = core.name("reshape", y.name, s)
  local layer = {}
  core.each_block(core.numblocks(chunks), function(idx)
    local src, bshape = {}, {}
    for d = 1, x.ndim do src[d] = (d <= p or d == q) and idx[d] or 0 end
    for d = 1, #s do bshape[d] = chunks[d][idx[d] + 1] end
    local sk = x.ndim == 0 and y.name or core.bkey(y.name, src)
    layer[#s == 0 and name or core.bkey(name, idx)] = { K.reshape, sk, bshape }
  end)
  return core.new(name, layer, chunks, x.dtype, { y })
end

--- concatenate(arrays, axis): joins along AXIS; other axes are unified.
-- @param arrays a list of Arrays
-- @param[opt] axis an axis (default 0)
-- @return an Array
function M.concatenate(arrays, axis)
  if type(arrays) ~= "table" or #arrays == 0 then error("concatenate: need a non-empty list of arrays", 2) end
  axis = axis or 0
  local first = arrays[1]
  local n = first.ndim
  if n == 0 then error("concatenate: zero-dimensional arrays cannot be concatenated", 2) end
  local ax = nd.norm_axis(axis, n, "concatenate", 2) + 1
  local dtype = nd.dtype_code(first.dtype)
  for i, a in ipairs(arrays) do
    if not core.is_array(a) then error(format("concatenate: element %d is not an array", i), 2) end
    if a.ndim ~= n then
      error(format("concatenate: array %d has shape %s, array 1 has %s", i, nd.shape_str(a.shape),
        nd.shape_str(first.shape)), 2)
    end
    for d = 1, n do
      if d ~= ax and a.shape[d] ~= first.shape[d] then
        error(format("concatenate: shapes %s and %s differ off axis %d", nd.shape_str(first.shape),
          nd.shape_str(a.shape), ax - 1), 2)
      end
    end
    dtype = nd.promote(dtype, nd.dtype_code(a.dtype))
  end
  -- unify the other axes
  local common = {}
  for d = 1, n do
    if d ~= ax then
      local lists = {}
      for i, a in ipairs(arrays) do lists[i] = a.chunks[d] end
      common[d] = rechunk.refine(lists)
    end
  end
  local ins = {}
  local chunks = {}
  for d = 1, n do chunks[d] = common[d] or {} end
  for i, a in ipairs(arrays) do
    local want = {}
    for d = 1, n do want[d] = d == ax and a.chunks[d] or common[d] end
    a = rechunk.rechunk(a, want)
    if a.dtype ~= nd.dtype_names[dtype] then a = require("ldask.array.elemwise").astype(a, dtype) end
    ins[i] = a
    for _, c in ipairs(a.chunks[ax]) do chunks[ax][#chunks[ax] + 1] = c end
  end
  local names = {}
  for i, a in ipairs(ins) do names[i] = a.name end
  local name = core.name("concatenate", names, ax)
  local layer = {}
  local offset = 0
  for _, a in ipairs(ins) do
    core.each_block(core.numblocks(a.chunks), function(idx)
      local oidx = { unpack(idx) }
      oidx[ax] = idx[ax] + offset
      layer[core.bkey(name, oidx)] = { K.identity, core.bkey(a.name, idx) }
    end)
    offset = offset + #a.chunks[ax]
  end
  return core.new(name, layer, chunks, dtype, ins)
end

--- expand_dims(x, axis): a new axis of size 1.
-- @param x an Array
-- @param axis an axis
-- @return an Array
function M.expand_dims(x, axis)
  local n = x.ndim
  local ax = nd.norm_axis(axis, n + 1, "expand_dims", 2)
  local chunks = {}
  for d = 1, n + 1 do
    if d - 1 < ax then chunks[d] = x.chunks[d]
    elseif d - 1 == ax then chunks[d] = { 1 }
    else chunks[d] = x.chunks[d - 1] end
  end
  local name = core.name("expand_dims", x.name, ax)
  local layer = {}
  core.each_block(core.numblocks(chunks), function(idx)
    local src = {}
    for d = 1, n + 1 do if d - 1 ~= ax then src[#src + 1] = idx[d] end end
    layer[core.bkey(name, idx)] = { K.expand_dims, n == 0 and x.name or core.bkey(x.name, src), ax }
  end)
  return core.new(name, layer, chunks, x.dtype, { x })
end

--- squeeze(x, axes): removes size-1 axes (all when AXES is nil).
-- @param x an Array
-- @param[opt] axes an axis or a list
-- @return an Array
function M.squeeze(x, axes)
  local drop = {}
  if axes == nil then
    for d = 1, x.ndim do if x.shape[d] == 1 then drop[#drop + 1] = d - 1 end end
  else
    if type(axes) == "number" then axes = { axes } end
    for _, a in ipairs(axes) do
      local d = nd.norm_axis(a, x.ndim, "squeeze", 2)
      if x.shape[d + 1] ~= 1 then
        error(format("squeeze: axis %d has size %d, not 1 (shape %s)", a, x.shape[d + 1], nd.shape_str(x.shape)), 2)
      end
      drop[#drop + 1] = d
    end
  end
  if #drop == 0 then return x end
  local specs = {}
  for d = 1, x.ndim do specs[d] = ":" end
  for _, d in ipairs(drop) do specs[d + 1] = 0 end
  return M.getitem(x, specs, 2)
end

--- stack(arrays, axis): joins along a new axis.
-- @param arrays a list of Arrays
-- @param[opt] axis an axis (default 0)
-- @return an Array
function M.stack(arrays, axis)
  if type(arrays) ~= "table" or #arrays == 0 then error("stack: need a non-empty list of arrays", 2) end
  axis = axis or 0
  local first = arrays[1]
  for i, a in ipairs(arrays) do
    if not core.is_array(a) then error(format("stack: element %d is not an array", i), 2) end
    if a.ndim ~= first.ndim then
      error(format("stack: shapes %s and %s differ", nd.shape_str(first.shape), nd.shape_str(a.shape)), 2)
    end
    for d = 1, a.ndim do
      if a.shape[d] ~= first.shape[d] then
        error(format("stack: shapes %s and %s differ", nd.shape_str(first.shape), nd.shape_str(a.shape)), 2)
      end
    end
  end
  local ax = nd.norm_axis(axis, first.ndim + 1, "stack", 2)
  local ex = {}
  for i, a in ipairs(arrays) do ex[i] = M.expand_dims(a, ax) end
  return M.concatenate(ex, ax)
end

--- take(x, indices, axis): the elements at INDICES (a list of 0-based,
-- possibly negative, integers in any order, repeats allowed, or an integer
-- ndarray) along AXIS (default 0). Each run of indices falling in one block
-- becomes one output block.
-- @param x an Array
-- @param indices a list of 0-based indices, or an integer ndarray
-- @param[opt] axis an axis (default 0)
-- @param[opt] level the error level (internal)
-- @return an Array
function M.take(x, indices, axis, level)
  level = (level or 1) + 1
  axis = axis or 0
  local ax = nd.norm_axis(axis, x.ndim, "take", level)
  core.check_known(x, "take", level)
  if nd.is_ndarray(indices) then indices = indices:tolist() end
  if type(indices) ~= "table" then error("take: indices must be a list of integers or an ndarray", level) end
  local size = x.shape[ax + 1]
  local starts = core.starts(x.chunks[ax + 1])
  local runs = {}
  for i, v in ipairs(indices) do
    if type(v) ~= "number" or v ~= floor(v) then
      error(format("take: index %s (position %d) is not an integer", tostring(v), i), level)
    end
    local g = v < 0 and v + size or v
    if g < 0 or g >= size then
      error(format("take: index %d out of range for axis %d with size %d (shape %s)", v, ax, size,
        nd.shape_str(x.shape)), level)
    end
    local lo, hi = 1, #starts - 1
    while lo < hi do
      local mid = floor((lo + hi + 1) / 2)
      if starts[mid] <= g then lo = mid else hi = mid - 1 end
    end
    local run = runs[#runs]
    if not run or run.block ~= lo - 1 then
      run = { block = lo - 1, idx = {} }
      runs[#runs + 1] = run
    end
    run.idx[#run.idx + 1] = g - starts[lo]
  end
  local chunks = {}
  for d = 1, x.ndim do chunks[d] = x.chunks[d] end
  local c = {}
  for i, run in ipairs(runs) do c[i] = #run.idx end
  if #c == 0 then c[1] = 0 end
  chunks[ax + 1] = c
  local name = core.name("take", x.name, ax, indices)
  local layer = {}
  core.each_block(core.numblocks(chunks), function(idx)
    local run = runs[idx[ax + 1] + 1]
    local src = { unpack(idx) }
    src[ax + 1] = run and run.block or 0
    layer[core.bkey(name, idx)] = { K.take, core.bkey(x.name, src), run and run.idx or {}, ax }
  end)
  return core.new(name, layer, chunks, x.dtype, { x })
end

--- flip(x, axis): reversed along AXIS (nil: every axis), a negative-step slice.
-- @param x an Array
-- @param[opt] axis an axis
-- @return an Array
function M.flip(x, axis)
  local specs = {}
  for d = 1, x.ndim do specs[d] = ":" end
  if axis == nil then
    for d = 1, x.ndim do specs[d] = { nil, nil, -1 } end
  else
    specs[nd.norm_axis(axis, x.ndim, "flip", 2) + 1] = { nil, nil, -1 }
  end
  return M.getitem(x, specs, 2)
end

--- swapaxes(x, a, b) and moveaxis(x, source, destination): transposes.
-- @param x an Array
-- @param a an axis
-- @param b an axis
-- @return an Array
function M.swapaxes(x, a, b)
  local ia, ib = nd.norm_axis(a, x.ndim, "swapaxes", 2), nd.norm_axis(b, x.ndim, "swapaxes", 2)
  local perm = {}
  for d = 1, x.ndim do perm[d] = d - 1 end
  perm[ia + 1], perm[ib + 1] = ib, ia
  return M.transpose(x, perm)
end

--- moveaxis(x, source, destination): axis SOURCE moved to DESTINATION.
-- @param x an Array
-- @param source an axis
-- @param destination an axis
-- @return an Array
function M.moveaxis(x, source, destination)
  local s = nd.norm_axis(source, x.ndim, "moveaxis", 2)
  local t = nd.norm_axis(destination, x.ndim, "moveaxis", 2)
  local rest = {}
  for d = 0, x.ndim - 1 do if d ~= s then rest[#rest + 1] = d end end
  table.insert(rest, t + 1, s)
  return M.transpose(x, rest)
end

--- broadcast_to(x, shape): X repeated along new leading axes and its size-1
-- axes (blocks are stride-0 views: no copies).
-- @param x an Array
-- @param shape the new shape
-- @param[opt] chunks the new chunks
-- @return an Array
function M.broadcast_to(x, shape, chunks)
  if type(shape) ~= "table" then error("broadcast_to: shape must be a list", 2) end
  local n = #shape
  if n < x.ndim then
    error(format("broadcast_to: cannot broadcast shape %s to %s", nd.shape_str(x.shape), nd.shape_str(shape)), 2)
  end
  local off = n - x.ndim
  local want = {}
  for d = 1, n do
    local ad = d - off
    if ad >= 1 and x.shape[ad] ~= shape[d] and x.shape[ad] ~= 1 then
      error(format("broadcast_to: cannot broadcast shape %s to %s (axis %d)", nd.shape_str(x.shape),
        nd.shape_str(shape), d - 1), 2)
    end
    if ad >= 1 and x.shape[ad] == shape[d] then want[d] = x.chunks[ad]
    else want[d] = chunks and chunks[d] or "auto" end
  end
  local out_chunks = core.normalize_chunks(want, shape, x.itemsize, "broadcast_to", 2)
  local name = core.name("broadcast_to", x.name, shape, out_chunks)
  local layer = {}
  core.each_block(core.numblocks(out_chunks), function(idx)
    local src, bshape = {}, {}
    for d = 1, n do
      bshape[d] = out_chunks[d][idx[d] + 1]
      local ad = d - off
      if ad >= 1 then src[ad] = (x.shape[ad] == shape[d]) and idx[d] or 0 end
    end
    layer[core.bkey(name, idx)] = { K.broadcast_to, x.ndim == 0 and x.name or core.bkey(x.name, src), bshape }
  end)
  return core.new(name, layer, out_chunks, x.dtype, { x })
end

core.getitem = function(x, specs) return M.getitem(x, specs, 2) end

return M
