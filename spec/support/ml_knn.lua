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

function KNN._predict(est, x)
  local k = est.params.n_neighbors
  local fx, fy = est.fit_x_, est.fit_y_
  local n, m, d = x.shape[1], fx.shape[1], x.shape[2]
  if k > m then error(string.format("Expected n_neighbors <= n_samples_fit, but n_neighbors = %d, n_samples_fit = %d", k, m)) end
  local xc = x:copy()
  local px, pf, py = xc:data(), fx:data(), fy:data()
  local out = nd.zeros({ n }, "float64")
  local po = out:data()
  local dist, idx = {}, {}
  for i = 0, n - 1 do
    for j = 0, m - 1 do
      local s = 0
      for c = 0, d - 1 do
        local t = px[i * d + c] - pf[j * d + c]
        s = s + t * t
      end
      dist[j + 1], idx[j + 1] = s, j
    end
    for j = m + 1, #idx do idx[j] = nil end
    table.sort(idx, function(a, b)
      if dist[a + 1] ~= dist[b + 1] then return dist[a + 1] < dist[b + 1] end
      return a < b
    end)
    local votes = {}
    for j = 1, k do
      local lab = py[idx[j]]
      votes[lab] = (votes[lab] or 0) + 1
    end
    local best, bestn = nil, -1
    for lab, v in pairs(votes) do
      if v > bestn or (v == bestn and lab < best) then best, bestn = lab, v end
    end
    po[i] = best
  end
  -- the arrays whose data pointers the loop read stay alive until here
  M.keep = { xc, fx, fy }
  return out
end

-- Accuracy of the predictions (scikit-learn's ClassifierMixin.score).
function KNN._score(est, x, y)
  local p = KNN._predict(est, x)
  local yc = y:astype("float64"):copy()
  local pp, py = p:data(), yc:data()
  local ok = 0
  for i = 0, p.size - 1 do if pp[i] == py[i] then ok = ok + 1 end end
  M.keep = { p, yc }
  return ok / p.size
end

local ColumnScaler = base.estimator("ColumnScaler", { power = 1 }, { module = "ml_knn", type = "transformer" })
M.ColumnScaler = ColumnScaler

-- X / std(X, axis 0)^power (ddof 0), the std of the training data.
function ColumnScaler._fit(est, x) est.scale_ = x:std(0) ^ est.params.power end

function ColumnScaler._transform(est, x) return x / est.scale_ end

return M
