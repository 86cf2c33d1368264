--- ldask.dataframe.aggregate: reductions and groupby aggregations through
-- apply-concat-apply. Each partition gives partial statistics (per group:
-- sum, count, sum of squares, min, max, size — computed by the C hash
-- aggregation kernels of core/frame/group.c); partials are concatenated and
-- re-aggregated in a tree of SPLIT_EVERY inputs per task; the last task
-- finalizes (mean = sum / count, var = (sumsq - sum^2/count) / (count -
-- ddof), ...) and sorts the groups by key, as pandas' groupby(sort=True).
local ffi = require "ffi"
local lib = require "ldask.native"
local nd = require "ldask.array.ndarray"
local FT = require "ldask.ffi.frame"
local column = require "ldask.dataframe.column"
local frame = require "ldask.dataframe.frame"
local kernels = require "ldask.dataframe.kernels"
local hashpart = require "ldask.dataframe.hashpart"

local type, error, tostring, ipairs, pairs, tonumber = type, error, tostring, ipairs, pairs, tonumber
local format, sqrt, huge = string.format, math.sqrt, math.huge
local ptr, u8, keep = column.ptr, column.u8, column.keep
local I64P, F64P, U8P, I32P = ffi.typeof("int64_t *"), ffi.typeof("double *"), ffi.typeof("uint8_t *"),
  ffi.typeof("int32_t *")
local CT = column.CTYPE
local I64MAX, I64MIN = 0x7fffffffffffffffLL, column.NAT

local M = {}

-- The statistics each aggregation needs.
local NEEDS = {
  sum = { "sum" }, count = { "count" }, mean = { "sum", "count" }, min = { "min", "count" },
  max = { "max", "count" }, var = { "sum", "count", "sumsq" }, std = { "sum", "count", "sumsq" },
  size = {}, first = { "first" }, last = { "last" },
}
M.NEEDS = NEEDS

local function is_int(kind) return kind == "int64" or kind == "bool" or kind == "datetime64[ns]" end

-- Factorizes key column K: codes (int64 ndarray), group count, first rows.
local function factorize(k)
  local n = k.n
  local codes, first = column.alloc(n, "int64"), column.alloc(math.max(n, 1), "int64")
  local cp, fp = ptr(codes, I64P), ptr(first, I64P)
  local ng
  if k.kind == "string" then
    if k.codes then ng = lib.ld_fr_factorize_codes(ptr(k.codes, I32P), k.cats.n, n, cp, fp)
    else
      ng = lib.ld_fr_factorize_str(ptr(k.offsets, I64P), ffi.cast("const char *", ptr(k.data, U8P)),
        u8(k.valid), n, cp, fp)
    end
  elseif k.kind == "float64" then ng = lib.ld_fr_factorize_f64(ptr(k.data, F64P), n, cp, fp)
  elseif k.kind == "bool" then
    local k64 = k.data:astype("int64")
    ng = lib.ld_fr_factorize_i64(ptr(k64, I64P), u8(k.valid), 0, n, cp, fp)
  else
    ng = lib.ld_fr_factorize_i64(ptr(k.data, I64P), u8(k.valid), k.kind == "datetime64[ns]" and 1 or 0, n, cp, fp)
  end
  ng = tonumber(ng)
  if ng < 0 then error("groupby: out of memory", 0) end
  return codes, ng, first
end
M.factorize = factorize

-- Factorizes the combination of key columns KS (a list): rows with a
-- missing key in any column get code -1.
local function factorize_multi(ks)
  if #ks == 1 then return factorize(ks[1]) end
  local acc, nacc = factorize(ks[1])
  for j = 2, #ks do
    local cj, nj = factorize(ks[j])
    local out = column.alloc(acc.shape[1], "int64")
    lib.ld_fr_codes_combine(ptr(acc, I64P), ptr(cj, I64P), nj, acc.shape[1], ptr(out, I64P))
    acc, nacc = out, nacc * nj
  end
  local n = acc.shape[1]
  local valid = nd.binary("ge", acc, 0)
  local codes, first = column.alloc(n, "int64"), column.alloc(math.max(n, 1), "int64")
  local ng = tonumber(lib.ld_fr_factorize_i64(ptr(acc, I64P), ptr(valid, U8P), 0, n, ptr(codes, I64P),
    ptr(first, I64P)))
  if ng < 0 then error("groupby: out of memory", 0) end
  return codes, ng, first
