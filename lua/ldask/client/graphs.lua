--- ldask.client.graphs: the Client methods that run task graphs and
-- collections on the cluster: get (the ldask.get contract), compute (a
-- future of a collection's finalized value) and persist (a collection whose
-- data stays on the cluster). Installed into ldask.client's Client.
-- @submodule ldask.client
local graph = require "ldask.graph"
local misuse = require("ldask.errors").misuse
local tokenize = require "ldask.tokenize"
local future = require "ldask.client.future"

local type, error, pairs, ipairs, setmetatable, getmetatable, pcall, tostring, select, unpack =
  type, error, pairs, ipairs, setmetatable, getmetatable, pcall, tostring, select, unpack
local is_future, Future = future.is_future, future.Future
local call_task = require("ldask.task.payload").call_task -- the compact call form
local annotations = require "ldask.annotations"
local of_key, check_resources = annotations.of_key, annotations.check_resources

local next = next
local task_deps = graph.task_deps

local G = {}

-- The dependency keys of V (of KEY) in G, as graph.task_deps gives them;
-- a task whose arguments are all in its array part and none a table (the
-- usual {f, "key", 1, ...}) is read without graph.task_deps' recursion
-- and tables (one shared, read-only empty list when it has none).
local NO_DEPS = setmetatable({}, { __newindex = function() error("NO_DEPS is read-only", 2) end })
local function deps_of(g, v, key)
  if type(v) ~= "table" or getmetatable(v) ~= nil then return task_deps(g, v, key) end
  local n = #v
  if next(v, n > 0 and n or nil) ~= nil then return task_deps(g, v, key) end
  local out, no, seen = NO_DEPS, 0, nil
  for i = 1, n do
    local a = v[i]
    local ta = type(a)
    if ta == "string" then
      if g[a] ~= nil then
        local dup = false
        if seen then
          dup = seen[a]
        else
          for j = 1, no do
            if out[j] == a then dup = true; break end
          end
        end
        if not dup then
          if no == 0 then out = {} end
          no = no + 1
          out[no] = a
          if seen then
            seen[a] = true
          elseif no == 16 then
            seen = {}
            for j = 1, no do seen[out[j]] = true end
          end
        end
      end
    elseif ta == "table" then
      return task_deps(g, v, key)
    end
  end
  return out
end

-- What KEYS (a flat list) need of G, indexed for graph.order: the culled
-- graph, its deps (key -> dependency keys, read by deps_of) and its
-- graph.index, built from those deps.
local function cull_index(g, keys)
  local out, odeps = require("ldask.optimize").cull(g, keys, function(k, v) return deps_of(g, v, k) end)
  return out, odeps, graph.index(out, odeps)
end

local EMPTY = {}
local ceil, min = math.ceil, math.min
-- Tasks per update-graph message of a large graph.
local GRAPH_CHUNK = 2000

