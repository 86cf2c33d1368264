--- ldask.dataframe.column: one typed column of a partition (docs/dataframe.md).
-- A column is a table with metatable Column:
--   kind    "float64", "int64", "bool", "datetime64[ns]" or "string"
--   n       its length
--   data    numeric kinds: a 1-d ndarray (bool as bool, datetimes as int64 ns
--           with NaT = INT64_MIN); plain strings: the bytes (uint8 ndarray)
--   offsets plain strings: int64 ndarray of n + 1 offsets into data
--   codes   dictionary strings: int32 ndarray of n codes (-1 missing) into
--   cats    the categories, a plain string column
--   valid   nil (all present) or a bool ndarray of n (int64, bool, plain strings)
-- Every part is an ndarray, so a column travels between executor states and
-- processes as its buffers (the ndarray codec), never re-encoded.
local ffi = require "ffi"
local lib = require "ldask.native"
local nd = require "ldask.array.ndarray"
local FT = require "ldask.ffi.frame"

local type, error, tostring, tonumber, setmetatable, getmetatable, ipairs =
  type, error, tostring, tonumber, setmetatable, getmetatable, ipairs
local ffi_cast, ffi_string, ffi_copy, ffi_new = ffi.cast, ffi.string, ffi.copy, ffi.new
local format, floor, huge = string.format, math.floor, math.huge

local M = {}

local Column = { __name = "ldask.dataframe.Column" }
Column.__index = Column
M.Column = Column

local I64P, F64P, U8P, I32P, CHARP = ffi.typeof("int64_t *"), ffi.typeof("double *"),
  ffi.typeof("uint8_t *"), ffi.typeof("int32_t *"), ffi.typeof("const char *")
local NAT = ffi.cast("int64_t", -2 ^ 63)
M.NAT = NAT

local KINDS = { float64 = true, int64 = true, bool = true, ["datetime64[ns]"] = true, string = true }
M.KINDS = KINDS
local CTYPE = { float64 = FT.types.float64, int64 = FT.types.int64, bool = FT.types.bool,
  ["datetime64[ns]"] = FT.types.datetime, string = FT.types.string }
M.CTYPE = CTYPE
local NDTYPE = { float64 = "float64", int64 = "int64", bool = "bool", ["datetime64[ns]"] = "int64" }

function M.is_column(x) return getmetatable(x) == Column end

local function new(t) return setmetatable(t, Column) end
M.new = new

-- Typed pointer to the first element of ndarray A.
local function ptr(a, ct) return ffi_cast(ct, a.buf_.data) + a.offset_ end
M.ptr = ptr
local function u8(a) return a and ptr(a, U8P) or nil end
M.u8 = u8

-- keep(a, ...): keeps ndarrays alive up to the call (ldask.array.keep).
local keep = require "ldask.array.keep"
M.keep = keep

-- A 1-d ndarray of DTYPE and N elements owning ld_buffer BUF (the reference
-- passes to the ndarray).
function M.nd_from_buffer(buf, dtype, n)
  local a = nd.empty_struct()
  a.dtype_ = nd.dtype_code(dtype)
  a.ndim_ = 1
  a.shape_[0] = n
  a.strides_[0] = 1
  a.offset_ = 0
  a.buf_ = buf
  lib.ld_nd_note_alloc(buf.size)
  return a
end

local function alloc(n, dtype) return nd.alloc({ n }, dtype) end
M.alloc = alloc

-- Contiguous (copying a strided view), so kernels can take pointers.
local function contig(a)
  if a == nil then return nil end
  if a:is_contiguous() then return a end
  return a:copy()
end

--- A numeric column of KIND over ndarray DATA (1-d), VALID optional.
function M.numeric(kind, data, valid)
  return new({ kind = kind, n = data.shape[1], data = contig(data), valid = valid and contig(valid) })
end

--- A plain string column.
function M.strings(offsets, bytes, valid, n)
  return new({ kind = "string", n = n, offsets = offsets, data = bytes, valid = valid })
end

--- A dictionary string column.
function M.dict(codes, cats, n)
  return new({ kind = "string", n = n, codes = codes, cats = cats })
end

-- Plain string column of CODES decoded through CATS.
local function decode_dict(c)
  local n = c.n
  local cats = c.cats
  local total = tonumber(lib.ld_fr_dict_size(ptr(c.codes, I32P), ptr(cats.offsets, I64P), n))
  local off, bytes, valid = alloc(n + 1, "int64"), alloc(total, "uint8"), alloc(n, "bool")
  lib.ld_fr_dict_decode(ptr(c.codes, I32P), ptr(cats.offsets, I64P), ffi_cast(CHARP, ptr(cats.data, U8P)), n,
    ptr(off, I64P), ffi_cast("char *", ptr(bytes, U8P)), ptr(valid, U8P))
  return M.strings(off, bytes, valid, n)
