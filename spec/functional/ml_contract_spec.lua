-- The estimator contract of ldask.ml (parameters, clone, repr, tokens,
-- fitted-state and shape errors at the user's line), inputs from
-- dataframes, train_test_split on blocked arrays, estimators travelling
-- through the codec, and the lazy paths of StandardScaler, PCA and KMeans
-- on a real cluster of two workers (127.0.0.1) agreeing with the sync
-- scheduler.
local ldask = require "ldask"
local da = require "ldask.array"
local dd = require "ldask.dataframe"
local ml = require "ldask.ml"
local base = require "ldask.ml.base"
local codec = require "ldask.codec"

local THIS = "ml_contract_spec.lua"

-- The error message of FN (which must fail).
local function err_of(fn)
  local ok, e = pcall(fn)
  assert.is_false(ok)
  return tostring(e)
end

describe("ldask.ml estimator contract", function()
  it("checks parameter names at the caller's line and keeps parameters apart", function()
    local e = err_of(function() return ml.StandardScaler({ with_means = false }) end)
    assert.matches(THIS .. ":%d+: StandardScaler: unknown parameter 'with_means' %(valid parameters: copy, "
      .. "with_mean, with_std%)", e)
    local s = ml.StandardScaler({ with_mean = false })
    assert.equal("StandardScaler(with_mean=false)", tostring(s))
    assert.equal("PCA(n_components=3, svd_solver='full')", tostring(ml.PCA({ n_components = 3, svd_solver = "full" })))
    local p = s:get_params()
    p.with_std = false
    assert.is_true(s.params.with_std)
    assert.equal(s, s:set_params({ with_std = false }))
    assert.is_false(s.params.with_std)
    assert.matches(THIS .. ":%d+: StandardScaler: unknown parameter 'x'",
      err_of(function() s:set_params({ x = 1 }) end))
    local c = s:clone()
    assert.are_not.equal(s, c)
    assert.same(s:get_params(), c:get_params())
    assert.equal(ml.StandardScaler.new({ with_mean = false }).params.with_mean, false)
    assert.matches("KMeans: n_clusters must be a positive integer, got 0",
      err_of(function() return ml.KMeans({ n_clusters = 0 }) end))
  end)

  it("refuses unfitted estimators, wrong widths and 1-D X at the user's line", function()
    local x = da.random.random({ 20, 3 }, { chunks = 5, seed = 1 })
    assert.matches(THIS .. ":%d+: StandardScaler is not fitted yet: call fit first",
      err_of(function() return ml.StandardScaler():transform(x) end))
    assert.matches(THIS .. ":%d+: KMeans is not fitted yet: call fit first",
      err_of(function() return ml.KMeans():predict(x) end))
    local s = ml.StandardScaler():fit(x)
    assert.matches(THIS .. ":%d+: StandardScaler: X has 2 features, but StandardScaler was fitted with 3",
      err_of(function() return s:transform(x:slice({ ":", { 0, 2 } })) end))
    assert.matches(THIS .. ":%d+: X must be 2%-D %(samples x features%), got 1%-D of shape %(20,%)",
      err_of(function() return ml.PCA():fit(da.ones(20, { chunks = 5 })) end))
    assert.matches(THIS .. ":%d+: X must be an ldask array, a dataframe, an ndarray or a list of rows, got string",
      err_of(function() return ml.PCA():fit("data") end))
    assert.matches("y has 19", err_of(function() return ml.KMeans():fit(x, da.ones(19, { chunks = 5 })) end))
  end)

  it("gives tokens of class and parameters, and of the fitted state to tasks", function()
    local a, b = ml.PCA({ n_components = 2 }), ml.PCA({ n_components = 2 })
    assert.equal(base.tokenize(a), base.tokenize(b))
    assert.are_not.equal(base.tokenize(a), base.tokenize(ml.PCA({ n_components = 3 })))
    assert.are_not.equal(base.tokenize(a), base.tokenize(ml.TruncatedSVD({ n_components = 2 })))
    local x1 = da.random.random({ 30, 4 }, { chunks = 10, seed = 1 })
    local x2 = da.random.random({ 30, 4 }, { chunks = 10, seed = 2 })
    a:fit(x1); b:fit(x2)
    assert.equal(base.tokenize(a), base.tokenize(b))
    assert.are_not.equal(ldask.tokenize(a), ldask.tokenize(b))
    -- two transforms by differently fitted estimators are different graphs
    assert.are_not.equal(a:transform(x1).name, b:transform(x1).name)
  end)

  it("takes dataframes: numeric columns for scalers, every column for OneHotEncoder", function()
    local df = dd.from_table({ a = { 1, 2, 3, 4, 5, 6 }, s = { "x", "y", "x", "z", "y", "x" }, b = { 2, 2, 4, 4, 6, 6 } },
      { npartitions = 2 })
    local names = df.columns
    local s = ml.StandardScaler():fit(df)
    local num = {}
    for _, n in ipairs(names) do if n ~= "s" then num[#num + 1] = n end end
    assert.equal(#num, s.n_features_in_)
    local t = s:transform(df):compute()
    assert.same({ 6, 2 }, t.shape)
    for j = 0, 1 do assert.near(0, t:slice({ ":", j }):mean():item(), 1e-12) end
    local o = ml.OneHotEncoder():fit(df)
    local out = o:transform(df):compute()
    local fnames = o:get_feature_names_out()
    assert.equal(3 + 6 + 3, #fnames)
    assert.same({ 6, 12 }, out.shape)
    -- each row has exactly one 1 per input column
    for i = 0, 5 do assert.equal(3, out:slice({ i }):sum():item()) end
    local col
    for k, n in ipairs(fnames) do if n == "s_y" then col = k - 1 end end
    assert.same({ 0, 1, 0, 0, 1, 0 }, out:slice({ ":", col }):totable())
  end)

  it("train_test_split splits each block, keeps X and y rows together, is seeded", function()
    local x = da.arange(200, { chunks = 50 }):reshape({ 100, 2 }):rechunk({ 25, 2 })
    local y = da.arange(100, { chunks = 30 })
    local xtr, xte, ytr, yte = ml.train_test_split(x, y, { test_size = 0.2, random_state = 3 })
    assert.same({ 20, 20, 20, 20 }, xtr.chunks[1])
    assert.same({ 5, 5, 5, 5 }, yte.chunks[1])
    local a, b, ya, yb = xtr:compute(), xte:compute(), ytr:compute(), yte:compute()
    local seen = {}
    for _, pair in ipairs({ { a, ya }, { b, yb } }) do
      local m, v = pair[1], pair[2]
      for i = 0, v.shape[1] - 1 do
        local r = v:get(i)
        assert.equal(2 * r, m:get(i, 0))
        assert.is_nil(seen[r])
        seen[r] = true
      end
    end
    for r = 0, 99 do assert.is_true(seen[r]) end
    local _, xte2 = ml.train_test_split(x, { test_size = 0.2, random_state = 3 })
    assert.same(b:totable(), xte2:compute():totable())
    local _, xte3 = ml.train_test_split(x, { test_size = 0.2, random_state = 4 })
    assert.are_not.same(b:totable(), xte3:compute():totable())
    assert.matches("train_test_split: unknown option 'test'", err_of(function() ml.train_test_split(x, { test = 1 }) end))
    local n1, n2 = ml.train_test_split(x:compute(), { test_size = 0.3, random_state = 1 })
    assert.same({ 70, 2 }, n1.shape)
    assert.same({ 30, 2 }, n2.shape)
  end)

  it("fitted estimators travel through the codec", function()
    local x = da.random.random({ 40, 3 }, { chunks = 10, seed = 5 })
    local xn = x:compute()
    for _, est in ipairs({ ml.StandardScaler():fit(x), ml.PCA({ n_components = 2 }):fit(x),
      ml.KMeans({ n_clusters = 3, random_state = 1 }):fit(xn) }) do
      local h, bufs = codec.encode(base.shippable(est))
      local back = codec.decode(h, bufs)
      assert.equal(getmetatable(est), getmetatable(back))
      assert.equal(tostring(est), tostring(back))
      local t1 = est.transform_local(est, xn)
      local t2 = back:transform_local(xn)
      assert.is_true(t1:eq(t2):all():item())
    end
  end)
end)

describe("ldask.ml on a cluster of two workers", function()
  local cluster_mod = require "ldask.client.cluster"
  local client = require "ldask.client"
  local cl, c
  setup(function()
    cl = cluster_mod.start({ n_workers = 2 })
    c = client(cl.address, { set_as_default = false })
    c:wait_for_workers(2, 30)
  end)
  teardown(function()
    if c then pcall(c.close, c) end
    if cl then cl:stop() end
  end)

  it("fits StandardScaler, PCA and KMeans lazily like the sync scheduler", function()
    local x = da.random.normal({ 600, 5 }, { chunks = { 100, 5 }, seed = 9 }) * da.from_table({ 1, 3, 0.5, 2, 1 })
    local sync = {}
    ldask.config.with({ scheduler = "sync" }, function()
      sync.s = ml.StandardScaler():fit(x)
      sync.p = ml.PCA({ n_components = 3, svd_solver = "full" }):fit(x)
      sync.k = ml.KMeans({ n_clusters = 3, random_state = 2 }):fit(x)
      sync.t = sync.p:transform(x):compute()
      sync.l = sync.k.labels_:compute()
    end)
    c:set_as_default()
    local ok, err = pcall(function()
      assert.equal("distributed", ldask.config.get("scheduler"))
      local s = ml.StandardScaler():fit(x)
      assert.is_true(s.mean_:eq(sync.s.mean_):all():item())
      assert.is_true(s.scale_:eq(sync.s.scale_):all():item())
      local p = ml.PCA({ n_components = 3, svd_solver = "full" }):fit(x)
      assert.is_true(da.allclose(p.components_, sync.p.components_, 1e-12, 1e-12):compute())
      assert.is_true(da.allclose(p:transform(x), sync.t, 1e-12, 1e-12):compute())
      local k = ml.KMeans({ n_clusters = 3, random_state = 2 }):fit(x)
      assert.is_true(da.allclose(k.cluster_centers_, sync.k.cluster_centers_, 1e-12, 1e-12):compute())
      assert.same(sync.l:totable(), k.labels_:compute():totable())
      -- a fitted estimator as a task argument, used inside the task
      local fut = c:submit(function(est, block) return est:transform_local(block) end, base.shippable(s), x:compute())
      assert.is_true(fut:result():eq(s:transform(x):compute()):all():item())
    end)
    ldask.config.set({ scheduler = "threads" })
    assert(ok, err)
  end)
end)
