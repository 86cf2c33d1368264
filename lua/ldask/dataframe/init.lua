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
local tokenize = require "ldask.tokenize"

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
-- `df:fillna(v)`, `df:dropna{subset =}`, `df:rename{old = new}`,
-- `df:drop{...}`, `df:head(n)`, `df:len()`, `df:map_partitions(fn, ...)`,
-- `df:groupby(by, opts)`, the reductions `df:sum()`, `mean`, `count`,
-- `min`, `max`, `std`, `var` (computed: a FrameSeries per column),
-- `df:compute(opts)` (a Frame). Fields: `df.columns`, `df.dtypes`,
-- `df.npartitions`.
-- @table DataFrame

--- The methods of a Series `s`: arithmetic `+ - * / % ^`, unary `-`, and
-- the methods `add`, `sub`, `mul`, `div`, `floordiv`, `mod`, `pow`; the
-- comparisons `eq`, `ne`, `lt`, `le`, `gt`, `ge`; `and_`, `or_`, `xor`,
-- `invert`, `abs`, `isna`, `notna`, `fillna`, `dropna`, `astype`, `rename`,
-- `filter` (`s[mask]`); `.dt` (year, month, day, hour, minute, second,
-- dayofweek, date, `floor(unit)`); the reductions `sum`, `mean`, `count`,
-- `min`, `max`, `std(ddof)`, `var(ddof)` (lazy Scalars: `:compute()`),
-- `value_counts`, `nunique`, `to_array`, `head`, `len`, `map_partitions`,
-- `compute`. Fields: `s.name`, `s.dtype`, `s.npartitions`.
-- @table Series

--- The methods of a groupby `g = df:groupby(by)`: `g.x` / `g["x"]` /
-- `g[{"x", "y"}]` select value columns; `sum`, `mean`, `count`, `min`,
-- `max`, `std(ddof)`, `var(ddof)`, `first`, `last`, `size`, `agg(spec)`.
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

-- A collection over computed partitions: layer NAME holds keys name,i.
local function from_layer(kind, name, nparts, meta, layers)
  local e = node({ op = "input", name = name, names = meta.names, single = nparts == 1 and nil })
  return core.new(kind, e, nparts, meta, layers)
end

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
    for _, c in ipairs(names) do pc[c] = column.take(full[c], ip, k) end
    layer[key(name, p)] = quote(frame.new(names, pc, k))
  end
  return from_layer("frame", name, np, { names = names, dtypes = dtypes }, { [name] = layer })
end

-- ------------------------------------------------------------------------
-- Scalars (the lazy result of a reduction)

local function scalar(name, layers)
  return setmetatable({ _key = name, _layers = layers }, core.Scalar)
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

-- ------------------------------------------------------------------------
-- Apply-concat-apply

