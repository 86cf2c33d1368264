--- ldask.ml.linear_model: LinearRegression, LogisticRegression and
-- PoissonRegression (dask-ml's estimators, scikit-learn's contract) fitted
-- by the dask-glm solvers of ldask.ml.glm on ldask arrays and dataframes
-- (block by block: every solver pass is one graph of block-wise tasks and
-- a tree reduction) or on in-memory ndarrays.
--
-- Parameters (all three): `penalty` ("l2" (default), "l1", "elastic_net"
-- (or "elasticnet"), "none" (or false)), `C` (inverse regularization
-- strength, default 1.0: the objective is sum of losses + (1/C) R(coef),
-- R = 0.5 ||coef||^2 for l2, ||coef||_1 for l1, l1_ratio ||coef||_1 +
-- (1 - l1_ratio) 0.5 ||coef||^2 for elastic_net; the intercept is not
-- penalized), `l1_ratio` (elastic_net; default 0.5), `fit_intercept`
-- (true), `solver` (false: "lbfgs" for smooth penalties, "admm" for l1 and
-- elastic_net; or "newton", "gradient_descent", "proximal_grad"),
-- `max_iter` (100), `tol` (1e-4), `solver_kwargs` (false, or a table:
-- `rho`, `over_relax`, `adaptive_rho` for admm, `m` for lbfgs).
-- Fitted: `coef_`, `intercept_`, `n_iter_`, `n_features_in_` (and
-- `classes_` for LogisticRegression). See docs/ml.md, "Linear models".
-- @module ldask.ml.linear_model
local base = require "ldask.ml.base"
local nd = require "ldask.array.ndarray"
local glm = require "ldask.ml.glm"
local F = require "ldask.ml.glm.families"
local U = require "ldask.ml.glm.util"
local errors = require "ldask.errors"

local type, pairs, tostring, format, getmetatable, log, max, abs, io = type, pairs, tostring, string.format,
  getmetatable, math.log, math.max, math.abs, io
local misuse = errors.misuse

local M = {}

local MODULE = "ldask.ml.linear_model"

local PENALTIES = { l2 = "l2", l1 = "l1", elastic_net = "elastic_net", elasticnet = "elastic_net", none = "none" }
local SMOOTH = { l2 = true, none = true }
local SOLVERS = { admm = true, lbfgs = true, newton = true, gradient_descent = true, proximal_grad = true }
local SOLVER_KWARGS = { rho = true, over_relax = true, adaptive_rho = true, m = true }

local function defaults()
  return {
    penalty = "l2", C = 1.0, l1_ratio = false, fit_intercept = true, solver = false, max_iter = 100,
    tol = 1e-4, solver_kwargs = false,
  }
end

-- The penalty's canonical name.
local function penalty_of(est)
  local p = est.params.penalty
  if p == false or p == nil then return "none" end
  return PENALTIES[p]
end

-- The solver: the parameter, or dask-glm's default for the penalty.
local function solver_of(est)
  local s = est.params.solver
  if s then return s end
  return SMOOTH[penalty_of(est)] and "lbfgs" or "admm"
end

-- Raises at the user's line for a bad parameter of EST.
local function check_params(est)
  local name, p = getmetatable(est).__name, est.params
  if PENALTIES[p.penalty] == nil and p.penalty ~= false then
    misuse(format("%s: penalty must be 'l2', 'l1', 'elastic_net' or 'none', got %s", name, tostring(p.penalty)))
  end
  if type(p.C) ~= "number" or not (p.C > 0) then
    misuse(format("%s: C must be a positive number (the inverse of the regularization strength), got %s", name,
      tostring(p.C)))
  end
  if p.l1_ratio ~= false and (type(p.l1_ratio) ~= "number" or p.l1_ratio < 0 or p.l1_ratio > 1) then
    misuse(format("%s: l1_ratio must be a number between 0 and 1, got %s", name, tostring(p.l1_ratio)))
  end
  if p.solver ~= false and not SOLVERS[p.solver] then
    misuse(format("%s: solver must be one of 'admm', 'gradient_descent', 'lbfgs', 'newton', 'proximal_grad', got %s",
      name, tostring(p.solver)))
  end
  local pen, solver = penalty_of(est), solver_of(est)
  if not SMOOTH[pen] and (solver == "lbfgs" or solver == "newton" or solver == "gradient_descent") then
    misuse(format("%s: solver '%s' supports the penalties 'l2' and 'none', not '%s': use solver 'admm' or "
      .. "'proximal_grad'", name, solver, pen))
  end
  if type(p.max_iter) ~= "number" or p.max_iter < 1 or p.max_iter % 1 ~= 0 then
    misuse(format("%s: max_iter must be a positive integer, got %s", name, tostring(p.max_iter)))
  end
  if type(p.tol) ~= "number" or not (p.tol > 0) then
    misuse(format("%s: tol must be a positive number, got %s", name, tostring(p.tol)))
  end
  if p.solver_kwargs ~= false then
    if type(p.solver_kwargs) ~= "table" then
      misuse(format("%s: solver_kwargs must be a table or false, got %s", name, type(p.solver_kwargs)))
    end
    for k in pairs(p.solver_kwargs) do
      if not SOLVER_KWARGS[k] then
        misuse(format("%s: unknown solver_kwargs entry '%s' (valid: adaptive_rho, m, over_relax, rho)", name, tostring(k)))
      end
    end
  end
  if type(p.fit_intercept) ~= "boolean" then
    misuse(format("%s: fit_intercept must be a boolean, got %s", name, tostring(p.fit_intercept)))
  end
