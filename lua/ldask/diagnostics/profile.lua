--- ldask.diagnostics.profile: records every task of a computation — key,
-- start, end, executor thread — and writes them as Chrome trace JSON
-- (open in https://ui.perfetto.dev or chrome://tracing) or as a text
-- summary by task prefix.
-- @submodule ldask.diagnostics
local format, concat, sort, floor = string.format, table.concat, table.sort, math.floor

local M = {}

local Profiler = {}
Profiler.__index = Profiler
-- print(prof) shows what it holds and how to read it
Profiler.__tostring = function(p)
  return ("<Profiler: %d tasks recorded; :summary() for the time by prefix, :results() for each task>")
    :format(#p.records)
end
Profiler.__name = "ldask.Profiler"
M.Profiler = Profiler

--- A new, empty profiler. Pass it as compute(..., {profile = p}) or
-- register it with ldask.diagnostics.register / .with.
-- @function Profiler
-- @return a Profiler
-- @usage local x = ldask.array.ones({ 1000 }, { chunks = 100 }):sum()
-- local prof = ldask.diagnostics.Profiler()
-- x:compute { profile = prof }
-- print(prof:summary())
function M.new()
  return setmetatable({ records = {}, wants_tasks = true, t_origin = nil }, Profiler)
end

--- The prefix of a key, as dask's key_split: "inc-3f9a0b1c,0,2" -> "inc".
-- @param key a key
-- @return the prefix
function M.key_prefix(key)
  key = tostring(key)
  local name = key:match("^([^,]*)") or key
  -- drop trailing "-<token>" parts that look like hex tokens
  local out = name
  while true do
    local head, tail = out:match("^(.*)%-(%x+)$")
    if head and #tail >= 8 and head ~= "" then out = head else break end
  end
  return out
end

function Profiler:start(info)
  self.nworkers = info and info.nworkers or self.nworkers
end

--- Records task KEY run by WORKER from T0 to T1 (seconds, one clock).
-- @param key the key
-- @param t0 start (seconds)
-- @param t1 end (seconds)
-- @param worker the executor thread
function Profiler:task(key, t0, t1, worker)
  if self.t_origin == nil or t0 < self.t_origin then self.t_origin = t0 end
  local r = self.records
  r[#r + 1] = { key = key, start = t0, finish = t1, worker = worker }
end

function Profiler:progress() end

function Profiler:finish() end

--- Forgets the records.
function Profiler:clear()
  self.records = {}
  self.t_origin = nil
end

--- The records: list of {key, start, finish, worker}, by start time.
-- @return a list of `{ key, start, finish, worker }`
function Profiler:results()
  local out = {}
  for i, r in ipairs(self.records) do out[i] = r end
  sort(out, function(a, b) return a.start < b.start end)
  return out
end

local function json_string(s)
  s = tostring(s):gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    if c == "\n" then return "\\n" end
    if c == "\t" then return "\\t" end
    return format("\\u%04x", c:byte())
  end)
  return '"' .. s .. '"'
end
M.json_string = json_string

--- The Chrome trace JSON text (Trace Event Format: one complete event "X"
-- per task, microseconds from the first task, tid = executor thread).
-- @return the JSON text
function Profiler:chrome_trace_json()
  local parts = {}
  local origin = self.t_origin or 0
  local threads = {}
  for _, r in ipairs(self:results()) do
    threads[r.worker] = true
    parts[#parts + 1] = format('{"name":%s,"cat":%s,"ph":"X","ts":%.3f,"dur":%.3f,"pid":1,"tid":%d}',
      json_string(r.key), json_string(M.key_prefix(r.key)), (r.start - origin) * 1e6,
      (r.finish - r.start) * 1e6, r.worker)
  end
  for w in pairs(threads) do
    parts[#parts + 1] = format('{"name":"thread_name","ph":"M","pid":1,"tid":%d,"args":{"name":"executor %d"}}', w, w)
  end
  return '{"traceEvents":[' .. concat(parts, ",\n") .. '],"displayTimeUnit":"ms"}\n'
end

--- Writes the Chrome trace to PATH. Returns true, or nil, err.
-- @param path the file
-- @return true, or nil and an error message
function Profiler:chrome_trace(path)
  if type(path) ~= "string" then error("Profiler:chrome_trace: path must be a string, got " .. type(path), 2) end
  local f, err = io.open(path, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(self:chrome_trace_json())
  f:close()
  if not ok then return nil, werr end
  return true
end

--- Per prefix: {prefix, count, total, mean, max} (seconds), by total time.
-- @return a list of `{ prefix, count, total, mean, max }`
function Profiler:by_prefix()
  local acc, list = {}, {}
  for _, r in ipairs(self.records) do
    local p = M.key_prefix(r.key)
    local a = acc[p]
    if not a then
      a = { prefix = p, count = 0, total = 0, max = 0 }
      acc[p] = a
      list[#list + 1] = a
    end
    local d = r.finish - r.start
    a.count = a.count + 1
    a.total = a.total + d
    if d > a.max then a.max = d end
  end
  for _, a in ipairs(list) do a.mean = a.total / a.count end
  sort(list, function(x, y) return x.total > y.total end)
  return list
end

--- A text table of time by task prefix.
-- @return the text
function Profiler:summary()
  local rows = self:by_prefix()
  local all = 0
  for _, a in ipairs(rows) do all = all + a.total end
  local lines = { format("%-24s %8s %10s %10s %10s %6s", "prefix", "tasks", "total s", "mean ms", "max ms", "%") }
  for _, a in ipairs(rows) do
    lines[#lines + 1] = format("%-24s %8d %10.4f %10.4f %10.4f %5.1f%%", a.prefix, a.count, a.total,
      a.mean * 1e3, a.max * 1e3, all > 0 and a.total / all * 100 or 0)
  end
  lines[#lines + 1] = format("%-24s %8d %10.4f", "total", #self.records, all)
  return concat(lines, "\n")
end

return M
