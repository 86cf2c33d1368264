-- ldask.funcname: a readable name for a function, the prefix of the task
-- keys made for it (dask's funcname: "inc-<token>"). Lua functions carry no
-- name, so it is looked up where the user passed the function: a local or
-- an upvalue of the calling function, then a global, then a field of a
-- loaded module (math.sqrt: "sqrt"); else "FILE-LINE" of its definition,
-- else "call". The first name found for a function is
-- kept (weakly), so every key made for it has the same prefix.
local type, pairs, tostring, package = type, pairs, tostring, package
local getlocal, getupvalue, getinfo = debug.getlocal, debug.getupvalue, debug.getinfo

local M = {}

local names = setmetatable({}, { __mode = "k" })

local function valid(name) return type(name) == "string" and name:match("^[%a_][%w_]*$") ~= nil end

-- The name of F among the locals and upvalues of the function running at
-- stack LEVEL (absolute, as debug.getlocal counts), or nil.
local function from_frame(f, level)
  local info = getinfo(level + 1, "f")
  if info == nil then return nil end
  for i = 1, 250 do
    local k, v = getlocal(level + 1, i)
    if k == nil then break end
    if v == f and valid(k) then return k end
  end
  local fn = info.func
  for i = 1, 250 do
    local k, v = getupvalue(fn, i)
    if k == nil then break end
    if v == f and valid(k) then return k end
  end
  return nil
end

-- The key of table T holding F (a valid name), or nil.
local function field_of(t, f)
  for k, v in pairs(t) do
    if v == f and valid(k) then return k end
  end
  return nil
end

-- Returns the name of F (see above). LEVEL (default 1: the caller of
-- funcname.of) is the stack level whose locals and upvalues are searched:
-- pass the level of the user's code that handed F over.
function M.of(f, level)
  local n = names[f]
  if n then return n end
  if type(f) ~= "function" then return "call" end
  n = from_frame(f, (level or 1) + 1)
  n = n or field_of(_G, f)
  if n == nil then -- a library function: math.sqrt is "sqrt"
    for _, mod in pairs(package.loaded) do
      n = type(mod) == "table" and field_of(mod, f) or nil
      if n then break end
    end
  end
  if n == nil then
    local info = getinfo(f, "S")
    if info and info.what == "Lua" then
      local base = (info.short_src or ""):match("([%w_]+)%.lua$") or (info.short_src or ""):match("^([%w_]+)") or "f"
      n = base .. "-" .. tostring(info.linedefined or 0)
    else
      n = "call"
    end
  end
  names[f] = n
  return n
end

return M