end

-- Fits EST's family on X, y (ndarrays, or arrays chunked alike); sets
-- coef_ (COEF_SHAPE: "row" for (1, d)), intercept_, n_iter_.
local function fit_glm(est, family, X, y, on_first_gradient)
  local p = est.params
  local pen = penalty_of(est)
  local P = glm.problem(X, y, { family = family, intercept = p.fit_intercept })
  P.on_first_gradient = on_first_gradient
  local opts = {
    regularizer = pen, lamduh = pen == "none" and 0 or 1 / p.C,
    l1_ratio = pen == "elastic_net" and (p.l1_ratio or 0.5) or p.l1_ratio or nil,
    max_iter = p.max_iter, tol = p.tol,
  }
  if p.solver_kwargs then for k, v in pairs(p.solver_kwargs) do opts[k] = v end end
  local beta, info = glm.solvers.get(solver_of(est))(P, opts)
  local d = P.d
  local coef = U.to_nd(U.copy(beta))
  coef = coef:slice({ { 0, d } }):copy()
  local cls = getmetatable(est)
  if cls._coef_row then coef = coef:reshape({ 1, d }) end
  est.coef_ = coef
  local b0 = p.fit_intercept and beta[d + 1] or 0
  if cls._coef_row then est.intercept_ = nd.full({ 1 }, b0, "float64") else est.intercept_ = b0 end
  est.n_iter_ = info.n_iter
  if not info.converged then
    io.stderr:write(format("ConvergenceWarning: %s (solver '%s') did not converge in %d iterations "
      .. "(max_iter=%d, tol=%g): increase max_iter or scale the data\n", cls.__name, solver_of(est), info.n_iter,
      p.max_iter, p.tol))
  end
end

-- The coefficients of fitted EST as one float64 ndarray (d coefficients,
-- then the intercept when fitted with one) and that flag.
local function beta_of(est)
  local d = est.n_features_in_
  local icpt = est.params.fit_intercept
  local b = nd.alloc({ d + (icpt and 1 or 0) }, "float64")
  local cc = est.coef_:copy()
  local bp, c = b:data(), cc:data()
  for j = 0, d - 1 do bp[j] = c[j] end
  U.keep(cc)
  if icpt then bp[d] = type(est.intercept_) == "number" and est.intercept_ or est.intercept_[{ 0 }] end
  return b, icpt
end

--- est:decision_function(X): the linear predictor X coef + intercept of a
-- fitted model (any of the three): a lazy block-wise array for an array or
-- dataframe X, an ndarray for an ndarray.
-- @param est a fitted LinearRegression, LogisticRegression or PoissonRegression
-- @param X samples x features
-- @return an Array or an ndarray (n,)
function M.decision_function(est, X)
  base.check_fitted(est)
  local cls = getmetatable(est)
  local name = cls.__name
  local kind, x = base.as_data(X, "X", 2)
  if x.shape[2] ~= est.n_features_in_ then
    misuse(format("%s: X has %d features, but %s was fitted with %d", name, x.shape[2], name,
      est.n_features_in_))
  end
  if kind == "ndarray" then return cls._decision_function(est, x) end
  return base.rowwise(est, "_decision_function", x, nil, "float64")
end

-- The class shared parts: fit on ndarrays and arrays, decision_function, predict.
local function glm_class(name, family, spec)
  local cls = base.estimator(name, defaults(), { module = MODULE, type = spec.type,
    predict_dtype = "float64" })
  cls._check_params = check_params
  cls._family = family
  function cls._fit(est, X, y)
    if y == nil then misuse(name .. ":fit: y is required") end
    fit_glm(est, family, X, y)
  end
  function cls._fit_array(est, X, y)
    if y == nil then misuse(name .. ":fit: y is required") end
    fit_glm(est, family, X, y)
  end
  function cls._decision_function(est, X)
    return F.decision(X, beta_of(est))
  end
  cls.decision_function = M.decision_function
  return cls
end

--- LinearRegression(params): least squares (the Normal family, identity
-- link) with dask-ml's penalties (default l2 with C = 1: ridge with alpha =
-- 1/C; `penalty = "none"` is ordinary least squares). predict gives X coef
-- + intercept; score is r2.
-- @table LinearRegression
local LinearRegression = glm_class("LinearRegression", "normal", { type = "regressor" })
M.LinearRegression = LinearRegression
function LinearRegression._predict(est, X) return F.decision(X, beta_of(est)) end

