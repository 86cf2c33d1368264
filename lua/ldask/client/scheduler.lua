-- ldask.client.scheduler: the "distributed" scheduler of ldask.get and
-- ldask.compute: runs graphs on the default client's cluster
-- (ldask.client.current()).
local misuse = require("ldask.errors").misuse

local M = {}

function M.get(g, keys, opts)
  local client = require("ldask.client").current()
  if not client then
    misuse("ldask: the 'distributed' scheduler needs a client: create one with ldask.Client(...)")
  end
  return client:get(g, keys, opts)
end

-- ldask.get's contract for a graph of PLAIN tasks and COMPACT layers
-- (ldask.scheduler.layered.split), without writing the layers out at once.
function M.get_layers(plain, compact, keys, opts)
  local client = require("ldask.client").current()
  if not client then
    misuse("ldask: the 'distributed' scheduler needs a client: create one with ldask.Client(...)")
  end
  return client:_get_layers(plain, compact, keys, opts)
end

return M
