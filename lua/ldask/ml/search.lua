--- ldask.ml.search: GridSearchCV and ParameterGrid, scikit-learn's names and
-- contracts, run as ONE task graph the dask-ml way: the folds are split
-- once, and each candidate's pipeline is a chain of tasks
-- fit-step-1 → transform → fit-step-2 → … → score whose keys are tokens of
-- (step class + its parameters, the key of the data it sees). A prefix that
-- several candidates share (the scaler fitted on fold 0; PCA with 5
-- components fitted on the scaler's output of fold 0) is then the same key,
-- so it is computed once. The graph runs on the current scheduler (sync,
-- threads, or the cluster of the open client) through ldask.get.
-- @module ldask.ml.search
local graph = require "ldask.graph"
local tokenize = require "ldask.tokenize"
local misuse = require("ldask.errors").misuse
local nd = require "ldask.array.ndarray"
local base = require "ldask.ml.base"
local model_selection = require "ldask.ml.model_selection"
local ffi = require "ffi"

local type, pairs, ipairs, tostring, tonumber, setmetatable, getmetatable, pcall, select =
  type, pairs, ipairs, tostring, tonumber, setmetatable, getmetatable, pcall, select
local format, concat, sort, floor, sqrt, huge = string.format, table.concat, table.sort, math.floor,
  math.sqrt, math.huge
local quote, gkey, tok = graph.quote, graph.key, tokenize.tokenize

local M = {}

-- ---------------------------------------------------------------------------
-- ParameterGrid

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  sort(ks)
  return ks
end

-- Checks one grid (a table of name -> non-empty list of values).
local function check_grid(g, who)
  if type(g) ~= "table" or getmetatable(g) ~= nil then
    misuse(format("%s: a parameter grid must be a table of name = {values...}, got %s", who, type(g)))
  end
  for k, v in pairs(g) do
    if type(k) ~= "string" then
      misuse(format("%s: parameter names must be strings, got %s %s", who, type(k), tostring(k)))
    end
    if type(v) ~= "table" or getmetatable(v) ~= nil or #v == 0 then
      misuse(format("%s: the values of parameter '%s' must be a non-empty list, got %s", who, k,
        type(v) == "table" and "an empty or non-list table" or type(v)))
    end
  end
end

local Grid = {}
Grid.__index = Grid

--- ParameterGrid(param_grid): the candidates of a grid, in scikit-learn's
-- order. PARAM_GRID is a table `{ name = {v1, v2, ...}, ... }` or a list
-- of such tables (searched one after the other); within one table the
-- names are sorted and the last name varies fastest.
-- @param param_grid a grid or a list of grids
-- @return a ParameterGrid: `grid:len()`, `grid:get(i)` (1-based: a fresh
-- params table), `grid:list()`, `for i, params in grid:iter()`
-- @usage local ml = require "ldask.ml"
-- for _, p in ml.ParameterGrid({ a = { 1, 2 }, b = { true } }):iter() do print(p.a, p.b) end
function M.ParameterGrid(param_grid)
  local who = "ParameterGrid"
  if type(param_grid) ~= "table" then
    misuse(format("%s: expected a table of name = {values...} or a list of them, got %s", who, type(param_grid)))
  end
  local grids = {}
  if #param_grid > 0 then
    for i, g in ipairs(param_grid) do check_grid(g, who .. " (grid " .. i .. ")"); grids[i] = g end
  else
    check_grid(param_grid, who)
    grids[1] = param_grid
  end
  local parts, n = {}, 0
  for i, g in ipairs(grids) do
    local keys = sorted_keys(g)
    local size = 1
    for _, k in ipairs(keys) do size = size * #g[k] end
    parts[i] = { keys = keys, grid = g, size = size, first = n + 1 }
    n = n + size
  end
  return setmetatable({ parts = parts, n = n }, Grid)
end

--- The number of candidates.
-- @return an integer
function Grid:len() return self.n end

--- The I-th candidate (1-based), a fresh table name -> value.
-- @param i an integer in 1..len()
-- @return a params table
function Grid:get(i)
  if type(i) ~= "number" or i < 1 or i > self.n or i ~= floor(i) then
    misuse(format("ParameterGrid:get: index %s out of range 1..%d", tostring(i), self.n))
  end
  for _, p in ipairs(self.parts) do
    if i < p.first + p.size then
      local r = i - p.first
      local out = {}
      for j = #p.keys, 1, -1 do
        local vals = p.grid[p.keys[j]]
        local m = #vals
        out[p.keys[j]] = vals[r % m + 1]
        r = floor(r / m)
      end
      return out
    end
  end
end

--- All candidates, a list of params tables.
-- @return a list
function Grid:list()
  local out = {}
  for i = 1, self.n do out[i] = self:get(i) end
  return out
end

--- Iterates over (index, params).
-- @return an iterator
function Grid:iter()
  local i = 0
  return function()
    i = i + 1
    if i <= self.n then return i, self:get(i) end
  end
end

-- ---------------------------------------------------------------------------
-- Scorers

local SCORERS = {
  accuracy = function(est, x, y)
    return require("ldask.ml.metrics").accuracy_score(y, est:predict_local(x))
  end,
  r2 = function(est, x, y) return require("ldask.ml.metrics").r2_score(y, est:predict_local(x)) end,
  neg_mean_squared_error = function(est, x, y)
    return -require("ldask.ml.metrics").mean_squared_error(y, est:predict_local(x))
  end,
  neg_log_loss = function(est, x, y)
    return -require("ldask.ml.metrics").log_loss(y, est:predict_proba_local(x))
  end,
}
local function default_scorer(est, x, y) return est:score_local(x, y) end

local function scorer_names()
  local ks = sorted_keys(SCORERS)
  return concat(ks, ", ")
end

--- The scoring function of SCORING: nil (the estimator's own `score`),
-- a name ("accuracy", "r2", "neg_mean_squared_error", "neg_log_loss": higher
-- is better, as scikit-learn's) or a function(estimator, X, y) -> number.
-- @param scoring nil, a name or a function
-- @return a function(fitted_estimator, X, y) -> number
function M.scorer(scoring)
  if scoring == nil then return default_scorer end
  if type(scoring) == "function" then return scoring end
  local f = SCORERS[scoring]
  if not f then
    misuse(format("scoring: unknown scorer %s (expected nil, a function(est, X, y), or one of %s)",
      tostring(scoring), scorer_names()))
  end
  return f
end

-- ---------------------------------------------------------------------------
-- StratifiedKFold

local SKF = { __name = "StratifiedKFold" }
SKF.__index = SKF

--- StratifiedKFold{n_splits = 5}: K folds that keep each class's share in
-- every fold, scikit-learn's StratifiedKFold without shuffling (the same
-- folds for the same y). What `GridSearchCV{cv = k}` uses for a classifier,
-- as scikit-learn does. `skf:splits(X, y)` gives the list of `{train,
-- test}` int64 ndarrays of 0-based rows; `skf:split(X, y)` iterates over
-- them; `skf:get_n_splits()`.
-- @param params `{ n_splits = 5 }`
-- @return a StratifiedKFold
-- @usage local ml = require "ldask.ml"
-- local y = require("ldask.array.ndarray").from_table({ 0, 0, 0, 1, 1, 1 })
-- for _, test in ml.StratifiedKFold{ n_splits = 3 }:split(y, y) do print(test:totable()[1]) end
function M.StratifiedKFold(params)
  params = params or {}
  if type(params) ~= "table" then misuse("StratifiedKFold: expected a table of parameters {n_splits = 5}") end
  for k in pairs(params) do
    if k ~= "n_splits" then
      misuse(format("StratifiedKFold: unknown parameter '%s' (valid parameters: n_splits)", tostring(k)))
    end
  end
  local k = params.n_splits or 5
  if type(k) ~= "number" or k ~= floor(k) or k < 2 then
    misuse("StratifiedKFold: n_splits must be an integer of at least 2, got " .. tostring(k))
  end
  return setmetatable({ n_splits = k }, SKF)
end

--- The number of folds.
-- @return a number
function SKF:get_n_splits() return self.n_splits end

--- The folds of X, Y: a list of `{train, test}` int64 ndarrays.
-- @param X the samples (only their number is used)
-- @param y the class labels (a 1-D ndarray, list or ldask array)
-- @return a list
function SKF:splits(X, y)
  if y == nil then misuse("StratifiedKFold: splits needs the class labels y") end
  local _, yv = base.as_data(y, "y", 1)
  local labels = base.materialize(yv):tolist()
  local n, k = #labels, self.n_splits
  if X ~= nil and select(2, base.as_data(X, "X")).shape[1] ~= n then
    misuse("StratifiedKFold: X and y have different numbers of samples")
  end
  -- classes numbered by first appearance (sklearn's encoding)
  local code, counts, nclass, enc = {}, {}, 0, {}
  for i = 1, n do
    local c = code[labels[i]]
    if not c then nclass = nclass + 1; c = nclass; code[labels[i]] = c; counts[c] = 0 end
    enc[i] = c
    counts[c] = counts[c] + 1
  end
  local all_small = true
  for c = 1, nclass do if counts[c] >= k then all_small = false end end
  if all_small then
    misuse(format("StratifiedKFold: n_splits = %d cannot be greater than the number of members in each class", k))
  end
  -- alloc[f][c]: members of class c among the sorted codes f, f + k, ...
  local order = {}
  for i = 1, n do order[i] = enc[i] end
  sort(order)
  local alloc = {}
  for f = 1, k do
    local a = {}
    for c = 1, nclass do a[c] = 0 end
    for i = f, n, k do a[order[i]] = a[order[i]] + 1 end
    alloc[f] = a
  end
  -- each class's members, in row order, fill fold 1's share, then fold 2's, ...
  local fold_of, cur, left = {}, {}, {}
  for c = 1, nclass do cur[c], left[c] = 1, alloc[1][c] end
  for i = 1, n do
    local c = enc[i]
    while left[c] == 0 do cur[c] = cur[c] + 1; left[c] = alloc[cur[c]][c] end
    fold_of[i] = cur[c]
    left[c] = left[c] - 1
  end
  local out = {}
  for f = 1, k do
    local tr, te = {}, {}
    for i = 1, n do
      if fold_of[i] == f then te[#te + 1] = i - 1 else tr[#tr + 1] = i - 1 end
    end
    out[f] = { nd.from_table(tr, "int64"), nd.from_table(te, "int64") }
  end
  return out
end

--- Iterates over the folds: `for train, test in skf:split(X, y)`.
-- @param X the samples
-- @param y the class labels
-- @return an iterator
function SKF:split(X, y)
  local list, i = self:splits(X, y), 0
  return function()
    i = i + 1
    if list[i] then return list[i][1], list[i][2] end
  end
end

-- ---------------------------------------------------------------------------
-- GridSearchCV

local Search = {}
local search_mt = { __index = Search, __name = "GridSearchCV" }
M.GridSearchCV_mt = search_mt

local OPTIONS = { cv = true, scoring = true, refit = true, scheduler = true, error_score = true }

local is_pipeline = require("ldask.ml.pipeline").is_pipeline

-- True when EST is a classifier (a Pipeline: when its last step is), as
-- sklearn.base.is_classifier.
local function is_classifier(est)
  if is_pipeline(est) then est = est.steps[#est.steps][2] end
  local mt = type(est) == "table" and getmetatable(est)
  return mt and mt._estimator_type == "classifier" or false
end

-- The class name of estimator EST (for keys and messages).
local function class_name(est)
  if type(est) == "table" then
    local mt = getmetatable(est)
    local n = (mt and mt.__name) or est.__name
    if type(n) == "string" then return n end
  end
  return type(est)
end

local function check_estimator(est, who)
  if type(est) ~= "table" or type(est.clone) ~= "function" or type(est.fit_local) ~= "function"
    or type(est.set_params) ~= "function" then
    misuse(format("%s: expected an estimator (an ldask.ml estimator or a Pipeline), got %s", who,
      type(est) == "table" and tostring(est) or type(est)))
  end
end

--- GridSearchCV(estimator, param_grid, opts): an exhaustive search over
-- PARAM_GRID (see ParameterGrid; names of a Pipeline's steps'
-- parameters are `step__param`) scored by cross-validation, as
-- scikit-learn's, run as one task graph in which every step whose
-- parameters and input data coincide between candidates is one task.
-- OPTS: `cv` (number of folds, default 5, a KFold, or a list of
-- `{train_indices, test_indices}` pairs of 0-based indices), `scoring`
-- (nil for the estimator's score, a scorer name or a function(est, X, y)),
-- `refit` (default true: `best_estimator_` fitted on all the data),
-- `scheduler` (as ldask.get's; default the current one), `error_score`
-- ("raise", the default as dask-ml's, or a number given to the candidates
-- whose fit or score fails).
-- @param estimator an estimator or a Pipeline
-- @param param_grid a grid or a list of grids
-- @param[opt] opts options
-- @return a GridSearchCV; call `:fit(X, y)`
-- @usage local ml, da = require "ldask.ml", require "ldask.array"
-- local X = da.random.normal({ 300, 4 }, { chunks = { 100, 4 }, seed = 0 })
-- local y = X[{ ":", 0 }]:gt(0):astype("float64")
-- local pipe = ml.Pipeline{ { "scale", ml.StandardScaler() }, { "clf", ml.LogisticRegression() } }
-- local s = ml.GridSearchCV(pipe, { clf__C = { 0.01, 1 } }, { cv = 3 }):fit(X, y)
-- print(s.best_params_.clf__C, s.n_fits_, s.n_naive_fits_)   --> 1  9  12
function M.GridSearchCV(estimator, param_grid, opts)
  local who = "GridSearchCV"
  check_estimator(estimator, who)
  if opts ~= nil and (type(opts) ~= "table" or getmetatable(opts) ~= nil) then
    misuse(format("%s: options must be a table, got %s", who, type(opts)))
  end
  opts = opts or {}
  for k in pairs(opts) do
    if not OPTIONS[k] then
      misuse(format("%s: unknown option '%s' (valid: %s)", who, tostring(k), concat(sorted_keys(OPTIONS), ", ")))
    end
  end
  local grid = M.ParameterGrid(param_grid)
  -- every name of the grid must be a parameter of the estimator
  for i = 1, grid:len() do estimator:clone():set_params(grid:get(i)) end
  if opts.scoring ~= nil then M.scorer(opts.scoring) end
  local cv = opts.cv
  if cv == nil then cv = 5 end
  if type(cv) == "number" then
    if cv ~= floor(cv) or cv < 2 then misuse(format("%s: cv must be an integer >= 2, got %s", who, tostring(cv))) end
  elseif type(cv) ~= "table" then
    misuse(format("%s: cv must be a number of folds, a KFold or a list of {train, test} index pairs, got %s", who,
      type(cv)))
  end
  local es = opts.error_score
  if es == nil then es = "raise" end
  if es ~= "raise" and type(es) ~= "number" then
    misuse(format("%s: error_score must be 'raise' or a number, got %s", who, tostring(es)))
  end
  local refit = opts.refit
  if refit == nil then refit = true end
  return setmetatable({
    estimator = estimator, param_grid = param_grid, grid = grid, cv = cv, scoring = opts.scoring,
    refit = refit, scheduler = opts.scheduler, error_score = es,
  }, search_mt)
end

-- In-memory form of X (an ndarray, an ldask collection computed once, or
-- false for nil).
local function materialize(x, sched, what)
  if x == nil then return false end
  local kind, v = base.as_data(x, what)
  if kind == "ndarray" then return v end
  return (require("ldask.base").compute(v, { scheduler = sched }))
end

-- Fold indices IDX (an integer ndarray or a list of 0-based integers) as
-- an int64 ndarray, checked against N rows.
local function as_index(idx, n, f, what)
  if type(idx) == "table" and getmetatable(idx) == nil then idx = nd.from_table(idx, "int64") end
  if not nd.is_ndarray(idx) or idx.ndim ~= 1 then
    misuse(format("GridSearchCV: fold %d: %s indices must be a 1-D ndarray or a list of 0-based integers, got %s",
      f, what, nd.is_ndarray(idx) and (idx.ndim .. "-D ndarray") or type(idx)))
  end
  idx = idx:astype("int64"):copy()
  local p = idx:data()
  for i = 0, idx.size - 1 do
    local r = tonumber(p[i])
    if r < 0 or r >= n then
      misuse(format("GridSearchCV: fold %d: %s index %d out of range for %d samples", f, what, r, n))
    end
  end
  return idx
end

-- The folds of CV over X, Y: a list of { train, test } index sets.
local function folds_of(cv, x, y, classifier)
  local splits
  if type(cv) == "number" and classifier and y then
    splits = M.StratifiedKFold { n_splits = cv }:splits(x, y)
  elseif type(cv) == "number" then
    splits = model_selection.KFold { n_splits = cv }:splits(x)
  elseif type(cv.splits) == "function" then
    splits = cv:splits(x, y)
  elseif type(cv.split) == "function" then
    splits = cv:split(x, y)
  else
    splits = cv
  end
  if type(splits) == "function" then
    local out = {}
    for train, test in splits do out[#out + 1] = { train, test } end
    splits = out
  end
  if type(splits) ~= "table" or #splits == 0 then misuse("GridSearchCV: cv gave no folds") end
  for i, s in ipairs(splits) do
    if type(s) ~= "table" or s[1] == nil or s[2] == nil then
      misuse(format("GridSearchCV: fold %d is not a {train, test} pair", i))
    end
  end
  return splits
end

-- The steps of EST: { {name, step}, ... } (one unnamed step for a plain
-- estimator).
local function steps_of(est)
  if is_pipeline(est) then return est.steps end
  return { { false, est } }
end

-- Builds the search graph of SELF over in-memory X, Y and FOLDS. Returns
-- the graph, the score keys (keys[c][f]), and the number of fit tasks.
local function build(self, x, y, folds)
  local g = {}
  local xkey = "X-" .. tok(x)
  g[xkey] = x
  local ykey = false
  if y then ykey = "y-" .. tok(y); g[ykey] = y end
  local es = self.error_score
  local stok = tok(self.scoring, es)
  local fold_keys = {}
  for f, split in ipairs(folds) do
    local tr, te = as_index(split[1], x.shape[1], f, "train"), as_index(split[2], x.shape[1], f, "test")
    local fk = {}
    local t1, t2 = tok(xkey, ykey, tr), tok(xkey, ykey, te)
    fk.xtr, fk.xte = gkey("X-train-" .. t1, f - 1), gkey("X-test-" .. t2, f - 1)
    g[fk.xtr] = { M._take_rows, xkey, tr }
    g[fk.xte] = { M._take_rows, xkey, te }
    fk.ytr, fk.yte = false, false
    if ykey then
      fk.ytr, fk.yte = gkey("y-train-" .. t1, f - 1), gkey("y-test-" .. t2, f - 1)
      g[fk.ytr] = { M._take_rows, ykey, tr }
      g[fk.yte] = { M._take_rows, ykey, te }
    end
    fold_keys[f] = fk
  end
  local keys, nfits, naive = {}, 0, 0
  for c = 1, self.grid:len() do
    local cand = self.estimator:clone():set_params(self.grid:get(c))
    local steps = steps_of(cand)
    local last = 0
    for j, st in ipairs(steps) do
      if st[2] ~= "passthrough" and st[2] ~= nil then last = j end
    end
    if last == 0 or last ~= #steps then
      misuse("GridSearchCV: the last step of the pipeline must be an estimator, not 'passthrough'")
    end
    keys[c] = {}
    for f, fk in ipairs(fold_keys) do
      local prev_tr, prev_te = fk.xtr, fk.xte
      for j = 1, last do
        local est = steps[j][2]
        if est ~= "passthrough" then
          local name = class_name(est)
          naive = naive + 1
          local fitk = gkey("fit-" .. name .. "-" .. tok(base.tokenize(est), prev_tr, fk.ytr, es), f - 1)
          if g[fitk] == nil then
            g[fitk] = { M._fit, quote(est), prev_tr, fk.ytr, es }
            nfits = nfits + 1
          end
          if j < last then
            local trk = gkey("transform-train-" .. name .. "-" .. tok(fitk, prev_tr), f - 1)
            local tek = gkey("transform-test-" .. name .. "-" .. tok(fitk, prev_te), f - 1)
            g[trk] = g[trk] or { M._transform, fitk, prev_tr }
            g[tek] = g[tek] or { M._transform, fitk, prev_te }
            prev_tr, prev_te = trk, tek
          else
            local sk = gkey("score-" .. name .. "-" .. tok(fitk, prev_te, fk.yte, stok), f - 1)
            g[sk] = g[sk] or { M._score, fitk, prev_te, fk.yte, quote(self.scoring or false), es }
            keys[c][f] = sk
          end
        end
      end
    end
  end
  return g, keys, nfits, naive
end

local function mean_std(v)
  local n, s = #v, 0
  for i = 1, n do s = s + v[i] end
  local m = s / n
  local q = 0
  for i = 1, n do q = q + (v[i] - m) ^ 2 end
  return m, sqrt(q / n)
end

-- scikit-learn's rank_test_score: 1 for the best mean, ties share the
-- smallest rank (scipy's rankdata method "min"); NaN ranks last.
local function ranks(means)
  local n = #means
  local order = {}
  for i = 1, n do order[i] = i end
  local function val(i) local m = means[i]; return m ~= m and -huge or m end
  sort(order, function(a, b)
    local va, vb = val(a), val(b)
    if va ~= vb then return va > vb end
    return a < b
  end)
  local r = {}
  for p, i in ipairs(order) do
    local prev = order[p - 1]
    if prev and val(prev) == val(i) then r[i] = r[prev] else r[i] = p end
  end
  return r
end

--- Runs the search on X (features) and Y (targets, or nil): X and Y are
-- in-memory ndarrays or ldask arrays/dataframes (computed once, then split
-- per fold). Sets `cv_results_` (columns as Lua lists, one entry per
-- candidate: `params`, `param_<name>`, `mean_test_score`,
-- `std_test_score`, `rank_test_score`, `split<i>_test_score` with i from
-- 0), `best_index_` (1-based, into those lists), `best_params_`,
-- `best_score_`, `best_estimator_` (refit on all the data when refit),
-- `n_splits_`, `n_candidates_`, `n_fits_` (fit tasks the shared graph
-- ran) and `n_naive_fits_` (fits a search without sharing runs:
-- candidates × folds × steps), `dask_graph_` (the graph).
-- @param X features
-- @param[opt] y targets
-- @return self
function Search:fit(X, y)
  local x = materialize(X, self.scheduler, "X")
  local yy = materialize(y, self.scheduler, "y")
  if x.ndim < 1 then misuse("GridSearchCV:fit: X must have at least one dimension") end
  if yy and yy.shape[1] ~= x.shape[1] then
    misuse(format("GridSearchCV:fit: X has %d rows but y has %d", x.shape[1], yy.shape[1]))
  end
  local folds = folds_of(self.cv, x, yy or nil, is_classifier(self.estimator))
  local g, keys, nfits, naive = build(self, x, yy, folds)
  local res = require("ldask.base").get(g, keys, { scheduler = self.scheduler })
  local nc, nf = self.grid:len(), #folds
  local out = { params = {}, mean_test_score = {}, std_test_score = {}, rank_test_score = {} }
  for f = 1, nf do out["split" .. (f - 1) .. "_test_score"] = {} end
  local names = {}
  for c = 1, nc do
    local p = self.grid:get(c)
    out.params[c] = p
    for k in pairs(p) do names[k] = true end
    local scores = {}
    for f = 1, nf do
      local sc = res[c][f]
      if type(sc) ~= "number" then sc = tonumber(sc) end
      scores[f] = sc
      out["split" .. (f - 1) .. "_test_score"][c] = sc
    end
    out.mean_test_score[c], out.std_test_score[c] = mean_std(scores)
  end
  for k in pairs(names) do
    local col = {}
    for c = 1, nc do col[c] = out.params[c][k] end
    out["param_" .. k] = col
  end
  out.rank_test_score = ranks(out.mean_test_score)
  local best = 1
  for c = 1, nc do if out.rank_test_score[c] < out.rank_test_score[best] then best = c end end
  self.cv_results_ = out
  self.best_index_ = best
  self.best_params_ = self.grid:get(best)
  self.best_score_ = out.mean_test_score[best]
  self.n_splits_, self.n_candidates_ = nf, nc
  self.n_fits_, self.n_naive_fits_ = nfits, naive
  self.dask_graph_, self.score_keys_ = g, keys
  self.scorer_ = M.scorer(self.scoring)
  if self.refit then
    self.best_estimator_ = self.estimator:clone():set_params(self.best_params_):fit(x, yy or nil)
  end
  return self
end

local function fitted(self, what)
  if self.cv_results_ == nil then misuse("GridSearchCV is not fitted yet: call fit first") end
  if what and self.best_estimator_ == nil then
    misuse("GridSearchCV:" .. what .. ": not available with refit = false")
  end
end

--- Predictions of best_estimator_ for X.
-- @param X features
-- @return its predict's result
function Search:predict(X) fitted(self, "predict"); return self.best_estimator_:predict(X) end

--- Class probabilities of best_estimator_ for X.
-- @param X features
-- @return its predict_proba's result
function Search:predict_proba(X) fitted(self, "predict_proba"); return self.best_estimator_:predict_proba(X) end

--- best_estimator_'s transform of X.
-- @param X features
-- @return its transform's result
function Search:transform(X) fitted(self, "transform"); return self.best_estimator_:transform(X) end

--- The score of best_estimator_ on X, Y with the search's scoring.
-- @param X features
-- @param[opt] y targets
-- @return a number
function Search:score(X, y)
  fitted(self, "score")
  if self.scoring == nil then return self.best_estimator_:score(X, y) end
  local x = materialize(X, self.scheduler, "X")
  local yy = materialize(y, self.scheduler, "y")
  return self.scorer_(self.best_estimator_, x, yy or nil)
end

--- The search's graph as a collection (for ldask.visualize, ldask.get).
-- @return an object with the collection protocol
function Search:graph()
  fitted(self)
  local g, keys = self.dask_graph_, self.score_keys_
  return setmetatable({}, { __index = {
    __ldask_graph = function() return g end,
    __ldask_keys = function() return keys end,
    __ldask_postcompute = function() return nil end,
  } })
end

--- Draws the search's graph (the seed talk's picture): nodes are the fold
-- splits, each shared fit, transform and score task, shaded by execution
-- order (see ldask.visualize).
-- @param[opt] filename ends in .dot, .svg or .png (default "mydask.svg")
-- @param[opt] opts as ldask.visualize's
-- @return the path written and a message
function Search:visualize(filename, opts)
  return require("ldask.visualize").visualize(self:graph(), filename, opts)
end

search_mt.__tostring = function(self)
  return format("GridSearchCV(estimator=%s, %d candidates, cv=%s)", tostring(self.estimator), self.grid:len(),
    tostring(self.cv))
end

-- ---------------------------------------------------------------------------
-- Task functions (fields of this module: they travel by name)

-- The rows of ndarray X at IDX (an int64 ndarray of 0-based indices,
-- checked when the graph was built), a new contiguous ndarray. The arrays
-- whose pointers the loop uses are read after it (docs/architecture.md,
-- "Raw pointers and their owners").
function M._take_rows(x, idx)
  local n = idx.size
  local shape = x.shape
  shape[1] = n
  local out = nd.alloc(shape, x.dtype)
  local row = 1
  for d = 2, #shape do row = row * shape[d] end
  local src, ic = x:copy(), idx:astype("float64")
  local bytes = row * src.itemsize
  local sp, dp, ip = ffi.cast("char *", src:data()), ffi.cast("char *", out:data()), ic:data()
  for i = 0, n - 1 do ffi.copy(dp + i * bytes, sp + ip[i] * bytes, bytes) end
  M._keep(src, ic)
  return out
end

-- Reads its arguments (keeps them alive up to the call).
function M._keep(...) return ... end

-- With error_score a number, a failed fit gives this marker instead of
-- raising; the tasks after it pass it on and the score task gives
-- error_score (as scikit-learn's error_score=<number>).
local function failed(v) return type(v) == "table" and getmetatable(v) == nil and v.failed_fit ~= nil end

-- A fitted copy of step EST (never the graph's own instance: the sync
-- scheduler shares it between tasks) on X, Y (false: none).
function M._fit(est, x, y, error_score)
  if failed(x) then return x end
  if y == false then y = nil end
  if error_score == "raise" then return est:clone():fit_local(x, y) end
  local ok, r = pcall(function() return est:clone():fit_local(x, y) end)
  if ok then return r end
  return { failed_fit = tostring(r) }
end

-- The transform of X by the fitted step FITTED.
function M._transform(fitted, x)
  if failed(fitted) then return fitted end
  return fitted:transform_local(x)
end

-- The score of fitted final step FITTED on X, Y with SCORING (false: the
-- estimator's own score; a scorer name; or a function(est, X, y)).
function M._score(fitted, x, y, scoring, error_score)
  if failed(fitted) or failed(x) then return error_score end
  if y == false then y = nil end
  local f = M.scorer(scoring or nil)
  if error_score == "raise" then return f(fitted, x, y) end
  local ok, r = pcall(f, fitted, x, y)
  if ok then return r end
  return error_score
end

return M
