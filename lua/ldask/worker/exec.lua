-- ldask.worker.exec: runs tasks in an executor thread of ldask-worker
-- (runtime/worker/exec.c calls serve once; it loops over the tasks).
-- Decodes the payload (a graph task encoded by ldask.codec), decodes the inputs, evaluates the task
-- with the graph's semantics (a string equal to a dependency key, or a
-- ldask.ref of it, is that dependency's value; plain tables are traversed; quoted values are taken
-- as they are), and stores the encoded result or the error with its
-- traceback. Functions shared across a client's tasks arrive once through
-- add_function (codec session blobs, by content hash). Also runs a
-- client's run (client:run: a function called once per worker, no graph)
-- and unloads modules uploaded by client:upload_file.
local ffi = require "ffi"
require "ldask.ffi.net"
local codec = require "ldask.codec"
local graph = require "ldask.graph"
local errors = require "ldask.errors"
local payload = require "ldask.task.payload"
local result = require "ldask.task.result"
local collect_if_grown = require("ldask.task.state").collect_if_grown

local C = ffi.C
local type, setmetatable, unpack, xpcall, tostring, error =
  type, setmetatable, unpack, xpcall, tostring, error
local ffi_string, ffi_new = ffi.string, ffi.new
local package = package
local Ref = graph.Ref
local plain_ref, plain_done = require("ldask.codec.encode").plain_ref, require("ldask.codec.encode").plain_done
local char_ptr = ffi.typeof("const char *")
local tnew = require "table.new"

local M = {}

local decoder = codec.decoder()
local buffer_array = result.buffer_array

-- The worker this state runs in (set by runtime/worker/exec.c): { name,
-- address, local_directory (or nil), nthreads }. Read it through
-- ldask.client.get_worker().
M.worker = nil

function M.set_worker(name, address, local_directory, nthreads)
  M.worker = {
    name = name, address = address, nthreads = nthreads,
    local_directory = local_directory ~= "" and local_directory or nil,
  }
end

