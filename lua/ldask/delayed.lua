--- ldask.delayed: lazy values built from plain Lua code. delayed(f) wraps a
-- function so calling it records a task instead of running it; delayed(v)
-- wraps a value. Operators, indexing, method calls and calls on delayed
-- values build further tasks; :compute() runs the graph. Keys are
-- deterministic (a hash of function and arguments) unless pure=false.
-- @module ldask.delayed
local graph = require "ldask.graph"
local tokenize = require "ldask.tokenize"
local base = require "ldask.base"
local funcname_of = require("ldask.funcname").of
local misuse = require("ldask.errors").misuse

local type, getmetatable, setmetatable, pairs, select, rawget = type, getmetatable, setmetatable, pairs, select, rawget
local unpack, tostring = unpack, tostring

local M = {}

local Delayed = { __name = "ldask.Delayed" }
M.Delayed = Delayed

local function is_delayed(x) return getmetatable(x) == Delayed end
M.is_delayed = is_delayed

-- Fields every Delayed keeps (rawget only): _key, _layers (name -> graph).
local record_annotations = require("ldask.annotations").record
local function new(key, layers)
  record_annotations(key)
  return setmetatable({ _key = key, _layers = layers }, Delayed)
end
-- The Delayed of KEY in the graph LAYERS (name -> graph or compact layer).
M.new = new

local function merge_into(layers, from) for name, g in pairs(from) do layers[name] = g end end

-- Converts an argument into its graph form, collecting the layers of any
-- delayed values or collections inside it. Returns the graph-form argument.
local function unpack_arg(a, layers, depth)
  local t = type(a)
  if t == "userdata" and base.is_collection(a) then -- a proxy collection (ldask.proxy: arrays)
    local d = M.from_collection(a)
    merge_into(layers, rawget(d, "_layers"))
    return graph.ref(rawget(d, "_key"))
  end
  if t == "table" then
    local mt = getmetatable(a)
    if mt == Delayed then
      merge_into(layers, rawget(a, "_layers"))
      return graph.ref(rawget(a, "_key"))
    end
    if base.is_collection(a) then
      local d = M.from_collection(a)
      merge_into(layers, rawget(d, "_layers"))
      return graph.ref(rawget(d, "_key"))
    end
    if mt == nil then
      local out, changed = {}, false
      for k, v in pairs(a) do
        local u = unpack_arg(v, layers, depth + 1)
        out[k] = u
        if u ~= v then changed = true end
      end
      if changed then return out end
      return depth == 0 and graph.quote(a) or a
    end
    return graph.quote(a)
  end
  return a
end

-- Builds the Delayed for calling F (a function or a Delayed) with ARGS.
local function call(f, opts, n, ...)
  local layers = {}
  local args = { ... }
  local task = { nil }
  local fref
  if is_delayed(f) then
    merge_into(layers, rawget(f, "_layers"))
    fref = graph.ref(rawget(f, "_key"))
    task[1] = M.apply
    task[2] = fref
  else
    task[1] = f
  end
  local off = #task
  for i = 1, n do task[off + i] = unpack_arg(args[i], layers, 0) end
  local key = opts.key
  if not key then
    local prefix = opts.name or funcname_of(f, 3)
    local tok
    if opts.pure == false then tok = tokenize.unique() else tok = tokenize.tokenize(f, n, unpack(task, off + 1, off + n)) end
    if opts.nout then tok = tokenize.tokenize(tok, "nout", opts.nout) end
    key = prefix .. "-" .. tok
  end
  local nout = opts.nout
  if nout then
    -- the task packs the function's nout results; each item takes one
    table.insert(task, 1, nout)
    table.insert(task, 1, M.call_nout)
    layers[key] = { [key] = task }
    local whole = new(key, layers)
    local items = {}
    for i = 1, nout do items[i] = call(M.getitem, { name = "getitem" }, 2, whole, i) end
    return unpack(items, 1, nout)
  end
  layers[key] = { [key] = task }
  return new(key, layers)
end

