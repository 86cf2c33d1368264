-- ldask.client.graphs: the Client methods that run task graphs and
-- collections on the cluster: get (the ldask.get contract), compute (a
-- future of a collection's finalized value) and persist (a collection whose
-- data stays on the cluster). Installed into ldask.client's Client.
local graph = require "ldask.graph"
local tokenize = require "ldask.tokenize"
local future = require "ldask.client.future"

local type, error, pairs, ipairs, setmetatable, getmetatable, pcall, tostring =
  type, error, pairs, ipairs, setmetatable, getmetatable, pcall, tostring
local is_future = future.is_future
local CALL = "\0ldask.call" -- the compact call form (ldask.client.exec)

local G = {}

function G.install(M, Client, strip_futures)
  local function check(self, name)
    if getmetatable(self) ~= Client then error("Client:" .. name .. ": call it with ':' on a client", 3) end
    if self.closed then error("Client:" .. name .. ": the client is closed", 3) end
  end


  -- Submits graph G; returns futures for the flat list WANTED.
  function Client:_submit_graph(g, wanted, opts, level)
    local deps = graph.deps(g)
    local tasks = {}
    local ix = graph.index(g, deps)
    local ok, order_or_err, prios = pcall(graph.order, ix)
    if not ok then error("ldask.Client: " .. tostring(order_or_err), level + 1) end
    local base = self.seq
    for i = 1, ix.n do
      local key = ix.keys[i]
      local v = g[key]
      if is_future(v) and v.key == key then
        -- already on the cluster (a persisted collection)
      else
        local fdeps = {}
        local sv = strip_futures(v, fdeps)
        -- {f, args...}: the compact call form, f sent once; every argument
        -- is evaluated with the graph's rules on the worker ('r').
        if type(sv) == "table" and getmetatable(sv) == nil and type(sv[1]) == "function" then
          local fh = self:_fn_hash(sv[1], level + 1)
          if fh then
            local n = #sv
            local t = { CALL, fh, string.rep("r", n - 1) }
            for j = 2, n do t[j + 2] = sv[j] end
            sv = t
          end
        end
        local d = {}
        for _, k in ipairs(deps[key]) do d[#d + 1] = k end
        for _, k in ipairs(fdeps) do d[#d + 1] = k end
        tasks[#tasks + 1] = { key = key, value = sv, deps = d, order = base + prios[i - 1] }
      end
    end
    self.seq = base + ix.n
    local futs = {}
    for i, k in ipairs(wanted) do futs[i] = future.new(self, k) end
    self:_update_graph(tasks, wanted, opts, level + 1)
    return futs
  end

  local function reshape(keys, values, pos)
    if type(keys) == "table" and getmetatable(keys) == nil then
      local out = {}
      for i = 1, #keys do out[i] = reshape(keys[i], values, pos) end
      return out
    end
    pos.i = pos.i + 1
    return values[pos.i]
  end

  -- get(graph, keys [, opts]): runs a graph on the cluster and returns the
  -- results of KEYS (a key or nested list) in the same shape; the scheduler
  -- contract of ldask.get (see ldask.client.scheduler).
  function Client:get(g, keys, opts)
    check(self, "get")
    if type(g) ~= "table" then error("Client:get: graph must be a table, got " .. type(g), 2) end
    opts = opts or {}
    local flat = graph.flatten_keys(keys)
    graph.check_keys(g, flat, 2)
    if opts.optimize_graph ~= false then
      local optimize = require "ldask.optimize"
      g = optimize.cull(g, flat)
    end
    local futs = self:_submit_graph(g, flat, {}, 2)
    local values = self:gather(futs, opts.timeout)
    for _, f in ipairs(futs) do f:release() end
    self:_flush_releases()
    return reshape(keys, values, { i = 0 })
  end

  -- compute(collection or delayed [, opts]) -> a Future of its finalized
  -- value; with a list of collections, a list of futures.
  function Client:compute(obj, opts)
    check(self, "compute")
    local base = require "ldask.base"
    if not base.is_collection(obj) then
      if type(obj) == "table" and getmetatable(obj) == nil then
        local out = {}
        for i, o in ipairs(obj) do out[i] = self:compute(o, opts) end
        return out
      end
      error("Client:compute: expected a collection or delayed value, got " .. type(obj), 2)
    end
    local g = obj:__ldask_graph()
    local keys = obj:__ldask_keys()
    local flat = graph.flatten_keys(keys)
    if obj.__ldask_optimize then g = obj:__ldask_optimize(g, flat) end
    local fin = obj:__ldask_postcompute()
    if fin == nil and type(keys) == "string" then
      local optimize = require "ldask.optimize"
      g = optimize.cull(g, flat)
      return self:_submit_graph(g, { keys }, opts or {}, 2)[1]
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
    local optimize = require "ldask.optimize"
    g2 = optimize.cull(g2, { out })
    return self:_submit_graph(g2, { out }, opts or {}, 2)[1]
  end

  -- persist(collection) -> a collection of the same keys whose data stays on
  -- the cluster (its graph holds the futures); compute it through this client.
  function Client:persist(obj)
    check(self, "persist")
    local base = require "ldask.base"
    if not base.is_collection(obj) then error("Client:persist: expected a collection, got " .. type(obj), 2) end
    local g = obj:__ldask_graph()
    local keys = obj:__ldask_keys()
    local flat = graph.flatten_keys(keys)
    if obj.__ldask_optimize then g = obj:__ldask_optimize(g, flat) end
    local optimize = require "ldask.optimize"
    g = optimize.cull(g, flat)
    local futs = self:_submit_graph(g, flat, {}, 2)
    local pg = {}
    for i, k in ipairs(flat) do pg[k] = futs[i] end
    local fin = obj:__ldask_postcompute()
    return setmetatable({ graph = pg, keys = keys, finalize = fin, futures = futs }, M.Persisted)
  end

  M.Persisted = { __name = "ldask.Persisted" }
  M.Persisted.__index = {
    __ldask_graph = function(self) return self.graph end,
    __ldask_keys = function(self) return self.keys end,
    __ldask_postcompute = function(self) return self.finalize end,
  }


end

return G
