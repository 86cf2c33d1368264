--- ldask.array.ndlinalg: dense linear algebra and ordering on one ndarray
-- (the C kernels of core/array/lapack.c and select.c), and the task
-- functions of the blocked algorithms in ldask.array.linalg_*: every task
-- of those graphs is {ndlinalg.f, args...} and sees only blocks.
-- Factorizations compute in float64; float32 inputs give float32 results
-- (as numpy.linalg), integers float64.
-- @module ldask.array.ndlinalg
local ffi = require "ffi"
local lib = require "ldask.native"
local nd = require "ldask.array.ndarray"
require "ldask.ffi.lapack"

local error, ipairs, type, format, unpack, sqrt, max, abs, floor =
  error, ipairs, type, string.format, unpack, math.sqrt, math.max, math.abs, math.floor
local empty = nd.empty_struct

local M = {}

local function cerr(level) error(ffi.string(lib.ld_array_errmsg()), level + 1) end

-- float32 stays float32, everything else computes and stays float64.
local function out_dtype(a) return a.dtype == "float32" and "float32" or "float64" end
M.out_dtype = out_dtype
local function back(x, dt) if dt == "float32" then return x:astype("float32") end return x end

--- qr(a): reduced QR of a 2-D ndarray, q (m, k) and r (k, n), k = min(m, n).
-- @param a an ndarray
-- @return q, r
function M.qr(a)
  local q, r = empty(), empty()
  if lib.ld_la_qr(a, q, r) ~= 0 then cerr(2) end
  local dt = out_dtype(a)
  return back(q, dt), back(r, dt)
end

--- svd(a): thin SVD u (m, k), s (k,), vt (k, n) with s descending.
-- @param a an ndarray
-- @return u, s, vt
function M.svd(a)
  local u, s, vt = empty(), empty(), empty()
  if lib.ld_la_svd(a, u, s, vt) ~= 0 then cerr(2) end
  local dt = out_dtype(a)
  return back(u, dt), back(s, dt), back(vt, dt)
end

--- cholesky(a, lower, minor0, what): the Cholesky factor (L when LOWER, else U).
-- @param a a square ndarray
-- @param lower true for L (a = L L^T), false for U (a = U^T U)
-- @param[opt] minor0 offset of A's first row in the whole matrix (messages)
-- @param[opt] what the operation named in errors
-- @return an ndarray
function M.cholesky(a, lower, minor0, what)
  local out = empty()
  if lib.ld_la_cholesky(a, lower and 1 or 0, minor0 or 0, what or "cholesky", out) ~= 0 then cerr(2) end
  return out
end

--- lu(a, minor0, what): LU with partial pivoting, perm (int64), l, u with a[perm] = l u.
-- @param a a square ndarray
-- @param[opt] minor0 offset of A's first row in the whole matrix (messages)
-- @param[opt] what the operation named in errors
-- @return perm, l, u
function M.lu(a, minor0, what)
  local p, l, u = empty(), empty(), empty()
  if lib.ld_la_lu(a, minor0 or 0, what or "lu", p, l, u) ~= 0 then cerr(2) end
  return p, l, u
end

--- trsolve(t, b, lower, trans, unit, what): op(t)^-1 b for a triangular t.
-- @param t a square triangular ndarray
-- @param b an ndarray (n,) or (n, r)
-- @param lower t is lower triangular
-- @param[opt] trans solve with t transposed
-- @param[opt] unit take t's diagonal as ones
-- @param[opt] what the operation named in errors
-- @return an ndarray (float64)
function M.trsolve(t, b, lower, trans, unit, what)
  local out = empty()
  if lib.ld_la_trsolve(t, b, lower and 1 or 0, trans and 1 or 0, unit and 1 or 0, what or "solve_triangular",
      out) ~= 0 then
    cerr(2)
  end
  return out
end

--- tri(a, lower, k): numpy's tril(a, k) (LOWER) or triu(a, k).
-- @param a a 2-D ndarray
-- @param lower true for tril
-- @param[opt] k the diagonal (0 main, > 0 above)
-- @return an ndarray
function M.tri(a, lower, k)
  local out = empty()
  if lib.ld_la_tri(a, lower and 1 or 0, k or 0, out) ~= 0 then cerr(2) end
  return out
end

--- argsort(a, descending): int64 positions sorting each row along the last axis.
-- @param a an ndarray
-- @param[opt] descending largest first (NaN first), else smallest first (NaN last)
-- @return an int64 ndarray of A's shape
function M.argsort(a, descending)
  local out = empty()
  if lib.ld_nd_argsort(a, descending and 1 or 0, out) ~= 0 then cerr(2) end
  return out
end

