-- ldask.array.blocks: block selection, dask's `x.blocks`: `x.blocks[{i, j}]`
-- is the array made of the selected blocks (0-based block indices, one
-- spec per leading axis as in slicing: an integer keeps that one block and
-- its axis, `{start, stop, step}` a range of blocks, ":" every block).
-- `x.blocks.shape` is the grid (numblocks), `x.blocks.size` its number of
-- blocks, `x.blocks:ravel()` the list of one-block arrays in C order, and
-- `x:block(i, j)` one block.
local core = require "ldask.array.core"
local nd = require "ldask.array.ndarray"

local type, ipairs, error, format, tostring, setmetatable, rawget, select =
  type, ipairs, error, string.format, tostring, setmetatable, rawget, select

local M = {}

-- The array of the blocks of X selected by SPECS (a list, or one number for
-- the first axis), WHAT naming the operation in errors raised at LEVEL.
local function pick(x, specs, what, level)
  level = level + 1
  if type(specs) == "number" then specs = { specs } end
  if type(specs) ~= "table" then
    error(format("%s: expected a list of block index specs, got %s", what, type(specs)), level)
  end
  local nb = core.numblocks(x.chunks)
  if #specs > x.ndim then
    error(format("%s: %d indices for a %d-d array with numblocks %s", what, #specs, x.ndim, nd.shape_str(nb)), level)
  end
  local picks, chunks = {}, {}
  for d = 1, x.ndim do
    local list = {}
    local kind, s, e, st = "slice", nil, nil, 1
    if specs[d] ~= nil then kind, s, e, st = nd.parse_index(specs[d], what, d - 1, level) end
    if kind == "int" then
      local i = s < 0 and s + nb[d] or s
      if i < 0 or i >= nb[d] then
        error(format("%s: index %d out of range for axis %d with %d blocks", what, s, d - 1, nb[d]), level)
      end
      list[1] = i
    else
      local lo, cnt, step = nd.norm_slice(s, e, st, nb[d], what, d - 1, level)
      for k = 0, cnt - 1 do list[k + 1] = lo + k * step end
      if cnt == 0 then
        error(format("%s: no blocks selected on axis %d (%d blocks)", what, d - 1, nb[d]), level)
      end
    end
    picks[d] = list
    local c = {}
    for k, i in ipairs(list) do c[k] = x.chunks[d][i + 1] end
    chunks[d] = c
  end
  local name = core.name("blocks", x.name, picks)
  local layer = {}
  local identity = require("ldask.array.kernels").identity
  local src = {}
  core.each_block(core.numblocks(chunks), function(idx)
    for d = 1, #idx do src[d] = picks[d][idx[d] + 1] end
    layer[core.bkey(name, idx)] = { identity, core.bkey(x.name, src) }
  end)
  return core.new(name, layer, chunks, x.dtype, { x })
end
M.pick = pick

local BlockView = { __name = "ldask.array.BlockView" }
M.BlockView = BlockView

local view_props = {
  shape = function(x) return core.numblocks(x.chunks) end,
  ndim = function(x) return x.ndim end,
  size = function(x) return core.methods.npartitions(x) end,
}

local view_methods = {
  -- The blocks as one-block arrays, in C order of the block grid.
  ravel = function(v)
    local x = rawget(v, "array")
    local out = {}
    core.each_block(core.numblocks(x.chunks), function(idx)
      out[#out + 1] = pick(x, idx, "blocks.ravel", 2)
    end)
    return out
  end,
}

BlockView.__index = function(v, k)
  local x = rawget(v, "array")
  local tk = type(k)
  if tk == "table" or tk == "number" then
    local r = pick(x, k, "blocks", 2) -- (not a tail call: level 2 is this function's caller)
    return r
  end
  if view_methods[k] then return view_methods[k] end
  if view_props[k] then return view_props[k](x) end
  error(format("blocks: no field %s (use x.blocks[{i, j}], x.blocks.shape, x.blocks.size or "
    .. "x.blocks:ravel())", tostring(k)), 2)
end

BlockView.__newindex = function() error("blocks: the block view is read-only", 2) end

BlockView.__tostring = function(v)
  local x = rawget(v, "array")
  return format("ldask.array.blocks<%s, numblocks=%s>", x.name, nd.shape_str(core.numblocks(x.chunks)))
end

core.props.blocks = function(x) return setmetatable({ array = x }, BlockView) end

-- x:block(i, j, ...) or x:block({i, j, ...}): one block as a one-block array
-- (every index given).
function core.methods.block(x, ...)
  local idx = select("#", ...) == 1 and type((...)) == "table" and (...) or { ... }
  if #idx ~= x.ndim then
    error(format("block: %d indices for a %d-d array with numblocks %s", #idx, x.ndim,
      nd.shape_str(core.numblocks(x.chunks))), 2)
  end
  for d = 1, #idx do
    if type(idx[d]) ~= "number" then error("block: index must be an integer", 2) end
  end
  local r = pick(x, idx, "block", 2)
  return r
end

return M
