--- ldask.deploy.pbs: PBSCluster (dask-jobqueue's PBSCluster): ldask
-- workers as PBS / Torque / OpenPBS batch jobs (qsub; qdel when the
-- cluster closes). The shared machinery is ldask.deploy.jobqueue; this
-- file says what a PBS job script looks like. docs/deploy.md.
-- @module ldask.deploy.pbs
local ceil = math.ceil

local M = {}

-- The #PBS lines of job NUM of cluster SELF.
local function directives(self, num)
  local d = { "#PBS -N " .. self.name }
  if self.queue then d[#d + 1] = "#PBS -q " .. self.queue end
  if self.account then d[#d + 1] = "#PBS -A " .. self.account end
  -- dask-jobqueue's default resource_spec (PBS Pro's chunks); Torque users
  -- give resource_spec = "nodes=1:ppn=4"
  d[#d + 1] = "#PBS -l " .. (self.resource_spec or
    ("select=1:ncpus=" .. self.cores .. ":mem=" .. ceil(self.memory / 2 ^ 20) .. "MB"))
  d[#d + 1] = "#PBS -l walltime=" .. self.walltime
  if self.log_directory then
    d[#d + 1] = "#PBS -e " .. self.log_directory .. "/" .. self.name .. "-" .. num .. ".err"
    d[#d + 1] = "#PBS -o " .. self.log_directory .. "/" .. self.name .. "-" .. num .. ".out"
  end
  return d
end

local KIND = {
  name = "PBSCluster", prefix = "#PBS", directives = directives,
  submit_command = "qsub", cancel_command = "qdel",
  -- "1234.server" (the last line of the output)
  job_id = function(out) return out:match("([%w%.%-%[%]]+)%s*$") end,
}

M.KIND = KIND

return M
