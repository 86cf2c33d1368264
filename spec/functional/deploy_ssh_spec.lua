-- Functional specs of ldask.deploy.SSHCluster and the ldask-ssh program
-- through a real sshd (openssh-server) started by scripts/sshd_local.sh on
-- a free loopback port with keys made for this file (root login by key
-- only), stopped after it: the cluster computes, its token never shows on
-- a command line, and nothing is left running on close or Ctrl-C. A
-- machine where sshd cannot start fails these specs with the reason.
local ldask = require "ldask"
local helpers = require "helpers"

local dir = helpers.tmpdir() .. "/sshd"
local root = helpers.sh("cd " .. helpers.shell_quote(helpers.root) .. " && pwd"):gsub("%s+$", "")
local bin = helpers.sh("cd " .. helpers.shell_quote(helpers.bin) .. " && pwd"):gsub("%s+$", "")
local port

local function connect_options()
  return { port = port, identity_file = dir .. "/id_ed25519", known_hosts = dir .. "/known_hosts",
    strict_host_key_checking = false }
end

-- Processes whose command line holds S.
local function processes_with(s)
  local out = helpers.sh("ps -eo args")
  local n = 0
  for line in out:gmatch("[^\n]+") do
    if line:find(s, 1, true) and not line:find("ps -eo", 1, true) then n = n + 1 end
  end
  return n
end

