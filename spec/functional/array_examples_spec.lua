-- Runs the ldask.array examples through bin/ldask at a small scale and
-- checks what they print (real processes, the threads scheduler).
local helpers = require "helpers"

local function run(args)
  local out, rc = helpers.run_ldask(helpers.root .. "/" .. args .. " 2>&1")
  return out or "", rc
end

describe("ldask.array examples", function()
  it("sums a trillion ones and a generated random array", function()
    local out, rc = run("examples/array_sum_big.lua 1000000")
    assert.equal(0, rc, out)
    assert.matches("sum = 1e%+12", out)
    out, rc = run("examples/array_sum_big.lua 32 random")
    assert.equal(0, rc, out)
    assert.matches("sum = 1%.[56]%d*e%+07", out)
  end)

  it("writes the day-vs-night image as .npy", function()
    local path = helpers.tmpdir() .. "/daynight.npy"
    local out, rc = run("examples/array_meteorology.lua 48 " .. path)
    assert.equal(0, rc, out)
    assert.matches("wrote .*: 1038240 float32 values", out)
    local f = assert(io.open(path, "rb"))
    local head = f:read(6)
    local size = f:seek("end")
    f:close()
    assert.equal("\147NUMPY", head)
    assert.equal(128 + 1038240 * 4, size)
  end)

  it("sums an HDF5 dataset chunk by chunk (the file made first, then a given one)", function()
    local out, rc = run("examples/array_hdf5_sum.lua")
    assert.equal(0, rc, out)
    assert.matches("numblocks=%(4, 1%)", out)
    assert.matches("sum = 9996000000", out)
    assert.matches("checked against the closed form", out)
    out, rc = run("examples/array_hdf5_sum.lua /tmp/ldask_example.h5 /x")
    assert.equal(0, rc, out)
    assert.matches("sum = 9996000000", out)
    out, rc = run("examples/array_hdf5_sum.lua /tmp/ldask_example.h5 /nope")
    assert.are_not.equal(0, rc)
    assert.matches("has no dataset /nope", out)
  end)

  it("computes x.dot(y.T).mean(axis=0) and checks it", function()
    local out, rc = run("examples/array_dot_mean.lua 600 200")
    assert.equal(0, rc, out)
    assert.matches("checked against a direct product", out)
  end)
end)
