-- Functional specs of ldask.deploy.PBSCluster: the qsub scripts it
-- generates (directives, resource_spec, job_extra, env_extra, several
-- workers per job, the token kept off command lines), and those very
-- scripts run by bash as a PBS node would (a small stand-in for qsub/qdel
-- written here: Debian has no PBS server) to compute, scale down and
-- cancel — the JobQueueCluster code is the one SLURMCluster uses.
local ldask = require "ldask"
local helpers = require "helpers"

local dir = helpers.tmpdir() .. "/pbs"
os.execute("mkdir -p " .. helpers.shell_quote(dir))

-- qsub: runs the job script in its own session in the background, prints
-- "PID.localpbs"; qdel: kills that session.
local qsub = helpers.write_tmp("qsub.sh", [[
cd ]] .. dir .. [[ && setsid bash "$1" > "$1.out" 2>&1 < /dev/null &
echo "$!.localpbs"
]])
local qdel = helpers.write_tmp("qdel.sh", [[
for id in "$@"; do kill -TERM -- "-${id%%.*}" 2>/dev/null; done
exit 0
]])

local function alive(pid) return os.execute("kill -0 " .. pid .. " 2>/dev/null") == 0 end

describe("PBSCluster", function()
  it("writes qsub scripts with dask-jobqueue's PBS directives", function()
    local cluster = ldask.deploy.PBSCluster{ cores = 24, processes = 4, memory = "100GB", queue = "regular",
      account = "proj7", walltime = "02:00:00", job_extra = { "-m abe" }, env_extra = { "module load lua" },
      log_directory = dir, local_directory = "/scratch/x", name = "lw" }
    local ok, err = pcall(function()
      local s = cluster:job_script()
      local lines = {}
      for l in s:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.same({ "#!/usr/bin/env bash", "#PBS -N lw", "#PBS -q regular", "#PBS -A proj7",
        "#PBS -l select=1:ncpus=24:mem=95368MB", "#PBS -l walltime=02:00:00",
        "#PBS -e " .. dir .. "/lw-1.err", "#PBS -o " .. dir .. "/lw-1.out", "#PBS -m abe", "module load lua" },
        { unpack(lines, 1, 10) })
      -- 4 workers of 6 threads and 25 GB each, named lw-1-1 .. lw-1-4
      local n = 0
      for name, threads, mem in s:gmatch("%-%-name (lw%-1%-%d) %-%-nthreads (%d+) %-%-memory%-limit (%d+)") do
        n = n + 1
        assert.equal("lw-1-" .. n, name)
        assert.equal("6", threads)
        assert.equal("25000000000", mem)
      end
      assert.equal(4, n)
      assert.matches("%-%-local%-directory '/scratch/x'", s)
      assert.matches("\nwait\n$", s)
      local token = helpers.read_all(cluster.token_file):gsub("%s+$", "")
      assert.is_nil(s:find(token, 1, true))
      -- Torque's -l line through resource_spec
      local t = ldask.deploy.PBSCluster{ cores = 4, memory = "8GB", resource_spec = "nodes=1:ppn=4" }
      assert.matches("\n#PBS %-l nodes=1:ppn=4\n", t:job_script())
      t:close()
    end)
    cluster:close()
    if not ok then error(err, 0) end
  end)

  it("runs its job scripts: workers compute, scale down retires, close cancels", function()
    local cluster = ldask.deploy.PBSCluster{ cores = 2, processes = 2, memory = "1GB", death_timeout = 20,
      submit_command = "sh " .. qsub, cancel_command = "sh " .. qdel }
    local c
    local ok, err = pcall(function()
      cluster:scale(4) -- 2 jobs of 2 workers
      assert.equal(2, cluster.njobs)
      c = ldask.Client(cluster, { set_as_default = false })
      c:wait_for_workers(4, 60)
      local names = {}
      for _, w in ipairs(c:scheduler_info().workers) do names[#names + 1] = w.name end
      table.sort(names)
      assert.same({ "ldask-worker-1-1", "ldask-worker-1-2", "ldask-worker-2-1", "ldask-worker-2-2" }, names)
      local fs = c:map(function(x) return x * 10 end, { 1, 2, 3, 4, 5, 6, 7, 8 })
      assert.same({ 10, 20, 30, 40, 50, 60, 70, 80 }, c:gather(fs, 30))
      local pids = {}
      for _, job in pairs(cluster:job_ids()) do pids[#pids + 1] = job.id:match("^(%d+)") end
      cluster:scale(2) -- one job: both of its workers retire, the job ends
      assert.equal(1, cluster.njobs)
      assert.equal(2, #c:scheduler_info().workers)
      assert.same({ 10, 20, 30, 40, 50, 60, 70, 80 }, c:gather(fs, 30))
      c:close()
      cluster:close()
      assert.is_true(helpers.eventually(function() return not alive(pids[1]) and not alive(pids[2]) end, 20),
        "job scripts still running after close")
    end)
    if c then pcall(c.close, c) end
    cluster:close()
    if not ok then error(err, 0) end
  end)
end)
