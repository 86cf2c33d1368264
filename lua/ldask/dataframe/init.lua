--- ldask.dataframe: partitions of typed columns in C, as dask.dataframe.
-- `read_csv`, `from_table`, column access (`df.x`, `df["x"]`), filters
-- (`df[df.price:gt(250)]`), arithmetic and comparisons, `assign`,
-- `head`, `len`, `map_partitions`, reductions (sum, mean, count, min, max,
-- std, var), `.dt` fields and groupby aggregations through
-- apply-concat-apply. See docs/dataframe.md.
-- @module ldask.dataframe
local graph = require "ldask.graph"
local base = require "ldask.base"
local core = require "ldask.dataframe.core"
local csv = require "ldask.dataframe.csv"
local column = require "ldask.dataframe.column"
local frame = require "ldask.dataframe.frame"
local kernels = require "ldask.dataframe.kernels"
local aggregate = require "ldask.dataframe.aggregate"
local groupby = require "ldask.dataframe.groupby"
local merge = require "ldask.dataframe.merge"
local io_ = require "ldask.dataframe.io"
local tokenize = require "ldask.tokenize"
require("ldask.dataframe.elementwise").install()

local type, error, tostring, ipairs, pairs, setmetatable, getmetatable, select, unpack, tonumber =
  type, error, tostring, ipairs, pairs, setmetatable, getmetatable, select, unpack, tonumber
local format, concat, ceil, min = string.format, table.concat, math.ceil, math.min
local key, quote = graph.key, graph.quote
local node, dfm, sm, scm = core.node, core.df_methods, core.series_methods, core.scalar_methods
local is_df, is_series = core.is_df, core.is_series

local M = {}

--- The methods of a DataFrame `df` (a lazy collection; docs/dataframe.md):
-- `df.x` / `df["x"]` / `df:col("x")` (a Series), `df[{"x", "y"}]` /
-- `df:select{...}`, `df[mask]` / `df:filter(mask)`, `df:assign{...}`,
-- `df:fillna(v)`, `df:dropna{subset =}`, `df:isna()`, `df:notna()`,
-- `df:rename{old = new}`, `df:drop{...}`, `df:head(n)`, `df:len()`,
-- `df:map_partitions(fn, ...)`, `df:get_partition(i)`,
-- `df:repartition{npartitions =}`, `df:groupby(by, opts)`, the reductions
-- `df:sum()`, `mean`, `count`, `min`, `max`, `std`, `var` (computed: a
-- FrameSeries per column), `df:describe()`, `df:merge(other, opts)`,
-- `df:join(other, opts)`, `df:drop_duplicates{subset =, keep =}`,
-- `df:set_index(column)`, `df:sort_values(by, opts)`, `df:to_csv(path)`,
-- `df:to_bag(opts)`, `df:compute(opts)` (a Frame). Fields: `df.columns`,
-- `df.dtypes`, `df.npartitions`, `df.divisions` (after set_index).
-- @table DataFrame

--- The methods of a Series `s`: arithmetic `+ - * / % ^`, unary `-`, and
-- the methods `add`, `sub`, `mul`, `div`, `floordiv`, `mod`, `pow`; the
-- comparisons `eq`, `ne`, `lt`, `le`, `gt`, `ge`; `and_`, `or_`, `xor`,
-- `invert`, `abs`, `isna`, `notna`, `fillna`, `dropna`, `astype`, `rename`,
-- `filter` (`s[mask]`); `.dt` (year, month, day, hour, minute, second,
-- dayofweek, date, `floor(unit)`); `.str` (`lower`, `upper`, `len`,
-- `contains(pat, {regex, case, na})`, `startswith`, `endswith`, `strip`,
-- `lstrip`, `rstrip`, `slice(start, stop, step)`); the reductions `sum`,
-- `mean`, `count`, `min`, `max`, `std(ddof)`, `var(ddof)` (lazy Scalars:
-- `:compute()`), `value_counts`, `nunique`, `describe`, `to_array`,
-- `to_bag`, `head`, `len`, `map_partitions`, `get_partition`, `compute`.
-- Fields: `s.name`, `s.dtype`, `s.npartitions`.
-- @table Series

