-- spec/run.lua: runs the busted specs inside the ldask runtime itself.
--   bin/ldask spec/run.lua [busted options] [spec files or folders]
-- With no files, runs spec/unit and spec/functional. The run ends with the
-- line "N passed, N failed" (see spec/support/summary.lua).
local here = debug.getinfo(1, "S").source:sub(2):match("(.*)/spec/run.lua$") or "."
package.path = here .. "/spec/support/?.lua;" .. package.path

local args, files = {}, false
for i = 1, #arg do
  args[#args + 1] = arg[i]
  if arg[i]:sub(1, 1) ~= "-" then files = true end
end
local out = { "-o", here .. "/spec/support/summary.lua", "--lpath=" .. here .. "/spec/support/?.lua" }
for _, a in ipairs(args) do out[#out + 1] = a end
if not files then
  out[#out + 1] = here .. "/spec/unit"
  out[#out + 1] = here .. "/spec/functional"
end
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
