--- ldask.array.creation: arrays made from nothing or from memory: ones,
-- zeros, full, empty, arange, linspace, eye, counter-based random arrays,
-- from_table, from_ndarray, from_delayed. Every creation function takes the
-- shape (a list, or a number for 1-d) and an options table
-- {chunks = ..., dtype = ...}.
-- @submodule ldask.array
local core = require "ldask.array.core"
local nd = require "ldask.array.ndarray"
local K = require "ldask.array.kernels"

local type, ipairs, error, tostring, select, pcall = type, ipairs, error, tostring, select, pcall
local format, floor, ceil, max = string.format, math.floor, math.ceil, math.max

local M = {}

local function shape_arg(shape, what)
  if type(shape) == "number" then shape = { shape } end
  if type(shape) ~= "table" then error(what .. ": shape must be a list of sizes or a number", 3) end
  local s = {}
  for d, v in ipairs(shape) do
    if type(v) ~= "number" or v < 0 or v ~= floor(v) then
      error(format("%s: bad dimension %s at axis %d", what, tostring(v), d - 1), 3)
    end
    s[d] = v
  end
  if #s > 8 then error(what .. ": at most 8 dimensions", 3) end
  return s
end
M.shape_arg = shape_arg

local function opts_arg(opts, what)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(what .. ": options must be a table", 3) end
  return opts
end

-- Builds an array of SHAPE whose block IDX is the task MAKE(idx, bstart, bshape).
local function blockwise_new(prefix, shape, chunks_spec, dtype, make, token_args, extra)
  local code = nd.dtype_code(dtype, prefix, 3)
  local chunks = core.normalize_chunks(chunks_spec, shape, nd.itemsize_of[code], prefix, 3)
  local name = core.name(prefix, shape, chunks, nd.dtype_names[code], token_args)
  local starts = {}
  for d = 1, #chunks do starts[d] = core.starts(chunks[d]) end
  local layer = {}
  core.each_block(core.numblocks(chunks), function(idx)
    local bstart, bshape = {}, {}
    for d = 1, #idx do
      bstart[d] = starts[d][idx[d] + 1]
      bshape[d] = chunks[d][idx[d] + 1]
    end
    layer[core.bkey(name, idx)] = make(idx, bstart, bshape)
  end)
  if #chunks == 0 then layer[name] = make({}, {}, {}) end
  return core.new(name, layer, chunks, code, nil, extra)
end
M.blockwise_new = blockwise_new

local function full_impl(shape, value, opts, what)
  if type(shape) == "number" then shape = { shape } end
  if type(shape) ~= "table" then error(what .. ": shape must be a list of sizes or a number", 3) end
  for d, v in ipairs(shape) do
    if type(v) ~= "number" or v < 0 or v ~= floor(v) then
      error(format("%s: bad dimension %s at axis %d", what, tostring(v), d - 1), 3)
    end
  end
  if opts ~= nil and type(opts) ~= "table" then error(what .. ": options must be a table", 3) end
  opts = opts or {}
  if type(value) ~= "number" and type(value) ~= "boolean" then
    error(what .. ": value must be a number or boolean, got " .. type(value), 3)
  end
  local dtype = opts.dtype
  if dtype == nil then
    dtype = type(value) == "boolean" and "bool" or nd.is_int_value(value) and "int64" or "float64"
  end
  dtype = nd.dtype_names[nd.dtype_code(dtype, what, 3)]
  return blockwise_new("full", shape, opts.chunks, dtype, function(_, _, bshape)
    return { K.full, bshape, value, dtype }
  end, { value })
end

--- full(shape, value, {chunks, dtype}): every element VALUE.
-- @param shape a list of sizes
-- @param value the value
-- @param[opt] opts `{ chunks =, dtype = }`
-- @return an Array
function M.full(shape, value, opts)
  local r = full_impl(shape, value, opts, "full")
  return r
end

--- ones(shape[, opts]): every element 1.
-- @param shape a list of sizes
-- @param[opt] opts `{ chunks =, dtype = }`
-- @return an Array
-- @usage print(ldask.array.ones({ 100, 100 }, { chunks = 50 }):sum():compute())
function M.ones(shape, opts)
  local o = opts or {}
  local r = full_impl(shape, 1, type(o) == "table" and { chunks = o.chunks, dtype = o.dtype or "float64" } or o, "ones")
  return r
