--- ldask.bag.creation: bags from Lua values: from_sequence (an array cut into
-- partitions that travel in the graph as quoted literals), range (integers,
-- no data in the graph), from_delayed (each delayed value or collection is
-- one partition).
-- @submodule ldask.bag
local graph = require "ldask.graph"
local core = require "ldask.bag.core"

local type, error, tostring, pairs, getmetatable = type, error, tostring, pairs, getmetatable
local quote, ceil, floor, min = graph.quote, math.ceil, math.floor, math.min

local M = {}

local function positive_int(v, what, name)
  if type(v) ~= "number" or v < 1 or v % 1 ~= 0 then
    error(what .. ": " .. name .. " must be a positive integer, got " .. tostring(v), 3)
  end
  return v
end

-- Number of elements per partition for LEN elements: npartitions= or
-- partition_size= (as dask: about 100 partitions by default).
local function partition_size(len, opts, what)
  if opts.npartitions and opts.partition_size then
    error(what .. ": give npartitions or partition_size, not both", 3)
  end
  if opts.npartitions then
    local np = positive_int(opts.npartitions, what, "npartitions")
    return math.max(1, ceil(len / np))
  end
  if opts.partition_size then return positive_int(opts.partition_size, what, "partition_size") end
  if len <= 100 then return 1 end
  return ceil(len / 100)
end

--- ldask.bag.from_sequence(seq [, {npartitions=, partition_size=}]): a bag of
-- the elements of the array SEQ (which must have no holes, nor nil).
-- @param seq a Lua array
-- @param[opt] opts `{ npartitions =, partition_size = }`
-- @return a Bag
-- @usage local b = ldask.bag.from_sequence({ 1, 2, 3, 4 }, { npartitions = 2 })
-- print(b:map(function(x) return x * 10 end):sum():compute())   --> 100
function M.from_sequence(seq, opts)
  local what = "ldask.bag.from_sequence"
  if type(seq) ~= "table" or getmetatable(seq) ~= nil then
    error(what .. ": expected an array (a plain table), got " .. type(seq), 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then error(what .. ": options must be a table, got " .. type(opts), 2) end
  local len = #seq
  local count = 0
  for _ in pairs(seq) do count = count + 1 end
  if count ~= len then
    error(what .. ": the table is not an array (" .. count .. " entries, length " .. len
      .. "): it has holes or non-integer keys", 2)
  end
  local size = partition_size(len, opts, what)
  local srcs = {}
  for lo = 1, math.max(len, 1), size do
    local part = {}
    for i = lo, min(len, lo + size - 1) do part[i - lo + 1] = seq[i] end
    srcs[#srcs + 1] = quote(part)
  end
  local name = core.name("from-sequence", seq, size)
  return core.lazy(name, "list", srcs, {}, {})
end

--- ldask.bag.range(n [, {npartitions=}]): the integers 0 .. n-1.
-- @param n the number of integers
-- @param[opt] opts `{ npartitions = }`
-- @return a Bag
function M.range(n, opts)
  local what = "ldask.bag.range"
  if type(n) ~= "number" or n < 0 or n % 1 ~= 0 then
    error(what .. ": n must be a non-negative integer, got " .. tostring(n), 2)
  end
  opts = opts or {}
  local np = positive_int(opts.npartitions or math.min(math.max(n, 1), 8), what, "npartitions")
  -- partition i computed from i: the bag's layers are compact (ldask.layer)
  return core.lazy(core.name("range", n, np), "range", nil, {}, {}, {}, { n, np })
end

--- ldask.bag.from_delayed(values): one partition per delayed value (or any
-- collection computing to an array; a single one is accepted too).
-- @param values a list of Delayed values (or one)
-- @return a Bag
function M.from_delayed(values)
  local what = "ldask.bag.from_delayed"
  local base = require "ldask.base"
  if base.is_collection(values) then values = { values } end
  if type(values) ~= "table" or #values == 0 then
    error(what .. ": expected a non-empty list of delayed values, got " .. type(values), 2)
  end
  local srcs, layers, keys = {}, {}, {}
  for i = 1, #values do
    local d = values[i]
    if not base.is_collection(d) then
      error(what .. ": item " .. i .. " is a " .. type(d) .. ", not a delayed value", 2)
    end
    local k = d:__ldask_keys()
    if type(k) ~= "string" then
      error(what .. ": item " .. i .. " has several output keys; give delayed values (one key each)", 2)
    end
    if d.__ldask_layers then
      for name, l in pairs(d:__ldask_layers()) do layers[name] = l end
    else
      layers["from-delayed-deps-" .. k] = d:__ldask_graph()
    end
    srcs[i] = k
    keys[i] = k
  end
  return core.lazy(core.name("from-delayed", keys), "list", srcs, {}, layers)
end

return M
