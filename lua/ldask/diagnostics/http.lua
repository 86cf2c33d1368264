--- ldask.diagnostics.http: a small blocking HTTP/1.1 GET for the
-- scheduler's dashboard JSON API (performance_report of a cluster compute
-- reads /api/v1/task_stream with it). LuaSocket (Debian's lua-socket)
-- does the TCP; one request per connection (Connection: close); a
-- dashboard token is sent once as ?token= and the cookie the scheduler
-- answers with is kept for the next requests (docs/dashboard.md).
-- @submodule ldask.diagnostics
local cjson = require "cjson"

local type, error, tonumber, tostring, pcall, pairs = type, error, tonumber, tostring, pcall, pairs
local concat = table.concat

local M = {}

local MAX_BODY = 64 * 1024 * 1024

local function socket_lib()
  local ok, socket = pcall(require, "socket")
  if not ok then
    error("ldask: reading a cluster's dashboard needs LuaSocket (Debian package lua-socket)", 0)
  end
  return socket
end

-- Decodes a chunked body.
local function unchunk(body)
  local out, pos = {}, 1
  while true do
    local line_end = body:find("\r\n", pos, true)
    if not line_end then break end
    local size = tonumber(body:sub(pos, line_end - 1):match("^%x+"), 16)
    if not size or size == 0 then break end
    out[#out + 1] = body:sub(line_end + 2, line_end + 1 + size)
    pos = line_end + 2 + size + 2
  end
  return concat(out)
end

--- GET URL ("http://HOST:PORT/path?query") with extra HEADERS (a table).
-- Returns status, headers (lower-case names), body; or nil, err.
-- @param url the URL
-- @param[opt] headers a table name -> value
-- @param[opt] timeout seconds (default 10)
-- @return status, headers, body; or nil and a message
function M.get(url, headers, timeout)
  if type(url) ~= "string" then error("http.get: url must be a string, got " .. type(url), 2) end
  local host, port, path = url:match("^http://([^/:]+):(%d+)(/.*)$")
  if not host then
    host, path = url:match("^http://([^/:]+)(/.*)$")
    port = 80
  end
  if not host then return nil, "not an http://HOST:PORT/path URL: " .. url end
  local socket = socket_lib()
  local c = socket.tcp()
  c:settimeout(timeout or 10)
  local ok, err = c:connect(host, tonumber(port))
  if not ok then
    c:close()
    return nil, "cannot connect to " .. host .. ":" .. port .. ": " .. tostring(err)
  end
  local req = { "GET " .. path .. " HTTP/1.1", "Host: " .. host .. ":" .. port, "Connection: close",
    "Accept: application/json" }
  for k, v in pairs(headers or {}) do req[#req + 1] = k .. ": " .. v end
  req[#req + 1] = "\r\n"
  ok, err = c:send(concat(req, "\r\n"))
  if not ok then
    c:close()
    return nil, "cannot send to " .. host .. ":" .. port .. ": " .. tostring(err)
  end
  local parts, n = {}, 0
  while true do
    local data, rerr, partial = c:receive(65536)
    data = data or partial
    if data and #data > 0 then
      parts[#parts + 1] = data
      n = n + #data
      if n > MAX_BODY then
        c:close()
        return nil, "answer of " .. url .. " larger than " .. MAX_BODY .. " bytes"
      end
    end
    if rerr == "closed" then break end
    if rerr then
      c:close()
      return nil, "reading " .. url .. ": " .. tostring(rerr)
    end
  end
  c:close()
  local raw = concat(parts)
  local head_end = raw:find("\r\n\r\n", 1, true)
  if not head_end then return nil, "no HTTP answer from " .. url end
  local head, body = raw:sub(1, head_end - 1), raw:sub(head_end + 4)
  local status = tonumber(head:match("^HTTP/1%.%d (%d%d%d)"))
  if not status then return nil, "not an HTTP answer from " .. url end
  local hs = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+):[ \t]*([^\r\n]*)") do hs[name:lower()] = value end
  if (hs["transfer-encoding"] or ""):lower():find("chunked", 1, true) then body = unchunk(body) end
  return status, hs, body
end

--- A reader of the JSON API at BASE ("http://HOST:PORT"), with the cluster
-- TOKEN (or nil). reader(path) returns the decoded JSON, or nil, err.
-- @param base "http://HOST:PORT"
-- @param[opt] token the cluster's token
-- @return a function(path)
function M.json_reader(base, token)
  local cookie
  return function(path)
    local url = base .. path
    local headers = {}
    if cookie then
      headers.Cookie = cookie
    elseif token then
      url = url .. (path:find("?", 1, true) and "&" or "?") .. "token=" .. token
    end
    local status, hs, body = M.get(url, headers)
    if not status then return nil, hs end
    if (status == 302 or status == 303) and hs["set-cookie"] then
      cookie = hs["set-cookie"]:match("^([^;]+)")
      status, hs, body = M.get(base .. path, { Cookie = cookie })
      if not status then return nil, hs end
    end
    if status ~= 200 then return nil, "GET " .. path .. ": HTTP " .. status end
    local ok, v = pcall(cjson.decode, body)
    if not ok then return nil, "GET " .. path .. ": not JSON: " .. tostring(v) end
    return v
  end
end

return M