end

--- zeros(shape[, opts]): every element 0.
-- @param shape a list of sizes
-- @param[opt] opts `{ chunks =, dtype = }`
-- @return an Array
function M.zeros(shape, opts)
  local o = opts or {}
  local r = full_impl(shape, 0, type(o) == "table" and { chunks = o.chunks, dtype = o.dtype or "float64" } or o, "zeros")
  return r
end

--- empty: like zeros (blocks are always initialized; no uninitialized memory
-- is ever shown).
-- @param shape a list of sizes
-- @param[opt] opts `{ chunks =, dtype = }`
-- @return an Array
function M.empty(shape, opts)
  local o = opts or {}
  local r = full_impl(shape, 0, type(o) == "table" and { chunks = o.chunks, dtype = o.dtype or "float64" } or o, "empty")
  return r
end

-- *_like(x, opts): same shape, chunks and dtype as the array X unless OPTS
-- says otherwise.
local function like(x, value, opts, what)
  if not core.is_array(x) then error(what .. ": expected an array", 3) end
  opts = opts or {}
  local o = { chunks = opts.chunks or x.chunks, dtype = opts.dtype or x.dtype }
  return full_impl(x.shape, value, o, what)
end
--- zeros_like(x[, opts]): zeros of the shape, chunks and dtype of X.
-- @param x an Array
-- @param[opt] opts `{ chunks =, dtype = }`
-- @return an Array
function M.zeros_like(x, opts) local r = like(x, 0, opts, "zeros_like"); return r end
--- ones_like(x[, opts]): ones of the shape, chunks and dtype of X.
-- @param x an Array
-- @param[opt] opts `{ chunks =, dtype = }`
-- @return an Array
function M.ones_like(x, opts) local r = like(x, 1, opts, "ones_like"); return r end
--- empty_like(x[, opts]): as zeros_like.
-- @param x an Array
-- @param[opt] opts `{ chunks =, dtype = }`
-- @return an Array
function M.empty_like(x, opts) local r = like(x, 0, opts, "empty_like"); return r end
--- full_like(x, value[, opts]): VALUE in the shape, chunks and dtype of X.
-- @param x an Array
-- @param value the value
-- @param[opt] opts `{ chunks =, dtype = }`
-- @return an Array
function M.full_like(x, value, opts) local r = like(x, value, opts, "full_like"); return r end

--- arange([start,] stop [, step] [, opts]): like numpy.arange.
-- @param ... [start,] stop [, step] [, opts]
-- @return an Array
function M.arange(...)
  local args = { ... }
  local n = select("#", ...)
  local opts = {}
  if n > 0 and type(args[n]) == "table" then opts = args[n]; n = n - 1 end
  local start, stop, step
  if n == 1 then start, stop, step = 0, args[1], 1
  elseif n == 2 then start, stop, step = args[1], args[2], 1
  elseif n == 3 then start, stop, step = args[1], args[2], args[3]
  else error("arange: expected ([start,] stop [, step] [, opts])", 2) end
  for _, v in ipairs({ start, stop, step }) do
    if type(v) ~= "number" then error("arange: start, stop and step must be numbers", 2) end
  end
  if step == 0 then error("arange: step cannot be zero", 2) end
  local count = max(0, ceil((stop - start) / step))
  local dtype = opts.dtype
  if dtype == nil then
    dtype = (start == floor(start) and stop == floor(stop) and step == floor(step)) and "int64" or "float64"
  end
  return blockwise_new("arange", { count }, opts.chunks, dtype, function(_, bstart, bshape)
    return { K.ramp, bshape[1], start + bstart[1] * step, step, nd.dtype_name(dtype) }
  end, { start, stop, step })
end

--- linspace(start, stop, num, {endpoint = true, chunks, dtype}).
-- @param start first value
-- @param stop last value
-- @param num the number of values
-- @param[opt] opts `{ endpoint = true, chunks =, dtype = }`
-- @return an Array
function M.linspace(start, stop, num, opts)
  opts = opts_arg(opts, "linspace")
  num = num or 50
  if type(start) ~= "number" or type(stop) ~= "number" or type(num) ~= "number" or num < 0 then
    error("linspace: expected (start, stop, num) numbers with num >= 0", 2)
  end
  local endpoint = opts.endpoint ~= false
  local div = endpoint and (num - 1) or num
  local step = div > 0 and (stop - start) / div or 0
  return blockwise_new("linspace", { num }, opts.chunks, opts.dtype or "float64", function(_, bstart, bshape)
    return { K.ramp, bshape[1], start + bstart[1] * step, step, nd.dtype_name(opts.dtype or "float64") }
  end, { start, stop, num, endpoint })
