-- bench/dashboard_overhead.lua: what the dashboard costs the scheduler
-- (docs/dashboard.md, "Costs"). client:map of N trivial tasks + gather on
-- a local cluster (a scheduler and 2 workers of 1 thread, loopback), in
-- three set-ups, alternated ROUNDS times (best of each reported):
--   off       --no-dashboard --events-capacity 0: no server, no event ring
--   unwatched the default: the event ring filled, the server idle
--   watched   the default, with a poller in another process asking
--             /api/v1/status and /api/v1/task_stream?since=SEQ every 100 ms
--             (what an open status page without SSE does, 10x as often)
--   bin/ldask bench/dashboard_overhead.lua [N] [ROUNDS]
-- The poller is this file too: bin/ldask bench/dashboard_overhead.lua
-- --poll PORT TOKEN_FILE STOP_FILE.
require "ldask.ffi.client"
local lib = require "ldask.native"

local now = lib.ld_client_now

-- ---- the poller (a child process) ----
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

-- One map + gather of N tasks on a fresh cluster with OPTS; returns tasks/s.
local function run(opts, watch)
  local c = client(opts)
  c:gather(c:map(inc, { 1, 2, 3, 4, 5 })) -- warm
  local poller, stop_file
  if watch then
    local port = c:dashboard_link():match(":(%d+)/")
    stop_file = os.tmpname()
    os.remove(stop_file)
    local p = io.popen(("%s/ldask %s --poll %s %s %s & echo $!"):format(_LDASK_BIN or "bin", here, port,
      c.cluster.token_file, stop_file))
    poller = p:read("*l"); p:close()
    os.execute("sleep 0.3")
  end
  local seq = {}
  for i = 1, n do seq[i] = i end
  local t0 = now()
  local fs = c:map(inc, seq)
  local r = c:gather(fs)
  local dt = now() - t0
  assert(r[n] == n + 1, "map+gather result is wrong")
  if watch then
    local f = assert(io.open(stop_file, "w")); f:close()
    os.execute("sleep 0.3")
    os.remove(stop_file)
    assert(poller)
  end
  c:close()
  return n / dt
end

local setups = {
  { "off", { n_workers = 2, threads_per_worker = 1, dashboard = false, scheduler_args = "--events-capacity 0" } },
  { "unwatched", { n_workers = 2, threads_per_worker = 1 } },
  { "watched", { n_workers = 2, threads_per_worker = 1 }, true },
}
local best = {}
for round = 1, rounds do
  for _, s in ipairs(setups) do
    local rate = run(s[2], s[3])
    best[s[1]] = math.max(best[s[1]] or 0, rate)
    print(("round %d %-9s map+gather %d tasks: %.0f tasks/s"):format(round, s[1], n, rate))
  end
end
local function drop(name) return (1 - best[name] / best.off) * 100 end
print(("best: off %.0f tasks/s, unwatched %.0f (%+.1f%%), watched every 100 ms %.0f (%+.1f%%)"):format(
  best.off, best.unwatched, -drop("unwatched"), best.watched, -drop("watched")))
