--- ldask.diagnostics.events: the engine's events of the local schedulers
-- (threads, sync) as one observable stream, the one the profiler, the
-- progress bar and performance_report read. The events have the shape of
-- the scheduler dashboard's /api/v1/task_stream (docs/dashboard.md):
--   {seq, kind = "compute", key, prefix, worker, thread, start, stop, status}
-- (times in seconds of ld_pool_now's monotonic clock; worker "threads" or
-- "sync"; thread = the executor thread; status "ok" or "erred"), plus one
-- {seq, kind = "graph", ntasks, nthreads, scheduler, prefixes = {p = n}}
-- when a compute starts and {seq, kind = "finish", ok} when it ends.
--
-- Nothing is recorded unless someone watches: a compute asks watching()
-- once, and only then has the engine time its tasks and record events.
-- A watcher is a bounded ring (fixed capacity; the oldest events are
-- dropped and counted when it is full).
-- @submodule ldask.diagnostics
local key_prefix = require("ldask.diagnostics.profile").key_prefix

local type, error, tostring = type, error, tostring

local M = {}

local Ring = {}
Ring.__index = Ring
Ring.__name = "ldask.EventRing"
M.Ring = Ring

local rings = {} -- the watching rings, in watch order
local nrings = 0
local seq = 0 -- the stream's last sequence number (shared by every ring)

--- True when someone watches the stream (a compute then records events).
-- @return boolean
function M.watching() return nrings > 0 end

--- Starts watching: returns a new ring receiving every event from now on.
-- OPTS.capacity: events kept (default 100000; older ones are dropped and
-- counted). Call ring:close() (or events.unwatch(ring)) to stop.
-- @param[opt] opts `{ capacity = }`
-- @return an EventRing
-- @usage local ring = ldask.diagnostics.events.watch()
-- ldask.array.ones({ 1000 }, { chunks = 100 }):sum():compute()
-- for _, e in ipairs(ring:since(0)) do
--   if e.kind == "compute" then print(e.key, e.stop - e.start) end
-- end
-- ring:close()
function M.watch(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("events.watch: opts must be a table, got " .. type(opts), 2)
  end
  local cap = opts and opts.capacity or 100000
  if type(cap) ~= "number" or cap < 1 or cap % 1 ~= 0 then
    error("events.watch: capacity must be a positive integer, got " .. tostring(cap), 2)
  end
  local r = setmetatable({ capacity = cap, buf = {}, head = 1, len = 0, dropped = 0, first_seq = seq + 1 }, Ring)
  nrings = nrings + 1
  rings[nrings] = r
  return r
end

--- Stops watching with RING (no more events are added; what it holds stays
-- readable).
-- @param ring an EventRing
function M.unwatch(ring)
  for i = nrings, 1, -1 do
    if rings[i] == ring then
      table.remove(rings, i)
      nrings = nrings - 1
    end
  end
end

function Ring:close() M.unwatch(self) end

-- Adds event E (its seq is set by publish).
function Ring:push(e)
  local cap = self.capacity
  if self.len < cap then
    self.len = self.len + 1
    self.buf[(self.head + self.len - 2) % cap + 1] = e
  else
    self.buf[self.head] = e
    self.head = self.head % cap + 1
    self.dropped = self.dropped + 1
  end
end

--- The events with seq > SINCE still held, oldest first (at most MAX).
-- @param[opt] since a sequence number (default 0: everything held)
-- @param[opt] max at most this many
-- @return a list of events
function Ring:since(since, max)
  since = since or 0
  local out, n = {}, 0
  local cap, buf, head = self.capacity, self.buf, self.head
  max = max or self.len
  for i = 0, self.len - 1 do
    local e = buf[(head + i - 1) % cap + 1]
    if e.seq > since then
      n = n + 1
      out[n] = e
      if n >= max then break end
    end
  end
  return out
end

--- The number of events held.
-- @return a count
function Ring:size() return self.len end

--- The stream's last sequence number.
-- @return a number
function M.last_seq() return seq end

local function publish(e)
  seq = seq + 1
  e.seq = seq
  for i = 1, nrings do rings[i]:push(e) end
  return e
end
M.publish = publish

--- Publishes the start of a compute of NTASKS tasks named by KEYS (a list,
-- for the per-prefix totals) on NTHREADS threads of SCHEDULER. Returns the
-- list of the tasks' prefixes (for compute). GONE (optional, an int32
-- array by 0-based position): tasks where it is not -1 were inlined or
-- fused away by the optimizer and are not counted.
-- @param keys the task keys
-- @param ntasks the number of tasks
-- @param nthreads executor threads
-- @param scheduler "threads" or "sync"
-- @param[opt] gone the optimizer's marks (ldask.optimize)
-- @return the prefix of each key, in KEYS' order
function M.graph(keys, ntasks, nthreads, scheduler, gone)
  local prefixes, of, n = {}, {}, 0
  for i = 1, ntasks do
    local p = key_prefix(keys[i])
    of[i] = p
    if not gone or gone[i - 1] == -1 then
      prefixes[p] = (prefixes[p] or 0) + 1
      n = n + 1
    end
  end
  publish { kind = "graph", ntasks = n, nthreads = nthreads, scheduler = scheduler, prefixes = prefixes }
  return of
end

--- Publishes the end of a compute (OK: it succeeded).
-- @param ok boolean
function M.finish(ok) publish { kind = "finish", ok = ok and true or false } end

--- Publishes task KEY (of task prefix PREFIX; nil: found from KEY) run on
-- executor THREAD of WORKER from T0 to T1; ERRED when it failed. Returns
-- the event.
-- @param key the key
-- @param prefix its prefix, or nil
-- @param worker "threads" or "sync"
-- @param thread the executor thread
-- @param t0 start (seconds)
-- @param t1 stop (seconds)
-- @param erred boolean
-- @return the event
function M.compute(key, prefix, worker, thread, t0, t1, erred)
  return publish {
    kind = "compute", key = key, prefix = prefix or key_prefix(key), worker = worker,
    thread = thread, start = t0, stop = t1, status = erred and "erred" or "ok",
  }
end

return M