--- The methods of a groupby `g = df:groupby(by, {sort, split_every,
-- split_out})`: `g.x` / `g["x"]` / `g[{"x", "y"}]` select value columns;
-- `sum`, `mean`, `count`, `min`, `max`, `std(ddof)`, `var(ddof)`, `first`,
-- `last`, `size`, `nunique`, `agg(spec)` (names, `Aggregation`s, or
-- `{column = ...}` of them).
-- @table GroupBy

M.DataFrame, M.Series, M.Scalar = core.DataFrame, core.Series, core.Scalar
M.Frame, M.FrameSeries = frame.Frame, frame.Series
--- is_dataframe(x), is_series(x): true when X is a DataFrame / Series
-- collection.
-- @function is_dataframe
M.is_dataframe, M.is_series = is_df, is_series
--- register_codec(): what an executor state runs to decode frames and
-- series (ldask.dataframe.frame.register_codec: loads the ndarray codec;
-- the frames' metatables travel by module path).
-- @function register_codec
M.register_codec = frame.register_codec

--- read_csv(urlpath, opts): a DataFrame of CSV files (a glob, a path or a
-- list), split into line-aligned blocks of `blocksize` bytes (64 MiB;
-- gzip files are one block each). OPTS: blocksize, sep, header (0 or
-- false), names, usecols, dtype (a name or {column = name}), parse_dates
-- (list of columns), na_values, keep_default_na, compression ("infer",
-- "gzip"), sample (lines used to infer dtypes, 1000).
-- @usage local f = io.open("t1.csv", "w"); f:write("a,b\n1,x\n2,y\n"); f:close()
-- local df = ldask.dataframe.read_csv("t*.csv")
-- print(df.a:sum():compute())   --> 3
function M.read_csv(urlpath, opts)
  local plan = csv.plan(urlpath, opts, 2)
  plan.token = tokenize.tokenize("read_csv", plan.blocks, plan.dtypes, plan.sep, plan.na, plan.names)
  local dtypes = {}
  for _, n in ipairs(plan.columns) do dtypes[n] = plan.dtypes[n] end
  local e = node({ op = "csv", plan = plan, cols = plan.columns })
  return core.new("frame", e, #plan.blocks, { names = plan.columns, dtypes = dtypes })
end

local from_layer = core.from_layer

--- from_table(t, opts): a DataFrame from a Lua table of columns
-- ({x = {1, 2}, y = {"a", "b"}}) or of rows ({{x = 1, y = "a"}, ...}).
-- OPTS: npartitions (1), columns (the column order), dtype ({column = name}),
-- n (the number of rows, when a column ends in missing values: nil).
function M.from_table(t, opts)
  opts = opts or {}
  if type(t) ~= "table" then error("from_table: expected a table of columns or a list of rows, got " .. type(t), 2) end
  local cols, names, n = {}, {}, nil
  if #t > 0 and type(t[1]) == "table" then -- rows
    local seen = {}
    for _, row in ipairs(t) do
      if type(row) ~= "table" then error("from_table: every row must be a table", 2) end
      for k in pairs(row) do if not seen[k] then seen[k] = true; names[#names + 1] = k end end
    end
    table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(names) do
      local list = {}
      for i, row in ipairs(t) do list[i] = row[k] end
      cols[k] = list
    end
    n = #t
  else
    for k, v in pairs(t) do
      if type(v) ~= "table" then
        error(format("from_table: column '%s' must be a list of values, got %s", tostring(k), type(v)), 2)
      end
      names[#names + 1] = k
      cols[k] = v
    end
    table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(names) do
      local len = table.maxn(cols[k])
      if opts.n then
        if len > opts.n then
          error(format("from_table: column '%s' has %d values, more than n = %d", tostring(k), len, opts.n), 2)
        end
      elseif n and len ~= n then
        error(format("from_table: column '%s' has %d values, others %d (a Lua list cannot end in nil: "
          .. "give n = the number of rows to read the missing tail as missing values)", tostring(k),
          len, n), 2)
      else
        n = len
      end
    end
    n = opts.n or n
  end
  n = n or 0
  if opts.columns then names = opts.columns end
  local dtype = opts.dtype or {}
  local full = {}
  local dtypes = {}
  for _, k in ipairs(names) do
    if type(k) ~= "string" then error("from_table: column names must be strings, got " .. type(k), 2) end
    local kind = dtype[k] and csv.DTYPE_ALIASES[dtype[k]]
    if dtype[k] and not kind then error(format("from_table: unknown dtype '%s'", tostring(dtype[k])), 2) end
    full[k] = column.from_values(cols[k] or {}, n, kind, "from_table: column '" .. k .. "'", 2)
    dtypes[k] = full[k].kind
  end
  local np = opts.npartitions or 1
  if type(np) ~= "number" or np < 1 or np % 1 ~= 0 then error("from_table: npartitions must be a positive integer", 2) end
  local per = ceil(n / np)
  local name = "from_table-" .. tokenize.tokenize(tostring(t), n, np, names, tostring({}))
  local layer = {}
  local idxnd = require("ldask.array.ndarray")
  for p = 0, np - 1 do
    local lo, hi = p * per, min(n, (p + 1) * per)
    if hi < lo then hi = lo end
    local k = hi - lo
    local idx = column.alloc(k, "int64")
    local ip = column.ptr(idx, require("ffi").typeof("int64_t *"))
    for i = 0, k - 1 do ip[i] = lo + i end
    local pc = {}
    for _, c in ipairs(names) do pc[c] = column.take(full[c], idx, k) end
    layer[key(name, p)] = quote(frame.new(names, pc, k))
  end
  return from_layer("frame", name, np, { names = names, dtypes = dtypes }, { [name] = layer })
end

-- ------------------------------------------------------------------------
-- Scalars (the lazy result of a reduction)

-- DTYPE: the value's kind when known (a reduction's), so that the scalar
-- can be an operand of series arithmetic (df.x - df.x:mean()).
local function scalar(name, layers, dtype)
  return setmetatable({ _key = name, _layers = layers, _dtype = dtype }, core.Scalar)
end

-- The dtype of reduction AGG over a series of dtype DT.
local function reduced_dtype(agg, dt)
  if agg == "count" then return "int64" end
  if agg == "min" or agg == "max" then return dt == "bool" and "bool" or dt end
  if agg == "sum" and (dt == "int64" or dt == "bool") then return "int64" end
  return "float64"
end
core.Scalar.__index = scm
core.Scalar.__tostring = function(s) return "ldask.dataframe.Scalar<" .. s._key .. ">" end
function scm.__ldask_layers(s) return s._layers end
function scm.__ldask_graph(s) return graph.flatten_layers(s._layers) end
function scm.__ldask_keys(s) return s._key end
function scm.__ldask_postcompute() return nil end
function scm.__ldask_tokenize(s) return "dfscalar:" .. s._key end
function scm.compute(s, opts)
  if opts then return (base.compute(s, opts)) end
  return (base.compute(s))
end

local aca = groupby.aca

local REDUCTIONS = { "sum", "mean", "count", "min", "max", "std", "var" }
local NUMERIC = groupby.NUMERIC

local function reduce(s, agg, opts, level)
  opts = opts or {}
  local dt = s._meta.dtype
  if agg ~= "count" and not NUMERIC[dt] then
    error(format("%s: not supported on a %s series", agg, tostring(dt)), level + 1)
  end
  if dt == "datetime64[ns]" and agg ~= "count" and agg ~= "min" and agg ~= "max" then
    error(format("%s: not supported on datetimes (min, max and count are)", agg), level + 1)
  end
  local vname = "v"
  local spec = { values = { [vname] = s._e }, aggs = { [vname] = { agg } }, size = false }
  local fspec = { outputs = { { "r", vname, agg } }, kinds = { [vname] = dt }, scalar = true, ddof = opts.ddof }
  local layers, fks = aca(s, { v = s._e }, spec, fspec, opts.split_every, "series-" .. agg)
  return scalar(fks[1], layers, reduced_dtype(agg, dt))
end

for _, agg in ipairs(REDUCTIONS) do
  sm[agg] = function(s, opts)
    if opts ~= nil and type(opts) ~= "table" then
      if agg == "std" or agg == "var" then opts = { ddof = opts }
      else error(agg .. ": options must be a table {split_every =}", 2) end
    end
    return reduce(s, agg, opts, 2)
  end
end

--- df:sum() and the other reductions of a DataFrame: a Series per column.
-- @function DataFrame:sum
for _, agg in ipairs(REDUCTIONS) do
  dfm[agg] = function(df, opts)
    local out = {}
    local r = {}
    for _, n in ipairs(df._meta.names) do
      local dt = df._meta.dtypes[n]
      if agg == "count" or (NUMERIC[dt] and dt ~= "datetime64[ns]") then
        r[#r + 1] = n
        out[#out + 1] = reduce(df[n], agg, opts, 2)
      end
    end
    local vals = { base.compute(unpack(out)) }
    local names, values = {}, {}
    for i, n in ipairs(r) do names[i] = n; values[i] = vals[i] end
    local kind = agg == "count" and "int64" or "float64"
    return frame.series(nil, column.from_values(values, #values, kind, agg),
      column.from_values(names, #names, "string", agg))
  end
end

-- ------------------------------------------------------------------------
-- head, len, persist

local function partition_keys(c)
  local own = core.own_layer(c)
  return own.name
end

--- df:head(n): the first N rows (5), computing only the partitions needed.
-- @function DataFrame:head
local function head(c, n, opts)
  n = n or 5
  if type(n) ~= "number" or n < 0 then error("head: n must be a non-negative number", 3) end
  local layers = core.layers_of(c)
  local name = partition_keys(c)
  local g = graph.flatten_layers(layers)
  local parts, got = {}, 0
  for i = 0, c.npartitions - 1 do
    local p = base.get(g, key(name, i), opts)
    parts[#parts + 1] = p
    got = got + (frame.is_frame(p) and p._n or p._col.n)
    if got >= n then break end
  end
  local r = kernels.concat(parts)
  return r:head(n)
end
dfm.head = head
sm.head = head

--- df:len(): the number of rows (computed; reads no column of a CSV).
-- @function DataFrame:len
local function len(c, opts)
  local own = core.own_layer(c)
  local wants, inputs, slots = core.plan_tasks({ root = c._e }, { root = {} })
  local spec = quote({ root = c._e, wants = wants, slots = slots })
  local name = "len-" .. own.name
  local layer = {}
  local total = { function(...)
    local s = 0
    for i = 1, select("#", ...) do s = s + select(i, ...) end
    return s
  end }
  for i = 0, c.npartitions - 1 do
    local t = { kernels.partition_len, spec, i }
    for _, a in ipairs(core.input_args(inputs, i)) do t[#t + 1] = a end
    layer[key(name, i)] = t
    total[#total + 1] = key(name, i)
  end
  layer[name] = total
  local layers = core.merge_layers(c._layers)
  layers[name .. "-parts"] = layer
  return base.get(graph.flatten_layers(layers), name, opts)
end
dfm.len = len
sm.len = len

--- df:get_partition(i): partition I (0-based) as a one-partition collection.
-- @function DataFrame:get_partition
local function get_partition(c, i)
  if type(i) ~= "number" or i % 1 ~= 0 or i < 0 or i >= c.npartitions then
    error(format("get_partition: index %s out of range (0..%d)", tostring(i), c.npartitions - 1), 2)
  end
  local own = core.own_layer(c)
  local name = "get_partition-" .. tokenize.tokenize(own.name, i)
  local layers = core.layers_of(c)
  layers[name] = { [key(name, 0)] = { kernels.identity, key(own.name, i) } }
  return from_layer(is_df(c) and "frame" or "series", name, 1, c._meta, layers)
end
dfm.get_partition = get_partition
sm.get_partition = get_partition

--- df:to_delayed(): one ldask.delayed value per partition (a list), each
-- computing to that in-memory partition.
-- @function DataFrame:to_delayed
-- @return a list of Delayed values
local function to_delayed(c)
  local delayed = require "ldask.delayed"
  local out = {}
  for i = 0, c.npartitions - 1 do out[i + 1] = delayed.from_collection(get_partition(c, i)) end
  return out
end
dfm.to_delayed = to_delayed
sm.to_delayed = to_delayed

--- concat(list): the rows of the DataFrames (or Series) of LIST one after
-- another, as dask's dd.concat along rows: the partitions of each in turn.
-- They must have the same columns and dtypes (astype or assign first).
-- @param list a list of DataFrames or of Series
-- @return a DataFrame (or Series) of the sum of their partitions
function M.concat(list)
  if type(list) ~= "table" or getmetatable(list) ~= nil or #list == 0 then
    error("concat: expected a non-empty list of DataFrames or Series, got " .. type(list), 2)
  end
  local function sig(c)
    if is_series(c) then return "a series of " .. tostring(c._meta.dtype) end
    local parts = {}
    for i, n in ipairs(c._meta.names) do parts[i] = n .. ": " .. c._meta.dtypes[n] end
    return "columns " .. concat(parts, ", ")
  end
  local first = list[1]
  local want
  local names, all, n = {}, {}, 0
  for j, c in ipairs(list) do
    if not (is_df(c) or is_series(c)) then
      error(format("concat: item %d is a %s, not a DataFrame or Series", j, type(c)), 2)
    end
    want = want or sig(c)
    if sig(c) ~= want then
      error(format("concat: item %d has %s; item 1 has %s (give them the same columns and dtypes first)", j,
        sig(c), want), 2)
    end
    names[j] = core.own_layer(c).name
    for k, l in pairs(core.layers_of(c)) do all[k] = l end
  end
  local name = "concat-" .. tokenize.tokenize(concat(names, "|"))
  local layer = {}
  for j, c in ipairs(list) do
    for i = 0, c.npartitions - 1 do
      layer[key(name, n)] = { kernels.identity, key(names[j], i) }
      n = n + 1
    end
  end
  all[name] = layer
  return from_layer(is_df(first) and "frame" or "series", name, n, first._meta, all)
end

--- merge(left, right, opts): a database-style join of two DataFrames (as
-- `left:merge(right, opts)`; see DataFrame:merge).
function M.merge(left, right, opts)
  local r = merge.merge(left, right, opts, 2)
  return r
end

--- read_json(urlpath, opts): a DataFrame of JSON-lines files (an object
-- per line), tokenized by ldask.bag's JSON path (core/io/jsontape.c).
-- OPTS: blocksize, compression, columns, dtype, parse_dates.
function M.read_json(urlpath, opts)
  local r = io_.read_json(urlpath, opts, 2)
  return r
end

--- from_bag(b, opts): a DataFrame of a bag of records (dicts, or lists
-- named by `columns`). OPTS: columns, dtype, parse_dates.
function M.from_bag(b, opts)
  local r = io_.from_bag(b, opts, 2)
  return r
end

--- from_array(a, opts): a DataFrame of a 2-d ldask.array (OPTS.columns)
-- or a Series of a 1-d one (OPTS.name), a partition per row block.
function M.from_array(a, opts)
  local r = io_.from_array(a, opts, 2)
  return r
end

--- ldask.dataframe.len(x): the number of rows of a collection or an in-memory frame.
function M.len(x)
  if frame.is_frame(x) then return x._n end
  if frame.is_series(x) then return x._col.n end
  if is_df(x) or is_series(x) then return len(x) end
  error("len: expected a DataFrame, a Series or a Frame", 2)
end


local GroupBy, gbm = groupby.GroupBy, groupby.methods
M.GroupBy = GroupBy
M.Aggregation = groupby.Aggregation

-- ------------------------------------------------------------------------
-- to_array

--- s:to_array(): the series as a 1-d ldask.array (numeric kinds; missing
-- ints become NaN), one block per partition; the partition lengths are
-- computed first (dask's to_dask_array(lengths=True)). The blocks are the
-- column's ndarrays as they are: the array kernels work on them directly.
-- @function Series:to_array
function sm.to_array(s, opts)
  local dt = s._meta.dtype
  if dt == "string" then error("to_array: a string series has no array form", 2) end
  require "ldask.array"
  local acore = require "ldask.array.core"
  local lengths = {}
  do
    local wants, inputs, slots = core.plan_tasks({ root = s._e }, { root = true })
    local spec = quote({ root = s._e, wants = wants, slots = slots })
    local name = "lengths-" .. core.own_layer(s).name
    local layer, keys = {}, {}
    for i = 0, s.npartitions - 1 do
      local t = { kernels.partition_len, spec, i }
      for _, a in ipairs(core.input_args(inputs, i)) do t[#t + 1] = a end
      keys[i + 1] = key(name, i)
      layer[keys[i + 1]] = t
    end
    local layers = core.merge_layers(s._layers)
    layers[name] = layer
    lengths = base.get(graph.flatten_layers(layers), keys, opts)
  end
  local own = core.own_layer(s)
  local name = "to_array-" .. own.name
  local layer = {}
  for i = 0, s.npartitions - 1 do layer[key(name, i)] = { kernels.series_ndarray, key(own.name, i) } end
  local kind = (dt == "datetime64[ns]") and "int64" or dt
  return acore.new(name, layer, { lengths }, kind, { { layers = core.layers_of(s) } })
end

-- ------------------------------------------------------------------------
-- value_counts, nunique

-- A groupby of series S on itself (value_counts, nunique).
local function self_groupby(s)
  return setmetatable({ _df = s, _by = s._e, _by_name = nil, _by_layers = nil,
    _opts = { sort = true } }, GroupBy)
end

-- One more task FN on the single partition of collection C: a collection of
-- KIND and META (or a Scalar when KIND is "scalar").
local function then_task(c, fn, kind, meta, prefix)
  local own = core.own_layer(c)
  local name = prefix .. "-" .. tokenize.tokenize(own.name, prefix)
  local layers = core.layers_of(c)
  layers[name] = { [key(name, 0)] = { fn, key(own.name, 0) } }
  if kind == "scalar" then return scalar(key(name, 0), layers) end
  return from_layer(kind, name, 1, meta, layers)
end

--- s:value_counts(): rows per distinct value, most frequent first (ties
-- in value order); missing values are not counted.
-- @function Series:value_counts
function sm.value_counts(s)
  local sizes = gbm.size(self_groupby(s))
  local named = sizes:rename(s._meta.name)
  return then_task(named, aggregate.sort_counts, "series", { name = s._meta.name, dtype = "int64" }, "value_counts")
end

--- s:unique(): the distinct values (missing values left out), sorted
-- (pandas keeps first-seen order); one partition.
-- @function Series:unique
function sm.unique(s)
  local named = gbm.size(self_groupby(s)):rename(s._meta.name)
  return then_task(named, require("ldask.dataframe.elementwise").index_as_series, "series",
    { name = s._meta.name, dtype = s._meta.dtype }, "unique")
end

--- s:nunique(): the number of distinct values (missing values not counted); a Scalar.
-- @function Series:nunique
function sm.nunique(s)
  local sizes = gbm.size(self_groupby(s))
  return then_task(sizes, aggregate.count_rows, "scalar", nil, "nunique")
end

return M
