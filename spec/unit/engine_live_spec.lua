-- spec/unit/engine_live_spec.lua: the scheduling engine's live mode (the
-- one ldask-scheduler runs on) through the FFI: records over time, want
-- counts, release and forgetting with ids reused, recomputation of released
-- and lost results, requeues, failure and cancellation cascades, bounded
-- memory over many batches.
local ffi = require "ffi"
local S = require "ldask.ffi.sched"
local lib = require "ldask.native"

-- A live engine whose hooks record what they are told, as "kind id" or
-- "erred id cause reason" strings, in E.log.
local function live()
  local e = { log = {} }
  local function rec(s) e.log[#e.log + 1] = s end
  e.cbs = {
    ffi.cast("void (*)(void *, int32_t)", function(_, id) rec("stop " .. id) end),
    ffi.cast("void (*)(void *, int32_t)", function(_, id) rec("released " .. id) end),
    ffi.cast("void (*)(void *, int32_t, int32_t, int)", function(_, id, cause, why)
      rec("erred " .. id .. " " .. cause .. " " .. why)
    end),
    ffi.cast("void (*)(void *, int32_t)", function(_, id) rec("cancelled " .. id) end),
    ffi.cast("void (*)(void *, int32_t)", function(_, id) rec("forget " .. id) end),
  }
  e.hooks = ffi.new("ld_sched_hooks", e.cbs)
  e.s = lib.ld_sched_new_live(e.hooks, nil)
  function e.task(key, deps, prio)
    local id = lib.ld_sched_create(e.s, key, #key, prio or 0)
    assert(id >= 0, "create " .. key .. ": " .. id)
    if deps and #deps > 0 then
      local d = ffi.new("int32_t[?]", #deps, deps)
      assert(lib.ld_sched_set_deps(e.s, id, d, #deps) == 0)
    end
    return id
  end
  function e.state(id) return S.state_names[lib.ld_sched_state(e.s, id)] end
  function e.take_log() local l = e.log; e.log = {}; return l end
  function e.run(id) -- assign then finish
    assert.equal(0, lib.ld_sched_assign(e.s, id, 0))
    assert.equal(0, lib.ld_sched_finish(e.s, id, nil, 8, 0, 0, 0))
  end
  function e.close()
    lib.ld_sched_free(e.s)
    for _, c in ipairs(e.cbs) do c:free() end
  end
  return e
end

local function has(log, s)
  for _, l in ipairs(log) do if l == s then return true end end
  return false
end

describe("engine, live mode", function()
  it("runs a graph added over time, releases and forgets what nothing needs", function()
    local e = live()
    local a = e.task("a")
    local b = e.task("b", { a })
    lib.ld_sched_want(e.s, b)
    assert.equal(0, lib.ld_sched_compute(e.s, b))
    assert.equal("ready", e.state(a))
    assert.equal("waiting", e.state(b))
    assert.equal(a, lib.ld_sched_peek(e.s, 1))
    assert.equal(-1, lib.ld_sched_peek(e.s, 0))
    e.run(a)
    assert.equal(b, lib.ld_sched_peek(e.s, 0))
    e.run(b)
    assert.same({ "released " .. a }, e.take_log())
    assert.equal("memory", e.state(b))
    -- a later batch on top of b, and on top of a whose result was released
    local c = e.task("c", { a, b })
    lib.ld_sched_want(e.s, c)
    lib.ld_sched_compute(e.s, c)
    assert.equal("ready", e.state(a)) -- recomputed, since c needs it
    assert.equal("waiting", e.state(c))
    e.run(a)
    e.run(c)
    assert.equal("memory", e.state(c))
    -- unwanting forgets the records; their ids and keys are free again
    lib.ld_sched_unwant(e.s, b)
    lib.ld_sched_unwant(e.s, c)
    local l = e.take_log()
    assert.is_true(has(l, "forget " .. a) and has(l, "forget " .. b) and has(l, "forget " .. c))
    assert.equal("free", e.state(a))
    assert.equal(-1, lib.ld_sched_find(e.s, "a", 1))
    local d = e.task("d")
    assert.is_true(d == a or d == b or d == c, "id reused")
    e.close()
  end)

  it("interns short and long keys, refuses duplicates, reuses freed keys", function()
    local e = live()
    local long = ("k"):rep(1000)
    local a = e.task(long)
    local b = e.task("short")
    assert.equal(S.EKEY, lib.ld_sched_create(e.s, long, #long, 0))
    assert.equal(S.EKEY, lib.ld_sched_create(e.s, "a\0b", 3, 0))
    assert.equal(a, lib.ld_sched_find(e.s, long, #long))
    local len = ffi.new("size_t[1]")
    assert.equal(long, ffi.string(lib.ld_sched_key(e.s, a, len), len[0]))
    lib.ld_sched_check(e.s, a) -- nothing wants it: forgotten
    lib.ld_sched_check(e.s, b)
    assert.equal(-1, lib.ld_sched_find(e.s, long, #long))
    assert.equal(-1, lib.ld_sched_find(e.s, "short", 5))
    local c = e.task("short")
    assert.equal("short", ffi.string(lib.ld_sched_key(e.s, c, nil)))
    e.close()
  end)

  it("counts wants: a key wanted twice stays until both let go", function()
    local e = live()
    local a = e.task("a")
    lib.ld_sched_want(e.s, a)
    lib.ld_sched_want(e.s, a)
    lib.ld_sched_compute(e.s, a)
    e.run(a)
    lib.ld_sched_unwant(e.s, a)
    assert.equal("memory", e.state(a))
    assert.equal(S.ESTATE, lib.ld_sched_unwant(e.s, e.task("x"))) -- never wanted
    lib.ld_sched_unwant(e.s, a)
    assert.is_true(has(e.take_log(), "released " .. a))
    assert.equal("free", e.state(a))
    e.close()
  end)

  it("stops pending work nothing needs any more", function()
    local e = live()
    local a = e.task("a")
    local b = e.task("b", { a })
    lib.ld_sched_want(e.s, b)
    lib.ld_sched_compute(e.s, b)
    assert.equal(0, lib.ld_sched_assign(e.s, a, 0))
    lib.ld_sched_unwant(e.s, b)
    local l = e.take_log()
    assert.is_true(has(l, "stop " .. a), table.concat(l, ", "))
    assert.equal("free", e.state(a))
    assert.equal("free", e.state(b))
    e.close()
  end)

  it("requeues a processing task and counts the workers that died", function()
    local e = live()
    local a = e.task("a")
    lib.ld_sched_want(e.s, a)
    lib.ld_sched_compute(e.s, a)
    for i = 1, 3 do
      assert.equal(0, lib.ld_sched_assign(e.s, a, 0))
      assert.equal(i, lib.ld_sched_requeue(e.s, a, 1))
      assert.equal("waiting", e.state(a))
      lib.ld_sched_compute(e.s, a)
      assert.equal("ready", e.state(a))
    end
    local info = ffi.new("ld_sched_info")
    lib.ld_sched_info_of(e.s, a, info)
    assert.equal(3, info.deaths)
    assert.equal(S.ESTATE, lib.ld_sched_requeue(e.s, a, 1)) -- not processing
    e.close()
  end)

  it("recomputes a lost result and stops its dependents meanwhile", function()
    local e = live()
    local a = e.task("a")
    local b = e.task("b", { a })
    lib.ld_sched_want(e.s, b)
    lib.ld_sched_compute(e.s, b)
    e.run(a)
    assert.equal(0, lib.ld_sched_assign(e.s, b, 0))
    e.take_log()
    assert.equal(1, lib.ld_sched_lost(e.s, a))
    assert.same({ "stop " .. b }, e.take_log())
    assert.equal("waiting", e.state(b))
    assert.equal("ready", e.state(a))
    e.run(a)
    assert.equal("ready", e.state(b))
    e.close()
  end)

  it("errs lost data that has no computation, and what needs it", function()
    local e = live()
    local x = e.task("x")
    lib.ld_sched_want(e.s, x)
    assert.equal(0, lib.ld_sched_put_data(e.s, x))
    assert.equal("processing", e.state(x))
    assert.equal(0, lib.ld_sched_finish(e.s, x, nil, 8, 0, 0, 0))
    local y = e.task("y", { x })
    lib.ld_sched_want(e.s, y)
    lib.ld_sched_compute(e.s, y)
    assert.equal(0, lib.ld_sched_assign(e.s, y, 0))
    e.take_log()
    assert.equal(0, lib.ld_sched_lost(e.s, x))
    local l = e.take_log()
    assert.is_true(has(l, "erred " .. x .. " " .. x .. " " .. S.ERR_LOST), table.concat(l, ", "))
    assert.is_true(has(l, "erred " .. y .. " " .. x .. " " .. S.ERR_DEP), table.concat(l, ", "))
    assert.equal("erred", e.state(y))
    e.close()
  end)

  it("fails a task and its dependents, and cancels a task and its dependents", function()
    local e = live()
    local a, b = e.task("a"), nil
    b = e.task("b", { a })
    local c = e.task("c", { b })
    lib.ld_sched_want(e.s, c)
    lib.ld_sched_compute(e.s, c)
    assert.equal(0, lib.ld_sched_assign(e.s, a, 0))
    assert.equal(0, lib.ld_sched_fail(e.s, a, 0, 0, 0))
    local l = e.take_log()
    assert.is_true(has(l, "erred " .. a .. " " .. a .. " " .. S.ERR_OWN))
    assert.is_true(has(l, "erred " .. b .. " " .. a .. " " .. S.ERR_DEP))
    assert.is_true(has(l, "erred " .. c .. " " .. b .. " " .. S.ERR_DEP))
    assert.equal(S.ESTATE, lib.ld_sched_fail(e.s, a, 0, 0, 0))
    -- cancel
    local p = e.task("p")
    local q = e.task("q", { p })
    lib.ld_sched_want(e.s, q)
    lib.ld_sched_compute(e.s, q)
    assert.equal(0, lib.ld_sched_assign(e.s, p, 0))
    assert.equal(0, lib.ld_sched_cancel_task(e.s, p))
    l = e.take_log()
    assert.is_true(has(l, "stop " .. p) and has(l, "cancelled " .. p) and has(l, "cancelled " .. q))
    -- a new task on a cancelled dependency errs with LD_ERR_CANCELLED
    local r = e.task("r", { p })
    lib.ld_sched_want(e.s, r)
    lib.ld_sched_compute(e.s, r)
    assert.is_true(has(e.take_log(), "erred " .. r .. " " .. p .. " " .. S.ERR_CANCELLED))
    -- resubmitted, the cancelled task runs again
    assert.equal(0, lib.ld_sched_renew(e.s, p, 0))
    lib.ld_sched_compute(e.s, p)
    assert.equal("ready", e.state(p))
    e.close()
  end)

  it("hands out ready tasks by priority, then arrival; parks and unparks", function()
    local e = live()
    local a, b, c = e.task("a", nil, 5), e.task("b", nil, 1), e.task("c", nil, 1)
    for _, id in ipairs({ a, b, c }) do
      lib.ld_sched_want(e.s, id)
      lib.ld_sched_compute(e.s, id)
    end
    assert.equal(b, lib.ld_sched_peek(e.s, 1))
    assert.equal(0, lib.ld_sched_park(e.s, b))
    assert.equal(c, lib.ld_sched_peek(e.s, 1))
    assert.equal(0, lib.ld_sched_unpark(e.s, b))
    assert.equal(b, lib.ld_sched_peek(e.s, 1))
    e.run(b); e.run(c)
    assert.equal(a, lib.ld_sched_peek(e.s, 1))
    e.close()
  end)

  it("keeps its memory bounded over 200 batches of 1,000 tasks", function()
    local e = live()
    local deps = ffi.new("int32_t[999]")
    local after10
    for batch = 1, 200 do
      -- 999 inputs and one task that needs them all, wanted, run, let go
      for i = 0, 998 do
        local k = "in-" .. batch .. "-" .. i
        deps[i] = lib.ld_sched_create(e.s, k, #k, i)
      end
      local k = "sum-" .. batch
      local top = lib.ld_sched_create(e.s, k, #k, 999)
      assert.equal(0, lib.ld_sched_set_deps(e.s, top, deps, 999))
      lib.ld_sched_want(e.s, top)
      lib.ld_sched_compute(e.s, top)
      for _ = 1, 999 do
        local id = lib.ld_sched_peek(e.s, 1)
        lib.ld_sched_assign(e.s, id, 0)
        lib.ld_sched_finish(e.s, id, nil, 8, 0, 0, 0)
      end
      assert.equal(top, lib.ld_sched_peek(e.s, 0))
      e.run(top)
      lib.ld_sched_unwant(e.s, top)
      e.log = {}
      if batch == 10 then after10 = tonumber(lib.ld_sched_bytes(e.s)) end
    end
    local stats = ffi.new("ld_sched_stats")
    lib.ld_sched_get_stats(e.s, stats)
    assert.equal(0, tonumber(stats.ntasks))
    assert.equal(1000, tonumber(lib.ld_sched_id_limit(e.s)))
    local bytes = tonumber(lib.ld_sched_bytes(e.s))
    assert.is_true(bytes <= after10 * 1.5, "bytes " .. bytes .. " after 10 batches " .. after10)
    assert.is_true(bytes < 1e6, "bytes " .. bytes)
    e.close()
  end)

  it("keeps its counts consistent through 2,000 random operations", function()
    local e = live()
    local s = e.s
    local info = ffi.new("ld_sched_info")
    local n = ffi.new("int32_t[1]")
    local wants = {} -- id -> wants held by this test
    math.randomseed(11)
    local serial = 0
    local function live_ids()
      local t = {}
      for id = 0, lib.ld_sched_id_limit(s) - 1 do
        local st = lib.ld_sched_state(s, id)
        if st ~= S.FREE and st >= 0 then t[#t + 1] = id end
      end
      return t
    end
    local function pending(st) return st == S.WAITING or st == S.READY or st == S.PROCESSING end
    local function deps_of(id)
      local p = lib.ld_sched_deps(s, id, n)
      local d = {}
      for j = 0, n[0] - 1 do d[#d + 1] = p[j] end
      return d
    end
    local function check_invariants(step)
      local ids = live_ids()
      local pend, ndep = {}, {}
      for _, id in ipairs(ids) do pend[id] = 0; ndep[id] = 0 end
      for _, u in ipairs(ids) do
        local su = lib.ld_sched_state(s, u)
        local waiting = 0
        for _, d in ipairs(deps_of(u)) do
          assert(pend[d], ("step %d: %d depends on forgotten %d"):format(step, u, d))
          ndep[d] = ndep[d] + 1
          if pending(su) then pend[d] = pend[d] + 1 end
          if lib.ld_sched_state(s, d) ~= S.MEMORY then waiting = waiting + 1 end
        end
        lib.ld_sched_info_of(s, u, info)
        if su == S.WAITING then
          assert(info.waiting_on == waiting, ("step %d: %d waits on %d, counted %d"):format(step, u, waiting, info.waiting_on))
          assert(waiting > 0, ("step %d: %d waits on nothing"):format(step, u))
        end
        if su == S.READY or su == S.PROCESSING then
          assert(waiting == 0, ("step %d: %d %s with an input not in memory"):format(step, u, e.state(u)))
        end
      end
      for _, id in ipairs(ids) do
        lib.ld_sched_info_of(s, id, info)
        assert(info.pending_dependents == pend[id], ("step %d: %d pending dependents %d, counted %d"):format(step, id, pend[id], info.pending_dependents))
        assert(info.dependents == ndep[id], ("step %d: %d dependents"):format(step, id))
        assert(info.wants == (wants[id] or 0), ("step %d: %d wants"):format(step, id))
        local st = info.state
        local needed = info.wants > 0 or info.pending_dependents > 0
        assert(not (st == S.MEMORY and not needed), ("step %d: %d in memory, not needed"):format(step, id))
        assert(needed or info.dependents > 0, ("step %d: %d not forgotten"):format(step, id))
      end
      return ids
    end
    local function pick(t) return #t > 0 and t[math.random(#t)] or nil end
    local function with_state(ids, st)
      local t = {}
      for _, id in ipairs(ids) do if lib.ld_sched_state(s, id) == st then t[#t + 1] = id end end
      return t
    end
    local ids = {}
    for step = 1, 2000 do
      local op = math.random(1, 10)
      if op <= 2 then -- a batch of new records on live ones
        local new = {}
        for _ = 1, math.random(1, 4) do
          serial = serial + 1
          local deps = {}
          for _ = 1, math.random(0, 3) do
            local d = pick(ids) or pick(new)
            if d and lib.ld_sched_state(s, d) ~= S.FREE then deps[#deps + 1] = d end
          end
          local id = e.task("t" .. serial, deps, math.random(0, 9))
          new[#new + 1] = id
        end
        for _, id in ipairs(new) do
          if math.random() < 0.6 then lib.ld_sched_want(s, id); wants[id] = (wants[id] or 0) + 1 end
        end
        for _, id in ipairs(new) do if wants[id] then lib.ld_sched_compute(s, id) end end
        for _, id in ipairs(new) do if lib.ld_sched_state(s, id) ~= S.FREE then lib.ld_sched_check(s, id) end end
      elseif op == 3 then -- let go of a want
        local id = pick(ids)
        if id and (wants[id] or 0) > 0 then
          wants[id] = wants[id] - 1
          if wants[id] == 0 then wants[id] = nil end
          assert.equal(0, lib.ld_sched_unwant(s, id))
        end
      elseif op <= 5 then -- hand out a ready task
        local id = lib.ld_sched_peek(s, math.random(0, 1))
        if id >= 0 then assert.equal(0, lib.ld_sched_assign(s, id, 0)) end
      elseif op <= 7 then -- a task finishes
        local id = pick(with_state(ids, S.PROCESSING))
        if id then assert.equal(0, lib.ld_sched_finish(s, id, nil, 8, 0, 0, 0)) end
      elseif op == 8 then -- fails, or comes back (retry, dead worker)
        local id = pick(with_state(ids, S.PROCESSING))
        if id and math.random() < 0.3 then
          assert.equal(0, lib.ld_sched_fail(s, id, 0, 0, 0))
        elseif id then
          assert.is_true(lib.ld_sched_requeue(s, id, math.random(0, 1)) >= 0)
          assert.equal(0, lib.ld_sched_compute(s, id))
        end
      elseif op == 9 then -- a result is lost
        local id = pick(with_state(ids, S.MEMORY))
        if id then assert.is_true(lib.ld_sched_lost(s, id) >= 0) end
      else -- a cancel, or a released key wanted again
        local id = pick(ids)
        local st = id and lib.ld_sched_state(s, id)
        if st and (pending(st) or st == S.RELEASED) and math.random() < 0.3 then
          assert.equal(0, lib.ld_sched_cancel_task(s, id))
        elseif st == S.RELEASED and (wants[id] or 0) > 0 then
          assert.equal(0, lib.ld_sched_compute(s, id))
        end
      end
      for id in pairs(wants) do
        if lib.ld_sched_state(s, id) == S.FREE then error("step " .. step .. ": wanted " .. id .. " forgotten") end
      end
      ids = check_invariants(step)
    end
    e.close()
  end)
end)
