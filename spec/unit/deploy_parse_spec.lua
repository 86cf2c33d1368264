-- Unit specs of ldask.deploy's parsing: sizes (jobqueue.parse_size, as
-- dask-jobqueue's memory strings), the ldask-ssh command line
-- (ssh_cli.parse) and the Adaptive's target (workers wanted for the work
-- on the scheduler), without starting anything.
local jobqueue = require "ldask.deploy.jobqueue"
local ssh_cli = require "ldask.deploy.ssh_cli"
local adaptive = require "ldask.deploy.adaptive"

describe("ldask.deploy.jobqueue.parse_size", function()
  it("reads decimal and binary units, any case, and plain numbers", function()
    assert.equal(4e9, jobqueue.parse_size("4GB"))
    assert.equal(4e9, jobqueue.parse_size("4 gb"))
    assert.equal(2 ^ 30, jobqueue.parse_size("1GiB"))
    assert.equal(1536 * 2 ^ 20, jobqueue.parse_size("1.5GiB"))
    assert.equal(500e6, jobqueue.parse_size("500M"))
    assert.equal(123, jobqueue.parse_size(123))
  end)
  it("says why a size is not one", function()
    local n, err = jobqueue.parse_size("lots")
    assert.is_nil(n)
    assert.matches("'lots' is not a size", err)
    assert.is_nil((jobqueue.parse_size("4XB")))
    assert.is_nil((jobqueue.parse_size(-1)))
    assert.is_nil((jobqueue.parse_size({})))
  end)
end)

describe("ldask-ssh's command line", function()
  it("maps options to SSHCluster options", function()
    local opts, tok = ssh_cli.parse({ "--ssh-port", "2222", "--ssh-identity", "k", "--ssh-option", "A=b",
      "--remote-prefix", "/opt/bin", "--nworkers", "2", "--nthreads", "4", "--memory-limit", "2GB",
      "--scheduler-port", "0", "--token-file", "t", "h0", "h1", "h2" })
    assert.equal("t", tok)
    assert.same({ "h0", "h1", "h2" }, opts.hosts)
    assert.equal(2222, opts.connect_options.port)
    assert.equal("k", opts.connect_options.identity_file)
    assert.same({ "-oA=b" }, opts.connect_options.options)
    assert.equal("/opt/bin", opts.remote_prefix)
    assert.same({ n_workers = 2, nthreads = 4, memory_limit = "2GB" }, opts.worker_options)
    assert.equal(0, opts.scheduler_options.port)
  end)
  it("refuses bad command lines with the reason", function()
    assert.matches("at least one worker host", select(2, ssh_cli.parse({ "h0" })))
    assert.matches("unknown option '%-%-bogus'", select(2, ssh_cli.parse({ "--bogus", "a", "b" })))
    assert.matches("%-%-nthreads needs a whole number, got 'x'", select(2, ssh_cli.parse({ "--nthreads", "x", "a", "b" })))
    assert.matches("%-%-ssh%-port needs a value", select(2, ssh_cli.parse({ "a", "b", "--ssh-port" })))
    assert.equal("help", select(2, ssh_cli.parse({ "--help" })))
  end)
end)

describe("Adaptive:target", function()
  local function target(min, max, cores, processes, info)
    local a = setmetatable({ minimum = min, maximum = max, cluster = { cores = cores, processes = processes } },
      adaptive.Adaptive)
    return a:target(info)
  end
  it("wants one worker per cores/processes tasks queued or running, within the bounds", function()
    assert.equal(0, target(0, 10, 1, 1, { queued = 0, workers = {} }))
    assert.equal(1, target(1, 10, 1, 1, { queued = 0, workers = {} }))
    assert.equal(5, target(0, 10, 1, 1, { queued = 3, workers = { { processing = 2 } } }))
    assert.equal(3, target(0, 10, 4, 2, { queued = 5, workers = {} })) -- 2 threads per worker
    assert.equal(10, target(0, 10, 1, 1, { queued = 500, workers = {} }))
  end)
end)