-- Layers computing FINAL from per-partition chunk tasks of SPEC over
-- collection C (and extra series). Returns layers, final key.
local function aca(c, roots, spec, fspec, split_every, prefix, extra_layers)
  split_every = split_every or 8
  if type(split_every) ~= "number" or split_every < 2 then error("split_every must be a number >= 2", 3) end
  local need = {}
  for k in pairs(roots) do need[k] = true end
  local wants, inputs, slots = core.plan_tasks(roots, need)
  spec.wants, spec.slots = wants, slots
  local sig = tokenize.tokenize(prefix, tostring(c._e.id), spec.aggs, spec.size, fspec.outputs, split_every,
    tostring(spec.by and spec.by.id), tostring({}))
  local name = prefix .. "-" .. sig
  local qspec = quote(spec)
  local layers = core.merge_layers(c._layers, extra_layers)
  local chunk = {}
  local level = {}
  for i = 0, c.npartitions - 1 do
    local t = { aggregate.chunk, qspec, i }
    for _, a in ipairs(core.input_args(inputs, i)) do t[#t + 1] = a end
    local k = key(name .. "-chunk", i)
    chunk[k] = t
    level[#level + 1] = k
  end
  layers[name .. "-chunk"] = chunk
  local depth = 0
  while #level > split_every do
    depth = depth + 1
    local lname = name .. "-combine-" .. depth
    local l, nxt = {}, {}
    for j = 1, #level, split_every do
      local t = { aggregate.combine }
      for q = j, min(j + split_every - 1, #level) do t[#t + 1] = level[q] end
      local k = key(lname, #nxt)
      l[k] = t
      nxt[#nxt + 1] = k
    end
    layers[lname] = l
    level = nxt
  end
  local t = { aggregate.finalize, quote(fspec) }
  for _, k in ipairs(level) do t[#t + 1] = k end
  local fk = key(name, 0)
  layers[name] = { [fk] = t }
  return layers, fk, name
end

local REDUCTIONS = { "sum", "mean", "count", "min", "max", "std", "var" }
local NUMERIC = { float64 = true, int64 = true, bool = true, ["datetime64[ns]"] = true }

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
  local layers, fk = aca(s, { v = s._e }, spec, fspec, opts.split_every, "series-" .. agg)
  return scalar(fk, layers)
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

--- ldask.dataframe.len(x): the number of rows of a collection or an in-memory frame.
function M.len(x)
  if frame.is_frame(x) then return x._n end
  if frame.is_series(x) then return x._col.n end
  if is_df(x) or is_series(x) then return len(x) end
  error("len: expected a DataFrame, a Series or a Frame", 2)
end


-- ------------------------------------------------------------------------
-- groupby

local GroupBy = { __name = "ldask.dataframe.GroupBy" }
local gbm = {}
M.GroupBy = GroupBy

--- df:groupby(by, opts): BY is a column name or a Series of the same frame
-- (e.g. df.timestamp.dt.day). OPTS: sort (true), split_every (8).
-- @function DataFrame:groupby
function dfm.groupby(df, by, opts)
  local function key_of(b)
    if type(b) == "string" then
      if not df._meta.dtypes[b] then
        error(format("groupby: no column '%s' (columns: %s)", b, concat(df._meta.names, ", ")), 3)
      end
      return node({ op = "col", a = df._e, name = b }), b, nil, df._meta.dtypes[b]
    elseif is_series(b) then
      if b.npartitions ~= df.npartitions then
        error("groupby: the key series must come from the same frame (same partitions)", 3)
      end
      return b._e, b._meta.name, b._layers, b._meta.dtype
    end
    error("groupby: expected a column name, a Series or a list of them, got " .. type(b), 3)
  end
  local by_e, by_name, by_layers
  if type(by) == "table" and not is_series(by) then
    if #by == 0 then error("groupby: an empty list of keys", 2) end
    by_e, by_name, by_layers = { multi = true }, {}, {}
    local kinds = {}
    for j, b in ipairs(by) do
      local e, nme, l, kind = key_of(b)
      by_e[j], by_name[j], kinds[j] = e, nme or ("key" .. j), kind
      by_e.kinds = kinds
      if l then by_layers = core.merge_layers(by_layers, l) end
    end
    if #by == 1 then by_e, by_name, by_layers = by_e[1], by_name[1], by_layers end
  else
    by_e, by_name, by_layers = key_of(by)
  end
  return setmetatable({ _df = df, _by = by_e, _by_name = by_name, _by_layers = by_layers,
    _opts = opts or {}, _cols = nil }, GroupBy)
end

GroupBy.__index = function(g, k)
  local m = gbm[k]
  if m then return m end
  if type(k) == "string" and k:sub(1, 1) == "_" then return nil end
  local df = rawget(g, "_df")
  if type(k) == "string" and df._meta.dtypes[k] then
    return setmetatable({ _df = df, _by = g._by, _by_name = g._by_name, _by_layers = g._by_layers,
      _opts = g._opts, _cols = { k }, _series = true }, GroupBy)
  end
  if type(k) == "table" then
    return setmetatable({ _df = df, _by = g._by, _by_name = g._by_name, _by_layers = g._by_layers,
      _opts = g._opts, _cols = k, _series = false }, GroupBy)
  end
  if type(k) == "string" and k:sub(1, 1) ~= "_" then
    error(format("groupby: no column or method '%s'", k), 2)
  end
  return nil
end

-- Value columns of G (all but the key by default).
local function value_cols(g)
  if g._cols then return g._cols end
  local keys = {}
  local bn = g._by_name
  if type(bn) == "table" then for _, n in ipairs(bn) do keys[n] = true end
  elseif type(bn) == "string" then keys[bn] = true end
  local out = {}
  for _, n in ipairs(g._df._meta.names) do
    if not keys[n] then out[#out + 1] = n end
  end
  return out
end

-- Runs the aggregations OUTPUTS ({label, column, agg}) of G.
local function run_agg(g, outputs, as_series, level)
  local df = g._df
  local values, aggs, kinds = {}, {}, {}
  local multi = type(g._by) == "table" and g._by.multi
  local roots = {}
  if multi then
    for j, e in ipairs(g._by) do roots["by" .. j] = e end
  else
    roots.by = g._by
  end
  if multi then as_series = false end
  local size = false
  for _, o in ipairs(outputs) do
    local cname, agg = o[2], o[3]
    if not aggregate.NEEDS[agg] then
      error(format("groupby: unknown aggregation '%s' (sum, mean, count, size, min, max, std, var, first, last)",
        tostring(agg)), level + 1)
    end
    if agg == "size" then size = true
    else
      local dt = df._meta.dtypes[cname]
      if not dt then error(format("groupby: no column '%s'", tostring(cname)), level + 1) end
      local any_kind = agg == "count" or agg == "first" or agg == "last"
      if not any_kind and (dt == "string" or (dt == "datetime64[ns]" and agg ~= "min" and agg ~= "max")) then
        error(format("groupby: %s of the %s column '%s' is not supported", agg, dt, cname), level + 1)
      end
      if not values[cname] then
        values[cname] = node({ op = "col", a = df._e, name = cname })
        roots["v:" .. cname] = values[cname]
        aggs[cname] = {}
      end
      aggs[cname][#aggs[cname] + 1] = agg
      kinds[cname] = dt
    end
  end
  local spec = { by = g._by, values = values, aggs = aggs, size = size }
  local fspec = { outputs = outputs, kinds = kinds, series = as_series, series_name = as_series and outputs[1][1],
    sort = g._opts.sort, ddof = g._ddof, index_name = not multi and g._by_name or nil,
    key_names = multi and g._by_name or nil }
  local layers, fk, name = aca(df, roots, spec, fspec, g._opts.split_every, "groupby", g._by_layers)
  local meta
  local out_kind = function(o)
    local agg, dt = o[3], kinds[o[2]]
    if agg == "count" or agg == "size" then return "int64" end
    if agg == "first" or agg == "last" then return dt end
    if agg == "mean" or agg == "var" or agg == "std" then return "float64" end
    if agg == "sum" then return dt == "float64" and "float64" or "int64" end
    return dt
  end
  if as_series then
    meta = { name = outputs[1][1], dtype = out_kind(outputs[1]) }
  else
    local names, dtypes = {}, {}
    if multi then
      for j, e in ipairs(g._by) do
        local kn = g._by_name[j]
        names[#names + 1] = kn
        dtypes[kn] = g._by.kinds[j]
      end
    end
    for _, o in ipairs(outputs) do names[#names + 1] = o[1]; dtypes[o[1]] = out_kind(o) end
    meta = { names = names, dtypes = dtypes }
  end
  return from_layer(as_series and "series" or "frame", name, 1, meta, layers)
end

for _, agg in ipairs({ "sum", "mean", "count", "min", "max", "std", "var", "first", "last" }) do
  gbm[agg] = function(g, ddof)
    if (agg == "std" or agg == "var") and ddof ~= nil then
      g = setmetatable({ _df = g._df, _by = g._by, _by_name = g._by_name, _by_layers = g._by_layers,
        _opts = g._opts, _cols = g._cols, _series = g._series, _ddof = ddof }, GroupBy)
    end
    local outputs = {}
    for _, c in ipairs(value_cols(g)) do
      local dt = g._df._meta.dtypes[c]
      if agg == "count" or agg == "first" or agg == "last"
        or (NUMERIC[dt] and (dt ~= "datetime64[ns]" or agg == "min" or agg == "max")) or g._series then
        outputs[#outputs + 1] = { c, c, agg }
      end
    end
    if #outputs == 0 then error(format("groupby.%s: no numeric column to aggregate", agg), 2) end
    return run_agg(g, outputs, g._series == true, 2)
  end
end

--- g:size(): rows per group (a Series).
-- @function GroupBy:size
function gbm.size(g)
  return run_agg(g, { { "size", nil, "size" } }, true, 2)
end

--- g:agg(spec): several aggregations. SPEC: "mean", {"mean", "max"} (on a
-- selected column: columns named by the aggregation) or {column = "mean" or
-- {"min", "max"}} (columns "column" or "column_min", ...).
-- @function GroupBy:agg
function gbm.agg(g, spec)
  local outputs = {}
  if type(spec) == "string" then return gbm[spec] and gbm[spec](g) or error("agg: unknown aggregation " .. spec, 2) end
  if type(spec) ~= "table" then error("agg: expected a name, a list of names or {column = names}", 2) end
  if #spec > 0 then
    for _, c in ipairs(value_cols(g)) do
      for _, a in ipairs(spec) do
        outputs[#outputs + 1] = { (#value_cols(g) == 1) and a or (c .. "_" .. a), c, a }
      end
    end
  else
    local cols = {}
    for c in pairs(spec) do cols[#cols + 1] = c end
    table.sort(cols)
    for _, c in ipairs(cols) do
      local a = spec[c]
      if type(a) == "string" then outputs[#outputs + 1] = { c, c, a }
      elseif type(a) == "table" then
        for _, x in ipairs(a) do outputs[#outputs + 1] = { c .. "_" .. x, c, x } end
      else error(format("agg: bad aggregation for column '%s'", tostring(c)), 2) end
    end
  end
  return run_agg(g, outputs, false, 2)
end

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

--- s:nunique(): the number of distinct values (missing values not counted); a Scalar.
-- @function Series:nunique
function sm.nunique(s)
  local sizes = gbm.size(self_groupby(s))
  return then_task(sizes, aggregate.count_rows, "scalar", nil, "nunique")
end

return M
