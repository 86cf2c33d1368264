--- ldask.bag.reductions: reductions and actions of a Bag. Each partition is
-- folded in the same pass as its pending element operations (no partition
-- array is built for count, sum, frequencies, foldby, ...), then partial
-- results are combined in a tree (split_every, default 8). Scalar results
-- are Items; frequencies, distinct, foldby and topk give one-partition bags.
-- @submodule ldask.bag
local graph = require "ldask.graph"
local base = require "ldask.base"
local core = require "ldask.bag.core"
local pipeline = require "ldask.bag.pipeline"
local aggregate = require "ldask.bag.aggregate"

local type, select, error, tostring, getmetatable, setmetatable = type, select, error, tostring, getmetatable, setmetatable
local key = graph.key
local Bag, check_fn, reduce = core.Bag, core.check_fn, core.reduce

local M = {}

local function check_bag(b, what)
  if getmetatable(b) ~= Bag then
    error(what .. ": expected a bag (call it as b:" .. what:match("[%w_]+$") .. "(...)), got " .. type(b), 3)
  end
end

local function split_every(opts, what)
  if opts == nil then return nil end
  if type(opts) ~= "table" then error(what .. ": options must be a table, got " .. type(opts), 3) end
  return opts.split_every
end

-- An Item turned into a one-partition Bag (its value is the partition).
local function as_bag(item)
  return setmetatable({ name = item.name, npartitions = 1, _layers = item._layers }, Bag)
end

--- b:count(): the number of elements.
-- @param[opt] opts `{ split_every = }`
-- @return an Item (compute it)
function Bag:count(opts)
  check_bag(self, "bag.count")
  return reduce(self, "count", { k = "count" }, split_every(opts, "bag.count"))
end

--- b:sum(): the sum of the elements.
-- @param[opt] opts `{ split_every = }`
-- @return an Item (compute it)
function Bag:sum(opts)
  check_bag(self, "bag.sum")
  return reduce(self, "sum", { k = "sum" }, split_every(opts, "bag.sum"))
end

--- b:min(): the smallest element.
-- @param[opt] opts `{ split_every = }`
-- @return an Item (compute it)
function Bag:min(opts)
  check_bag(self, "bag.min")
  return reduce(self, "min", { k = "min" }, split_every(opts, "bag.min"))
end

--- b:max(): the largest element.
-- @param[opt] opts `{ split_every = }`
-- @return an Item (compute it)
function Bag:max(opts)
  check_bag(self, "bag.max")
  return reduce(self, "max", { k = "max" }, split_every(opts, "bag.max"))
end

--- b:any(): true when any element is truthy.
-- @param[opt] opts `{ split_every = }`
-- @return an Item (compute it)
function Bag:any(opts)
  check_bag(self, "bag.any")
  return reduce(self, "any", { k = "any" }, split_every(opts, "bag.any"))
end

--- b:all(): true when every element is truthy.
-- @param[opt] opts `{ split_every = }`
-- @return an Item (compute it)
function Bag:all(opts)
  check_bag(self, "bag.all")
  return reduce(self, "all", { k = "all" }, split_every(opts, "bag.all"))
end

--- b:mean(): the mean of the elements.
-- @param[opt] opts `{ split_every = }`
-- @return an Item (compute it)
function Bag:mean(opts)
  check_bag(self, "bag.mean")
  return reduce(self, "mean", { k = "moments" }, split_every(opts, "bag.mean"), { aggregate.mean })
end

local function ddof_of(opts, what)
  local ddof = type(opts) == "table" and opts.ddof or 0
  if type(ddof) ~= "number" or ddof < 0 then error(what .. ": ddof must be a number >= 0, got " .. tostring(ddof), 3) end
  return ddof
end

--- b:var{ddof=0}, b:std{ddof=0}: variance and standard deviation.
-- @param[opt] opts `{ ddof = 0, split_every = }`
-- @return an Item (compute it)
function Bag:var(opts)
  check_bag(self, "bag.var")
  local ddof = ddof_of(opts, "bag.var")
  return reduce(self, "var", { k = "moments" }, split_every(opts, "bag.var"), { aggregate.var, ddof })
end

--- b:std{ddof=0}: the standard deviation.
-- @param[opt] opts `{ ddof = 0, split_every = }`
-- @return an Item (compute it)
function Bag:std(opts)
  check_bag(self, "bag.std")
  local ddof = ddof_of(opts, "bag.std")
  return reduce(self, "std", { k = "moments" }, split_every(opts, "bag.std"), { aggregate.std, ddof })
end

--- b:reduction(perpartition, aggregate [, {split_every=}]): perpartition(array)
-- -> partial for each partition; aggregate(list of partials) -> value (also
-- used at the intermediate levels of the tree).
-- @param perpartition a function of a partition (an array)
-- @param aggregate a function of a list of partials
-- @param[opt] opts `{ split_every = }`
-- @return an Item (compute it)
function Bag:reduction(perpartition, aggregate, opts)
  check_bag(self, "bag.reduction")
  check_fn(perpartition, "bag.reduction perpartition function", 1)
  check_fn(aggregate, "bag.reduction aggregate function", 1)
  return reduce(self, "reduction", { k = "apply", f = perpartition, aggregate = aggregate,
    what = "bag.reduction" }, split_every(opts, "bag.reduction"))
end

