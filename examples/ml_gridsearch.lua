-- examples/ml_gridsearch.lua: the seed talk's picture of a grid search as
-- one task graph. A StandardScaler -> PCA -> LogisticRegression pipeline is
-- searched over pca__n_components x clf__C with 3 folds; every step whose
-- parameters and input coincide between candidates is one task (the scaler
-- once per fold, PCA once per fold and n_components), so the search runs
-- far fewer fits than candidates x folds x steps. Prints both counts and
-- the best parameters, and writes the graph.
--   bin/ldask examples/ml_gridsearch.lua [graph.svg|graph.dot] [rows]
local da = require "ldask.array"
local ml = require "ldask.ml"

local out = arg and arg[1] or "ml_gridsearch.svg"
local n = tonumber(arg and arg[2]) or 3000

-- Seeded data: 8 features of different scales; the class depends on two
-- of them through a logistic model.
local X = da.random.normal({ n, 8 }, { chunks = { 1000, 8 }, seed = 42 })
  * da.from_table({ 4, 1, 3, 0.5, 2, 1, 0.25, 5 })
local noise = da.random.normal({ n }, { chunks = { 1000 }, seed = 7 })
local y = ((X[{ ":", 1 }] * 2 - X[{ ":", 6 }] * 3 + noise):gt(0)):astype("float64")

local pipe = ml.Pipeline {
  { "scale", ml.StandardScaler() },
  { "pca", ml.PCA() },
  { "clf", ml.LogisticRegression() },
}
local search = ml.GridSearchCV(pipe, {
  pca__n_components = { 2, 4, 8 },
  clf__C = { 0.001, 0.01, 0.1, 1 },
}, { cv = 3 })

search:fit(X, y)   -- X and y are computed once, then split per fold

print(("%d candidates x %d folds: %d fit tasks in one shared graph (a naive search runs %d)")
  :format(search.n_candidates_, search.n_splits_, search.n_fits_, search.n_naive_fits_))
print(("best parameters: clf__C = %g, pca__n_components = %d; mean accuracy %.4f")
  :format(search.best_params_.clf__C, search.best_params_.pca__n_components, search.best_score_))
print("best estimator: " .. tostring(search.best_estimator_))
local _, msg = search:visualize(out)
print(msg)
