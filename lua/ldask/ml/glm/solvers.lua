--- ldask.ml.glm.solvers: the algorithms of dask-glm on a problem
-- (ldask.ml.glm.problem): gradient_descent, newton, lbfgs, admm and
-- proximal_grad. Each iteration asks the problem for one or a few passes
-- over the blocks (one graph each: block-wise partial sums combined by a
-- tree reduction); the coefficients (a list of p numbers) and the solver's
-- small state stay on the client.
--
-- Every solver minimizes the scaled objective
--   F(beta) = (1/n) [ sum_i loss_i(beta) + lamduh * R(beta) ]
-- (the same minimizer as dask-glm's unscaled one; the scaling makes `tol`
-- independent of n, as scikit-learn's), R the regularizer (the intercept,
-- the last coefficient when there is one, is not penalized).
--
-- `solver(P, opts)`: opts `regularizer` ("l2", "l1", "elastic_net",
-- "none"), `lamduh`, `l1_ratio` (elastic_net's weight of L1), `max_iter`,
-- `tol`, and per solver `rho`, `over_relax` (admm), `m` (lbfgs memory).
-- Each returns the coefficients (a list) and an info table {n_iter,
-- converged, passes}.
-- @module ldask.ml.glm.solvers
local R = require "ldask.ml.glm.regularizers"
local U = require "ldask.ml.glm.util"
local F = require "ldask.ml.glm.families"
local nd = require "ldask.array.ndarray"

local abs, max, min, sqrt, format, error, ipairs, tostring = math.abs, math.max, math.min, math.sqrt, string.format,
  error, ipairs, tostring
local remove, concat = table.remove, table.concat
local dot, axpy, sub, norm_inf, norm2, zeros = U.dot, U.axpy, U.sub, U.norm_inf, U.norm2, U.zeros

local M = {}

local EPS = 2.220446049250313e-16
local ARMIJO = 1e-4

-- The objective F = data term + c R for a smooth R (c = lamduh / n): f,
-- gradient and Hessian at B for NEED (0, 1, 2).
local function smooth_objective(P, reg, c, weight)
  return function(b, need)
    local f, g, H = P:loss(b, need)
    f = f + c * reg.f(b, P.icpt, weight)
    if g and c ~= 0 then
      local rg = reg.grad(b, P.icpt, weight)
      for j = 1, #g do g[j] = g[j] + c * rg[j] end
    end
    if H and c ~= 0 then
      local h, p = H:data(), P.p
      local dg = reg.hdiag()
      for j = 0, P.d - 1 do h[j * p + j] = h[j * p + j] + c * dg end
    end
    return f, g, H
  end
end

-- The regularizer of OPTS, checked to be smooth for solver WHO.
local function smooth_reg(opts, who)
  local reg = R.get(opts.regularizer, 3)
  if not reg.smooth then
    error(format("glm.%s: the %s penalty is not smooth: use solver 'admm' or 'proximal_grad'", who,
      tostring(opts.regularizer)), 3)
  end
  return reg
end

local function info(k, conv, P) return { n_iter = k, converged = conv, passes = P.passes } end

--- gradient_descent(P, opts): steepest descent with a backtracking
-- (Armijo) line search whose step grows by 1.25 after each success, as
-- dask-glm's; smooth penalties only. Converges when the largest gradient
-- entry is at most tol.
-- @return beta, info
function M.gradient_descent(P, opts)
  local reg = smooth_reg(opts, "gradient_descent")
  local obj = smooth_objective(P, reg, (opts.lamduh or 0) * P.scale, opts.l1_ratio)
  local tol, max_iter = opts.tol or 1e-4, opts.max_iter or 100
  local b = zeros(P.p)
  local f, g = obj(b, 1)
  local step, k = 1, 0
  local conv = false
  while k < max_iter do
    if norm_inf(g) <= tol then conv = true; break end
    k = k + 1
    local gg = dot(g, g)
    local nb, nf, ng
    for _ = 1, 60 do
      nb = axpy(-step, g, b)
      nf, ng = obj(nb, 1)
      if nf <= f - ARMIJO * step * gg then break end
      step = step * 0.5
    end
    if nf > f then break end -- no descent: the gradient is at rounding level
    local df = (f - nf) / max(abs(f), abs(nf), 1)
    b, f, g = nb, nf, ng
    if df <= EPS then conv = norm_inf(g) <= sqrt(tol); break end
    step = step * 1.25
  end
  return b, info(k, conv, P)
end

--- newton(P, opts): Newton's method, each step the solution of H s = g by
-- LAPACK's Cholesky (damped by a backtracking line search when the full
-- step does not decrease F); smooth penalties only. One pass computes the
-- loss, gradient and Hessian. Converges when the largest gradient entry or
-- the largest step entry is at most tol.
-- @return beta, info
function M.newton(P, opts)
  local reg = smooth_reg(opts, "newton")
  local obj = smooth_objective(P, reg, (opts.lamduh or 0) * P.scale, opts.l1_ratio)
  local tol, max_iter = opts.tol or 1e-4, opts.max_iter or 50
  local b = zeros(P.p)
  local f, g, H = obj(b, 2)
  local k, conv = 0, false
  while k < max_iter do
    if norm_inf(g) <= tol then conv = true; break end
    k = k + 1
    local s = U.solve_spd(H, g)
    local gs = dot(g, s)
    local t = 1
    local nb = axpy(-t, s, b)
    local nf, ng, nH = obj(nb, 2)
    local tries = 0
    while not (nf <= f - ARMIJO * t * gs) and tries < 40 do
      t, tries = t * 0.5, tries + 1
      nb = axpy(-t, s, b)
      nf = obj(nb, 0)
      if nf <= f - ARMIJO * t * gs then nf, ng, nH = obj(nb, 2) end
    end
    if tries >= 40 then break end
    b, f, g, H = nb, nf, ng, nH
    if t * norm_inf(s) <= tol * 1e-3 then conv = true; break end
  end
  return b, info(k, conv, P)
