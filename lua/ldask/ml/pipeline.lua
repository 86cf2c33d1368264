--- ldask.ml.pipeline: Pipeline and make_pipeline, scikit-learn's contract.
-- A Pipeline chains transformers and a final estimator: fit fits each step
-- on the output of the previous ones, predict/score/transform send data
-- through the fitted steps. Its parameters are `steps` and, through
-- get_params/set_params, each step (by name) and each step's parameters
-- (`step__param`). A Pipeline is an estimator of ldask.ml.base (it travels
-- to executors like any other); GridSearchCV (ldask.ml.search) splits it
-- into one task per step so candidates share their common prefixes.
-- @module ldask.ml.pipeline
local base = require "ldask.ml.base"

local type, pairs, ipairs, tostring, getmetatable, setmetatable, rawget, rawset, select =
  type, pairs, ipairs, tostring, getmetatable, setmetatable, rawget, rawset, select
local format, concat = string.format, table.concat
local misuse = require("ldask.errors").misuse
local is_estimator = base.is_estimator

local M = {}

--- The Pipeline class: `Pipeline{{"name", estimator}, ...}` or
-- `Pipeline{steps = {...}}`. Instances have `steps` (the list of
-- `{name, estimator}` pairs), `named_steps` (name -> estimator) and the
-- estimator methods: fit, transform, predict, predict_proba, score,
-- fit_transform (and their `_local` forms), get_params, set_params, clone.
-- A step may be "passthrough" (or false): it leaves the data as it is.
-- @table Pipeline
local Pipeline = base.estimator("Pipeline", { steps = {}, memory = false, verbose = false },
  { module = "ldask.ml.pipeline", type = "pipeline" })
M.Pipeline_class = Pipeline

local function is_skip(est) return est == "passthrough" or est == false end

local function has(est, method) return type(est) == "table" and type(est[method]) == "function" end

-- True when EST transforms: its class implements _transform, or it is a
-- Pipeline (whose last step decides at transform time).
local function is_transformer(est)
  if not is_estimator(est) then return has(est, "fit") and has(est, "transform_local") end
  local cls = getmetatable(est)
  return cls.__name == "Pipeline" or type(cls._transform) == "function"
end

