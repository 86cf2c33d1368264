-- ldask.scheduler.threads: the threaded local scheduler, the default of
-- compute(). The graph is indexed and ordered here, its tasks encoded once
-- (functions once per graph), and run by the executor pool of
-- runtime/lib/pool.c: N threads with their own LuaJIT states, fed by the C
-- scheduling engine (core/sched). This state waits with a timeout, so it
-- stays responsive to Ctrl-C, draws progress, and decodes the outputs.
local ffi = require "ffi"
local S = require "ldask.ffi.sched"
local OPT = require("ldask.ffi.util").opt
local lib = require "ldask.native"
local graph = require "ldask.graph"
local optimize = require "ldask.optimize"
local errors = require "ldask.errors"
local config = require "ldask.config"
local codec = require "ldask.codec"
local executor = require "ldask.scheduler.executor"
local diagnostics = require "ldask.diagnostics"
local stream = require "ldask.diagnostics.events"
local task_event = diagnostics.task_event

local type, getmetatable, pairs, error, tostring, pcall = type, getmetatable, pairs, error, tostring, pcall
local ffi_new, ffi_string, ffi_gc = ffi.new, ffi.string, ffi.gc
local payload = require "ldask.task.payload"
local result = require "ldask.task.result"
local decode_value = result.value
local K_ENC, K_FAST, K_LAYER = payload.kinds.ENC, payload.kinds.FAST, payload.kinds.LAYER
local RUNNING, DONE, ERRED, CANCELLED = S.RUNNING, S.DONE, S.STATUS_ERRED, S.STATUS_CANCELLED
local EV_FINISHED, EV_ERRED = S.EV_FINISHED, S.EV_ERRED

local M = {}

local pool -- the process's executor pool (ld_pool *, freed at exit)
local cancel_run
local decoder = codec.decoder()
local buffer_array = result.buffer_array

-- Returns the pool with at least N threads (created on first use).
function M.pool(n)
  if pool == nil then
    local err = ffi_new("char *[1]")
    local p = lib.ld_pool_new(n, package.path, package.cpath, err)
    if p == nil then
      local msg = err[0] ~= nil and ffi_string(err[0]) or "unknown error"
      if err[0] ~= nil then ffi.C.free(err[0]) end
      error("ldask: cannot start the executor threads: " .. msg, 0)
    end
    pool = ffi_gc(p, lib.ld_pool_free)
  elseif lib.ld_pool_size(pool) < n then
    local err = ffi_new("char *[1]")
    if lib.ld_pool_grow(pool, n, err) ~= 0 then
      local msg = err[0] ~= nil and ffi_string(err[0]) or "unknown error"
      if err[0] ~= nil then ffi.C.free(err[0]) end
      error("ldask: cannot add executor threads: " .. msg, 0)
    end
  end
  return pool
end

-- Number of threads the pool has now (0 before the first threaded compute).
function M.pool_size() return pool and lib.ld_pool_size(pool) or 0 end

local compile = payload.compile
M.compile = compile

local fast_size = payload.fast_size

