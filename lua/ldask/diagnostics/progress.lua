--- ldask.diagnostics.progress: a terminal progress bar for computations,
--   [########                ] |  33% Completed |  1.2s
-- redrawn at most ~10 times a second, on stderr by default. Shown on a
-- terminal only, unless asked for (force = true, `ldask --progress`,
-- ldask.diagnostics.progress(fn)); `minimum` seconds hide short computes.
-- @submodule ldask.diagnostics
local ffi = require "ffi"
require "ldask.ffi.pool"

local format, rep, floor = string.format, string.rep, math.floor

local M = {}

local ProgressBar = {}
ProgressBar.__index = ProgressBar
ProgressBar.__name = "ldask.ProgressBar"
M.ProgressBar = ProgressBar

local function isatty(f)
  local fd = (f == io.stdout) and 1 or 2
  local ok, r = pcall(function() return ffi.C.isatty(fd) end)
  return ok and r == 1
end

--- A progress bar. OPTS: out (file, default io.stderr), width (characters
-- of the bar, default 40), minimum (seconds before it shows, default 0),
-- force (draw even when OUT is not a terminal), dt (seconds between
-- redraws, default 0.1).
-- @function ProgressBar
-- @param[opt] opts `{ out =, width =, minimum =, force =, dt = }`
-- @return a ProgressBar
function M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("ProgressBar: opts must be a table, got " .. type(opts), 2) end
  local width = opts.width or 40
  if type(width) ~= "number" or width < 1 then error("ProgressBar: width must be a positive number", 2) end
  return setmetatable({
    out = opts.out or io.stderr,
    width = floor(width),
    minimum = opts.minimum or 0,
    force = opts.force or false,
    dt = opts.dt or 0.1,
    last_draw = -1,
    drawn = false,
  }, ProgressBar)
end

--- The bar's text for DONE of TOTAL tasks after ELAPSED seconds.
-- @param done tasks done
-- @param total tasks in all
-- @param elapsed seconds
-- @return the text
function ProgressBar:render(done, total, elapsed)
  local frac = total > 0 and done / total or 1
  if frac > 1 then frac = 1 end
  local n = floor(frac * self.width)
  return format("[%s%s] | %3d%% Completed | %s", rep("#", n), rep(" ", self.width - n),
    floor(frac * 100), M.format_time(elapsed))
end

--- "1.2s", "2m 3.0s", "1h 2m".
-- @param t seconds
-- @return the text
function M.format_time(t)
  if t < 60 then return format("%4.1fs", t) end
  if t < 3600 then return format("%dm %4.1fs", floor(t / 60), t % 60) end
  return format("%dh %dm", floor(t / 3600), floor(t % 3600 / 60))
end

function ProgressBar:enabled()
  if self.force then return true end
  return isatty(self.out)
end

function ProgressBar:start(info)
  self.active = self:enabled()
  self.drawn = false
  self.last_draw = -1
  self.total = info and info.ntasks or 0
end

function ProgressBar:progress(done, total, elapsed)
  if not self.active or elapsed < self.minimum then return end
  if self.last_draw >= 0 and elapsed - self.last_draw < self.dt * 0.99 then return end
  self.last_draw = elapsed
  self.out:write("\r", self:render(done, total, elapsed))
  self.out:flush()
  self.drawn = true
end

function ProgressBar:finish(ok, elapsed, done, total)
  if not self.active then return end
  if self.drawn or (elapsed >= self.minimum) then
    self.out:write("\r", self:render(done or 0, total or 0, elapsed), "\n")
    self.out:flush()
  end
  self.active = false
end

return M
