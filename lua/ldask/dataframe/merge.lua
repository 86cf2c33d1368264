--- ldask.dataframe.merge: operations that move rows between partitions,
-- through the task shuffle (ldask.dataframe.shuffle): `merge`/`join`
-- (inner, left, right, outer; broadcast when one side is a single
-- partition, hash shuffle of both sides otherwise), `drop_duplicates`
-- (hash shuffle on the subset, then per partition), `set_index` and
-- `sort_values` (approximate quantile divisions of the key, a range
-- shuffle, a sort per partition: divisions known afterwards).
-- @submodule ldask.dataframe
local ffi = require "ffi"
local lib = require "ldask.native"
local graph = require "ldask.graph"
local base = require "ldask.base"
local tokenize = require "ldask.tokenize"
local FT = require "ldask.ffi.frame"
local column = require "ldask.dataframe.column"
local frame = require "ldask.dataframe.frame"
local core = require "ldask.dataframe.core"
local kernels = require "ldask.dataframe.kernels"
local aggregate = require "ldask.dataframe.aggregate"
local shuffle = require "ldask.dataframe.shuffle"

local type, error, tostring, ipairs, tonumber, unpack = type, error, tostring, ipairs, tonumber, unpack
local format, concat, max, min, floor = string.format, table.concat, math.max, math.min, math.floor
local key, quote = graph.key, graph.quote
local ptr, alloc, keep = column.ptr, column.alloc, column.keep
local I64P, F64P, U8P = ffi.typeof("int64_t *"), ffi.typeof("double *"), ffi.typeof("uint8_t *")
local is_df, dfm = core.is_df, core.df_methods

local M = {}

local HOW = { inner = true, left = true, right = true, outer = true }
local NUMK = { int64 = true, float64 = true, bool = true }

-- ------------------------------------------------------------------------
-- In-memory kernels

-- Group codes of the rows of key columns KS (a list of columns of one
-- length) where a missing value is a value of its own (pandas: NaN keys
-- match NaN keys, drop_duplicates treats them alike): codes, ngroups, first.
local function factorize_na(ks)
  local n = ks[1].n
  local acc, nacc
  for j, c in ipairs(ks) do
    local codes, ng = aggregate.factorize(c)
    local cp = ptr(codes, I64P)
    for i = 0, n - 1 do if cp[i] < 0 then cp[i] = ng end end
    if j == 1 then acc, nacc = codes, ng + 1
    else
      local out = alloc(math.max(n, 1), "int64")
      lib.ld_fr_codes_combine(ptr(acc, I64P), ptr(codes, I64P), ng + 1, n, ptr(out, I64P))
      acc, nacc = out, nacc * (ng + 1)
    end
  end
  local codes, first = alloc(math.max(n, 1), "int64"), alloc(math.max(n, 1), "int64")
  local ng = tonumber(lib.ld_fr_factorize_i64(ptr(acc, I64P), nil, 0, n, ptr(codes, I64P), ptr(first, I64P)))
  if ng < 0 then error("out of memory", 0) end
  return codes, ng, first
end
M.factorize_na = factorize_na

-- Key columns NAMES of frame F (false: its index).
local function keycols(f, names)
  local out = {}
  for j, n in ipairs(names) do
    out[j] = n == false and f._index or f._cols[n]
    if not out[j] then error(format("merge: no key column '%s' in a partition", tostring(n)), 0) end
  end
  return out
end

