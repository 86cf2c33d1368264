--- ldask.dataframe.elementwise: Series operations value by value, built
-- on the others: `s:isin(values)`, `s:between(lo, hi)`, `s:map(fn)` (a Lua
-- function on every value, as pandas' Series.map with na_action="ignore"),
-- and the kernel of `s:unique()`; they work on the lazy Series and on the
-- in-memory one.
-- @submodule ldask.dataframe
local core = require "ldask.dataframe.core"
local frame = require "ldask.dataframe.frame"
local column = require "ldask.dataframe.column"

local type, error, tostring, getmetatable, pcall = type, error, tostring, getmetatable, pcall
local format = string.format

local M = {}

local function check_values(values, what)
  if type(values) ~= "table" or getmetatable(values) ~= nil or #values == 0 then
    error(format("%s: expected a non-empty list of values, got %s", what, type(values)), 3)
  end
end

--- s:isin(values): a bool series, true where the value is one of VALUES
-- (a list of scalars of the series' kind); missing values give false.
-- @function Series:isin
local function isin(s, values)
  check_values(values, "isin")
  local r = s:eq(values[1])
  for i = 2, #values do r = r:or_(s:eq(values[i])) end
  return r
end

--- s:between(lo, hi): a bool series, true where lo <= value <= hi.
-- @function Series:between
local function between(s, lo, hi)
  if lo == nil or hi == nil then error("between: expected two bounds, lo and hi", 2) end
  return s:ge(lo):and_(s:le(hi))
end

-- A value of each kind to try a map function on (dask's meta_nonempty).
local SAMPLE = { int64 = 1, float64 = 0.5, bool = true, string = "a", ["datetime64[ns]"] = "2000-01-01 00:00:00" }

local function kind_of_value(v)
  if type(v) == "number" then return require("ldask.array.ndarray").is_int_value(v) and "int64" or "float64" end
  if type(v) == "boolean" then return "bool" end
  if type(v) == "string" then return "string" end
  return nil
end

--- Task: FN on every value of series partition P (missing values stay
-- missing; datetimes are given as ISO strings), as a series of KIND.
function M.map_values(p, fn, kind)
  local vals = frame.values(p._col)
  local out = {}
  local n = p._col.n
  for i = 1, n do
    local v = vals[i]
    if v ~= nil then out[i] = fn(v) end
  end
  return frame.series(p._name, column.from_values(out, n, kind, "map"), p._index, p._index_name)
end

--- s:map(fn[, {dtype =}]): FN(value) for every value (missing values are
-- not passed and stay missing). The result's dtype is DTYPE, or the kind of
-- what FN gives for a sample value of the series' kind.
-- @function Series:map
local function map(s, fn, opts)
  if type(fn) ~= "function" then
    error("map: expected a function (for a table T: function(v) return T[v] end), got " .. type(fn), 2)
  end
  local dt = opts and opts.dtype
  local lazy = core.is_series(s)
  local in_kind = lazy and s._meta.dtype or s.dtype
  if dt == nil then
    local ok, r = pcall(fn, SAMPLE[in_kind])
    dt = ok and kind_of_value(r)
    if not dt then
      error(format("map: cannot tell the result's dtype from fn(%s) (%s): give it, s:map(fn, { dtype = "
        .. "\"float64\" })", tostring(SAMPLE[in_kind]), ok and ("it gave a " .. type(r)) or tostring(r)), 2)
    end
  end
  if not lazy then return M.map_values(s, fn, dt) end
  return s:map_partitions(M.map_values, fn, dt, { meta = { name = s._meta.name, dtype = dt } })
end

--- Task: the index of a value-counts series (its distinct values) as the
-- values of a series of the same name.
function M.index_as_series(counts)
  return frame.series(counts._name, counts._index)
end

--- Installs the methods on the lazy and in-memory Series.
function M.install()
  local lazy, mem = core.series_methods, frame.series_methods
  lazy.isin, lazy.between, lazy.map = isin, between, map
  mem.isin, mem.between, mem.map = isin, between, map
end

return M