--- PoissonRegression(params): the Poisson family with the log link (counts);
-- predict gives exp(X coef + intercept); score is D^2, the fraction of
-- Poisson deviance explained (scikit-learn's PoissonRegressor.score).
-- @table PoissonRegression
local PoissonRegression = glm_class("PoissonRegression", "poisson", { type = "regressor" })
M.PoissonRegression = PoissonRegression
function PoissonRegression._predict(est, X)
  local b, icpt = beta_of(est)
  return F.predict_mean("poisson", X, b, icpt)
end

-- Poisson deviance sum of Y against the means MU (ndarrays).
local function poisson_deviance(y, mu)
  local yf, mf = F.f64(y), F.f64(mu)
  local yp, mp = yf:data(), mf:data()
  local s = 0
  for i = 0, y.size - 1 do
    local yi, mi = yp[i], mp[i]
    s = s + 2 * ((yi > 0 and yi * log(yi / mi) or 0) - yi + mi)
  end
  U.keep(yf, mf)
  return s
end

function PoissonRegression._score(est, X, y)
  local mu = PoissonRegression._predict(est, X)
  local yf = F.f64(y)
  local yp = yf:data()
  local mean = 0
  for i = 0, y.size - 1 do mean = mean + yp[i] end
  U.keep(yf)
  mean = mean / max(y.size, 1)
  local dev = poisson_deviance(y, mu)
  local dev0 = poisson_deviance(y, nd.full({ y.size }, mean, "float64"))
  return 1 - dev / dev0
end
function PoissonRegression._score_array(est, X, y)
  return PoissonRegression._score(est, X:compute(), base.materialize(y))
end

--- LogisticRegression(params): binary logistic regression (the Logistic
-- family, logit link); y holds two classes (any two values: classes_ is
-- them sorted, the second is the positive class). predict gives classes_
-- by the sign of decision_function; predict_proba the n x 2 probabilities;
-- score is accuracy.
-- @table LogisticRegression
local LogisticRegression = glm_class("LogisticRegression", "logistic", { type = "classifier" })
M.LogisticRegression = LogisticRegression
LogisticRegression._coef_row = true

-- The two classes of Y (an ndarray) or an error naming what was found.
local function classes_of(lo, hi, all_two)
  if lo ~= lo or hi ~= hi then misuse("LogisticRegression:fit: y contains NaN") end
  if lo == hi then
    misuse(format("LogisticRegression:fit: this solver needs samples of at least 2 classes in the data, but "
      .. "the data contains only one class: %s", tostring(lo)))
  end
  if not all_two then
    misuse("LogisticRegression:fit: y has more than two classes; only binary classification is supported "
      .. "(fit one model per class for one-vs-rest)")
  end
  return nd.from_table({ lo, hi }, "float64")
end

local function fit_logistic(est, X, y, lo, hi, all_two)
  est.classes_ = classes_of(lo, hi, all_two)
  fit_glm(est, "logistic", X, y:eq(hi):astype("float64"))
end

function LogisticRegression._fit(est, X, y)
  if y == nil then misuse("LogisticRegression:fit: y is required") end
  local yf = F.f64(y)
  local lo, hi = yf:min():item(), yf:max():item()
  local two = yf:eq(lo):or_(yf:eq(hi)):all():item()
  fit_logistic(est, X, yf, lo, hi, two)
end
function LogisticRegression._fit_array(est, X, y)
  if y == nil then misuse("LogisticRegression:fit: y is required") end
  if y.dtype == "bool" and est.params.fit_intercept and solver_of(est) ~= "admm" then
    -- classes false/true (0, 1) without a pass over y: the first gradient
    -- pass tells whether both occur (at beta = 0 the intercept's gradient is
    -- mean(0.5 - y): exactly +-0.5 when y holds one class)
    est.classes_ = nd.from_table({ 0, 1 }, "float64")
    fit_glm(est, "logistic", X, y, function(_, g)
      local gi = g[#g]
      if abs(gi) > 0.5 * (1 - 1e-12) then classes_of(gi < 0 and 1 or 0, gi < 0 and 1 or 0, true) end
    end)
    return
  end
  local ldbase = require "ldask.base"
  local mn, mx = y:min(), y:max()
  local lo, hi = ldbase.compute(mn, mx)
  local two = ldbase.compute(y:eq(lo):or_(y:eq(hi)):all())
  fit_logistic(est, X, y, lo, hi, two)
end

function LogisticRegression._predict_proba(est, X)
  local b, icpt = beta_of(est)
  local p1 = F.predict_mean("logistic", X, b, icpt)
  local n = p1.size
  local out = nd.alloc({ n, 2 }, "float64")
  local o, pp = out:data(), p1:data()
  for i = 0, n - 1 do o[2 * i], o[2 * i + 1] = 1 - pp[i], pp[i] end
  U.keep(p1)
  return out
end
function LogisticRegression._predict(est, X)
  local eta = F.decision(X, beta_of(est))
  local c = est.classes_:data()
  local e = eta:data()
  for i = 0, eta.size - 1 do e[i] = e[i] > 0 and c[1] or c[0] end
  return eta
end

return M
