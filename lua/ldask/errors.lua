--- ldask.errors: the errors ldask raises in the user's code. A failed task
-- raises a TaskError naming the task key, with the original message and the
-- traceback from where the task ran (an executor thread, a worker, or the
-- caller). A misuse of the API (a bad argument, an unknown scheduler, a
-- missing key) raises at the user's line, found by walking up the stack to
-- the first frame outside ldask's own Lua files, however deep inside ldask
-- the check runs. traceback() is the message handler of the ldask program
-- and its REPL: it drops the frames of ldask's own plumbing.
-- @module ldask.errors
local type, tostring, getmetatable, setmetatable, error = type, tostring, getmetatable, setmetatable, error
local getinfo, traceback = debug.getinfo, debug.traceback

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
  local tb = traceback("", 2):gsub("^\n", "")
  -- keep the frames of the task, not those of the scheduler around it
  local cut = tb:find("\n%s*%[C%]: in function 'xpcall'")
  if cut then tb = tb:sub(1, cut - 1) end
  return { message = tostring(err), traceback = tb }
end

-- The directory of ldask's Lua modules as debug.getinfo reports sources
-- ("@/.../lua/ldask/"); frames whose source starts with it are ldask's.
local ROOT = getinfo(1, "S").source:match("^(@.*[/\\])[^/\\]*$") or "@ldask/"
M.ROOT = ROOT:sub(2)

-- True when a frame's SOURCE (getinfo's `source`) is user code: a Lua file
-- or chunk outside ldask's modules (C frames are neither).
local function is_user(source, what)
  return what ~= "C" and source:sub(1, #ROOT) ~= ROOT
end

-- Raises MSG at the user's line: the nearest frame outside ldask.
function M.misuse(msg)
  local lvl = 2
  while true do
    local info = getinfo(lvl, "S")
    if not info then error(msg, 0) end
    if is_user(info.source, info.what) then error(msg, lvl) end
    lvl = lvl + 1
  end
end

-- Message handler for a script or a REPL line run by the ldask program:
-- the message and a traceback without the program's own frames (the
-- xpcall that runs the chunk and everything below it), and, when the
-- message already points at a user's line (a misuse error), without the
-- frames inside ldask above that line. Error values other than strings
-- (a TaskError) are returned as they are.
function M.traceback(err)
  if type(err) ~= "string" then return err end
  local tb = traceback("", 2):gsub("^\n", "")
  local lines = {}
  for line in tb:gmatch("[^\n]+") do lines[#lines + 1] = line end
  -- the xpcall running the chunk is the first one that ldask called
  local last = #lines
  for i = 2, #lines do
    if lines[i]:find("%[C%]: in function 'xpcall'")
      and (i == #lines or lines[i + 1]:find(M.ROOT, 1, true)) then
      last = i - 1
      break
    end
  end
  local first = 2 -- lines[1] is "stack traceback:"
  local where = err:match("^([^\n]-:%d+):")
  if where and not ("@" .. where):find(ROOT, 1, true) then
    local i = first
    while i <= last and (lines[i]:find("^%s*%[C%]") or lines[i]:find(M.ROOT, 1, true)) do i = i + 1 end
    if i <= last then first = i end
  end
  local out = { err, "stack traceback:" }
  for i = first, last do out[#out + 1] = lines[i] end
  if #out == 2 then return err end
  return table.concat(out, "\n")
end

return M
