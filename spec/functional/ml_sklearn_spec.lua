-- Cross-checks ldask.ml's preprocessing, decomposition, clustering, metrics
-- and KFold against scikit-learn (Debian's python3-sklearn, an independent
-- implementation) on seeded data: Python writes the data as .npy files and
-- sklearn's results as JSON; ldask fits the same data as in-memory ndarrays
-- and as blocked arrays under the sync and threads schedulers. Tolerances
-- are stated per check (exact algorithms 1e-9 relative; randomized SVD
-- 1e-6 on the explained variance ratios). Skipped without sklearn.
local ldask = require "ldask"
local da = require "ldask.array"
local ml = require "ldask.ml"
local pandas = require "pandas"

local function have_sklearn()
  local rc = os.execute("/usr/bin/python3 -c 'import sklearn' >/dev/null 2>&1")
  return rc == 0 or rc == true
end

local GEN = [==[
import sys, json, os
import numpy as np
from sklearn.preprocessing import StandardScaler, MinMaxScaler, OneHotEncoder, PolynomialFeatures
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.cluster import KMeans
from sklearn.metrics import accuracy_score, log_loss, r2_score, mean_squared_error
from sklearn.model_selection import KFold
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(15)
n, p = 1000, 6
X = rng.normal(size=(n, p)) @ rng.normal(size=(p, p)) * 3 + rng.normal(size=p) * 5
X[:, 2] = np.round(X[:, 2])
np.save(f"{out}/X.npy", X)
I = rng.integers(0, 4, size=(300, 3)) * 2 + 1
np.save(f"{out}/I.npy", I.astype(np.int64))
centers = np.array([[0, 0, 0], [8, 8, 0], [-8, 8, 4], [0, -9, -6]], dtype=float)
B = np.vstack([c + rng.normal(size=(150, 3)) for c in centers])
B = B[rng.permutation(len(B))]
np.save(f"{out}/B.npy", B)
yt = rng.integers(0, 3, 500).astype(float)
yp = np.where(rng.random(500) < 0.7, yt, rng.integers(0, 3, 500)).astype(float)
P = rng.dirichlet([1, 1, 1], 500)
yr = rng.normal(size=500)
yrp = yr + rng.normal(size=500) * 0.4
for name, v in [("yt", yt), ("yp", yp), ("P", P), ("yr", yr), ("yrp", yrp)]:
    np.save(f"{out}/{name}.npy", v)
e = {}
s = StandardScaler().fit(X)
e["ss"] = dict(mean=s.mean_.tolist(), scale=s.scale_.tolist(), var=s.var_.tolist(),
               t=s.transform(X[:5]).tolist())
m = MinMaxScaler(feature_range=(-1, 2)).fit(X)
e["mm"] = dict(min=m.min_.tolist(), scale=m.scale_.tolist(), t=m.transform(X[:5]).tolist())
for name, kw in [("pf", {}), ("pf3", dict(degree=3, interaction_only=True, include_bias=False))]:
    f = PolynomialFeatures(**kw).fit(X[:, :3])
    e[name] = dict(powers=f.powers_.tolist(), t=f.transform(X[:4, :3]).tolist())
o = OneHotEncoder(sparse_output=False).fit(I)
e["oh"] = dict(cats=[c.tolist() for c in o.categories_], t=o.transform(I[:6]).tolist(),
               names=o.get_feature_names_out().tolist())
for k in (3, 6):
    pc = PCA(n_components=k, svd_solver="full").fit(X)
    e[f"pca{k}"] = dict(components=pc.components_.tolist(), ev=pc.explained_variance_.tolist(),
                        ratio=pc.explained_variance_ratio_.tolist(), sv=pc.singular_values_.tolist(),
                        mean=pc.mean_.tolist(), noise=float(pc.noise_variance_), t=pc.transform(X[:5]).tolist())
pf = PCA(n_components=0.9, svd_solver="full").fit(X)
e["pca_frac"] = int(pf.n_components_)
pw = PCA(n_components=2, whiten=True, svd_solver="full").fit(X)
e["pca_whiten"] = pw.transform(X[:5]).tolist()
pr = PCA(n_components=3, svd_solver="randomized", iterated_power=7, random_state=0).fit(X)
e["pca_rand"] = dict(ratio=pr.explained_variance_ratio_.tolist(), components=pr.components_.tolist())
ts = TruncatedSVD(n_components=3, algorithm="arpack").fit(X)
e["tsvd"] = dict(components=ts.components_.tolist(), sv=ts.singular_values_.tolist(),
                 ev=ts.explained_variance_.tolist(), ratio=ts.explained_variance_ratio_.tolist())
init = B[:4]
km = KMeans(n_clusters=4, init=init, n_init=1, max_iter=300, tol=1e-4).fit(B)
e["km_init"] = dict(centers=km.cluster_centers_.tolist(), inertia=float(km.inertia_), n_iter=int(km.n_iter_),
                    labels=km.labels_.tolist())
E = np.vstack([rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) + 12, [[60, 60], [61, 59]]])
ke = KMeans(n_clusters=3, init=np.array([[0, 0], [200, 200], [12, 12]], dtype=float), n_init=1).fit(E)
np.save(f"{out}/E.npy", E)
e["km_empty"] = dict(centers=ke.cluster_centers_.tolist(), inertia=float(ke.inertia_), n_iter=int(ke.n_iter_))
kd = KMeans(n_clusters=4, n_init=10, random_state=0).fit(B)
e["km"] = dict(centers=sorted(kd.cluster_centers_.tolist()), inertia=float(kd.inertia_))
e["metrics"] = dict(acc=accuracy_score(yt, yp), acc_n=float(accuracy_score(yt, yp, normalize=False)),
                    ll=log_loss(yt, P), r2=r2_score(yr, yrp), mse=mean_squared_error(yr, yrp),
                    rmse=mean_squared_error(yr, yrp, squared=False),
                    ll_bin=log_loss((yt > 0).astype(float), P[:, 0]))
e["kfold"] = [[tr.tolist(), te.tolist()] for tr, te in KFold(n_splits=4).split(np.zeros(103))]
import pandas as pd
df = pd.DataFrame({"city": [["oslo", "rome", "lima", "kyiv"][j] for j in rng.integers(0, 4, 200)],
                   "n": rng.integers(0, 3, 200), "x": np.round(rng.normal(size=200), 6),
                   "y": np.round(rng.normal(size=200) * 4 + 1, 6)})
df.to_csv(f"{out}/df.csv", index=False)
od = OneHotEncoder(sparse_output=False).fit(df[["city", "n"]])
e["oh_df"] = dict(names=od.get_feature_names_out().tolist(), t=od.transform(df[["city", "n"]]).tolist())
sd = StandardScaler().fit(df[["n", "x", "y"]])
e["ss_df"] = dict(mean=sd.mean_.tolist(), scale=sd.scale_.tolist(), t=sd.transform(df[["n", "x", "y"]][:5]).tolist())
json.dump(e, open(f"{out}/expected.json", "w"))
]==]

