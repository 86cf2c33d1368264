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
local ffi = require "ffi"
local lib = require "ldask.native"
local E = require "ldask.ffi.array"

local C_gc, ffi_new, ffi_string, ffi_cast, ffi_typeof, ffi_istype =
  ffi.gc, ffi.new, ffi.string, ffi.cast, ffi.typeof, ffi.istype
local type, tonumber, tostring, error, select, pairs, ipairs, setmetatable =
  type, tonumber, tostring, error, select, pairs, ipairs, setmetatable
local floor, huge, concat, format, min, max = math.floor, math.huge, table.concat, string.format,
  math.min, math.max

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
-- Conversion from and to Lua tables

local function infer(t, shape, depth, info)
  if type(t) == "table" then
    local n = #t
    if shape[depth] == nil then shape[depth] = n
    elseif shape[depth] ~= n then
      error(format("from_table: ragged nested table (length %d vs %d at depth %d)", n,
        shape[depth], depth - 1), 4)
    end
    if depth > 8 then error("from_table: more than 8 nesting levels", 4) end
    for i = 1, n do infer(t[i], shape, depth + 1, info) end
    if n == 0 and info.leaf_depth == nil then info.empty_depth = depth end
  else
    if info.leaf_depth == nil then info.leaf_depth = depth
    elseif info.leaf_depth ~= depth then error("from_table: ragged nested table (mixed depths)", 4) end
    local tt = type(t)
    if tt == "boolean" then info.bool = true
    elseif tt == "number" then
      info.num = true
      if not is_int_value(t) then info.float = true end
    else
      error("from_table: element of type " .. tt .. " (expected numbers or booleans)", 4)
    end
  end
end

--- ndarray from a (nested) Lua list; DTYPE inferred when nil: all booleans
-- → bool, all integers → int64, otherwise float64. A number gives a 0-d array.
-- @param t a number or nested Lua lists
-- @param[opt] dtype "float64" (default), "float32", "int64", "int32", "uint8" or "bool"
-- @return an ndarray
-- @usage local nd = require "ldask.array.ndarray"
-- local a = nd.from_table({ { 1, 2, 3 }, { 4, 5, 6 } })   -- int64 (2, 3)
-- print(a:sum(0), a[{ 1, 2 }])
function M.from_table(t, dtype)
  local shape, info = {}, {}
  infer(t, shape, 1, info)
  if info.bool and info.num then error("from_table: mixed booleans and numbers", 2) end
  local nd = #shape
  if info.leaf_depth and info.leaf_depth - 1 ~= nd then error("from_table: ragged nested table", 2) end
  if dtype == nil then dtype = info.bool and "bool" or info.float and "float64" or
    (info.num and "int64") or "float64" end
  local a = alloc(shape, dtype)
  local dt = a.dtype_
  local p = ffi_cast(CPTR[dt], a.buf_.data)
  local k = 0
  local function fill(x, depth)
    if depth > nd then
      if type(x) == "boolean" then x = x and 1 or 0 end
      if dt == 5 then x = x ~= 0 and 1 or 0 end
      p[k] = x
      k = k + 1
    else
      for i = 1, #x do fill(x[i], depth + 1) end
    end
  end
  fill(t, 1)
  return a
end

-- Nested Lua lists (1-based) of A's elements; a 0-d array gives a number.
local function totable(a)
  local nd = a.ndim_
  if nd == 0 then return read_at(a, a.offset_) end
  local function rec(d, off)
    local out = {}
    local n, st = tonumber(a.shape_[d]), a.strides_[d]
    for i = 0, n - 1 do
      if d == nd - 1 then out[i + 1] = read_at(a, off + i * st)
      else out[i + 1] = rec(d + 1, off + i * st) end
    end
    return out
  end
  return rec(0, a.offset_)
end

-- Elements of A in C order as a flat Lua list.
local function tolist(a)
  local out, k = {}, 0
  local nd = a.ndim_
  local function rec(d, off)
    if d == nd then k = k + 1; out[k] = read_at(a, off); return end
    local st = a.strides_[d]
    for i = 0, tonumber(a.shape_[d]) - 1 do rec(d + 1, off + i * st) end
  end
  rec(0, a.offset_)
  return out
end

---------------------------------------------------------------------------
-- tostring: a NumPy-like summary

local function fmt_elem(v, dt)
  if dt == 5 then return v and "True" or "False" end
  if dt <= 1 then
    if v ~= v then return "nan" end
    if v == huge then return "inf" end
    if v == -huge then return "-inf" end
    if v == floor(v) and math.abs(v) < 1e16 then return format("%.1f", v):gsub("%.0$", ".") end
    return format("%.8g", v)
  end
  return format("%d", v)
end

