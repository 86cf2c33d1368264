-- Functional specs of ldask-worker spilling results to disk under
-- --memory-limit: real ldask-scheduler and ldask-worker processes on
-- 127.0.0.1, driven through ldask.client. Checks the results (strings and
-- ndarrays), the spill files (count, sizes, deletion), the worker's peak
-- RSS, clean-up at exit (also after SIGKILL), the --memory-limit values,
-- and what happens when the spill directory cannot be created, a file
-- cannot be written, or a spill file disappears. The workers run without a
-- nanny: the limits here (2 to 4 MB, so that a few 1 MB results spill) are
-- below what a worker process needs to build such results, which a nanny
-- rightly takes for a worker out of memory (spec/functional/faults_spec.lua
-- has the nanny and process memory).
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"
local helpers = require "helpers"

local opts = client.options
local MB = 1000000

local function nap(s) require("socket").sleep(s) end

-- Runs FN(cluster, c) on a scheduler with no worker (add them with
-- cl:add_worker); always stops the cluster.
local function with_cluster(fn) helpers.with_cluster(0, fn, { nanny = false }) end

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("*a"); p:close()
  return out
end

local function fresh_dir(name)
  local dir = helpers.tmpdir() .. "/" .. name
  os.execute("rm -rf " .. helpers.shell_quote(dir) .. " && mkdir -p " .. helpers.shell_quote(dir))
  return dir
end

-- Waits (at most 20 s) until worker I's log matches PATTERN; returns the capture.
local function from_log(cl, i, pattern)
  local deadline = os.time() + 20
  repeat
    local m = (cl:log(i) or ""):match(pattern)
    if m then return m end
    nap(0.05)
  until os.time() > deadline
  error("worker " .. i .. "'s log never matched " .. pattern .. ":\n" .. (cl:log(i) or ""), 2)
end

