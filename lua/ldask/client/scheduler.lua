-- ldask.client.scheduler: the "distributed" scheduler of ldask.get and
-- ldask.compute: runs graphs on the default client's cluster
-- (ldask.client.current()).
local M = {}

function M.get(g, keys, opts)
  local client = require("ldask.client").current()
  if not client then
    error("ldask: the 'distributed' scheduler needs a client: create one with ldask.Client(...)", 0)
  end
  return client:get(g, keys, opts)
end

return M