end
M.factorize_multi = factorize_multi

local KEY = "|key|" -- partial columns of the keys of a several-column groupby

-- A new ndarray of N filled with V.
local function filled(n, dtype, v)
  local a = column.alloc(n, dtype)
  if n > 0 then lib.ld_nd_fill(a, type(v) == "number" and v or 0, v) end
  return a
end

-- An int64 ndarray of 0 .. N - 1.
local function iota(n)
  local idx = column.alloc(n, "int64")
  local ip = ptr(idx, I64P)
  for i = 0, n - 1 do ip[i] = i end
  return idx
end

-- The first or last (WHICH) non-missing value of column C per group, as
-- OUT[key] (missing where a group has none). Any column kind.
local function first_last(codes, ng, c, which, key, out)
  local present = column.isna(c).data:logical_not()
  local rows = filled(ng, "int64", -1)
  local ao = ffi.new("ld_fr_aggout")
  ao[which] = ptr(rows, I64P)
  lib.ld_fr_group_agg(codes and ptr(codes, I64P) or nil, ng, CT.bool, ptr(present, U8P), ptr(present, U8P), c.n, ao)
  out[key] = column.take_opt(c, rows, ng)
  keep(present)
end

-- Accumulates stats STATS of value column C under CODES into a partial
-- (name|stat -> column) table OUT.
local function accumulate(codes, ng, c, name, stats, out)
  for _, which in ipairs({ "first", "last" }) do
    if stats[which] then
      first_last(codes, ng, c, which, name .. "|" .. which, out)
      stats[which] = nil
    end
  end
  if not next(stats) then return end
  local kind = c.kind
  if kind == "string" then
    for st in pairs(stats) do
      if st ~= "count" then
        error(format("groupby: cannot aggregate the string column '%s' with sum/mean/min/max/var", tostring(name)), 0)
      end
    end
    -- count of a string column: its present rows
    local present = column.isna(c).data:logical_not()
    c = column.new({ kind = "bool", n = c.n, data = present, valid = present })
    kind = "bool"
  end
  local intk = is_int(kind)
  local ao = ffi.new("ld_fr_aggout")
  local res = {}
  for st in pairs(stats) do
    local a
    if st == "count" then a = filled(ng, "int64", 0); ao.count = ptr(a, I64P)
    elseif st == "sum" then
      if intk then a = filled(ng, "int64", 0); ao.isum = ptr(a, I64P)
      else a = filled(ng, "float64", 0); ao.sum = ptr(a, F64P) end
    elseif st == "sumsq" then a = filled(ng, "float64", 0); ao.sumsq = ptr(a, F64P)
    elseif st == "min" then
      if intk then a = column.alloc(ng, "int64"); local p = ptr(a, I64P); for g = 0, ng - 1 do p[g] = I64MAX end; ao.imin = p
      else a = filled(ng, "float64", huge); ao.min = ptr(a, F64P) end
    elseif st == "max" then
      if intk then a = column.alloc(ng, "int64"); local p = ptr(a, I64P); for g = 0, ng - 1 do p[g] = I64MIN end; ao.imax = p
      else a = filled(ng, "float64", -huge); ao.max = ptr(a, F64P) end
    end
    res[st] = a
  end
  local data = c.data
  lib.ld_fr_group_agg(codes and ptr(codes, I64P) or nil, ng, CT[kind], ptr(data, U8P), u8(c.valid), c.n, ao)
  for st, a in pairs(res) do
    local k = (st == "count") and "int64" or (st == "sumsq") and "float64"
      or (intk and (kind == "datetime64[ns]" and (st == "min" or st == "max")) and "datetime64[ns]")
      or (intk and "int64") or "float64"
    out[name .. "|" .. st] = column.numeric(k, a)
  end
end