-- |a - b| <= tol * max(1, |b|), naming WHAT.
local function close(a, b, tol, what)
  if math.abs(a - b) > tol * math.max(1, math.abs(b)) then
    error(string.format("%s: ldask %.17g, sklearn %.17g (tolerance %g)", what, a, b, tol), 2)
  end
end

-- Every element of ndarray A against nested list E.
local function all_close(a, e, tol, what)
  local t = a:totable()
  local function walk(x, y, path)
    if type(y) == "table" then
      assert(type(x) == "table" and #x == #y, what .. path .. ": shapes differ")
      for i = 1, #y do walk(x[i], y[i], path .. "[" .. (i - 1) .. "]") end
    else
      close(x, y, tol, what .. path)
    end
  end
  walk(t, e, "")
end

describe("ldask.ml against scikit-learn", function()
  local have = have_sklearn()
  local dir, e, X, B
  setup(function()
    if not have then return end
    dir, e = pandas.generate(GEN, "ml_sklearn")
    X = da.from_npy(dir .. "/X.npy", { chunks = { 130, 6 } })
    B = da.from_npy(dir .. "/B.npy", { chunks = { 100, 3 } })
  end)
  local function skip() if not have then pending("sklearn is not installed for /usr/bin/python3") end return not have end

  -- Runs FN(input, label) on the ndarray and on the array under sync and threads.
  local function each_input(x, fn)
    fn(x:compute(), "ndarray")
    for _, sched in ipairs({ "sync", "threads" }) do
      ldask.config.with({ scheduler = sched }, fn, x, sched)
    end
  end

  it("StandardScaler and MinMaxScaler (1e-9)", function()
    if skip() then return end
    each_input(X, function(x, how)
      local s = ml.StandardScaler():fit(x)
      all_close(s.mean_, e.ss.mean, 1e-9, how .. " mean_")
      all_close(s.scale_, e.ss.scale, 1e-9, how .. " scale_")
      all_close(s.var_, e.ss.var, 1e-9, how .. " var_")
      local t = s:transform(x)
      if how ~= "ndarray" then t = t:compute() end
      all_close(t:slice({ { 0, 5 } }), e.ss.t, 1e-9, how .. " transform")
      local m = ml.MinMaxScaler({ feature_range = { -1, 2 } }):fit(x)
      all_close(m.min_, e.mm.min, 1e-9, how .. " min_")
      all_close(m.scale_, e.mm.scale, 1e-9, how .. " scale_")
      local mt = m:transform(x)
      if how ~= "ndarray" then mt = mt:compute() end
      all_close(mt:slice({ { 0, 5 } }), e.mm.t, 1e-9, how .. " minmax transform")
    end)
    -- inverse_transform round-trips
    local s = ml.StandardScaler():fit(X)
    assert.is_true(da.allclose(s:inverse_transform(s:transform(X)), X):compute())
  end)

  it("PolynomialFeatures and OneHotEncoder (exact)", function()
    if skip() then return end
    local x3 = X:slice({ ":", { 0, 3 } })
    for _, case in ipairs({ { "pf", {} }, { "pf3", { degree = 3, interaction_only = true, include_bias = false } } }) do
      local f = ml.PolynomialFeatures(case[2]):fit(x3)
      all_close(f.powers_, e[case[1]].powers, 0, case[1] .. " powers_")
      all_close(f:transform(x3):compute():slice({ { 0, 4 } }), e[case[1]].t, 1e-12, case[1] .. " transform")
    end
    local I = da.from_npy(dir .. "/I.npy", { chunks = { 70, 3 } })
    local o = ml.OneHotEncoder():fit(I)
    for j = 1, 3 do all_close(o.categories_[j], e.oh.cats[j], 0, "categories_") end
    assert.same(e.oh.names, o:get_feature_names_out())
    all_close(o:transform(I):compute():slice({ { 0, 6 } }), e.oh.t, 0, "one-hot")
    local bad = da.from_table({ { 1, 3, 99 } }, { dtype = "int64" })
    assert.has_error(function() o:transform(bad):compute() end)
    local ig = ml.OneHotEncoder({ handle_unknown = "ignore" }):fit(I)
    assert.equal(2, ig:transform(bad):compute():sum():item())
  end)

  it("fits dataframes read from CSV: OneHotEncoder on string and int columns, StandardScaler", function()
    if skip() then return end
    local dd = require "ldask.dataframe"
    local df = dd.read_csv(dir .. "/df.csv", { blocksize = 1500 })
    assert.is_true(df.npartitions > 1)
    local o = ml.OneHotEncoder():fit(df[{ "city", "n" }])
    assert.same(e.oh_df.names, o:get_feature_names_out())
    all_close(o:transform(df[{ "city", "n" }]):compute(), e.oh_df.t, 0, "one-hot of a dataframe")
    local s = ml.StandardScaler():fit(df)
    all_close(s.mean_, e.ss_df.mean, 1e-9, "dataframe mean_")
    all_close(s.scale_, e.ss_df.scale, 1e-9, "dataframe scale_")
    all_close(s:transform(df):compute():slice({ { 0, 5 } }), e.ss_df.t, 1e-9, "dataframe transform")
  end)

  it("PCA full: components, variances, transform (1e-9), fraction and whiten", function()
    if skip() then return end
    each_input(X, function(x, how)
      for _, k in ipairs({ 3, 6 }) do
        local ex = e["pca" .. k]
        local pc = ml.PCA({ n_components = k, svd_solver = "full" }):fit(x)
        all_close(pc.components_, ex.components, 1e-9, how .. " components_")
        all_close(pc.explained_variance_, ex.ev, 1e-9, how .. " explained_variance_")
        all_close(pc.explained_variance_ratio_, ex.ratio, 1e-9, how .. " explained_variance_ratio_")
        all_close(pc.singular_values_, ex.sv, 1e-9, how .. " singular_values_")
        all_close(pc.mean_, ex.mean, 1e-9, how .. " mean_")
        close(pc.noise_variance_, ex.noise, 1e-9, how .. " noise_variance_")
        local t = pc:transform(x)
        if how ~= "ndarray" then t = t:compute() end
        all_close(t:slice({ { 0, 5 } }), ex.t, 1e-9, how .. " transform")
      end
    end)
    assert.equal(e.pca_frac, ml.PCA({ n_components = 0.9, svd_solver = "full" }):fit(X).n_components_)
    local w = ml.PCA({ n_components = 2, whiten = true, svd_solver = "full" }):fit(X)
    all_close(w:transform(X):compute():slice({ { 0, 5 } }), e.pca_whiten, 1e-9, "whiten")
    assert.has_error(function() ml.PCA({ n_components = 7 }):fit(X) end,
      "PCA: n_components=7 must be between 0 and min(n_samples, n_features)=6")
  end)

  it("PCA randomized and TruncatedSVD", function()
    if skip() then return end
    local pr = ml.PCA({ n_components = 3, svd_solver = "randomized", random_state = 0 }):fit(X)
    all_close(pr.explained_variance_ratio_, e.pca_rand.ratio, 1e-6, "randomized ratio")
    all_close(pr.components_, e.pca_rand.components, 1e-4, "randomized components")
    for _, x in ipairs({ X, X:compute() }) do
      local ts = ml.TruncatedSVD({ n_components = 3, algorithm = "full" }):fit(x)
      all_close(ts.components_, e.tsvd.components, 1e-9, "tsvd components_")
      all_close(ts.singular_values_, e.tsvd.sv, 1e-9, "tsvd singular_values_")
      all_close(ts.explained_variance_, e.tsvd.ev, 1e-9, "tsvd explained_variance_")
      all_close(ts.explained_variance_ratio_, e.tsvd.ratio, 1e-9, "tsvd ratio")
    end
    local tr = ml.TruncatedSVD({ n_components = 3, n_iter = 7, random_state = 1 }):fit(X)
    all_close(tr.explained_variance_ratio_, e.tsvd.ratio, 1e-6, "tsvd randomized ratio")
  end)

  it("KMeans: Lloyd from given centres matches exactly; k-means|| finds sklearn's clusters", function()
    if skip() then return end
    each_input(B, function(x, how)
      local b = x
      if how ~= "ndarray" then b = x:compute() end
      local km = ml.KMeans({ n_clusters = 4, init = b:slice({ { 0, 4 } }):copy() }):fit(x)
      all_close(km.cluster_centers_, e.km_init.centers, 1e-9, how .. " centres")
      close(km.inertia_, e.km_init.inertia, 1e-9, how .. " inertia_")
      assert.equal(e.km_init.n_iter, km.n_iter_)
      local labels = km.labels_
      if how ~= "ndarray" then labels = labels:compute() end
      all_close(labels, e.km_init.labels, 0, how .. " labels_")
      local kd = ml.KMeans({ n_clusters = 4, random_state = 0 }):fit(x)
      local c = kd.cluster_centers_:totable()
      table.sort(c, function(p, q) return p[1] < q[1] end)
      for i = 1, 4 do for j = 1, 3 do close(c[i][j], e.km.centers[i][j], 1e-9, how .. " k-means|| centres") end end
      close(kd.inertia_, e.km.inertia, 1e-9, how .. " k-means|| inertia_")
      close(-kd:score(x), e.km.inertia, 1e-9, how .. " score")
    end)
  end)

  it("KMeans moves an empty cluster to the farthest row, as sklearn", function()
    if skip() then return end
    local E = da.from_npy(dir .. "/E.npy", { chunks = { 25, 2 } })
    local init = da.ndarray.from_table({ { 0, 0 }, { 200, 200 }, { 12, 12 } })
    for _, x in ipairs({ E, E:compute() }) do
      local km = ml.KMeans({ n_clusters = 3, init = init }):fit(x)
      all_close(km.cluster_centers_, e.km_empty.centers, 1e-9, "centres")
      close(km.inertia_, e.km_empty.inertia, 1e-9, "inertia_")
      assert.equal(e.km_empty.n_iter, km.n_iter_)
    end
  end)

  it("metrics on arrays and ndarrays", function()
    if skip() then return end
    local m = e.metrics
    local function load(name, chunks) return da.from_npy(dir .. "/" .. name .. ".npy", { chunks = chunks }) end
    local yt, yp, P = load("yt", 120), load("yp", 77), load("P", { 90, 3 })
    local yr, yrp = load("yr", 100), load("yrp", 130)
    for _, lazy in ipairs({ true, false }) do
      local function v(a) if lazy then return a end return a:compute() end
      close(ml.accuracy_score(v(yt), v(yp)), m.acc, 1e-12, "accuracy_score")
      close(ml.accuracy_score(v(yt), v(yp), { normalize = false }), m.acc_n, 0, "accuracy_score count")
      close(ml.log_loss(v(yt), v(P)), m.ll, 1e-12, "log_loss")
      close(ml.log_loss(v(yt):gt(0):astype("float64"), v(P):slice({ ":", 0 })), m.ll_bin, 1e-12, "binary log_loss")
      close(ml.r2_score(v(yr), v(yrp)), m.r2, 1e-12, "r2_score")
      close(ml.mean_squared_error(v(yr), v(yrp)), m.mse, 1e-12, "mean_squared_error")
      close(ml.mean_squared_error(v(yr), v(yrp), { squared = false }), m.rmse, 1e-12, "rmse")
    end
    assert.has_error(function() ml.r2_score(yr, yt:slice({ { 0, 10 } })) end,
      "r2_score: y_true has 500 samples but y_pred has 10")
  end)

  it("KFold gives sklearn's folds", function()
    if skip() then return end
    local i = 0
    for train, test in ml.KFold({ n_splits = 4 }):split(103) do
      i = i + 1
      assert.same(e.kfold[i][1], train:totable())
      assert.same(e.kfold[i][2], test:totable())
    end
    assert.equal(4, i)
  end)
end)
