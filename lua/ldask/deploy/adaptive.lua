--- ldask.deploy.adaptive: adaptive scaling of a cluster manager (dask's
-- Adaptive): every `interval` seconds it asks the scheduler how much work
-- there is (tasks queued and running) and scales the cluster between
-- `minimum` and `maximum` workers: up at once when tasks wait (one worker
-- per `cores / processes` tasks), down only after `wait_count` checks in a
-- row wanted fewer workers (dask's cooldown), retiring idle workers first
-- (client:retire_workers moves their results away). There is no event
-- loop in a Lua script: the checks run whenever a client of this process
-- waits on the cluster (Future:result, gather, wait_for_workers, ...), and
-- on adaptive:step(). docs/deploy.md.
-- @module ldask.deploy.adaptive
local client_mod = require "ldask.client"
local lib = require "ldask.native"

local type, error, tostring, ipairs, pairs, setmetatable, pcall =
  type, error, tostring, ipairs, pairs, setmetatable, pcall
local ceil, max, min = math.ceil, math.max, math.min
local now = lib.ld_client_now

local M = {}

local Adaptive = { __name = "ldask.deploy.Adaptive" }
Adaptive.__index = Adaptive
M.Adaptive = Adaptive

local active = {} -- the running Adaptives
local ticking = false

-- Runs the checks that are due (called from Client:_poll).
local function tick()
  if ticking then return end
  ticking = true
  local t = now()
  for a in pairs(active) do
    if t >= a.next_check then
      a.next_check = t + a.interval
      local ok, err = pcall(a.step, a)
      if not ok then
        a.last_error = tostring(err)
        io.stderr:write("ldask: adaptive scaling of ", tostring(a.cluster), ": ", a.last_error, "\n")
      end
    end
  end
  ticking = false
end

local function opt_count(what, opts, k, default, level)
  local v = opts[k]
  if v == nil then return default end
  if type(v) ~= "number" or v < 0 or (v % 1 ~= 0 and v ~= math.huge) then
    error(what .. ": " .. k .. " must be an integer >= 0, got " .. tostring(v), level + 1)
  end
  return v
end

--- Starts adaptive scaling of CLUSTER (a JobQueueCluster or anything with
-- processes, cores, njobs, _scale_jobs, _client). OPTS: minimum, maximum
-- (workers; or minimum_jobs, maximum_jobs), interval (s, default 1),
-- wait_count (checks before scaling down, default 3).
-- @param cluster the cluster
-- @param opts the options
-- @param level the error level of the user's call
-- @return the Adaptive
function M.new(cluster, opts, level)
  level = (level or 1) + 1
  local what = (cluster.what or "cluster") .. ":adapt"
  opts = opts or {}
  if type(opts) ~= "table" then error(what .. ": expected a table {minimum =, maximum =}, got " .. type(opts), level) end
  for k in pairs(opts) do
    if k ~= "minimum" and k ~= "maximum" and k ~= "minimum_jobs" and k ~= "maximum_jobs" and k ~= "interval" and
      k ~= "wait_count" then
      error(what .. ": unknown option '" .. tostring(k) .. "'", level)
    end
  end
  local p = cluster.processes
  local lo = opt_count(what, opts, "minimum", 0, level)
  local hi = opt_count(what, opts, "maximum", math.huge, level)
  if opts.minimum_jobs then lo = opt_count(what, opts, "minimum_jobs", 0, level) * p end
  if opts.maximum_jobs then hi = opt_count(what, opts, "maximum_jobs", 0, level) * p end
  if lo > hi then error(what .. ": minimum (" .. lo .. ") is above maximum (" .. hi .. ")", level) end
  local interval = opts.interval or 1
  if type(interval) ~= "number" or interval <= 0 then
    error(what .. ": interval must be a number of seconds > 0, got " .. tostring(interval), level)
  end
  local self = setmetatable({
    cluster = cluster, minimum = lo, maximum = hi, interval = interval,
    wait_count = opt_count(what, opts, "wait_count", 3, level), down = 0, next_check = 0,
  }, Adaptive)
  active[self] = true
  client_mod._tick = tick
  self:step()
  return self
end

--- The number of workers the work on the scheduler calls for, within
-- [minimum, maximum]: one per `cores / processes` tasks queued or running.
-- @param info the scheduler's identity (Client:scheduler_info())
-- @return workers
function Adaptive:target(info)
  local threads = max(1, math.floor(self.cluster.cores / self.cluster.processes))
  local work = info.queued or 0
  for _, w in ipairs(info.workers) do work = work + (w.processing or 0) end
  local want = ceil(work / threads)
  return min(self.maximum, max(self.minimum, want))
end

--- One check: scales up at once, down after wait_count checks in a row.
-- Returns the number of jobs asked for.
-- @return jobs
function Adaptive:step()
  local cl = self.cluster
  if cl.closed then self:stop(); return cl.njobs end
  local c = cl:_client()
  local info = c:scheduler_info()
  local jobs = ceil(self:target(info) / cl.processes)
  if jobs > cl.njobs then
    self.down = 0
    cl:_scale_jobs(jobs, 2)
  elseif jobs < cl.njobs then
    self.down = self.down + 1
    if self.down >= self.wait_count then
      self.down = 0
      cl:_scale_jobs(jobs, 2)
    end
  else
    self.down = 0
  end
  return jobs
end

--- Stops adaptive scaling (the cluster keeps its jobs).
function Adaptive:stop()
  active[self] = nil
  if next(active) == nil then client_mod._tick = nil end
  if self.cluster.adaptive == self then self.cluster.adaptive = nil end
end

Adaptive.__tostring = function(self)
  return "<Adaptive minimum=" .. self.minimum .. " maximum=" .. tostring(self.maximum) .. ">"
end

return M
