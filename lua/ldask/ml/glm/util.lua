--- ldask.ml.glm.util: small dense helpers of the GLM solvers: vectors as
-- Lua lists (the coefficients, ~d numbers, live on the client), their
-- conversion to ndarrays for tasks, and the symmetric positive definite
-- solve of a Newton step through LAPACK's Cholesky (ldask.array.ndlinalg).
-- @module ldask.ml.glm.util
local nd = require "ldask.array.ndarray"
local ndla = require "ldask.array.ndlinalg"

local abs, sqrt, max, pcall, error = math.abs, math.sqrt, math.max, pcall, error

local M = {}

--- keep(...): returns its arguments; a call at the end of a pointer's use
-- keeps the ndarrays owning the memory alive up to there (docs/architecture.md,
-- the rules for pointers into ndarrays).
M.keep = require "ldask.array.keep"

--- A list of N zeros.
function M.zeros(n)
  local v = {}
  for i = 1, n do v[i] = 0 end
  return v
end

--- dot(a, b): the inner product of two lists.
function M.dot(a, b)
  local s = 0
  for i = 1, #a do s = s + a[i] * b[i] end
  return s
end

--- norm2(a): the Euclidean norm of a list.
function M.norm2(a) return sqrt(M.dot(a, a)) end

--- norm_inf(a): the largest magnitude of a list (0 when empty).
function M.norm_inf(a)
  local m = 0
  for i = 1, #a do m = max(m, abs(a[i])) end
  return m
end

--- axpy(a, x, y): a new list a * x + y.
function M.axpy(a, x, y)
  local out = {}
  for i = 1, #x do out[i] = a * x[i] + y[i] end
  return out
end

--- sub(x, y): a new list x - y.
function M.sub(x, y)
  local out = {}
  for i = 1, #x do out[i] = x[i] - y[i] end
  return out
end

--- copy(x): a new list with X's values.
function M.copy(x)
  local out = {}
  for i = 1, #x do out[i] = x[i] end
  return out
end

--- to_nd(v): the list V as a 1-D float64 ndarray.
function M.to_nd(v)
  local a = nd.alloc({ #v }, "float64")
  local p = a:data()
  for i = 1, #v do p[i - 1] = v[i] end
  return a
end

--- from_nd(a, first, n): N values of the float64 ndarray A from flat
-- position FIRST (0-based) as a list.
function M.from_nd(a, first, n)
  local out = {}
  for i = 1, n do out[i] = 0 end
  local p = a:data()
  for i = 1, n do out[i] = p[first + i - 1] end
  M.keep(a)
  return out
end

--- solve_spd(H, g): the solution x of H x = g for the symmetric positive
-- (semi)definite H (p x p float64 ndarray, not modified) and the list G,
-- through LAPACK's Cholesky; a matrix that is not numerically positive
-- definite is regularized by a growing multiple of its mean diagonal
-- (a Levenberg-Marquardt step) until the factorization succeeds.
-- @return a list
function M.solve_spd(H, g)
  local p = #g
  if p == 0 then return {} end
  local b = M.to_nd(g):reshape({ p, 1 })
  local hp = H:data()
  local tr = 0
  for i = 0, p - 1 do tr = tr + abs(hp[i * p + i]) end
  tr = max(tr / p, 1e-300)
  local shift = 0
  for _ = 1, 40 do
    local A = H
    if shift > 0 then
      A = H:copy()
      local ap = A:data()
      for i = 0, p - 1 do ap[i * p + i] = ap[i * p + i] + shift end
    end
    local ok, L = pcall(ndla.cholesky, A, true)
    if ok then
      local z = ndla.trsolve(L, b, true, false, false, "glm newton step")
      local x = ndla.trsolve(L, z, true, true, false, "glm newton step")
      return M.from_nd(x:copy(), 0, p)
    end
    shift = shift == 0 and tr * 1e-10 or shift * 10
  end
  error("glm: the Hessian could not be factorized (non-finite values?)", 2)
end

return M
