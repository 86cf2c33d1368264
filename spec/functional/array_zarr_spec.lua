-- zarr v2 against Python's zarr (Debian's python3-zarr and numcodecs via
-- /usr/bin/python3): zarr writes arrays of every dtype with every compressor
-- (blosc, zlib, gzip, none), C and F order, fill values (NaN too), deleted
-- chunk files, big-endian dtypes and "/" separators; ldask reads them on the
-- sync and threads schedulers and on a cluster of two workers. ldask writes
-- every dtype x compressor x order and zarr checks values and metadata.
-- Corrupt chunks and untrusted .zarray fields are clear errors.
local helpers = require "spec.support.helpers"
local da = require "ldask.array"
local cjson = require "cjson"

local PY = "/usr/bin/python3"
local function have_zarr()
  local rc = os.execute(PY .. " -c 'import zarr, numcodecs' >/dev/null 2>&1")
  return rc == 0 or rc == true
end

local function py(script, ...)
  local path = helpers.write_tmp("zarr_" .. math.random(1e9) .. ".py", script)
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = helpers.shell_quote(a) end
  local out, rc = helpers.sh(PY .. " " .. path .. " " .. table.concat(args, " ") .. " 2>&1")
  assert.equal(0, rc, out)
  return out
end

local KINDS = { f8 = "float64", f4 = "float32", i8 = "int64", i4 = "int32", u1 = "uint8", b1 = "bool" }
local COMPRESSORS = { "blosc", "zlib", "gzip", "none" }

-- zarr writes one array per dtype x compressor x order (23 x 17 in chunks of
-- 5 x 4: edge chunks on both axes), deletes two chunk files of each, and
-- saves what zarr reads back (fill values included) as NAME.npy.
local MAKE = [[
import sys, os, numpy as np, zarr, numcodecs
d = sys.argv[1]
rng = np.random.default_rng(3)
base = rng.standard_normal((23, 17)) * 50
vals = {"f8": base, "f4": base.astype("f4"), "i8": (base * 1e9).astype("i8"), "i4": base.astype("i4"),
        "u1": (np.abs(base) % 256).astype("u1"), "b1": base > 0}
fills = {"f8": float("nan"), "f4": -1.5, "i8": 7, "i4": -2, "u1": 3, "b1": True}
comps = {"blosc": numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE),
         "zlib": numcodecs.Zlib(level=4), "gzip": numcodecs.GZip(level=5), "none": None}
for k, v in vals.items():
  for c, comp in comps.items():
    for order in "CF":
      name = "%s_%s_%s" % (k, c, order)
      z = zarr.open(d + "/" + name, mode="w", shape=v.shape, chunks=(5, 4), dtype=v.dtype,
                    compressor=comp, order=order, fill_value=fills[k])
      z[:] = v
      os.remove(d + "/" + name + "/1.2")
      os.remove(d + "/" + name + "/4.4")
      np.save(d + "/" + name + ".npy", z[:])
z = zarr.open(d + "/big", mode="w", shape=(23, 17), chunks=(6, 6), dtype=">f8")
z[:] = base
np.save(d + "/big.npy", base)
z = zarr.open(d + "/nested", mode="w", shape=(23, 17), chunks=(6, 6), dtype="<i4", dimension_separator="/")
z[:] = vals["i4"]
np.save(d + "/nested.npy", vals["i4"])
z = zarr.open(d + "/zero", mode="w", shape=(), dtype="f8")
z[...] = 4.25
g = zarr.open_group(d + "/grp", mode="w")
g.create_dataset("sub/a", data=vals["i8"], chunks=(10, 10))
np.save(d + "/grp.npy", vals["i8"])
z = zarr.open(d + "/sparse", mode="w", shape=(40, 40), chunks=(10, 10), dtype="f8", fill_value=float("nan"))
z[0:10, 0:10] = 1.0
print("made")
]]

