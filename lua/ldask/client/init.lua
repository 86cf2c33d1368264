--- ldask.client: Client, the user's connection to a distributed ldask
-- cluster (ldask-scheduler + ldask-workers). A background network thread
-- (runtime/lib/client_conn.c) receives the scheduler's messages while the
-- script or REPL goes on; this module turns them into future states when
-- the user's code next touches the client. See docs/distributed.md.
--
--   local c = ldask.Client()                     -- a local cluster
--   local c = ldask.Client("tcp://127.0.0.1:8786")
--   local f = c:submit(function(x) return x + 1 end, 1); print(f:result())
-- @module ldask.client
local ffi = require "ffi"
require "ldask.ffi.client"
local lib = require "ldask.native"
local mp = require "ldask.client.mp"
local batch = require "ldask.client.batch"
local future = require "ldask.client.future"
local codec = require "ldask.codec"
local S = require "ldask.client.state"
local new_state = S.new
local STATUS, REFS, HAS_VALUE, VALUE, FETCH, ERR, CALLBACKS =
  S.STATUS, S.REFS, S.HAS_VALUE, S.VALUE, S.FETCH, S.ERR, S.CALLBACKS
local errors = require "ldask.errors"

local type, error, tostring, ipairs, pairs, setmetatable, getmetatable, pcall =
  type, error, tostring, ipairs, pairs, setmetatable, getmetatable, pcall
local ffi_string, ffi_new = ffi.string, ffi.new
local is_future, Future, sweep = future.is_future, future.Future, future.sweep

local M = {}
M.Future = Future
M.as_completed = future.as_completed
M.wait = future.wait

local Client = { __name = "ldask.Client" }
Client.__index = Client
M.Client = Client

local now = lib.ld_client_now
Client._now = now

local current -- the default client (the last one created, until closed)

local errbuf = ffi_new("char[512]")

-- Connection --------------------------------------------------------------

-- The security options of a Client (docs/security.md), all file names.
local SECURITY_OPTS = { "auth_token_file", "tls_ca_file", "tls_cert", "tls_key" }

local function new_client(address, opts)
  local cl = lib.ld_client_connect(address, opts.timeout or 10, opts.auth_token_file,
    opts.tls_ca_file, opts.tls_cert, opts.tls_key, errbuf, 512)
  if cl == nil then return nil, ffi_string(errbuf) end
  local self = setmetatable({
    address = address,
    cl = ffi.gc(cl, lib.ld_client_free),
    keys = {},          -- key -> state (ldask.client.state: status, refs, value, ...)
    replies = {},       -- request id -> reply header
    next_id = 0,
    session = codec.session(),
    sent_fns = {},      -- function hash -> true once registered with the scheduler
    to_release = {},
    to_gather = {},     -- keys finished without their value, for a waiting fetch
    seq = 0,            -- submission order, for priorities
    errors = {},
    token_file = opts.auth_token_file or os.getenv("LDASK_AUTH_TOKEN_FILE"),
  }, Client)
  return self
end

