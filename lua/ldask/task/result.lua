-- ldask.task.result: what comes back from a task, for both executors (the
-- threaded pool's lua/ldask/scheduler/executor.lua and the worker's
-- lua/ldask/worker/exec.lua): the result encoder (inline scalars, else the
-- codec's header and buffers) and the error formatter (message and
-- traceback apart), so a result or an error reads the same whichever
-- executor ran the task. See docs/architecture.md.
local ffi = require "ffi"
local codec = require "ldask.codec"
local errors = require "ldask.errors"
local V = require "ldask.ffi.pool"

local type, tostring, pcall, error = type, tostring, pcall, error
local ffi_string = ffi.string
local plain_header = require("ldask.codec.encode").plain
local K_NIL, K_FALSE, K_TRUE, K_NUM, K_STR, K_ENC = V.NIL, V.FALSE, V.TRUE, V.NUM, V.STR, V.ENC

local M = {}

local buffer_array = ffi.typeof("ld_buffer *[?]")
M.buffer_array = buffer_array

-- The message of codec refusal E without the position of the encoder's
-- error call ("…/encode.lua:12: cannot ship …" -> "cannot ship …").
local function refusal(e)
  return (tostring(e):gsub("^[^\n]-%.lua:%d+: ", ""))
end
M.refusal = refusal

--- Encodes result R as the codec does: returns header, buffers (a Lua list
-- of ld_buffer *, or nil), or nil, message when R cannot travel. WHAT names
-- R in that message ("the result of task 'k'"), or is a function of CTX
-- giving that name (called only for values that are not plain scalars,
-- which take the codec's plain header).
function M.encode(r, what, ctx)
  local t = type(r)
  if t == "number" or t == "boolean" or t == "nil" or t == "string" then return plain_header(r), nil end
  if type(what) == "function" then what = what(ctx) end
  local ok, h, bufs = pcall(codec.encode, r, nil, what)
  if not ok then return nil, refusal(h) end
  return h, bufs
end

--- Splits result R into a result slot of the threaded pool (ld_value, the
-- arguments of ld_pool_done): kind, num, data, len, bufs (C array or nil),
-- nbufs, anchor (keeps the buffers alive). Numbers, booleans, nil and
-- strings inline, anything else encoded. Raises the refusal message when R
-- cannot travel.
function M.slot(r, what)
  local t = type(r)
  if t == "number" then return K_NUM, r, nil, 0, nil, 0 end
  if t == "nil" then return K_NIL, 0, nil, 0, nil, 0 end
  if t == "boolean" then return r and K_TRUE or K_FALSE, 0, nil, 0, nil, 0 end
  if t == "string" then return K_STR, 0, r, #r, nil, 0 end
  local h, bufs = M.encode(r, what)
  if h == nil then error(bufs, 0) end
  local nb = #bufs
  if nb == 0 then return K_ENC, 0, h, #h, nil, 0 end
  return K_ENC, 0, h, #h, buffer_array(nb, bufs), nb, bufs
end

local function buffers_of(v)
  local n = v.nbufs
  local t = {}
  for i = 0, n - 1 do t[i + 1] = v.bufs[i] end
  return t
end
M.buffers_of = buffers_of

--- The Lua value stored in ld_value V; DECODER decodes encoded ones.
function M.value(v, decoder)
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

--- The message and traceback of ERR, what errors.handler returned for a
-- task that raised (a nested compute's task error keeps its own text).
function M.error_parts(err)
  if errors.is_task_error(err) then return tostring(err), "" end
  if type(err) ~= "table" then return tostring(err), "" end
  return tostring(err.message), tostring(err.traceback or "")
end

--- The message of a result that cannot travel (REASON from encode).
function M.unshippable(reason)
  reason = tostring(reason)
  if reason:find("^cannot ship") then return reason end
  return "cannot ship the result: " .. reason
end

return M
