--- ldask.ml.preprocessing: StandardScaler, MinMaxScaler, OneHotEncoder and
-- PolynomialFeatures with scikit-learn's parameters and fitted attributes.
-- The scalers fit block-wise on ldask arrays (one pass of reductions);
-- transforms are block-wise tasks over row blocks. OneHotEncoder also takes
-- dataframes (every column: strings and numbers) and gives the encoded
-- columns as an ldask array.
-- @module ldask.ml.preprocessing
local base = require "ldask.ml.base"
local nd = require "ldask.array.ndarray"
local errors = require "ldask.errors"

local type, ipairs, pairs, tostring, tonumber, format, sort, sqrt =
  type, ipairs, pairs, tostring, tonumber, string.format, table.sort, math.sqrt
local misuse = errors.misuse
local keep = base.keep
local MOD = "ldask.ml.preprocessing"

local M = {}

-- A C-contiguous float64 view or copy of ndarray A.
local function f64(a)
  if a.dtype ~= "float64" then return a:astype("float64") end
  return a:copy()
end

-- A 1-D float64 ndarray of the Lua list T.
local function vec(t) return nd.from_table(t, "float64") end

-- ---------------------------------------------------------------------------
-- StandardScaler

--- StandardScaler{with_mean = true, with_std = true}: removes the mean and
-- scales to unit variance per feature. Fitted: `mean_`, `var_`, `scale_`
-- (1 where the variance is 0), `n_samples_seen_`.
-- @table StandardScaler
local StandardScaler = base.estimator("StandardScaler", { with_mean = true, with_std = true, copy = true },
  { module = MOD })
M.StandardScaler = StandardScaler

local function set_moments(self, mean, var, n)
  self.n_samples_seen_ = n
  self.mean_ = f64(mean)
  self.var_ = f64(var)
  if self.params.with_std then
    local s = nd.zeros({ var.shape[1] }, "float64")
    local sp, vp = s:data(), self.var_:data()
    for j = 0, var.shape[1] - 1 do
      local v = vp[j]
      -- sklearn: features of (near) zero variance are left unscaled
      sp[j] = (v < 1e-300 or v ~= v) and 1 or sqrt(v)
    end
    self.scale_ = s
  end
end

function StandardScaler._fit(self, X)
  set_moments(self, X:mean(0), X:var(0), X.shape[1])
end

function StandardScaler._fit_array(self, X)
  -- one graph, one pass over the blocks
  local mean, var = require("ldask").compute(X:mean(0), X:var(0))
  set_moments(self, mean, var, X.shape[1])
end

function StandardScaler._transform(self, X)
  local out = f64(X)
  if self.params.with_mean then out = out - self.mean_ end
  if self.params.with_std then out = out / self.scale_ end
  return out
end

--- scaler:inverse_transform(X): undoes transform (ndarrays or arrays).
-- @return like X
function StandardScaler.inverse_transform(self, X)
  base.check_fitted(self)
  local kind, x = base.as_data(X, "X", 2)
  if kind == "ndarray" then return StandardScaler._inverse(self, x) end
  return base.rowwise(self, "_inverse", x, x.shape[2], "float64")
end
function StandardScaler._inverse(self, X)
  local out = f64(X)
  if self.params.with_std then out = out * self.scale_ end
  if self.params.with_mean then out = out + self.mean_ end
  return out
end

-- ---------------------------------------------------------------------------
-- MinMaxScaler

--- MinMaxScaler{feature_range = {0, 1}, clip = false}: scales each feature
-- to FEATURE_RANGE. Fitted: `data_min_`, `data_max_`, `data_range_`,
-- `scale_`, `min_`, `n_samples_seen_`.
-- @table MinMaxScaler
local MinMaxScaler = base.estimator("MinMaxScaler", { feature_range = { 0, 1 }, clip = false, copy = true },
  { module = MOD })
M.MinMaxScaler = MinMaxScaler

function MinMaxScaler._check_params(self)
  local r = self.params.feature_range
  if type(r) ~= "table" or type(r[1]) ~= "number" or type(r[2]) ~= "number" or r[1] >= r[2] then
    misuse(format("MinMaxScaler: feature_range must be {min, max} with min < max, got %s", tostring(r)))
  end
end

local function set_range(self, lo, hi, n)
  local r = self.params.feature_range
  lo, hi = f64(lo), f64(hi)
  local p = lo.shape[1]
  local range, scale, mn = nd.zeros({ p }, "float64"), nd.zeros({ p }, "float64"), nd.zeros({ p }, "float64")
  local lp, hp, rp, sp, mp = lo:data(), hi:data(), range:data(), scale:data(), mn:data()
  for j = 0, p - 1 do
    local d = hp[j] - lp[j]
    rp[j] = d
    local dd = d == 0 and 1 or d
    sp[j] = (r[2] - r[1]) / dd
    mp[j] = r[1] - lp[j] * sp[j]
  end
  self.data_min_, self.data_max_, self.data_range_, self.scale_, self.min_ = lo, hi, range, scale, mn
  self.n_samples_seen_ = n
