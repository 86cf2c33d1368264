-- Functional specs of shared clusters (docs/distributed.md, "Shared
-- clusters"): published datasets that outlive their client, the
-- coordination primitives held by the scheduler (Variable, Queue, Lock,
-- Semaphore, Event) from clients and from tasks, fire_and_forget, and tasks
-- that launch tasks (get_client, worker_client, secede, rejoin) on real
-- ldask-scheduler and ldask-worker processes on 127.0.0.1. Every cluster is
-- stopped at the end of its block, also on failure.
local ldask = require "ldask"
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"
local A = require "ldask.array"
local bag = require "ldask.bag"
local helpers = require "helpers"

local THIS = "shared_cluster_spec.lua:%d+:"

local function new_client(cl) return client(cl.address, { set_as_default = false }) end

describe("shared clusters", function()
  local cl, c
  setup(function()
    cl = cluster_mod.start({ n_workers = 2, threads_per_worker = 1 })
    c = new_client(cl)
    c:wait_for_workers(2, 20)
  end)
  teardown(function()
    if c then pcall(c.close, c) end
    if cl then cl:stop() end
  end)

  describe("published datasets", function()
    it("outlive the client that published them and are shared by every client", function()
      local pub = new_client(cl)
      local f = pub:submit(function(x) return x * 2 end, 21)
      local a = A.arange(100, { chunks = 10 }) * 3
      local b = bag.from_sequence({ 1, 2, 3, 4, 5, 6 }, { npartitions = 3 }):map(function(x) return x * x end)
      pub:publish_dataset("sh-answer", f)
      pub:publish_dataset{ ["sh-arr"] = a, ["sh-bag"] = b, ["sh-list"] = { f, 7, nested = { f } } }
      pub:close() -- its futures are gone: the scheduler keeps the data
      collectgarbage(); collectgarbage()
      local names = c:list_datasets()
      for _, n in ipairs({ "sh-answer", "sh-arr", "sh-bag", "sh-list" }) do
        local found = false
        for _, m in ipairs(names) do found = found or m == n end
        assert.is_true(found, n .. " is listed")
      end
      assert.equal(42, c:get_dataset("sh-answer"):result(10))
      local l = c:get_dataset("sh-list")
      assert.equal(42, l[1]:result(10))
      assert.equal(7, l[2])
      assert.equal(42, l.nested[1]:result(10))
      -- the same kind of collection, backed by futures: no recomputation
      local a2 = c:get_dataset("sh-arr")
      assert.is_true(A.is_array(a2))
      assert.same({ 100 }, a2.shape)
      assert.equal(3 * 4950, a2:sum():compute())
      local b2 = c:get_dataset("sh-bag")
      assert.is_true(bag.is_bag(b2))
      assert.same({ 1, 4, 9, 16, 25, 36 }, b2:compute())
      -- a third client sees them too
      local other = new_client(cl)
      assert.equal(42, other:get_dataset("sh-answer"):result(10))
      other:close()
      for _, n in ipairs({ "sh-answer", "sh-arr", "sh-bag", "sh-list" }) do c:unpublish_dataset(n) end
    end)

    it("lets the data go once unpublished and no client holds it", function()
      local pub = new_client(cl)
      local f = pub:submit(function() return "kept" end)
      local key = f.key
      assert.equal("kept", f:result(10))
      pub:publish_dataset("sh-gone", f)
      f:release()
      pub:close()
      assert.equal("memory", c:task_info(key).state)
      c:unpublish_dataset("sh-gone")
      helpers.eventually(function() return c:task_info(key).state == "forgotten" end, 10)
      assert.equal("forgotten", c:task_info(key).state)
    end)

    it("raises clear errors at the caller's line", function()
      local f = c:submit(function() return 1 end)
      c:publish_dataset("sh-dup", f)
      local ok, err = pcall(c.publish_dataset, c, "sh-dup", f)
      assert.is_false(ok)
      assert.matches("already published", err)
      c:publish_dataset("sh-dup", 5, { override = true })
      assert.equal(5, c:get_dataset("sh-dup"))
      c:unpublish_dataset("sh-dup")
      ok, err = pcall(function() local _ = c:get_dataset("sh-none") end)
      assert.is_false(ok)
      assert.matches(THIS .. " Client:get_dataset: no dataset named 'sh%-none' is published", err)
      ok, err = pcall(function() c:unpublish_dataset("sh-none") end)
      assert.matches(THIS .. ".*no dataset named", err)
      ok, err = pcall(function() c:publish_dataset("", 1) end)
      assert.matches(THIS .. ".*non%-empty string", err)
      ok, err = pcall(function() c:publish_dataset("sh-c", { c }) end)
      assert.matches("a Client cannot be stored", err)
      -- get_dataset with a timeout waits for the publication
      assert.has_error(function() c:get_dataset("sh-late", { timeout = 0.2 }) end)
    end)
  end)

  describe("coordination primitives", function()
    it("Variable: set, get (waiting), futures kept alive, delete", function()
      local v = ldask.Variable("sh-v", c)
      v:set({ 1, 2, 3 })
      assert.same({ 1, 2, 3 }, v:get())
      local f = c:submit(function() return 99 end)
      v:set(f)
      f:release()
      collectgarbage()
      assert.equal(99, v:get():result(10))
      v:delete()
      local ok, err = pcall(function() local _ = v:get{ timeout = 0.1 } end)
      assert.is_false(ok)
      assert.matches(THIS .. " Variable:get: timed out", err)
      -- a task sets it; the client's get waits for it
      c:submit(function()
        require("socket").sleep(0.3)
        require("ldask").Variable("sh-v"):set("from a task")
      end)
      assert.equal("from a task", v:get{ timeout = 20 })
      v:delete()
    end)

    it("Queue: FIFO, maxsize, timeouts, batch, qsize, from tasks", function()
      local q = ldask.Queue("sh-q", { maxsize = 3, client = c })
      for i = 1, 3 do q:put(i) end
      assert.equal(3, q:qsize())
      local ok, err = pcall(function() q:put(4, { timeout = 0.1 }) end)
      assert.is_false(ok)
      assert.matches(THIS .. " Queue:put: timed out .* full", err)
      assert.equal(1, q:get())
      assert.same({ 2, 3 }, q:get{ batch = true })
      assert.same({}, q:get{ batch = true })
      ok, err = pcall(function() q:get{ timeout = 0.1 } end)
      assert.matches(THIS .. " Queue:get: timed out .* empty", err)
      local fs = c:map(function(i)
        local ldask = require "ldask"
        ldask.Queue("sh-q"):put(i * 10, { timeout = 20 })
        return i
      end, { 1, 2, 3, 4, 5 })
      local got = q:get{ batch = 5, timeout = 20 }
      table.sort(got)
      assert.same({ 10, 20, 30, 40, 50 }, got)
      c:gather(fs, 20)
      -- futures travel through the queue
      local f = c:submit(function() return "through" end)
      q:put(f)
      f:release()
      collectgarbage()
      assert.equal("through", q:get():result(10))
      assert.has_error(function() ldask.Queue("sh-q", { maxsize = -1 }) end)
    end)

    it("Lock: one holder at a time, tasks wait for it, released when its holder's connection closes", function()
      local l = ldask.Lock("sh-lock", c)
      assert.is_true(l:acquire())
      assert.is_true(l:locked())
      assert.is_false(ldask.Lock("sh-lock", c):acquire{ timeout = 0.1 })
      assert.is_false(ldask.Lock("sh-lock", c):acquire{ blocking = false })
      -- two tasks increment a counter in a Variable under the lock
      ldask.Variable("sh-count", c):set(0)
      local fs = c:map(function(i)
        local ldask = require "ldask"
        local lk = ldask.Lock("sh-lock")
        assert(lk:acquire{ timeout = 30 })
        local v = ldask.Variable("sh-count")
        local n = v:get()
        require("socket").sleep(0.05)
        v:set(n + 1)
        lk:release()
        return i
      end, { 1, 2, 3, 4 })
      require("socket").sleep(0.3)
      assert.equal(0, ldask.Variable("sh-count", c):get()) -- they wait for us
      l:release()
      c:gather(fs, 30)
      assert.equal(4, ldask.Variable("sh-count", c):get())
      ldask.Variable("sh-count", c):delete()
      local ok, err = pcall(function() l:release() end)
      assert.matches(THIS .. " Lock:release: .*release without acquire", err)
      -- a holder that goes away gives the lock back
      local holder = new_client(cl)
      assert.is_true(ldask.Lock("sh-lock2", holder):acquire())
      assert.is_true(ldask.Lock("sh-lock2", c):locked())
      holder:close()
      assert.is_true(ldask.Lock("sh-lock2", c):acquire{ timeout = 10 })
    end)

    it("Semaphore: at most max_leases holders", function()
      local s = ldask.Semaphore{ max_leases = 2, name = "sh-sem", client = c }
      assert.is_true(s:acquire())
      assert.is_true(s:acquire())
      assert.is_false(s:acquire{ timeout = 0.1 })
      assert.equal(2, s:get_value())
      s:release()
      assert.equal(1, s:get_value())
      assert.is_true(s:acquire{ timeout = 1 })
      s:release(); s:release()
      assert.equal(0, s:get_value())
      local ok, err = pcall(function() s:release() end)
      assert.matches(THIS .. " Semaphore:release: .*release without acquire", err)
      ok, err = pcall(function() ldask.Semaphore{ max_leases = 0 } end)
      assert.matches(THIS .. " ldask.Semaphore: max_leases", err)
    end)

    it("Event: set, clear, wait with a timeout, from tasks", function()
      local e = ldask.Event("sh-ev", c)
      assert.is_false(e:is_set())
      assert.is_false(e:wait{ timeout = 0.1 })
      local f = c:submit(function()
        local ldask = require "ldask"
        return ldask.Event("sh-ev"):wait{ timeout = 30 }
      end)
      require("socket").sleep(0.2)
      assert.equal("pending", f:status())
      e:set()
      assert.is_true(f:result(30))
      assert.is_true(e:wait{ timeout = 1 })
      e:clear()
      assert.is_false(e:is_set())
    end)

    it("fire_and_forget: released futures still run", function()
      local f = c:submit(function()
        require("socket").sleep(0.3)
        require("ldask").Event("sh-fired"):set()
      end)
      local key = f.key
      ldask.fire_and_forget(f)
      f:release()
      collectgarbage(); collectgarbage()
      assert.is_true(ldask.Event("sh-fired", c):wait{ timeout = 20 })
      helpers.eventually(function() return c:task_info(key).state == "forgotten" end, 10)
      assert.has_error(function() ldask.fire_and_forget({ 1 }) end)
    end)
  end)
end)

describe("admin ops", function()
  local cl, c
  setup(function()
    cl = cluster_mod.start({ n_workers = 2, threads_per_worker = 1 })
    c = new_client(cl)
    c:wait_for_workers(2, 20)
  end)
  teardown(function()
    if c then pcall(c.close, c) end
    if cl then cl:stop() end
  end)

  it("get_versions reports the client, the scheduler and every worker, and check = true passes", function()
    local v = c:get_versions{ check = true }
    assert.equal(ldask.version, v.client.ldask)
    assert.equal(ldask.version, v.scheduler.ldask)
    assert.equal(jit.version, v.scheduler.luajit)
    assert.matches("^%d+%.%d+%.%d+", v.scheduler.libuv)
    assert.matches("OpenSSL", v.scheduler.openssl)
    assert.equal(v.client.libuv, v.scheduler.libuv)
    local n = 0
    for addr, w in pairs(v.workers) do
      n = n + 1
      assert.matches("^tcp://127%.0%.0%.1:", addr)
      assert.equal(ldask.version, w.ldask)
      assert.equal(v.scheduler.openssl, w.openssl)
    end
    assert.equal(2, n)
    -- a mismatch is named
    v.workers[next(v.workers)].libuv = "0.9.9"
    local msg = require("ldask.client.admin").mismatch(v)
    assert.matches("version mismatch for libuv: client, scheduler, worker .* 0%.9%.9", msg)
  end)

  it("rebalance moves results to the emptier worker; replicate copies them", function()
    local fs = c:map(function(i) return string.rep("x", 100000 + i) end, { 1, 2, 3, 4, 5, 6 },
      client.options{ workers = { "local-1" } })
    local vals = c:gather(fs, 30)
    local function per_worker()
      local wh, per = c:who_has(fs), {}
      for _, f in ipairs(fs) do
        for _, a in ipairs(wh[f.key]) do per[a] = (per[a] or 0) + 1 end
      end
      local counts = {}
      for _, n in pairs(per) do counts[#counts + 1] = n end
      table.sort(counts)
      return counts
    end
    assert.same({ 6 }, per_worker())
    assert.equal(3, c:rebalance(30))
    assert.same({ 3, 3 }, per_worker())
    assert.equal(0, c:scheduler_info().transfers_pending)
    -- the moved results are still right
    local again = c:gather(fs, 30)
    for i = 1, 6 do assert.equal(vals[i], again[i]) end
    assert.equal(6, c:replicate(fs))
    assert.same({ 6, 6 }, per_worker())
    local ok, err = pcall(function() c:replicate(fs, 0) end)
    assert.matches(THIS .. " Client:replicate: n must be", err)
  end)

  it("restart brings the workers back; the scheduler's shared objects stay", function()
    ldask.Variable("sh-restart", c):set("kept")
    local f = c:submit(function() return 1 end)
    f:result(10)
    assert.equal(2, c:restart(60))
    assert.equal("cancelled", f:status())
    assert.equal("kept", ldask.Variable("sh-restart", c):get{ timeout = 5 })
    assert.equal(3, c:submit(function() return 3 end):result(30))
  end)

  it("who_has names the holders of futures", function()
    local f = c:submit(function() return string.rep("x", 5000) end)
    f:result(10)
    local wh = c:who_has({ f })
    assert.equal(1, #wh[f.key])
    assert.matches("^tcp://", wh[f.key][1])
  end)
end)

describe("tasks that launch tasks", function()
  local cl, c
  setup(function()
    cl = cluster_mod.start({ n_workers = 2, threads_per_worker = 1 })
    c = new_client(cl)
    c:wait_for_workers(2, 20)
  end)
  teardown(function()
    if c then pcall(c.close, c) end
    if cl then cl:stop() end
  end)

  it("get_client in a task connects to the same cluster (one client per executor thread)", function()
    local r = c:submit(function()
      local ldask = require "ldask"
      local cl2 = ldask.get_client()
      return { cl2.address, cl2 == ldask.get_client() }
    end):result(30)
    assert.same({ cl.address, true }, r)
  end)

  it("computes fib(12) by tasks on one thread per worker (worker_client secedes)", function()
    local opts = client.options
    local function fib(n)
      if n < 2 then return n end
      return require("ldask").worker_client(function(cl2)
        local o = require("ldask.client").options{ pure = false } -- every call a task of its own
        local a, b = cl2:submit(fib, n - 1, o), cl2:submit(fib, n - 2, o)
        return a:result() + b:result()
      end)
    end
    assert.equal(144, c:submit(fib, 12, opts{ pure = false }):result(240))
    -- the extra threads are gone again: each worker counts one thread
    helpers.eventually(function()
      for _, w in ipairs(c:scheduler_info().workers) do if w.nthreads ~= 1 then return false end end
      return true
    end, 20)
    for _, w in ipairs(c:scheduler_info().workers) do assert.equal(1, w.nthreads) end
  end)

  it("secede and rejoin by hand; errors outside a task", function()
    local r = c:submit(function()
      local ldask = require "ldask"
      ldask.secede()
      local cl2 = ldask.get_client()
      local v = cl2:submit(function() return 5 end, require("ldask.client").options{ pure = false }):result(20)
      ldask.rejoin()
      local ok = pcall(ldask.rejoin)
      return { v, ok }
    end):result(30)
    assert.same({ 5, false }, r)
    local ok, err = pcall(function() ldask.secede() end)
    assert.matches(THIS .. " ldask.secede: not running in a task", err)
    ok, err = pcall(function() ldask.worker_client(5) end)
    assert.matches(THIS .. " ldask.worker_client: expected a function", err)
  end)
end)
