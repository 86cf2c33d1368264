--- ldask.array.ndarray: the in-memory chunk type of ldask.array, an FFI
-- metatype over the C ld_ndarray (core/array/ndarray.h): dtype, shape,
-- strides in elements, offset and a refcounted buffer shared by views.
--
-- Indexing convention: element indices are 0-based like NumPy (negative
-- counts from the end): `a:get(0, 2)`, `a:set(0, 2, v)`, or `a[{0, 2}]` and
-- `a[{0, 2}] = v`. Lua tables produced by totable() are 1-based lists.
-- Views (slice, transpose, index, reshape of contiguous data) share the
-- buffer; kernels (elementwise, reductions, matmul, ...) allocate new arrays.
-- @module ldask.array.ndarray

-- This file holds the type itself: dtypes, allocation and creation,
-- element access, the metatype, and the token and codec hooks. The views
-- (ndview.lua), the conversions to and from Lua values (ndconvert.lua) and
-- the kernels (ndmath.lua) are installed into this module from their files.
local ffi = require "ffi"
local lib = require "ldask.native"
local E = require "ldask.ffi.array"

local C_gc, ffi_new, ffi_string, ffi_cast, ffi_typeof, ffi_istype =
  ffi.gc, ffi.new, ffi.string, ffi.cast, ffi.typeof, ffi.istype
local type, tonumber, tostring, error, select, pairs, ipairs, setmetatable =
  type, tonumber, tostring, error, select, pairs, ipairs, setmetatable
local floor, huge, concat, format = math.floor, math.huge, table.concat, string.format

local M = {}

local DT = E.dtypes
local ND = ffi_typeof("ld_ndarray")
local I64ARR = ffi_typeof("int64_t[8]")
M.ctype = ND

local DTNAMES = { [0] = "float64", "float32", "int64", "int32", "uint8", "bool" }
local ALIASES = {
  float64 = 0, f8 = 0, double = 0, ["<f8"] = 0, float = 0,
  float32 = 1, f4 = 1, ["<f4"] = 1, single = 1,
  int64 = 2, i8 = 2, ["<i8"] = 2, int = 2,
  int32 = 3, i4 = 3, ["<i4"] = 3,
  uint8 = 4, u1 = 4, ["|u1"] = 4,
  bool = 5, b1 = 5, ["|b1"] = 5, boolean = 5,
}
local CPTR = {
  [0] = ffi_typeof("double *"), ffi_typeof("float *"), ffi_typeof("int64_t *"),
  ffi_typeof("int32_t *"), ffi_typeof("uint8_t *"), ffi_typeof("uint8_t *"),
}
local SIZES = { [0] = 8, 4, 8, 4, 1, 1 }
M.dtype_names = DTNAMES
M.itemsize_of = SIZES

-- Returns the dtype code of NAME (a dtype name, alias, or code) or raises
-- naming WHAT at LEVEL.
local function dtype_code(name, what, level)
  if type(name) == "number" and DTNAMES[name] then return name end
  local c = ALIASES[name]
  if not c then
    error(format("%s: unknown dtype %s (expected float64, float32, int64, int32, uint8 or bool)",
      what or "ndarray", tostring(name)), (level or 1) + 1)
  end
  return c
end
M.dtype_code = dtype_code

-- Canonical dtype name of NAME (or raises).
function M.dtype_name(name, what) return DTNAMES[dtype_code(name, what, 2)] end

local function is_nd(x) return ffi_istype(ND, x) end

-- True when the Lua number V is an integer an int64 holds exactly (the
-- values that make int64 arrays and stay integers next to them): 1e300
-- or inf are floats.
local function is_int_value(v) return v == floor(v) and v >= -2 ^ 63 and v < 2 ^ 63 end
M.is_int_value = is_int_value
M.is_ndarray = is_nd

-- The Lua collector does not see the C memory behind ndarrays: after
-- GC_BYTES of new array memory on this thread, a full collection runs so
-- unreachable arrays give their buffers back (bounded memory in streaming
-- computations).
M.GC_BYTES = 64 * 2 ^ 20
local collectgarbage = collectgarbage

-- Runs a full collection when this state created or received at least
-- GC_BYTES of array memory since the last one (FORCE: when it received any).
-- Executors can call it after a task or a run so that chunks held only by
-- dead Lua objects do not outlive the computation.
function M.collect_if_due(force)
  if lib.ld_nd_gc_due(force and 1 or M.GC_BYTES) ~= 0 then
    collectgarbage()
    return true
  end
  return false
