-- Functional specs of the distributed fast paths: large graphs sent in
-- chunks (intermediates needed by a later chunk held, then released),
-- the compact payload and header encodings, and blocking waits in the
-- client. Real ldask-scheduler and ldask-workers on 127.0.0.1.
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
end)