-- Partial of value columns VALS ({name = column}) grouped by key column K
-- (nil: one group) for AGGS ({name = {agg...}}): a Frame whose index is
-- the group keys.
local function partial(k, vals, aggs, want_size)
  local codes, ng, first
  local n
  local multi = k and not column.is_column(k)
  for _, c in pairs(vals) do n = c.n end
  if multi then codes, ng, first = factorize_multi(k); n = k[1].n
  elseif k then codes, ng, first = factorize(k); n = k.n else ng = 1 end
  local cols = {}
  for name, list in pairs(aggs) do
    local stats = {}
    for _, a in ipairs(list) do for _, s in ipairs(NEEDS[a]) do stats[s] = true end end
    if next(stats) then accumulate(codes, ng, vals[name], name, stats, cols) end
  end
  if want_size then
    local sz = filled(ng, "int64", 0)
    if codes then lib.ld_fr_group_size(ptr(codes, I64P), n or 0, ptr(sz, I64P))
    else ptr(sz, I64P)[0] = n or 0 end
    cols["|size"] = column.numeric("int64", sz)
  end
  if multi then
    for j, kc in ipairs(k) do cols[KEY .. j] = column.take(kc, first, ng) end
  end
  local names = {}
  for name in pairs(cols) do names[#names + 1] = name end
  table.sort(names)
  local idx = (k and not multi) and column.take(k, first, ng) or nil
  return frame.new(names, cols, ng, idx)
end
M.partial = partial

-- The key columns of a several-column partial P, or nil.
local function partial_keys(p)
  if not p._cols[KEY .. 1] then return nil end
  local ks, j = {}, 1
  while p._cols[KEY .. j] do ks[j] = p._cols[KEY .. j]; j = j + 1 end
  return ks
end

-- Re-aggregates a concatenation of partials (frame P) by its index.
local function recombine(p)
  local codes, ng, first
  local ks = partial_keys(p)
  if ks then codes, ng, first = factorize_multi(ks)
  elseif p._index then codes, ng, first = factorize(p._index) else ng = 1 end
  local cols = {}
  for _, name in ipairs(p._names) do
    local c = p._cols[name]
    local st = name:match("|(%w+)$")
    if name:sub(1, #KEY) == KEY then
      cols[name] = column.take(c, first, ng)
      goto continue
    end
    local kind = c.kind
    local intk = is_int(kind)
    local ao = ffi.new("ld_fr_aggout")
    local a
    if st == "first" or st == "last" then
      first_last(codes, ng, c, st, name, cols)
      goto continue
    end
    if st == "min" then
      if intk then a = column.alloc(ng, "int64"); local q = ptr(a, I64P); for g = 0, ng - 1 do q[g] = I64MAX end; ao.imin = q
      else a = filled(ng, "float64", huge); ao.min = ptr(a, F64P) end
    elseif st == "max" then
      if intk then a = column.alloc(ng, "int64"); local q = ptr(a, I64P); for g = 0, ng - 1 do q[g] = I64MIN end; ao.imax = q
      else a = filled(ng, "float64", -huge); ao.max = ptr(a, F64P) end
    elseif intk then a = filled(ng, "int64", 0); ao.isum = ptr(a, I64P)
    else a = filled(ng, "float64", 0); ao.sum = ptr(a, F64P) end
    -- (partials use min = +inf / INT64_MAX for empty groups: they never win)
    lib.ld_fr_group_agg(codes and ptr(codes, I64P) or nil, ng, kind == "datetime64[ns]" and CT.int64 or CT[kind],
      ptr(c.data, U8P), nil, c.n, ao)
    cols[name] = column.numeric(kind, a)
    ::continue::
  end
  local idx = p._index and column.take(p._index, first, ng) or nil
  return frame.new(p._names, cols, ng, idx)
end

--- Task: a partial for partition I. SPEC: {root = frame expr, wants,
-- by = series expr or nil, values = {name = series expr}, aggs, size}.
function M.chunk(spec, i, ...)
  local ctx = { i = i, wants = spec.wants, slots = spec.slots, inputs = { ... }, memo = {} }
  local k
  if spec.by and spec.by.multi then
    k = {}
    for j, e in ipairs(spec.by) do k[j] = kernels.eval(e, ctx)._col end
  elseif spec.by then
    k = kernels.eval(spec.by, ctx)._col
  end
  local vals = {}
  for name, e in pairs(spec.values) do vals[name] = kernels.eval(e, ctx)._col end
  return partial(k, vals, spec.aggs, spec.size)
end

--- Task: the partial of partition I (chunk task of KIND: "builtin" or
-- "custom") split by the hash of its keys into NPARTS pieces (groupby
-- split_out): a list of NPARTS partials.
function M.chunk_split(nparts, kind, spec, i, ...)
  local p = (kind == "custom" and require("ldask.dataframe.custom").chunk or M.chunk)(spec, i, ...)
  local ks = partial_keys(p) or { p._index }
  return hashpart.split(p, ks, nparts)
end

--- Task: combines partials.
function M.combine(...)
  return recombine(kernels.concat({ ... }))
end

-- Final value columns of aggregation AGG of column NAME from partial P.
local function final_column(p, name, agg, kind, ddof)
  local ng = p._n
  local function col(st) return p._cols[name .. "|" .. st] end
  if agg == "size" then return p._cols["|size"] end
  if agg == "first" or agg == "last" then return col(agg) end
  if agg == "count" then return col("count") end
  if agg == "sum" then
    local s = col("sum")
    if kind == "bool" then return column.numeric("int64", s.data) end
    return s
  end
  local cnt = ptr(col("count").data, I64P)
  if agg == "min" or agg == "max" then
    local c = col(agg)
    local empty = false
    for g = 0, ng - 1 do if cnt[g] == 0 then empty = true end end
    if not empty then
      if kind == "bool" then return column.numeric("bool", c.data:astype("bool")) end
      return c
    end
    if c.kind == "datetime64[ns]" then
      local d = c.data:copy()
      local q, cn = ptr(d, I64P), ptr(col("count").data, I64P)
      for g = 0, ng - 1 do if cn[g] == 0 then q[g] = column.NAT end end
      return column.numeric(c.kind, d)
    end
    local f = c.data:astype("float64")
    local q, cn = ptr(f, F64P), ptr(col("count").data, I64P)
    for g = 0, ng - 1 do if cn[g] == 0 then q[g] = 0 / 0 end end
    return column.numeric("float64", f)
  end
  local s = col("sum").data
  if s.dtype ~= "float64" then s = s:astype("float64") end
  local sp = ptr(s, F64P)
  local out = column.alloc(ng, "float64")
  local op = ptr(out, F64P)
  if agg == "mean" then
    for g = 0, ng - 1 do
      local c = tonumber(cnt[g])
      op[g] = c > 0 and sp[g] / c or 0 / 0
    end
  else
    local sq = ptr(col("sumsq").data, F64P)
    ddof = ddof or 1
    for g = 0, ng - 1 do
      local c = tonumber(cnt[g])
      if c - ddof <= 0 then op[g] = 0 / 0
      else
        local v = (sq[g] - sp[g] * sp[g] / c) / (c - ddof)
        if v < 0 then v = 0 end
        op[g] = agg == "std" and sqrt(v) or v
      end
    end
  end
  keep(s, p)
  return column.numeric("float64", out)
end

M.final_column = final_column

--- The result of a several-key groupby: the key columns KS named
-- KEY_NAMES, then the columns NAMES of COLS (N rows), sorted by the keys
-- lexicographically unless SORT is false.
function M.keyed_frame(ks, key_names, names, cols, n, sort)
  local all = {}
  for j, kc in ipairs(ks) do all[j] = key_names[j]; cols[key_names[j]] = kc end
  for _, nme in ipairs(names) do all[#all + 1] = nme end
  local f = frame.new(all, cols, n)
  if sort ~= false then f = M.sort_by_columns(f, key_names) end
  return f
end

--- Task: finalizes the combined partial. SPEC: {outputs = {{label, name,
-- agg}...}, kinds = {name = kind}, series = name or nil, ddof, sort}.
function M.finalize(spec, ...)
  local p = recombine(kernels.concat({ ... }))
  local cols, names = {}, {}
  for i, o in ipairs(spec.outputs) do
    names[i] = o[1]
    cols[o[1]] = final_column(p, o[2], o[3], spec.kinds[o[2]], spec.ddof)
  end
  local ks = partial_keys(p)
  if ks then return M.keyed_frame(ks, spec.key_names, names, cols, p._n, spec.sort) end
  local f = frame.new(names, cols, p._n, p._index)
  if p._index and spec.sort ~= false then f = M.sort_by_index(f) end
  f._index_name = spec.index_name
  if spec.series then
    return frame.series(spec.series_name, f._cols[names[1]], f._index, spec.index_name)
  end
  if spec.scalar then -- (a float reduction of nothing is NaN, as pandas)
    local c = f._cols[names[1]]
    local v = column.value(c, 0)
    if v == nil and c.kind == "float64" then return 0 / 0 end
    return v
  end
  return f
end

--- Task: series S (counts by key, sorted by key) sorted by count,
-- descending, ties in key order (value_counts).
function M.sort_counts(s)
  local c = s._col
  local n = c.n
  local keys = column.alloc(n, "int64")
  local kp, cp = ptr(keys, I64P), ptr(c.data, I64P)
  for i = 0, n - 1 do kp[i] = -cp[i] * n + i end
  local rows = iota(n)
  lib.ld_fr_argsort_i64(kp, nil, n, ptr(rows, I64P))
  keep(keys)
  return frame.series(s._name, column.take(c, rows, n), s._index and column.take(s._index, rows, n), s._index_name)
end

--- Task: the number of rows of a frame or series (nunique).
function M.count_rows(v)
  if frame.is_frame(v) then return v._n end
  return v._col.n
end

-- Argsort of column K into ROWS (an int64 ndarray of N row numbers,
-- initialised by the caller).
local function argsort(k, n, rows)
  if k.kind == "string" then
    local pk = column.plain(k)
    lib.ld_fr_argsort_str(ptr(pk.offsets, I64P), ffi.cast("const char *", ptr(pk.data, U8P)), u8(pk.valid), n,
      ptr(rows, I64P))
  elseif k.kind == "float64" then lib.ld_fr_argsort_f64(ptr(k.data, F64P), n, ptr(rows, I64P))
  elseif k.kind == "bool" then
    local ik = k.data:astype("int64")
    lib.ld_fr_argsort_i64(ptr(ik, I64P), u8(k.valid), n, ptr(rows, I64P))
  else lib.ld_fr_argsort_i64(ptr(k.data, I64P), u8(k.valid), n, ptr(rows, I64P)) end
end

M.argsort, M.iota = argsort, iota

--- Frame F (distinct key combinations) sorted by the columns NAMES,
-- lexicographically: each column's values ranked, the ranks combined.
function M.sort_by_columns(f, names)
  local n = f._n
  local combined = filled(n, "int64", 0)
  for _, name in ipairs(names) do
    local c = f._cols[name]
    local codes, ng, first = factorize(c)
    local reps = column.take(c, first, ng)
    local order = iota(ng)
    argsort(reps, ng, order)
    local rank = column.alloc(math.max(ng, 1), "int64")
    local rp, op = ptr(rank, I64P), ptr(order, I64P)
    for r = 0, ng - 1 do rp[op[r]] = r end
    local cb, cp = ptr(combined, I64P), ptr(codes, I64P)
    for i = 0, n - 1 do cb[i] = cb[i] * (ng + 1) + (cp[i] >= 0 and rp[cp[i]] or ng) end
    keep(rank, order, codes)
  end
  local rows = iota(n)
  lib.ld_fr_argsort_i64(ptr(combined, I64P), nil, n, ptr(rows, I64P))
  local cols = {}
  for _, name in ipairs(f._names) do cols[name] = column.take(f._cols[name], rows, n) end
  return frame.new(f._names, cols, n)
end

--- Frame F with its rows sorted by the index (ascending, missing last).
function M.sort_by_index(f)
  local k = f._index
  local n = f._n
  local rows = iota(n)
  argsort(k, n, rows)
  local cols = {}
  for _, name in ipairs(f._names) do cols[name] = column.take(f._cols[name], rows, n) end
  return frame.new(f._names, cols, n, column.take(k, rows, n))
end

return M
