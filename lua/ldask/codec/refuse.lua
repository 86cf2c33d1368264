-- ldask.codec.refuse: the messages of refusals — what cannot travel, named
-- by the thing being shipped, the innermost function on the way (its name and
-- source:line), the upvalue or global, the field path, and the type.
local ffi = require "ffi"
local funcs = require "ldask.codec.funcs"

local type, pairs, tostring = type, pairs, tostring
local concat, format = table.concat, string.format
local io_type = io.type
local getinfo, getlocal, getupvalue = debug.getinfo, debug.getlocal, debug.getupvalue

local M = {}

local function describe_type(v)
  local tv = type(v)
  if tv == "thread" then return "a coroutine" end
  if tv == "userdata" then
    local ft = io_type(v)
    if ft == "file" then return "a userdata (an open file handle)" end
    if ft == "closed file" then return "a userdata (a closed file handle)" end
    return "a userdata"
  end
  if tv == "function" then return "a C function not found in any loaded module" end
  if tv == "cdata" then
    return "a " .. tostring(ffi.typeof(v)):gsub("^ctype", "cdata") .. " of a type not registered with codec.register_cdata"
  end
  return "a " .. tv
end

local function keystr(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then return "." .. k end
  if type(k) == "string" then return format("[%q]", k) end
  return "[" .. tostring(k) .. "]"
end

-- A name for F on the error path: a global holding it, else a local or an
-- upvalue holding it in a function on the current call stack.
local function global_name(f)
  for k, v in pairs(_G) do
    if v == f and type(k) == "string" then return k end
  end
  for level = 2, 200 do
    local info = getinfo(level, "fS")
    if info == nil then break end
    local own = (info.source or ""):find("ldask/codec", 1, true) or info.what == "C"
    for i = 1, own and 0 or 250 do
      local name, v = getlocal(level, i)
      if name == nil then break end
      if v == f and not name:match("^%(") then return name end
    end
    if info.func and not own then
      for i = 1, 250 do
        local name, v = getupvalue(info.func, i)
        if name == nil then break end
        if v == f then return name end
      end
    end
  end
end

-- Builds the message for V reached from PARENT as HOW NAME.
function M.message(E, v, parent, how, name)
  -- steps from the root down to v
  local steps = { { obj = v, how = how, name = name } }
  local p = parent
  local guard = 0
  while p ~= nil and guard < 10000 do
    local rec = E.parent[p]
    if rec == nil then break end
    steps[#steps + 1] = { obj = p, how = rec[2], name = rec[3] }
    p = rec[1]
    guard = guard + 1
  end
  -- steps[#steps] is the root; find the innermost function
  local fi
  for i = 2, #steps do
    if type(steps[i].obj) == "function" then
      fi = i
      break
    end
  end
  local parts = {}
  local from
  if fi then
    local f = steps[fi].obj
    local fname = steps[fi].name
    if type(fname) ~= "string" then fname = global_name(f) end
    if fname then
      parts[#parts + 1] = format("function '%s' (%s)", fname, funcs.where(f))
    else
      parts[#parts + 1] = format("function (%s)", funcs.where(f))
    end
    from = fi - 1
  else
    from = #steps
  end
  local path = {}
  local lead
  for i = from, 1, -1 do
    local s = steps[i]
    if s.how == "upvalue" or s.how == "global" then
      if lead then path[#path + 1] = " " .. s.how .. " '" .. tostring(s.name) .. "'" else lead = s.how .. " '" .. tostring(s.name) .. "'" end
    elseif s.how == "field" then
      path[#path + 1] = keystr(s.name)
    elseif s.how == "key" then
      path[#path + 1] = " key " .. tostring(s.name)
    elseif s.how == "metatable" then
      path[#path + 1] = " metatable"
    elseif s.how == "environment" then
      path[#path + 1] = " environment"
    elseif s.how == "cdata" then
      path[#path + 1] = " (encoded cdata)"
    end
  end
  local where = (lead or "") .. concat(path)
  if where == "" then
    where = "value"
  elseif not lead and fi == nil then
    where = "field " .. where:gsub("^[ .]", "")
  end
  parts[#parts + 1] = where:gsub("^ ", "")
  return format("cannot ship %s: %s is %s", E.what, concat(parts, " "), describe_type(v))
end

return M
