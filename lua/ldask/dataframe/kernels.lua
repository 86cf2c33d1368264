--- ldask.dataframe.kernels: the task functions of dataframe graphs. A
-- partition task evaluates an expression tree (the blockwise operations a
-- collection piles up: column access, arithmetic, filters, assign, .dt,
-- map_partitions) on partition I of its leaves (CSV blocks parsed in C with
-- only the columns needed, or computed partitions): one task per partition,
-- no intermediate per-operation tasks. See docs/dataframe.md.
local ffi = require "ffi"
local lib = require "ldask.native"
local nd = require "ldask.array.ndarray"
local FT = require "ldask.ffi.frame"
local column = require "ldask.dataframe.column"
local frame = require "ldask.dataframe.frame"
local csv = require "ldask.dataframe.csv"
local strings = require "ldask.dataframe.strings"

local type, error, tostring, ipairs, pairs, select, tonumber, unpack = type, error, tostring, ipairs, pairs, select, tonumber, unpack
local format = string.format
local ptr, u8 = column.ptr, column.u8
local I64P, F64P, U8P, I32P = ffi.typeof("int64_t *"), ffi.typeof("double *"), ffi.typeof("uint8_t *"),
  ffi.typeof("int32_t *")

local M = {}

local is_frame, is_series = frame.is_frame, frame.is_series

-- Column of a series value, or the scalar itself.
local function operand(v)
  if is_series(v) then return v._col end
  return v
end

local ARITH = { add = true, sub = true, mul = true, div = true, floordiv = true, mod = true, pow = true }
local CMP = { eq = true, ne = true, lt = true, le = true, gt = true, ge = true }
local LOGIC = { ["and"] = true, ["or"] = true, xor = true }
M.ARITH, M.CMP, M.LOGIC = ARITH, CMP, LOGIC

-- Numeric data of column C for math (missing ints/bools as float NaN).
local function numdata(c, op)
  if c.kind == "string" then error(format("%s: not supported on a string column", op), 0) end
  if c.valid then c = column.as_float(c) end
  return c.data
end

