--- ldask.client.workers: the Client methods that address every worker
-- outside the task graph: upload_file (ship a Lua module to every worker,
-- present and future), run (call a function once on each worker) and
-- restart (every worker, through its nanny).
-- Installed into ldask.client's Client by install(). docs/distributed.md.
-- @submodule ldask.client
local ffi = require "ffi"
require "ldask.ffi.client"
local lib = require "ldask.native"

local type, error, tostring, ipairs, select, setmetatable, getmetatable, pcall =
  type, error, tostring, ipairs, select, setmetatable, getmetatable, pcall
local concat = table.concat
local io_open = io.open
local why_buf = ffi.new("char[160]")

local W = {}

-- The error of a run on one worker: names the worker's address, carries
-- the remote message and traceback (like a TaskError; err.worker,
-- err.message, err.traceback).
local RunError = { __name = "ldask.RunError" }
RunError.__index = RunError
RunError.__tostring = function(e)
  local s = "run on worker " .. e.worker .. " failed: " .. tostring(e.message)
  if e.traceback and e.traceback ~= "" then s = s .. "\n" .. e.traceback end
  return s
end
W.RunError = RunError

local function run_error(worker, name, message, traceback)
  return setmetatable({ worker = worker, name = name, message = message, traceback = traceback }, RunError)
end

