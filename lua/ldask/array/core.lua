--- ldask.array.core: the Array collection object shared by the parts of
-- ldask.array: chunks normalization, block keys, the graph layers, the
-- collection protocol (docs/architecture.md) and compute().
--
-- Graph layers: every Array keeps `layers`, a table {layer name -> graph}
-- holding its own layer and (by reference) those of its inputs; building an
-- array copies only the layer table (O(number of operations), never
-- O(tasks)). The graph is flattened once, at compute.
-- @submodule ldask.array
local ldask_graph = require "ldask.graph"
local base = require "ldask.base"
local tokenize = require "ldask.tokenize"
local record_annotations = require("ldask.annotations").record
local nd = require "ldask.array.ndarray"

local type, pairs, ipairs, error, tostring, setmetatable, getmetatable =
  type, pairs, ipairs, error, tostring, setmetatable, getmetatable
local floor, ceil, max, concat, format = math.floor, math.ceil, math.max, table.concat, string.format
local key = ldask_graph.key

local M = {}

local methods = {}
M.methods = methods
local props = {}
M.props = props

-- Index hook set by the slicing part: x[{...}] slices.
M.getitem = nil

-- Keys absent from an array's fields: methods, properties (computed on
-- access), x[{...}] slicing; a number or boolean key is the Lua habit
-- x[1], which raises naming what to write instead.
local function lookup(self, k)
  local m = methods[k]
  if m then return m end
  local p = props[k]
  if p then return p(self) end
  local tk = type(k)
  if (tk == "table" or tk == "userdata" or tk == "cdata") and M.getitem then return M.getitem(self, k) end
  if tk == "boolean" then
    error(format("x[%s]: indexed with a boolean: `x[x == 1]` compares userdata with a number, which Lua "
      .. "answers false without asking it; write x[x:eq(1)] (comparisons are methods: eq, ne, lt, le, gt, ge)",
      tostring(k)), 2)
  end
  if tk == "number" then
    error(format("x[%s]: ldask arrays are indexed with a list of 0-based indices, x[{%s}] or x:slice{%s} "
      .. "(x[{0}] is the first entry of axis 0, x[{i, j}] an element); x.shape[1] is the size of axis 0",
      tostring(k), tostring(k), tostring(k)), 2)
  end
  return nil
end

-- Arrays are userdata proxies (ldask.proxy) so that #x reaches __len.
local Array, new_array = require("ldask.proxy").class("ldask.array.Array", lookup)
M.Array = Array

local function is_array(x) return getmetatable(x) == Array end
M.is_array = is_array

M.AUTO_BYTES = 128 * 2 ^ 20

