--- ldask.bag.core: the Bag and Item collection types of ldask.bag and the
-- helpers the method files share: construction, the collection protocol,
-- partition tasks that fuse pending element operations into one pass, and
-- tree reductions. See docs/bag.md for the graph layout.
-- @submodule ldask.bag
local graph = require "ldask.graph"
local base = require "ldask.base"
local tokenize = require "ldask.tokenize"
local record_annotations = require("ldask.annotations").record
local pipeline = require "ldask.bag.pipeline"
local aggregate = require "ldask.bag.aggregate"
local layer = require "ldask.layer"

local type, setmetatable, getmetatable, pairs, ipairs, error, tostring =
  type, setmetatable, getmetatable, pairs, ipairs, error, tostring
local key, quote, ceil, unpack = graph.key, graph.quote, math.ceil, unpack

local M = {}

local Bag = { __name = "ldask.Bag" }
Bag.__index = Bag
M.Bag = Bag

local Item = { __name = "ldask.bag.Item" }
Item.__index = Item
M.Item = Item

--- True when X is a Bag.
-- @param x any value
-- @return boolean
function M.is_bag(x) return getmetatable(x) == Bag end
--- True when X is an Item (the lazy result of a bag reduction).
-- @param x any value
-- @return boolean
function M.is_item(x) return getmetatable(x) == Item end

-- Fresh collection name: PREFIX-token(...).
function M.name(prefix, ...) return prefix .. "-" .. tokenize.tokenize(prefix, ...) end

local codec_check
-- Raises (at LEVEL above the caller) unless F is a function that can travel
-- to the executors; WHAT names it ("bag.map function").
function M.check_fn(f, what, level)
  level = (level or 1) + 2
  local t = type(f)
  if t ~= "function" then
    local mt = getmetatable(f)
    if not (mt and mt.__call) then error(what .. " must be a function, got " .. t, level) end
  end
  if codec_check == nil then
    local ok, codec = pcall(require, "ldask.codec")
    codec_check = ok and type(codec) == "table" and codec.check or false
  end
  if codec_check then
    local ok, msg = pcall(codec_check, f, what)
    if not ok then error(tostring(msg), level) end
  end
end

