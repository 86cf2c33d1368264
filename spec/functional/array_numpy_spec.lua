-- Cross-checks ldask.array against NumPy (an independent implementation)
-- when /usr/bin/python3 has numpy: Python computes a battery of
-- expressions on fixed inputs and saves each result as .npy; ldask computes
-- the same expressions on oddly chunked arrays and compares values and
-- dtypes. Skipped (pending) without numpy.
local helpers = require "helpers"
local da = require "ldask.array"
local nd = require "ldask.array.ndarray"

local have = helpers.have_numpy()

local PY = [==[
import numpy as np, sys
d = sys.argv[1]
A = (np.arange(60).reshape(3, 4, 5) % 7 - 3).astype('i8')
F = (np.arange(60).reshape(3, 4, 5) / 7.0 - 2).astype('f8')
S = F.astype('f4')
U = (np.arange(20) * 37 % 256).astype('u1').reshape(4, 5)
r = {
  'add_bcast': A + F[0],
  'mul_scalar_f4': S * 2.5,
  'div_int': A / 3,
  'mod_neg': A % 4,
  'floordiv': A // 3,
  'pow': A ** 2,
  'u8_add': U + U,
  'u8_i4': U + A[0].astype('i4'),
  'lt': A < F,
  'sum_all': np.array(A.sum()),
  'sum_ax0': A.sum(axis=0),
  'sum_ax02_keep': A.sum(axis=(0, 2), keepdims=True),
  'mean_ax1': F.mean(axis=1),
  'mean_f4': S.mean(axis=2),
  'var_ax2': F.var(axis=2),
  'std_ddof': F.std(axis=0, ddof=1),
  'min_ax1': A.min(axis=1),
  'max_all': np.array(F.max()),
  'prod_ax2': A.prod(axis=2),
  'argmin_ax1': A.argmin(axis=1),
  'argmax_all': np.array(F.argmax()),
  'any_ax0': (A > 2).any(axis=0),
  'all_ax2': (A > -3).all(axis=2),
  'slice_neg': A[::-1, 1::2, ::-3],
  'slice_int': F[1, ::-1, 2],
  'slice_empty': A[2:1],
  'day_night': F[::2].mean(axis=0) - F[1::2].mean(axis=0),
  'transpose': A.transpose(2, 0, 1),
  'reshape': A.reshape(12, 5),
  'dot': F[0] @ F[1].T,
  'cumsum_ax1': A.cumsum(axis=1),
  'cumprod_ax2': (A % 3 + 1).cumprod(axis=2),
  'where': np.where(A > 0, A, F),
  'sqrt': np.sqrt(np.abs(A)),
  'exp_f4': np.exp(S),
  'astype_i4': F.astype('i4'),
  'concat': np.concatenate([A, A[:1]], axis=0),
  'stack': np.stack([A[0], A[1]], axis=1),
  'take': np.take(A, [3, 0, 0, 2], axis=1),
  'hist': np.histogram(F, bins=7, range=(-2, 6.5))[0],
  'flip': np.flip(A, 1),
  'moveaxis': np.moveaxis(F, 0, 2),
  'bcast': np.broadcast_to(F[0, 0], (3, 5)),
  'nansum': np.nansum(np.where(A > 1, np.nan, F), axis=1),
  'nanmean': np.nanmean(np.where(A > 1, np.nan, F), axis=0),
  'vstack': np.vstack([A[0], A[1, 0], A[2]]),
  'hstack': np.hstack([A[0], A[1]]),
  'dstack': np.dstack([A[0], A[1]]),
  'diff': np.diff(F, axis=1),
  'diff2': np.diff(A, 2),
  'roll': np.roll(A, 3, axis=2),
  'roll_flat': np.roll(A, -7),
  'isin': np.isin(A, [-3, 0, 2]),
  'count_nonzero': np.count_nonzero(A, axis=0),
  'average': np.average(F, axis=2, weights=np.arange(1, 6)),
  'nan_to_num': np.nan_to_num(np.where(A > 1, np.nan, np.where(A < -2, np.inf, F))),
  'meshgrid_x': np.meshgrid(F[0, 0], F[0, :, 0])[0],
  'meshgrid_ij': np.meshgrid(F[0, 0], F[0, :, 0], indexing='ij')[1],
  'tril': np.tril(F[0] @ F[1].T, -1),
  'triu': np.triu(A.reshape(12, 5), 2),
  'cov': np.cov(F[0]),
  'cov_cols': np.cov(F[1], rowvar=False, ddof=0),
  'corrcoef': np.corrcoef(F[2]),
  'unique': np.unique(A),
  'unique_f': np.unique(np.round(F / 3)),
  'bincount': np.bincount((A + 3).ravel(), minlength=9),
  'bincount_w': np.bincount((A + 3).ravel(), weights=F.ravel()),
}
for k, v in r.items():
    np.save(d + '/' + k + '.npy', v)
]==]

