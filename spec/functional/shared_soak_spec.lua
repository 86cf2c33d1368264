-- The short soak (bench/soak.lua, docs/distributed.md "24/7 operation"): a
-- scheduler and 2 workers under nannies run the mixed workload for one
-- minute while a worker is killed (kill -9) twice; every result must be
-- right, every round must complete, and the memory of the scheduler and
-- the workers must stay bounded.
local helpers = require "helpers"

describe("bench/soak.lua, one minute with two worker kills", function()
  it("gets every result right while workers die and come back", function()
    -- (under AddressSanitizer the freed-memory quarantine, 256 MB by
    -- default, is capped at 32 MB for these processes so that it is full by
    -- the report at 20 s at any throughput: the growth checked below is
    -- then the program's, not the quarantine still filling; ignored by
    -- other builds)
    local out, rc = helpers.run_sh("ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=32\" "
      .. helpers.ldask .. " " .. helpers.root .. "/bench/soak.lua --minutes 1 --kill-every 25 --report-every 20 2>&1 < /dev/null")
    assert.equal(0, rc, out)
    local rounds, tasks, wrong, errs, kills =
      out:match("soak done: (%d+) rounds, (%d+) tasks completed, (%d+) wrong results, (%d+) errors, (%d+) kills")
    assert.truthy(rounds, out)
    assert.equal("0", wrong, out)
    assert.equal("0", errs, out)
    assert.equal("2", kills, out)
    assert.is_true(tonumber(rounds) >= 5, out)
    assert.is_true(tonumber(tasks) >= 500, out)
    -- the scheduler's RSS after the warm-up (the report at 20 s) grows
    -- little until the end (a sanitized build starts much higher: its
    -- quarantine fills first)
    local rss = {}
    for s in out:gmatch("scheduler RSS ([%d.]+) MiB") do rss[#rss + 1] = tonumber(s) end
    assert.is_true(#rss >= 4, out)
    assert.is_true(rss[#rss] <= 1.5 * rss[2] + 20, out)
  end)
end)
