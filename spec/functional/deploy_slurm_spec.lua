-- Functional specs of ldask.deploy.SLURMCluster on a real one-node SLURM
-- cluster (Debian's slurm-wlm + munge) started by scripts/slurm_local.sh
-- on 127.0.0.1 for this file and stopped after it: jobs are submitted with
-- sbatch, run ldask-workers that compute, scale up and down (retiring
-- workers moves their results), adapt to the work, and every job ends
-- (squeue) when the cluster closes or the client process exits. A machine
-- where SLURM cannot start fails these specs with the reason.
local ffi = require "ffi"
local ldask = require "ldask"
local helpers = require "helpers"

pcall(ffi.cdef, "int setenv(const char *name, const char *value, int overwrite);")

local dir = helpers.tmpdir() .. "/slurm"
local root = helpers.sh("cd " .. helpers.shell_quote(helpers.root) .. " && pwd"):gsub("%s+$", "")
local bin = helpers.sh("cd " .. helpers.shell_quote(helpers.bin) .. " && pwd"):gsub("%s+$", "")

-- Job ids (strings) squeue lists now.
local function queued_ids()
  local out = helpers.sh("squeue -h -o %i 2>&1")
  local ids = {}
  for id in out:gmatch("%d+") do ids[id] = true end
  return ids
end

-- Whether none of the jobs of CLUSTER_IDS (a list of ids) is in squeue.
local function all_ended(ids)
  local q = queued_ids()
  for _, id in ipairs(ids) do if q[id] then return false end end
  return true
end

local function ids_of(cluster)
  local ids = {}
  for _, job in pairs(cluster:job_ids()) do ids[#ids + 1] = job.id end
  table.sort(ids)
  return ids
end

describe("SLURMCluster on a one-node SLURM cluster", function()
  setup(function()
    local out, rc = helpers.sh("sh " .. helpers.shell_quote(root .. "/scripts/slurm_local.sh") .. " start " ..
      helpers.shell_quote(dir) .. " 2>&1")
    if rc ~= 0 then
      error("cannot start SLURM for the deploy specs (scripts/slurm_local.sh): " .. out, 0)
    end
    ffi.C.setenv("SLURM_CONF", dir .. "/slurm.conf", 1)
  end)
  teardown(function()
    helpers.sh("sh " .. helpers.shell_quote(root .. "/scripts/slurm_local.sh") .. " stop " .. helpers.shell_quote(dir))
  end)

  local function new_cluster(extra)
    local opts = { cores = 1, memory = "400MB", walltime = "00:10:00", log_directory = dir .. "/logs",
      death_timeout = 20, job_extra = { "--comment=ldask-spec" }, env_extra = { "export LDASK_SPEC_JOB=1" } }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return ldask.deploy.SLURMCluster(opts)
  end

  it("writes an sbatch script with dask-jobqueue's directives and no token in it", function()
    local cluster = new_cluster({ queue = "debug", account = "acct1", processes = 1, cores = 2, memory = "1GiB" })
    local ok, err = pcall(function()
      local s = cluster:job_script()
      assert.matches("^#!/usr/bin/env bash\n", s)
      assert.matches("\n#SBATCH %-J ldask%-worker\n", s)
      assert.matches("\n#SBATCH %-p debug\n", s)
      assert.matches("\n#SBATCH %-A acct1\n", s)
      assert.matches("\n#SBATCH %-%-cpus%-per%-task=2\n", s)
      assert.matches("\n#SBATCH %-%-mem=1024M\n", s)
      assert.matches("\n#SBATCH %-t 00:10:00\n", s)
      assert.matches("\n#SBATCH %-%-comment=ldask%-spec\n", s)
      assert.matches("\nexport LDASK_SPEC_JOB=1\n", s)
      assert.matches("ldask%-worker' " .. cluster.scheduler_address:gsub("%p", "%%%0") .. " %-%-name ldask%-worker%-1 %-%-nthreads 2 %-%-memory%-limit 1073741824", s)
      local token = helpers.read_all(cluster.token_file):gsub("%s+$", "")
      assert.equal(64, #token)
      assert.is_nil(s:find(token, 1, true))
      -- the token goes to a 0600 file on the node, never on a command line
      assert.matches('%-%-auth%-token%-file "%$LDASK_JOB_DIR/token"', s)
    end)
    cluster:close()
    if not ok then error(err, 0) end
  end)

  it("computes on workers submitted as jobs, scales down and up, and cancels every job on close", function()
    local cluster = new_cluster()
    local c
    local ok, err = pcall(function()
      cluster:scale(2)
      assert.equal(2, cluster.njobs)
      local ids = ids_of(cluster)
      assert.equal(2, #ids)
      local q = queued_ids()
      assert.is_true(q[ids[1]] and q[ids[2]])
      assert.equal(2, #cluster:wait_for_workers(2, 120).workers)
      c = ldask.Client(cluster, { set_as_default = false })
      local names = {}
      for _, w in ipairs(c:scheduler_info().workers) do names[#names + 1] = w.name end
      table.sort(names)
      assert.same({ "ldask-worker-1", "ldask-worker-2" }, names)
      -- each worker computes (its job's environment: env_extra)
      local fs = c:map(function(x) return { x * x, os.getenv("LDASK_SPEC_JOB"), os.getenv("SLURM_JOB_ID") } end,
        { 1, 2, 3, 4, 5, 6, 7, 8 })
      local r = c:gather(fs, 60)
      local jobs_seen = {}
      for i = 1, 8 do
        assert.equal(i * i, r[i][1])
        assert.equal("1", r[i][2])
        jobs_seen[r[i][3]] = true
      end
      for id in pairs(jobs_seen) do assert.is_true(id == ids[1] or id == ids[2]) end
      -- down to one job: results of the retired worker move first
      cluster:scale(1)
      assert.equal(1, cluster.njobs)
      assert.equal(1, #c:scheduler_info().workers)
      for i = 1, 8 do assert.equal(i * i, fs[i]:result(30)[1]) end
      assert.is_true(helpers.eventually(function()
        local left = queued_ids()
        return (left[ids[1]] and 1 or 0) + (left[ids[2]] and 1 or 0) == 1
      end, 30), "the retired worker's job did not end")
      -- up again with scale{jobs=}
      cluster:scale{ jobs = 2 }
      c:wait_for_workers(2, 120)
      assert.equal(55, c:submit(function(n) local s = 0; for i = 1, n do s = s + i end; return s end, 10):result(30))
      ids = ids_of(cluster)
      c:close()
      cluster:close()
      assert.is_true(helpers.eventually(function() return all_ended(ids) end, 30), "jobs still queued after close")
    end)
    if c then pcall(c.close, c) end
    cluster:close()
    if not ok then error(err, 0) end
  end)

  it("adapts: grows on queued work, shrinks idle workers after the cooldown", function()
    local cluster = new_cluster()
    local c
    local ok, err = pcall(function()
      c = ldask.Client(cluster, { set_as_default = false })
      local a = cluster:adapt{ minimum = 0, maximum = 2, interval = 0.2, wait_count = 3 }
      assert.equal(0, cluster.njobs)
      local fs = c:map(function(x) os.execute("sleep 0.5"); return x + 1 end, { 1, 2, 3, 4, 5, 6 })
      -- waiting on the results runs the checks: jobs come
      local r = c:gather(fs, 120)
      for i = 1, 6 do assert.equal(i + 1, r[i]) end
      assert.is_true(cluster.next_job > 1, "no job was submitted")
      -- no work left: after the cooldown every job goes
      assert.is_true(helpers.eventually(function()
        c:scheduler_info()
        return cluster.njobs == 0
      end, 60), "the idle workers were not retired")
      assert.equal(0, #c:scheduler_info().workers)
      a:stop()
    end)
    if c then pcall(c.close, c) end
    cluster:close()
    if not ok then error(err, 0) end
  end)

  it("cancels the jobs when the client process exits without closing", function()
    local script = helpers.write_tmp("slurm_exit.lua", [[
local cluster = ldask.deploy.SLURMCluster{ cores = 1, memory = "300MB", death_timeout = 20,
  log_directory = ]] .. string.format("%q", dir .. "/logs") .. [[ }
cluster:scale(1)
local c = ldask.Client(cluster)
c:wait_for_workers(1, 120)
for _, job in pairs(cluster:job_ids()) do print("JOB " .. job.id) end
]])
    local out, rc = helpers.sh(helpers.ldask .. " " .. script .. " 2>&1")
    assert.equal(0, rc, out)
    local id = out:match("JOB (%d+)")
    assert.truthy(id, out)
    -- cancelled at exit: well before the workers' death timeout (20 s)
    -- would end the job by itself
    assert.is_true(helpers.eventually(function() return all_ended({ id }) end, 10), "job " .. id .. " outlived its client")
  end)

  it("runs examples/slurm_cluster.lua", function()
    -- (from DIR: the jobs' slurm-N.out files go to sbatch's directory)
    local out, rc = helpers.sh("cd " .. helpers.shell_quote(dir) .. " && " .. helpers.shell_quote(bin .. "/ldask") ..
      " " .. helpers.shell_quote(root .. "/examples/slurm_cluster.lua") .. " 2 2>&1")
    assert.equal(0, rc, out)
    assert.matches("sum of squares 1..1000 = 333833500 %(expected 333833500%)", out)
    assert.matches("after scale{jobs=1}: 1 worker%(s%), first square still 1", out)
    assert.matches("adaptive: [34] job%(s%) submitted in all", out)
    assert.matches("\ndone\n", out)
    assert.is_true(helpers.eventually(function() return next(queued_ids()) == nil end, 30), "jobs left in squeue")
  end)

  it("raises on bad options at the caller's line", function()
    local ok, err = pcall(function() ldask.deploy.SLURMCluster{ memory = "1GB" } end)
    assert.is_false(ok)
    assert.matches("deploy_slurm_spec.lua:%d+: ldask.deploy.SLURMCluster: cores", err)
    ok, err = pcall(function() ldask.deploy.SLURMCluster{ cores = 1, memory = "lots" } end)
    assert.matches("deploy_slurm_spec.lua:%d+: .*'lots' is not a size", err)
    ok, err = pcall(function() ldask.deploy.SLURMCluster{ cores = 1, memory = "1GB", walltme = "1:00" } end)
    assert.matches("unknown option 'walltme'", err)
    ok, err = pcall(function() ldask.deploy.SLURMCluster{ cores = 2, processes = 3, memory = "1GB" } end)
    assert.matches("processes", err)
    local cluster = ldask.deploy.SLURMCluster{ cores = 1, memory = "1GB", submit_command = "false" }
    ok, err = pcall(function() cluster:scale(1) end)
    cluster:close()
    assert.matches("deploy_slurm_spec.lua:%d+: .*'false' failed", err)
    ok, err = pcall(function() cluster:scale(1) end)
    assert.matches("the cluster is closed", err)
  end)
end)
