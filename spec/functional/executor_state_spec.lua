-- Every executor state starts the same way (ldask.task.state): an array
-- task gives its right answer on a local cluster whatever the worker
-- thread ran first (a plain submit, a map, a delayed value, a bag), and the
-- threaded pool and ldask.xstate states have every cdef and cdata codec
-- loaded before their first task. Each ordering runs in a fresh `ldask`
-- process (a fresh ldask.Client() and fresh worker states: the bug this
-- guards against depended on what the process had loaded so far).
local helpers = require "spec.support.helpers"

-- A script that starts a local cluster of one worker with one thread
-- (so the thread that runs the array task is the one that ran FIRST),
-- runs FIRST, then the array computations, and prints each result beside
-- the sync scheduler's.
local function script(first)
  return [[
local ldask = require "ldask"
local c = ldask.Client { n_workers = 1, threads_per_worker = 1 }
]] .. first .. [[

local da = ldask.array
local function show(name, x)
  local ok, got = pcall(function() return x:compute() end)
  if not ok then print(name .. " ERROR " .. tostring(got):gsub("\n.*", "")) return end
  local want = x:compute { scheduler = "sync" }
  if type(got) == "number" then -- a reduction to one value: a Lua number
    print(name .. " " .. (got == want and "same" or "DIFFERENT") .. " " .. tostring(got))
    return
  end
  local same = got:eq(want):all():item()
  -- the result's methods work in this state too (its metatype)
  print(name .. " " .. (same and "same" or "DIFFERENT") .. " " .. tostring(got:sum():item()))
end
show("ones", da.ones({ 100, 100 }, { chunks = 50 }):sum())
show("arange", da.arange(100, { chunks = 10 }):sum())
show("random", da.random.random({ 100 }, { chunks = 10, seed = 7 }))
show("arange_blocks", da.arange(40, { chunks = 10 }) * 2)
c:close()
]]
end

local FIRSTS = {
  submit = [[print("first " .. c:submit(function(x) return x * 2 end, 21):result())]],
  map = [[print("first " .. #c:gather(c:map(function(x) return x + 1 end, { 1, 2, 3 })))]],
  delayed = [[print("first " .. ldask.delayed(function(a, b) return a + b end)(40, 2):compute())]],
  bag = [[print("first " .. ldask.bag.from_sequence({ 1, 2, 3, 4 }, { npartitions = 2 }):map(function(x) return x * 10 end):sum():compute())]],
}

describe("executor states start the same whatever they run first", function()
  for _, name in ipairs { "submit", "map", "delayed", "bag" } do
    it("computes arrays on a local cluster after a " .. name .. " task", function()
      local path = helpers.write_tmp("first_" .. name .. ".lua", script(FIRSTS[name]))
      local out, rc = helpers.run_ldask(helpers.shell_quote(path) .. " 2>&1")
      assert.equal(0, rc, out)
      assert.truthy(out:match("^first "), out)
      assert.truthy(out:find("ones same 10000\n", 1, true), out)
      assert.truthy(out:find("arange same 4950\n", 1, true), out)
      assert.truthy(out:find("random same ", 1, true), out)
      assert.truthy(out:find("arange_blocks same 1560\n", 1, true), out)
      assert.falsy(out:find("ERROR", 1, true), out)
    end)
  end

  it("loads every cdef and cdata codec in a fresh ldask.xstate", function()
    local xstate = require "ldask.xstate"
    local xs = assert(xstate.new())
    local got = assert(xs:call("ldask.xstate", "_probe_loaded", "ldask.array.ndarray"))
    assert.equal("true", got)
    got = assert(xs:call("ldask.xstate", "_probe_loaded", "ldask.ffi.io"))
    assert.equal("true", got)
    xs:close()
  end)

  it("ships an ndarray from a threaded task that is the pool's first", function()
    -- a plain function returning a chunk made through the FFI directly
    local out, rc = helpers.run_ldask("-e " .. helpers.shell_quote([[
local g = { x = { function() return require("ldask.array.ndarray").ones({ 3 }) end } }
local r = ldask.get(g, "x", { scheduler = "threads" })
print(tostring(r:sum():item()))
]]) .. " 2>&1")
    assert.equal(0, rc, out)
    assert.equal("3\n", out)
  end)
end)
