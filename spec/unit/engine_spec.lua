-- spec/unit/engine_spec.lua: the scheduling engine (core/sched/engine.c)
-- through the FFI: states, priorities, release of intermediates, culling,
-- failure, cancellation, keys, events, memory per task.
local ffi = require "ffi"
local S = require "ldask.ffi.sched"
local lib = require "ldask.native"

-- Builds an engine from a list of dependency lists (0-based ids). The
-- release callback records released ids in RELEASED.
local function engine(deps, prio, released)
  local cb = ffi.cast("ld_sched_release_fn", function(_, id, _)
    if released then released[#released + 1] = id end
  end)
  local s = lib.ld_sched_new(cb, nil)
  local n = #deps
  local off = ffi.new("int32_t[?]", n + 1)
  local m = 0
  for i = 1, n do m = m + #deps[i] end
  local idx = ffi.new("int32_t[?]", math.max(m, 1))
  local p = 0
  for i = 1, n do
    off[i - 1] = p
    for _, d in ipairs(deps[i]) do idx[p] = d; p = p + 1 end
  end
  off[n] = p
  local cprio = prio and ffi.new("int32_t[?]", n, prio) or nil
  local first = lib.ld_sched_add(s, n, off, idx, cprio)
  return s, first, cb
end

local function pop_all(s, max)
  local out = ffi.new("int32_t[?]", max or 64)
  local k = lib.ld_sched_pop(s, out, max or 64, 0)
  local t = {}
  for i = 0, k - 1 do t[#t + 1] = out[i] end
  return t
end

local function val(x) return ffi.cast("void *", x) end

describe("engine", function()
  it("runs a chain and a diamond in dependency order", function()
    -- 0 <- 1, 0 <- 2, {1,2} <- 3
    local released = {}
    local s, first, cb = engine({ {}, { 0 }, { 0 }, { 1, 2 } }, nil, released)
    assert.equal(0, first)
    assert.equal(0, lib.ld_sched_start(s))
    assert.same({ 0 }, pop_all(s))
    assert.same({}, pop_all(s))
    assert.equal(S.RUNNING, lib.ld_sched_status(s))
    assert.equal(0, lib.ld_sched_finish(s, 0, val(100), 8, 0, 0, 0))
    assert.same({ 1, 2 }, pop_all(s))
    assert.equal(0, lib.ld_sched_finish(s, 1, val(101), 8, 0, 0, 0))
    assert.same({}, released) -- 0 still needed by 2
    assert.equal(0, lib.ld_sched_finish(s, 2, val(102), 8, 0, 0, 0))
    assert.same({ 0 }, released)
    assert.equal(S.RELEASED, lib.ld_sched_state(s, 0))
    assert.same({ 3 }, pop_all(s))
    assert.equal(0, lib.ld_sched_finish(s, 3, val(103), 8, 0, 0, 0))
    table.sort(released)
    -- 3 has no dependents and nothing wanted: it stays (the last result)
    assert.same({ 0, 1, 2 }, released)
    assert.equal(S.DONE, lib.ld_sched_status(s))
    assert.equal(103, tonumber(ffi.cast("intptr_t", lib.ld_sched_value(s, 3))))
    lib.ld_sched_free(s)
    assert.same({ 0, 1, 2, 3 }, released)
    cb:free()
  end)

  it("hands out ready tasks by priority, lowest first, in batches", function()
    local s, _, cb = engine({ {}, {}, {}, {} }, { 3, 1, 2, 0 })
    lib.ld_sched_start(s)
    local out = ffi.new("int32_t[2]")
    assert.equal(2, lib.ld_sched_pop(s, out, 2, 0))
    assert.same({ 3, 1 }, { out[0], out[1] })
    assert.same({ 2, 0 }, pop_all(s))
    lib.ld_sched_free(s); cb:free()
  end)

  it("counts a dependency listed twice consistently", function()
    local released = {}
    local s, _, cb = engine({ {}, { 0, 0 } }, nil, released)
    lib.ld_sched_want(s, 1)
    lib.ld_sched_start(s)
    assert.same({ 0 }, pop_all(s))
    lib.ld_sched_finish(s, 0, val(1), 0, 0, 0, 0)
    assert.same({ 1 }, pop_all(s))
    lib.ld_sched_finish(s, 1, val(2), 0, 0, 0, 0)
    assert.same({ 0 }, released)
    assert.equal(S.DONE, lib.ld_sched_status(s))
    lib.ld_sched_free(s); cb:free()
  end)

  it("runs only what the wanted tasks need and keeps them", function()
    local released = {}
    local s, _, cb = engine({ {}, { 0 }, {}, { 2 } }, nil, released)
    assert.equal(0, lib.ld_sched_want(s, 1))
    lib.ld_sched_start(s)
    assert.equal(S.SKIPPED, lib.ld_sched_state(s, 2))
    assert.equal(S.SKIPPED, lib.ld_sched_state(s, 3))
    assert.same({ 0 }, pop_all(s))
    lib.ld_sched_finish(s, 0, val(7), 0, 0, 0, 0)
    assert.same({ 1 }, pop_all(s))
    lib.ld_sched_finish(s, 1, val(8), 0, 0, 0, 0)
    assert.equal(S.DONE, lib.ld_sched_status(s))
    assert.same({ 0 }, released)
    assert.equal(8, tonumber(ffi.cast("intptr_t", lib.ld_sched_take(s, 1))))
    assert.equal(S.RELEASED, lib.ld_sched_state(s, 1))
    lib.ld_sched_free(s)
    assert.same({ 0 }, released) -- taken values are the caller's
    cb:free()
  end)

  it("errs a failed task and everything after it", function()
    local s, _, cb = engine({ {}, { 0 }, { 1 }, {} })
    lib.ld_sched_start(s)
    assert.same({ 0, 3 }, pop_all(s))
    assert.equal(0, lib.ld_sched_fail(s, 0, 1, 0, 0))
    assert.equal(S.STATUS_ERRED, lib.ld_sched_status(s))
    assert.equal(0, lib.ld_sched_first_error(s))
    assert.equal(S.ERRED, lib.ld_sched_state(s, 1))
    assert.equal(S.ERRED, lib.ld_sched_state(s, 2))
    assert.equal(S.ESTATE, lib.ld_sched_fail(s, 0, 1, 0, 0))
    assert.equal(0, lib.ld_sched_finish(s, 3, val(1), 0, 0, 0, 0))
    lib.ld_sched_free(s); cb:free()
  end)

  it("cancels: nothing more is handed out, late results are released", function()
    local released = {}
    local s, _, cb = engine({ {}, {}, { 0, 1 } }, nil, released)
    lib.ld_sched_start(s)
    local out = ffi.new("int32_t[1]")
    assert.equal(1, lib.ld_sched_pop(s, out, 1, 0))
    lib.ld_sched_cancel(s)
    assert.equal(S.STATUS_CANCELLED, lib.ld_sched_status(s))
    assert.same({}, pop_all(s))
    assert.equal(S.CANCELLED, lib.ld_sched_state(s, 1))
    assert.equal(0, lib.ld_sched_finish(s, out[0], val(5), 0, 0, 0, 0))
    assert.same({ out[0] }, released)
    lib.ld_sched_free(s); cb:free()
  end)

  it("rejects bad input with error codes", function()
    local s, _, cb = engine({ {} })
    local off = ffi.new("int32_t[2]", { 0, 1 })
    local idx = ffi.new("int32_t[1]", { 7 })
    assert.equal(S.EINVAL, lib.ld_sched_add(s, 1, off, idx, nil))
    idx[0] = -1
    assert.equal(S.EINVAL, lib.ld_sched_add(s, 1, off, idx, nil))
    assert.equal(S.EINVAL, lib.ld_sched_finish(s, 99, nil, 0, 0, 0, 0))
    assert.equal(S.ESTATE, lib.ld_sched_finish(s, 0, nil, 0, 0, 0, 0))
    assert.equal(S.EINVAL, lib.ld_sched_want(s, -1))
    lib.ld_sched_free(s); cb:free()
  end)

  it("reports a cycle", function()
    local s, _, cb = engine({ { 1 }, { 0 } })
    assert.equal(S.ECYCLE, lib.ld_sched_start(s))
    assert.equal(S.STUCK, lib.ld_sched_status(s))
    lib.ld_sched_free(s); cb:free()
    -- a cycle behind a runnable task shows up as STUCK once it is done
    s, _, cb = engine({ {}, { 2 }, { 1 } })
    assert.equal(0, lib.ld_sched_start(s))
    assert.same({ 0 }, pop_all(s))
    lib.ld_sched_finish(s, 0, nil, 0, 0, 0, 0)
    assert.equal(S.STUCK, lib.ld_sched_status(s))
    lib.ld_sched_free(s); cb:free()
  end)

  it("adds a batch on top of finished results", function()
    local s, _, cb = engine({ {} })
    lib.ld_sched_want(s, 0)
    lib.ld_sched_start(s)
    pop_all(s)
    lib.ld_sched_finish(s, 0, val(3), 0, 0, 0, 0)
    local off = ffi.new("int32_t[2]", { 0, 1 })
    local idx = ffi.new("int32_t[1]", { 0 })
    assert.equal(1, lib.ld_sched_add(s, 1, off, idx, nil))
    assert.equal(0, lib.ld_sched_start(s))
    assert.same({ 1 }, pop_all(s))
    lib.ld_sched_finish(s, 1, val(4), 0, 0, 0, 0)
    assert.equal(S.DONE, lib.ld_sched_status(s))
    -- depending on a released task is refused
    lib.ld_sched_take(s, 0)
    assert.equal(2, lib.ld_sched_add(s, 1, off, idx, nil))
    assert.equal(S.ERELEASED, lib.ld_sched_start(s))
    assert.equal(S.ERRED, lib.ld_sched_state(s, 2))
    lib.ld_sched_free(s); cb:free()
  end)

  it("interns keys", function()
    local s, _, cb = engine({ {}, {} })
    assert.equal(0, lib.ld_sched_set_key(s, 0, "x,0", 3))
    assert.equal(0, lib.ld_sched_set_key(s, 1, "x,1", 3))
    assert.equal(S.EKEY, lib.ld_sched_set_key(s, 1, "x,0", 3))
    assert.equal(S.EKEY, lib.ld_sched_set_key(s, 0, "a\0b", 3))
    assert.equal(1, lib.ld_sched_find(s, "x,1", 3))
    assert.equal(-1, lib.ld_sched_find(s, "x,2", 3))
    local len = ffi.new("size_t[1]")
    assert.equal("x,0", ffi.string(lib.ld_sched_key(s, 0, len)))
    assert.equal(3, tonumber(len[0]))
    lib.ld_sched_free(s); cb:free()
  end)

  it("records events as a stream", function()
    local s, _, cb = engine({ {}, { 0 } })
    lib.ld_sched_events_enable(s, S.EV_FINISHED + S.EV_RELEASED)
    lib.ld_sched_start(s)
    pop_all(s); lib.ld_sched_finish(s, 0, nil, 0, 3, 1.5, 2.5)
    pop_all(s); lib.ld_sched_finish(s, 1, nil, 0, 4, 2.5, 3.0)
    local ev = ffi.new("ld_sched_event[8]")
    local k = lib.ld_sched_events_drain(s, ev, 8)
    assert.equal(3, k)
    assert.same({ 0, S.EV_FINISHED, 3, 1.5, 2.5 }, { ev[0].task, ev[0].kind, ev[0].worker, ev[0].t0, ev[0].t1 })
    assert.same({ 1, S.EV_FINISHED }, { ev[1].task, ev[1].kind })
    assert.same({ 0, S.EV_RELEASED }, { ev[2].task, ev[2].kind })
    assert.equal(0, lib.ld_sched_events_drain(s, ev, 8))
    lib.ld_sched_free(s); cb:free()
  end)

  it("keeps 200,000 tasks in well under 200 bytes each and runs them", function()
    local n = 200000
    local s = lib.ld_sched_new(nil, nil)
    local off = ffi.new("int32_t[?]", n + 1)
    local idx = ffi.new("int32_t[?]", n)
    for i = 0, n - 1 do off[i] = i > 0 and i - 1 or 0; if i > 0 then idx[i - 1] = i - 1 end end
    off[n] = n - 1
    assert.equal(0, lib.ld_sched_add(s, n, off, idx, nil))
    for i = 0, n - 1 do
      local k = "inc-0123456789abcdef," .. i
      assert(lib.ld_sched_set_key(s, i, k, #k) == 0)
    end
    assert.equal(0, lib.ld_sched_start(s))
    local out = ffi.new("int32_t[1]")
    local done = 0
    while lib.ld_sched_pop(s, out, 1, 0) == 1 do
      lib.ld_sched_finish(s, out[0], nil, 0, 0, 0, 0)
      done = done + 1
    end
    assert.equal(n, done)
    assert.equal(S.DONE, lib.ld_sched_status(s))
    local per = tonumber(lib.ld_sched_bytes(s)) / n
    assert.is_true(per < 200, "bytes per task " .. per)
    lib.ld_sched_free(s)
  end)
  it("pops in priority order when tasks are queued in order, out of order and later", function()
    -- 600 independent tasks: the first 300 queued in priority order (the
    -- sorted run of core/sched/heap.c), the rest shuffled (the heap)
    local n, prio, deps = 600, {}, {}
    for i = 1, 300 do prio[i] = 10 * i end
    math.randomseed(7)
    for i = 301, n do prio[i] = math.random(11, 4000) end
    for i = 1, n do deps[i] = {} end
    -- a task depending on task 0, first of all by priority once ready
    deps[n + 1] = { 0 }
    prio[n + 1] = -5
    local s = engine(deps, prio)
    assert.equal(0, lib.ld_sched_start(s))
    assert.equal(n, lib.ld_sched_nready(s))
    local first = pop_all(s, 1)
    assert.same({ 0 }, first) -- priority 10 is the lowest of the inputs
    assert.equal(0, lib.ld_sched_finish(s, 0, val(1), 8, 0, 0, 0))
    local got = pop_all(s, 1000)
    assert.equal(n, #got)
    assert.equal(n, got[1]) -- the dependent (priority -5) goes first
    for i = 3, #got do
      local a, b = prio[got[i - 1] + 1], prio[got[i] + 1]
      assert.is_true(a < b or (a == b and got[i - 1] < got[i]), "out of order at " .. i)
    end
    lib.ld_sched_free(s)
  end)

  it("cancel empties the sorted run and the heap alike", function()
    local deps, prio = {}, {}
    for i = 1, 100 do deps[i] = {}; prio[i] = i % 2 == 0 and i or 1000 - i end
    local s = engine(deps, prio)
    assert.equal(0, lib.ld_sched_start(s))
    assert.equal(100, lib.ld_sched_nready(s))
    assert.equal(5, #pop_all(s, 5))
    lib.ld_sched_cancel(s)
    assert.equal(0, lib.ld_sched_nready(s))
    assert.same({}, pop_all(s))
    lib.ld_sched_free(s)
  end)
  it("reset empties an engine for a new graph, releasing what it held, storage kept", function()
    local released = {}
    local s, _, cb = engine({ {}, { 0 }, { 1 } }, nil, released)
    assert.equal(0, lib.ld_sched_want(s, 2))
    assert.equal(0, lib.ld_sched_start(s))
    assert.same({ 0 }, pop_all(s))
    assert.equal(0, lib.ld_sched_finish(s, 0, val(10), 8, 0, 0, 0))
    assert.same({ 1 }, pop_all(s))
    local bytes = lib.ld_sched_bytes(s)
    assert.equal(0, lib.ld_sched_reset(s, cb, nil)) -- task 0's result was held (1 still runs)
    assert.same({ 0 }, released)
    assert.equal(bytes, lib.ld_sched_bytes(s))
    assert.equal(0, lib.ld_sched_nready(s))
    -- a new graph in the same engine: ids from 0 again
    local off = ffi.new("int32_t[3]", { 0, 0, 1 })
    local idx = ffi.new("int32_t[1]", { 0 })
    assert.equal(0, lib.ld_sched_add(s, 2, off, idx, nil))
    assert.equal(0, lib.ld_sched_want(s, 1))
    assert.equal(0, lib.ld_sched_start(s))
    assert.same({ 0 }, pop_all(s))
    assert.equal(0, lib.ld_sched_finish(s, 0, val(20), 8, 0, 0, 0))
    assert.same({ 1 }, pop_all(s))
    assert.equal(0, lib.ld_sched_finish(s, 1, val(21), 8, 0, 0, 0))
    assert.equal(S.DONE, lib.ld_sched_status(s))
    lib.ld_sched_free(s)
  end)
end)
