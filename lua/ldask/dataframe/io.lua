--- ldask.dataframe.io: dataframes from and to the other collections and
-- files: `read_json` (JSON lines through ldask.bag's JSON tokenizer,
-- core/io/jsontape.c), `from_bag` (records as rows), `from_array` (a 1-d
-- or 2-d ldask.array, a partition per row block), `to_csv` (one file per
-- partition, `*` in the name replaced by the partition number), `to_bag`
-- (rows as tuples or dicts) and `describe` (count, mean, std, min,
-- quartiles, max of the numeric columns).
-- @submodule ldask.dataframe
local ffi = require "ffi"
local graph = require "ldask.graph"
local base = require "ldask.base"
local tokenize = require "ldask.tokenize"
local column = require "ldask.dataframe.column"
local frame = require "ldask.dataframe.frame"
local core = require "ldask.dataframe.core"
local csv = require "ldask.dataframe.csv"

local type, error, tostring, ipairs, pairs, tonumber, unpack = type, error, tostring, ipairs, pairs, tonumber, unpack
local format, concat, floor = string.format, table.concat, math.floor
local lib = require "ldask.native"
local ptr = column.ptr
local key, quote = graph.key, graph.quote
local is_series, dfm, sm = core.is_series, core.df_methods, core.series_methods
local I64P, F64P = ffi.typeof("int64_t *"), ffi.typeof("double *")

local M = {}

local NULL -- cjson.null (JSON null in bag records)
do
  local ok, cjson = pcall(require, "cjson")
  if ok then NULL = cjson.null end
end

-- ------------------------------------------------------------------------
-- from_bag / read_json

-- Kind of Lua value V for inference.
local function kind_of(v)
  local t = type(v)
  if t == "number" then return (v % 1 == 0 and v > -2 ^ 53 and v < 2 ^ 53) and "int64" or "float64" end
  if t == "boolean" then return "bool" end
  if t == "string" then return "string" end
  return nil
end

-- Kinds of columns NAMES inferred from RECORDS (dicts, or lists with
-- NAMES giving positions): ints and floats mix to float64; anything else
-- mixed is string... an error naming the column.
local function infer(records, names, level, what, skip)
  local kinds = {}
  for _, r in ipairs(records) do
    for j, n in ipairs(names) do
      local v = r[n]
      if v == nil and r[j] ~= nil and r[n] == nil and #r > 0 then v = r[j] end
      if v ~= nil and v ~= NULL and not skip[n] then
        local k = kind_of(v)
        if not k then
          error(format("%s: column '%s' holds a %s (%s): records must hold numbers, strings or booleans",
            what, tostring(n), type(v), tostring(v)), level + 1)
        end
        local have = kinds[n]
        if not have then kinds[n] = k
        elseif have ~= k then
          if (have == "int64" and k == "float64") or (have == "float64" and k == "int64") then kinds[n] = "float64"
          else
            error(format("%s: column '%s' mixes %s and %s values (give dtype = {[\"%s\"] = \"string\"})",
              what, tostring(n), have, k, tostring(n)), level + 1)
          end
        end
      end
    end
  end
  for _, n in ipairs(names) do kinds[n] = kinds[n] or "float64" end
  return kinds
end

--- Task: the records of a bag partition as a frame of META's columns
-- ({names, dtypes, positional}); WHAT names the source in errors.
function M.records_to_frame(meta, what, records)
  local n = #records
  local cols = {}
  for j, name in ipairs(meta.names) do
    local vals = {}
    local kind = meta.dtypes[name]
    local dt = kind == "datetime64[ns]"
    for i = 1, n do
      local r = records[i]
      local v
      if type(r) ~= "table" then
        error(format("%s: partition record %d is a %s, not a table (a row)", what, i, type(r)), 0)
      end
      if meta.positional then v = r[j] else v = r[name] end
      if v == NULL then v = nil end
      if v ~= nil and not dt then
        local t = type(v)
        if (kind == "string" and t ~= "string") or ((kind == "int64" or kind == "float64") and t ~= "number")
          or (kind == "bool" and t ~= "boolean") then
          if kind == "string" and (t == "number" or t == "boolean") then v = tostring(v)
          elseif kind == "float64" and t == "boolean" then v = v and 1 or 0
          else
            error(format("%s: record %d of the partition, column '%s': value %s (a %s) does not fit dtype %s "
              .. "(give dtype = {[\"%s\"] = \"string\"})", what, i, name, tostring(v), t, kind, name), 0)
          end
        end
        if kind == "int64" and v % 1 ~= 0 then
          error(format("%s: record %d of the partition, column '%s': %s is not an integer (dtype int64; "
            .. "give dtype = {[\"%s\"] = \"float64\"})", what, i, name, tostring(v), name), 0)
        end
      end
      vals[i] = v
    end
    cols[name] = column.from_values(vals, n, kind, what .. ": column '" .. name .. "'")
  end
  return frame.new(meta.names, cols, n)
