-- bench/soak.lua: 24/7 operation. A scheduler and 2 workers (each under a
-- nanny) run a mixed workload — futures (map and gather), arrays,
-- bags, dataframes, published datasets shared between two clients, and
-- values passed through a Queue — while a worker process is killed (kill
-- -9) every --kill-every seconds and restarted by its nanny. Every
-- --report-every seconds it prints the scheduler's and the workers' RSS,
-- the rounds and tasks completed, the wrong results (must stay 0) and the
-- errors (a round that raised: e.g. a task that ran on three dying
-- workers). docs/benchmarks.md ("Soak") has a recorded run.
--
--   bin/ldask bench/soak.lua [--minutes N (30)] [--kill-every S (60)]
--                            [--report-every S (60)] [--dashboard 0|1 (1)]
--
-- Exits 1 when any result was wrong, when no round completed, or when a
-- kill was due but the worker could not be killed.
local ldask = require "ldask"
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"
local A = require "ldask.array"
local bag = require "ldask.bag"
local dd = require "ldask.dataframe"

io.stdout:setvbuf("line")

local function usage(msg)
  io.stderr:write("bench/soak.lua: ", msg, "\nusage: bin/ldask bench/soak.lua [--minutes N] [--kill-every S] [--report-every S]\n")
  os.exit(2)
end

local opts = { minutes = 30, kill_every = 60, report_every = 60, dashboard = 1 }
do
  local i = 1
  while arg and arg[i] do
    local a, v = arg[i], tonumber(arg[i + 1])
    local name = a:match("^%-%-([%w-]+)$")
    local k = name and name:gsub("-", "_")
    if not k or opts[k] == nil then usage("unknown option '" .. a .. "'") end
    if not v or v < 0 or (v == 0 and k ~= "dashboard") then usage(a .. " expects a positive number") end
    opts[k] = v
    i = i + 2
  end
end

local now = client.Client._now

-- RSS of process PID in MiB (nil when gone).
local function rss(pid)
  if not pid then return nil end
  local f = io.open("/proc/" .. pid .. "/status")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  local kb = s:match("VmRSS:%s*(%d+)")
  return kb and tonumber(kb) / 1024 or nil
end

local function mb(x) return x and string.format("%.1f", x) or "-" end

local cl = cluster_mod.start({ n_workers = 2, threads_per_worker = 2, dashboard = opts.dashboard ~= 0 })
local c = client(cl.address, { set_as_default = false })
local c2 = client(cl.address, { set_as_default = false }) -- the other user: reads the datasets
c:wait_for_workers(2, 30)
c:set_as_default()

local stats = { rounds = 0, tasks = 0, wrong = 0, errors = 0, kills = 0, kill_failed = 0 }
local last_error

local function check(what, got, want)
  if got ~= want then
    stats.wrong = stats.wrong + 1
    io.stderr:write(string.format("WRONG %s: got %s, want %s\n", what, tostring(got), tostring(want)))
  end
end

local o = client.options

