--- ldask.layer: compact graph layers, dask's HighLevelGraph idea. A
-- blockwise layer is one task template over block indices, not a table per
-- block: `blockwise(name, n, template, inputs)` stands for the N tasks
-- "name,0" .. "name,N-1", task i being TEMPLATE with its placeholders
-- filled in: `INDEX` (i), `dep(j)` (the j-th dependency's value) and `DEPS`
-- (the list of every dependency's value). Its dependencies come from
-- INPUTS: a layer of N blocks (block i of it), a key or Delayed (the same
-- one for every block). `reduce(layer, template, split_every)` adds a tree
-- of such layers (fan-in SPLIT_EVERY) and one final task.
--
-- A layer costs a few hundred bytes however many blocks it has. The
-- threaded scheduler runs it as it is (ldask.scheduler.layered: the
-- dependencies are computed as integers, the template is encoded once and
-- filled in on the executor thread that runs each task); every other
-- consumer (sync, the cluster, optimize, visualize) sees the plain tasks
-- that `materialize` writes. See docs/scheduler.md, "Compact layers".
-- @module ldask.layer
local graph = require "ldask.graph"
local tokenize = require "ldask.tokenize"

local type, getmetatable, setmetatable, pairs, ipairs, error, tostring, floor, min =
  type, getmetatable, setmetatable, pairs, ipairs, error, tostring, math.floor, math.min

local M = {}

-- A placeholder of a template: {code}: -1 the block index, 0 the list of
-- the dependencies' values, j >= 1 the j-th dependency's value. Travels by
-- reference (a field of this module), so executors recognise it.
local Arg = { __name = "ldask.layer.Arg" }
Arg.__index = Arg
Arg.__tostring = function(a)
  local c = a[1]
  return c == -1 and "INDEX" or c == 0 and "DEPS" or "dep(" .. c .. ")"
end
Arg.__ldask_tokenize = function(a) return "layer.arg:" .. a[1] end
M.Arg = Arg

--- The block index (0-based) of the task, in a template.
M.INDEX = setmetatable({ -1 }, Arg)
--- The list of the task's dependencies' values, in a template.
M.DEPS = setmetatable({ 0 }, Arg)

--- The J-th dependency's value (1-based, in the order of the inputs), in a
-- template.
-- @param j a positive integer
-- @return the placeholder
function M.dep(j)
  if type(j) ~= "number" or j < 1 or j % 1 ~= 0 then
    error("ldask.layer.dep: j must be a positive integer, got " .. tostring(j), 2)
  end
  return setmetatable({ j }, Arg)
end

local Layer = { __name = "ldask.Layer" }
M.Layer = Layer

--- True when X is a compact layer.
-- @param x any value
-- @return boolean
function M.is_layer(x) return getmetatable(x) == Layer end
local is_layer = M.is_layer

-- The dependency keys of block I (0-based) of layer L, in order.
local function dep_keys(l, i)
  local out = {}
  for _, inp in ipairs(l.inputs) do
    if inp.kind == "same" then
      out[#out + 1] = inp.name .. "," .. i
    elseif inp.kind == "key" then
      out[#out + 1] = inp.key
    else -- fanin
      local k = inp.k
      for j = i * k, min((i + 1) * k, inp.n) - 1 do out[#out + 1] = inp.name .. "," .. j end
    end
  end
  return out
end
M.dep_keys = dep_keys

local function as_ref(k) return graph.ref(k) end
local function as_key(k) return k end

-- TEMPLATE with its placeholders filled in for block I: dependency keys
-- DEPS as REF(key) makes them; quoted data and other objects are kept as
-- they are. A string of a template is a literal, never a reference: it is
-- quoted.
local function fill(v, i, deps, ref)
  local t = type(v)
  if t == "string" then return graph.quote(v) end -- a literal, as in the template
  if t ~= "table" then return v end
  local mt = getmetatable(v)
  if mt == Arg then
    local c = v[1]
    if c == -1 then return i end
    if c == 0 then
      local l = {}
      for j = 1, #deps do l[j] = ref(deps[j]) end
      return l
    end
    return ref(deps[c])
  end
  if mt ~= nil then return v end
  -- the array part by index (a loop LuaJIT compiles), then any other keys
  local out, n = {}, #v
  for k = 1, n do out[k] = fill(v[k], i, deps, ref) end
  if next(v, n > 0 and n or nil) ~= nil then
    for k, x in pairs(v) do
      if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then out[k] = fill(x, i, deps, ref) end
    end
  end
  return out
end

--- The plain task of block I (0-based) of layer L.
-- @param l a layer
-- @param i the block index
-- @return the task, a table
function M.task(l, i) return fill(l.template, i, dep_keys(l, i), as_ref) end

-- The task of block I of layer L with its dependencies as bare key strings
-- (ldask.graph.ref objects otherwise): for an executor that reads a string
-- naming one of the task's inputs as that input (a cluster worker does, as
-- dask); the template's own strings stay quoted, so none is taken for a
-- key. Bare strings keep the task plain data, which the client encodes
-- without the codec's object graph (lua/ldask/client/layers.lua).
-- Returns the task and the list of its input keys, in order.
function M.task_keys(l, i)
  local deps = dep_keys(l, i)
  return fill(l.template, i, deps, as_key), deps
end

--- The key of block I of layer L: "name,i".
-- @param l a layer
-- @param i the block index
-- @return the key
function M.key(l, i) return l.name .. "," .. i end

--- Writes the plain tasks of layer L into OUT (a graph table; a new one
-- when nil) and returns it.
-- @param l a layer
-- @param[opt] out a table
-- @return the graph table
function M.materialize(l, out)
  out = out or {}
  local name, template = l.name, l.template
  for i = 0, l.n - 1 do out[name .. "," .. i] = fill(template, i, dep_keys(l, i), as_ref) end
  return out
end

-- Checks a template: placeholders dep(j) only where every block has a j-th
-- dependency (no fan-in input); returns the highest j used.
local function check_template(v, what, seen)
  if type(v) ~= "table" then return 0 end
  local mt = getmetatable(v)
  if mt == Arg then return v[1] end
  if mt ~= nil or seen[v] then return 0 end
  seen[v] = true
  local hi = 0
  for _, x in pairs(v) do
    local h = check_template(x, what, seen)
    if h > hi then hi = h end
  end
  return hi
end

local function new(name, n, template, inputs, layers)
  local l = setmetatable({ name = name, n = n, template = template, inputs = inputs, _layers = layers }, Layer)
  layers[name] = l
  return l
end

--- For collections: the layer NAME (exactly) of N tasks, TEMPLATE over
-- INPUTS given as specs ({kind = "same", name =, n =}, {kind = "key", key
-- =}), added to LAYERS (name -> graph or layer), which it also keeps.
-- @param name the layer's name (its keys are "name,i")
-- @param n the number of blocks
-- @param template the task of a block
-- @param inputs the input specs, in dep(j) order
-- @param layers the graph layers it joins
-- @return the Layer
function M.named(name, n, template, inputs, layers) return new(name, n, template, inputs, layers) end

--- For collections: tree layers over layer L of fan-in SPLIT_EVERY, level
-- d named LEVEL_NAME(d), each task TEMPLATE (DEPS its group), added to
-- LAYERS; returns the last level (L itself when it has at most
-- SPLIT_EVERY blocks).
-- @param l a layer
-- @param template the combining task
-- @param split_every the fan-in
-- @param level_name a function(depth) -> the name of that level
-- @param layers the graph layers they join
-- @return the last level, a Layer
function M.tree(l, template, split_every, level_name, layers)
  local cur, depth = l, 0
  while cur.n > split_every do
    depth = depth + 1
    local n = floor((cur.n + split_every - 1) / split_every)
    cur = new(level_name(depth), n, template, { { kind = "fanin", name = cur.name, n = cur.n, k = split_every } }, layers)
  end
  return cur
end

--- The keys of every block of layer L, as a list.
-- @param l a layer
-- @return a list of keys
function M.keys(l)
  local out, name = {}, l.name
  for i = 0, l.n - 1 do out[i + 1] = name .. "," .. i end
  return out
end

--- Builds a blockwise layer of N tasks "name,i" (NAME: PREFIX plus a token
-- of the rest), task i being TEMPLATE with INDEX, dep(j) and DEPS filled in.
-- INPUTS (optional list): layers of N blocks (block i of each is a
-- dependency of task i) and keys or Delayed values (a dependency of every
-- task), in the order dep(j) counts them. The layer is a collection:
-- compute() gives the list of the N values.
-- @param prefix the name's prefix, e.g. "inc"
-- @param n the number of blocks (a positive integer)
-- @param template the task of a block, e.g. `{ inc, ldask.layer.INDEX }`
-- @param[opt] inputs a list of layers, keys and Delayed values
-- @return a Layer
-- @usage local L = ldask.layer
-- local x = L.blockwise("inc", 1000, { function(i) return i + 1 end, L.INDEX })
-- local total = L.reduce(x, { function(t) local s = 0 for _, v in ipairs(t) do s = s + v end return s end, L.DEPS })
-- print(total:compute())   --> 500500
function M.blockwise(prefix, n, template, inputs)
  local what = "ldask.layer.blockwise"
  if type(prefix) ~= "string" or prefix == "" or prefix:find(",", 1, true) then
    error(what .. ": prefix must be a non-empty string without ',', got " .. tostring(prefix), 2)
  end
  if type(n) ~= "number" or n < 1 or n % 1 ~= 0 or n > 2 ^ 31 - 2 then
    error(what .. ": n must be a positive integer, got " .. tostring(n), 2)
  end
  if type(template) ~= "table" or getmetatable(template) ~= nil or type(template[1]) ~= "function" then
    error(what .. ": template must be a task {f, args...}, got " .. tostring(template), 2)
  end
  inputs = inputs or {}
  if type(inputs) ~= "table" then error(what .. ": inputs must be a list, got " .. type(inputs), 2) end
  local layers, ins, toks = {}, {}, {}
  local delayed = require "ldask.delayed"
  for j, x in ipairs(inputs) do
    if is_layer(x) then
      if x.n ~= n then
        error(what .. ": input " .. j .. " ('" .. x.name .. "') has " .. x.n .. " blocks, not " .. n, 2)
      end
      ins[j] = { kind = "same", name = x.name, n = x.n }
      for k, g in pairs(x._layers) do layers[k] = g end
    elseif delayed.is_delayed(x) then
      ins[j] = { kind = "key", key = x:key() }
      for k, g in pairs(x:__ldask_layers()) do layers[k] = g end
    elseif type(x) == "string" then
      ins[j] = { kind = "key", key = x }
    else
      error(what .. ": input " .. j .. " must be a layer, a Delayed or a key, got " .. type(x), 2)
    end
    toks[j] = ins[j].name or ins[j].key
  end
  if #ins ~= #inputs then error(what .. ": inputs must be a list without holes", 2) end
  local hi = check_template(template, what, {})
  if hi > #ins then
    error(what .. ": the template reads dep(" .. hi .. ") but there are " .. #ins .. " inputs", 2)
  end
  local name = prefix .. "-" .. tokenize.tokenize(template, n, toks)
  return new(name, n, template, ins, layers)
end

--- Reduces layer L: tree layers of fan-in SPLIT_EVERY (default 8), each
-- task TEMPLATE with DEPS the values of its group (as dask's tree
-- reductions), then one final task FINAL (default TEMPLATE) over the
-- last level. Returns a Delayed.
-- @param l a layer
-- @param template the combining task, e.g. `{ sum, ldask.layer.DEPS }`
-- @param[opt] split_every the fan-in, an integer >= 2 (8)
-- @param[opt] final the final task (TEMPLATE)
-- @return a Delayed of the final value
function M.reduce(l, template, split_every, final)
  local what = "ldask.layer.reduce"
  if not is_layer(l) then error(what .. ": argument 1 must be a layer, got " .. type(l), 2) end
  split_every = split_every or 8
  if type(split_every) ~= "number" or split_every < 2 or split_every % 1 ~= 0 then
    error(what .. ": split_every must be an integer >= 2, got " .. tostring(split_every), 2)
  end
  if type(template) ~= "table" or getmetatable(template) ~= nil or type(template[1]) ~= "function" then
    error(what .. ": template must be a task {f, args...}, got " .. tostring(template), 2)
  end
  if check_template(template, what, {}) > 0 then
    error(what .. ": the template of a reduction reads its group as DEPS, not dep(j)", 2)
  end
  final = final or template
  local prefix = l.name:match("^(.-)%-[^-]*$") or l.name
  local token = tokenize.tokenize(l.name, template, split_every, final)
  local layers = {}
  for k, g in pairs(l._layers) do layers[k] = g end
  local cur = M.tree(l, template, split_every, function(d) return prefix .. "-combine" .. d .. "-" .. token end, layers)
  local key = prefix .. "-reduce-" .. token
  layers[key] = { [key] = fill(final, 0, M.keys(cur), as_ref) }
  return require("ldask.delayed").new(key, layers)
end

-- Collection protocol --------------------------------------------------------

Layer.__index = Layer
function Layer:__ldask_layers() return self._layers end
function Layer:__ldask_graph() return graph.flatten_layers(self._layers) end
function Layer:__ldask_keys() return M.keys(self) end
function Layer:__ldask_postcompute() return nil end
-- ldask.persist / client:persist: a Delayed of the list of the values,
-- backed by DONE (key -> value or future).
function Layer:__ldask_postpersist()
  local keys = self:__ldask_keys()
  local key = "persisted-" .. self.name
  return function(done)
    return require("ldask.delayed").new(key, {
      ["persisted-data-" .. self.name] = done,
      [key] = { [key] = { function(t) return t end, keys } },
    })
  end
end
--- l:persist([opts]): the layer's values computed and kept (on the
-- cluster with a client), as a Delayed of their list.
-- @function Layer:persist
-- @param[opt] opts options of ldask.persist
-- @return a Delayed
function Layer:persist(opts) return (require("ldask.base").persist_method(self, opts)) end
function Layer:__ldask_tokenize() return "layer:" .. self.name end
--- l:compute([opts]): the list of the layer's N values.
-- @function Layer:compute
-- @param[opt] opts options of ldask.compute
-- @return a list
function Layer:compute(opts) return (require("ldask.base").compute(self, opts or {})) end
function Layer:__tostring() return "ldask.Layer<" .. self.name .. ", " .. self.n .. " blocks>" end

return M
