--- ldask: task graphs and parallel collections for Lua on a C runtime.
-- This module is the user's entry point: `local ldask = require "ldask"`
-- (preloaded as the global `ldask` in the ldask program). It gathers the
-- core API; collections and tools load lazily on first use (ldask.array,
-- ldask.bag, ldask.diagnostics, ...).
-- Fields: `version` (a string), and the modules `array` (ldask.array),
-- `bag` (ldask.bag), `diagnostics`, `config`, `graph`, `optimize`, `codec`,
-- `errors`, `deploy` (ldask.deploy: SLURM, PBS, SSH clusters), `ml`
-- (ldask.ml), each loaded
-- on first use.
-- @module ldask
local graph = require "ldask.graph"
local base = require "ldask.base"
local delayed = require "ldask.delayed"
local tokenize = require "ldask.tokenize"

local M = {}

M.version = "0.1.0"

-- Graphs
M.get = base.get
M.key = graph.key
M.task = graph.task
M.quote = graph.quote
M.ref = graph.ref
M.is_collection = base.is_collection

-- Collections and lazy values
M.compute = base.compute
M.persist = base.persist
M.delayed = delayed.delayed
M.tokenize = tokenize.tokenize

--- Distributed: Client(address | {opts}) connects to an ldask-scheduler or
-- starts a local cluster; see ldask.client.new and docs/distributed.md.
-- @param[opt] address "tcp://HOST:PORT", or nil for a local cluster
-- @param[opt] opts `{ n_workers =, threads_per_worker =, scheduler_file = }`
-- @return a Client
-- @usage local c = ldask.Client()
-- print(c:submit(function(x) return x * 2 end, 21):result())   --> 42
-- c:close()
function M.Client(...) return require("ldask.client").new(...) end
--- Iterates over futures in the order they complete (ldask.client.as_completed).
-- @param futures a list of Futures
-- @param[opt] opts `{ timeout =, with_results = }`
-- @return an iterator
function M.as_completed(...) return require("ldask.client").as_completed(...) end
--- Waits until all (or the first) of some futures are done (ldask.client.wait).
-- @param futures a Future or a list of them
-- @param[opt] opts `{ timeout =, return_when = "ALL_COMPLETED" | "FIRST_COMPLETED" }`
-- @return `{ done = { ... }, not_done = { ... } }`
function M.wait(...) return require("ldask.client").wait(...) end

-- Shared clusters (ldask.client.coord, ldask.client.worker_client;
-- docs/distributed.md "Shared clusters").

--- Variable(name [, client]): a named value held by the scheduler (ldask.client.coord).
-- @param name the name
-- @param[opt] client a Client
-- @return a Variable
function M.Variable(...) return require("ldask.client").Variable(...) end
--- Queue(name [, {maxsize =, client =}]): a queue held by the scheduler (ldask.client.coord).
-- @param name the name
-- @param[opt] opts `{ maxsize =, client = }`
-- @return a Queue
function M.Queue(...) return require("ldask.client").Queue(...) end
--- Lock([name [, client]]): a cluster-wide lock (ldask.client.coord).
-- @param[opt] name the name
-- @param[opt] client a Client
-- @return a Lock
function M.Lock(...) return require("ldask.client").Lock(...) end
--- Semaphore{max_leases =, name =}: a cluster-wide semaphore (ldask.client.coord).
-- @param[opt] opts `{ max_leases =, name =, client = }`
-- @return a Semaphore
function M.Semaphore(...) return require("ldask.client").Semaphore(...) end
--- Event(name [, client]): a cluster-wide flag (ldask.client.coord).
-- @param name the name
-- @param[opt] client a Client
-- @return an Event
function M.Event(...) return require("ldask.client").Event(...) end
--- fire_and_forget(futures): the futures run even when released (ldask.client.coord).
-- @param futures a Future or a list of them
function M.fire_and_forget(...) return require("ldask.client").fire_and_forget(...) end
--- get_client(): the cluster's client, also inside a task (ldask.client.worker_client).
-- @return a Client
function M.get_client() return require("ldask.client").get_client() end
--- worker_client(fn, ...): fn(client, ...) with the task seceded (ldask.client.worker_client).
-- @param fn a function(client, ...)
-- @return what FN returns
function M.worker_client(...) return require("ldask.client").worker_client(...) end
--- annotate(annotations, fn, ...): fn(...) with annotations in force, as
-- dask's `with dask.annotate(...)` (ldask.annotations): collections made
-- meanwhile carry them to the cluster, e.g. `{ resources = { GPU = 1 } }`.
-- @param annotations a table
-- @param fn a function
-- @return what fn returns
function M.annotate(...) return require("ldask.annotations").annotate(...) end
--- secede(): the running task stops counting against its worker's threads.
function M.secede() return require("ldask.client").secede() end
--- rejoin(): a seceded task counts against its worker's threads again.
function M.rejoin() return require("ldask.client").rejoin() end

--- Writes a picture of the graph of OBJ (a collection or delayed value, or
-- several in a list) with Graphviz, nodes shaded by execution order;
-- without `dot` installed it writes the .dot file and says so.
-- @param obj a collection, a Delayed, or a list of them
-- @param[opt] filename ends in .dot, .svg or .png (default "mydask.svg")
-- @param[opt] opts `{ optimize_graph = }`
-- @return the path written and a message
function M.visualize(obj, filename, opts)
  return require("ldask.visualize").visualize(obj, filename, opts)
end

local lazy = {
  array = "ldask.array",
  bag = "ldask.bag",
  dataframe = "ldask.dataframe",
  diagnostics = "ldask.diagnostics",
  config = "ldask.config",
  graph = "ldask.graph",
  layer = "ldask.layer",
  optimize = "ldask.optimize",
  codec = "ldask.codec",
  errors = "ldask.errors",
  deploy = "ldask.deploy",
  ml = "ldask.ml",
}

setmetatable(M, {
  __index = function(t, k)
    local mod = lazy[k]
    if mod then
      local v = require(mod)
      rawset(t, k, v)
      return v
    end
  end,
})

return M