--- In-memory merge of frames L and R. SPEC: {how, left_on, right_on (lists
-- of names, false = the index), names = output columns {label, side
-- ("l", "r", "k": a shared key, coalesced), source name}, index =
-- "l"/"k"/nil (the output's index: the left index, or the coalesced
-- index keys of a join)}.
function M.merge_frames(spec, l, r)
  local lk, rk = keycols(l, spec.left_on), keycols(r, spec.right_on)
  local nl, nr = l._n, r._n
  local both = {}
  for j = 1, #lk do
    local a, b = lk[j], rk[j]
    if a.kind ~= b.kind and NUMK[a.kind] and NUMK[b.kind] then a, b = column.as_float(a), column.as_float(b) end
    both[j] = column.concat({ a, b })
  end
  local codes, ng = factorize_na(both)
  local how = spec.how
  local swap = how == "right"
  local code = FT.join_how[swap and "left" or how]
  -- the pairs (left, right) of matching rows, -1 for none: counted, then filled
  local function pairs_into(ia, ib)
    local cp = ptr(codes, I64P)
    local ca, na_, cb, nb = cp, nl, cp + nl, nr
    if swap then ca, na_, cb, nb = cp + nl, nr, cp, nl end
    return tonumber(lib.ld_fr_join_pairs(ca, na_, cb, nb, ng, code, ia and ptr(ia, I64P), ib and ptr(ib, I64P)))
  end
  local k = pairs_into(nil, nil)
  if k < 0 then error("merge: out of memory", 0) end
  local ia, ib = alloc(math.max(k, 1), "int64"), alloc(math.max(k, 1), "int64")
  pairs_into(ia, ib)
  local lrows, rrows = ia, ib
  if swap then lrows, rrows = ib, ia end
  -- coalesced key rows: the left row, else the right one (after the left's)
  local kidx
  local function coalesced()
    if kidx then return kidx end
    kidx = alloc(math.max(k, 1), "int64")
    local ap, li, ri = ptr(kidx, I64P), ptr(lrows, I64P), ptr(rrows, I64P)
    for i = 0, k - 1 do ap[i] = li[i] >= 0 and li[i] or nl + ri[i] end
    return kidx
  end
  local kpos = {}
  for j, n in ipairs(spec.left_on) do kpos[n == false and "|index" or n] = j end
  local names, cols = {}, {}
  for i, o in ipairs(spec.names) do
    local label, side, src = o[1], o[2], o[3]
    names[i] = label
    if side == "k" then cols[label] = column.take_opt(both[kpos[src]], coalesced(), k)
    elseif side == "l" then cols[label] = column.take_opt(l._cols[src], lrows, k)
    else cols[label] = column.take_opt(r._cols[src], rrows, k) end
  end
  local idx, iname
  if spec.index == "k" then idx, iname = column.take_opt(both[kpos["|index"]], coalesced(), k), l._index_name
  elseif spec.index == "l" and l._index then idx, iname = column.take_opt(l._index, lrows, k), l._index_name end
  return frame.new(names, cols, k, idx, iname)
end

--- Task: SPEC's merge of partitions L and R.
function M.merge_task(spec, l, r) return M.merge_frames(spec, l, r) end

--- Rows of frame F without duplicates of the columns SUBSET (nil: all),
-- keeping the "first", "last" or (false) no row of each, in row order.
function M.dedupe(f, subset, keep)
  local n = f._n
  if n == 0 then return f end
  local ks = {}
  for j, nme in ipairs(subset or f._names) do ks[j] = f._cols[nme] end
  local codes, ng = factorize_na(ks)
  local rows, m = alloc(math.max(n, 1), "int64"), 0
  local rp = ptr(rows, I64P)
  if keep == false then
    local size = alloc(ng, "int64")
    ffi.fill(ptr(size, I64P), 8 * ng, 0)
    lib.ld_fr_group_size(ptr(codes, I64P), n, ptr(size, I64P))
    local cp, sp = ptr(codes, I64P), ptr(size, I64P)
    for i = 0, n - 1 do if sp[cp[i]] == 1 then rp[m] = i; m = m + 1 end end
    column.keep(size)
  else
    local present = alloc(n, "bool")
    ffi.fill(ptr(present, U8P), n, 1)
    local which = alloc(ng, "int64")
    ffi.fill(ptr(which, I64P), 8 * ng, 0xff)
    local ao = ffi.new("ld_fr_aggout")
    ao[keep == "last" and "last" or "first"] = ptr(which, I64P)
    lib.ld_fr_group_agg(ptr(codes, I64P), ng, column.CTYPE.bool, ptr(present, U8P), ptr(present, U8P), n, ao)
    local mark = alloc(n, "bool")
    local mp, wp = ptr(mark, U8P), ptr(which, I64P)
    ffi.fill(mp, n, 0)
    for g = 0, ng - 1 do mp[wp[g]] = 1 end
    rp = ptr(rows, I64P)
    for i = 0, n - 1 do if mp[i] ~= 0 then rp[m] = i; m = m + 1 end end
    column.keep(mark, which, present)
  end
  column.keep(codes)
  local cols = {}
  for _, nme in ipairs(f._names) do cols[nme] = column.take(f._cols[nme], rows, m) end
  return frame.new(f._names, cols, m, f._index and column.take(f._index, rows, m), f._index_name)
end

--- Task: drop_duplicates of one partition.
function M.dedupe_task(subset, keep, f) return M.dedupe(f, subset, keep) end

-- Row order of frame F sorted by the columns BY (names; false = the
-- index), ASCENDING; missing values last.
local function sorted_rows(f, by, ascending)
  local n = f._n
  local idx = aggregate.iota(math.max(n, 1))
  if n == 0 then return idx end
  if #by == 1 then
    local c = by[1] == false and f._index or f._cols[by[1]]
    aggregate.argsort(c, n, idx)
    if ascending == false then
      local na = column.isna(c).data
      local miss, ip = ptr(na, U8P), ptr(idx, I64P)
      local m = 0
      while m < n and miss[ip[n - 1 - m]] ~= 0 do m = m + 1 end
      local lo, hi = 0, n - 1 - m -- reverse the present rows
      while lo < hi do ip[lo], ip[hi] = ip[hi], ip[lo]; lo, hi = lo + 1, hi - 1 end
      keep(na)
    end
    return idx
  end
  local names, cols = {}, {}
  for j, b in ipairs(by) do names[j] = "|k" .. j; cols[names[j]] = b == false and f._index or f._cols[b] end
  names[#names + 1] = "|row"
  cols["|row"] = column.numeric("int64", idx)
  local s = aggregate.sort_by_columns(frame.new(names, cols, n), { unpack(names, 1, #by) })
  local r = s._cols["|row"].data
  local rp = ptr(r, I64P)
  if ascending == false then
    local lo, hi = 0, n - 1
    while lo < hi do rp[lo], rp[hi] = rp[hi], rp[lo]; lo, hi = lo + 1, hi - 1 end
  end
  return r
end

--- Task: partition F sorted by BY (ASCENDING); with INDEX the single key
-- column becomes the index (set_index; DROP removes it from the columns).
function M.sort_task(by, ascending, index, drop, f)
  local n = f._n
  local rows = sorted_rows(f, by, ascending)
  local names, cols = {}, {}
  for _, nme in ipairs(f._names) do
    if not (index and drop and nme == by[1]) then
      names[#names + 1] = nme
      cols[nme] = column.take(f._cols[nme], rows, n)
    end
  end
  if index then
    return frame.new(names, cols, n, column.take(f._cols[by[1]], rows, n), by[1])
  end
  return frame.new(names, cols, n, f._index and column.take(f._index, rows, n), f._index_name)
end

--- Task: a sample of the values of column NAME of partition F for
-- quantiles: {n = rows with a value, v = up to S sorted values evenly spaced}.
function M.sample_task(name, s, f)
  local c = name == false and f._index or f._cols[name]
  if c.kind == "string" then
    local n = c.n
    local rows = aggregate.iota(math.max(n, 1))
    aggregate.argsort(c, n, rows)
    local na = column.isna(c).data
    local miss, ip = ptr(na, U8P), ptr(rows, I64P)
    local m = n
    while m > 0 and miss[ip[m - 1]] ~= 0 do m = m - 1 end
    local at = {} -- (row numbers as Lua numbers before any allocation)
    local k = min(s, m)
    for j = 0, k - 1 do at[j + 1] = tonumber(ip[floor((j + 0.5) * m / k)]) end
    local lo, hi = m > 0 and tonumber(ip[0]) or nil, m > 0 and tonumber(ip[m - 1]) or nil
    keep(rows, na)
    local out = {}
    for j = 1, k do out[j] = column.value(c, at[j]) end
    return { n = m, v = out, lo = lo and column.value(c, lo), hi = hi and column.value(c, hi) }
  end
  local vals = shuffle.as_f64(c)
  local n = c.n
  local rows = aggregate.iota(math.max(n, 1))
  lib.ld_fr_argsort_f64(ptr(vals, F64P), n, ptr(rows, I64P))
  local vp, ip = ptr(vals, F64P), ptr(rows, I64P)
  local m = n
  while m > 0 and vp[ip[m - 1]] ~= vp[ip[m - 1]] do m = m - 1 end
  local out = {}
  local k = min(s, m)
  for j = 0, k - 1 do out[j + 1] = vp[ip[floor((j + 0.5) * m / k)]] end
  local lo, hi = m > 0 and vp[ip[0]] or nil, m > 0 and vp[ip[m - 1]] or nil
  keep(rows, vals)
  return { n = m, v = out, lo = lo, hi = hi }
end

-- Cut points splitting SAMPLES ({n, v}...) into NOUT parts of about equal
-- rows (each sample value weighs n / #v rows), duplicates merged; and the
-- smallest and largest values seen.
local function cuts_of(samples, nout)
  local pts, total = {}, 0
  local lo, hi
  for _, s in ipairs(samples) do
    local w = #s.v > 0 and s.n / #s.v or 0
    for _, v in ipairs(s.v) do pts[#pts + 1] = { v, w }; total = total + w end
    if s.lo ~= nil then
      if lo == nil or s.lo < lo then lo = s.lo end
      if hi == nil or s.hi > hi then hi = s.hi end
    end
  end
  table.sort(pts, function(a, b) return a[1] < b[1] end)
  local cuts, acc, j = {}, 0, 1
  for _, p in ipairs(pts) do
    acc = acc + p[2]
    while j < nout and acc >= total * j / nout do
      if cuts[#cuts] ~= p[1] then cuts[#cuts + 1] = p[1] end
      j = j + 1
    end
  end
  if cuts[#cuts] ~= nil and cuts[#cuts] == hi and #cuts > 0 then cuts[#cuts] = nil end
  return cuts, lo, hi
end

-- ------------------------------------------------------------------------
-- Collections

local function check_cols(df, names, what, level)
  for _, n in ipairs(names) do
    if n ~= false and not df._meta.dtypes[n] then
      error(format("%s: no column '%s' (columns: %s)", what, tostring(n), concat(df._meta.names, ", ")), level + 1)
    end
  end
end

local function as_list(v)
  if v == nil then return nil end
  if type(v) == "table" then return v end
  return { v }
end

-- The meta the shuffle's empty partitions take.
local function shuffle_meta(c)
  local m = c._meta
  return { names = m.names, dtypes = m.dtypes, index = m.index, index_kind = m.index_kind }
end

-- A frame collection over layer NAME (partitions name,0..n-1).
local function over(name, n, meta, layers)
  return core.from_layer("frame", name, n, meta, layers)
end

-- Layers and the partition layer name of C shuffled by hash of KEYS into NOUT.
local function hash_shuffled(c, keys, nout, float)
  return shuffle.layers(c, { kind = "hash", keys = keys, nout = nout, float = float }, nout, shuffle_meta(c))
end

--- merge(left, right, opts) or left:merge(right, opts): a database-style
-- join. OPTS: how ("inner", "left", "right", "outer"), on (a column or a
-- list, in both), left_on / right_on, left_index / right_index (join on
-- the index of a frame from set_index), suffixes ({"_x", "_y"}),
-- npartitions (of a shuffled merge: the larger side's by default),
-- broadcast (false: always shuffle).
-- @function DataFrame:merge
function M.merge(left, right, opts, level)
  level = (level or 1) + 1
  opts = opts or {}
  if not is_df(left) or not is_df(right) then error("merge: expected two DataFrames", level) end
  if type(opts) ~= "table" then error("merge: options must be a table {how =, on =, ...}", level) end
  local how = opts.how or "inner"
  if not HOW[how] then
    error(format("merge: how must be inner, left, right or outer, got '%s'", tostring(how)), level)
  end
  local lon, ron = as_list(opts.left_on), as_list(opts.right_on)
  local on = as_list(opts.on)
  if opts.left_index then lon = { false } end
  if opts.right_index then ron = { false } end
  if on then lon, ron = on, on end
  if not lon and not ron then -- the columns both sides share
    on = {}
    for _, n in ipairs(left._meta.names) do if right._meta.dtypes[n] then on[#on + 1] = n end end
    if #on == 0 then error("merge: no common columns to merge on (give on =, left_on = and right_on =)", level) end
    lon, ron = on, on
  end
  if not lon or not ron then error("merge: give both left_on and right_on (or on =)", level) end
  if #lon ~= #ron then error("merge: left_on and right_on must have the same number of keys", level) end
  check_cols(left, lon, "merge: left", level)
  check_cols(right, ron, "merge: right", level)
  local float = {}
  for j = 1, #lon do
    local a = lon[j] == false and left._meta.index_kind or left._meta.dtypes[lon[j]]
    local b = ron[j] == false and right._meta.index_kind or right._meta.dtypes[ron[j]]
    if lon[j] == false and not a then error("merge: left_index needs an index (set_index first)", level) end
    if ron[j] == false and not b then error("merge: right_index needs an index (set_index first)", level) end
    if a ~= b then
      if NUMK[a] and NUMK[b] then float[j] = true
      else error(format("merge: key %d is %s on the left and %s on the right", j, a, b), level) end
    end
  end
  local sfx = opts.suffixes or { "_x", "_y" }
  -- output columns
  local shared = {}
  if on then for _, n in ipairs(on) do shared[n] = true end end
  local lset, rset = {}, {}
  for _, n in ipairs(left._meta.names) do lset[n] = true end
  for _, n in ipairs(right._meta.names) do rset[n] = true end
  local names, dtypes, seen = {}, {}, {}
  local function add(label, side, src, kind)
    if seen[label] then error(format("merge: two output columns named '%s' (give suffixes =)", label), level + 1) end
    seen[label] = true
    names[#names + 1] = { label, side, src }
    dtypes[label] = kind
  end
  for _, n in ipairs(left._meta.names) do
    local kind = left._meta.dtypes[n]
    if shared[n] then add(n, "k", n, float[1] and "float64" or kind)
    else add((rset[n] and not shared[n]) and (n .. sfx[1]) or n, "l", n, kind) end
  end
  for _, n in ipairs(right._meta.names) do
    if not shared[n] then add(lset[n] and (n .. sfx[2]) or n, "r", n, right._meta.dtypes[n]) end
  end
  local index
  if lon[1] == false and ron[1] == false then index = "k"
  elseif lon[1] == false or (opts.left_index and not opts.right_index) then index = nil
  elseif left._meta.index and ron[1] == false then index = "l" end
  local spec = { how = how, left_on = lon, right_on = ron, names = names, index = index }
  local order, meta_names = {}, {}
  for i, o in ipairs(names) do meta_names[i] = o[1]; order[i] = o[1] end
  local meta = { names = meta_names, dtypes = dtypes }
  if index == "k" then meta.index, meta.index_kind = left._meta.index, left._meta.index_kind
  elseif index == "l" then meta.index, meta.index_kind = left._meta.index, left._meta.index_kind end
  local qspec = quote(spec)
  local tok = tokenize.tokenize("merge", core.own_layer(left).name, core.own_layer(right).name, how,
    concat(order, ","), tostring(lon[1]), tostring(ron[1]))
  local name = "merge-" .. tok
  local nl, nr = left.npartitions, right.npartitions
  local layer, layers, np = {}, nil, nil
  local lname, rname
  local broadcast = opts.broadcast ~= false
  if nl == 1 and nr == 1 then
    layers = core.merge_layers(core.layers_of(left), core.layers_of(right))
    lname, rname, np = core.own_layer(left).name, core.own_layer(right).name, 1
    layer[key(name, 0)] = { M.merge_task, qspec, key(lname, 0), key(rname, 0) }
  elseif broadcast and nr == 1 and (how == "inner" or how == "left") then
    layers = core.merge_layers(core.layers_of(left), core.layers_of(right))
    lname, rname, np = core.own_layer(left).name, core.own_layer(right).name, nl
    for i = 0, nl - 1 do layer[key(name, i)] = { M.merge_task, qspec, key(lname, i), key(rname, 0) } end
  elseif broadcast and nl == 1 and (how == "inner" or how == "right") then
    layers = core.merge_layers(core.layers_of(left), core.layers_of(right))
    lname, rname, np = core.own_layer(left).name, core.own_layer(right).name, nr
    for i = 0, nr - 1 do layer[key(name, i)] = { M.merge_task, qspec, key(lname, 0), key(rname, i) } end
  else
    np = opts.npartitions or max(nl, nr)
    local ll, ln = hash_shuffled(left, lon, np, float)
    local rl, rn = hash_shuffled(right, ron, np, float)
    layers = core.merge_layers(ll, rl)
    for i = 0, np - 1 do layer[key(name, i)] = { M.merge_task, qspec, key(ln, i), key(rn, i) } end
  end
  layers[name] = layer
  return over(name, np, meta, layers)
end

--- df:join(other, opts): merge on OTHER's index (from set_index): the
-- column `on` of df, or df's index. OPTS: on, how ("left"), lsuffix,
-- rsuffix.
-- @function DataFrame:join
function M.join(left, right, opts, level)
  level = (level or 1) + 1
  opts = opts or {}
  if not is_df(right) or not right._meta.index then
    error("join: the other frame needs an index (other:set_index(column) first)", level)
  end
  local o = { how = opts.how or "left", right_index = true, suffixes = { opts.lsuffix or "", opts.rsuffix or "" } }
  if opts.on then o.left_on = opts.on else o.left_index = true end
  local r = M.merge(left, right, o, level)
  return r
end

--- df:drop_duplicates{subset =, keep = "first"}: rows without repeats of
-- the subset's columns (all by default); keep "first", "last" or false
-- (drop every repeated row). Several partitions are shuffled by the
-- subset's hash first (rows keep their order within an output partition).
-- @function DataFrame:drop_duplicates
function M.drop_duplicates(df, opts, level)
  level = (level or 1) + 1
  opts = opts or {}
  local subset = as_list(opts.subset)
  if subset then check_cols(df, subset, "drop_duplicates", level) end
  local keep = opts.keep
  if keep == nil then keep = "first" end
  if keep ~= "first" and keep ~= "last" and keep ~= false then
    error("drop_duplicates: keep must be \"first\", \"last\" or false", level)
  end
  local np = opts.split_out or df.npartitions
  local layers, src
  if df.npartitions == 1 and np == 1 then
    layers, src = core.layers_of(df), core.own_layer(df).name
  else
    layers, src = hash_shuffled(df, subset or df._meta.names, np)
  end
  local name = "drop_duplicates-" .. tokenize.tokenize(src, subset and concat(subset, ",") or "", tostring(keep))
  local layer = {}
  for i = 0, np - 1 do layer[key(name, i)] = { M.dedupe_task, quote(subset), keep, key(src, i) } end
  layers[name] = layer
  return over(name, np, df._meta, layers)
end

-- Sorted range partitions of DF by BY (names), ASCENDING; INDEX: set_index.
local function range_sorted(df, by, opts, index, level)
  level = level + 1
  check_cols(df, by, index and "set_index" or "sort_values", level)
  local k1 = df._meta.dtypes[by[1]]

  local ascending = opts.ascending ~= false
  local nout = opts.npartitions or df.npartitions
  -- approximate quantiles of the first key: a sample per partition
  local own = core.own_layer(df)
  local sname = "quantiles-" .. tokenize.tokenize(own.name, by[1], nout)
  local sl, keys = {}, {}
  for i = 0, df.npartitions - 1 do
    keys[i + 1] = key(sname, i)
    sl[keys[i + 1]] = { M.sample_task, by[1], max(20, 10 * nout), key(own.name, i) }
  end
  local ql = core.layers_of(df)
  ql[sname] = sl
  local samples = base.get(graph.flatten_layers(ql), keys, opts.compute)
  local cuts, lo, hi = cuts_of(samples, nout)
  local np = #cuts + 1
  local layers, src
  if df.npartitions == 1 and np == 1 then
    layers, src = core.layers_of(df), own.name
  else
    layers, src = shuffle.layers(df, { kind = "range", key = by[1], cuts = cuts, desc = not ascending }, np,
      shuffle_meta(df))
  end
  local name = (index and "set_index-" or "sort_values-") .. tokenize.tokenize(src, concat(by, ","), ascending)
  local layer = {}
  local drop = opts.drop ~= false
  for i = 0, np - 1 do
    layer[key(name, i)] = { M.sort_task, quote(by), ascending, index, drop, key(src, i) }
  end
  layers[name] = layer
  local meta = df._meta
  if index then
    local names, dtypes = {}, {}
    for _, n in ipairs(meta.names) do
      if not (drop and n == by[1]) then names[#names + 1] = n; dtypes[n] = meta.dtypes[n] end
    end
    meta = { names = names, dtypes = dtypes, index = by[1], index_kind = k1 }
  end
  local r = over(name, np, meta, layers)
  local divisions = {}
  if lo ~= nil then
    divisions[1] = lo
    for _, c in ipairs(cuts) do divisions[#divisions + 1] = c end
    divisions[#divisions + 1] = hi
  end
  r.divisions = ascending and #divisions == np + 1 and divisions or nil
  return r
end

--- df:set_index(column, {npartitions =, drop = true}): the frame indexed
-- by COLUMN, sorted: approximate quantiles of the column (a sample per
-- partition, computed now) give the divisions, a range shuffle moves the
-- rows, each partition is sorted. `df.divisions` is known afterwards
-- (numbers; datetimes as ns).
-- @function DataFrame:set_index
function M.set_index(df, col, opts, level)
  level = (level or 1) + 1
  if type(col) ~= "string" then error("set_index: expected a column name", level) end
  local r = range_sorted(df, { col }, opts or {}, true, level)
  return r
end

--- df:sort_values(by, {ascending = true, npartitions =}): rows sorted by
-- the column BY (or a list: lexicographically; the first one partitions),
-- missing values last; a range shuffle as set_index's.
-- @function DataFrame:sort_values
function M.sort_values(df, by, opts, level)
  level = (level or 1) + 1
  by = as_list(by)
  if not by or #by == 0 then error("sort_values: expected a column name or a list of them", level) end
  local r = range_sorted(df, by, opts or {}, false, level)
  return r
end

--- df:repartition{npartitions = n}: N partitions (at most the current
-- number), each the concatenation of neighbouring ones.
-- @function DataFrame:repartition
function M.repartition(df, opts, level)
  level = (level or 1) + 1
  local n = type(opts) == "table" and opts.npartitions or opts
  if type(n) ~= "number" or n < 1 or n % 1 ~= 0 then
    error("repartition: npartitions must be a positive integer", level)
  end
  if n > df.npartitions then
    error(format("repartition: %d partitions from %d: only fewer partitions are supported", n, df.npartitions), level)
  end
  local own = core.own_layer(df)
  local layers = core.layers_of(df)
  local name = "repartition-" .. tokenize.tokenize(own.name, n)
  local layer = {}
  for j = 0, n - 1 do
    local t = { kernels.concat_args }
    for i = floor(j * df.npartitions / n), floor((j + 1) * df.npartitions / n) - 1 do t[#t + 1] = key(own.name, i) end
    layer[key(name, j)] = t
  end
  layers[name] = layer
  return core.from_layer(is_df(df) and "frame" or "series", name, n, df._meta, layers)
end

for _, nme in ipairs({ "repartition", "merge", "join", "set_index", "sort_values" }) do
  local f = M[nme]
  dfm[nme] = function(df, a, b)
    local r = f(df, a, b, 2)
    return r
  end
end
function dfm.drop_duplicates(df, opts)
  local r = M.drop_duplicates(df, opts, 2)
  return r
end

return M
