-- Functional specs of balance on a cluster (issue 17): abstract resources
-- (ldask-worker --resources, client.options{resources =}, ldask.annotate)
-- and work stealing, with real ldask-scheduler and ldask-worker processes
-- on 127.0.0.1. Tasks report where and when they ran (get_worker().name,
-- socket.gettime()), so the specs check placement and concurrency from
-- the results themselves.
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"
local helpers = require "helpers"
local ldask = require "ldask"
local socket = require "socket"

local opts = client.options

local with_cluster = helpers.with_cluster

-- A task: sleeps S seconds; returns {worker name, start, stop}.
local function stamp(_, s)
  local so = require "socket"
  local t0 = so.gettime()
  so.sleep(s)
  return { require("ldask.client").get_worker().name, t0, so.gettime() }
end

-- The largest number of the runs R ({name, t0, t1} each) under way at once.
local function max_overlap(r)
  local ev = {}
  for _, x in ipairs(r) do
    ev[#ev + 1] = { x[2], 1 }
    ev[#ev + 1] = { x[3], -1 }
  end
  table.sort(ev, function(a, b) if a[1] ~= b[1] then return a[1] < b[1] end return a[2] < b[2] end)
  local n, most = 0, 0
  for _, e in ipairs(ev) do n = n + e[2]; if n > most then most = n end end
  return most
end

local function names_of(r)
  local count = {}
  for _, x in ipairs(r) do count[x[1]] = (count[x[1]] or 0) + 1 end
  return count
end

describe("abstract resources", function()
  it("runs tasks needing a resource only where it is, as many at once as it allows", function()
    with_cluster(0, function(cl, c)
      cl:add_worker(2, "--resources 'GPU=1, MEM=8e9'") -- local-1
      cl:add_worker(2)                                 -- local-2
      c:wait_for_workers(2, 20)
      local info = c:scheduler_info()
      local res = {}
      for _, w in ipairs(info.workers) do res[w.name] = w.resources end
      assert.same({ GPU = 1, MEM = 8e9 }, res["local-1"])
      assert.same({}, res["local-2"])
      -- two threads, GPU = 1: one task at a time, on local-1 only
      local fs = c:map(stamp, { 1, 2, 3, 4 }, 0.25, opts { resources = { GPU = 1 }, pure = false })
      local r = c:gather(fs, 30)
      assert.same({ ["local-1"] = 4 }, names_of(r))
      assert.equal(1, max_overlap(r))
      -- GPU = 0.5: two at a time
      fs = c:map(stamp, { 1, 2, 3, 4 }, 0.4, opts { resources = { GPU = 0.5 }, pure = false })
      r = c:gather(fs, 30)
      assert.same({ ["local-1"] = 4 }, names_of(r))
      assert.equal(2, max_overlap(r))
      -- MEM counts as well: 5e9 + 5e9 > 8e9
      fs = c:map(stamp, { 1, 2 }, 0.3, opts { resources = { MEM = 5e9 }, pure = false })
      r = c:gather(fs, 30)
      assert.equal(1, max_overlap(r))
      -- tasks without resources still use both workers
      local names = names_of(c:gather(c:map(stamp, { 1, 2, 3, 4 }, 0.3, opts { pure = false }), 30))
      assert.is_truthy(names["local-1"] and names["local-2"])
      -- bad options raise at the caller, naming the argument
      assert.matches("Client:submit: resources: the amount of 'GPU' must be a number >= 0",
        helpers.err_of(function() c:submit(stamp, 1, 0, opts { resources = { GPU = -1 } }) end))
      assert.matches("Client:map: resources must be a table like {GPU = 1}, got string",
        helpers.err_of(function() c:map(stamp, { 1 }, 0, opts { resources = "GPU=1" }) end))
      assert.matches("Client:compute: resources: the name 1 must be a string",
        helpers.err_of(function() c:compute(ldask.delayed(print)(1), { resources = { 1 } }) end))
    end)
  end)

  it("holds a task whose resources no worker has until such a worker joins", function()
    with_cluster(1, function(cl, c)
      local f = c:submit(stamp, 1, 0, opts { resources = { TPU = 2 }, pure = false })
      helpers.eventually(function() return c:task_info(f).state == "no-worker" end, 10)
      local err = helpers.err_of(function() f:result(0.3) end)
      assert.matches("no%-worker state: it needs resources TPU=2", err)
      cl:add_worker(1, "--resources TPU=1") -- not enough
      c:wait_for_workers(2, 20)
      socket.sleep(0.3)
      assert.equal("no-worker", c:task_info(f).state)
      cl:add_worker(1, "--resources TPU=4")
      assert.equal("local-3", f:result(20)[1])
    end)
  end)

  it("carries resources through annotations and compute/persist options", function()
    with_cluster(0, function(cl, c)
      cl:add_worker(2, "--resources GPU=1")
      cl:add_worker(2)
      c:wait_for_workers(2, 20)
      local where = ldask.delayed(function(i) return stamp(i, 0.15) end, { pure = false })
      -- dask's `with dask.annotate(resources=...)`: made inside, annotated
      local gpu = ldask.annotate({ resources = { GPU = 1 } }, function()
        local out = {}
        for i = 1, 4 do out[i] = where(i) end
        return out
      end)
      local plain = {}
      for i = 1, 6 do plain[i] = where(100 + i) end
      local r = c:gather(c:compute(gpu), 30)
      assert.same({ ["local-1"] = 4 }, names_of(r))
      assert.equal(1, max_overlap(r))
      local names = names_of(c:gather(c:compute(plain), 30))
      assert.is_truthy(names["local-2"]) -- not annotated: anywhere
      -- a bag built inside annotate: every partition on local-1
      local b = ldask.annotate({ resources = { GPU = 1 } }, function()
        return ldask.bag.from_sequence({ 1, 2, 3, 4 }, { npartitions = 4 })
          :map(function(x) return require("ldask.client").get_worker().name .. ":" .. x end)
      end)
      for _, s in ipairs(c:compute(b):result(30)) do assert.matches("^local%-1:", s) end
      -- an array built inside annotate: every block held by local-1
      local arr = ldask.annotate({ resources = { GPU = 1 } }, function()
        return ldask.array.ones({ 8 }, { chunks = 2 }) + 1
      end)
      local pa = c:persist(arr)
      local futs = {}
      for _, v in pairs(pa:__ldask_graph()) do
        if require("ldask.client.future").is_future(v) then futs[#futs + 1] = v end
      end
      assert.equal(4, #futs)
      c:gather(futs, 30) -- finished first
      local addr1
      for _, w in ipairs(c:scheduler_info().workers) do if w.name == "local-1" then addr1 = w.address end end
      for _, holders in pairs(c:who_has(futs)) do assert.same({ addr1 }, holders) end
      -- the scheduler knows what each block needs
      for _, f in ipairs(futs) do assert.same({ GPU = 1 }, c:task_info(f).resources) end
      assert.same({}, c:task_info(c:persist(ldask.array.ones({ 4 }, { chunks = 2 })):__ldask_keys()[1]).resources)
      assert.equal(16, pa:sum():compute())
      -- compute and persist options
      local one = where(200)
      assert.equal("local-1", c:compute(one, opts { resources = { GPU = 1 } }):result(30)[1])
      local p = c:persist(where(300), opts { resources = { GPU = 1 } })
      assert.equal("local-1", p:compute()[1])
    end)
  end)

  it("refuses bad resources with errors naming the argument", function()
    local worker = helpers.bin .. "/ldask-worker"
    for spec, msg in pairs({
      ["GPU=-1"] = "%-%-resources: the amount of 'GPU' must be a number >= 0",
      ["GPU=two"] = "%-%-resources: the amount of 'GPU' must be a number >= 0",
      ["GPU"] = "%-%-resources: 'GPU' is not NAME=AMOUNT",
      ["=3"] = "%-%-resources: '=3' is not NAME=AMOUNT",
      ["GPU=1,GPU=2"] = "%-%-resources: 'GPU' is given twice",
    }) do
      local out, rc = helpers.sh(worker .. " tcp://127.0.0.1:1 --no-nanny --resources "
        .. helpers.shell_quote(spec) .. " 2>&1")
      assert.equal(2, rc)
      assert.matches(msg, out)
    end
    local out, rc = helpers.sh(worker .. " tcp://127.0.0.1:1 --resources 2>&1")
    assert.equal(2, rc)
    assert.matches("%-%-resources expects a list", out)
    assert.matches("ldask.annotate: resources must be a table",
      helpers.err_of(function() ldask.annotate({ resources = "GPU=1" }, function() end) end))
    assert.matches("ldask.annotate: resources: the amount of 'GPU' must be a number >= 0",
      helpers.err_of(function() ldask.annotate({ resources = { GPU = "x" } }, function() end) end))
    assert.matches("ldask.Client: resources: the amount of 'GPU'",
      helpers.err_of(function() cluster_mod.start({ n_workers = 0, resources = { GPU = -2 } }) end))
  end)
end)

describe("work stealing", function()
  -- N tasks of S seconds, each needing the small value X scattered to
  -- local-1: data locality puts them all there.
  local function pinned(c, n, s)
    local x = c:scatter("small", opts { workers = "local-1" })
    local seq = {}
    for i = 1, n do seq[i] = i end
    return c:map(function(i, v, d) return stamp(i .. v, d) end, seq, x, s, opts { pure = false })
  end

  it("moves queued tasks from a busy worker to an idle one", function()
    with_cluster(2, function(_, c)
      local t0 = socket.gettime()
      local r = c:gather(pinned(c, 8, 0.25), 30)
      local wall = socket.gettime() - t0
      local names = names_of(r)
      assert.is_truthy(names["local-2"])
      assert.is_true(names["local-2"] >= 2)
      assert.is_true(wall < 1.7, "wall " .. wall .. " s, not about half of 2 s")
      local info = c:scheduler_info()
      assert.equal(1, info.work_stealing)
      assert.is_true(info.steals_done >= 2)
    end)
  end)

  it("is off with work_stealing = false (--no-work-stealing): the tasks stay with their data", function()
    with_cluster(2, function(_, c)
      local r = c:gather(pinned(c, 6, 0.1), 30)
      assert.same({ ["local-1"] = 6 }, names_of(r))
      local info = c:scheduler_info()
      assert.equal(0, info.work_stealing)
      assert.equal(0, info.steals_asked)
    end, { work_stealing = false })
  end)

  it("keeps every result right through many steals on 3 workers", function()
    with_cluster(3, function(_, c)
      local x = c:scatter(7, opts { workers = "local-1" })
      local seq = {}
      for i = 1, 150 do seq[i] = i end
      -- 5 to 14 ms each (over the 5 ms floor), then a sum that needs them all
      local fs = c:map(function(i, v)
        require("socket").sleep(0.005 + (i % 10) * 0.001)
        return i * v
      end, seq, x, opts { pure = false })
      local total = c:submit(function(...)
        local s = 0
        for _, v in ipairs({ ... }) do s = s + v end
        return s
      end, unpack(fs))
      assert.equal(7 * 150 * 151 / 2, total:result(60))
      local r = c:gather(fs, 60)
      for i = 1, 150 do assert.equal(7 * i, r[i]) end
      local info = c:scheduler_info()
      assert.is_true(info.steals_done >= 10, "steals done " .. tostring(info.steals_done))
      local executed = 0
      for _, w in ipairs(info.workers) do executed = executed + w.executed end
      -- each task ran once (a steal never runs a task twice); heartbeats may lag
      assert.is_true(executed <= 151 + 6, "executed " .. executed)
    end)
  end)

  it("loses nothing when the victim refuses (the task was running)", function()
    with_cluster(2, function(_, c)
      local x = c:scatter("small", opts { workers = "local-1" })
      -- runs first on local-1; its low priority makes it the first steal
      -- candidate once others queue behind it, and it is refused
      local long = c:submit(function(v) return stamp(v, 1.0) end, x, opts { priority = -10, pure = false })
      socket.sleep(0.3)
      local seq = {}
      for i = 1, 6 do seq[i] = i end
      local fs = c:map(function(i, v) local r = stamp(v, 0.2); r[4] = i * 10; return r end, seq, x, opts { pure = false })
      local r = c:gather(fs, 30)
      for i = 1, 6 do assert.equal(i * 10, r[i][4]) end
      assert.equal("local-1", long:result(30)[1])
      assert.is_truthy(names_of(r)["local-2"])
      local info = c:scheduler_info()
      assert.is_true(info.steals_refused >= 1, "refused " .. tostring(info.steals_refused))
      assert.is_true(info.steals_done >= 1)
    end)
  end)

  it("refuses bad resources and steal-responses on the wire, and goes on", function()
    local wire = require "wire"
    helpers.with_cluster(1, function(_, c)
      local addr = c.address
      -- register-worker with a negative amount: refused and closed
      local s = wire.connect(addr, "worker")
      assert(s:send(wire.frame({ op = "register-worker", name = "bad", address = "tcp://127.0.0.1:9",
        nthreads = 1, memory_limit = 0, pid = 1, resources = { GPU = -1 } })))
      local err = wire.error_of(wire.drain(s, 5))
      s:close()
      assert.equal("register-worker: the amount of resource 'GPU' must be a finite number >= 0", err)
      -- a worker answering with a steal-response too long for any request
      s = wire.connect(addr, "worker")
      assert(s:send(wire.frame({ op = "register-worker", name = "liar", address = "tcp://127.0.0.1:9",
        nthreads = 1, memory_limit = 0, pid = 1 })))
      local keys, ok = {}, {}
      for i = 1, 1025 do keys[i] = "k" .. i; ok[i] = true end
      assert(s:send(wire.frame({ op = "steal-response", keys = keys, ok = ok })))
      assert(s:send(wire.frame({ op = "steal-response", keys = { "a" }, ok = { true, false } })))
      local got = wire.drain(s, 1)
      s:close()
      local errs = {}
      for _, h in ipairs(got) do if h.op == "error" then errs[#errs + 1] = h.message end end
      assert.equal(2, #errs)
      assert.matches("steal%-response: 'keys' and 'ok' must be arrays of the same length, at most 1024", errs[1])
      -- an update-graph with bad resources: refused whole, nothing created
      s = wire.connect(addr, "client")
      local h = require("ldask.client.mp").encode({ op = "update-graph", keys = { "r1" }, priority = { 0 },
        ndeps = { 0 }, resources = { GPU = -1 }, wanted = { "r1" } })
      local payload = "never decoded"
      assert(s:send(wire.le(2, 4) .. wire.le(#h, 8) .. wire.le(#payload, 8) .. h .. payload))
      err = wire.error_of(wire.drain(s, 1))
      s:close()
      assert.equal("update-graph: the amount of resource 'GPU' must be a finite number >= 0", err)
      assert.equal("forgotten", c:task_info("r1").state)
      -- a bad amount from a client's options: raised before sending
      assert.matches("resources", helpers.err_of(function()
        c:submit(function() return 1 end, client.options { resources = { GPU = 0 / 0 } })
      end))
      assert.equal(2, c:submit(function() return 2 end):result(20))
    end, { auth = false })
  end)
end)
