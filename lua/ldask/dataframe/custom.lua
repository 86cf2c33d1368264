--- ldask.dataframe.custom: custom groupby aggregations, as dask's
-- dd.Aggregation(name, chunk, agg, finalize). `chunk(g)` gets one
-- partition's values grouped by key (a Grouped: `g:sum()`, `count`, `mean`,
-- `min`, `max`, `var(ddof)`, `std(ddof)`, `first`, `last`, `size`,
-- `nunique`, each an in-memory series indexed by the keys) and returns one
-- or several series; `agg(g1, g2, ...)` gets those outputs, concatenated
-- over partitions and grouped by key again, and returns as many; it runs at
-- every level of the split_every tree. `finalize(s1, s2, ...)` (optional
-- for one output) gets the combined series, aligned by key, and returns
-- the result series (in-memory series support + - * / % ^).
local ffi = require "ffi"
local lib = require "ldask.native"
local column = require "ldask.dataframe.column"
local frame = require "ldask.dataframe.frame"
local kernels = require "ldask.dataframe.kernels"
local aggregate = require "ldask.dataframe.aggregate"

local type, error, tostring, ipairs, select, setmetatable, getmetatable, unpack =
  type, error, tostring, ipairs, select, setmetatable, getmetatable, unpack
local format = string.format
local ptr = column.ptr
local I64P = ffi.typeof("int64_t *")

local M = {}

local Aggregation = { __name = "ldask.dataframe.Aggregation" }
Aggregation.__index = Aggregation
Aggregation.__tostring = function(a) return "ldask.dataframe.Aggregation<" .. tostring(a.name) .. ">" end
M.Aggregation = Aggregation

function M.is_aggregation(x) return getmetatable(x) == Aggregation end

