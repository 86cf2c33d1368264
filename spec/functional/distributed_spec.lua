-- Functional specs of distributed ldask: real ldask-scheduler and
-- ldask-worker processes on 127.0.0.1 (free ports, found through a
-- scheduler file), driven through ldask.client. Every cluster is stopped at
-- the end of its block, also on failure; every wait has a timeout.
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"
local helpers = require "helpers"

local opts = client.options

-- Runs FN(cluster, c) with a fresh cluster of N workers; always stops it.
local with_cluster = helpers.with_cluster

local function nap(s) require("socket").sleep(s) end

describe("distributed ldask on a cluster of two workers", function()
  local cl, c
  setup(function()
    cl = cluster_mod.start({ n_workers = 2 })
    c = client(cl.address, { set_as_default = false })
    c:wait_for_workers(2, 20)
  end)
  teardown(function()
    if c then pcall(c.close, c) end
    if cl then cl:stop() end
  end)

  it("submits a task and returns its result", function()
    local f = c:submit(function(x, y) return x * y end, 6, 7)
    assert.equal(42, f:result(10))
    assert.equal("finished", f:status())
    assert.is_true(f:done())
    assert.matches("^<Future .+ finished>$", tostring(f))
  end)

  it("maps over a list and gathers the results in order", function()
    local seq = {}
    for i = 1, 200 do seq[i] = i end
    local fs = c:map(function(x) return x * x end, seq)
    assert.equal(200, #fs)
    local r = c:gather(fs, 20)
    for i = 1, 200 do assert.equal(i * i, r[i]) end
  end)

  it("ships tables and strings both ways, and keeps nil results", function()
    local f = c:submit(function(t) return { n = #t.items, s = t.name:upper() } end, { items = { 1, 2, 3 }, name = "abc" })
    assert.same({ n = 3, s = "ABC" }, f:result(10))
    assert.is_nil(c:submit(function() return nil end):result(10))
  end)

  it("passes futures as arguments: the data moves between workers, not through the client", function()
    local a = c:submit(function() return 40 end, opts { workers = "local-1", pure = false })
    local b = c:submit(function() return 2 end, opts { workers = "local-2", pure = false })
    local s = c:submit(function(x, y) return x + y end, a, b, opts { pure = false })
    assert.equal(42, s:result(10))
    local wh = c:who_has({ a, b })
    local info = c:scheduler_info()
    local addr = {}
    for _, w in ipairs(info.workers) do addr[w.name] = w.address end
    assert.same({ addr["local-1"] }, wh[a.key])
    assert.same({ addr["local-2"] }, wh[b.key])
    -- one of the workers fetched the other's input from its peer
    local fetched, deadline = 0, os.time() + 10
    repeat
      fetched = 0
      for _, w in ipairs(c:scheduler_info().workers) do fetched = fetched + w.fetched end
      if fetched == 0 then nap(0.1) end
    until fetched > 0 or os.time() > deadline
    assert.is_true(fetched > 0, "no peer transfer recorded")
  end)

  it("reports a task error with its key, message and remote traceback", function()
    local function explode(x) error("bad value " .. x) end
    local f = c:submit(explode, 13, opts { key = "explode-13" })
    local ok, err = pcall(f.result, f, 10)
    assert.is_false(ok)
    assert.equal("explode-13", err.key)
    assert.matches("bad value 13", err.message, 1, true)
    assert.matches("in function", err.traceback, 1, true)
    assert.matches("task 'explode-13' failed", tostring(err), 1, true)
    assert.equal("error", f:status())
    assert.equal(err.message, f:exception(1).message)
    -- dependents fail with the same error
    local g = c:submit(function(x) return x end, f)
    local ok2, err2 = pcall(g.result, g, 10)
    assert.is_false(ok2)
    assert.matches("bad value 13", err2.message, 1, true)
  end)

  it("retries a failing task", function()
    local path = helpers.tmpdir() .. "/attempts"
    os.remove(path)
    local function flaky(p)
      local f = io.open(p, "a+"); f:write("x"); f:close()
      local n = #io.open(p):read("*a")
      if n < 3 then error("attempt " .. n .. " fails") end
      return n
    end
    assert.equal(3, c:submit(flaky, path, opts { retries = 2, pure = false }):result(10))
    os.remove(path)
    local f = c:submit(flaky, path, opts { retries = 1, pure = false })
    local ok, err = pcall(f.result, f, 10)
    assert.is_false(ok)
    assert.matches("attempt 2 fails", err.message, 1, true)
  end)

  it("cancels a pending task", function()
    local slow = c:submit(function(s) require("socket").sleep(s) return 1 end, 2, opts { pure = false })
    local after = c:submit(function(x) return x + 1 end, slow)
    slow:cancel()
    assert.equal("cancelled", slow:status())
    local ok, err = pcall(slow.result, slow, 5)
    assert.is_false(ok)
    assert.matches("cancelled", tostring(err))
    local ok2 = pcall(after.result, after, 5)
    assert.is_false(ok2)
    assert.equal("cancelled", after:status())
  end)

  it("scatters data and uses it in tasks", function()
    local data = c:scatter({ 10, 20, 30 })
    assert.equal(3, #data)
    local total = c:submit(function(a, b, d) return a + b + d end, data[1], data[2], data[3])
    assert.equal(60, total:result(10))
    assert.same({ 10, 20, 30 }, c:gather(data, 10))
    local one = c:scatter({ 1, 2, 3 }, { workers = "local-2" })
    assert.equal(3, #one)
    local t = c:scatter({ { 1, 2, 3 } })
    assert.same({ 1, 2, 3 }, t[1]:result(10))
  end)

  it("runs callbacks in this Lua state, and waits with as_completed and wait", function()
    local fs = c:map(function(x) require("socket").sleep(0.01 * x) return x end, { 5, 1, 3 }, opts { pure = false })
    local seen = {}
    for _, f in ipairs(fs) do f:add_done_callback(function(ff) seen[#seen + 1] = ff:result() end) end
    local order = {}
    for f in client.as_completed(fs, { timeout = 10 }) do order[#order + 1] = f:result() end
    table.sort(order)
    assert.same({ 1, 3, 5 }, order)
    table.sort(seen)
    assert.same({ 1, 3, 5 }, seen)
    local w = client.wait(fs, { timeout = 10 })
    assert.equal(3, #w.done)
    local slow = c:submit(function() require("socket").sleep(3) return 1 end, opts { pure = false })
    assert.has_error(function() client.wait({ slow }, { timeout = 0.2 }) end,
      "wait: 1 of 1 future(s) still pending after 0.2 s")
    slow:cancel()
  end)

  it("lets the cluster forget released futures", function()
    local f = c:submit(function() return string.rep("x", 1000) end, opts { key = "forget-me" })
    assert.equal(1000, #f:result(10))
    f:release()
    c:_flush_releases()
    local deadline = os.time() + 10
    local wh
    repeat
      wh = c:who_has({ "forget-me" })
      if #wh["forget-me"] > 0 then nap(0.05) end
    until #wh["forget-me"] == 0 or os.time() > deadline
    assert.same({}, wh["forget-me"])
    assert.has_error(function() f:result() end, "Future:result: the future of 'forget-me' was released")
  end)

  it("computes graphs and delayed values through the client", function()
    local ldask = require "ldask"
    local inc = function(x) return x + 1 end
    local g = { a = { inc, 1 }, b = { inc, "a" }, c = { function(x, y) return x * y end, "a", "b" } }
    assert.same({ 6, { 2, 3 } }, c:get(g, { "c", { "a", "b" } }))
    local d = ldask.delayed(function(x, y) return x + y end)(ldask.delayed(inc)(1), 10)
    assert.equal(12, c:compute(d):result(10))
    local p = c:persist(d)
    assert.same({ 12 }, c:get(p:__ldask_graph(), { p:__ldask_keys() }))
    -- ldask.get / ldask.compute with the distributed scheduler module run on
    -- the default client
    c:set_as_default()
    local dist = require "ldask.client.scheduler"
    assert.equal(3, ldask.get(g, "b", { scheduler = dist }))
    assert.equal(12, ldask.compute(d, { scheduler = dist }))
  end)

  it("moves large results between workers: numeric arrays as raw frames, big strings", function()
    local a = c:submit(function() return require("ldask.array.ndarray").ones({ 1000, 1000 }) end,
      opts { workers = "local-1", pure = false })
    local s = c:submit(function(x) return x:sum():item() end, a, opts { workers = "local-2", pure = false })
    assert.equal(1000000, s:result(20))
    local big = c:submit(function() return string.rep("x", 3000000) end, opts { workers = "local-2", pure = false })
    local n = c:submit(function(x) return #x end, big, opts { workers = "local-1", pure = false })
    assert.equal(3000000, n:result(20))
    local arr = a:result(20)
    assert.equal(1000000, arr:sum():item())
  end)

  it("sends messages larger than the socket takes at once, in order with what follows", function()
    -- the client writes straight to the socket; the rest of a message the
    -- socket did not take goes through its network thread, and later
    -- messages queue behind it
    local fs = {}
    for i = 1, 3 do
      local s = string.rep(string.char(96 + i), 8000000 + i)
      fs[#fs + 1] = c:submit(function(x) return #x .. x:sub(1, 1) end, s, opts { pure = false })
      fs[#fs + 1] = c:submit(function(x) return x * 2 end, i, opts { pure = false })
    end
    local d = c:scatter({ string.rep("z", 5000000) })[1]
    local r = c:gather(fs, 60)
    assert.same({ "8000001a", 2, "8000002b", 4, "8000003c", 6 }, r)
    assert.equal(5000000, #d:result(60))
  end)

  it("reports a result that cannot travel back", function()
    local f = c:submit(function() return coroutine.create(print) end, opts { key = "bad-result" })
    local ok, err = pcall(f.result, f, 10)
    assert.is_false(ok)
    assert.equal("bad-result", err.key)
    assert.matches("cannot ship the result of task 'bad-result'", err.message, 1, true)
    assert.matches("coroutine", err.message, 1, true)
  end)

  it("forgets the keys of a client that disconnects", function()
    local c2 = client(cl.address, { set_as_default = false })
    local f = c2:submit(function() return 1 end, opts { key = "orphan" })
    assert.equal(1, f:result(10))
    assert.same({ 1 }, { #c:who_has({ "orphan" })["orphan"] })
    c2:close()
    local deadline, wh = os.time() + 10
    repeat
      wh = c:who_has({ "orphan" })
      if #wh["orphan"] > 0 then nap(0.05) end
    until #wh["orphan"] == 0 or os.time() > deadline
    assert.same({}, wh["orphan"])
  end)

  it("lets garbage-collected futures go", function()
    do
      local f = c:submit(function() return 99 end, opts { key = "collect-me" })
      assert.equal(99, f:result(10))
    end
    collectgarbage()
    collectgarbage()
    c:_flush_releases()
    local deadline, wh = os.time() + 10
    repeat
      wh = c:who_has({ "collect-me" })
      if #wh["collect-me"] > 0 then nap(0.05); collectgarbage(); c:_flush_releases() end
    until #wh["collect-me"] == 0 or os.time() > deadline
    assert.same({}, wh["collect-me"])
  end)

  it("batches messages that are ready at once into one write", function()
    local before = c:scheduler_info()
    local seq = {}
    for i = 1, 2000 do seq[i] = i end
    c:gather(c:map(function(x) return -x end, seq), 20)
    local after = c:scheduler_info()
    local msgs = after.messages_sent - before.messages_sent
    local writes = after.writes - before.writes
    local tasks = after.tasks_sent - before.tasks_sent
    local batches = after.compute_batches - before.compute_batches
    assert.is_true(tasks >= 2000, "tasks sent: " .. tasks)
    -- tasks placed together go as one compute-tasks message
    assert.is_true(batches * 4 < tasks, ("%d compute-tasks for %d tasks"):format(batches, tasks))
    assert.is_true(msgs < tasks, ("%d messages for %d tasks"):format(msgs, tasks))
    assert.is_true(writes <= msgs, ("%d writes for %d messages"):format(writes, msgs))
  end)

  it("computes ldask.array and ldask.bag collections through the client", function()
    local da = require "ldask.array"
    local x = da.ones({ 2000, 2000 }, { chunks = { 500, 500 } })
    assert.equal(4000000, c:compute(x:sum()):result(60))
    local m = c:compute((x + 1):mean(0)):result(60)
    assert.equal(2000, m.shape[1])
    assert.equal(2, m:max():item())
    local bag = require "ldask.bag"
    local b = bag.from_sequence({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, { npartitions = 3 })
    assert.equal(110, c:compute(b:map(function(v) return v * 2 end):sum()):result(30))
    local p = c:persist(x:sum())
    assert.equal(4000000, c:compute(p):result(30))
  end)

  it("tells a task which worker runs it", function()
    local w = c:submit(function() return require("ldask.client").get_worker() end,
      opts { workers = "local-2", pure = false }):result(10)
    assert.equal("local-2", w.name)
    assert.matches("^tcp://127%.0%.0%.1:%d+$", w.address)
    assert.equal(1, w.nthreads)
    assert.has_error(function() client.get_worker() end,
      "ldask.client.get_worker: not running in a task on an ldask-worker")
  end)

  it("refuses bad arguments with messages naming them", function()
    assert.has_error(function() c:submit(42) end, "Client:submit: expected a function, got number")
    assert.has_error(function() c:map(print, 3) end, "Client:map: expected a list to map over, got number")
    assert.same({ 1 }, c:gather({ 1 })) -- as dask: what is not a future passes through
    assert.has_error(function() c:submit(print, opts { retries = -1 }) end,
      "Client:submit: retries must be an integer >= 0, got -1")
    local co = coroutine.create(function() end)
    local ok, err = pcall(c.submit, c, function() return co end)
    assert.is_false(ok)
    assert.matches("cannot ship the function of a task", err, 1, true)
    assert.matches("upvalue 'co' is a coroutine", err, 1, true)
    ok, err = pcall(c.submit, c, print, co)
    assert.is_false(ok)
    assert.matches("cannot ship task", err, 1, true)
  end)
end)

describe("distributed ldask when workers come and go", function()
  it("returns the right result when a worker is killed with SIGKILL mid-computation", function()
    with_cluster(2, function(cl, c)
      local seq = {}
      for i = 1, 60 do seq[i] = i end
      local fs = c:map(function(x) require("socket").sleep(0.02) return x * 10 end, seq)
      local total = c:submit(function(...) local s = 0 for _, v in ipairs({ ... }) do s = s + v end return s end, unpack(fs))
      -- let some tasks finish on both workers, then kill one
      local deadline = os.time() + 10
      local done = 0
      repeat
        done = 0
        for _, f in ipairs(fs) do if f:status() == "finished" then done = done + 1 end end
        if done < 10 then nap(0.02) end
      until done >= 10 or os.time() > deadline
      cl:kill_worker(1, "KILL")
      assert.equal(18300, total:result(30))
      local r = c:gather(fs, 30)
      for i = 1, 60 do assert.equal(i * 10, r[i]) end
      assert.equal(1, #c:scheduler_info().workers)
    end, { nanny = false }) -- (a nanny would restart it: spec/functional/faults_spec.lua)
  end)

  it("computes a random graph right while workers die and join", function()
    with_cluster(3, function(cl, c)
      math.randomseed(11)
      local g, expect = {}, {}
      local n = 1500
      local function f(...)
        local s = 1
        for i = 1, select("#", ...) do s = (s + select(i, ...)) % 1000003 end
        require("socket").sleep(0.0005)
        return s
      end
      for i = 1, n do
        local t, v = { f }, 1
        for _ = 1, (i > 1 and math.random(0, 4) or 0) do
          local j = math.random(math.max(1, i - 100), i - 1)
          t[#t + 1] = "t" .. j
          v = (v + expect["t" .. j]) % 1000003
        end
        g["t" .. i], expect["t" .. i] = t, v
      end
      local outs = {}
      for i = n - 30, n do outs[#outs + 1] = "t" .. i end
      local fs = c:_submit_graph(g, outs, {}, 1) -- uncull'd: unneeded tasks are dropped too
      nap(0.2)
      cl:kill_worker(1, "KILL")
      cl:add_worker(2)
      nap(0.2)
      cl:kill_worker(2, "KILL")
      local r = c:gather(fs, 60)
      for i, k in ipairs(outs) do assert.equal(expect[k], r[i]) end
    end, { threads_per_worker = 2 })
  end)

  it("stays right through a random mix of submits, scatters, failures, cancels, releases and deaths", function()
    with_cluster(3, function(cl, c)
      math.randomseed(16)
      local futs, vals, n, killed = {}, {}, 0, 0
      local function push(f, v) n = n + 1; futs[n] = f; vals[n] = v end
      local function add(a, b) require("socket").sleep(0.001) return a + b end
      local function fail(a) error("nope " .. a) end
      for step = 1, 400 do
        local r = math.random()
        if r < 0.5 or n < 2 then
          local x = math.random(1, 100)
          push(c:submit(add, x, 1, opts { pure = false }), x + 1)
        elseif r < 0.75 then
          local i, j = math.random(n), math.random(n)
          if type(vals[i]) == "number" and type(vals[j]) == "number" then
            push(c:submit(add, futs[i], futs[j], opts { pure = false, priority = math.random(0, 3) }), vals[i] + vals[j])
          end
        elseif r < 0.8 then
          push(c:scatter({ step })[1], step)
        elseif r < 0.85 then
          local i = math.random(n)
          if futs[i] then push(c:submit(fail, futs[i], opts { pure = false, retries = 1 }), false) end
        elseif r < 0.9 then
          local i = math.random(n)
          if futs[i] and type(vals[i]) == "number" then futs[i]:release(); futs[i], vals[i] = nil, nil end
        elseif r < 0.93 then
          local i = math.random(n)
          if futs[i] and type(vals[i]) == "number" then futs[i]:cancel(); vals[i] = { vals[i] } end
        else
          collectgarbage()
        end
        if step == 150 or step == 300 then
          killed = killed + 1
          cl:kill_worker(killed, "KILL")
          cl:add_worker(2)
        end
      end
      local right = 0
      for i = 1, n do
        local f, v = futs[i], vals[i]
        if f then
          local ok, res = pcall(f.result, f, 30)
          if type(v) == "table" then
            assert.is_true(not ok or res == v[1])
          elseif v == false then
            assert.is_false(ok)
          elseif ok then
            assert.equal(v, res)
            right = right + 1
          else
            -- only data lost for good (scattered inputs on a killed worker)
            -- or a cancelled input may stop a computation
            local m = tostring(res.message or res)
            assert.is_truthy(m:find("lost", 1, true) or m:find("cancelled", 1, true), m)
          end
        end
      end
      assert.is_true(right > n / 2, right .. " of " .. n .. " right")
    end, { threads_per_worker = 2 })
  end)

  it("gives work to a worker that joins during a computation", function()
    with_cluster(1, function(cl, c)
      local seq = {}
      for i = 1, 60 do seq[i] = i end
      local fs = c:map(function(x) require("socket").sleep(0.03) return x end, seq)
      cl:add_worker()
      c:wait_for_workers(2, 20)
      local r = c:gather(fs, 30)
      assert.equal(60, #r)
      local executed, deadline = {}, os.time() + 10
      repeat
        for _, w in ipairs(c:scheduler_info().workers) do executed[w.name] = w.executed end
        if (executed["local-2"] or 0) == 0 then nap(0.1) end
      until (executed["local-2"] or 0) > 0 or os.time() > deadline
      assert.is_true((executed["local-2"] or 0) > 0, "the new worker ran nothing")
    end)
  end)

  it("removes a worker whose heartbeats stop and reruns its tasks elsewhere", function()
    with_cluster(2, function(cl, c)
      local f = c:submit(function() require("socket").sleep(0.5) return "done" end,
        opts { workers = { "local-1", "local-2" }, pure = false })
      -- find where it runs, freeze that worker
      local frozen, deadline = nil, os.time() + 10
      repeat
        for _, w in ipairs(c:scheduler_info().workers) do
          if w.processing > 0 then frozen = tonumber(w.name:match("%d+$")) end
        end
        if not frozen then nap(0.01) end
      until frozen or os.time() > deadline
      assert.is_not_nil(frozen, "the task never started")
      cl:kill_worker(frozen, "STOP")
      local ok, r = pcall(f.result, f, 20)
      local log = cl:log() or ""
      cl:kill_worker(frozen, "CONT")
      assert.is_true(ok, tostring(r))
      assert.equal("done", r)
      assert.matches("local%-" .. frozen .. " %(tcp://[%d.:]+%) removed: no heartbeat for [%d.]+ s", log)
    end, { scheduler_args = "--worker-ttl 1" })
  end)

  it("gives no new input tasks to a worker over its --memory-limit", function()
    with_cluster(1, function(cl, c)
      -- the result must stay in RAM (a worker that can spill it keeps
      -- taking work): a spill directory that cannot be created
      local p = io.popen("id -u")
      local id = p:read("*l")
      p:close()
      local local_dir = helpers.tmpdir() .. "/readonly"
      if id == "0" then
        local_dir = "/sys" -- root ignores permissions; sysfs refuses new directories
      else
        os.execute("mkdir -p " .. local_dir .. " && chmod 555 " .. local_dir)
      end
      cl:add_worker(1, "--memory-limit 1MB --local-directory " .. local_dir)
      c:wait_for_workers(2, 20)
      local big = c:submit(function() return string.rep("x", 2000000) end, opts { workers = "local-2" })
      assert.equal(2000000, #big:result(10))
      local seq = {}
      for i = 1, 40 do seq[i] = i end
      c:gather(c:map(function(x) require("socket").sleep(0.002) return x end, seq), 20)
      local executed, deadline = {}, os.time() + 10
      repeat
        for _, w in ipairs(c:scheduler_info().workers) do executed[w.name] = w.executed end
        if (executed["local-1"] or 0) < 40 then nap(0.1) end
      until (executed["local-1"] or 0) >= 40 or os.time() > deadline
      assert.equal(40, executed["local-1"])
      assert.is_true((executed["local-2"] or 0) <= 1) -- at most the big one
      big:release()
    end)
  end)

  it("runs higher-priority tasks first", function()
    with_cluster(1, function(cl, c)
      local blocker = c:submit(function() require("socket").sleep(0.3) return 0 end, opts { pure = false })
      local function stamp(x) return { x, require("socket").gettime() } end
      local low = c:map(stamp, { 1, 2, 3, 4, 5 }, opts { pure = false })
      local high = c:submit(stamp, 6, opts { pure = false, priority = 10 })
      local lows = c:gather(low, 20)
      local h = high:result(20)
      blocker:result(20)
      for _, l in ipairs(lows) do assert.is_true(h[2] <= l[2], "the high-priority task ran after a low one") end
    end, { scheduler_args = "--worker-saturation 0.5" }) -- one task at a time on the worker
  end)

  it("reports scattered data lost with its worker as lost", function()
    with_cluster(2, function(cl, c)
      local d = c:scatter({ 5 }, { workers = "local-1" })[1]
      assert.equal(5, d:result(10))
      local user = c:submit(function(x) return x end, d, opts { pure = false })
      assert.equal(5, user:result(10))
      cl:kill_worker(1, "KILL")
      local deadline = os.time() + 15
      while d:status() ~= "lost" and os.time() < deadline do nap(0.05) end
      assert.equal("lost", d:status())
      assert.equal(5, d:result(5)) -- fetched before: still available here
      local again = c:submit(function(x) return x end, d, opts { pure = false })
      local ok, err = pcall(again.result, again, 5)
      assert.is_false(ok)
      assert.matches("was lost with its worker and cannot be recomputed", err.message, 1, true)
      assert.equal("lost", d:exception(1) and "lost")
    end)
  end)

  it("fails a task that was running on three workers that died", function()
    with_cluster(3, function(cl, c)
      local f = c:submit(function() os.exit(3) end, opts { key = "killer" })
      local ok, err = pcall(f.result, f, 30)
      assert.is_false(ok)
      assert.equal("killer", err.key)
      assert.matches("task 'killer' was running on 3 workers that died", err.message, 1, true)
    end)
  end)
end)

describe("the distributed programs", function()
  local bin = helpers.bin .. "/"

  it("ldask-scheduler prints its address, writes the scheduler file and refuses bad options", function()
    local out = io.popen(bin .. "ldask-scheduler --port nope 2>&1; echo rc=$?"):read("*a")
    assert.matches("--port expects a number in 0..65535, got 'nope'", out, 1, true)
    assert.matches("rc=2", out, 1, true)
    out = io.popen(bin .. "ldask-worker 2>&1; echo rc=$?"):read("*a")
    assert.matches("needs the scheduler's address", out, 1, true)
    out = io.popen(bin .. "ldask-worker tcp://nowhere:1 2>&1; echo rc=$?"):read("*a")
    assert.matches("host 'nowhere' is not a numeric IPv4 address", out, 1, true)
  end)

  it("refuses a client of another protocol version, naming both versions", function()
    local ffi = require "ffi"
    require "ldask.ffi.net"
    local lib = require "ldask.native"
    with_cluster(0, function(cl)
      lib.ld_net_set_identity(99, "9.9.9")
      local ok, err = pcall(client, cl.address, { set_as_default = false })
      lib.ld_net_set_identity(2, "0.1.0")
      assert.is_false(ok)
      assert.matches("version mismatch", err, 1, true)
      assert.matches("9.9.9 (protocol 99)", err, 1, true)
      assert.matches("0.1.0 (protocol 2)", err, 1, true)
    end)
  end)

  it("the scheduler survives garbage, truncated messages and unknown ops", function()
    local socket = require "socket"
    local mp = require "ldask.client.mp"
    local function frame(h)
      local n = #h
      local len = {}
      for i = 0, 7 do len[#len + 1] = string.char(math.floor(n / 2 ^ (8 * i)) % 256) end
      return "\1\0\0\0" .. table.concat(len) .. h
    end
    local function read_error(sock)
      sock:settimeout(5)
      local data = {}
      while true do
        local chunk, err, partial = sock:receive(4096)
        local got = chunk or partial
        if got and #got > 0 then data[#data + 1] = got end
        if not chunk then break end
      end
      return table.concat(data)
    end
    with_cluster(1, function(cl, c)
      local host, port = cl.address:match("tcp://([^:]+):(%d+)")
      -- a frame count out of range
      local s1 = assert(socket.connect(host, tonumber(port)))
      s1:send("\255\255\255\255")
      assert.matches("frame count 4294967295 not in 1..8 (before its handshake", read_error(s1), 1, true)
      s1:close()
      -- a header that is not msgpack
      local s2 = assert(socket.connect(host, tonumber(port)))
      s2:send(frame("\193\193"))
      assert.matches("bad message header", read_error(s2), 1, true)
      s2:close()
      -- a proper hello, then an unknown op, then a truncated message
      local s3 = assert(socket.connect(host, tonumber(port)))
      s3:send(frame(mp.encode({ op = "hello", protocol = 2, version = "0.1.0", role = "client" })))
      s3:send(frame(mp.encode({ op = "frobnicate" })))
      s3:send("\2\0\0\0\9")
      s3:settimeout(0.5)
      local got = {}
      repeat
        local chunk, err, partial = s3:receive(4096)
        got[#got + 1] = chunk or partial or ""
      until not chunk
      assert.matches("unknown op 'frobnicate' from a client", table.concat(got), 1, true)
      s3:close()
      -- the cluster still works
      assert.equal(3, c:submit(function() return 3 end):result(10))
    end, { auth = false }) -- no token: this spec speaks the wire itself
  end)

  it("gives tasks the worker's --local-directory", function()
    with_cluster(0, function(cl, c)
      local dir = helpers.tmpdir() .. "/scratch"
      cl:add_worker(1, "--local-directory " .. dir)
      c:wait_for_workers(1, 20)
      local where = c:submit(function()
        local d = require("ldask.client").get_worker().local_directory
        local f = assert(io.open(d .. "/note.txt", "w")); f:write("hi"); f:close()
        return d
      end):result(10)
      assert.matches("/scratch$", where)
      assert.equal("hi", io.open(dir .. "/note.txt"):read("*a"))
    end)
  end)

  it("refuses a second worker of the same name, and bad worker options", function()
    with_cluster(1, function(cl)
      local out = io.popen(bin .. "ldask-worker " .. cl.address .. " --auth-token-file " .. cl.token_file ..
        " --name local-1 --death-timeout 2 2>&1; echo rc=$?"):read("*a")
      assert.matches("a worker named 'local-1' is already registered", out, 1, true)
      assert.matches("rc=1", out, 1, true)
    end)
    local out = io.popen(bin .. "ldask-worker tcp://127.0.0.1:1 --nthreads 0 2>&1; echo rc=$?"):read("*a")
    assert.matches("--nthreads expects an integer in 1..1024, got '0'", out, 1, true)
    out = io.popen(bin .. "ldask-worker tcp://127.0.0.1:1 --memory-limit lots 2>&1; echo rc=$?"):read("*a")
    assert.matches("--memory-limit expects a size like 4GiB or 2e9, got 'lots'", out, 1, true)
    assert.matches("rc=2", out, 1, true)
  end)

  it("a worker finds the scheduler through --scheduler-file", function()
    local cl = cluster_mod.start({ n_workers = 0 })
    local pid = io.popen("sh -c '" .. bin .. "ldask-worker --scheduler-file " .. cl.dir ..
      "/scheduler.json --auth-token-file " .. cl.token_file .. " --name by-file > /dev/null 2>&1 & echo $!'"):read("*l")
    local c = client({ scheduler_file = cl.dir .. "/scheduler.json", set_as_default = false })
    local ok, err = pcall(function()
      local info = c:wait_for_workers(1, 20)
      assert.equal("by-file", info.workers[1].name)
      assert.equal(4, c:submit(function() return 2 + 2 end):result(10))
    end)
    c:close()
    os.execute("kill " .. pid)
    cl:stop()
    assert.is_true(ok, err)
  end)

  it("raises in a waiting client when the scheduler goes away", function()
    with_cluster(1, function(cl, c)
      local f = c:submit(function() require("socket").sleep(5) return 1 end, opts { pure = false })
      os.execute("kill -KILL " .. cl.scheduler_pid)
      local ok, err = pcall(f.result, f, 10)
      assert.is_false(ok)
      assert.matches("lost the connection to the scheduler at " .. cl.address, err, 1, true)
      assert.has_error(function() c:submit(print) end)
    end)
  end)

  it("reports a scheduler that is not there", function()
    local ok, err = pcall(client, "tcp://127.0.0.1:1", { set_as_default = false, timeout = 5 })
    assert.is_false(ok)
    assert.matches("cannot connect to the scheduler at tcp://127.0.0.1:1", err, 1, true)
    assert.matches("connection refused", err, 1, true)
  end)

  it("a worker exits cleanly once the scheduler has been gone for --death-timeout", function()
    local cl = cluster_mod.start({ n_workers = 0 })
    local dir = helpers.tmpdir()
    local p = io.popen("sh -c '" .. bin .. "ldask-worker " .. cl.address ..
      " --auth-token-file " .. cl.token_file .. " --death-timeout 1 > " .. dir .. "/dt.log 2>&1; echo $? > " .. dir .. "/dt.rc' & echo $!")
    p:read("*l")
    p:close()
    local c = client(cl.address, { set_as_default = false })
    local ok, err = pcall(c.wait_for_workers, c, 1, 20)
    c:close()
    os.execute("kill -KILL " .. cl.scheduler_pid) -- gone without a word to its workers
    cl:stop()
    assert.is_true(ok, err)
    local rc, deadline = nil, os.time() + 15
    repeat
      local f = io.open(dir .. "/dt.rc")
      if f then rc = f:read("*l"); f:close() end
      if not rc then nap(0.1) end
    until rc or os.time() > deadline
    assert.equal("0", rc)
    local log = io.open(dir .. "/dt.log"):read("*a")
    assert.matches("death timeout 1.0 s", log, 1, true)
  end)

  it("keeps the REPL responsive while futures complete in the background", function()
    local cl = cluster_mod.start({ n_workers = 1 })
    local ok, err = pcall(function()
      local input = helpers.write_tmp("dist_repl.txt", table.concat({
        "f = c:submit(function() require('socket').sleep(1) return 7 end)",
        "print('status ' .. f:status())",
        "print('still here ' .. (6 * 7))",
        "require('socket').sleep(2)",
        "print('later ' .. f:status())",
        "print('result ' .. f:result(10))",
        "f",
        "os.exit(0)", -- a ^D typed while a line runs can be lost by the terminal
        "",
      }, "\n"))
      local code = "c = require('ldask.client')('" .. cl.address .. "', {auth_token_file = '" ..
        cl.token_file .. "'})"
      local cmd = string.format("HOME=%s timeout 60 script -qfec %s /dev/null < %s 2>&1", helpers.tmpdir(),
        helpers.shell_quote(helpers.ldask .. " -i -e " .. helpers.shell_quote(code)), input)
      local p = io.popen(cmd)
      local out = p:read("*a"); p:close()
      assert.matches("status pending", out, 1, true)
      assert.matches("still here 42", out, 1, true)
      assert.matches("later finished", out, 1, true)
      assert.matches("result 7", out, 1, true)
      assert.matches("<Future [^>]+ finished>", out)
    end)
    cl:stop()
    if not ok then error(err, 0) end
  end)
end)
