--- ldask.deploy: cluster managers that start an ldask cluster on the
-- machines a resource manager or ssh gives (dask-jobqueue's and dask's
-- names): SLURMCluster, PBSCluster (batch jobs, ldask.deploy.jobqueue),
-- SSHCluster (ldask.deploy.ssh), with scale / adapt. docs/deploy.md.
-- @module ldask.deploy
local jobqueue = require "ldask.deploy.jobqueue"
local slurm = require "ldask.deploy.slurm"
local pbs = require "ldask.deploy.pbs"

local M = {}
M.JobQueueCluster = jobqueue.JobQueueCluster

--- SLURMCluster{cores =, memory =, processes =, walltime =, queue =,
-- account =, job_extra =, env_extra =, local_directory =, log_directory =,
-- name =, interface =, host =, ...}: starts an ldask-scheduler here (with a
-- fresh token) and submits ldask-workers as SLURM jobs (sbatch); cores and
-- memory are per job. cluster:scale, cluster:adapt, cluster:job_script,
-- cluster:close (scancel); ldask.Client(cluster) connects to it.
-- @param opts the options (docs/deploy.md)
-- @return the cluster (a JobQueueCluster)
-- @usage local cluster = ldask.deploy.SLURMCluster{ cores = 4, memory = "8GB", queue = "normal" }
-- print(cluster)   --> <SLURMCluster tcp://127.0.0.1:PORT, 0 job(s)>
-- -- cluster:scale{ jobs = 2 }; local client = ldask.Client(cluster)  (on a SLURM login node)
-- cluster:close()
function M.SLURMCluster(opts)
  local c = jobqueue.new(slurm.KIND, opts, 2)
  return c -- (not a tail call: errors name the caller's line)
end

--- PBSCluster{...}: the same with PBS / Torque / OpenPBS jobs (qsub,
-- qdel); resource_spec (default "select=1:ncpus=CORES:mem=MEM") gives the
-- -l line.
-- @param opts the options (docs/deploy.md)
-- @return the cluster (a JobQueueCluster)
-- @usage local cluster = ldask.deploy.PBSCluster{ cores = 24, memory = "100GB", queue = "regular" }
-- print(cluster:job_script())   -- #PBS -l select=1:ncpus=24:mem=95368MB ...
-- cluster:close()
function M.PBSCluster(opts)
  local c = jobqueue.new(pbs.KIND, opts, 2)
  return c
end

--- SSHCluster{hosts =, connect_options =, worker_options =,
-- scheduler_options =, remote_prefix =}: the scheduler on the first host,
-- workers on the others, through ssh (ldask.deploy.ssh).
-- @param opts the options (docs/deploy.md)
-- @return the cluster
function M.SSHCluster(opts)
  local c = require("ldask.deploy.ssh").new(opts, 2)
  return c
end

return M
