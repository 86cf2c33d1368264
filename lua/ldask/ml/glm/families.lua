--- ldask.ml.glm.families: the GLM families of dask-glm (Normal with the
-- identity link, Logistic, Poisson with the log link) as block kernels: on
-- one block of rows X (n_i x d ndarray) and its targets y, the sum over the
-- block of the pointwise loss, its gradient and its Hessian with respect to
-- the coefficients beta (d entries, then the intercept when there is one).
-- The matrix products go through BLAS (ndarray dot); the pointwise parts
-- are LuaJIT loops over the rows. Every task of the solvers' graphs calls
-- one of these functions on one block; they travel by path.
--
-- Losses (negative log-likelihoods up to constants, eta = X beta):
--   normal    0.5 (eta - y)^2            mean eta
--   logistic  log(1 + e^eta) - y eta     mean 1 / (1 + e^-eta)
--   poisson   e^eta - y eta              mean e^eta
-- @module ldask.ml.glm.families
local nd = require "ldask.array.ndarray"
local keep = require("ldask.ml.glm.util").keep

local ffi = require "ffi"

local exp, format, error, tostring, select = math.exp, string.format, error, tostring, select
pcall(ffi.cdef, "double log1p(double);") -- (libm; already declared when another module did)
local log1p = ffi.C.log1p

local M = {}

--- The family names.
M.names = { normal = true, logistic = true, poisson = true }

-- X as a C-contiguous float64 ndarray (blocks of other dtypes or views are copied).
local function f64(a)
  if a.dtype ~= "float64" then a = a:astype("float64") end
  if not a:is_contiguous() then a = a:copy() end
  return a
end
M.f64 = f64

-- Pointwise: loss, residual (d loss / d eta) and weight (d^2 loss / d eta^2)
-- at ETA for target Y.
local pointwise = {
  normal = function(eta, y)
    local r = eta - y
    return 0.5 * r * r, r, 1
  end,
  logistic = function(eta, y)
    local l, mu
    if eta > 0 then
      local e = exp(-eta)
      l, mu = eta + log1p(e), 1 / (1 + e)
    else
      local e = exp(eta)
      l, mu = log1p(e), e / (1 + e)
    end
    return l - y * eta, mu - y, mu * (1 - mu)
  end,
  poisson = function(eta, y)
    local mu = exp(eta)
    return mu - y * eta, mu - y, mu
  end,
}
M.pointwise = pointwise

--- The mean of the response at linear predictor ETA (inverse link).
-- @param family "normal", "logistic" or "poisson"
-- @param eta a number
-- @return a number
function M.mean(family, eta)
  if family == "logistic" then
    if eta >= 0 then return 1 / (1 + exp(-eta)) end
    local e = exp(eta)
    return e / (1 + e)
  elseif family == "poisson" then
    return exp(eta)
  end
  return eta
end

-- eta = X w + b0 for the block X (n x d, float64 contiguous) and beta (p,).
local function linear(X, beta, icpt)
  local n, d = X.shape[1], X.shape[2]
  local eta
  if d > 0 then
    eta = X:dot(beta:slice({ { 0, d } }):reshape({ d, 1 })):reshape({ n })
    if not eta:is_contiguous() then eta = eta:copy() end
  else
    eta = nd.zeros({ n }, "float64")
  end
  if icpt then
    local b0 = beta[{ d }]
    local e = eta:data()
    for i = 0, n - 1 do e[i] = e[i] + b0 end
  end
  return eta
end
M.linear = linear

--- block_eval(family, need, X, y, beta, icpt): on one block, the packed
-- float64 ndarray [loss, gradient (p) if NEED >= 1, Hessian (p x p, row
-- major) if NEED >= 2] of the summed loss at BETA (p = d + (ICPT and 1 or
-- 0)). The tree reduction adds these arrays.
-- @param family "normal", "logistic" or "poisson"
-- @param need 0 (loss), 1 (and gradient) or 2 (and Hessian)
-- @param X the block (n_i x d ndarray)
-- @param y its targets (n_i,)
-- @param beta the coefficients (p,) float64
-- @param icpt true when beta's last entry is an intercept
-- @return a 1-D float64 ndarray
function M.block_eval(family, need, X, y, beta, icpt)
  local pw = pointwise[family]
  if not pw then error(format("glm: unknown family '%s'", tostring(family)), 2) end
  X, y = f64(X), f64(y)
  local n, d = X.shape[1], X.shape[2]
  local p = d + (icpt and 1 or 0)
  local out = nd.zeros({ 1 + (need >= 1 and p or 0) + (need >= 2 and p * p or 0) }, "float64")
  if n == 0 then return out end
  local eta = linear(X, beta, icpt)
  local r = need >= 1 and nd.alloc({ n, 1 }, "float64") or nil
  local w = need >= 2 and nd.alloc({ n, 1 }, "float64") or nil
  -- pointers taken after the allocations, their owners kept to the end
  local o, e, yp = out:data(), eta:data(), y:data()
  local rp, wp = r and r:data(), w and w:data()
  local loss, rsum, wsum = 0, 0, 0
  for i = 0, n - 1 do
    local l, ri, wi = pw(e[i], yp[i])
    loss = loss + l
    if rp then rp[i] = ri; rsum = rsum + ri end
    if wp then wp[i] = wi; wsum = wsum + wi end
  end
  o[0] = loss
  keep(eta, y)
  if need >= 1 then
    if d > 0 then
      local G = X.T:dot(r)
      o = out:data()
      local g = G:data()
      for j = 0, d - 1 do o[1 + j] = g[j] end
      keep(G)
    end
    if icpt then o[1 + d] = rsum end
  end
  if need >= 2 then
    local h0 = 1 + p
    if d > 0 then
      local HH = X.T:dot(X * w)
      o = out:data()
      local H = HH:data()
      for i = 0, d - 1 do
        for j = 0, d - 1 do o[h0 + i * p + j] = H[i * d + j] end
      end
      keep(HH)
      if icpt then
        local XW = X.T:dot(w)
        o = out:data()
        local xw = XW:data()
        for j = 0, d - 1 do
          o[h0 + d * p + j] = xw[j]
          o[h0 + j * p + d] = xw[j]
        end
        keep(XW)
      end
    end
    o = out:data()
    if icpt then o[h0 + d * p + d] = wsum end
  end
  return out
end

--- combine(a, b, ...): the sum of packed block results (the tree
-- reduction's task).
-- @return a 1-D float64 ndarray
function M.combine(...)
  local n = select("#", ...)
  local acc = (...):copy()
  local a = acc:data()
  local m = acc.size
  for k = 2, n do
    local b = select(k, ...):data()
    for i = 0, m - 1 do a[i] = a[i] + b[i] end
  end
  return acc
end

--- predict_mean(family, X, beta, icpt): the mean response of each row of
-- the block X (n_i,) float64.
-- @return an ndarray
function M.predict_mean(family, X, beta, icpt)
  local eta = linear(f64(X), beta, icpt)
  if family == "normal" then return eta end
  local e = eta:data()
  local mean = M.mean
  for i = 0, eta.size - 1 do e[i] = mean(family, e[i]) end
  return eta
end

--- decision(X, beta, icpt): the linear predictor X w + b0 of a block.
-- @return an ndarray (n_i,)
function M.decision(X, beta, icpt) return linear(f64(X), beta, icpt) end

return M
