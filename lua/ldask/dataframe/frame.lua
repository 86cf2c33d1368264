--- ldask.dataframe.frame: the in-memory frame and series — one partition,
-- and what compute() returns. A Frame holds named typed columns
-- (ldask.dataframe.column) of one length and an optional index column (the
-- group keys of a groupby result); a Series is one column with a name.
-- Usable on their own: `f.x` / `f["x"]`, `f:len()` (Lua 5.1 never calls
-- `__len` for a table: `#f` is 0), `tostring(f)` prints like
-- pandas (aligned columns, rows elided past 60), `f:to_rows()`,
-- `f:to_columns()`, `s:to_table()`, `s:to_dict()`, and the operations of
-- ldask.dataframe.inmemory (`f:assign{...}`, `f[s:gt(0)]`, ...).
-- @module ldask.dataframe.frame
local column = require "ldask.dataframe.column"
local nd = require "ldask.array.ndarray"

local type, error, tostring, setmetatable, getmetatable, ipairs, pairs, rawget, tonumber =
  type, error, tostring, setmetatable, getmetatable, ipairs, pairs, rawget, tonumber
local format, rep, concat, max, floor = string.format, string.rep, table.concat, math.max, math.floor

local M = {}

local Frame = { __name = "ldask.dataframe.Frame" }
local Series = { __name = "ldask.dataframe.FrameSeries" }
M.Frame, M.Series = Frame, Series

local fmethods, smethods = {}, {}

-- f[true] / df[true]: what `df[df.v == 3]` gives (Lua's == between a
-- table and a number is false without a metamethod call).
M.BOOL_KEY = "indexed with a boolean: `df[df.x == 3]` compares a table with a number, which Lua answers "
  .. "false without asking it; write df[df.x:eq(3)] (comparisons are methods: eq, ne, lt, le, gt, ge)"
M.frame_methods, M.series_methods = fmethods, smethods

function M.is_frame(x) return getmetatable(x) == Frame end
function M.is_series(x) return getmetatable(x) == Series end

--- A frame of NAMES (list) -> COLS (name -> column), N rows, INDEX optional.
function M.new(names, cols, n, index, index_name)
  return setmetatable({ _names = names, _cols = cols, _n = n, _index = index, _index_name = index_name }, Frame)
end

--- A series: column COL named NAME (may be nil), INDEX optional.
function M.series(name, col, index, index_name)
  return setmetatable({ _name = name, _col = col, _index = index, _index_name = index_name }, Series)
end

Frame.__index = function(f, k)
  local m = fmethods[k]
  if m then return m end
  if k == "columns" then
    local out = {}
    for i, n in ipairs(rawget(f, "_names")) do out[i] = n end
    return out
  end
  if k == "dtypes" then
    local out = {}
    for _, n in ipairs(rawget(f, "_names")) do out[n] = rawget(f, "_cols")[n].kind end
    return out
  end
  local c = rawget(f, "_cols")[k]
  if c then return M.series(k, c, rawget(f, "_index"), rawget(f, "_index_name")) end
  if M.is_series(k) then return fmethods.filter(f, k) end
  if type(k) == "table" then return fmethods.select(f, k) end
  if type(k) == "boolean" then error("Frame " .. M.BOOL_KEY, 2) end
  return nil
end
Frame.__len = function(f) return f._n end

Series.__index = function(s, k)
  local m = smethods[k]
  if m then return m end
  if k == "name" then return rawget(s, "_name") end
  if k == "dtype" then return rawget(s, "_col").kind end
  if M.is_series(k) then return smethods.filter(s, k) end
  if type(k) == "boolean" then error("FrameSeries " .. M.BOOL_KEY, 2) end
  return nil
end
Series.__len = function(s) return s._col.n end

-- Arithmetic between in-memory series and scalars (custom aggregations'
-- finalize, map_partitions): the partition kernels of ldask.dataframe.kernels.
local function arith(op)
  return function(a, b)
    local name = (M.is_series(a) and a._name) or (M.is_series(b) and b._name) or nil
    return require("ldask.dataframe.kernels").binary(op, a, b, name)
  end
end
Series.__add, Series.__sub, Series.__mul = arith("add"), arith("sub"), arith("mul")
Series.__div, Series.__mod, Series.__pow = arith("div"), arith("mod"), arith("pow")
Series.__unm = function(s) return require("ldask.dataframe.kernels").unary("neg", s) end

