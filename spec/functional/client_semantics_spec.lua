-- dask's client semantics where the names are the same, on a real local
-- cluster (ldask-scheduler and ldask-worker processes on 127.0.0.1):
-- persist returning collections, compute/gather keeping nesting, map
-- zipping, scatter of keyed tables, cancel of finished futures, the error
-- of a failed dependency, the no-worker state, priorities, as_completed on
-- a lost connection, and a wait that holds the futures it waits on.
local ldask = require "ldask"
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"

local opts = client.options

local function value(v) -- a 0-d ndarray or a number, as a number
  if type(v) == "number" then return v end
  return v:totable()
end

describe("dask's client semantics on a local cluster", function()
  local c
  setup(function() c = ldask.Client({ n_workers = 2 }) end)
  teardown(function() if c then c:close() end end)

  it("persist returns the same kind of collection, backed by futures", function()
    local x = ldask.array.arange(10, { chunks = 3 })
    local b = ldask.bag.from_sequence({ 1, 2, 3, 4, 5 }, { npartitions = 2 })
    local d = ldask.delayed(function(a) return a * 2 end)(21)
    local px, pb, pd = c:persist(x, b, d)
    assert.equal(getmetatable(x), getmetatable(px))
    assert.equal(getmetatable(b), getmetatable(pb))
    assert.equal(getmetatable(d), getmetatable(pd))
    for _, v in pairs(px:__ldask_graph()) do assert.is_true(client.Future == getmetatable(v)) end
    assert.equal(45, value(px:sum():compute()))
    assert.same({ 2, 3, 4, 5, 6 }, pb:map(function(v) return v + 1 end):compute())
    assert.equal(43, (pd + 1):compute())
    -- top-level ldask.persist with the client open: the same
    local lx = ldask.persist(x * 2)
    assert.equal(getmetatable(x), getmetatable(lx))
    assert.equal(90, value(lx:sum():compute()))
    -- and on threads, the values held in the graph
    local tx = ldask.persist(x + 1, { scheduler = "threads" })
    assert.equal(55, value(tx:sum():compute({ scheduler = "threads" })))
  end)

  it("compute and gather keep the nesting of lists and keyed tables", function()
    local x = ldask.array.arange(10, { chunks = 3 })
    local d = ldask.delayed(function(a) return a + 1 end)(1)
    local r = ldask.compute({ x:sum(), { d, k = d * 10 } })
    assert.equal(45, value(r[1]))
    assert.equal(2, r[2][1])
    assert.equal(20, r[2].k)
    local fs = c:compute({ s = x:sum(), list = { d } })
    assert.is_true(getmetatable(fs.s) == client.Future)
    local g = c:gather(fs)
    assert.equal(45, value(g.s))
    assert.same({ 2 }, g.list)
    assert.same({ a = 2, b = { 2, "literal" } }, c:gather({ a = fs.list[1], b = { fs.list[1], "literal" } }))
  end)

  it("map_blocks takes a future's value for every block, on the cluster", function()
    local x = ldask.array.arange(10, { chunks = 5 })
    local fu = c:submit(function() return 1000 end, opts { pure = false })
    local y = x:map_blocks(function(b, k) return b + k end, fu)
    assert.equal(10045, value(y:sum():compute()))
    assert.equal(1009, y:compute():totable()[10])
  end)

  it("map zips several sequences", function()
    local fs = c:map(function(x, y, z) return x * y + z end, { 1, 2, 3 }, { 10, 20, 30 }, 5)
    assert.same({ 15, 45, 95 }, c:gather(fs))
    assert.has_error(function() c:map(function(x, y) return x + y end, { 1, 2 }, { 1 }) end,
      "Client:map: the sequences have different lengths (2 and 1, argument 3): map zips them element by element")
  end)

  it("scatter: keyed tables give keyed tables of finished futures; nil and functions are errors", function()
    local s = c:scatter({ a = 1, b = { 2, 3 } })
    assert.equal("a", s.a.key)
    assert.equal("finished", s.a:status())
    assert.equal("finished", s.b:status())
    assert.same({ 2, 3 }, s.b:result(10))
    assert.equal(4, c:submit(function(a, b) return a + b[2] end, s.a, s.b):result(10))
    local l = c:scatter({ 7, 8 })
    assert.equal("finished", l[2]:status())
    assert.has_error(function() c:scatter(nil) end,
      "Client:scatter: nothing to scatter (nil): pass a value, a list or a keyed table")
    assert.has_error(function() c:scatter(print) end,
      "Client:scatter: cannot scatter a function: scatter sends data; run a function with client:submit(f, ...)")
    assert.has_error(function() c:scatter({ 1, print }) end,
      "Client:scatter: cannot scatter a function at [2]: scatter sends data; run a function with client:submit(f, ...)")
  end)

  it("cancel of a finished future marks it cancelled and releases it", function()
    local f = c:submit(function() return 5 end, opts { pure = false })
    assert.equal(5, f:result(10))
    c:cancel(f)
    assert.equal("cancelled", f:status())
    assert.has_error(function() f:result(1) end)
    local deadline = os.time() + 10
    while c:task_info(f).state ~= "forgotten" and os.time() < deadline do c:_poll(0.05) end
    assert.equal("forgotten", c:task_info(f).state)
  end)

  it("a task whose dependency failed raises the error of the task that failed first", function()
    local bad = c:submit(function() error("first failure") end, opts { pure = false })
    local d1 = c:submit(function(x) return x + 1 end, bad)
    local d2 = c:submit(function(x) return x + 1 end, d1)
    local ok, err = pcall(d2.result, d2, 10)
    assert.is_false(ok)
    assert.equal(bad.key, err.key)
    assert.matches("task '" .. bad.key:gsub("%p", "%%%0") .. "' failed: .*first failure", tostring(err))
    assert.matches("stack traceback", err.traceback)
    -- the same through a delayed graph
    local boom = ldask.delayed(function() error("delayed boom") end, { pure = false })()
    local top = ldask.delayed(function(a) return a end)(ldask.delayed(function(a) return a end)(boom))
    local ok2, err2 = pcall(top.compute, top)
    assert.is_false(ok2)
    assert.equal(boom:key(), err2.key)
    assert.matches("delayed boom", tostring(err2))
  end)

  it("workers= naming no known worker leaves the task in a visible no-worker state", function()
    local f = c:submit(function() return 1 end, opts { workers = "nobody", pure = false })
    local ok, err = pcall(f.result, f, 1)
    assert.is_false(ok)
    assert.matches("no%-worker state: it may only run on worker 'nobody' and no such worker is in the cluster", err)
    assert.equal("pending", f:status())
    assert.equal("no-worker", c:task_info(f).state)
    c:cancel(f)
  end)

  it("a temporary future is not released while result() waits on it (10 MB closures)", function()
    local big = string.rep("abcdefgh", 10 * 1024 * 1024 / 8)
    assert.equal(#big, #c:submit(function(s) return s end, big):result(30))
    assert.equal(#big, c:submit(function() return #big end):result(30))
    assert.equal(#big + 1, ldask.delayed(function() return #big + 1 end)():compute())
  end)
end)

describe("priorities and lost connections", function()
  it("a high-priority task submitted after eight queued ones runs before the queued ones", function()
    local c = ldask.Client({ n_workers = 1, threads_per_worker = 1, set_as_default = false })
    local ok, err = pcall(function()
      local stamp = function(x) local socket = require "socket"; socket.sleep(0.1); return socket.gettime() end
      local low = c:map(stamp, { 1, 2, 3, 4, 5, 6, 7, 8 }, opts { pure = false })
      local high = c:submit(stamp, 100, opts { priority = 10, pure = false })
      local t, th = c:gather(low, 30), high:result(30)
      local before = 0
      for _, v in ipairs(t) do if v < th then before = before + 1 end end
      -- only the task already running when it arrived ran first: the one
      -- queued on the worker and the six queued at the scheduler wait
      assert.is_true(before <= 1, before .. " of the queued tasks ran before the high-priority one")
    end)
    c:close()
    if not ok then error(err, 0) end
  end)

  it("as_completed raises when the connection to the scheduler is lost", function()
    local cl = cluster_mod.start({ n_workers = 1 })
    local c = client(cl.address, { set_as_default = false })
    local ok, err = pcall(function()
      c:wait_for_workers(1, 20)
      local fs = c:map(function(x) require("socket").sleep(30) return x end, { 1, 2 }, opts { pure = false })
      os.execute("kill " .. cl.scheduler_pid)
      local t0 = os.time()
      local iok, ierr = pcall(function() for _ in client.as_completed(fs) do end end)
      assert.is_false(iok)
      assert.matches("as_completed: 2 future%(s%) still pending: lost the connection to the scheduler", ierr)
      assert.is_true(os.time() - t0 < 10)
    end)
    pcall(c.close, c)
    cl:stop()
    if not ok then error(err, 0) end
  end)
end)