-- zarr checks what ldask wrote: values, dtype, chunks, order, compressor, fill_value.
local CHECK = [[
import sys, json, numpy as np, zarr
d, spec = sys.argv[1], json.loads(sys.argv[2])
for name, want in spec.items():
  z = zarr.open(d + "/" + name, mode="r")
  ref = np.load(d + "/" + want["ref"] + ".npy")
  assert z.dtype == ref.dtype, (name, z.dtype)
  assert z.shape == ref.shape and z.chunks == tuple(want["chunks"]), (name, z.shape, z.chunks)
  assert z.order == want["order"], name
  cid = z.compressor.codec_id if z.compressor is not None else "none"
  assert cid == want["compressor"], (name, cid)
  assert np.array_equal(z[:], ref, equal_nan=ref.dtype.kind == "f"), name
  if "fill" in want:
    f = z.fill_value
    assert (np.isnan(f) if want["fill"] == "NaN" else f == want["fill"]), (name, f)
print("checked", len(spec))
]]

local function same(want, got, what)
  assert.equal(want.dtype, got.dtype, what .. ": dtype")
  assert.same(want.shape, got.shape, what .. ": shape")
  local ok
  if got.dtype == "float64" or got.dtype == "float32" then
    ok = require("ldask.array.ndarray").isclose(got, want, 0, 0, true):all():item()
  else
    ok = got:eq(want):all():item()
  end
  assert.is_true(ok, what .. ": values")
end

