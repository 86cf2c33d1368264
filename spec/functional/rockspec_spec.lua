-- Functional spec: the luarocks install documented in README.md ("Install
-- with luarocks") works as written: the spec reads the commands from the
-- README, runs them with a temporary tree for DIR, and checks that plain
-- luajit then requires ldask and starts a local cluster of the installed
-- programs. Every luarocks command in the docs names --lua-version 5.1
-- (Debian's luarocks defaults to Lua 5.2, which cannot build ldask).
local helpers = require "helpers"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function run(cmd) return helpers.run_sh(cmd .. " 2>&1") end

-- The documented commands: the lines of the README's sh block that holds
-- the install command.
local function documented()
  local readme = read(helpers.root .. "/README.md")
  for block in readme:gmatch("```sh\n(.-)```") do
    if block:find("luarocks --lua-version 5.1 make", 1, true) then
      local install, path = block:match("(luarocks %-%-lua%-version 5%.1 make [^\n]*)\n"),
        block:match("(eval \"%$%(luarocks [^\n]*)\n")
      return install, path
    end
  end
end

-- luarocks commands that must come after --lua-version 5.1
local COMMANDS = { make = true, path = true, install = true, build = true, pack = true }

describe("the rockspec", function()
  local tree = helpers.tmpdir() .. "/rocktree"
  local install, path = documented()

  it("is installed, in the README, by a luarocks command for Lua 5.1 that names a tree", function()
    assert.is_truthy(install, "README.md has no ```sh block with `luarocks --lua-version 5.1 make ...`")
    assert.is_truthy(install:find("--tree DIR", 1, true), install)
    assert.is_truthy(path, "README.md's install block has no `eval \"$(luarocks ... path ...)\"` line")
    assert.is_truthy(path:find("--lua-version 5.1", 1, true), path)
  end)

  it("says --lua-version 5.1 in every luarocks command of the docs", function()
    local pages = { "README.md" }
    local p = io.popen("cd " .. helpers.shell_quote(helpers.root) .. " && ls docs/*.md")
    for name in p:lines() do pages[#pages + 1] = name end
    p:close()
    for _, page in ipairs(pages) do
      local n = 0
      for line in (read(helpers.root .. "/" .. page) .. "\n"):gmatch("([^\n]*)\n") do
        n = n + 1
        for word, rest in line:gmatch("luarocks%s+(%S+)%s*(%S*)") do
          if COMMANDS[word] or (word == "--lua-version" and rest ~= "5.1") then
            error(page .. ":" .. n .. ": a luarocks command without --lua-version 5.1: " .. line)
          end
        end
      end
    end
  end)

  it("installs, by the documented commands, a tree where plain luajit can require ldask and run a graph", function()
    local q = helpers.shell_quote(tree)
    -- env -u: a `make SANITIZE=...` around the specs must not leak into the
    -- rock's own make (SANITIZE, MAKEFLAGS would select the sanitized variant)
    local out, rc = run(string.format("cd %s && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SANITIZE %s >/dev/null",
      helpers.shell_quote(helpers.root), (install:gsub("DIR", q))))
    assert.equal(0, rc, out)
    out, rc = run(string.format("%s && cd / && luajit -e 'local l = require \"ldask\"; " ..
      "print(l.version, l.get({a = 1, b = {function(x) return x * 5 end, \"a\"}}, \"b\", {scheduler = \"threads\"}))'",
      (path:gsub("DIR", q))))
    assert.equal(0, rc, out)
    assert.equal("0.1.0\t5\n", out)
  end)

  it("from that tree, ldask.Client() starts a local cluster of the installed programs", function()
    local out = run(string.format("%s && cd / && " ..
      "timeout 60 luajit -e 'local l = require \"ldask\"; local c = l.Client(); " ..
      "print(c:submit(function(x) return x * 2 end, 21):result(20)); c:close()'",
      (path:gsub("DIR", helpers.shell_quote(tree)))))
    assert.equal("42\n", out)
  end)

  it("from that tree, performance_report finds the installed dashboard files", function()
    local report = helpers.tmpdir() .. "/rock-report.html"
    local out = run(string.format("%s && cd / && " ..
      "luajit -e 'local l = require \"ldask\"; l.diagnostics.performance_report(\"%s\", function() " ..
      "return l.get({a = 1, b = {function(x) return x + 1 end, \"a\"}}, \"b\") end); print(\"written\")'",
      (path:gsub("DIR", helpers.shell_quote(tree))), report))
    assert.equal("written\n", out)
    local html = read(report)
    assert.is_truthy(html:find("window.LDASK_REPORT = ", 1, true))
    assert.is_truthy(html:find("uPlot", 1, true))
    local f = io.open(tree .. "/share/lua/5.1/ldask/dashboard/status.html")
    assert.is_truthy(f, "the tree has no share/lua/5.1/ldask/dashboard/status.html")
    f:close()
  end)
end)
