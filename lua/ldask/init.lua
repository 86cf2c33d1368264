-- ldask: task graphs and parallel collections for Lua on a C runtime.
-- This module is the user's entry point: `local ldask = require "ldask"`
-- (preloaded as the global `ldask` in the ldask program). Submodules load
-- lazily on first use (ldask.array, ldask.bag, ldask.diagnostics, ...).
local M = {}

M.version = "0.1.0"

local lazy = {
  array = "ldask.array",
  bag = "ldask.bag",
  diagnostics = "ldask.diagnostics",
  config = "ldask.config",
  graph = "ldask.graph",
  optimize = "ldask.optimize",
  codec = "ldask.codec",
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
