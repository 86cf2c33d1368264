--- ldask.bag.transforms: element-wise transformations of a Bag (map, filter,
-- remove, pluck, flatten, starmap: fused into the partition pass, no graph
-- layer of their own) and partition-level ones (map_partitions,
-- repartition, concat).
-- @submodule ldask.bag
local graph = require "ldask.graph"
local core = require "ldask.bag.core"
local pipeline = require "ldask.bag.pipeline"

local type, select, error, tostring, getmetatable, setmetatable = type, select, error, tostring, getmetatable, setmetatable
local pairs, ipairs, unpack = pairs, ipairs, unpack
local key, quote, floor = graph.key, graph.quote, math.floor
local Bag, check_fn, extend = core.Bag, core.check_fn, core.extend

local M = {}

local function check_bag(b, what)
  if getmetatable(b) ~= Bag then error(what .. ": expected a bag (call it as b:" .. what:match("[%w_]+$") .. "(...)), got " .. type(b), 3) end
end

-- Extra arguments of map-like calls: plain values passed after the element.
local function extra_args(what, ...)
  local n = select("#", ...)
  if n == 0 then return nil, 0 end
  local args = { ... }
  for i = 1, n do
    local a = args[i]
    if core.is_bag(a) or core.is_item(a) then
      error(what .. ": argument " .. (i + 1) .. " is a lazy " .. (core.is_bag(a) and "bag" or "item")
        .. "; pass plain values (compute the item first)", 3)
    end
  end
  return args, n
end

