-- HDF5 against h5py (Debian's python3-h5py through /usr/bin/python3): h5py
-- writes datasets of every dtype (chunked with odd edge chunks, contiguous,
-- gzip, big-endian, narrow integers, 0-d) and their values as .npy; ldask
-- reads them on the sync and threads schedulers and on a cluster of two
-- workers. ldask writes every dtype (chunked, contiguous, gzip) and h5py
-- checks the values, dtypes, chunks and compression. Errors name the file
-- and the dataset at the caller's line; blocks read and written by several
-- threads at once come out right (the HDF5 lock).
local helpers = require "spec.support.helpers"
local da = require "ldask.array"

local PY = "/usr/bin/python3"
local function have_h5py()
  local rc = os.execute(PY .. " -c 'import h5py' >/dev/null 2>&1")
  return rc == 0 or rc == true
end

local function py(script, ...)
  local path = helpers.write_tmp("h5_" .. tostring(os.time()) .. math.random(1e6) .. ".py", script)
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = helpers.shell_quote(a) end
  local out, rc = helpers.sh(PY .. " " .. path .. " " .. table.concat(args, " ") .. " 2>&1")
  assert.equal(0, rc, out)
  return out
end

-- h5py writes the datasets and the expected values (NAME.npy).
local MAKE = [[
import sys, numpy as np, h5py
d = sys.argv[1]
rng = np.random.default_rng(7)
base = rng.standard_normal((53, 29)) * 100
vals = {
  "f8": base, "f4": base.astype("f4"), "i8": (base * 1e6).astype("i8"),
  "i4": base.astype("i4"), "u1": (np.abs(base) % 256).astype("u1"), "b1": base > 0,
}
with h5py.File(d + "/in.h5", "w") as f:
  for k, v in vals.items():
    f.create_dataset("chunked/" + k, data=v, chunks=(7, 5))
    f.create_dataset("contig/" + k, data=v)
    f.create_dataset("gzip/" + k, data=v, chunks=(10, 29), compression="gzip", compression_opts=6)
    np.save(d + "/" + k + ".npy", v)
  f.create_dataset("big", data=base.astype(">f8"), chunks=(9, 9))
  f.create_dataset("i2", data=base.astype("i2"))
  f.create_dataset("u4", data=(np.abs(base) * 1e6).astype("u4"))
  np.save(d + "/i2.npy", base.astype("i2").astype("i4"))
  np.save(d + "/u4.npy", (np.abs(base) * 1e6).astype("u4").astype("i8"))
  f["scalar"] = np.float64(2.5)
  f["u8"] = np.arange(4, dtype="u8")
  f["str"] = np.array([b"a", b"b"])
  f.create_dataset("empty", shape=(0, 4), dtype="f8")
  f.create_dataset("fill", shape=(20, 6), dtype="i4", chunks=(4, 6), fillvalue=-3)
  f["fill"][4:8] = 9
  np.save(d + "/fill.npy", f["fill"][()])
  f.create_dataset("many", data=np.arange(200 * 300, dtype="f8").reshape(200, 300), chunks=(8, 300), compression="gzip")
print("made")
]]

-- h5py checks what ldask wrote: values, dtype, chunks, compression.
local CHECK = [[
import sys, json, numpy as np, h5py
d, spec = sys.argv[1], json.loads(sys.argv[2])
with h5py.File(d + "/out.h5", "r") as f:
  for name, want in spec.items():
    ds = f[name]
    ref = np.load(d + "/" + want["ref"] + ".npy")
    got = ds[()]
    assert ds.dtype == ref.dtype, (name, ds.dtype, ref.dtype)
    assert ds.shape == ref.shape, (name, ds.shape)
    assert np.array_equal(got, ref), name
    assert ds.chunks == (tuple(want["chunks"]) if want.get("chunks") else None), (name, ds.chunks)
    assert ds.compression == want.get("compression"), (name, ds.compression)
print("checked", len(spec))
]]

local KINDS = { f8 = "float64", f4 = "float32", i8 = "int64", i4 = "int32", u1 = "uint8", b1 = "bool" }

local function equal_arrays(want, got, what)
  assert.equal(want.dtype, got.dtype, what .. ": dtype")
  assert.same(want.shape, got.shape, what .. ": shape")
  assert.is_true(got:eq(want):all():item(), what .. ": values")
end

describe("ldask.array and HDF5 (h5py)", function()
  if not have_h5py() then
    pending("h5py is not installed for /usr/bin/python3")
    return
  end
  local dir = helpers.tmpdir() .. "/hdf5"
  os.execute("mkdir -p " .. dir)
  local input = dir .. "/in.h5"
  local made = false
  before_each(function()
    if not made then
      assert.truthy(py(MAKE, dir):find("made"))
      made = true
    end
  end)
  local function ref(name) return da.from_npy(dir .. "/" .. name .. ".npy"):compute() end

  it("reads every dtype and layout h5py writes, with any chunks, on sync and threads", function()
    for k, dtype in pairs(KINDS) do
      local want = ref(k)
      assert.equal(dtype, want.dtype)
      for _, layout in ipairs({ "chunked", "contig", "gzip" }) do
        local x = da.from_hdf5(input, "/" .. layout .. "/" .. k)
        assert.equal(dtype, x.dtype)
        equal_arrays(want, x:compute({ scheduler = "sync" }), layout .. "/" .. k)
        -- odd blocks over the dataset's chunks: edge blocks and partial chunks
        local y = da.from_hdf5(input, "/" .. layout .. "/" .. k, { chunks = { 11, 6 } })
        assert.same({ 11, 11, 11, 11, 9 }, y.chunks[1])
        equal_arrays(want, y:compute({ scheduler = "threads", num_workers = 4 }), layout .. "/" .. k .. " (11, 6)")
      end
    end
    -- big-endian, narrow integers (widened), fill values of unwritten chunks, 0-d, empty
    local big = da.from_hdf5(input, "/big"):compute()
    assert.is_true(big:eq(ref("f8")):all():item())
    equal_arrays(ref("i2"), da.from_hdf5(input, "/i2", { chunks = 10 }):compute(), "i2")
    equal_arrays(ref("u4"), da.from_hdf5(input, "/u4"):compute(), "u4")
    equal_arrays(ref("fill"), da.from_hdf5(input, "/fill", { chunks = { 3, 6 } }):compute(), "fill")
    assert.equal(2.5, da.from_hdf5(input, "/scalar"):compute())
    assert.same({ 0, 4 }, da.from_hdf5(input, "/empty"):compute().shape)
    assert.equal(-3 * 16 * 6 + 9 * 4 * 6, da.from_hdf5(input, "/fill"):sum():compute())
  end)

  it("defaults to whole multiples of the dataset's chunks, and reads only metadata at build time", function()
    local x = da.from_hdf5(input, "/chunked/f8")
    assert.same({ { 53 }, { 29 } }, x.chunks) -- a small dataset is one block
    local many = da.from_hdf5(input, "/many")
    assert.same({ 200 }, many.chunks[1])
    assert.same(many:compute():sum():item(), many:sum():compute())
    -- a 1 GB dataset of (1000, 1000) chunks: blocks of whole chunks near 128 MiB
    local big = dir .. "/meta.h5"
    py([[
import sys, h5py
with h5py.File(sys.argv[1], "w") as f:
  f.create_dataset("x", shape=(12000, 10000), dtype="f8", chunks=(1000, 1000))
]], big)
    local y = da.from_hdf5(big, "/x")
    for d = 1, 2 do
      for i = 1, #y.chunks[d] - 1 do assert.equal(0, y.chunks[d][i] % 1000) end
    end
    local bytes = y.chunks[1][1] * y.chunks[2][1] * 8
    assert.is_true(bytes >= 64 * 2 ^ 20 and bytes <= 128 * 2 ^ 20, "block bytes " .. bytes)
    -- building the graph read nothing: the file holds only metadata (unwritten chunks)
    local f = io.open(big, "rb")
    assert.is_true(f:seek("end") < 1e6)
    f:close()
  end)

  it("writes every dtype chunked, contiguous and gzip-compressed, and h5py reads it back", function()
    local out = dir .. "/out.h5"
    os.remove(out)
    local spec = {}
    for k in pairs(KINDS) do
      local x = da.from_npy(dir .. "/" .. k .. ".npy", { chunks = { 10, 7 } })
      assert.equal(53 * 29, x:to_hdf5(out, "/c/" .. k))
      spec["c/" .. k] = { ref = k, chunks = { 10, 7 } }
      assert.equal(53 * 29, da.to_hdf5(out, "/contig/" .. k, x, { chunks = false, scheduler = "threads" }))
      spec["contig/" .. k] = { ref = k }
      assert.equal(53 * 29, x:to_hdf5(out, "/g/" .. k, { chunks = { 16, 29 }, compression = "gzip",
        compression_opts = 2 }))
      spec["g/" .. k] = { ref = k, chunks = { 16, 29 }, compression = "gzip" }
    end
    -- several arrays in one computation (da.to_hdf5(path, {dataset = array}))
    assert.equal(2 * 53 * 29, da.to_hdf5(out, { ["/two/a"] = da.from_npy(dir .. "/i4.npy"),
      ["/two/b"] = da.from_npy(dir .. "/u1.npy") }))
    spec["two/a"] = { ref = "i4", chunks = { 53, 29 } }
    spec["two/b"] = { ref = "u1", chunks = { 53, 29 } }
    local cjson = require "cjson"
    assert.truthy(py(CHECK, dir, cjson.encode(spec)):find("checked"))
    -- and ldask reads its own file back (the contiguous ones without HDF5)
    equal_arrays(ref("f4"), da.from_hdf5(out, "/contig/f4", { chunks = 7 }):compute(), "contig/f4")
    equal_arrays(ref("b1"), da.from_hdf5(out, "/g/b1"):compute(), "g/b1")
  end)

  it("reads and writes many blocks from several threads at once (the HDF5 lock)", function()
    local x = da.from_hdf5(input, "/many", { chunks = { 3, 50 } }) -- 402 gzip reads
    local want = x:compute({ scheduler = "sync" })
    for _ = 1, 3 do
      equal_arrays(want, x:compute({ scheduler = "threads", num_workers = 4 }), "many")
    end
    local out = dir .. "/threads.h5"
    os.remove(out)
    assert.equal(200 * 300, (x * 2):to_hdf5(out, "/y", { chunks = { 3, 50 }, compression = "gzip",
      scheduler = "threads", num_workers = 4 }))
    equal_arrays(want * 2, da.from_hdf5(out, "/y"):compute(), "written by threads")
  end)

  it("names the file and the dataset in errors, at the caller's line", function()
    local line
    local function try(fn)
      line = debug.getinfo(2, "l").currentline
      local ok, err = pcall(fn)
      assert.is_false(ok)
      return err
    end
    local err = try(function() local r = da.from_hdf5(dir .. "/nope.h5", "/x"); return r end)
    assert.truthy(err:find("array_hdf5_spec.lua:" .. line .. ": from_hdf5: cannot open " .. dir .. "/nope.h5", 1, true), err)
    err = try(function() local r = da.from_hdf5(input, "/chunked/zz"); return r end)
    assert.truthy(err:find("array_hdf5_spec.lua:" .. line .. ": from_hdf5: " .. input .. " has no dataset /chunked/zz", 1, true), err)
    err = try(function() local r = da.from_hdf5(input, "/nogroup/x"); return r end)
    assert.truthy(err:find("has no dataset /nogroup/x (no /nogroup)", 1, true), err)
    err = try(function() local r = da.from_hdf5(input, "/chunked"); return r end)
    assert.truthy(err:find("/chunked is not a dataset", 1, true), err)
    err = try(function() local r = da.from_hdf5(input, "/u8"); return r end)
    assert.truthy(err:find("array_hdf5_spec.lua:" .. line .. ": from_hdf5: " .. input
      .. ": dataset /u8 has an unsupported dtype: uint64", 1, true), err)
    err = try(function() local r = da.from_hdf5(input, "/str"); return r end)
    assert.truthy(err:find("dataset /str has an unsupported dtype: string", 1, true), err)
    err = try(function() local r = da.from_hdf5(dir .. "/f8.npy", "/x"); return r end)
    assert.truthy(err:find("f8.npy is not an HDF5 file", 1, true), err)
    err = try(function() local r = da.from_hdf5(input); return r end)
    assert.truthy(err:find("array_hdf5_spec.lua:" .. line .. ": from_hdf5: the dataset must be a path", 1, true), err)
    local x = da.ones({ 4, 4 }, { chunks = 2 })
    err = try(function() local r = x:to_hdf5(dir .. "/err.h5", "/a", { compression = "lzf" }); return r end)
    assert.truthy(err:find("array_hdf5_spec.lua:" .. line .. ": to_hdf5: unsupported compression lzf", 1, true), err)
    x:to_hdf5(dir .. "/err.h5", "/a")
    err = try(function() local r = da.ones({ 3 }):to_hdf5(dir .. "/err.h5", "/a"); return r end)
    assert.truthy(err:find("already has dataset /a of shape (4, 4) and dtype float64, not (3,) float64", 1, true), err)
    -- the same shape and dtype: reused, as h5py's require_dataset
    assert.equal(16, (x * 3):to_hdf5(dir .. "/err.h5", "/a"))
    assert.equal(48, da.from_hdf5(dir .. "/err.h5", "/a"):sum():compute())
  end)
end)

describe("ldask.array and HDF5 on a cluster of two workers", function()
  if not have_h5py() then
    pending("h5py is not installed for /usr/bin/python3")
    return
  end
  local client = require "ldask.client"
  local cluster_mod = require "ldask.client.cluster"
  local cl, c
  setup(function()
    cl = cluster_mod.start({ n_workers = 2 })
    c = client(cl.address, { set_as_default = false })
    c:wait_for_workers(2, 20)
    c:set_as_default()
  end)
  teardown(function()
    if c then pcall(c.close, c) end
    if cl then cl:stop() end
  end)

  it("reads blocks on the workers and writes every block from them into one file", function()
    local dist = require "ldask.client.scheduler"
    local dir = helpers.tmpdir() .. "/hdf5c"
    os.execute("mkdir -p " .. dir)
    py([[
import sys, numpy as np, h5py
with h5py.File(sys.argv[1] + "/c.h5", "w") as f:
  f.create_dataset("x", data=np.arange(120 * 70, dtype="i8").reshape(120, 70), chunks=(13, 9), compression="gzip")
  f.create_dataset("b", data=np.arange(120 * 70).reshape(120, 70) % 7 == 0)
]], dir)
    local x = da.from_hdf5(dir .. "/c.h5", "/x", { chunks = { 26, 18 } })
    local want = x:compute({ scheduler = "sync" })
    equal_arrays(want, x:compute({ scheduler = dist }), "x on the cluster")
    assert.equal(want:sum():item(), x:sum():compute({ scheduler = dist }))
    local b = da.from_hdf5(dir .. "/c.h5", "/b", { chunks = 40 })
    assert.equal(1200, b:sum():compute({ scheduler = dist }))
    -- every block's task writes into the same file from both workers
    local out = dir .. "/out.h5"
    assert.equal(120 * 70, (x + 1):to_hdf5(out, "/y", { compression = "gzip", scheduler = dist }))
    assert.equal(120 * 70, b:to_hdf5(out, "/b", { chunks = false, scheduler = dist }))
    py([[
import sys, numpy as np, h5py
with h5py.File(sys.argv[1] + "/out.h5", "r") as f:
  assert np.array_equal(f["y"][()], np.arange(120 * 70).reshape(120, 70) + 1)
  assert f["y"].chunks == (26, 18) and f["y"].compression == "gzip"
  assert np.array_equal(f["b"][()], np.arange(120 * 70).reshape(120, 70) % 7 == 0)
print("ok")
]], dir)
  end)
end)