end

function MinMaxScaler._fit(self, X) set_range(self, X:min(0), X:max(0), X.shape[1]) end
function MinMaxScaler._fit_array(self, X)
  local lo, hi = require("ldask").compute(X:min(0), X:max(0))
  set_range(self, lo, hi, X.shape[1])
end

function MinMaxScaler._transform(self, X)
  local out = f64(X) * self.scale_ + self.min_
  if self.params.clip then
    local r = self.params.feature_range
    local p, n = out:data(), out.size
    for i = 0, n - 1 do
      local v = p[i]
      if v < r[1] then p[i] = r[1] elseif v > r[2] then p[i] = r[2] end
    end
  end
  return out
end

-- ---------------------------------------------------------------------------
-- PolynomialFeatures

--- PolynomialFeatures{degree = 2, interaction_only = false, include_bias =
-- true}: all products of features up to DEGREE, in scikit-learn's order.
-- Fitted: `powers_` (n_output x n_features, int64), `n_output_features_`.
-- @table PolynomialFeatures
local PolynomialFeatures = base.estimator("PolynomialFeatures",
  { degree = 2, interaction_only = false, include_bias = true }, { module = MOD })
M.PolynomialFeatures = PolynomialFeatures

function PolynomialFeatures._check_params(self)
  local d = self.params.degree
  if type(d) ~= "number" or d < 0 or d ~= math.floor(d) then
    misuse("PolynomialFeatures: degree must be a non-negative integer, got " .. tostring(d))
  end
end