-- A string column compared with a string scalar (eq / ne).
local function str_cmp(op, c, s)
  if op ~= "eq" and op ~= "ne" then
    error(format("%s: strings compare with eq and ne only", op), 0)
  end
  local out = column.alloc(c.n, "bool")
  if c.codes then
    local code = tonumber(lib.ld_fr_str_find(ptr(c.cats.offsets, I64P),
      ffi.cast("const char *", ptr(c.cats.data, U8P)), c.cats.n, s, #s))
    lib.ld_fr_codes_eq(ptr(c.codes, I32P), c.n, code < 0 and -2 or code, ptr(out, U8P))
  else
    lib.ld_fr_str_eq(ptr(c.offsets, I64P), ffi.cast("const char *", ptr(c.data, U8P)), u8(c.valid), c.n, s, #s,
      ptr(out, U8P))
  end
  if op == "ne" then out = out:logical_not() end
  return column.numeric("bool", out)
end

local function dt_scalar(v)
  if type(v) == "string" then
    local o = ffi.new("int64_t[1]")
    if lib.ld_parse_datetime(v, #v, o) ~= 0 then error(format("'%s' is not an ISO date-time", v), 0) end
    return tonumber(o[0])
  end
  return v
end

--- Binary operation OP between series/scalars A and B (in-memory).
function M.binary(op, a, b, name)
  local x, y = operand(a), operand(b)
  local idx = (is_series(a) and a._index) or (is_series(b) and b._index) or nil
  local xc, yc = column.is_column(x), column.is_column(y)
  if xc and yc and x.n ~= y.n then
    error(format("%s: series of lengths %d and %d in one partition (operands must come from the same frame)",
      op, x.n, y.n), 0)
  end
  local res
  if (xc and x.kind == "string") or (yc and y.kind == "string") then
    if xc and yc then error(op .. ": between two string columns is not supported yet", 0) end
    if xc then res = str_cmp(op, x, tostring(y)) else res = str_cmp(op, y, tostring(x)) end
  elseif (xc and x.kind == "datetime64[ns]") or (yc and y.kind == "datetime64[ns]") then
    if not CMP[op] and op ~= "sub" then error(op .. ": not supported on datetimes", 0) end
    local xd = xc and x.data or dt_scalar(x)
    local yd = yc and y.data or dt_scalar(y)
    local r = nd.binary(op, xd, yd)
    if CMP[op] then res = column.numeric("bool", r)
    else res = column.numeric((xc and yc) and "int64" or "datetime64[ns]", r) end
  else
    local xd = xc and numdata(x, op) or x
    local yd = yc and numdata(y, op) or y
    if LOGIC[op] then
      local r = nd.binary(op, xd, yd)
      res = column.numeric("bool", r)
    else
      local r = nd.binary(op, xd, yd)
      local kind = r.dtype == "bool" and "bool" or r.dtype == "int64" and "int64" or "float64"
      if r.dtype ~= "bool" and r.dtype ~= "int64" and r.dtype ~= "float64" then r = r:astype("float64") end
      res = column.numeric(kind, r)
    end
  end
  return frame.series(name, res, idx)
end

--- Unary operation OP of series A.
function M.unary(op, a)
  local c = a._col
  local res
  if op == "isna" then res = column.isna(c)
  elseif op == "notna" then res = column.numeric("bool", column.isna(c).data:logical_not())
  elseif op == "not" then res = column.numeric("bool", numdata(c, op):logical_not())
  elseif op == "neg" then res = column.numeric(c.kind == "bool" and "int64" or c.kind, numdata(c, op):negative())
  elseif op == "abs" then res = column.numeric(c.kind, numdata(c, op):abs())
  else error("unknown operation " .. tostring(op), 0) end
  return frame.series(a._name, res, a._index)
end

--- Datetime field FIELD of series A (.dt accessor).
function M.dt(field, a, unit)
  local c = a._col
  if c.kind ~= "datetime64[ns]" then
    error(format(".dt.%s: the column '%s' is %s, not datetime64[ns] (read it with parse_dates = {\"%s\"})",
      field, tostring(a._name), c.kind, tostring(a._name)), 0)
  end
  local code = FT.dt_fields[field]
  local n = c.n
  local out = column.alloc(n, "int64")
  local nat = tonumber(lib.ld_fr_dt_field(ptr(c.data, I64P), n, code, unit or 0, ptr(out, I64P), nil))
  local kind = (field == "date" or field == "floor") and "datetime64[ns]" or "int64"
  if nat > 0 and kind == "int64" then
    out = column.alloc(n, "float64")
    lib.ld_fr_dt_field(ptr(c.data, I64P), n, code, unit or 0, nil, ptr(out, F64P))
    kind = "float64"
  end
  return frame.series(a._name, column.numeric(kind, out), a._index)
end

--- Rows of frame/series V where the bool series MASK is true.
function M.filter(v, mask)
  local m = mask._col
  if m.kind ~= "bool" then
    error(format("filter: the mask must be a bool series, got %s", m.kind), 0)
  end
  local n = is_frame(v) and v._n or v._col.n
  if m.n ~= n then
    error(format("filter: a mask of %d rows for a partition of %d rows (the mask must come from the same frame)",
      m.n, n), 0)
  end
  local idx, k = column.mask_rows(m)
  if is_series(v) then
    return frame.series(v._name, column.take(v._col, idx, k), v._index and column.take(v._index, idx, k), v._index_name)
  end
  local cols = {}
  for _, name in ipairs(v._names) do cols[name] = column.take(v._cols[name], idx, k) end
  return frame.new(v._names, cols, k, v._index and column.take(v._index, idx, k), v._index_name)
end

--- Frame F with columns NAMES set to VALUES (series or scalars).
function M.assign(f, names, values)
  local cols, order = {}, {}
  for i, n in ipairs(f._names) do cols[n] = f._cols[n]; order[i] = n end
  for i, name in ipairs(names) do
    local v = values[i]
    local c
    if is_series(v) then
      c = v._col
      if c.n ~= f._n then
        error(format("assign: column '%s' has %d rows in a partition of %d rows", name, c.n, f._n), 0)
      end
    else
      local vals = {}
      for r = 1, f._n do vals[r] = v end
      c = column.from_values(vals, f._n, (f._n == 0 and type(v) == "string") and "string"
        or (f._n == 0 and type(v) == "boolean") and "bool" or (f._n == 0 and "float64") or nil, "assign")
    end
    if not cols[name] then order[#order + 1] = name end
    cols[name] = c
  end
  return frame.new(order, cols, f._n, f._index, f._index_name)
end

--- Column C with its missing values replaced by V (a Lua value of C's kind).
function M.fill_column(c, v)
  local miss = column.isna(c)
  local mp = ptr(miss.data, U8P)
  local any = false
  for i = 0, c.n - 1 do if mp[i] ~= 0 then any = true; break end end
  if not any then return c end
  if c.kind == "string" or c.kind == "bool" then
    local vals = frame.values(c)
    for i = 1, c.n do if vals[i] == nil then vals[i] = v end end
    return column.from_values(vals, c.n, c.kind, "fillna")
  end
  if c.kind == "datetime64[ns]" then v = dt_scalar(v) end
  local data = c.data:copy()
  local out = nd.where(miss.data, v, data)
  if out.dtype ~= c.data.dtype then out = out:astype(c.data.dtype) end
  return column.numeric(c.kind, out)
end

--- Series or frame V with missing values replaced: VALUE a scalar, or a
-- table {column = value} for a frame.
function M.fillna(v, value)
  if is_series(v) then return frame.series(v._name, M.fill_column(v._col, value), v._index, v._index_name) end
  local cols = {}
  for _, name in ipairs(v._names) do
    local fv = value
    if type(value) == "table" then fv = value[name] end
    cols[name] = fv ~= nil and M.fill_column(v._cols[name], fv) or v._cols[name]
  end
  return frame.new(v._names, cols, v._n, v._index, v._index_name)
end

--- Rows of V without missing values (a frame: in any of SUBSET's columns,
-- all columns when nil).
function M.dropna(v, subset)
  if is_series(v) then
    return M.filter(v, frame.series(nil, column.numeric("bool", column.isna(v._col).data:logical_not())))
  end
  local keep = nd.full({ v._n }, true, "bool")
  for _, name in ipairs(subset or v._names) do
    keep = keep:and_(column.isna(v._cols[name]).data:logical_not())
  end
  return M.filter(v, frame.series(nil, column.numeric("bool", keep)))
end

--- Frame F with columns renamed by MAP {old = new}.
function M.rename_columns(f, map)
  local names, cols = {}, {}
  for i, n in ipairs(f._names) do
    local nn = map[n] or n
    names[i] = nn
    cols[nn] = f._cols[n]
  end
  return frame.new(names, cols, f._n, f._index, f._index_name)
end

--- Series A cast to KIND.
function M.astype(a, kind)
  local c = a._col
  if c.kind == kind then return a end
  local res
  if c.kind == "string" then
    res = M.parse_strings(c, kind, a._name)
  elseif kind == "float64" then res = column.as_float(c)
  elseif kind == "int64" and c.kind == "float64" and c.data:isnan():any():item() then
    error(format("astype(int64): the series '%s' has NaN, which int64 cannot hold (fillna first)",
      tostring(a._name)), 0)
  elseif kind == "int64" and (c.kind == "float64" or c.kind == "bool") then
    res = column.numeric("int64", c.data:astype("int64"), c.valid)
  elseif kind == "bool" and c.kind ~= "string" then
    res = column.numeric("bool", c.data:astype("bool"), c.valid)
  elseif (kind == "int64" and c.kind == "datetime64[ns]") or (kind == "datetime64[ns]" and c.kind == "int64") then
    local d = c.data
    if c.valid then -- (a missing int is NaT)
      d = nd.where(c.valid, d, column.NAT)
      if d.dtype ~= "int64" then d = d:astype("int64") end
    end
    res = column.numeric(kind, d)
  elseif kind == "string" then
    local vals = frame.values(c)
    for i = 1, c.n do if vals[i] ~= nil then vals[i] = tostring(vals[i]) end end
    res = column.from_values(vals, c.n, "string", "astype")
  else
    error(format("astype: cannot convert %s to %s", c.kind, kind), 0)
  end
  return frame.series(a._name, res, a._index)
end

local PARSE = {
  float64 = { "double[1]", "ld_parse_f64", F64P },
  int64 = { "int64_t[1]", "ld_parse_i64", I64P },
  bool = { "uint8_t[1]", "ld_parse_bool", U8P },
  ["datetime64[ns]"] = { "int64_t[1]", "ld_parse_datetime", I64P },
}

--- String column C parsed into KIND (pandas' astype on text): missing
-- strings stay missing; a value that does not parse is an error naming it.
function M.parse_strings(c, kind, name)
  local p = column.plain(c)
  local how = PARSE[kind]
  local n = p.n
  local out = column.alloc(n, kind == "bool" and "bool" or kind == "float64" and "float64" or "int64")
  local op = ptr(out, how[3])
  local tmp = ffi.new(how[1])
  local parse = lib[how[2]]
  local off, bytes = ptr(p.offsets, I64P), ffi.cast("const char *", ptr(p.data, U8P))
  local vp = u8(p.valid)
  local valid
  for i = 0, n - 1 do
    if vp and vp[i] == 0 then
      if kind == "float64" then op[i] = 0 / 0
      elseif kind == "datetime64[ns]" then op[i] = column.NAT
      else
        valid = valid or nd.full({ n }, true, "bool")
        ptr(valid, U8P)[i] = 0
        op[i] = 0
      end
    else
      local s, e = off[i], off[i + 1]
      if parse(bytes + s, e - s, tmp) ~= 0 then
        error(format("astype(%s): value '%s' of series '%s' (row %d of its partition) does not parse as %s", kind,
          ffi.string(bytes + s, e - s), tostring(name), i, kind), 0)
      end
      op[i] = tmp[0]
    end
  end
  column.keep(p)
  return column.numeric(kind, out, valid)
end

---------------------------------------------------------------------------
-- Evaluation of an expression tree on one partition

local eval

local function eval_node(node, ctx)
  local op = node.op
  if op == "csv" then
    return csv.read_block(node.plan, node.plan.blocks[ctx.i + 1], ctx.wants[node.id])
  elseif op == "input" then
    local v = ctx.inputs[ctx.slots[node.id]]
    local want = ctx.wants[node.id]
    if want and is_frame(v) then v = v:select(want) end
    return v
  elseif op == "col" then
    local f = eval(node.a, ctx)
    local c = f._cols[node.name]
    if not c then error(format("no column '%s'", tostring(node.name)), 0) end
    return frame.series(node.name, c, f._index, f._index_name)
  elseif op == "select" then
    -- (the names were checked when the graph was built; a leaf read with
    -- projection holds only those the query uses)
    local f = eval(node.a, ctx)
    local names = {}
    for _, n in ipairs(node.names) do if f._cols[n] then names[#names + 1] = n end end
    return f:select(names)
  elseif op == "bin" then
    local a = type(node.a) == "table" and node.a.op and eval(node.a, ctx) or node.a
    local b = type(node.b) == "table" and node.b.op and eval(node.b, ctx) or node.b
    return M.binary(node.fn, a, b, node.name)
  elseif op == "un" then
    return M.unary(node.fn, eval(node.a, ctx))
  elseif op == "dt" then
    return M.dt(node.field, eval(node.a, ctx), node.unit)
  elseif op == "filter" then
    return M.filter(eval(node.a, ctx), eval(node.mask, ctx))
  elseif op == "assign" then
    local vals = {}
    for i, v in ipairs(node.vals) do
      vals[i] = (type(v) == "table" and v.op) and eval(v, ctx) or v
    end
    return M.assign(eval(node.a, ctx), node.names, vals)
  elseif op == "astype" then
    return M.astype(eval(node.a, ctx), node.kind)
  elseif op == "str" then
    local v = eval(node.a, ctx)
    local r = strings.apply(v._col, node.fn, node.args)
    if node.args.na ~= nil then r = strings.fill_na(r, node.args.na) end
    return frame.series(v._name, r, v._index, v._index_name)
  elseif op == "rename" then
    local v = eval(node.a, ctx)
    return frame.series(node.name, v._col, v._index, v._index_name)
  elseif op == "rename_cols" then
    return M.rename_columns(eval(node.a, ctx), node.map)
  elseif op == "fillna" then
    return M.fillna(eval(node.a, ctx), node.value)
  elseif op == "dropna" then
    return M.dropna(eval(node.a, ctx), node.subset)
  elseif op == "map" then
    local v = eval(node.a, ctx)
    local args = node.args or {}
    if node.lazy then -- (the lazy arguments are input leaves: their values)
      local vals = {}
      for i = 1, node.nargs or #args do vals[i] = node.lazy[i] and eval(args[i], ctx) or args[i] end
      args = vals
    end
    return node.fn(v, unpack(args, 1, node.nargs or #args))
  end
  error("dataframe: unknown expression node " .. tostring(op), 0)
end

eval = function(node, ctx)
  local memo = ctx.memo
  local v = memo[node.id]
  if v == nil then
    v = eval_node(node, ctx)
    memo[node.id] = v
  end
  return v
end
M.eval = eval

--- Task: evaluates SPEC.root on partition I; the rest are the computed
-- input partitions (leaves of op "input", by slot).
function M.partition(spec, i, ...)
  return eval(spec.root, { i = i, wants = spec.wants, slots = spec.slots, inputs = { ... }, memo = {} })
end

--- Task: the length of partition I.
function M.partition_len(spec, i, ...)
  local v = M.partition(spec, i, ...)
  if is_frame(v) then return v._n end
  return v._col.n
end

--- Task: the ndarray of series partition V (an int or bool series with a
-- missing value has none: fillna or astype("float64") first).
function M.series_ndarray(v)
  local c = v._col
  if c.valid and column.isna(c).data:any():item() then
    error(format("to_array: the %s series '%s' has missing values, which a %s array cannot hold "
      .. "(s:fillna(v) or s:astype(\"float64\") first)", c.kind, tostring(v._name), c.kind), 0)
  end
  return c.data
end

--- Task: concatenates partitions into one frame/series (compute's result).
function M.concat(parts)
  local first = parts[1]
  if #parts == 1 then return first end
  if is_series(first) then
    local cols, idx = {}, {}
    for i, p in ipairs(parts) do cols[i] = p._col; idx[i] = p._index end
    return frame.series(first._name, column.concat(cols), #idx == #parts and column.concat(idx) or nil,
      first._index_name)
  end
  local cols, n = {}, 0
  for _, name in ipairs(first._names) do
    local list = {}
    for i, p in ipairs(parts) do list[i] = p._cols[name] end
    cols[name] = column.concat(list)
  end
  for _, p in ipairs(parts) do n = n + p._n end
  local idx
  if first._index then
    local list = {}
    for i, p in ipairs(parts) do list[i] = p._index end
    idx = column.concat(list)
  end
  return frame.new(first._names, cols, n, idx, first._index_name)
end

--- Task: its argument (a partition under a new key).
function M.identity(v) return v end

function M.concat_args(...) return M.concat({ ... }) end

return M
