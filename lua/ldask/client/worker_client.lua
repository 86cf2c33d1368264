--- ldask.client.worker_client: tasks that launch tasks (dask's get_client,
-- worker_client, secede, rejoin). Inside a task on an ldask-worker,
-- get_client() connects a client to the same cluster (the worker exports
-- the scheduler's address and its token/TLS files: LDASK_SCHEDULER_ADDRESS,
-- LDASK_AUTH_TOKEN_FILE, LDASK_TLS_*), one per executor thread, kept for
-- the next tasks. secede() takes the running task out of the worker's
-- thread count while it waits on other tasks: the worker starts another
-- executor thread (runtime/worker/exec.c, bounded) and the scheduler counts
-- one more thread, so a recursive computation submitted from tasks cannot
-- deadlock the cluster; rejoin() (or the task's end) puts it back.
-- docs/distributed.md, "Tasks that launch tasks".
-- @submodule ldask.client
local ffi = require "ffi"

local error, pcall, type, tostring, select, os_getenv, unpack =
  error, pcall, type, tostring, select, os.getenv, unpack

local K = {}

local function pack(...) return { n = select("#", ...), ... } end

-- The executor module when running in a task on a worker, else nil.
local function on_worker()
  local exec = package.loaded["ldask.worker.exec"]
  return exec and exec.worker and exec or nil
end

local C -- ffi.C with the ld_wexec_* cdefs (loaded on a worker only)
local function wexec()
  if not C then
    require "ldask.ffi.net"
    C = ffi.C
  end
  return C
end

-- Adds get_client, worker_client, secede, rejoin to M (ldask.client).
function K.install(M)
  local task_client -- this executor state's client (on a worker)

  --- get_client(): the client of this cluster. Inside a task on a worker: a
  -- client connected to the worker's scheduler (with the cluster's token),
  -- made at the first call and kept by the executor thread; elsewhere the
  -- default client (raises when there is none).
  -- @return a Client
  -- @usage local c = ldask.Client()
  -- local f = c:submit(function() return require("ldask").get_client().address end)
  -- print(f:result() == c.address)   --> true
  -- c:close()
  function M.get_client()
    if on_worker() then
      if task_client and not task_client.closed and not task_client:_connection_lost() then return task_client end
      local addr = os_getenv("LDASK_SCHEDULER_ADDRESS")
      if not addr or addr == "" then
        error("ldask.get_client: this worker did not export its scheduler's address (LDASK_SCHEDULER_ADDRESS)", 2)
      end
      local ok, c = pcall(M.new, addr, { set_as_default = false })
      if not ok then error("ldask.get_client: " .. tostring(c), 2) end
      task_client = c
      return c
    end
    local c = M.current()
    if not c then error("ldask.get_client: no client: create one with ldask.Client(...) (or call this in a task on a worker)", 2) end
    return c
  end

  --- secede(): inside a task on a worker, takes the task out of the
  -- worker's thread count while it waits on other tasks (the worker runs
  -- another thread meanwhile). Raises outside a task or when seceded
  -- already.
  function M.secede()
    if not on_worker() then error("ldask.secede: not running in a task on an ldask-worker", 2) end
    if wexec().ld_wexec_secede() ~= 0 then error("ldask.secede: this task has seceded already", 2) end
  end

  --- rejoin(): a seceded task counts against the worker's threads again
  -- (the worker retires a thread too many when it is free). Raises when
  -- the task has not seceded.
  function M.rejoin()
    if not on_worker() then error("ldask.rejoin: not running in a task on an ldask-worker", 2) end
    if wexec().ld_wexec_rejoin() ~= 0 then error("ldask.rejoin: this task has not seceded", 2) end
  end

  --- worker_client(fn, ...): calls fn(client, ...) with get_client()'s
  -- client, the task seceded meanwhile (rejoined after, also when FN
  -- raises); returns FN's results. The way for a task to wait on tasks it
  -- submits. Outside a worker it just calls FN with the default client.
  -- @param fn a function(client, ...)
  -- @return what FN returns
  -- @usage local c = ldask.Client()
  -- local function fib(n)
  --   if n < 2 then return n end
  --   return require("ldask").worker_client(function(cl)
  --     local a, b = cl:submit(fib, n - 1), cl:submit(fib, n - 2)
  --     return a:result() + b:result()
  --   end)
  -- end
  -- print(c:submit(fib, 10):result())   --> 55
  -- c:close()
  function M.worker_client(fn, ...)
    if type(fn) ~= "function" then error("ldask.worker_client: expected a function(client), got " .. type(fn), 2) end
    local c = M.get_client()
    local seceded = on_worker() and wexec().ld_wexec_secede() == 0
    local r = pack(pcall(fn, c, ...))
    if seceded then wexec().ld_wexec_rejoin() end
    if not r[1] then error(r[2], 0) end
    return unpack(r, 2, r.n)
  end
end

return K