end

-- A fresh empty struct whose buffer reference is released by the GC.
local function empty()
  if lib.ld_nd_gc_due(M.GC_BYTES) ~= 0 then collectgarbage() end
  return C_gc(ND(), lib.ld_nd_clear)
end
M.empty_struct = empty

local function cerr(what, level)
  error((what and (what .. ": ") or "") .. ffi_string(lib.ld_array_errmsg()), (level or 1) + 1)
end

local function shape_str(shape)
  local n = #shape
  if n == 1 then return "(" .. shape[1] .. ",)" end
  local p = {}
  for i = 1, n do p[i] = tostring(shape[i]) end
  return "(" .. concat(p, ", ") .. ")"
end
M.shape_str = shape_str

local function shape_of(a)
  local s = {}
  for d = 0, a.ndim_ - 1 do s[d + 1] = tonumber(a.shape_[d]) end
  return s
end

local function to_i64arr(t, n)
  local arr = I64ARR()
  for i = 1, n do arr[i - 1] = t[i] end
  return arr
end

--- Allocates a new C-contiguous array of DTYPE and SHAPE (Lua list).
-- @param shape a Lua list of sizes
-- @param[opt] dtype "float64" (default), "float32", "int64", "int32", "uint8" or "bool"
-- @param[opt] zero true to fill with zeros
-- @return an ndarray
function M.alloc(shape, dtype, zero)
  local code = dtype_code(dtype or 0, "ndarray", 2)
  local nd = #shape
  if nd > 8 then error("ndarray: at most 8 dimensions, got " .. nd, 2) end
  for i = 1, nd do
    local s = shape[i]
    if type(s) ~= "number" or s < 0 or s ~= floor(s) then
      error(format("ndarray: bad dimension %s at axis %d of shape %s", tostring(s), i - 1,
        shape_str(shape)), 2)
    end
  end
  local a = empty()
  if lib.ld_nd_alloc(a, code, nd, to_i64arr(shape, nd), zero and 1 or 0) ~= 0 then cerr(nil, 2) end
  return a
end
local alloc = M.alloc

--- zeros(shape[, dtype]): a new array of zeros.
-- @param shape a Lua list of sizes
-- @param[opt] dtype "float64" (default), "float32", "int64", "int32", "uint8" or "bool"
-- @return an ndarray
function M.zeros(shape, dtype) return alloc(shape, dtype, true) end

--- full(shape, value[, dtype]): a new array of VALUE.
-- @param shape a Lua list of sizes
-- @param value the value
-- @param[opt] dtype "float64" (default), "float32", "int64", "int32", "uint8" or "bool"
-- @return an ndarray
function M.full(shape, value, dtype)
  if dtype == nil then
    dtype = type(value) == "boolean" and "bool" or is_int_value(value) and "int64" or "float64"
  end
  local a = alloc(shape, dtype)
  local v = value
  if type(v) == "boolean" then v = v and 1 or 0 end
  lib.ld_nd_fill(a, v, (v == v and v ~= huge and v ~= -huge) and v or 0)
  return a
end

--- ones(shape[, dtype]): a new array of ones.
-- @param shape a Lua list of sizes
-- @param[opt] dtype "float64" (default), "float32", "int64", "int32", "uint8" or "bool"
-- @return an ndarray
function M.ones(shape, dtype) return M.full(shape, 1, dtype or "float64") end

-- A view of A (shares the buffer).
local function view(a)
  local v = empty()
  lib.ld_nd_view(v, a)
  return v
end
M.view = view

---------------------------------------------------------------------------
-- Element access (0-based, negative from the end)

local function flat_offset(a, idx, n, what)
  local nd = a.ndim_
  if n ~= nd then
    error(format("%s: %d indices for a %d-d array of shape %s", what, n, nd,
      shape_str(shape_of(a))), 3)
  end
  local off = a.offset_
  for d = 0, nd - 1 do
    local i = idx[d + 1]
    local s = a.shape_[d]
    if type(i) ~= "number" or i ~= floor(i) then
      error(format("%s: index %s at axis %d is not an integer", what, tostring(i), d), 3)
    end
    if i < 0 then i = i + s end
    if i < 0 or i >= s then
      error(format("%s: index %d out of range for axis %d with size %d (shape %s)", what,
        idx[d + 1], d, tonumber(s), shape_str(shape_of(a))), 3)
    end
    off = off + i * a.strides_[d]
  end
  return off