-- Runs f(...) for a delayed function declared with nout: returns the list
-- of its NOUT results, from its several return values or from the one
-- table it returns. (The one function of the task: no upvalues to ship.)
function M.call_nout(nout, f, ...)
  local function pack(...)
    local n = select("#", ...)
    if n == 1 and nout > 1 then
      local t = ...
      if type(t) == "table" and getmetatable(t) == nil then
        if #t < nout then
          error("a delayed function declared with nout = " .. nout .. " returned a table of "
            .. #t .. " values", 0)
        end
        return t
      end
    end
    if n < nout then
      error("a delayed function declared with nout = " .. nout .. " returned " .. n
        .. " value(s): return " .. nout .. " values, or one table of " .. nout, 0)
    end
    return { ... }
  end
  return pack(f(...))
end

-- Calls delayed function D with the remaining arguments (used when the
-- function itself is a computed value).
function M.apply(fn, ...) return fn(...) end

-- Indexing and method lookup at run time.
function M.getitem(obj, k) return obj[k] end
function M.callmethod(obj, name, ...) return obj[name](obj, ...) end

local ops = {
  add = function(a, b) return a + b end, sub = function(a, b) return a - b end,
  mul = function(a, b) return a * b end, div = function(a, b) return a / b end,
  mod = function(a, b) return a % b end, pow = function(a, b) return a ^ b end,
  unm = function(a) return -a end, concat = function(a, b) return a .. b end,
  len = function(a) return #a end, -- #d is not lazy in LuaJIT (no __len on tables)
}
M.ops = ops

local DelayedFunction = { __name = "ldask.DelayedFunction" }
DelayedFunction.__index = DelayedFunction
DelayedFunction.__call = function(self, ...) return call(self.fn, self.opts, select("#", ...), ...) end
DelayedFunction.__tostring = function(self) return "DelayedFunction(" .. (self.opts.name or funcname_of(self.fn)) .. ")" end

--- delayed(f [, opts]) -> a function building tasks; delayed(value [, opts])
-- -> a Delayed holding the value. OPTS: pure (default true), name (key
-- prefix), key (exact key, for one call or one value).
-- @param x a function, or any value
-- @param[opt] opts `{ pure =, name =, key = }`
-- @return a function that builds Delayed values, or a Delayed
-- @usage local inc = ldask.delayed(function(x) return x + 1 end)
-- print(inc(1):compute())   --> 2
function M.delayed(x, opts)
  opts = opts or {}
  if type(opts) ~= "table" then misuse("ldask.delayed: options must be a table, got " .. type(opts)) end
  if x == nil then
    misuse("ldask.delayed: got nil: to delay a function, pass the function"
      .. " (is it defined, and spelled right, before this line?);"
      .. " to delay a value, pass a value (wrap a nil in a table)")
  end
  local nout = opts.nout
  if nout ~= nil then
    if type(nout) ~= "number" or nout < 1 or nout % 1 ~= 0 then
      misuse("ldask.delayed: nout must be a positive integer, got " .. tostring(nout))
    end
    if type(x) ~= "function" and not is_delayed(x) then
      misuse("ldask.delayed: nout applies to a function, got " .. type(x))
    end
  end
  if is_delayed(x) then
    if nout then return setmetatable({ fn = x, opts = opts }, DelayedFunction) end
    return x
  end
  if type(x) == "function" then
    funcname_of(x, 2) -- its name where the caller holds it: the key prefix
    return setmetatable({ fn = x, opts = opts }, DelayedFunction)
  end
  if base.is_collection(x) then return M.from_collection(x) end
  local layers = {}
  local v = unpack_arg(x, layers, 0)
  local key = opts.key
  if not key then
    local tok = opts.pure == false and tokenize.unique() or tokenize.tokenize(x)
    key = (opts.name or type(x)) .. "-" .. tok
  end
  if graph.is_task(v) then v = graph.quote(x) end
  layers[key] = { [key] = v }
  return new(key, layers)
end

--- Wraps a collection as one Delayed whose value is its computed result.
-- @param c a collection (array, bag, ...)
-- @return a Delayed
function M.from_collection(c)
  local layers = {}
  if c.__ldask_layers then merge_into(layers, c:__ldask_layers())
  else layers[#layers + 1] = c:__ldask_graph() end
  local keys = c:__ldask_keys()
  local finalize = c:__ldask_postcompute()
  local key = "finalize-" .. tokenize.tokenize(keys)
  local task = finalize and { finalize, keys } or { function(x) return x end, keys }
  layers[key] = { [key] = task }
  return new(key, layers)
end

local function binop(name)
  local f = ops[name]
  return function(a, b)
    return call(f, { name = name }, 2, a, b)
  end
end

Delayed.__add = binop("add")
Delayed.__sub = binop("sub")
Delayed.__mul = binop("mul")
Delayed.__div = binop("div")
Delayed.__mod = binop("mod")
Delayed.__pow = binop("pow")
Delayed.__concat = binop("concat")
Delayed.__unm = function(a) return call(ops.unm, { name = "neg" }, 1, a) end
Delayed.__call = function(self, ...) return call(self, { name = "call" }, select("#", ...), ...) end
Delayed.__tostring = function(self) return "Delayed('" .. rawget(self, "_key") .. "')" end

local methods = {}

--- d:compute([opts]): runs the graph and returns the value (ldask.compute on one
-- object).
-- @function Delayed:compute
-- @param[opt] opts options of ldask.compute
-- @return the value
function methods.compute(self, opts)
  base.check_opts(opts, "Delayed:compute", true)
  return (base.compute(self, opts))
end
function methods.key(self) return rawget(self, "_key") end
--- d:graph(): the task graph that computes the Delayed (before optimization).
-- @function Delayed:graph
-- @return a graph table
function methods.graph(self) return graph.flatten_layers(rawget(self, "_layers")) end
--- d:visualize([filename[, opts]]): draws the graph, as ldask.visualize.
-- @function Delayed:visualize
-- @param[opt] filename the file to write
-- @param[opt] opts options of ldask.visualize
-- @return the path written and a message
methods.visualize = require("ldask.visualize").method
function methods.__ldask_graph(self) return graph.flatten_layers(rawget(self, "_layers")) end
function methods.__ldask_layers(self) return rawget(self, "_layers") end
function methods.__ldask_keys(self) return rawget(self, "_key") end
function methods.__ldask_postcompute() return nil end
-- ldask.persist / client:persist: the same value backed by LAYER (its key
-- -> a future or the computed value).
function methods.__ldask_postpersist(self)
  local key = rawget(self, "_key")
  return function(layer) return new(key, { ["persisted-" .. key] = layer }) end
end
function methods.persist(self, opts) return (base.persist_method(self, opts)) end

-- d.field -> a Delayed of the field; d:method(...) -> a Delayed of the call
-- (a method named like a Delayed method, e.g. compute, is the Delayed's).
local Attr = { __name = "ldask.DelayedAttr" }
Delayed.__index = function(self, k)
  local m = methods[k]
  if m then return m end
  -- protocol probes (__ldask_optimize, __tostring, ...) are never lazy
  if type(k) == "string" and k:sub(1, 2) == "__" then return nil end
  local item = call(M.getitem, { name = "getitem" }, 2, self, k)
  rawset(item, "_parent", self)
  rawset(item, "_attr", k)
  return item
end
M.Attr = Attr

-- A method call d:name(...) arrives as item(d, ...) where item = d.name:
-- record it as callmethod(d, name, ...) so `self` is the object.
local plain_call = Delayed.__call
Delayed.__call = function(self, ...)
  local parent = rawget(self, "_parent")
  if parent ~= nil and select("#", ...) >= 1 and select(1, ...) == parent then
    return call(M.callmethod, { name = tostring(rawget(self, "_attr")) }, select("#", ...) + 1,
      parent, rawget(self, "_attr"), select(2, ...))
  end
  return plain_call(self, ...)
end

return M
