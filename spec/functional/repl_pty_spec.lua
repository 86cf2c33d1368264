-- Functional spec: the REPL on a pseudo-terminal (through util-linux's
-- `script`), as a person uses it: line editing on, results printed, ldask
-- objects shown by their key, history saved. The input ends with os.exit:
-- an EOF that `script` sends while a line still runs reaches the terminal in
-- cooked mode and is lost to the line editor (as with any readline REPL).
local helpers = require "helpers"

-- Types the lines of INPUT (written to file NAME) into the REPL on a
-- pseudo-terminal with HOME set to a fresh HOMEDIR; returns what it showed.
local function drive(name, homedir, input)
  local home = helpers.tmpdir() .. "/" .. homedir
  os.execute("mkdir -p " .. home)
  local file = helpers.write_tmp(name, input)
  local cmd = string.format("HOME=%s timeout 60 script -qfec %s /dev/null < %s 2>&1", home,
    helpers.shell_quote(helpers.ldask), file)
  local p = io.popen(cmd)
  local out = p:read("*a"); p:close()
  return out, home
end

describe("the REPL on a terminal", function()
  it("evaluates lines, pretty-prints ldask objects and saves history", function()
    local out, home = drive("repl_in.txt", "home", "x = 6\nx * 7\nldask.delayed(5, {key = 'five'})\nos.exit(0)\n")
    assert.matches("\n42\r?\n", out)
    assert.matches("Delayed('five')", out, 1, true)
    local hist = io.open(home .. "/.ldask_history")
    assert.is_truthy(hist, "history file written")
    assert.matches("x\\040*\\0407", hist:read("*a"), 1, true) -- libedit escapes spaces
    hist:close()
  end)

  it("continues unfinished expressions and statements, reports errors, shows a new client's dashboard", function()
    local out = drive("repl_in2.txt", "home2", table.concat({
      "1 +", "2", "for i = 1, 2 do", "io.write('it', i, ' ')", "end", "y = = 3",
      "c = ldask.Client { n_workers = 1, threads_per_worker = 1 }",
      "c:submit(function() return 5 end):result()", "c:close()", "os.exit(0)", "" }, "\n"))
    assert.matches(">> 2\r?\n3\r?\n", out)
    assert.matches("it1 it2", out, 1, true)
    assert.matches("stdin:1: unexpected symbol near '='", out, 1, true)
    assert.matches("dashboard: http://127%.0%.0%.1:%d+/status%?token=", out)
    assert.matches("\n5\r?\n", out)
  end)
end)