end

local function read_at(a, off)
  local p = ffi_cast(CPTR[a.dtype_], a.buf_.data)
  local v = p[off]
  local dt = a.dtype_
  if dt == 5 then return v ~= 0 end
  return tonumber(v)
end

-- True when A repeats elements (a stride 0 on an axis longer than 1, as in
-- broadcast views and constant blocks): writing into it would change many
-- positions at once, so writes are refused like NumPy's read-only views.
local function is_broadcast(a)
  for d = 0, a.ndim_ - 1 do
    if a.strides_[d] == 0 and a.shape_[d] > 1 then return true end
  end
  return false
end
M.is_broadcast = is_broadcast

local function write_at(a, off, v)
  if is_broadcast(a) then
    error("ndarray.set: the array is a broadcast (read-only) view; write into a copy (a:copy())", 3)
  end
  local dt = a.dtype_
  if type(v) == "boolean" then v = v and 1 or 0 end
  if type(v) ~= "number" then error("ndarray.set: value must be a number or boolean, got " .. type(v), 3) end
  if dt == 5 then v = (v ~= 0) and 1 or 0 end
  ffi_cast(CPTR[dt], a.buf_.data)[off] = v
end

-- The one element of A (size 1) as a Lua value, as numpy's scalars behave
-- as Python numbers: a number (floats, int32, uint8, and int64 within
-- +-2^53, where doubles are exact), a Lua boolean for bool, and for an
-- int64 beyond +-2^53 the exact value as a LuaJIT int64_t cdata (prints as
-- 9007199254740993LL; arithmetic with it stays int64, tonumber() rounds).
local MAX_EXACT = 2 ^ 53
local function scalar_value(a)
  local p = ffi_cast(CPTR[a.dtype_], a.buf_.data)
  local v = p[a.offset_]
  local dt = a.dtype_
  if dt == 5 then return v ~= 0 end
  if dt == 2 and (v > MAX_EXACT or v < -MAX_EXACT) then return ffi_new("int64_t", v) end
  return tonumber(v)
end
M.scalar_value = scalar_value

local function get(a, ...)
  return read_at(a, flat_offset(a, { ... }, select("#", ...), "ndarray.get"))
end

local function set(a, ...)
  local n = select("#", ...)
  local args = { ... }
  local v = args[n]
  args[n] = nil
  write_at(a, flat_offset(a, args, n - 1, "ndarray.set"), v)
end

---------------------------------------------------------------------------
-- Conversion to and from Lua values (lua/ldask/array/ndconvert.lua) and
-- views (lua/ldask/array/ndview.lua)

local totable, tolist, nd_tostring
do
  local c = require("ldask.array.ndconvert")(M, {
    alloc = alloc, read_at = read_at, shape_of = shape_of, shape_str = shape_str,
    is_int_value = is_int_value, CPTR = CPTR,
  })
  totable, tolist, nd_tostring = c.totable, c.tolist, c.tostring
end
local transpose, slice, is_contig, copy, reshape, expand_dims, squeeze, broadcast_to
do
  local v = require("ldask.array.ndview")(M, {
    empty = empty, view = view, cerr = cerr, shape_of = shape_of, shape_str = shape_str,
  })
  transpose, slice, is_contig, copy, reshape, expand_dims, squeeze, broadcast_to = v.transpose,
    v.slice, v.is_contig, v.copy, v.reshape, v.expand_dims, v.squeeze, v.broadcast_to
end
local norm_axis = M.norm_axis

---------------------------------------------------------------------------
-- Kernels (lua/ldask/array/ndmath.lua)

require("ldask.array.ndmath")(M, {
  empty = empty, alloc = alloc, cerr = cerr, shape_of = shape_of, shape_str = shape_str,
  to_i64arr = to_i64arr, view = view, squeeze = squeeze, reshape = reshape, is_nd = is_nd,
  dtype_code = dtype_code, norm_axis = norm_axis,
})
local binary, unary, reduce, argreduce, matmul, astype = M.binary, M.unary, M.reduce, M.argreduce,
  M.matmul, M.astype
