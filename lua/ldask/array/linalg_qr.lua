--- ldask.array.linalg_qr: the QR family of da.linalg, by blocks:
-- tsqr / qr (tall-and-skinny: one chunk along the columns), svd (through
-- tsqr, or its transpose for short-and-fat arrays), svd_compressed
-- (randomized, seeded), lstsq (through tsqr) and norm.
--
-- tsqr of an (m, n) array with row blocks A_1..A_p: each block gives
-- A_i = Q_i R_i (one task each); one task stacks the R_i and factors them,
-- [R_1; ...; R_p] = Q2 R; block i of Q is Q_i @ Q2[rows of R_i] (one task
-- each, never more than one block of A in memory). With compute_svd the
-- small R is also factored, R = U_r S V^T, and block i of U is
-- Q_i @ Q2_i @ U_r.
-- @submodule ldask.array
local core = require "ldask.array.core"
local nd = require "ldask.array.ndarray"
local ND = require "ldask.array.ndlinalg"

local error, format, type, min, max, huge, ipairs = error, string.format, type, math.min, math.max,
  math.huge, ipairs

local M = {}

local function check_matrix(x, what, level)
  if not core.is_array(x) then error(format("%s: expected an array, got %s", what, type(x)), level + 1) end
  if x.ndim ~= 2 then
    error(format("%s: expected a 2-d array, got shape %s", what, nd.shape_str(x.shape)), level + 1)
  end
  if x.dtype == "bool" then error(format("%s: bool arrays are not supported (cast with astype first)", what), level + 1) end
  core.check_known(x, what, level + 1)
end
M.check_matrix = check_matrix

local function check_tall(x, what, level)
  check_matrix(x, what, level + 1)
  if #x.chunks[2] ~= 1 then
    error(format("%s: the array must have one chunk along its columns (tall-and-skinny), got %d column chunks "
      .. "(numblocks %s); use x:rechunk({ %d, -1 })", what, #x.chunks[2], nd.shape_str(core.numblocks(x.chunks)),
      x.chunks[1][1]), level + 1)
  end
end

