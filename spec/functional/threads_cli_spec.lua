-- spec/functional/threads_cli_spec.lua: the threaded scheduler as a user of
-- the ldask program meets it: --nthreads, --progress, Ctrl-C during a
-- compute, a failing task's message on stderr.
local helpers = require "helpers"

local function run_sh(cmd)
  local p = io.popen(cmd .. "; echo \"@@rc=$?\"")
  local out = p:read("*a")
  p:close()
  local body, rc = out:match("^(.*)@@rc=(%d+)\n$")
  return body, tonumber(rc)
end

describe("ldask program with the threaded scheduler", function()
  it("--nthreads sets the executor threads of computes", function()
    local script = helpers.write_tmp("nthreads.lua", [[
      local ex = "ldask.scheduler.executor"
      local g, keys = {}, {}
      for i = 1, 60 do
        g["t," .. i] = { function()
          local clock = require("ldask.native").ld_pool_now
          local t = clock()
          while clock() - t < 0.002 do end
          return require(ex).worker_index()
        end }
        keys[i] = "t," .. i
      end
      local r = ldask.get(g, keys, { scheduler = "threads" })
      local max = 0
      for _, w in ipairs(r) do if w > max then max = w end end
      print(ldask.config.get("num_workers"), max < 3)
    ]])
    local out, code = helpers.run_ldask("--nthreads 3 " .. script)
    assert.equal(0, code)
    assert.equal("3\ttrue\n", out)
  end)

  it("--progress draws a bar on stderr even when it is not a terminal", function()
    local script = helpers.write_tmp("progress.lua", [[
      local g = { a = { function() return 1 end }, b = { function(x) return x + 1 end, "a" } }
      print(ldask.get(g, "b", { scheduler = "threads" }))
    ]])
    local out, code = helpers.run_ldask("--progress " .. script .. " 2>&1")
    assert.equal(0, code)
    assert.matches("100%% Completed", out)
    assert.matches("\n2\n$", out)
    out = helpers.run_ldask(script .. " 2>&1")
    assert.equal("2\n", out)
  end)

  it("shows a progress bar in the REPL for computes longer than a second", function()
    local home = helpers.tmpdir() .. "/home-progress"
    os.execute("mkdir -p " .. home)
    local input = helpers.write_tmp("repl_progress.txt", table.concat({
      "ldask.config.set{scheduler = 'threads'}",
      "function spin(s) local c = require('ldask.native').ld_pool_now; local t = c(); while c() - t < s do end; return s end",
      "ldask.get({a = {spin, 0.01}}, 'a')",
      "ldask.get({a = {spin, 0.7}, b = {spin, 0.7}, c = {spin, 0.7}}, {'a', 'b', 'c'}, {num_workers = 2})",
      "os.exit(0)", -- do not depend on how the pty delivers end of input
      "",
    }, "\n"))
    local cmd = string.format("HOME=%s timeout 60 script -qfec %s /dev/null < %s 2>&1", home,
      helpers.shell_quote(helpers.ldask .. " -e 'require [[ldask.ffi.pool]]' -i"), input)
    local p = io.popen(cmd)
    local out = p:read("*a")
    p:close()
    -- one bar line (redrawn in place with \r, ended by a newline) per compute
    -- that showed one: the long compute only
    local bars = 0
    for line in out:gmatch("[^\n]+") do
      if line:find("100%% Completed") then bars = bars + 1 end
    end
    assert.equal(1, bars, out)
  end)

  it("prints a failing task's key, message and traceback, and exits 1", function()
    local script = helpers.write_tmp("fail.lua", [[
      local function parse(s)
        local n = tonumber(s)
        if not n then error("not a number: " .. s) end
        return n
      end
      ldask.get({ x = { parse, "12a" } }, "x", { scheduler = "threads" })
    ]])
    local out, code = helpers.run_ldask(script .. " 2>&1")
    assert.equal(1, code)
    assert.matches("task 'x' failed", out, 1, true)
    assert.matches("not a number: 12a", out, 1, true)
    assert.matches("fail.lua:3: not a number", out, 1, true)
    assert.matches("fail.lua:3: in function", out, 1, true)
  end)

  local spin_gc = "while true do collectgarbage('step') end"
  for i, case in ipairs {
    { "an interruptible task", spin_gc, "" },
    { "a task in a compiled loop", "local s = 0 for i = 1, 1e12 do s = s + i % 7 end", "" },
    -- the run has started, the wait has not: a Ctrl-C here once escaped
    -- the cancel and left the program joining threads that never end
    { "a callback starting", spin_gc, "mark() " .. spin_gc },
  } do
    it("exits with a clear message on Ctrl-C during a compute (" .. case[1] .. ")", function()
      local dir = helpers.tmpdir()
      local marker = dir .. "/started-" .. i
      os.remove(marker)
      local script = helpers.write_tmp("ctrlc" .. i .. ".lua", ([[
        local function mark() local f = io.open(%q, "w"); f:write("1"); f:close() end
        local function spin()
          if %s then mark() end
          %s
        end
        local cb = { start = function() %s end, progress = function() end, finish = function() end }
        ldask.get({ a = { spin }, b = { spin } }, { "a", "b" },
          { scheduler = "threads", num_workers = 2, callbacks = cb })
        print("not reached")
      ]]):format(marker, tostring(case[3] == ""), case[2], case[3]))
      local cmd = ("cd %s; (%s %s > %s/out.txt 2>&1 & echo $! > %s/pid; wait) & "
        .. "i=0; while [ ! -s %s ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; "
        .. "kill -INT $(cat %s/pid); "
        .. "j=0; while kill -0 $(cat %s/pid) 2>/dev/null && [ $j -lt 600 ]; do sleep 0.05; j=$((j+1)); done; "
        .. "if kill -0 $(cat %s/pid) 2>/dev/null; then kill -9 $(cat %s/pid); echo HUNG; fi; wait; cat %s/out.txt")
        :format(helpers.root, helpers.ldask, script, dir, dir, marker, dir, dir, dir, dir, dir)
      local out = run_sh(cmd)
      assert.is_nil(out:find("HUNG", 1, true))
      assert.matches("interrupted: computation cancelled %(Ctrl%-C%)", out)
      assert.is_nil(out:find("not reached", 1, true))
    end)
  end
end)