local UNOP, BINOP = E.unop, E.binop
local reduction_args = M.reduction_args

---------------------------------------------------------------------------
-- Metatype

--- The methods and fields of an ndarray `a` (0-based indices, as numpy):
-- `a:get(i, j, ...)`, `a:set(i, j, ..., v)`, `a[{ i, j }]` (read and write),
-- `a:item()`, `a:totable()` (nested Lua lists), `a:tolist()` (flat),
-- `a:slice{ spec, ... }`, `a:transpose([axes])`, `a:reshape(shape)`,
-- `a:copy()`, `a:astype(dtype)`, `a:expand_dims(axis)`, `a:squeeze([axes])`,
-- `a:broadcast_to(shape)`, `a:is_contiguous()`, `a:data()` (a typed pointer);
-- reductions `a:sum(axis, keepdims)` and prod, mean, min, max, any, all,
-- var, std (with ddof), argmin, argmax, nanargmin, nanargmax, cumsum,
-- cumprod; `a:dot(b)`; the
-- elementwise methods of ldask.array's Array: unary `a:NAME()` for abs,
-- arccos, arcsin, arctan, ceil, cos, cosh, exp, expm1, floor, isfinite,
-- isinf, isnan, log, log10, log1p, log2, logical_not, negative, rint, sign,
-- sin, sinh, sqrt, square, tan, tanh, trunc; binary `a:NAME(b)` for add,
-- sub, mul, div, floordiv, mod, pow, maximum, minimum, eq, ne, lt, le, gt,
-- ge, and_, or_, xor (logical), bitwise_and, bitwise_or, bitwise_xor, fmod;
-- the operators `+ - * / % ^`,
-- unary `-`, `#a` (the length of axis 0). Fields: `a.shape`, `a.strides`
-- (Lua lists, strides in elements), `a.ndim`, `a.dtype`, `a.size`,
-- `a.itemsize`, `a.nbytes`, `a.T`. `tostring(a)` prints like numpy.
-- @table ndarray
local methods = {
  get = get, set = set, totable = totable, tolist = tolist, transpose = transpose,
  slice = slice, reshape = reshape, copy = copy, astype = astype, expand_dims = expand_dims,
  squeeze = squeeze, broadcast_to = broadcast_to,
  is_contiguous = is_contig,
  dot = matmul,
  cumsum = function(a, axis) return M.cumulate(a, "cumsum", axis) end,
  cumprod = function(a, axis) return M.cumulate(a, "cumprod", axis) end,
  item = function(a)
    if lib.ld_nd_size(a) ~= 1 then
      error("item: array of shape " .. shape_str(shape_of(a)) .. " has more than one element", 2)
    end
    return scalar_value(a)
  end,
  -- Pointer to the first element (cdata, typed by dtype).
  data = function(a) return ffi_cast(CPTR[a.dtype_], a.buf_.data) + a.offset_ end,
}

local props = {
  shape = shape_of,
  ndim = function(a) return a.ndim_ end,
  dtype = function(a) return DTNAMES[a.dtype_] end,
  size = function(a) return tonumber(lib.ld_nd_size(a)) end,
  itemsize = function(a) return SIZES[a.dtype_] end,
  nbytes = function(a) return tonumber(lib.ld_nd_size(a)) * SIZES[a.dtype_] end,
  strides = function(a)
    local s = {}
    for d = 0, a.ndim_ - 1 do s[d + 1] = tonumber(a.strides_[d]) end
    return s
  end,
  T = function(a) return transpose(a) end,
}

-- a:sum(axis, keepdims) or a:sum{axis = 0, keepdims = true}; var/std take
-- ddof as a fourth argument or in the table.
for _, op in ipairs({ "sum", "prod", "mean", "min", "max", "any", "all", "var", "std" }) do
  methods[op] = function(a, axis, keepdims, ddof)
    local opts
    axis, keepdims, opts = reduction_args(axis, keepdims)
    return reduce(a, op, axis, keepdims, opts.ddof or ddof)
  end
end
for _, op in ipairs({ "argmin", "argmax", "nanargmin", "nanargmax" }) do
  methods[op] = function(a, axis, keepdims)
    axis, keepdims = reduction_args(axis, keepdims)
    return (argreduce(a, op, axis, keepdims))
  end
end

for name in pairs(UNOP) do
  if not methods[name] then methods[name] = function(a) return unary(name, a) end end
