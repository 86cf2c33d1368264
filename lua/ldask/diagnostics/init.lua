--- ldask.diagnostics: progress bars and profiling of computations. Callback
-- objects (a ProgressBar, a Profiler, or any table with the methods below)
-- are attached to one compute (compute(x, {progress = true, profile = p}))
-- or registered for every compute (register / with). The threaded
-- scheduler calls, on the main thread:
--   cb:start{ntasks, nworkers, scheduler}
--   cb:progress(done, total, elapsed)        -- about 10 times a second
--   cb:task(key, t0, t1, worker)             -- when cb.wants_tasks is true
--   cb:finish(ok, elapsed, done, total)
-- @module ldask.diagnostics
local progress = require "ldask.diagnostics.progress"
local profile = require "ldask.diagnostics.profile"

local M = {}

M.ProgressBar = progress.new
M.Profiler = profile.new
M.key_prefix = profile.key_prefix
M.events = require "ldask.diagnostics.events"
M.performance_report = require("ldask.diagnostics.report").performance_report

local registered = {}

--- Registers callback object CB for every computation until unregister.
-- @param cb a callback object (a ProgressBar, a Profiler, or a table with the methods above)
function M.register(cb)
  if type(cb) ~= "table" then error("diagnostics.register: expected a callback object, got " .. type(cb), 2) end
  for i = 1, #registered do if registered[i] == cb then return cb end end
  registered[#registered + 1] = cb
  return cb
end

--- Unregisters callback object CB.
-- @param cb a registered callback object
function M.unregister(cb)
  for i = #registered, 1, -1 do
    if registered[i] == cb then table.remove(registered, i) end
  end
end

--- Runs fn(...) with CB registered; unregisters it also on error. Returns
-- fn's results.
-- @param cb a callback object
-- @param fn the function
-- @param ... its arguments
-- @return fn's results
function M.with(cb, fn, ...)
  if type(fn) ~= "function" then error("diagnostics.with: fn must be a function, got " .. type(fn), 2) end
  M.register(cb)
  local res = { pcall(fn, ...) }
  M.unregister(cb)
  if not res[1] then error(res[2], 0) end
  return unpack(res, 2, table.maxn(res))
end

--- Runs fn(...) showing a progress bar (on stderr, terminal or not).
-- OPTS: see ProgressBar. Returns fn's results.
-- @param fn the function
-- @param[opt] opts options of ProgressBar
-- @return fn's results
-- @usage local x = ldask.array.ones({ 1000 }, { chunks = 100 }):sum()
-- ldask.diagnostics.progress(function() return x:compute() end)
function M.progress(fn, opts)
  if type(fn) ~= "function" then error("diagnostics.progress: fn must be a function, got " .. type(fn), 2) end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  if o.force == nil then o.force = true end
  return M.with(progress.new(o), fn)
end

--- Runs fn(...) under a new profiler. Returns the profiler, then fn's results.
-- @param fn the function
-- @param ... its arguments
-- @return the Profiler, then fn's results
function M.profile(fn, ...)
  if type(fn) ~= "function" then error("diagnostics.profile: fn must be a function, got " .. type(fn), 2) end
  local p = profile.new()
  return p, M.with(p, fn, ...)
end

-- Adapter for sync-style callbacks {start = fn(key), finish = fn(key)}.
local function key_callbacks(t)
  return {
    wants_tasks = true,
    start = function() end,
    progress = function() end,
    task = function(_, key)
      if t.start then t.start(key) end
      if t.finish then t.finish(key) end
    end,
    finish = function() end,
  }
end

-- The callback objects of a compute: OPTS.progress (true or a bar),
-- OPTS.profile, OPTS.callbacks, config "progress" (true: always; "auto":
-- on a terminal after a second; "repl", the default: "auto" once the
-- interactive prompt is loaded), and the registered ones.
function M.callbacks_for(opts)
  local out = {}
  local p = opts.progress
  if p == nil then
    local c = require("ldask.config").get("progress")
    if c == "repl" then c = package.loaded["ldask.repl"] ~= nil and "auto" end
    if c == true then p = progress.new { force = true }
    elseif c == "auto" then p = progress.new { minimum = 1 } end
  elseif p == true then
    p = progress.new { force = true }
  elseif p == false then
    p = nil
  elseif type(p) ~= "table" then
    error("ldask: option progress must be true, false or a ProgressBar, got " .. tostring(p), 0)
  end
  if p then out[#out + 1] = p end
  if opts.profile then out[#out + 1] = opts.profile end
  if type(opts.callbacks) == "table" and getmetatable(opts.callbacks) == nil
    and (opts.callbacks.start or opts.callbacks.finish) and not opts.callbacks.progress then
    out[#out + 1] = key_callbacks(opts.callbacks)
  elseif type(opts.callbacks) == "table" then
    out[#out + 1] = opts.callbacks
  end
  for i = 1, #registered do out[#out + 1] = registered[i] end
  for i = 1, #out do
    local cb = out[i]
    for _, m in ipairs { "start", "progress", "finish" } do
      if type(cb[m]) ~= "function" then
        error("ldask: callback object #" .. i .. " has no method '" .. m .. "'", 0)
      end
    end
  end
  return out
end

local stream = require "ldask.diagnostics.events"
local publish_compute = stream.compute

--- Gives one task's run to the event stream (when WATCHED) and to the
-- callbacks of CBS wanting tasks (cb:task(key, t0, t1, thread), finished
-- tasks only): the one place the local schedulers report tasks.
-- @param cbs the callback objects (or nil)
-- @param watched whether the event stream is watched
-- @param key the key
-- @param prefix its task prefix (nil: found from KEY)
-- @param worker "threads" or "sync"
-- @param thread the executor thread
-- @param t0 start (seconds)
-- @param t1 stop (seconds)
-- @param erred whether the task failed
function M.task_event(cbs, watched, key, prefix, worker, thread, t0, t1, erred)
  if watched then publish_compute(key, prefix, worker, thread, t0, t1, erred) end
  if cbs and not erred then
    for i = 1, #cbs do
      local cb = cbs[i]
      if cb.wants_tasks then cb:task(key, t0, t1, thread) end
    end
  end
end

local clock
local function now()
  if not clock then
    require "ldask.ffi.pool"
    clock = require("ldask.native").ld_pool_now
  end
  return clock()
end

-- For schedulers that run tasks one by one in the caller's state (sync):
-- returns nil when no callback applies to OPTS and nobody watches the event
-- stream, else an object with start(key) and finish(key) (call around each
-- task), fail(key) (a task failed) and close(ok) (call once at the end, also
-- on failure). NTASKS: tasks that will run; KEYS: their keys (for the
-- stream's per-prefix totals), with GONE (optional) marking those the
-- optimizer inlined or fused away (events.graph).
function M.adapter(opts, ntasks, keys, gone)
  local cbs = M.callbacks_for(opts or {})
  local watched = stream.watching()
  if #cbs == 0 and not watched then return nil end
  local t_start = now()
  local t0, done, last = 0, 0, -1
  for i = 1, #cbs do cbs[i]:start { ntasks = ntasks, nworkers = 1, scheduler = "sync" } end
  if watched then stream.graph(keys, gone and #keys or ntasks, 1, "sync", gone) end
  local a = {}
  function a.start() t0 = now() end
  function a.finish(key)
    local t1 = now()
    done = done + 1
    M.task_event(cbs, watched, key, nil, "sync", 0, t0, t1, false)
    local el = t1 - t_start
    if el - last >= 0.1 then
      last = el
      for i = 1, #cbs do cbs[i]:progress(done, ntasks, el) end
    end
  end
  function a.fail(key) M.task_event(nil, watched, key, nil, "sync", 0, t0, now(), true) end
  function a.close(ok)
    local el = now() - t_start
    for i = 1, #cbs do cbs[i]:progress(done, ntasks, el) end
    if watched then stream.finish(ok) end
    for i = 1, #cbs do cbs[i]:finish(ok, el, done, ntasks) end
  end
  return a
end

return M
