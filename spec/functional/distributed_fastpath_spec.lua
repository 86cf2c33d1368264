-- Functional specs of the distributed fast paths: large graphs sent in
-- chunks (intermediates needed by a later chunk held, then released),
-- the compact payload and header encodings, blocking waits in the client,
-- map's path for scalars (ldask.client.batch), gather of a list, and the
-- release of collected futures without a finalizer each. Real
-- ldask-scheduler and ldask-workers on 127.0.0.1.
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"

describe("distributed fast paths", function()
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

  -- A tree of N leaves summed 8 at a time, plus a task that needs the first
  -- leaf and the root (so a leaf of the first chunk is needed by the last).
  local function tree(n)
    local g, level = {}, {}
    local function add(...)
      local s = 0
      for i = 1, select("#", ...) do s = s + select(i, ...) end
      return s
    end
    for i = 1, n do
      g["leaf-" .. i] = { function(x) return x * 2 end, i }
      level[i] = "leaf-" .. i
    end
    local d = 0
    while #level > 1 do
      local nxt = {}
      for j = 1, #level, 8 do
        local k = "sum-" .. d .. "-" .. j
        local t = { add }
        for q = j, math.min(j + 7, #level) do t[#t + 1] = level[q] end
        g[k] = t
        nxt[#nxt + 1] = k
      end
      level, d = nxt, d + 1
    end
    g["final"] = { function(a, b) return a - b end, level[1], "leaf-1" }
    return g, level[1]
  end

  local function forgotten(key, timeout)
    local deadline = client.Client._now() + timeout
    repeat
      if c:task_info(key).state == "forgotten" then return true end
      require("socket").sleep(0.02)
    until client.Client._now() > deadline
    return false
  end

  it("runs a graph larger than one chunk and releases what it held", function()
    local n = 6000
    local g = tree(n)
    assert.equal(n * (n + 1) - 2, c:get(g, "final", { timeout = 60 }))
    -- intermediates and held keys are all released afterwards
    assert.is_true(forgotten("leaf-1", 10))
    assert.is_true(forgotten("sum-0-1", 10))
    -- the same graph again (keys known before, now forgotten) still works
    assert.same({ n * (n + 1) - 2, 2 }, c:get(g, { "final", "leaf-1" }, { timeout = 60 }))
  end)

  it("keeps requested intermediates of a chunked graph", function()
    local n = 5000
    local g = tree(n)
    local r = c:get(g, { "leaf-1", "leaf-" .. n, "final" }, { timeout = 60 })
    assert.same({ 2, 2 * n, n * (n + 1) - 2 }, r)
  end)

  it("names the task that cannot be shipped in a later chunk and releases the earlier ones", function()
    local n = 5000
    local g, root = tree(n)
    -- a coroutine cannot travel: the task comes last in execution order
    g["final"] = { function(a, co) return a end, root, coroutine.create(function() end) }
    local ok, err = pcall(c.get, c, g, "final", { timeout = 60 })
    assert.is_false(ok)
    assert.matches("cannot ship task 'final'", tostring(err))
    -- the chunks sent before ran; nothing of them stays on the cluster
    local deadline = client.Client._now() + 20
    local info = c:scheduler_info()
    while info.ntasks > 0 and client.Client._now() < deadline do
      require("socket").sleep(0.05)
      info = c:scheduler_info()
    end
    assert.equal(0, info.ntasks)
    -- the client still works
    assert.equal(5, c:submit(function(x) return x + 1 end, 4):result(10))
  end)

  it("round-trips many small submits with blocking results", function()
    for i = 1, 300 do
      assert.equal(i + 1, c:submit(function(x) return x + 1 end, i, client.options { pure = false }):result(10))
    end
  end)

  it("as_completed waits for futures that finish later", function()
    local function slow(i)
      local t = os.clock() + 0.03 * i
      while os.clock() < t do end
      return i
    end
    local fs = c:map(slow, { 3, 1, 2 }, client.options { pure = false })
    local got = {}
    for f in client.as_completed(fs, { timeout = 20 }) do got[#got + 1] = f:result() end
    table.sort(got)
    assert.same({ 1, 2, 3 }, got)
  end)

  it("passes nil and false results of dependencies on as such", function()
    local g = {
      none = { function() return nil end },
      no = { function() return false end },
      both = { function(a, b, c2) return { a == nil, b == false, c2 } end, "none", "no", "lit" },
    }
    assert.same({ true, true, "lit" }, c:get(g, "both", { timeout = 20 }))
  end)

  it("sends plain and non-plain arguments of the compact call form alike", function()
    local f = c:submit(function(a, b, c2, d) return { a, b, c2, d == nil } end, 1.5, "s", true, nil)
    assert.same({ 1.5, "s", true, true }, f:result(10))
    local t = c:submit(function(x) return x.a + #x end, { 1, 2, a = 3 })
    assert.equal(5, t:result(10))
  end)

  it("maps over scalars in several chunks as the general path does", function()
    local n = 4500 -- three update-graphs
    local seq, mixed = {}, { 1, 2.5, "s", true, false, -3 }
    for i = 1, n do seq[i] = i end
    local fs = c:map(function(x, k, s) return x * k .. s end, seq, 3, "!", client.options { pure = false })
    local r = c:gather(fs, 30)
    assert.equal(n, #r)
    assert.equal("3!", r[1]); assert.equal(3 * n .. "!", r[n])
    -- pure keys are those of the call: the same map twice, the same keys
    local f = function(x, y) return { x, y == nil } end
    local a, b = c:map(f, mixed, nil), c:map(f, mixed, nil)
    for i = 1, #mixed do assert.equal(a[i].key, b[i].key) end
    assert.same({ { 1, true }, { 2.5, true }, { "s", true }, { true, true }, { false, true }, { -3, true } },
      c:gather(a, 30))
    -- an element that is not a scalar takes the general path, same results
    local futs = c:map(function(x) return type(x) == "table" and x[1] or x end, { 7, { 8 } })
    assert.same({ 7, 8 }, c:gather(futs, 30))
  end)

  it("gathers a list with a repeated future, and refuses a released one", function()
    local f = c:submit(function(x) return x * 10 end, 4)
    assert.same({ 40, 40, 40 }, c:gather({ f, f, f }, 10))
    -- a done callback that releases a future of the list while it waits
    local slow = c:map(function(x) local t = os.clock() while os.clock() - t < 0.02 * x do end return x end,
      { 1, 2, 3, 4 }, client.options { pure = false })
    slow[1]:add_done_callback(function() slow[4]:release() end)
    assert.same({ 1, 2, 3, 4 }, c:gather(slow, 20))
    local g2 = c:submit(function(x) return x end, 5)
    g2:release()
    local ok, err = pcall(c.gather, c, { f, g2 })
    assert.is_false(ok)
    assert.matches("was released", tostring(err))
  end)

  it("releases the keys of collected futures at the next safe point", function()
    local o = client.options { pure = false }
    local fs = c:map(function(x) return x end, { 1, 2, 3 }, o)
    c:gather(fs, 10)
    local keys = {}
    for i, f in ipairs(fs) do keys[i] = f.key end
    fs = nil -- luacheck: ignore
    local deadline = os.time() + 10
    local held
    repeat
      collectgarbage(); collectgarbage()
      c:_flush_releases()
      held = 0
      for _, k in ipairs(keys) do if c.keys[k] then held = held + 1 end end
    until held == 0 or os.time() > deadline
    assert.equal(0, held)
    -- the scheduler forgets them: who_has knows none
    local deadline2 = os.time() + 10
    local known
    repeat
      known = 0
      local wh = c:who_has(keys)
      for _, k in ipairs(keys) do if wh[k] and #wh[k] > 0 then known = known + 1 end end
    until known == 0 or os.time() > deadline2
    assert.equal(0, known)
  end)

  it("fires done callbacks of keys finished in one batch, which may poll", function()
    local seen = {}
    local fs = c:map(function(x) return x + 1 end, { 1, 2, 3, 4 }, client.options { pure = false })
    for i, f in ipairs(fs) do
      f:add_done_callback(function(fut)
        seen[i] = fut:result(10) -- polls from inside the callback
      end)
    end
    c:gather(fs, 10)
    local deadline = os.time() + 10
    while #seen < 4 and os.time() <= deadline do c:_poll(0.05) end
    assert.same({ 2, 3, 4, 5 }, seen)
  end)
end)
