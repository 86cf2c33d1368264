-- ldask.client.cluster: a local cluster for ldask.Client(): one
-- ldask-scheduler and N ldask-workers as child processes on 127.0.0.1 (free
-- ports, found through a scheduler file), stopped with the client, when
-- this process's Lua state closes (a script that returns or errors), or
-- when this process ends any other way (os.exit, a signal, kill -9): each
-- holds the read end of this process's lifeline pipe (--lifeline-fd 3,
-- runtime/lib/spawn.c) and stops at its end-of-file. The directory of a
-- cluster whose process ended without stopping it is removed by the next
-- local cluster's start.
-- Each cluster has a random token of its own (docs/security.md): written
-- to a file only this user can read in the cluster's 0700 directory and
-- given to its processes; Client(cluster.address) in this process uses it.
local ffi = require "ffi"
require "ldask.ffi.client"
local lib = require "ldask.native"

local M = {}

-- address -> token file of the running local clusters of this process.
local tokens = {}

--- The token file of this process's running local cluster at ADDRESS, or
-- nil.
function M.token_file(address) return tokens[address] end

local Cluster = { __name = "ldask.LocalCluster" }
Cluster.__index = Cluster

-- Where ldask-scheduler and ldask-worker are: beside the running ldask
-- program, else LDASK_ROOT/bin, else the directory of the ldask-scheduler
-- found on PATH (a luarocks tree's bin/, an install prefix).
local function bindir()
  if _LDASK_BIN then return _LDASK_BIN end
  local root = _LDASK_ROOT or os.getenv("LDASK_ROOT")
  if root then return root .. "/bin" end
  local p = io.popen("command -v ldask-scheduler 2>/dev/null")
  local found = p and p:read("*l")
  if p then p:close() end
  if found and found ~= "" then return (found:gsub("/[^/]*$", "")) end
  return "./bin"
end

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Starts CMD (a shell command: a program and its options) detached from
-- this process, with output to LOG; returns its pid. With LIFELINE true
-- the program also gets "--lifeline-fd 3" and this process's lifeline as
-- descriptor 3: it stops when this process ends.
local function spawn(cmd, log, lifeline)
  local err = ffi.new("char[256]")
  local fd = -1
  if lifeline then
    fd = lib.ld_lifeline_parent_fd(err, 256)
    if fd < 0 then error("ldask.Client: " .. ffi.string(err), 4) end
    cmd = cmd .. " --lifeline-fd 3"
  end
  local pid = lib.ld_spawn_detached("exec " .. cmd .. " >" .. quote(log) .. " 2>&1", fd, err, 256)
  if pid < 0 then error("ldask.Client: cannot start '" .. cmd .. "': " .. ffi.string(err), 4) end
  return pid
end

-- Writes a fresh random token (RAND_bytes, 32 bytes as hex) to PATH,
-- readable by its owner only. Returns PATH.
local function write_token(path)
  local hex = ffi.new("char[65]")
  if lib.ld_auth_random_hex(hex, 32) ~= 0 then
    error("ldask.Client: no randomness for the local cluster's token (RAND_bytes failed)", 4)
  end
  local f = assert(io.open(path, "w")); f:close()
  os.execute("chmod 600 '" .. path .. "'")
  f = assert(io.open(path, "w")); f:write(ffi.string(hex), "\n"); f:close()
  return path
end

-- The security options of the cluster's processes (a shell fragment).
local function security_args(self, opts)
  local a = {}
  if self.token_file then a[#a + 1] = "--auth-token-file " .. quote(self.token_file) end
  for _, k in ipairs({ "tls_ca_file", "tls_cert", "tls_key" }) do
    if opts[k] then a[#a + 1] = "--" .. k:gsub("_", "-") .. " " .. quote(opts[k]) end
  end
  return table.concat(a, " ")
end

local function read_file(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("*a"); f:close()
  return s
end

-- Whether process PID runs (a zombie, exited but not yet reaped, does not).
local function running(pid)
  local f = pid and io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local stat = f:read("*l") or ""; f:close()
  local state = stat:match("^%d+ %b() (%a)")
  return state ~= nil and state ~= "Z" and state ~= "X"
end

-- Removes the directories of local clusters whose process ended without
-- stopping them (a kill -9; their processes stop by their lifeline): the
-- ones of this user whose "owner" process is gone and whose scheduler has
-- stopped (it removes its scheduler file, unless killed itself).
local function sweep_stale_dirs()
  local p = io.popen("ls -d /tmp/ldask-cluster.* 2>/dev/null")
  if not p then return end
  for dir in p:lines() do
    local f = io.open(dir .. "/owner")
    local owner = f and tonumber(f:read("*l"))
    if f then f:close() end
    local sched = read_file(dir .. "/scheduler.json")
    local spid = sched and tonumber(sched:match('"pid"%s*:%s*(%d+)'))
    if owner and not running(owner) and not (sched and (not spid or running(spid))) and
       dir:match("^/tmp/ldask%-cluster%.%w+$") then
      os.execute("rm -rf " .. quote(dir))
    end
  end
  p:close()
end

-- The ldask-worker option for RESOURCES (nil, a string "GPU=2,MEM=8e9" or
-- a table {GPU = 2}): " --resources '...'", or nil. Raises on a bad one.
local function resources_arg(r)
  if r == nil then return nil end
  if type(r) ~= "table" and type(r) ~= "string" then
    error("ldask.Client: resources must be a table like {GPU = 1} or a string like 'GPU=1', got " .. type(r), 4)
  end
  return " --resources " .. quote(require("ldask.annotations").resources_spec(r, "ldask.Client", 4))
end

-- Starts a cluster. OPTS: n_workers (default 2), threads_per_worker
-- (default 1), memory_limit, death_timeout (workers, default 10 s),
-- nanny (default true: each worker runs under a nanny that restarts it),
-- resources (every worker's, {GPU = 1} or "GPU=1"), work_stealing (false:
-- the scheduler never steals),
-- timeout (start-up, default 20 s), scheduler_args (extra options),
-- dashboard (default true: a dashboard on a free loopback port; false:
-- none), dashboard_address ("HOST:PORT" for it),
-- auth_token_file (default: a fresh token; auth = false: none, for specs
-- that speak the wire themselves), tls_ca_file, tls_cert, tls_key (TLS
-- for every process, with one certificate).
function M.start(opts)
  opts = opts or {}
  local n = opts.n_workers or 2
  local threads = opts.threads_per_worker or 1
  opts.resources_arg = resources_arg(opts.resources)
  if type(n) ~= "number" or n < 0 or n % 1 ~= 0 then
    error("ldask.Client: n_workers must be an integer >= 0, got " .. tostring(n), 3)
  end
  if type(threads) ~= "number" or threads < 1 or threads % 1 ~= 0 then
    error("ldask.Client: threads_per_worker must be an integer >= 1, got " .. tostring(threads), 3)
  end
  -- the dashboard: any free port on loopback unless told otherwise (many
  -- local clusters may run at once; 8787 is for a standalone scheduler)
  local dash
  if opts.dashboard == false then
    dash = "--no-dashboard"
  elseif opts.dashboard_address ~= nil then
    if type(opts.dashboard_address) ~= "string" or not opts.dashboard_address:match("^%[?[%w%.:%-]+%]?:%d+$") then
      error("ldask.Client: dashboard_address must be 'HOST:PORT' (e.g. '127.0.0.1:8787'), got " ..
        tostring(opts.dashboard_address), 3)
    end
    dash = "--dashboard-address " .. quote(opts.dashboard_address)
  else
    dash = "--dashboard-address 127.0.0.1:0"
  end
  sweep_stale_dirs()
  local p = io.popen("mktemp -d /tmp/ldask-cluster.XXXXXX")
  local dir = p:read("*l"); p:close()
  local owner = assert(io.open(dir .. "/owner", "w"))
  owner:write(lib.ld_client_pid(), "\n"); owner:close()
  local bin = bindir()
  local self = setmetatable({ dir = dir, pids = {}, n_workers = n }, Cluster)
  if opts.auth ~= false then
    self.token_file = opts.auth_token_file or write_token(dir .. "/token")
  end
  self.security = security_args(self, opts)
  local sfile = dir .. "/scheduler.json"
  local spid = spawn(bin .. "/ldask-scheduler --port 0 --scheduler-file " .. quote(sfile) ..
    " " .. dash .. " " .. self.security .. " " ..
    (opts.work_stealing == false and "--no-work-stealing " or "") ..
    (opts.scheduler_args or ""), dir .. "/scheduler.log", true)
  self.pids[#self.pids + 1] = spid
  self.scheduler_pid = spid
  local deadline = lib.ld_client_now() + (opts.timeout or 20)
  while true do
    local s = read_file(sfile)
    local addr = s and s:match('"address"%s*:%s*"([^"]+)"')
    if addr then self.address = addr; tokens[addr] = self.token_file; break end
    if lib.ld_client_now() > deadline then
      local log = read_file(dir .. "/scheduler.log") or ""
      self:stop()
      error("ldask.Client: the local scheduler did not start: " .. log, 3)
    end
    os.execute("sleep 0.02")
  end
  self.opts = opts
  self.workers = {}
  for _ = 1, n do self:add_worker() end
  self._gc = ffi.gc(ffi.new("char[1]"), function() self:stop() end)
  return self
end

-- Starts one more worker named local-I (I = its number); returns I. Its
-- registration is asynchronous (see Client:wait_for_workers). EXTRA: more
-- ldask-worker options (a string), e.g. "--memory-limit 1MB".
function Cluster:add_worker(threads, extra)
  local opts = self.opts
  local i = #self.workers + 1
  local cmd = bindir() .. "/ldask-worker " .. self.address .. " --nthreads " ..
    (threads or opts.threads_per_worker or 1) ..
    " --name local-" .. i .. " --death-timeout " .. (opts.death_timeout or 10) .. " " .. self.security ..
    (opts.memory_limit and (" --memory-limit " .. quote(opts.memory_limit)) or "") ..
    (opts.nanny == false and " --no-nanny" or "") ..
    (opts.resources_arg or "") ..
    (extra and (" " .. extra) or "")
  local pid = spawn(cmd, self.dir .. "/worker-" .. i .. ".log", true)
  self.workers[i] = pid
  self.pids[#self.pids + 1] = pid
  return i
end

-- The pid of worker I's worker process: the child of its nanny (nil while
-- the nanny is between two workers), or the process started (--no-nanny).
function Cluster:worker_pid(i)
  local pid = self.workers[i]
  if not pid then error("Cluster:worker_pid: no worker " .. tostring(i), 2) end
  if self.opts.nanny == false then return pid end
  local kids = read_file("/proc/" .. pid .. "/task/" .. pid .. "/children") or ""
  return tonumber(kids:match("%d+"))
end

-- Sends SIGNAL (default "KILL") to the process of worker I (under a nanny,
-- the worker, which its nanny restarts when the signal kills it).
function Cluster:kill_worker(i, signal)
  if not self.workers[i] then error("Cluster:kill_worker: no worker " .. tostring(i), 2) end
  local pid = self:worker_pid(i)
  if pid then os.execute("kill -" .. (signal or "KILL") .. " " .. pid .. " 2>/dev/null") end
end

-- Stops every process of the cluster and removes its directory.
function Cluster:stop()
  if self.stopped then return end
  self.stopped = true
  if self.address then tokens[self.address] = nil end
  if self._gc then ffi.gc(self._gc, nil) end
  local pids = {}
  for _, pid in ipairs(self.pids) do pids[#pids + 1] = tostring(pid) end
  if #pids > 0 then os.execute("kill " .. table.concat(pids, " ") .. " 2>/dev/null") end
  -- Sanitizer reports of the processes (sanitized builds) must not vanish
  -- with the directory.
  for i = 0, #(self.workers or {}) do
    local log = self:log(i > 0 and i or nil) or ""
    if log:find("ERROR: AddressSanitizer", 1, true) or log:find("runtime error:", 1, true) or
       log:find("ThreadSanitizer", 1, true) then
      io.stderr:write("ldask: sanitizer report from the local cluster (",
        i > 0 and ("worker " .. i) or "scheduler", "):\n", log, "\n")
    end
  end
  if self.dir and self.dir:match("^/tmp/ldask%-cluster%.") then os.execute("rm -rf " .. quote(self.dir)) end
end

-- The log of the scheduler or of worker I.
function Cluster:log(i)
  return read_file(self.dir .. (i and ("/worker-" .. i .. ".log") or "/scheduler.log"))
end

M.Cluster = Cluster
-- Shared with ldask.deploy (cluster managers that start the same programs).
M.bindir, M.quote, M.spawn, M.read_file, M.write_token = bindir, quote, spawn, read_file, write_token
M.running = running
return M
