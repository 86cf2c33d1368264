--- ldask.ml.metrics: accuracy_score, log_loss, r2_score and
-- mean_squared_error on ldask arrays (one block-wise pass: each row block
-- gives partial sums, the client combines them) and on ndarrays or Lua
-- lists (directly). Results are Lua numbers, as scikit-learn's floats.
-- @module ldask.ml.metrics
local base = require "ldask.ml.base"
local errors = require "ldask.errors"

local type, ipairs, pairs, tostring, format, log, max, min, sort =
  type, ipairs, pairs, tostring, string.format, math.log, math.max, math.min, table.sort
local misuse = errors.misuse
local keep = base.keep

local M = {}

-- Contiguous float64 data of ndarray A (a pointer kept alive by the copy).
local function f64(a)
  if a.dtype ~= "float64" then a = a:astype("float64") else a = a:copy() end
  return a, a:data()
end

-- Converts Y to an ndarray or an ldask array of NDIM dims (nil: 1 or 2).
local function operand(v, what, ndim)
  local _, x = base.as_data(v, what, ndim)
  return x
end

local function check_len(a, b, what)
  if a.shape[1] ~= b.shape[1] then
    misuse(format("%s: y_true has %d samples but %s has %d", what, a.shape[1],
      b.ndim == 2 and "y_pred (rows)" or "y_pred", b.shape[1]))
  end
end

-- Per-block partials (module fields: they travel to executors by path).

--- Partial of accuracy_score: {correct, n}.
function M._acc_part(t, p)
  local tc, tp = f64(t)
  local pc, pp = f64(p)
  local c = 0
  for i = 0, t.shape[1] - 1 do if tp[i] == pp[i] then c = c + 1 end end
  keep(tc, pc)
  return { c, t.shape[1] }
end

--- Partial of mean_squared_error / r2_score: {n, mean, M2 of y_true, sse}.
function M._sq_part(t, p)
  local tc, tp = f64(t)
  local pc, pp = f64(p)
  local n, mean, m2, sse = 0, 0, 0, 0
  for i = 0, t.shape[1] - 1 do
    local y = tp[i]
    n = n + 1
    local d = y - mean
    mean = mean + d / n
    m2 = m2 + d * (y - mean)
    local e = y - pp[i]
    sse = sse + e * e
  end
  keep(tc, pc)
  return { n, mean, m2, sse }
end

local function combine_sq(parts)
  local n, mean, m2, sse = 0, 0, 0, 0
  for _, q in ipairs(parts) do
    local nb, mb, m2b = q[1], q[2], q[3]
    if nb > 0 then
      local tot = n + nb
      local d = mb - mean
      m2 = m2 + m2b + d * d * n * nb / tot
      mean = mean + d * nb / tot
      n = tot
      sse = sse + q[4]
    end
  end
  return n, mean, m2, sse
end

--- accuracy_score(y_true, y_pred, {normalize = true}): the fraction (or,
-- with normalize = false, the count) of exact matches.
-- @param y_true 1-D labels (array, ndarray or list)
-- @param y_pred 1-D labels
-- @param[opt] opts `{ normalize = true }`
-- @return a number
function M.accuracy_score(y_true, y_pred, opts)
  local t, p = operand(y_true, "accuracy_score: y_true", 1), operand(y_pred, "accuracy_score: y_pred", 1)
  check_len(t, p, "accuracy_score")
  local c, n = 0, 0
  for _, q in ipairs(base.partials(M._acc_part, { t, p })) do c, n = c + q[1], n + q[2] end
  if opts and opts.normalize == false then return c end
  return c / n
end

--- mean_squared_error(y_true, y_pred, {squared = true}): the mean of the
-- squared errors (its square root with squared = false).
-- @param y_true 1-D targets
-- @param y_pred 1-D predictions
-- @param[opt] opts `{ squared = true }`
-- @return a number
function M.mean_squared_error(y_true, y_pred, opts)
  local t, p = operand(y_true, "mean_squared_error: y_true", 1), operand(y_pred, "mean_squared_error: y_pred", 1)
  check_len(t, p, "mean_squared_error")
  local n, _, _, sse = combine_sq(base.partials(M._sq_part, { t, p }))
  local mse = sse / n
  if opts and opts.squared == false then return math.sqrt(mse) end
  return mse
