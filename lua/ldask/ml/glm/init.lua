--- ldask.ml.glm: generalized linear models on blocked arrays, the dask-glm
-- way: families (ldask.ml.glm.families), regularizers
-- (ldask.ml.glm.regularizers), the solvers gradient_descent, newton, lbfgs,
-- admm and proximal_grad (ldask.ml.glm.solvers) over a problem
-- (ldask.ml.glm.problem) whose every pass is one graph of block-wise tasks
-- combined by a tree reduction. The estimators built on it are in
-- ldask.ml.linear_model. See docs/ml.md, "Linear models".
-- @module ldask.ml.glm
local M = {}

M.families = require "ldask.ml.glm.families"
M.regularizers = require "ldask.ml.glm.regularizers"
M.solvers = require "ldask.ml.glm.solvers"
M.problem = require("ldask.ml.glm.problem").problem

for _, name in ipairs(M.solvers.names) do M[name] = M.solvers[name] end

return M