local function render(a)
  local nd = a.ndim_
  local dt = a.dtype_
  local total = tonumber(lib.ld_nd_size(a))
  local summarize = total > 1000
  local function rec(d, off, indent)
    if d == nd then return fmt_elem(read_at(a, off), dt) end
    local n, st = tonumber(a.shape_[d]), a.strides_[d]
    local parts = {}
    local function add(i) parts[#parts + 1] = rec(d + 1, off + i * st, indent .. " ") end
    if summarize and n > 6 then
      for i = 0, 2 do add(i) end
      parts[#parts + 1] = "..."
      for i = n - 3, n - 1 do add(i) end
    else
      for i = 0, n - 1 do add(i) end
    end
    local sep = d == nd - 1 and ", " or (",\n" .. string.rep("\n", nd - d - 2) .. indent .. " ")
    return "[" .. concat(parts, sep) .. "]"
  end
  return rec(0, a.offset_, "")
end

local function nd_tostring(a)
  if a.buf_ == nil then return "ndarray(<released>)" end
  return format("ndarray(%s, shape=%s, dtype=%s)", render(a), shape_str(shape_of(a)), DTNAMES[a.dtype_])
end

---------------------------------------------------------------------------
-- Views

local function norm_axis(ax, nd, what, level)
  if type(ax) ~= "number" or ax ~= floor(ax) then
    error(format("%s: axis %s is not an integer", what, tostring(ax)), level + 1)
  end
  local a = ax < 0 and ax + nd or ax
  if a < 0 or a >= nd then
    error(format("%s: axis %d out of range for a %d-d array", what, ax, nd), level + 1)
  end
  return a
end
M.norm_axis = norm_axis

-- Transposed view; AXES a permutation (0-based), default reversed.
local function transpose(a, axes)
  local nd = a.ndim_
  local v = view(a)
  if axes == nil then
    axes = {}
    for d = 1, nd do axes[d] = nd - d end
  end
  if #axes ~= nd then
    error(format("transpose: %d axes given for a %d-d array", #axes, nd), 2)
  end
  local seen = {}
  for d = 1, nd do
    local ax = norm_axis(axes[d], nd, "transpose", 2)
    if seen[ax] then error("transpose: repeated axis " .. ax, 2) end
    seen[ax] = true
    v.shape_[d - 1] = a.shape_[ax]
    v.strides_[d - 1] = a.strides_[ax]
  end
  return v
end

-- Normalizes slice (start, stop, step) for a dimension of size N like
-- Python; returns start, count, step.
local function norm_slice(start, stop, step, n, what, axis, level)
  step = step or 1
  if step == 0 then error(format("%s: slice step cannot be zero (axis %d)", what, axis), level + 1) end
  local lo, hi
  if step > 0 then
    if start == nil then lo = 0 else lo = start < 0 and max(start + n, 0) or min(start, n) end
    if stop == nil then hi = n else hi = stop < 0 and max(stop + n, 0) or min(stop, n) end
    local cnt = hi > lo and floor((hi - lo + step - 1) / step) or 0
    return lo, cnt, step
  else
    if start == nil then lo = n - 1 else lo = start < 0 and max(start + n, -1) or min(start, n - 1) end
    if stop == nil then hi = -1 else hi = stop < 0 and max(stop + n, -1) or min(stop, n - 1) end
    local cnt = lo > hi and floor((lo - hi - step - 1) / -step) or 0
    return lo, cnt, step
  end
end
M.norm_slice = norm_slice

-- Parses one index spec of the slicing form (see docs/array.md):
--   integer i          → pick (dimension dropped)
--   {start, stop, step} (nil entries allowed, use false or nil) → slice
--   ":" or true         → the whole axis
-- Returns kind ("int" | "slice"), values.
local function parse_index(spec, what, axis, level)
  local t = type(spec)
  if t == "number" then
    if spec ~= floor(spec) then error(format("%s: index %s at axis %d is not an integer", what, spec, axis), level + 1) end
    return "int", spec
  end
  if spec == ":" or spec == true then return "slice", nil, nil, 1 end
  if t == "table" then
    local s, e, st = spec[1], spec[2], spec[3]
    if s == false then s = nil end
    if e == false then e = nil end
    if st == false then st = nil end
    for _, x in ipairs({ s or 0, e or 0, st or 1 }) do
      if type(x) ~= "number" or x ~= floor(x) then
        error(format("%s: slice bound %s at axis %d is not an integer", what, tostring(x), axis), level + 1)
      end
    end
    return "slice", s, e, st
  end
  error(format("%s: bad index %s at axis %d (use an integer, {start, stop, step} or \":\")",
    what, tostring(spec), axis), level + 1)
end
M.parse_index = parse_index

-- View selecting SPECS (a list of index specs, one per leading axis; the
-- rest are whole). Integers drop their axis.
local function slice(a, specs)
  local nd = a.ndim_
  if type(specs) ~= "table" then error("slice: expected a list of index specs", 2) end
  if #specs > nd then
    error(format("slice: %d indices for a %d-d array of shape %s", #specs, nd, shape_str(shape_of(a))), 2)
  end
  local v = view(a)
  local off = a.offset_
  local od = 0
  for d = 0, nd - 1 do
    local n = tonumber(a.shape_[d])
    local kind, s, e, st = "slice", nil, nil, 1
    if specs[d + 1] ~= nil then kind, s, e, st = parse_index(specs[d + 1], "slice", d, 2) end
    if kind == "int" then
      local i = s < 0 and s + n or s
      if i < 0 or i >= n then
        error(format("slice: index %d out of range for axis %d with size %d (shape %s)", s, d, n,
          shape_str(shape_of(a))), 2)
      end
      off = off + i * a.strides_[d]
    else
      local lo, cnt, step = norm_slice(s, e, st, n, "slice", d, 2)
      if cnt > 0 then off = off + lo * a.strides_[d] end
      v.shape_[od] = cnt
      v.strides_[od] = a.strides_[d] * step
      od = od + 1
    end
  end
  v.ndim_ = od
  v.offset_ = off
  return v
end

local function is_contig(a) return lib.ld_nd_is_contiguous(a) == 1 end

-- C-contiguous copy (or A itself when already contiguous and FORCE unset).
local function copy(a, force)
  local out = empty()
  if lib.ld_nd_astype(a, a.dtype_, out) ~= 0 then cerr("copy", 2) end
  return out
end

-- Reshape: a view when A is contiguous, else a copy. One dimension may be -1.
local function reshape(a, shape)
  local size = tonumber(lib.ld_nd_size(a))
  local known, neg = 1, nil
  local s = {}
  for i = 1, #shape do
    local x = shape[i]
    if x == -1 then
      if neg then error("reshape: only one dimension can be -1", 2) end
      neg = i
    elseif type(x) ~= "number" or x < 0 or x ~= floor(x) then
      error(format("reshape: bad dimension %s in %s", tostring(x), tostring(shape)), 2)
    else known = known * x end
    s[i] = x
  end
  if neg then
    if known == 0 or size % known ~= 0 then
      error(format("reshape: cannot reshape array of size %d into shape %s", size, shape_str(s)), 2)
    end
    s[neg] = size / known
  elseif known ~= size then
    error(format("reshape: cannot reshape array of size %d (shape %s) into shape %s", size,
      shape_str(shape_of(a)), shape_str(s)), 2)
  end
  if #s > 8 then error("reshape: at most 8 dimensions", 2) end
  local src = is_contig(a) and a or copy(a)
  local v = view(src)
  v.ndim_ = #s
  local st = 1
  for d = #s, 1, -1 do
    v.shape_[d - 1] = s[d]
    v.strides_[d - 1] = st
    st = st * s[d]
  end
  return v
end

-- View with size-1 axes inserted at AXIS (0-based in the result).
local function expand_dims(a, axis)
  local nd = a.ndim_
  local ax = norm_axis(axis, nd + 1, "expand_dims", 2)
  local v = view(a)
  v.ndim_ = nd + 1
  for d = nd, ax + 1, -1 do
    v.shape_[d] = a.shape_[d - 1]
    v.strides_[d] = a.strides_[d - 1]
  end
  v.shape_[ax] = 1
  v.strides_[ax] = 0
  return v
end

-- View with the size-1 axes in AXES (list, or all when nil) removed.
local function squeeze(a, axes)
  local nd = a.ndim_
  local drop = {}
  if axes == nil then
    for d = 0, nd - 1 do if a.shape_[d] == 1 then drop[d] = true end end
  else
    if type(axes) == "number" then axes = { axes } end
    for _, ax in ipairs(axes) do
      local d = norm_axis(ax, nd, "squeeze", 2)
      if a.shape_[d] ~= 1 then
        error(format("squeeze: axis %d has size %d, not 1 (shape %s)", ax, tonumber(a.shape_[d]),
          shape_str(shape_of(a))), 2)
      end
      drop[d] = true
    end
  end
  local v = view(a)
  local od = 0
  for d = 0, nd - 1 do
    if not drop[d] then
      v.shape_[od] = a.shape_[d]
      v.strides_[od] = a.strides_[d]
      od = od + 1
    end
  end
  v.ndim_ = od
  return v
end

-- Broadcast view of A to SHAPE (stride 0 on broadcast axes).
local function broadcast_to(a, shape)
  local nd, n = a.ndim_, #shape
  if n < nd then
    error(format("broadcast_to: cannot broadcast shape %s to %s", shape_str(shape_of(a)), shape_str(shape)), 2)
  end
  local v = view(a)
  v.ndim_ = n
  for d = n - 1, 0, -1 do
    local ad = d - (n - nd)
    if ad >= 0 then
      local s = a.shape_[ad]
      if s == shape[d + 1] then
        v.shape_[d], v.strides_[d] = s, a.strides_[ad]
      elseif s == 1 then
        v.shape_[d], v.strides_[d] = shape[d + 1], 0
      else
        error(format("broadcast_to: cannot broadcast shape %s to %s", shape_str(shape_of(a)), shape_str(shape)), 2)
      end
    else
      v.shape_[d], v.strides_[d] = shape[d + 1], 0
    end
  end
  return v
end

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
