--- ldask.deploy.ssh: SSHCluster (dask's SSHCluster) — an ldask-scheduler
-- on the first host and ldask-workers on the others, started through the
-- system ssh client (BatchMode: keys or an agent, never a password
-- prompt). Each remote program runs under a small remote shell that
-- reads the cluster's token from ssh's standard input into a 0600 file of
-- a private directory (never on a command line) and then waits on that
-- input: when the cluster closes, or this process dies, the input ends and
-- the remote shell stops its program and removes the directory. So
-- nothing is left running on the hosts, whatever way this side ends.
-- Used by the ldask-ssh program (ldask.deploy.ssh_cli). docs/deploy.md.
-- @module ldask.deploy.ssh
local cluster_mod = require "ldask.client.cluster"
local lib = require "ldask.native"

local type, error, tostring, ipairs, pairs, setmetatable, getmetatable, pcall =
  type, error, tostring, ipairs, pairs, setmetatable, getmetatable, pcall
local concat = table.concat
local quote, read_file = cluster_mod.quote, cluster_mod.read_file
local now = lib.ld_client_now

local M = {}

local SSHCluster = { __name = "ldask.deploy.SSHCluster" }
SSHCluster.__index = SSHCluster
M.SSHCluster = SSHCluster

local WHAT = "ldask.deploy.SSHCluster"

local function check_table(t, name, level)
  if t == nil then return {} end
  if type(t) ~= "table" then error(WHAT .. ": " .. name .. " must be a table, got " .. type(t), level + 1) end
  return t
end

local function check_keys(t, name, known, level)
  for k in pairs(t) do
    if not known[k] then error(WHAT .. ": unknown " .. name .. " '" .. tostring(k) .. "'", level + 1) end
  end
end

local HOST = "^[%w%.%-_:@%[%]]+$"

-- The ssh command line (a shell fragment) for HOST with connect options CO.
local function ssh_command(co, host)
  local a = { co.ssh or "ssh", "-o BatchMode=yes", "-o LogLevel=ERROR" }
  if co.port then a[#a + 1] = "-p " .. co.port end
  if co.identity_file then a[#a + 1] = "-i " .. quote(co.identity_file) end
  if co.known_hosts then a[#a + 1] = "-o UserKnownHostsFile=" .. quote(co.known_hosts) end
  if co.known_hosts == false or co.strict_host_key_checking == false then
    a[#a + 1] = "-o StrictHostKeyChecking=no"
  end
  for _, o in ipairs(co.options or {}) do a[#a + 1] = quote(o) end
  a[#a + 1] = quote((co.username and (co.username .. "@") or "") .. host)
  return concat(a, " ")
end

-- The remote shell that runs PROGRAM (a shell fragment using "$d/token")
-- with the token read from its input, and stops it when the input ends.
local function remote_script(program)
  return "umask 077; d=$(mktemp -d \"${TMPDIR:-/tmp}/ldask-ssh.XXXXXX\") || exit 1; " ..
    "IFS= read -r tok; printf '%s\\n' \"$tok\" > \"$d/token\"; tok=; " ..
    program .. " & pid=$!; cat > /dev/null; kill $pid 2>/dev/null; wait $pid; rm -rf \"$d\""
end

-- Starts PROGRAM on HOST through ssh; returns the process record {host,
-- pipe, log}. Its output goes to LOG.
function SSHCluster:_launch(host, program, log)
  local cmd = ssh_command(self.connect_options, host) .. " " .. quote(remote_script(program)) ..
    " > " .. quote(log) .. " 2>&1"
  local pipe = io.popen(cmd, "w")
  if not pipe then error(WHAT .. ": cannot run ssh", 3) end
  pipe:write(self:_token(), "\n")
  pipe:flush()
  local proc = { host = host, pipe = pipe, log = log }
  self.procs[#self.procs + 1] = proc
  return proc
end

function SSHCluster:_token()
  return ((read_file(self.token_file) or ""):gsub("%s+$", ""))
end

-- The remote path of program NAME (remote_prefix, else found on PATH).
function SSHCluster:_program(name)
  if self.remote_prefix then return quote(self.remote_prefix .. "/" .. name) end
  return name
end

--- SSHCluster{hosts = {scheduler_host, worker_host, ...}, connect_options
-- = {port =, username =, identity_file =, known_hosts =, options = {...},
-- ssh =}, worker_options = {n_workers =, nthreads =, memory_limit =,
-- death_timeout =, nanny =, local_directory =, resources =}, scheduler_options =
-- {port =, host =, dashboard_address =}, remote_prefix = DIR, timeout =}:
-- starts the scheduler on hosts[1] and workers (n_workers each, default
-- 1) on hosts[2..], with a fresh token; waits until the workers are
-- connected. ldask.Client(cluster) connects to it; cluster:close() stops
-- everything.
-- @param opts the options
-- @param level the error level of the user's call
-- @return the cluster
function M.new(opts, level)
  level = (level or 1) + 1
  if type(opts) ~= "table" then error(WHAT .. ": expected a table {hosts = {...}, ...}, got " .. type(opts), level) end
  check_keys(opts, "option", { hosts = true, connect_options = true, worker_options = true,
    scheduler_options = true, remote_prefix = true, timeout = true }, level)
  local hosts = opts.hosts
  if type(hosts) ~= "table" or #hosts < 2 then
    error(WHAT .. ": hosts must list the scheduler's host then at least one worker host, got " ..
      (type(hosts) == "table" and (#hosts .. " host(s)") or type(hosts)), level)
  end
  for i, h in ipairs(hosts) do
    if type(h) ~= "string" or not h:match(HOST) then
      error(WHAT .. ": hosts[" .. i .. "] must be a host name or address, got " .. tostring(h), level)
    end
  end
  local co = check_table(opts.connect_options, "connect_options", level)
  check_keys(co, "connect option", { port = true, username = true, identity_file = true, known_hosts = true,
    options = true, ssh = true, strict_host_key_checking = true }, level)
  if co.port ~= nil and (type(co.port) ~= "number" or co.port % 1 ~= 0 or co.port < 1 or co.port > 65535) then
    error(WHAT .. ": connect_options.port must be a port number, got " .. tostring(co.port), level)
  end
  local wo = check_table(opts.worker_options, "worker_options", level)
  check_keys(wo, "worker option", { n_workers = true, nthreads = true, memory_limit = true, death_timeout = true,
    nanny = true, local_directory = true, host = true, resources = true }, level)
  if wo.resources ~= nil then
    if type(wo.resources) ~= "table" and type(wo.resources) ~= "string" then
      error(WHAT .. ": worker_options.resources must be a table like {GPU = 1} or a string like 'GPU=1', got "
        .. type(wo.resources), level)
    end
    wo.resources_spec = require("ldask.annotations").resources_spec(wo.resources, WHAT .. ": worker_options", level)
  end
  local so = check_table(opts.scheduler_options, "scheduler_options", level)
  check_keys(so, "scheduler option", { port = true, host = true, dashboard_address = true, dashboard = true }, level)
  local nw = wo.n_workers or 1
  if type(nw) ~= "number" or nw < 1 or nw % 1 ~= 0 then
    error(WHAT .. ": worker_options.n_workers must be an integer >= 1, got " .. tostring(nw), level)
  end
  local nthreads = wo.nthreads or 1
  if type(nthreads) ~= "number" or nthreads < 1 or nthreads % 1 ~= 0 then
    error(WHAT .. ": worker_options.nthreads must be an integer >= 1, got " .. tostring(nthreads), level)
  end
  if opts.remote_prefix ~= nil and type(opts.remote_prefix) ~= "string" then
    error(WHAT .. ": remote_prefix must be a directory (a string), got " .. type(opts.remote_prefix), level)
  end
  local p = io.popen("mktemp -d /tmp/ldask-sshcluster.XXXXXX")
  local dir = p:read("*l"); p:close()
  local self = setmetatable({ hosts = hosts, connect_options = co, remote_prefix = opts.remote_prefix,
    dir = dir, procs = {}, workers = {} }, SSHCluster)
  self.token_file = cluster_mod.write_token(dir .. "/token")
  local ok, err = pcall(self._start, self, so, wo, nw, nthreads, opts.timeout or 30)
  if not ok then
    self:close()
    error(WHAT .. ": " .. tostring(err), level)
  end
  return self
end

local function wait_for(what, timeout, fn)
  local deadline = now() + timeout
  while true do
    local v = fn()
    if v then return v end
    if now() > deadline then error(what, 0) end
    os.execute("sleep 0.05")
  end
end

-- Starts the scheduler and the workers; raises a message naming what
-- did not start (with its log).
function SSHCluster:_start(so, wo, nw, nthreads, timeout)
  local shost = self.hosts[1]
  local bind = so.host or shost
  local dash
  if so.dashboard == false then dash = "--no-dashboard"
  else dash = "--dashboard-address " .. quote(so.dashboard_address or (bind .. ":0")) end
  local sched = self:_launch(shost, self:_program("ldask-scheduler") .. " --host " .. quote(bind) ..
    " --port " .. (so.port or 8786) .. " " .. dash .. " --auth-token-file \"$d/token\"", self.dir .. "/scheduler.log")
  self.scheduler_address = wait_for("the scheduler on " .. shost .. " did not start within " .. timeout .. " s: ",
    timeout, function()
      local log = read_file(sched.log) or ""
      local addr = log:match("ldask%-scheduler at (%S+)")
      if addr then return addr end
      local l = log:lower()
      if l:find("error", 1, true) or l:find("denied", 1, true) or l:find("not found", 1, true) or
        l:find("usage:", 1, true) or l:find("ssh:", 1, true) or l:find("refused", 1, true) then
        error("the scheduler on " .. shost .. " did not start: " .. log, 0)
      end
    end)
  local k = 0
  for i = 2, #self.hosts do
    local host = self.hosts[i]
    for _ = 1, nw do
      k = k + 1
      local name = "ssh-" .. k
      local args = { self:_program("ldask-worker"), self.scheduler_address, "--name", name, "--nthreads", nthreads,
        "--host", quote(wo.host or host), "--death-timeout", wo.death_timeout or 60,
        "--auth-token-file", "\"$d/token\"" }
      if wo.memory_limit then args[#args + 1] = "--memory-limit " .. quote(wo.memory_limit) end
      if wo.local_directory then args[#args + 1] = "--local-directory " .. quote(wo.local_directory) end
      if wo.nanny == false then args[#args + 1] = "--no-nanny" end
      if wo.resources_spec then args[#args + 1] = "--resources " .. quote(wo.resources_spec) end
      local proc = self:_launch(host, concat(args, " "), self.dir .. "/worker-" .. k .. ".log")
      proc.name = name
      self.workers[k] = proc
    end
  end
  -- every worker connected, or the log of the first one that did not
  local c = self:_client()
  local ok = pcall(c.wait_for_workers, c, k, timeout)
  if not ok then
    local have = {}
    for _, w in ipairs(c:scheduler_info().workers) do have[w.name] = true end
    for j, proc in ipairs(self.workers) do
      if not have[proc.name] then
        error("worker " .. j .. " on " .. proc.host .. " did not connect within " .. timeout .. " s: " ..
          (read_file(proc.log) or ""), 0)
      end
    end
  end
end

-- The cluster's own client (to wait for its workers).
function SSHCluster:_client()
  if not self.client or self.client.closed then
    self.client = require("ldask.client").new(self.scheduler_address,
      { set_as_default = false, auth_token_file = self.token_file })
  end
  return self.client
end

--- The output of the scheduler (nil) or of worker I, as far as it came
-- through ssh.
-- @param[opt] i a worker number
-- @return the text
function SSHCluster:log(i)
  return read_file(self.dir .. (i and ("/worker-" .. i .. ".log") or "/scheduler.log"))
end

--- Stops every remote program (workers first, then the scheduler) and
-- waits for the ssh sessions to end.
function SSHCluster:close()
  if getmetatable(self) ~= SSHCluster then error("SSHCluster:close: call it with ':' on a cluster", 2) end
  if self.closed then return end
  self.closed = true
  if self.client then pcall(self.client.close, self.client) end
  for i = #self.procs, 1, -1 do pcall(self.procs[i].pipe.close, self.procs[i].pipe) end
  if self.dir and self.dir:match("^/tmp/ldask%-sshcluster%.") then os.execute("rm -rf " .. quote(self.dir)) end
end

SSHCluster.__tostring = function(self)
  return "<SSHCluster " .. tostring(self.scheduler_address) .. ", " .. #self.workers .. " worker(s)" ..
    (self.closed and ", closed" or "") .. ">"
end

return M
