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
local function with_cluster(n, fn, copts)
  copts = copts or {}
  copts.n_workers = n
  local cl = cluster_mod.start(copts)
  local c
  local ok, err = pcall(function()
    c = client(cl.address, { set_as_default = false })
    c:wait_for_workers(n, 20)
    fn(cl, c)
  end)
  if c then pcall(c.close, c) end
  cl:stop()
  if not ok then error(err, 0) end
end

-- The number (I of local-I) of the worker holding future F.
local function holder_of(c, f)
  local addr = c:who_has({ f })[f.key][1]
  for _, w in ipairs(c:scheduler_info().workers) do
    if w.address == addr then return tonumber(w.name:match("%d+$")) end
  end
end

local function add(x, y) return x + y end

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