end

local function bin(op) return function(x, y) return binary(op, x, y) end end
for op in pairs(BINOP) do
  local name = (op == "and" or op == "or") and (op .. "_") or op
  if not methods[name] then methods[name] = bin(op) end
end

local mt = {
  __index = function(a, k)
    local m = methods[k]
    if m then return m end
    local p = props[k]
    if p then return p(a) end
    if type(k) == "table" then
      return read_at(a, flat_offset(a, k, #k, "ndarray index"))
    end
    return nil
  end,
  __newindex = function(a, k, v)
    if type(k) == "table" then
      write_at(a, flat_offset(a, k, #k, "ndarray index"), v)
      return
    end
    error("ndarray: cannot set field " .. tostring(k), 2)
  end,
  __tostring = nd_tostring,
  __len = function(a)
    if a.ndim_ == 0 then error("len() of a 0-d ndarray", 2) end
    return tonumber(a.shape_[0])
  end,
  __add = bin("add"), __sub = bin("sub"), __mul = bin("mul"), __div = bin("div"),
  __mod = bin("mod"), __pow = bin("pow"),
  __unm = function(a) return unary("negative", a) end,
}
ffi.metatype(ND, mt)
M.methods = methods

-- tonumber(a) on a 0-d ndarray gives its value as a number, like float()
-- of a numpy scalar in Python (bool: 1 or 0; an int64 beyond 2^53 rounds
-- to the nearest double). LuaJIT's tonumber has no metamethod, so the
-- global is wrapped once, in every state that loads this module; the
-- wrapper gives everything else to the original, so other ndarrays still
-- give nil, as any value tonumber cannot convert.
do
  local raw_tonumber = tonumber
  local info = debug.getinfo(raw_tonumber, "S")
  if info and info.what == "C" then
    _G.tonumber = function(v, base)
      if base ~= nil then return raw_tonumber(v, base) end
      local r = raw_tonumber(v)
      -- (a ctype object converts to its id; ndarray instances to nil)
      if r ~= nil or not is_nd(v) or v.ndim_ ~= 0 then return r end
      local x = scalar_value(v)
      if type(x) == "boolean" then return x and 1 or 0 end
      return raw_tonumber(x)
    end
  end
end

-- Content token for ldask.tokenize (dtype, shape and a hash of the data).
local tok_ok, tokenize = pcall(require, "ldask.tokenize")
if tok_ok and tokenize.register then
  require "ldask.ffi.util"
  tokenize.register(ND, function(a)
    local c = is_contig(a) and a or copy(a)
    local h = ffi_new("char[33]")
    lib.ld_hash128_hex(ffi_cast("char *", c.buf_.data) + c.offset_ * SIZES[c.dtype_],
      tonumber(lib.ld_nd_size(c)) * SIZES[c.dtype_], h)
    return DTNAMES[a.dtype_] .. shape_str(shape_of(a)) .. ffi_string(h, 32)
  end)
end

-- Chunks travel between executor states (and over the network) as their
-- buffer plus a small header: no copy of the data.
local codec_ok, codec = pcall(require, "ldask.codec")
if codec_ok and codec.register_cdata then
  codec.register_cdata(ND, {
    name = "ldask.ndarray",
    module = "ldask.array.ndarray",
    -- header: a flat list {dtype, ndim, offset, shape..., strides...}
    encode = function(a)
      local n = a.ndim_
      local h = { a.dtype_, n, tonumber(a.offset_) }
      for d = 0, n - 1 do
        h[4 + d] = tonumber(a.shape_[d])
        h[4 + n + d] = tonumber(a.strides_[d])
      end
      return h, { a.buf_ }
    end,
    decode = function(h, bufs)
      local a = empty()
      local n = h[2]
      a.dtype_ = h[1]
      a.ndim_ = n
      a.offset_ = h[3]
      for d = 0, n - 1 do
        a.shape_[d] = h[4 + d]
        a.strides_[d] = h[4 + n + d]
      end
      a.buf_ = lib.ld_buffer_retain(bufs[1])
      -- a retained buffer counts as memory this state must collect for
      lib.ld_nd_note_alloc(bufs[1].size)
      if lib.ld_nd_check(a, "ndarray decode") ~= 0 then cerr(nil, 2) end
      return a
    end,
  })
end

return M
