-- spec/support/pandas.lua: the dataframe specs' pandas side. pandas is an
-- independent implementation: a spec's Python script writes seeded data and
-- the expected results (JSON) with /usr/bin/python3 and pandas (Debian's,
-- scripts/deps.sh); the spec then checks ldask against them.
local helpers = require "helpers"
local cjson = require "cjson"

local M = {}

--- True when /usr/bin/python3 has pandas.
function M.available()
  local rc = os.execute("/usr/bin/python3 -c 'import pandas' >/dev/null 2>&1")
  return rc == 0 or rc == true
end

--- Runs Python script GEN with a fresh directory NAME (under the specs'
-- tmpdir) as its argument; returns the directory and its expected.json
-- decoded.
function M.generate(gen, name)
  local dir = helpers.tmpdir() .. "/" .. name
  local py = helpers.write_tmp(name .. "_gen.py", gen)
  local out, rc = helpers.run_sh("/usr/bin/python3 " .. py .. " " .. dir .. " 2>&1")
  assert(rc == 0, out)
  local f = assert(io.open(dir .. "/expected.json"))
  local e = cjson.decode(f:read("*a"))
  f:close()
  return dir, e
end

--- Marks the running spec pending when pandas is missing; true then.
function M.skip(have)
  if not have then pending("pandas is not installed for /usr/bin/python3 (scripts/deps.sh)") end
  return not have
end

-- A missing value: nil, NaN or JSON null.
local function missing(v) return v == nil or v ~= v or v == cjson.null end

--- Checks number A (ldask) against B (pandas) to 1e-9 relative; missing
-- values (nil, NaN, null) equal each other. Errors at the caller's caller.
function M.close(a, b, what)
  if missing(a) or missing(b) then
    if not (missing(a) and missing(b)) then
      error(string.format("%s: ldask %s, pandas %s", what, tostring(a), tostring(b)), 2)
    end
    return
  end
  if math.abs(a - b) > 1e-9 * math.max(1, math.abs(b)) then
    error(string.format("%s: ldask %.17g, pandas %.17g", what, a, b), 2)
  end
end

return M
