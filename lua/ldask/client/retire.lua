--- ldask.client.retire: Client:retire_workers (dask's
-- Client.retire_workers): the scheduler stops giving the chosen workers
-- tasks, copies the results only they hold to the other workers, then
-- closes them (a worker's nanny does not restart it). Used by adaptive
-- scaling (ldask.deploy). Installed into ldask.client's Client by
-- install(). Scheduler side: runtime/scheduler/retire.c.
-- @submodule ldask.client
require "ldask.ffi.client"
local lib = require "ldask.native"

local type, error, tostring, ipairs = type, error, tostring, ipairs

local R = {}

-- Adds the method to CLIENT (the Client metatable). SHARED: check,
-- lost_connection(self, what, level), now.
function R.install(_, Client, shared)
  local check, lost_connection, now = shared.check, shared.lost_connection, shared.now

  --- retire_workers{workers = {name or address, ...} | n = k [, timeout =
  -- seconds]}: retires workers gracefully, as dask's retire_workers: no
  -- new tasks go to them, the tasks they run finish, results held only by
  -- them are copied to the remaining workers first, then they close (their
  -- nannies do not restart them). With n, the scheduler picks the k
  -- cheapest to retire (fewest tasks running, fewest bytes held). Returns
  -- `{ [address] = { name =, address = } }` of the workers retired once
  -- they have left; raises when their results cannot be moved within
  -- TIMEOUT (default 60 s; the workers are then kept).
  -- @param opts `{ workers = {...} }` or `{ n = k }`, optional `timeout`
  -- @return `{ [address] = { name =, address = } }`
  -- @usage local c = ldask.Client{ n_workers = 3 }
  -- local x = c:submit(function() return 42 end)
  -- c:retire_workers{ n = 2 }
  -- print(x:result())   --> 42 (moved off the retired workers first)
  function Client:retire_workers(opts)
    check(self, "retire_workers")
    if type(opts) ~= "table" then
      error("Client:retire_workers: expected a table {workers = {...}} or {n = k}, got " .. type(opts), 2)
    end
    local workers, n, timeout = opts.workers, opts.n, opts.timeout or 60
    if type(workers) == "string" then workers = { workers } end
    if (workers == nil) == (n == nil) then
      error("Client:retire_workers: give exactly one of workers = {names or addresses} and n = count", 2)
    end
    if workers ~= nil then
      if type(workers) ~= "table" then
        error("Client:retire_workers: workers must be a list of worker names or addresses, got " .. type(workers), 2)
      end
      for i, w in ipairs(workers) do
        if type(w) ~= "string" then
          error("Client:retire_workers: workers[" .. i .. "] must be a name or address (a string), got " .. type(w), 2)
        end
      end
    elseif type(n) ~= "number" or n < 0 or n % 1 ~= 0 then
      error("Client:retire_workers: n must be an integer >= 0, got " .. tostring(n), 2)
    end
    if type(timeout) ~= "number" or timeout <= 0 then
      error("Client:retire_workers: timeout must be a number of seconds > 0, got " .. tostring(timeout), 2)
    end
    self.next_id = self.next_id + 1
    local id = self.next_id
    self:_send({ op = "retire-workers", id = id, workers = workers, n = n, timeout = timeout + 0.0 }, nil, 2)
    local deadline = now() + timeout + 15
    while not self.replies[id] do
      if now() > deadline then error("Client:retire_workers: no answer from the scheduler within " .. timeout .. " s", 2) end
      if not self:_poll(0.5) and lib.ld_client_closed(self.cl) ~= 0 then
        lost_connection(self, "Client:retire_workers", 2)
      end
    end
    local r = self.replies[id]
    self.replies[id] = nil
    if not r.ok then error("Client:retire_workers: " .. tostring(r.message), 2) end
    local out = {}
    for _, w in ipairs(r.workers or {}) do out[w.address] = { name = w.name, address = w.address } end
    return out
  end
end

return R
