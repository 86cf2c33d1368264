-- Functional specs of ldask-scheduler driven on the wire (luasocket, the
-- framing of docs/protocol.md) next to a real worker on 127.0.0.1:
--   * the pause test: a worker whose heartbeat reports `memory` at or over
--     0.8 x its memory_limit gets no input tasks while another worker can
--     take them (a minimal worker that never runs anything: a task sent to
--     it would never finish);
--   * an update-graph (either form) whose task depends on an unknown key:
--     that task and the tasks of the same message that depend on it err,
--     each named.
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"
local mp = require "ldask.client.mp"
local socket = require "socket"
local wire = require "wire"

local le, frame, connect, receive = wire.le, wire.frame, wire.connect, wire.receive

-- A worker that registers and sends heartbeats, nothing else.
local function fake_worker(address, name, memory_limit)
  local s = connect(address, "worker")
  assert(s:send(frame({ op = "register-worker", name = name, address = "tcp://127.0.0.1:9",
    nthreads = 1, memory_limit = memory_limit, pid = 1 })))
  return s
end

describe("ldask-scheduler on the wire", function()
  local cl, c, fake
  setup(function()
    cl = cluster_mod.start({ n_workers = 1, auth = false }) -- no token: this spec speaks the wire itself
    c = client(cl.address, { set_as_default = false })
    c:wait_for_workers(1, 20)
  end)
  teardown(function()
    if fake then fake:close() end
    if c then pcall(c.close, c) end
    if cl then cl:stop() end
  end)

  it("sends no input task to a worker reporting memory over 0.8 x its limit", function()
    fake = fake_worker(cl.address, "full", 1000)
    c:wait_for_workers(2, 20)
    -- 850 bytes in RAM of 1000 allowed: paused (the scheduler's own count
    -- of its results is 0, which alone would not pause it)
    assert(fake:send(frame({ op = "heartbeat", executing = 0, nkeys = 0, nbytes = 0,
      executed = 0, fetched = 0, fetched_bytes = 0, memory = 850, spilled = 4096 })))
    local info
    for _ = 1, 100 do
      info = c:scheduler_info()
      local seen
      for _, w in ipairs(info.workers) do if w.name == "full" and w.memory == 850 then seen = w end end
      if seen then break end
      socket.sleep(0.02)
    end
    local full
    for _, w in ipairs(info.workers) do if w.name == "full" then full = w end end
    assert.equal(850, full.memory)
    assert.equal(4096, full.spilled)
    -- the newest worker comes first among equals: without the pause the
    -- input tasks would go to it and never finish
    local seq = {}
    for i = 1, 40 do seq[i] = i end
    local fs = c:map(function(x) return x * 3 end, seq)
    local r = c:gather(fs, 20)
    for i = 1, 40 do assert.equal(3 * i, r[i]) end
    info = c:scheduler_info()
    for _, w in ipairs(info.workers) do
      if w.name == "full" then assert.equal(0, w.processing) end
    end
    for _, addrs in pairs(c:who_has(fs)) do
      for _, a in ipairs(addrs) do assert.not_equal("tcp://127.0.0.1:9", a) end
    end
  end)

  it("errs a task on an unknown key and its dependents of the same message", function()
    local payload = "not decoded by the scheduler"
    -- both forms of update-graph: one map per task, and columns (a
    -- dependency inside the message named by its index)
    local forms = {
      { op = "update-graph", wanted = { "a", "b" }, tasks = {
        { key = "a", deps = { "b" }, nframes = 1, priority = 0 },
        { key = "b", deps = { "no-such-key" }, nframes = 1, priority = 1 } } },
      { op = "update-graph", wanted = { "a2", "b2" }, keys = { "a2", "b2" }, priority = { 0, 1 },
        ndeps = { 1, 1 }, deps = { 1, "no-such-key" } },
    }
    for i, form in ipairs(forms) do
      local s = connect(cl.address, "client")
      local h = mp.encode(form)
      assert(s:send(le(3, 4) .. le(#h, 8) .. le(#payload, 8) .. le(#payload, 8) .. h .. payload .. payload))
      local a, b = form.wanted[1], form.wanted[2]
      local got = {}
      for _ = 1, 10 do
        local m = receive(s)
        if m.op == "key-erred" then got[m.key] = m.message end
        if got[a] and got[b] then break end
      end
      s:close()
      assert.equal(("task '%s' depends on unknown key 'no-such-key'"):format(b), got[b], "form " .. i)
      assert.equal(got[b], got[a]) -- a takes the error of its dependency
    end
  end)
end)
