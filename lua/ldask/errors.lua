--- ldask.errors: the error a failed task raises in the user's code. It names
-- the task key and carries the original message and the traceback from
-- where the task ran (an executor thread, a worker, or the caller).
-- @module ldask.errors
local M = {}

local TaskError = { __name = "ldask.TaskError" }
TaskError.__index = TaskError
TaskError.__tostring = function(e)
  local s = "task '" .. e.key .. "' failed: " .. tostring(e.message)
  if e.traceback and e.traceback ~= "" then s = s .. "\n" .. e.traceback end
  return s
end
M.TaskError = TaskError

--- Returns a TaskError for KEY with MESSAGE and TRACEBACK (strings).
-- @param key the task's key
-- @param message the message
-- @param traceback the remote traceback
-- @return a TaskError
function M.task_error(key, message, traceback)
  return setmetatable({ key = key, message = message, traceback = traceback }, TaskError)
end

--- True when E is a TaskError.
-- @param e any value
-- @return boolean
function M.is_task_error(e) return getmetatable(e) == TaskError end

-- Message handler for xpcall around a task: keeps the message and the
-- traceback apart. Returns {message=, traceback=}.
function M.handler(err)
  if getmetatable(err) == TaskError then return err end
  local tb = debug.traceback("", 2):gsub("^\n", "")
  -- keep the frames of the task, not those of the scheduler around it
  local cut = tb:find("\n%s*%[C%]: in function 'xpcall'")
  if cut then tb = tb:sub(1, cut - 1) end
  return { message = tostring(err), traceback = tb }
end

return M
