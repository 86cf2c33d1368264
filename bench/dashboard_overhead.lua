-- bench/dashboard_overhead.lua: what the dashboard costs the scheduler
-- (docs/dashboard.md, "Costs"). client:map of N trivial tasks + gather on
-- a local cluster (a scheduler and 2 workers of 1 thread, loopback), in
-- three set-ups, alternated ROUNDS times:
--   off       --no-dashboard --events-capacity 0: no server, no event ring
--   unwatched the default: the event ring filled, the server idle
--   page      the default, with another process reading /api/v1/events
--             (Server-Sent Events) as an open status page does
--   watched   the default, with a poller in another process asking
--             /api/v1/status and /api/v1/task_stream?since=SEQ every 100 ms
--             (what a status page without SSE does, 10x as often: every
--             event serialized, the worst case)
-- Reported: throughput and the scheduler's CPU time per task (its loop is
-- what a dashboard could slow; steadier than wall time on a shared
-- machine), the median of each set-up.
--   bin/ldask bench/dashboard_overhead.lua [N] [ROUNDS]
-- The watchers are this file too: bin/ldask bench/dashboard_overhead.lua
-- --poll|--page PORT TOKEN_FILE STOP_FILE.
require "ldask.ffi.client"
local lib = require "ldask.native"

local now = lib.ld_client_now

-- ---- the poller (a child process) ----
if arg[1] == "--page" then -- an open page: the event stream, read as it comes
  local socket = require "socket"
  local port, token_file, stop_file = tonumber(arg[2]), arg[3], arg[4]
  local f = assert(io.open(token_file)); local token = f:read("*a"):gsub("%s+$", ""); f:close()
  local conn = assert(socket.connect("127.0.0.1", port))
  conn:send("GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " .. token .. "\r\n\r\n")
  conn:settimeout(0.2)
  local updates = 0
  while not io.open(stop_file) do
    local line, err = conn:receive("*l")
    if line and line:match("^event: update") then updates = updates + 1 end
    if not line and err ~= "timeout" then break end
  end
  io.write(("page: %d updates\n"):format(updates))
  os.exit(0)
end

if arg[1] == "--poll" then
  local socket = require "socket"
  local port, token_file, stop_file = tonumber(arg[2]), arg[3], arg[4]
  local f = assert(io.open(token_file)); local token = f:read("*a"):gsub("%s+$", ""); f:close()
  -- GET PATH on a kept-alive connection; returns the body
  local conn
  local function get(path)
    if not conn then conn = assert(socket.connect("127.0.0.1", port)); conn:settimeout(10) end
    conn:send("GET " .. path .. " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " .. token .. "\r\n\r\n")
    local len
    while true do
      local line = assert(conn:receive("*l"))
      if line == "" then break end
      len = len or tonumber(line:match("^Content%-Length: (%d+)"))
    end
    return assert(conn:receive(len))
  end
  local seq, polls = 0, 0
  while not io.open(stop_file) do
    get("/api/v1/status")
    local ts = get("/api/v1/task_stream?since=" .. seq)
    seq = tonumber(ts:match('^{"seq":(%d+)')) or seq
    polls = polls + 1
    socket.sleep(0.1)
  end
  io.write(("poller: %d polls, last seq %d\n"):format(polls, seq))
  os.exit(0)
end

local client = require "ldask.client"
local support = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "support.lua")
local inc = support.inc
local n = tonumber(arg[1]) or 20000
local rounds = tonumber(arg[2]) or 3
local here = debug.getinfo(1, "S").source:sub(2)

-- The CPU time the process PID has used, in seconds (/proc/PID/schedstat:
-- nanoseconds on a CPU).
local function cpu_s(pid)
  local f = io.open("/proc/" .. pid .. "/schedstat")
  if not f then return 0 end
  local ns = tonumber(f:read("*a"):match("^(%d+)")) or 0
  f:close()
  return ns / 1e9
end

-- One map + gather of N tasks on a fresh cluster with OPTS; returns tasks/s
-- and the scheduler's CPU time per task (seconds).
local function run(opts, watch)
  local c = client(opts)
  c:gather(c:map(inc, { 1, 2, 3, 4, 5 })) -- warm
  local poller, stop_file
  if watch then
    local port = c:dashboard_link():match(":(%d+)/")
    stop_file = os.tmpname()
    os.remove(stop_file)
    local p = io.popen(("%s/ldask %s --%s %s %s %s & echo $!"):format(_LDASK_BIN or "bin", here, watch, port,
      c.cluster.token_file, stop_file))
    poller = p:read("*l"); p:close()
    os.execute("sleep 0.3")
  end
  local seq = {}
  for i = 1, n do seq[i] = i end
  local spid = c.cluster.scheduler_pid
  local t0, c0 = now(), cpu_s(spid)
  local fs = c:map(inc, seq)
  local r = c:gather(fs)
  local dt, dc = now() - t0, cpu_s(spid) - c0
  assert(r[n] == n + 1, "map+gather result is wrong")
  if watch then
    local f = assert(io.open(stop_file, "w")); f:close()
    os.execute("sleep 0.3")
    os.remove(stop_file)
    assert(poller)
  end
  c:close()
  return n / dt, dc / n
end

local setups = {
  { "off", { n_workers = 2, threads_per_worker = 1, dashboard = false, scheduler_args = "--events-capacity 0" } },
  { "unwatched", { n_workers = 2, threads_per_worker = 1 } },
  { "page", { n_workers = 2, threads_per_worker = 1 }, "page" },
  { "watched", { n_workers = 2, threads_per_worker = 1 }, "poll" },
}
-- Medians: this machine may be shared; the scheduler's CPU time per task
-- is the steadier figure (its loop is what the dashboard could slow).
local rates, cpus = {}, {}
for round = 1, rounds do
  for _, s in ipairs(setups) do
    local rate, cpu = run(s[2], s[3])
    rates[s[1]] = rates[s[1]] or {}
    cpus[s[1]] = cpus[s[1]] or {}
    table.insert(rates[s[1]], rate)
    table.insert(cpus[s[1]], cpu)
    print(("round %d %-9s map+gather %d tasks: %.0f tasks/s, scheduler CPU %.2f us/task"):format(
      round, s[1], n, rate, cpu * 1e6))
  end
end
local function median(t)
  table.sort(t)
  local m = #t
  return m % 2 == 1 and t[(m + 1) / 2] or (t[m / 2] + t[m / 2 + 1]) / 2
end
local r, u = {}, {}
for name in pairs(rates) do r[name], u[name] = median(rates[name]), median(cpus[name]) end
for _, name in ipairs({ "unwatched", "page", "watched" }) do
  print(("median %-9s %.0f tasks/s (%+.1f%% vs off), scheduler CPU %.2f us/task (%+.1f%% vs off)"):format(
    name, r[name], (r[name] / r.off - 1) * 100, u[name] * 1e6, (u[name] / u.off - 1) * 100))
end
print(("median off       %.0f tasks/s, scheduler CPU %.2f us/task"):format(r.off, u.off * 1e6))
