-- ldask.scheduler.executor: the loop of one executor thread of the threaded
-- scheduler. Runs in the thread's own LuaJIT state (runtime/lib/pool.c calls
-- serve); takes batches of ready tasks from the pool, decodes each task's
-- payload (functions come from the run's prelude, cached by content hash),
-- reads its inputs from the result slots of its dependencies, runs it, and
-- stores its result: numbers, booleans, nil and strings inline, anything
-- else encoded by ldask.codec (numeric buffers shared, not copied).
-- The main state uses this module too: RefId marks references in shipped
-- tasks, and encode_result/decode_value are shared.
local ffi = require "ffi"
local V = require "ldask.ffi.pool"
local lib = require "ldask.native"
local codec = require "ldask.codec"
local graph = require "ldask.graph"
local errors = require "ldask.errors"

local type, setmetatable, unpack, xpcall, tostring =
  type, setmetatable, unpack, xpcall, tostring
local ffi_string, ffi_new, ffi_cast = ffi.string, ffi.new, ffi.cast
local now = lib.ld_pool_now
local K_NIL, K_FALSE, K_TRUE, K_NUM, K_STR, K_ENC, K_EMPTY, K_FAST =
  V.NIL, V.FALSE, V.TRUE, V.NUM, V.STR, V.ENC, V.EMPTY, V.FAST

local M = {}

-- Set in executor states: a compute() inside a task runs inline there (see
-- docs/scheduler.md).
M.in_executor = false

-- A reference to the result of task id v[1] (0-based) in a shipped task.
local RefId = { __name = "ldask.refid" }
RefId.__index = RefId
M.RefId = RefId

function M.refid(id) return setmetatable({ id }, RefId) end

local buffer_array = ffi.typeof("ld_buffer *[?]")

-- Lua array of the buffers of ld_value V (borrowed pointers).
local function buffers_of(v)
  local n = v.nbufs
  local t = {}
  for i = 0, n - 1 do t[i + 1] = v.bufs[i] end
  return t
end

-- Returns the Lua value stored in ld_value V; DECODER decodes encoded ones.
local function decode_value(v, decoder)
  local k = v.kind
  if k == K_NUM then return v.num end
  if k == K_STR then return ffi_string(v.data, v.len) end
  if k == K_ENC then
    local h = ffi_string(v.data, v.len)
    if v.nbufs == 0 then return decoder:decode(h, nil) end
    return decoder:decode(h, buffers_of(v))
  end
  if k == K_TRUE then return true end
  if k == K_FALSE then return false end
  if k == K_NIL then return nil end
  error("ldask: result slot holds no value (kind " .. tostring(k) .. ")", 0)
end
M.decode_value = decode_value

-- Splits result R into the arguments of ld_pool_done: kind, num, data, len,
-- bufs (C array or nil), nbufs, anchor (keeps the buffers alive).
local function encode_result(r, what)
  local t = type(r)
  if t == "number" then return K_NUM, r, nil, 0, nil, 0 end
  if t == "nil" then return K_NIL, 0, nil, 0, nil, 0 end
  if t == "boolean" then return r and K_TRUE or K_FALSE, 0, nil, 0, nil, 0 end
  if t == "string" then return K_STR, 0, r, #r, nil, 0 end
  local h, bufs = codec.encode(r, nil, what)
  local nb = #bufs
  if nb == 0 then return K_ENC, 0, h, #h, nil, 0 end
  return K_ENC, 0, h, #h, buffer_array(nb, bufs), nb, bufs
end
M.encode_result = encode_result

---------------------------------------------------------------------------
-- The loop (executor states only)

local pool, worker, run
local decoder = codec.decoder()
local generation = -1

-- Evaluates argument V of a task: RefIds become inputs of the run, nested
-- tasks are called, plain tables are rebuilt (the sync scheduler's rules).
local eval = graph.evaluator(nil, RefId, function(id)
  return decode_value(lib.ld_run_input(run, id), decoder)
end)

local fns = {} -- functions of the simple tasks of the current run
local int32_ptr = ffi.typeof("const int32_t *")
local fastarg_ptr = ffi.typeof("const ld_fastarg *")
local A_NUM, A_REF, A_STR, A_TRUE, A_FALSE, A_SBUF, A_TASK =
  V.A_NUM, V.A_REF, V.A_STR, V.A_TRUE, V.A_FALSE, V.A_SBUF, V.A_TASK
local dbuf = require("string.buffer").new() -- decodes plain data arguments in place

local run_fast_at

-- Argument X (ld_fastarg) of a simple task whose payload starts at BASE.
local function fast_arg(base, x)
  local tag = x.tag
  if tag == A_NUM then return x.d end
  if tag == A_REF then return decode_value(lib.ld_run_input(run, x.i), decoder) end
  if tag == A_STR then return ffi_string(base + x.d, x.i) end
  if tag == A_SBUF then
    dbuf:set(base + x.d, x.i)
    return dbuf:decode()
  end
  if tag == A_TASK then return (run_fast_at(base, x.d)) end -- a nested task gives one value
  if tag == A_TRUE then return true end
  if tag == A_FALSE then return false end
  return nil
end

-- Runs the simple task whose record is at OFF in the payload at BASE (see
-- threads.lua: prepare).
run_fast_at = function(base, off)
  local h = ffi_cast(int32_ptr, base + off)
  local f, na = fns[h[0] + 1], h[1]
  local a = ffi_cast(fastarg_ptr, base + off + 8)
  if na == 1 then return f(fast_arg(base, a[0])) end
  if na == 0 then return f() end
  if na == 2 then return f(fast_arg(base, a[0]), fast_arg(base, a[1])) end
  local args = {}
  for j = 0, na - 1 do args[j + 1] = fast_arg(base, a[j]) end
  return f(unpack(args, 1, na))
end

local function run_task(id)
  local p = lib.ld_run_payload(run, id)
  if p.kind == K_FAST then return run_fast_at(p.data, 0) end
  local task = decode_value(p, decoder)
  return eval(task)
end

local ids = ffi_new("int32_t[64]")
local runbox = ffi_new("ld_run *[1]")
local ERRSEP = "\0"

-- Loads the functions of a new run.
-- Index of this executor thread (nil outside executor states).
function M.worker_index() return worker end

local runs_on_decoder = 0

local function start_run()
  generation = lib.ld_run_generation(run)
  local pre = lib.ld_run_payload(run, -1)
  fns = {}
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
    fns = decoder:decode(t[2], buffers_of(pre))
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
          local ok2, kind, num, data, len, bufs, nb = pcall(encode_result, res)
          if ok2 then
            lib.ld_pool_done(pool, worker, id, kind, num, data, len, bufs, nb, t0, timed and now() or 0)
          else
            local msg = "cannot store the result: " .. tostring(kind) .. ERRSEP
            lib.ld_pool_fail(pool, worker, id, msg, #msg, t0, now())
          end
        else
          local msg
          if errors.is_task_error(res) then
            msg = tostring(res) .. ERRSEP
          else
            msg = tostring(res.message) .. ERRSEP .. tostring(res.traceback or "")
          end
          lib.ld_pool_fail(pool, worker, id, msg, #msg, t0, now())
        end
      end
    end
    -- ndarray chunks held only by dead Lua values are invisible to the
    -- collector: give their C memory back before waiting for more work.
    local nd = package.loaded["ldask.array.ndarray"]
    if nd then nd.collect_if_due() end
  end
end

return M
