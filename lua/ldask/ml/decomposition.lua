--- ldask.ml.decomposition: PCA and TruncatedSVD, fitted on ldask arrays
-- through the blocked SVD of ldask.array.linalg (svd_solver "full": the
-- exact thin SVD through tsqr; "randomized": svd_compressed) and on
-- ndarrays through LAPACK's SVD. Signs follow scikit-learn's svd_flip
-- (u-based: the largest-magnitude entry of each column of U is positive).
-- @module ldask.ml.decomposition
local base = require "ldask.ml.base"
local nd = require "ldask.array.ndarray"
local ndl = require "ldask.array.ndlinalg"
local errors = require "ldask.errors"

local type, ipairs, tostring, format, getmetatable, abs, min, max, floor =
  type, ipairs, tostring, string.format, getmetatable, math.abs, math.min, math.max, math.floor
local misuse = errors.misuse

local M = {}

local function f64(a)
  if a.dtype ~= "float64" then return a:astype("float64") end
  return a:copy()
end

-- ---------------------------------------------------------------------------
-- svd_flip

--- Task / helper: per column of U (ndarray block), the entry of largest
-- magnitude (first on ties) as {abs, value} pairs: a partial of svd_flip.
function M._flip_part(u)
  local c = f64(u)
  local n, k = c.shape[1], c.shape[2]
  local p = c:data()
  local out = {}
  for j = 0, k - 1 do
    local best, val = -1, 0
    for i = 0, n - 1 do
      local v = p[i * k + j]
      if abs(v) > best then best, val = abs(v), v end
    end
    out[j + 1] = { best, val }
  end
  base.keep(c)
  return out
end

-- Signs (Lua list of +-1) from the partials of _flip_part, block order.
local function flip_signs(parts, k)
  local signs = {}
  for j = 1, k do
    local best, val = -1, 0
    for _, q in ipairs(parts) do
      if q[j][1] > best then best, val = q[j][1], q[j][2] end
    end
    signs[j] = val < 0 and -1 or 1
  end
  return signs
end

-- Rows of VT (k x p ndarray) multiplied by SIGNS.
local function flip_rows(vt, signs)
  local v = f64(vt)
  local k, p = v.shape[1], v.shape[2]
  local d = v:data()
  for i = 0, k - 1 do
    if signs[i + 1] < 0 then for j = 0, p - 1 do d[i * p + j] = -d[i * p + j] end end
  end
  return v
end

-- ---------------------------------------------------------------------------
-- Shared fitting

-- The first K entries of 1-D ndarray A, and rows of 2-D.
local function head(a, k)
  if a.ndim == 1 then return a:slice({ { 0, k } }):copy(true) end
  return a:slice({ { 0, k } }):copy(true)
end

-- SVD of ndarray XC (centred or not), flipped: s, vt (all min(n, p) components).
local function local_svd(xc)
  local u, s, vt = ndl.svd(xc)
  local signs = flip_signs({ M._flip_part(u) }, s.shape[1])
  return f64(s), flip_rows(vt, signs), u, signs
end

-- Number of components of SELF for data of N x P (for a float
-- n_components, of the explained variance ratios RATIOS).
local function n_components(self, n, p, ratios)
  local k = self.params.n_components
  local name = getmetatable(self).__name
  if k == false or k == nil then return min(n, p) end
  if type(k) ~= "number" or k <= 0 then
    misuse(format("%s: n_components must be a positive number or false (all), got %s", name, tostring(k)))
  end
  if k < 1 then
    if not ratios then
      misuse(format("%s: a fractional n_components (%g) needs svd_solver = 'full'", name, k))
    end
    local acc = 0
    for i = 0, ratios.shape[1] - 1 do
      acc = acc + ratios:get(i)
      if acc > k then return i + 1 end
    end
    return ratios.shape[1]
  end
  if k ~= floor(k) then misuse(format("%s: n_components must be an integer or a fraction below 1, got %g", name, k)) end
  if k > min(n, p) then
    misuse(format("%s: n_components=%d must be between 0 and min(n_samples, n_features)=%d", name, k, min(n, p)))
  end
  return k
end

-- Scalar sums of ndarray A (Lua number).
local function total(a)
  local s = 0
  local c = f64(a)
  local d = c:data()
  for i = 0, c.size - 1 do s = s + d[i] end
  base.keep(c)
  return s
end

-- ---------------------------------------------------------------------------
-- PCA