--- take_along(a, idx): a[..., idx[..., j]] along the last axis.
-- @param a an ndarray
-- @param idx an int64 ndarray (A's leading shape, any last size)
-- @return an ndarray of A's dtype
function M.take_along(a, idx)
  local out = empty()
  if lib.ld_nd_take_along(a, idx, out) ~= 0 then cerr(2) end
  return out
end

local function prod(t, i, j)
  local p = 1
  for k = i, j do p = p * t[k] end
  return p
end

--- tensordot(a, b, axes_a, axes_b): numpy.tensordot of two ndarrays over the
-- 0-based axes AXES_A of A and AXES_B of B (same lengths).
-- @param a an ndarray
-- @param b an ndarray
-- @param axes_a list of axes of a
-- @param axes_b list of axes of b
-- @return an ndarray: the free axes of a then those of b
function M.tensordot(a, b, axes_a, axes_b)
  local ca, cb = {}, {}
  for _, x in ipairs(axes_a) do ca[x] = true end
  for _, x in ipairs(axes_b) do cb[x] = true end
  local pa, pb, fa, fb = {}, {}, {}, {}
  local sa, sb = a.shape, b.shape
  for d = 0, a.ndim - 1 do if not ca[d] then pa[#pa + 1] = d; fa[#fa + 1] = sa[d + 1] end end
  for _, x in ipairs(axes_a) do pa[#pa + 1] = x end
  for _, x in ipairs(axes_b) do pb[#pb + 1] = x end
  for d = 0, b.ndim - 1 do if not cb[d] then pb[#pb + 1] = d; fb[#fb + 1] = sb[d + 1] end end
  local k = 1
  for _, x in ipairs(axes_a) do k = k * sa[x + 1] end
  local a2 = a:transpose(pa):reshape({ prod(fa, 1, #fa), k })
  local b2 = b:transpose(pb):reshape({ k, prod(fb, 1, #fb) })
  local r = nd.matmul(a2, b2)
  local shape = {}
  for _, v in ipairs(fa) do shape[#shape + 1] = v end
  for _, v in ipairs(fb) do shape[#shape + 1] = v end
  return r:reshape(shape)
end

-- A @ B where B may be 1-D (a column).
local function matmul2(a, b)
  if b.ndim == 1 then return nd.matmul(a, b:reshape({ b.shape[1], 1 })):reshape({ a.shape[1] }) end
  return nd.matmul(a, b)
end

-- Task functions ---------------------------------------------------------------

--- Sum over pairs of tensordot(as[i], bs[i]) (blocks of the contracted axes).
-- @local
function M.tensordot_sum(as, bs, axes_a, axes_b, dtype)
  local acc
  for i = 1, #as do
    local t = M.tensordot(as[i], bs[i], axes_a, axes_b)
    acc = acc and nd.binary("add", acc, t) or t
  end
  if acc.dtype ~= dtype then acc = acc:astype(dtype) end
  return acc
end

--- tsqr, first level: {q, r} of one block.
-- @local
function M.qr_block(a)
  local q, r = M.qr(a)
  return { q = q, r = r }
end

--- Field K of a table result (q, r, u, s, ...).
-- @local
function M.getfield(t, k) return t[k] end

--- tsqr, second level: the QR of the stacked R's of the blocks (a list of
-- {q, r}); also the SVD of the final R when SVD is set.
-- @local
function M.qr_stacked(parts, svd)
  local rs = {}
  for i, p in ipairs(parts) do rs[i] = p.r end
  local q2, r = M.qr(nd.concatenate(rs, 0))
  local out = { q2 = q2, r = r }
  if svd then out.u, out.s, out.vt = M.svd(r) end
  return out
end

--- tsqr: Q of block I = Q_i @ Q2[rows of block i] (@ U of the SVD of R when SVD).
-- @local
function M.tsqr_q(part, top, lo, hi, svd)
  local q2 = top.q2:slice({ { lo, hi } })
  local q = nd.matmul(part.q, q2)
  if svd then q = nd.matmul(q, top.u) end
  return q
end

--- Blocked Cholesky, diagonal block: chol(A_ii - sum_k L_ik L_ik^T).
-- @local
function M.chol_diag(a, ls, minor0)
  local t = a:astype("float64")
  for _, l in ipairs(ls) do t = nd.binary("sub", t, nd.matmul(l, l.T)) end
  return M.cholesky(t, true, minor0, "cholesky")
end

--- Blocked Cholesky, block below the diagonal: (A_ji - sum_k L_jk L_ik^T) L_ii^-T.
-- @local
function M.chol_off(a, lii, ljs, lis)
  local t = a:astype("float64")
  for k = 1, #ljs do t = nd.binary("sub", t, nd.matmul(ljs[k], lis[k].T)) end
  -- X L_ii^T = T  <=>  L_ii X^T = T^T
  return M.trsolve(lii, t.T, true, false, false, "cholesky").T
end

--- A_ij - sum_k L_ik U_kj (float64), the update of the blocked LU.
-- @local
function M.lu_update(a, ls, us)
  local t = a:astype("float64")
  for k = 1, #ls do t = nd.binary("sub", t, nd.matmul(ls[k], us[k])) end
  return t
end

--- Blocked LU, diagonal block: {perm, l, u} of the updated A_ii.
-- @local
function M.lu_diag(a, ls, us, minor0)
  local p, l, u = M.lu(M.lu_update(a, ls, us), minor0, "solve")
  return { perm = p, l = l, u = u }
end

--- Blocked LU, block right of the diagonal: U_ij = L_ii^-1 (P_i^T (A_ij - ...)).
-- @local
function M.lu_right(a, diag, ls, us)
  local t = M.lu_update(a, ls, us)
  return M.trsolve(diag.l, M.take_rows(t, diag.perm), true, false, true, "solve")
end

--- Blocked LU, block below the diagonal: L'_ji = (A_ji - ...) U_ii^-1.
-- @local
function M.lu_below(a, diag, ls, us)
  local t = M.lu_update(a, ls, us)
  -- X U = T  <=>  U^T X^T = T^T
  return M.trsolve(diag.u, t.T, false, true, false, "solve").T
end

--- Rows PERM (int64 ndarray) of the 1-D or 2-D A.
-- @local
function M.take_rows(a, perm)
  local K = require "ldask.array.kernels"
  return K.take(a, perm:tolist(), 0)
end

--- Forward substitution step, y_i = D_i^-1 (b_i - sum_k L_ik y_k). MODE "lu":
-- DIAG is {perm, l, u} of the blocked LU and y_i = L_ii^-1 P_i^T (...);
-- "lower": DIAG is a lower triangular block.
-- @local
function M.forward(b, diag, ls, ys, mode)
  local t = b:astype("float64")
  for k = 1, #ls do t = nd.binary("sub", t, matmul2(ls[k], ys[k])) end
  if mode == "lower" then return M.trsolve(diag, t, true, false, false, "solve_triangular") end
  return M.trsolve(diag.l, M.take_rows(t, diag.perm), true, false, true, "solve")
end

--- Backward substitution step, x_i = D_i^-1 (y_i - sum_j U_ij x_j). MODE
-- "lu": DIAG is the LU table (its u); "upper": DIAG is an upper triangular
-- block; "lower_t": DIAG and the blocks US are lower blocks L_ii, L_ji used
-- transposed (U = L^T, the Cholesky solve).
-- @local
function M.backward(y, diag, us, xs, mode)
  local t = y:astype("float64")
  for k = 1, #us do
    local u = mode == "lower_t" and us[k].T or us[k]
    t = nd.binary("sub", t, matmul2(u, xs[k]))
  end
  if mode == "upper" then return M.trsolve(diag, t, false, false, false, "solve_triangular") end
  if mode == "lower_t" then return M.trsolve(diag, t, true, true, false, "solve") end
  return M.trsolve(diag.u, t, false, false, false, "solve")
end

--- numpy's matrix_rank of a small matrix: singular values above
-- max(s) * max(m, n) * eps.
-- @local
function M.matrix_rank(r)
  local _, s = M.svd(r)
  local sv = s:tolist()
  local tol = (sv[1] or 0) * max(r.shape[1], r.shape[2]) * 2.220446049250313e-16
  local n = 0
  for _, v in ipairs(sv) do if v > tol then n = n + 1 end end
  return n
end

--- matrix_rank as a 0-d int64 ndarray (the block of a 0-d array).
-- @local
function M.matrix_rank_nd(r) return nd.scalar(M.matrix_rank(r), 2) end

--- Singular values of a small matrix.
-- @local
function M.singular_values(r)
  local _, s = M.svd(r)
  return s
end

--- lstsq's solve of the small system: R^-1 (Q^T b) (R square upper).
-- @local
function M.solve_r(r, qtb) return back(M.trsolve(r, qtb, false, false, false, "lstsq"), out_dtype(r)) end

--- svd_compressed's finishing step on the small matrix: {u, s, vt}.
-- @local
function M.svd_table(a)
  local u, s, vt = M.svd(a)
  return { u = u, s = s, vt = vt }
end

--- Rows [LO, HI) of block or first K columns: slices of a small result.
-- @local
function M.cols(a, k) return a:slice({ ":", { 0, k } }):astype(a.dtype) end

--- First K entries along axis 0.
-- @local
function M.rows(a, k) return a:slice({ { 0, k } }):astype(a.dtype) end

--- Casts a task result to DTYPE.
-- @local
function M.cast(a, dtype) if a.dtype ~= dtype then return a:astype(dtype) end return a end

return M