end

--- lbfgs(P, opts): limited-memory BFGS (the two-loop recursion over the
-- last m = 10 steps, a backtracking Armijo line search), each evaluation
-- one pass for the loss and gradient; smooth penalties only (dask-glm calls
-- scipy's L-BFGS-B the same way). Converges when the largest gradient
-- entry is at most tol, or the objective stops decreasing (relative change
-- at most 64 eps, scikit-learn's ftol).
-- @return beta, info
function M.lbfgs(P, opts)
  local reg = smooth_reg(opts, "lbfgs")
  local obj = smooth_objective(P, reg, (opts.lamduh or 0) * P.scale, opts.l1_ratio)
  local tol, max_iter, m = opts.tol or 1e-4, opts.max_iter or 100, opts.m or 10
  local b = zeros(P.p)
  local f, g = obj(b, 1)
  local S, Y, RHO = {}, {}, {}
  local k, conv = 0, false
  while k < max_iter do
    if norm_inf(g) <= tol then conv = true; break end
    k = k + 1
    -- two-loop recursion: d = -H_k g
    local q = U.copy(g)
    local alpha = {}
    for i = #S, 1, -1 do
      alpha[i] = RHO[i] * dot(S[i], q)
      q = axpy(-alpha[i], Y[i], q)
    end
    local gamma = #S > 0 and dot(S[#S], Y[#Y]) / dot(Y[#Y], Y[#Y]) or min(1, 1 / max(norm_inf(g), EPS))
    for j = 1, #q do q[j] = gamma * q[j] end
    for i = 1, #S do
      local beta_i = RHO[i] * dot(Y[i], q)
      q = axpy(alpha[i] - beta_i, S[i], q)
    end
    local d = {}
    for j = 1, #q do d[j] = -q[j] end
    local gd = dot(g, d)
    if gd >= 0 then -- not a descent direction: restart from the gradient
      S, Y, RHO = {}, {}, {}
      d = {}
      for j = 1, #g do d[j] = -g[j] end
      gd = -dot(g, g)
      gamma = min(1, 1 / max(norm_inf(g), EPS))
      for j = 1, #d do d[j] = gamma * d[j] end
      gd = gamma * gd
    end
    local t, nb, nf, ng = 1, nil, nil, nil
    local ok = false
    for _ = 1, 50 do
      nb = axpy(t, d, b)
      nf, ng = obj(nb, 1)
      if nf <= f + ARMIJO * t * gd then ok = true; break end
      t = t * 0.5
    end
    if not ok then conv = norm_inf(g) <= sqrt(tol); break end
    local s, y = sub(nb, b), sub(ng, g)
    local sy = dot(s, y)
    if sy > EPS * dot(y, y) then
      S[#S + 1], Y[#Y + 1], RHO[#RHO + 1] = s, y, 1 / sy
      if #S > m then remove(S, 1); remove(Y, 1); remove(RHO, 1) end
    end
    local df = (f - nf) / max(abs(f), abs(nf), 1)
    b, f, g = nb, nf, ng
    if df <= 64 * EPS then conv = true; break end
  end
  return b, info(k, conv, P)
end

--- proximal_grad(P, opts): proximal gradient descent (ISTA): a gradient
-- step on the data term, then the regularizer's proximal operator, with a
-- backtracking line search on the quadratic upper bound and a step growing
-- by 1.25 after each success (as dask-glm); any penalty. Converges when
-- the largest entry of the gradient mapping (beta - beta+) / step is at
-- most tol.
-- @return beta, info
function M.proximal_grad(P, opts)
  local reg = R.get(opts.regularizer, 2)
  local c, weight = (opts.lamduh or 0) * P.scale, opts.l1_ratio
  local tol, max_iter = opts.tol or 1e-4, opts.max_iter or 100
  local b = zeros(P.p)
  local f, g = P:loss(b, 1)
  local t, k, conv = 1, 0, false
  while k < max_iter do
    k = k + 1
    local nb, nf, ng, diff
    local ok = false
    for _ = 1, 60 do
      nb = reg.prox(axpy(-t, g, b), t * c, P.icpt, weight)
      nf, ng = P:loss(nb, 1)
      diff = sub(nb, b)
      if nf <= f + dot(g, diff) + dot(diff, diff) / (2 * t) + EPS * abs(f) then ok = true; break end
      t = t * 0.5
    end
    if not ok then break end
    b, f, g = nb, nf, ng
    if norm_inf(diff) / t <= tol then conv = true; break end
    t = t * 1.25
  end
  return b, info(k, conv, P)
end

-- ADMM ------------------------------------------------------------------------

--- admm_local(X, y, family, z, u, beta0, rho, scale, icpt): the x-update of
-- one block (a task): argmin_b scale * sum_block loss(b) + rho/2 ||b - z + u||^2
-- by Newton's method from BETA0 (the block's previous solution), with
-- LAPACK's Cholesky for the steps.
-- @return the block's coefficients, a float64 ndarray (p,)
function M.admm_local(X, y, family, z, u, beta0, rho, scale, icpt)
  X, y = F.f64(X), F.f64(y)
  local p = beta0.size
  local zl, ul = U.from_nd(z, 0, p), U.from_nd(u, 0, p)
  local b = U.from_nd(beta0, 0, p)
  local function eval(bl, need)
    local packed = F.block_eval(family, need, X, y, U.to_nd(bl), icpt)
    local f, g, H = packed:data()[0] * scale, nil, nil
    local dev = 0
    for j = 1, p do
      local e = bl[j] - zl[j] + ul[j]
      dev = dev + e * e
    end
    f = f + 0.5 * rho * dev
    if need >= 1 then
      g = U.from_nd(packed, 1, p)
      for j = 1, p do g[j] = g[j] * scale + rho * (bl[j] - zl[j] + ul[j]) end
    end
    if need >= 2 then
      H = nd.alloc({ p, p }, "float64")
      local h, pp = H:data(), packed:data()
      for i = 0, p * p - 1 do h[i] = pp[1 + p + i] * scale end
      U.keep(packed)
      for j = 0, p - 1 do h[j * p + j] = h[j * p + j] + rho end
    end
    return f, g, H
  end
  local f, g, H = eval(b, 2)
  for _ = 1, 50 do
    if norm_inf(g) <= 1e-12 * max(1, abs(f)) then break end
    local s = U.solve_spd(H, g)
    local gs = dot(g, s)
    local t = 1
    local nb = axpy(-t, s, b)
    local nf = eval(nb, 0)
    local tries = 0
    while nf > f - ARMIJO * t * gs and tries < 30 do
      t, tries = t * 0.5, tries + 1
      nb = axpy(-t, s, b)
      nf = eval(nb, 0)
    end
    if nf > f then break end
    b = nb
    f, g, H = eval(b, 2)
    if t * norm_inf(s) <= 1e-12 * max(1, norm_inf(b)) then break end
  end
  return U.to_nd(b)
end

--- admm(P, opts): the alternating direction method of multipliers in
-- consensus form (dask-glm's admm): each block solves its local problem
-- (admm_local, one task per block), the client averages and applies the
-- regularizer's proximal operator (the consensus z) and updates the scaled
-- duals u_i; any penalty. `rho` (default 1) and `over_relax` (default 1)
-- as dask-glm, rho adapted by residual balancing unless `adaptive_rho =
-- false`; stops when the primal and dual residuals are below
-- sqrt(p N) tol + tol * scale (dask-glm's abstol and reltol, both tol).
-- @return beta (z), info
function M.admm(P, opts)
  local reg = R.get(opts.regularizer, 2)
  local lamduh, weight = opts.lamduh or 0, opts.l1_ratio
  local tol, max_iter = opts.tol or 1e-4, opts.max_iter or 100
  local rho, over = opts.rho or 1, opts.over_relax or 1
  local adapt = opts.adaptive_rho ~= false
  local N, p = P.nblocks, P.p
  -- block losses scaled by N / n (each about a mean over its rows), the
  -- total by N: the consensus problem sum_i f_i(b_i) + N lamduh / n R(z).
  local scale = N * P.scale
  local z = zeros(p)
  local u, betas = {}, {}
  for i = 1, N do u[i], betas[i] = zeros(p), zeros(p) end
  local k, conv = 0, false
  local abstol, reltol = tol, tol
  while k < max_iter do
    k = k + 1
    local args = {}
    local znd = U.to_nd(z)
    for i = 1, N do
      args[i] = { P.family, znd, U.to_nd(u[i]), U.to_nd(betas[i]), rho, scale, P.icpt }
    end
    local res = P:map_blocks(M.admm_local, args)
    local zt = zeros(p)
    local hats = {}
    for i = 1, N do
      betas[i] = U.from_nd(res[i], 0, p)
      local h = {}
      for j = 1, p do
        h[j] = over * betas[i][j] + (1 - over) * z[j]
        zt[j] = zt[j] + (h[j] + u[i][j]) / N
      end
      hats[i] = h
    end
    local zold = z
    z = reg.prox(zt, lamduh * scale / (rho * N), P.icpt, weight)
    local pr, nb, nu = 0, 0, 0
    for i = 1, N do
      for j = 1, p do
        u[i][j] = u[i][j] + hats[i][j] - z[j]
        local e = betas[i][j] - z[j]
        pr = pr + e * e
        nb = nb + betas[i][j] * betas[i][j]
        nu = nu + (rho * u[i][j]) ^ 2
      end
    end
    pr = sqrt(pr)
    local dr = rho * sqrt(N) * norm2(sub(z, zold))
    local eps_pri = sqrt(p * N) * abstol + reltol * max(sqrt(nb), sqrt(N) * norm2(z))
    local eps_dual = sqrt(p * N) * abstol + reltol * sqrt(nu)
    if pr < eps_pri and dr < eps_dual then conv = true; break end
    -- residual balancing (Boyd et al. 2011, 3.4.1): keep the primal and
    -- dual residuals within a factor 10 of each other by doubling or
    -- halving rho (the scaled duals u = y / rho rescale with it)
    if adapt and pr > 10 * dr then
      rho = rho * 2
      for i = 1, N do for j = 1, p do u[i][j] = u[i][j] / 2 end end
    elseif adapt and dr > 10 * pr then
      rho = rho / 2
      for i = 1, N do for j = 1, p do u[i][j] = u[i][j] * 2 end end
    end
  end
  return z, info(k, conv, P)
end

--- The solvers by name.
M.names = { "admm", "gradient_descent", "lbfgs", "newton", "proximal_grad" }

--- get(name, level): the solver function NAME; an unknown name raises at
-- LEVEL naming the valid ones.
function M.get(name, level)
  local f = M[name]
  local found = false
  for _, n in ipairs(M.names) do if n == name then found = true end end
  if not found or not f then
    error(format("glm: unknown solver '%s' (expected one of %s)", tostring(name), concat(M.names, ", ")),
      (level or 2) + 1)
  end
  return f
end

return M