end

--- The column in plain form (strings decoded from a dictionary; others as they are).
function M.plain(c)
  if c.codes then return decode_dict(c) end
  return c
end

--- Gathers rows ROWS[LO], ..., ROWS[LO + K - 1] (ROWS an int64 ndarray of
-- row numbers, LO 0 when nil) into a new column. ROWS is the ndarray, never a
-- pointer into it: a pointer does not keep its buffer alive (docs/architecture.md,
-- "Raw pointers and their owners"), so each C call takes it afresh.
function M.take(c, rows, k, lo)
  lo = lo or 0
  local out
  if c.kind == "string" then
    if c.codes then
      local codes = alloc(k, "int32")
      lib.ld_fr_take(ptr(c.codes, I32P), 4, ptr(rows, I64P) + lo, k, ptr(codes, I32P))
      out = M.dict(codes, c.cats, k)
    else
      local off = ptr(c.offsets, I64P)
      local total = tonumber(lib.ld_fr_str_take_size(off, ptr(rows, I64P) + lo, k))
      local noff, bytes = alloc(k + 1, "int64"), alloc(total, "uint8")
      lib.ld_fr_str_take(ptr(c.offsets, I64P), ffi_cast(CHARP, ptr(c.data, U8P)), ptr(rows, I64P) + lo, k,
        ptr(noff, I64P), ffi_cast("char *", ptr(bytes, U8P)))
      local valid
      if c.valid then
        valid = alloc(k, "bool")
        lib.ld_fr_take(u8(c.valid), 1, ptr(rows, I64P) + lo, k, u8(valid))
      end
      out = M.strings(noff, bytes, valid, k)
    end
  else
    local data = alloc(k, c.data.dtype)
    lib.ld_fr_take(ptr(c.data, U8P), c.data.itemsize, ptr(rows, I64P) + lo, k, ptr(data, U8P))
    local valid
    if c.valid then
      valid = alloc(k, "bool")
      lib.ld_fr_take(u8(c.valid), 1, ptr(rows, I64P) + lo, k, u8(valid))
    end
    out = new({ kind = c.kind, n = k, data = data, valid = valid })
  end
  keep(rows, c)
  return out
end

--- Gathers rows ROWS[LO], ..., ROWS[LO + K - 1] as M.take does, where a row
-- number -1 means a missing value (NaN, NaT, code -1 or a validity mask).
function M.take_opt(c, rows, k, lo)
  lo = lo or 0
  local safe = alloc(k, "int64")
  local sp, ip = ptr(safe, I64P), ptr(rows, I64P) + lo
  local any = false
  for i = 0, k - 1 do
    local r = ip[i]
    if r < 0 then any = true; sp[i] = 0 else sp[i] = r end
  end
  if c.n == 0 then -- (nothing to take from: all missing)
    return M.from_values({}, k, c.kind, "take")
  end
  local out = M.take(c, safe, k)
  if not any then return out end
  if not out.codes and c.kind ~= "float64" and c.kind ~= "datetime64[ns]" and not out.valid then
    out.valid = nd.full({ k }, true, "bool")
  end
  ip = ptr(rows, I64P) + lo -- (no allocation from here on)
  if out.codes then
    local cp = ptr(out.codes, I32P)
    for i = 0, k - 1 do if ip[i] < 0 then cp[i] = -1 end end
  elseif c.kind == "float64" then
    local fp = ptr(out.data, F64P)
    for i = 0, k - 1 do if ip[i] < 0 then fp[i] = 0 / 0 end end
  elseif c.kind == "datetime64[ns]" then
    local dp = ptr(out.data, I64P)
    for i = 0, k - 1 do if ip[i] < 0 then dp[i] = NAT end end
  else
    local vp = ptr(out.valid, U8P)
    for i = 0, k - 1 do if ip[i] < 0 then vp[i] = 0 end end
  end
  keep(rows, out)
  return out
end

--- Row numbers (an int64 ndarray and its count) where the bool column
-- MASK is true (missing counts as false).
function M.mask_rows(mask)
  local n = mask.n
  local idx = alloc(n, "int64")
  local k = tonumber(lib.ld_fr_mask_idx(u8(mask.data), u8(mask.valid), n, ptr(idx, I64P)))
  return idx, k
end

--- The first K rows (a view-free copy).
function M.head(c, k)
  if k >= c.n then return c end
  local idx = nd.ramp and nd.arange and nd.arange(k, "int64") or nil
  if not idx then
    idx = alloc(k, "int64")
    local p = ptr(idx, I64P)
    for i = 0, k - 1 do p[i] = i end
  end
  return M.take(c, idx, k)
end