local function copy_layers(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end
M.copy_layers = copy_layers

-- A lazy bag: partitions are produced by streaming SRCS[i] (of KIND) through
-- OPS. DEPLAYERS: the graph layers the sources refer to (name -> graph).
-- EXTRAS (optional): inputs the operations read besides the element: a
-- list of {item = key} (one value for every partition) or {bag = keys} (the
-- partition of another bag with the same number of partitions).
-- GEN (optional, instead of SRCS): {n, npartitions} of a "range" source,
-- whose partition i is computed from i (pipeline.range_bounds): such a
-- bag's partitions and reductions are compact layers (ldask.layer), its
-- sources written out only for the operations that read them.
function M.lazy(name, kind, srcs, ops, deplayers, extras, gen)
  record_annotations(name)
  return setmetatable({ name = name, npartitions = gen and gen[2] or #srcs, _kind = kind, _srcs = srcs,
    _ops = ops, _dl = deplayers, _extras = extras or {}, _gen = gen }, Bag)
end

-- A materialized bag: LAYER holds tasks name,i each producing a partition.
function M.materialized(name, npartitions, layer, deplayers)
  local layers = copy_layers(deplayers)
  layers[name] = layer
  record_annotations(name)
  return setmetatable({ name = name, npartitions = npartitions, _layers = layers }, Bag)
end

-- The keys of B's partitions.
function M.keys(b)
  local out = {}
  for i = 1, b.npartitions do out[i] = key(b.name, i - 1) end
  return out
end

-- The sources of B: kind, per-partition sources, pending ops, and the
-- layers they need. A materialized bag is a "list" source over its keys.
function M.source(b)
  if b._layers then return "list", M.keys(b), {}, b._layers, {} end
  local srcs = b._srcs
  if not srcs then -- a GEN source, written out on first use
    local n, np = b._gen[1], b._gen[2]
    srcs = {}
    for i = 0, np - 1 do srcs[i + 1] = quote(pipeline.range_bounds(n, np, i)) end
    b._srcs = srcs
  end
  return b._kind, srcs, b._ops, b._dl, b._extras
end

-- The template of B's partition task through SINK, and its inputs, when B
-- can be a compact layer (a GEN source; extras that are items); else nil.
local function compact_task(b, sink)
  if b._layers or not b._gen then return nil end
  local ex, inputs = {}, {}
  for j, e in ipairs(b._extras) do
    if not e.item then return nil end
    inputs[j] = { kind = "key", key = e.item }
    ex[j] = layer.dep(j)
  end
  local n, np = b._gen[1], b._gen[2]
  local src = { pipeline.range_bounds, n, np, layer.INDEX }
  return { pipeline.run, quote(b._ops), quote(sink), b._kind, src, ex, layer.INDEX }, inputs
end

-- Tasks computing each partition of B through SINK (a sink spec):
-- {run, ops, sink, kind, src}. Returns the list and the layers they need.
-- SINK may be a function i -> sink spec (a different sink per partition).
function M.partition_tasks(b, sink)
  local kind, srcs, ops, layers, extras = M.source(b)
  local qops = quote(ops)
  local qsink = type(sink) == "table" and quote(sink)
  local tasks = {}
  for i = 1, #srcs do
    local ex = {}
    for j = 1, #extras do
      local e = extras[j]
      ex[j] = e.item or e.bag[i]
    end
    tasks[i] = { pipeline.run, qops, qsink or quote(sink(i)), kind, srcs[i], ex, i - 1 }
  end
  return tasks, layers
end

-- Layers of B (name -> graph), building a lazy bag's own layer on demand.
function M.layers(b)
  if b._layers then return b._layers end
  if b._own_layers then return b._own_layers end
  local template, inputs = compact_task(b, { k = "collect" })
  if template then
    local layers = copy_layers(b._dl)
    layer.named(b.name, b.npartitions, template, inputs, layers)
    b._own_layers = layers
    return layers
  end
  local tasks, dl = M.partition_tasks(b, { k = "collect" })
  local own = {}
  for i = 1, #tasks do own[key(b.name, i - 1)] = tasks[i] end
  local layers = copy_layers(dl)
  layers[b.name] = own
  b._own_layers = layers
  return layers
end

-- Returns a new lazy bag: B's pending operations plus OP.
-- NEWEXTRAS / NEWLAYERS (optional): inputs OP reads (appended to B's; OP's
-- slots count from the first of them, see M.add_extras) and their layers.
function M.extend(b, prefix, op, ...)
  return M.extend_with(b, prefix, op, nil, nil, ...)
end

function M.extend_with(b, prefix, op, newextras, newlayers, ...)
  local kind, srcs, ops, layers, extras, gen
  if b._gen and not b._layers then -- (keeps a GEN source compact)
    kind, srcs, ops, layers, extras, gen = b._kind, b._srcs, b._ops, b._dl, b._extras, b._gen
  else
    kind, srcs, ops, layers, extras = M.source(b)
  end
  local nops = {}
  for i = 1, #ops do nops[i] = ops[i] end
  nops[#nops + 1] = op
  if newextras and #newextras > 0 then
    local ex = {}
    for i = 1, #extras do ex[i] = extras[i] end
    for i = 1, #newextras do ex[#ex + 1] = newextras[i] end
    extras = ex
    layers = copy_layers(layers)
    for k, v in pairs(newlayers) do layers[k] = v end
  end
  return M.lazy(M.name(prefix, b.name, ...), kind, srcs, nops, layers, extras, gen)
end

-- Number of extras B's pending operations already read (new slots follow).
function M.nextras(b)
  if b._layers then return 0 end
  return #b._extras
end

-- Reduces B: per-partition SINK, tree combine (SPLIT_EVERY), finalize.
-- POST (optional): a function applied to the final value ({f, args...}).
-- Returns an Item.
function M.reduce(b, prefix, sink, split_every, post, ...)
  split_every = split_every or 8
  if type(split_every) ~= "number" or split_every < 2 or split_every % 1 ~= 0 then
    error("bag." .. prefix .. ": split_every must be an integer >= 2, got " .. tostring(split_every), 3)
  end
  local name = M.name(prefix, b.name, sink, split_every, post, ...)
  local template, inputs = compact_task(b, sink)
  if template then -- compact layers: the partitions, the tree levels
    local layers = copy_layers(b._dl)
    local parts = layer.named(name .. "-part", b.npartitions, template, inputs, layers)
    local top = layer.tree(parts, { aggregate.combine, quote(sink), layer.DEPS }, split_every,
      function(d) return name .. "-combine" .. d end, layers)
    local final = { aggregate.finalize, quote(sink), layer.keys(top) }
    if post then final = { post[1], final, unpack(post, 2) } end
    local k = key(name, 0)
    layers[name] = { [k] = final }
    return setmetatable({ name = name, key = k, _layers = layers }, Item)
  end
  local tasks, dl = M.partition_tasks(b, sink)
  local layer = {}
  local level = {}
  for i = 1, #tasks do
    local k = key(name .. "-part", i - 1)
    layer[k] = tasks[i]
    level[i] = k
  end
  local qsink, depth = quote(sink), 0
  while #level > split_every do
    depth = depth + 1
    local nxt = {}
    for g = 1, ceil(#level / split_every) do
      local group = {}
      for j = (g - 1) * split_every + 1, math.min(g * split_every, #level) do group[#group + 1] = level[j] end
      local k = key(name .. "-combine" .. depth, g - 1)
      layer[k] = { aggregate.combine, qsink, group }
      nxt[g] = k
    end
    level = nxt
  end
  local final = { aggregate.finalize, qsink, level }
  if post then final = { post[1], final, unpack(post, 2) } end
  local k = key(name, 0)
  layer[k] = final
  local layers = copy_layers(dl)
  layers[name] = layer
  return setmetatable({ name = name, key = k, _layers = layers }, Item)
end

-- An Item computed by task {f, args...} where args may refer to ITEM's key.
function M.item_from(prefix, item_or_layers, task_fn, ...)
  local layers = type(item_or_layers) == "table" and item_or_layers._layers or item_or_layers
  local name = M.name(prefix, task_fn, ...)
  local k = key(name, 0)
  local l = copy_layers(layers)
  l[name] = { [k] = { task_fn, ... } }
  return setmetatable({ name = name, key = k, _layers = l }, Item)
end

-- Collection protocol: Bag ------------------------------------------------

function Bag:__ldask_layers() return M.layers(self) end
function Bag:__ldask_graph() return graph.flatten_layers(M.layers(self)) end
function Bag:__ldask_keys() return M.keys(self) end
function Bag:__ldask_postcompute() return pipeline.concat end
-- ldask.persist / client:persist: a materialized bag of the same partition
-- keys backed by LAYER (key -> a future or the computed partition).
function Bag:__ldask_postpersist()
  return function(layer) return M.materialized(self.name, self.npartitions, layer, {}) end
end
--- b:persist([opts]): computes the partitions now and returns a bag of
-- the same partitions over the results: futures of data kept on the
-- cluster when a client is open, else the partitions held in this process
-- (ldask.persist). Later computations start from them.
-- @param[opt] opts options of ldask.compute
-- @return a Bag
function Bag:persist(opts) return (base.persist_method(self, opts)) end
function Bag:__ldask_tokenize() return self.name end

--- Computes the bag: returns a Lua array of all its elements in order.
-- @param[opt] opts options of ldask.compute
-- @return a Lua array
function Bag:compute(opts) return (base.compute(self, opts or {})) end
--- b:visualize([filename[, opts]]): draws the bag's graph, as ldask.visualize
-- (before optimization unless `{ optimize_graph = true }`).
-- @function Bag:visualize
-- @param[opt] filename the file to write (.svg, .png or .dot)
-- @param[opt] opts options of ldask.visualize
-- @return the path written and a message
Bag.visualize = require("ldask.visualize").method

function Bag:__tostring()
  return "ldask.Bag<" .. self.name .. ", npartitions=" .. self.npartitions .. ">"
end

-- Collection protocol: Item -----------------------------------------------

function Item:__ldask_layers() return self._layers end
function Item:__ldask_graph() return graph.flatten_layers(self._layers) end
function Item:__ldask_keys() return self.key end
function Item:__ldask_postcompute() return nil end
-- ldask.persist / client:persist: the same item backed by LAYER (its key ->
-- a future or the computed value).
function Item:__ldask_postpersist()
  return function(layer)
    return setmetatable({ name = self.name, key = self.key, _layers = { ["persisted-" .. self.key] = layer } }, Item)
  end
end
--- item:persist([opts]): computes the item now, as Bag:persist does.
-- @param[opt] opts options of ldask.compute
-- @return an Item
function Item:persist(opts) return (base.persist_method(self, opts)) end

--- Computes the item: returns its value.
-- @param[opt] opts options of ldask.compute
-- @return the value
function Item:compute(opts) return (base.compute(self, opts or {})) end
--- i:visualize([filename[, opts]]): draws the item's graph, as ldask.visualize.
-- @function Item:visualize
-- @param[opt] filename the file to write
-- @param[opt] opts options of ldask.visualize
-- @return the path written and a message
Item.visualize = require("ldask.visualize").method

--- A new Item: f(value, ...) computed lazily.
-- @param f the function
-- @param ... further arguments
-- @return an Item
function Item:apply(f, ...)
  M.check_fn(f, "bag.Item.apply function")
  return M.item_from("apply", self, f, self.key, ...)
end

--- The item as an ldask.delayed value.
-- @return a Delayed
function Item:to_delayed()
  local delayed = require "ldask.delayed"
  return setmetatable({ _key = self.key, _layers = self._layers }, delayed.Delayed)
end

function Item:__tostring() return "ldask.bag.Item<" .. self.key .. ">" end

return M
