-- examples/glm_logistic.lua: logistic regression on a blocked array, the
-- dask-glm way. X (n x 10 normal values) is made block by block by the
-- random generator and never held whole; y is drawn from a known logistic
-- model. Each solver pass is one graph: a task per row block computing that
-- block's loss and gradient (BLAS inside), a tree reduction adding them; the
-- 11 coefficients stay here, on the client. Fits with lbfgs (L2) and with
-- admm (L1: each block solves its local problem, a consensus step
-- combines), then predicts and scores.
--   ldask examples/glm_logistic.lua [n] [block]   (default 200000 50000)
local da = require "ldask.array"
local ml = require "ldask.ml"

local n = tonumber(arg and arg[1]) or 200000
local block = tonumber(arg and arg[2]) or 50000
ldask.config.set { scheduler = "threads" }

local w = { 1.5, -2, 0.5, 0, 0, 1, -0.5, 0, 0.25, 0 }
local X = da.random.normal({ n, #w }, { chunks = { block, #w }, seed = 7 })
local eta = X:dot(da.from_table(w)) - 0.5
local y = da.random.random({ n }, { chunks = block, seed = 8 }):lt(1 / (1 + (-eta):exp())):persist()

local function show(label, m)
  local c = {}
  for j = 0, #w - 1 do c[#c + 1] = ("%6.3f"):format(m.coef_[{ 0, j }]) end
  print(("%-22s n_iter %3d  intercept %6.3f  coef %s"):format(label, m.n_iter_, m.intercept_[{ 0 }],
    table.concat(c, " ")))
end

local true_c = {}
for j = 1, #w do true_c[j] = ("%6.3f"):format(w[j]) end
print(("%-22s             intercept %6.3f  coef %s"):format("true model", -0.5, table.concat(true_c, " ")))

local l2 = ml.LogisticRegression { C = 1.0 }:fit(X, y)            -- solver lbfgs (the default for l2)
show("lbfgs, l2 (C=1)", l2)
-- C = 50 / n: a penalty of 0.02 |coef| per row (sklearn's objective sums the losses)
local l1 = ml.LogisticRegression { penalty = "l1", C = 50 / n }:fit(X, y) -- solver admm (the default for l1)
show("admm, l1 (C=50/n)", l1)

local zeros = 0
for j = 0, #w - 1 do if l1.coef_[{ 0, j }] == 0 then zeros = zeros + 1 end end
print(("l1 set %d of %d coefficients exactly to zero"):format(zeros, #w))

local proba = l2:predict_proba(X:slice { { 0, 5 } }):compute()
print("P(y = 1) of the first rows:", proba:slice { ":", 1 })
print(("accuracy on the training data: %.4f"):format(l2:score(X, y)))
