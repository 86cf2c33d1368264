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
local hashpart = require "ldask.dataframe.hashpart"
local custom = require "ldask.dataframe.custom"
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
-- collection C (and extra series). FNS: the task functions {chunk, combine,
-- finalize} (aggregate's by default). SPLIT_OUT > 1: each chunk's partial
-- is hash-partitioned by key into SPLIT_OUT pieces (dask's split_out), each
-- piece reduced by its own tree into output partition j. Returns layers,
-- the final keys (a list) and the layer name.
local join_results -- (below)

local function aca(c, roots, spec, fspec, split_every, prefix, extra_layers, fns, split_out)
  split_every = split_every or 8
  split_out = split_out or 1
  fns = fns or aggregate
  if type(split_every) ~= "number" or split_every < 2 then error("split_every must be a number >= 2", 3) end
  if type(split_out) ~= "number" or split_out < 1 or split_out % 1 ~= 0 then
    error("split_out must be a positive integer", 3)
  end
  local need = {}
  for k in pairs(roots) do need[k] = true end
  local wants, inputs, slots = core.plan_tasks(roots, need)
  spec.wants, spec.slots = wants, slots
  local sig = tokenize.tokenize(prefix, tostring(c._e.id), spec.aggs, spec.size, fspec.outputs, split_every,
    split_out, tostring(spec.by and spec.by.id), tostring({}))
  local name = prefix .. "-" .. sig
  local qspec = quote(spec)
  local layers = core.merge_layers(c._layers, extra_layers)
  local chunk = {}
  local levels = {}
  for j = 1, split_out do levels[j] = {} end
  for i = 0, c.npartitions - 1 do
    local t = split_out > 1 and { aggregate.chunk_split, split_out, fns.kind or "builtin", qspec, i }
      or { fns.chunk, qspec, i }
    for _, a in ipairs(core.input_args(inputs, i)) do t[#t + 1] = a end
    local k = key(name .. "-chunk", i)
    chunk[k] = t
    if split_out > 1 then
      local picks = layers[name .. "-pick"] or {}
      layers[name .. "-pick"] = picks
      for j = 1, split_out do
        local pk = key(name .. "-pick", i * split_out + j - 1)
        picks[pk] = { hashpart.pick, k, j }
        levels[j][#levels[j] + 1] = pk
      end
    else
      levels[1][#levels[1] + 1] = k
    end
  end
  layers[name .. "-chunk"] = chunk
  local final, out = {}, {}
  for j = 1, split_out do
    local level = levels[j]
    local depth = 0
    while #level > split_every do
      depth = depth + 1
      local lname = name .. "-combine-" .. depth .. (split_out > 1 and ("-" .. j) or "")
      local l = layers[lname] or {}
      local nxt = {}
      for q0 = 1, #level, split_every do
        local t = { fns.combine }
        if fns.kind == "custom" then t[2] = qspec end
        for q = q0, min(q0 + split_every - 1, #level) do t[#t + 1] = level[q] end
        local k = key(lname, #nxt)
        l[k] = t
        nxt[#nxt + 1] = k
      end
      layers[lname] = l
      level = nxt
    end
    local t = { fns.finalize, quote(fspec) }
    for _, k in ipairs(level) do t[#t + 1] = k end
    local fk = key(name, j - 1)
    final[fk] = t
    out[j] = fk
  end
  layers[name] = final
  return layers, out, name
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
  local layers, fks = aca(s, { v = s._e }, spec, fspec, opts.split_every, "series-" .. agg)
  return scalar(fks[1], layers)
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
  local by_e, by_name, by_layers, by_kind
  if opts ~= nil and type(opts) ~= "table" then error("groupby: options must be a table {sort =, split_every =, split_out =}", 2) end
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
    by_e, by_name, by_layers, by_kind = key_of(by)
  end
  local so = opts and opts.split_out
  if so ~= nil and (type(so) ~= "number" or so < 1 or so % 1 ~= 0) then
    error("groupby: split_out must be a positive integer, got " .. tostring(so), 2)
  end
  return setmetatable({ _df = df, _by = by_e, _by_name = by_name, _by_layers = by_layers, _by_kind = by_kind,
    _opts = opts or {}, _cols = nil }, GroupBy)
end

-- A copy of groupby G with the fields of T replaced.
local function regroup(g, t)
  local out = {}
  for _, f in ipairs({ "_df", "_by", "_by_name", "_by_layers", "_by_kind", "_opts", "_cols", "_series", "_ddof" }) do
    out[f] = rawget(g, f)
  end
  for k, v in pairs(t) do out[k] = v end
  return setmetatable(out, GroupBy)
end

GroupBy.__index = function(g, k)
  local m = gbm[k]
  if m then return m end
  if type(k) == "string" and k:sub(1, 1) == "_" then return nil end
  local df = rawget(g, "_df")
  if type(k) == "string" and df._meta.dtypes[k] then
    return regroup(g, { _cols = { k }, _series = true })
  end
  if type(k) == "table" then
    return regroup(g, { _cols = k, _series = false })
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
  local split_out = g._opts.split_out or 1
  local layers, _, name = aca(df, roots, spec, fspec, g._opts.split_every, "groupby", g._by_layers, nil, split_out)
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
  return from_layer(as_series and "series" or "frame", name, split_out, meta, layers)
end

for _, agg in ipairs({ "sum", "mean", "count", "min", "max", "std", "var", "first", "last" }) do
  gbm[agg] = function(g, ddof)
    if (agg == "std" or agg == "var") and ddof ~= nil then
      g = regroup(g, { _ddof = ddof })
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

-- A frame of the columns ORDER joined partition by partition from PARTS
-- ({collection, labels}...: groupby results of one frame and key, whose
-- partitions hold the same keys in the same order).
join_results = function(parts, order)
  local names, layers, dtypes = {}, {}, {}
  for i, p in ipairs(parts) do
    local own = core.own_layer(p[1])
    names[i] = own.name
    layers = core.merge_layers(layers, core.layers_of(p[1]))
    local meta = p[1]._meta
    for _, l in ipairs(p[2]) do dtypes[l] = meta.dtypes and meta.dtypes[l] or meta.dtype end
  end
  local name = "groupby-join-" .. tokenize.tokenize(names, order)
  local layer = {}
  local np = parts[1][1].npartitions
  for j = 0, np - 1 do
    local t = { custom.join, quote(order) }
    for i = 1, #parts do t[#t + 1] = key(names[i], j) end
    layer[key(name, j)] = t
  end
  layers[name] = layer
  return from_layer("frame", name, np, { names = order, dtypes = dtypes }, layers)
end

-- Runs the custom aggregations OUTPUTS ({label, column, Aggregation}) of G
-- (one key): a series (AS_SERIES) or a frame indexed by the key.
local function run_custom(g, outputs, as_series, level)
  local df = g._df
  if type(g._by) == "table" and g._by.multi then
    error("groupby: a custom Aggregation needs a single key (a column or a series)", level + 1)
  end
  local values, roots, plain = {}, { by = g._by }, {}
  local dtypes, names = {}, {}
  for o, out in ipairs(outputs) do
    local cname = out[2]
    if not df._meta.dtypes[cname] then error(format("groupby: no column '%s'", tostring(cname)), level + 1) end
    if not values[cname] then
      values[cname] = node({ op = "col", a = df._e, name = cname })
      roots["v:" .. cname] = values[cname]
    end
    local a = out[3]
    plain[o] = { out[1], cname, { name = a.name, chunk = a.chunk, agg = a.agg, finalize = a.finalize } }
    names[o] = out[1]
    dtypes[out[1]] = a.dtype or df._meta.dtypes[cname]
  end
  local spec = { by = g._by, values = values, outputs = plain }
  local fspec = { spec = spec, series = as_series, index_name = g._by_name, sort = g._opts.sort }
  local split_out = g._opts.split_out or 1
  local layers, _, name = aca(df, roots, spec, fspec, g._opts.split_every, "groupby-custom", g._by_layers,
    custom.FNS, split_out)
  local meta = as_series and { name = names[1], dtype = dtypes[names[1]] } or { names = names, dtypes = dtypes }
  return from_layer(as_series and "series" or "frame", name, split_out, meta, layers)
end

--- Aggregation(name, chunk, agg, finalize): a custom groupby aggregation,
-- as dask's dd.Aggregation. `chunk(g)` gets a partition's values grouped
-- by key (`g:sum()`, `count`, `mean`, `min`, `max`, `var`, `std`, `first`,
-- `last`, `size`, `nunique`: in-memory series by key) and returns one or
-- more series; `agg(g1, ...)` gets them grouped again (concatenated over
-- partitions, at every level of the tree) and returns as many;
-- `finalize(s1, ...)` (optional with one output) makes the result.
-- @usage local dd = ldask.dataframe
-- local mean = dd.Aggregation("mean",
--   function(g) return g:count(), g:sum() end,
--   function(c, s) return c:sum(), s:sum() end,
--   function(c, s) return s / c end)
-- local df = dd.from_table({ k = { "a", "b", "a" }, v = { 1, 2, 4 } }, { npartitions = 2 })
-- print(df:groupby("k").v:agg(mean):compute():to_dict().a)   --> 2.5
function M.Aggregation(name, chunk, agg, finalize)
  local a = custom.new(name, chunk, agg, finalize, 2)
  return a
end

-- The number of distinct non-missing values of column C per group of G
-- (one key): the distinct (key, value) pairs by a groupby on both, counted
-- per key, aligned with every key of G (0 where a group has none).
local function nunique_of(g, c)
  local df = g._df
  if type(g._by) == "table" and g._by.multi then
    error("groupby.nunique: needs a single key (a column or a series)", 3)
  end
  local pairs_g = regroup(g, { _by = { multi = true, g._by, node({ op = "col", a = df._e, name = c }),
    kinds = { g._by_kind, df._meta.dtypes[c] } }, _by_name = { "key", "value" }, _cols = nil, _series = nil })
  local pairs_f = gbm.size(pairs_g)
  local counts = gbm.size(dfm.groupby(pairs_f, "key", { split_every = g._opts.split_every,
    split_out = g._opts.split_out }))
  local all = gbm.size(regroup(g, { _cols = nil, _series = nil }))
  local ca, cb = core.own_layer(all), core.own_layer(counts)
  local name = "nunique-" .. tokenize.tokenize(ca.name, cb.name, c)
  local layers = core.merge_layers(core.layers_of(all), core.layers_of(counts))
  local layer = {}
  for j = 0, all.npartitions - 1 do
    layer[key(name, j)] = { custom.align_counts, c, key(ca.name, j), key(cb.name, j) }
  end
  layers[name] = layer
  return from_layer("series", name, all.npartitions, { name = c, dtype = "int64" }, layers)
end

--- g:nunique(): the number of distinct non-missing values per group (a
-- series for a selected column, else a frame of every value column).
-- @function GroupBy:nunique
function gbm.nunique(g)
  local cols = value_cols(g)
  if #cols == 0 then error("groupby.nunique: no column to count", 2) end
  if g._series then
    local r = nunique_of(g, cols[1])
    return r
  end
  local parts = {}
  for i, c in ipairs(cols) do parts[i] = { nunique_of(g, c), { c } } end
  return join_results(parts, cols)
end

--- g:agg(spec): several aggregations. SPEC: "mean", {"mean", "max"} (on a
-- selected column: columns named by the aggregation) or {column = "mean" or
-- {"min", "max"}} (columns "column" or "column_min", ...).
-- @function GroupBy:agg
function gbm.agg(g, spec)
  local outputs = {}
  local is_agg = custom.is_aggregation
  if type(spec) == "string" then return gbm[spec] and gbm[spec](g) or error("agg: unknown aggregation " .. spec, 2) end
  if is_agg(spec) then
    for _, c in ipairs(value_cols(g)) do outputs[#outputs + 1] = { c, c, spec } end
    if g._series then
      local r = run_custom(g, outputs, true, 2)
      return r
    end
  elseif type(spec) ~= "table" then
    error("agg: expected a name, an Aggregation, a list of them or {column = names}", 2)
  elseif #spec > 0 then
    local vc = value_cols(g)
    for _, c in ipairs(vc) do
      for _, a in ipairs(spec) do
        local an = is_agg(a) and a.name or a
        outputs[#outputs + 1] = { (#vc == 1) and an or (c .. "_" .. an), c, a }
      end
    end
  else
    local cols = {}
    for c in pairs(spec) do cols[#cols + 1] = c end
    table.sort(cols)
    for _, c in ipairs(cols) do
      local a = spec[c]
      if type(a) == "string" or is_agg(a) then outputs[#outputs + 1] = { c, c, a }
      elseif type(a) == "table" then
        for _, x in ipairs(a) do outputs[#outputs + 1] = { c .. "_" .. (is_agg(x) and x.name or x), c, x } end
      else error(format("agg: bad aggregation for column '%s'", tostring(c)), 2) end
    end
  end
  -- built-in statistics in one pass; custom ones and nunique beside, joined by key
  local builtin, customs, parts, order = {}, {}, {}, {}
  for i, o in ipairs(outputs) do
    order[i] = o[1]
    if is_agg(o[3]) then customs[#customs + 1] = o
    elseif o[3] == "nunique" then
      local r = nunique_of(g, o[2])
      parts[#parts + 1] = { r:rename(o[1]), { o[1] } }
    else builtin[#builtin + 1] = o end
  end
  if #customs == 0 and #parts == 0 then
    local r = run_agg(g, outputs, false, 2)
    return r
  end
  if #builtin > 0 then
    local labels = {}
    for i, o in ipairs(builtin) do labels[i] = o[1] end
    table.insert(parts, 1, { run_agg(g, builtin, false, 2), labels })
  end
  if #customs > 0 then
    local labels = {}
    for i, o in ipairs(customs) do labels[i] = o[1] end
    parts[#parts + 1] = { run_custom(g, customs, false, 2), labels }
  end
  if #parts == 1 and #builtin == 0 and #customs > 0 then return parts[1][1] end
  return join_results(parts, order)
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
