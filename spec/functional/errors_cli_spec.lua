-- Functional specs of the errors a user of the ldask program meets: a
-- script's misuse names the script's file:line (never ldask's base.lua or
-- cli.lua), bad option values are one-line usage errors, REPL tracebacks
-- show no repl.lua/xpcall frames (on a terminal, through `script`), and on
-- a local cluster cycles are named key by key and nout works as locally.
local helpers = require "helpers"

-- Runs `bin/ldask ARGS` with stderr joined to stdout.
local function run(args, stdin) return helpers.run_ldask(args .. " 2>&1", stdin) end

describe("the ldask program's errors", function()
  it("point a script's misuse at the script's line", function()
    local misuses = {
      { "ldask.get({a = 1}, 'b')", "key(s) not in the graph: 'b'" },
      { "ldask.compute(ldask.delayed(1), {scheduler = 'foo'})", "unknown scheduler 'foo'" },
      { "ldask.delayed(1):compute({scheduler = 'foo'})", "unknown scheduler 'foo'" },
      { "ldask.delayed(undefined_function)", "ldask.delayed: got nil" },
      { "ldask.get({a = {undefined_function, 1}}, 'a')", "task 'a' has nil as its function" },
      { "ldask.visualize(ldask.delayed(1), 'g.bmp')", "must end in .dot, .svg or .png" },
      { "ldask.config.set {scheduler = 'foo'}", "scheduler must be" },
      { "ldask.bag.from_sequence({1, 2}):compute({scheduler = 'foo'})", "unknown scheduler 'foo'" },
      { "ldask.get({k1 = {f, 'k2'}, k2 = {f, 'k1'}}, 'k1')", "cycle in the task graph" },
    }
    for i, m in ipairs(misuses) do
      local path = helpers.write_tmp("misuse" .. i .. ".lua",
        "local function f(x) return x end\n\nlocal function go()\n  " .. m[1] .. "\nend\ngo()\n")
      local out, code = run(path)
      assert.equal(1, code, out)
      local first = out:match("^[^\n]*")
      assert.equal("ldask: " .. path .. ":4: ", first:sub(1, #path + 11), out)
      assert.matches(m[2], first, 1, true)
      assert.not_matches("base.lua", out, 1, true)
      assert.not_matches("cli.lua", out, 1, true)
      assert.matches(path .. ":6: in main chunk", out, 1, true)
    end
  end)

  it("names both keys of a fused cycle", function()
    local path = helpers.write_tmp("cycle.lua", "local f = function(x) return x end\n"
      .. "ldask.get({k1 = {f, 'k2'}, k2 = {f, 'k1'}}, 'k1')\n")
    local out = run(path)
    assert.matches("'k1'", out, 1, true)
    assert.matches("'k2'", out, 1, true)
  end)

  it("refuses a bad option value in one line", function()
    for _, args in ipairs { "--scheduler foo -e 1", "--scheduler distributed -e 1", "--scheduler tcp://nohost -e 1",
      "--nthreads 0 -e 1" } do
      local out, code = run(args)
      assert.equal(2, code, args)
      assert.matches("^ldask: %-%-%a+ expects [^\n]*\n$", out)
    end
    local out, code = run("--scheduler sync -e " .. helpers.shell_quote("print(ldask.config.get('scheduler'))"))
    assert.equal(0, code)
    assert.equal("sync\n", out)
  end)
end)

describe("the REPL on a terminal", function()
  it("shows tracebacks without its own frames", function()
    local home = helpers.tmpdir() .. "/home"
    os.execute("mkdir -p " .. home)
    local input = helpers.write_tmp("repl_err.txt",
      "function boom() error('kaboom') end\nboom()\nldask.get({a = 1}, 'zz')\nos.exit(0)\n")
    local cmd = string.format("HOME=%s timeout 60 script -qfec %s /dev/null < %s 2>&1", home,
      helpers.shell_quote(helpers.ldask), input)
    local p = io.popen(cmd)
    local out = p:read("*a"); p:close()
    assert.matches("stdin:1: kaboom", out, 1, true)
    assert.matches("stdin:1: in function 'boom'", out, 1, true)
    assert.matches("stdin:1: ldask.get: key(s) not in the graph: 'zz'", out, 1, true)
    assert.not_matches("repl.lua", out, 1, true)
    assert.not_matches("xpcall", out, 1, true)
    assert.not_matches("base.lua", out, 1, true)
  end)
end)

describe("errors and several results on a local cluster", function()
  it("names every key of a cycle and computes nout results", function()
    local path = helpers.write_tmp("cluster.lua", [[
local c = ldask.Client { n_workers = 1, threads_per_worker = 2 }
local f = function(x) return x end
local ok, e = pcall(ldask.get, {a = {f, 'b'}, b = {f, 'c'}, c = {f, 'a'}, d = {f, 'a'}}, 'd')
print(ok, e)
local function divmod(a, b) return math.floor(a / b), a % b end
local q, r = ldask.delayed(divmod, {nout = 2})(17, 5)
print("nout", ldask.compute(q, r))
print("first", ldask.delayed(divmod)(17, 5):compute())
local x, y = ldask.delayed(function() return {7, 8} end, {nout = 2})()
print("table", (x * 10 + y):compute())
c:close()
]])
    local out, code = run(path)
    assert.equal(0, code, out)
    assert.matches("false\t[^\n]*cycle in the task graph", out)
    for _, k in ipairs { "a", "b", "c" } do assert.matches("'" .. k .. "'", out, 1, true) end
    assert.matches("nout\t3\t2\n", out, 1, true)
    assert.matches("first\t3\n", out, 1, true)
    assert.matches("table\t78\n", out, 1, true)
  end)
end)