--- b:fold(binop [, combine [, initial]]): binop(acc, x) within partitions,
-- combine(acc1, acc2) (default binop) across them.
-- @param binop a function (acc, x)
-- @param[opt] combine a function (acc1, acc2)
-- @param ... optionally the initial value
-- @return an Item (compute it)
function Bag:fold(binop, combine, ...)
  check_bag(self, "bag.fold")
  check_fn(binop, "bag.fold binop", 1)
  if combine ~= nil then check_fn(combine, "bag.fold combine", 1) end
  local has_initial = select("#", ...) > 0 and (...) ~= nil
  return reduce(self, "fold", { k = "fold", binop = binop, combine = combine,
    has_initial = has_initial, initial = (...) })
end

--- b:frequencies{sort=false}: a bag of {value, count} pairs (sorted by count,
-- largest first, with sort=true).
-- @param[opt] opts `{ sort = false }`
-- @return a Bag
function Bag:frequencies(opts)
  check_bag(self, "bag.frequencies")
  local sorted = type(opts) == "table" and opts.sort or false
  return as_bag(reduce(self, "frequencies", { k = "frequencies" }, split_every(opts, "bag.frequencies"),
    { aggregate.freq_pairs, sorted }))
end

--- b:distinct([key]): the first element of each distinct value (or key).
-- @param[opt] keyfn a function or a field name
-- @return a Bag
function Bag:distinct(keyfn)
  check_bag(self, "bag.distinct")
  if type(keyfn) == "function" then check_fn(keyfn, "bag.distinct key", 1) end
  return as_bag(reduce(self, "distinct", { k = "distinct", key = keyfn }))
end

--- b:foldby(key, binop [, initial [, combine [, combine_initial]]]): per key
-- (a function or a field name), binop(acc, x) folds the elements (starting
-- from initial, or from the first element when initial is nil); combine
-- (default binop) merges the per-partition accumulators (starting from
-- combine_initial when given). A bag of {key, value} pairs.
-- @param keyfn a function or a field name
-- @param binop a function (acc, x)
-- @param[opt] initial the initial value
-- @param[opt] combine a function (acc1, acc2)
-- @param[opt] combine_initial its initial value
-- @param[opt] opts `{ split_every = }`
-- @return a Bag
function Bag:foldby(keyfn, binop, initial, combine, combine_initial, opts)
  check_bag(self, "bag.foldby")
  if keyfn == nil then error("bag.foldby: key must be a function or a field name, got nil", 2) end
  if type(keyfn) == "function" then check_fn(keyfn, "bag.foldby key", 1) end
  check_fn(binop, "bag.foldby binop", 1)
  if combine ~= nil then check_fn(combine, "bag.foldby combine", 1) end
  return as_bag(reduce(self, "foldby", { k = "foldby", key = keyfn, binop = binop,
    has_initial = initial ~= nil, initial = initial, combine = combine,
    has_combine_initial = combine_initial ~= nil, combine_initial = combine_initial },
    split_every(opts, "bag.foldby"), { aggregate.fold_pairs }))
end

--- b:topk(k [, key]): the K largest elements (by key: a function or a field
-- name), largest first.
-- @param k how many
-- @param[opt] keyfn a function or a field name
-- @return a Bag
function Bag:topk(k, keyfn)
  check_bag(self, "bag.topk")
  if type(k) ~= "number" or k < 0 or k % 1 ~= 0 then
    error("bag.topk: k must be a non-negative integer, got " .. tostring(k), 2)
  end
  if type(keyfn) == "function" then check_fn(keyfn, "bag.topk key", 1) end
  return as_bag(reduce(self, "topk", { k = "topk", key = keyfn, n = k }))
end

--- b:take(n [, {npartitions=, compute=true}]): the first N elements as an
-- array. Computes partitions in order, first one, then more as needed
-- (1, 2, 4, ... at a time), each streaming only until it has enough; with
-- npartitions=m, looks at the first m partitions only.
-- @param n how many
-- @param[opt] opts `{ npartitions =, compute = true }`
-- @return a Lua array
function Bag:take(n, opts)
  check_bag(self, "bag.take")
  if type(n) ~= "number" or n < 0 or n % 1 ~= 0 then
    error("bag.take: n must be a non-negative integer, got " .. tostring(n), 2)
  end
  opts = opts or {}
  local limit = opts.npartitions == -1 and self.npartitions or opts.npartitions or self.npartitions
  if type(limit) ~= "number" or limit < 1 then
    error("bag.take: npartitions must be a positive integer or -1, got " .. tostring(opts.npartitions), 2)
  end
  limit = math.min(limit, self.npartitions)
  local sched = { scheduler = opts.scheduler }
  local out, have, next_part, batch = {}, 0, 1, 1
  while have < n and next_part <= limit do
    local last = math.min(limit, next_part + batch - 1)
    local tasks, dl = core.partition_tasks(self, { k = "take", n = n - have })
    local g = graph.flatten_layers(dl)
    local keys = {}
    local name = core.name("take", self.name, n)
    for i = next_part, last do
      local k = key(name, i - 1)
      g[k] = tasks[i]
      keys[#keys + 1] = k
    end
    local parts = base.get(g, keys, sched)
    for i = 1, #parts do
      local p = parts[i]
      for j = 1, #p do
        if have >= n then break end
        have = have + 1
        out[have] = p[j]
      end
    end
    next_part = last + 1
    batch = batch * 2
  end
  return out
end

M.as_bag = as_bag
return M
