--- ldask.deploy.jobqueue: the core shared by the batch-queue cluster
-- managers (dask-jobqueue's JobQueueCluster): an ldask-scheduler started
-- where the client runs, with a fresh token, and workers submitted as
-- batch jobs, each running `processes` ldask-workers (with their nannies)
-- that connect back with the token. The job system itself (directives,
-- submit / cancel commands, job ids) is a small table given by
-- ldask.deploy.slurm and ldask.deploy.pbs. docs/deploy.md.
-- @module ldask.deploy.jobqueue
local ffi = require "ffi"
local cluster_mod = require "ldask.client.cluster"

local type, error, tostring, ipairs, pairs, setmetatable, getmetatable, pcall, tonumber =
  type, error, tostring, ipairs, pairs, setmetatable, getmetatable, pcall, tonumber
local concat, sort = table.concat, table.sort
local quote, read_file = cluster_mod.quote, cluster_mod.read_file
local ceil, floor = math.ceil, math.floor

local M = {}

local JobQueueCluster = { __name = "ldask.deploy.JobQueueCluster" }
JobQueueCluster.__index = JobQueueCluster
M.JobQueueCluster = JobQueueCluster

-- Runs shell command CMD; returns its output (stdout and stderr) and
-- whether it succeeded.
local function run(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"@@rc=$?\"")
  local out = p:read("*a")
  p:close()
  local body, rc = out:match("^(.*)@@rc=(%d+)\n$")
  return body or out, rc == "0"
end
M.run = run

local UNITS = {
  [""] = 1, b = 1, k = 1e3, kb = 1e3, m = 1e6, mb = 1e6, g = 1e9, gb = 1e9, t = 1e12, tb = 1e12,
  kib = 2 ^ 10, mib = 2 ^ 20, gib = 2 ^ 30, tib = 2 ^ 40,
}

--- A size ("4GB", "512 MiB", "2G", or a number of bytes) in bytes, or
-- nil and why.
-- @param s the size
-- @return bytes, or nil and a message
function M.parse_size(s)
  if type(s) == "number" then
    if s > 0 then return floor(s) end
    return nil, "a size must be > 0"
  end
  if type(s) ~= "string" then return nil, "expected a size like '4GB', got " .. type(s) end
  local num, unit = s:match("^%s*([%d%.]+)%s*(%a*)%s*$")
  local n = tonumber(num)
  local mult = unit and UNITS[unit:lower()]
  if not n or not mult or n <= 0 then
    return nil, "'" .. s .. "' is not a size (a number with kB, MB, GB, TB, KiB, MiB, GiB or TiB)"
  end
  return floor(n * mult)
end

-- Options every JobQueueCluster takes (dask-jobqueue's names; aliases:
-- job_extra_directives = job_extra, job_script_prologue = env_extra).
local KNOWN = {
  cores = true, memory = true, processes = true, walltime = true, queue = true, account = true,
  job_extra = true, job_extra_directives = true, env_extra = true, job_script_prologue = true,
  local_directory = true, log_directory = true, name = true, interface = true, host = true,
  death_timeout = true, nanny = true, worker_command = true, worker_extra_args = true,
  scheduler_options = true, shebang = true, submit_command = true, cancel_command = true,
  resource_spec = true, job_cpu = true, job_mem = true, timeout = true,
}

-- Checks that OPTS.K is a list of strings (or nil); returns it or {}.
local function string_list(what, opts, k, level)
  local v = opts[k]
  if v == nil then return {} end
  if type(v) == "string" then return { v } end
  if type(v) ~= "table" then error(what .. ": " .. k .. " must be a list of strings, got " .. type(v), level + 1) end
  for i, s in ipairs(v) do
    if type(s) ~= "string" then
      error(what .. ": " .. k .. "[" .. i .. "] must be a string, got " .. type(s), level + 1)
    end
  end
  return v
end

-- The IPv4 address of network interface IFACE on this machine.
local function interface_address(iface, what, level)
  if not iface:match("^[%w%.%-_:]+$") then error(what .. ": interface '" .. iface .. "' is not an interface name", level + 1) end
  local out = run("ip -4 -o addr show dev " .. quote(iface))
  local ip = out:match("inet (%d+%.%d+%.%d+%.%d+)")
  if not ip then error(what .. ": no IPv4 address on interface '" .. iface .. "': " .. out, level + 1) end
  return ip
end

-- PATH made absolute (against the current directory).
local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local p = io.popen("pwd")
  local cwd = p:read("*l"); p:close()
  return cwd .. "/" .. path
end

--- Starts a cluster of kind KIND (ldask.deploy.slurm's or pbs's table:
-- name, submit_command, cancel_command, directives(self, job) -> lines,
-- job_id(output) -> id) with OPTS; raises at LEVEL on bad options.
-- @param kind the job system
-- @param opts the options (docs/deploy.md)
-- @param level the error level of the user's call
-- @return the cluster
function M.new(kind, opts, level)
  level = (level or 1) + 1
  local what = "ldask.deploy." .. kind.name
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then error(what .. ": expected a table of options, got " .. type(opts), level) end
  for k in pairs(opts) do
    if not KNOWN[k] then error(what .. ": unknown option '" .. tostring(k) .. "' (docs/deploy.md lists them)", level) end
  end
  local cores, processes = opts.cores, opts.processes or 1
  if type(cores) ~= "number" or cores < 1 or cores % 1 ~= 0 then
    error(what .. ": cores (per job) must be an integer >= 1, got " .. tostring(cores), level)
  end
  if type(processes) ~= "number" or processes < 1 or processes % 1 ~= 0 or processes > cores then
    error(what .. ": processes (workers per job) must be an integer in 1..cores, got " .. tostring(processes), level)
  end
  if opts.memory == nil then error(what .. ": memory (per job, e.g. '4GB') is required", level) end
  local memory, merr = M.parse_size(opts.memory)
  if not memory then error(what .. ": memory: " .. merr, level) end
  local walltime = opts.walltime or "00:30:00"
  if type(walltime) ~= "string" or not walltime:match("^[%d:%-]+$") then
    error(what .. ": walltime must be like '01:30:00', got " .. tostring(walltime), level)
  end
  for _, k in ipairs({ "queue", "account", "local_directory", "log_directory", "name", "interface", "host",
    "worker_command", "shebang", "resource_spec", "submit_command", "cancel_command" }) do
    if opts[k] ~= nil and type(opts[k]) ~= "string" then
      error(what .. ": " .. k .. " must be a string, got " .. type(opts[k]), level)
    end
  end
  local name = opts.name or "ldask-worker"
  if not name:match("^[%w%-_%.]+$") then
    error(what .. ": name must be letters, digits, '-', '_' or '.', got '" .. name .. "'", level)
  end
  local death_timeout = opts.death_timeout or 60
  if type(death_timeout) ~= "number" or death_timeout <= 0 then
    error(what .. ": death_timeout must be a number of seconds > 0, got " .. tostring(death_timeout), level)
  end
  local sopts = opts.scheduler_options or {}
  if type(sopts) ~= "table" then error(what .. ": scheduler_options must be a table, got " .. type(sopts), level) end
  local self = setmetatable({
    kind = kind, what = what, cores = cores, processes = processes, memory = memory,
    memory_text = opts.memory, walltime = walltime, queue = opts.queue, account = opts.account,
    job_extra = string_list(what, opts, opts.job_extra_directives and "job_extra_directives" or "job_extra", level),
    env_extra = string_list(what, opts, opts.job_script_prologue and "job_script_prologue" or "env_extra", level),
    worker_extra_args = string_list(what, opts, "worker_extra_args", level),
    local_directory = opts.local_directory, log_directory = opts.log_directory and absolute(opts.log_directory),
    name = name, death_timeout = death_timeout, nanny = opts.nanny ~= false,
    shebang = opts.shebang or "#!/usr/bin/env bash", resource_spec = opts.resource_spec,
    submit_command = opts.submit_command or kind.submit_command,
    cancel_command = opts.cancel_command or kind.cancel_command,
    jobs = {}, njobs = 0, next_job = 1,
  }, JobQueueCluster)
  self.worker_command = opts.worker_command or (absolute(cluster_mod.bindir()) .. "/ldask-worker")
  -- where the scheduler listens: host, else interface's address, else
  -- loopback (jobs on this machine only)
  local host = sopts.host or opts.host
  if opts.interface then self.interface = opts.interface end
  if not host and opts.interface then host = interface_address(opts.interface, what, level) end
  host = host or "127.0.0.1"
  if not host:match("^[%w%.%-:]+$") then error(what .. ": host must be a host name or address, got '" .. host .. "'", level) end
  self.host = host
  local port = sopts.port or 0
  if type(port) ~= "number" or port < 0 or port > 65535 or port % 1 ~= 0 then
    error(what .. ": scheduler_options.port must be a port number, got " .. tostring(port), level)
  end
  local ok, sched = pcall(cluster_mod.start, {
    n_workers = 0, timeout = opts.timeout,
    scheduler_args = "--host " .. quote(host) .. " --port " .. port,
    dashboard = sopts.dashboard, dashboard_address = sopts.dashboard_address,
  })
  if not ok then error(what .. ": " .. tostring(sched), level) end
  self.scheduler = sched
  self.scheduler_address = sched.address
  self.token_file = sched.token_file
  self.dir = sched.dir
  -- Jobs are cancelled when this process exits without close().
  self._gc = ffi.gc(ffi.new("char[1]"), function() pcall(self.close, self) end)
  return self
end

-- The token (hex) of the cluster.
function JobQueueCluster:_token()
  return (read_file(self.token_file) or ""):gsub("%s+$", "")
end

-- The worker names of job number NUM.
function JobQueueCluster:_worker_names(num)
  local names = {}
  if self.processes == 1 then
    names[1] = self.name .. "-" .. num
  else
    for i = 1, self.processes do names[i] = self.name .. "-" .. num .. "-" .. i end
  end
  return names
end

-- The job script of job NUM; the token itself only when REVEAL (the
-- script that is submitted), else a placeholder (what job_script shows).
function JobQueueCluster:_script(num, reveal)
  local lines = { self.shebang, "" }
  for _, d in ipairs(self.kind.directives(self, num)) do lines[#lines + 1] = d end
  for _, d in ipairs(self.job_extra) do lines[#lines + 1] = self.kind.prefix .. " " .. d end
  lines[#lines + 1] = ""
  for _, l in ipairs(self.env_extra) do lines[#lines + 1] = l end
  -- the token: in a 0600 file of a private directory on the node, never
  -- on a command line (ps shows those to every user)
  lines[#lines + 1] = "umask 077"
  lines[#lines + 1] = 'LDASK_JOB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ldask-job.XXXXXX") || exit 1'
  lines[#lines + 1] = "trap 'rm -rf \"$LDASK_JOB_DIR\"' EXIT"
  lines[#lines + 1] = "trap 'kill $(jobs -p) 2>/dev/null; wait; exit 143' TERM INT"
  lines[#lines + 1] = "cat > \"$LDASK_JOB_DIR/token\" <<'LDASK_TOKEN'"
  lines[#lines + 1] = reveal and self:_token() or "<the cluster's token, written at submission>"
  lines[#lines + 1] = "LDASK_TOKEN"
  local host
  if self.interface then
    host = "$(ip -4 -o addr show dev " .. quote(self.interface) ..
      " | sed -n 's/.*inet \\([0-9.]*\\).*/\\1/p' | head -n 1)"
  elseif self.host:match("^127%.") or self.host == "localhost" then
    host = "127.0.0.1"
  else
    host = "$(hostname -I | cut -d' ' -f1)"
  end
  lines[#lines + 1] = 'LDASK_HOST="' .. host .. '"'
  local threads = floor(self.cores / self.processes)
  local mem = floor(self.memory / self.processes)
  for _, wname in ipairs(self:_worker_names(num)) do
    local cmd = { quote(self.worker_command), self.scheduler_address, "--name", wname, "--nthreads", threads,
      "--memory-limit", mem, "--death-timeout", self.death_timeout, "--host", '"$LDASK_HOST"',
      "--auth-token-file", '"$LDASK_JOB_DIR/token"' }
    if self.local_directory then cmd[#cmd + 1] = "--local-directory " .. quote(self.local_directory) end
    if not self.nanny then cmd[#cmd + 1] = "--no-nanny" end
    for _, a in ipairs(self.worker_extra_args) do cmd[#cmd + 1] = a end
    lines[#lines + 1] = concat(cmd, " ") .. " &"
  end
  lines[#lines + 1] = "wait"
  return concat(lines, "\n") .. "\n"
end

--- The job script of the next job, as it will be submitted (the token
-- shown as a placeholder).
-- @return the script (a string)
-- @usage local cluster = ldask.deploy.SLURMCluster{ cores = 8, memory = "16GB", queue = "normal" }
-- print(cluster:job_script())   -- #SBATCH -J ldask-worker ... #SBATCH --cpus-per-task=8 ...
-- cluster:close()
function JobQueueCluster:job_script()
  return self:_script(self.next_job, false)
end

local function check(self, name)
  if getmetatable(self) ~= JobQueueCluster then error(name .. ": call it with ':' on a cluster", 3) end
  if self.closed then error(self.what .. ":" .. name .. ": the cluster is closed", 3) end
end

-- Submits one job; returns its record. Raises (at LEVEL) with the submit
-- command's output when it fails.
function JobQueueCluster:_submit(level)
  local num = self.next_job
  self.next_job = num + 1
  local path = self.dir .. "/job-" .. num .. ".sh"
  local f = assert(io.open(path, "w")); f:close()
  os.execute("chmod 600 " .. quote(path))
  f = assert(io.open(path, "w")); f:write(self:_script(num, true)); f:close()
  local out, ok = run(self.submit_command .. " " .. quote(path))
  local id = ok and self.kind.job_id(out)
  if not id then
    error(self.what .. ": '" .. self.submit_command .. "' failed: " .. out:gsub("%s+$", ""), level + 1)
  end
  local job = { num = num, id = id, workers = self:_worker_names(num), script = path }
  self.jobs[num] = job
  self.njobs = self.njobs + 1
  return job
end

-- Cancels the jobs of list JOBS (one cancel command).
function JobQueueCluster:_cancel(jobs)
  local ids = {}
  for _, job in ipairs(jobs) do
    if self.jobs[job.num] then
      ids[#ids + 1] = quote(job.id)
      self.jobs[job.num] = nil
      self.njobs = self.njobs - 1
      os.remove(job.script)
    end
  end
  if #ids > 0 then run(self.cancel_command .. " " .. concat(ids, " ")) end
end

-- The cluster's own client (for retire_workers and adaptive scaling).
function JobQueueCluster:_client()
  if not self.client or self.client.closed then
    self.client = require("ldask.client").new(self.scheduler_address,
      { set_as_default = false, auth_token_file = self.token_file })
  end
  return self.client
end

--- The jobs submitted and not cancelled, by job number: `{ [num] = { id
-- =, workers = {names} } }`.
-- @return the table
function JobQueueCluster:job_ids()
  local out = {}
  for num, job in pairs(self.jobs) do out[num] = { id = job.id, workers = job.workers } end
  return out
end

-- The jobs, newest first, those with no connected worker before the others.
function JobQueueCluster:_jobs_to_remove(info)
  local connected = {}
  for _, w in ipairs(info.workers) do connected[w.name] = w end
  local list = {}
  for _, job in pairs(self.jobs) do
    local busy, up = 0, 0
    for _, wn in ipairs(job.workers) do
      local w = connected[wn]
      if w then up = up + 1; busy = busy + (w.processing or 0) * 1e6 + (w.nkeys or 0) end
    end
    list[#list + 1] = { job = job, up = up, busy = busy }
  end
  sort(list, function(a, b)
    if (a.up == 0) ~= (b.up == 0) then return a.up == 0 end
    if a.busy ~= b.busy then return a.busy < b.busy end
    return a.job.num > b.job.num
  end)
  return list
end

-- Scales to NJOBS jobs (LEVEL: the user's call).
function JobQueueCluster:_scale_jobs(njobs, level)
  while self.njobs < njobs do self:_submit(level + 1) end
  if self.njobs <= njobs then return end
  local c = self:_client()
  local list = self:_jobs_to_remove(c:scheduler_info())
  local drop, retire = {}, {}
  for i = 1, self.njobs - njobs do
    local e = list[i]
    drop[#drop + 1] = e.job
    if e.up > 0 then
      for _, wn in ipairs(e.job.workers) do retire[#retire + 1] = wn end
    end
  end
  -- results move off the workers first; then the jobs end by themselves
  -- (their workers closed), the cancel makes sure
  if #retire > 0 then
    local ok, err = pcall(c.retire_workers, c, { workers = retire })
    if not ok then error(self.what .. ":scale: " .. tostring(err), level + 1) end
  end
  self:_cancel(drop)
end

--- scale(n) or scale{n =, jobs =, cores =, memory =}: asks for N workers
-- (ceil(N / processes) jobs), or JOBS jobs, or enough jobs for CORES cores
-- or MEMORY bytes, as dask-jobqueue's scale. Growing submits jobs and
-- returns (Client:wait_for_workers waits for them); shrinking cancels
-- queued jobs first, then retires the workers of running jobs
-- (client:retire_workers: their results move first) and cancels those.
-- @param n a number of workers, or a table `{ n =, jobs =, cores =, memory = }`
-- e.g. cluster:scale(4) (4 workers), cluster:scale{ jobs = 2 } (2 jobs).
-- @return the cluster
function JobQueueCluster:scale(n)
  check(self, "scale")
  local jobs
  if type(n) == "number" then n = { n = n } end
  if type(n) ~= "table" then error(self.what .. ":scale: expected a number of workers or {jobs = k}, got " .. type(n), 2) end
  local given = 0
  for _, k in ipairs({ "n", "jobs", "cores", "memory" }) do if n[k] ~= nil then given = given + 1 end end
  if given ~= 1 then error(self.what .. ":scale: give one of n, jobs, cores, memory", 2) end
  if n.memory ~= nil then
    local bytes, err = M.parse_size(n.memory)
    if not bytes then error(self.what .. ":scale: memory: " .. err, 2) end
    jobs = ceil(bytes / self.memory)
  else
    local v = n.n or n.jobs or n.cores
    if type(v) ~= "number" or v < 0 or v % 1 ~= 0 then
      error(self.what .. ":scale: expected an integer >= 0, got " .. tostring(v), 2)
    end
    jobs = n.jobs or (n.n and ceil(n.n / self.processes)) or ceil(n.cores / self.cores)
  end
  self:_scale_jobs(jobs, 2)
  return self
end

--- Waits until N workers are connected (TIMEOUT seconds, default 60),
-- as dask's Cluster.wait_for_workers; raises naming how many came.
-- @param n the number of workers
-- @param[opt] timeout seconds
-- @return the scheduler's identity (Client:scheduler_info())
function JobQueueCluster:wait_for_workers(n, timeout)
  check(self, "wait_for_workers")
  local c = self:_client()
  local ok, r = pcall(c.wait_for_workers, c, n, timeout or 60)
  if not ok then error(self.what .. ":wait_for_workers: " .. tostring(r):gsub("^.-Client:wait_for_workers: ", ""), 2) end
  return r
end

--- adapt{minimum =, maximum =, interval =, wait_count =, minimum_jobs =,
-- maximum_jobs =}: adaptive scaling, as dask's Adaptive (see
-- ldask.deploy.adaptive). Returns the Adaptive object (adaptive:stop()).
-- @param opts `{ minimum = workers, maximum = workers, interval = s, wait_count = n }`
-- @return the Adaptive
function JobQueueCluster:adapt(opts)
  check(self, "adapt")
  if self.adaptive then self.adaptive:stop() end
  self.adaptive = require("ldask.deploy.adaptive").new(self, opts, 2)
  return self.adaptive
end

--- Cancels every job, stops the scheduler. Also runs when the process
-- exits without it.
function JobQueueCluster:close()
  if self.closed then return end
  self.closed = true
  if self.adaptive then self.adaptive:stop() end
  local all = {}
  for _, job in pairs(self.jobs) do all[#all + 1] = job end
  self:_cancel(all)
  if self.client then pcall(self.client.close, self.client) end
  if self._gc then ffi.gc(self._gc, nil) end
  if self.scheduler then self.scheduler:stop() end
end

JobQueueCluster.__tostring = function(self)
  return "<" .. self.kind.name .. " " .. tostring(self.scheduler_address) .. ", " .. self.njobs .. " job(s)" ..
    (self.closed and ", closed" or "") .. ">"
end

return M
