--- ldask.deploy.slurm: SLURMCluster (dask-jobqueue's SLURMCluster): ldask
-- workers as SLURM batch jobs (sbatch; scancel when the cluster closes).
-- The shared machinery is ldask.deploy.jobqueue; this file says what a
-- SLURM job script looks like. docs/deploy.md.
-- @module ldask.deploy.slurm
local ceil = math.ceil

local M = {}

-- The #SBATCH lines of job NUM of cluster SELF.
local function directives(self, num)
  local d = { "#SBATCH -J " .. self.name }
  if self.log_directory then
    d[#d + 1] = "#SBATCH -e " .. self.log_directory .. "/" .. self.name .. "-" .. num .. "-%j.err"
    d[#d + 1] = "#SBATCH -o " .. self.log_directory .. "/" .. self.name .. "-" .. num .. "-%j.out"
  end
  if self.queue then d[#d + 1] = "#SBATCH -p " .. self.queue end
  if self.account then d[#d + 1] = "#SBATCH -A " .. self.account end
  d[#d + 1] = "#SBATCH -n 1"
  d[#d + 1] = "#SBATCH --cpus-per-task=" .. self.cores
  d[#d + 1] = "#SBATCH --mem=" .. ceil(self.memory / 2 ^ 20) .. "M"
  d[#d + 1] = "#SBATCH -t " .. self.walltime
  return d
end

local KIND = {
  name = "SLURMCluster", prefix = "#SBATCH", directives = directives,
  submit_command = "sbatch --parsable", cancel_command = "scancel",
  -- "1234" or "1234;cluster" (--parsable), after any warnings
  job_id = function(out) return out:match("(%d+)[;%w]*%s*$") end,
}

M.KIND = KIND

return M