-- Lua value of row I (0-based); nil when missing. Datetimes: int64 ns
-- cdata (use M.format to print).
function M.value(c, i)
  local kind = c.kind
  if c.valid and ptr(c.valid, U8P)[i] == 0 then return nil end
  if kind == "string" then
    if c.codes then
      local k = ptr(c.codes, I32P)[i]
      if k < 0 then return nil end
      return M.value(c.cats, k)
    end
    local off = ptr(c.offsets, I64P)
    local s, e = off[i], off[i + 1]
    return ffi_string(ffi_cast(CHARP, ptr(c.data, U8P)) + s, tonumber(e - s))
  elseif kind == "float64" then
    local v = ptr(c.data, F64P)[i]
    if v ~= v then return nil end
    return v
  elseif kind == "bool" then
    return ptr(c.data, U8P)[i] ~= 0
  elseif kind == "int64" then
    return tonumber(ptr(c.data, I64P)[i])
  else
    local v = ptr(c.data, I64P)[i]
    if v == NAT then return nil end
    return v
  end
end

local fmtbuf = ffi_new("char[48]")
--- Text of datetime ns V (int64 cdata or number).
function M.format_datetime(v, date_only)
  local len = lib.ld_fr_dt_format(v, date_only and 1 or 0, fmtbuf)
  return ffi_string(fmtbuf, len)
end

