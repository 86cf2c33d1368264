--- ldask.client.future: Future, a handle on a task or a scattered value on a
-- cluster (status, result, exception, cancel, callbacks), and the helpers
-- that wait on many of them: as_completed and wait. A future keeps its data
-- alive on the workers; when it is released (:release() or garbage
-- collected) and no other future of the same key remains in this client,
-- the scheduler is told that this client no longer needs the key.
-- @submodule ldask.client
local S = require "ldask.client.state"
local STATUS, HAS_VALUE, VALUE, ERR, CALLBACKS = S.STATUS, S.HAS_VALUE, S.VALUE, S.ERR, S.CALLBACKS

local setmetatable, getmetatable, type, error, tostring, pairs, ipairs =
  setmetatable, getmetatable, type, error, tostring, pairs, ipairs
local clock = os.clock

local M = {}

local Future = { __name = "ldask.Future" }
Future.__index = Future
M.Future = Future

-- Release on collection without a finalizer per future: the client's
-- table LIVE holds each future weakly under a slot number and SLOT_KEY its
-- key strongly. A sentinel table, also held weakly, disappears at the end
-- of every collection cycle; the client then sweeps the slots at its next
-- safe point (M.sweep, from Client:_flush_releases) and drops one reference
-- per vanished future. This costs a table slot per future instead of a
-- cdata, a finalizer-table entry and a finalizer call.
local WEAK_V = { __mode = "v" }

-- Makes the slot tables of CLIENT; returns them.
local function slots_of(client)
  local live = setmetatable({}, WEAK_V)
  client._live, client._slot_key, client._free_slots, client._nslots = live, {}, {}, 0
  client._gc_mark = setmetatable({ {} }, WEAK_V)
  return live
end

-- Creates a future for KEY of CLIENT whose reference the caller has
-- counted already (Client:_ref).
local function new_held(client, key)
  local live = client._live or slots_of(client)
  local free = client._free_slots
  local nfree = #free
  local i = free[nfree]
  if i then free[nfree] = nil else i = client._nslots + 1; client._nslots = i end
  local f = setmetatable({ client = client, key = key, _slot = i, released = false }, Future)
  live[i] = f
  client._slot_key[i] = key
  return f
end
M.new_held = new_held

-- Creates a future for KEY of CLIENT (which counts the reference).
function M.new(client, key)
  client:_ref(key)
  return new_held(client, key)
end

-- Drops the reference of every future of CLIENT collected since the last
-- sweep, once a collection cycle has ended since then (cheap otherwise).
-- Returns true when it swept.
function M.sweep(client)
  local mark = client._gc_mark
  if not mark or mark[1] ~= nil then return false end
  mark[1] = {}
  local live, slot_key, free = client._live, client._slot_key, client._free_slots
  local nfree = #free
  for i = 1, client._nslots do
    local key = slot_key[i]
    if key and live[i] == nil then
      slot_key[i] = false
      nfree = nfree + 1
      free[nfree] = i
      client:_unref(key)
    end
  end
  return true
end

--- True when X is a Future.
-- @param x any value
-- @return boolean
function M.is_future(x) return getmetatable(x) == Future end

local function check(self, name)
  if getmetatable(self) ~= Future then
    error("Future:" .. name .. ": call it with ':' on a future", 3)
  end
  if self.released then error("Future:" .. name .. ": the future of '" .. self.key .. "' was released", 3) end
end

--- The state of the future: "pending", "finished", "error", "cancelled" or "lost"
-- (data gone).
-- @return the state, a string
function Future:status()
  check(self, "status")
  self.client:_poll(0)
  return self.client:_state(self.key)[STATUS]
end

--- True when the future is finished, failed or cancelled (does not wait).
-- @return boolean
function Future:done()
  local s = self:status()
  return s ~= "pending"
end