local function exprs()
  local A = da.from_ndarray(nd.ramp(60, 0, 1, "int64"):reshape({ 3, 4, 5 }), { chunks = { 2, 3, 2 } }) % 7 - 3
  local F = da.arange(60, { chunks = 7 }):reshape({ 3, 4, 5 }):rechunk({ 1, 3, 4 }) / 7.0 - 2
  local S = F:astype("float32")
  local U = (da.arange(20, { chunks = 6 }) * 37 % 256):astype("uint8"):reshape({ 4, 5 })
  return {
    add_bcast = A + F:slice { 0 },
    mul_scalar_f4 = S * 2.5,
    div_int = A / 3,
    mod_neg = A % 4,
    floordiv = A:floordiv(3),
    pow = A ^ 2,
    u8_add = U + U,
    u8_i4 = U + A:slice { 0 }:astype("int32"),
    lt = A:lt(F),
    sum_all = A:sum(),
    sum_ax0 = A:sum(0),
    sum_ax02_keep = A:sum({ 0, 2 }, true),
    mean_ax1 = F:mean(1),
    mean_f4 = S:mean(2),
    var_ax2 = F:var(2),
    std_ddof = F:std(0, false, { ddof = 1 }),
    min_ax1 = A:min(1),
    max_all = F:max(),
    prod_ax2 = A:prod(2),
    argmin_ax1 = A:argmin(1),
    argmax_all = F:argmax(),
    any_ax0 = A:gt(2):any(0),
    all_ax2 = A:gt(-3):all(2),
    slice_neg = A:slice { { nil, nil, -1 }, { 1, nil, 2 }, { nil, nil, -3 } },
    slice_int = F:slice { 1, { nil, nil, -1 }, 2 },
    slice_empty = A:slice { { 2, 1 } },
    day_night = F:slice { { nil, nil, 2 } }:mean(0) - F:slice { { 1, nil, 2 } }:mean(0),
    transpose = A:transpose({ 2, 0, 1 }),
    reshape = A:reshape({ 12, 5 }),
    dot = F:slice { 0 }:dot(F:slice { 1 }.T),
    cumsum_ax1 = A:cumsum(1),
    cumprod_ax2 = (A % 3 + 1):cumprod(2),
    where = da.where(A:gt(0), A, F),
    sqrt = da.sqrt(da.abs(A)),
    exp_f4 = da.exp(S),
    astype_i4 = F:astype("int32"),
    concat = da.concatenate({ A, A:slice { { 0, 1 } } }, 0),
    stack = da.stack({ A:slice { 0 }, A:slice { 1 } }, 1),
    take = A:take({ 3, 0, 0, 2 }, 1),
    hist = (da.histogram(F, { bins = 7, range = { -2, 6.5 } })),
    flip = da.flip(A, 1),
    moveaxis = da.moveaxis(F, 0, 2),
    bcast = da.broadcast_to(F:slice { 0, 0 }, { 3, 5 }),
    nansum = da.where(A:gt(1), 0 / 0, F):nansum(1),
    nanmean = da.where(A:gt(1), 0 / 0, F):nanmean(0),
    vstack = da.vstack { A:slice { 0 }, A:slice { 1, 0 }, A:slice { 2 } },
    hstack = da.hstack { A:slice { 0 }, A:slice { 1 } },
    dstack = da.dstack { A:slice { 0 }, A:slice { 1 } },
    diff = da.diff(F, 1, 1),
    diff2 = da.diff(A, 2),
    roll = da.roll(A, 3, 2),
    roll_flat = da.roll(A, -7),
    isin = da.isin(A, { -3, 0, 2 }),
    count_nonzero = da.count_nonzero(A, 0),
    average = da.average(F, 2, da.arange(1, 6, { chunks = 2 }):astype("float64")),
    nan_to_num = da.nan_to_num(da.where(A:gt(1), 0 / 0, da.where(A:lt(-2), 1 / 0, F))),
    meshgrid_x = (da.meshgrid(F:slice { 0, 0 }, F:slice { 0, ":", 0 })),
    meshgrid_ij = select(2, da.meshgrid(F:slice { 0, 0 }, F:slice { 0, ":", 0 }, { indexing = "ij" })),
    tril = da.tril(F:slice { 0 }:dot(F:slice { 1 }.T), -1),
    triu = da.triu(A:reshape({ 12, 5 }), 2),
    cov = da.cov(F:slice { 0 }),
    cov_cols = da.cov(F:slice { 1 }, { rowvar = false, ddof = 0 }),
    corrcoef = da.corrcoef(F:slice { 2 }),
    unique = da.unique(A),
    unique_f = da.unique(da.round(F / 3)),
    bincount = da.bincount((A + 3):ravel(), { minlength = 9 }),
    bincount_w = da.bincount((A + 3):ravel(), { weights = F:ravel() }),
  }
end

describe("ldask.array against numpy", function()
  if not have then
    pending("numpy is not installed for /usr/bin/python3")
    return
  end
  it("matches numpy's values and dtypes on a battery of expressions", function()
    local dir = helpers.tmpdir() .. "/numpy"
    os.execute("mkdir -p " .. dir)
    local script = helpers.write_tmp("battery.py", PY)
    local rc = os.execute("/usr/bin/python3 " .. script .. " " .. dir)
    assert.is_true(rc == 0 or rc == true, "the numpy script failed")
    for name, expr in pairs(exprs()) do
      local want = da.from_npy(dir .. "/" .. name .. ".npy"):compute({ scheduler = "sync" })
      local got = expr:compute({ scheduler = "sync" })
      if expr.ndim == 0 then -- one value: a Lua number, like numpy's scalars
        assert.equal("number", type(got), name)
        want, got = nd.full({}, want, expr.dtype), nd.full({}, got, expr.dtype)
      end
      assert.equal(want.dtype, got.dtype, name .. ": dtype")
      assert.same(want.shape, got.shape, name .. ": shape")
      if got.size > 0 then
        local ok
        if got.dtype == "bool" or got.dtype:match("int") then
          ok = got:eq(want):all():item()
        else
          local tol = got.dtype == "float32" and 1e-5 or 1e-12
          local diff = (got:astype("float64") - want:astype("float64")):abs():max():item()
          local scale = math.max(1, want:astype("float64"):abs():max():item())
          ok = diff <= tol * scale
        end
        assert.is_true(ok, name .. ": values differ from numpy")
      end
    end
  end)
end)