function fmethods.select(f, names)
  local cols = {}
  for i, n in ipairs(names) do
    cols[n] = f._cols[n] or error(format("frame: no column '%s' (columns: %s)", tostring(n),
      concat(f._names, ", ")), 3)
  end
  local copy = {}
  for i, n in ipairs(names) do copy[i] = n end
  return M.new(copy, cols, f._n, f._index, f._index_name)
end

--- The rows as a list of tables {name = value} (missing values are nil;
-- datetimes as ISO strings).
function fmethods.to_rows(f)
  local out = {}
  local vals = {}
  for j, name in ipairs(f._names) do vals[j] = M.values(f._cols[name]) end
  for i = 1, f._n do
    local r = {}
    for j, name in ipairs(f._names) do r[name] = vals[j][i] end
    out[i] = r
  end
  return out
end

--- The columns as a table {name = list of values}.
function fmethods.to_columns(f)
  local out = {}
  for _, name in ipairs(f._names) do out[name] = M.values(f._cols[name]) end
  return out
end

--- The index (group keys) as a list, or nil for a positional frame.
function fmethods.index_values(f) return f._index and M.values(f._index) end

function fmethods.head(f, n)
  n = n or 5
  local cols = {}
  for _, name in ipairs(f._names) do cols[name] = column.head(f._cols[name], n) end
  return M.new(f._names, cols, math.min(n, f._n), f._index and column.head(f._index, n), f._index_name)
end

--- Values of column C as a Lua list (missing: nil; datetimes ISO strings).
function M.values(c)
  local out = {}
  local dt = c.kind == "datetime64[ns]"
  for i = 0, c.n - 1 do
    local v = column.value(c, i)
    if dt and v ~= nil then v = column.format_datetime(v) end
    out[i + 1] = v
  end
  return out
end

function smethods.to_table(s) return M.values(s._col) end
--- {index value = value}, for a series with an index (a groupby result).
function smethods.to_dict(s)
  local vals = M.values(s._col)
  local out = {}
  if s._index then
    local keys = M.values(s._index)
    for i = 1, #vals do if keys[i] ~= nil then out[keys[i]] = vals[i] end end
  else
    for i = 1, #vals do out[i - 1] = vals[i] end
  end
  return out
end
function smethods.index_values(s) return s._index and M.values(s._index) end
function smethods.head(s, n)
  n = n or 5
  return M.series(s._name, column.head(s._col, n), s._index and column.head(s._index, n), s._index_name)
end
function smethods.to_frame(s)
  return M.new({ s._name or 0 }, { [s._name or 0] = s._col }, s._col.n, s._index)
end
--- The values as an ndarray (numeric columns; missing ints become NaN).
function smethods.to_array(s)
  local c = s._col
  if c.kind == "string" then error("to_array: a string column has no ndarray form", 2) end
  if c.valid then c = column.as_float(c) end
  return c.data
end

---------------------------------------------------------------------------
-- Printing, like pandas: at most MAX_ROWS rows, else the first and last 5.

M.MAX_ROWS = 60

-- Text cells of rows ROWS (list of 0-based rows, false for the "..." row)
-- of column C, pandas' formats: floats with a shared number of decimals.
local function cells(c, rows)
  local out = {}
  -- (the "..." of the elided rows is sized to the column afterwards)
  local kind = c.kind
  if kind == "float64" then
    local decs = 0
    local vals = {}
    for i, r in ipairs(rows) do
      if r then
        local v = column.value(c, r)
        vals[i] = v
        if v and v == v and v ~= 1 / 0 and v ~= -1 / 0 then
          local s = format("%.6f", v):gsub("0+$", "")
          local d = #(s:match("%.(%d*)$") or "")
          if d > decs then decs = d end
        end
      end
    end
    decs = max(decs, 1)
    for i, r in ipairs(rows) do
      if not r then out[i] = "..."
      else
        local v = vals[i]
        if v == nil then out[i] = "NaN"
        elseif v == 1 / 0 then out[i] = "inf"
        elseif v == -1 / 0 then out[i] = "-inf"
        elseif math.abs(v) >= 1e16 then out[i] = format("%.6e", v)
        else out[i] = format("%." .. decs .. "f", v) end
      end
    end
    return out
  end
  for i, r in ipairs(rows) do
    if not r then out[i] = "..."
    else
      local v = column.value(c, r)
      if v == nil then
        out[i] = kind == "datetime64[ns]" and "NaT" or kind == "string" and "NaN" or "<NA>"
      elseif kind == "datetime64[ns]" then out[i] = column.format_datetime(v)
      elseif kind == "bool" then out[i] = v and "True" or "False"
      else out[i] = tostring(v) end
    end
  end
  return out
