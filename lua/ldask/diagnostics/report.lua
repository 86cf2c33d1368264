--- ldask.diagnostics.report: performance_report, as dask's: runs a function
-- and writes one self-contained HTML file (inline CSS and JavaScript, uPlot
-- inlined from the vendored copy, the data as inline JSON) with the task
-- stream, the progress by task prefix and a profile summary (per prefix:
-- count, total, mean, max) of what ran meanwhile: local computes (threads,
-- sync) from the event stream (ldask.diagnostics.events), and, when a
-- Client is the default, the cluster's computes read from its scheduler's
-- /api/v1/task_stream (docs/dashboard.md). The page is the dashboard's own
-- code (share/ldask/dashboard/report.html, dashboard.js, pages.js).
-- @submodule ldask.diagnostics
local cjson = require "cjson"
local events = require "ldask.diagnostics.events"

local type, error, tostring, pcall, pairs, ipairs = type, error, tostring, pcall, pairs, ipairs
local concat, sort, unpack = table.concat, table.sort, unpack

local M = {}

local clock
local function now()
  if not clock then
    require "ldask.ffi.pool"
    clock = require("ldask.native").ld_pool_now
  end
  return clock()
end

--- The folder of the dashboard's files: LDASK_DASHBOARD_DIR, else
-- share/ldask/dashboard of the source tree or install prefix, else
-- ldask/dashboard next to the Lua modules (a luarocks tree). Returns the
-- folder, or nil and the places looked at.
-- @return the folder, or nil and a message
function M.dashboard_dir()
  local tried = {}
  local function ok(dir)
    if not dir then return false end
    tried[#tried + 1] = dir
    local f = io.open(dir .. "/report.html", "rb")
    if f then f:close() return true end
    return false
  end
  local env = os.getenv("LDASK_DASHBOARD_DIR")
  if ok(env) then return env end
  if _LDASK_ROOT then
    local d = _LDASK_ROOT .. "/share/ldask/dashboard"
    if ok(d) then return d end
  end
  local init = package.searchpath("ldask", package.path)
  if init then
    local prefix = init:match("^(.*)/share/lua/5%.1/ldask/init%.lua$") or init:match("^(.*)/lua/ldask/init%.lua$")
    local d = prefix and prefix .. "/share/ldask/dashboard"
    if ok(d) then return d end
    -- a luarocks tree: next to the Lua modules
    d = init:gsub("init%.lua$", "dashboard")
    if ok(d) then return d end
  end
  return nil, "the dashboard files (report.html) are not in " .. (#tried > 0 and concat(tried, ", ") or "any known place")
    .. " (set LDASK_DASHBOARD_DIR to the installed share/ldask/dashboard)"
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then error("ldask: performance_report: cannot read " .. tostring(err), 0) end
  local s = f:read("*a")
  f:close()
  return s
end

-- JSON with empty lists left out (lua-cjson writes {} for them).
local function list(t) if #t > 0 then return t end end

--- The report's HTML for DATA (the fields of window.LDASK_REPORT: title,
-- created, duration, scheduler, nthreads, events, prefixes, workers,
-- dropped, notes).
-- @param data a table
-- @return the HTML text
function M.render(data)
  local dir, err = M.dashboard_dir()
  if not dir then error("ldask: performance_report: " .. err, 0) end
  local html = read_file(dir .. "/report.html")
  local out, pos = {}, 1
  while true do
    local a, b, what = html:find("/%*([%w_:/%.%-]+)%*/", pos)
    if not a then break end
    out[#out + 1] = html:sub(pos, a - 1)
    if what == "DATA" then
      -- lua-cjson escapes "/", so "</script>" cannot end the block early
      out[#out + 1] = cjson.encode(data)
    elseif what:sub(1, 7) == "INLINE:" then
      local body = read_file(dir .. "/" .. what:sub(8))
      out[#out + 1] = (body:gsub("</([sS][cCtT])", "<\\/%1"))
    else
      out[#out + 1] = html:sub(a, b)
    end
    pos = b + 1
  end
  out[#out + 1] = html:sub(pos)
  return concat(out)
end

-- Per-prefix progress of EVS (computes) against TOTALS (prefix -> tasks).
local function progress(evs, totals)
  local acc = {}
  local function row(p)
    local r = acc[p]
    if not r then
      r = { prefix = p, waiting = 0, processing = 0, memory = 0, erred = 0, total = 0 }
      acc[p] = r
    end
    return r
  end
  for p, n in pairs(totals) do row(p).total = n end
  for _, e in ipairs(evs) do
    if e.kind == "compute" then
      local r = row(e.prefix)
      if e.status == "erred" then r.erred = r.erred + 1 else r.memory = r.memory + 1 end
    end
  end
  local rows = {}
  for _, r in pairs(acc) do
    if r.total < r.memory + r.erred then r.total = r.memory + r.erred end
    r.waiting = r.total - r.memory - r.erred
    rows[#rows + 1] = r
  end
  sort(rows, function(a, b) return a.prefix < b.prefix end)
  return rows
end
M.progress = progress

-- The local part: the computes RING saw, times from T0.
local function local_part(ring, t0)
  local evs, totals, nthreads, scheds = {}, {}, 0, {}
  for _, e in ipairs(ring:since(0)) do
    if e.kind == "compute" then
      evs[#evs + 1] = {
        kind = "compute", key = e.key, prefix = e.prefix, worker = e.worker, thread = e.thread,
        start = e.start - t0, stop = e.stop - t0, status = e.status,
      }
    elseif e.kind == "graph" then
      for p, n in pairs(e.prefixes) do totals[p] = (totals[p] or 0) + n end
      if e.nthreads > nthreads then nthreads = e.nthreads end
      scheds[e.scheduler] = e.nthreads
    end
  end
  local workers = {}
  for s, n in pairs(scheds) do workers[#workers + 1] = { address = s, nthreads = n } end
  return evs, totals, nthreads, workers
end

-- The token of CLIENT's cluster (its local cluster's, or
-- LDASK_AUTH_TOKEN_FILE's), or nil.
local function cluster_token(client)
  local file = require("ldask.client.cluster").token_file(client.address) or client.auth_token_file
    or os.getenv("LDASK_AUTH_TOKEN_FILE")
  if not file then return nil end
  local f = io.open(file, "rb")
  if not f then return nil end
  local t = f:read("*a")
  f:close()
  return (t:gsub("%s+$", ""))
end

-- Starts reading the cluster of the default client: returns an object
-- whose finish() gives the cluster's computes since now (events, workers,
-- dropped), or nil and why not.
local function cluster_part()
  local cm = package.loaded["ldask.client"]
  local client = cm and cm.current()
  if not client then return nil end
  if type(client.dashboard_link) ~= "function" then
    return nil, "the cluster's computes are missing: this client cannot find the scheduler's dashboard"
  end
  local link = client:dashboard_link()
  local base = link and link:match("^(http://[^/]+)")
  if not base then
    return nil, "the cluster's computes are missing: the scheduler has no dashboard (started with --no-dashboard?)"
  end
  local get = require("ldask.diagnostics.http").json_reader(base, cluster_token(client))
  local st, err = get("/api/v1/status")
  if not st then return nil, "the cluster's computes are missing: " .. tostring(err) end
  local now0 = type(st.now) == "number" and st.now or 0
  local since = type(st.seq) == "number" and st.seq or 0
  return {
    base = base,
    finish = function()
      local evs, dropped = {}, 0
      for _ = 1, 1000 do -- at most 10,000 events per answer
        local ts, gerr = get("/api/v1/task_stream?since=" .. since)
        if not ts then return nil, "the cluster's computes are missing: " .. tostring(gerr) end
        dropped = ts.dropped or dropped
        local got = type(ts.events) == "table" and ts.events or {}
        for _, e in ipairs(got) do
          if type(e.seq) == "number" and e.seq > since then since = e.seq end
          if type(e.start) == "number" and type(e.stop) == "number" and e.stop >= now0 then
            evs[#evs + 1] = {
              kind = e.kind, key = e.key, prefix = e.prefix, worker = e.worker, thread = e.thread,
              start = e.start - now0, stop = e.stop - now0, status = e.status, bytes = e.bytes, peer = e.peer,
            }
          end
        end
        if not ts.more or #got == 0 then break end
      end
      local workers = {}
      local ws = get("/api/v1/workers")
      if type(ws) == "table" then
        for _, w in ipairs(ws) do workers[#workers + 1] = { address = w.address, nthreads = w.nthreads } end
      end
      return evs, workers, dropped
    end,
  }
end

--- Runs fn(...) and writes a performance report of what it computed to
-- PATH: one self-contained HTML file (task stream, progress by task prefix,
-- profile by prefix) of the local computes and, with a default Client, of
-- the cluster's. The file is written also when FN fails (then the error is
-- raised again). OPTS: title; capacity (local events kept, default
-- 1,000,000). Returns fn's results.
-- @param path the HTML file to write
-- @param fn the function to run
-- @param[opt] opts `{ title =, capacity = }`
-- @param ... fn's arguments
-- @return fn's results
-- @usage ldask.diagnostics.performance_report("report.html", function()
--   return ldask.array.ones({ 1000 }, { chunks = 100 }):sum():compute()
-- end)
function M.performance_report(path, fn, opts, ...)
  if type(path) ~= "string" or path == "" then
    error("performance_report: path must be a file name (a string), got " .. type(path), 2)
  end
  if type(fn) ~= "function" then error("performance_report: fn must be a function, got " .. type(fn), 2) end
  if opts ~= nil and type(opts) ~= "table" then error("performance_report: opts must be a table, got " .. type(opts), 2) end
  opts = opts or {}
  local dir, derr = M.dashboard_dir()
  if not dir then error("performance_report: " .. derr, 2) end
  local f, ferr = io.open(path, "wb")
  if not f then error("performance_report: cannot write the report: " .. tostring(ferr), 2) end
  local notes = {}
  local cluster, cerr = cluster_part()
  if cerr then notes[#notes + 1] = cerr end
  local ring = events.watch { capacity = opts.capacity or 1000000 }
  local created, t0 = os.date("!%Y-%m-%d %H:%M:%S UTC"), now()
  local res = { pcall(fn, ...) }
  local duration = now() - t0
  ring:close()
  local evs, totals, nthreads, workers = local_part(ring, t0)
  local dropped, scheduler = ring.dropped, #evs > 0 and "local" or nil
  if cluster then
    local cevs, cworkers, cdropped = cluster.finish()
    if cevs then
      for _, e in ipairs(cevs) do evs[#evs + 1] = e end
      for _, w in ipairs(cworkers) do
        workers[#workers + 1] = w
        nthreads = nthreads + (w.nthreads or 0)
      end
      dropped = dropped + (cdropped or 0)
      scheduler = (scheduler and scheduler .. " + " or "") .. "cluster " .. cluster.base
    else
      notes[#notes + 1] = cworkers
    end
  end
  if dropped > 0 then
    notes[#notes + 1] = dropped .. " events were dropped (the event rings are bounded): the task stream is partial"
  end
  local ok, werr = pcall(function()
    f:write(M.render {
      title = opts.title or "ldask performance report",
      created = created,
      duration = duration,
      scheduler = scheduler or "no computes",
      nthreads = nthreads,
      events = list(evs),
      prefixes = list(progress(evs, totals)),
      workers = list(workers),
      dropped = dropped,
      notes = list(notes),
    })
  end)
  f:close()
  if not ok then error(werr, 0) end
  if not res[1] then error(res[2], 0) end
  return unpack(res, 2, table.maxn(res))
end

return M