-- Indexes graph G (graph.index) and encodes each task's payload: simple
-- tasks written as fast records (ldask.task.payload), the others compiled
-- for the codec. DEPS: the dependencies ldask.optimize computed (key ->
-- keys), or nil to find them while compiling the payloads, in the same
-- pass. With OPTIMIZE (the flat list of requested keys), only what they
-- need is indexed (culled in the same pass) and ldask.optimize.indexed
-- then inlines and fuses on the index, encoding again only the tasks it
-- changes; a task first met as the only dependency of a task may be fused
-- into it, so its payload waits for the plan (only its dependencies are
-- read in the pass). Returns the index with fns, fnkey, fast, fastoff,
-- fastlen, specs (and gone, live when tasks were inlined or fused away).
-- EXTERN: tasks kept outside G (graph.index; ldask.scheduler.layered).
local function noadd() end
local collect, is_task = graph.collect, graph.is_task
local function prepare(g, deps, optimize_keys, extern)
  local w, fast, emit
  local fastoff, fastlen, specs = {}, {}, {}
  local deferred = optimize_keys and {} or nil
  local add_now, nrow, last = noadd, 0, 0
  local function add(j)
    nrow, last = nrow + 1, j
    add_now(j)
  end
  local function task(i, key, v, index, add_i, known)
    add_now, nrow = add_i, 0
    local simple
    if known and deferred and deferred[i] then
      collect(v, index, add, key)
      simple = is_task(v)
    else
      if not w then
        w = payload.writer(index, add)
        fast, emit = w.fast, w.emit
      end
      local size = fast_size(v, index, 0)
      if size then
        local off = #fast
        emit(v, size, key, off)
        fastoff[i], fastlen[i], specs[i] = off, #fast - off, nil
      else
        fastoff[i], fastlen[i] = nil, nil
        specs[i] = compile(v, index, key, add)
      end
      simple = size
    end
    -- its only dependency, met here first, may be fused into it
    if nrow == 1 and known and deferred and last > known and simple then deferred[last] = true end
  end
  local ix
  if deps then
    ix = graph.index(g, deps)
    local keys, index = ix.keys, ix.index
    for i = 1, ix.n do task(i, keys[i], g[keys[i]], index, noadd) end
  else
    ix = graph.index(g, task, optimize_keys, extern)
    if optimize_keys then
      local keys, index = ix.keys, ix.index
      local function again(i, v)
        deferred[i] = nil
        task(i, keys[i], v, index, noadd)
      end
      local _, changed = optimize.indexed(ix, g, optimize_keys, again)
      local gone, KEPT = ix.gone, OPT.KEPT
      local late = {}
      for i in pairs(deferred) do
        if not gone or gone[i - 1] == KEPT then late[#late + 1] = i end
      end
      for j = 1, #late do again(late[j], g[keys[late[j]]]) end
      if changed and w then
        -- a function first met in a task fused away is named by the task it runs in
        local fnkey = w.fnkey
        for f = 1, #fnkey do
          local into = gone[index[fnkey[f]] - 1]
          if into >= 0 then fnkey[f] = keys[into + 1] end
        end
      end
    end
  end
  add_now = noadd
  if not w then w = payload.writer(ix.index, noadd) end
  ix.fns, ix.fnkey, ix.fast = w.fns, w.fnkey, w.fast
  ix.fastoff, ix.fastlen, ix.specs = fastoff, fastlen, specs
  return ix
end
M.prepare = prepare

local function shape(keys, out)
  if type(keys) == "table" and getmetatable(keys) == nil then
    local r = {}
    for i = 1, #keys do r[i] = shape(keys[i], out) end
    return r
  end
  return out[keys]
end

local function check_rc(rc, what)
  if rc < 0 then error("ldask: " .. what .. " failed (engine code " .. tostring(rc) .. ")", 0) end
  return rc
end

-- The message of a codec refusal E about task KEY, without the position of
-- the encoder's error call.
local function refusal(e, key)
  local m = result.refusal(e)
  if m:find("task '" .. key .. "'", 1, true) then return "ldask: " .. m end
  return "ldask: cannot ship task '" .. key .. "': " .. m
end

-- Sets the payload of every task of prepared graph P into run R; returns
-- the anchors (strings and buffers that R borrows).
local function encode_tasks(r, p)
  local session = codec.session { graph = true }
  local anchors = { p.fast }
  local keys, specs, fastoff, fastlen = p.keys, p.specs, p.fastoff, p.fastlen
  local senc = session.encode
  local fbase = p.fast:ref()
  local gone, KEPT = p.gone, OPT.KEPT
  for i = 1, p.nplain or p.n do
    local rc
    local off = fastoff[i]
    if gone and gone[i - 1] ~= KEPT then
      rc = 0 -- inlined or fused away: never runs
    elseif off then
      rc = lib.ld_run_set_payload(r, i - 1, K_FAST, fbase + off, fastlen[i], nil, 0)
    else
      local key = keys[i]
      local ok, h, bufs = pcall(senc, session, specs[i])
      if not ok then
        local err = h
        ok, h = pcall(senc, session, specs[i], "task '" .. key .. "'")
        error(refusal(ok and err or h, key), 0)
      end
      anchors[#anchors + 1] = h
      local nb = #bufs
      if nb == 0 then
        rc = lib.ld_run_set_payload(r, i - 1, K_ENC, h, #h, nil, 0)
      else
        rc = lib.ld_run_set_payload(r, i - 1, K_ENC, h, #h, buffer_array(nb, bufs), nb)
      end
    end
    if rc ~= 0 then error("ldask: out of memory storing task '" .. keys[i] .. "'", 0) end
  end
  -- compact layers: one template for each range of ids
  local ranges = p.ranges or {}
  for j = 1, #ranges do
    local g = ranges[j]
    local l = g.layer
    local ok, h, bufs = pcall(senc, session, l.template)
    if not ok then error(refusal(h, l.name .. ",0"), 0) end
    anchors[#anchors + 1] = h
    local nb = #bufs
    if lib.ld_run_set_payload_range(r, g.first, l.n, K_LAYER, h, #h, nb > 0 and buffer_array(nb, bufs) or nil, nb) ~= 0 then
      error("ldask: cannot store the template of layer '" .. l.name .. "'", 0)
    end
  end
  -- the functions of simple tasks, then every function blob of the session
  local ok, fh, fbufs = pcall(senc, session, p.fns)
  if not ok then
    local f = p.fns
    for i = 1, #f do
      local ok2, e = pcall(senc, session, f[i], "the function of task '" .. p.fnkey[i] .. "'")
      if not ok2 then error(refusal(e, p.fnkey[i]), 0) end
    end
    error("ldask: cannot ship the task functions: " .. tostring(fh), 0)
  end
  local ph = codec.encode({ session:functions(), fh })
  anchors[#anchors + 1] = ph
  anchors[#anchors + 1] = fbufs
  local nb = #fbufs
  lib.ld_run_set_prelude(r, ph, #ph, nb > 0 and buffer_array(nb, fbufs) or nil, nb)
  return anchors
end

-- Splits a failure message "message\0traceback".
local function split_error(msg)
  local z = msg:find("\0", 1, true)
  if z then return msg:sub(1, z - 1), msg:sub(z + 1) end
  return msg, ""
end

local signals
do
  local ok, s = pcall(require, "ldask.signals")
  if ok then signals = s end
end

local events = ffi.new("ld_sched_event[256]")

-- Drains the engine's task events of run R into the event stream and the
-- callbacks CBS wanting tasks (diagnostics.task_event), then gives CBS the
-- progress. WATCHED: the stream is watched (ldask.diagnostics.events).
local function tick(r, cbs, keys, prefixes, stats, elapsed, want_tasks, watched)
  if want_tasks or watched then
    while true do
      local k = lib.ld_run_events(r, events, 256)
      for j = 0, k - 1 do
        local e = events[j]
        local erred = e.kind == EV_ERRED
        -- (tasks erred through a dependency never ran: worker -1)
        if e.kind == EV_FINISHED or (erred and watched and e.worker >= 0) then
          local i = e.task + 1
          task_event(cbs, watched, keys[i], prefixes and prefixes[i], "threads", e.worker, e.t0, e.t1, erred)
        end
      end
      if k < 256 then break end
    end
  end
  if not cbs then return end
  lib.ld_run_stats(r, stats)
  local done, total = tonumber(stats.finished), tonumber(stats.needed)
  for i = 1, #cbs do cbs[i]:progress(done, total, elapsed) end
  return done, total
end

-- Waits for run R, ticking the callbacks CBS and the event stream; raises
-- "interrupted" on Ctrl-C. Returns the final status.
local function wait(r, cbs, keys, prefixes, t_start, stats, want_tasks, watched)
  local clock = lib.ld_pool_now
  local ticking = cbs or watched
  while true do
    local st = lib.ld_run_wait(r, 100)
    if ticking then tick(r, cbs, keys, prefixes, stats, clock() - t_start, want_tasks, watched) end
    if st ~= RUNNING then return st end
    if signals and signals.pending() then error("interrupted", 0) end
  end
end

-- Starts run R (NTASKS tasks to run) on NWORKERS threads, starts the callbacks CBS, then waits
-- as wait() does. Returns the final status, or nil and the engine's code
-- when the run cannot start.
local function start_and_wait(r, ntasks, nworkers, cbs, keys, prefixes, t_start, stats, want_tasks, watched)
  local rc = lib.ld_run_start(r, nworkers)
  if rc ~= 0 then return nil, rc end
  if cbs then
    for i = 1, #cbs do cbs[i]:start { ntasks = ntasks, nworkers = nworkers, scheduler = "threads" } end
  end
  return wait(r, cbs, keys, prefixes, t_start, stats, want_tasks, watched)
end

-- Runs left running on abandoned pools, with what their threads may read.
local abandoned_runs = {}

-- Cancels run R and waits for its threads to leave it, up to GRACE seconds
-- (tasks in JIT-compiled loops cannot be interrupted). Returns nil when the
-- run ended; else the number of threads still busy, after abandoning the
-- pool: it is never freed (its threads finish their task, then wait), and
-- the next compute starts a new pool.
local GRACE = 1.5
cancel_run = function(r, anchors)
  lib.ld_run_cancel(r, 1)
  local t0 = lib.ld_pool_now()
  while true do
    local ok, st = pcall(lib.ld_run_wait, r, 100)
    if ok and st ~= RUNNING then return nil end
    if lib.ld_pool_now() - t0 > GRACE then break end
  end
  local stats = ffi_new("ld_sched_stats")
  lib.ld_run_stats(r, stats)
  abandoned_runs[#abandoned_runs + 1] = { pool, r, anchors }
  ffi_gc(pool, nil)
  pool = nil
  return tonumber(stats.processing)
end

local run_index

-- Runs graph G for KEYS (a key or nested list) on the executor threads;
-- returns the results in the same shape. OPTS: num_workers, optimize_graph,
-- progress (true or a ProgressBar), profile (a Profiler), stats (a table
-- receiving tasks, peak_bytes, engine_bytes).
function M.get(g, keys, opts)
  opts = opts or {}
  if executor.in_executor then
    -- compute() inside a running task: inline, on this executor thread
    return require("ldask.scheduler.sync").get(g, keys, opts)
  end
  local flat = graph.flatten_keys(keys)
  graph.check_keys(g, flat, 4)
  local nworkers = opts.num_workers or config.get("num_workers")
  if type(nworkers) ~= "number" or nworkers < 1 or nworkers % 1 ~= 0 then
    require("ldask.errors").misuse("ldask.get: num_workers must be a positive integer, got " .. tostring(nworkers))
  end
  local ix = prepare(g, nil, opts.optimize_graph ~= false and flat or nil)
  return run_index(ix, g, keys, flat, opts, nworkers)
end

--- Runs a graph holding compact layers (ldask.layer) for KEYS: PLAIN the
-- graph of its plain tasks, COMPACT the list of its layers
-- (ldask.scheduler.layered.split); no optimization (a layer is fused as
-- it is built). Returns the results in the shape of KEYS.
function M.get_layers(plain, compact, keys, opts)
  opts = opts or {}
  local flat = graph.flatten_keys(keys)
  local nworkers = opts.num_workers or config.get("num_workers")
  if type(nworkers) ~= "number" or nworkers < 1 or nworkers % 1 ~= 0 then
    require("ldask.errors").misuse("ldask.get: num_workers must be a positive integer, got " .. tostring(nworkers))
  end
  local ix = require("ldask.scheduler.layered").index(plain, compact, prepare)
  local missing = {}
  for i = 1, #flat do
    if type(flat[i]) ~= "string" or not ix.index[flat[i]] then missing[#missing + 1] = "'" .. tostring(flat[i]) .. "'" end
  end
  if #missing > 0 then
    require("ldask.errors").misuse("ldask.get: key(s) not in the graph: " .. table.concat(missing, ", "))
  end
  return run_index(ix, nil, keys, flat, opts, nworkers)
end

-- Runs prepared index IX (of graph G, or nil for a layered one) for KEYS
-- (FLAT: their flat list) on NWORKERS threads.
run_index = function(ix, g, keys, flat, opts, nworkers)
  -- raises at the user's line naming every key of a cycle (as g has it)
  local _, prio = optimize.order(ix, g, flat, true)
  local n = ix.n
  local p = M.pool(nworkers)
  local r = lib.ld_run_new(p, n)
  if r == nil then error("ldask: out of memory creating a run of " .. n .. " tasks", 0) end
  local anchors
  local ok, err = pcall(function()
    local s = lib.ld_run_sched(r)
    check_rc(lib.ld_sched_add(s, n, ix.offsets, ix.cdeps, prio), "adding the tasks")
    for i = 1, #flat do check_rc(lib.ld_sched_want(s, ix.index[flat[i]] - 1), "marking outputs") end
    anchors = encode_tasks(r, ix)
  end)
  if not ok then
    lib.ld_run_free(r)
    error(err, 0)
  end
  local cbs = diagnostics.callbacks_for(opts)
  if cbs and #cbs == 0 then cbs = nil end
  local want_tasks = false
  if cbs then
    for i = 1, #cbs do if cbs[i].wants_tasks then want_tasks = true end end
  end
  -- the engine times tasks and records events only when someone watches
  local watched, prefixes = stream.watching(), nil
  if watched then
    lib.ld_run_events_enable(r, EV_FINISHED + EV_ERRED)
    prefixes = stream.graph(ix.keys, n, nworkers, "threads", ix.gone)
  elseif want_tasks then
    lib.ld_run_events_enable(r, EV_FINISHED)
  end
  local t_start = lib.ld_pool_now()
  local stats = ffi_new("ld_sched_stats")
  -- from the run's start on, a Ctrl-C must land in this pcall: one that
  -- escaped would leave the executor threads running as the program exits
  local wok, st, start_rc = pcall(start_and_wait, r, ix.live or n, nworkers, cbs, ix.keys, prefixes, t_start, stats,
    want_tasks, watched)
  if wok and st == nil then
    lib.ld_run_free(r)
    if start_rc == S.ECYCLE then error("ldask: cycle in the task graph", 0) end
    error("ldask: cannot start the run (code " .. tostring(start_rc) .. ")", 0)
  end
  local function finish_callbacks(ok)
    if not (cbs or watched) then return end
    local elapsed = lib.ld_pool_now() - t_start
    local done, total = tick(r, cbs, ix.keys, prefixes, stats, elapsed, want_tasks, watched)
    if watched then stream.finish(ok) end
    if not cbs then return end
    for i = 1, #cbs do cbs[i]:finish(ok, elapsed, done, total) end
  end
  if not wok then
    -- Ctrl-C (or an error in a callback): clear a pending interrupt hook
    -- first (it is one-shot: if it fires in this pcall, it is gone too)
    pcall(debug.sethook)
    local abandoned = cancel_run(r, anchors)
    if signals then signals.pending() end
    if not abandoned then
      pcall(finish_callbacks, false)
      lib.ld_run_free(r)
    end
    anchors = nil
    if tostring(st):find("interrupted", 1, true) then
      local msg = "interrupted: computation cancelled (Ctrl-C)"
      if abandoned then
        msg = msg .. "; " .. abandoned .. " executor thread(s) busy in a task that cannot be"
          .. " interrupted were left to finish it, and a new pool serves the next compute"
      end
      error(msg, 0)
    end
    error(st, 0)
  end
  finish_callbacks(st == DONE)
  if st ~= DONE then
    local msgp = ffi_new("const char *[1]")
    local lenp = ffi_new("size_t[1]")
    local id = lib.ld_run_error(r, msgp, lenp)
    local msg = msgp[0] ~= nil and ffi_string(msgp[0], lenp[0]) or nil
    lib.ld_run_free(r)
    if st == ERRED and id >= 0 then
      local message, tb = split_error(msg or "unknown error")
      error(errors.task_error(ix.keys[id + 1], message, tb), 0)
    elseif msg then
      error("ldask: computation failed: " .. msg, 0)
    elseif st == CANCELLED then
      error("ldask: computation cancelled", 0)
    end
    error("ldask: the task graph cannot make progress (a cycle?)", 0)
  end
  local out = {}
  local dok, derr = pcall(function()
    for i = 1, #flat do
      local k = flat[i]
      if out[k] == nil then
        local v = lib.ld_run_result(r, ix.index[k] - 1)
        if v == nil then error("ldask: no result for output '" .. k .. "'", 0) end
        out[k] = { decode_value(v, decoder) }
      end
    end
  end)
  if opts.stats then
    lib.ld_run_stats(r, stats)
    opts.stats.tasks = tonumber(stats.needed)
    opts.stats.peak_bytes = tonumber(stats.peak_bytes)
    opts.stats.engine_bytes = tonumber(stats.engine_bytes)
    opts.stats.num_workers = nworkers
  end
  lib.ld_run_free(r)
  anchors = nil
  if not dok then error(derr, 0) end
  for k, v in pairs(out) do out[k] = v[1] end
  return shape(keys, out)
end

return M