--- Builds a column from a Lua list VALUES (nil holes allowed up to N) of
-- KIND (inferred when nil: numbers -> int64 or float64, booleans -> bool,
-- strings -> string). WHAT names the column in errors.
function M.from_values(values, n, kind, what, level)
  level = (level or 1) + 1
  if kind == nil then
    local allint, any = true, false
    for i = 1, n do
      local v = values[i]
      local t = type(v)
      if v ~= nil then
        if kind == nil then
          kind = t == "number" and "number" or t == "boolean" and "bool" or t == "string" and "string"
            or error(format("%s: value %s at row %d is a %s (expected numbers, booleans or strings)",
              what, tostring(v), i, t), level)
        end
        local k2 = t == "number" and "number" or t == "boolean" and "bool" or t == "string" and "string" or t
        if k2 ~= kind then
          error(format("%s: mixed value types (%s and %s at row %d): give one type per column",
            what, kind, t, i), level)
        end
        any = true
        if t == "number" and not nd.is_int_value(v) then allint = false end
      elseif kind == "number" or kind == nil then
        allint = false
      end
    end
    if kind == "number" or kind == nil then kind = (allint and any) and "int64" or "float64" end
    if kind == "bool" then
      for i = 1, n do if values[i] == nil then kind = "bool"; break end end
    end
  end
  if not KINDS[kind] then error(format("%s: unknown dtype %s", what, tostring(kind)), level) end
  if kind == "string" then
    local parts, total = {}, 0
    local off = alloc(n + 1, "int64")
    local op = ptr(off, I64P)
    local valid, vp
    op[0] = 0
    for i = 1, n do
      local v = values[i]
      if v == nil then
        if not valid then
          valid = nd.full({ n }, true, "bool")
          vp = ptr(valid, U8P)
        end
        vp[i - 1] = 0
        v = ""
      elseif type(v) ~= "string" then
        v = tostring(v)
      end
      parts[i] = v
      total = total + #v
      op[i] = total
    end
    local bytes = alloc(total, "uint8")
    local bp = ffi_cast("char *", ptr(bytes, U8P))
    for i = 1, n do
      local s = parts[i]
      ffi_copy(bp + op[i - 1], s, #s)
    end
    return M.strings(off, bytes, valid, n)
  end
  local data = alloc(n, NDTYPE[kind])
  local valid, vp
  local function missing(i)
    if not valid then
      valid = nd.full({ n }, true, "bool")
      vp = ptr(valid, U8P)
    end
    vp[i] = 0
  end
  if kind == "float64" then
    local p = ptr(data, F64P)
    for i = 1, n do
      local v = values[i]
      if v == nil then v = 0 / 0 end
      if type(v) ~= "number" then error(format("%s: value %s at row %d is not a number", what, tostring(v), i), level) end
      p[i - 1] = v
    end
  elseif kind == "bool" then
    local p = ptr(data, U8P)
    for i = 1, n do
      local v = values[i]
      if v == nil then missing(i - 1); p[i - 1] = 0 else p[i - 1] = v and 1 or 0 end
    end
  elseif kind == "int64" then
    local p = ptr(data, I64P)
    for i = 1, n do
      local v = values[i]
      if v == nil then missing(i - 1); p[i - 1] = 0
      elseif type(v) ~= "number" or not nd.is_int_value(v) then
        error(format("%s: value %s at row %d is not an integer (dtype int64)", what, tostring(v), i), level)
      else p[i - 1] = v end
    end
  else -- datetimes: ns numbers or ISO strings
    local p = ptr(data, I64P)
    local out = ffi_new("int64_t[1]")
    for i = 1, n do
      local v = values[i]
      if v == nil then p[i - 1] = NAT
      elseif type(v) == "string" then
        if lib.ld_parse_datetime(v, #v, out) ~= 0 then
          error(format("%s: value '%s' at row %d is not an ISO date-time", what, v, i), level)
        end
        p[i - 1] = out[0]
      else p[i - 1] = v end
    end
  end
  return new({ kind = kind, n = n, data = data, valid = valid })
end

--- Concatenates a list of columns of one kind into one.
function M.concat(cols)
  if #cols == 1 then return cols[1] end
  local kind = cols[1].kind
  local n = 0
  for _, c in ipairs(cols) do
    if c.kind ~= kind then
      -- mixed int64/float64 partitions (an int column with a missing value
      -- in one partition): promote to float64 as pandas' concat does
      local nums = { int64 = true, float64 = true, bool = true }
      if nums[kind] and nums[c.kind] then kind = "float64"
      else error(format("concat: columns of kinds %s and %s", kind, c.kind), 2) end
    end
    n = n + c.n
  end
  if kind == "string" then
    local plain, total = {}, 0
    local anyvalid = false
    for i, c in ipairs(cols) do
      plain[i] = M.plain(c)
      total = total + tonumber(ptr(plain[i].offsets, I64P)[c.n])
      anyvalid = anyvalid or plain[i].valid ~= nil
    end
    local off, bytes = alloc(n + 1, "int64"), alloc(total, "uint8")
    local valid = anyvalid and nd.full({ n }, true, "bool") or nil
    local op, bp = ptr(off, I64P), ptr(bytes, U8P)
    op[0] = 0
    local row, pos = 0, 0
    for _, c in ipairs(plain) do
      local co = ptr(c.offsets, I64P)
      local nb = tonumber(co[c.n])
      ffi_copy(bp + pos, ptr(c.data, U8P), nb)
      for i = 1, c.n do op[row + i] = co[i] + pos end
      if c.valid then ffi_copy(ptr(valid, U8P) + row, ptr(c.valid, U8P), c.n) end
      row, pos = row + c.n, pos + nb
    end
    return M.strings(off, bytes, valid, n)
  end
  local dt = NDTYPE[kind]
  local data = alloc(n, dt)
  local isz = data.itemsize
  local anyvalid = false
  for _, c in ipairs(cols) do anyvalid = anyvalid or c.valid ~= nil end
  local valid = anyvalid and nd.full({ n }, true, "bool") or nil
  local row = 0
  for _, c in ipairs(cols) do
    local src = c.data
    if src.dtype ~= dt then src = M.as_float(c).data end
    ffi_copy(ptr(data, U8P) + row * isz, ptr(src, U8P), c.n * isz)
    if c.valid and valid then ffi_copy(ptr(valid, U8P) + row, ptr(c.valid, U8P), c.n) end
    row = row + c.n
  end
  local out = new({ kind = kind, n = n, data = data, valid = valid })
  if kind == "float64" and valid then out = M.as_float(out) end
  return out
end

--- The column as float64 (missing values NaN): int64, bool, float64.
function M.as_float(c)
  if c.kind == "float64" and not c.valid then return c end
  if c.kind == "string" or c.kind == "datetime64[ns]" then
    error("cannot convert a " .. c.kind .. " column to float64", 2)
  end
  local f = c.data.dtype == "float64" and c.data:copy() or c.data:astype("float64")
  if c.valid then
    local fp, vp = ptr(f, F64P), ptr(c.valid, U8P)
    for i = 0, c.n - 1 do if vp[i] == 0 then fp[i] = 0 / 0 end end
  end
  return new({ kind = "float64", n = c.n, data = f })
end

--- A boolean column: true where values are missing.
function M.isna(c)
  local out = alloc(c.n, "bool")
  local op = ptr(out, U8P)
  if c.kind == "float64" then
    return M.numeric("bool", c.data:isnan())
  elseif c.kind == "datetime64[ns]" then
    local p = ptr(c.data, I64P)
    for i = 0, c.n - 1 do op[i] = p[i] == NAT and 1 or 0 end
  elseif c.codes then
    local p = ptr(c.codes, I32P)
    for i = 0, c.n - 1 do op[i] = p[i] < 0 and 1 or 0 end
  elseif c.valid then
    local vp = ptr(c.valid, U8P)
    for i = 0, c.n - 1 do op[i] = vp[i] == 0 and 1 or 0 end
  else
    ffi.fill(op, c.n, 0)
  end
  return M.numeric("bool", out)
end

M.huge = huge
M.floor = floor
return M
