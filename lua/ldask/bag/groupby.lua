--- ldask.bag.groupby: Bag:groupby, a hash shuffle across partitions for when
-- foldby does not fit (the whole group is needed at once). Stage one splits
-- every input partition into N buckets by a stable hash of the key (in the
-- same pass as its pending element operations); stage two gathers bucket j
-- of every split into output partition j and groups it by key.
-- @submodule ldask.bag
local graph = require "ldask.graph"
local core = require "ldask.bag.core"
local pipeline = require "ldask.bag.pipeline"

local type, error, tostring, getmetatable = type, error, tostring, getmetatable
local key = graph.key

local M = {}

--- b:groupby(key [, {npartitions=}]): a bag of {key, {elements...}} pairs,
-- one per distinct key (a function of the element or a field name; its
-- values must be strings, numbers or booleans), spread over npartitions
-- (default: as many as b) partitions by key hash.
-- @function Bag:groupby
-- @param keyfn a function of the element, or a field name
-- @param[opt] opts `{ npartitions = }`
-- @return a Bag
function core.Bag:groupby(keyfn, opts)
  if getmetatable(self) ~= core.Bag then
    error("bag.groupby: expected a bag (call it as b:groupby(...)), got " .. type(self), 2)
  end
  if keyfn == nil then error("bag.groupby: key must be a function or a field name, got nil", 2) end
  if type(keyfn) == "function" then core.check_fn(keyfn, "bag.groupby key", 1) end
  opts = opts or {}
  local nout = opts.npartitions or self.npartitions
  if type(nout) ~= "number" or nout < 1 or nout % 1 ~= 0 then
    error("bag.groupby: npartitions must be a positive integer, got " .. tostring(opts.npartitions), 2)
  end
  local name = core.name("groupby", self.name, keyfn, nout)
  local split = name .. "-split"
  local tasks, dl = core.partition_tasks(self, { k = "split", key = keyfn, nout = nout })
  local layer, skeys = {}, {}
  for i = 1, #tasks do
    local k = key(split, i - 1)
    layer[k] = tasks[i]
    skeys[i] = k
  end
  for j = 1, nout do
    layer[key(name, j - 1)] = { pipeline.group, j, graph.quote(keyfn), skeys }
  end
  return core.materialized(name, nout, layer, dl)
end

return M
