--- ldask.array.elemwise: elementwise operations on arrays: arithmetic and
-- comparisons between arrays (any chunking: chunks are unified; NumPy
-- broadcasting) and scalars, unary math, where, astype, and map_blocks.
-- Result dtypes come from running the ndarray kernel on 0-d samples, so they
-- always match what the blocks will produce.
-- @submodule ldask.array
local core = require "ldask.array.core"
local rechunk = require "ldask.array.rechunk"
local nd = require "ldask.array.ndarray"
local K = require "ldask.array.kernels"
local E = require "ldask.ffi.array"

local type, ipairs, pairs, next, error, pcall, tostring, format, unpack, select, getmetatable =
  type, ipairs, pairs, next, error, pcall, tostring, string.format, unpack, select, getmetatable
local is_array = core.is_array

local M = {}

-- Converts an operand: Arrays stay, ndarrays become one-block arrays,
-- numbers/booleans stay literal. Raises for anything else.
local function operand(v, what, level)
  if is_array(v) then return v end
  if nd.is_ndarray(v) then return require("ldask.array.creation").from_ndarray(v, { chunks = -1 }) end
  local t = type(v)
  if t == "number" or t == "boolean" then return v end
  error(format("%s: operand of type %s (expected an array, ndarray, number or boolean)", what, t), level + 1)
end

-- 0-d sample of an operand for dtype inference.
local function sample(v)
  if is_array(v) then return nd.full({}, 1, v.dtype) end
  return v
end