end

--- from_bag(b, opts): a DataFrame of a bag of records: dicts ({x = 1, y =
-- "a"}) or lists (with `columns` naming the positions). OPTS: columns (the
-- names, in order; default the sorted keys of the first partition's
-- records), dtype ({column = kind}; default inferred from the first
-- partition, computed now), parse_dates (columns of ISO text to read as
-- datetimes).
function M.from_bag(b, opts, level, what)
  level = (level or 1) + 1
  what = what or "from_bag"
  opts = opts or {}
  local bagcore = require "ldask.bag.core"
  if not bagcore.is_bag(b) then error(what .. ": expected an ldask.Bag, got " .. type(b), level) end
  if type(opts) ~= "table" then error(what .. ": options must be a table", level) end
  local keys = bagcore.keys(b)
  local layers = bagcore.layers(b)
  local names = opts.columns
  local dtypes = {}
  local given = opts.dtype or {}
  local positional = false
  local need_sample = names == nil
  if names then
    for _, n in ipairs(names) do if not given[n] then need_sample = true end end
  end
  local sample = {}
  if need_sample and #keys > 0 then
    sample = base.get(graph.flatten_layers(layers), keys[1]) or {}
  end
  if not names then
    local seen, list = {}, {}
    for _, r in ipairs(sample) do
      if type(r) == "table" then
        for k in pairs(r) do
          if type(k) == "string" and not seen[k] then seen[k] = true; list[#list + 1] = k end
        end
      end
    end
    table.sort(list)
    if #list == 0 and #sample > 0 then
      error(what .. ": the records have no string keys; give columns = {...} for lists", level)
    end
    names = list
  else
    for _, r in ipairs(sample) do if type(r) == "table" and #r > 0 then positional = true end break end
  end
  local inferred = infer(sample, names, level, what, given)
  for _, n in ipairs(names) do
    local k = given[n] and csv.DTYPE_ALIASES[given[n]]
    if given[n] and not k then error(format("%s: unknown dtype '%s' for column '%s'", what, tostring(given[n]), n), level) end
    dtypes[n] = k or inferred[n]
  end
  for _, n in ipairs(opts.parse_dates or {}) do
    if not dtypes[n] then error(format("%s: parse_dates names no column '%s'", what, tostring(n)), level) end
    dtypes[n] = "datetime64[ns]"
  end
  local meta = { names = names, dtypes = dtypes, positional = positional }
  local name = "from_bag-" .. tokenize.tokenize(b.name, concat(names, ","), dtypes)
  local layer = {}
  for i, k in ipairs(keys) do layer[key(name, i - 1)] = { M.records_to_frame, quote(meta), what, k } end
  local all = {}
  for n, l in pairs(layers) do all[n] = l end
  all[name] = layer
  return core.from_layer("frame", name, #keys, { names = names, dtypes = dtypes }, all)
end

--- read_json(urlpath, opts): a DataFrame of JSON-lines files (one object
-- per line), tokenized by ldask.bag.read_json's fast path
-- (core/io/jsontape.c). OPTS: blocksize (bytes per partition, as
-- read_csv; false: a file each), compression, columns, dtype,
-- parse_dates (as from_bag; dtypes are inferred from the first block).
function M.read_json(urlpath, opts, level)
  level = (level or 1) + 1
  opts = opts or {}
  local bag = require "ldask.bag"
  local bopts = {}
  if opts.blocksize ~= nil then bopts.blocksize = opts.blocksize or nil end
  if opts.blocksize == nil then bopts.blocksize = 64 * 1024 * 1024 end
  if opts.compression ~= nil then bopts.compression = opts.compression == false and "none" or opts.compression end
  local ok, b = pcall(bag.read_json, urlpath, bopts)
  if not ok then error(tostring(b):gsub("ldask%.bag%.read_json", "read_json"), level) end
  local r = M.from_bag(b, opts, level, "read_json")
  return r
end

-- ------------------------------------------------------------------------
-- from_array

-- The ndarray D as a column (int64 and bool kept, other dtypes float64).
local function nd_column(d)
  local kind = d.dtype == "bool" and "bool" or d.dtype == "int64" and "int64" or "float64"
  if d.dtype ~= kind then d = d:astype("float64") end
  return column.numeric(kind, d)
end

--- Task: ndarray block A as a frame of NAMES (a 2-d block) or a series NAME (1-d).
function M.block_to_frame(names, a)
  if a.ndim == 1 then return frame.series(names[1], nd_column(a)) end
  local src = a:copy()
  local n, m = a.shape[1], a.shape[2]
  local isz = src.itemsize
  local cols = {}
  for j, nme in ipairs(names) do
    local c = column.alloc(n, src.dtype)
    local cp, base8 = column.ptr(c, ffi.typeof("uint8_t *")), column.ptr(src, ffi.typeof("uint8_t *"))
    for i = 0, n - 1 do ffi.copy(cp + i * isz, base8 + (i * m + j - 1) * isz, isz) end
    cols[nme] = nd_column(c)
  end
  column.keep(src)
  return frame.new(names, cols, n)
end

--- from_array(a, opts): a DataFrame of a 2-d ldask.array (columns from
-- OPTS.columns, default "0", "1", ...) or a Series of a 1-d one (OPTS.name);
-- one partition per block of rows (a 2-d array is rechunked to one block
-- across the columns).
function M.from_array(a, opts, level)
  level = (level or 1) + 1
  opts = opts or {}
  if not require("ldask.array.core").is_array(a) then
    error("from_array: expected an ldask.array, got " .. type(a), level)
  end
  if a.ndim ~= 1 and a.ndim ~= 2 then error(format("from_array: a %d-d array (1-d or 2-d only)", a.ndim), level) end
  local kind = a.dtype == "bool" and "bool" or a.dtype == "int64" and "int64" or "float64"
  local names
  if a.ndim == 2 then
    if #a.chunks[2] > 1 then a = a:rechunk({ a.chunks[1], -1 }) end
    names = opts.columns or {}
    if not opts.columns then for j = 1, a.shape[2] do names[j] = tostring(j - 1) end end
    if #names ~= a.shape[2] then
      error(format("from_array: %d column names for %d columns", #names, a.shape[2]), level)
    end
  else
    names = { opts.name }
  end
  local name = "from_array-" .. tokenize.tokenize(a.name, concat(names, ","))
  local layer = {}
  for i = 0, #a.chunks[1] - 1 do
    local k = a.ndim == 2 and key(a.name, i, 0) or key(a.name, i)
    layer[key(name, i)] = { M.block_to_frame, quote(names), k }
  end
  local layers = {}
  for n, l in pairs(a:__ldask_layers()) do layers[n] = l end
  layers[name] = layer
  if a.ndim == 1 then
    return core.from_layer("series", name, #a.chunks[1], { name = opts.name, dtype = kind }, layers)
  end
  local dtypes = {}
  for _, n in ipairs(names) do dtypes[n] = kind end
  return core.from_layer("frame", name, #a.chunks[1], { names = names, dtypes = dtypes }, layers)
end

-- ------------------------------------------------------------------------
-- to_csv, to_bag

-- Shortest text of float V that reads back as V (as Python's repr).
local function float_text(v)
  if v ~= v then return "" end
  if v == 1 / 0 then return "inf" elseif v == -1 / 0 then return "-inf" end
  for p = 15, 17 do
    local s = format("%." .. p .. "g", v)
    if tonumber(s) == v then
      if not s:find("[%.eEn]") then s = s .. ".0" end
      return s
    end
  end
  return format("%.17g", v)
end
M.float_text = float_text

local function quote_field(s, sep)
  if s:find('[' .. sep .. '"\r\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end

-- The text cells of column C (a list of strings, missing ones "").
local function cells(c, sep)
  local out = {}
  local kind = c.kind
  for i = 0, c.n - 1 do
    local v = column.value(c, i)
    if v == nil then out[i + 1] = ""
    elseif kind == "float64" then out[i + 1] = float_text(v)
    elseif kind == "bool" then out[i + 1] = v and "True" or "False"
    elseif kind == "datetime64[ns]" then out[i + 1] = column.format_datetime(v)
    elseif kind == "string" then out[i + 1] = quote_field(v, sep)
    else out[i + 1] = tostring(v) end
  end
  return out
end

--- Task: writes partition F to PATH as CSV (OPTS: sep, header, index);
-- returns PATH.
function M.write_csv(path, opts, f)
  if frame.is_series(f) then f = f:to_frame() end
  local sep = opts.sep
  local cols, names = {}, {}
  if opts.index and f._index then
    names[1] = quote_field(tostring(f._index_name or ""), sep)
    cols[1] = cells(f._index, sep)
  end
  for _, n in ipairs(f._names) do
    names[#names + 1] = quote_field(tostring(n), sep)
    cols[#cols + 1] = cells(f._cols[n], sep)
  end
  local fh, err = io.open(path, "wb")
  if not fh then error("to_csv: cannot write " .. path .. ": " .. tostring(err), 0) end
  if opts.header then fh:write(concat(names, sep), "\n") end
  local line, buf = {}, {}
  for i = 1, f._n do
    for j = 1, #cols do line[j] = cols[j][i] end
    buf[#buf + 1] = concat(line, sep, 1, #cols)
    if #buf >= 4096 then fh:write(concat(buf, "\n"), "\n"); buf = {} end
  end
  if #buf > 0 then fh:write(concat(buf, "\n"), "\n") end
  fh:close()
  return path
end

--- Task: the written paths as a list.
function M.paths_of(...) return { ... } end

--- df:to_csv(path, opts): writes one CSV file per partition, `*` in PATH
-- replaced by the partition number (dask's naming; without `*` PATH is a
-- directory that gets 0.part, 1.part, ...); computes now and returns the
-- list of files. OPTS: sep (","), header (true), index (write the index of
-- a set_index frame: true), compute (the scheduler options).
-- @function DataFrame:to_csv
function M.to_csv(df, path, opts, level)
  level = (level or 1) + 1
  opts = opts or {}
  if type(path) ~= "string" then error("to_csv: expected a path (with * for the partition number)", level) end
  local n = df.npartitions
  local paths = {}
  if path:find("*", 1, true) then
    local width = #tostring(n - 1)
    for i = 0, n - 1 do
      local num = format("%0" .. width .. "d", i)
      paths[i + 1] = path:gsub("%*", num)
    end
  else
    os.execute("mkdir -p '" .. path:gsub("'", "'\\''") .. "'")
    for i = 0, n - 1 do paths[i + 1] = path .. "/" .. i .. ".part" end
  end
  local sep = opts.sep or ","
  if type(sep) ~= "string" or #sep ~= 1 then error("to_csv: sep must be one character", level) end
  local wopts = { sep = sep, header = opts.header ~= false, index = opts.index ~= false }
  local own = core.own_layer(df)
  local layers = core.layers_of(df)
  local name = "to_csv-" .. tokenize.tokenize(own.name, path, sep)
  local layer = {}
  local all = { M.paths_of }
  for i = 0, n - 1 do
    layer[key(name, i)] = { M.write_csv, paths[i + 1], quote(wopts), key(own.name, i) }
    all[#all + 1] = key(name, i)
  end
  layer[name .. "-all"] = all
  layers[name] = layer
  local r = base.get(graph.flatten_layers(layers), name .. "-all", opts.compute)
  return r
end

--- Task: the rows of partition F as tuples (lists in column order) or
-- dicts (FORMAT "dict"); with INDEX the index value leads each tuple.
function M.rows_of(format_, index, f)
  if frame.is_series(f) then return frame.values(f._col) end
  local out = {}
  local vals = {}
  for j, n in ipairs(f._names) do vals[j] = frame.values(f._cols[n]) end
  local iv = index and f._index and frame.values(f._index)
  for i = 1, f._n do
    local r = {}
    if format_ == "dict" then
      for j, n in ipairs(f._names) do r[n] = vals[j][i] end
      if iv then r[f._index_name or "index"] = iv[i] end
    else
      local off = 0
      if iv then r[1] = iv[i]; off = 1 end
      for j = 1, #f._names do r[j + off] = vals[j][i] end
    end
    out[i] = r
  end
  return out
end

--- df:to_bag{format = "tuple", index = false}: an ldask.Bag of the rows:
-- tuples (lists in column order; missing values are nil holes) or dicts
-- (format = "dict"); a series gives its values.
-- @function DataFrame:to_bag
function M.to_bag(df, opts, level)
  level = (level or 1) + 1
  opts = opts or {}
  local fmt = opts.format or "tuple"
  if fmt ~= "tuple" and fmt ~= "dict" then error("to_bag: format must be \"tuple\" or \"dict\"", level) end
  local bagcore = require "ldask.bag.core"
  local own = core.own_layer(df)
  local layers = core.layers_of(df)
  local name = "to_bag-" .. tokenize.tokenize(own.name, fmt, opts.index == true)
  local layer = {}
  for i = 0, df.npartitions - 1 do
    layer[key(name, i)] = { M.rows_of, fmt, opts.index == true, key(own.name, i) }
  end
  return bagcore.materialized(name, df.npartitions, layer, layers)
end

-- ------------------------------------------------------------------------
-- describe

local PCTS = { 0.25, 0.5, 0.75 }

--- Task: the sorted non-missing values of column NAME of the partitions
-- (as float64), for exact percentiles.
function M.sorted_values(name, ...)
  local parts = { ... }
  local cols = {}
  for i, p in ipairs(parts) do
    local c = frame.is_series(p) and p._col or p._cols[name]
    cols[i] = column.numeric("float64", require("ldask.dataframe.shuffle").as_f64(c))
  end
  local all = #cols > 0 and column.concat(cols) or column.from_values({}, 0, "float64", "describe")
  local keep = all.data:isnan():logical_not()
  local idx, k = column.mask_rows(column.numeric("bool", keep))
  local v = column.take(all, idx, k)
  local order = require("ldask.dataframe.aggregate").iota(math.max(k, 1))
  lib.ld_fr_argsort_f64(ptr(v.data, F64P), k, ptr(order, I64P))
  return column.take(v, order, k).data
end

-- Percentile P of sorted ndarray S (pandas' linear interpolation).
local function percentile(s, p)
  local n = s.shape[1]
  if n == 0 then return 0 / 0 end
  local pos = p * (n - 1)
  local lo = floor(pos)
  local fp = ptr(s, F64P)
  local a = fp[lo]
  if lo + 1 >= n then return a end
  return a + (fp[lo + 1] - a) * (pos - lo)
end

--- df:describe(): count, mean, std, min, 25%, 50%, 75%, max of every
-- numeric column (computed now; an in-memory frame indexed by the
-- statistic's name). Percentiles are exact (a column's values are gathered
-- into one task), with pandas' linear interpolation.
-- @function DataFrame:describe
function M.describe(df, opts, level)
  level = (level or 1) + 1
  local NUM = { int64 = true, float64 = true, bool = false }
  local names = {}
  local series = is_series(df)
  if series then
    if not NUM[df._meta.dtype] then error("describe: the series is not numeric", level) end
    names[1] = df._meta.name or 0
  else
    for _, n in ipairs(df._meta.names) do if NUM[df._meta.dtypes[n]] then names[#names + 1] = n end end
    if #names == 0 then error("describe: no numeric column", level) end
  end
  local lazy = {}
  local own = core.own_layer(df)
  local layers = core.layers_of(df)
  for j, n in ipairs(names) do
    local s = series and df or df:col(n)
    lazy[#lazy + 1] = s:count()
    lazy[#lazy + 1] = s:mean()
    lazy[#lazy + 1] = s:std()
    local nm = "describe-sorted-" .. tokenize.tokenize(own.name, n)
    local t = { M.sorted_values, series and "" or n }
    for i = 0, df.npartitions - 1 do t[#t + 1] = key(own.name, i) end
    layers[nm] = { [nm] = t }
    names[j] = { n, nm }
  end
  local vals = { base.compute(unpack(lazy)) }
  local g = graph.flatten_layers(layers)
  local keys = {}
  for j, p in ipairs(names) do keys[j] = p[2] end
  local sorted = base.get(g, keys, opts)
  local out_names, cols = {}, {}
  local stats = { "count", "mean", "std", "min", "25%", "50%", "75%", "max" }
  for j, p in ipairs(names) do
    local s = sorted[j]
    local n = s.shape[1]
    local fp = ptr(s, F64P)
    local lo, hi = n > 0 and fp[0] or 0 / 0, n > 0 and fp[n - 1] or 0 / 0
    local list = { vals[3 * j - 2], vals[3 * j - 1], vals[3 * j],
      lo, percentile(s, PCTS[1]), percentile(s, PCTS[2]), percentile(s, PCTS[3]), hi }
    out_names[j] = p[1]
    cols[p[1]] = column.from_values(list, 8, "float64", "describe")
  end
  local idx = column.from_values(stats, 8, "string", "describe")
  if series then return frame.series(out_names[1], cols[out_names[1]], idx) end
  return frame.new(out_names, cols, 8, idx)
end

for _, nme in ipairs({ "to_csv", "to_bag", "describe" }) do
  local f = M[nme]
  dfm[nme] = function(df, a, b)
    local r
    if nme == "to_csv" then r = f(df, a, b, 2) else r = f(df, a, 2) end
    return r
  end
end
sm.describe = dfm.describe
sm.to_bag = dfm.to_bag
sm.to_csv = dfm.to_csv

return M