end

--- r2_score(y_true, y_pred): the coefficient of determination, 1 - SSE /
-- SST (sklearn: 1 for a perfect fit of constant y_true, 0 otherwise).
-- @param y_true 1-D targets
-- @param y_pred 1-D predictions
-- @return a number
function M.r2_score(y_true, y_pred)
  local t, p = operand(y_true, "r2_score: y_true", 1), operand(y_pred, "r2_score: y_pred", 1)
  check_len(t, p, "r2_score")
  local n, _, m2, sse = combine_sq(base.partials(M._sq_part, { t, p }))
  if n < 2 then misuse("r2_score: needs at least 2 samples") end
  if m2 == 0 then return sse == 0 and 1 or 0 end
  return 1 - sse / m2
end

--- Partial of log_loss's labels: the distinct values of a block (a set).
function M._labels_part(t)
  local tc, tp = f64(t)
  local s = {}
  for i = 0, t.shape[1] - 1 do s[tp[i]] = true end
  keep(tc)
  return s
end

--- Partial of log_loss: {sum of -log p of the true label, n}. LABELS maps a
-- label to its 0-based column; P is n x k, or 1-D (the last label's
-- probability, binary).
function M._logloss_part(t, p, labels, eps)
  local tc, tp = f64(t)
  local pc, pp = f64(p)
  local n = t.shape[1]
  local k = pc.ndim == 2 and pc.shape[2] or 2
  local s = 0
  for i = 0, n - 1 do
    local col = labels[tp[i]]
    if col == nil then error(format("log_loss: y_true has a label %s not in labels", tostring(tp[i])), 0) end
    local v, tot
    if pc.ndim == 1 then
      local q = min(max(pp[i], eps), 1 - eps)
      v = col == 1 and q or 1 - q
      tot = 1
    else
      tot = 0
      for j = 0, k - 1 do tot = tot + min(max(pp[i * k + j], eps), 1 - eps) end
      v = min(max(pp[i * k + col], eps), 1 - eps)
    end
    s = s - log(v / tot)
  end
  keep(tc, pc)
  return { s, n }
end

--- log_loss(y_true, y_prob, {eps = "auto", labels = nil, normalize = true}):
-- the cross-entropy of predicted probabilities: y_prob is n x classes
-- (columns in sorted label order, as predict_proba) or 1-D (binary: the
-- probability of the larger label). Probabilities are clipped to [eps,
-- 1 - eps] (eps "auto": 2.2e-16, float64's) and rows renormalised, as sklearn.
-- @param y_true 1-D labels
-- @param y_prob probabilities
-- @param[opt] opts `{ eps =, labels =, normalize = }`
-- @return a number
function M.log_loss(y_true, y_prob, opts)
  opts = opts or {}
  local t = operand(y_true, "log_loss: y_true", 1)
  local p = operand(y_prob, "log_loss: y_prob")
  check_len(t, p, "log_loss")
  local eps = opts.eps
  if eps == nil or eps == "auto" then eps = 2.220446049250313e-16 end
  local list = {}
  if opts.labels then
    for i, v in ipairs(opts.labels) do list[i] = v end
  else
    local set = {}
    for _, s in ipairs(base.partials(M._labels_part, { t })) do for v in pairs(s) do set[v] = true end end
    for v in pairs(set) do list[#list + 1] = v end
  end
  sort(list)
  local k = p.ndim == 2 and p.shape[2] or 2
  if #list == 1 then
    misuse("log_loss: y_true has only one label; give opts.labels (sklearn's labels=)")
  end
  if #list ~= k then
    misuse(format("log_loss: y_true has %d labels but y_prob has %d columns", #list, k))
  end
  local labels = {}
  for i, v in ipairs(list) do labels[v] = i - 1 end
  local s, n = 0, 0
  for _, q in ipairs(base.partials(M._logloss_part, { t, p }, labels, eps)) do s, n = s + q[1], n + q[2] end
  if opts.normalize == false then return s end
  return s / n
end

return M
