-- ldask.annotations: ldask.annotate, the Lua form of dask's `with
-- dask.annotate(...)`. Collections (delayed values, arrays, bags) made
-- while annotate's function runs record the annotations under their name;
-- a client sending their tasks to a cluster looks them up by key (the key
-- itself, else its name before the first ','), so the tasks carry them to
-- the scheduler. `resources` is the annotation the scheduler acts on.
-- @submodule ldask
local type, pairs, ipairs, next, error, tostring, pcall = type, pairs, ipairs, next, error, tostring, pcall

local M = {}

local current = nil -- the annotations in force (merged), or nil
local by_name = {}  -- collection name -> annotations (read-only tables)

-- Checks a resources table {NAME = amount >= 0}; raises at LEVEL naming WHAT.
function M.check_resources(r, what, level)
  if type(r) ~= "table" then
    error(what .. ": resources must be a table like {GPU = 1}, got " .. type(r), level + 1)
  end
  for k, v in pairs(r) do
    if type(k) ~= "string" or k == "" or #k > 63 then
      error(what .. ": resources: the name " .. tostring(k) .. " must be a string of 1 to 63 bytes", level + 1)
    end
    if type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
      error(what .. ": resources: the amount of '" .. k .. "' must be a number >= 0, got " .. tostring(v), level + 1)
    end
  end
  return r
end

-- The --resources text of ldask-worker for R: a string ("GPU=2,MEM=8e9",
-- checked by the worker) or a table {GPU = 2} (checked here; raises at
-- LEVEL naming WHAT).
function M.resources_spec(r, what, level)
  if type(r) == "string" then return r end
  M.check_resources(r, what, level + 1)
  local names = {}
  for k in pairs(r) do names[#names + 1] = k end
  table.sort(names)
  for i, k in ipairs(names) do names[i] = k .. "=" .. string.format("%.17g", r[k]) end
  return table.concat(names, ",")
end

--- annotate(annotations, fn, ...): runs fn(...) with ANNOTATIONS in force,
-- as dask's `with dask.annotate(...)`: the delayed values, arrays and bags
-- made meanwhile carry them, and their tasks take them to the cluster.
-- The scheduler acts on `resources = {NAME = amount}` (the task runs only
-- where a worker has them, as many at once as the amounts allow); other
-- fields are kept but ignored. Nested calls merge (the inner wins).
-- Returns what FN returns.
-- @param annotations a table, e.g. `{ resources = { GPU = 1 } }`
-- @param fn the function building the collections
-- @param ... its arguments
-- @return what fn returns
-- @usage local y = ldask.annotate({ resources = { GPU = 1 } }, function()
--   return ldask.delayed(function(x) return x + 1 end)(41)
-- end)
function M.annotate(annotations, fn, ...)
  if type(annotations) ~= "table" then
    error("ldask.annotate: annotations must be a table like {resources = {GPU = 1}}, got " .. type(annotations), 2)
  end
  if type(fn) ~= "function" then
    error("ldask.annotate: expected a function to run with the annotations, got " .. type(fn), 2)
  end
  if annotations.resources ~= nil then M.check_resources(annotations.resources, "ldask.annotate", 2) end
  local merged = {}
  if current then for k, v in pairs(current) do merged[k] = v end end
  for k, v in pairs(annotations) do merged[k] = v end
  local saved = current
  current = merged
  return M._done(saved, pcall(fn, ...))
end

-- Restores SAVED, then returns FN's results or raises its error.
function M._done(saved, ok, ...)
  current = saved
  if not ok then error((...), 0) end
  return ...
end

-- Records the annotations in force (if any) for the collection NAME.
function M.record(name)
  if current and type(name) == "string" then by_name[name] = current end
end

-- The annotations of KEY (nil when none).
function M.of_key(key)
  if next(by_name) == nil or type(key) ~= "string" then return nil end
  return by_name[key] or by_name[key:match("^[^,]*")]
end

return M
