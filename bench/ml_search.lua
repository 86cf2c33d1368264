-- bench/ml_search.lua: the grid search of a StandardScaler → PCA →
-- LogisticRegression pipeline over a 3 × 4 grid (pca__n_components ×
-- clf__C) with 3 folds, against scikit-learn's GridSearchCV(n_jobs=2)
-- (Debian's python3-sklearn) in the same run, on the same data: numpy
-- writes seeded rows to .npy files that both sides read.
--   ours:    ml.GridSearchCV on the threads scheduler (2 threads unless
--            LDASK_NUM_WORKERS says otherwise): one task graph in which the
--            scaler is fitted once per fold and PCA once per fold and
--            n_components, shared by the candidates that need them.
--   sklearn: GridSearchCV(pipeline, grid, cv=KFold(3), n_jobs=2): every
--            candidate fits its whole pipeline on every fold.
-- Both print the time of the search (refit included), the number of step
-- fits each ran, the best parameters and the best score.
--   bin/ldask bench/ml_search.lua [rows]   (default 200,000 rows x 20)
local bu = require "ldask.array.benchutil"
local da = require "ldask.array"
local ml = require "ldask.ml"

local n = math.floor(tonumber(arg and arg[1]) or 200000)
local D = 20
local GRID = { pca__n_components = { 5, 10, 15 }, clf__C = { 0.0001, 0.001, 0.01, 1 } }

local PY = [[
import sys, time, json, numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold
out, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
X = rng.standard_normal((n, d)) * (1 + np.arange(d)) + np.arange(d)
w = np.where(np.arange(d) % 2 == 0, 1.0, -1.0) / (1 + np.arange(d))
y = (rng.random(n) < 1 / (1 + np.exp(-(X - np.arange(d)) @ w))).astype(np.float64)
if sys.argv[4] == "write":
    np.save(out + "/X.npy", X); np.save(out + "/y.npy", y); sys.exit(0)
pipe = Pipeline([("scale", StandardScaler()), ("pca", PCA(svd_solver="full")), ("clf", LogisticRegression())])
grid = {"pca__n_components": [5, 10, 15], "clf__C": [0.0001, 0.001, 0.01, 1]}
t = time.time()
s = GridSearchCV(pipe, grid, cv=KFold(3), n_jobs=2).fit(X, y)
dt = time.time() - t
fits = len(s.cv_results_["params"]) * 3 * 3
print("sklearn search: %.3fs, %d step fits (+3 refit), best %s score %.6f" % (dt, fits,
      json.dumps(s.best_params_, sort_keys=True), s.best_score_), flush=True)
]]

local r = os.execute("/usr/bin/python3 -c 'import sklearn' >/dev/null 2>&1")
if not (r == 0 or r == true) then
  print("scikit-learn is not installed for /usr/bin/python3 (scripts/deps.sh): nothing to compare")
  return
end
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))
local py = dir .. "/gen.py"
local f = assert(io.open(py, "w"))
f:write(PY)
f:close()
bu.run_python(py, ("%s %d %d write"):format(dir, n, D))

print(("== grid search: StandardScaler -> PCA -> LogisticRegression, 3 x 4 grid, 3 folds, %d x %d float64")
  :format(n, D))
local X, y = da.from_npy(dir .. "/X.npy"):compute(), da.from_npy(dir .. "/y.npy"):compute()
local pipe = ml.Pipeline { { "scale", ml.StandardScaler() }, { "pca", ml.PCA { svd_solver = "full" } },
  { "clf", ml.LogisticRegression() } }
local t0 = bu.clock()
local s = ml.GridSearchCV(pipe, GRID, { cv = 3, scheduler = "threads" }):fit(X, y)
local dt = bu.clock() - t0
print(("ldask search:   %.3fs, %d step fits (+3 refit) of a naive %d, best {\"clf__C\": %g, "
  .. "\"pca__n_components\": %d} score %.6f"):format(dt, s.n_fits_, s.n_naive_fits_, s.best_params_.clf__C,
  s.best_params_.pca__n_components, s.best_score_))
local out = bu.run_python(py, ("%s %d %d search"):format(dir, n, D))
io.write(out)
local st = tonumber(out:match("sklearn search: ([%d.]+)s"))
if st then print(("\nsklearn time / ldask time %.2fx (target >= 1)"):format(st / dt)) end
os.execute("rm -rf '" .. dir .. "'")
