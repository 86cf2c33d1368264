-- Functional specs of the faults that used to stall or overshoot a cluster
-- (issue 11): a worker frozen with SIGSTOP while a healthy one fetches from
-- it, memory held by a worker under --memory-limit (RSS read from /proc),
-- the nanny restarting workers, client:restart(), and a worker started
-- before its scheduler. Real processes on 127.0.0.1; every wait is bounded.
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"
local helpers = require "helpers"

local opts = client.options

local function nap(s) require("socket").sleep(s) end

-- Runs FN(cluster, c) with a fresh cluster of N workers; always stops it.
local with_cluster = helpers.with_cluster

-- The number (I of local-I) of the worker holding future F.
local function holder_of(c, f)
  local addr = c:who_has({ f })[f.key][1]
  for _, w in ipairs(c:scheduler_info().workers) do
    if w.address == addr then return tonumber(w.name:match("%d+$")) end
  end
end

local function add(x, y) return x + y end

local sanitized = helpers.bin:find("/san/", 1, true) -- freed memory stays in quarantine

describe("a worker frozen with SIGSTOP", function()
  it("does not stall a task whose input a healthy worker fetches from it (10 of 10 runs)", function()
    with_cluster(3, function(cl, c)
      for run = 1, 10 do
        local a = c:submit(function(r) return r end, run, opts { workers = "local-1", pure = false })
        local b = c:submit(function(r) return 100 * r end, run,
          opts { workers = { "local-2", "local-3" }, pure = false })
        assert.equal(100 * run, b:result(10))
        local frozen = holder_of(c, b)
        assert.is_not_nil(frozen, "run " .. run .. ": no holder of b")
        cl:kill_worker(frozen, "STOP")
        -- local-1 fetches b from the frozen worker: the fetch must be given
        -- up when the scheduler removes it, and b recomputed on the other
        local s = c:submit(add, a, b, opts { workers = "local-1", pure = false })
        local t0 = require("socket").gettime()
        local ok, r = pcall(s.result, s, 20)
        cl:kill_worker(frozen, "CONT")
        assert.is_true(ok, "run " .. run .. ": " .. tostring(r))
        assert.equal(101 * run, r)
        assert.is_true(require("socket").gettime() - t0 < 10, "run " .. run .. " took too long")
        for _, f in ipairs({ a, b, s }) do f:release() end
        c:wait_for_workers(3, 20) -- the thawed worker registers again
      end
      assert.matches("removed: no heartbeat", cl:log() or "")
    end, { scheduler_args = "--worker-ttl 1" })
  end)

  it("gives up a fetch from a peer that does not answer within --peer-timeout", function()
    with_cluster(0, function(cl, c)
      for _ = 1, 3 do cl:add_worker(1, "--peer-timeout 1") end
      c:wait_for_workers(3, 20)
      local a = c:submit(function() return 1 end, opts { workers = "local-1", pure = false })
      local b = c:submit(function() return 2 end, opts { workers = { "local-2", "local-3" }, pure = false })
      assert.equal(2, b:result(10))
      local frozen = holder_of(c, b)
      cl:kill_worker(frozen, "STOP")
      local s = c:submit(add, a, b, opts { workers = "local-1", pure = false })
      -- local-1 gives the fetch up after 1 s and the task goes back to the
      -- scheduler (which may recompute b anywhere, the frozen worker too:
      -- it thaws after 4 s)
      local deadline = os.time() + 10
      while not (cl:log(1) or ""):find("giving up", 1, true) and os.time() < deadline do nap(0.05) end
      nap(3)
      cl:kill_worker(frozen, "CONT")
      local ok, r = pcall(s.result, s, 15)
      assert.is_true(ok, tostring(r))
      assert.equal(3, r)
      assert.matches("giving up 1 fetch%(es%) from tcp://[%d.:]+: no answer for [%d.]+ s %(peer timeout 1.0 s%)",
        cl:log(1) or "")
    end) -- the scheduler's ttl (30 s) never removes the frozen worker here
  end)
end)

