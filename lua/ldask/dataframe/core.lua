--- ldask.dataframe.core: the DataFrame and Series collections. A collection
-- is an expression tree of blockwise operations over leaves (CSV blocks or
-- computed partitions) plus the graph layers of those partitions. Building
-- the graph walks the tree once: the columns each CSV leaf must parse
-- (projection) are found from the root, and each partition becomes ONE task
-- evaluating the whole tree (kernels.partition). Reductions and groupby
-- add apply-concat-apply layers (aggregate.lua).
-- @submodule ldask.dataframe
local graph = require "ldask.graph"
local base = require "ldask.base"
local tokenize = require "ldask.tokenize"
local kernels = require "ldask.dataframe.kernels"
local frame = require "ldask.dataframe.frame"
local column = require "ldask.dataframe.column"

local type, error, tostring, ipairs, pairs, setmetatable, getmetatable, select, unpack, rawget =
  type, error, tostring, ipairs, pairs, setmetatable, getmetatable, select, unpack, rawget
local format, concat = string.format, table.concat
local key, quote = graph.key, graph.quote

local M = {}

local DataFrame = { __name = "ldask.dataframe.DataFrame" }
local Series = { __name = "ldask.dataframe.Series" }
local Scalar = { __name = "ldask.dataframe.Scalar" }
M.DataFrame, M.Series, M.Scalar = DataFrame, Series, Scalar
local dfm, sm, scm = {}, {}, {}
M.df_methods, M.series_methods, M.scalar_methods = dfm, sm, scm

local function is_df(x) return getmetatable(x) == DataFrame end
local function is_series(x) return getmetatable(x) == Series end
M.is_df, M.is_series = is_df, is_series

local ids = 0
local function node(t)
  ids = ids + 1
  t.id = ids
  return t
end
M.node = node

