-- Functional specs of the batched task messages (docs/protocol.md,
-- protocol 2): update-graph as columns, compute-tasks (scheduler ->
-- worker, one message per worker per loop turn, cut at 1,024 tasks) and
-- tasks-finished (worker -> scheduler), driven on the wire (luasocket)
-- next to real programs on 127.0.0.1:
--   * malformed column messages are refused with a clear error, change
--     nothing, and leave the connection (and the scheduler) working;
--   * a batch of more tasks than one message may carry is cut in several;
--   * a worker answers a malformed compute-tasks with task-erred for each
--     task it names, runs a good one and reports it in a tasks-finished.
local wire = require "wire"
local le, frame, connect, receive = wire.le, wire.frame, wire.connect, wire.receive
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"
local codec = require "ldask.codec"
local mp = require "ldask.client.mp"
local socket = require "socket"

-- One message: header table H, then the string frames FRAMES.
local function message(h, frames)
  local hs = mp.encode(h)
  local parts = { le(1 + #frames, 4), le(#hs, 8) }
  for _, f in ipairs(frames) do parts[#parts + 1] = le(#f, 8) end
  parts[#parts + 1] = hs
  for _, f in ipairs(frames) do parts[#parts + 1] = f end
  return table.concat(parts)
end

-- Reads messages from S until one has op OP (or, with ID, op OP and id
-- ID); returns it and the others seen before it.
local function until_op(s, op, id)
  local seen = {}
  for _ = 1, 50 do
    local m = assert(receive(s))
    if m.op == op and (id == nil or m.id == id) then return m, seen end
    seen[#seen + 1] = m
  end
  error("no " .. op .. " came")
end

describe("batched task messages", function()
  local cl, c
  setup(function()
    cl = cluster_mod.start({ n_workers = 1, auth = false }) -- no token: this spec speaks the wire itself
    c = client(cl.address, { set_as_default = false })
    c:wait_for_workers(1, 20)
  end)
  teardown(function()
    if c then pcall(c.close, c) end
    if cl then cl:stop() end
  end)

  it("refuses a malformed column update-graph with a clear error and changes nothing", function()
    local s = connect(cl.address, "client")
    local p = "payload"
    local cases = {
      { { keys = { "x1", "x2" }, priority = { 0 }, ndeps = { 0, 0 } }, { p, p },
        "update-graph: 'priority' must be an array of 2 entries, one per key" },
      { { keys = { "x1", "x2" }, priority = { 0, 1 }, ndeps = { 0, 1 }, deps = { 2 } }, { p, p },
        "update-graph: dependency 0 is neither a key nor the index of a key of the message" },
      { { keys = { "x1", "x2" }, priority = { 0, 1 }, ndeps = { 1, 1 }, deps = { 1 } }, { p, p },
        "update-graph: 'deps' must hold sum(ndeps) = 2 entries, it has 1" },
      { { keys = { "x1", "x2" }, priority = { 0, 1 }, nframes = { 1, 2 }, ndeps = { 0, 0 } }, { p, p },
        "update-graph: the tasks claim 3 payload frames, the message has 2" },
      { { keys = { "x1", 7 }, priority = { 0, 1 }, ndeps = { 0, 0 } }, { p, p },
        "update-graph: key 1 is not a string" },
      { { keys = { "x1" }, priority = { 0 } }, { p },
        "update-graph: 'priority' and 'ndeps' are required with 'keys'" },
      { { keys = { "x1" }, priority = { 0 }, ndeps = { 0 }, retries = -1 }, { p },
        "update-graph: 'retries' must be an integer from 0 to 1000000" },
    }
    for i, case in ipairs(cases) do
      local h = case[1]
      h.op, h.wanted = "update-graph", { "x1" }
      assert(s:send(message(h, case[2])))
      assert(s:send(frame({ op = "identity", id = i })))
      local reply, before = until_op(s, "identity-reply", i)
      assert.equal(case[3], wire.error_of(before))
      assert.equal(0, reply.ntasks) -- nothing was created
    end
    s:close()
  end)

  it("runs a column update-graph with dependencies by index and by key", function()
    local s = connect(cl.address, "client")
    local h1 = codec.encode(41)
    assert(type(h1) == "string")
    -- col-b (a literal) needs col-a (index 0): it runs after it
    assert(s:send(message({ op = "update-graph", keys = { "col-a", "col-b" }, priority = { 0, 1 },
      ndeps = { 0, 1 }, deps = { 0 }, wanted = { "col-b" } }, { h1, h1 })))
    local m = until_op(s, "keys-finished")
    assert.same({ "col-b" }, m.keys)
    s:close()
  end)

  it("reports a malformed tasks-finished from a worker and goes on", function()
    local w = connect(cl.address, "worker")
    assert(w:send(frame({ op = "register-worker", name = "batchy", address = "tcp://127.0.0.1:9",
      nthreads = 1, memory_limit = 0, pid = 1 })))
    until_op(w, "registered")
    assert(w:send(message({ op = "tasks-finished", keys = { "q1", "q2" }, nbytes = { 1 },
      start = { 0, 0 }, stop = { 0, 0 }, thread = { 0, 0 }, nframes = { 0, 0 } }, {})))
    assert.equal("tasks-finished: 'keys' must be an array and 'nbytes', 'start', 'stop', " ..
      "'thread' and 'nframes' arrays as long as it", until_op(w, "error").message)
    assert(w:send(message({ op = "tasks-finished", keys = { "q1" }, nbytes = { 1 },
      start = { 0 }, stop = { 0 }, thread = { 0 }, nframes = { 3 } }, { "x" })))
    assert.matches("tasks-finished: entry 0 needs", until_op(w, "error").message, 1, true)
    w:close()
    -- the cluster goes on
    assert.equal(6, c:submit(function(x) return x * 2 end, 3):result(20))
  end)

  it("cuts a batch of more than 1,024 tasks in several compute-tasks", function()
    local before = c:scheduler_info()
    local base = c:scatter({ 5 })[1]
    local seq = {}
    for i = 1, 3000 do seq[i] = i end
    -- every task needs the scattered value: all are ready at once, on the
    -- one worker holding it
    local fs = c:map(function(x, b) return x + b end, seq, base)
    local r = c:gather(fs, 60)
    for i = 1, 3000 do assert.equal(i + 5, r[i]) end
    local after = c:scheduler_info()
    local tasks = after.tasks_sent - before.tasks_sent
    local batches = after.compute_batches - before.compute_batches
    assert.is_true(tasks >= 3000, "tasks sent: " .. tasks)
    assert.is_true(batches >= 3, ("%d compute-tasks for %d tasks"):format(batches, tasks))
    assert.equal(1024, after.largest_batch)
  end)
end)

describe("ldask-worker and compute-tasks", function()
  local srv, pid, s
  setup(function()
    srv = assert(socket.bind("127.0.0.1", 0))
    local _, port = srv:getsockname()
    pid = wire.start_worker("tcp://127.0.0.1:" .. port, "--no-nanny")
    srv:settimeout(20)
    s = assert(srv:accept())
    s:settimeout(20)
    assert(s:send(wire.hello("scheduler")))
    local hello = assert(receive(s))
    assert.equal("hello", hello.op)
    assert.equal("register-worker", assert(receive(s)).op)
    assert(s:send(frame({ op = "registered", id = 1 })))
  end)
  teardown(function()
    if s then s:close() end
    if srv then srv:close() end
    if pid then os.execute("kill -TERM " .. pid .. " 2>/dev/null") end
  end)

  -- The next message of op OP from the worker (heartbeats skipped).
  local function next_op(op)
    for _ = 1, 200 do
      local m = assert(receive(s))
      if m.op == op then return m end
    end
    error("no " .. op)
  end

  it("answers a malformed compute-tasks with task-erred for each task", function()
    assert(s:send(message({ op = "compute-tasks", keys = { "m1", "m2" }, priority = { 0 },
      nframes = { 1, 1 }, ndeps = { 0, 0 } }, { "x", "x" })))
    local got = {}
    for _ = 1, 2 do
      local m = next_op("task-erred")
      got[m.key] = m.message
    end
    assert.equal("compute-tasks: 'priority', 'nframes' and 'ndeps' must be arrays as long as 'keys'", got.m1)
    assert.equal(got.m1, got.m2)
    assert(s:send(message({ op = "compute-tasks", keys = { "m3" }, priority = { 0 },
      nframes = { 2 }, ndeps = { 0 } }, { "x" })))
    assert.equal("compute-tasks: the tasks claim more frames than sent", next_op("task-erred").message)
  end)

  it("runs the tasks of a good one and reports them in one tasks-finished", function()
    local p = codec.encode(41)
    assert(s:send(message({ op = "compute-tasks", keys = { "g1", "g2" }, priority = { 0, 1 },
      nframes = { 1, 1 }, ndeps = { 0, 0 }, dep_keys = {}, dep_nbytes = {}, dep_who = {} }, { p, p })))
    local keys = {}
    while #keys < 2 do
      local m = next_op("tasks-finished")
      assert.equal(#m.keys, #m.nbytes)
      assert.equal(#m.keys, #m.nframes)
      for _, k in ipairs(m.keys) do keys[#keys + 1] = k end
    end
    table.sort(keys)
    assert.same({ "g1", "g2" }, keys)
  end)
end)

describe("compute-tasks and a worker's --max-message-size", function()
  local sched, wpid, c
  setup(function()
    sched = wire.start_scheduler("--no-dashboard")
    wpid = wire.start_worker(sched.address, "--no-nanny --max-message-size 64KiB")
    c = client(sched.address, { set_as_default = false })
    c:wait_for_workers(1, 20)
  end)
  teardown(function()
    if c then pcall(c.close, c) end
    if wpid then os.execute("kill -TERM " .. wpid .. " 2>/dev/null") end
    if sched then sched.stop() end
  end)

  it("cuts a batch before it passes the largest message the worker accepts", function()
    local base = c:scatter({ 5 })[1]
    local pad = string.rep("p", 200) -- in every payload: 1,024 of them pass 64 KiB
    local seq = {}
    for i = 1, 3000 do seq[i] = i end
    local fs = c:map(function(x, b, s) return x + b + #s end, seq, base, pad)
    local r = c:gather(fs, 60)
    for i = 1, 3000 do assert.equal(i + 205, r[i]) end
    local info = c:scheduler_info()
    assert.equal(1, #info.workers) -- the worker kept its connection
    assert.is_true(info.batches_cut > 0, "batches cut: " .. info.batches_cut)
    assert.is_true(info.largest_batch < 1024, "largest batch: " .. info.largest_batch)
    assert.is_true(wire.alive(wpid))
  end)
end)
