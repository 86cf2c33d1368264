--- ldask.array.ndconvert: the conversions of the ndarray type between
-- arrays and Lua values: from_table (nested Lua lists to an ndarray),
-- totable and tolist (back to nested or flat Lua lists), and tostring's
-- NumPy-like rendering. Installed into the ndarray module by
-- lua/ldask/array/ndarray.lua (which passes its internals), so both form
-- one module: require "ldask.array.ndarray", not this file.
-- @submodule ldask.array.ndarray
local ffi = require "ffi"
local lib = require "ldask.native"

local ffi_cast = ffi.cast
local type, tonumber, error = type, tonumber, error
local floor, huge, concat, format = math.floor, math.huge, table.concat, string.format

-- M: the ndarray module; I: its internals (alloc, read_at, shape_of,
-- shape_str, is_int_value, CPTR: element pointer types by dtype code).
-- Sets M.from_table; returns { totable =, tolist =, tostring = }.
return function(M, I)
  local alloc, read_at, shape_of, shape_str, is_int_value, CPTR = I.alloc, I.read_at, I.shape_of,
    I.shape_str, I.is_int_value, I.CPTR
  local DTNAMES = M.dtype_names

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

  return { totable = totable, tolist = tolist, tostring = nd_tostring }
end
