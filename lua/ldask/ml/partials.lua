--- ldask.ml.partials: block-wise partial results for ldask.ml's
-- algorithms: a function run on each row block of one or more arrays, all
-- in one graph (the map step of their map-reduce passes: sums, counts,
-- gradients per block), its results as a list or as a collection to
-- compute with others, and the first row of each block. Its functions are
-- ldask.ml.base's too: use them as base.partials and so on.
-- @submodule ldask.ml.base
local nd = require "ldask.array.ndarray"
local tokenize = require "ldask.tokenize"
local inputs = require "ldask.ml.inputs"

local ipairs, pairs, tostring, select, setmetatable = ipairs, pairs, tostring, select, setmetatable
local unpack = unpack
local is_nd = nd.is_ndarray
local whole_columns = inputs.whole_columns

local M = {}

-- The partials as a collection (ldask.compute gives the list of results).
local Partials = { __name = "ldask.ml.Partials" }
Partials.__index = Partials
function Partials.__ldask_layers(c) return c.layers end
function Partials.__ldask_graph(c) return require("ldask.graph").flatten_layers(c.layers) end
function Partials.__ldask_keys(c) return c.keys end
function Partials.__ldask_postcompute() return nil end

-- The block-wise partials (INDEXED: the block number follows the blocks;
-- LAZY: a collection instead of the results).
local function partials(fn, indexed, lazy_result, arrays, ...)
  local lazy = false
  for _, a in ipairs(arrays) do if not is_nd(a) then lazy = true end end
  if not lazy then
    local args = {}
    for i, a in ipairs(arrays) do args[i] = a end
    local n = #args
    if indexed then n = n + 1; args[n] = 0 end
    for i = 1, select("#", ...) do args[n + i] = (select(i, ...)) end
    return { fn(unpack(args, 1, n + select("#", ...))) }
  end
  local da = require "ldask.array"
  local graph = require "ldask.graph"
  local first
  for _, a in ipairs(arrays) do if not is_nd(a) then first = whole_columns(a); break end end
  local rows = { first.chunks[1] }
  local xs, layers = {}, {}
  for i, a in ipairs(arrays) do
    if is_nd(a) then a = da.from_array(a, { chunks = a.ndim == 2 and { rows[1], -1 } or rows }) end
    a = whole_columns(a)
    if a.ndim >= 1 then
      local target = { rows[1] }
      for d = 2, a.ndim do target[d] = -1 end
      local same_rows = #a.chunks[1] == #rows[1]
      if same_rows then for b, c in ipairs(rows[1]) do if a.chunks[1][b] ~= c then same_rows = false end end end
      if not same_rows then a = a:rechunk(target) end
    end
    xs[i] = a
    for n, g in pairs(a.layers) do layers[n] = g end
  end
  local extra = { ... }
  local nextra = select("#", ...)
  local qextra = {}
  for i = 1, nextra do qextra[i] = graph.quote(extra[i]) end
  local layer, keys = {}, {}
  local names = {}
  for i, a in ipairs(xs) do names[i] = a.name end
  local name = "partials-" .. tokenize.tokenize(tostring(fn), names, extra, indexed)
  for b = 0, #rows[1] - 1 do
    local t = { fn }
    for _, a in ipairs(xs) do t[#t + 1] = a.ndim == 2 and graph.key(a.name, b, 0) or graph.key(a.name, b) end
    if indexed then t[#t + 1] = b end
    for i = 1, nextra do t[#t + 1] = qextra[i] end
    keys[b + 1] = graph.key(name, b)
    layer[keys[b + 1]] = t
  end
  layers[name] = layer
  if lazy_result then return setmetatable({ layers = layers, keys = keys }, Partials) end
  return require("ldask.base").get(graph.flatten_layers(layers), keys)
end

--- base.partials(fn, arrays, extra...): FN(block_1, block_2, ..., extra...)
-- on each row block of ARRAYS (a list of ldask arrays or ndarrays with the
-- same number of rows; 2-D ones get one block across their columns, the
-- rest are chunked like the first), all in one graph; returns the list of
-- FN's results (one per block, in order). With only ndarrays FN runs once,
-- here. FN must travel (a module field, or a closure over plain values).
-- @param fn the per-block function
-- @param arrays a list of arrays / ndarrays
-- @return a list of results
function M.partials(fn, arrays, ...) return partials(fn, false, false, arrays, ...) end

--- base.partials_lazy(fn, arrays, extra...): as base.partials, but a
-- collection to compute together with others in one graph
-- (`ldask.compute(s, v, base.partials_lazy(...))`), whose result is the
-- list of FN's results; with only ndarrays, that list itself.
-- @param fn the per-block function
-- @param arrays a list of arrays / ndarrays
-- @return a collection, or a list
function M.partials_lazy(fn, arrays, ...) return partials(fn, false, true, arrays, ...) end

--- base.partials_indexed(fn, arrays, extra...): as base.partials, FN also
-- getting the 0-based block number after the blocks:
-- FN(block_1, ..., b, extra...); the starts of the row blocks are
-- `base.row_starts(arrays)`.
-- @param fn the per-block function
-- @param arrays a list of arrays / ndarrays
-- @return a list of results
function M.partials_indexed(fn, arrays, ...) return partials(fn, true, false, arrays, ...) end

--- base.row_starts(x): the 0-based first row of each row block of X (an
-- array: of its blocks with whole columns; an ndarray: {0}).
-- @param x an array or ndarray
-- @return a Lua list
function M.row_starts(x)
  if is_nd(x) then return { 0 } end
  local out, s = {}, 0
  for i, c in ipairs(x.chunks[1]) do out[i] = s; s = s + c end
  return out
end

return M
