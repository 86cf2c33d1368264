-- ldask.codec.index: what travels by reference instead of by value — loaded
-- modules (by require name), their fields and their fields' fields (by path,
-- e.g. math.floor, cjson.decode, ldask.array.Array), the standard base
-- functions (_G.print), and values registered with codec.register. Built from
-- package.loaded and rebuilt when new modules get loaded.
local pairs, type, sort, rawget, getmetatable = pairs, type, table.sort, rawget, debug.getmetatable
local loaded = package.loaded

local M = {}

-- Globals a fresh executor state has: functions reading these get the
-- executor's own, they are never shipped.
M.std_globals = {}
for name in ([[_G _VERSION assert collectgarbage dofile error gcinfo getfenv
  getmetatable ipairs load loadfile loadstring module newproxy next pairs pcall
  print rawequal rawget rawlen rawset require select setfenv setmetatable
  tonumber tostring type unpack xpcall coroutine debug io math os package
  string table bit jit ldask]]):gmatch("%S+") do
  M.std_globals[name] = true
end

local base_functions = {}
for name in ([[assert collectgarbage dofile error gcinfo getfenv getmetatable
  ipairs load loadfile loadstring module newproxy next pairs pcall print
  rawequal rawget rawlen rawset require select setfenv setmetatable tonumber
  tostring type unpack xpcall]]):gmatch("%S+") do
  base_functions[#base_functions + 1] = name
end

-- Registered names: name -> value, value -> { name, module }.
M.registered = {}
local registered_refs = {}

local refs      -- value -> reference record (see codec docs: tags 4, 5, 8)
local snapshot = {} -- package.loaded as it was when refs was built
local nsnapshot = -1
M.generation = 0

-- True when package.loaded holds exactly what it held when the index was
-- built. Counting entries is not enough: a module unloaded and another
-- loaded (client:upload_file reloads, busted's insulation), or a module
-- reloaded as a new value, keep the count.
local function fresh()
  if refs == nil then return false end
  local n = 0
  for name, mod in pairs(loaded) do
    if snapshot[name] ~= mod then return false end
    n = n + 1
  end
  return n == nsnapshot
end

local function take_snapshot()
  local s, n = {}, 0
  for name, mod in pairs(loaded) do
    s[name] = mod
    n = n + 1
  end
  snapshot, nsnapshot = s, n
end

local function shareable(v)
  local tv = type(v)
  return tv == "table" or tv == "function" or tv == "userdata"
end

-- Tables two levels down travel by path only when they look like code (a
-- class, a method table: they have a metatable or hold functions), never
-- when they are plain data that a module happens to keep (a user's table
-- stored in a module's state must travel by value).
local function class_like(t)
  if getmetatable(t) ~= nil then return true end
  for _, v in pairs(t) do
    if type(v) == "function" then return true end
  end
  return false
end

--- Rebuilds the index now.
function M.rebuild()
  local r = setmetatable({}, { __mode = "k" })
  local names = {}
  for name, mod in pairs(loaded) do
    if type(name) == "string" and name ~= "_G" and shareable(mod) then names[#names + 1] = name end
  end
  sort(names)
  -- depth 0: modules by require name
  for i = 1, #names do
    local mod = loaded[names[i]]
    if r[mod] == nil then r[mod] = { 4, names[i] } end
  end
  r[_G] = { 4, "_G" }
  for i = 1, #base_functions do
    local f = rawget(_G, base_functions[i])
    if f ~= nil and r[f] == nil then r[f] = { 5, "_G", base_functions[i] } end
  end
  -- depth 1 then depth 2: fields of module tables, then fields of those
  local level = {}
  for i = 1, #names do
    local name = names[i]
    local mod = loaded[name]
    if type(mod) == "table" then
      local keys = {}
      for k, v in pairs(mod) do
        if type(k) == "string" and shareable(v) then keys[#keys + 1] = k end
      end
      sort(keys)
      for j = 1, #keys do
        local v = mod[keys[j]]
        if r[v] == nil then
          r[v] = { 5, name, keys[j] }
          if type(v) == "table" then level[#level + 1] = { v, name, keys[j] } end
        end
      end
    end
  end
  for i = 1, #level do
    local t, name, key = level[i][1], level[i][2], level[i][3]
    local keys = {}
    for k, v in pairs(t) do
      if type(k) == "string" and shareable(v) and (type(v) ~= "table" or class_like(v)) then keys[#keys + 1] = k end
    end
    sort(keys)
    for j = 1, #keys do
      local v = rawget(t, keys[j])
      if v ~= nil and r[v] == nil then r[v] = { 5, name, key, keys[j] } end
    end
  end
  for v, rec in pairs(registered_refs) do r[v] = rec end
  refs = r
  take_snapshot()
  M.generation = M.generation + 1
  return r
end

--- The reference record of V, or nil when V travels by value. Rebuilds the
-- index first when modules were loaded since the last build.
function M.lookup(v)
  if not fresh() then M.rebuild() end
  return refs[v]
end

--- Same as lookup without the freshness check (callers checked once).
function M.lookup_fast(v) return refs[v] end

--- Refreshes the index if modules were loaded since the last build.
function M.refresh()
  if not fresh() then M.rebuild() end
end

--- Registers V under NAME; MODULE (optional) is required on the decoding side
-- when the name is not registered there yet.
function M.register(name, v, module)
  M.registered[name] = v
  registered_refs[v] = { 8, name, module }
  if refs then refs[v] = registered_refs[v] end
end

--- Resolves a reference record read from a header, in this state.
-- Returns the value, or nil and a message.
function M.resolve(rec)
  local tag = rec[1]
  if tag == 4 then
    local name = rec[2]
    if name == "_G" then return _G end
    if type(name) ~= "string" then return nil, "bad module reference" end
    local ok, mod = pcall(require, name)
    if not ok then return nil, "cannot require module '" .. name .. "': " .. tostring(mod) end
    return mod
  elseif tag == 5 then
    local name = rec[2]
    if type(name) ~= "string" or type(rec[3]) ~= "string" then return nil, "bad path reference" end
    local base
    if name == "_G" then
      base = _G
    else
      local ok, mod = pcall(require, name)
      if not ok then return nil, "cannot require module '" .. name .. "': " .. tostring(mod) end
      base = mod
    end
    local path = name
    for i = 3, #rec do
      if type(base) ~= "table" then return nil, "'" .. path .. "' is a " .. type(base) .. ", not a table" end
      path = path .. "." .. tostring(rec[i])
      base = base[rec[i]]
    end
    if base == nil then return nil, "'" .. path .. "' does not exist in this state" end
    return base
  elseif tag == 8 then
    local name, module = rec[2], rec[3]
    local v = M.registered[name]
    if v == nil and type(module) == "string" then
      local ok, err = pcall(require, module)
      if not ok then return nil, "cannot require module '" .. module .. "': " .. tostring(err) end
      v = M.registered[name]
    end
    if v == nil then return nil, "registered name '" .. tostring(name) .. "' is not registered in this state" end
    return v
  end
  return nil, "bad reference tag " .. tostring(tag)
end

--- A readable form of a reference record ("math.floor", "module cjson").
function M.describe(rec)
  if rec[1] == 4 then return "module " .. rec[2] end
  if rec[1] == 8 then return "registered " .. rec[2] end
  local parts = {}
  for i = 2, #rec do parts[#parts + 1] = rec[i] end
  return table.concat(parts, ".")
end

return M
