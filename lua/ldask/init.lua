-- ldask: task graphs and parallel collections for Lua on a C runtime.
-- This module is the user's entry point: `local ldask = require "ldask"`
-- (preloaded as the global `ldask` in the ldask program). It gathers the
-- core API; collections and tools load lazily on first use (ldask.array,
-- ldask.bag, ldask.diagnostics, ...).
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

-- Distributed: Client(address | {opts}) connects to an ldask-scheduler or
-- starts a local cluster; see docs/distributed.md.
function M.Client(...) return require("ldask.client").new(...) end
function M.as_completed(...) return require("ldask.client").as_completed(...) end
function M.wait(...) return require("ldask.client").wait(...) end

-- Writes a picture of the graph of OBJ (a collection or delayed value, or
-- several in a list): see ldask.visualize.
function M.visualize(obj, filename, opts)
  return require("ldask.visualize").visualize(obj, filename, opts)
end

local lazy = {
  array = "ldask.array",
  bag = "ldask.bag",
  diagnostics = "ldask.diagnostics",
  config = "ldask.config",
  graph = "ldask.graph",
  optimize = "ldask.optimize",
  codec = "ldask.codec",
  errors = "ldask.errors",
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