describe("ldask.array and zarr v2 (Python zarr)", function()
  if not have_zarr() then
    pending("zarr is not installed for /usr/bin/python3")
    return
  end
  local dir = helpers.tmpdir() .. "/zarr"
  local made = false
  before_each(function()
    if not made then
      os.execute("mkdir -p " .. dir)
      assert.truthy(py(MAKE, dir):find("made"))
      made = true
    end
  end)
  local function ref(name) return da.from_npy(dir .. "/" .. name .. ".npy"):compute() end

  it("reads every dtype x compressor x order zarr writes, fill values for missing chunks", function()
    for k, dtype in pairs(KINDS) do
      for _, c in ipairs(COMPRESSORS) do
        for _, order in ipairs({ "C", "F" }) do
          local name = k .. "_" .. c .. "_" .. order
          local want = ref(name)
          local x = da.from_zarr(dir .. "/" .. name)
          assert.equal(dtype, x.dtype)
          assert.same({ 5, 5, 5, 5, 3 }, x.chunks[1])
          same(want, x:compute({ scheduler = "sync" }), name)
          -- blocks spanning several chunk files (and the missing ones)
          local y = da.from_zarr(dir .. "/" .. name, { chunks = { 9, 7 } })
          same(want, y:compute({ scheduler = "threads", num_workers = 3 }), name .. " (9, 7)")
        end
      end
    end
    same(ref("big"), da.from_zarr(dir .. "/big"):compute(), "big-endian")
    same(ref("nested"), da.from_zarr(dir .. "/nested"):compute(), "nested")
    assert.equal(4.25, da.from_zarr(dir .. "/zero"):compute())
    same(ref("grp"), da.from_zarr(dir, "grp/sub/a"):compute(), "group component")
    local s = da.from_zarr(dir .. "/sparse")
    assert.equal(100, s:nansum():compute())
    assert.equal(1500, s:isnan():sum():compute())
  end)

  it("writes every dtype x compressor x order and zarr reads it back", function()
    local spec = {}
    for k in pairs(KINDS) do
      local src = da.from_npy(dir .. "/" .. k .. "_none_C.npy")
      for _, c in ipairs(COMPRESSORS) do
        for _, order in ipairs({ "C", "F" }) do
          local name = "w_" .. k .. "_" .. c .. "_" .. order
          assert.equal(23 * 17, src:to_zarr(dir .. "/" .. name, { chunks = { 6, 5 }, compressor = c, order = order,
            scheduler = "threads" }))
          spec[name] = { ref = k .. "_none_C", chunks = { 6, 5 }, order = order, compressor = c }
        end
      end
    end
    -- fill values (NaN, written as "NaN") and a table compressor
    local f = da.from_npy(dir .. "/f8_none_C.npy", { chunks = { 8, 8 } })
    f:to_zarr(dir .. "/w_nan", { fill_value = 0 / 0, compressor = { id = "blosc", cname = "lz4hc", clevel = 9, shuffle = 2 } })
    spec.w_nan = { ref = "f8_none_C", chunks = { 8, 8 }, order = "C", compressor = "blosc", fill = "NaN" }
    da.from_npy(dir .. "/i4_none_C.npy"):to_zarr(dir .. "/w_fill", { fill_value = -2, chunks = 7 })
    spec.w_fill = { ref = "i4_none_C", chunks = { 7, 7 }, order = "C", compressor = "blosc", fill = -2 }
    da.from_npy(dir .. "/u1_none_C.npy"):to_zarr(dir .. "/w_grp", { component = "a/b", chunks = { 23, 17 } })
    spec["w_grp/a/b"] = { ref = "u1_none_C", chunks = { 23, 17 }, order = "C", compressor = "blosc" }
    assert.truthy(py(CHECK, dir, cjson.encode(spec)):find("checked"))
    -- round trip through ldask too, with the edge chunks padded and trimmed
    same(ref("f8_none_C"), da.from_zarr(dir .. "/w_nan"):compute(), "w_nan")
    same(ref("b1_none_C"), da.from_zarr(dir .. "/w_b1_gzip_F", { chunks = 10 }):compute(), "w_b1_gzip_F")
    -- .zattrs
    da.ones({ 3 }):to_zarr(dir .. "/w_attrs", { attrs = { units = "m", scale = 2 } })
    local fh = assert(io.open(dir .. "/w_attrs/.zattrs"))
    local attrs = cjson.decode(fh:read("*a"))
    fh:close()
    assert.same({ units = "m", scale = 2 }, attrs)
  end)

  it("refuses irregular chunks, existing arrays and bad options with clear errors", function()
    local function try(fn)
      local ok, err = pcall(fn)
      assert.is_false(ok)
      return err
    end
    local line = debug.getinfo(1, "l").currentline + 1
    local err = try(function() local r = da.ones({ 10 }, { chunks = { { 3, 4, 3 } } }):to_zarr(dir .. "/bad1"); return r end)
    assert.truthy(err:find("array_zarr_spec.lua:" .. line .. ": to_zarr: irregular chunks on axis 0 (3, 4, 3)", 1, true), err)
    da.ones({ 4 }):to_zarr(dir .. "/exists")
    err = try(function() local r = da.ones({ 4 }):to_zarr(dir .. "/exists"); return r end)
    assert.truthy(err:find("already holds a zarr array (pass overwrite = true", 1, true), err)
    assert.equal(4, (da.ones({ 4 }) * 2):to_zarr(dir .. "/exists", { overwrite = true }))
    assert.equal(8, da.from_zarr(dir .. "/exists"):sum():compute())
    err = try(function() local r = da.ones({ 4 }):to_zarr(dir .. "/c", { compressor = "lzma" }); return r end)
    assert.truthy(err:find("unsupported compressor lzma", 1, true), err)
    err = try(function() local r = da.ones({ 4 }, { dtype = "int32" }):to_zarr(dir .. "/c", { fill_value = 0 / 0 }); return r end)
    assert.truthy(err:find("fill_value nan is not a int32 value", 1, true), err)
  end)

  it("bounds untrusted .zarray fields and names corrupt chunk files", function()
    local function store(name, zarray)
      local p = dir .. "/" .. name
      os.execute("mkdir -p " .. p)
      local fh = assert(io.open(p .. "/.zarray", "wb"))
      fh:write(zarray)
      fh:close()
      return p
    end
    local function meta(t)
      local z = { zarr_format = 2, shape = { 10 }, chunks = { 5 }, dtype = "<f8", compressor = cjson.null,
        fill_value = 0, order = "C", filters = cjson.null }
      for k, v in pairs(t) do z[k] = v end
      return cjson.encode(z)
    end
    local cases = {
      { meta { chunks = { 1e6, 1e6 }, shape = { 1e6, 1e6 } }, "chunks of more than 2 GB" },
      { meta { dtype = "<c16" }, "unsupported dtype <c16" },
      { meta { shape = { -1 } }, "bad shape entry -1" },
      { meta { shape = { 10, 10 } }, "shape and chunks must be lists of the same length" },
      { meta { chunks = { 0 } }, "bad chunks entry 0" },
      { meta { zarr_format = 3 }, "zarr_format 3 is not 2" },
      { meta { compressor = { id = "lzma" } }, "unsupported compressor lzma" },
      { meta { filters = { { id = "delta" } } }, "filters are not supported" },
      { meta { order = "X" }, "order X is not" },
      { meta { fill_value = "abc" }, "fill_value abc is not a float64 value" },
      { "{not json", "is not valid JSON" },
      { meta { shape = { 1e15 }, chunks = { 1 } }, "pass larger chunks" },
    }
    for i, case in ipairs(cases) do
      local p = store("bad" .. i, case[1])
      local ok, err = pcall(da.from_zarr, p)
      assert.is_false(ok, case[2])
      assert.equal("string", type(err), case[2] .. ": " .. tostring(err))
      assert.truthy(err:find(case[2], 1, true), err)
    end
    -- a corrupt chunk file: the error names it
    for _, c in ipairs({ "blosc", "zlib", "gzip", "none" }) do
      local p = dir .. "/corrupt_" .. c
      da.arange(100, { chunks = 10 }):to_zarr(p, { compressor = c })
      local fh = assert(io.open(p .. "/3", "wb"))
      fh:write(("garbage"):rep(5))
      fh:close()
      local ok, err = pcall(function() return da.from_zarr(p):sum():compute() end)
      assert.is_false(ok)
      err = tostring(err)
      assert.truthy(err:find("corrupt chunk " .. p .. "/3", 1, true), err)
      -- the other chunks read fine
      assert.equal(45, da.from_zarr(p):slice { { 0, 10 } }:sum():compute())
    end
  end)
end)