-- True when a future is inside V (plain tables are searched, as
-- strip_futures does), without copying anything.
local function has_future_in(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  if mt ~= nil then return mt == Future end
  for _, x in pairs(v) do
    if type(x) == "table" and has_future_in(x) then return true end
  end
  return false
end

-- The same, with a task's usual shape (an array part of no tables: no
-- future can hide there) decided in one flat loop.
local function has_future(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  if mt ~= nil then return mt == Future end
  local n = #v
  for i = 1, n do
    if type(v[i]) == "table" then return has_future_in(v) end
  end
  if next(v, n > 0 and n or nil) == nil then return false end
  return has_future_in(v)
end

-- The plain graph and the compact layers of collection OBJ
-- (ldask.scheduler.layered.split), or nil when it has no compact layer.
local function layered_parts(obj)
  if not obj.__ldask_layers then return nil end
  return require("ldask.scheduler.layered").split(obj:__ldask_layers())
end

-- VALUES (a flat list, read from POS.i + 1 on) in the nesting of KEYS.
function G.reshape(keys, values, pos)
  if type(keys) == "table" and getmetatable(keys) == nil then
    local out = {}
    for i = 1, #keys do out[i] = G.reshape(keys[i], values, pos) end
    return out
  end
  pos.i = pos.i + 1
  return values[pos.i]
end

G.cull_index = cull_index
G.deps_of = deps_of

function G.install(M, Client, strip_futures)
  local function check(self, name)
    if getmetatable(self) ~= Client then error("Client:" .. name .. ": call it with ':' on a client", 3) end
    if self.closed then error("Client:" .. name .. ": the client is closed", 3) end
  end


  -- Submits graph G; returns futures for the flat list WANTED. DEPS (key ->
  -- dependency keys, as optimize.cull returns them) and IX (G's
  -- graph.index) save computing them again.
  function Client:_submit_graph(g, wanted, opts, level, deps, ix)
    deps = deps or graph.deps(g)
    local tasks, nt = {}, 0
    ix = ix or graph.index(g, deps)
    local ok, order_or_err, prios = pcall(graph.order, ix)
    if not ok then misuse("ldask.Client: " .. tostring(order_or_err)) end
    local base = self.seq
    -- tasks in execution order: dependencies before dependents
    local keys = ix.keys
    for p = 1, ix.n do
      local i = order_or_err[p]
      local key = keys[i]
      local v = g[key]
      if is_future(v) and v.key == key then
        -- already on the cluster (a persisted collection)
      else
        local fdeps = EMPTY
        local sv = v
        if type(v) == "table" and has_future(v) then
          fdeps = {}
          sv = strip_futures(v, fdeps)
        end
        -- {f, args...}: the compact call form, f sent once; every argument
        -- is evaluated with the graph's rules on the worker ('r').
        if type(sv) == "table" and getmetatable(sv) == nil and type(sv[1]) == "function" then
          local fh = self:_fn_hash(sv[1], level + 1)
          if fh then sv = call_task(fh, sv) end
        end
        local d = deps[key]
        if #fdeps > 0 then
          local dd = {}
          for j = 1, #d do dd[j] = d[j] end
          for _, k in ipairs(fdeps) do dd[#dd + 1] = k end
          d = dd
        end
        local ann = of_key(key)
        local t = { key = key, value = sv, deps = d, order = base + prios[i - 1] }
        if ann and ann.resources then t.resources = ann.resources end
        nt = nt + 1
        tasks[nt] = t
      end
    end
    self.seq = base + ix.n
    local futs = {}
    for i, k in ipairs(wanted) do futs[i] = future.new(self, k) end
    self:_send_graph(tasks, wanted, opts, level + 1)
    return futs
  end

  -- Sends TASKS (in execution order) with WANTED keys. A large graph goes
  -- out in chunks so that the cluster starts while the client still
  -- encodes the rest. A task whose dependents come in a later chunk is
  -- wanted by the client until they are sent (otherwise the scheduler would
  -- drop its result as soon as its known dependents finished), then
  -- released. When that would hold too many keys (wide fan-ins), the graph
  -- goes in one message.
  function Client:_send_graph(tasks, wanted, opts, level)
    local n = #tasks
    if n <= GRAPH_CHUNK then
      self:_send_tasks(tasks, 1, n, wanted, opts, level + 1)
      return
    end
    local pos = {}
    for p = 1, n do pos[tasks[p].key] = p end
    tasks.pos = pos -- (mp.update_graph reads it: no index of its own per chunk)
    local held, nheld = {}, 0 -- key -> last chunk with a task needing it
    for p = 1, n do
      local c = ceil(p / GRAPH_CHUNK)
      local d = tasks[p].deps
      for j = 1, #d do
        local q = pos[d[j]]
        if q and ceil(q / GRAPH_CHUNK) < c then
          if held[d[j]] == nil then nheld = nheld + 1 end
          held[d[j]] = c
        end
      end
    end
    if nheld > n / 16 then
      self:_send_tasks(tasks, 1, n, wanted, opts, level + 1)
      return
    end
    local nchunks = ceil(n / GRAPH_CHUNK)
    local want = {}
    for c = 1, nchunks do want[c] = {} end
    local inwant = {}
    for _, k in ipairs(wanted) do
      if not inwant[k] then
        inwant[k] = true
        local w = want[pos[k] and ceil(pos[k] / GRAPH_CHUNK) or 1]
        w[#w + 1] = k
      end
    end
    local holding = {}
    for k in pairs(held) do
      if not inwant[k] then
        local w = want[ceil(pos[k] / GRAPH_CHUNK)]
        w[#w + 1] = k
      end
      holding[#holding + 1] = k
      self:_ref(k)
    end
    local ok, err = true, nil
    for c = 1, nchunks do
      local first = (c - 1) * GRAPH_CHUNK + 1
      ok, err = pcall(self._send_tasks, self, tasks, first, min(n, first + GRAPH_CHUNK - 1), want[c], opts, level + 2)
      if not ok then break end
    end
    for _, k in ipairs(holding) do self:_unref(k) end
    self:_flush_releases()
    if not ok then error(err, 0) end
  end

  local reshape = G.reshape

  --- get(graph, keys [, opts]): runs a graph on the cluster and returns the
  -- results of KEYS (a key or nested list) in the same shape; the scheduler
  -- contract of ldask.get (see ldask.client.scheduler).
  -- @param g the graph
  -- @param keys a key or a nested list of keys
  -- @param[opt] opts options of ldask.get
  -- @return the results
  function Client:get(g, keys, opts)
    check(self, "get")
    if type(g) ~= "table" then error("Client:get: graph must be a table, got " .. type(g), 2) end
    opts = opts or {}
    local flat = graph.flatten_keys(keys)
    graph.check_keys(g, flat, 2)
    local deps, ix
    if opts.optimize_graph ~= false then g, deps, ix = cull_index(g, flat) end
    local futs = self:_submit_graph(g, flat, {}, 2, deps, ix)
    local values = self:gather(futs, opts.timeout)
    for _, f in ipairs(futs) do f:release() end
    self:_flush_releases()
    return reshape(keys, values, { i = 0 })
  end

  -- Submits collection OBJ (optimized) and returns the future of its
  -- finalized value.
  local function compute_one(self, obj, opts, level)
    local keys = obj:__ldask_keys()
    local plain, compact = layered_parts(obj)
    if compact then -- compact layers: written out chunk by chunk (ldask.client.layers)
      local fin = obj:__ldask_postcompute()
      if fin == nil and type(keys) == "string" then return self:_submit_layers(plain, compact, { keys }, opts, level + 1)[1] end
      self.nfinal = (self.nfinal or 0) + 1
      local out = "finalize-" .. tokenize.tokenize(keys) .. "-" .. self.nfinal
      plain[out] = { fin or function(r) return r end, keys }
      return self:_submit_layers(plain, compact, { out }, opts, level + 1)[1]
    end
    local g = obj:__ldask_graph()
    local flat = graph.flatten_keys(keys)
    if obj.__ldask_optimize then g = obj:__ldask_optimize(g, flat) end
    local fin = obj:__ldask_postcompute()
    if fin == nil and type(keys) == "string" then
      if is_future(g[keys]) and g[keys].key == keys then return future.new(self, keys) end
      local deps, ix
      g, deps, ix = cull_index(g, flat)
      return self:_submit_graph(g, { keys }, opts, level + 1, deps, ix)[1]
    end
    -- (the finalizer itself is not hashed: its upvalues may hold anything)
    self.nfinal = (self.nfinal or 0) + 1
    local out = "finalize-" .. tokenize.tokenize(keys) .. "-" .. self.nfinal
    local g2 = {}
    for k, v in pairs(g) do g2[k] = v end
    if fin then
      g2[out] = { fin, keys }
    else
      g2[out] = { function(r) return r end, keys }
    end
    local deps, ix
    g2, deps, ix = cull_index(g2, { out })
    return self:_submit_graph(g2, { out }, opts, level + 1, deps, ix)[1]
  end

  --- compute(collections [, opts]) -> a Future of each collection's
  -- finalized value, in the same nesting: one collection gives a future,
  -- plain tables (lists, keyed tables, nested) of collections give the
  -- same tables of futures; other values pass through unchanged.
  -- @param obj a collection, or a table of them
  -- @param[opt] opts options of the submission (`client.options{ resources =,
  -- workers =, retries = }`)
  -- @return futures, in the same shape
  function Client:compute(obj, opts)
    check(self, "compute")
    local base = require "ldask.base"
    if not base.is_collection(obj) and (type(obj) ~= "table" or getmetatable(obj) ~= nil) then
      error("Client:compute: expected a collection or delayed value (or a table of them), got " .. type(obj), 2)
    end
    if opts ~= nil and type(opts) ~= "table" then error("Client:compute: options must be a table, got " .. type(opts), 2) end
    if opts and opts.resources ~= nil then check_resources(opts.resources, "Client:compute", 2) end
    local made = {}
    return (base.replace_collections(obj, function(c)
      local f = made[c]
      if not f then f = compute_one(self, c, opts or {}, 4); made[c] = f end
      return f
    end))
  end

  -- Submits collection OBJ and returns it rebuilt on futures of its keys
  -- (the collection's __ldask_postpersist), or a Persisted wrapper.
  local function persist_one(self, obj, opts, level)
    local keys = require("ldask.base").persist_keys(obj)
    local flat = graph.flatten_keys(keys)
    local plain, compact = layered_parts(obj)
    local futs
    if compact then
      futs = self:_submit_layers(plain, compact, flat, opts, level + 1)
    else
      local g = obj:__ldask_graph()
      if obj.__ldask_optimize then g = obj:__ldask_optimize(g, flat) end
      local deps, ix
      g, deps, ix = cull_index(g, flat)
      futs = self:_submit_graph(g, flat, opts, level + 1, deps, ix)
    end
    local pg = {}
    for i, k in ipairs(flat) do pg[k] = futs[i] end
    if obj.__ldask_postpersist then return obj:__ldask_postpersist()(pg) end
    local fin = obj:__ldask_postcompute()
    return setmetatable({ graph = pg, keys = keys, finalize = fin, futures = futs }, M.Persisted)
  end

  --- persist(collection, ...[, opts]) -> the same kind of collection (array, bag,
  -- delayed), of the same keys, whose graph holds futures of the data kept
  -- on the cluster: keep working with it (p:sum():compute()). Several
  -- arguments, or plain tables of collections, give the same shape. The
  -- last argument may be `client.options{ resources =, workers =, retries = }`.
  -- @param ... collections (or tables of them), then optionally options
  -- @return the persisted collections, one per argument
  function Client:persist(...)
    check(self, "persist")
    local base = require "ldask.base"
    local n = select("#", ...)
    local args = { ... }
    local opts = {}
    if n > 0 and getmetatable(args[n]) == M.Options then
      opts = args[n]; args[n] = nil; n = n - 1
      if opts.resources ~= nil then check_resources(opts.resources, "Client:persist", 2) end
    end
    if n == 0 then error("Client:persist: expected a collection", 2) end
    for i = 1, n do
      local a = args[i]
      if not base.is_collection(a) and (type(a) ~= "table" or getmetatable(a) ~= nil) then
        error("Client:persist: argument " .. i .. " is a " .. type(a) .. ", not a collection", 2)
      end
    end
    local made, out = {}, {}
    for i = 1, n do
      out[i] = (base.replace_collections(args[i], function(c)
        local p = made[c]
        if not p then p = persist_one(self, c, opts, 4); made[c] = p end
        return p
      end))
    end
    return unpack(out, 1, n)
  end

  M.Persisted = { __name = "ldask.Persisted" }
  M.Persisted.__index = {
    __ldask_graph = function(self) return self.graph end,
    __ldask_keys = function(self) return self.keys end,
    __ldask_postcompute = function(self) return self.finalize end,
  }


  require("ldask.client.layers").install(M, Client, strip_futures)
end

return G