--- Aggregation(name, chunk, agg, finalize): a custom groupby aggregation
-- (see the module's comment); use it in `g.x:agg(a)` or `g:agg{x = a}`.
function M.new(name, chunk, agg, finalize, level)
  level = (level or 1) + 1
  if type(name) ~= "string" then error("Aggregation: the first argument is its name (a string)", level) end
  if type(chunk) ~= "function" or type(agg) ~= "function" then
    error(format("Aggregation '%s': chunk and agg must be functions", name), level)
  end
  if finalize ~= nil and type(finalize) ~= "function" then
    error(format("Aggregation '%s': finalize must be a function or nil", name), level)
  end
  return setmetatable({ name = name, chunk = chunk, agg = agg, finalize = finalize }, Aggregation)
end

-- ------------------------------------------------------------------------
-- Grouped: values V grouped by key column K (in memory)

local Grouped = { __name = "ldask.dataframe.Grouped" }
local gm = {}
Grouped.__index = gm
M.Grouped = Grouped

-- Values V grouped by the key columns KS (a list: one key or several).
local function grouped(ks, v)
  local codes, ng, first
  if #ks == 1 then codes, ng, first = aggregate.factorize(ks[1])
  else codes, ng, first = aggregate.factorize_multi(ks) end
  return setmetatable({ _ks = ks, _k = #ks == 1 and ks[1] or ks, _v = v, _codes = codes, _ng = ng,
    _first = first }, Grouped)
end

-- The group keys (a list of columns, in order of first appearance).
local function keys_of(g)
  local out = {}
  for j, k in ipairs(g._ks) do out[j] = column.take(k, g._first, g._ng) end
  return out
end

-- The index of a series of G's groups (one key: its values; several: none).
local function index_of(g) return #g._ks == 1 and keys_of(g)[1] or nil end

local function stat(g, agg, ddof)
  local v = g._v
  local p = aggregate.partial(g._k, { v = v }, { v = { agg } }, agg == "size")
  return frame.series(nil, aggregate.final_column(p, "v", agg, v.kind, ddof), index_of(g))
end

for _, agg in ipairs({ "sum", "count", "mean", "min", "max", "var", "std", "first", "last", "size" }) do
  gm[agg] = function(g, ddof) return stat(g, agg, ddof) end
end

--- g:nunique(): distinct non-missing values per group.
function gm.nunique(g)
  local list = {}
  for j, k in ipairs(g._ks) do list[j] = k end
  list[#list + 1] = g._v
  local _, np, pfirst = aggregate.factorize_multi(list)
  local kc = ptr(g._codes, I64P)
  local owner = column.alloc(math.max(np, 1), "int64")
  local op, fp = ptr(owner, I64P), ptr(pfirst, I64P)
  for q = 0, np - 1 do op[q] = kc[fp[q]] end
  local counts = column.alloc(math.max(g._ng, 1), "int64")
  ffi.fill(ptr(counts, I64P), 8 * g._ng, 0)
  lib.ld_fr_group_size(ptr(owner, I64P), np, ptr(counts, I64P))
  column.keep(pfirst)
  return frame.series(nil, column.head(column.numeric("int64", counts), g._ng), index_of(g))
end

--- g:values(), g:keys(): the grouped values and their keys, as series of
-- the rows (for functions the built-in statistics do not cover).
function gm.values(g) return frame.series(nil, g._v) end
function gm.keys(g) return frame.series(nil, g._ks[1]) end

-- ------------------------------------------------------------------------
-- Tasks. SPEC: {by = key expr, values = {col = expr}, outputs = {{label,
-- col, Aggregation}...}, wants, slots}. A partial is a frame indexed by key
-- whose columns are "label|j" (output j of an output's chunk or agg).

-- The series (list) a user function returned, checked.
local function results(what, name, ng, ...)
  local n = select("#", ...)
  local out = {}
  for j = 1, n do
    local s = select(j, ...)
    if not frame.is_series(s) then
      error(format("Aggregation '%s': %s must return in-memory series (got %s as result %d)", name, what,
        type(s), j), 0)
    end
    if ng and s._col.n ~= ng then
      error(format("Aggregation '%s': %s returned %d rows for %d groups (one value per group)", name, what,
        s._col.n, ng), 0)
    end
    out[j] = s
  end
  if n == 0 then error(format("Aggregation '%s': %s returned nothing", name, what), 0) end
  return out
end

local KEY = "|key|" -- (the key columns of a partial: aggregate.lua's naming, for split_out)

-- A partial frame of the outputs' series lists LISTS (by output index)
-- over the key columns KEYS (a list).
local function to_partial(spec, lists, keys)
  local names, cols, n = {}, {}, keys[1].n
  for j, k in ipairs(keys) do names[j] = KEY .. j; cols[KEY .. j] = k end
  for o, list in ipairs(lists) do
    for j, s in ipairs(list) do
      local nm = spec.outputs[o][1] .. "|" .. j
      names[#names + 1] = nm
      cols[nm] = s._col
    end
  end
  return frame.new(names, cols, n)
end

-- The key columns of partial P.
local function partial_keys(p)
  local ks, j = {}, 1
  while p._cols[KEY .. j] do ks[j] = p._cols[KEY .. j]; j = j + 1 end
  return ks
end

-- The columns of output O in partial P, as Grouped by P's keys.
local function groups_of(spec, p, o)
  local out, j = {}, 1
  local ks = partial_keys(p)
  while true do
    local c = p._cols[spec.outputs[o][1] .. "|" .. j]
    if not c then break end
    out[j] = grouped(ks, c)
    j = j + 1
  end
  return out
end

-- The key columns of SPEC.by on the partition of CTX.
local function eval_keys(spec, ctx)
  if spec.by.multi then
    local ks = {}
    for j, e in ipairs(spec.by) do ks[j] = kernels.eval(e, ctx)._col end
    return ks
  end
  return { kernels.eval(spec.by, ctx)._col }
end

--- Task: the custom partial of partition I.
function M.chunk(spec, i, ...)
  local ctx = { i = i, wants = spec.wants, slots = spec.slots, inputs = { ... }, memo = {} }
  local ks = eval_keys(spec, ctx)
  local lists, keys = {}, nil
  for o, out in ipairs(spec.outputs) do
    local g = grouped(ks, kernels.eval(spec.values[out[2]], ctx)._col)
    keys = keys or keys_of(g)
    lists[o] = results("chunk", out[3].name, g._ng, out[3].chunk(g))
  end
  return to_partial(spec, lists, keys)
end

local function reduce(spec, parts)
  local p = kernels.concat(parts)
  local lists, keys = {}, nil
  for o, out in ipairs(spec.outputs) do
    local gs = groups_of(spec, p, o)
    keys = keys or keys_of(gs[1])
    lists[o] = results("agg", out[3].name, gs[1]._ng, out[3].agg(unpack(gs)))
  end
  return to_partial(spec, lists, keys)
end

--- Task: combines partials (agg at an inner level of the tree).
function M.combine(spec, ...) return reduce(spec, { ... }) end

--- Task: the final agg, finalize and the sort by key. FSPEC: {spec =,
-- series = true/false, index_name, sort}.
function M.finalize(fspec, ...)
  local spec = fspec.spec
  local p = reduce(spec, { ... })
  local ks = partial_keys(p)
  local index = #ks == 1 and ks[1] or nil
  local names, cols = {}, {}
  for o, out in ipairs(spec.outputs) do
    local list, j = {}, 1
    while p._cols[out[1] .. "|" .. j] do
      list[j] = frame.series(nil, p._cols[out[1] .. "|" .. j], index)
      j = j + 1
    end
    local r
    if out[3].finalize then
      r = results("finalize", out[3].name, p._n, out[3].finalize(unpack(list)))[1]
    else
      r = list[1]
    end
    names[o] = out[1]
    cols[out[1]] = r._col
  end
  if #ks > 1 then return aggregate.keyed_frame(ks, fspec.key_names, names, cols, p._n, fspec.sort) end
  local f = frame.new(names, cols, p._n, index)
  if fspec.sort ~= false then f = aggregate.sort_by_index(f) end
  f._index_name = fspec.index_name
  if fspec.series then return frame.series(names[1], f._cols[names[1]], f._index, fspec.index_name) end
  return f
end

--- Task: COUNTS (distinct pairs per key, sorted by key) on the keys of ALL
-- (every key, sorted the same way), 0 where absent, as column NAME: a
-- series indexed by key, or (KEYS: the key column names of a several-key
-- groupby) a frame of the key columns and NAME.
function M.align_counts(name, keys, all, counts)
  local ka, kb, n, m
  if keys then
    ka, kb = {}, {}
    for j, k in ipairs(keys) do ka[j] = all._cols[k]; kb[j] = counts._cols["|k" .. j] end
    n, m = all._n, counts._n
  else
    ka, kb = { all._index }, { counts._index }
    n, m = all._index.n, counts._index.n
  end
  local ccol = keys and counts._cols.size or counts._col
  local out = column.alloc(math.max(n, 1), "int64")
  local op = ptr(out, I64P)
  local cp = ccol.n > 0 and ptr(ccol.data, I64P) or nil
  local j = 0
  for i = 0, n - 1 do
    local same = j < m
    for q = 1, #ka do
      if not same then break end
      same = column.value(ka[q], i) == column.value(kb[q], j)
    end
    if same then
      op[i] = cp[j]
      j = j + 1
    else
      op[i] = 0
    end
  end
  local res = column.head(column.numeric("int64", out), n)
  if keys then
    local names, cols = {}, {}
    for q, k in ipairs(keys) do names[q] = k; cols[k] = ka[q] end
    names[#names + 1] = name
    cols[name] = res
    return frame.new(names, cols, n)
  end
  return frame.series(name, res, ka[1], all._index_name)
end

--- Task: the columns ORDER gathered from frames and series of the same keys.
function M.join(order, ...)
  local cols, first = {}, nil
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    first = first or v
    if frame.is_series(v) then cols[v._name] = v._col
    else for _, nme in ipairs(v._names) do cols[nme] = v._cols[nme] end end
  end
  local n = frame.is_series(first) and first._col.n or first._n
  return frame.new(order, cols, n, first._index, first._index_name)
end

M.FNS = { kind = "custom", chunk = M.chunk, combine = M.combine, finalize = M.finalize }

return M
