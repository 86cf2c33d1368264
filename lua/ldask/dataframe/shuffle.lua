--- ldask.dataframe.shuffle: dask's multi-stage task shuffle. Every row gets
-- an output partition p (a hash of key columns, or a range of a sorted
-- key: set_index/sort_values) in a column "|p"; with K = ceil(N^(1/S))
-- for N = max(partitions in, out) and S stages of at most MAX_BRANCH (32)
-- inputs per task, partition i of the K^S grid splits its rows by digit s
-- of p (base K) in stage s, and joins the pieces of the K partitions
-- differing from it in that digit only. After S stages grid partition p
-- holds exactly the rows of output p, in their original order (each
-- stage's concatenation follows the source digit). Tasks per stage: K^S
-- splits, K^S * K picks and K^S joins, each join reading K pieces.
local ffi = require "ffi"
local lib = require "ldask.native"
local graph = require "ldask.graph"
local tokenize = require "ldask.tokenize"
local column = require "ldask.dataframe.column"
local frame = require "ldask.dataframe.frame"
local kernels = require "ldask.dataframe.kernels"
local core = require "ldask.dataframe.core"
local hashpart = require "ldask.dataframe.hashpart"

local ipairs, tonumber, floor, ceil, max, log = ipairs, tonumber, math.floor, math.ceil, math.max, math.log
local key, quote = graph.key, graph.quote
local ptr = column.ptr
local I64P, U64P, F64P, U8P, CHARP = ffi.typeof("int64_t *"), ffi.typeof("uint64_t *"), ffi.typeof("double *"),
  ffi.typeof("uint8_t *"), ffi.typeof("const char *")

local M = {}
M.MAX_BRANCH = 32
local PCOL = "|p"

-- Frame F with the int64 column P of output partition numbers added.
local function with_parts(f, p)
  local names, cols = {}, {}
  for i, n in ipairs(f._names) do names[i] = n; cols[n] = f._cols[n] end
  names[#names + 1] = PCOL
  cols[PCOL] = column.numeric("int64", p)
  return frame.new(names, cols, f._n, f._index, f._index_name)
end

-- The key columns NAMES of frame F (the index for name false).
local function keys_of(f, names)
  local out = {}
  for i, n in ipairs(names) do out[i] = n == false and f._index or f._cols[n] end
  return out
end

-- Float64 values of column C for range partitioning (missing: NaN).
local function as_f64(c)
  if c.kind == "datetime64[ns]" then
    local f = c.data:astype("float64")
    local fp, dp = ptr(f, F64P), ptr(c.data, I64P)
    for i = 0, c.n - 1 do if dp[i] == column.NAT then fp[i] = 0 / 0 end end
    return f
  end
  return column.as_float(c).data
end
M.as_f64 = as_f64

--- Task: frame V (a partition, or nil for an empty grid cell: META builds
-- it) with its rows' output partitions. HOW: {kind = "hash", keys =
-- names, nout =} or {kind = "range", key = name, cuts = list, desc}.
function M.prep(how, meta, v)
  if v == nil then v = M.empty(meta) end
  if frame.is_series(v) then v = v:to_frame() end
  local n = v._n
  local p = column.alloc(math.max(n, 1), "int64")
  if how.kind == "hash" then
    local ks = keys_of(v, how.keys)
    if how.float then -- (int and float keys of a merge hash alike as floats)
      for j, c in ipairs(ks) do if how.float[j] then ks[j] = column.as_float(c) end end
    end
    local h = hashpart.row_hash(ks, n)
    local hp, pp = ffi.cast(U64P, ptr(h, I64P)), ptr(p, I64P)
    for i = 0, n - 1 do pp[i] = tonumber(hp[i] % how.nout) end
    column.keep(h)
  else
    local c = how.key == false and v._index or v._cols[how.key]
    if c.kind == "string" then
      local pc = column.plain(c)
      local cuts = column.from_values(how.cuts, #how.cuts, "string", "cuts")
      lib.ld_fr_range_parts_str(ptr(pc.offsets, I64P), ffi.cast(CHARP, ptr(pc.data, U8P)), column.u8(pc.valid), n,
        ptr(cuts.offsets, I64P), ffi.cast(CHARP, ptr(cuts.data, U8P)), #how.cuts, ptr(p, I64P))
    else
      local vals = as_f64(c)
      local cuts = ffi.new("double[?]", #how.cuts + 1)
      for i, x in ipairs(how.cuts) do cuts[i - 1] = x end
      lib.ld_fr_range_parts(ptr(vals, F64P), n, cuts, #how.cuts, ptr(p, I64P))
    end
    if how.desc then
      local pp = ptr(p, I64P)
      for i = 0, n - 1 do pp[i] = #how.cuts - pp[i] end
    end
  end
  return with_parts(v, column.head(column.numeric("int64", p), n).data)
end

--- An empty frame of META {names, dtypes, index = kind or nil}.
function M.empty(meta)
  local cols = {}
  for _, n in ipairs(meta.names) do cols[n] = column.from_values({}, 0, meta.dtypes[n], "meta") end
  local idx = meta.index_kind and column.from_values({}, 0, meta.index_kind, "meta") or nil
  return frame.new(meta.names, cols, 0, idx, meta.index)
end

--- Task: frame F split into K frames by digit DIGIT (base K) of its output partitions.
function M.split(f, digit, k)
  local p = f._cols[PCOL].data
  local n = f._n
  local q = column.alloc(math.max(n, 1), "int64")
  local pp, qp = ptr(p, I64P), ptr(q, I64P)
  local div = k ^ digit
  for i = 0, n - 1 do qp[i] = floor(tonumber(pp[i]) / div) % k end
  local idx = column.alloc(math.max(n, 1), "int64")
  local bounds = column.alloc(k + 1, "int64")
  lib.ld_fr_partition_rows(ffi.cast(U64P, ptr(q, I64P)), n, k, ptr(idx, I64P), ptr(bounds, I64P))
  local bp, at = ptr(bounds, I64P), {}
  for j = 0, k do at[j] = tonumber(bp[j]) end
  local out = {}
  for j = 0, k - 1 do
    local lo, hi = at[j], at[j + 1]
    local cols = {}
    for _, name in ipairs(f._names) do cols[name] = column.take(f._cols[name], idx, hi - lo, lo) end
    out[j + 1] = frame.new(f._names, cols, hi - lo, f._index and column.take(f._index, idx, hi - lo, lo),
      f._index_name)
  end
  column.keep(p, q, bounds)
  return out
end

--- Task: the pieces concatenated.
function M.join(...) return kernels.concat({ ... }) end

--- Task: frame F without its partition column.
function M.finish(f)
  local names, cols = {}, {}
  for _, n in ipairs(f._names) do
    if n ~= PCOL then names[#names + 1] = n; cols[n] = f._cols[n] end
  end
  return frame.new(names, cols, f._n, f._index, f._index_name)
end

-- Stages and base of a shuffle of N grid partitions.
local function plan(n)
  if n <= 1 then return 0, 1 end
  local stages = ceil(log(n) / log(M.MAX_BRANCH) - 1e-9)
  if stages < 1 then stages = 1 end
  local k = ceil(n ^ (1 / stages) - 1e-9)
  while k ^ stages < n do k = k + 1 end
  return stages, k
end
M.plan = plan

--- The layers of a shuffle of collection C (a DataFrame) by HOW into NOUT
-- partitions: returns layers and the name of the layer whose keys
-- (name, 0..NOUT-1) are the output partitions (frames without "|p").
-- META: C's meta as M.empty takes it.
function M.layers(c, how, nout, meta)
  local own = core.own_layer(c)
  local layers = core.layers_of(c)
  local nin = c.npartitions
  local n = max(nin, nout)
  local stages, k = plan(n)
  local grid = stages == 0 and 1 or k ^ stages
  local tok = tokenize.tokenize(own.name, how, nout, table.concat(meta.names, ","))
  local name = "shuffle-" .. tok
  local qhow, qmeta = quote(how), quote(meta)
  local prep = {}
  local cur = {}
  for i = 0, grid - 1 do
    local kk = key(name .. "-prep", i)
    prep[kk] = i < nin and { M.prep, qhow, qmeta, key(own.name, i) } or { M.prep, qhow, qmeta }
    cur[i] = kk
  end
  layers[name .. "-prep"] = prep
  for s = 0, stages - 1 do
    local sl, pl, jl = {}, {}, {}
    local sname, pname, jname = name .. "-split-" .. s, name .. "-pick-" .. s, name .. "-join-" .. s
    for i = 0, grid - 1 do
      local sk = key(sname, i)
      sl[sk] = { M.split, cur[i], s, k }
    end
    local nxt = {}
    local step = k ^ s
    for i = 0, grid - 1 do
      local d = floor(i / step) % k
      local t = { M.join }
      for m = 0, k - 1 do
        local partner = i + (m - d) * step
        local pk = key(pname, partner * k + d)
        pl[pk] = { hashpart.pick, key(sname, partner), d + 1 }
        t[#t + 1] = pk
      end
      local jk = key(jname, i)
      jl[jk] = t
      nxt[i] = jk
    end
    layers[sname], layers[pname], layers[jname] = sl, pl, jl
    cur = nxt
  end
  local out = {}
  local oname = name
  for p = 0, nout - 1 do out[key(oname, p)] = { M.finish, cur[p] } end
  layers[oname] = out
  return layers, oname
end

M.PCOL = PCOL

return M
