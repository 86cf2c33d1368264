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
for i = 1, #arg do arg[i] = nil end
for i, a in ipairs(out) do arg[i] = a end
require "busted.runner" ({ standalone = false })
