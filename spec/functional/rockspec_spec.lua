-- Functional spec: the rockspec installs the modules and the native library
-- into a tree from which plain luajit can require "ldask".
local helpers = require "helpers"

describe("the rockspec", function()
  it("installs a tree where plain luajit can require ldask and run a graph", function()
    local tree = helpers.tmpdir() .. "/rocktree"
    -- env -u: a `make SANITIZE=...` around the specs must not leak into the
    -- rock's own make (SANITIZE, MAKEFLAGS would select the sanitized variant)
    local cmd = string.format("cd %s && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SANITIZE luarocks --lua-version 5.1 make --tree %s ldask-scm-1.rockspec >/dev/null 2>&1 && " ..
      "eval \"$(luarocks --lua-version 5.1 path --tree %s)\" && cd / && " ..
      "luajit -e 'local l = require \"ldask\"; print(l.version, l.get({a = 1, b = {function(x) return x * 5 end, \"a\"}}, \"b\", {scheduler = \"threads\"}))' 2>&1",
      helpers.root, tree, tree)
    local p = io.popen(cmd)
    local out = p:read("*a"); p:close()
    assert.equal("0.1.0\t5\n", out)
  end)

  it("from that tree, ldask.Client() starts a local cluster of the installed programs", function()
    local tree = helpers.tmpdir() .. "/rocktree"
    local cmd = string.format("eval \"$(luarocks --lua-version 5.1 path --bin --tree %s)\" && cd / && " ..
      "timeout 60 luajit -e 'local l = require \"ldask\"; local c = l.Client(); " ..
      "print(c:submit(function(x) return x * 2 end, 21):result(20)); c:close()' 2>&1", tree)
    local p = io.popen(cmd)
    local out = p:read("*a"); p:close()
    assert.equal("42\n", out)
  end)
end)
