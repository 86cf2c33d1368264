-- Functional spec of ldask.ml.pipeline and ldask.ml.search: Pipeline's
-- scikit-learn contract, ParameterGrid's order, and GridSearchCV as one
-- shared task graph checked against scikit-learn's GridSearchCV (Debian's
-- python3-sklearn through /usr/bin/python3) on seeded data and the same
-- folds: the same best parameters and cv_results_ scores, exact counts of
-- the shared fit tasks, on the sync and threads schedulers and a local
-- cluster of two workers. The small estimators of spec/support/ml_knn.lua
-- (KNeighborsClassifier, ColumnScaler) have exact scikit-learn twins.
local helpers = require "helpers"
local cjson = require "cjson"
local nd = require "ldask.array.ndarray"
local da = require "ldask.array"
local ml = require "ldask.ml"
local knn = require "ml_knn"

local function have_sklearn()
  local rc = os.execute("/usr/bin/python3 -c 'import sklearn' >/dev/null 2>&1")
  return rc == 0 or rc == true
end

local GEN = [==[
import json, os, sys
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import GridSearchCV, KFold, ParameterGrid
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(15)
n = 90
X = rng.normal(size=(n, 4)) * np.array([1.0, 10.0, 0.1, 3.0])
y = ((X[:, 0] + X[:, 1] / 10 + rng.normal(scale=0.5, size=n)) > 0).astype(np.int64)
y[X[:, 3] > 3] = 2
np.save(out + "/X.npy", X)
np.save(out + "/y.npy", y)

class ColumnScaler(BaseEstimator, TransformerMixin):
    def __init__(self, power=1):
        self.power = power
    def fit(self, X, y=None):
        self.scale_ = X.std(axis=0) ** self.power
        return self
    def transform(self, X):
        return X / self.scale_

def run(grid, cv):
    pipe = Pipeline([("cs", ColumnScaler()), ("knn", KNeighborsClassifier(algorithm="brute"))])
    s = GridSearchCV(pipe, grid, cv=cv).fit(X, y)
    r = s.cv_results_
    res = {k: [float(v) for v in r[k]] for k in r if k.endswith("test_score")}
    res["params"] = r["params"]
    return {"cv_results": res, "best_params": s.best_params_, "best_index": int(s.best_index_),
            "best_score": float(s.best_score_), "score_all": float(s.score(X, y))}

grid = {"cs__power": [0, 0.5, 1], "knn__n_neighbors": [1, 3, 4, 7]}
folds = [[tr.tolist(), te.tolist()] for tr, te in KFold(3).split(X)]
from sklearn.model_selection import StratifiedKFold
e = {"folds": folds, "search": run(grid, KFold(3)), "search_cv3": run(grid, 3),
     "stratified": [[tr.tolist(), te.tolist()] for tr, te in StratifiedKFold(4).split(X, y)],
     "grid_order": list(ParameterGrid([{"b": [1, 2], "a": [3, 4, 5]}, {"c": [6, 7]}]))}

# the seed's pipeline: StandardScaler -> PCA -> LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(7)
X2 = rng.standard_normal((300, 6)) * np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.5]) + 1
y2 = ((X2[:, 4] - 1) * 2 + (X2[:, 5] - 1) * 3 + rng.normal(scale=0.5, size=300) > 0).astype(np.float64)
np.save(out + "/X2.npy", X2)
np.save(out + "/y2.npy", y2)
pipe = Pipeline([("scale", StandardScaler()), ("pca", PCA(svd_solver="full")), ("clf", LogisticRegression())])
s = GridSearchCV(pipe, {"pca__n_components": [2, 4, 6], "clf__C": [0.001, 0.03, 1]}, cv=3).fit(X2, y2)
e["lr"] = {"params": s.cv_results_["params"], "mean_test_score": [float(v) for v in s.cv_results_["mean_test_score"]],
           "best_params": s.best_params_, "score_all": float(s.score(X2, y2))}
json.dump(e, open(out + "/expected.json", "w"))
]==]

local cached
local function generate()
  if cached then return cached.dir, cached.e end
  local dir = helpers.tmpdir() .. "/ml_search"
  local py = helpers.write_tmp("ml_search_gen.py", GEN)
  local out, rc = helpers.run_sh("/usr/bin/python3 " .. py .. " " .. dir .. " 2>&1")
  assert(rc == 0, out)
  local f = assert(io.open(dir .. "/expected.json"))
  local e = cjson.decode(f:read("*a"))
  f:close()
  cached = { dir = dir, e = e }
  return dir, e
end