-- Normalizes CHUNKS for SHAPE and ITEMSIZE into per-dimension lists of block
-- sizes. Accepts a number (every axis), a list per axis of: number (block
-- size), list of sizes (must add up), -1 or false (whole axis), "auto"; or
-- "auto" (blocks of about 128 MiB), or already normalized lists.
function M.normalize_chunks(chunks, shape, itemsize, what, level)
  what, level = what or "chunks", (level or 1) + 1
  local n = #shape
  if chunks == nil then chunks = "auto" end
  local per = {}
  if type(chunks) == "number" or chunks == "auto" or chunks == -1 then
    for d = 1, n do per[d] = chunks end
  elseif type(chunks) == "table" then
    if #chunks ~= n then
      error(format("%s: %d chunk specs for a %d-d shape %s", what, #chunks, n, nd.shape_str(shape)), level)
    end
    for d = 1, n do per[d] = chunks[d] end
  else
    error(format("%s: bad chunks %s", what, tostring(chunks)), level)
  end
  local out = {}
  local auto = {}
  for d = 1, n do
    local c, s = per[d], shape[d]
    if c == "auto" then
      auto[#auto + 1] = d
      out[d] = s
    elseif c == -1 or c == false then
      out[d] = s
    elseif type(c) == "number" then
      if c <= 0 or c ~= floor(c) then
        error(format("%s: block size %s at axis %d must be a positive integer", what, tostring(c), d - 1), level)
      end
      out[d] = c
    elseif type(c) == "table" then
      local sum = 0
      for i, b in ipairs(c) do
        if type(b) ~= "number" or b < 0 or b ~= floor(b) then
          error(format("%s: bad block size %s at axis %d", what, tostring(b), d - 1), level)
        end
        sum = sum + b
      end
      if sum ~= s then
        error(format("%s: block sizes at axis %d add up to %d, not the dimension %d", what, d - 1, sum, s), level)
      end
      local copy = {}
      for i, b in ipairs(c) do copy[i] = b end
      if #copy == 0 then copy[1] = 0 end
      out[d] = copy
    else
      error(format("%s: bad chunk spec %s at axis %d", what, tostring(c), d - 1), level)
    end
  end
  if #auto > 0 then
    local limit = M.AUTO_BYTES / (itemsize or 8)
    local function total()
      local t = 1
      for d = 1, n do t = t * (type(out[d]) == "table" and max(unpack(out[d])) or out[d]) end
      return t
    end
    while total() > limit do
      local best, bd = 1, nil
      for _, d in ipairs(auto) do if out[d] > best then best, bd = out[d], d end end
      if not bd then break end
      out[bd] = ceil(out[bd] / 2)
    end
  end
  for d = 1, n do
    if type(out[d]) ~= "table" then
      local s, b = shape[d], out[d]
      local list = {}
      if s == 0 then list[1] = 0
      else
        local full = floor(s / b)
        for i = 1, full do list[i] = b end
        if s % b ~= 0 then list[full + 1] = s % b end
      end
      out[d] = list
    end
  end
  return out
end

local function sum(list)
  local s = 0
  for _, v in ipairs(list) do s = s + v end
  return s
end
M.sum = sum

-- Cumulative starts of a chunk list: {0, c1, c1+c2, ...} (length #c + 1).
function M.starts(c)
  local s = { 0 }
  for i = 1, #c do s[i + 1] = s[i] + c[i] end
  return s
end

-- Creates an Array. LAYER is the new layer (graph) named NAME; DEPS the
-- input arrays whose layers it needs.
function M.new(name, layer, chunks, dtype, deps, extra)
  local layers = {}
  if deps then
    for _, a in ipairs(deps) do
      for n, g in pairs(a.layers) do layers[n] = g end
    end
  end
  layers[name] = layer
  record_annotations(name)
  local shape = {}
  for d = 1, #chunks do shape[d] = sum(chunks[d]) end
  local fields = {
    name = name, chunks = chunks, dtype = nd.dtype_name(dtype), layers = layers,
    shape = shape, ndim = #chunks,
  }
  if extra then for k, v in pairs(extra) do fields[k] = v end end
  return new_array(fields)
end

-- Raises at LEVEL when X has unknown chunk sizes (NaN entries, as dask's
-- after boolean mask indexing): WHAT needs the sizes.
function M.check_known(x, what, level)
  for d = 1, x.ndim do
    local s = x.shape[d]
    if s ~= s then
      error(format("%s: the array has unknown chunk sizes along axis %d (shape %s, e.g. after boolean mask "
        .. "indexing); call x:compute_chunk_sizes() first", what, d - 1, nd.shape_str(x.shape)), (level or 1) + 1)
    end
  end
end

-- A graph-only dependency for M.new: LAYER (named NAME) plus the layers of
-- the arrays DEPS (intermediate results that are not arrays, e.g. the
-- factors of a blocked decomposition).
function M.graph_dep(name, layer, deps)
  local layers = { [name] = layer }
  for _, a in ipairs(deps or {}) do
    for n, g in pairs(a.layers) do layers[n] = g end
  end
  return { layers = layers }
end

-- Fresh name PREFIX-<token of the arguments>.
function M.name(prefix, ...) return prefix .. "-" .. tokenize.tokenize(prefix, ...) end

-- Calls FN(idx) for every block index (0-based list) in C order of NUMBLOCKS.
function M.each_block(numblocks, fn)
  local n = #numblocks
  for d = 1, n do if numblocks[d] == 0 then return end end
  local idx = {}
  for d = 1, n do idx[d] = 0 end
  while true do
    fn(idx)
    local d = n
    while d >= 1 do
      idx[d] = idx[d] + 1
      if idx[d] < numblocks[d] then break end
      idx[d] = 0
      d = d - 1
    end
    if d < 1 then return end
  end
end

function M.numblocks(chunks)
  local nb = {}
  for d = 1, #chunks do nb[d] = #chunks[d] end
  return nb
end

-- Key of block IDX (list) of NAME.
function M.bkey(name, idx) return key(name, unpack(idx)) end

-- Shape of block IDX.
function M.bshape(chunks, idx)
  local s = {}
  for d = 1, #chunks do s[d] = chunks[d][idx[d] + 1] end
  return s
end

-- Nested list of block keys (like dask's __dask_keys__).
function M.keys(a)
  local n = a.ndim
  if n == 0 then return a.name end
  local function rec(d, prefix)
    local out = {}
    for i = 0, #a.chunks[d] - 1 do
      prefix[d] = i
      if d == n then out[i + 1] = key(a.name, unpack(prefix, 1, n))
      else out[i + 1] = rec(d + 1, prefix) end
    end
    return out
  end
  return rec(1, {})
end

-- Collection protocol -------------------------------------------------------------

function methods.__ldask_layers(self) return self.layers end
function methods.__ldask_graph(self) return ldask_graph.flatten_layers(self.layers) end
function methods.__ldask_keys(self) return M.keys(self) end
-- A 0-d array computes to a Lua value (kernels.scalar_result: a number, a
-- boolean, or an exact int64_t beyond 2^53), like numpy's scalars.
function methods.__ldask_postcompute(self)
  local n = self.ndim
  if n == 0 then return require("ldask.array.kernels").scalar_result end
  return function(results) return nd.block(results, n) end
end

-- ldask.persist / client:persist: the same array backed by LAYER (block key
-- -> a future or the computed block).
function methods.__ldask_postpersist(self)
  return function(layer)
    return M.new(self.name, layer, self.chunks, self.dtype)
  end
end
--- Computes every block now and returns an array of the same shape whose
-- graph holds the blocks (futures on a cluster, ldask.persist).
-- @function Array:persist
-- @param[opt] opts options of ldask.compute
-- @return an Array
function methods.persist(self, opts) return (base.persist_method(self, opts)) end

--- Computes the array; returns an ndarray (a 0-d array: a Lua value). OPTS
-- as for ldask.compute.
function methods.compute(self, opts)
  if opts then return (base.compute(self, opts)) end
  return (base.compute(self))
end

--- The blocks as delayed values (ldask.delayed), nested like the keys: each
-- computes to its block's ndarray.
-- @function Array:to_delayed
-- @return a nested list of Delayed values
function methods.to_delayed(self)
  local delayed = require "ldask.delayed"
  require "ldask.array.blocks" -- (x:block)
  if self.ndim == 0 then return delayed.from_collection(self) end
  local function rec(prefix, d)
    local out = {}
    for i = 0, #self.chunks[d] - 1 do
      prefix[d] = i
      if d == self.ndim then out[i + 1] = delayed.from_collection(self:block({ unpack(prefix, 1, d) }))
      else out[i + 1] = rec(prefix, d + 1) end
    end
    return out
  end
  return rec({}, 1)
end

--- The graph keys of the blocks as a nested list.
-- @function Array:keys
-- @return a nested list of keys
function methods.keys(self) return M.keys(self) end

--- x:npartitions(): the number of blocks.
-- @function Array:npartitions
-- @return a number
function methods.npartitions(self)
  local n = 1
  for d = 1, self.ndim do n = n * #self.chunks[d] end
  return n
end

local PROPS = {
  size = function(self)
    local n = 1
    for d = 1, self.ndim do n = n * self.shape[d] end
    return n
  end,
  itemsize = function(self) return nd.itemsize_of[nd.dtype_code(self.dtype)] end,
  nbytes = function(self)
    local n = nd.itemsize_of[nd.dtype_code(self.dtype)]
    for d = 1, self.ndim do n = n * self.shape[d] end
    return n
  end,
  numblocks = function(self) return M.numblocks(self.chunks) end,
  T = function(self) return self:transpose() end,
}
for k, f in pairs(PROPS) do props[k] = f end

Array.__len = function(self)
  error(format("#x: the length of an ldask array is not Lua's #: x.shape[1] is the size of axis 0, "
    .. "x.size the number of elements (shape %s)", nd.shape_str(self.shape)), 2)
end

-- x[sel] = v (assignment, ldask.array.indexing.setitem) for list, array
-- and ndarray keys; other keys are fields, as for every proxy.
do
  local raw_newindex = Array.__newindex
  Array.__newindex = function(self, k, v)
    local tk = type(k)
    if tk == "table" or tk == "userdata" or tk == "cdata" then
      require("ldask.array.indexing").setitem(self, k, v, 2)
      return
    end
    raw_newindex(self, k, v)
  end
end

Array.__tostring = function(self)
  if self.chunks == nil then return "ldask.array.Array" end -- the class's template (tokenize walks upvalues)
  local cs = {}
  for d = 1, self.ndim do
    local c = self.chunks[d]
    local uniq = true
    for i = 2, #c - 1 do if c[i] ~= c[1] then uniq = false end end
    cs[d] = (#c == 1 or uniq) and tostring(c[1]) or ("(" .. concat(c, ", ") .. ")")
  end
  return format("ldask.array<%s, shape=%s, dtype=%s, chunksize=(%s%s), numblocks=%s>",
    self.name, nd.shape_str(self.shape), self.dtype, concat(cs, ", "), self.ndim == 1 and "," or "",
    nd.shape_str(M.numblocks(self.chunks)))
end

Array.__ldask_tokenize = function(self) return "array:" .. self.name end

return M
