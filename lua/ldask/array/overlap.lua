--- ldask.array.overlap: ghost cells (dask.array.overlap): every block is
-- extended by DEPTH elements of its neighbours on each side of each axis
-- (at the array's edges: the boundary mode), a function runs on the
-- extended blocks, and the ghost cells are trimmed afterwards.
--
-- Boundary modes (per axis, as dask): "none" (no ghost cells at the
-- array's edges), "reflect" (mirrored, the edge element included: numpy's
-- pad mode "symmetric"), "periodic" (wrapped from the other end), "nearest"
-- (the edge element repeated), or a number (constant cells).
-- @submodule ldask.array
local core = require "ldask.array.core"
local nd = require "ldask.array.ndarray"
local K = require "ldask.array.kernels"
local rechunk = require "ldask.array.rechunk"

local type, ipairs, error, format, tostring, floor, unpack =
  type, ipairs, error, string.format, tostring, math.floor, unpack

local M = {}

local MODES = { none = true, reflect = true, periodic = true, nearest = true }

-- Per-axis lists (1-based) of depth and boundary from OPTS.
local function axis_opts(x, opts, what, level)
  level = level + 1
  local depth, boundary = opts.depth, opts.boundary
  if depth == nil then error(what .. ": needs depth (a number, or one per axis)", level) end
  local ds, bs = {}, {}
  for d = 1, x.ndim do
    local v = type(depth) == "table" and (depth[d] or 0) or depth
    if type(v) ~= "number" or v < 0 or v ~= floor(v) then
      error(format("%s: depth %s for axis %d must be a non-negative integer", what, tostring(v), d - 1), level)
    end
    ds[d] = v
    local b = boundary
    if type(b) == "table" then b = b[d] end
    if b == nil then b = "none" end
    if type(b) ~= "number" and not MODES[b] then
      error(format("%s: unknown boundary %s for axis %d (use \"none\", \"reflect\", \"periodic\", \"nearest\" or a "
        .. "number)", what, tostring(b), d - 1), level)
    end
    bs[d] = b
  end
  return ds, bs
end

-- Chunks of one axis with every block at least DEPTH long (merging
-- neighbours), as dask does before adding ghost cells.
local function wide_enough(c, depth)
  local ok = true
  for _, v in ipairs(c) do if v < depth then ok = false end end
  if ok then return c end
  local out, acc = {}, 0
  for _, v in ipairs(c) do
    acc = acc + v
    if acc >= depth then out[#out + 1] = acc; acc = 0 end
  end
  if acc > 0 then
    if #out == 0 then out[1] = acc else out[#out] = out[#out] + acc end
  end
  return out
end

--- Task: a ghost piece of block X: per axis {lo, hi, flip, rep} (rep: the
-- one selected element repeated REP times).
-- @local
function M.k_piece(x, ops)
  local spec = {}
  for d, o in ipairs(ops) do spec[d] = o.flip and { o.hi - 1, o.lo > 0 and o.lo - 1 or false, -1 } or { o.lo, o.hi } end
  local v = x:slice(spec)
  local reps = false
  for _, o in ipairs(ops) do if o.rep then reps = true end end
  if reps then
    local shape = v.shape
    for d, o in ipairs(ops) do if o.rep then shape[d] = o.rep end end
    v = v:broadcast_to(shape)
  end
  return v
end

--- Task: the ghost cells trimmed from the function's result R (checked to
-- keep the extended block's SHAPE).
-- @local
function M.k_trim(r, lo, hi, shape)
  local s = r.shape
  local ok = #s == #shape
  for d = 1, #shape do if s[d] ~= shape[d] then ok = false end end
  if not ok then
    error(format("map_overlap: the function returned a block of shape %s for an extended block of shape %s; it must "
      .. "keep the shape", nd.shape_str(s), nd.shape_str(shape)), 0)
  end
  return K.piece(r, lo, hi)
end

-- The segments of block J on one axis: list of {src block, op} or
-- {const = size}; also the left and right ghost sizes.
local function segments(c, j, depth, b)
  local nb = #c
  local segs = {}
  local left, right = 0, 0
  if depth > 0 then
    if j > 1 then
      segs[#segs + 1] = { j - 2, { lo = c[j - 1] - depth, hi = c[j - 1] } }
      left = depth
    elseif b ~= "none" then
      left = depth
      if type(b) == "number" then segs[#segs + 1] = { const = depth }
      elseif b == "periodic" then segs[#segs + 1] = { nb - 1, { lo = c[nb] - depth, hi = c[nb] } }
      elseif b == "reflect" then segs[#segs + 1] = { 0, { lo = 0, hi = depth, flip = true } }
      else segs[#segs + 1] = { 0, { lo = 0, hi = 1, rep = depth } } end
    end
  end
  segs[#segs + 1] = { j - 1, { lo = 0, hi = c[j] } }
  if depth > 0 then
    if j < nb then
      segs[#segs + 1] = { j, { lo = 0, hi = depth } }
      right = depth
    elseif b ~= "none" then
      right = depth
      if type(b) == "number" then segs[#segs + 1] = { const = depth }
      elseif b == "periodic" then segs[#segs + 1] = { 0, { lo = 0, hi = depth } }
      elseif b == "reflect" then segs[#segs + 1] = { nb - 1, { lo = c[nb] - depth, hi = c[nb], flip = true } }
      else segs[#segs + 1] = { nb - 1, { lo = c[nb] - 1, hi = c[nb], rep = depth } } end
    end
  end
  return segs, left, right
end

--- da.overlap(x, {depth =, boundary =}): X with every block extended by its
-- neighbours' ghost cells (dask.array.overlap.overlap).
-- @param x an Array
-- @param opts `{ depth = n or {n0, n1, ...}, boundary = mode or {mode0, ...} }`
-- @param[opt] level the error level (internal)
-- @return an Array (larger blocks), and the per-axis lists of left and right ghost sizes
function M.overlap(x, opts, level)
  level = (level or 1) + 1
  if not core.is_array(x) then error("overlap: expected an array, got " .. type(x), level) end
  if type(opts) ~= "table" then error("overlap: expected options { depth =, boundary = }", level) end
  core.check_known(x, "overlap", level)
  local ds, bs = axis_opts(x, opts, "overlap", level)
  local want = {}
  for d = 1, x.ndim do
    if ds[d] > x.shape[d] and x.shape[d] > 0 then
      error(format("overlap: depth %d is larger than axis %d of size %d", ds[d], d - 1, x.shape[d]), level)
    end
    want[d] = wide_enough(x.chunks[d], ds[d])
  end
  x = rechunk.rechunk(x, want)
  local n = x.ndim
  local per, lefts, rights, chunks = {}, {}, {}, {}
  for d = 1, n do
    per[d], lefts[d], rights[d], chunks[d] = {}, {}, {}, {}
    for j = 1, #x.chunks[d] do
      local segs, l, r = segments(x.chunks[d], j, ds[d], bs[d])
      per[d][j], lefts[d][j], rights[d][j] = segs, l, r
      chunks[d][j] = x.chunks[d][j] + l + r
    end
  end
  local name = core.name("overlap", x.name, ds, bs)
  local layer = {}
  core.each_block(core.numblocks(x.chunks), function(idx)
    local function rec(d, src, ops, shape, const)
      local out = {}
      for i, seg in ipairs(per[d][idx[d] + 1]) do
        local s2, o2, sh2 = { unpack(src) }, { unpack(ops) }, { unpack(shape) }
        local c2 = const
        if seg.const then
          c2 = c2 or bs[d]
          s2[d], o2[d], sh2[d] = 0, { lo = 0, hi = 0 }, seg.const
        else
          s2[d], o2[d] = seg[1], seg[2]
          sh2[d] = seg[2].rep or (seg[2].hi - seg[2].lo)
        end
        if d == n then
          if c2 then out[i] = { K.full, sh2, c2, x.dtype }
          else out[i] = { M.k_piece, core.bkey(x.name, s2), o2 } end
        else
          out[i] = rec(d + 1, s2, o2, sh2, c2)
        end
      end
      return out
    end
    layer[core.bkey(name, idx)] = { K.block, rec(1, {}, {}, {}, nil), n }
  end)
  local r = core.new(name, layer, chunks, x.dtype, { x })
  return r, lefts, x.chunks
end

--- da.map_overlap(fn, x, opts) (also x:map_overlap(fn, opts)): FN on every
-- block extended by ghost cells (da.overlap), then the ghost cells trimmed
-- (unless `trim = false`): stencils and filters across block edges. FN
-- must return a block of the extended block's shape. OPTS: `depth`,
-- `boundary` (default "none", as dask), `dtype`, `trim`.
-- @param fn a function of an ndarray returning an ndarray of the same shape
-- @param x an Array
-- @param opts `{ depth =, boundary =, dtype =, trim = true }`
-- @return an Array of x's shape
function M.map_overlap(fn, x, opts)
  if type(fn) ~= "function" then error("map_overlap: first argument must be a function", 2) end
  if type(opts) ~= "table" then error("map_overlap: expected options { depth =, boundary = }", 2) end
  local g, lefts, inner = M.overlap(x, opts, 2)
  local E = require "ldask.array.elemwise"
  local y = E.map_blocks(fn, g, { dtype = opts.dtype or x.dtype, name = "map_overlap" })
  if opts.trim == false then return y end
  local name = core.name("trim", y.name, lefts)
  local layer = {}
  core.each_block(core.numblocks(inner), function(idx)
    local lo, hi, shape = {}, {}, {}
    for d = 1, #idx do
      lo[d] = lefts[d][idx[d] + 1]
      hi[d] = lo[d] + inner[d][idx[d] + 1]
      shape[d] = g.chunks[d][idx[d] + 1]
    end
    layer[core.bkey(name, idx)] = { M.k_trim, core.bkey(y.name, idx), lo, hi, shape }
  end)
  return core.new(name, layer, inner, y.dtype, { y })
end


return M