describe("SSHCluster through a loopback sshd", function()
  setup(function()
    local out, rc = helpers.sh("sh " .. helpers.shell_quote(root .. "/scripts/sshd_local.sh") .. " start " ..
      helpers.shell_quote(dir) .. " 2>&1")
    if rc ~= 0 then error("cannot start sshd for the deploy specs (scripts/sshd_local.sh): " .. out, 0) end
    port = tonumber(out:match("PORT=(%d+)"))
    assert(port, out)
  end)
  teardown(function()
    helpers.sh("sh " .. helpers.shell_quote(root .. "/scripts/sshd_local.sh") .. " stop " .. helpers.shell_quote(dir))
  end)

  it("runs the scheduler and workers over ssh, computes, and stops them all on close", function()
    local before = helpers.sh("ls -d /tmp/ldask-ssh.* 2>/dev/null")
    local cluster = ldask.deploy.SSHCluster{
      hosts = { "127.0.0.1", "127.0.0.1", "localhost" }, connect_options = connect_options(),
      scheduler_options = { port = 0, dashboard = false }, remote_prefix = bin,
      worker_options = { nthreads = 2, n_workers = 1 },
    }
    local c
    local ok, err = pcall(function()
      assert.matches("^tcp://127%.0%.0%.1:%d+$", cluster.scheduler_address)
      c = ldask.Client(cluster, { set_as_default = false })
      local ws = c:scheduler_info().workers
      assert.equal(2, #ws)
      local hosts = {}
      for _, w in ipairs(ws) do hosts[#hosts + 1] = w.address:match("^tcp://([^:]+)") end
      table.sort(hosts)
      assert.same({ "127.0.0.1", "localhost" }, hosts)
      local seq = {}
      for i = 1, 50 do seq[i] = i end
      local fs = c:map(function(x) return x * x end, seq)
      local total = 0
      for _, v in ipairs(c:gather(fs, 60)) do total = total + v end
      assert.equal(42925, total)
      -- the token is in files only: no process shows it
      local token = helpers.read_all(cluster.token_file):gsub("%s+$", "")
      assert.equal(64, #token)
      assert.equal(0, processes_with(token))
      -- the scheduler and both workers (with their nannies) run under ssh
      assert.is_true(processes_with(cluster.scheduler_address) >= 4)
    end)
    local addr = cluster.scheduler_address
    if c then pcall(c.close, c) end
    cluster:close()
    if not ok then error(err, 0) end
    -- nothing left: no worker of this scheduler, no scheduler, no temp dir
    assert.is_true(helpers.eventually(function()
      return processes_with(addr) == 0 and processes_with("--name ssh-") == 0
    end, 15), "remote programs left running")
    -- the remote side's private directories (token files) are gone too
    assert.equal(before, helpers.sh("ls -d /tmp/ldask-ssh.* 2>/dev/null"))
    assert.equal("", helpers.sh("ls -d " .. helpers.shell_quote(cluster.dir) .. " 2>/dev/null"))
  end)

  it("fails naming why when the scheduler's host cannot be reached", function()
    local co = connect_options()
    co.port = 1 -- nothing listens there
    local ok, err = pcall(function()
      ldask.deploy.SSHCluster{ hosts = { "127.0.0.1", "127.0.0.1" }, connect_options = co, remote_prefix = bin,
        timeout = 10 }
    end)
    assert.is_false(ok)
    assert.matches("deploy_ssh_spec.lua:%d+: ldask.deploy.SSHCluster: the scheduler on 127.0.0.1 did not start", err)
    assert.matches("refused", err)
    ok, err = pcall(function() ldask.deploy.SSHCluster{ hosts = { "127.0.0.1" } } end)
    assert.matches("deploy_ssh_spec.lua:%d+: .*at least one worker host", err)
    ok, err = pcall(function() ldask.deploy.SSHCluster{ hosts = { "a", "b" }, worker_options = { nthread = 2 } } end)
    assert.matches("unknown worker option 'nthread'", err)
  end)

  it("ldask-ssh starts a cluster, writes its token 0600, and Ctrl-C stops everything", function()
    local out_file = dir .. "/ldask-ssh.out"
    local tok = dir .. "/cli.token"
    local cmd = helpers.shell_quote(bin .. "/ldask-ssh") .. " --ssh-port " .. port .. " --ssh-identity " ..
      helpers.shell_quote(dir .. "/id_ed25519") .. " --ssh-option StrictHostKeyChecking=no --ssh-option " ..
      helpers.shell_quote("UserKnownHostsFile=" .. dir .. "/known_hosts") .. " --remote-prefix " ..
      helpers.shell_quote(bin) .. " --scheduler-port 0 --nthreads 2 --token-file " .. helpers.shell_quote(tok) ..
      " 127.0.0.1 127.0.0.1"
    local pid = helpers.sh("(" .. cmd .. " > " .. helpers.shell_quote(out_file) .. " 2>&1 & echo $!)"):match("%d+")
    local addr
    local ok, err = pcall(function()
      assert.is_true(helpers.eventually(function()
        addr = helpers.read_all(out_file):match("scheduler at (tcp://[%d%.:]+)")
        return addr ~= nil
      end, 30), "ldask-ssh did not start: " .. helpers.read_all(out_file))
      assert.matches("%-rw%-%-%-%-%-%-%-", helpers.sh("ls -l " .. helpers.shell_quote(tok)))
      local c = ldask.Client(addr, { auth_token_file = tok, set_as_default = false })
      assert.equal(1, #c:scheduler_info().workers)
      assert.equal(12, c:submit(function(x) return x * 3 end, 4):result(30))
      c:close()
    end)
    os.execute("kill -INT " .. pid)
    assert.is_true(helpers.eventually(function() return os.execute("kill -0 " .. pid .. " 2>/dev/null") ~= 0 end, 20),
      "ldask-ssh did not stop on SIGINT")
    if not ok then error(err, 0) end
    assert.matches("interrupted: stopping the cluster", helpers.read_all(out_file))
    assert.is_true(helpers.eventually(function() return processes_with(addr) == 0 end, 15), "remote programs left running")
    -- a bad command line says why
    local out, rc = helpers.sh(helpers.shell_quote(bin .. "/ldask-ssh") .. " onlyonehost 2>&1")
    assert.equal(2, rc)
    assert.matches("at least one worker host", out)
  end)
end)