-- Adds the methods to CLIENT (the Client metatable). SHARED: check (a
-- method's argument and state check), lost_connection(self, what, level),
-- now (seconds), decode_value(frames, first, n) (a value's frames).
function W.install(M, Client, shared)
  local check, lost_connection, now = shared.check, shared.lost_connection, shared.now
  local decode_value = shared.decode_value

  -- Called by Client:_handle for worker-result / worker-results-done
  -- (M, the message, is freed by the caller afterwards).
  function Client:_worker_reply(h, m)
    local rq = self.worker_requests and self.worker_requests[h.id]
    if not rq then return end
    if h.op == "worker-results-done" then
      rq.done = true
      rq.unknown = h.unknown
      return
    end
    local r = { worker = h.worker, name = h.name, ok = h.ok }
    if h.ok and rq.decode then
      local ok, v = pcall(decode_value, m.frames, 1, m.nframes - 1)
      if ok then r.value = v
      else r.ok, r.message, r.traceback = false, "cannot decode the result: " .. tostring(v), "" end
    elseif not h.ok then
      r.message, r.traceback = h.message or "", h.traceback or ""
    end
    rq.results[#rq.results + 1] = r
  end

  -- Sends H (op, fields) with FRAMES as a request to workers and waits for
  -- every answer (TIMEOUT seconds, nil: no limit). Returns the list of
  -- {worker, name, ok, value | message, traceback}. DECODE: answers carry
  -- values.
  local function request(self, h, frames, timeout, decode, what, level)
    self.next_id = self.next_id + 1
    local id = self.next_id
    h.id = id
    local rq = { results = {}, decode = decode }
    self.worker_requests = self.worker_requests or {}
    self.worker_requests[id] = rq
    local ok, err = pcall(self._send, self, h, frames, 2)
    if not ok then self.worker_requests[id] = nil; error(err, level + 1) end
    local deadline = timeout and now() + timeout
    while not rq.done do
      local wait = 0.5
      if deadline then
        wait = deadline - now()
        if wait <= 0 then
          self.worker_requests[id] = nil
          error(what .. ": " .. #rq.results .. " worker(s) answered, others did not within " .. timeout .. " s", level + 1)
        end
        if wait > 0.5 then wait = 0.5 end
      end
      if not self:_poll(wait) and lib.ld_client_closed(self.cl) ~= 0 then
        self.worker_requests[id] = nil
        lost_connection(self, what, level + 1)
      end
    end
    self.worker_requests[id] = nil
    if rq.unknown and #rq.unknown > 0 then
      error(what .. ": no worker named '" .. concat(rq.unknown, "', '") .. "' in the cluster", level + 1)
    end
    return rq.results
  end

  --- upload_file(path [, timeout]): sends the Lua module file PATH (NAME.lua,
  -- NAME a Lua identifier) to every worker, present and future; tasks then
  -- `require "NAME"` it (a new version replaces the old one: the next
  -- require loads it). Returns when every current worker has written it;
  -- raises naming a worker that could not.
  -- @param path the module file, NAME.lua
  -- @param[opt] timeout seconds
  -- @return NAME
  function Client:upload_file(path, timeout)
    check(self, "upload_file")
    if type(path) ~= "string" then error("Client:upload_file: expected a file path, got " .. type(path), 2) end
    if timeout ~= nil and (type(timeout) ~= "number" or timeout <= 0) then
      error("Client:upload_file: timeout must be a number of seconds > 0, got " .. tostring(timeout), 2)
    end
    local base = path:match("([^/]*)$")
    local name = base:match("^(.*)%.lua$")
    if not name then
      error("Client:upload_file: '" .. path .. "' is not a .lua file (a single Lua module file is expected)", 2)
    end
    -- the rule the scheduler and the workers apply (core/util/names.c)
    if lib.ld_valid_file_name(name, #name, why_buf, 160) == 0 then
      error("Client:upload_file: '" .. base .. "' does not name a Lua module: " .. ffi.string(why_buf), 2)
    end
    local f, ferr = io_open(path, "rb")
    if not f then error("Client:upload_file: cannot read '" .. path .. "': " .. tostring(ferr), 2) end
    local data, rerr = f:read("*a")
    f:close()
    if not data then error("Client:upload_file: cannot read '" .. path .. "': " .. tostring(rerr), 2) end
    local results = request(self, { op = "upload-file", name = name }, { data }, timeout, false, "Client:upload_file", 2)
    for _, r in ipairs(results) do
      if not r.ok then
        error("Client:upload_file: worker " .. r.worker .. " (" .. r.name .. ") could not take '" .. name ..
          "': " .. tostring(r.message), 2)
      end
    end
    return name
  end

  --- run(fn, ...[, client.options{workers=, on_error=, timeout=}]): calls
  -- fn(...) once on every worker (or those named in workers), on one of its
  -- executor states, outside the task graph. Returns { [worker address] =
  -- result }. A worker's error raises a RunError (err.worker, err.message,
  -- err.traceback) unless on_error = "return", which puts the error object
  -- in the table instead.
  -- @param fn the function
  -- @param ... its arguments, then optionally `client.options{...}`
  -- @return `{ [worker address] = result }`
  function Client:run(fn, ...)
    check(self, "run")
    if type(fn) ~= "function" then error("Client:run: expected a function, got " .. type(fn), 2) end
    local n = select("#", ...)
    local args = { ... }
    local opts = {}
    if n > 0 and getmetatable(args[n]) == M.Options then opts = args[n]; args[n] = nil; n = n - 1 end
    local on_error = opts.on_error or "raise"
    if on_error ~= "raise" and on_error ~= "return" then
      error("Client:run: on_error must be \"raise\" or \"return\", got " .. tostring(on_error), 2)
    end
    local workers = opts.workers
    if type(workers) == "string" then workers = { workers } end
    if workers ~= nil and type(workers) ~= "table" then
      error("Client:run: workers must be a name/address or a list of them, got " .. type(workers), 2)
    end
    if opts.timeout ~= nil and (type(opts.timeout) ~= "number" or opts.timeout <= 0) then
      error("Client:run: timeout must be a number of seconds > 0, got " .. tostring(opts.timeout), 2)
    end
    if workers and #workers == 0 then return {} end
    local job = { fn, n = n }
    for i = 1, n do job[i + 1] = args[i] end
    local frames = {}
    self:_encode(job, "run", frames, 2)
    self:_send_functions(2)
    local results = request(self, { op = "run", workers = workers }, frames, opts.timeout, true, "Client:run", 2)
    local out = {}
    for _, r in ipairs(results) do
      if r.ok then
        out[r.worker] = r.value
      else
        local e = run_error(r.worker, r.name, r.message, r.traceback)
        if on_error == "raise" then error(e, 0) end
        out[r.worker] = e
      end
    end
    return out
  end

  --- restart([timeout]): restarts every worker through its nanny, as dask's
  -- Client.restart: running tasks are lost, every task is cancelled and
  -- every result deleted (the futures of every client turn "cancelled"),
  -- and it returns once the cluster has as many workers as it had with
  -- nannies (a worker started with --no-nanny just stops). Raises when
  -- they are not back within TIMEOUT seconds (default 30).
  -- @param[opt] timeout seconds
  -- @return the number of workers after the restart
  function Client:restart(timeout)
    check(self, "restart")
    if timeout ~= nil and (type(timeout) ~= "number" or timeout <= 0) then
      error("Client:restart: timeout must be a number of seconds > 0, got " .. tostring(timeout), 2)
    end
    timeout = timeout or 30
    self.next_id = self.next_id + 1
    local id = self.next_id
    self:_send({ op = "restart", id = id, timeout = timeout }, nil, 2)
    local deadline = now() + timeout + 5
    while not self.replies[id] do
      if now() > deadline then error("Client:restart: no answer from the scheduler within " .. timeout .. " s", 2) end
      if not self:_poll(0.5) and lib.ld_client_closed(self.cl) ~= 0 then lost_connection(self, "Client:restart", 2) end
    end
    local r = self.replies[id]
    self.replies[id] = nil
    if not r.ok then error("Client:restart: " .. tostring(r.message), 2) end
    return r.nworkers
  end
end

return W
