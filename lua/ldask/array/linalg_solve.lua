--- ldask.array.linalg_solve: the square-matrix part of da.linalg, by
-- blocks: cholesky, solve (blocked LU), inv, solve_triangular.
--
-- The matrix is first rechunked to square blocks (the common refinement of
-- its row and column chunks). Blocked Cholesky, for each block column j:
-- L_jj = chol(A_jj - sum_k L_jk L_jk^T), L_ij = (A_ij - sum_k L_ik L_jk^T)
-- L_jj^-T below it. Blocked LU (as dask's, with partial pivoting inside the
-- diagonal blocks): D_i = A_ii - sum_k L'_ik U_ki = P_i L_ii U_ii, U_ij =
-- L_ii^-1 P_i^T (A_ij - sum_k L'_ik U_kj) right of it, L'_ji = (A_ji -
-- sum_k L'_jk U_ki) U_ii^-1 below it (L'_ji is L_ji before row block j's
-- own pivots); then a blocked forward substitution y_i = L_ii^-1 P_i^T
-- (b_i - sum_k L'_ik y_k) and backward substitution x_i = U_ii^-1 (y_i -
-- sum_j U_ij x_j). Every step is one task over a few blocks.
-- @submodule ldask.array
local core = require "ldask.array.core"
local nd = require "ldask.array.ndarray"
local ND = require "ldask.array.ndlinalg"
local K = require "ldask.array.kernels"
local rechunk = require "ldask.array.rechunk"
local LQ = require "ldask.array.linalg_qr"

local error, format, type, ipairs = error, string.format, type, ipairs

local M = {}

-- A square matrix with square blocks (rechunked when needed).
local function square(a, what, level)
  LQ.check_matrix(a, what, level + 1)
  if a.shape[1] ~= a.shape[2] then
    error(format("%s: expected a square matrix, got shape %s", what, nd.shape_str(a.shape)), level + 1)
  end
  local c = rechunk.refine({ a.chunks[1], a.chunks[2] })
  return rechunk.rechunk(a, { c, c }), c
end

local function result_dtype(...)
  for _, x in ipairs({ ... }) do if x.dtype ~= "float32" then return "float64" end end
  return "float32"
end

local function cast(x, dtype)
  if x.dtype == dtype then return x end
  return require("ldask.array.elemwise").astype(x, dtype, nil, 3)
end

-- The lower Cholesky factor's block keys: an array (chunks C, C) of
-- float64 blocks, zero above the diagonal.
local function cholesky_lower(a, c)
  local name = core.name("cholesky", a.name)
  local layer = {}
  local nb = #c
  local starts = core.starts(c)
  local function L(i, j) return core.bkey(name, { i, j }) end
  for j = 0, nb - 1 do
    local ljs = {}
    for k = 0, j - 1 do ljs[#ljs + 1] = L(j, k) end
    layer[L(j, j)] = { ND.chol_diag, core.bkey(a.name, { j, j }), ljs, starts[j + 1] }
    for i = j + 1, nb - 1 do
      local lis = {}
      for k = 0, j - 1 do lis[#lis + 1] = L(i, k) end
      layer[L(i, j)] = { ND.chol_off, core.bkey(a.name, { i, j }), L(j, j), lis, ljs }
      layer[L(j, i)] = { K.full, { c[j + 1], c[i + 1] }, 0, "float64" }
    end
  end
  return core.new(name, layer, { c, c }, "float64", { a })
end

--- da.linalg.cholesky(a, lower) (or cholesky(a, {lower = true})): the
-- Cholesky factor of a symmetric positive definite matrix. As dask, the
-- UPPER factor U (a = U^T U) by default; `lower = true` gives L (a = L L^T,
-- numpy's). Only the lower triangle of a is read. A matrix that is not
-- positive definite is an error naming the leading minor.
-- @param a a square Array
-- @param[opt] lower true for the lower factor, or `{ lower = true }`
-- @return an Array
function M.cholesky(a, lower)
  if type(lower) == "table" then lower = lower.lower end
  local sq, c = square(a, "cholesky", 2)
  local l = cast(cholesky_lower(sq, c), result_dtype(a))
  if lower then return l end
  return require("ldask.array.slicing").transpose(l)
end

-- Blocked LU of the square-chunked A: returns key functions D(i) (the
-- {perm, l, u} table), U(i, j) for j > i, L(j, i) for j > i, and the graph dependency.
local function lu_graph(a, c)
  local name = core.name("lu", a.name)
  local layer = {}
  local nb = #c
  local starts = core.starts(c)
  local function D(i) return core.bkey(name .. "-d", { i }) end
  local function U(i, j) return core.bkey(name .. "-u", { i, j }) end
  local function L(i, j) return core.bkey(name .. "-l", { i, j }) end
  for i = 0, nb - 1 do
    local ls, us = {}, {}
    for k = 0, i - 1 do ls[#ls + 1], us[#us + 1] = L(i, k), U(k, i) end
    layer[D(i)] = { ND.lu_diag, core.bkey(a.name, { i, i }), ls, us, starts[i + 1] }
    for j = i + 1, nb - 1 do
      local lr, ur, lb, ub = {}, {}, {}, {}
      for k = 0, i - 1 do
        lr[#lr + 1], ur[#ur + 1] = L(i, k), U(k, j)
        lb[#lb + 1], ub[#ub + 1] = L(j, k), U(k, i)
      end
      layer[U(i, j)] = { ND.lu_right, core.bkey(a.name, { i, j }), D(i), lr, ur }
      layer[L(j, i)] = { ND.lu_below, core.bkey(a.name, { j, i }), D(i), lb, ub }
    end
  end
  return D, U, L, core.graph_dep(name, layer, { a }), name
end

-- Forward then backward substitution over the blocks of B (rows chunked
-- as the factor). FWD(i): {diag key, mode, function(k) -> key of block
-- (i, k) of the lower factor}; BWD likewise for the upper factor.
local function substitute(b, nb, fwd_diag, fwd_mode, lower_key, bwd_diag, bwd_mode, upper_key, deps, dtype, what,
                          tag)
  local name = core.name(what, b.name, tag, fwd_mode or "", bwd_mode or "")
  local layer = {}
  local ncol = b.ndim == 2 and #b.chunks[2] or 1
  local function Y(i, c) return core.bkey(name .. "-y", b.ndim == 2 and { i, c } or { i }) end
  local function X(i, c) return core.bkey(name, b.ndim == 2 and { i, c } or { i }) end
  for c = 0, ncol - 1 do
    for i = 0, nb - 1 do
      if fwd_diag then
        local ls, ys = {}, {}
        for k = 0, i - 1 do ls[#ls + 1], ys[#ys + 1] = lower_key(i, k), Y(k, c) end
        layer[Y(i, c)] = { ND.forward, core.bkey(b.name, b.ndim == 2 and { i, c } or { i }), fwd_diag(i), ls, ys,
          fwd_mode }
      else
        layer[Y(i, c)] = { K.identity, core.bkey(b.name, b.ndim == 2 and { i, c } or { i }) }
      end
    end
    for i = nb - 1, 0, -1 do
      if bwd_diag then
        local us, xs = {}, {}
        for j = i + 1, nb - 1 do us[#us + 1], xs[#xs + 1] = upper_key(i, j), X(j, c) end
        layer[X(i, c)] = { ND.backward, Y(i, c), bwd_diag(i), us, xs, bwd_mode }
      else
        layer[X(i, c)] = { K.identity, Y(i, c) }
      end
    end
  end
  local all = { b }
  for _, d in ipairs(deps) do all[#all + 1] = d end
  local x = core.new(name, layer, b.ndim == 2 and { b.chunks[1], b.chunks[2] } or { b.chunks[1] }, "float64", all)
  return cast(x, dtype)
end

-- B as an array whose rows follow the chunks C of a square factor of size N.
local function rhs(b, c, n, what, level)
  b = require("ldask.array.linalg").as_array(b, { c }, what, level + 1)
  if b.ndim < 1 or b.ndim > 2 or b.shape[1] ~= n then
    error(format("%s: b of shape %s does not match a (%d, %d) matrix (need (%d,) or (%d, k))", what,
      nd.shape_str(b.shape), n, n, n, n), level + 1)
  end
  if b.dtype == "bool" then error(what .. ": bool arrays are not supported (cast with astype first)", level + 1) end
  core.check_known(b, what, level + 1)
  return rechunk.rechunk(b, b.ndim == 2 and { c, b.chunks[2] } or { c })
end

--- da.linalg.solve(a, b) (or solve(a, b, {assume_a = "pos"})): x with a x = b
-- for a square a, by a blocked LU with partial pivoting inside the
-- diagonal blocks (as dask's; `assume_a = "pos"`: through the Cholesky
-- factor, for symmetric positive definite a). A singular matrix (an
-- exactly zero pivot) is an error.
-- @param a a square Array
-- @param b an Array or ndarray (n,) or (n, k)
-- @param[opt] opts `{ assume_a = "gen" | "pos" }`
-- @return an Array of b's shape
function M.solve(a, b, opts)
  local sq, c = square(a, "solve", 2)
  local n = a.shape[1]
  local bb = rhs(b, c, n, "solve", 2)
  local dtype = result_dtype(a, bb)
  if opts and opts.assume_a == "pos" then
    local l = cholesky_lower(sq, c)
    local function lk(i, j) return core.bkey(l.name, { i, j }) end
    local function diag(i) return lk(i, i) end
    return substitute(bb, #c, diag, "lower", lk, diag, "lower_t", function(i, j) return lk(j, i) end, { l }, dtype,
      "solve", l.name)
  end
  local D, U, L, dep, lu_name = lu_graph(sq, c)
  return substitute(bb, #c, D, "lu", L, D, "lu", U, { dep }, dtype, "solve", lu_name)
end

--- da.linalg.inv(a): the inverse of a square matrix, solve(a, eye).
-- @param a a square Array
-- @return an Array
function M.inv(a)
  local sq, c = square(a, "inv", 2)
  local eye = require("ldask.array.creation").eye(a.shape[1], { chunks = { c, c } })
  local r = M.solve(sq, eye)
  return cast(r, result_dtype(a))
end

--- da.linalg.solve_triangular(a, b, lower) (or {lower = true}): x with a x = b
-- for a triangular a (upper by default, as scipy and dask), by blocked
-- substitution. Only a's triangle is read.
-- @param a a square triangular Array
-- @param b an Array or ndarray (n,) or (n, k)
-- @param[opt] lower true when a is lower triangular, or `{ lower = true }`
-- @return an Array of b's shape
function M.solve_triangular(a, b, lower)
  if type(lower) == "table" then lower = lower.lower end
  local sq, c = square(a, "solve_triangular", 2)
  local bb = rhs(b, c, a.shape[1], "solve_triangular", 2)
  local function ak(i, j) return core.bkey(sq.name, { i, j }) end
  local function diag(i) return ak(i, i) end
  local dtype = result_dtype(a, bb)
  if lower then
    return substitute(bb, #c, diag, "lower", ak, nil, nil, nil, { sq }, dtype, "solve_triangular", sq.name)
  end
  return substitute(bb, #c, nil, nil, nil, diag, "upper", ak, { sq }, dtype, "solve_triangular",
    sq.name)
end

return M
