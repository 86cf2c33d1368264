-- spec/functional/cluster_lifetime_spec.lua: a local cluster never outlives
-- the process that started it (docs/distributed.md, "Local clusters"): a
-- child `ldask` script starts one and then returns without close(), fails,
-- calls os.exit, or is killed with SIGKILL; each time its scheduler,
-- nannies and workers are gone within seconds. A scheduler started by hand
-- is not tied to anyone.
local helpers = require "helpers"
local ldask = require "ldask"
local cluster = require "ldask.client.cluster"

-- The child: starts a local cluster of two workers, prints its directory
-- and the pids of its scheduler, nannies and workers on one line, then
-- ends as its argument says.
local CHILD = [[
local how = arg[1]
local c = ldask.Client{ n_workers = 2 }
local cl = c.cluster
if how == "busy" then -- a task that never ends on each worker
  for i = 1, 2 do c:submit(function(k) local x = k; while true do x = x + 1 end end, i) end
  require("socket").sleep(0.5)
end
local ids = { cl.dir, cl.scheduler_pid }
for i = 1, 2 do
  ids[#ids + 1] = cl.workers[i]
  local pid
  for _ = 1, 100 do pid = cl:worker_pid(i); if pid then break end; require("socket").sleep(0.05) end
  ids[#ids + 1] = pid
end
print(table.concat(ids, " "))
io.stdout:flush()
if how == "error" then error("the script fails") end
if how == "exit" then os.exit(3) end
if how == "wait" or how == "busy" then
  for _ = 1, 1200 do require("socket").sleep(0.05) end
end
]]

-- Parses the child's first line: the cluster's directory and its pids.
local function ids_of(out)
  local line = out:match("^(/tmp/ldask%-cluster%.%w+ [%d ]+)\n")
  assert(line, "the child printed no cluster line: " .. out)
  local dir, pids = nil, {}
  for w in line:gmatch("%S+") do
    if not dir then dir = w else pids[#pids + 1] = tonumber(w) end
  end
  assert.equal(5, #pids, line)
  return dir, pids
end

-- The pids of PIDS still running (a zombie waiting for its reaper is not).
local function running(pids)
  local left = {}
  for _, pid in ipairs(pids) do
    if cluster.running(pid) then left[#left + 1] = pid end
  end
  return left
end

local function assert_all_gone(pids, what, seconds)
  local ok = helpers.eventually(function() return #running(pids) == 0 end, seconds or 8)
  assert(ok, what .. ": still running: " .. table.concat(running(pids), " "))
end

describe("a local cluster and the process that started it", function()
  local script
  setup(function() script = helpers.write_tmp("lifetime_child.lua", CHILD) end)

  for _, case in ipairs({
    { how = "return", what = "returns without closing its client", code = 0 },
    { how = "error", what = "fails", code = 1, says = "the script fails" },
  }) do
    it("stops and removes its directory when the script " .. case.what, function()
      local out, code = helpers.run_ldask(script .. " " .. case.how .. " 2>&1")
      assert.equal(case.code, code, out)
      if case.says then assert.matches(case.says, out, 1, true) end
      local dir, pids = ids_of(out)
      assert_all_gone(pids, "after the script " .. case.what)
      assert.is_nil(io.open(dir .. "/scheduler.log"), "the cluster's directory is removed")
    end)
  end

  it("stops when the script calls os.exit (no Lua state close)", function()
    local out, code = helpers.run_ldask(script .. " exit 2>&1")
    assert.equal(3, code, out)
    local dir, pids = ids_of(out)
    assert_all_gone(pids, "after os.exit")
    assert(helpers.eventually(function() return io.open(dir .. "/scheduler.json") == nil end, 5),
      "the scheduler removes its file")
    assert.matches("the process that started it is gone", helpers.read_all(dir .. "/scheduler.log"), 1, true)
  end)

  -- Starts the child with HOW in the background; returns its pid, the
  -- cluster's directory and pids once the cluster runs.
  local function start_child(how)
    local outfile = helpers.tmpdir() .. "/lifetime_" .. how .. ".out"
    local child = tonumber(io.popen("exec " .. helpers.ldask .. " " .. script .. " " .. how .. " > " .. outfile ..
      " 2>&1 </dev/null & echo $!"):read("*l"))
    assert(child, "the child started")
    assert(helpers.eventually(function() return helpers.read_all(outfile):find("\n") ~= nil end, 30),
      "the child's cluster started: " .. helpers.read_all(outfile))
    local dir, pids = ids_of(helpers.read_all(outfile))
    assert.same(pids, running(pids))
    return child, dir, pids
  end

  it("stops when the script is killed with SIGKILL, and the next cluster removes its directory", function()
    local child, dir, pids = start_child("wait")
    os.execute("kill -KILL " .. child)
    assert_all_gone(pids, "after SIGKILL")
    for i = 1, 2 do
      assert.matches("the process that started it is gone", helpers.read_all(dir .. "/worker-" .. i .. ".log"), 1, true)
    end
    assert(helpers.eventually(function() return io.open(dir .. "/scheduler.json") == nil end, 5),
      "the scheduler removes its file")
    local c = ldask.Client{ n_workers = 0 }
    c:close()
    assert.is_nil(io.open(dir .. "/owner"), "a later local cluster removes the stale directory " .. dir)
  end)

  it("stops workers whose tasks never end once the script is killed (10 s of grace)", function()
    local child, _, pids = start_child("busy")
    os.execute("kill -KILL " .. child)
    assert_all_gone({ pids[1] }, "the scheduler after SIGKILL")
    assert_all_gone(pids, "the busy workers after SIGKILL", 20)
  end)

  it("stops its scheduler at once on close(), while workers hold results", function()
    for _ = 1, 3 do
      local c = ldask.Client{ n_workers = 2 }
      local pid = c.cluster.scheduler_pid
      local fs = {}
      for i = 1, 40 do fs[i] = c:submit(function(x) return x * 2 end, i) end
      assert.equal(80, c:gather(fs)[40])
      c:close()
      assert_all_gone({ pid }, "the scheduler after close()", 5)
    end
  end)

  it("leaves alone a scheduler started by hand", function()
    local file = helpers.tmpdir() .. "/lifetime_user_sched.json"
    os.remove(file)
    local starter = helpers.write_tmp("lifetime_user.lua", string.format([[
      local p = io.popen("exec %s/ldask-scheduler --port 0 --no-dashboard --scheduler-file %s > /dev/null 2>&1 & echo $!")
      print(p:read("*l")); p:close()
    ]], helpers.bin, file))
    local out, code = helpers.run_ldask(starter .. " 2>&1")
    assert.equal(0, code, out)
    local pid = tonumber(out:match("^(%d+)"))
    assert(helpers.eventually(function() return io.open(file) ~= nil end, 10), "it started")
    os.execute("sleep 1.5")
    assert.same({ pid }, running({ pid }))
    os.execute("kill " .. pid)
    assert_all_gone({ pid }, "after kill")
  end)

  it("refuses a --lifeline-fd that is not an open descriptor", function()
    for _, prog in ipairs({ "ldask-scheduler", "ldask-worker tcp://127.0.0.1:1" }) do
      local out, code = helpers.sh(helpers.bin .. "/" .. prog .. " --lifeline-fd 97 2>&1")
      assert.equal(2, code, out)
      assert.matches("--lifeline-fd 97: not an open descriptor", out, 1, true)
    end
  end)
end)
