--- ldask.ml: machine learning on ldask arrays and dataframes, with
-- scikit-learn's names and contracts (fit, transform, predict,
-- predict_proba, score, get_params / set_params) and dask-ml's blocked
-- algorithms. `local ml = require "ldask.ml"`; estimators and functions are
-- fields (`ml.StandardScaler`, `ml.PCA`, `ml.train_test_split`, ...) and the
-- submodules too (`ml.preprocessing`, `ml.metrics`, ...), all loaded on
-- first use. See docs/ml.md.
-- @module ldask.ml
local M = {}

-- Submodules, by field name.
local modules = {
  base = "ldask.ml.base",
  preprocessing = "ldask.ml.preprocessing",
  decomposition = "ldask.ml.decomposition",
  cluster = "ldask.ml.cluster",
  metrics = "ldask.ml.metrics",
  model_selection = "ldask.ml.model_selection",
  linear_model = "ldask.ml.linear_model",
  pipeline = "ldask.ml.pipeline",
  search = "ldask.ml.search",
  glm = "ldask.ml.glm",
}

-- Exported names, by the submodule that defines them.
local exports = {
  preprocessing = { "StandardScaler", "MinMaxScaler", "OneHotEncoder", "PolynomialFeatures" },
  decomposition = { "PCA", "TruncatedSVD" },
  cluster = { "KMeans" },
  metrics = { "accuracy_score", "log_loss", "r2_score", "mean_squared_error" },
  model_selection = { "train_test_split", "KFold" },
  linear_model = { "LinearRegression", "LogisticRegression", "PoissonRegression" },
  pipeline = { "Pipeline", "make_pipeline" },
  search = { "GridSearchCV", "ParameterGrid", "StratifiedKFold" },
}

local owner = {}
for mod, names in pairs(exports) do
  for _, n in ipairs(names) do owner[n] = mod end
end

setmetatable(M, {
  __index = function(t, k)
    local mod = modules[k]
    if mod then
      local v = require(mod)
      rawset(t, k, v)
      return v
    end
    local sub = owner[k]
    if sub then
      local v = require(modules[sub])[k]
      rawset(t, k, v)
      return v
    end
    return nil
  end,
})

return M