-- One round of the mixed workload (R: the round number, makes keys new).
local function round(r)
  -- futures
  local seq = {}
  for i = 1, 100 do seq[i] = i + r end
  local fs = c:map(function(x) return x * x end, seq, o{ pure = false })
  local s, want = 0, 0
  for i, v in ipairs(c:gather(fs, 120)) do s = s + v; want = want + seq[i] * seq[i] end
  check("futures", s, want)
  stats.tasks = stats.tasks + 100
  -- arrays
  local n = 20000
  local a = A.arange(n, { chunks = 2000 }) * (r % 7 + 1)
  check("array sum", a:sum():compute(), (r % 7 + 1) * n * (n - 1) / 2)
  stats.tasks = stats.tasks + 22
  -- bags
  local items = {}
  for i = 1, 500 do items[i] = i end
  -- (R travels as an argument: a closure over it would be a new function
  -- every round, and the cluster keeps every function it was sent)
  local b = bag.from_sequence(items, { npartitions = 10 }):map(function(x, k) return x + k end, r)
  local bs = 0
  for _, v in ipairs(b:compute()) do bs = bs + v end
  check("bag", bs, 500 * 501 / 2 + 500 * r)
  stats.tasks = stats.tasks + 20
  -- dataframes
  local xs, ks = {}, {}
  for i = 1, 400 do xs[i] = i * (r % 3 + 1); ks[i] = i % 4 end
  local df = dd.from_table({ x = xs, k = ks }, { npartitions = 4 })
  check("dataframe", df.x:sum():compute(), (r % 3 + 1) * 400 * 401 / 2)
  stats.tasks = stats.tasks + 9
  -- a published dataset, read by the other client, then replaced
  local name = "soak-" .. r
  local pa = A.ones({ 1000 }, { chunks = 250 }) * r
  c:publish_dataset(name, pa)
  local got = c2:get_dataset(name)
  check("published dataset", got:sum():compute(), 1000 * r)
  c:unpublish_dataset(name)
  stats.tasks = stats.tasks + 10
  -- a queue between the clients
  local q = ldask.Queue("soak-q", { client = c })
  q:put(c:submit(function(x) return x + 1 end, r, o{ pure = false }))
  check("queue", ldask.Queue("soak-q", { client = c2 }):get{ timeout = 60 }:result(120), r + 1)
  stats.tasks = stats.tasks + 1
end

local function report(t0)
  local pids = { cl:worker_pid(1), cl:worker_pid(2) }
  local ok, info = pcall(c.scheduler_info, c)
  local held = ok and info.ntasks or -1 -- keys the scheduler holds a record of
  print(string.format(
    "t=%5.0fs scheduler RSS %s MiB, workers %s / %s MiB; keys held %d; rounds %d, tasks %d, wrong results %d, errors %d, kills %d",
    now() - t0, mb(rss(cl.scheduler_pid)), mb(rss(pids[1])), mb(rss(pids[2])), held, stats.rounds, stats.tasks,
    stats.wrong, stats.errors, stats.kills))
end

print(string.format("soak: %g minutes, a worker killed every %g s, report every %g s (scheduler %s)",
  opts.minutes, opts.kill_every, opts.report_every, cl.address))
local t0 = now()
local stop_at = t0 + opts.minutes * 60
local next_kill, next_report = t0 + opts.kill_every, t0
local victim = 1
report(t0)
next_report = t0 + opts.report_every
while now() < stop_at do
  local ok, err = pcall(round, stats.rounds + 1)
  stats.rounds = stats.rounds + 1
  if not ok then
    stats.errors = stats.errors + 1
    last_error = tostring(err)
    io.stderr:write("round ", stats.rounds, " raised: ", last_error:sub(1, 300), "\n")
    if c:_connection_lost() or c2:_connection_lost() then
      stats.lost = true
      io.stderr:write("the scheduler is gone; its log ends with:\n")
      os.execute("tail -n 30 " .. cl.dir .. "/scheduler.log 1>&2")
      break
    end
  end
  if now() >= next_report then
    report(t0)
    next_report = next_report + opts.report_every
  end
  if now() >= next_kill then
    local pid = cl:worker_pid(victim)
    local rc = pid and os.execute("kill -9 " .. pid .. " 2>/dev/null")
    if rc == 0 or rc == true then
      stats.kills = stats.kills + 1
      print(string.format("t=%5.0fs killed worker %d (pid %d); its nanny restarts it", now() - t0, victim, pid))
    else
      stats.kill_failed = stats.kill_failed + 1
      print(string.format("t=%5.0fs could not kill worker %d (pid %s)", now() - t0, victim, tostring(pid)))
    end
    victim = 3 - victim
    next_kill = next_kill + opts.kill_every
  end
end
report(t0)
print(string.format("soak done: %d rounds, %d tasks completed, %d wrong results, %d errors, %d kills",
  stats.rounds, stats.tasks, stats.wrong, stats.errors, stats.kills))
c2:close()
c:close()
cl:stop()
if stats.wrong > 0 or stats.rounds - stats.errors < 1 or stats.kill_failed > 0 or stats.lost then os.exit(1) end
