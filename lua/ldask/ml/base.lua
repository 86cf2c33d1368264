--- ldask.ml.base: the estimator contract of ldask.ml (scikit-learn's, on
-- ldask arrays, dataframes and in-memory ndarrays). `base.estimator(name,
-- defaults, spec)` makes an estimator class; instances are plain tables
-- `{ params = {...}, <fitted attributes>_ = ndarray, ... }` whose metatable is
-- the class, registered with ldask.codec so a fitted estimator travels to
-- executor threads and workers (the class by name, the data by value).
--
-- A class implements the in-memory steps (ndarrays in, ndarrays out):
-- `_fit(self, X, y)`, `_transform(self, X)`, `_predict(self, X)`,
-- `_predict_proba(self, X)`, optionally `_score(self, X, y)`, and
-- optionally `_fit_array(self, X, y)` fitting from blocked arrays (X with
-- one block across its columns, y chunked as X's rows). The shared methods
-- here (fit, transform, predict, predict_proba, score, fit_transform and
-- their `_local` forms for use inside tasks) convert inputs, check fitted
-- state and shapes, and build the block-wise graphs.
-- @module ldask.ml.base

-- This file holds the classes, their parameters and the shared methods;
-- the conversion of inputs (inputs.lua) and the block-wise partial results
-- (partials.lua) are in their own files, and their functions are this
-- module's too.
local nd = require "ldask.array.ndarray"
local tokenize = require "ldask.tokenize"
local codec = require "ldask.codec"
local errors = require "ldask.errors"

local type, pairs, ipairs, tostring, format, concat, sort, error, getmetatable, setmetatable, rawget, select =
  type, pairs, ipairs, tostring, string.format, table.concat, table.sort, error, getmetatable, setmetatable,
  rawget, select
local is_nd = nd.is_ndarray
local misuse = errors.misuse

local M = {}

--- base.keep(...): returns its arguments. Called after the last use of
-- pointers into ndarrays (`a:data()`), it keeps the ndarrays alive up to
-- there: LuaJIT's compiled code keeps only values later bytecode reads
-- (docs/architecture.md, "Raw pointers and their owners").
-- @return its arguments
M.keep = require "ldask.array.keep"

--- The methods every estimator shares (the class's metatable's __index).
-- @table Base
local Base = {}
M.Base = Base

-- Classes by name (not a module field: a class defined in a script must
-- not travel as a reference to it).
local registry = {}

--- base.class_of(name): the estimator class named NAME (or nil).
-- @param name a class name
-- @return the class table
function M.class_of(name) return registry[name] end

local function is_class(t) return type(t) == "table" and rawget(t, "_defaults") ~= nil and rawget(t, "__index") == t end

--- True when V is an estimator instance (of a class made by base.estimator).
-- @param v any value
-- @return boolean
function M.is_estimator(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  return mt ~= nil and is_class(mt) and rawget(v, "params") ~= nil
end
local is_estimator = M.is_estimator

-- Sorted list of the keys of T.
local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  sort(ks, function(a, b) return tostring(a) < tostring(b) end)
  return ks
end

-- A copy of parameter value V: estimators are cloned, plain tables copied
-- one level down (lists of values, grids), the rest kept.
local function copy_param(v)
  if is_estimator(v) then return v:clone() end
  if type(v) == "table" and getmetatable(v) == nil then
    local c = {}
    for k, x in pairs(v) do c[k] = copy_param(x) end
    return c
  end
  return v
end

local function check_names(cls, params)
  for k in pairs(params) do
    if rawget(cls._defaults, k) == nil then
      misuse(format("%s: unknown parameter '%s' (valid parameters: %s)", cls.__name, tostring(k),
        concat(cls._param_names, ", ")))
    end
  end
end

local function new(cls, params)
  if params ~= nil and type(params) ~= "table" then
    misuse(format("%s: parameters must be a table {name = value, ...}, got %s", cls.__name, type(params)))
  end
  params = params or {}
  check_names(cls, params)
  local p = {}
  for k, v in pairs(cls._defaults) do p[k] = copy_param(v) end
  for k, v in pairs(params) do p[k] = v end
  local est = setmetatable({ params = p }, cls)
  if cls._check_params then cls._check_params(est) end
  return est
end

-- Value V formatted for a repr.
local function repr_value(v)
  local t = type(v)
  if t == "string" then return "'" .. v .. "'" end
  if t == "number" then return format("%.6g", v) end
  if t == "table" and not is_estimator(v) and getmetatable(v) == nil then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = repr_value(x) end
    return "{" .. concat(parts, ", ") .. "}"
  end
  return tostring(v)
end

-- Equality of parameter values for the repr (non-defaults are shown).
local function same(a, b)
  if a == b then return true end
  if type(a) == "table" and type(b) == "table" and not is_estimator(a) and not is_estimator(b) then
    for k, v in pairs(a) do if not same(v, b[k]) then return false end end
    for k in pairs(b) do if a[k] == nil then return false end end
    return true
  end
  return false
end

local function repr(est)
  local cls = getmetatable(est)
  local parts = {}
  for _, k in ipairs(cls._param_names) do
    local v = est.params[k]
    if not same(v, cls._defaults[k]) then parts[#parts + 1] = k .. "=" .. repr_value(v) end
  end
  return cls.__name .. "(" .. concat(parts, ", ") .. ")"
end

--- base.fitted_names(est): the names of EST's fitted attributes (fields
-- ending in "_"), sorted.
-- @param est an estimator
-- @return a Lua list
function M.fitted_names(est)
  local out = {}
  for k in pairs(est) do
    if type(k) == "string" and k:sub(-1) == "_" then out[#out + 1] = k end
  end
  sort(out)
  return out
end
local fitted_names = M.fitted_names

--- base.tokenize(est): a token of the class name and the parameters (not
-- the fitted state): what ml-search uses in graph keys, together with the
-- token of the data a step sees. (`ldask.tokenize(est)` of an instance also
-- covers its fitted attributes, so two differently fitted estimators never
-- share a key when passed to tasks.)
-- @param est an estimator
-- @return a 32-hex-digit string
function M.tokenize(est)
  if not is_estimator(est) then misuse("base.tokenize: expected an estimator, got " .. type(est)) end
  local cls = getmetatable(est)
  return tokenize.tokenize("estimator", cls.__name, est.params)
end

local function instance_token(est)
  local cls = getmetatable(est)
  local fitted = {}
  for _, k in ipairs(fitted_names(est)) do
    local v = est[k]
    if require("ldask.base").is_collection(v) then v = v:__ldask_keys() end
    fitted[k] = v
  end
  return tokenize.tokenize("estimator", cls.__name, est.params, fitted)
end

--- base.estimator(name, defaults, spec): a new estimator class NAME with
-- parameters DEFAULTS (a table name -> default value; scikit-learn's None
-- is written `false`). SPEC: `module` (the require name that defines the
-- class, so executors can find it), `type` ("transformer", "classifier",
-- "regressor" or "clusterer": what `score` means), `predict_dtype`
-- (default "float64"). `Class(params)` / `Class.new(params)` make
-- instances; unknown parameter names raise at the caller's line.
-- @param name the class name (as scikit-learn's)
-- @param defaults the parameters and their defaults
-- @param[opt] spec `{ module =, type =, predict_dtype = }`
-- @return the class table (add methods `_fit`, `_transform`, ... to it)
function M.estimator(name, defaults, spec)
  if type(name) ~= "string" then error("base.estimator: name must be a string", 2) end
  if type(defaults) ~= "table" then error("base.estimator: defaults must be a table", 2) end
  spec = spec or {}
  local cls = {
    __name = name,
    _defaults = defaults,
    _param_names = sorted_keys(defaults),
    _estimator_type = spec.type or "transformer",
    _predict_dtype = spec.predict_dtype or "float64",
    _module = spec.module,
    __tostring = repr,
    __ldask_tokenize = instance_token,
  }
  cls.__index = cls
  cls.new = function(params) return new(cls, params) end
  setmetatable(cls, {
    __index = Base,
    __call = function(_, params) return new(cls, params) end,
    __tostring = function() return "class " .. name end,
  })
  registry[name] = cls
  -- with a module, the class travels by name (the executor requires the
  -- module); without one (a class defined in a script) by value
  if spec.module then codec.register("ldask.ml." .. name, cls, spec.module) end
  return cls
end

-- ---------------------------------------------------------------------------
-- Parameters

--- est:get_params(): a copy of the parameters (a table name -> value).
-- @return a table
function Base.get_params(est)
  local out = {}
  for k, v in pairs(est.params) do out[k] = v end
  return out
end

--- est:set_params{name = value, ...}: sets parameters (unknown names raise
-- naming the valid ones); returns est. Nested `step__param` names are
-- Pipeline's.
-- @return est
function Base.set_params(est, params)
  local cls = getmetatable(est)
  if type(params) ~= "table" then misuse(cls.__name .. ":set_params: expected a table {name = value, ...}") end
  check_names(cls, params)
  for k, v in pairs(params) do est.params[k] = v end
  if cls._check_params then cls._check_params(est) end
  return est
end

--- est:clone(): a new, unfitted estimator with the same parameters
-- (estimators among them cloned too), like sklearn.base.clone.
-- @return an estimator
function Base.clone(est)
  local cls = getmetatable(est)
  local p = {}
  for k, v in pairs(est.params) do p[k] = copy_param(v) end
  return setmetatable({ params = p }, cls)
end

--- est:is_fitted(): true after fit.
-- @return boolean
function Base.is_fitted(est) return rawget(est, "n_features_in_") ~= nil end

--- base.check_fitted(est): raises "<Name> is not fitted yet: call fit
-- first" at the user's line unless EST is fitted.
-- @param est an estimator
function M.check_fitted(est)
  if rawget(est, "n_features_in_") == nil then
    misuse(getmetatable(est).__name .. " is not fitted yet: call fit first")
  end
end
local check_fitted = M.check_fitted

-- ---------------------------------------------------------------------------
-- Inputs (lua/ldask/ml/inputs.lua) and block-wise partial results
-- (lua/ldask/ml/partials.lua): their functions are this module's too.

for _, part in ipairs({ require "ldask.ml.inputs", require "ldask.ml.partials" }) do
  for k, v in pairs(part) do M[k] = v end
end
local as_data, whole_columns, rows_like, materialize = M.as_data, M.whole_columns, M.rows_like,
  M.materialize

-- Checks that X (ndarray or array) and y have the same number of rows.
local function check_rows(est, x, y)
  if y ~= nil and y.shape[1] ~= x.shape[1] then
    misuse(format("%s: X has %d samples but y has %d", getmetatable(est).__name, x.shape[1], y.shape[1]))
  end
end

-- Checks that X has the number of features EST was fitted with.
local function check_features(est, x)
  local n = x.ndim == 2 and x.shape[2] or 1
  if n ~= est.n_features_in_ then
    local name = getmetatable(est).__name
    misuse(format("%s: X has %d features, but %s was fitted with %d", name, n, name, est.n_features_in_))
  end
end

-- ---------------------------------------------------------------------------
-- In-memory forms (inside tasks, or for ndarrays)

-- Clears the fitted attributes of EST.
local function reset(est)
  for _, k in ipairs(fitted_names(est)) do est[k] = nil end
end

local function need(est, method)
  local f = getmetatable(est)[method]
  if not f then misuse(format("%s has no %s", getmetatable(est).__name, method:sub(2))) end
  return f
end

--- est:fit_local(X, y): fits from in-memory ndarrays (what tasks call);
-- returns est.
-- @return est
function Base.fit_local(est, X, y)
  local f = need(est, "_fit")
  local _, x = as_data(X, "X", 2)
  local yv
  if y ~= nil then _, yv = as_data(y, "y", 1) end
  check_rows(est, x, yv)
  reset(est)
  f(est, x, yv)
  est.n_features_in_ = x.shape[2]
  return est
end

local function local_method(method)
  return function(est, X)
    local f = need(est, method)
    check_fitted(est)
    local _, x = as_data(X, "X", 2)
    check_features(est, x)
    return f(est, x)
  end
end

--- est:transform_local(X): the transform of an ndarray (an ndarray).
-- @function Base.transform_local
Base.transform_local = local_method("_transform")
--- est:predict_local(X): predictions for an ndarray (a 1-D ndarray).
-- @function Base.predict_local
Base.predict_local = local_method("_predict")
--- est:predict_proba_local(X): class probabilities for an ndarray (n x classes).
-- @function Base.predict_proba_local
Base.predict_proba_local = local_method("_predict_proba")

--- est:fit_transform_local(X, y): fit_local then transform_local.
-- @return an ndarray
function Base.fit_transform_local(est, X, y)
  Base.fit_local(est, X, y)
  return need(est, "_transform")(est, (select(2, as_data(X, "X", 2))))
end

--- est:score_local(X, y): the score on ndarrays (a number).
-- @return a number
function Base.score_local(est, X, y)
  check_fitted(est)
  local _, x = as_data(X, "X", 2)
  local _, yv
  if y ~= nil then _, yv = as_data(y, "y", 1) end
  check_features(est, x)
  return M.score_of(est, x, yv)
end

--- base.score_of(est, x, y): the score of fitted EST on ndarrays X, Y (the
-- class's _score, else accuracy for classifiers, r2 for regressors).
-- @param est an estimator
-- @param x an ndarray
-- @param y an ndarray or nil
-- @return a number
function M.score_of(est, x, y)
  local cls = getmetatable(est)
  if cls._score then return cls._score(est, x, y) end
  local metrics = require "ldask.ml.metrics"
  local t = cls._estimator_type
  if t == "classifier" then return metrics.accuracy_score(y, cls._predict(est, x)) end
  if t == "regressor" then return metrics.r2_score(y, cls._predict(est, x)) end
  misuse(cls.__name .. " has no score")
end

-- ---------------------------------------------------------------------------
-- Lazy forms

--- base.apply_block(est, method, block, ...): EST:METHOD(block, ...) on one
-- block (the task function of the block-wise graphs; travels by path).
-- @return what the method returns
function M.apply_block(est, method, ...)
  return getmetatable(est)[method](est, ...)
end

--- base.shippable(est): EST as it travels in tasks: a copy with the same
-- class, parameters and fitted attributes, minus lazy collections among
-- them (KMeans's labels_ of an array), which tasks never need.
-- @param est an estimator
-- @return an estimator
function M.shippable(est)
  local c = {}
  for k, v in pairs(est) do
    if not require("ldask.base").is_collection(v) then c[k] = v end
  end
  return setmetatable(c, getmetatable(est))
end

--- base.rowwise(est, method, x, ncols, dtype): a block-wise array: row
-- block i of X (an ldask array) through `est:METHOD(block)`, giving blocks
-- of NCOLS columns (nil: 1-D output) of DTYPE.
-- @param est an estimator
-- @param method a method name of its class ("_transform")
-- @param x an Array
-- @param ncols the output width, or nil
-- @param dtype the output dtype
-- @return an Array
function M.rowwise(est, method, x, ncols, dtype)
  local graph = require "ldask.graph"
  local acore = require "ldask.array.core"
  x = whole_columns(x)
  local name = getmetatable(est).__name:lower() .. "-" .. method:sub(2) .. "-"
    .. tokenize.tokenize(instance_token(est), method, x.name)
  local layer = {}
  local q = graph.quote(M.shippable(est))
  for i = 0, #x.chunks[1] - 1 do
    layer[ncols and graph.key(name, i, 0) or graph.key(name, i)] = { M.apply_block, q, method, graph.key(x.name, i, 0) }
  end
  local chunks = { x.chunks[1] }
  if ncols then chunks[2] = { ncols } end
  return acore.new(name, layer, chunks, dtype, { x })
end
local rowwise = M.rowwise

--- est:fit(X, y): fits from an ldask array or dataframe (computing what it
-- needs: block-wise when the estimator has a blocked algorithm, else the
-- data in memory), or from an ndarray directly; returns est.
-- @return est
function Base.fit(est, X, y)
  local cls = getmetatable(est)
  local kind, x = as_data(X, "X", 2)
  local ykind, yv
  if y ~= nil then ykind, yv = as_data(y, "y", 1) end
  check_rows(est, x, yv)
  if kind == "ndarray" then
    return Base.fit_local(est, x, materialize(yv))
  end
  if cls._fit_array then
    x = whole_columns(x)
    if yv ~= nil then
      if ykind == "ndarray" then yv = require("ldask.array").from_array(yv, { chunks = { x.chunks[1] } }) end
      yv = rows_like(yv, x)
    end
    reset(est)
    cls._fit_array(est, x, yv)
    est.n_features_in_ = x.shape[2]
    return est
  end
  return Base.fit_local(est, x:compute(), materialize(yv))
end

local function lazy_method(method, cols_of, dtype_of)
  return function(est, X)
    local cls = getmetatable(est)
    need(est, method)
    check_fitted(est)
    local kind, x = as_data(X, "X", 2)
    check_features(est, x)
    if kind == "ndarray" then return cls[method](est, x) end
    return rowwise(est, method, x, cols_of(est, x), dtype_of(est))
  end
end

local function f64() return "float64" end

--- est:transform(X): the transformed data: an ldask array (block-wise, lazy)
-- for array or dataframe input, an ndarray for an ndarray.
-- @function Base.transform
Base.transform = lazy_method("_transform", function(est, x)
  return getmetatable(est)._n_out and getmetatable(est)._n_out(est, x.shape[2]) or x.shape[2]
end, f64)
--- est:predict(X): predictions (1-D), lazy for arrays.
-- @function Base.predict
Base.predict = lazy_method("_predict", function() return nil end,
  function(est) return getmetatable(est)._predict_dtype end)
--- est:predict_proba(X): class probabilities (n x classes), lazy for arrays.
-- @function Base.predict_proba
Base.predict_proba = lazy_method("_predict_proba", function(est) return #est.classes_ end, f64)

--- est:fit_transform(X, y): fit, then transform of the same X.
-- @return like transform
function Base.fit_transform(est, X, y)
  Base.fit(est, X, y)
  return Base.transform(est, X)
end

--- est:score(X, y): the estimator's score (accuracy for classifiers, r2 for
-- regressors, minus the inertia for KMeans), a number; computed for arrays.
-- @return a number
function Base.score(est, X, y)
  local cls = getmetatable(est)
  check_fitted(est)
  local kind, x = as_data(X, "X", 2)
  check_features(est, x)
  local yv
  if y ~= nil then yv = select(2, as_data(y, "y", 1)) end
  if kind == "ndarray" and (yv == nil or is_nd(yv)) then return M.score_of(est, x, yv) end
  if cls._score_array then return cls._score_array(est, whole_columns(x), yv) end
  local metrics = require "ldask.ml.metrics"
  local t = cls._estimator_type
  if t == "classifier" then return metrics.accuracy_score(yv, Base.predict(est, x)) end
  if t == "regressor" then return metrics.r2_score(yv, Base.predict(est, x)) end
  return M.score_of(est, materialize(x), materialize(yv))
end

--- base.rng(seed): a seeded generator of uniform doubles in [0, 1)
-- (splitmix64; the same seed gives the same stream in every state). Its
-- methods: `g:random()` a double, `g:int(n)` an integer in [0, n),
-- `g:normal()` a standard normal, `g:permutation(n)` a shuffled int64
-- ndarray of 0..n-1.
-- @param seed a number
-- @return a generator table
function M.rng(seed)
  local ffi = require "ffi"
  local state = ffi.new("uint64_t[1]", (seed or 0) + 0x9E3779B97F4A7C15ULL)
  local g = {}
  local TWO53 = 2 ^ -53
  function g.random(_)
    state[0] = state[0] + 0x9E3779B97F4A7C15ULL
    local z = state[0]
    z = bit.bxor(z, bit.rshift(z, 30)) * 0xBF58476D1CE4E5B9ULL
    z = bit.bxor(z, bit.rshift(z, 27)) * 0x94D049BB133111EBULL
    z = bit.bxor(z, bit.rshift(z, 31))
    return tonumber(bit.rshift(z, 11)) * TWO53
  end
  function g.int(_, n) return math.floor(g.random() * n) end
  function g.normal(_)
    local u1 = g.random()
    while u1 == 0 do u1 = g.random() end
    return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * g.random())
  end
  function g.permutation(_, n)
    local p = nd.zeros({ n }, "int64")
    local d = p:data()
    for i = 0, n - 1 do d[i] = i end
    for i = n - 1, 1, -1 do
      local j = g:int(i + 1)
      d[i], d[j] = d[j], d[i]
    end
    return p
  end
  return g
end

--- est:name(): the class name ("StandardScaler").
-- @return a string
function Base.name(est) return getmetatable(est).__name end

return M