-- The graph of tsqr (SVD: with the SVD of R). Returns the arrays q (or u),
-- r (or s and vt).
local function tsqr_graph(x, svd)
  local m_chunks, n = x.chunks[1], x.shape[2]
  local dtype = ND.out_dtype(x)
  local token = core.name("tsqr", x.name, svd and "svd" or "qr")
  local qr1, top = "qr1-" .. token, "qr2-" .. token
  local inter = {}
  local keys, lo, ks = {}, {}, 0
  for i = 1, #m_chunks do
    local k = core.bkey(qr1, { i - 1 })
    inter[k] = { ND.qr_block, core.bkey(x.name, { i - 1, 0 }) }
    keys[i] = k
    lo[i] = ks
    ks = ks + min(m_chunks[i], n)
  end
  lo[#m_chunks + 1] = ks
  inter[top] = { ND.qr_stacked, keys, svd or false }
  local k = min(ks, n)
  local dep = core.graph_dep(top, inter, { x })
  local qname = (svd and "tsqr-u-" or "tsqr-q-") .. token
  local ql = {}
  for i = 1, #m_chunks do
    ql[core.bkey(qname, { i - 1, 0 })] = { ND.tsqr_q, keys[i], top, lo[i], lo[i + 1], svd or false }
  end
  local q = core.new(qname, ql, { m_chunks, { k } }, dtype, { dep })
  if not svd then
    local rname = "tsqr-r-" .. token
    local r = core.new(rname, { [core.bkey(rname, { 0, 0 })] = { ND.getfield, top, "r" } }, { { k }, { n } },
      dtype, { dep })
    return q, r
  end
  local sname, vname = "tsqr-s-" .. token, "tsqr-v-" .. token
  local s = core.new(sname, { [core.bkey(sname, { 0 })] = { ND.getfield, top, "s" } }, { { k } }, dtype, { dep })
  local v = core.new(vname, { [core.bkey(vname, { 0, 0 })] = { ND.getfield, top, "vt" } }, { { k }, { n } },
    dtype, { dep })
  return q, s, v
end

--- da.linalg.tsqr(x, opts): QR (or, with `{compute_svd = true}`, SVD) of a
-- tall-and-skinny array with one chunk along its columns. Returns q, r
-- (or u, s, v where v is V^H, as dask and numpy's vh).
-- @param x a 2-D Array with one column chunk
-- @param[opt] opts `{ compute_svd = false }`
-- @return q, r (or u, s, v)
function M.tsqr(x, opts)
  check_tall(x, "tsqr", 2)
  local a, b, c = tsqr_graph(x, opts and opts.compute_svd)
  return a, b, c
end

--- da.linalg.qr(x): the reduced QR decomposition q, r (tsqr: x needs one
-- chunk along its columns).
-- @param x a 2-D Array
-- @return q, r
function M.qr(x)
  check_tall(x, "qr", 2)
  local q, r = tsqr_graph(x, false)
  return q, r
end

--- da.linalg.svd(x): the thin SVD u, s, v (v is V^H, as dask and numpy's
-- vh) of an array with one chunk along its columns (through tsqr) or one
-- chunk along its rows (the SVD of its transpose).
-- @param x a 2-D Array
-- @return u, s, v
function M.svd(x)
  check_matrix(x, "svd", 2)
  if #x.chunks[2] == 1 then
    local u, s, v = tsqr_graph(x, true)
    return u, s, v
  end
  if #x.chunks[1] == 1 then
    local u, s, v = tsqr_graph(x.T, true)
    return v.T, s, u.T
  end
  error(format("svd: the array must have one chunk along its columns or its rows, got numblocks %s; use "
    .. "x:rechunk({ %d, -1 }) (tall-and-skinny) or svd_compressed for an approximation",
    nd.shape_str(core.numblocks(x.chunks)), x.chunks[1][1]), 2)
end

local function seed_arg(seed)
  if seed == nil then return nil end
  return seed
end

--- da.linalg.svd_compressed(x, k, opts): the randomized SVD (Halko et al.)
-- of rank K: u (m, k), s (k,), v (k, n). OPTS: `n_power_iter` (power
-- iterations, default 0), `n_oversamples` (default 10), `seed` (of the
-- random test matrix; same seed, same result). As dask's: a test matrix
-- of k + n_oversamples (at least 20) columns, each power iteration
-- re-orthonormalized with tsqr.
-- @param x a 2-D Array
-- @param k the rank
-- @param[opt] opts `{ n_power_iter = 0, n_oversamples = 10, seed = }`
-- @return u, s, v
function M.svd_compressed(x, k, opts)
  check_matrix(x, "svd_compressed", 2)
  opts = opts or {}
  if type(opts) ~= "table" then error("svd_compressed: opts must be a table { n_power_iter, n_oversamples, seed }", 2) end
  if type(k) ~= "number" or k < 1 or k ~= math.floor(k) then
    error(format("svd_compressed: k must be a positive integer, got %s", tostring(k)), 2)
  end
  local m, n = x.shape[1], x.shape[2]
  if k > min(m, n) then
    error(format("svd_compressed: k=%d is larger than the smaller dimension of shape %s", k, nd.shape_str(x.shape)), 2)
  end
  local iters = opts.n_power_iter or 0
  local over = opts.n_oversamples or 10
  local l = min(max(20, k + over), min(m, n))
  local linalg = require "ldask.array.linalg"
  local creation = require "ldask.array.creation"
  local omega = creation.random.normal({ n, l }, { chunks = { x.chunks[2], { l } }, seed = seed_arg(opts.seed),
    dtype = x.dtype == "float32" and "float32" or "float64" })
  local xt = x.T
  local h = linalg.dot(x, omega)
  for _ = 1, iters do
    local q = tsqr_graph(h, false)
    local q2 = tsqr_graph(linalg.dot(xt, q), false)
    h = linalg.dot(x, q2)
  end
  local q = tsqr_graph(h, false)
  local comp = q.T                                -- (l, m)
  local small = linalg.dot(comp, x)               -- (l, n)
  local v, s, ut = tsqr_graph(small.T, true)      -- small.T = v s ut
  local u = linalg.dot(q, ut.T)                   -- (m, l)
  local slicing = require "ldask.array.slicing"
  return slicing.getitem(u, { ":", { 0, k } }), slicing.getitem(s, { { 0, k } }), slicing.getitem(v.T, { { 0, k } })
end

--- da.linalg.lstsq(a, b): the least-squares solution of a x = b through
-- tsqr (a needs one chunk along its columns), as dask: x, residuals (the
-- squared 2-norm of b - a x per column; shape (1,) for a 1-D b), rank (of
-- R, a 0-d int64 array) and s (the singular values of R, i.e. of a).
-- @param a a 2-D Array (m, n), m >= n
-- @param b an Array or ndarray (m,) or (m, k)
-- @return x, residuals, rank, s
function M.lstsq(a, b)
  check_tall(a, "lstsq", 2)
  local linalg = require "ldask.array.linalg"
  b = linalg.as_array(b, { a.chunks[1] }, "lstsq", 2)
  if b.ndim < 1 or b.ndim > 2 or b.shape[1] ~= a.shape[1] then
    error(format("lstsq: b of shape %s does not match a of shape %s (need (%d,) or (%d, k))",
      nd.shape_str(b.shape), nd.shape_str(a.shape), a.shape[1], a.shape[1]), 2)
  end
  core.check_known(b, "lstsq", 2)
  local q, r = tsqr_graph(a, false)
  local qtb = linalg.dot(q.T, b)
  local rechunk = require "ldask.array.rechunk"
  qtb = rechunk.rechunk(qtb, b.ndim == 1 and { -1 } or { -1, -1 })
  local dtype = ND.out_dtype(a)
  local xname = core.name("lstsq", r.name, qtb.name)
  local rk = core.bkey(r.name, { 0, 0 })
  local xk = core.bkey(xname, b.ndim == 1 and { 0 } or { 0, 0 })
  local x = core.new(xname, { [xk] = { ND.solve_r, rk, core.bkey(qtb.name, b.ndim == 1 and { 0 } or { 0, 0 }) } },
    b.ndim == 1 and { { a.shape[2] } } or { { a.shape[2] }, { b.shape[2] } }, dtype, { r, qtb })
  local elemwise = require "ldask.array.elemwise"
  local resid = elemwise.binary("sub", b, linalg.dot(a, x), 2)
  resid = require("ldask.array.reductions").reduction(elemwise.binary("mul", resid, resid, 2), "sum", 0,
    b.ndim == 1, nil, 2)
  local rank_name, s_name = "lstsq-rank-" .. xname, "lstsq-s-" .. xname
  local rank = core.new(rank_name, { [rank_name] = { ND.matrix_rank_nd, rk } }, {}, "int64", { r })
  local s = core.new(s_name, { [core.bkey(s_name, { 0 })] = { ND.singular_values, rk } }, { { r.shape[1] } },
    dtype, { r })
  return x, resid, rank, s
end

-- norm ---------------------------------------------------------------------------

local function absx(x) return require("ldask.array.elemwise").unary("abs", x, 3) end
local function red(x, op, axis, keepdims)
  return require("ldask.array.reductions").reduction(x, op, axis, keepdims, nil, 3)
end
local function sq(x) return require("ldask.array.elemwise").binary("mul", x, x, 3) end
local function unary(op, x) return require("ldask.array.elemwise").unary(op, x, 3) end
local function as_float(x)
  if x.dtype == "float64" or x.dtype == "float32" then return x end
  return require("ldask.array.elemwise").astype(x, "float64", nil, 3)
end

--- da.linalg.norm(x, ord, axis, keepdims) (or norm(x, {ord =, axis =, keepdims =})):
-- numpy.linalg.norm. Vector norms (1-D x or one axis): ord nil/2
-- (Euclidean), 1, inf, -inf, 0 (count of non-zeros), any other p
-- (sum |x|^p)^(1/p). Matrix norms (2-D x or two axes): nil/"fro", "nuc", 1, -1,
-- inf (math.huge), -inf, 2 and -2 (largest / smallest singular value, through svd:
-- the array needs one chunk along its columns or rows).
-- @param x an Array
-- @param[opt] ord the order, or an options table
-- @param[opt] axis an axis or a list of two axes
-- @param[opt] keepdims keep the reduced axes as size 1
-- @return an Array (0-d for a whole-array norm)
function M.norm(x, ord, axis, keepdims)
  if type(ord) == "table" then ord, axis, keepdims = ord.ord, ord.axis, ord.keepdims end
  if not core.is_array(x) then error("norm: expected an array, got " .. type(x), 2) end
  x = as_float(x)
  local axes
  if axis == nil then
    axes = {}
    for d = 1, x.ndim do axes[d] = d - 1 end
    if ord ~= nil and #axes > 2 then
      error(format("norm: ord=%s needs a 1-d or 2-d array or axis=, got shape %s", tostring(ord),
        nd.shape_str(x.shape)), 2)
    end
    if ord == nil then
      return unary("sqrt", red(sq(x), "sum", axes, keepdims))
    end
  elseif type(axis) == "number" then axes = { axis }
  else axes = axis end
  for i, a in ipairs(axes) do axes[i] = nd.norm_axis(a, x.ndim, "norm", 2) end
  if #axes == 1 then
    local ax = axes[1]
    if ord == nil or ord == 2 then return unary("sqrt", red(sq(x), "sum", ax, keepdims)) end
    if ord == huge then return red(absx(x), "max", ax, keepdims) end
    if ord == -huge then return red(absx(x), "min", ax, keepdims) end
    if ord == 0 then
      return red(require("ldask.array.elemwise").binary("ne", x, 0, 2), "sum", ax, keepdims)
    end
    if ord == 1 then return red(absx(x), "sum", ax, keepdims) end
    if type(ord) ~= "number" then error(format("norm: invalid norm order '%s' for vectors", tostring(ord)), 2) end
    local E = require "ldask.array.elemwise"
    return E.binary("pow", red(E.binary("pow", absx(x), ord, 2), "sum", ax, keepdims), 1 / ord, 2)
  end
  if #axes ~= 2 or axes[1] == axes[2] then error("norm: axis must be one axis or two different axes", 2) end
  local r, c = axes[1], axes[2]
  local function finish(v)
    if not keepdims then return v end
    local slicing = require "ldask.array.slicing"
    local lo, hi = min(r, c), max(r, c)
    return slicing.expand_dims(slicing.expand_dims(v, lo), hi)
  end
  if ord == nil or ord == "fro" or ord == "f" then return unary("sqrt", red(sq(x), "sum", axes, keepdims)) end
  if ord == 1 or ord == -1 then
    local colsum = red(absx(x), "sum", r, false)
    return finish(red(colsum, ord == 1 and "max" or "min", c > r and c - 1 or c, false))
  end
  if ord == huge or ord == -huge then
    local rowsum = red(absx(x), "sum", c, false)
    return finish(red(rowsum, ord == huge and "max" or "min", r > c and r - 1 or r, false))
  end
  if ord == 2 or ord == -2 or ord == "nuc" then
    if x.ndim ~= 2 then error("norm: ord=2, -2 and 'nuc' need a 2-d array", 2) end
    local m = (r == 1 and c == 0) and x.T or x
    if #m.chunks[1] > 1 and #m.chunks[2] > 1 then m = require("ldask.array.rechunk").rechunk(m, { "auto", -1 }) end
    local _, s = M.svd(m)
    if ord == "nuc" then return finish(red(s, "sum", nil, false)) end
    return finish(red(s, ord == 2 and "max" or "min", nil, false))
  end
  error(format("norm: invalid norm order '%s' for matrices", tostring(ord)), 2)
end

return M
