-- ldask.proxy: collection objects as userdata proxies, so that Lua's `#`
-- operator reaches the class's __len. LuaJIT (Lua 5.1 semantics) takes `#t`
-- of a table as its raw length without looking at __len (an array would
-- report 0), but calls __len for a userdata. A proxy is a newproxy()
-- userdata sharing its class's metatable (so `getmetatable(x) == Class`
-- still identifies it); its fields live in a table reached through the
-- class: `x.name` reads them, `x.name = v` writes them, anything else falls
-- to the class's LOOKUP(x, key) (methods, properties, ...).
--
-- Used by ldask.array's Array; bag or dataframe objects can use it the same
-- way. Proxies are not tables: rawget/rawset/pairs/next do not work on them
-- (use proxy.fields(x) for the field table), type(x) is "userdata", and the
-- codec does not ship them by value (collections travel as their graphs).
local newproxy, getmetatable, setmetatable, type = newproxy, getmetatable, setmetatable, type

local M = {}

-- proxy -> its field table, for every class (weak keys: a dead proxy's
-- fields go with it; field tables must not refer back to their proxy)
local fields = setmetatable({}, { __mode = "k" })

-- Creates a proxy class named NAME. Returns its metatable (add __tostring,
-- __len, arithmetic, ... to it) and a constructor NEW(t) making a proxy whose
-- fields are the table T. LOOKUP(x, key) answers keys absent from the fields;
-- it is tail-called, so an error at level 2 inside it names the user's line
-- that indexed the proxy.
function M.class(name, lookup)
  local template = newproxy(true)
  local mt = getmetatable(template)
  mt.__name = name
  mt.__index = function(x, k)
    local f = fields[x] -- (nil for the class's template proxy)
    local v = f and f[k]
    if v ~= nil then return v end
    return lookup(x, k)
  end
  mt.__newindex = function(x, k, v) fields[x][k] = v end
  local function new(t)
    local x = newproxy(template)
    fields[x] = t
    return x
  end
  return mt, new
end

-- The field table of proxy X (nil when X is not a proxy).
function M.fields(x)
  if type(x) ~= "userdata" then return nil end
  return fields[x]
end

return M
