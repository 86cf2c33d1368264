-- spec/support/ml_knn.lua: a small estimator of the search specs, scikit-
-- learn's KNeighborsClassifier (brute force, uniform weights, Euclidean
-- distance; a tied vote goes to the smallest label, as scipy's mode) and a
-- `ColumnScaler` transformer (divides by the columns' std to a power), both
-- made with ldask.ml.base so they travel to executor threads and (after
-- client:upload_file of this file) to workers. Module name: ml_knn.
local base = require "ldask.ml.base"
local nd = require "ldask.array.ndarray"

local M = {}

-- Fits run in this state (the sync scheduler's specs count them).
M.fits = 0

local KNN = base.estimator("KNeighborsClassifier", { n_neighbors = 5 },
  { module = "ml_knn", type = "classifier" })
M.KNeighborsClassifier = KNN

function KNN._fit(est, x, y)
  est.fit_x_ = x:copy()
  est.fit_y_ = y:astype("float64"):copy()
  M.fits = M.fits + 1
end

-- (Plain Lua lists of the data, no raw pointers: the loops allocate, and
-- a pointer does not keep its ndarray alive; docs/architecture.md.)
function KNN._predict(est, x)
  local k = est.params.n_neighbors
  local n, m, d = x.shape[1], est.fit_x_.shape[1], x.shape[2]
  if k > m then
    error(string.format("Expected n_neighbors <= n_samples_fit, but n_neighbors = %d, n_samples_fit = %d", k, m))
  end
  local px, pf, py = x:tolist(), est.fit_x_:tolist(), est.fit_y_:tolist()
  -- the labels in ascending order (a tied vote goes to the smallest)
  local labels, seen = {}, {}
  for _, v in ipairs(py) do
    if not seen[v] then seen[v] = true; labels[#labels + 1] = v end
  end
  table.sort(labels)
  local pred = {}
  local dist = {}
  for i = 0, n - 1 do
    for j = 1, m do
      local s = 0
      for c = 1, d do
        local t = px[i * d + c] - pf[(j - 1) * d + c]
        s = s + t * t
      end
      dist[j] = s
    end
    -- the k nearest (ties to the lower index), by selection
    local taken, votes = {}, {}
    for _ = 1, k do
      local bj
      for j = 1, m do
        if not taken[j] and (bj == nil or dist[j] < dist[bj]) then bj = j end
      end
      taken[bj] = true
      local lab = py[bj]
      votes[lab] = (votes[lab] or 0) + 1
    end
    local best, bestn = nil, -1
    for _, lab in ipairs(labels) do
      local v = votes[lab]
      if v and v > bestn then best, bestn = lab, v end
    end
    pred[i + 1] = best
  end
  return nd.from_table(pred, "float64")
end

-- Accuracy of the predictions (scikit-learn's ClassifierMixin.score).
function KNN._score(est, x, y)
  local p, t = KNN._predict(est, x):tolist(), y:tolist()
  local ok = 0
  for i = 1, #p do if p[i] == t[i] then ok = ok + 1 end end
  return ok / #p
end

local ColumnScaler = base.estimator("ColumnScaler", { power = 1 }, { module = "ml_knn", type = "transformer" })
M.ColumnScaler = ColumnScaler

-- X / std(X, axis 0)^power (ddof 0), the std of the training data.
function ColumnScaler._fit(est, x) est.scale_ = x:std(0) ^ est.params.power end

function ColumnScaler._transform(est, x) return x / est.scale_ end

return M