describe("ldask.array and zarr on a cluster of two workers", function()
  if not have_zarr() then
    pending("zarr is not installed for /usr/bin/python3")
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

  it("reads and writes chunk files from the workers", function()
    local dist = require "ldask.client.scheduler"
    local dir = helpers.tmpdir() .. "/zarrc"
    os.execute("mkdir -p " .. dir)
    py([[
import sys, numpy as np, zarr
z = zarr.open(sys.argv[1] + "/in", mode="w", shape=(90, 60), chunks=(7, 11), dtype="<i8", order="F")
z[:] = np.arange(90 * 60).reshape(90, 60)
]], dir)
    local x = da.from_zarr(dir .. "/in", { chunks = { 30, 20 } })
    local want = x:compute({ scheduler = "sync" })
    same(want, x:compute({ scheduler = dist }), "on the cluster")
    assert.equal(90 * 60 * (90 * 60 - 1) / 2, x:sum():compute({ scheduler = dist }))
    assert.equal(90 * 60, (x * 2):to_zarr(dir .. "/out", { compressor = "zlib", scheduler = dist }))
    assert.equal(90 * 60, x:gt(100):to_zarr(dir .. "/outb", { order = "F", scheduler = dist }))
    py([[
import sys, numpy as np, zarr
a = zarr.open(sys.argv[1] + "/out", mode="r")
assert np.array_equal(a[:], 2 * np.arange(90 * 60).reshape(90, 60)) and a.chunks == (30, 20)
assert np.array_equal(zarr.open(sys.argv[1] + "/outb", mode="r")[:], np.arange(90 * 60).reshape(90, 60) > 100)
print("ok")
]], dir)
  end)
end)