end

--- eye(n, {m, k, chunks, dtype}): ones on the k-th diagonal.
-- @param n rows
-- @param[opt] opts `{ m =, k =, chunks =, dtype = }`
-- @return an Array
function M.eye(n, opts)
  opts = opts_arg(opts, "eye")
  local m, k = opts.m or n, opts.k or 0
  local dtype = nd.dtype_name(opts.dtype or "float64")
  return blockwise_new("eye", shape_arg({ n, m }, "eye"), opts.chunks, dtype, function(_, bstart, bshape)
    return { K.eye_block, bshape, bstart[1], bstart[2], k, dtype }
  end, { k })
end

-- Random arrays ------------------------------------------------------------------

local seed_counter = 0
local function fresh_seed()
  seed_counter = seed_counter + 1
  return (os.time() * 7919 + seed_counter * 104729 + floor(os.clock() * 1e6)) % 2 ^ 52
end

-- Array whose blocks come from generator GEN (see kernels.random); used by
-- random creation and by slicing of random arrays (which only remaps
-- positions, so a slice never computes the elements it drops).
function M.from_generator(gen, shape, chunks_spec, prefix)
  local extra = { gen = gen }
  return blockwise_new(prefix or ("random_" .. gen.kind), shape, chunks_spec, gen.cast or gen.dtype,
    function(_, bstart, bshape) return { K.random, gen, bstart, bshape } end,
    { gen.kind, gen.seed, gen.gshape, gen.start, gen.step, gen.fixed, gen.p1, gen.p2, gen.cast }, extra)
end

local function random_array(kind, shape, opts, p1, p2, default_dtype, what)
  shape = shape_arg(shape, what)
  opts = opts_arg(opts, what)
  local seed = opts.seed
  if seed == nil then seed = fresh_seed() end
  if type(seed) ~= "number" or seed < 0 or seed ~= floor(seed) then
    error(what .. ": seed must be a non-negative integer", 3)
  end
  local dtype = nd.dtype_name(opts.dtype or default_dtype, what)
  local gen_dtype, cast = dtype, nil
  if kind == "integers" then
    if dtype == "float64" or dtype == "float32" or dtype == "bool" then
      error(format("%s: dtype %s cannot hold random integers", what, dtype), 3)
    end
  elseif dtype ~= "float64" and dtype ~= "float32" then
    gen_dtype, cast = "float64", dtype
  end
  local start, step = {}, {}
  for d = 1, #shape do start[d], step[d] = 0, 1 end
  local gen = {
    kind = kind, dtype = gen_dtype, cast = cast, seed = seed, gshape = shape,
    start = start, step = step, fixed = {}, p1 = p1, p2 = p2,
  }
  return M.from_generator(gen, shape, opts.chunks)
end

M.random = {}

--- random.random(shape, {seed, chunks, dtype}): uniform in [0, 1).
-- @param shape a list of sizes
-- @param[opt] opts `{ seed =, chunks =, dtype = }`
-- @function random.random
-- @return an Array
function M.random.random(shape, opts)
  local r = random_array("uniform", shape, opts, 0, 1, "float64", "random.random")
  return r
end

--- random.uniform(low, high, shape, opts): uniform in [low, high).
-- @param low lower bound
-- @param high upper bound
-- @param shape a list of sizes
-- @param[opt] opts `{ seed =, chunks =, dtype = }`
-- @function random.uniform
-- @return an Array
function M.random.uniform(low, high, shape, opts)
  local r = random_array("uniform", shape, opts, low or 0, high or 1, "float64", "random.uniform")
  return r
end