-- Extra arguments of map: plain values, Items and other collections (a
-- delayed value, a future: their value, the same for
-- every element) and Bags with as many partitions as B (zipped element by
-- element). Returns args, n, slots ({[argindex] = {slot, "item"|"bag"}} or
-- nil), the new extras and their layers.
local function map_args(b, ...)
  local n = select("#", ...)
  if n == 0 then return nil, 0 end
  local args = { ... }
  local slots, extras, layers = nil, {}, {}
  local base = core.nextras(b)
  for i = 1, n do
    local a = args[i]
    if core.is_item(a) then
      slots = slots or {}
      extras[#extras + 1] = { item = a.key }
      for k, v in pairs(a._layers) do layers[k] = v end
      slots[i] = { base + #extras, "item" }
      args[i] = false
    elseif core.is_bag(a) then
      if a.npartitions ~= b.npartitions then
        error("bag.map: the bag in argument " .. (i + 1) .. " has " .. a.npartitions
          .. " partitions, the mapped bag " .. b.npartitions .. " (they are zipped partition by partition)", 3)
      end
      slots = slots or {}
      extras[#extras + 1] = { bag = core.keys(a) }
      for k, v in pairs(core.layers(a)) do layers[k] = v end
      slots[i] = { base + #extras, "bag" }
      args[i] = false
    elseif require("ldask.base").is_collection(a) then
      -- a delayed value, a future, an array: its value, the same for every
      -- element (as dask's bag.map)
      local d = require("ldask.delayed").delayed(a)
      slots = slots or {}
      extras[#extras + 1] = { item = d:__ldask_keys() }
      for k, v in pairs(d:__ldask_layers()) do layers[k] = v end
      slots[i] = { base + #extras, "item" }
      args[i] = false
    end
  end
  return args, n, slots, extras, layers
end

-- map(cjson.decode) straight on read_text: the reader decodes the lines
-- itself through the fast JSON path (ldask.bag.json: same values and errors
-- as cjson.decode, which it falls back to), with no line strings made.
local function decode_in_reader(b)
  local srcs = {}
  for i, q in ipairs(b._srcs) do
    local d = q[1]
    if d.json or d.keep_newlines or d.include_path then return nil end
    local nd = {}
    for k, v in pairs(d) do nd[k] = v end
    nd.json = "map"
    srcs[i] = graph.quote(nd)
  end
  return core.lazy(core.name("map", b.name, "cjson.decode"), "text", srcs, {}, b._dl)
end

--- b:map(f, ...): f(x, ...) for every element x (f must not return nil).
-- @param f the function
-- @param ... further arguments (Items and same-partitioned Bags are per element)
-- @return a Bag
function Bag:map(f, ...)
  check_bag(self, "bag.map")
  check_fn(f, "bag.map function", 1)
  local args, n, slots, extras, layers = map_args(self, ...)
  local cj = package.loaded.cjson
  if n == 0 and cj and f == cj.decode and self._kind == "text" and #self._ops == 0 then
    local fused = decode_in_reader(self)
    if fused then return fused end
  end
  local op = { k = "map", f = f, args = args, nargs = n, slots = slots }
  if slots then return core.extend_with(self, "map", op, extras, layers, f, ...) end
  return extend(self, "map", op, f, ...)
end

--- ldask.bag.zip(b1, b2, ...): bags with the same partitioning zipped into
-- arrays {x1, x2, ...} (partitions of unequal lengths are an error).
-- @param first a Bag
-- @param ... more Bags
-- @return a Bag
function M.zip(first, ...)
  if not core.is_bag(first) then error("ldask.bag.zip: argument 1 is a " .. type(first) .. ", not a bag", 2) end
  for i = 1, select("#", ...) do
    if not core.is_bag((select(i, ...))) then
      error("ldask.bag.zip: argument " .. (i + 1) .. " is a " .. type((select(i, ...))) .. ", not a bag", 2)
    end
  end
  return first:map(pipeline.pack, ...)
end

--- b:product(other): every pair {x, y} of x in b and y in other (other is
-- gathered whole for every partition of b).
-- @param other a Bag
-- @return a Bag
function Bag:product(other)
  check_bag(self, "bag.product")
  if not core.is_bag(other) then error("bag.product: argument is a " .. type(other) .. ", not a bag", 2) end
  local layers = core.copy_layers(core.layers(self))
  for k, v in pairs(core.layers(other)) do layers[k] = v end
  local name = core.name("product", self.name, other.name)
  local mine, theirs = core.keys(self), core.keys(other)
  local layer = {}
  for i = 1, self.npartitions do layer[key(name, i - 1)] = { pipeline.product, mine[i], theirs } end
  return core.materialized(name, self.npartitions, layer, layers)
end

--- b:accumulate(binop [, initial]): running results of binop over the
-- elements in order, across partitions (partition i waits for i-1): {x1,
-- binop(x1, x2), ...}, or {initial, binop(initial, x1), ...}.
-- @param binop a function (acc, x)
-- @param ... optionally the initial value
-- @return a Bag
function Bag:accumulate(binop, ...)
  check_bag(self, "bag.accumulate")
  check_fn(binop, "bag.accumulate binop", 1)
  local has_initial = select("#", ...) > 0 and (...) ~= nil
  local initial = (...)
  local layers = core.layers(self)
  local inkeys = core.keys(self)
  local name = core.name("accumulate", self.name, binop, has_initial, initial)
  local layer, prev = {}, nil
  for i = 1, self.npartitions do
    local ak = key(name .. "-acc", i - 1)
    layer[ak] = { pipeline.accumulate_part, binop, has_initial, graph.quote(initial), inkeys[i], prev or false }
    layer[key(name, i - 1)] = { pipeline.first, ak }
    prev = ak
  end
  return core.materialized(name, self.npartitions, layer, layers)
end

--- b:join(other, on_self [, on_other]): for each element x and each element y
-- of OTHER (an array, or a bag of one partition) with on_other(y) ==
-- on_self(x), the pair {y, x} (as dask). Keys: functions or field names;
-- on_other defaults to on_self.
-- @param other an array, or a Bag of one partition
-- @param on_self a function or a field name
-- @param[opt] on_other a function or a field name
-- @return a Bag
function Bag:join(other, on_self, on_other)
  check_bag(self, "bag.join")
  if on_self == nil then error("bag.join: on_self must be a function or a field name, got nil", 2) end
  on_other = on_other == nil and on_self or on_other
  if type(on_self) == "function" then check_fn(on_self, "bag.join on_self", 1) end
  if type(on_other) == "function" then check_fn(on_other, "bag.join on_other", 1) end
  local op = { k = "join", on_self = on_self, on_other = on_other }
  if core.is_bag(other) then
    if other.npartitions ~= 1 then
      error("bag.join: the other bag has " .. other.npartitions .. " partitions; repartition(1) it first", 2)
    end
    local okey = core.keys(other)[1]
    local keys = {}
    for i = 1, self.npartitions do keys[i] = okey end
    op.slot = core.nextras(self) + 1
    return core.extend_with(self, "join", op, { { bag = keys } }, core.layers(other), other.name, on_self, on_other)
  end
  if type(other) ~= "table" or getmetatable(other) ~= nil then
    error("bag.join: other must be an array or a bag, got " .. type(other), 2)
  end
  op.other = other
  return extend(self, "join", op, other, on_self, on_other)
end

--- b:random_sample(prob [, seed]): each element kept with probability PROB
-- (reproducible for a given seed: a generator per partition).
-- @param prob the probability
-- @param[opt] seed a seed
-- @return a Bag
function Bag:random_sample(prob, seed)
  check_bag(self, "bag.random_sample")
  if type(prob) ~= "number" or prob < 0 or prob > 1 then
    error("bag.random_sample: prob must be a number in [0, 1], got " .. tostring(prob), 2)
  end
  seed = seed or math.random(0, 2 ^ 31 - 1)
  if type(seed) ~= "number" or seed % 1 ~= 0 then
    error("bag.random_sample: seed must be an integer, got " .. tostring(seed), 2)
  end
  return extend(self, "random-sample", { k = "sample", prob = prob, seed = seed }, prob, seed)
end

--- b:unzip(n): N bags, the j-th holding element j of every element (arrays).
-- @param n the number of bags
-- @return N Bags
function Bag:unzip(n)
  check_bag(self, "bag.unzip")
  if type(n) ~= "number" or n < 1 or n % 1 ~= 0 then
    error("bag.unzip: n must be a positive integer, got " .. tostring(n), 2)
  end
  local out = {}
  for j = 1, n do out[j] = self:pluck(j) end
  return unpack(out, 1, n)
end

--- b:to_delayed(): one ldask.delayed value per partition (an array).
-- @return a list of Delayed values
function Bag:to_delayed()
  check_bag(self, "bag.to_delayed")
  local delayed = require "ldask.delayed"
  local layers = core.layers(self)
  local out = {}
  for i, k in ipairs(core.keys(self)) do
    out[i] = setmetatable({ _key = k, _layers = layers }, delayed.Delayed)
  end
  return out
end

--- b:starmap(f): f(unpack(x)) for every element x (an array).
-- @param f the function
-- @return a Bag
function Bag:starmap(f)
  check_bag(self, "bag.starmap")
  check_fn(f, "bag.starmap function", 1)
  return extend(self, "starmap", { k = "starmap", f = f }, f)
end

--- b:filter(pred): the elements for which pred(x) is truthy.
-- @param pred the predicate
-- @return a Bag
function Bag:filter(pred)
  check_bag(self, "bag.filter")
  check_fn(pred, "bag.filter predicate", 1)
  return extend(self, "filter", { k = "filter", f = pred }, pred)
end

--- b:remove(pred): the elements for which pred(x) is falsy.
-- @param pred the predicate
-- @return a Bag
function Bag:remove(pred)
  check_bag(self, "bag.remove")
  check_fn(pred, "bag.remove predicate", 1)
  return extend(self, "remove", { k = "remove", f = pred }, pred)
end

--- b:pluck(field [, default]): x[field] of every element (a table); with no
-- default a missing field is an error naming it.
-- A list of fields gives arrays {x[f1], x[f2], ...}.
-- @param field a field name (or index), or a list of them
-- @param ... optionally the default
-- @return a Bag
function Bag:pluck(field, ...)
  check_bag(self, "bag.pluck")
  if field == nil then error("bag.pluck: field must not be nil", 2) end
  local has_default = select("#", ...) > 0
  local default = ...
  if type(field) == "function" then check_fn(field, "bag.pluck key", 1) end
  local op = { k = "pluck", key = field, default = default, has_default = has_default }
  if type(field) == "table" and getmetatable(field) == nil then
    if #field == 0 then error("bag.pluck: the list of fields is empty", 2) end
    op.key, op.keys = nil, field
  end
  return extend(self, "pluck", op, field, has_default, default)
end

--- b:flatten(): the elements of every element (each an array), concatenated.
-- @return a Bag
function Bag:flatten()
  check_bag(self, "bag.flatten")
  return extend(self, "flatten", { k = "flatten" })
end

--- b:map_partitions(f, ...): f(partition, ...) for every partition (an
-- array); f returns the new partition (an array).
-- @param f a function of a partition (an array)
-- @param ... further arguments
-- @return a Bag
function Bag:map_partitions(f, ...)
  check_bag(self, "bag.map_partitions")
  check_fn(f, "bag.map_partitions function", 1)
  local args, n = extra_args("bag.map_partitions", ...)
  local name = core.name("map-partitions", self.name, f, ...)
  local tasks, dl = core.partition_tasks(self, { k = "apply", f = f, args = args, nargs = n,
    partition = true, what = "bag.map_partitions" })
  local layer = {}
  for i = 1, #tasks do layer[key(name, i - 1)] = tasks[i] end
  return core.materialized(name, #tasks, layer, dl)
end

--- b:repartition(n): the same elements in N partitions (neighbours are
-- concatenated when N is smaller; each partition is split evenly when N is
-- larger).
-- @param n the number of partitions
-- @return a Bag
function Bag:repartition(n)
  check_bag(self, "bag.repartition")
  if type(n) ~= "number" or n < 1 or n % 1 ~= 0 then
    error("bag.repartition: npartitions must be a positive integer, got " .. tostring(n), 2)
  end
  local nin = self.npartitions
  if n == nin then return self end
  local layers = core.layers(self)
  local inkeys = core.keys(self)
  local name = core.name("repartition", self.name, n)
  local layer = {}
  if n < nin then
    for j = 0, n - 1 do
      local lo, hi = floor(j * nin / n), floor((j + 1) * nin / n) - 1
      local parts = {}
      for i = lo, hi do parts[#parts + 1] = inkeys[i + 1] end
      layer[key(name, j)] = { pipeline.concat, parts }
    end
  else
    local out = 0
    for i = 0, nin - 1 do
      local pieces = floor(n / nin) + ((i < n % nin) and 1 or 0)
      for p = 0, pieces - 1 do
        layer[key(name, out)] = { pipeline.slice, inkeys[i + 1], p, pieces }
        out = out + 1
      end
    end
  end
  return core.materialized(name, n, layer, layers)
end

--- ldask.bag.concat({b1, b2, ...}): one bag with the partitions of all.
-- @param bags a list of Bags
-- @return a Bag
function M.concat(bags)
  if type(bags) ~= "table" or #bags == 0 then
    error("ldask.bag.concat: expected a non-empty list of bags, got " .. type(bags), 2)
  end
  local srcs, layers, names = {}, {}, {}
  for i = 1, #bags do
    local b = bags[i]
    if not core.is_bag(b) then error("ldask.bag.concat: item " .. i .. " is a " .. type(b) .. ", not a bag", 2) end
    for k, v in pairs(core.layers(b)) do layers[k] = v end
    for _, k in ipairs(core.keys(b)) do srcs[#srcs + 1] = k end
    names[i] = b.name
  end
  return core.lazy(core.name("concat", names), "list", srcs, {}, layers)
end

return M
