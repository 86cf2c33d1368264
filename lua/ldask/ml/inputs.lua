--- ldask.ml.inputs: the inputs of ldask.ml's estimators: what a user
-- passes as X or y (ndarrays, nested Lua lists, ldask arrays, dataframes
-- and series, in-memory frames) as an ndarray or a blocked array
-- (base.as_data), the numeric columns of a dataframe as one array, and the
-- chunking the block-wise algorithms want (whole_columns, rows_like). Its
-- functions are ldask.ml.base's too: use them as base.as_data and so on.
-- @submodule ldask.ml.base
local nd = require "ldask.array.ndarray"
local tokenize = require "ldask.tokenize"
local errors = require "ldask.errors"
local keep = require "ldask.array.keep"

local type, ipairs, format, getmetatable = type, ipairs, string.format, getmetatable
local is_nd = nd.is_ndarray
local misuse = errors.misuse

local M = {}

local function frame_mod() return require "ldask.dataframe" end

--- base.dataframe_array(df, what): the numeric columns of dataframe DF as
-- one 2-D float64 ldask array with one block across its columns (dask's
-- df.to_dask_array(lengths=True) of the numeric columns, in order).
-- @param df a dataframe collection
-- @param what its name in messages
-- @return an Array
function M.dataframe_array(df, what)
  local graph = require "ldask.graph"
  local acore = require "ldask.array.core"
  local names = {}
  local dtypes = df.dtypes
  for _, n in ipairs(df.columns) do
    local dt = dtypes[n]
    if dt ~= "string" and dt ~= "object" then names[#names + 1] = n end
  end
  if #names == 0 then misuse(what .. ": the dataframe has no numeric columns") end
  -- each partition packs its numeric columns row-major into one float64
  -- series, so the partition lengths are computed once (by to_array)
  local packed = df:map_partitions(function(part) return M._pack_frame(part, names) end,
    { meta = { name = "packed", dtype = "float64" } }):to_array()
  local p = #names
  local name = "frame_values-" .. tokenize.tokenize(packed.name, p)
  local layer, rows = {}, {}
  for i, c in ipairs(packed.chunks[1]) do
    rows[i] = c / p
    layer[graph.key(name, i - 1, 0)] = { M._unpack_block, graph.key(packed.name, i - 1), p }
  end
  return acore.new(name, layer, { rows, { p } }, "float64", { packed })
end

--- Task: the columns NAMES of in-memory frame PART as one float64 series,
-- row-major (missing values NaN).
-- @param part a Frame
-- @param names a list of column names
-- @return a FrameSeries
function M._pack_frame(part, names)
  local fr = require "ldask.dataframe.frame"
  local column = require "ldask.dataframe.column"
  local n, p = part._n, #names
  local out = nd.zeros({ n * p }, "float64")
  local op = out:data()
  for j, name in ipairs(names) do
    local c = fr.series(name, part._cols[name]):to_array():astype("float64"):copy()
    local cp = c:data()
    for i = 0, n - 1 do op[i * p + j - 1] = cp[i] end
    keep(c)
  end
  return fr.series("packed", column.numeric("float64", out))
end

--- Task: a packed partition (see _pack_frame) as an n x P ndarray.
-- @param flat a 1-D ndarray
-- @param p the number of columns
-- @return an ndarray
function M._unpack_block(flat, p) return flat:reshape({ flat.shape[1] / p, p }) end
local dataframe_array = M.dataframe_array

-- An in-memory frame (ldask.dataframe.frame) as an ndarray of its numeric columns.
local function frame_ndarray(f, what)
  local names = f._names
  local cols = {}
  for _, n in ipairs(names) do
    local c = f._cols[n]
    if c.kind ~= "string" then cols[#cols + 1] = f[n]:to_array():astype("float64") end
  end
  if #cols == 0 then misuse(what .. ": the frame has no numeric columns") end
  local nrows = cols[1].shape[1]
  local out = nd.zeros({ nrows, #cols }, "float64")
  local o = out:data()
  for j, c in ipairs(cols) do
    local cc = c:copy()
    local p = cc:data()
    for i = 0, nrows - 1 do o[i * #cols + j - 1] = p[i] end
    keep(cc)
  end
  return out
end

--- base.as_data(v, what, ndim): converts a model input to ("ndarray", a)
-- or ("array", x): ndarrays and nested Lua lists (float64) stay in memory;
-- ldask arrays stay lazy; dataframes give their numeric columns as an
-- array, series their values. NDIM (1 or 2) is required; a 1-D X raises
-- suggesting a reshape. Misuse raises at the user's line.
-- @param v the input
-- @param what its name in messages ("X", "y")
-- @param ndim 1 or 2 (nil: either)
-- @return kind, value
function M.as_data(v, what, ndim)
  local kind, x
  if is_nd(v) then
    kind, x = "ndarray", v
  elseif type(v) == "table" and getmetatable(v) == nil and v[1] ~= nil then
    kind, x = "ndarray", nd.from_table(v, "float64")
  else
    local da = require "ldask.array"
    if da.is_array(v) then
      kind, x = "array", v
    elseif type(v) == "table" and getmetatable(v) ~= nil and package.loaded["ldask.dataframe"] then
      local dfm = frame_mod()
      local fr = require "ldask.dataframe.frame"
      if dfm.is_dataframe(v) then
        kind, x = "array", dataframe_array(v, what)
      elseif dfm.is_series(v) then
        kind, x = "array", v:to_array()
      elseif fr.is_frame(v) then
        kind, x = "ndarray", frame_ndarray(v, what)
      elseif fr.is_series(v) then
        kind, x = "ndarray", v:to_array()
      end
    end
  end
  if not kind then
    misuse(format("%s must be an ldask array, a dataframe, an ndarray or a list of rows, got %s", what,
      v == nil and "nil" or (getmetatable(v) and getmetatable(v).__name) or type(v)))
  end
  if ndim and x.ndim ~= ndim then
    if ndim == 2 and x.ndim == 1 then
      misuse(format("%s must be 2-D (samples x features), got 1-D of shape %s: reshape it with "
        .. "x:reshape{-1, 1} for one feature", what, nd.shape_str(x.shape)))
    end
    if ndim == 1 and x.ndim == 2 and x.shape[2] == 1 then
      x = x:reshape({ x.shape[1] })
    else
      misuse(format("%s must be %d-D, got shape %s", what, ndim, nd.shape_str(x.shape)))
    end
  end
  return kind, x
end

--- base.whole_columns(x): X (an ldask array) with one block across its columns.
-- @param x an Array
-- @return an Array
function M.whole_columns(x)
  if x.ndim == 2 and #x.chunks[2] > 1 then return x:rechunk({ x.chunks[1], -1 }) end
  return x
end

--- base.rows_like(y, x): Y (an ldask array) chunked like the rows of X.
-- @param y an Array
-- @param x an Array
-- @return an Array
function M.rows_like(y, x)
  local same_chunks = #y.chunks[1] == #x.chunks[1]
  if same_chunks then
    for i, c in ipairs(y.chunks[1]) do if x.chunks[1][i] ~= c then same_chunks = false; break end end
  end
  if same_chunks then return y end
  return y:rechunk({ x.chunks[1] })
end

--- base.materialize(v): an ldask array computed to an ndarray (ndarrays
-- and nil pass).
-- @param v an Array, ndarray or nil
-- @return an ndarray or nil
function M.materialize(v)
  if v == nil or is_nd(v) then return v end
  return v:compute()
end

return M