-- Starts CMD in the background with its output in LOG; returns its pid.
local function spawn(cmd, log)
  local p = io.popen("sh -c " .. helpers.shell_quote(cmd .. " >" .. log .. " 2>&1 & echo $!"))
  local pid = tonumber(p:read("*l"))
  p:close()
  return pid
end

local function read(path)
  local f = io.open(path)
  if not f then return "" end
  local s = f:read("*a"); f:close()
  return s
end

local function alive(pid) return os.execute("kill -0 " .. pid .. " 2>/dev/null") == 0 end

-- A free TCP port on 127.0.0.1 (bound then released).
local function free_port()
  local s = assert(require("socket").bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

describe("a worker started before its scheduler", function()
  it("says it is waiting for one, keeps trying, and registers once it is up", function()
    local dir = helpers.tmpdir()
    local port = free_port()
    local wlog, slog = dir .. "/early-worker.log", dir .. "/early-sched.log"
    local wpid = spawn(helpers.bin .. "/ldask-worker tcp://127.0.0.1:" .. port ..
      " --name early --death-timeout 20", wlog)
    local spid
    local ok, err = pcall(function()
      nap(1.5)
      local log = read(wlog)
      assert.matches("waiting for the scheduler at tcp://127.0.0.1:" .. port, log, 1, true)
      assert.not_matches("lost the scheduler", log, 1, true)
      assert.is_true(alive(wpid), "the worker gave up")
      spid = spawn(helpers.bin .. "/ldask-scheduler --port " .. port, slog)
      local deadline = os.time() + 15
      while not read(slog):find("ldask-scheduler at", 1, true) and os.time() < deadline do nap(0.05) end
      local c = client("tcp://127.0.0.1:" .. port, { set_as_default = false, timeout = 10 })
      c:wait_for_workers(1, 15)
      assert.equal(42, c:submit(function() return 42 end):result(10))
      c:close()
      assert.matches("early: registered with", read(wlog), 1, true)
    end)
    os.execute("kill " .. wpid .. (spid and (" " .. spid) or "") .. " 2>/dev/null")
    if not ok then error(err, 0) end
  end)

  it("gives up after its death timeout when no scheduler ever answers", function()
    local dir = helpers.tmpdir()
    local wlog = dir .. "/lonely-worker.log"
    local wpid = spawn(helpers.bin .. "/ldask-worker tcp://127.0.0.1:" .. free_port() ..
      " --name lonely --death-timeout 1", wlog)
    local deadline = os.time() + 15
    while alive(wpid) and os.time() < deadline do nap(0.1) end
    local still = alive(wpid)
    if still then os.execute("kill -KILL " .. wpid) end
    assert.is_false(still, "the worker did not stop")
    assert.matches("no scheduler ever answered for [%d.]+ s %(death timeout 1.0 s%): exiting", read(wlog))
  end)
end)

-- The resident set size of process PID in bytes (0 when it is gone).
local function rss(pid)
  local f = pid and io.open("/proc/" .. pid .. "/statm")
  if not f then return 0 end
  local _, pages = f:read("*n", "*n")
  f:close()
  return (pages or 0) * 4096
end

local MB = 1000000

-- Maps a task making a distinct 50 MB string over 1..N on worker 1, while
-- sampling its RSS; returns the futures and the peak RSS seen.
local function fifty_mb_results(cl, c, n)
  local pid = cl:worker_pid(1)
  local seq = {}
  for i = 1, n do seq[i] = i end
  local fs = c:map(function(i) return string.rep(string.char(65 + i % 26), 50e6 - 3) .. string.format("%03d", i) end, seq)
  local peak, deadline = 0, os.time() + 120
  repeat
    local pending = 0
    for _, f in ipairs(fs) do if f:status() == "pending" then pending = pending + 1 end end
    peak = math.max(peak, rss(pid))
    if pending > 0 then c:_poll(0.01) end
  until pending == 0 or os.time() > deadline
  return fs, peak, pid
end


describe("a worker's memory", function()
  it("stays under 1.2 x --memory-limit in RSS holding 30 results of 50 MB, and under the spill target after", function()
    with_cluster(0, function(cl, c)
      -- (sanitizers keep freed memory in quarantine: process memory means
      -- nothing there, and a nanny would take it for a leak)
      cl:add_worker(1, "--memory-limit 300MB" .. (sanitized and " --no-nanny" or ""))
      c:wait_for_workers(1, 20)
      local fs, peak, pid = fifty_mb_results(cl, c, 30)
      for i = 1, 30 do assert.equal("finished", fs[i]:status()) end
      if not sanitized then
        assert.is_true(peak < 1.2 * 300 * MB, "peak RSS " .. peak .. " bytes for a 300 MB limit")
      end
      nap(0.5) -- a heartbeat
      local w = c:scheduler_info().workers[1]
      assert.is_true(w.memory <= 0.6 * 300 * MB, w.memory .. " bytes of results in RAM")
      local held = w.memory + w.spilled -- (each value's header adds a few bytes)
      assert.is_true(held >= 30 * 50 * MB and held < 30 * 50 * MB + 30 * 100, held .. " bytes held")
      local v = fs[29]:result(30)
      assert.equal(50 * MB, #v)
      assert.equal(string.rep("D", 10) .. "029", v:sub(1, 10) .. v:sub(-3))
      v = nil
      if not sanitized then
        assert.equal(pid, cl:worker_pid(1), "the worker was restarted:\n" .. (cl:log(1) or ""))
      end
      assert.not_matches("killing", cl:log(1) or "", 1, true)
    end)
  end)

  it("is given back to the system once results are freed (no memory limit)", function()
    with_cluster(1, function(cl, c)
      local start = rss(cl:worker_pid(1))
      local fs, peak, pid = fifty_mb_results(cl, c, 10)
      assert.is_true(peak >= 400 * MB, "peak RSS " .. peak)
      for _, f in ipairs(fs) do f:release() end
      fs = nil
      c:_flush_releases()
      local deadline, now_rss = os.time() + 10, nil
      repeat
        c:scheduler_info()
        nap(0.2)
        now_rss = rss(pid)
      until now_rss < start + 30 * MB or os.time() > deadline
      if not sanitized then
        assert.is_true(now_rss < start + 30 * MB, "RSS " .. now_rss .. " bytes after freeing (" .. start .. " at start)")
      end
    end)
  end)
end)

describe("the nanny", function()
  local function die()
    local ffi = require "ffi"
    pcall(ffi.cdef, "int getpid(void); int kill(int pid, int sig);")
    ffi.C.kill(ffi.C.getpid(), 9)
  end

  it("restarts workers that die; a task that killed 3 workers fails as before, the cluster keeps its workers", function()
    with_cluster(2, function(cl, c)
      local before = { cl:worker_pid(1), cl:worker_pid(2) }
      local f = c:submit(die, opts { key = "killer" })
      local ok, err = pcall(f.result, f, 60)
      assert.is_false(ok)
      assert.equal("killer", err.key)
      assert.matches("task 'killer' was running on 3 workers that died", err.message, 1, true)
      c:wait_for_workers(2, 20)
      assert.equal(2, #c:scheduler_info().workers)
      assert.equal(42, c:submit(function() return 42 end):result(10))
      assert.matches("nanny local%-%d: the worker %(pid %d+%) was killed by signal 9: restarting it", (cl:log(1) or "") .. (cl:log(2) or ""))
      assert.is_true(cl:worker_pid(1) ~= before[1] or cl:worker_pid(2) ~= before[2])
    end)
  end)

  it("kills and restarts a worker whose process memory passes 0.95 x its limit", function()
    with_cluster(0, function(cl, c)
      cl:add_worker(1, "--memory-limit 100MB")
      c:wait_for_workers(1, 20)
      local hog = c:submit(function()
        local s = string.rep("x", 250e6)
        require("socket").sleep(2)
        return #s
      end, opts { key = "hog" })
      local ok, err = pcall(hog.result, hog, 60)
      assert.is_false(ok)
      assert.matches("task 'hog' was running on 3 workers that died", err.message, 1, true)
      assert.matches("above 95%% of its memory limit 100000000: killing and restarting it", cl:log(1) or "")
      c:wait_for_workers(1, 20)
      assert.equal(7, c:submit(function() return 7 end):result(10))
    end)
  end)

  it("brings every worker back on client:restart(), cancelling the futures, as dask does", function()
    with_cluster(2, function(cl, c)
      local done = c:submit(function() return 1 end)
      assert.equal(1, done:result(10))
      local running = c:submit(function() require("socket").sleep(30) return 2 end, opts { pure = false })
      nap(0.3)
      local before = { cl:worker_pid(1), cl:worker_pid(2) }
      local t0 = require("socket").gettime()
      assert.equal(2, c:restart(20))
      assert.is_true(require("socket").gettime() - t0 < 10, "restart took too long")
      assert.equal("cancelled", running:status())
      assert.equal("cancelled", done:status())
      local ok, err = pcall(running.result, running, 1)
      assert.is_false(ok)
      assert.matches("cancelled", tostring(err), 1, true)
      assert.is_true(cl:worker_pid(1) ~= before[1] and cl:worker_pid(2) ~= before[2], "the workers were not restarted")
      assert.equal(2, #c:scheduler_info().workers)
      assert.equal(3, c:submit(function() return 3 end):result(10))
      assert.matches("the scheduler asked us to restart", cl:log(1) or "", 1, true)
      -- a collection persisted before the restart computes again after it
      c:set_as_default()
      local x = require("ldask").array.ones({ 10 }, { chunks = 5 }):sum()
      local p = c:persist(x)
      assert.equal(10, tonumber(x:compute()))
      c:restart(20)
      assert.equal(10, tonumber(x:compute()))
      assert.equal(10, tonumber(p:compute()))
    end)
  end)

  it("is what ldask-worker runs by default; --no-nanny runs the worker alone", function()
    local out = io.popen(helpers.bin .. "/ldask-worker --help"):read("*a")
    assert.matches("--nanny, --no-nanny", out, 1, true)
    with_cluster(1, function(cl, c)
      assert.is_not_nil(cl:worker_pid(1), "no worker process under the nanny")
      assert.is_true(cl:worker_pid(1) ~= cl.workers[1])
      c:restart(20)
      -- a worker without a nanny stops on a restart (as in dask)
      cl:add_worker(1, "--no-nanny --name alone")
      c:wait_for_workers(2, 20)
      local deadline = os.time() + 20
      c:restart(20)
      local names = {}
      for _, w in ipairs(c:scheduler_info().workers) do names[#names + 1] = w.name end
      assert.same({ "local-1" }, names)
      while alive(cl.workers[2]) and os.time() < deadline do nap(0.05) end
      assert.is_false(alive(cl.workers[2]), "the worker without a nanny still runs")
      -- SIGTERM to the nanny stops its worker; a nanny killed outright
      -- takes its worker with it (no orphan)
      local worker = cl:worker_pid(1)
      os.execute("kill -TERM " .. cl.workers[1])
      while (alive(worker) or alive(cl.workers[1])) and os.time() < deadline do nap(0.05) end
      assert.is_false(alive(worker), "the worker outlived its nanny's SIGTERM")
      assert.is_false(alive(cl.workers[1]), "the nanny did not stop")
      cl:add_worker(1)
      c:wait_for_workers(1, 20)
      worker = cl:worker_pid(3)
      os.execute("kill -KILL " .. cl.workers[3])
      deadline = os.time() + 10
      while alive(worker) and os.time() < deadline do nap(0.05) end
      assert.is_false(alive(worker), "the worker outlived its nanny")
    end)
  end)
end)
