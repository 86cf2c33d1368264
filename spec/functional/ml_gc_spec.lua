-- Raw-pointer lifetimes in ldask.ml's per-block kernels (docs/architecture.md
-- "Raw pointers and their owners"): with the collector made to finish a
-- cycle at almost every allocation, a kernel that read through a pointer
-- into an ndarray no later bytecode read would see it freed. The kernels run
-- on inputs that force temporary copies (int32 and transposed,
-- non-contiguous blocks) and must give the answers they give under the
-- normal collector, round after round.
local nd = require "ldask.array.ndarray"
local ml = require "ldask.ml"
local cluster = require "ldask.ml.cluster"
local metrics = require "ldask.ml.metrics"
local decomposition = require "ldask.ml.decomposition"
local preprocessing = require "ldask.ml.preprocessing"
local base = require "ldask.ml.base"

-- Every kernel once, its results as one flat list of numbers.
local function run_all(x, xi, c, y, p)
  local out = {}
  local function add(v)
    if type(v) == "number" then out[#out + 1] = v
    elseif nd.is_ndarray(v) then for _, e in ipairs(v:tolist()) do out[#out + 1] = tonumber(e) end
    elseif type(v) == "table" then for _, e in ipairs(v) do add(e) end
    elseif type(v) == "cdata" then out[#out + 1] = tonumber(v) end
  end
  local l = cluster._lloyd_part(x, c)
  add(l[1]); add(l[2]); add(l[3])
  local d2 = cluster._d2_part(x, c, false)
  add(d2)
  add(cluster._d2_part(x, c:slice({ { 0, 1 } }), d2))
  add(cluster._sample_part(x, d2, 0, 4, cluster._sum_part(d2), 1, 1))
  add(cluster._count_part(x, c))
  for _, f in ipairs(cluster._far_part(x, c, 3)) do add(f[1]); add(f[2]); add(f[3]) end
  for _, f in ipairs(decomposition._flip_part(x)) do add(f) end
  add(metrics._acc_part(y, xi:slice({ ":", 0 })))
  add(metrics._sq_part(y, x:slice({ ":", 1 })))
  add(metrics._logloss_part(y, p, { [0] = 0, [1] = 1, [2] = 2 }, 1e-15))
  local sets = preprocessing._distinct_part(xi)
  for j = 1, #sets do local n = 0; for _ in pairs(sets[j]) do n = n + 1 end; add(n) end
  local oh = ml.OneHotEncoder():fit(xi)
  add(oh:transform(xi))
  add(ml.PolynomialFeatures({ degree = 3 }):fit(x:slice({ ":", { 0, 3 } })):transform(xi:slice({ ":", { 0, 3 } })))
  for _, s in ipairs(ml.KFold({ n_splits = 3, shuffle = true, random_state = 2 }):splits(x)) do add(s[1]); add(s[2]) end
  add(ml.KMeans({ n_clusters = 3, random_state = 1 }):fit(x).cluster_centers_)
  return out
end

describe("ldask.ml kernels under a collector that runs at every allocation", function()
  it("give the same answers as under the normal collector", function()
    local g = base.rng(3)
    local n = 600
    -- x: the transpose of a (5, n) array: a non-contiguous float64 view
    local xt = nd.zeros({ 5, n }, "float64")
    for i = 0, n - 1 do for j = 0, 4 do xt:set(j, i, g:normal() + (i % 3) * 4) end end
    local x = xt:transpose()
    local xi = nd.zeros({ n, 4 }, "int32")
    for i = 0, n - 1 do for j = 0, 3 do xi:set(i, j, g:int(5)) end end
    local c = x:slice({ { 0, 3 } }):copy(true)
    local y = nd.zeros({ n }, "int32")
    local p = nd.zeros({ n, 3 }, "float32")
    for i = 0, n - 1 do
      y:set(i, g:int(3))
      local a, b = g:random() + 0.01, g:random() + 0.01
      p:set(i, 0, a); p:set(i, 1, b); p:set(i, 2, 1)
    end
    local want = run_all(x, xi, c, y, p)
    assert.is_true(#want > 1000)
    collectgarbage("setpause", 1)
    collectgarbage("setstepmul", 10000)
    local ok, err = pcall(function()
      for round = 1, 3 do
        local got = run_all(x, xi, c, y, p)
        assert.equal(#want, #got)
        for i = 1, #want do
          if got[i] ~= want[i] and not (got[i] ~= got[i] and want[i] ~= want[i]) then
            error(string.format("round %d: value %d is %.17g, %.17g under the normal collector", round, i, got[i],
              want[i]))
          end
        end
      end
    end)
    collectgarbage("setpause", 200)
    collectgarbage("setstepmul", 200)
    assert(ok, err)
  end)
end)
