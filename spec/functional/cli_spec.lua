-- Functional specs of the ldask program: runs bin/ldask as a user would.
local helpers = require "helpers"

describe("the ldask program", function()
  it("prints its version", function()
    local out, code = helpers.run_ldask("--version")
    assert.equal(0, code)
    assert.matches("^ldask %d+%.%d+%.%d+", out)
  end)

  it("runs -e code with the global ldask preloaded", function()
    local out, code = helpers.run_ldask("-e " .. helpers.shell_quote("print(type(ldask), ldask.version)"))
    assert.equal(0, code)
    assert.equal("table\t0.1.0\n", out)
  end)

  it("runs a script with arg set as lua sets it", function()
    local path = helpers.write_tmp("args.lua", "print(arg[0], arg[1], arg[2], select('#', ...))")
    local out, code = helpers.run_ldask(path .. " a b")
    assert.equal(0, code)
    assert.equal(path .. "\ta\tb\t2\n", out)
  end)

  it("reports an uncaught error with a traceback and exits non-zero", function()
    local path = helpers.write_tmp("boom.lua", "local function f() error('kaboom') end\nf()\n")
    local out, code = helpers.run_ldask(path .. " 2>&1")
    assert.is_not.equal(0, code)
    assert.matches("boom.lua:1: kaboom", out, 1, true)
    assert.matches("stack traceback", out, 1, true)
  end)

  it("refuses an unknown option, naming it", function()
    local out, code = helpers.run_ldask("--frobnicate 2>&1")
    assert.equal(2, code)
    assert.matches("unknown option '--frobnicate'", out, 1, true)
  end)

  it("evaluates expressions and statements in the REPL read from a pipe", function()
    local out, code = helpers.run_ldask("", "x = 20\nx + 1\nfor i = 1, 2 do\nprint('i' .. i)\nend\n")
    assert.equal(0, code)
    assert.matches("> 21\n", out, 1, true)
    assert.matches("i1\ni2", out, 1, true)
  end)

  it("runs the REPL after a script with -i", function()
    local path = helpers.write_tmp("pre.lua", "y = 41\n")
    local out, code = helpers.run_ldask("-i " .. path, "y + 1\n")
    assert.equal(0, code)
    assert.matches("> 42", out, 1, true)
  end)
end)

describe("run-time options after the script", function()
  it("takes --nthreads/--scheduler after the script and passes the rest through", function()
    local path = helpers.write_tmp("opts.lua",
      "print(ldask.config.get('num_workers'), ldask.config.get('scheduler'), table.concat(arg, ' '))")
    local out, code = helpers.run_ldask(path .. " a --nthreads 3 b --scheduler sync -- --nthreads 9")
    assert.equal(0, code)
    assert.equal("3\tsync\ta b --nthreads 9\n", out)
  end)

  it("names a bad --nthreads value", function()
    local out, code = helpers.run_ldask("--nthreads zero -e 'x=1' 2>&1")
    assert.equal(2, code)
    assert.matches("--nthreads expects a positive integer, got 'zero'", out, 1, true)
  end)
end)

describe("connecting to a cluster from the command line", function()
  local sched, file
  setup(function()
    file = helpers.tmpdir() .. "/cli-sched.json"
    os.remove(file)
    sched = io.popen(string.format("%s/ldask-scheduler --port 0 --scheduler-file %s > %s/cli-sched.log 2>&1 & echo $!",
      helpers.bin, file, helpers.tmpdir())):read("*l")
    os.execute(string.format("%s/ldask-worker --scheduler-file %s --nthreads 1 --death-timeout 5 > /dev/null 2>&1 &",
      helpers.bin, file))
    for _ = 1, 100 do
      if io.open(file) then break end
      os.execute("sleep 0.05")
    end
  end)
  teardown(function()
    if sched then os.execute("kill " .. sched .. " 2>/dev/null") end
  end)

  it("runs a script's computes on the cluster with --scheduler tcp://...", function()
    local f = assert(io.open(file)); local addr = f:read("*a"):match('"address"%s*:%s*"([^"]+)"'); f:close()
    local path = helpers.write_tmp("on_cluster.lua", [[
      local d = ldask.delayed(function(x) return x * 3 end)(14)
      print(d:compute(), tostring(require("ldask.client").current()):match("^<Client") ~= nil)
    ]])
    local out, code = helpers.run_ldask(path .. " --scheduler " .. addr .. " 2>&1")
    assert.equal(0, code, out)
    assert.equal("42\ttrue\n", out)
    local out2, code2 = helpers.run_ldask("--scheduler-file " .. file .. " " .. path .. " 2>&1")
    assert.equal(0, code2, out2)
    assert.equal("42\ttrue\n", out2)
  end)

  it("exits 1 naming the address it cannot reach", function()
    local out, code = helpers.run_ldask("--scheduler tcp://127.0.0.1:1 -e 'print(1)' 2>&1")
    assert.equal(1, code)
    assert.matches("127.0.0.1:1", out, 1, true)
  end)
end)
