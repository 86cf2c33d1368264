--- ldask.deploy.ssh_cli: the ldask-ssh program (dask-ssh): starts an
-- SSHCluster on the hosts given (the scheduler on the first, workers on
-- the others), writes the cluster's token to a 0600 file, prints how to
-- connect, and keeps the cluster until Ctrl-C (or until this process is
-- killed: the remote programs then stop by themselves, see
-- ldask.deploy.ssh). Run as a script by bin/ldask-ssh.
-- @module ldask.deploy.ssh_cli
local ssh = require "ldask.deploy.ssh"

local tonumber, ipairs, pcall, tostring = tonumber, ipairs, pcall, tostring

local M = {}

local USAGE = [[
usage: ldask-ssh [options] SCHEDULER_HOST WORKER_HOST [WORKER_HOST ...]

Starts ldask-scheduler on the first host and ldask-workers on the others
through ssh (BatchMode: keys or an agent), with a fresh token, and keeps
them until Ctrl-C.

  --ssh-port PORT          ssh port of every host (default: ssh's)
  --ssh-username USER      log in as USER
  --ssh-identity FILE      private key file (ssh -i)
  --ssh-option OPTION      one more ssh -o option, e.g. StrictHostKeyChecking=no
                           (repeatable)
  --remote-prefix DIR      where the ldask programs are on the hosts (default:
                           found on their PATH)
  --nworkers N             workers per worker host (default 1)
  --nthreads N             threads per worker (default 1)
  --memory-limit SIZE      memory limit per worker (ldask-worker --memory-limit)
  --scheduler-port PORT    the scheduler's port (default 8786; 0: any free one)
  --token-file FILE        write the cluster's token here (default
                           ./ldask-ssh.token; mode 0600)
  --timeout SECONDS        how long to wait for everything to start (default 30)
  -h, --help               this text
]]

local function fail(msg)
  io.stderr:write("ldask-ssh: ", msg, "\n")
  os.exit(2)
end

--- Parses ARGV (a list of strings): returns the SSHCluster options, the
-- token file, or nil and a message.
-- @param argv the arguments
-- @return opts, token_file | nil, message
function M.parse(argv)
  local hosts, co, wo, so = {}, { options = {} }, {}, { port = 8786 }
  local opts = { hosts = hosts, connect_options = co, worker_options = wo, scheduler_options = so }
  local token_file = "ldask-ssh.token"
  local i = 1
  local function value(name)
    i = i + 1
    if argv[i] == nil then return nil, name .. " needs a value" end
    return argv[i]
  end
  local function number(name)
    local v, err = value(name)
    if not v then return nil, err end
    local n = tonumber(v)
    if not n or n < 0 or n % 1 ~= 0 then return nil, name .. " needs a whole number, got '" .. v .. "'" end
    return n
  end
  while i <= #argv do
    local a = argv[i]
    local v, err
    if a == "-h" or a == "--help" then return nil, "help"
    elseif a == "--ssh-port" then v, err = number(a); co.port = v
    elseif a == "--ssh-username" then v, err = value(a); co.username = v
    elseif a == "--ssh-identity" then v, err = value(a); co.identity_file = v
    elseif a == "--ssh-option" then v, err = value(a); co.options[#co.options + 1] = "-o" .. tostring(v)
    elseif a == "--remote-prefix" then v, err = value(a); opts.remote_prefix = v
    elseif a == "--nworkers" then v, err = number(a); wo.n_workers = v
    elseif a == "--nthreads" then v, err = number(a); wo.nthreads = v
    elseif a == "--memory-limit" then v, err = value(a); wo.memory_limit = v
    elseif a == "--scheduler-port" then v, err = number(a); so.port = v
    elseif a == "--token-file" then v, err = value(a); token_file = v
    elseif a == "--timeout" then v, err = number(a); opts.timeout = v
    elseif a:sub(1, 1) == "-" then return nil, "unknown option '" .. a .. "' (ldask-ssh --help)"
    else hosts[#hosts + 1] = a; v = a end
    if v == nil then return nil, err end
    i = i + 1
  end
  if #hosts < 2 then return nil, "give the scheduler's host and at least one worker host (ldask-ssh --help)" end
  return opts, token_file
end

--- Runs the program with ARGV; returns when interrupted.
-- @param argv the arguments
function M.main(argv)
  local opts, token_file = M.parse(argv)
  if not opts then
    if token_file == "help" then io.write(USAGE); return end
    fail(token_file)
  end
  local ok, cluster = pcall(ssh.new, opts, 1)
  if not ok then fail(tostring(cluster)) end
  local src = io.open(cluster.token_file)
  local token = src:read("*a"); src:close()
  local f = io.open(token_file, "w")
  if not f then cluster:close(); fail("cannot write the token file '" .. token_file .. "'") end
  f:close()
  os.execute("chmod 600 '" .. token_file:gsub("'", "'\\''") .. "'")
  f = io.open(token_file, "w"); f:write(token); f:close()
  io.write("ldask-ssh: scheduler at ", cluster.scheduler_address, ", ", #cluster.workers, " worker(s) on ")
  for i, h in ipairs(opts.hosts) do if i > 1 then io.write(h, i < #opts.hosts and ", " or "") end end
  io.write("\nldask-ssh: the cluster's token is in ", token_file, "; connect with\n  ldask --scheduler ",
    cluster.scheduler_address, " --auth-token-file ", token_file, " script.lua\nldask-ssh: Ctrl-C stops it\n")
  io.flush()
  -- Waits in the client's receive (os.execute would ignore Ctrl-C): the
  -- interrupt raises out of the loop; a lost scheduler ends it too.
  local c = cluster:_client()
  local ok2, err = pcall(function()
    while not c:_connection_lost() do c:_poll(1) end
  end)
  io.write("ldask-ssh: ", ok2 and "lost the scheduler" or (tostring(err):match("interrupted") or tostring(err):match("[^\n]*")), ": stopping the cluster\n")
  cluster:close()
end

-- Run as a script (bin/ldask-ssh): the arguments follow "--".
if arg and arg[0] and arg[0]:match("ssh_cli%.lua$") then
  local argv = {}
  for i = 1, #arg do argv[i] = arg[i] end
  M.main(argv)
end

return M
