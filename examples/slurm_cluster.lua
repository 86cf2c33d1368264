-- examples/slurm_cluster.lua: an ldask cluster on SLURM (docs/deploy.md).
-- Run it on a SLURM login node (or after `sh scripts/slurm_local.sh start
-- DIR` and exporting the SLURM_CONF it prints):
--   ldask examples/slurm_cluster.lua [JOBS] [QUEUE]
-- It starts a scheduler here, submits JOBS worker jobs (default 2), sums
-- squares on them, shrinks to one job (results move first), lets adaptive
-- scaling grow it again for a second batch, and cancels every job at the
-- end.
local ldask = require "ldask"

local jobs = tonumber(arg and arg[1]) or 2
local queue = arg and arg[2]

local cluster = ldask.deploy.SLURMCluster{
  cores = 1, memory = "500MB", walltime = "00:10:00", queue = queue,
  death_timeout = 30,
}
print(cluster:job_script())
cluster:scale{ jobs = jobs }
local client = ldask.Client(cluster)
client:wait_for_workers(jobs, 120)
print(("%d worker(s) up: %s"):format(jobs, tostring(cluster)))

local seq = {}
for i = 1, 1000 do seq[i] = i end
local squares = client:map(function(x) return x * x end, seq)
local total = 0
for _, v in ipairs(client:gather(squares)) do total = total + v end
print(("sum of squares 1..1000 = %d (expected %d)"):format(total, 1000 * 1001 * 2001 / 6))

cluster:scale{ jobs = 1 }   -- retires the other workers; their results move first
print(("after scale{jobs=1}: %d worker(s), first square still %d"):format(
  #client:scheduler_info().workers, squares[1]:result()))

local adaptive = cluster:adapt{ minimum = 1, maximum = jobs, interval = 0.5 }
local slow = client:map(function(x) os.execute("sleep 0.2"); return x end, { 1, 2, 3, 4, 5, 6, 7, 8 })
client:gather(slow)   -- waiting runs the adaptive checks: jobs come for the queued work
print(("adaptive: %d job(s) submitted in all"):format(cluster.next_job - 1))
adaptive:stop()

client:close()
cluster:close()       -- scancel every job
print("done")
