-- Cross-checks against NumPy for the defects of issue 10 and their
-- siblings: NaN-skipping and other reductions in their options-table form,
-- logical_* on non-bool dtypes, argmin/argmax ties and NaNs (flattened and
-- along an axis, nan variants), isclose/allclose with inf and NaN, //, %
-- and fmod with signs and zeros, power on every integer dtype and mixed.
-- Python draws seeded inputs and saves them with the expected results as
-- .npy; ldask reads the inputs with odd chunks, computes on the sync and
-- threads schedulers and compares values exactly (NaN positions and the
-- sign of zeros included) or to 1e-12 for the float reductions.
local helpers = require "helpers"
local da = require "ldask.array"
local nd = require "ldask.array.ndarray"

local have = helpers.have_numpy()

local PY = [==[
import numpy as np, sys, warnings
warnings.simplefilter('ignore')
d = sys.argv[1]
np.seterr(all='ignore')
rng = np.random.default_rng(10)
I = rng.integers(-4, 5, size=(6, 7)).astype('i8')          # many ties, zeros, signs
J = rng.integers(-3, 4, size=(6, 7)).astype('i8')          # divisors with zeros
G = rng.integers(-6, 7, size=(6, 7)).astype('f8') * 0.5    # floats with signed zeros
H = rng.integers(-3, 4, size=(6, 7)).astype('f8') * 0.75
H[0, 0] = -0.0
N = rng.normal(size=(6, 7)); N[rng.random((6, 7)) < 0.3] = np.nan
N[:, 0] = np.nan; N[0, 1:] = 1.0; N[2, 3] = np.nan         # no all-NaN row, an all-NaN column
P = rng.integers(0, 6, size=(6, 7)).astype('i8')           # bases
E = rng.integers(0, 5, size=(6, 7)).astype('i8')           # exponents >= 0
X = np.array([np.inf, -np.inf, np.inf, np.nan, np.nan, 1, 1, 0, 1e-9, 1, -np.inf, 5])
Y = np.array([np.inf, np.inf, 1, np.nan, 1, np.inf, 1 + 1e-6, 1e-9, 0, 1.1, -np.inf, 5])
for k, v in dict(I=I, J=J, G=G, H=H, N=N, P=P, E=E, X=X, Y=Y).items():
    np.save(d + '/in_' + k + '.npy', v)
r = {}
for op in ['nansum', 'nanprod', 'nanmean', 'nanmin', 'nanmax', 'nanvar', 'nanstd']:
    f = getattr(np, op)
    r[op + '_ax0_keep'] = f(N[:, 1:], axis=0, keepdims=True)
    r[op + '_ax1'] = f(N, axis=1)
    r[op + '_ax01'] = np.array(f(N, axis=(0, 1)))
    r[op + '_ax01_keep'] = f(N, axis=(0, 1), keepdims=True)
    r[op + '_int'] = f(I, axis=0, keepdims=True)
r['nanvar_ddof'] = np.nanvar(N, axis=1, ddof=1, keepdims=True)
r['nanstd_ddof'] = np.nanstd(N, axis=(1,), ddof=1)
r['nanvar_ddof0'] = np.nanvar(N, axis=0, ddof=2)   # an all-NaN column, columns of 1 and 2 values
for op in ['sum', 'prod', 'mean', 'min', 'max', 'var', 'std', 'any', 'all']:
    r[op + '_opts'] = getattr(I, op)(axis=1, keepdims=True)
    r[op + '_opts01'] = getattr(G, op)(axis=(0, 1), keepdims=True)
r['var_opts_ddof'] = G.var(axis=0, ddof=1)
r['cumsum_opts'] = I.cumsum(axis=1)
I32 = I.astype('i4'); U8 = (I + 4).astype('u1')
r['land_ii'] = np.logical_and(I, J)
r['land_if'] = np.logical_and(I, G)
r['lor_if'] = np.logical_or(G, J)
r['lxor_i4f8'] = np.logical_xor(I32, G)
r['lxor_scalar'] = np.logical_xor(G, 0.5)
r['land_nan'] = np.logical_and(N, 1)
r['band'] = np.bitwise_and(I, J)
r['bor_u8'] = np.bitwise_or(U8, U8 // 3)
r['bxor_i4'] = np.bitwise_xor(I32, 3)
r['lnot_f'] = np.logical_not(G)
for name, A in dict(i8=I, i4=I32, u1=U8, f8=G).items():
    r['argmax_' + name] = np.array(A.argmax())
    r['argmin_' + name] = np.array(A.argmin())
    r['argmax0_' + name] = A.argmax(axis=0)
    r['argmin1_' + name] = A.argmin(axis=1)
r['argmax_nan'] = np.array(N.argmax())
r['argmin1_nan'] = N.argmin(axis=1)
r['nanargmax'] = np.array(np.nanargmax(N))
r['nanargmin'] = np.array(np.nanargmin(N))
r['nanargmax1'] = np.nanargmax(N, axis=1)
r['nanargmin1'] = np.nanargmin(N, axis=1)
r['nanargmin0'] = np.nanargmin(N[:, 1:], axis=0)
r['nanargmax_int'] = np.array(np.nanargmax(I))
r['isclose'] = np.isclose(X, Y)
r['isclose_nan'] = np.isclose(X, Y, equal_nan=True)
r['isclose_rtol'] = np.isclose(X, Y, rtol=0.2, atol=0)
r['isclose_inf'] = np.isclose(X, np.inf)
r['isclose_int'] = np.isclose(I, J)
r['fdiv_f'] = G // H
r['mod_f'] = G % H
r['fmod_f'] = np.fmod(G, H)
r['fdiv_tiny'] = np.array([1e-300, -1e-300, 7.0, -7.0, 0.0, -0.0]) // np.array([-1e300, 1e300, -2.0, 2.0, -3.0, 3.0])
r['mod_tiny'] = np.array([1e-300, -1e-300, 7.0, -7.0, 0.0, -0.0]) % np.array([-1e300, 1e300, -2.0, 2.0, -3.0, 3.0])
r['fdiv_f4'] = G.astype('f4') // H.astype('f4')
r['mod_f4'] = G.astype('f4') % H.astype('f4')
r['fdiv_i'] = I // J
r['mod_i'] = I % J
r['fmod_i'] = np.fmod(I, J)
r['fdiv_i4'] = I32 // J.astype('i4')
r['mod_i4'] = I32 % J.astype('i4')
r['fmod_i4'] = np.fmod(I32, J.astype('i4'))
r['fdiv_u1'] = U8 // (J + 3).astype('u1')
r['mod_u1'] = U8 % (J + 3).astype('u1')
r['fmod_u1'] = np.fmod(U8, (J + 3).astype('u1'))
r['mod_scalar'] = I % -3
r['fdiv_scalar_f'] = G // -0.75
r['pow_i8'] = P ** E
r['pow_i4'] = P.astype('i4') ** E.astype('i4')
r['pow_u1'] = (P * 50).astype('u1') ** E.astype('u1')
r['pow_i4_i8'] = P.astype('i4') ** E
r['pow_u1_i4'] = P.astype('u1') ** E.astype('i4')
r['pow_wrap'] = (P + 1000) ** (E + 3)
r['pow_if'] = P ** (G / 2)
r['pow_fi'] = G ** E
r['pow_i_half'] = P ** 0.5
r['pow_f4_i'] = G.astype('f4') ** 3
r['pow_neg_base'] = (I ** 3)
for k, v in r.items():
    np.save(d + '/' + k + '.npy', v)
try:
    I ** -1
except ValueError as e:
    open(d + '/pow_error.txt', 'w').write(str(e))
]==]

local function exprs(inp)
  local I, J, G, H, N, P, E, X, Y = inp.I, inp.J, inp.G, inp.H, inp.N, inp.P, inp.E, inp.X, inp.Y
  local r = {}
  local Nr = N:slice { ":", { 1 } }
  for _, op in ipairs({ "nansum", "nanprod", "nanmean", "nanmin", "nanmax", "nanvar", "nanstd" }) do
    r[op .. "_ax0_keep"] = Nr[op](Nr, { axis = 0, keepdims = true })
    r[op .. "_ax1"] = da[op](N, { axis = 1 })                       -- the function form
    r[op .. "_ax01"] = N[op](N, { axis = { 0, 1 } })
    r[op .. "_ax01_keep"] = N[op](N, { 0, 1 }, { keepdims = true }) -- keepdims in a table
    r[op .. "_int"] = I[op](I, { axis = 0, keepdims = true })
  end
  r.nanvar_ddof = N:nanvar { axis = 1, ddof = 1, keepdims = true }
  r.nanstd_ddof = da.nanstd(N, { 1 }, false, { ddof = 1 })
  r.nanvar_ddof0 = N:nanvar(0, false, { ddof = 2 })
  for _, op in ipairs({ "sum", "prod", "mean", "min", "max", "var", "std", "any", "all" }) do
    r[op .. "_opts"] = I[op](I, { axis = 1, keepdims = true })
    r[op .. "_opts01"] = da[op](G, { axis = { 0, 1 }, keepdims = true, split_every = 2 })
  end
  r.var_opts_ddof = G:var { axis = 0, ddof = 1 }
  r.cumsum_opts = I:cumsum { axis = 1 }
  local I32, U8 = I:astype("int32"), (I + 4):astype("uint8")
  r.land_ii = da.logical_and(I, J)
  r.land_if = I:and_(G)
  r.lor_if = G:or_(J)
  r.lxor_i4f8 = da.logical_xor(I32, G)
  r.lxor_scalar = G:xor(0.5)
  r.land_nan = da.logical_and(N, 1)
  r.band = da.bitwise_and(I, J)
  r.bor_u8 = U8:bitwise_or(U8:floordiv(3))
  r.bxor_i4 = I32:bitwise_xor(3)
  r.lnot_f = da.logical_not(G)
  for name, A in pairs({ i8 = I, i4 = I32, u1 = U8, f8 = G }) do
    r["argmax_" .. name] = A:argmax()
    r["argmin_" .. name] = da.argmin(A)
    r["argmax0_" .. name] = A:argmax { axis = 0 }
    r["argmin1_" .. name] = A:argmin(1)
  end
  r.argmax_nan = N:argmax()
  r.argmin1_nan = N:argmin(1)
  r.nanargmax = N:nanargmax()
  r.nanargmin = da.nanargmin(N)
  r.nanargmax1 = N:nanargmax(1)
  r.nanargmin1 = N:nanargmin { axis = 1 }
  r.nanargmin0 = Nr:nanargmin(0)
  r.nanargmax_int = I:nanargmax()
  r.isclose = da.isclose(X, Y)
  r.isclose_nan = da.isclose(X, Y, { equal_nan = true })
  r.isclose_rtol = da.isclose(X, Y, 0.2, 0)
  r.isclose_inf = da.isclose(X, math.huge)
  r.isclose_int = da.isclose(I, J)
  r.fdiv_f = G:floordiv(H)
  r.mod_f = G % H
  r.fmod_f = da.fmod(G, H)
  local a = da.from_table({ 1e-300, -1e-300, 7.0, -7.0, 0.0, -0.0 }, { chunks = 4 })
  local b = da.from_table({ -1e300, 1e300, -2.0, 2.0, -3.0, 3.0 }, { chunks = 3 })
  r.fdiv_tiny = da.floor_divide(a, b)
  r.mod_tiny = a % b
  local G4, H4 = G:astype("float32"), H:astype("float32")
  r.fdiv_f4, r.mod_f4 = G4:floordiv(H4), G4 % H4
  r.fdiv_i, r.mod_i, r.fmod_i = I:floordiv(J), I % J, I:fmod(J)
  local J32 = J:astype("int32")
  r.fdiv_i4, r.mod_i4, r.fmod_i4 = I32:floordiv(J32), da.remainder(I32, J32), da.fmod(I32, J32)
  local J8 = (J + 3):astype("uint8")
  r.fdiv_u1, r.mod_u1, r.fmod_u1 = U8:floordiv(J8), U8 % J8, U8:fmod(J8)
  r.mod_scalar = I % -3
  r.fdiv_scalar_f = G:floordiv(-0.75)
  r.pow_i8 = P ^ E
  r.pow_i4 = P:astype("int32") ^ E:astype("int32")
  r.pow_u1 = (P * 50):astype("uint8") ^ E:astype("uint8")
  r.pow_i4_i8 = da.power(P:astype("int32"), E)
  r.pow_u1_i4 = P:astype("uint8") ^ E:astype("int32")
  r.pow_wrap = (P + 1000) ^ (E + 3)
  r.pow_if = P ^ (G / 2)
  r.pow_fi = G ^ E
  r.pow_i_half = P ^ 0.5
  r.pow_f4_i = G4 ^ 3
  r.pow_neg_base = I ^ 3
  return r
end

-- Equal as numpy values: same dtype and shape, every element equal, NaN
-- where NaN, and zeros of the same sign; TOL > 0 allows a relative error.
local function same_values(got, want, tol)
  if type(got) ~= "cdata" or type(want) ~= "cdata" then -- 0-d results compute to Lua values
    if type(want) == "cdata" then want = want:item() end
    if type(got) == "cdata" then got = got:item() end
    if type(got) ~= type(want) then return false, type(got) .. ", numpy " .. type(want) end
    got, want = nd.full({}, got, "float64"), nd.full({}, want, "float64")
  end
  if got.dtype ~= want.dtype then return false, "dtype " .. got.dtype .. ", numpy " .. want.dtype end
  if nd.shape_str(got.shape) ~= nd.shape_str(want.shape) then
    return false, "shape " .. nd.shape_str(got.shape) .. ", numpy " .. nd.shape_str(want.shape)
  end
  local g, w = got:tolist(), want:tolist()
  for i = 1, #w do
    local x, y = g[i], w[i]
    local ok
    if type(y) == "number" and y ~= y then ok = x ~= x
    elseif y == 0 and type(y) == "number" then ok = x == 0 and 1 / x == 1 / y
    elseif tol > 0 and type(y) == "number" then ok = math.abs(x - y) <= tol * math.max(1, math.abs(y))
    else ok = x == y end
    if not ok then return false, "element " .. (i - 1) .. ": " .. tostring(x) .. ", numpy " .. tostring(y) end
  end
  return true
end

local INEXACT = { mean = true, var = true, std = true, nanmean = true, nanvar = true, nanstd = true,
  nansum = true, nanprod = true } -- float sums in another order

describe("ldask.array against numpy on the cases of issue 10", function()
  if not have then
    pending("numpy is not installed for /usr/bin/python3")
    return
  end
  local dir = helpers.tmpdir() .. "/parity"
  os.execute("mkdir -p " .. dir)
  local script = helpers.write_tmp("parity.py", PY)
  local rc = os.execute("/usr/bin/python3 " .. script .. " " .. dir)
  assert(rc == 0 or rc == true, "the numpy script failed")
  local function inputs()
    local t = {}
    for _, k in ipairs({ "I", "J", "G", "H", "N", "P", "E", "X", "Y" }) do
      local a = da.from_npy(dir .. "/in_" .. k .. ".npy")
      t[k] = a.ndim == 2 and a:rechunk({ 4, 3 }) or a:rechunk({ 5 })
    end
    return t
  end
  local function want(name) return da.from_npy(dir .. "/" .. name .. ".npy"):compute({ scheduler = "sync" }) end

  for _, sched in ipairs({ "sync", "threads" }) do
    it("matches numpy on every case (" .. sched .. ")", function()
      local bad = {}
      local n = 0
      for name, expr in pairs(exprs(inputs())) do
        n = n + 1
        local got = expr:compute({ scheduler = sched })
        local w = da.from_npy(dir .. "/" .. name .. ".npy"):compute({ scheduler = "sync" })
        local tol = INEXACT[name:match("^(%a+)_")] and 1e-12 or 0
        local ok, why = same_values(got, w, tol)
        if not ok then bad[#bad + 1] = name .. ": " .. why end
      end
      table.sort(bad)
      assert.equal(0, #bad, table.concat(bad, "\n"))
      assert.is_true(n > 120)
    end)
  end

  it("raises numpy's errors: negative integer powers, all-NaN nanargmax", function()
    local f = assert(io.open(dir .. "/pow_error.txt"))
    local msg = f:read("*a"); f:close()
    local inp = inputs()
    -- a Lua number exponent is checked where the expression is written
    local ok, err = pcall(function() return inp.I ^ -1 end)
    assert.is_false(ok)
    assert.truthy(err:find(msg, 1, true), err)
    assert.truthy(err:find("parity_spec.lua", 1, true), err)
    -- an array exponent when the block is computed, on every integer dtype
    for _, dt in ipairs({ "int64", "int32" }) do
      ok, err = pcall(function() return (inp.P:astype(dt) ^ (inp.E - 1):astype(dt)):compute() end)
      assert.is_false(ok)
      assert.truthy(tostring(err):find(msg, 1, true), tostring(err))
    end
    -- a float base is fine
    local pf = (inp.P:astype("float64") ^ -1):compute()
    assert.equal("float64", pf.dtype)
    ok, err = pcall(function() return da.nanargmax(inp.N, 0):compute() end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("nanargmax: All-NaN slice encountered", 1, true), tostring(err))
    assert.has_error(function() nd.from_table({ 0 / 0, 0 / 0 }):nanargmin() end,
      "nanargmin: All-NaN slice encountered")
    assert.has_error(function() return nd.from_table({ 2, 3 }) ^ -2 end)
  end)

  it("gives the same answers on in-memory ndarrays", function()
    local inp = inputs()
    local I, J, G, H, N = inp.I:compute(), inp.J:compute(), inp.G:compute(), inp.H:compute(), inp.N:compute()
    local checks = {
      land_if = I:and_(G), lxor_i4f8 = I:astype("int32"):xor(G), fdiv_f = G:floordiv(H), mod_f = G % H,
      fmod_f = G:fmod(H), mod_i = I % J, fmod_i = I:fmod(J), argmax_i8 = I:argmax(),
      argmin1_nan = N:argmin { axis = 1 }, nanargmax1 = N:nanargmax(1), nanargmin = N:nanargmin(),
      isclose = nd.isclose(inp.X:compute(), inp.Y:compute(), 1e-5, 1e-8),
      isclose_nan = nd.isclose(inp.X:compute(), inp.Y:compute(), 1e-5, 1e-8, true),
      sum_opts = I:sum { axis = 1, keepdims = true }, var_opts_ddof = G:var { axis = 0, ddof = 1 },
    }
    for name, got in pairs(checks) do
      local ok, why = same_values(got, want(name), name:match("^var") and 1e-12 or 0)
      assert.is_true(ok, name .. ": " .. tostring(why))
    end
  end)
end)