local GRID = { cs__power = { 0, 0.5, 1 }, knn__n_neighbors = { 1, 3, 4, 7 } }

local function pipeline()
  return ml.Pipeline { { "cs", knn.ColumnScaler() }, { "knn", knn.KNeighborsClassifier() } }
end

local function close(a, b, what, tol)
  tol = tol or 1e-12
  if math.abs(a - b) > tol * math.max(1, math.abs(b)) then
    error(string.format("%s: ldask %.17g, sklearn %.17g", what, a, b), 2)
  end
end

-- Checks a fitted search S against sklearn's results E.
local function check_search(s, e)
  assert.same(e.best_params, s.best_params_)
  assert.equal(e.best_index + 1, s.best_index_)
  close(s.best_score_, e.best_score, "best_score_")
  local r, er = s.cv_results_, e.cv_results
  assert.equal(#er.params, #r.params)
  for c = 1, #er.params do
    assert.same(er.params[c], r.params[c])
    for _, col in ipairs({ "mean_test_score", "std_test_score", "rank_test_score", "split0_test_score",
      "split1_test_score", "split2_test_score" }) do
      close(r[col][c], er[col][c], col .. "[" .. c .. "]", 1e-9)
    end
  end
  assert.same({ 0, 0.5, 1, 0, 0.5, 1 }, { r.param_cs__power[1], r.param_cs__power[5], r.param_cs__power[9],
    r.param_cs__power[4], r.param_cs__power[8], r.param_cs__power[12] })
end

local LR_GRID = { pca__n_components = { 2, 4, 6 }, clf__C = { 0.001, 0.03, 1 } }

local function lr_pipeline()
  return ml.Pipeline { { "scale", ml.StandardScaler() }, { "pca", ml.PCA { svd_solver = "full" } },
    { "clf", ml.LogisticRegression() } }
end

-- Runs the scaler -> PCA -> logistic search on SCHED and checks it against
-- sklearn's: the same best parameters, every mean score within one test
-- sample of 100 per fold (lbfgs stops at slightly different points), and
-- the shared fits: 3 scalers + 9 PCAs + 27 logistic fits of a naive 81.
local function check_lr(dir, e, sched)
  local X, y = da.from_npy(dir .. "/X2.npy"):compute(), da.from_npy(dir .. "/y2.npy"):compute()
  local s = ml.GridSearchCV(lr_pipeline(), LR_GRID, { cv = 3, scheduler = sched }):fit(X, y)
  assert.same(e.lr.best_params, s.best_params_)
  for c = 1, #e.lr.params do
    assert.same(e.lr.params[c], s.cv_results_.params[c])
    close(s.cv_results_.mean_test_score[c], e.lr.mean_test_score[c], "mean_test_score[" .. c .. "]", 0.0034)
  end
  assert.equal(39, s.n_fits_)
  assert.equal(81, s.n_naive_fits_)
  close(s:score(X, y), e.lr.score_all, "score of best_estimator_", 0.0034)
end

local function folds_of(e)
  local cv = {}
  for i, f in ipairs(e.folds) do cv[i] = { nd.from_table(f[1], "int64"), f[2] } end
  return cv
end

describe("ldask.ml.pipeline", function()
  it("has scikit-learn's parameters: steps, named steps, step__param, clone", function()
    local p = pipeline()
    assert.equal("Pipeline(steps=[('cs', ColumnScaler()), ('knn', KNeighborsClassifier())])", tostring(p))
    local params = p:get_params()
    assert.equal(5, params.knn__n_neighbors)
    assert.equal(1, params.cs__power)
    assert.equal(p.named_steps.knn, params.knn)
    local step = p.named_steps.knn
    assert.equal(p, p:set_params { knn__n_neighbors = 3, cs = knn.ColumnScaler { power = 0.5 } })
    assert.equal(3, p.named_steps.knn.params.n_neighbors)
    assert.equal(step, p.named_steps.knn) -- set in place, as sklearn
    assert.equal(0.5, p.steps[1][2].params.power)
    local c = p:clone()
    c:set_params { knn__n_neighbors = 9 }
    assert.equal(3, p.named_steps.knn.params.n_neighbors)
    assert.equal(9, c.named_steps.knn.params.n_neighbors)
    assert.is_false(rawequal(c.named_steps.cs, p.named_steps.cs))
    local mp = ml.make_pipeline(knn.ColumnScaler(), knn.ColumnScaler(), knn.KNeighborsClassifier())
    assert.same({ "columnscaler-1", "columnscaler-2", "kneighborsclassifier" },
      { mp.steps[1][1], mp.steps[2][1], mp.steps[3][1] })
  end)

  it("fits, predicts and scores like its steps chained by hand, and passes 'passthrough'", function()
    local _, e = generate()
    local dir = helpers.tmpdir() .. "/ml_search"
    local X, y = da.from_npy(dir .. "/X.npy"):compute(), da.from_npy(dir .. "/y.npy"):compute()
    local p = pipeline():set_params { knn__n_neighbors = 3 }:fit(X, y)
    local cs = knn.ColumnScaler():fit(X, y)
    local k = knn.KNeighborsClassifier { n_neighbors = 3 }:fit(cs:transform(X), y)
    assert.same(k:predict(cs:transform(X)):totable(), p:predict(X):totable())
    assert.equal(k:score(cs:transform(X), y), p:score(X, y))
    assert.same(cs:transform(X):totable(), ml.Pipeline { { "cs", knn.ColumnScaler() } }:fit(X):transform(X):totable())
    local pt = ml.Pipeline { { "cs", "passthrough" }, { "knn", knn.KNeighborsClassifier { n_neighbors = 3 } } }:fit(X, y)
    local k2 = knn.KNeighborsClassifier { n_neighbors = 3 }:fit(X, y)
    assert.same(k2:predict(X):totable(), pt:predict(X):totable())
    assert.is_table(e)
  end)

  it("raises clear errors at the caller's line", function()
    local line = debug.getinfo(1, "l").currentline
    local ok, err = pcall(function() return pipeline():set_params { knnn__n_neighbors = 3 } end)
    assert.is_false(ok)
    assert.matches("ml_search_spec.lua:" .. (line + 1) .. ": Pipeline:set_params: invalid parameter 'knnn__n_neighbors': no step named 'knnn' %(steps: cs, knn%)", err)
    ok, err = pcall(ml.Pipeline, { { "a", knn.ColumnScaler() }, { "a", knn.KNeighborsClassifier() } })
    assert.matches("step names must be unique, 'a' is used twice", err)
    ok, err = pcall(ml.Pipeline, { { "knn", knn.KNeighborsClassifier() }, { "cs", knn.ColumnScaler() } })
    assert.matches("step 'knn' %(step 1%) must be a transformer", err)
    ok, err = pcall(ml.Pipeline, { { "a__b", knn.ColumnScaler() } })
    assert.matches("must not contain '__'", err)
    ok, err = pcall(function() return pipeline():predict(nd.zeros({ 2, 4 })) end)
    assert.matches("Pipeline is not fitted yet: call fit first", err)
    ok, err = pcall(function() return pipeline():set_params { knn__n_neighbours = 3 } end)
    assert.matches("unknown parameter 'n_neighbours'", err)
  end)
end)

describe("ldask.ml.search.ParameterGrid", function()
  it("lists candidates in scikit-learn's order", function()
    if not have_sklearn() then pending("python3-sklearn is not installed (scripts/deps.sh)"); return end
    local _, e = generate()
    local g = ml.search.ParameterGrid { { b = { 1, 2 }, a = { 3, 4, 5 } }, { c = { 6, 7 } } }
    assert.equal(#e.grid_order, g:len())
    assert.same(e.grid_order, g:list())
    local n = 0
    for i, p in g:iter() do n = n + 1; assert.same(e.grid_order[i], p) end
    assert.equal(8, n)
    assert.has_error(function() ml.search.ParameterGrid { a = {} } end)
    assert.has_error(function() ml.search.ParameterGrid { a = 3 } end)
  end)
end)

describe("ldask.ml.search.GridSearchCV", function()
  local dir, e, X, y
  setup(function()
    if not have_sklearn() then return end
    dir, e = generate()
    X, y = da.from_npy(dir .. "/X.npy"):compute(), da.from_npy(dir .. "/y.npy"):compute()
  end)

  for _, sched in ipairs({ "sync", "threads" }) do
    it("picks scikit-learn's best parameters with the same scores (" .. sched .. ")", function()
      if not have_sklearn() then pending("python3-sklearn is not installed (scripts/deps.sh)"); return end
      knn.fits = 0
      local s = ml.GridSearchCV(pipeline(), GRID, { cv = folds_of(e), scheduler = sched }):fit(X, y)
      check_search(s, e.search)
      -- 3 folds x (3 scaler fits + 12 knn fits) of a naive 12 x 3 x 2
      assert.equal(45, s.n_fits_)
      assert.equal(72, s.n_naive_fits_)
      assert.equal(3, s.n_splits_)
      assert.equal(12, s.n_candidates_)
      -- sync runs the tasks here: each knn fit ran once, plus the refit
      if sched == "sync" then assert.equal(36 + 1, knn.fits) else assert.equal(1, knn.fits) end
      close(s:score(X, y), e.search.score_all, "score of best_estimator_")
      assert.equal(tostring(pipeline():set_params(e.search.best_params)), tostring(s.best_estimator_))
    end)
  end

  for _, sched in ipairs({ "sync", "threads" }) do
    it("searches StandardScaler -> PCA -> LogisticRegression as scikit-learn does (" .. sched .. ")", function()
      if not have_sklearn() then pending("python3-sklearn is not installed (scripts/deps.sh)"); return end
      check_lr(dir, e, sched)
    end)
  end

  it("splits a classifier's data with StratifiedKFold for cv = 3, as scikit-learn", function()
    if not have_sklearn() then pending("python3-sklearn is not installed (scripts/deps.sh)"); return end
    check_search(ml.GridSearchCV(pipeline(), GRID, { cv = 3, scheduler = "threads" }):fit(X, y), e.search_cv3)
    local got = ml.StratifiedKFold { n_splits = 4 }:splits(X, y)
    for f, pair in ipairs(e.stratified) do
      assert.same(pair[1], got[f][1]:totable())
      assert.same(pair[2], got[f][2]:totable())
    end
    assert.has_error(function() ml.StratifiedKFold { n_splits = 4 }:splits(X) end,
      "StratifiedKFold: splits needs the class labels y")
  end)

  it("splits with a KFold given as cv, as scikit-learn's KFold(3)", function()
    if not have_sklearn() then pending("python3-sklearn is not installed (scripts/deps.sh)"); return end
    check_search(ml.GridSearchCV(pipeline(), GRID, { cv = ml.KFold { n_splits = 3 }, scheduler = "sync" }):fit(X, y),
      e.search)
  end)

  it("takes ldask arrays, computed once and split per fold", function()
    if not have_sklearn() then pending("python3-sklearn is not installed (scripts/deps.sh)"); return end
    local Xa = da.from_npy(dir .. "/X.npy", { chunks = { 30, 4 } })
    local ya = da.from_npy(dir .. "/y.npy", { chunks = { 30 } })
    local s = ml.GridSearchCV(pipeline(), GRID, { cv = folds_of(e), scheduler = "threads" }):fit(Xa, ya)
    check_search(s, e.search)
  end)

  it("takes a dataframe (its numeric columns) and a series", function()
    if not have_sklearn() then pending("python3-sklearn is not installed (scripts/deps.sh)"); return end
    local dd = require "ldask.dataframe"
    local Xa = da.from_npy(dir .. "/X.npy", { chunks = { 45, 4 } })
    local df = dd.from_array(Xa, { columns = { "a", "b", "c", "d" } })
    local ys = dd.from_array(da.from_npy(dir .. "/y.npy", { chunks = { 45 } }), { name = "y" })
    local s = ml.GridSearchCV(pipeline(), GRID, { cv = folds_of(e), scheduler = "sync" }):fit(df, ys)
    check_search(s, e.search)
  end)

  it("scores with a scorer name or a function (shipped with the graph), refit = false", function()
    if not have_sklearn() then pending("python3-sklearn is not installed (scripts/deps.sh)"); return end
    local s = ml.GridSearchCV(pipeline(), GRID, { cv = folds_of(e), scoring = "accuracy", scheduler = "threads" })
      :fit(X, y)
    check_search(s, e.search)
    local shift = 10
    local f = function(est, x, yy) return est:score_local(x, yy) - shift end
    s = ml.GridSearchCV(pipeline(), GRID, { cv = folds_of(e), scoring = f, refit = false, scheduler = "threads" })
      :fit(X, y)
    assert.same(e.search.best_params, s.best_params_)
    close(s.best_score_, e.search.best_score - 10, "best_score_ - 10")
    assert.is_nil(s.best_estimator_)
    local ok, err = pcall(function() return s:predict(X) end)
    assert.is_false(ok)
    assert.matches("not available with refit = false", err)
  end)

  it("draws its graph: one node per shared fit", function()
    if not have_sklearn() then pending("python3-sklearn is not installed (scripts/deps.sh)"); return end
    local s = ml.GridSearchCV(pipeline(), GRID, { cv = folds_of(e), scheduler = "sync" })
    assert.has_error(function() s:visualize(helpers.tmpdir() .. "/x.dot") end,
      nil)
    s:fit(X, y)
    local path = s:visualize(helpers.tmpdir() .. "/search.dot")
    local dot = helpers.read_all(path)
    local nfit, nscore = 0, 0
    for _ in dot:gmatch('%[label="fit%-') do nfit = nfit + 1 end
    for _ in dot:gmatch('%[label="score%-') do nscore = nscore + 1 end
    assert.equal(45, nfit)
    assert.equal(36, nscore)
  end)

  it("gives error_score to failing candidates, or raises with 'raise'", function()
    if not have_sklearn() then pending("python3-sklearn is not installed (scripts/deps.sh)"); return end
    -- 70 neighbours > 60 training rows: the knn predict fails
    local grid = { knn__n_neighbors = { 3, 70 } }
    local s = ml.GridSearchCV(pipeline(), grid, { cv = folds_of(e), scheduler = "sync", error_score = -1 }):fit(X, y)
    assert.equal(-1, s.cv_results_.mean_test_score[2])
    assert.equal(1, s.best_index_)
    local ok, err = pcall(function()
      return ml.GridSearchCV(pipeline(), grid, { cv = folds_of(e), scheduler = "sync" }):fit(X, y)
    end)
    assert.is_false(ok)
    assert.matches("n_neighbors <= n_samples_fit", tostring(err))
  end)

  it("raises clear errors at the caller's line", function()
    local line = debug.getinfo(1, "l").currentline
    local ok, err = pcall(ml.GridSearchCV, pipeline(), GRID, { folds = 3 })
    assert.matches("ml_search_spec.lua:" .. (line + 1) .. ": GridSearchCV: unknown option 'folds' %(valid: cv, error_score, refit, scheduler, scoring%)", err)
    ok, err = pcall(ml.GridSearchCV, pipeline(), { knn__k = { 1 } })
    assert.matches("unknown parameter 'k'", err)
    ok, err = pcall(ml.GridSearchCV, pipeline(), GRID, { cv = 1 })
    assert.matches("cv must be an integer >= 2", err)
    ok, err = pcall(ml.GridSearchCV, pipeline(), GRID, { scoring = "f1" })
    assert.matches("unknown scorer f1", err)
    ok, err = pcall(function()
      return ml.GridSearchCV(pipeline(), GRID, { cv = { { { 0, 1 }, { 2, 500 } } } }):fit(X, y)
    end)
    assert.matches("fold 1: test index 500 out of range for 90 samples", err)
    ok, err = pcall(ml.GridSearchCV, 42, GRID)
    assert.matches("expected an estimator", err)
    ok, err = pcall(function() return ml.GridSearchCV(pipeline(), GRID):predict(nd.zeros({ 1, 4 })) end)
    assert.matches("GridSearchCV is not fitted yet: call fit first", err)
  end)
end)

describe("ldask.ml.search.GridSearchCV on a cluster of two workers", function()
  it("gives the same results as on threads", function()
    if not have_sklearn() then pending("python3-sklearn is not installed (scripts/deps.sh)"); return end
    local dir, e = generate()
    local X, y = da.from_npy(dir .. "/X.npy"):compute(), da.from_npy(dir .. "/y.npy"):compute()
    local client = require "ldask.client"
    local cl = require("ldask.client.cluster").start({ n_workers = 2 })
    local c
    local ok, err = pcall(function()
      c = client(cl.address)
      c:wait_for_workers(2, 20)
      c:upload_file(helpers.root .. "/spec/support/ml_knn.lua")
      local s = ml.GridSearchCV(pipeline(), GRID, { cv = folds_of(e) }):fit(X, y)
      check_search(s, e.search)
      assert.equal(45, s.n_fits_)
      check_lr(dir, e, nil)
    end)
    if c then pcall(c.close, c) end
    cl:stop()
    if not ok then error(err, 0) end
  end)
end)

describe("examples/ml_gridsearch.lua", function()
  it("prints the shared-fit count and writes the search's graph", function()
    local path = helpers.tmpdir() .. "/ml_gridsearch.dot"
    local out, code = helpers.run_ldask(helpers.root .. "/examples/ml_gridsearch.lua " .. path .. " 2>&1")
    assert.equal(0, code, out)
    assert.matches("12 candidates x 3 folds: 48 fit tasks in one shared graph (a naive search runs 108)", out, 1, true)
    assert.matches("best parameters: clf__C = [%d.e-]+, pca__n_components = %d; mean accuracy 0%.%d+", out)
    local dot = helpers.read_all(path)
    local nfit = 0
    for _ in dot:gmatch('%[label="fit%-') do nfit = nfit + 1 end
    assert.equal(48, nfit)
  end)
end)