--- random.normal(loc, scale, shape, {seed, chunks, dtype}), as dask's
-- `normal(loc, scale, size, chunks=)`; or random.normal(shape, {loc, scale,
-- seed, chunks, dtype}).
-- @param loc the mean (or the shape, in the second form)
-- @param scale the standard deviation (or the options)
-- @param shape a list of sizes
-- @param[opt] opts `{ seed =, chunks =, dtype = }`
-- @function random.normal
-- @return an Array
function M.random.normal(loc, scale, shape, opts)
  if type(loc) == "table" then -- normal(shape, opts)
    local o = scale or {}
    if type(o) ~= "table" then
      error("random.normal: expected (loc, scale, shape, opts) or (shape, opts); the second argument is a "
        .. type(o), 2)
    end
    return (random_array("normal", loc, o, o.loc or 0, o.scale or 1, "float64", "random.normal"))
  end
  if type(loc) ~= "number" or type(scale) ~= "number" then
    error("random.normal: expected (loc, scale, shape, opts) with numbers loc and scale, or (shape, opts); got "
      .. type(loc) .. ", " .. type(scale), 2)
  end
  return (random_array("normal", shape, opts, loc, scale, "float64", "random.normal"))
end

--- random.randint(low, high, shape, {seed, chunks, dtype = int64}): [low, high).
-- @param low lower bound
-- @param high upper bound (excluded)
-- @param shape a list of sizes
-- @param[opt] opts `{ seed =, chunks =, dtype = }`
-- @function random.randint
-- @return an Array
function M.random.randint(low, high, shape, opts)
  if type(low) ~= "number" or type(high) ~= "number" or high <= low then
    error(format("random.randint: need low < high, got %s and %s", tostring(low), tostring(high)), 2)
  end
  local r = random_array("integers", shape, opts, low, high, "int64", "random.randint")
  return r
end

-- From memory ------------------------------------------------------------------------

--- from_ndarray(a, {chunks}): blocks are views of A (no copy).
-- @param a an ndarray
-- @param[opt] opts `{ chunks = }`
-- @return an Array
function M.from_ndarray(a, opts)
  if not nd.is_ndarray(a) then error("from_ndarray: expected an ndarray, got " .. type(a), 2) end
  opts = opts_arg(opts, "from_ndarray")
  local shape = a.shape
  local chunks = core.normalize_chunks(opts.chunks or "auto", shape, a.itemsize, "from_ndarray", 2)
  local name = core.name("array", a, chunks)
  local starts = {}
  for d = 1, #chunks do starts[d] = core.starts(chunks[d]) end
  local layer = {}
  if #shape == 0 then layer[name] = a
  else
    core.each_block(core.numblocks(chunks), function(idx)
      local s = {}
      for d = 1, #idx do s[d] = { starts[d][idx[d] + 1], starts[d][idx[d] + 2], 1 } end
      layer[core.bkey(name, idx)] = a:slice(s)
    end)
  end
  return core.new(name, layer, chunks, a.dtype)
end

--- from_table(t, {chunks, dtype}): from nested Lua lists.
-- @param t nested Lua lists
-- @param[opt] opts `{ chunks =, dtype = }`
-- @return an Array
function M.from_table(t, opts)
  opts = opts_arg(opts, "from_table")
  local ok, a = pcall(nd.from_table, t, opts.dtype)
  if not ok then error(a, 2) end
  return M.from_ndarray(a, opts)
end

--- from_delayed(value, shape, {dtype}): one block computed by a delayed value
-- (it must return an ndarray of SHAPE).
-- @param value a Delayed
-- @param shape its shape
-- @param[opt] opts `{ dtype = }`
-- @return an Array
function M.from_delayed(value, shape, opts)
  local delayed = require "ldask.delayed"
  -- a future or another collection of one key: as dask, wrapped in delayed
  if not delayed.is_delayed(value) and require("ldask.base").is_collection(value) then value = delayed.delayed(value) end
  if not delayed.is_delayed(value) then error("from_delayed: expected a delayed value", 2) end
  shape = shape_arg(shape, "from_delayed")
  opts = opts_arg(opts, "from_delayed")
  local chunks = {}
  for d = 1, #shape do chunks[d] = { shape[d] } end
  local dkey = value:__ldask_keys()
  local name = core.name("from-delayed", dkey, shape)
  local zeros = {}
  for d = 1, #shape do zeros[d] = 0 end
  local k = #shape == 0 and name or core.bkey(name, zeros)
  local dtype = nd.dtype_name(opts.dtype or "float64", "from_delayed")
  local layer = { [k] = { K.check_block, dkey, shape, dtype, "from_delayed" } }
  return core.new(name, layer, chunks, dtype, { { layers = value:__ldask_layers() } })
end

return M