-- Builds the elementwise array: task {F, PRE..., operand blocks...}; with
-- WITH_INDEX, {F, PRE..., block index (0-based list), operand blocks...}.
local function build(prefix, f, pre, args, dtype, level, with_index)
  level = level + 1
  local arrays = {}
  for _, a in ipairs(args) do if is_array(a) then arrays[#arrays + 1] = a end end
  local unified, shape, chunks = rechunk.unify(arrays, prefix, level)
  local k = 0
  local ops = {}
  for i, a in ipairs(args) do
    if is_array(a) then k = k + 1; ops[i] = unified[k] else ops[i] = a end
  end
  local toks = { prefix, unpack(pre) }
  for i, a in ipairs(ops) do toks[#toks + 1] = is_array(a) and a.name or a end
  local name = core.name(prefix, toks)
  local ndim = #shape
  local layer = {}
  local function task(idx)
    local t = { f }
    for _, p in ipairs(pre) do t[#t + 1] = p end
    if with_index then t[#t + 1] = { unpack(idx) } end
    for _, a in ipairs(ops) do
      if is_array(a) then
        local off = ndim - a.ndim
        local aidx = {}
        for ad = 1, a.ndim do
          local s = a.shape[ad] -- (NaN: an unknown size, never broadcast)
          aidx[ad] = (s == shape[ad + off] or s ~= s) and idx[ad + off] or 0
        end
        t[#t + 1] = a.ndim == 0 and a.name or core.bkey(a.name, aidx)
      else
        t[#t + 1] = a
      end
    end
    return t
  end
  if ndim == 0 then layer[name] = task({})
  else core.each_block(core.numblocks(chunks), function(idx) layer[core.bkey(name, idx)] = task(idx) end) end
  return core.new(name, layer, chunks, dtype, unified)
end
M.build = build

-- Binary OP (ldask.ffi.array binop name) between X and Y.
function M.binary(op, x, y, level)
  level = (level or 1) + 1
  if not E.binop[op] then error("elemwise: unknown binary operation " .. tostring(op), level) end
  x, y = operand(x, op, level), operand(y, op, level)
  if not is_array(x) and not is_array(y) then error(op .. ": needs at least one array operand", level) end
  local ok, r = pcall(nd.binary, op, sample(x), sample(y))
  if not ok then error(tostring(r):gsub("^[^:]*:%d+: ", ""), level) end
  if type(y) == "number" then nd.check_pow(op, nd.dtype_code(r.dtype), y, level) end
  return build(op, K.binary, { op }, { x, y }, r.dtype, level)
end

-- Unary OP (ldask.ffi.array unop name) of X.
function M.unary(op, x, level)
  level = (level or 1) + 1
  if not E.unop[op] then error("elemwise: unknown unary operation " .. tostring(op), level) end
  x = operand(x, op, level)
  if not is_array(x) then error(op .. ": expected an array", level) end
  local ok, r = pcall(nd.unary, op, sample(x))
  if not ok then error(tostring(r):gsub("^[^:]*:%d+: ", ""), level) end
  return build(op, K.unary, { op }, { x }, r.dtype, level)
end

--- where(cond, x, y) with broadcasting.
-- @param c a bool Array (or one that converts)
-- @param x an Array or a number
-- @param y an Array or a number
-- @return an Array
function M.where(c, x, y)
  c, x, y = operand(c, "where", 2), operand(x, "where", 2), operand(y, "where", 2)
  if not is_array(c) and not is_array(x) and not is_array(y) then
    error("where: needs at least one array operand", 2)
  end
  local ok, r = pcall(nd.where, sample(c), sample(x), sample(y))
  if not ok then error(tostring(r):gsub("^[^:]*:%d+: ", ""), 2) end
  if not is_array(c) then c = require("ldask.array.creation").full({}, c, { dtype = "bool" }) end
  return build("where", K.where, {}, { c, x, y }, r.dtype, 2)
end

--- astype(x, dtype).
-- @param x an Array
-- @param dtype the new dtype
-- @param[opt] casting "unsafe" (default), "same_kind" or "safe"
-- @return an Array
function M.astype(x, dtype, casting, level)
  level = (level or 1) + 1
  local code = nd.dtype_code(dtype, "astype", level)
  local name = nd.dtype_names[code]
  if not nd.can_cast(nd.dtype_code(x.dtype), code, casting, level) then
    error(format("astype: cannot cast %s to %s under the '%s' casting rule (shape %s)", x.dtype, name,
      casting, nd.shape_str(x.shape)), level)
  end
  if x.dtype == name then return x end
  if x.gen and not x.gen.cast then
    -- a random array stays a generator (slices of it keep generating only
    -- what they select): the cast is applied to each generated block
    local g = {}
    for k, v in pairs(x.gen) do g[k] = v end
    g.cast = name
    return require("ldask.array.creation").from_generator(g, x.shape, x.chunks)
  end
  return build("astype", K.astype, {}, { x, name }, name, 2)
end

--- clip(x, lo, hi): values limited to [lo, hi] (either may be nil).
-- @param x an Array
-- @param lo lower bound, or nil
-- @param hi upper bound, or nil
-- @return an Array
function M.clip(x, lo, hi)
  local r = x
  if lo ~= nil then r = M.binary("maximum", r, lo, 2) end
  if hi ~= nil then r = M.binary("minimum", r, hi, 2) end
  return r
end

--- isclose(x, y, rtol, atol, equal_nan) or isclose(x, y, {rtol =, atol =,
-- equal_nan =}): numpy.isclose per block (ndarray.isclose): inf is close
-- to inf, NaN only to NaN and only with equal_nan. Gives a bool array.
-- @param x an Array
-- @param y an Array or a number
-- @param[opt] rtol relative tolerance (default 1e-5), or an options table
-- @param[opt] atol absolute tolerance (default 1e-8)
-- @param[opt] equal_nan NaN is close to NaN when true
-- @return a bool Array
function M.isclose(x, y, rtol, atol, equal_nan, level)
  level = (level or 1) + 1
  if type(rtol) == "table" then rtol, atol, equal_nan = rtol.rtol, rtol.atol, rtol.equal_nan end
  rtol, atol = rtol or 1e-5, atol or 1e-8
  if type(rtol) ~= "number" or type(atol) ~= "number" then
    error(format("isclose: rtol and atol must be numbers, got %s and %s", type(rtol), type(atol)), level)
  end
  x, y = operand(x, "isclose", level), operand(y, "isclose", level)
  if not is_array(x) and not is_array(y) then error("isclose: needs at least one array operand", level) end
  return build("isclose", K.isclose, { rtol, atol, equal_nan and true or false }, { x, y }, "bool", level)
end

--- map_blocks(fn, args..., [opts]): FN(block, block, ...) per block of
-- the (unified) arrays among ARGS; a Delayed or a Future among them gives
-- its value to every block's call, any other value is passed as it is (a
-- last plain table with only the keys dtype, chunks or name is OPTS).
-- OPTS: dtype (default the first array's), chunks (the output chunks when
-- FN changes block shapes; per-axis lists), name.
-- @param fn a function of one block per array (and the other arguments), returning an ndarray
-- @param ... arrays, Delayed values, Futures and other values, then optionally `{ dtype =, chunks =, name = }`
-- @return an Array
function M.map_blocks(fn, ...)
  if type(fn) ~= "function" then error("map_blocks: first argument must be a function", 2) end
  local n = select("#", ...)
  local args = { ... }
  local opts = {}
  local function is_opts(t)
    if type(t) ~= "table" or getmetatable(t) ~= nil then return false end
    for k in pairs(t) do
      if k ~= "name" and k ~= "dtype" and k ~= "chunks" then return false end
    end
    return true
  end
  if n > 0 and is_opts(args[n]) then
    opts = args[n]
    args[n] = nil
    n = n - 1
  end
  local first
  local base, graph = require "ldask.base", require "ldask.graph"
  local extra = {} -- layers of the Delayed / Future arguments
  for i = 1, n do
    local v = args[i]
    if is_array(v) or nd.is_ndarray(v) then
      args[i] = operand(v, "map_blocks", 2)
      if not first then first = args[i] end
    elseif base.is_collection(v) then
      -- a Delayed or a Future: every block's task reads its value (dask)
      local key = v:__ldask_keys()
      if type(key) ~= "string" then
        require("ldask.errors").misuse(format("map_blocks: argument %d is a collection of several keys (a %s): pass an"
          .. " array as an array, or one value (a Delayed or a Future)", i, tostring(getmetatable(v).__name or type(v))))
      end
      if v.__ldask_layers then
        for name, g in pairs(v:__ldask_layers()) do extra[name] = g end
      else
        extra["arg-" .. key] = v:__ldask_graph()
      end
      args[i] = graph.ref(key)
    elseif type(v) == "number" or type(v) == "boolean" then
      args[i] = v
    else
      args[i] = graph.quote(v) -- strings, tables, functions: passed as they are
    end
  end
  if not first then error("map_blocks: needs at least one array", 2) end
  local label = opts.name or "map_blocks"
  local dtype = opts.dtype or first.dtype
  local token = require("ldask.tokenize").tokenize(fn)
  local a = build(label, K.apply, { fn, label }, args, dtype, 2, true)
  if next(extra) then
    local layers = a.layers
    for name, g in pairs(extra) do layers[name] = g end
  end
  if opts.chunks then
    local chunks = opts.chunks
    if type(chunks) ~= "table" or #chunks ~= a.ndim then
      error(format("map_blocks: chunks must list the block sizes of each of the %d axes", a.ndim), 2)
    end
    for d = 1, #chunks do
      if type(chunks[d]) ~= "table" then
        error(format("map_blocks: chunks of axis %d must be a list of block sizes", d - 1), 2)
      end
      for _, c in ipairs(chunks[d]) do
        if type(c) ~= "number" or c < 0 or c ~= math.floor(c) then
          error(format("map_blocks: bad block size %s on axis %d", tostring(c), d - 1), 2)
        end
      end
    end
    local nb = core.numblocks(chunks)
    for d = 1, #nb do
      if nb[d] ~= #a.chunks[d] then
        error(format("map_blocks: chunks give %d blocks on axis %d, the inputs have %d", nb[d], d - 1,
          #a.chunks[d]), 2)
      end
    end
    local shape = {}
    for d = 1, #chunks do shape[d] = core.sum(chunks[d]) end
    a.chunks, a.shape = chunks, shape
  end
  a.fn_token = token
  return a
end

return M