--- Client(address [, opts]) connects to the scheduler at ADDRESS
-- ("tcp://HOST:PORT", or "tls://HOST:PORT" with TLS); Client() or
-- Client({n_workers=, threads_per_worker=}) starts a local cluster first
-- (with a fresh token of its own) and stops it when the client closes.
-- opts.scheduler_file: read the address from a file written by
-- ldask-scheduler --scheduler-file. opts.set_as_default (default true).
-- Security (docs/security.md): opts.auth_token_file (default
-- LDASK_AUTH_TOKEN_FILE; a local cluster of this process: its own),
-- opts.tls_ca_file, opts.tls_cert, opts.tls_key (default LDASK_TLS_*).
-- Client(cluster) connects to a cluster manager's scheduler with its token
-- (ldask.deploy.SLURMCluster, PBSCluster, SSHCluster).
-- @param[opt] address "tcp://HOST:PORT" of a running ldask-scheduler, or a cluster manager; nil starts a local cluster
-- A local cluster's scheduler serves the web dashboard on a free loopback
-- port (opts.dashboard = false: none; opts.dashboard_address = "HOST:PORT"):
-- Client:dashboard_link().
-- @param[opt] opts `{ n_workers =, threads_per_worker =, scheduler_file =, set_as_default =, auth_token_file =, tls_ca_file =, tls_cert =, tls_key =, dashboard =, dashboard_address = }`
-- @return a Client
-- @usage local c = ldask.Client()          -- also require("ldask.client").new()
-- print(c:submit(function(x) return x + 1 end, 41):result())   --> 42
-- c:close()
function M.new(address, opts)
  local manager
  if type(address) == "table" and address.scheduler_address then
    -- a cluster manager (ldask.deploy): its scheduler, with its token
    local o = {}
    for k, v in pairs(opts or {}) do o[k] = v end
    if o.auth_token_file == nil then o.auth_token_file = address.token_file end
    manager, address, opts = address, address.scheduler_address, o
  end
  if type(address) == "table" and opts == nil then address, opts = nil, address end
  opts = opts or {}
  if address ~= nil and type(address) ~= "string" then
    error("ldask.Client: address must be a string like 'tcp://127.0.0.1:8786', got " .. type(address), 2)
  end
  for _, k in ipairs(SECURITY_OPTS) do
    if opts[k] ~= nil and type(opts[k]) ~= "string" then
      error("ldask.Client: " .. k .. " must be a file name (a string), got " .. type(opts[k]), 2)
    end
  end
  local cluster
  if address == nil and opts.scheduler_file then
    local f, err = io.open(opts.scheduler_file)
    if not f then error("ldask.Client: cannot read the scheduler file: " .. tostring(err), 2) end
    local text = f:read("*a"); f:close()
    address = text:match('"address"%s*:%s*"([^"]+)"')
    if not address then error("ldask.Client: no address in scheduler file '" .. opts.scheduler_file .. "'", 2) end
  end
  local cluster_mod = require "ldask.client.cluster"
  if address == nil then
    cluster = cluster_mod.start(opts)
    address = cluster.address
  end
  if opts.auth_token_file == nil and cluster_mod.token_file(address) then
    -- a local cluster of this process: its own token
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.auth_token_file = cluster_mod.token_file(address)
    opts = o
  end
  local self, err = new_client(address, opts)
  if not self then
    if cluster then cluster:stop() end
    error("ldask.Client: " .. err, 2)
  end
  self.cluster = cluster
  -- (kept alive with the client: Client(SLURMCluster{...}) must not lose
  -- its jobs to the collector)
  self.cluster_manager = manager
  if cluster then
    local ok, e = pcall(self.wait_for_workers, self, cluster.n_workers, opts.timeout or 20)
    if not ok then self:close(); error("ldask.Client: the local cluster did not start: " .. tostring(e), 2) end
  end
  if opts.set_as_default ~= false then self:set_as_default() end
  return self
end

--- Inside a task on a worker: { name, address, local_directory, nthreads }
-- of that worker. Raises anywhere else.
-- @return a table `{ name =, address =, local_directory =, nthreads = }`
function M.get_worker()
  local exec = package.loaded["ldask.worker.exec"]
  if not (exec and exec.worker) then
    error("ldask.client.get_worker: not running in a task on an ldask-worker", 2)
  end
  return exec.worker
end

--- The default client (nil when none is open).
-- @return the Client, or nil
function M.current()
  if current and current.closed then current = nil end
  return current
end

Client.__tostring = function(self)
  if self.closed then return "<Client closed>" end
  return "<Client " .. self.address .. (self.cluster and " (local cluster)" or "") ..
    (type(self.dashboard) == "string" and (", dashboard " .. self.dashboard .. "/status") or "") .. ">"
end

local function check(self, name, level)
  if getmetatable(self) ~= Client then error("Client:" .. name .. ": call it with ':' on a client", (level or 2) + 1) end
  if self.closed then error("Client:" .. name .. ": the client is closed", (level or 2) + 1) end
