-- ldask.array's numpy routines (lua/ldask/array/routines.lua): the same
-- results on the sync and threaded schedulers and on other chunkings, and
-- errors at the caller's line. Their values against numpy are in
-- spec/functional/array_numpy_spec.lua.
local da = require "ldask.array"

describe("ldask.array routines", function()
  -- (TOL: floating sums in another order differ in the last bits)
  local function same_everywhere(make, tol)
    local a = make(2):compute({ scheduler = "sync" })
    local b = make(3):compute({ scheduler = "threads" })
    if tol then assert.is_true((a - b):abs():max():item() <= tol)
    else assert.same(a:totable(), b:totable()) end
    return a
  end

  it("give the same values whatever the chunks and the scheduler", function()
    local m = same_everywhere(function(c) return da.tril(da.arange(36, { chunks = c * 5 }):reshape({ 6, 6 }):rechunk(c), 1) end)
    assert.same({ 0, 1, 0, 0, 0, 0 }, m:totable()[1])
    same_everywhere(function(c) return da.roll(da.arange(10, { chunks = c }), 4) end)
    same_everywhere(function(c) return da.diff(da.arange(10, { chunks = c }) ^ 2, 2) end)
    same_everywhere(function(c) return da.cov(da.random.random({ 3, 20 }, { chunks = c, seed = 4 })) end, 1e-15)
  end)

  it("unique keeps one NaN, last; bincount refuses negative values naming one", function()
    local u = da.unique(da.from_table({ 3, 1, 0 / 0, 3, 0 / 0 }):rechunk({ 2 })):compute()
    local t = u:totable()
    assert.same({ 1, 3 }, { t[1], t[2] })
    assert.equal(3, #t)
    assert.is_true(t[3] ~= t[3])
    local ok, err = pcall(function() return da.bincount(da.from_table({ 1, -2 }):rechunk({ 1 })):compute() end)
    assert.is_false(ok)
    assert.matches("bincount: the values must be non%-negative integers, found %-2", err)
  end)

  it("raise errors naming the argument at the caller's line", function()
    local function err_of(f) local ok, e = pcall(f); assert.is_false(ok); return e end
    assert.matches("array_routines_spec.lua:%d+: vstack: argument list%[2%] must be an ldask array, got number",
      err_of(function() local r = da.vstack({ da.ones({ 2 }, { chunks = 1 }), 5 }); return r end))
    assert.matches("array_routines_spec.lua:%d+: tril: expected a 2%-D array, got 1%-D",
      err_of(function() local r = da.tril(da.ones({ 3 }, { chunks = 1 })); return r end))
    assert.matches("array_routines_spec.lua:%d+: roll: shift must be an integer",
      err_of(function() local r = da.roll(da.ones({ 3 }, { chunks = 1 }), 0.5); return r end))
    assert.matches("array_routines_spec.lua:%d+: meshgrid: indexing must be",
      err_of(function() local r = da.meshgrid(da.ones({ 3 }, { chunks = 1 }), { indexing = "zz" }); return r end))
  end)
end)

describe("BLAS threads", function()
  local helpers = require "helpers"
  local function run(env)
    local cmd = env .. " " .. helpers.shell_quote(helpers.ldask)
      .. [[ -e 'require "ldask.ffi.array"; io.write(require("ldask.native").ld_blas_one_thread())' 2>&1]]
    local p = io.popen(cmd)
    local out = p:read("*a")
    p:close()
    return out
  end

  it("run in the task's thread unless the user chose their number", function()
    local clean = "env -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS -u GOTO_NUM_THREADS"
    assert.equal("1", run(clean))
    assert.equal("0", run(clean .. " OPENBLAS_NUM_THREADS=2"))
    assert.equal("0", run(clean .. " OMP_NUM_THREADS=4"))
  end)
end)
