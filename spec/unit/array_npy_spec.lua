-- Specs of .npy input and output (core/io/npy.c, ldask.array.io): round
-- trips of every dtype through to_npy/from_npy with any chunking, mapped
-- contiguous blocks, strided blocks, header errors, and files written by
-- NumPy when python3 with numpy is installed.
local da = require "ldask.array"
local nd = require "ldask.array.ndarray"
local helpers = require "helpers"

local function tmp(name) return helpers.tmpdir() .. "/" .. name end

local function grid(r, c)
  local t = {}
  for i = 1, r do
    t[i] = {}
    for j = 1, c do t[i][j] = (i - 1) * c + (j - 1) end
  end
  return t
end

local o = { scheduler = "sync" }

describe("ldask.array .npy files", function()
  it("round-trips every dtype with any chunking", function()
    for _, dt in ipairs({ "float64", "float32", "int64", "int32", "uint8", "bool" }) do
      local path = tmp("rt-" .. dt .. ".npy")
      local x = da.from_table(grid(7, 5), { chunks = { 3, 2 } }):astype(dt)
      assert.equal(35, x:to_npy(path, o))
      local want = x:compute(o):totable()
      for _, chunks in ipairs({ { 2, -1 }, { 3, 2 }, { 7, 5 }, { 1, 1 } }) do
        local y = da.from_npy(path, { chunks = chunks })
        assert.equal(dt, y.dtype)
        assert.same({ 7, 5 }, y.shape)
        assert.same(want, y:compute(o):totable())
      end
      assert.same(want, da.from_npy(path):compute(o):totable())
    end
  end)

  it("writes and reads 1-d, 3-d and 0-d arrays and sums blocks of a file", function()
    local p1 = tmp("a1.npy")
    da.arange(1000, { chunks = 300 }):astype("float64"):to_npy(p1, o)
    local a = da.from_npy(p1, { chunks = 128 })
    assert.equal(999 * 1000 / 2, a:sum():compute(o))
    assert.same({ 998, 999 }, a:slice({ { -2 } }):compute(o):totable())
    local p3 = tmp("a3.npy")
    local x3 = da.arange(60, { chunks = 7 }):reshape({ 3, 4, 5 })
    x3:to_npy(p3, o)
    assert.same(x3:compute(o):totable(), da.from_npy(p3, { chunks = { 2, 3, 2 } }):compute(o):totable())
    local p0 = tmp("a0.npy")
    da.arange(5):sum():to_npy(p0, o)
    assert.equal(10, da.from_npy(p0):compute(o))
  end)

  it("maps contiguous blocks and reads strided ones", function()
    local path = tmp("m.npy")
    da.from_table(grid(4, 6)):to_npy(path, o)
    local K = require "ldask.array.kernels"
    local h = { path = path, dtype = 2, shape = { 4, 6 }, offset = 128 }
    local rows = K.npy_read(h, { 1, 0 }, { 2, 6 })
    assert.same({ grid(4, 6)[2], grid(4, 6)[3] }, rows:totable())
    local cols = K.npy_read(h, { 1, 2 }, { 2, 3 })
    assert.same({ { 8, 9, 10 }, { 14, 15, 16 } }, cols:totable())
    assert.has_error(function() K.npy_read(h, { 3, 0 }, { 2, 6 }) end)
  end)

  it("reads Fortran-order files as their transpose", function()
    local ffi = require "ffi"
    local dict = "{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3), }"
    local hlen = 128 - 10
    dict = dict .. string.rep(" ", hlen - #dict - 1) .. "\n"
    local data = ffi.new("int64_t[6]", { 0, 3, 1, 4, 2, 5 }) -- [[0, 1, 2], [3, 4, 5]] column by column
    local path = helpers.write_tmp("f.npy", "\147NUMPY\1\0" .. string.char(hlen, 0) .. dict .. ffi.string(data, 48))
    local x = da.from_npy(path)
    assert.same({ 2, 3 }, x.shape)
    assert.same({ { 0, 1, 2 }, { 3, 4, 5 } }, x:compute(o):totable())
    assert.same({ { 0, 1, 2 }, { 3, 4, 5 } }, da.from_npy(path, { chunks = { 1, 2 } }):compute(o):totable())
    assert.equal(15, da.from_npy(path, { chunks = 1 }):sum():compute(o))
  end)

  it("rejects files that are not .npy or use unsupported layouts", function()
    local bad = helpers.write_tmp("bad.npy", "hello, world")
    assert.has_error(function() da.from_npy(bad) end, "from_npy: npy: " .. bad .. " is not a .npy file (bad magic)")
    assert.has_error(function() da.from_npy(tmp("missing.npy")) end)
    local hdr = "{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }"
    hdr = hdr .. string.rep(" ", 118 - #hdr - 10 + 10 - 1) .. "\n"
    local cplx = helpers.write_tmp("c.npy", "\147NUMPY\1\0" .. string.char(#hdr % 256, math.floor(#hdr / 256)) .. hdr .. string.rep("\0", 32))
    local ok, err = pcall(da.from_npy, cplx)
    assert.is_false(ok)
    assert.matches("unsupported dtype '<c16'", err)
    local short = tmp("short.npy")
    da.arange(10):to_npy(short, o)
    local f = io.open(short, "rb")
    local body = f:read("*a")
    f:close()
    f = io.open(short, "wb")
    f:write(body:sub(1, #body - 8))
    f:close()
    ok, err = pcall(da.from_npy, short)
    assert.is_false(ok)
    assert.matches("shorter", err)
  end)

  local has_numpy = os.execute("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1")
  if has_numpy == 0 or has_numpy == true then
    it("reads files written by numpy and writes files numpy reads", function()
      local path = tmp("np.npy")
      os.execute(("/usr/bin/python3 -c \"import numpy as np; np.save('%s', np.arange(12, dtype='<f4').reshape(3, 4) / 2)\""):format(path))
      local x = da.from_npy(path, { chunks = { 2, 3 } })
      assert.equal("float32", x.dtype)
      assert.same({ 0, 0.5, 1, 1.5 }, x:compute(o):totable()[1])
      local out = tmp("to_np.npy")
      da.arange(6, { chunks = 4 }):reshape({ 2, 3 }):to_npy(out, o)
      local p = io.popen(("/usr/bin/python3 -c \"import numpy as np; a = np.load('%s'); print(a.dtype, a.shape, int(a.sum()), a[1, 2])\""):format(out))
      local line = p:read("*l")
      p:close()
      assert.equal("int64 (2, 3) 15 5", line)
    end)
  end
end)
