-- A long-lived codec session (a client's) sees modules loaded after its
-- first value: their functions travel by name, never as copies of their
-- bytecode (the cause of ldask.array tasks failing on a cluster after a
-- plain submit); a graph's session checks once.
local codec = require "ldask.codec"
local state = require "ldask.task.state"

describe("codec sessions and modules loaded later", function()
  local NAME = "task_state_probe_mod"
  after_each(function() package.loaded[NAME] = nil end)

  it("a long-lived session refers to a module loaded after its first value", function()
    local s = codec.session()
    s:encode({ function(x) return x end, 1 })
    local before = s.count
    package.loaded[NAME] = { f = function(x) return x + 1 end }
    local h = s:encode({ package.loaded[NAME].f, 1 })
    assert.equal(before, s.count) -- no function blob: by reference
    assert.truthy(h:find(NAME, 1, true))
  end)

  it("a graph's session checks the loaded modules once", function()
    local s = codec.session { graph = true }
    s:encode({ function(x) return x end, 1 })
    local before = s.count
    package.loaded[NAME] = { f = function(x) return x + 1 end }
    s:encode({ package.loaded[NAME].f, 1 })
    assert.equal(before + 1, s.count) -- stale index: encoded as a function
  end)

  it("rejects bad session options", function()
    assert.has_error(function() codec.session(5) end, "codec.session: opts must be a table, got number")
  end)
end)

describe("ldask.task.state.collect_if_grown", function()
  it("keeps dead 1 MB strings from piling up past max(4 MB, the live heap)", function()
    collectgarbage()
    state.collect_if_grown() -- sets the live size if the heap grew since
    collectgarbage()
    local live = collectgarbage("count")
    -- (slack for the two 1 MB strings of an iteration and the collector's
    -- phase when the suite gets here; without the policy the peak is ~200 MB)
    local bound = live + math.max(live, state.GC_SLACK_KB) + 10 * 1024
    local peak, n = 0, 0
    for i = 1, 200 do
      local s = string.rep("x", 1000000) .. i
      n = n + #s
      state.collect_if_grown()
      local kb = collectgarbage("count")
      if kb > peak then peak = kb end
    end
    assert.is_true(n > 200 * 1000000)
    assert.is_true(peak < bound, ("peak %d KB, bound %d KB"):format(peak, bound))
  end)
end)