-- Registers one encoded function (from a client's codec session).
function M.add_function(hash, blob)
  decoder:add_functions({ [hash] = blob })
end

local u8p = ffi.typeof("const uint8_t *")
local dbox = ffi_new("double[1]")
local band = require("bit").band
local VERSION, PLAIN = require("ldask.codec.encode").VERSION, require("ldask.codec.encode").PLAIN

-- Decodes a value stored as frames (frame 0 the codec header). A plain
-- finite number (the codec's 11-byte header: version, 'P', tag 7, the
-- double) is read in place, without a Lua string of its header.
local function decode_frames(frames, n)
  local f0 = frames[0]
  if n == 1 and f0.size == 11 then
    local p = ffi.cast(u8p, f0.data)
    if p[0] == VERSION and p[1] == PLAIN and p[2] == 7 and
       (band(p[10], 0x7f) ~= 0x7f or band(p[9], 0xf0) ~= 0xf0) then
      ffi.copy(dbox, p + 3, 8)
      return dbox[0]
    end
  end
  local h = ffi_string(f0.data, f0.size)
  if n <= 1 then return decoder:decode(h, nil) end
  local bufs = {}
  for i = 1, n - 1 do bufs[i] = frames[i] end
  return decoder:decode(h, bufs)
end

local deps -- key -> value for the task being run

-- Evaluates a task's argument: strings and refs naming an input are its
-- value (the sync scheduler's rules, ldask.graph.evaluator).
-- deps holds each input's value as is, NILV standing for nil.
local NILV = {}
local eval = graph.evaluator(function(v)
  local d = deps[v]
  if d == nil then return v end
  if d == NILV then return nil end
  return d
end, Ref, function(k)
  local d = deps[k]
  if d == nil then error("task input '" .. tostring(k) .. "' is missing on this worker", 0) end
  if d == NILV then return nil end
  return d
end)

-- The call form of submit/map and graph tasks (ldask.task.payload).
local call_form = payload.caller(decoder.resolve, eval)
local is_call = payload.is_call

local NO_DEPS = setmetatable({}, { __newindex = function() error("NO_DEPS is read-only", 2) end })

local function run_task(t)
  local nd = t.ndeps
  deps = nd > 0 and tnew(0, nd) or NO_DEPS -- (sized: no rehash as inputs go in)
  for i = 0, nd - 1 do
    local k = ffi_string(t.dep_keys[i], t.dep_keylens[i])
    local v = decode_frames(t.dep_frames[i], t.dep_nframes[i])
    if v == nil then v = NILV end
    deps[k] = v
  end
  local task = decode_frames(t.payload, t.npayload)
  if is_call(task) then return call_form(task) end
  return eval(task)
end

-- A client's run: the payload is {f, n = #args, arg...}; calls f(args).
local function run_call(t)
  local job = decode_frames(t.payload, t.npayload)
  if type(job) ~= "table" or type(job[1]) ~= "function" then
    error("run: the payload is not a function call", 0)
  end
  return job[1](unpack(job, 2, (job.n or 0) + 1))
end

-- The name of the result of task T, or of a run, in refusals.
local function what_task(t) return "the result of task '" .. ffi_string(t.key, t.keylen) .. "'" end
local function what_run() return "the result of the run on worker " .. tostring(M.worker and M.worker.address) end

-- Runs task T (an ld_wtask *; a client's run when it has no owner): sets
-- its result or its error.
local function run(t)
  local is_run = t.owner == nil
  local ok, res = xpcall(is_run and run_call or run_task, errors.handler, t)
  deps = nil
  if ok then
    local tr = type(res)
    if tr == "number" or tr == "boolean" or tr == "nil" or tr == "string" then
      -- plain scalars: no check of a tree, no buffers. A big string's own
      -- copy (and LuaJIT's temporary buffer that built it) goes before its
      -- encoding is copied out: one copy less at the task's peak memory.
      local p, n = plain_ref(res)
      if n > 1048576 then res = nil; collectgarbage() end
      local rc = C.ld_wtask_set_result(t, ffi.cast(char_ptr, p), n, nil, 0)
      plain_done()
      if rc ~= 0 then
        local msg = "out of memory storing the result"
        C.ld_wtask_set_error(t, msg, #msg, "", 0)
      end
      return
    end
    local h, bufs = result.encode(res, is_run and what_run or what_task, t)
    if h == nil then
      local msg = result.unshippable(bufs)
      C.ld_wtask_set_error(t, msg, #msg, "", 0)
      return
    end
    local n = bufs and #bufs or 0
    if C.ld_wtask_set_result(t, h, #h, n > 0 and buffer_array(n, bufs) or nil, n) ~= 0 then
      local msg = "out of memory storing the result"
      C.ld_wtask_set_error(t, msg, #msg, "", 0)
    end
    return
  end
  local msg, tb = result.error_parts(res)
  C.ld_wtask_set_error(t, msg, #msg, tb, #tb)
end

local fn_name, fn_nlen = ffi_new("const char *[1]"), ffi_new("size_t[1]")
local up_dir, up_seq = ffi_new("const char *[1]"), ffi_new("int[1]")
local uploads_seen, files_on_path = 0, false

-- Takes the modules uploaded since the last call (client:upload_file; GEN
-- uploads so far): the worker's files directory goes first on
-- package.path (once), and each module uploaded again is unloaded so that
-- the next require reads the new file.
local function take_uploads(gen)
  local i = 0
  while true do
    local name = C.ld_wexec_upload(i, up_dir, up_seq)
    if name == nil then break end
    if not files_on_path and up_dir[0] ~= nil then
      package.path = ffi_string(up_dir[0]) .. "/?.lua;" .. package.path
      files_on_path = true
    end
    if up_seq[0] > uploads_seen then package.loaded[ffi_string(name)] = nil end
    i = i + 1
  end
  uploads_seen = gen
end
local fn_blob, fn_blen = ffi_new("const char *[1]"), ffi_new("size_t[1]")

-- A batch's time at most (seconds): past it, the tasks not yet claimed
-- go back to the worker's ready heap (runtime/worker/exec.c).
local BATCH_BUDGET = 300e-6

-- Runs the tasks of batch B from slot B.cur on: claims each (a slot taken
-- back meanwhile gives nil), records it in B.done, sets its start and stop
-- (one clock read between two tasks). Stops past BATCH_BUDGET.
local function run_batch(b)
  local clock = C.ld_wexec_now()
  local start = clock
  while b.cur < b.n do
    local t = C.ld_wexec_claim(b, b.cur)
    b.cur = b.cur + 1
    if t ~= nil then
      local k = b.ndone
      b.done[k] = t
      b.ndone = k + 1
      t.t0 = clock
      run(t)
      clock = C.ld_wexec_now()
      t.t1 = clock
      if clock - start > BATCH_BUDGET then return end
    end
  end
end

-- Loads the functions registered since the last batch (LOADED of them
-- loaded so far; returns the new count) and takes new uploads.
local function refresh(loaded)
  local nfn = C.ld_wexec_nfn()
  while loaded < nfn do
    if C.ld_wexec_fn(loaded, fn_name, fn_nlen, fn_blob, fn_blen) == 0 then
      -- a bad blob is reported when a task needs the function
      pcall(M.add_function, ffi_string(fn_name[0], fn_nlen[0]), ffi_string(fn_blob[0], fn_blen[0]))
    end
    loaded = loaded + 1
  end
  local gen = C.ld_wexec_upload_gen()
  if gen ~= uploads_seen then take_uploads(gen) end
  return loaded
end

-- The executor thread's task loop (runtime/worker/exec.c calls it once):
-- takes batches of tasks until the worker stops, loads the functions
-- registered since the last batch first, runs the batch's tasks and hands
-- them back together. One Lua loop, so the JIT compiles the whole path (a
-- call from C per task would run it interpreted). A failure outside a
-- task's own protected call (run) fails that task only.
function M.serve()
  local loaded = 0
  local b = C.ld_wexec_batch()
  while true do
    if C.ld_wexec_take(b) == 0 then return end
    loaded = refresh(loaded)
    while true do
      local ok, err = pcall(run_batch, b)
      if ok then break end
      if b.ndone == 0 then C.ld_wexec_give(b); error(err, 0) end -- not a task's: C restarts the loop
      local t = b.done[b.ndone - 1]
      local msg = "the executor failed running the task: " .. tostring(err)
      C.ld_wtask_set_error(t, msg, #msg, "", 0)
      t.t1 = C.ld_wexec_now()
    end
    C.ld_wexec_give(b)
    collect_if_grown()
  end
end

return M
