--- ldask.client.coord: what clients share through the scheduler — the
-- coordination primitives Variable, Queue, Lock, Semaphore and Event
-- (dask.distributed's names and semantics), fire_and_forget, and the
-- values they carry: any codec value, futures inside included (the
-- scheduler keeps their data while it holds the value; a client reading it
-- gets futures of its own). Usable from a client's script and from tasks
-- (they find the cluster with ldask.get_client()). The scheduler answers
-- every request at once (runtime/scheduler/coord.c); a wait with a timeout
-- is a loop of tries here. docs/distributed.md, "Shared clusters".
-- @module ldask.client.coord
local codec = require "ldask.codec"
local future = require "ldask.client.future"

local type, error, tostring, next, pairs, ipairs, setmetatable, getmetatable, rawget, rawset, pcall =
  type, error, tostring, next, pairs, ipairs, setmetatable, getmetatable, rawget, rawset, pcall
local is_future = future.is_future

local M = {}

-- The client module (required late: it requires this one).
local function client_mod() return require "ldask.client" end

-- Values ----------------------------------------------------------------------

-- The marker a future becomes inside a stored value.
local MARK = "\0ldask-future"

-- An array (a proxy: userdata) travels as this recipe: its name, chunks,
-- dtype and layers (ldask.array.core.new rebuilds it).
local ARRAY = "\0ldask-array"

local strip

-- The recipe of array A (futures in its layers stripped).
local function array_recipe(a, keys, seen, level)
  local layers = {}
  for n, g in pairs(a.layers) do layers[n] = (strip(g, keys, seen, level + 1)) end
  return { [ARRAY] = true, name = a.name, chunks = a.chunks, dtype = a.dtype, layers = layers }
end

-- V with every future replaced by a marker (tables copied only where a
-- future is inside; metatables kept), and the list of their keys.
function strip(v, keys, seen, level)
  if is_future(v) then
    if not seen[v.key] then seen[v.key] = true; keys[#keys + 1] = v.key end
    return { [MARK] = v.key }, true
  end
  if type(v) == "userdata" then
    local core = package.loaded["ldask.array.core"]
    if core and core.is_array(v) then return array_recipe(v, keys, seen, level + 1), true end
    return v, false
  end
  if type(v) ~= "table" then return v, false end
  local done = seen[v]
  if done ~= nil then return done, done ~= v end
  if getmetatable(v) == client_mod().Client then
    error("a Client cannot be stored (it is a connection of one process)", level + 1)
  end
  seen[v] = v -- (a cycle back to V keeps V until its copy is known)
  local copy
  for k, x in next, v do
    local nx, changed = strip(x, keys, seen, level + 1)
    if changed and not copy then
      copy = {}
      for k2, x2 in next, v do copy[k2] = x2 end
      seen[v] = copy
    end
    if copy then rawset(copy, k, nx) end
  end
  if copy then
    local mt = getmetatable(v)
    if mt then setmetatable(copy, mt) end
    return copy, true
  end
  return v, false
end

--- Encodes V for the scheduler: returns the frames (header, buffers) and
-- the keys of the futures inside. LEVEL: where a refusal points.
-- @param v the value
-- @param level error level
-- @return frames, keys
function M.encode(v, level)
  local keys = {}
  local sv = strip(v, keys, {}, level + 1)
  local ok, h, bufs = pcall(codec.encode, sv, nil, "the value")
  if not ok then error("cannot store the value: " .. tostring(h):gsub("^[^:\n]*:%d+: ", ""), level + 1) end
  local frames = { h }
  for i = 1, #bufs do frames[i + 1] = bufs[i] end
  return frames, keys
end

-- Replaces the markers inside V (decoded, owned) by futures of CLIENT.
local function restore(v, client, seen)
  if type(v) ~= "table" then return v end
  local k = rawget(v, MARK)
  if k ~= nil and next(v, next(v)) == nil and next(v) == MARK then return future.new(client, k) end
  if seen[v] then return v end
  seen[v] = true
  for key, x in next, v do
    if type(x) == "table" then rawset(v, key, restore(x, client, seen)) end
  end
  if rawget(v, ARRAY) == true then
    local layers = v.layers
    local own = layers[v.name]
    layers[v.name] = nil
    return require("ldask.array.core").new(v.name, own, v.chunks, v.dtype, { { layers = layers } })
  end
  return v
end
M.restore = function(v, client) return restore(v, client, {}) end

-- Requests ------------------------------------------------------------------

-- Kept beside the objects, not in them: a Lock or a Queue passed to a task
-- travels without its client (a connection of this process).
local clients_of = setmetatable({}, { __mode = "k" }) -- object -> explicit client
local held = setmetatable({}, { __mode = "k" })       -- Lock -> {lease, client}; Semaphore -> list of them

-- The client OBJ uses: the one it was made with, else ldask.get_client().
local function client_of(obj, level)
  local c = clients_of[obj]
  if c and not c.closed then return c end
  return client_mod().get_client(level + 1)
end

-- Sends a coord request (kind, action, name, more fields in H) with VALUE
-- (when given) on CLIENT and returns the reply header (value decoded in
-- .decoded, futures restored). Raises with the scheduler's message when
-- not ok unless SOFT.
local function request(client, h, has_value, value, what, level, soft)
  h.op = "coord"
  local frames
  if has_value then frames, h.keys = M.encode(value, level + 1) end
  local r = client:_request(h, level + 1, frames)
  if not r.ok and not soft then error(what .. ": " .. tostring(r.message), level + 1) end
  if r.nframes and r.nframes > 0 and not r.decode_error then r.decoded = restore(r.decoded, client, {}) end
  -- the scheduler made this client a wanter of the keys and the reply held
  -- them (Client:_handle): the futures just made hold them now
  for _, k in ipairs(r.keys or {}) do client:_unref(k) end
  if r.decode_error then error(what .. ": cannot decode the value: " .. r.decode_error, level + 1) end
  return r
end
M.request = request

-- Polls TRY() until it returns true or TIMEOUT seconds (nil: forever)
-- pass; returns whether it succeeded. Sleeps grow from 2 to 50 ms while
-- processing the client's messages.
local function poll_until(client, timeout, try)
  local now = client._now
  local deadline = timeout and now() + timeout
  local delay = 0.002
  while true do
    if try() then return true end
    if deadline and now() >= deadline then return false end
    local wait = delay
    if deadline and deadline - now() < wait then wait = deadline - now() end
    if wait > 0 then client:_poll(wait) end
    if client:_connection_lost() then return false end
    delay = delay * 1.5
    if delay > 0.05 then delay = 0.05 end
  end
end

local function check_name(name, what, level)
  if type(name) ~= "string" or name == "" then
    error(what .. ": name must be a non-empty string, got " .. (type(name) == "string" and "''" or type(name)), level + 1)
  end
  if #name > 256 then error(what .. ": name is longer than 256 bytes", level + 1) end
end

local function check_timeout(t, what, level)
  if t ~= nil and (type(t) ~= "number" or t < 0 or t ~= t) then
    error(what .. ": timeout must be a number of seconds >= 0, got " .. tostring(t), level + 1)
  end
end

local function check_client(c, what, level)
  if c ~= nil and getmetatable(c) ~= client_mod().Client then
    error(what .. ": client must be an ldask.Client, got " .. type(c), level + 1)
  end
end

local function check_self(self, mt, what, level)
  if getmetatable(self) ~= mt then error(what .. ": call it with ':'", level + 1) end
end

local lease_seq = 0
local function new_lease(client)
  lease_seq = lease_seq + 1
  return tostring(client.id) .. ":" .. tostring(lease_seq) .. ":" .. tostring(os.time())
end

-- Variable ------------------------------------------------------------------

local Variable = { __name = "ldask.Variable" }
Variable.__index = Variable
M.Variable = Variable

--- Variable(name [, client]): a named value held by the scheduler, shared
-- by every client and task of the cluster (dask's Variable). Its value is
-- any codec value; a future (or futures inside it) keeps its data alive
-- while the variable holds it.
-- @param name the variable's name
-- @param[opt] client the Client (default: ldask.get_client())
-- @return a Variable
-- @usage local v = ldask.Variable("x"); v:set(42); print(v:get())
function M.new_variable(name, client)
  check_name(name, "ldask.Variable", 2)
  check_client(client, "ldask.Variable", 2)
  local v = setmetatable({ name = name }, Variable)
  clients_of[v] = client
  return v
end

--- v:set(value): stores VALUE (replacing the previous one).
-- @param value any codec value (futures inside are kept alive)
function Variable:set(value)
  check_self(self, Variable, "Variable:set", 2)
  request(client_of(self, 2), { kind = "variable", action = "set", name = self.name }, true, value, "Variable:set", 2)
end

--- v:get([{timeout =}]): the value; waits until one is set (at most
-- TIMEOUT seconds: then raises "timed out").
-- @param[opt] opts `{ timeout = seconds }`
-- @return the value (futures as futures of this client)
function Variable:get(opts)
  check_self(self, Variable, "Variable:get", 2)
  local timeout = type(opts) == "table" and opts.timeout or opts
  check_timeout(timeout, "Variable:get", 2)
  local c = client_of(self, 2)
  local r
  local ok = poll_until(c, timeout, function()
    r = request(c, { kind = "variable", action = "get", name = self.name }, false, nil, "Variable:get", 4, true)
    return r.ok
  end)
  if not ok then error("Variable:get: timed out after " .. tostring(timeout) .. " s: variable '" .. self.name .. "' has no value", 2) end
  return r.decoded
end

--- v:delete(): forgets the variable and its value on the scheduler.
function Variable:delete()
  check_self(self, Variable, "Variable:delete", 2)
  request(client_of(self, 2), { kind = "variable", action = "delete", name = self.name }, false, nil, "Variable:delete", 2)
end

Variable.__tostring = function(self) return "<Variable: " .. self.name .. ">" end

-- Queue ---------------------------------------------------------------------

local Queue = { __name = "ldask.Queue" }
Queue.__index = Queue
M.Queue = Queue

--- Queue(name [, {maxsize =, client =}]): a FIFO queue held by the
-- scheduler (dask's Queue); items are codec values (futures kept alive
-- while queued). maxsize 0 (default): unbounded (at most 65536 items).
-- @param name the queue's name
-- @param[opt] opts `{ maxsize = n, client = c }`
-- @return a Queue
function M.new_queue(name, opts)
  check_name(name, "ldask.Queue", 2)
  if opts ~= nil and type(opts) ~= "table" then error("ldask.Queue: options must be a table, got " .. type(opts), 2) end
  opts = opts or {}
  local ms = opts.maxsize or 0
  if type(ms) ~= "number" or ms < 0 or ms % 1 ~= 0 then
    error("ldask.Queue: maxsize must be an integer >= 0, got " .. tostring(ms), 2)
  end
  check_client(opts.client, "ldask.Queue", 2)
  local q = setmetatable({ name = name, maxsize = ms }, Queue)
  clients_of[q] = opts.client
  return q
end

--- q:put(value [, {timeout =}]): appends VALUE; when the queue is full,
-- waits for room (at most TIMEOUT seconds: then raises "timed out").
-- @param value any codec value
-- @param[opt] opts `{ timeout = seconds }`
function Queue:put(value, opts)
  check_self(self, Queue, "Queue:put", 2)
  local timeout = type(opts) == "table" and opts.timeout or opts
  check_timeout(timeout, "Queue:put", 2)
  local c = client_of(self, 2)
  local frames, keys = M.encode(value, 2)
  local ok = poll_until(c, timeout, function()
    local r = c:_request({ op = "coord", kind = "queue", action = "put", name = self.name, maxsize = self.maxsize, keys = keys }, 4, frames)
    if not r.ok and r.message then error("Queue:put: " .. r.message, 5) end
    return r.ok
  end)
  if not ok then error("Queue:put: timed out after " .. tostring(timeout) .. " s: queue '" .. self.name .. "' is full", 2) end
end

--- q:get([{timeout =, batch =}]): takes the oldest item, waiting for one
-- (at most TIMEOUT seconds: then raises "timed out"). batch = true: takes
-- every item there is now (a list, possibly empty; no wait); batch = N:
-- waits for N items and returns them in a list.
-- @param[opt] opts `{ timeout = seconds, batch = true | n }`
-- @return the item (or a list of items)
function Queue:get(opts)
  check_self(self, Queue, "Queue:get", 2)
  if opts ~= nil and type(opts) ~= "table" and type(opts) ~= "number" then
    error("Queue:get: options must be a table, got " .. type(opts), 2)
  end
  local timeout = type(opts) == "table" and opts.timeout or (type(opts) == "number" and opts or nil)
  local batch = type(opts) == "table" and opts.batch or nil
  check_timeout(timeout, "Queue:get", 2)
  if batch ~= nil and batch ~= true and batch ~= false and (type(batch) ~= "number" or batch < 1 or batch % 1 ~= 0) then
    error("Queue:get: batch must be true or an integer >= 1, got " .. tostring(batch), 2)
  end
  local c = client_of(self, 2)
  local function take()
    local r = request(c, { kind = "queue", action = "get", name = self.name }, false, nil, "Queue:get", 5, true)
    if r.ok then return true, r.decoded end
    return false
  end
  if batch == true then
    local out = {}
    while true do
      local got, v = take()
      if not got then return out end
      out[#out + 1] = v
    end
  end
  local n = batch or 1
  local out = {}
  local ok = poll_until(c, timeout, function()
    while #out < n do
      local got, v = take()
      if not got then return false end
      out[#out + 1] = v
    end
    return true
  end)
  if not ok then
    error("Queue:get: timed out after " .. tostring(timeout) .. " s: queue '" .. self.name .. "' is empty"
      .. (#out > 0 and (" (" .. #out .. " of " .. n .. " items taken and lost)") or ""), 2)
  end
  if batch then return out end
  return out[1]
end

--- q:qsize(): the number of items in the queue now.
-- @return an integer
function Queue:qsize()
  check_self(self, Queue, "Queue:qsize", 2)
  return request(client_of(self, 2), { kind = "queue", action = "qsize", name = self.name }, false, nil, "Queue:qsize", 2).value
end

Queue.__tostring = function(self) return "<Queue: " .. self.name .. ">" end

-- Lock and Semaphore --------------------------------------------------------

local Lock = { __name = "ldask.Lock" }
Lock.__index = Lock
M.Lock = Lock

--- Lock(name [, client]): a lock held by the scheduler (dask's Lock):
-- one holder at a time across every client and task; a holder whose
-- connection closes (its process died) releases it.
-- @param[opt] name the lock's name (default: a fresh one)
-- @param[opt] client the Client
-- @return a Lock
function M.new_lock(name, client)
  if name == nil then name = "lock-" .. tostring(os.time()) .. "-" .. tostring(math.random(1, 2 ^ 30)) end
  check_name(name, "ldask.Lock", 2)
  check_client(client, "ldask.Lock", 2)
  local l = setmetatable({ name = name }, Lock)
  clients_of[l] = client
  return l
end

-- Tries to take one lease of OBJ (KIND) until TIMEOUT; returns the lease or nil.
local function acquire(obj, kind, timeout, blocking, what, level)
  local c = client_of(obj, level + 1)
  local lease = new_lease(c)
  local ok = poll_until(c, blocking == false and 0 or timeout, function()
    local r = c:_request({ op = "coord", kind = kind, action = "acquire", name = obj.name, lease = lease,
      max_leases = obj.max_leases }, level + 3)
    if not r.ok and r.message then error(what .. ": " .. r.message, level + 4) end
    return r.ok
  end)
  return ok and lease or nil, c
end

--- l:acquire([{blocking =, timeout =}]): takes the lock, waiting for it
-- (blocking = false: no wait; at most TIMEOUT seconds). Returns whether
-- it was taken.
-- @param[opt] opts `{ blocking = true, timeout = seconds }`
-- @return boolean
function Lock:acquire(opts)
  check_self(self, Lock, "Lock:acquire", 2)
  if opts ~= nil and type(opts) ~= "table" then error("Lock:acquire: options must be a table, got " .. type(opts), 2) end
  opts = opts or {}
  check_timeout(opts.timeout, "Lock:acquire", 2)
  if held[self] then error("Lock:acquire: this Lock object holds the lock already (a lock is not reentrant)", 2) end
  local lease, c = acquire(self, "lock", opts.timeout, opts.blocking, "Lock:acquire", 2)
  if lease then held[self] = { lease, c } end
  return lease ~= nil
end

--- l:release(): gives the lock back; raises when this Lock object does
-- not hold it.
function Lock:release()
  check_self(self, Lock, "Lock:release", 2)
  local l = held[self]
  if not l then error("Lock:release: lock '" .. self.name .. "' is not held by this Lock object: release without acquire", 2) end
  held[self] = nil
  request(l[2], { kind = "lock", action = "release", name = self.name, lease = l[1] }, false, nil, "Lock:release", 2)
end

--- l:locked(): whether anyone holds the lock now.
-- @return boolean
function Lock:locked()
  check_self(self, Lock, "Lock:locked", 2)
  return request(client_of(self, 2), { kind = "lock", action = "locked", name = self.name }, false, nil, "Lock:locked", 2).value > 0
end

Lock.__tostring = function(self) return "<Lock: " .. self.name .. ">" end

local Semaphore = { __name = "ldask.Semaphore" }
Semaphore.__index = Semaphore
M.Semaphore = Semaphore

--- Semaphore{max_leases =, name =, client =}: at most max_leases holders
-- at a time across the cluster (dask's Semaphore; leases of a client whose
-- connection closes are given back). The first use fixes max_leases.
-- @param[opt] opts `{ max_leases = 1, name =, client = }`
-- @return a Semaphore
function M.new_semaphore(opts)
  if opts ~= nil and type(opts) ~= "table" then error("ldask.Semaphore: expected a table {max_leases =, name =}, got " .. type(opts), 2) end
  opts = opts or {}
  local ml = opts.max_leases or 1
  if type(ml) ~= "number" or ml < 1 or ml % 1 ~= 0 or ml > 65536 then
    error("ldask.Semaphore: max_leases must be an integer in 1..65536, got " .. tostring(ml), 2)
  end
  local name = opts.name or ("semaphore-" .. tostring(os.time()) .. "-" .. tostring(math.random(1, 2 ^ 30)))
  check_name(name, "ldask.Semaphore", 2)
  check_client(opts.client, "ldask.Semaphore", 2)
  local s = setmetatable({ name = name, max_leases = ml }, Semaphore)
  clients_of[s] = opts.client
  return s
end

--- s:acquire([{timeout =}]): takes a lease, waiting for one (at most
-- TIMEOUT seconds). Returns whether one was taken.
-- @param[opt] opts `{ timeout = seconds }`
-- @return boolean
function Semaphore:acquire(opts)
  check_self(self, Semaphore, "Semaphore:acquire", 2)
  local timeout = type(opts) == "table" and opts.timeout or opts
  check_timeout(timeout, "Semaphore:acquire", 2)
  local lease, c = acquire(self, "semaphore", timeout, true, "Semaphore:acquire", 2)
  if lease then
    local ls = held[self] or {}
    held[self] = ls
    ls[#ls + 1] = { lease, c }
  end
  return lease ~= nil
end

--- s:release(): gives back the last lease this object took; raises when
-- it holds none.
function Semaphore:release()
  check_self(self, Semaphore, "Semaphore:release", 2)
  local ls = held[self] or {}
  local l = ls[#ls]
  if not l then error("Semaphore:release: semaphore '" .. self.name .. "' has no lease taken by this object: release without acquire", 2) end
  ls[#ls] = nil
  request(l[2], { kind = "semaphore", action = "release", name = self.name, lease = l[1] }, false, nil, "Semaphore:release", 2)
end

--- s:get_value(): the number of leases held now (by anyone).
-- @return an integer
function Semaphore:get_value()
  check_self(self, Semaphore, "Semaphore:get_value", 2)
  return request(client_of(self, 2), { kind = "semaphore", action = "count", name = self.name }, false, nil, "Semaphore:get_value", 2).value
end

Semaphore.__tostring = function(self) return "<Semaphore: " .. self.name .. ", max_leases=" .. self.max_leases .. ">" end

-- Event ---------------------------------------------------------------------

local Event = { __name = "ldask.Event" }
Event.__index = Event
M.Event = Event

--- Event(name [, client]): a flag held by the scheduler (dask's Event):
-- set, clear, is_set, and wait until it is set.
-- @param name the event's name
-- @param[opt] client the Client
-- @return an Event
function M.new_event(name, client)
  check_name(name, "ldask.Event", 2)
  check_client(client, "ldask.Event", 2)
  local e = setmetatable({ name = name }, Event)
  clients_of[e] = client
  return e
end

local function event_op(self, action, what, level)
  check_self(self, Event, what, level + 1)
  return request(client_of(self, level + 1), { kind = "event", action = action, name = self.name }, false, nil, what, level + 1)
end

--- e:set(): sets the flag (every waiter returns).
function Event:set() event_op(self, "set", "Event:set", 2) end
--- e:clear(): clears the flag.
function Event:clear() event_op(self, "clear", "Event:clear", 2) end
--- e:is_set(): whether the flag is set.
-- @return boolean
function Event:is_set() return event_op(self, "is_set", "Event:is_set", 2).value ~= 0 end

--- e:wait([{timeout =}]): waits until the flag is set (at most TIMEOUT
-- seconds); returns whether it is set.
-- @param[opt] opts `{ timeout = seconds }`
-- @return boolean
function Event:wait(opts)
  check_self(self, Event, "Event:wait", 2)
  local timeout = type(opts) == "table" and opts.timeout or opts
  check_timeout(timeout, "Event:wait", 2)
  local c = client_of(self, 2)
  return poll_until(c, timeout, function()
    return request(c, { kind = "event", action = "is_set", name = self.name }, false, nil, "Event:wait", 4).value ~= 0
  end)
end

Event.__tostring = function(self) return "<Event: " .. self.name .. ">" end

-- fire_and_forget ---------------------------------------------------------------

--- fire_and_forget(futures): the scheduler keeps running FUTURES (a
-- future or a list of them) even when every client releases them; their
-- results are dropped once they finish (tasks run for their side effects).
-- @param futures a Future or a list of Futures
function M.fire_and_forget(futures)
  local list = is_future(futures) and { futures } or futures
  if type(list) ~= "table" then error("ldask.fire_and_forget: expected a future or a list of futures, got " .. type(futures), 2) end
  local keys, c = {}, nil
  for i = 1, #list do
    local f = list[i]
    if not is_future(f) then error("ldask.fire_and_forget: item " .. i .. " is a " .. type(f) .. ", not a future", 2) end
    keys[#keys + 1] = f.key
    c = c or f.client
  end
  if c == nil then return end
  local r = c:_request({ op = "coord", kind = "forget", action = "pin", name = "fire_and_forget", keys = keys }, 2)
  if not r.ok then error("ldask.fire_and_forget: " .. tostring(r.message), 2) end
end

return M
