-- ldask.bag.transforms: element-wise transformations of a Bag (map, filter,
-- remove, pluck, flatten, starmap: fused into the partition pass, no graph
-- layer of their own) and partition-level ones (map_partitions,
-- repartition, concat).
local graph = require "ldask.graph"
local core = require "ldask.bag.core"
local pipeline = require "ldask.bag.pipeline"

local type, select, error, tostring, getmetatable = type, select, error, tostring, getmetatable
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

-- b:map(f, ...): f(x, ...) for every element x (f must not return nil).
function Bag:map(f, ...)
  check_bag(self, "bag.map")
  check_fn(f, "bag.map function", 1)
  local args, n = extra_args("bag.map", ...)
  local cj = package.loaded.cjson
  if n == 0 and cj and f == cj.decode and self._kind == "text" and #self._ops == 0 then
    local fused = decode_in_reader(self)
    if fused then return fused end
  end
  return extend(self, "map", { k = "map", f = f, args = args, nargs = n }, f, ...)
end

-- b:starmap(f): f(unpack(x)) for every element x (an array).
function Bag:starmap(f)
  check_bag(self, "bag.starmap")
  check_fn(f, "bag.starmap function", 1)
  return extend(self, "starmap", { k = "starmap", f = f }, f)
end

-- b:filter(pred): the elements for which pred(x) is truthy.
function Bag:filter(pred)
  check_bag(self, "bag.filter")
  check_fn(pred, "bag.filter predicate", 1)
  return extend(self, "filter", { k = "filter", f = pred }, pred)
end

-- b:remove(pred): the elements for which pred(x) is falsy.
function Bag:remove(pred)
  check_bag(self, "bag.remove")
  check_fn(pred, "bag.remove predicate", 1)
  return extend(self, "remove", { k = "remove", f = pred }, pred)
end

-- b:pluck(field [, default]): x[field] of every element (a table); with no
-- default a missing field is an error naming it.
function Bag:pluck(field, ...)
  check_bag(self, "bag.pluck")
  if field == nil then error("bag.pluck: field must not be nil", 2) end
  local has_default = select("#", ...) > 0
  local default = ...
  if type(field) == "function" then check_fn(field, "bag.pluck key", 1) end
  return extend(self, "pluck", { k = "pluck", key = field, default = default, has_default = has_default },
    field, has_default, default)
end

-- b:flatten(): the elements of every element (each an array), concatenated.
function Bag:flatten()
  check_bag(self, "bag.flatten")
  return extend(self, "flatten", { k = "flatten" })
end

-- b:map_partitions(f, ...): f(partition, ...) for every partition (an
-- array); f returns the new partition (an array).
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

-- b:repartition(n): the same elements in N partitions (neighbours are
-- concatenated when N is smaller; each partition is split evenly when N is
-- larger).
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

-- ldask.bag.concat({b1, b2, ...}): one bag with the partitions of all.
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
