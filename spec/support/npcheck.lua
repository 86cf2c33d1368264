-- Helpers of the specs that compare ldask.array with numpy on seeded data
-- (array_linalg_spec, array_indexing_spec): run a Python script over a
-- directory of .npy inputs, load its .npy answers, compare ndarrays, make
-- factor signs canonical, and run a battery on sync, threads and a
-- two-worker local cluster.
local helpers = require "helpers"
local da = require "ldask.array"
local nd = require "ldask.array.ndarray"
local assert = require "luassert"

local M = {}

-- Writes the ndarrays of INPUTS (name -> ndarray) as DIR/name.npy, runs the
-- Python SCRIPT with DIR as its argument (it writes DIR/out_<name>.npy) and
-- returns DIR.
function M.run_numpy(script, inputs)
  local dir = helpers.tmpdir() .. "/np" .. tostring(math.random(1e9))
  os.execute("mkdir -p " .. dir)
  for name, a in pairs(inputs) do
    da.from_ndarray(a, { chunks = -1 }):to_npy(dir .. "/" .. name .. ".npy", { scheduler = "sync" })
  end
  local path = helpers.write_tmp("np_" .. tostring(math.random(1e9)) .. ".py",
    "import numpy as np, sys\nd = sys.argv[1]\ndef load(n): return np.load(d + '/' + n + '.npy')\n"
    .. "def save(n, v): np.save(d + '/out_' + n + '.npy', np.asarray(v))\n" .. script)
  local rc = os.execute("/usr/bin/python3 " .. path .. " " .. dir)
  assert(rc == 0 or rc == true, "the numpy script failed")
  return dir
end

-- The answer NAME written by the script.
function M.load(dir, name)
  return da.from_npy(dir .. "/out_" .. name .. ".npy"):compute({ scheduler = "sync" })
end

-- Asserts that GOT (an ndarray or a number) equals WANT within a relative
-- tolerance TOL (of the largest magnitude; default 1e-9), with the same shape.
function M.close(got, want, what, tol)
  tol = tol or 1e-9
  if type(got) == "number" then got = nd.full({}, got, "float64") end
  if type(want) == "number" then want = nd.full({}, want, "float64") end
  assert(nd.is_ndarray(got), what .. ": not an ndarray but " .. type(got))
  assert.same(want.shape, got.shape, what .. ": shape")
  if got.size == 0 then return end
  local g, w = got:astype("float64"), want:astype("float64")
  local diff = (g - w):abs():max():item()
  local scale = math.max(1, w:abs():max():item())
  assert(diff <= tol * scale, string.format("%s: differs from numpy by %g (tolerance %g)", what, diff, tol * scale))
end

-- Columns of Q flipped so that each column's largest-magnitude entry is
-- positive; returns the new Q and the signs.
function M.sign_cols(q)
  local t = q:totable()
  local r = t
  local signs = {}
  for j = 1, q.shape[2] do
    local best, bi = -1, 1
    for i = 1, q.shape[1] do
      if math.abs(r[i][j]) > best then best, bi = math.abs(r[i][j]), i end
    end
    signs[j] = r[bi][j] < 0 and -1 or 1
    for i = 1, q.shape[1] do t[i][j] = t[i][j] * signs[j] end
  end
  return nd.from_table(t, "float64"), signs
end

-- Rows of R multiplied by SIGNS.
function M.sign_rows(r, signs)
  local t = r:totable()
  for i = 1, #t do for j = 1, #t[i] do t[i][j] = t[i][j] * signs[i] end end
  return nd.from_table(t, "float64")
end

-- Runs FN(opts, label) with compute options for the sync and threads
-- schedulers and a local cluster of two workers (started here, stopped
-- afterwards even on failure).
function M.on_schedulers(fn)
  fn({ scheduler = "sync" }, "sync")
  fn({ scheduler = "threads" }, "threads")
  local cluster_mod = require "ldask.client.cluster"
  local client = require "ldask.client"
  local cl = cluster_mod.start({ n_workers = 2 })
  local c
  local ok, err = pcall(function()
    c = client(cl.address, { set_as_default = false })
    c:wait_for_workers(2, 20)
    c:set_as_default()
    fn({ scheduler = require "ldask.client.scheduler" }, "cluster")
  end)
  if c then pcall(c.close, c) end
  cl:stop()
  if not ok then error(err, 0) end
end

return M
