-- da.linalg, tensordot, einsum, outer and dot against numpy.linalg on
-- seeded data, on the sync and threads schedulers and a two-worker local
-- cluster. Factors are compared after making their signs canonical (each
-- column of Q / U has its largest entry positive, as in numpy's answer).
local helpers = require "helpers"
local npcheck = require "npcheck"
local da = require "ldask.array"
local nd = require "ldask.array.ndarray"

local PY = [==[
X = load('X'); T = load('T'); A = load('A'); B = load('B'); b = load('b'); L = load('L'); R = load('R')
q, r = np.linalg.qr(X); save('q', q); save('r', r)
u, s, vh = np.linalg.svd(X, full_matrices=False); save('u', u); save('s', s); save('vh', vh)
u, s, vh = np.linalg.svd(T, full_matrices=False); save('tu', u); save('ts', s); save('tvh', vh)
LR = L @ R
u, s, vh = np.linalg.svd(LR, full_matrices=False); save('lr_s', s[:5]); save('lr_u', u[:, :5]); save('lr_vh', vh[:5])
SPD = A.T @ A + 60 * np.eye(60); save('spd', SPD)
save('chol', np.linalg.cholesky(SPD))
G = A + 60 * np.eye(60)
save('solve_b', np.linalg.solve(G, b)); save('solve_B', np.linalg.solve(G, B)); save('inv', np.linalg.inv(G))
save('spd_solve', np.linalg.solve(SPD, B))
save('tri_lo', np.linalg.solve(np.tril(G), b)); save('tri_up', np.linalg.solve(np.triu(G), B))
x, res, rank, sv = np.linalg.lstsq(X, X @ np.arange(1, 21) + np.sin(np.arange(1000)), rcond=None)
save('lstsq_x', x); save('lstsq_res', res); save('lstsq_rank', rank); save('lstsq_s', sv)
v = X[:, 0] - 0.5
for o, name in [(None, 'none'), (1, '1'), (np.inf, 'inf'), (-np.inf, 'ninf'), (0, '0'), (3, '3')]:
    save('vnorm_' + name, np.linalg.norm(v, o))
for o, name in [(None, 'none'), ('fro', 'fro'), (1, '1'), (-1, 'n1'), (np.inf, 'inf'), (-np.inf, 'ninf'), (2, '2'), (-2, 'n2'), ('nuc', 'nuc')]:
    save('mnorm_' + name, np.linalg.norm(G, o))
save('norm_ax1', np.linalg.norm(X, axis=1))
C3 = A[:12].reshape(3, 4, 60)
save('tdot', np.tensordot(C3, A, axes=([2], [0])))
save('tdot2', np.tensordot(A[:12].reshape(3, 4, 60), A[:20].reshape(4, 5, 60), axes=([1, 2], [0, 2])))
save('ein_mm', np.einsum('ij,jk->ik', A, G)); save('ein_t', np.einsum('ij->ji', A)); save('ein_sum', np.einsum('ij->i', A))
save('ein_impl', np.einsum('ij,jk', A, G)); save('ein_batch', np.einsum('bij,bjk->bik', C3, C3.transpose(0, 2, 1)))
save('ein_3', np.einsum('ij,jk,kl->il', A, G, A)); save('ein_dot', np.einsum('i,i->', b, b))
save('outer', np.outer(b, X[:7, 0])); save('dot_nd', A @ G); save('dot_vec', G @ b)
]==]

describe("da.linalg against numpy.linalg", function()
  if not helpers.have_numpy() then
    pending("numpy is not installed for /usr/bin/python3")
    return
  end
  local inputs = {
    X = da.random.random({ 1000, 20 }, { seed = 11, chunks = -1 }):compute(),
    T = da.random.normal({ 20, 300 }, { seed = 12, chunks = -1 }):compute(),
    A = da.random.random({ 60, 60 }, { seed = 13, chunks = -1 }):compute(),
    B = da.random.random({ 60, 3 }, { seed = 14, chunks = -1 }):compute(),
    b = da.random.random({ 60 }, { seed = 15, chunks = -1 }):compute(),
    L = da.random.normal({ 300, 5 }, { seed = 16, chunks = -1 }):compute(),
    R = da.random.normal({ 5, 200 }, { seed = 17, chunks = -1 }):compute(),
  }
  local dir = npcheck.run_numpy(PY, inputs)
  local want = setmetatable({}, { __index = function(t, k) local v = npcheck.load(dir, k); t[k] = v; return v end })
  local X = da.from_ndarray(inputs.X, { chunks = { 250, 20 } })
  local T = da.from_ndarray(inputs.T, { chunks = { 20, 70 } })
  local A = da.from_ndarray(inputs.A, { chunks = { 25, 20 } })
  local G = A + da.eye(60, { chunks = 25 }) * 60
  local b = da.from_ndarray(inputs.b, { chunks = 17 })
  local B = da.from_ndarray(inputs.B, { chunks = { 30, 2 } })
  local LR = da.from_ndarray(inputs.L, { chunks = { 100, 5 } }):dot(da.from_ndarray(inputs.R, { chunks = { 5, 50 } }))

  it("qr, svd, svd_compressed and lstsq agree with numpy on every scheduler", function()
    npcheck.on_schedulers(function(opts, label)
      local q, r = da.linalg.qr(X)
      assert.same({ { 250, 250, 250, 250 }, { 20 } }, q.chunks)
      local qv, rv = q:compute(opts), r:compute(opts)
      local qn, signs = npcheck.sign_cols(qv)
      local wq, wsigns = npcheck.sign_cols(want.q)
      npcheck.close(qn, wq, label .. " qr q")
      npcheck.close(npcheck.sign_rows(rv, signs), npcheck.sign_rows(want.r, wsigns), label .. " qr r")
      local u, s, v = da.linalg.svd(X)
      npcheck.close(s:compute(opts), want.s, label .. " svd s")
      local un, us = npcheck.sign_cols(u:compute(opts))
      local wu, wus = npcheck.sign_cols(want.u)
      npcheck.close(un, wu, label .. " svd u")
      npcheck.close(npcheck.sign_rows(v:compute(opts), us), npcheck.sign_rows(want.vh, wus), label .. " svd vh")
      -- short-and-fat: through the transpose
      local tu, ts, tv = da.linalg.svd(T)
      npcheck.close(ts:compute(opts), want.ts, label .. " svd (short-fat) s")
      local tun, tus = npcheck.sign_cols(tu:compute(opts))
      local wtu, wtus = npcheck.sign_cols(want.tu)
      npcheck.close(tun, wtu, label .. " svd (short-fat) u")
      npcheck.close(npcheck.sign_rows(tv:compute(opts), tus), npcheck.sign_rows(want.tvh, wtus),
        label .. " svd (short-fat) vh")
      -- randomized: exact on a rank-5 matrix; the seed fixes the result
      local cu, cs, cv = da.linalg.svd_compressed(LR, 5, { n_power_iter = 2, seed = 3 })
      npcheck.close(cs:compute(opts), want.lr_s, label .. " svd_compressed s", 1e-8)
      local cun, cus = npcheck.sign_cols(cu:compute(opts))
      local wcu, wcus = npcheck.sign_cols(want.lr_u)
      npcheck.close(cun, wcu, label .. " svd_compressed u", 1e-8)
      npcheck.close(npcheck.sign_rows(cv:compute(opts), cus), npcheck.sign_rows(want.lr_vh, wcus),
        label .. " svd_compressed v", 1e-8)
      local x, res, rank, sv = da.linalg.lstsq(X, X:dot(da.arange(1, 21, { chunks = 20 })) +
        da.sin(da.arange(1000, { chunks = 250 })))
      npcheck.close(x:compute(opts), want.lstsq_x, label .. " lstsq x")
      npcheck.close(res:compute(opts), want.lstsq_res, label .. " lstsq residuals", 1e-7)
      assert.equal(want.lstsq_rank, rank:compute(opts))
      npcheck.close(sv:compute(opts), want.lstsq_s, label .. " lstsq s")
    end)
  end)

  it("cholesky, solve, inv and solve_triangular agree with numpy on every scheduler", function()
    npcheck.on_schedulers(function(opts, label)
      local spd = (A.T:dot(A) + da.eye(60, { chunks = 20 }) * 60):rechunk({ { 25, 25, 10 }, { 20, 20, 20 } })
      npcheck.close(spd:compute(opts), want.spd, label .. " spd input")
      local l = da.linalg.cholesky(spd, true)
      assert.same({ { 20, 5, 15, 10, 10 }, { 20, 5, 15, 10, 10 } }, l.chunks)
      npcheck.close(l:compute(opts), want.chol, label .. " cholesky lower")
      npcheck.close(da.linalg.cholesky(spd):compute(opts), want.chol.T, label .. " cholesky upper (dask's default)")
      npcheck.close(da.linalg.solve(G, b):compute(opts), want.solve_b, label .. " solve (n,)")
      npcheck.close(da.linalg.solve(G, B):compute(opts), want.solve_B, label .. " solve (n, k)")
      npcheck.close(da.linalg.solve(spd, B, { assume_a = "pos" }):compute(opts), want.spd_solve, label .. " solve pos")
      npcheck.close(da.linalg.inv(G):compute(opts), want.inv, label .. " inv")
      local lo = da.from_ndarray(nd.from_table(G:compute():totable()), { chunks = 16 })
      npcheck.close(da.linalg.solve_triangular(lo, b, { lower = true }):compute(opts), want.tri_lo, label .. " tri lower")
      npcheck.close(da.linalg.solve_triangular(lo, B):compute(opts), want.tri_up, label .. " tri upper")
    end)
  end)

  it("norm, tensordot, einsum, outer and dot with ndarrays agree with numpy", function()
    npcheck.on_schedulers(function(opts, label)
      local v = X:slice { ":", 0 } - 0.5
      local inf = math.huge
      for _, c in ipairs({ { nil, "none" }, { 1, "1" }, { inf, "inf" }, { -inf, "ninf" }, { 0, "0" }, { 3, "3" } }) do
        npcheck.close(da.linalg.norm(v, c[1]):compute(opts), want["vnorm_" .. c[2]], label .. " vector norm " .. c[2])
      end
      for _, c in ipairs({ { nil, "none" }, { "fro", "fro" }, { 1, "1" }, { -1, "n1" }, { inf, "inf" },
        { -inf, "ninf" }, { 2, "2" }, { -2, "n2" }, { "nuc", "nuc" } }) do
        npcheck.close(da.linalg.norm(G, c[1]):compute(opts), want["mnorm_" .. c[2]], label .. " matrix norm " .. c[2])
      end
      npcheck.close(da.linalg.norm(X, { axis = 1 }):compute(opts), want.norm_ax1, label .. " norm axis=1")
      local C3 = A:slice { { 0, 12 } }:reshape({ 3, 4, 60 })
      npcheck.close(da.tensordot(C3, A, { { 2 }, { 0 } }):compute(opts), want.tdot, label .. " tensordot")
      npcheck.close(da.tensordot(C3, A:slice { { 0, 20 } }:reshape({ 4, 5, 60 }), { { 1, 2 }, { 0, 2 } }):compute(opts),
        want.tdot2, label .. " tensordot two axes")
      npcheck.close(da.einsum("ij,jk->ik", A, G):compute(opts), want.ein_mm, label .. " einsum matmul")
      npcheck.close(da.einsum("ij->ji", A):compute(opts), want.ein_t, label .. " einsum transpose")
      npcheck.close(da.einsum("ij->i", A):compute(opts), want.ein_sum, label .. " einsum sum")
      npcheck.close(da.einsum("ij,jk", A, G):compute(opts), want.ein_impl, label .. " einsum implicit")
      npcheck.close(da.einsum("bij,bjk->bik", C3, C3:transpose({ 0, 2, 1 })):compute(opts), want.ein_batch,
        label .. " einsum batch")
      npcheck.close(da.einsum("ij,jk,kl->il", A, G, A):compute(opts), want.ein_3, label .. " einsum three operands")
      npcheck.close(da.einsum("i,i->", b, b):compute(opts), want.ein_dot, label .. " einsum inner")
      npcheck.close(da.outer(b, X:slice { { 0, 7 }, 0 }):compute(opts), want.outer, label .. " outer")
      npcheck.close(da.dot(inputs.A, G):compute(opts), want.dot_nd, label .. " dot(ndarray, array)")
      npcheck.close(G:dot(inputs.b):compute(opts), want.dot_vec, label .. " dot(array, ndarray)")
    end)
  end)

  it("keeps float32, and reports misuse and numerical failures clearly", function()
    local q = da.linalg.qr(X:astype("float32"))
    assert.equal("float32", q.dtype)
    assert.equal("float32", q:compute().dtype)
    local ok, err = pcall(function() local r = da.linalg.qr(A); return r end)
    assert.is_false(ok)
    assert.matches("one chunk along its columns.*rechunk", err)
    assert.matches("array_linalg_spec.lua", err) -- at the caller's line
    local bad = da.from_table({ { 1, 2, 0 }, { 2, 1, 0 }, { 0, 0, 1 } }, { chunks = 1 })
    ok, err = pcall(function() return da.linalg.cholesky(bad):compute() end)
    assert.is_false(ok)
    assert.matches("cholesky: the matrix is not positive definite %(leading minor 2%)", err)
    local sing = da.from_table({ { 1, 2 }, { 2, 4 } }, { chunks = 1 })
    ok, err = pcall(function() return da.linalg.solve(sing, da.ones({ 2 }, { chunks = 1 })):compute() end)
    assert.is_false(ok)
    assert.matches("solve: the matrix is singular", err)
    ok, err = pcall(da.einsum, "ii->i", A)
    assert.is_false(ok)
    assert.matches("repeats index 'i'", err)
    ok, err = pcall(da.einsum, "...i->i", A)
    assert.is_false(ok)
    assert.matches("not supported", err)
    ok, err = pcall(da.linalg.solve, X, b)
    assert.is_false(ok)
    assert.matches("solve: expected a square matrix, got shape %(1000, 20%)", err)
    ok, err = pcall(da.tensordot, A, X, { { 1 }, { 0 } })
    assert.is_false(ok)
    assert.matches("shape mismatch", err)
    ok, err = pcall(da.linalg.svd_compressed, X, 50)
    assert.is_false(ok)
    assert.matches("k=50 is larger", err)
    -- the seed fixes svd_compressed's result
    local _, s1 = da.linalg.svd_compressed(X, 3, { seed = 5 })
    local _, s2 = da.linalg.svd_compressed(X, 3, { seed = 5 })
    assert.equal(s1.name, s2.name)
    assert.same(s1:compute():totable(), s2:compute():totable())
  end)
end)