-- The feature combinations (lists of 0-based feature indices) of sklearn's
-- order: by degree, then lexicographic (with replacement unless
-- interaction_only).
local function combinations(p, degree, interaction_only, include_bias)
  local out = {}
  if include_bias then out[1] = {} end
  local function rec(start, d, cur)
    if #cur == d then
      local c = {}
      for i, v in ipairs(cur) do c[i] = v end
      out[#out + 1] = c
      return
    end
    for j = start, p - 1 do
      cur[#cur + 1] = j
      rec(interaction_only and j + 1 or j, d, cur)
      cur[#cur] = nil
    end
  end
  for d = 1, degree do rec(0, d, {}) end
  return out
end

function PolynomialFeatures._fit(self, X)
  local p = X.shape[2]
  local combos = combinations(p, self.params.degree, self.params.interaction_only, self.params.include_bias)
  local powers = nd.zeros({ #combos, p }, "int64")
  local pp = powers:data()
  for i, c in ipairs(combos) do
    for _, j in ipairs(c) do pp[(i - 1) * p + j] = pp[(i - 1) * p + j] + 1 end
  end
  self.powers_ = powers
  self.n_output_features_ = #combos
end
PolynomialFeatures._fit_array = function(self, X) PolynomialFeatures._fit(self, X) end

function PolynomialFeatures._n_out(self) return self.n_output_features_ end

function PolynomialFeatures._transform(self, X)
  local x = f64(X)
  local n, p = x.shape[1], x.shape[2]
  local q = self.n_output_features_
  local powers = self.powers_:data()
  local out = nd.zeros({ n, q }, "float64")
  local xp, op = x:data(), out:data()
  for i = 0, n - 1 do
    local row = i * p
    for k = 0, q - 1 do
      local v = 1
      local pr = k * p
      for j = 0, p - 1 do
        local e = powers[pr + j]
        if e > 0 then
          local xv = xp[row + j]
          for _ = 1, tonumber(e) do v = v * xv end
        end
      end
      op[i * q + k] = v
    end
  end
  keep(x, self.powers_)
  return out
end

-- ---------------------------------------------------------------------------
-- OneHotEncoder

--- OneHotEncoder{categories = "auto", handle_unknown = "error", drop =
-- false, sparse_output = false}: one column per category of each input
-- column, in sorted category order. Takes integer (or any numeric) ndarrays
-- and arrays, and dataframes (every column, strings included). Fitted:
-- `categories_` (a list per input column: an ndarray of numbers, or a Lua
-- list of strings), `feature_names_in_` (dataframes), and
-- `get_feature_names_out()`.
-- @table OneHotEncoder
local OneHotEncoder = base.estimator("OneHotEncoder",
  { categories = "auto", handle_unknown = "error", sparse_output = false, dtype = "float64" }, { module = MOD })
M.OneHotEncoder = OneHotEncoder

function OneHotEncoder._check_params(self)
  local p = self.params
  if p.handle_unknown ~= "error" and p.handle_unknown ~= "ignore" then
    misuse("OneHotEncoder: handle_unknown must be 'error' or 'ignore', got " .. tostring(p.handle_unknown))
  end
  if p.sparse_output then misuse("OneHotEncoder: sparse_output = true is not supported (dense output only)") end
  if p.categories ~= "auto" and type(p.categories) ~= "table" then
    misuse("OneHotEncoder: categories must be 'auto' or a list of lists of categories")
  end
end

-- Sorted distinct values of Lua list VALS (nil holes skipped: missing).
local function distinct(vals, n)
  local seen, out = {}, {}
  for i = 1, n do
    local v = vals[i]
    if v ~= nil and v == v and not seen[v] then seen[v] = true; out[#out + 1] = v end
  end
  sort(out, function(a, b)
    if type(a) ~= type(b) then return type(a) < type(b) end
    return a < b
  end)
  return out
end

-- categories_ entry for a sorted Lua list of values.
local function cat_entry(list)
  for _, v in ipairs(list) do if type(v) ~= "number" then return list end end
  return vec(list)
end

local function cat_list(c)
  if nd.is_ndarray(c) then return c:tolist() end
  return c
end

-- Sets categories_ from per-column lists of values.
local function set_categories(self, per_col)
  local given = self.params.categories
  local cats = {}
  for j, vals in ipairs(per_col) do
    if given ~= "auto" then
      local g = given[j]
      if type(g) ~= "table" then misuse(format("OneHotEncoder: categories has no list for column %d", j - 1)) end
      local list = {}
      for i, v in ipairs(g) do list[i] = v end
      cats[j] = cat_entry(list)
    else
      cats[j] = cat_entry(vals)
    end
  end
  self.categories_ = cats
end

function OneHotEncoder._fit(self, X)
  local x = f64(X)
  local n, p = x.shape[1], x.shape[2]
  local xp = x:data()
  local per = {}
  for j = 0, p - 1 do
    local col = {}
    for i = 0, n - 1 do col[i + 1] = xp[i * p + j] end
    per[j + 1] = distinct(col, n)
  end
  keep(x)
  set_categories(self, per)
end

--- Task: the distinct values of each column of block X (a list of sets).
-- @param x an ndarray
-- @return a list of tables value -> true
function M._distinct_part(x)
  local c = f64(x)
  local n, p = c.shape[1], c.shape[2]
  local cp = c:data()
  local sets = {}
  for j = 1, p do sets[j] = {} end
  for i = 0, n - 1 do
    for j = 0, p - 1 do
      local v = cp[i * p + j]
      if v == v then sets[j + 1][v] = true end -- NaN: missing, not a category
    end
  end
  keep(c)
  return sets
end

function OneHotEncoder._fit_array(self, X)
  local p = X.shape[2]
  local merged = {}
  for j = 1, p do merged[j] = {} end
  for _, sets in ipairs(base.partials(M._distinct_part, { X })) do
    for j = 1, p do for v in pairs(sets[j]) do merged[j][v] = true end end
  end
  local per = {}
  for j = 1, p do
    local vals = {}
    for v in pairs(merged[j]) do vals[#vals + 1] = v end
    per[j] = distinct(vals, #vals)
  end
  set_categories(self, per)
end

function OneHotEncoder._n_out(self)
  local k = 0
  for _, c in ipairs(self.categories_) do k = k + #cat_list(c) end
  return k
end

-- Per input column: a table value -> 0-based output column, and the offset.
local function lookup(self)
  local maps, off = {}, 0
  for j, c in ipairs(self.categories_) do
    local m = {}
    for i, v in ipairs(cat_list(c)) do m[v] = off + i - 1 end
    maps[j] = m
    off = off + #cat_list(c)
  end
  return maps, off
end

-- Encodes row values: GET(i, j) gives the value of row i (0-based) of
-- input column j (1-based); N rows, P columns.
local function encode(self, get, n, p, names)
  local maps, width = lookup(self)
  if p ~= #maps then
    misuse(format("OneHotEncoder: X has %d columns, but the encoder was fitted with %d", p, #maps))
  end
  local out = nd.zeros({ n, width }, "float64")
  local op = out:data()
  local ignore = self.params.handle_unknown == "ignore"
  for i = 0, n - 1 do
    for j = 1, p do
      local v = get(i, j)
      local k = v ~= nil and maps[j][v]
      if k then
        op[i * width + k] = 1
      elseif not ignore then
        error(format("OneHotEncoder: found unknown category %s in column %s during transform "
          .. "(handle_unknown = 'ignore' encodes it as all zeros)", tostring(v),
          names and tostring(names[j]) or tostring(j - 1)), 0)
      end
    end
  end
  return out
end

function OneHotEncoder._transform(self, X)
  local x = f64(X)
  local p = x.shape[2]
  local xp = x:data()
  local out = encode(self, function(i, j) return xp[i * p + j - 1] end, x.shape[1], p)
  keep(x)
  return out
end

-- Encodes an in-memory frame partition (a dataframe's) into an ndarray.
function OneHotEncoder._transform_frame(self, f)
  local fr = require "ldask.dataframe.frame"
  local names = self.feature_names_in_
  local cols = {}
  for j, name in ipairs(names) do
    if not f._cols[name] then error(format("OneHotEncoder: the frame has no column '%s'", tostring(name)), 0) end
    cols[j] = fr.values(f._cols[name])
  end
  return encode(self, function(i, j) return cols[j][i + 1] end, f._n, #names, names)
end

-- A one-partition frame of the encoded block (for dataframe inputs).
local function encoded_frame(self, part)
  local fr = require "ldask.dataframe.frame"
  local column = require "ldask.dataframe.column"
  local a = OneHotEncoder._transform_frame(self, part)
  local names = self:get_feature_names_out()
  local cols = {}
  local n = a.shape[1]
  for k, name in ipairs(names) do cols[name] = column.numeric("float64", a:slice({ { 0, n }, k - 1 }):copy(true)) end
  return fr.new(names, cols, n)
end

local function is_df(v)
  local dfm = package.loaded["ldask.dataframe"]
  return dfm and (dfm.is_dataframe(v)) or false
end

local function is_frame(v)
  local fr = package.loaded["ldask.dataframe.frame"]
  return fr and fr.is_frame(v) or false
end

--- encoder:fit(X): X an ndarray, an ldask array, an in-memory frame or a
-- dataframe (all its columns; the distinct values are computed per column).
-- @return the encoder
function OneHotEncoder.fit(self, X, y)
  if is_df(X) then
    local names = X.columns
    local per = {}
    for j, name in ipairs(names) do
      local vc = X[name]:value_counts():compute()
      local vals = vc:index_values()
      per[j] = distinct(vals, #vals)
    end
    for k in pairs(self) do if type(k) == "string" and k:sub(-1) == "_" then self[k] = nil end end
    set_categories(self, per)
    self.feature_names_in_ = names
    self.n_features_in_ = #names
    return self
  end
  if is_frame(X) then
    local fr = require "ldask.dataframe.frame"
    local names = X.columns
    local per = {}
    for j, name in ipairs(names) do
      local vals = fr.values(X._cols[name])
      per[j] = distinct(vals, X._n)
    end
    for k in pairs(self) do if type(k) == "string" and k:sub(-1) == "_" then self[k] = nil end end
    set_categories(self, per)
    self.feature_names_in_ = names
    self.n_features_in_ = #names
    return self
  end
  return base.Base.fit(self, X, y)
end

--- encoder:transform(X): the one-hot columns (float64): an ldask array for
-- arrays and dataframes (block-wise, per partition), an ndarray for
-- ndarrays and in-memory frames.
-- @return an array or ndarray
function OneHotEncoder.transform(self, X)
  if is_df(X) or is_frame(X) then
    base.check_fitted(self)
    if not self.feature_names_in_ then
      misuse("OneHotEncoder: fitted on an array, so it transforms arrays (not a dataframe)")
    end
    if is_frame(X) then return OneHotEncoder._transform_frame(self, X) end
    local names = self:get_feature_names_out()
    local dtypes = {}
    for _, n in ipairs(names) do dtypes[n] = "float64" end
    local est = self
    local enc = X:map_partitions(function(part) return encoded_frame(est, part) end, { meta = { names = names, dtypes = dtypes } })
    return base.dataframe_array(enc, "X")
  end
  return base.Base.transform(self, X)
end

--- encoder:fit_transform(X): fit then transform.
-- @return like transform
function OneHotEncoder.fit_transform(self, X, y)
  OneHotEncoder.fit(self, X, y)
  return OneHotEncoder.transform(self, X)
end

--- encoder:get_feature_names_out(): output column names "<column>_<category>"
-- (columns named x0, x1, ... for array inputs), as sklearn.
-- @return a Lua list of strings
function OneHotEncoder.get_feature_names_out(self)
  base.check_fitted(self)
  local out = {}
  for j, c in ipairs(self.categories_) do
    local cname = self.feature_names_in_ and tostring(self.feature_names_in_[j]) or ("x" .. (j - 1))
    for _, v in ipairs(cat_list(c)) do
      local s = type(v) == "number" and (v == math.floor(v) and format("%d", v) or format("%.17g", v)) or tostring(v)
      out[#out + 1] = cname .. "_" .. s
    end
  end
  return out
end

return M
