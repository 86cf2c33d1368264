--- ldask.ml.glm.regularizers: the penalties of dask-glm on the small
-- coefficient vector (on the client): L2 (0.5 ||b||^2), L1 (||b||_1) and
-- elastic_net (weight ||b||_1 + (1 - weight) 0.5 ||b||^2), each with its
-- value f, gradient (the smooth ones) and proximal operator
-- prox(v, t) = argmin_b t f(b) + 0.5 ||b - v||^2. The last coefficient is
-- left out when it is the intercept (as scikit-learn, the intercept is not
-- penalized). Coefficients are plain Lua lists of numbers (1-based).
-- @module ldask.ml.glm.regularizers
local abs, format, error, tostring = math.abs, string.format, error, tostring

local M = {}

-- Number of penalized coefficients of B (all but the intercept).
local function npen(b, icpt) return #b - (icpt and 1 or 0) end

local function l1(b, icpt)
  local s = 0
  for j = 1, npen(b, icpt) do s = s + abs(b[j]) end
  return s
end
local function l2(b, icpt)
  local s = 0
  for j = 1, npen(b, icpt) do s = s + b[j] * b[j] end
  return 0.5 * s
end
local function soft(v, t)
  if v > t then return v - t elseif v < -t then return v + t end
  return 0
end

-- Each regularizer: f(b, icpt, weight), grad(b, icpt, weight) (smooth
-- only), prox(v, t, icpt, weight) (a new list), smooth (boolean).
local defs = {
  l2 = {
    smooth = true,
    f = function(b, icpt) return l2(b, icpt) end,
    grad = function(b, icpt)
      local g = {}
      for j = 1, #b do g[j] = j <= npen(b, icpt) and b[j] or 0 end
      return g
    end,
    prox = function(v, t, icpt)
      local out = {}
      for j = 1, #v do out[j] = j <= npen(v, icpt) and v[j] / (1 + t) or v[j] end
      return out
    end,
    -- the Hessian's diagonal
    hdiag = function() return 1 end,
  },
  l1 = {
    smooth = false,
    f = function(b, icpt) return l1(b, icpt) end,
    prox = function(v, t, icpt)
      local out = {}
      for j = 1, #v do out[j] = j <= npen(v, icpt) and soft(v[j], t) or v[j] end
      return out
    end,
  },
  elastic_net = {
    smooth = false,
    f = function(b, icpt, weight) return weight * l1(b, icpt) + (1 - weight) * l2(b, icpt) end,
    prox = function(v, t, icpt, weight)
      local out = {}
      for j = 1, #v do
        out[j] = j <= npen(v, icpt) and soft(v[j], t * weight) / (1 + t * (1 - weight)) or v[j]
      end
      return out
    end,
  },
  none = {
    smooth = true,
    f = function() return 0 end,
    grad = function(b)
      local g = {}
      for j = 1, #b do g[j] = 0 end
      return g
    end,
    prox = function(v)
      local out = {}
      for j = 1, #v do out[j] = v[j] end
      return out
    end,
    hdiag = function() return 0 end,
  },
}
defs.elasticnet = defs.elastic_net

--- get(name, level): the regularizer NAME ("l1", "l2", "elastic_net" (or
-- "elasticnet"), "none"); an unknown name raises at LEVEL naming the valid ones.
-- @param name a string
-- @param[opt] level error level (default: the caller's caller)
-- @return the regularizer table {f, grad, prox, smooth}
function M.get(name, level)
  if name == nil or name == false then name = "none" end
  local r = defs[name]
  if not r then
    error(format("glm: unknown regularizer '%s' (expected 'l2', 'l1', 'elastic_net' or 'none')", tostring(name)),
      (level or 2) + 1)
  end
  return r
end

M.soft_threshold = soft
return M
