-- spec/run.lua: runs the busted specs inside the ldask runtime itself.
--   bin/ldask spec/run.lua [busted options] [spec files or folders]
-- With no files, runs spec/functional and spec/unit (each in its own process). The run ends with the
-- line "N passed, N failed" (see spec/support/summary.lua).
local here = debug.getinfo(1, "S").source:sub(2):match("(.*)/spec/run.lua$") or "."
package.path = here .. "/spec/support/?.lua;" .. package.path

local args, files = {}, false
for i = 1, #arg do
  args[#args + 1] = arg[i]
  if arg[i]:sub(1, 1) ~= "-" then files = true end
end
-- With no files: spec/functional and spec/unit each in a process of its
-- own (a fresh runtime for each half, as CI's two halves of the suite are
-- independent), their output passed through, and one closing line with
-- the totals. A half whose process dies without its closing line counts
-- as failed and says so.
if not files then
  local prog = arg[-1] or (here .. "/bin/ldask")
  local passed, failed, status = 0, 0, 0
  -- The specs' scratch folders (spec/support/helpers.lua tmpdir) go under
  -- one root, removed when every spec passed and kept (named) otherwise.
  local p0 = io.popen("mktemp -d /tmp/ldask-specs.XXXXXX")
  local root = p0:read("*l")
  p0:close()
  for _, dir in ipairs({ "functional", "unit" }) do
    local cmd = "LDASK_SPEC_TMP='" .. root .. "' '" .. prog .. "' '" .. here .. "/spec/run.lua' "
    for _, a in ipairs(args) do cmd = cmd .. "'" .. a .. "' " end
    cmd = cmd .. "'" .. here .. "/spec/" .. dir .. "' 2>&1; echo \"@@rc=$?\""
    local p = io.popen(cmd)
    local got, rc = false, nil
    for line in p:lines() do
      local np, nf = line:match("^(%d+) passed, (%d+) failed$")
      local r = line:match("^@@rc=(%d+)$")
      if r then
        rc = tonumber(r)
      elseif np then
        passed, failed, got = passed + tonumber(np), failed + tonumber(nf), true
      else
        io.stdout:write(line, "\n")
        io.stdout:flush()
      end
    end
    p:close()
    if not got then
      io.stdout:write("\nspec/run.lua: the spec/", dir, " run ended without its closing line (exit ",
        tostring(rc), "): counted as failed\n")
      failed = failed + 1
    end
    if rc ~= 0 then status = 1 end
  end
  if status == 0 and failed == 0 then
    os.execute("rm -rf '" .. root .. "'")
  else
    io.stdout:write("\nspec/run.lua: the specs' logs and scratch files are kept in ", root, "\n")
  end
  io.stdout:write(string.format("\n%d passed, %d failed\n", passed, failed))
  io.stdout:flush()
  os.exit((status ~= 0 or failed > 0) and 1 or 0)
end
local out = { "-o", here .. "/spec/support/summary.lua", "--lpath=" .. here .. "/spec/support/?.lua" }
for _, a in ipairs(args) do out[#out + 1] = a end
-- Every ldask module is loaded once, before busted starts, as in a user's
-- process: busted's file insulation then never unloads a module that
-- another module (or a shipped function's upvalue) still holds, which would
-- leave two copies of a module alive and functions the codec cannot name.
do
  local p = io.popen("cd '" .. here .. "/lua' && find ldask -name '*.lua' | sort")
  for file in p:lines() do
    local name = file:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
    if name ~= "ldask.cli" and name ~= "ldask.repl" and not name:match("^ldask%.array%.benchutil") then
      local ok, err = pcall(require, name)
      if not ok then io.stderr:write("spec/run.lua: cannot load ", name, ": ", tostring(err), "\n") end
    end
  end
  p:close()
end
for i = 1, #arg do arg[i] = nil end
for i, a in ipairs(out) do arg[i] = a end
-- busted signals failed specs by error() with no value under Lua 5.1: exit
-- with status 1 instead of letting the program print "ldask: nil".
local ok, err = pcall(require "busted.runner", { standalone = false })
if not ok then
  if err == nil then
    io.stdout:flush()
    os.exit(1)
  end
  error(err, 0)
end
