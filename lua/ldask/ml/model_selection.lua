--- ldask.ml.model_selection: train_test_split (block-wise on ldask arrays,
-- as dask-ml: every row block is split on its own, so no data moves between
-- blocks) and KFold (index ndarrays of the folds, as scikit-learn's).
-- GridSearchCV lives in ldask.ml.search.
-- @module ldask.ml.model_selection
local base = require "ldask.ml.base"
local nd = require "ldask.array.ndarray"
local errors = require "ldask.errors"
local codec = require "ldask.codec"

local type, ipairs, pairs, tostring, format, floor, ceil, select, setmetatable, getmetatable =
  type, ipairs, pairs, tostring, string.format, math.floor, math.ceil, select, setmetatable, getmetatable
local misuse = errors.misuse
local unpack = unpack

local M = {}

-- ---------------------------------------------------------------------------
-- KFold

--- KFold{n_splits = 5, shuffle = false, random_state = false}: K folds of
-- consecutive samples (after a seeded shuffle with shuffle = true); the
-- first n % K folds have one more sample, as scikit-learn's.
-- `kf:split(X)` iterates `train, test` (int64 index ndarrays):
-- `for train, test in kf:split(X) do ... end`; `kf:splits(X)` gives the
-- list of `{train, test}`; `kf:get_n_splits()`.
-- @table KFold
local KFold = { __name = "KFold" }
KFold.__index = KFold
M.KFold = KFold
codec.register("ldask.ml.KFold", KFold, "ldask.ml.model_selection")

local function kfold_new(params)
  params = params or {}
  if type(params) ~= "table" then misuse("KFold: expected a table of parameters {n_splits = 5, ...}") end
  local p = { n_splits = 5, shuffle = false, random_state = false }
  for k, v in pairs(params) do
    if p[k] == nil then
      misuse(format("KFold: unknown parameter '%s' (valid parameters: n_splits, random_state, shuffle)", tostring(k)))
    end
    p[k] = v
  end
  if type(p.n_splits) ~= "number" or p.n_splits < 2 or p.n_splits ~= floor(p.n_splits) then
    misuse("KFold: n_splits must be an integer of at least 2, got " .. tostring(p.n_splits))
  end
  return setmetatable({ n_splits = p.n_splits, shuffle = p.shuffle, random_state = p.random_state }, KFold)
end
setmetatable(KFold, { __call = function(_, params) return kfold_new(params) end })
KFold.new = kfold_new

KFold.__tostring = function(kf)
  return format("KFold(n_splits=%d, random_state=%s, shuffle=%s)", kf.n_splits,
    kf.random_state == false and "None" or tostring(kf.random_state), tostring(kf.shuffle))
end

--- kf:get_n_splits(): the number of folds.
-- @return a number
function KFold.get_n_splits(kf) return kf.n_splits end

-- Number of samples of X (an array, ndarray, dataframe, number or list).
local function n_samples(X)
  if type(X) == "number" then return X end
  if type(X) == "table" and getmetatable(X) == nil then return #X end
  local _, x = base.as_data(X, "X")
  return x.shape[1]
end

--- kf:splits(X): the folds as a list of `{train, test}` (int64 ndarrays of
-- 0-based row indices, ascending). X may also be a number of samples.
-- @return a list
function KFold.splits(kf, X)
  local n = n_samples(X)
  local k = kf.n_splits
  if k > n then misuse(format("KFold: cannot have n_splits = %d greater than the number of samples %d", k, n)) end
  local perm, order
  if kf.shuffle then
    perm = base.rng(kf.random_state or 0):permutation(n)
    order = perm:data()
  end
  local out, start = {}, 0
  for f = 0, k - 1 do
    local size = floor(n / k) + (f < n % k and 1 or 0)
    local test, train = nd.zeros({ size }, "int64"), nd.zeros({ n - size }, "int64")
    local tp, rp = test:data(), train:data()
    local ti, ri = 0, 0
    -- test: positions [start, start + size) of the order
    local marks = {}
    for i = start, start + size - 1 do marks[order and tonumber(order[i]) or i] = true end
    for i = 0, n - 1 do
      if marks[i] then tp[ti] = i; ti = ti + 1 else rp[ri] = i; ri = ri + 1 end
    end
    out[f + 1] = { train, test }
    start = start + size
  end
  base.keep(perm)
  return out
end

--- kf:split(X): an iterator of `train, test` index ndarrays, one pair per fold.
-- @return an iterator
function KFold.split(kf, X)
  local list = kf:splits(X)
  local i = 0
  return function()
    i = i + 1
    local s = list[i]
    if s then return s[1], s[2] end
  end
end

-- ---------------------------------------------------------------------------
-- train_test_split

--- take_rows(a, rows): rows ROWS (an int64 ndarray of 0-based indices) of
-- ndarray A, a new ndarray (for index splits such as KFold's).
-- @param a an ndarray
-- @param rows an int64 ndarray
-- @return an ndarray
function M.take_rows(a, rows)
  local k = rows.shape[1]
  local shape = { k }
  for d = 2, a.ndim do shape[d] = a.shape[d] end
  local src = a:copy()
  local out = nd.zeros(shape, src.dtype)
  local w = 1
  for d = 2, a.ndim do w = w * a.shape[d] end
  local sp, op, rp = src:data(), out:data(), rows:data()
  for i = 0, k - 1 do
    local r = tonumber(rp[i])
    for j = 0, w - 1 do op[i * w + j] = sp[r * w + j] end
  end
  base.keep(src, rows)
  return out
end
local take_rows = M.take_rows

-- The test count of N samples for TEST_SIZE / TRAIN_SIZE (sklearn's rule:
-- test = ceil(test_size * n), train = floor(train_size * n)).
local function sizes(n, test_size, train_size)
  local nt, ntr
  if test_size then nt = test_size < 1 and ceil(test_size * n) or test_size end
  if train_size then ntr = train_size < 1 and floor(train_size * n) or train_size end
  if not nt and not ntr then nt = ceil(0.25 * n) end
  nt = nt or n - ntr
  ntr = ntr or n - nt
  return ntr, nt
end

--- Task: the train or test rows of block A (block number B): the block's
-- own seeded permutation, then its first n_train rows are train.
function M._split_block(a, b, seed, shuffle, test_size, train_size, which)
  local n = a.shape[1]
  local ntr, nt = sizes(n, test_size, train_size)
  local perm
  if shuffle then
    perm = base.rng(seed * 1000003 + b):permutation(n)
  else
    perm = nd.zeros({ n }, "int64")
    local d = perm:data()
    for i = 0, n - 1 do d[i] = i end
  end
  local lo, cnt = 0, ntr
  if which == "test" then lo, cnt = ntr, nt end
  return take_rows(a, perm:slice({ { lo, lo + cnt } }))
end

--- train_test_split(X, y, ..., {test_size = 0.25, train_size, random_state,
-- shuffle = true}): splits each of the arrays into train and test parts,
-- returning `X_train, X_test, y_train, y_test, ...`. ldask arrays are
-- split block by block (dask-ml's blockwise split: each row block shuffled
-- with its own seeded generator, its first rows train, the rest test), so
-- the parts stay lazy and keep the row blocks; ndarrays are split as a
-- whole (one seeded permutation). Sizes follow sklearn: test = ceil(test_size
-- * n) (per block for arrays), train the rest.
-- @param ... arrays with the same number of rows, then optionally the options
-- @return train and test of each array, in order
function M.train_test_split(...)
  local n = select("#", ...)
  local args = { ... }
  local opts = {}
  local last = args[n]
  if n > 0 and type(last) == "table" and getmetatable(last) == nil and last[1] == nil then
    opts = last
    n = n - 1
  end
  if n == 0 then misuse("train_test_split: no arrays given") end
  for k in pairs(opts) do
    if k ~= "test_size" and k ~= "train_size" and k ~= "random_state" and k ~= "shuffle" and k ~= "blockwise" then
      misuse(format("train_test_split: unknown option '%s' (test_size, train_size, random_state, shuffle)", tostring(k)))
    end
  end
  local test_size, train_size = opts.test_size, opts.train_size
  for _, v in ipairs({ test_size or 0.5, train_size or 0.5 }) do
    if type(v) ~= "number" or v <= 0 then
      misuse("train_test_split: test_size and train_size must be positive numbers (fractions below 1 or counts)")
    end
  end
  if test_size and train_size and test_size < 1 and train_size < 1 and test_size + train_size > 1 then
    misuse("train_test_split: test_size + train_size must be at most 1")
  end
  local shuffle = opts.shuffle ~= false
  local seed = opts.random_state or 0
  local xs, kinds = {}, {}
  for i = 1, n do kinds[i], xs[i] = base.as_data(args[i], format("train_test_split: argument %d", i)) end
  local rows = xs[1].shape[1]
  for i = 2, n do
    if xs[i].shape[1] ~= rows then
      misuse(format("train_test_split: arguments 1 and %d have %d and %d rows", i, rows, xs[i].shape[1]))
    end
  end
  local lazy = false
  for i = 1, n do if kinds[i] == "array" then lazy = true end end
  local out = {}
  if not lazy then
    local ntr, nt = sizes(rows, test_size, train_size)
    if ntr <= 0 or nt <= 0 then
      misuse(format("train_test_split: %d samples give an empty train or test set", rows))
    end
    local perm = base.rng(seed):permutation(rows)
    if not shuffle then
      local d = perm:data()
      for i = 0, rows - 1 do d[i] = i end
    end
    for i = 1, n do
      out[#out + 1] = take_rows(xs[i], perm:slice({ { 0, ntr } }))
      out[#out + 1] = take_rows(xs[i], perm:slice({ { ntr, rows } }))
    end
    return unpack(out)
  end
  local da = require "ldask.array"
  local acore = require "ldask.array.core"
  local graph = require "ldask.graph"
  local first
  for i = 1, n do if kinds[i] == "array" then first = xs[i]; break end end
  local chunks = first.chunks[1]
  for i = 1, n do
    local x = xs[i]
    if kinds[i] == "ndarray" then
      local c = { chunks }
      for d = 2, x.ndim do c[d] = -1 end
      x = da.from_array(x, { chunks = c })
    else
      local c = { chunks }
      for d = 2, x.ndim do c[d] = -1 end
      x = x:rechunk(c)
    end
    for _, which in ipairs({ "train", "test" }) do
      local name = "train_test_split-" .. which .. "-" .. require("ldask.tokenize").tokenize(x.name, seed, shuffle,
        test_size or false, train_size or false)
      local layer, rc = {}, {}
      for b = 0, #chunks - 1 do
        local ntr, nt = sizes(chunks[b + 1], test_size, train_size)
        rc[b + 1] = which == "train" and ntr or nt
        local src = { x.name, b }
        local dst = { name, b }
        for _ = 2, x.ndim do src[#src + 1] = 0; dst[#dst + 1] = 0 end
        layer[graph.key(unpack(dst))] = { M._split_block, graph.key(unpack(src)), b, seed, shuffle,
          test_size or false, train_size or false, which }
      end
      local c = { rc }
      for d = 2, x.ndim do c[d] = { x.shape[d] } end
      out[#out + 1] = acore.new(name, layer, c, x.dtype, { x })
    end
  end
  return unpack(out)
end

return M