-- The spill files in DIR: a list of { name, size }.
local function spill_files(dir)
  local files = {}
  for line in sh("cd " .. helpers.shell_quote(dir) .. " 2>/dev/null && stat -c '%n %s' -- *.spill 2>/dev/null"):gmatch("[^\n]+") do
    local name, size = line:match("^(%S+) (%d+)$")
    if name then files[#files + 1] = { name = name, size = tonumber(size) } end
  end
  return files
end

local function exists(path) return os.execute("test -e " .. helpers.shell_quote(path)) == 0 end

-- Stops worker I with SIGTERM and waits for its exit (at most 20 s).
local function stop_worker(cl, i)
  local pid = cl.workers[i]
  cl:kill_worker(i, "TERM")
  local deadline = os.time() + 20
  while os.execute("kill -0 " .. pid .. " 2>/dev/null") == 0 and os.time() < deadline do nap(0.05) end
  assert.is_false(os.execute("kill -0 " .. pid .. " 2>/dev/null") == 0, "worker " .. i .. " did not stop")
end

-- A task returning a distinct string of N bytes for I.
local function block(i, n) return string.rep(string.char(65 + i % 26), n - #tostring(i)) .. i end
local expected = block -- the same value, computed here

describe("ldask-worker --memory-limit spills results to disk", function()
  it("keeps results that outgrow the limit on disk, gives them back right, deletes them when freed", function()
    with_cluster(function(cl, c)
      local local_dir = fresh_dir("spill-main")
      cl:add_worker(1, "--memory-limit 4MB --local-directory " .. local_dir)
      c:wait_for_workers(1, 20)
      local seq = {}
      for i = 1, 60 do seq[i] = i end
      local fs = c:map(block, seq, MB)
      local r = client.wait(fs, { timeout = 60 })
      assert.equal(60, #r.done)
      local dir = from_log(cl, 1, "spilling to (%S+)")
      assert.equal(local_dir, dir:match("^(.*)/ldask%-spill%-[%w]+$"))
      -- What stays in RAM is under 0.6 x 4 MB: at least 57 of the 60 blocks
      -- are on disk (the last writes may still be under way: wait for them).
      local function complete(fl)
        if #fl < 57 then return false end
        for _, f in ipairs(fl) do if f.size < MB then return false end end
        return true
      end
      local files, until_t = spill_files(dir), os.time() + 20
      while not complete(files) and os.time() < until_t do nap(0.05); files = spill_files(dir) end
      assert.is_true(#files >= 57, "only " .. #files .. " spill files")
      for _, f in ipairs(files) do assert.is_true(f.size >= MB and f.size < MB + 4096, f.name .. ": " .. f.size) end
      -- Peak RSS (about 21 MB here, 8 MB of it at start-up, 2 MB of that
      -- OpenSSL's for the cluster's token; 26 MB after the map below) well
      -- under the 60 MB of results; sanitizers keep freed memory in
      -- quarantine.
      local status = assert(io.open("/proc/" .. cl.workers[1] .. "/status")):read("*a")
      local hwm = tonumber(status:match("VmHWM:%s*(%d+) kB")) * 1024
      if not helpers.bin:find("/san/", 1, true) then
        assert.is_true(hwm < 38 * MB, "worker peak RSS " .. hwm .. " bytes for 60 MB of results")
      end
      -- one task per spilled block, all sent at once: inputs come back into
      -- RAM only for the few tasks about to run, so the peak stays low
      local lens = c:gather(c:map(function(v) return #v end, fs), 30)
      local total = 0
      for _, l in ipairs(lens) do total = total + l end
      assert.equal(60 * MB, total)
      status = assert(io.open("/proc/" .. cl.workers[1] .. "/status")):read("*a")
      hwm = tonumber(status:match("VmHWM:%s*(%d+) kB")) * 1024
      if not helpers.bin:find("/san/", 1, true) then
        assert.is_true(hwm < 38 * MB, "worker peak RSS " .. hwm .. " bytes after a map over 60 MB of spilled results")
      end
      -- a task on the worker with ten spilled inputs (read back on its threadpool)
      local function summary(...)
        local n, tails = 0, {}
        for i, v in ipairs({ ... }) do n, tails[i] = n + #v, v:sub(-2) end
        return n .. ":" .. table.concat(tails, ",")
      end
      local ten = c:submit(summary, fs[1], fs[2], fs[3], fs[4], fs[5], fs[6], fs[7], fs[8], fs[9], fs[10])
      assert.equal((10 * MB) .. ":B1,C2,D3,E4,F5,G6,H7,I8,J9,10", ten:result(30))
      -- gathered in groups: each gather reads its blocks back
      for first = 1, 60, 10 do
        local group = {}
        for i = first, first + 9 do group[#group + 1] = fs[i] end
        local vals = c:gather(group, 30)
        for k, v in ipairs(vals) do assert.equal(expected(first + k - 1, MB), v) end
      end
      -- freeing releases the files
      for i = 1, 60 do fs[i]:release() end
      local deadline = os.time() + 20
      while #spill_files(dir) > 0 and os.time() < deadline do c:scheduler_info(); nap(0.05) end
      assert.equal(0, #spill_files(dir))
      -- at exit the spill directory goes; the user's --local-directory stays
      stop_worker(cl, 1)
      assert.is_false(exists(dir), dir .. " still exists")
      assert.is_true(exists(local_dir))
    end)
  end)

  it("spills ndarray results (raw buffer frames) and gives them back bit for bit", function()
    with_cluster(function(cl, c)
      cl:add_worker(1, "--memory-limit 3MB")
      c:wait_for_workers(1, 20)
      local N = 250 * 500 -- 1 MB of float64 per block
      local function chunk(i, n)
        local a = require("ldask.array.ndarray").alloc({ 250, 500 }, "float64")
        local d = a:data()
        for k = 0, n - 1 do d[k] = i * 1e6 + k + 0.25 end
        return a
      end
      local seq = {}
      for i = 1, 12 do seq[i] = i end
      local fs = c:map(chunk, seq, N)
      client.wait(fs, { timeout = 30 })
      local dir = from_log(cl, 1, "spilling to (%S+)")
      local deadline = os.time() + 20
      while #spill_files(dir) < 9 and os.time() < deadline do nap(0.05) end
      assert.is_true(#spill_files(dir) >= 9, #spill_files(dir) .. " spill files")
      local function total(n, ...)
        local s = 0
        for _, a in ipairs({ ... }) do
          local d = a:data()
          for k = 0, n - 1 do s = s + d[k] end
        end
        return s
      end
      local want = 0
      for i = 1, 12 do for k = 0, N - 1 do want = want + i * 1e6 + k + 0.25 end end
      assert.equal(want, c:submit(total, N, unpack(fs)):result(30))
      local vals = c:gather(fs, 30)
      for i, a in ipairs(vals) do
        assert.same({ 250, 500 }, a.shape)
        local d = a:data()
        for k = 0, N - 1, 331 do assert.equal(i * 1e6 + k + 0.25, d[k]) end
      end
    end)
  end)

  it("uses a spilled input in a local task and serves it to a peer", function()
    with_cluster(function(cl, c)
      cl:add_worker(1, "--memory-limit 2MB --name holder")
      cl:add_worker(1, "--name other")
      c:wait_for_workers(2, 20)
      -- bigger than 0.6 x 2 MB: straight to disk
      local big = c:submit(block, 7, 3 * MB, opts { workers = "holder" })
      assert.is_true(client.wait({ big }, { timeout = 30 }).done[1] ~= nil)
      local dir = from_log(cl, 1, "spilling to (%S+)")
      local deadline = os.time() + 20
      while #spill_files(dir) < 1 and os.time() < deadline do nap(0.05) end
      assert.equal(1, #spill_files(dir))
      local len = function(s) return #s .. ":" .. s:sub(1, 1) .. s:sub(-1) end
      local here = c:submit(len, big, opts { workers = "holder", pure = false })
      local there = c:submit(len, big, opts { workers = "other", pure = false })
      assert.equal("3000000:H7", here:result(30))
      assert.equal("3000000:H7", there:result(30))
      assert.equal(expected(7, 3 * MB), big:result(30))
      -- the peer fetched it (counters come with heartbeats)
      local fetched, deadline2 = 0, os.time() + 10
      repeat
        for _, w in ipairs(c:scheduler_info().workers) do
          if w.name == "other" then fetched = w.fetched end
        end
        if fetched < 1 then nap(0.1) end
      until fetched >= 1 or os.time() > deadline2
      assert.is_true(fetched >= 1, "the peer fetched nothing")
      -- the default spill directory (no --local-directory) is a fresh one, removed at exit
      assert.truthy(dir:match("^" .. (os.getenv("TMPDIR") or "/tmp"):gsub("%p", "%%%0") .. "/ldask%-spill%-"))
      stop_worker(cl, 1)
      assert.is_false(exists(dir), dir .. " still exists")
    end)
  end)

  it("keeps results in RAM when the spill directory cannot be created, and says where", function()
    with_cluster(function(cl, c)
      local local_dir
      if sh("id -u"):match("^0") then
        local_dir = "/sys" -- root ignores permissions; sysfs refuses new directories
      else
        local_dir = fresh_dir("readonly")
        os.execute("chmod 555 " .. helpers.shell_quote(local_dir))
      end
      cl:add_worker(1, "--memory-limit 2MB --local-directory " .. local_dir)
      c:wait_for_workers(1, 20)
      local fs = c:map(block, { 1, 2, 3, 4, 5, 6 }, MB)
      local vals = c:gather(fs, 30)
      for i = 1, 6 do assert.equal(expected(i, MB), vals[i]) end
      local msg = from_log(cl, 1, "(cannot create the spill directory '[^\n]+)")
      assert.matches("'" .. local_dir:gsub("%p", "%%%0") .. "/ldask%-spill%-", msg)
      assert.matches("results stay in RAM", msg, 1, true)
    end)
  end)

  it("fails a task whose spilled input vanished with the key, the file and the error; keeps new results in RAM", function()
    with_cluster(function(cl, c)
      cl:add_worker(1, "--memory-limit 2MB")
      c:wait_for_workers(1, 20)
      local big = c:submit(block, 3, 2 * MB, opts { key = "big-3" })
      client.wait({ big }, { timeout = 30 })
      local dir = from_log(cl, 1, "spilling to (%S+)")
      local deadline = os.time() + 20
      while #spill_files(dir) < 1 and os.time() < deadline do nap(0.05) end
      local file = spill_files(dir)[1]
      assert.truthy(file)
      local big4 = c:submit(block, 4, 2 * MB, opts { key = "big-4" })
      client.wait({ big4 }, { timeout = 30 })
      while #spill_files(dir) < 2 and os.time() < deadline do nap(0.05) end
      assert.equal(2, #spill_files(dir))
      -- the directory goes away: reads and further writes fail
      os.execute("rm -rf " .. helpers.shell_quote(dir))
      local use = c:submit(function(s) return #s end, big, opts { key = "use-big" })
      local ok, err = pcall(use.result, use, 30)
      assert.is_false(ok)
      assert.equal("use-big", err.key)
      assert.matches("cannot read 'big%-3' back from spill file '" .. (dir .. "/" .. file.name):gsub("%p", "%%%0") .. "'", err.message)
      assert.matches("No such file or directory (errno 2)", err.message, 1, true)
      -- a gather of a lost spilled value is answered as missing: the scheduler recomputes it
      assert.equal(expected(4, 2 * MB), big4:result(30))
      assert.matches("cannot read 'big%-4' back from spill file '[^']+': open: No such file or directory %(errno 2%); answered as missing",
        from_log(cl, 1, "(cannot read 'big%-4'[^\n]+)"))
      -- new results cannot be spilled: they stay in RAM, right, and stderr says why
      local more = c:map(block, { 10, 11, 12 }, MB)
      local vals = c:gather(more, 30)
      for k, i in ipairs({ 10, 11, 12 }) do assert.equal(expected(i, MB), vals[k]) end
      assert.matches("cannot spill '[^']+' to '" .. dir:gsub("%p", "%%%0") .. "/%d+%.spill': open: No such file or directory; it stays in RAM",
        from_log(cl, 1, "(cannot spill [^\n]+)"))
    end)
  end)
end)

describe("a spill file that cannot be written", function()
  it("keeps the value in RAM and says why (a file-size limit: EFBIG)", function()
    with_cluster(function(cl, c)
      local local_dir = fresh_dir("spill-fsize")
      local log = local_dir .. ".log"
      -- ulimit -f counts 1024-byte blocks: files stop at 1 MiB
      local p = io.popen("(ulimit -f 1024; exec " .. helpers.bin .. "/ldask-worker " .. cl.address ..
        " --auth-token-file " .. cl.token_file .. " --name limited --no-nanny --death-timeout 5 --memory-limit 2MB --local-directory " ..
        helpers.shell_quote(local_dir) .. ") > " .. helpers.shell_quote(log) .. " 2>&1 & echo $!")
      local pid = tonumber(p:read("*l")); p:close()
      local ok, err = pcall(function()
        c:wait_for_workers(1, 20)
        local fs = c:map(block, { 1, 2, 3 }, 3 * MB)
        local vals = c:gather(fs, 30)
        for i = 1, 3 do assert.equal(expected(i, 3 * MB), vals[i]) end
        local deadline, text = os.time() + 20, ""
        repeat
          local f = io.open(log); text = f and f:read("*a") or ""; if f then f:close() end
          if not text:find("cannot spill", 1, true) then nap(0.05) end
        until text:find("cannot spill", 1, true) or os.time() > deadline
        assert.matches("cannot spill '[^']+' to '" .. local_dir:gsub("%p", "%%%0") ..
          "/ldask%-spill%-%w+/%d+%.spill': write: File too large; it stays in RAM", text)
        -- a failed write leaves no partial file behind
        assert.equal(0, #spill_files(text:match("spilling to (%S+)")))
      end)
      os.execute("kill " .. pid .. " 2>/dev/null")
      if not ok then error(err, 0) end
    end)
  end)
end)

describe("stopping a cluster whose worker spilled", function()
  it("removes the spill files and directory even when the scheduler's close and SIGTERM come together", function()
    local local_dir = fresh_dir("spill-stop")
    local cl = cluster_mod.start({ n_workers = 0, nanny = false })
    local c, pid
    local ok, err = pcall(function()
      c = client(cl.address, { set_as_default = false })
      cl:add_worker(1, "--memory-limit 2MB --local-directory " .. local_dir)
      c:wait_for_workers(1, 20)
      pid = cl.workers[1]
      local fs = c:map(block, { 1, 2, 3, 4, 5, 6, 7, 8 }, MB)
      client.wait(fs, { timeout = 30 })
      local dir = from_log(cl, 1, "spilling to (%S+)")
      local deadline = os.time() + 20
      while #spill_files(dir) < 6 and os.time() < deadline do nap(0.05) end
      assert.is_true(#spill_files(dir) >= 6)
    end)
    if c then pcall(c.close, c) end
    cl:stop() -- SIGTERM to the scheduler and the worker at once
    if not ok then error(err, 0) end
    local deadline = os.time() + 20
    while os.execute("kill -0 " .. pid .. " 2>/dev/null") == 0 and os.time() < deadline do nap(0.05) end
    assert.equal("", sh("ls -A " .. helpers.shell_quote(local_dir)))
  end)
end)

describe("a worker killed with SIGKILL", function()
  it("leaves its spill directory, which the next worker spilling in the same place removes (a live worker's stays)", function()
    with_cluster(function(cl, c)
      local local_dir = fresh_dir("spill-killed")
      cl:add_worker(1, "--memory-limit 2MB --name first --local-directory " .. local_dir)
      c:wait_for_workers(1, 20)
      local fs = c:map(block, { 1, 2, 3, 4 }, MB, opts { workers = "first" })
      client.wait(fs, { timeout = 30 })
      local dir = from_log(cl, 1, "spilling to (%S+)")
      local deadline = os.time() + 20
      while #spill_files(dir) < 3 and os.time() < deadline do nap(0.05) end
      -- while its worker lives, the directory is locked: another worker spilling next to it keeps it
      os.execute("touch -d '2 minutes ago' " .. helpers.shell_quote(dir))
      cl:add_worker(1, "--memory-limit 2MB --name second --local-directory " .. local_dir)
      local b3 = c:submit(block, 3, 2 * MB, opts { workers = "second" })
      assert.equal(expected(3, 2 * MB), b3:result(30))
      from_log(cl, 2, "(spilling to)")
      assert.is_true(exists(dir))
      assert.is_nil((cl:log(2) or ""):match("removed"))
      local pid = cl.workers[1]
      cl:kill_worker(1, "KILL")
      while os.execute("kill -0 " .. pid .. " 2>/dev/null") == 0 and os.time() < deadline do nap(0.05) end
      assert.is_true(#spill_files(dir) >= 3, "the killed worker's files are gone already")
      -- directories younger than a minute are left alone (their worker may be starting)
      os.execute("touch -d '2 minutes ago' " .. helpers.shell_quote(dir))
      cl:add_worker(1, "--memory-limit 2MB --name third --local-directory " .. local_dir)
      local big = c:submit(block, 5, 2 * MB, opts { workers = "third" })
      assert.equal(expected(5, 2 * MB), big:result(30))
      local removed = from_log(cl, 3, "(removed [^\n]+)")
      assert.matches(dir:gsub("%p", "%%%0") .. " and its %d+ spill files, left by a worker that is gone", removed)
      assert.is_false(exists(dir), dir .. " still exists")
    end)
  end)
end)

describe("ldask-worker --memory-limit values", function()
  it("takes a fraction of the machine's memory, or auto, and refuses nonsense", function()
    local total = tonumber(io.open("/proc/meminfo"):read("*a"):match("MemTotal:%s*(%d+) kB")) * 1024
    with_cluster(function(cl, c)
      cl:add_worker(1, "--memory-limit 0.5 --name half")
      cl:add_worker(1, "--memory-limit auto --name all")
      c:wait_for_workers(2, 20)
      local half = tonumber(from_log(cl, 1, "memory limit (%d+) bytes"))
      local all = tonumber(from_log(cl, 2, "memory limit (%d+) bytes"))
      assert.is_true(math.abs(half - total / 2) < total * 0.01, half .. " is not half of " .. total)
      assert.is_true(math.abs(all - total) < total * 0.01, all .. " is not " .. total)
      assert.equal(3, c:submit(function() return 3 end):result(10))
    end)
    for _, bad in ipairs({ "-0.5", "half", "12 parsecs", "nan", "1e30" }) do
      local out = sh(helpers.bin .. "/ldask-worker tcp://127.0.0.1:1 --death-timeout 1 --memory-limit '" .. bad .. "' 2>&1; echo rc=$?")
      assert.matches("--memory-limit expects a size like 4GiB or 2e9, got '" .. bad ..
        "' (or a fraction like 0.5 of the machine's memory, or auto)", out, 1, true)
      assert.matches("rc=2", out, 1, true)
    end
  end)
end)
