-- ldask.task.state: the start-up of every executor state — a thread of the
-- threaded pool (runtime/lib/pool.c) or of ldask-worker
-- (runtime/worker/exec.c), and any state made by ldask.xstate. runtime/lib/
-- xstate.c requires this module right after ldask, before the state runs
-- anything, so every executor state has the same C declarations, the same
-- ffi metatypes and the same cdata codecs whatever task it runs first (a
-- chunk of ldask.array returned by the first task of a state that never
-- loaded ldask.array must still be shippable, and its methods present).
local ipairs, pcall, require, error, tostring, collectgarbage =
  ipairs, pcall, require, error, tostring, collectgarbage

local M = {}

-- LDASK_GC_STRESS=1 (a debugging aid, docs/architecture.md "Raw pointers
-- and their owners"): the collector of every state that loads this module
-- (every executor state, and the main one once it computes) finishes a
-- cycle at almost every allocation, so a pointer that outlives its buffer
-- shows up at once instead of once in many runs. Slow.
if os.getenv("LDASK_GC_STRESS") == "1" then
  collectgarbage("setpause", 1)
  collectgarbage("setstepmul", 10000)
end

-- Every C declaration module (lua/ldask/ffi/*.lua). Declaring is cheap and
-- resolves no symbol: the worker-only functions of ffi.net are looked up
-- (through ffi.C) only when called.
M.ffi_modules = {
  "ldask.ffi.buffer", "ldask.ffi.util", "ldask.ffi.sched", "ldask.ffi.xstate",
  "ldask.ffi.pool", "ldask.ffi.net", "ldask.ffi.client", "ldask.ffi.io", "ldask.ffi.array",
}

-- Modules that attach ffi metatypes or register cdata codecs
-- (codec.register_cdata): loaded in every state, so a value of their types
-- decodes, encodes and has its methods everywhere.
M.cdata_modules = { "ldask.codec", "ldask.array.ndarray" }

local started = false

--- Loads the declarations and registrations (once per state). Raises naming
-- the module that failed.
function M.start()
  if started then return end
  for _, list in ipairs { M.ffi_modules, M.cdata_modules } do
    for i = 1, #list do
      local ok, err = pcall(require, list[i])
      if not ok then error("executor state: cannot load " .. list[i] .. ": " .. tostring(err), 0) end
    end
  end
  started = true
end

-- Garbage an executor state lets accumulate: LuaJIT's incremental
-- collector works in fixed-size steps, so tasks that make or decode large
-- strings (1 MB each) can leave tens of MB of dead strings behind before a
-- cycle ends. After each task (worker) or batch (pool), collect_if_grown
-- runs a full collection once the heap has grown by more than
-- max(GC_SLACK_KB, the live heap) since the last one: amortized, a
-- collection costs no more than the allocation that triggered it.
M.GC_SLACK_KB = 4096
local live_kb = 0

--- Collects garbage when the heap outgrew the last live size (see above).
-- Cheap when it does not: one read of the heap size.
function M.collect_if_grown()
  local kb = collectgarbage("count")
  local slack = live_kb > M.GC_SLACK_KB and live_kb or M.GC_SLACK_KB
  if kb > live_kb + slack then
    -- repeated while it frees more than 1 MB: each full cycle also halves
    -- LuaJIT's temporary buffer, which string.rep and concatenations grow
    -- to the size of what they built (a 50 MB result: tens of MB of RSS)
    local before
    repeat
      before = collectgarbage("count")
      collectgarbage()
    until collectgarbage("count") > before - 1024
    live_kb = collectgarbage("count")
  end
end

--- True once start() ran in this state.
function M.started() return started end

return M
