--- ldask.config: process-wide defaults (scheduler, num_workers, ...), set with
-- config.set{...} for good or config.with({...}, fn, ...) for the duration
-- of one call, like dask.config.set as a function and as a context manager.
-- The settings: `scheduler` ("threads" or "sync"), `num_workers` (threads of
-- the local scheduler, default the number of cores), `optimize_graph`
-- (default true), `progress` (true, false, "auto" or "repl").
-- @module ldask.config
local ffi = require "ffi"
local misuse = require("ldask.errors").misuse

pcall(ffi.cdef, "long sysconf(int name);")

local M = {}

local function ncores()
  local ok, n = pcall(function() return tonumber(ffi.C.sysconf(84)) end) -- _SC_NPROCESSORS_ONLN
  if ok and n and n > 0 then return n end
  return 1
end

local defaults = {
  scheduler = "threads",   -- "threads" | "sync" (| "distributed" with a client)
  num_workers = ncores(),  -- executor threads of the local scheduler
  optimize_graph = true,
  -- progress bar during computes: true (always, on stderr), false, "auto"
  -- (on a terminal, computes over a second), "repl" ("auto" while the
  -- interactive prompt runs, else off)
  progress = "repl",
}

local values = {}
for k, v in pairs(defaults) do values[k] = v end

local validators = {
  scheduler = function(v)
    return v == "threads" or v == "sync" or v == "distributed",
      "scheduler must be 'threads', 'sync' or 'distributed'"
  end,
  progress = function(v)
    return v == true or v == false or v == "auto" or v == "repl",
      "progress must be true, false, 'auto' (a terminal, computes over a second) or 'repl'"
  end,
  num_workers = function(v)
    return type(v) == "number" and v >= 1 and v % 1 == 0, "num_workers must be a positive integer"
  end,
}

--- Returns the value of a setting.
-- @param name the setting's name, e.g. "scheduler"
-- @return its value, or nil when unset
function M.get(name) return values[name] end

-- Sets every field of T; raises (at the user's line) on an invalid value.
function M.set(t)
  if type(t) ~= "table" then misuse("ldask.config.set expects a table, got " .. type(t)) end
  for k, v in pairs(t) do
    local check = validators[k]
    if check then
      local ok, msg = check(v)
      if not ok then misuse("ldask.config.set: " .. msg .. ", got " .. tostring(v)) end
    end
  end
  for k, v in pairs(t) do values[k] = v end
end

--- Sets a table of settings for the duration of one call: sets T, calls
-- fn(...), restores the previous values (also on error) and returns fn's
-- results (dask.config.set as a context manager).
-- @param t settings, as for `set`
-- @param fn the function to call
-- @param ... its arguments
-- @return fn's results
function M.with(t, fn, ...)
  local old = {}
  for k in pairs(t) do old[k] = { values[k] } end
  M.set(t)
  local res = { pcall(fn, ...) }
  for k, v in pairs(old) do values[k] = v[1] end
  if not res[1] then error(res[2], 0) end
  return unpack(res, 2, table.maxn(res))
end

--- The default settings.
-- @return a new table of every setting's default value
function M.defaults()
  local out = {}
  for k, v in pairs(defaults) do out[k] = v end
  return out
end

return M