end

local function row_list(n)
  local rows = {}
  if n <= M.MAX_ROWS then
    for i = 0, n - 1 do rows[#rows + 1] = i end
  else
    for i = 0, 4 do rows[#rows + 1] = i end
    rows[#rows + 1] = false
    for i = n - 5, n - 1 do rows[#rows + 1] = i end
  end
  return rows
end

local function index_cells(index, rows)
  if index then return cells(index, rows) end
  local out = {}
  for i, r in ipairs(rows) do out[i] = r and tostring(r) or "..." end
  return out
end

-- Display width of S: its UTF-8 characters.
local function ulen(s)
  local _, cont = s:gsub("[\128-\191]", "")
  return #s - cont
end

-- Width of the cells of a column, not counting the "..." marker; the marker
-- becomes ".." in a column narrower than 3, as in pandas.
local function width(list, w)
  w = w or 0
  local marker = false
  for _, s in ipairs(list) do
    if s ~= "..." then w = max(w, ulen(s)) else marker = true end
  end
  if marker then w = max(w, 2) end
  for i, s in ipairs(list) do if s == "..." and w < 3 then list[i] = ".." end end
  return w
end

local function pad(s, w, left)
  local n = w - ulen(s)
  if n <= 0 then return s end
  return left and (s .. rep(" ", n)) or (rep(" ", n) .. s)
end

Frame.__tostring = function(f)
  local n = f._n
  if #f._names == 0 then return format("Empty DataFrame\nColumns: []\nIndex: [%d rows]", n) end
  if n == 0 then
    return format("Empty DataFrame\nColumns: [%s]\nIndex: []", concat(f._names, ", "))
  end
  local rows = row_list(n)
  local idx = index_cells(f._index, rows)
  local iname = f._index_name and tostring(f._index_name) or nil
  local iw = width(idx, iname and #iname or 0)
  local colcells, widths = {}, {}
  for j, name in ipairs(f._names) do
    colcells[j] = cells(f._cols[name], rows)
    widths[j] = width(colcells[j], ulen(tostring(name)))
  end
  local lines = {}
  local head = { rep(" ", iw) }
  for j, name in ipairs(f._names) do head[#head + 1] = pad(tostring(name), widths[j]) end
  lines[1] = concat(head, "  ")
  if iname then
    local l = { pad(iname, iw, true) }
    for j = 1, #f._names do l[#l + 1] = rep(" ", widths[j]) end
    lines[2] = concat(l, "  ")
  end
  for i = 1, #rows do
    local l = { pad(idx[i], iw, true) }
    for j = 1, #f._names do l[#l + 1] = pad(colcells[j][i], widths[j]) end
    lines[#lines + 1] = concat(l, "  ")
  end
  if n > M.MAX_ROWS then
    lines[#lines + 1] = ""
    lines[#lines + 1] = format("[%d rows x %d columns]", n, #f._names)
  end
  return concat(lines, "\n")
end

Series.__tostring = function(s)
  local c = s._col
  local n = c.n
  local dtype = c.kind == "string" and "object" or c.kind
  if n == 0 then
    return format("Series([], %sdtype: %s)", s._name and ("Name: " .. tostring(s._name) .. ", ") or "", dtype)
  end
  local rows = row_list(n)
  local idx = index_cells(s._index, rows)
  local vals = cells(c, rows)
  local iname = s._index_name and tostring(s._index_name) or nil
  local iw, vw = width(idx), width(vals)
  local lines = {}
  if iname then lines[1] = iname end
  for i = 1, #rows do lines[#lines + 1] = pad(idx[i], iw, true) .. "    " .. pad(vals[i], vw) end
  local tail = {}
  if s._name ~= nil then tail[#tail + 1] = "Name: " .. tostring(s._name) end
  if n > M.MAX_ROWS then tail[#tail + 1] = "Length: " .. n end
  tail[#tail + 1] = "dtype: " .. dtype
  lines[#lines + 1] = concat(tail, ", ")
  return concat(lines, "\n")
end

--- Makes frames and series travel between executor states as buffers: a
-- frame is a table of columns whose parts are ndarrays (their codec
-- registration ships the buffers as they are); the metatables travel by
-- module path. Loading this module is what a state needs; the function
-- exists so an executor start-up can list it.
function M.register_codec()
  require "ldask.array.ndarray"
  return true
end
M.register_codec()
-- assign, filter, fillna, comparisons...: ldask.dataframe.inmemory
require("ldask.dataframe.inmemory").install(M)

return M