--- Waits for the result (at most TIMEOUT seconds when given) and returns it;
-- raises the task's error (key, message, remote traceback), or on timeout.
-- @param[opt] timeout seconds to wait at most
-- @return the value
function Future:result(timeout)
  check(self, "result")
  if timeout ~= nil and (type(timeout) ~= "number" or timeout < 0) then
    error("Future:result: timeout must be a number of seconds >= 0, got " .. tostring(timeout), 2)
  end
  return self.client:_result(self.key, timeout, 3)
end

--- The error of a failed future (a ldask.errors TaskError), nil when it
-- finished; waits for it to complete (TIMEOUT as in result).
-- @param[opt] timeout seconds to wait at most
-- @return the error, or nil
function Future:exception(timeout)
  check(self, "exception")
  local c = self.client
  c:_wait_keys({ self.key }, timeout, "Future:exception", 3, false)
  local st = c:_state(self.key)
  return st[ERR] or nil
end

--- Cancels the task (and what depends on it) unless it already finished.
function Future:cancel()
  check(self, "cancel")
  self.client:cancel(self)
end

--- Calls FN(future) once the future is done, in this Lua state: at once when
-- it already is, otherwise when the client next processes messages (any
-- client call, a wait, a result, printing a future in the REPL).
-- @param fn a function of the future
function Future:add_done_callback(fn)
  check(self, "add_done_callback")
  if type(fn) ~= "function" then
    error("Future:add_done_callback: expected a function, got " .. type(fn), 2)
  end
  local c = self.client
  c:_poll(0)
  local st = c:_state(self.key)
  if st[STATUS] ~= "pending" then
    fn(self)
  else
    local cbs = st[CALLBACKS]
    if not cbs then cbs = {}; st[CALLBACKS] = cbs end
    cbs[#cbs + 1] = { fn, self }
  end
end

--- Lets the cluster forget the data unless another future holds the key.
function Future:release()
  if self.released then return end
  self.released = true
  local c, i = self.client, self._slot
  c._live[i] = nil
  c._slot_key[i] = false
  local free = c._free_slots
  free[#free + 1] = i
  c:_unref(self.key)
end

Future.__tostring = function(self)
  if self.released then return "<Future " .. self.key .. " released>" end
  local ok, s = pcall(Future.status, self)
  return "<Future " .. self.key .. " " .. (ok and s or "?") .. ">"
end

Future.__ldask_tokenize = function(self) return "future:" .. self.key end

-- The collection protocol, as dask's Future: a graph of one key whose
-- value is the future itself. Passed to ldask.delayed functions, to
-- bag.from_delayed / array.from_delayed or to a bag's map, a future becomes
-- a reference to its key: on the cluster the task reads the data where it
-- is; on threads and sync the value is gathered first (resolve below).
function Future:__ldask_graph() return { [self.key] = self } end
function Future:__ldask_layers() return { ["future-" .. self.key] = { [self.key] = self } } end
function Future:__ldask_keys() return self.key end
function Future:__ldask_postcompute() return nil end

-- The value of future F for a scheduler running in this process (threads,
-- sync): its result, fetched from its client; once the client is closed,
-- the value it had already fetched.
local function local_value(f, level)
  local c = f.client
  if f.released then error("ldask: the future of '" .. f.key .. "' was released", level + 1) end
  if c.closed then
    local st = c.keys[f.key]
    if st and st[HAS_VALUE] then return st[VALUE] end
    error("ldask: the future of '" .. f.key .. "' belongs to a closed client that never fetched its value;"
      .. " compute while the client is open", level + 1)
  end
  return c:_result(f.key, nil, level + 1)
end

local quote = require("ldask.graph").quote

-- V (a graph value) with its futures replaced by their quoted values; plain
-- tables are searched (a task's arguments), quoted ones are not.
local function resolve_value(v, level)
  if getmetatable(v) == Future then return quote(local_value(v, level + 1)), true end
  if type(v) ~= "table" or getmetatable(v) ~= nil then return v, false end
  local out, any = {}, false
  for k, x in pairs(v) do
    local y, has = resolve_value(x, level + 1)
    out[k] = y
    any = any or has
  end
  if any then return out, true end
  return v, false
end

-- Graph G for a scheduler in this process: a copy with every future
-- replaced by its value (G itself when it holds none). LEVEL: of the user's
-- call, for errors.
function M.resolve(g, level)
  local out
  for k, v in pairs(g) do
    if type(v) == "table" then
      local y, has = resolve_value(v, level + 1)
      if has then
        if not out then
          out = {}
          for k2, v2 in pairs(g) do out[k2] = v2 end
        end
        out[k] = y
      end
    end
  end
  return out or g
end

-- Flattens futures (one, or a list) into a list; raises on anything else.
local function list_of(fs, what, level)
  if getmetatable(fs) == Future then return { fs } end
  if type(fs) ~= "table" then
    error(what .. ": expected a future or a list of futures, got " .. type(fs), level + 1)
  end
  for i, f in ipairs(fs) do
    if getmetatable(f) ~= Future then
      error(what .. ": element " .. i .. " is a " .. type(f) .. ", not a future", level + 1)
    end
  end
  return fs
end
M.list_of = list_of

--- Iterates over FUTURES in the order they complete: `for f in
-- as_completed(fs) do ... end`. OPTS.timeout (seconds) bounds the whole
-- iteration; with OPTS.with_results each step yields future, result.
-- @param futures a list of Futures
-- @param[opt] opts `{ timeout =, with_results = }`
-- @return an iterator
-- @usage local c = ldask.Client()
-- local fs = c:map(function(x) return x * x end, { 1, 2, 3 })
-- for f in ldask.as_completed(fs) do print(f:result()) end
-- c:close()
function M.as_completed(futures, opts)
  local fs = list_of(futures, "as_completed", 2)
  opts = opts or {}
  local left, n = {}, 0
  for i, f in ipairs(fs) do left[i] = f; n = n + 1 end
  local start = clock()
  local wall0 = fs[1] and fs[1].client._now() or 0
  return function()
    while n > 0 do
      for i, f in pairs(left) do
        local c = f.client
        local st = c:_state(f.key)
        if st[STATUS] ~= "pending" then
          left[i] = nil
          n = n - 1
          if opts.with_results then return f, f:result() end
          return f
        end
      end
      local c = fs[1].client
      if opts.timeout and c._now() - wall0 > opts.timeout then
        error("as_completed: " .. n .. " future(s) still pending after " .. opts.timeout .. " s", 2)
      end
      if not c:_poll(0.2) and (c.closed or c:_connection_lost()) then
        error("as_completed: " .. n .. " future(s) still pending: " .. c:_lost_reason(), 2)
      end
    end
    return nil
  end, start
end

--- Waits until all (return_when = "ALL_COMPLETED", the default) or one
-- ("FIRST_COMPLETED") of FUTURES are done. Returns { done = {...},
-- not_done = {...} }; raises when OPTS.timeout seconds pass first.
-- @param futures a Future or a list of them
-- @param[opt] opts `{ timeout =, return_when = }`
-- @return `{ done = { ... }, not_done = { ... } }`
function M.wait(futures, opts)
  local fs = list_of(futures, "wait", 2)
  opts = opts or {}
  local when = opts.return_when or "ALL_COMPLETED"
  if when ~= "ALL_COMPLETED" and when ~= "FIRST_COMPLETED" then
    error("wait: return_when must be 'ALL_COMPLETED' or 'FIRST_COMPLETED', got '" .. tostring(when) .. "'", 2)
  end
  if #fs == 0 then return { done = {}, not_done = {} } end
  local c = fs[1].client
  local keys = {}
  for i, f in ipairs(fs) do keys[i] = f.key end
  c:_wait_keys(keys, opts.timeout, "wait", 3, when == "FIRST_COMPLETED")
  local done, not_done = {}, {}
  for _, f in ipairs(fs) do
    if c:_state(f.key)[STATUS] ~= "pending" then done[#done + 1] = f else not_done[#not_done + 1] = f end
  end
  return { done = done, not_done = not_done }
end

return M