--- PCA{n_components = false, svd_solver = "auto", whiten = false,
-- iterated_power = "auto", n_oversamples = 10, random_state = false}:
-- principal component analysis, scikit-learn's. n_components: an integer,
-- a fraction of explained variance (full solver), or false for all.
-- svd_solver: "full" (exact: da.linalg.svd through tsqr on arrays, which
-- wants tall-and-skinny data), "randomized" (da.linalg.svd_compressed) or
-- "auto" (randomized when n_components is an integer below 80% of the
-- smaller dimension and the data have more than 500 rows and columns,
-- else full). Fitted: `components_`, `explained_variance_`,
-- `explained_variance_ratio_`, `singular_values_`, `mean_`,
-- `n_components_`, `n_samples_`, `noise_variance_`.
-- @table PCA
local PCA = base.estimator("PCA", {
  n_components = false, svd_solver = "auto", whiten = false, copy = true, tol = 0,
  iterated_power = "auto", n_oversamples = 10, random_state = false,
}, { module = "ldask.ml.decomposition" })
M.PCA = PCA

local SOLVERS = { auto = true, full = true, randomized = true }

function PCA._check_params(self)
  if not SOLVERS[self.params.svd_solver] then
    misuse(format("PCA: svd_solver must be 'auto', 'full' or 'randomized', got %s", tostring(self.params.svd_solver)))
  end
end

local function solver_of(self, n, p)
  local s = self.params.svd_solver
  if s ~= "auto" then return s end
  local k = self.params.n_components
  if max(n, p) > 500 and type(k) == "number" and k >= 1 and k < 0.8 * min(n, p) then return "randomized" end
  return "full"
end

local function power_iters(self, k, n, p)
  local it = self.params.iterated_power
  if it == "auto" then return k < 0.1 * min(n, p) and 7 or 4 end
  return it
end

-- Sets the fitted attributes from S (singular values, all computed), VT
-- (flipped), N, P and the total variance TOTAL_VAR (nil: from S).
local function set_pca(self, s, vt, n, p, total_var, solver)
  local ev_all = s * s / (n - 1)
  total_var = total_var or total(ev_all)
  local ratios_all = ev_all / total_var
  local k = n_components(self, n, p, solver == "full" and ratios_all or nil)
  self.n_components_ = k
  self.n_samples_ = n
  self.components_ = head(vt, k)
  self.singular_values_ = head(s, k)
  self.explained_variance_ = head(ev_all, k)
  self.explained_variance_ratio_ = head(ratios_all, k)
  if k < min(n, p) then
    if solver == "full" then
      local rest = 0
      for i = k, ev_all.shape[1] - 1 do rest = rest + ev_all:get(i) end
      self.noise_variance_ = rest / (min(n, p) - k)
    else
      self.noise_variance_ = (total_var - total(self.explained_variance_)) / (min(n, p) - k)
    end
  else
    self.noise_variance_ = 0
  end
end

function PCA._fit(self, X)
  local x = f64(X)
  local n, p = x.shape[1], x.shape[2]
  if n < 2 then misuse("PCA: needs at least 2 samples") end
  self.mean_ = x:mean(0)
  local xc = x - self.mean_
  -- in memory the exact SVD is the randomized one's reference: both use it
  local s, vt = local_svd(xc)
  local solver = solver_of(self, n, p)
  local tv
  if solver == "randomized" then tv = total(xc:var(0, false, 1)) end
  set_pca(self, s, vt, n, p, tv, solver)
end

function PCA._fit_array(self, X)
  local ldask = require "ldask"
  local da = require "ldask.array"
  local n, p = X.shape[1], X.shape[2]
  if n < 2 then misuse("PCA: needs at least 2 samples") end
  local solver = solver_of(self, n, p)
  local mean = X:mean(0):compute()
  self.mean_ = f64(mean)
  local xc = X - self.mean_
  local u, s, vt
  if solver == "full" then
    if #xc.chunks[2] ~= 1 then xc = xc:rechunk({ xc.chunks[1], -1 }) end
    u, s, vt = da.linalg.svd(xc)
  else
    local k = n_components(self, n, p)
    u, s, vt = da.linalg.svd_compressed(xc, k, {
      n_power_iter = power_iters(self, k, n, p), n_oversamples = self.params.n_oversamples,
      seed = self.params.random_state or nil })
  end
  -- s, v, the signs' partials over u (and the total variance): one graph,
  -- so the SVD runs once and u is never kept
  local flips = base.partials_lazy(M._flip_part, { u })
  local sv, vtv, parts, tv
  if solver == "randomized" then
    sv, vtv, parts, tv = ldask.compute(s, vt, flips, xc:var(0, false, { ddof = 1 }):sum())
  else
    sv, vtv, parts = ldask.compute(s, vt, flips)
  end
  local signs = flip_signs(parts, sv.shape[1])
  set_pca(self, f64(sv), flip_rows(vtv, signs), n, p, tv, solver)
end

function PCA._n_out(self) return self.n_components_ end