-- Checks the steps list S (sklearn's _validate_steps) and refreshes the
-- views `steps` and `named_steps` of P.
local function validate(p, s)
  if type(s) ~= "table" or getmetatable(s) ~= nil then
    misuse(format("Pipeline: steps must be a list of {name, estimator} pairs, got %s", type(s)))
  end
  if #s == 0 then misuse("Pipeline: steps must not be empty") end
  local names, seen = {}, {}
  for i, st in ipairs(s) do
    if type(st) ~= "table" or type(st[1]) ~= "string" or st[2] == nil then
      misuse(format("Pipeline: step %d must be a {name, estimator} pair, got %s", i,
        type(st) == "table" and ("{" .. tostring(st[1]) .. ", " .. tostring(st[2]) .. "}") or type(st)))
    end
    local name, est = st[1], st[2]
    if seen[name] then misuse(format("Pipeline: step names must be unique, '%s' is used twice", name)) end
    if name:find("__", 1, true) then
      misuse(format("Pipeline: step name '%s' must not contain '__'", name))
    end
    if Pipeline._defaults[name] ~= nil then
      misuse(format("Pipeline: step name '%s' conflicts with the parameter '%s'", name, name))
    end
    seen[name] = true
    names[i] = name
    if not is_skip(est) then
      if i < #s and not is_transformer(est) then
        misuse(format("Pipeline: step '%s' (step %d) must be a transformer (fit and transform) or "
          .. "'passthrough', got %s", name, i, tostring(est)))
      elseif i == #s and not (has(est, "fit") and has(est, "fit_local")) then
        misuse(format("Pipeline: the final step '%s' must be an estimator or 'passthrough', got %s", name,
          tostring(est)))
      end
    end
  end
  local named = {}
  for _, st in ipairs(s) do named[st[1]] = st[2] end
  rawset(p, "steps", s)
  rawset(p, "named_steps", named)
  return p
end

Pipeline._check_params = function(p) validate(p, p.params.steps) end

--- Pipeline(steps): a new pipeline. STEPS is a list of `{name, estimator}`
-- pairs (intermediate steps transformers), or `{steps = ..., memory =,
-- verbose =}` as scikit-learn's keyword arguments.
-- @param steps the steps
-- @return a Pipeline
-- @usage local ml = require "ldask.ml"
-- local pipe = ml.Pipeline{ { "scale", ml.StandardScaler() }, { "clf", ml.LogisticRegression() } }
-- print(pipe:get_params().clf__C)   --> 1
function M.Pipeline(steps)
  if type(steps) == "table" and getmetatable(steps) == nil and steps.steps == nil and steps[1] ~= nil then
    steps = { steps = steps }
  end
  if type(steps) ~= "table" or getmetatable(steps) ~= nil or steps.steps == nil then
    misuse("Pipeline: expected a list of {name, estimator} pairs")
  end
  return Pipeline.new(steps)
end

--- True when V is a Pipeline.
-- @param v any value
-- @return boolean
function M.is_pipeline(v) return type(v) == "table" and getmetatable(v) == Pipeline end

--- make_pipeline(est1, est2, ...): a Pipeline whose step names are the
-- lowercased class names (repeated names get "-1", "-2", ... as
-- scikit-learn's).
-- @param ... estimators
-- @return a Pipeline
-- @usage local ml = require "ldask.ml"
-- local pipe = ml.make_pipeline(ml.StandardScaler(), ml.PCA{ n_components = 2 })
-- print(pipe.steps[2][1])   --> pca
function M.make_pipeline(...)
  local n = select("#", ...)
  local ests, names, count = { ... }, {}, {}
  for i = 1, n do
    local e = ests[i]
    local nm = is_skip(e) and "passthrough" or (getmetatable(e) and getmetatable(e).__name or type(e)):lower()
    names[i] = nm
    count[nm] = (count[nm] or 0) + 1
  end
  local used, steps = {}, {}
  for i = 1, n do
    local nm = names[i]
    if count[nm] > 1 then
      used[nm] = (used[nm] or 0) + 1
      nm = nm .. "-" .. used[nm]
    end
    steps[i] = { nm, ests[i] }
  end
  return M.Pipeline(steps)
end

-- ---------------------------------------------------------------------------
-- Parameters

--- pipe:get_params(deep): the parameters: `steps`, `memory`, `verbose`,
-- and (deep, the default) each step by name and its parameters as
-- `step__param`.
-- @param[opt] deep default true
-- @return a table
function Pipeline:get_params(deep)
  local p = self
  local out = { steps = p.params.steps, memory = p.params.memory, verbose = p.params.verbose }
  if deep == false then return out end
  for _, st in ipairs(p.params.steps) do
    local name, est = st[1], st[2]
    out[name] = est
    if is_estimator(est) then
      for k, v in pairs(est:get_params()) do out[name .. "__" .. k] = v end
    end
  end
  return out
end

--- pipe:set_params{...}: sets `steps`, replaces a step by name
-- (`clf = ml.LinearRegression()` or "passthrough"), or sets a step's
-- parameter in place (`clf__C = 0.1`; nested pipelines take `a__b__c`).
-- Unknown names raise naming the valid ones. Returns the pipeline.
-- @param params a table
-- @return the pipeline
function Pipeline:set_params(params)
  local p = self
  if type(params) ~= "table" then misuse("Pipeline:set_params: expected a table {name = value, ...}") end
  if params.steps ~= nil then p.params.steps = params.steps end
  for _, k in ipairs({ "memory", "verbose" }) do
    if params[k] ~= nil then p.params[k] = params[k] end
  end
  local steps = {}
  for i, st in ipairs(p.params.steps) do steps[i] = { st[1], st[2] } end
  local index = {}
  for i, st in ipairs(steps) do index[st[1]] = i end
  local nested = {}
  for k, v in pairs(params) do
    if type(k) ~= "string" then misuse("Pipeline:set_params: parameter names must be strings") end
    if k ~= "steps" and k ~= "memory" and k ~= "verbose" then
      local name, rest = k:match("^(.-)__(.+)$")
      name = name or k
      local i = index[name]
      if not i then
        local valid = {}
        for _, st in ipairs(steps) do valid[#valid + 1] = st[1] end
        misuse(format("Pipeline:set_params: invalid parameter '%s': no step named '%s' (steps: %s)", k, name,
          concat(valid, ", ")))
      end
      if rest then
        nested[i] = nested[i] or {}
        nested[i][rest] = v
      else
        steps[i][2] = v
      end
    end
  end
  for i, sub in pairs(nested) do
    local est = steps[i][2]
    if not is_estimator(est) then
      misuse(format("Pipeline:set_params: step '%s' is %s: it has no parameters", steps[i][1], tostring(est)))
    end
    est:set_params(sub) -- in place, as scikit-learn
  end
  p.params.steps = steps
  validate(p, steps)
  return p
end

--- pipe:clone(): a new, unfitted pipeline with clones of the steps.
-- @return a Pipeline
function Pipeline:clone()
  local p = self
  local steps = {}
  for i, st in ipairs(p.params.steps) do
    steps[i] = { st[1], is_estimator(st[2]) and st[2]:clone() or st[2] }
  end
  local c = setmetatable({ params = { steps = steps, memory = p.params.memory, verbose = p.params.verbose } },
    Pipeline)
  return validate(c, steps)
end

Pipeline.__tostring = function(p)
  local parts = {}
  for i, st in ipairs(p.params.steps) do
    parts[i] = format("('%s', %s)", st[1], is_skip(st[2]) and "'passthrough'" or tostring(st[2]))
  end
  return "Pipeline(steps=[" .. concat(parts, ", ") .. "])"
end

-- ---------------------------------------------------------------------------
-- Fitting and using

local function final(p) return p.steps[#p.steps][2] end

local function check_fitted(p)
  if rawget(p, "n_features_in_") == nil then misuse("Pipeline is not fitted yet: call fit first") end
end

local function n_features(x)
  local s = x.shape
  return s[2] or 1
end

-- Fits the steps on X, Y with the methods FIT / TRANSFORM (the lazy or the
-- local names); returns p.
local function fit_with(p, X, y, fit, transform)
  p.n_features_in_ = nil
  local xt = X
  for i = 1, #p.steps - 1 do
    local est = p.steps[i][2]
    if not is_skip(est) then
      est[fit](est, xt, y)
      xt = est[transform](est, xt)
    end
  end
  local last = final(p)
  if not is_skip(last) then last[fit](last, xt, y) end
  p.n_features_in_ = n_features(select(2, base.as_data(X, "X")))
  return p
end

-- X through every step but the last, with method TRANSFORM.
local function through(p, X, transform)
  check_fitted(p)
  local xt = X
  for i = 1, #p.steps - 1 do
    local est = p.steps[i][2]
    if not is_skip(est) then xt = est[transform](est, xt) end
  end
  return xt
end

-- The final step, which must have METHOD.
local function final_with(p, method)
  local last = final(p)
  if is_skip(last) or type(last[method]) ~= "function" then
    misuse(format("Pipeline: the final step '%s' has no %s", p.steps[#p.steps][1], method:gsub("_local$", "")))
  end
  return last
end

--- pipe:fit(X, y): fits each step on the previous steps' output (X an
-- ldask array, dataframe or ndarray); returns the pipeline.
-- @param X samples x features
-- @param[opt] y targets
-- @return the pipeline
function Pipeline:fit(X, y) return fit_with(self, X, y, "fit", "transform") end

--- pipe:fit_local(X, y): fit on in-memory ndarrays (inside tasks).
-- @param X a 2-D ndarray
-- @param[opt] y a 1-D ndarray
-- @return the pipeline
function Pipeline:fit_local(X, y) return fit_with(self, X, y, "fit_local", "transform_local") end

--- pipe:predict(X): the final step's predictions of X sent through the
-- fitted transformers (lazy for arrays).
-- @param X samples x features
-- @return predictions
function Pipeline:predict(X)
  local p = self
  local xt = through(p, X, "transform")
  local last = final_with(p, "predict")
  return last:predict(xt)
end

--- pipe:predict_proba(X): the final step's class probabilities.
-- @param X samples x features
-- @return probabilities (n x classes)
function Pipeline:predict_proba(X)
  local p = self
  local xt = through(p, X, "transform")
  return final_with(p, "predict_proba"):predict_proba(xt)
end

--- pipe:transform(X): X through every step (the final one a transformer
-- or "passthrough").
-- @param X samples x features
-- @return the transformed data
function Pipeline:transform(X)
  local p = self
  local xt = through(p, X, "transform")
  local last = final(p)
  if is_skip(last) then return xt end
  return final_with(p, "transform"):transform(xt)
end

--- pipe:fit_transform(X, y): fit, then transform X.
-- @param X samples x features
-- @param[opt] y targets
-- @return the transformed data
function Pipeline:fit_transform(X, y)
  local p = self
  Pipeline.fit(p, X, y)
  return Pipeline.transform(p, X)
end

--- pipe:score(X, y): the final step's score on X sent through the
-- transformers.
-- @param X samples x features
-- @param[opt] y targets
-- @return a number
function Pipeline:score(X, y)
  local p = self
  local xt = through(p, X, "transform")
  return final_with(p, "score"):score(xt, y)
end

--- pipe:predict_local(X): predict on an ndarray (inside tasks).
-- @param X a 2-D ndarray
-- @return a 1-D ndarray
function Pipeline:predict_local(X)
  local p = self
  return final_with(p, "predict_local"):predict_local(through(p, X, "transform_local"))
end

--- pipe:predict_proba_local(X): predict_proba on an ndarray.
-- @param X a 2-D ndarray
-- @return an ndarray
function Pipeline:predict_proba_local(X)
  local p = self
  return final_with(p, "predict_proba_local"):predict_proba_local(through(p, X, "transform_local"))
end

--- pipe:transform_local(X): transform of an ndarray.
-- @param X a 2-D ndarray
-- @return an ndarray
function Pipeline:transform_local(X)
  local p = self
  local xt = through(p, X, "transform_local")
  if is_skip(final(p)) then return xt end
  return final_with(p, "transform_local"):transform_local(xt)
end

--- pipe:fit_transform_local(X, y): fit_local, then transform_local.
-- @param X a 2-D ndarray
-- @param[opt] y a 1-D ndarray
-- @return an ndarray
function Pipeline:fit_transform_local(X, y)
  local p = self
  Pipeline.fit_local(p, X, y)
  return Pipeline.transform_local(p, X)
end

--- pipe:score_local(X, y): score on ndarrays.
-- @param X a 2-D ndarray
-- @param[opt] y a 1-D ndarray
-- @return a number
function Pipeline:score_local(X, y)
  local p = self
  return final_with(p, "score_local"):score_local(through(p, X, "transform_local"), y)
end

return M