-- Signature of an expression (for graph names).
local function sig(e, seen)
  if type(e) ~= "table" then return tostring(e) end
  if e.op == nil then
    local parts = {}
    for i, v in ipairs(e) do parts[i] = sig(v, seen) end
    return "{" .. concat(parts, ",") .. "}"
  end
  if seen[e] then return seen[e] end
  local parts = { e.op }
  if e.op == "csv" then
    parts[#parts + 1] = e.plan.token
  elseif e.op == "input" then
    parts[#parts + 1] = e.name
  end
  for _, k in ipairs({ "fn", "name", "field", "kind", "unit", "sargs" }) do
    if e[k] ~= nil then parts[#parts + 1] = k .. "=" .. tostring(e[k]) end
  end
  for _, k in ipairs({ "a", "b", "mask", "names", "vals", "args" }) do
    if e[k] ~= nil then parts[#parts + 1] = k .. "=" .. sig(e[k], seen) end
  end
  local s = "(" .. concat(parts, " ") .. ")"
  seen[e] = tokenize.tokenize(s)
  return seen[e]
end

-- A collection of KIND ("frame" or "series") over expression E with
-- NPARTS partitions. META: {names = list, dtypes = {name = kind}} for a
-- frame; {name = name, dtype = kind} for a series. LAYERS: the graph
-- layers of the input leaves.
function M.new(kind, e, nparts, meta, layers)
  local mt = kind == "frame" and DataFrame or Series
  local obj = { _e = e, npartitions = nparts, _meta = meta, _layers = layers or {} }
  return setmetatable(obj, mt)
end

--- A collection over computed partitions: layer NAME holds keys name,i.
function M.from_layer(kind, name, nparts, meta, layers)
  local e = node({ op = "input", name = name, names = meta.names, single = nparts == 1 and nil })
  return M.new(kind, e, nparts, meta, layers)
end

local function merge_layers(...)
  local out = {}
  for i = 1, select("#", ...) do
    local l = select(i, ...)
    if l then for k, v in pairs(l) do out[k] = v end end
  end
  return out
end
M.merge_layers = merge_layers

-- Columns each leaf must produce: walks E with NEED (a set of column
-- names, or true = all) into WANTS[leaf.id] (set or true).
local function needs(e, need, wants, leaves)
  if type(e) ~= "table" or e.op == nil then return end
  local op = e.op
  if op == "csv" or op == "input" then
    leaves[e.id] = e
    local w = wants[e.id]
    if need == true or w == true then wants[e.id] = true
    else
      w = w or {}
      for c in pairs(need) do w[c] = true end
      wants[e.id] = w
    end
  elseif op == "col" then needs(e.a, { [e.name] = true }, wants, leaves)
  elseif op == "select" then
    local s = {}
    for _, n in ipairs(e.names) do if need == true or need[n] then s[n] = true end end
    needs(e.a, s, wants, leaves)
  elseif op == "filter" then
    needs(e.a, need, wants, leaves)
    needs(e.mask, true, wants, leaves)
  elseif op == "assign" then
    local s = need
    if need ~= true then
      s = {}
      for c in pairs(need) do s[c] = true end
      for _, n in ipairs(e.names) do s[n] = nil end
    end
    needs(e.a, s, wants, leaves)
    for _, v in ipairs(e.vals) do needs(v, true, wants, leaves) end
  elseif op == "map" then
    needs(e.a, true, wants, leaves)
    for i in pairs(e.lazy or {}) do needs(e.args[i], true, wants, leaves) end
  elseif op == "rename_cols" then
    local s = need
    if need ~= true then
      local back = {}
      for old, new in pairs(e.map) do back[new] = old end
      s = {}
      for c in pairs(need) do s[back[c] or c] = true end
    end
    needs(e.a, s, wants, leaves)
  elseif op == "fillna" and e.frame then
    needs(e.a, need, wants, leaves)
  elseif op == "dropna" and e.frame then
    if need ~= true and e.subset then
      local s = {}
      for c in pairs(need) do s[c] = true end
      for _, c in ipairs(e.subset) do s[c] = true end
      needs(e.a, s, wants, leaves)
    else
      needs(e.a, true, wants, leaves)
    end
  else -- series-valued nodes: bin, un, dt, astype, rename
    needs(e.a, true, wants, leaves)
    if e.b ~= nil then needs(e.b, true, wants, leaves) end
  end
end

-- The task spec and input keys of expression roots ROOTS (a table name ->
-- expr, all with NPARTS partitions) restricted to NEED per root.
function M.plan_tasks(roots, need)
  local wants, leaves = {}, {}
  for name, e in pairs(roots) do needs(e, need[name] or true, wants, leaves) end
  local wl = {}
  local inputs = {}
  for id, leaf in pairs(leaves) do
    local w = wants[id]
    if leaf.op == "csv" then
      local list = {}
      for _, c in ipairs(leaf.plan.names) do if w == true or w[c] then list[#list + 1] = c end end
      -- (columns outside the leaf's own selection are never read)
      if w == true then list = leaf.cols end
      wl[id] = list
    else
      if w ~= true and leaf.names then
        local list = {}
        for _, c in ipairs(leaf.names) do if w[c] then list[#list + 1] = c end end
        wl[id] = list
      end
      inputs[#inputs + 1] = leaf
    end
  end
  table.sort(inputs, function(a, b) return a.id < b.id end)
  local slots = {}
  for j, leaf in ipairs(inputs) do slots[leaf.id] = j end
  return wl, inputs, slots
end

-- Graph arguments (input partition keys) of partition I.
local function input_args(inputs, i)
  local args = {}
  for j, leaf in ipairs(inputs) do args[j] = key(leaf.name, leaf.single and 0 or i) end
  return args
end
M.input_args = input_args

-- The layer of partition tasks of collection C: name -> layer.
local function own_layer(c)
  if c._own then return c._own end
  local e = c._e
  local name = "df-" .. sig(e, {})
  local need = true
  if is_df(c) then
    need = {}
    for _, n in ipairs(c._meta.names) do need[n] = true end
  end
  local wants, inputs, slots = M.plan_tasks({ root = e }, { root = need })
  local spec = quote({ root = e, wants = wants, slots = slots })
  local layer = {}
  for i = 0, c.npartitions - 1 do
    local t = { kernels.partition, spec, i }
    for _, a in ipairs(input_args(inputs, i)) do t[#t + 1] = a end
    layer[key(name, i)] = t
  end
  c._own = { name = name, layer = layer }
  return c._own
end
M.own_layer = own_layer

local function layers_of(c)
  local own = own_layer(c)
  local out = merge_layers(c._layers)
  out[own.name] = own.layer
  return out
end
M.layers_of = layers_of

-- Collection protocol
local function proto(methods)
  methods.__ldask_layers = function(self)
    local l = layers_of(self)
    local own = own_layer(self)
    -- one extra task concatenates the partitions
    l[own.name .. "-concat"] = { [own.name .. "-concat"] = self:_concat_task(own.name) }
    return l
  end
  methods.__ldask_graph = function(self) return graph.flatten_layers(self:__ldask_layers()) end
  methods.__ldask_keys = function(self) return own_layer(self).name .. "-concat" end
  methods.__ldask_postcompute = function() return nil end
  methods._concat_task = function(self, name)
    local t = { kernels.concat_args }
    for i = 0, self.npartitions - 1 do t[#t + 1] = key(name, i) end
    return t
  end
  methods.compute = function(self, opts)
    if opts then return (base.compute(self, opts)) end
    return (base.compute(self))
  end
  methods.__ldask_tokenize = function(self) return "df:" .. own_layer(self).name end
  -- persist keeps the partitions (not the concatenated frame compute makes)
  methods.__ldask_persist_keys = function(self)
    local name, ks = own_layer(self).name, {}
    for i = 0, self.npartitions - 1 do ks[i + 1] = key(name, i) end
    return ks
  end
  methods.__ldask_postpersist = function(self)
    local kind = is_df(self) and "frame" or "series"
    local name, nparts, meta = own_layer(self).name, self.npartitions, self._meta
    return function(layer) return M.from_layer(kind, name, nparts, meta, { [name] = layer }) end
  end
  --- df:persist([opts]) / s:persist([opts]): computes the partitions now and
  -- returns a collection of the same columns and partitions over them:
  -- futures of data kept on the cluster when a client is open, else the
  -- partitions held in this process (ldask.persist).
  -- @function DataFrame:persist
  -- @param[opt] opts options of ldask.compute
  -- @return a DataFrame (a Series for s:persist)
  methods.persist = function(self, opts) return (base.persist_method(self, opts)) end
end
proto(dfm)
proto(sm)

-- A lazy single value as an operand: a dataframe Scalar (a reduction not
-- yet computed), a Future or a Delayed. Returns a one-partition input leaf
-- every partition's task reads (key name,0), the layers that make it, and
-- its dtype when known (a Scalar's); nil when V is none of these.
local function lazy_leaf(v)
  local mt = getmetatable(v)
  local k, layers, dtype, arg
  if mt == Scalar then
    k, layers, dtype = rawget(v, "_key"), rawget(v, "_layers"), rawget(v, "_dtype")
    arg = k
  elseif mt ~= nil and require("ldask.client.future").is_future(v) then
    k, layers, arg = v.key, {}, v
  elseif mt ~= nil and require("ldask.delayed").is_delayed(v) then
    k, layers = v:__ldask_keys(), v:__ldask_layers()
    arg = k
  else
    return nil
  end
  local name = "dfarg-" .. tokenize.tokenize("dfarg:" .. tostring(k))
  local l = merge_layers(layers, { [name] = { [key(name, 0)] = { kernels.identity, arg } } })
  return node({ op = "input", name = name, single = true }), l, dtype
end
M.lazy_leaf = lazy_leaf

-- The expression of a series operand, a lazy value's leaf, or the scalar.
local function arg_expr(v)
  if is_series(v) then return v._e end
  local leaf = lazy_leaf(v)
  if leaf then return leaf end
  return v
end

-- The graph layers operand V brings (a series' or a lazy value's), or nil.
local function operand_layers(v)
  if is_series(v) then return v._layers end
  local _, l = lazy_leaf(v)
  return l
end

local function check_same(a, b, what, level)
  if is_series(b) and b.npartitions ~= a.npartitions then
    error(format("%s: operands with %d and %d partitions (they must come from the same frame)", what,
      a.npartitions, b.npartitions), level + 1)
  end
end

local function series_of(c, e, name, dtype, extra_layers)
  return M.new("series", e, c.npartitions, { name = name, dtype = dtype }, merge_layers(c._layers, extra_layers))
end
M.series_of = series_of

-- ------------------------------------------------------------------------
-- Column access and lookup

local function column_series(df, name)
  local dt = df._meta.dtypes[name]
  return series_of(df, node({ op = "col", a = df._e, name = name }), name, dt)
end

local function select_cols(df, names, level)
  local dtypes = {}
  for i, n in ipairs(names) do
    if not df._meta.dtypes[n] then
      error(format("DataFrame: no column '%s' (columns: %s)", tostring(n), concat(df._meta.names, ", ")), level + 1)
    end
    dtypes[n] = df._meta.dtypes[n]
  end
  local copy = {}
  for i, n in ipairs(names) do copy[i] = n end
  return M.new("frame", node({ op = "select", a = df._e, names = copy }), df.npartitions,
    { names = copy, dtypes = dtypes, index = df._meta.index, index_kind = df._meta.index_kind }, df._layers)
end

function DataFrame.__index(df, k)
  local m = dfm[k]
  if m then return m end
  local meta = rawget(df, "_meta")
  if k == "columns" then
    local out = {}
    for i, n in ipairs(meta.names) do out[i] = n end
    return out
  end
  if k == "dtypes" then
    local out = {}
    for n, d in pairs(meta.dtypes) do out[n] = d end
    return out
  end
  if type(k) == "string" and meta.dtypes[k] then return column_series(df, k) end
  if k == "divisions" or k == "index" then return nil end -- (unknown: no set_index)
  if type(k) == "table" then
    if is_series(k) then return dfm.filter(df, k) end
    if getmetatable(k) == nil then return select_cols(df, k, 2) end
  end
  if type(k) == "string" and k:sub(1, 1) ~= "_" then
    error(format("DataFrame: no column or method '%s' (columns: %s)", k, concat(meta.names, ", ")), 2)
  end
  if type(k) == "boolean" then error("DataFrame " .. frame.BOOL_KEY, 2) end
  return nil
end

function Series.__index(s, k)
  local m = sm[k]
  if m then return m end
  if k == "name" then return rawget(s, "_meta").name end
  if k == "dtype" then return rawget(s, "_meta").dtype end
  if k == "dt" then return M.dt_accessor(s) end
  if k == "str" then return M.str_accessor(s) end
  if k == "divisions" then return nil end
  if type(k) == "table" and is_series(k) then return sm.filter(s, k) end
  if type(k) == "boolean" then error("Series " .. frame.BOOL_KEY, 2) end
  if type(k) == "string" and k:sub(1, 1) ~= "_" then
    error(format("Series: no method '%s'", k), 2)
  end
  return nil
end

DataFrame.__tostring = function(df)
  local parts = {}
  for i, n in ipairs(df._meta.names) do parts[i] = n .. ": " .. df._meta.dtypes[n] end
  return format("ldask.dataframe.DataFrame<npartitions=%d, %s>", df.npartitions, concat(parts, ", "))
end
Series.__tostring = function(s)
  return format("ldask.dataframe.Series<name=%s, dtype=%s, npartitions=%d>", tostring(s._meta.name),
    tostring(s._meta.dtype), s.npartitions)
end

-- ------------------------------------------------------------------------
-- Blockwise operations

--- df:filter(mask) or df[mask]: the rows where the bool series MASK is true.
-- @function DataFrame:filter
function dfm.filter(df, mask)
  if not is_series(mask) then error("filter: expected a bool Series, got " .. type(mask), 2) end
  check_same(df, mask, "filter", 2)
  if mask._meta.dtype ~= "bool" then
    error(format("filter: the mask must be a bool Series, got dtype %s (compare first, e.g. df.x:gt(0))",
      tostring(mask._meta.dtype)), 2)
  end
  return M.new("frame", node({ op = "filter", a = df._e, mask = mask._e }), df.npartitions, df._meta,
    merge_layers(df._layers, mask._layers))
end
function sm.filter(s, mask)
  if not is_series(mask) then error("filter: expected a bool Series, got " .. type(mask), 2) end
  check_same(s, mask, "filter", 2)
  if mask._meta.dtype ~= "bool" then
    error(format("filter: the mask must be a bool Series, got dtype %s", tostring(mask._meta.dtype)), 2)
  end
  return M.new("series", node({ op = "filter", a = s._e, mask = mask._e }), s.npartitions, s._meta,
    merge_layers(s._layers, mask._layers))
end

--- df:col(name): the column NAME, also when NAME is a method's name
-- (df.count is the method; df:col("count") the column).
-- @function DataFrame:col
function dfm.col(df, name)
  if not df._meta.dtypes[name] then
    error(format("DataFrame: no column '%s' (columns: %s)", tostring(name), concat(df._meta.names, ", ")), 2)
  end
  return column_series(df, name)
end

--- df:select{names} (same as df[{names}]): a frame of those columns.
-- @function DataFrame:select
function dfm.select(df, names)
  if type(names) ~= "table" then error("select: expected a list of column names", 2) end
  return select_cols(df, names, 2)
end

--- df:assign{name = series or scalar, ...}: new or replaced columns.
-- @function DataFrame:assign
function dfm.assign(df, t)
  if type(t) ~= "table" then error("assign: expected a table {name = series or value}", 2) end
  local names, vals, layers = {}, {}, { df._layers }
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local dtypes, order = {}, {}
  for i, n in ipairs(df._meta.names) do order[i] = n; dtypes[n] = df._meta.dtypes[n] end
  for _, k in ipairs(keys) do
    local v = t[k]
    if type(k) ~= "string" then error("assign: column names must be strings", 2) end
    local dt
    if is_series(v) then
      check_same(df, v, "assign", 2)
      layers[#layers + 1] = v._layers
      dt = v._meta.dtype
    elseif type(v) == "number" then dt = column.KINDS and (require("ldask.array.ndarray").is_int_value(v) and "int64" or "float64")
    elseif type(v) == "string" then dt = "string"
    elseif type(v) == "boolean" then dt = "bool"
    else error(format("assign: value for '%s' must be a Series or a scalar, got %s", k, type(v)), 2) end
    names[#names + 1] = k
    vals[#vals + 1] = arg_expr(v)
    if not dtypes[k] then order[#order + 1] = k end
    dtypes[k] = dt
  end
  return M.new("frame", node({ op = "assign", a = df._e, names = names, vals = vals }), df.npartitions,
    { names = order, dtypes = dtypes, index = df._meta.index, index_kind = df._meta.index_kind },
    merge_layers(unpack(layers)))
end

-- Result dtype of OP between kinds.
local function bin_dtype(op, a, b)
  if kernels.CMP[op] or kernels.LOGIC[op] then return "bool" end
  if a == "datetime64[ns]" or b == "datetime64[ns]" then
    return (a == b) and "int64" or "datetime64[ns]"
  end
  if op == "div" or op == "pow" and (a == "float64" or b == "float64") then return "float64" end
  if a == "float64" or b == "float64" then return "float64" end
  if a == "bool" and b == "bool" and op ~= "add" and op ~= "sub" and op ~= "mul" then return "bool" end
  return "int64"
end

local function kind_of(v)
  if is_series(v) then return v._meta.dtype end
  if getmetatable(v) == Scalar then return rawget(v, "_dtype") end
  if type(v) == "number" then return require("ldask.array.ndarray").is_int_value(v) and "int64" or "float64" end
  if type(v) == "boolean" then return "bool" end
  if type(v) == "string" then return "string" end
  return nil
end

local function binop(op, a, b, level)
  level = (level or 1) + 1
  local s = is_series(a) and a or b
  local ka, kb = kind_of(a), kind_of(b)
  if ka == nil or kb == nil then
    local lazy = (ka == nil and lazy_leaf(a) and a) or (kb == nil and lazy_leaf(b) and b)
    if lazy then
      error(format("%s: %s has no known dtype to combine with a Series: compute it first (:compute() or "
        .. "f:result()), or pass it to map_partitions with meta", op, tostring(lazy)), level)
    end
    error(format("%s: operands must be Series, scalars or dataframe Scalars, got %s and %s", op, type(a),
      type(b)), level)
  end
  if is_series(a) and is_series(b) then check_same(a, b, op, level) end
  if (ka == "datetime64[ns]" and kb == "string") or (kb == "datetime64[ns]" and ka == "string") then
    local str = type(a) == "string" and a or b
    if type(str) ~= "string" or not kernels.CMP[op] then
      error(format("%s: not supported between %s and %s", op, ka, kb), level)
    end
    local ffi = require "ffi"
    local out = ffi.new("int64_t[1]")
    if require("ldask.native").ld_parse_datetime(str, #str, out) ~= 0 then
      error(format("%s: '%s' is not an ISO date-time (YYYY-MM-DD[ HH:MM[:SS]])", op, str), level)
    end
    if type(a) == "string" then ka = "datetime64[ns]" else kb = "datetime64[ns]" end
  end
  if (ka == "string" or kb == "string") and op ~= "eq" and op ~= "ne" then
    error(format("%s: not supported between %s and %s", op, ka, kb), level)
  end
  local name = (is_series(a) and a._meta.name) or (is_series(b) and b._meta.name)
  if is_series(a) and is_series(b) and a._meta.name ~= b._meta.name then name = nil end
  local e = node({ op = "bin", fn = op, a = arg_expr(a), b = arg_expr(b), name = name })
  return M.new("series", e, s.npartitions, { name = name, dtype = bin_dtype(op, ka, kb) },
    merge_layers(operand_layers(a), operand_layers(b)))
end
M.binop = binop

-- A method calling binop for OP (not a tail call: errors point at the
-- user's line).
local function binop_method(op)
  return function(a, b)
    local r = binop(op, a, b, 2)
    return r
  end
end
for _, op in ipairs({ "add", "sub", "mul", "div", "floordiv", "mod", "pow", "eq", "ne", "lt", "le", "gt",
  "ge" }) do
  sm[op] = binop_method(op)
end
sm.and_, sm.or_, sm.xor = binop_method("and"), binop_method("or"), binop_method("xor")
Series.__add, Series.__sub, Series.__mul = binop_method("add"), binop_method("sub"), binop_method("mul")
Series.__div, Series.__mod, Series.__pow = binop_method("div"), binop_method("mod"), binop_method("pow")

local function unop(s, op, dtype)
  return M.new("series", node({ op = "un", fn = op, a = s._e }), s.npartitions,
    { name = s._meta.name, dtype = dtype or s._meta.dtype }, s._layers)
end
Series.__unm = function(s) return unop(s, "neg", s._meta.dtype == "bool" and "int64" or s._meta.dtype) end
function sm.isna(s) return unop(s, "isna", "bool") end
function sm.notna(s) return unop(s, "notna", "bool") end

-- A frame of FN (a Series method giving a bool series) over every column.
local function frame_of_series(df, fn)
  local names, vals, dtypes = {}, {}, {}
  for i, n in ipairs(df._meta.names) do
    names[i] = n
    vals[i] = fn(column_series(df, n))._e
    dtypes[n] = "bool"
  end
  local empty = node({ op = "select", a = df._e, names = {} })
  return M.new("frame", node({ op = "assign", a = empty, names = names, vals = vals }), df.npartitions,
    { names = names, dtypes = dtypes }, df._layers)
end
--- df:isna(), df:notna(): a frame of bool columns, true where a value is
-- missing (isna) or present (notna).
-- @function DataFrame:isna
function dfm.isna(df) return frame_of_series(df, sm.isna) end
function dfm.notna(df) return frame_of_series(df, sm.notna) end
function sm.abs(s) return unop(s, "abs") end
function sm.invert(s) return unop(s, "not", "bool") end

--- s:astype(dtype)
-- @function Series:astype
function sm.astype(s, dtype)
  local k = require("ldask.dataframe.csv").DTYPE_ALIASES[dtype]
  if not k then error(format("astype: unknown dtype '%s'", tostring(dtype)), 2) end
  return M.new("series", node({ op = "astype", a = s._e, kind = k }), s.npartitions,
    { name = s._meta.name, dtype = k }, s._layers)
end

--- s:rename(name)
-- @function Series:rename
function sm.rename(s, name)
  return M.new("series", node({ op = "rename", a = s._e, name = name }), s.npartitions,
    { name = name, dtype = s._meta.dtype }, s._layers)
end

-- A collection like C (kind, meta, partitions) over a new node FIELDS on C.
local function like(c, fields)
  fields.a, fields.frame = c._e, is_df(c)
  return M.new(is_df(c) and "frame" or "series", node(fields), c.npartitions, c._meta, c._layers)
end

--- s:fillna(value), df:fillna(value or {column = value}): missing values
-- replaced (NaN, NaT, masked ints and bools, missing strings).
-- @function DataFrame:fillna
local function fillna(c, value)
  local tv = type(value)
  if is_df(c) then
    if tv ~= "table" and tv ~= "number" and tv ~= "string" and tv ~= "boolean" then
      error("fillna: expected a value or a table {column = value}, got " .. tv, 3)
    end
    if tv == "table" then
      for k in pairs(value) do
        if not c._meta.dtypes[k] then error(format("fillna: no column '%s'", tostring(k)), 3) end
      end
    end
  elseif tv ~= "number" and tv ~= "string" and tv ~= "boolean" then
    error("fillna: expected a number, string or boolean, got " .. tv, 3)
  end
  return like(c, { op = "fillna", value = value })
end
dfm.fillna = function(c, v) local r = fillna(c, v); return r end
sm.fillna = dfm.fillna

--- s:dropna(), df:dropna{subset = {...}}: the rows without missing values.
-- @function DataFrame:dropna
local function dropna(c, opts)
  local subset = opts and opts.subset
  if subset ~= nil then
    if type(subset) ~= "table" then error("dropna: subset must be a list of column names", 3) end
    for _, k in ipairs(subset) do
      if not c._meta.dtypes[k] then error(format("dropna: no column '%s'", tostring(k)), 3) end
    end
  end
  return like(c, { op = "dropna", subset = subset })
end
dfm.dropna = function(c, opts) local r = dropna(c, opts); return r end
sm.dropna = dfm.dropna

--- df:rename{columns = {old = new}} (or the map itself).
-- @function DataFrame:rename
function dfm.rename(df, map)
  if type(map) ~= "table" then error("rename: expected {old = new}", 2) end
  if type(map.columns) == "table" then map = map.columns end
  local names, dtypes = {}, {}
  for i, n in ipairs(df._meta.names) do
    local nn = map[n] or n
    names[i] = nn
    dtypes[nn] = df._meta.dtypes[n]
  end
  for k in pairs(map) do
    if not df._meta.dtypes[k] then error(format("rename: no column '%s'", tostring(k)), 2) end
  end
  return M.new("frame", node({ op = "rename_cols", a = df._e, map = map }), df.npartitions,
    { names = names, dtypes = dtypes, index = df._meta.index, index_kind = df._meta.index_kind }, df._layers)
end

--- df:drop{cols} (or drop{columns = {...}}): the frame without those columns.
-- @function DataFrame:drop
function dfm.drop(df, cols)
  if type(cols) == "string" then cols = { cols } end
  if type(cols) ~= "table" then error("drop: expected a list of column names", 2) end
  if type(cols.columns) == "table" then cols = cols.columns end
  local gone = {}
  for _, c in ipairs(cols) do
    if not df._meta.dtypes[c] then error(format("drop: no column '%s'", tostring(c)), 2) end
    gone[c] = true
  end
  local keep = {}
  for _, n in ipairs(df._meta.names) do if not gone[n] then keep[#keep + 1] = n end end
  return select_cols(df, keep, 2)
end

-- .dt accessor
local DT_FIELDS = { year = "int64", month = "int64", day = "int64", hour = "int64", minute = "int64",
  second = "int64", dayofweek = "int64", date = "datetime64[ns]" }
local UNITS = { D = 86400e9, h = 3600e9, H = 3600e9, min = 60e9, T = 60e9, s = 1e9, S = 1e9, ms = 1e6, us = 1e3,
  ns = 1 }
function M.dt_accessor(s)
  if s._meta.dtype ~= "datetime64[ns]" then
    error(format(".dt: the series '%s' is %s, not datetime64[ns] (read it with parse_dates = {\"%s\"})",
      tostring(s._meta.name), tostring(s._meta.dtype), tostring(s._meta.name)), 3)
  end
  return setmetatable({}, {
    __tostring = function() return format("ldask.dataframe .dt accessor of series '%s'", tostring(s._meta.name)) end,
    __index = function(_, f)
      if f == "floor" then
        return function(_, unit)
          local u = UNITS[unit]
          if not u then error(format(".dt.floor: unknown unit '%s' (D, h, min, s, ms, us, ns)", tostring(unit)), 2) end
          return M.new("series", node({ op = "dt", field = "floor", a = s._e, unit = u }), s.npartitions,
            { name = s._meta.name, dtype = "datetime64[ns]" }, s._layers)
        end
      end
      local dt = DT_FIELDS[f]
      if not dt then
        error(format(".dt has no field '%s' (year, month, day, hour, minute, second, dayofweek, date, floor)",
          tostring(f)), 2)
      end
      return M.new("series", node({ op = "dt", field = f, a = s._e }), s.npartitions,
        { name = s._meta.name, dtype = dt }, s._layers)
    end,
  })
end

-- .str accessor: s.str:lower(), ... (ldask.dataframe.strings)
local strings = require "ldask.dataframe.strings"
local str_cache = setmetatable({}, { __mode = "k" })
function M.str_accessor(s)
  if s._meta.dtype ~= "string" then
    error(format(".str: the series '%s' is %s, not string", tostring(s._meta.name), tostring(s._meta.dtype)), 3)
  end
  local acc = str_cache[s]
  if acc then return acc end
  acc = setmetatable({}, {
    __tostring = function() return format("ldask.dataframe .str accessor of series '%s'", tostring(s._meta.name)) end,
    __index = function(_, method)
      local kind = strings.METHODS[method]
      if not kind then
        error(format(".str has no method '%s' (lower, upper, len, contains, startswith, endswith, strip, "
          .. "lstrip, rstrip, slice)", tostring(method)), 2)
      end
      return function(self, a, b, c)
        if self ~= acc then
          error(format(".str.%s: call it with a colon: s.str:%s(...)", method, method), 2)
        end
        local args = strings.check_args(method, 2, a, b, c)
        local parts = {}
        for _, k in ipairs({ "pat", "regex", "case", "na", "chars", "start", "stop", "step" }) do
          parts[#parts + 1] = tostring(args[k])
        end
        return M.new("series", node({ op = "str", fn = method, a = s._e, args = args,
          sargs = concat(parts, "\0") }), s.npartitions, { name = s._meta.name, dtype = kind }, s._layers)
      end
    end,
  })
  str_cache[s] = acc
  return acc
end

--- map_partitions(fn, ...): FN(partition, ...) on every partition (a
-- Frame or FrameSeries in memory); META: {names, dtypes} or {name, dtype}
-- of the result, found by running FN on an empty partition when absent.
-- @function DataFrame:map_partitions
local function map_partitions(c, fn, ...)
  if type(fn) ~= "function" then error("map_partitions: expected a function, got " .. type(fn), 3) end
  local args = { ... }
  local n = select("#", ...)
  local meta
  local last = args[n]
  if n > 0 and type(last) == "table" and getmetatable(last) == nil and last.meta then
    meta = last.meta
    args[n] = nil
    n = n - 1
  end
  -- lazy arguments (dataframe Scalars, Futures, Delayed values) become
  -- inputs of every partition's task
  local lazy, layers, probe = nil, { c._layers }, {}
  for i = 1, n do
    local leaf, l = lazy_leaf(args[i])
    probe[i] = args[i]
    if leaf then
      lazy = lazy or {}
      lazy[i] = true
      layers[#layers + 1] = l
      if not meta then
        error(format("map_partitions: argument %d is lazy (%s): give the result's meta as the last argument, "
          .. "{ meta = { names =, dtypes = } } (or { name =, dtype = } for a series)", i + 1, tostring(args[i])), 3)
      end
      args[i] = leaf
    end
  end
  local e = node({ op = "map", a = c._e, fn = fn, args = args, nargs = n, lazy = lazy })
  if not meta then
    -- run FN on an empty partition of C's meta
    local empty = M.empty_like(c)
    local ok, r = pcall(fn, empty, unpack(probe, 1, n))
    if not ok then
      error("map_partitions: the function failed on an empty partition (give meta = {names =, dtypes =}): "
        .. tostring(r), 3)
    end
    if frame.is_frame(r) then meta = { names = r.columns, dtypes = r.dtypes, kind = "frame" }
    elseif frame.is_series(r) then meta = { name = r.name, dtype = r.dtype, kind = "series" }
    else error("map_partitions: the function must return a Frame or a FrameSeries, got " .. type(r), 3) end
  end
  local kind = meta.kind or (meta.names and "frame" or "series")
  return M.new(kind, e, c.npartitions, meta, merge_layers(unpack(layers)))
end
dfm.map_partitions = map_partitions
sm.map_partitions = map_partitions

-- An empty in-memory partition of collection C's meta.
function M.empty_like(c)
  local function col(kind) return column.from_values({}, 0, kind, "meta") end
  if is_df(c) then
    local cols = {}
    for _, n in ipairs(c._meta.names) do cols[n] = col(c._meta.dtypes[n]) end
    return frame.new(c._meta.names, cols, 0)
  end
  return frame.series(c._meta.name, col(c._meta.dtype))
end

return M
