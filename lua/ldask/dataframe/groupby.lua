--- ldask.dataframe.groupby: apply-concat-apply graphs (reductions and
-- groupby: chunk per partition, a tree of combines split_every wide, a
-- finalize; split_out hash-partitions the chunks' partials into output
-- partitions) and the GroupBy object: built-in aggregations, nunique,
-- custom Aggregations and agg{} mixing them (results joined by key).
-- @submodule ldask.dataframe
local graph = require "ldask.graph"
local core = require "ldask.dataframe.core"
local aggregate = require "ldask.dataframe.aggregate"
local hashpart = require "ldask.dataframe.hashpart"
local custom = require "ldask.dataframe.custom"
local tokenize = require "ldask.tokenize"

local type, error, tostring, ipairs, pairs, setmetatable, rawget =
  type, error, tostring, ipairs, pairs, setmetatable, rawget
local format, concat, min = string.format, table.concat, math.min
local key, quote = graph.key, graph.quote
local node, dfm = core.node, core.df_methods
local is_series = core.is_series
local from_layer = core.from_layer

local M = {}
M.NUMERIC = { float64 = true, int64 = true, bool = true, ["datetime64[ns]"] = true }
local NUMERIC = M.NUMERIC

-- ------------------------------------------------------------------------
-- Apply-concat-apply

-- Layers computing FINAL from per-partition chunk tasks of SPEC over
-- collection C (and extra series). FNS: the task functions {chunk, combine,
-- finalize} (aggregate's by default). SPLIT_OUT > 1: each chunk's partial
-- is hash-partitioned by key into SPLIT_OUT pieces (dask's split_out), each
-- piece reduced by its own tree into output partition j. Returns layers,
-- the final keys (a list) and the layer name.
local join_results -- (below)
local aca

aca = function(c, roots, spec, fspec, split_every, prefix, extra_layers, fns, split_out)
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

-- ------------------------------------------------------------------------
-- groupby

local GroupBy = { __name = "ldask.dataframe.GroupBy" }
local gbm = {}
M.GroupBy, M.methods = GroupBy, gbm

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

GroupBy.__tostring = function(g)
  local bn = rawget(g, "_by_name")
  if type(bn) == "table" then bn = table.concat(bn, ", ") end
  local cols = rawget(g, "_cols")
  local sel = cols and ((rawget(g, "_series") and "." or "") .. table.concat(cols, ", ")) or ""
  return format("ldask.dataframe.GroupBy<by=%s%s, npartitions=%d>", tostring(bn or "?"),
    sel ~= "" and (", selected " .. sel) or "", rawget(g, "_df").npartitions)
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
  if multi then
    as_series = false
    local taken = {}
    for _, kn in ipairs(g._by_name) do
      if taken[kn] then error(format("groupby: two keys named '%s' (rename one: s:rename(\"other\"))", kn), level + 1) end
      taken[kn] = true
    end
    for _, o in ipairs(outputs) do
      if taken[o[1]] then
        error(format("groupby: the key '%s' and a result column share a name (rename the key series: "
          .. "s:rename(\"%s_key\"))", o[1], o[1]), level + 1)
      end
    end
  end
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
    local r = run_agg(g, outputs, g._series == true, 2)
    return r
  end
end

--- g:size(): rows per group (a Series).
-- @function GroupBy:size
function gbm.size(g)
  local r = run_agg(g, { { "size", nil, "size" } }, true, 2)
  return r
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
  local multi = type(g._by) == "table" and g._by.multi
  local values, roots, plain = {}, {}, {}
  if multi then
    for j, e in ipairs(g._by) do roots["by" .. j] = e end
    as_series = false
  else
    roots.by = g._by
  end
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
  local fspec = { spec = spec, series = as_series, index_name = not multi and g._by_name or nil, sort = g._opts.sort,
    key_names = multi and g._by_name or nil }
  local split_out = g._opts.split_out or 1
  local layers, _, name = aca(df, roots, spec, fspec, g._opts.split_every, "groupby-custom", g._by_layers,
    custom.FNS, split_out)
  if multi then
    for j = #g._by_name, 1, -1 do
      local kn = g._by_name[j]
      if dtypes[kn] then error(format("groupby: the key '%s' and a result column share a name", kn), level + 1) end
      table.insert(names, 1, kn)
      dtypes[kn] = g._by.kinds[j]
    end
  end
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
  local multi = type(g._by) == "table" and g._by.multi
  local by, kinds, names, knames = {}, {}, {}, {}
  if multi then
    for j, e in ipairs(g._by) do by[j], kinds[j], names[j], knames[j] = e, g._by.kinds[j], "|k" .. j, g._by_name[j] end
  else
    by[1], kinds[1], names[1] = g._by, g._by_kind, "|k1"
  end
  local nk = #by
  by[nk + 1], kinds[nk + 1], names[nk + 1] = node({ op = "col", a = df._e, name = c }), df._meta.dtypes[c], "|v"
  by.multi, by.kinds = true, kinds
  local pairs_g = regroup(g, { _by = by, _by_name = names, _cols = nil, _series = nil })
  local pairs_f = gbm.size(pairs_g)
  local kcols = {}
  for j = 1, nk do kcols[j] = names[j] end
  local counts = gbm.size(dfm.groupby(pairs_f, nk == 1 and kcols[1] or kcols,
    { split_every = g._opts.split_every, split_out = g._opts.split_out }))
  local all = gbm.size(regroup(g, { _cols = nil, _series = nil }))
  local ca, cb = core.own_layer(all), core.own_layer(counts)
  local name = "nunique-" .. tokenize.tokenize(ca.name, cb.name, c)
  local layers = core.merge_layers(core.layers_of(all), core.layers_of(counts))
  local layer = {}
  for j = 0, all.npartitions - 1 do
    layer[key(name, j)] = { custom.align_counts, c, quote(multi and knames or false), key(ca.name, j), key(cb.name, j) }
  end
  layers[name] = layer
  if multi then
    local mnames, dtypes = {}, {}
    for j = 1, nk do mnames[j] = knames[j]; dtypes[knames[j]] = kinds[j] end
    mnames[nk + 1], dtypes[c] = c, "int64"
    return from_layer("frame", name, all.npartitions, { names = mnames, dtypes = dtypes }, layers)
  end
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
  local parts, order = {}, {}
  local keys = (type(g._by) == "table" and g._by.multi) and g._by_name or {}
  for j, k in ipairs(keys) do order[j] = k end
  for i, c in ipairs(cols) do
    order[#order + 1] = c
    local labels = { c }
    if i == 1 then for j, k in ipairs(keys) do table.insert(labels, j, k) end end
    parts[i] = { nunique_of(g, c), labels }
  end
  if #parts == 1 and #keys > 0 then return parts[1][1] end
  local r = join_results(parts, order)
  return r
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
      if is_series(r) then r = r:rename(o[1]) else r = r:rename({ [o[2]] = o[1] }) end
      parts[#parts + 1] = { r, { o[1] } }
    else builtin[#builtin + 1] = o end
  end
  if #customs == 0 and #parts == 0 then
    local r = run_agg(g, outputs, false, 2)
    return r
  end
  local keys = (type(g._by) == "table" and g._by.multi) and g._by_name or {}
  if #keys > 0 then
    for j, k in ipairs(keys) do table.insert(order, j, k) end
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
  for j, k in ipairs(keys) do table.insert(parts[1][2], j, k) end -- (the keys from one part)
  if #parts == 1 and #builtin == 0 and #customs > 0 then return parts[1][1] end
  local r = join_results(parts, order)
  return r
end


M.aca = aca
M.value_cols = value_cols
return M