end

-- The frames of the messages sent through _send (not those of
-- update-graphs: a function registration goes out while those are built).
local out_frames = batch.frames()

-- Sends header table H with FRAMES: a list of strings (copied) and
-- ld_buffer * (sent without a copy). Raises when the connection is gone.
function Client:_send(h, frames, level)
  local fr = out_frames
  fr:reset()
  for i = 1, frames and #frames or 0 do fr:add(frames[i]) end
  local hs, hlen = mp.encode_ref(h)
  fr:send(self, hs, (level or 2) + 1, hlen)
end


-- Key states ----------------------------------------------------------------

function Client:_state(key)
  local st = self.keys[key]
  if not st then
    st = new_state()
    self.keys[key] = st
  end
  return st
end

function Client:_ref(key)
  local st = self:_state(key)
  st[REFS] = st[REFS] + 1
end

-- Called by futures' finalizers: must not send (it may run anywhere); the
-- release goes out at the next safe point.
function Client:_unref(key)
  local st = self.keys[key]
  if not st then return end
  st[REFS] = st[REFS] - 1
  if st[REFS] <= 0 then
    self.keys[key] = nil
    self.to_release[#self.to_release + 1] = key
  end
end

-- Sends the releases due (futures released or collected since the last
-- call) in one release-keys message.
function Client:_flush_releases()
  if self._gc_mark then sweep(self) end
  local rel = self.to_release
  if #rel == 0 or self.closed then return end
  self.to_release = {}
  local states, n = self.keys, 0
  for i = 1, #rel do
    local k = rel[i]
    if not states[k] then n = n + 1; rel[n] = k end -- unless wanted again since
  end
  for i = #rel, n + 1, -1 do rel[i] = nil end
  -- (marked: the header writer need not check that it is a list)
  if n > 0 then pcall(self._send, self, { op = "release-keys", keys = mp.array(rel) }) end
end

-- Marks ST (of KEY) finished; a value still wanted by a waiting fetch and
-- not come along is gathered by that fetch.
local function finished(self, key, st)
  if st[STATUS] == "finished" then return end
  st[STATUS] = "finished"
  if st[FETCH] then
    st[FETCH] = nil
    if not st[HAS_VALUE] then self.to_gather[#self.to_gather + 1] = key end
  end
end

local function fire(st)
  local cbs = st[CALLBACKS]
  if not cbs then return end
  st[CALLBACKS] = nil
  for _, cb in ipairs(cbs) do
    local ok, err = pcall(cb[1], cb[2])
    if not ok then io.stderr:write("ldask: error in a future's done callback: ", tostring(err), "\n") end
  end
end

local fast_ptr = require("ldask.codec.decode").fast_ptr

-- The value of the N frames FRAMES[FIRST ..] (a header, then buffers).
local function decode_value(frames, first, n)
  local f = frames[first]
  if n == 1 then
    local v, ok = fast_ptr(f.data, f.size)
    if ok then return v end
  end
  local h = ffi_string(f.data, f.size)
  if n == 1 then return codec.decode(h, nil) end
  local bufs = {}
  for i = 1, n - 1 do bufs[i] = frames[first + i] end
  return codec.decode(h, bufs)
end

-- keys-finished, read in place from its parsed header O (no table for
-- its columns): small values come along (nframes[i] frames for keys[i];
-- 0: fetch with gather when asked for). The done callbacks run after the
-- loop: one may poll, and a parse reuses the memory O is in.
local function keys_finished(self, o, m)
  local keys, next_frame = self.keys, 1
  local called
  local kp, n = mp.elements(mp.field(o, "keys"))
  local np, nn = mp.elements(mp.field(o, "nframes"))
  local mstr, mvalue = mp.str, mp.value
  for i = 0, n - 1 do
    local k = mstr(kp[i])
    local st = keys[k]
    local nf = i < nn and mvalue(np[i]) or 0
    if type(nf) ~= "number" then nf = 0 end
    if st then
      if nf > 0 and not st[HAS_VALUE] then
        local v, ok
        if nf == 1 then -- (a small plain value: read without a pcall)
          local f = m.frames[next_frame]
          v, ok = fast_ptr(f.data, f.size)
        end
        if not ok then ok, v = pcall(decode_value, m.frames, next_frame, nf) end
        if ok then st[VALUE], st[HAS_VALUE] = v, true end
      end
      if st[STATUS] ~= "finished" then
        finished(self, k, st)
        if st[CALLBACKS] then called = called or {}; called[#called + 1] = st end
      end
    end
    next_frame = next_frame + nf
  end
  if called then
    for i = 1, #called do fire(called[i]) end
  end
end

-- Handles one received message (and frees it).
function Client:_handle(m)
  local o, err = mp.parse(m.frames[0].data, m.frames[0].size)
  local op = o and mp.field(o, "op")
  if op and mp.str(op) == "keys-finished" then
    keys_finished(self, o, m)
    lib.ld_msg_free(m)
    return
  end
  local h = o and mp.value(o)
  if type(h) ~= "table" then
    lib.ld_msg_free(m)
    io.stderr:write("ldask: bad message from the scheduler: ", err or "not a map", "\n")
    return
  end
  op = h.op
  if op == "key-finished" then
    local st = self.keys[h.key]
    if st and st[STATUS] ~= "finished" then finished(self, h.key, st); fire(st) end
  elseif op == "gather-data" then
    local next_frame = 1
    for _, rec in ipairs(h.keys or {}) do
      local st = self.keys[rec.key]
      local nf = rec.nframes or 1
      if st then
        local ok, v = pcall(decode_value, m.frames, next_frame, nf)
        if ok then
          st[VALUE], st[HAS_VALUE] = v, true
          if st[STATUS] ~= "finished" then st[STATUS] = "finished"; fire(st) end
        else
          st[STATUS] = "error"
          st[ERR] = errors.task_error(rec.key, "cannot decode the result: " .. tostring(v), "")
          fire(st)
        end
      end
      next_frame = next_frame + nf
    end
  elseif op == "key-erred" then
    local st = self.keys[h.key]
    -- (also after a finish: its data was lost and could not be made again;
    -- a value already fetched stays available here)
    if st then
      st[STATUS] = h.lost and "lost" or "error"
      -- (origin: the task that failed first, when a dependency's error
      -- made this one fail)
      st[ERR] = errors.task_error(h.origin or h.key, h.message or "", h.traceback or "")
      fire(st)
    end
  elseif op == "key-cancelled" then
    -- also after a finish: the data was lost and its recomputation cancelled
    local st = self.keys[h.key]
    if st and st[STATUS] ~= "cancelled" then
      st[STATUS] = "cancelled"
      fire(st)
    end
  elseif op == "identity-reply" or op == "who-has-reply" or op == "task-info-reply" or
    op == "restart-reply" or op == "versions-reply" or op == "admin-reply" or
    op == "retire-workers-reply" then
    self.replies[h.id] = h
  elseif op == "coord-reply" then
    -- a stored value comes along (decoded here: the frames go with M)
    if (h.nframes or 0) > 0 then
      local ok, v = pcall(decode_value, m.frames, 1, h.nframes)
      if ok then h.decoded = v else h.decode_error = tostring(v) end
    end
    -- the futures inside are this client's now: their states exist before
    -- the keys-finished that follows (held until ldask.client.coord made
    -- the futures)
    for _, k in ipairs(h.keys or {}) do self:_ref(k) end
    self.replies[h.id] = h
  elseif op == "worker-result" or op == "worker-results-done" then
    self:_worker_reply(h, m)
  elseif op == "welcome" then
    self.id = h.id
    self.dashboard = h.dashboard or false
  elseif op == "error" then
    self.errors[#self.errors + 1] = h.message
    io.stderr:write("ldask: the scheduler reports: ", tostring(h.message), "\n")
  end
  lib.ld_msg_free(m)
end

-- A wait for one result first stays awake this long (yielding the core to
-- anyone who needs it): a short task's reply is then taken without a thread
-- wake-up, which costs more than the whole task on a VM.
local SPIN = 300e-6

-- Processes received messages: waits up to TIMEOUT seconds for the first.
-- Returns true when something was processed.
function Client:_poll(timeout, spin)
  if self.closed then return false end
  if M._tick then M._tick() end -- adaptive scaling (ldask.deploy.adaptive)
  self:_flush_releases()
  local got = false
  local m
  if spin then
    if type(spin) ~= "number" then error("Client:_poll: spin must be a number of seconds, got " .. type(spin), 2) end
    m = lib.ld_client_recv_spin(self.cl, timeout or 0, spin)
  else
    m = lib.ld_client_recv(self.cl, timeout or 0)
  end
  while m ~= nil do
    got = true
    self:_handle(m)
    m = lib.ld_client_recv(self.cl, 0)
  end
  return got
end

-- True when the connection to the scheduler is gone.
function Client:_connection_lost()
  return self.cl == nil or lib.ld_client_closed(self.cl) ~= 0
end

-- Why waiting can no longer succeed: the client closed or the connection lost.
function Client:_lost_reason()
  if self.closed then return "the client was closed" end
  return "lost the connection to the scheduler at " .. self.address .. ": " .. ffi_string(lib.ld_client_error(self.cl))
end

local function lost_connection(self, what, level)
  error(what .. ": lost the connection to the scheduler at " .. self.address .. ": " ..
    ffi_string(lib.ld_client_error(self.cl)), level + 1)
end

-- Waits until the keys are done (all, or ANY); raises after TIMEOUT seconds.
function Client:_wait_keys(keys, timeout, what, level, any)
  self:_holding(keys, self._wait_held, self, keys, timeout, what, level + 2, any)
end

function Client:_wait_held(keys, timeout, what, level, any)
  local deadline = timeout and now() + timeout
  while true do
    local pending = 0
    for _, k in ipairs(keys) do
      local st = self:_state(k)
      if st[STATUS] == "pending" then pending = pending + 1 end
    end
    if pending == 0 or (any and pending < #keys) then return end
    local wait = 0.5
    if deadline then
      wait = deadline - now()
      if wait <= 0 then
        local why = ""
        for _, k in ipairs(keys) do
          if self:_state(k)[STATUS] == "pending" then why = self:_why_pending(k); break end
        end
        error(what .. ": " .. pending .. " of " .. #keys .. " future(s) still pending after " .. timeout .. " s" .. why, level + 1)
      end
      if wait > 0.5 then wait = 0.5 end
    end
    if not self:_poll(wait) and lib.ld_client_closed(self.cl) ~= 0 then lost_connection(self, what, level + 1) end
  end
end

-- Why KEY is still pending, for a timeout's message: "" unless the
-- scheduler holds it in the no-worker state (its workers= names no
-- connected worker, or no worker has the resources it needs).
function Client:_why_pending(key)
  local ok, info = pcall(self._request, self, { op = "task-info", key = key }, 1)
  if not ok or type(info) ~= "table" or info.state ~= "no-worker" then return "" end
  local names = {}
  for i, w in ipairs(info.workers or {}) do names[i] = "'" .. tostring(w) .. "'" end
  local res = {}
  for k, v in pairs(type(info.resources) == "table" and info.resources or {}) do
    res[#res + 1] = k .. "=" .. string.format("%g", v)
  end
  table.sort(res)
  if #names == 0 and #res > 0 then
    return ": '" .. key .. "' is in the no-worker state: it needs resources " .. table.concat(res, ", ")
      .. " and no worker in the cluster has them (see client:scheduler_info().workers[i].resources)"
  end
  return ": '" .. key .. "' is in the no-worker state: it may only run on worker " .. table.concat(names, ", ")
    .. (#res > 0 and (" with resources " .. table.concat(res, ", ")) or "")
    .. " and no such worker is in the cluster (see client:scheduler_info().workers)"
end

-- Holds a reference to each of KEYS while FN(...) waits on them: a future
-- dropped by its caller while the wait runs (c:submit(f, big):result(), a
-- temporary collected by the allocations of the wait) must not release its
-- key under the wait, which would then never see it finish.
-- Returns FN's first result.
function Client:_holding(keys, fn, ...)
  for _, k in ipairs(keys) do self:_ref(k) end
  local ok, r = pcall(fn, ...)
  for _, k in ipairs(keys) do self:_unref(k) end
  if not ok then error(r, 0) end
  return r
end

-- Fetches the values of KEYS (not already here) and waits for them (the
-- caller holds the keys, see _holding, so their states stay the same
-- tables: STS, when given, holds them, STS[i] that of KEYS[i]).
function Client:_fetch(keys, timeout, what, level, sts)
  self:_poll(0) -- values that already arrived need no gather
  -- Small values come with keys-finished: only finished keys whose value
  -- did not come along are gathered (pending ones once they finish, see
  -- finished()), so a small result costs no request.
  local ask, ask_st, na, now_ask, now_seen = {}, {}, 0, {}, nil
  for j = 1, #keys do
    local k = keys[j]
    local st = sts and sts[j] or self:_state(k)
    if not st[HAS_VALUE] and st[STATUS] ~= "error" and st[STATUS] ~= "cancelled" and st[STATUS] ~= "lost" then
      na = na + 1
      ask[na], ask_st[na] = k, st
      if st[STATUS] ~= "finished" then
        st[FETCH] = true
      elseif not (now_seen and now_seen[k]) then -- (KEYS may repeat a key)
        now_seen = now_seen or {}
        now_seen[k] = true
        now_ask[#now_ask + 1] = k
      end
    end
  end
  if #now_ask > 0 then self:_send({ op = "gather", keys = now_ask }, nil, level + 1) end
  local deadline = timeout and now() + timeout
  local i = 1
  while i <= na do
    local tg = self.to_gather
    if #tg > 0 then
      self.to_gather = {}
      self:_send({ op = "gather", keys = tg }, nil, level + 1)
    end
    local st = ask_st[i]
    if st[HAS_VALUE] or st[STATUS] == "error" or st[STATUS] == "cancelled" or st[STATUS] == "lost" then
      i = i + 1
    else
      local wait = 0.5
      if deadline then
        wait = deadline - now()
        if wait <= 0 then
          error(what .. ": no result for '" .. ask[i] .. "' after " .. timeout .. " s" .. self:_why_pending(ask[i]), level + 1)
        end
        if wait > 0.5 then wait = 0.5 end
      end
      if not self:_poll(wait, na == 1 and SPIN or nil) and lib.ld_client_closed(self.cl) ~= 0 then
        lost_connection(self, what, level + 1)
      end
    end
  end
end

local function raise_state(key, st, level)
  if st[STATUS] == "error" or st[STATUS] == "lost" then error(st[ERR], 0) end
  if st[STATUS] == "cancelled" then error("the future of '" .. key .. "' was cancelled", level + 1) end
end

local function result_held(self, key, timeout, level)
  self:_poll(0)
  self:_fetch({ key }, timeout, "Future:result", level + 1)
  local st = self:_state(key)
  if not st[HAS_VALUE] then raise_state(key, st, level + 1) end
  return st[VALUE]
end

function Client:_result(key, timeout, level)
  local v = self:_holding({ key }, result_held, self, key, timeout, level + 2)
  return v
end

-- Tasks: submit, map, gather, scatter, cancel, and graphs (ldask.client.tasks,
-- ldask.client.graphs).
require("ldask.client.tasks").install(M, Client, { check = check, raise_state = raise_state, fire = fire })
-- Requests to every worker: upload_file, run (ldask.client.workers).
M.RunError = require("ldask.client.workers").RunError
require("ldask.client.workers").install(M, Client, {
  check = check, lost_connection = lost_connection, now = now, decode_value = decode_value,
})

-- Published datasets (ldask.client.datasets); coordination primitives
-- (ldask.client.coord); tasks that launch tasks (ldask.client.worker_client).
require("ldask.client.datasets").install(Client, { check = check })
require("ldask.client.admin").install(Client, { check = check })
require("ldask.client.worker_client").install(M)
local coord = require "ldask.client.coord"

--- Variable(name [, client]): a named value held by the scheduler, shared
-- by every client and task (dask's Variable: set, get{timeout}, delete).
-- @param name the name
-- @param[opt] client the Client (default: ldask.get_client())
-- @return a Variable
function M.Variable(...) return coord.new_variable(...) end
--- Queue(name [, {maxsize =, client =}]): a FIFO queue held by the
-- scheduler (dask's Queue: put, get{timeout, batch}, qsize).
-- @param name the name
-- @param[opt] opts `{ maxsize =, client = }`
-- @return a Queue
function M.Queue(...) return coord.new_queue(...) end
--- Lock([name [, client]]): a cluster-wide lock (dask's Lock: acquire,
-- release, locked), released when its holder's connection closes.
-- @param[opt] name the name
-- @param[opt] client the Client
-- @return a Lock
function M.Lock(...) return coord.new_lock(...) end
--- Semaphore{max_leases =, name =, client =}: at most max_leases holders
-- across the cluster (dask's Semaphore: acquire, release, get_value).
-- @param[opt] opts `{ max_leases =, name =, client = }`
-- @return a Semaphore
function M.Semaphore(...) return coord.new_semaphore(...) end
--- Event(name [, client]): a cluster-wide flag (dask's Event: set, clear,
-- is_set, wait{timeout}).
-- @param name the name
-- @param[opt] client the Client
-- @return an Event
function M.Event(...) return coord.new_event(...) end
--- fire_and_forget(futures): the scheduler runs FUTURES (a future or a
-- list) even when every client releases them.
-- @param futures a Future or a list of them
function M.fire_and_forget(...) return coord.fire_and_forget(...) end

-- Graceful retirement of workers (ldask.client.retire).
require("ldask.client.retire").install(M, Client, { check = check, lost_connection = lost_connection, now = now })

-- Cluster information ------------------------------------------------------------

function Client:_request(h, level, frames)
  self.next_id = self.next_id + 1
  local id = self.next_id
  h.id = id
  -- releases first: a reply that makes this client want a key again (a
  -- coord get) must not be followed by an older release of that key
  self:_flush_releases()
  self:_send(h, frames, level + 1)
  local deadline = now() + 10
  while not self.replies[id] do
    if now() > deadline then error("ldask.Client: no reply to '" .. h.op .. "' within 10 s", level + 1) end
    if not self:_poll(0.5) and lib.ld_client_closed(self.cl) ~= 0 then lost_connection(self, h.op, level + 1) end
  end
  local r = self.replies[id]
  self.replies[id] = nil
  return r
end

--- { address=, workers = { {name, address, nthreads, processing, nkeys,
-- executed, fetched, fetched_bytes}, ... }, ntasks= }
-- @return a table as above
function Client:scheduler_info()
  check(self, "scheduler_info")
  return self:_request({ op = "identity" }, 2)
end

-- The token of TOKEN_FILE (trailing white space dropped, as the
-- programs read it), %-encoded for a URL; nil when unreadable.
local function url_token(token_file)
  local f = token_file and io.open(token_file, "rb")
  if not f then return nil end
  local tok = f:read("*a"):gsub("%s+$", "")
  f:close()
  return (tok:gsub("[^%w%-%._~]", function(ch) return string.format("%%%02X", ch:byte()) end))
end

--- The link to the scheduler's web dashboard ("http://HOST:PORT/status"),
-- or nil when it runs without one (--no-dashboard, or Client{dashboard =
-- false}). When this client has the cluster's token (a local cluster's,
-- or auth_token_file) the link carries it once (?token=...): the browser
-- then gets a cookie and the token leaves the address bar
-- (docs/dashboard.md).
-- @return the link, or nil
-- @usage local c = ldask.Client()
-- print(c:dashboard_link())   -- http://127.0.0.1:41929/status?token=...
-- c:close()
function Client:dashboard_link()
  check(self, "dashboard_link")
  if self.dashboard == nil then
    local info = self:_request({ op = "identity" }, 2)
    self.dashboard = info.dashboard or false
  end
  if not self.dashboard then return nil end
  local tok = url_token(self.token_file)
  return self.dashboard .. "/status" .. (tok and tok ~= "" and ("?token=" .. tok) or "")
end

--- { [key] = {worker addresses} } for futures or keys; without an
-- argument, for every result held on the cluster (as dask's who_has()).
-- @param[opt] fs a Future, a key, or a list of them
-- @return a table `{ [key] = { address, ... } }`
function Client:who_has(fs)
  check(self, "who_has")
  if fs == nil then return self:_request({ op = "who-has" }, 2).who_has end
  if type(fs) == "string" then fs = { fs } end
  if not is_future(fs) and (type(fs) ~= "table" or getmetatable(fs) ~= nil) then
    error("Client:who_has: expected a Future, a key or a list of them, got " .. type(fs), 2)
  end
  local keys = {}
  for i, f in ipairs(is_future(fs) and { fs } or fs) do keys[i] = is_future(f) and f.key or f end
  return self:_request({ op = "who-has", keys = keys }, 2).who_has
end

--- The scheduler's view of KEY (a future or a key), for diagnostics:
-- { state, waiting_on, refs, gathers, retries, suspicious, processing_on,
-- who_has, deps = { {key, state} } }; state "forgotten" when unknown.
-- @param f a Future or a key
-- @return a table as above
function Client:task_info(f)
  check(self, "task_info")
  return self:_request({ op = "task-info", key = is_future(f) and f.key or f }, 2)
end

--- Waits until N workers are connected (TIMEOUT seconds, default 20).
-- @param n the number of workers
-- @param[opt] timeout seconds (default 20)
function Client:wait_for_workers(n, timeout)
  check(self, "wait_for_workers")
  local deadline = now() + (timeout or 20)
  while true do
    local info = self:_request({ op = "identity" }, 2)
    if #info.workers >= n then return info end
    if now() > deadline then
      error("Client:wait_for_workers: " .. #info.workers .. " of " .. n .. " workers after " .. (timeout or 20) .. " s", 2)
    end
    self:_poll(0.05)
  end
end

--- Closes the connection (and the local cluster it started).
function Client:close()
  if self.closed then return end
  self:_flush_releases()
  if self.cluster then pcall(self._send, self, { op = "shutdown" }) end
  self.closed = true
  lib.ld_client_free(ffi.gc(self.cl, nil))
  self.cl = nil
  if self.cluster then self.cluster:stop() end
  if current == self then
    current = nil
    -- ldask.compute goes back to the scheduler it used before
    local config = require "ldask.config"
    if config.get("scheduler") == "distributed" and self.previous_scheduler then
      pcall(config.set, { scheduler = self.previous_scheduler })
    end
  end
end

--- Makes ldask.compute / ldask.get use this client: config scheduler
-- "distributed" resolves to ldask.client.scheduler, which uses M.current().
-- @return the client
function Client:set_as_default()
  check(self, "set_as_default")
  current = self
  -- Where ldask.get knows the "distributed" scheduler (ldask.client.scheduler),
  -- ldask.compute and :compute() now run here.
  local config = require "ldask.config"
  local ok = pcall(require("ldask.base").scheduler_for, { scheduler = "distributed" })
  if ok and config.get("scheduler") ~= "distributed" then
    self.previous_scheduler = config.get("scheduler")
    config.set({ scheduler = "distributed" })
  end
  return self
end

setmetatable(M, { __call = function(_, ...) return M.new(...) end })

return M
