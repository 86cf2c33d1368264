-- ldask.pretty: short, readable text for any value, used by the REPL.
-- Objects with __tostring (delayed values, arrays, futures) print through it;
-- tables print their contents up to a depth and a length.
local M = {}

local function is_ident(s) return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil end

local function fmt(v, depth, seen)
  local t = type(v)
  if t == "string" then return string.format("%q", v) end
  if t ~= "table" then return tostring(v) end
  local mt = getmetatable(v)
  if mt and mt.__tostring then return tostring(v) end
  if seen[v] then return "<cycle>" end
  if depth > 3 then return "{...}" end
  seen[v] = true
  local parts, n = {}, #v
  for i = 1, math.min(n, 20) do parts[#parts + 1] = fmt(v[i], depth + 1, seen) end
  if n > 20 then parts[#parts + 1] = "... (" .. n .. " items)" end
  local keys = {}
  for k in pairs(v) do
    if not (type(k) == "number" and k >= 1 and k <= n and k % 1 == 0) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for i, k in ipairs(keys) do
    if i > 20 then parts[#parts + 1] = "..."; break end
    local ks = is_ident(k) and k or ("[" .. fmt(k, depth + 1, seen) .. "]")
    parts[#parts + 1] = ks .. " = " .. fmt(v[k], depth + 1, seen)
  end
  seen[v] = nil
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- Returns a one-line description of v.
function M.format(v) return fmt(v, 0, {}) end

return M
