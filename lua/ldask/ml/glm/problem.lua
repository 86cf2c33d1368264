--- ldask.ml.glm.problem: the data side of a GLM fit. A problem holds X (an
-- ldask array with one block across its columns, or an in-memory ndarray)
-- and y (chunked like X's rows), the family and whether there is an
-- intercept; the solvers ask it for the data term of the objective
--   (1/n) sum_i loss(x_i . beta, y_i)
-- with its gradient and Hessian at a coefficient list. On arrays every
-- request is one graph: a task per row block (families.block_eval on that
-- block, the small beta passed by value) and a tree of families.combine
-- tasks adding the packed partial sums, run on the current scheduler (sync,
-- threads or a cluster); only ~p^2 numbers come back to the client. X's
-- blocks are recomputed from their graph at each pass (persist X first
-- when it is expensive to compute and fits in memory).
-- @module ldask.ml.glm.problem
local nd = require "ldask.array.ndarray"
local ldgraph = require "ldask.graph"
local ldbase = require "ldask.base"
local tokenize = require "ldask.tokenize"
local F = require "ldask.ml.glm.families"
local U = require "ldask.ml.glm.util"

local pairs, ipairs, type, setmetatable, unpack, ceil, min, error, format, tostring = pairs, ipairs, type,
  setmetatable, unpack, math.ceil, math.min, error, string.format, tostring
local key = ldgraph.key

local M = {}

local Problem = {}
Problem.__index = Problem

--- The fan-in of the tree reductions.
M.SPLIT_EVERY = 8

--- problem(X, y, opts): a new problem. X: an ldask array (n x d, one block
-- across its columns) or a float64 ndarray; y: an ldask array chunked like
-- X's rows, or an ndarray. OPTS: `family`, `intercept` (boolean),
-- `compute` (options of ldask.get: scheduler, ...). P.on_first_gradient,
-- when set, is called once with (beta, gradient) after the first pass
-- that computes a gradient (a check the caller folds into that pass).
-- @return a Problem
function M.problem(X, y, opts)
  if type(opts) ~= "table" or not F.names[opts.family] then
    error(format("glm.problem: opts.family must be 'normal', 'logistic' or 'poisson', got %s",
      tostring(type(opts) == "table" and opts.family or opts)), 2)
  end
  if X.ndim ~= 2 or y.ndim ~= 1 or y.shape[1] ~= X.shape[1] then
    error(format("glm.problem: X must be 2-D and y 1-D with as many rows, got shapes %s and %s",
      nd.shape_str(X.shape), nd.shape_str(y.shape)), 2)
  end
  local P = setmetatable({
    family = opts.family, icpt = opts.intercept and true or false, copts = opts.compute,
    n = X.shape[1], d = X.shape[2], passes = 0,
  }, Problem)
  P.p = P.d + (P.icpt and 1 or 0)
  P.scale = P.n > 0 and 1 / P.n or 1
  if nd.is_ndarray(X) then
    P.X, P.y = F.f64(X), F.f64(nd.is_ndarray(y) and y or y:compute(P.copts))
    P.nblocks = 1
  else
    local layers = {}
    for n, g in pairs(X.layers) do layers[n] = g end
    for n, g in pairs(y.layers) do layers[n] = g end
    P.graph = ldgraph.flatten_layers(layers)
    P.xkeys, P.ykeys = {}, {}
    P.rows = {}
    for i = 0, #X.chunks[1] - 1 do
      P.xkeys[i + 1] = key(X.name, i, 0)
      P.ykeys[i + 1] = key(y.name, i)
      P.rows[i + 1] = X.chunks[1][i + 1]
    end
    P.nblocks = #P.xkeys
    P.token = tokenize.tokenize("glm", X.name, y.name, P.family, P.icpt)
  end
  return P
end

-- A copy of the inputs' graph, to add one request's tasks to.
function Problem:_graph()
  local g = {}
  for k, v in pairs(self.graph) do g[k] = v end
  return g
end

-- Adds to G a tree of combine tasks over KEYS named NAME; returns the top key.
local function tree(g, name, keys)
  local level = 0
  while #keys > 1 do
    local nxt = {}
    local fan = M.SPLIT_EVERY
    for j = 0, ceil(#keys / fan) - 1 do
      local t = { F.combine }
      for i = j * fan + 1, min(#keys, (j + 1) * fan) do t[#t + 1] = keys[i] end
      local k = key(name .. "-combine" .. level, j)
      g[k] = t
      nxt[#nxt + 1] = k
    end
    keys, level = nxt, level + 1
  end
  return keys[1]
end

--- P:loss(beta, need): the data term at BETA (a list of p numbers): its value,
-- and its gradient (a list) when NEED >= 1, and its Hessian (a p x p float64
-- ndarray) when NEED >= 2, all scaled by 1/n.
-- @return f, g, H
function Problem:loss(beta, need)
  local bnd = U.to_nd(beta)
  local packed
  self.passes = self.passes + 1
  if self.X then
    packed = F.block_eval(self.family, need, self.X, self.y, bnd, self.icpt)
  else
    local g = self:_graph()
    local name = "glm-" .. self.family .. "-" .. need .. "-" .. tokenize.tokenize(self.token, bnd, need)
    local parts = {}
    for i = 1, self.nblocks do
      local k = key(name, i - 1)
      g[k] = { F.block_eval, ldgraph.quote(self.family), need, self.xkeys[i], self.ykeys[i], bnd, self.icpt }
      parts[i] = k
    end
    packed = ldbase.get(g, tree(g, name, parts), self.copts)
  end
  local p, s = self.p, self.scale
  local f = packed:data()[0] * s
  local grad, H
  if need >= 1 then
    grad = U.from_nd(packed, 1, p)
    for j = 1, p do grad[j] = grad[j] * s end
    if self.on_first_gradient then
      local cb = self.on_first_gradient
      self.on_first_gradient = nil
      cb(beta, grad)
    end
  end
  if need >= 2 then
    H = nd.alloc({ p, p }, "float64")
    local h, pp = H:data(), packed:data()
    for i = 0, p * p - 1 do h[i] = pp[1 + p + i] * s end
    U.keep(packed)
  end
  return f, grad, H
end

--- P:map_blocks(fn, args): FN(X_i, y_i, unpack(ARGS[i])) on every row block
-- i (1-based list ARGS; values are passed by value, FN must travel: a
-- module's function), as one graph; returns the list of results.
-- @return a list
function Problem:map_blocks(fn, args)
  self.passes = self.passes + 1
  if self.X then return { fn(self.X, self.y, unpack(args[1])) } end
  local g = self:_graph()
  local name = "glm-blocks-" .. tokenize.tokenize(self.token, args)
  local keys = {}
  for i = 1, self.nblocks do
    local k = key(name, i - 1)
    local t = { fn, self.xkeys[i], self.ykeys[i] }
    for _, a in ipairs(args[i]) do t[#t + 1] = type(a) == "string" and ldgraph.quote(a) or a end
    g[k] = t
    keys[i] = k
  end
  return ldbase.get(g, keys, self.copts)
end

--- The number of rows of block I (1-based).
function Problem:block_rows(i)
  if self.X then return self.n end
  return self.rows[i]
end

return M
