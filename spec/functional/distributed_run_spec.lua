-- Functional specs of client:upload_file and client:run: real
-- ldask-scheduler and ldask-worker processes on 127.0.0.1. A module
-- written to a temporary directory (on no package.path) reaches every
-- worker, also one that joins later, and a new version replaces it; run
-- calls a function once per worker and reports errors by worker.
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"

local opts = client.options

-- Writes TEXT to DIR/NAME.
local function write(dir, name, text)
  local f = assert(io.open(dir .. "/" .. name, "w"))
  f:write(text)
  f:close()
  return dir .. "/" .. name
end

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p '" .. p .. "'") == 0)
  return p
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

describe("client:upload_file and client:run", function()
  local cl, c, dir
  setup(function()
    dir = tmpdir()
    cl = cluster_mod.start({ n_workers = 2 })
    c = client(cl.address, { set_as_default = false })
    c:wait_for_workers(2, 20)
  end)
  teardown(function()
    if c then pcall(c.close, c) end
    if cl then cl:stop() end
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("ships a module to every worker, present and future, and replaces it with a new version", function()
    local path = write(dir, "ldrun_mod.lua", "return { answer = function(x) return x * 2 end }")
    assert.equal("ldrun_mod", c:upload_file(path, 20))
    local use = function(x)
      return { require("ldrun_mod").answer(x), require("ldask.client").get_worker().name }
    end
    for _, w in ipairs({ "local-1", "local-2" }) do
      local r = c:submit(use, 21, opts { workers = w, pure = false }):result(20)
      assert.same({ 42, w }, r)
    end
    -- a worker that joins afterwards has it too
    cl:add_worker()
    c:wait_for_workers(3, 20)
    assert.same({ 42, "local-3" }, c:submit(use, 21, opts { workers = "local-3", pure = false }):result(20))
    -- a new version: every worker (executors that loaded the old one too) sees it
    write(dir, "ldrun_mod.lua", "return { answer = function(x) return x * 3 end }")
    c:upload_file(path, 20)
    for _, w in ipairs({ "local-1", "local-2", "local-3" }) do
      assert.same({ 63, w }, c:submit(use, 21, opts { workers = w, pure = false }):result(20))
    end
    -- through run as well
    local r = c:run(function() return require("ldrun_mod").answer(1) end)
    assert.equal(3, count(r))
    for _, v in pairs(r) do assert.equal(3, v) end
  end)

  it("refuses a missing file, a file that is not .lua and a bad module name, at the caller", function()
    assert.has_error(function() c:upload_file(dir .. "/nope.lua") end,
      "Client:upload_file: cannot read '" .. dir .. "/nope.lua': " .. dir .. "/nope.lua: No such file or directory")
    local txt = write(dir, "notes.txt", "x")
    local ok, err = pcall(function() c:upload_file(txt) end)
    assert.is_false(ok)
    assert.truthy(err:find("is not a .lua file", 1, true), err)
    assert.truthy(err:find("distributed_run_spec.lua", 1, true), err) -- the caller's level
    local bad = write(dir, "my-mod.lua", "return 1")
    ok, err = pcall(c.upload_file, c, bad)
    assert.is_false(ok)
    assert.truthy(err:find("'my-mod.lua' does not name a Lua module", 1, true), err)
    assert.has_error(function() c:upload_file(42) end, "Client:upload_file: expected a file path, got number")
  end)

  it("runs a function once on each worker with arguments, keyed by address", function()
    local info = c:scheduler_info()
    local r = c:run(function(sep, n)
      return require("ldask.client").get_worker().name .. sep .. n
    end, ":", 7)
    assert.equal(#info.workers, count(r))
    for _, w in ipairs(info.workers) do assert.equal(w.name .. ":7", r[w.address]) end
    -- tables come back through the codec
    local t = c:run(function() return { 1, 2, { x = "y" } } end, opts { workers = "local-1" })
    assert.equal(1, count(t))
    local _, v = next(t)
    assert.same({ 1, 2, { x = "y" } }, v)
  end)

  it("restricts run to the workers named (by name or address)", function()
    local info = c:scheduler_info()
    local addr2
    for _, w in ipairs(info.workers) do if w.name == "local-2" then addr2 = w.address end end
    local r = c:run(function() return require("ldask.client").get_worker().name end,
      opts { workers = { "local-1", addr2 } })
    assert.equal(2, count(r))
    assert.equal("local-2", r[addr2])
    assert.has_error(function() c:run(function() end, opts { workers = { "local-1", "ghost" } }) end,
      "Client:run: no worker named 'ghost' in the cluster")
  end)

  it("raises a worker's error naming it, or returns the errors with on_error = 'return'", function()
    local ok, err = pcall(c.run, c, function() error("run went wrong") end, opts { workers = "local-1" })
    assert.is_false(ok)
    assert.equal(client.RunError, getmetatable(err))
    assert.truthy(err.worker:match("^tcp://127%.0%.0%.1:%d+$"))
    assert.truthy(err.message:find("run went wrong", 1, true))
    assert.truthy(err.traceback:find("stack traceback", 1, true))
    assert.truthy(tostring(err):find("run on worker " .. err.worker .. " failed: ", 1, true))
    local r = c:run(function()
      local name = require("ldask.client").get_worker().name
      if name == "local-2" then error("only on 2") end
      return name
    end, opts { on_error = "return", workers = { "local-1", "local-2" } })
    local n_err = 0
    for _, v in pairs(r) do
      if getmetatable(v) == client.RunError then
        n_err = n_err + 1
        assert.truthy(v.message:find("only on 2", 1, true))
      else
        assert.equal("local-1", v)
      end
    end
    assert.equal(1, n_err)
    assert.has_error(function() c:run(function() end, opts { on_error = "ignore" }) end,
      'Client:run: on_error must be "raise" or "return", got ignore')
  end)
end)

describe("client:run when a worker dies before answering", function()
  it("answers with an error naming that worker instead of hanging", function()
    local cl = cluster_mod.start({ n_workers = 2 })
    local c
    local ok, err = pcall(function()
      c = client(cl.address, { set_as_default = false })
      c:wait_for_workers(2, 20)
      local r = c:run(function()
        local name = require("ldask.client").get_worker().name
        if name == "local-1" then os.exit(9) end
        return name
      end, opts { on_error = "return", timeout = 30 })
      assert.equal(2, count(r))
      local died = 0
      for _, v in pairs(r) do
        if getmetatable(v) == client.RunError then
          died = died + 1
          assert.truthy(v.message:find("left before answering", 1, true), v.message)
          assert.truthy(v.message:find(v.worker, 1, true), v.message)
        else
          assert.equal("local-2", v)
        end
      end
      assert.equal(1, died)
      -- the cluster goes on with the other worker
      assert.equal(5, c:submit(function() return 5 end):result(20))
    end)
    if c then pcall(c.close, c) end
    cl:stop()
    if not ok then error(err, 0) end
  end)
end)

describe("client:upload_file and the workers' local directories", function()
  it("writes into --local-directory, removes the files at exit, and names a worker that could not write", function()
    local base = tmpdir()
    local good, bad = base .. "/good", base .. "/bad"
    local cl = cluster_mod.start({ n_workers = 1 })
    local c
    local ok, err = pcall(function()
      cl:add_worker(1, "--local-directory '" .. good .. "'")
      cl:add_worker(1, "--local-directory '" .. bad .. "'")
      c = client(cl.address, { set_as_default = false })
      c:wait_for_workers(3, 20)
      -- local-3's directory becomes a plain file: it cannot make its files directory
      assert(os.execute("rm -rf '" .. bad .. "' && touch '" .. bad .. "'") == 0)
      local path = write(base, "ldrun_dirs.lua", "return 'from the upload'")
      local uok, uerr = pcall(c.upload_file, c, path, 20)
      assert.is_false(uok)
      assert.truthy(uerr:find("Client:upload_file: worker tcp://127.0.0.1:%d+ %(local%-3%) could not take 'ldrun_dirs': " ..
        "cannot create a files directory '" .. bad:gsub("%p", "%%%0") .. "/ldask%-files%-XXXXXX': Not a directory"), uerr)
      -- the others have it; local-2's copy is in its local directory
      local r = c:run(function() return require "ldrun_dirs" end, opts { workers = { "local-1", "local-2" } })
      for _, v in pairs(r) do assert.equal("from the upload", v) end
      local p = io.popen("ls '" .. good .. "'/ldask-files-*/ldrun_dirs.lua 2>/dev/null")
      local listed = p:read("*a")
      p:close()
      assert.truthy(listed:find("ldrun_dirs.lua", 1, true))
    end)
    if c then pcall(c.close, c) end
    cl:stop()
    -- the workers remove their files directories when they stop (SIGTERM:
    -- give them time)
    local left
    for _ = 1, 100 do
      local p = io.popen("ls -d '" .. good .. "'/ldask-files-* 2>/dev/null")
      left = p:read("*a")
      p:close()
      if left == "" then break end
      require("socket").sleep(0.1)
    end
    os.execute("rm -rf '" .. base .. "'")
    if not ok then error(err, 0) end
    assert.equal("", left)
  end)
end)

describe("client:run next to running tasks", function()
  it("runs on a free executor state of a worker while a task runs on another", function()
    local cl = cluster_mod.start({ n_workers = 0 })
    local base = tmpdir()
    local c
    local ok, err = pcall(function()
      cl:add_worker(2)
      c = client(cl.address, { set_as_default = false })
      c:wait_for_workers(1, 20)
      local flag = base .. "/flag"
      -- the task waits (at most 20 s) for a file that only the run creates
      local f = c:submit(function(path)
        local socket = require "socket"
        for _ = 1, 400 do
          local h = io.open(path)
          if h then h:close(); return "released" end
          socket.sleep(0.05)
        end
        return "timed out"
      end, flag, opts { pure = false })
      for _ = 1, 400 do -- on the worker before the run is sent
        if c:task_info(f).state == "processing" then break end
        require("socket").sleep(0.05)
      end
      local r = c:run(function(path)
        local h = assert(io.open(path, "w"))
        h:close()
        return "flag set"
      end, flag, opts { timeout = 30 })
      local _, v = next(r)
      assert.equal("flag set", v)
      assert.equal("released", f:result(30))
    end)
    if c then pcall(c.close, c) end
    cl:stop()
    os.execute("rm -rf '" .. base .. "'")
    if not ok then error(err, 0) end
  end)
end)