function PCA._transform(self, X)
  local xc = f64(X) - self.mean_
  local out = xc:dot(self.components_.T)
  if self.params.whiten then out = out / self.explained_variance_:sqrt() end
  return out
end

--- pca:inverse_transform(X): back to the original space (arrays or ndarrays).
-- @return like X
function PCA.inverse_transform(self, X)
  base.check_fitted(self)
  local kind, x = base.as_data(X, "X", 2)
  if x.shape[2] ~= self.n_components_ then
    misuse(format("PCA: inverse_transform wants %d columns, got %d", self.n_components_, x.shape[2]))
  end
  if kind == "ndarray" then return PCA._inverse(self, x) end
  return base.rowwise(self, "_inverse", x, self.n_features_in_, "float64")
end
function PCA._inverse(self, X)
  local x = f64(X)
  if self.params.whiten then x = x * self.explained_variance_:sqrt() end
  return x:dot(self.components_) + self.mean_
end

-- ---------------------------------------------------------------------------
-- TruncatedSVD

--- TruncatedSVD{n_components = 2, algorithm = "randomized", n_iter = 5,
-- n_oversamples = 10, random_state = false}: the rank-k SVD without
-- centring (latent semantic analysis). algorithm "randomized"
-- (svd_compressed with n_iter power iterations) or "full" (exact, tsqr;
-- sklearn's "arpack" is accepted as "full"). Fitted: `components_`,
-- `singular_values_`, `explained_variance_` (of the transformed data),
-- `explained_variance_ratio_`.
-- @table TruncatedSVD
local TruncatedSVD = base.estimator("TruncatedSVD", {
  n_components = 2, algorithm = "randomized", n_iter = 5, n_oversamples = 10, random_state = false, tol = 0,
}, { module = "ldask.ml.decomposition" })
M.TruncatedSVD = TruncatedSVD

function TruncatedSVD._check_params(self)
  local a = self.params.algorithm
  if a ~= "randomized" and a ~= "full" and a ~= "arpack" then
    misuse("TruncatedSVD: algorithm must be 'randomized', 'full' or 'arpack', got " .. tostring(a))
  end
  local k = self.params.n_components
  if type(k) ~= "number" or k < 1 or k ~= floor(k) then
    misuse("TruncatedSVD: n_components must be a positive integer, got " .. tostring(k))
  end
end

-- Sets the attributes from S, VT (flipped, at least K rows), the variance
-- of the transformed columns EVT and the total variance TV.
local function set_tsvd(self, s, vt, evt, tv)
  local k = self.params.n_components
  self.components_ = head(vt, k)
  self.singular_values_ = head(s, k)
  self.explained_variance_ = f64(evt)
  self.explained_variance_ratio_ = self.explained_variance_ / tv
end

function TruncatedSVD._fit(self, X)
  local x = f64(X)
  local k = self.params.n_components
  local p = x.shape[2]
  if k >= p and self.params.algorithm ~= "full" then
    misuse(format("TruncatedSVD: n_components=%d must be below n_features=%d", k, p))
  end
  local s, vt = local_svd(x)
  local comp = head(vt, min(k, s.shape[1]))
  local t = x:dot(comp.T)
  set_tsvd(self, s, vt, t:var(0), total(x:var(0)))
end

function TruncatedSVD._fit_array(self, X)
  local ldask = require "ldask"
  local da = require "ldask.array"
  local k = self.params.n_components
  local p = X.shape[2]
  if k >= p and self.params.algorithm ~= "full" then
    misuse(format("TruncatedSVD: n_components=%d must be below n_features=%d", k, p))
  end
  local u, s, vt
  if self.params.algorithm == "randomized" then
    u, s, vt = da.linalg.svd_compressed(X, k, { n_power_iter = self.params.n_iter,
      n_oversamples = self.params.n_oversamples, seed = self.params.random_state or nil })
  else
    u, s, vt = da.linalg.svd(X)
  end
  -- one graph: the SVD, the signs' partials over u, the variance of the
  -- projection (signs do not change it) and the total variance
  local slicing = require "ldask.array.slicing"
  local proj = X:dot(slicing.getitem(vt, { { 0, k } }).T)
  local sv, vtv, parts, evt, xv = ldask.compute(s, vt, base.partials_lazy(M._flip_part, { u }), proj:var(0),
    X:var(0):sum())
  local signs = flip_signs(parts, sv.shape[1])
  vtv = flip_rows(vtv, signs)
  set_tsvd(self, f64(sv), vtv, evt, xv)
end

function TruncatedSVD._n_out(self) return self.params.n_components end

function TruncatedSVD._transform(self, X) return f64(X):dot(self.components_.T) end

return M
