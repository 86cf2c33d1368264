-- examples/cluster_futures.lua: futures on a cluster — a Monte Carlo
-- estimate of pi in N batches, each on a worker, summed by a task that takes
-- the batches' futures as inputs (their data moves between workers, never
-- through this script), with results printed as they complete.
--
--   ldask examples/cluster_futures.lua [N] [SAMPLES]        -- starts a local cluster
--   ldask examples/cluster_futures.lua 16 --scheduler tcp://127.0.0.1:8786
local ldask = require "ldask"

local n = tonumber(arg[1]) or 8
local samples = tonumber(arg[2]) or 200000

-- With --scheduler, ldask already opened the client; otherwise start a
-- local cluster of 2 workers that closes with this script.
local client = require("ldask.client").current() or ldask.Client({ n_workers = 2, threads_per_worker = 1 })

-- One batch: how many of SAMPLES random points of the unit square fall in
-- the quarter circle. The seed makes each batch reproducible.
local function batch(seed, count)
  math.randomseed(seed)
  local hits = 0
  for _ = 1, count do
    local x, y = math.random(), math.random()
    if x * x + y * y <= 1 then hits = hits + 1 end
  end
  return hits
end

local seeds = {}
for i = 1, n do seeds[i] = i end
local futures = client:map(batch, seeds, samples)

local done = 0
for f in ldask.as_completed(futures) do
  done = done + 1
  io.write(("batch %d/%d: %d hits\n"):format(done, n, f:result()))
end

-- A task whose inputs are futures: it runs where the data is.
local function estimate(count, ...)
  local hits = 0
  for i = 1, select("#", ...) do hits = hits + select(i, ...) end
  return 4 * hits / (count * select("#", ...))
end
local pi = client:submit(estimate, samples, unpack(futures)):result()
print(("pi ~ %.4f from %d samples on %d workers"):format(pi, n * samples, #client:scheduler_info().workers))
