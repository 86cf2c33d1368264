-- ldask.scheduler.executor: the loop of one executor thread of the threaded
-- scheduler. Runs in the thread's own LuaJIT state (runtime/lib/pool.c calls
-- serve; the state was started by ldask.task.state); takes batches of ready
-- tasks from the pool, runs each (fast records and the codec-encoded others,
-- both in the format of ldask.task.payload; functions come from the run's
-- prelude, cached by content hash), reading its inputs from the result
-- slots of its dependencies, and stores its result or its error as
-- ldask.task.result makes them.
local ffi = require "ffi"
local lib = require "ldask.native"
local codec = require "ldask.codec"
local graph = require "ldask.graph"
local errors = require "ldask.errors"
local payload = require "ldask.task.payload"
local result = require "ldask.task.result"
local collect_if_grown = require("ldask.task.state").collect_if_grown

local type, xpcall, pcall, tostring, tonumber = type, xpcall, pcall, tostring, tonumber
local ffi_string, ffi_new, ffi_cast = ffi.string, ffi.new, ffi.cast
local now = lib.ld_pool_now
local K = payload.kinds
local K_NUM, K_ENC, K_EMPTY, K_FAST, K_LAYER = K.NUM, K.ENC, K.EMPTY, K.FAST, K.LAYER
local decode_value, slot, error_parts = result.value, result.slot, result.error_parts

local M = {}

-- Set in executor states: a compute() inside a task runs inline there (see
-- docs/scheduler.md).
M.in_executor = false

---------------------------------------------------------------------------
-- The loop (executor states only)

local pool, worker, run
local decoder = codec.decoder()
local generation = -1

-- The value of the task of 0-based id ID of the current run (an input).
local function input(id) return decode_value(lib.ld_run_input(run, id), decoder) end

-- Evaluates argument V of a task: RefIds become inputs of the run, nested
-- tasks are called, plain tables are rebuilt (the sync scheduler's rules).
local eval = graph.evaluator(nil, payload.RefId, input)

-- Runs fast records (ldask.task.payload); set_fns loads a run's functions.
local run_fast_at, set_fns = payload.reader(input)

-- Compact layers (ldask.layer): templates decoded once per run (by the
-- address of the payload they share), filled in by an evaluator whose
-- placeholders read the running task's block index and inputs.
local templates = {}
local cur_id, cur_index = -1, -1
local ndeps = ffi_new("int32_t[1]")
local layer_eval = graph.evaluator(nil, require("ldask.layer").Arg, function(code)
  if code == -1 then return cur_index end
  local deps = lib.ld_run_deps(run, cur_id, ndeps)
  if code > 0 then return input(deps[code - 1]) end
  local out = {}
  for j = 0, ndeps[0] - 1 do out[j + 1] = input(deps[j]) end
  return out
end)

local function run_layer(id, p)
  local at = tonumber(ffi_cast("uintptr_t", p.data))
  local t = templates[at]
  if t == nil then
    t = decoder:decode(ffi_string(p.data, p.len), result.buffers_of(p))
    templates[at] = t
  end
  cur_id, cur_index = id, id - p.num
  return layer_eval(t)
end

local function run_task(id)
  local p = lib.ld_run_payload(run, id)
  local kind = p.kind
  if kind == K_FAST then return run_fast_at(p.data, 0) end
  if kind == K_LAYER then return run_layer(id, p) end
  local task = decode_value(p, decoder)
  return eval(task)
end

local ids = ffi_new("int32_t[64]")
local runbox = ffi_new("ld_run *[1]")
local ERRSEP = "\0"

-- Index of this executor thread (nil outside executor states).
function M.worker_index() return worker end

local runs_on_decoder = 0

-- Loads the functions of a new run (its prelude).
local function start_run()
  generation = lib.ld_run_generation(run)
  templates = {}
  local pre = lib.ld_run_payload(run, -1)
  set_fns({})
  -- The function cache lives across computes (a function decoded once per
  -- state), but is renewed every 256 computes so that a long session
  -- creating new closures does not grow it without bound.
  runs_on_decoder = runs_on_decoder + 1
  if runs_on_decoder > 256 then
    decoder = codec.decoder()
    runs_on_decoder = 1
  end
  if pre.kind == K_ENC then
    local t = decoder:decode(ffi_string(pre.data, pre.len), nil)
    decoder:add_functions(t[1])
    set_fns(decoder:decode(t[2], result.buffers_of(pre)))
  end
end

-- Serves the pool until it shuts down. POOLP: the pool (light userdata),
-- W: this thread's index. Called by runtime/lib/pool.c.
function M.serve(poolp, w)
  M.in_executor = true
  pool, worker = ffi_cast("ld_pool *", poolp), w
  local handler = errors.handler
  while true do
    local n = lib.ld_pool_next(pool, worker, ids, 64, runbox)
    if n < 0 then return end
    run = runbox[0]
    if lib.ld_run_generation(run) ~= generation then
      local ok, err = xpcall(start_run, handler)
      if not ok then
        for i = 0, n - 1 do
          local msg = "cannot load the functions of the graph: " .. tostring(err.message or err)
          lib.ld_pool_fail(pool, worker, ids[i], msg, #msg, 0, 0)
        end
        n = 0
      end
    end
    local timed = n > 0 and lib.ld_run_timed(run) ~= 0
    for i = 0, n - 1 do
      local id = ids[i]
      if lib.ld_run_stopping(run) ~= 0 then
        lib.ld_pool_done(pool, worker, id, K_EMPTY, 0, nil, 0, nil, 0, 0, 0)
      else
        local t0 = timed and now() or 0
        local ok, res = xpcall(run_task, handler, id)
        if ok and type(res) == "number" then
          lib.ld_pool_done(pool, worker, id, K_NUM, res, nil, 0, nil, 0, t0, timed and now() or 0)
        elseif ok then
          local ok2, kind, num, data, len, bufs, nb = pcall(slot, res, "the result")
          if ok2 then
            lib.ld_pool_done(pool, worker, id, kind, num, data, len, bufs, nb, t0, timed and now() or 0)
          else
            local msg = result.unshippable(kind) .. ERRSEP
            lib.ld_pool_fail(pool, worker, id, msg, #msg, t0, now())
          end
        else
          local message, tb = error_parts(res)
          local msg = message .. ERRSEP .. tb
          lib.ld_pool_fail(pool, worker, id, msg, #msg, t0, now())
        end
      end
    end
    -- ndarray chunks held only by dead Lua values are invisible to the
    -- collector: give their C memory back before waiting for more work.
    local nd = package.loaded["ldask.array.ndarray"]
    if nd then nd.collect_if_due() end
    -- and dead Lua strings the incremental collector lags behind on
    collect_if_grown()
  end
end

return M
