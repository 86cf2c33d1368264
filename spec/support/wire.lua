-- spec/support/wire.lua: talking the ldask wire (docs/protocol.md) from the
-- specs with raw sockets (luasocket), and watching the processes that
-- answer: framing, hellos, reading replies, starting a scheduler or a
-- worker with given options, their resident memory from /proc.
local mp = require "ldask.client.mp"
local ffi = require "ffi"
require "ldask.ffi.net"
local lib = require "ldask.native"
local socket = require "socket"
local helpers = require "helpers"

local M = {}

-- Little-endian unsigned integer V in N bytes.
function M.le(v, n)
  local b = {}
  for i = 1, n do b[i] = string.char(v % 256); v = math.floor(v / 256) end
  return table.concat(b)
end

local function unle(b)
  local v = 0
  for i = #b, 1, -1 do v = v * 256 + b:byte(i) end
  return v
end

-- One message with just the header T (a table), framed.
function M.frame(t)
  local h = mp.encode(t)
  return M.le(1, 4) .. M.le(#h, 8) .. h
end

-- The hello of ROLE, framed.
function M.hello(role)
  return M.frame({ op = "hello", protocol = 2, version = ffi.string(lib.ld_version()), role = role })
end

-- A short string (under 32 bytes) in msgpack.
local function fixstr(v)
  assert(#v < 32)
  return string.char(0xa0 + #v) .. v
end

-- The hello of ROLE asking for the token handshake (docs/protocol.md,
-- "Token authentication": auth = "hmac-sha256" and a nonce of 32 bytes as
-- msgpack bin, which mp.encode does not write), framed.
function M.auth_hello(role)
  local nonce = {}
  for i = 1, 32 do nonce[i] = string.char(math.random(0, 255)) end
  local h = "\x86" .. fixstr("op") .. fixstr("hello") .. fixstr("protocol") .. "\x02" ..
    fixstr("version") .. fixstr(ffi.string(lib.ld_version())) .. fixstr("role") .. fixstr(role) ..
    fixstr("auth") .. fixstr("hmac-sha256") .. fixstr("nonce") .. "\xc4\x20" .. table.concat(nonce)
  return M.le(1, 4) .. M.le(#h, 8) .. h
end

-- A token file (mode 0600, 32 bytes and a newline) in the spec's directory.
function M.token_file()
  local path = helpers.tmpdir() .. "/wire-token-" .. math.random(1, 1e9)
  os.execute("(umask 077; printf '%s\\n' 0123456789abcdef0123456789abcdef > " ..
    helpers.shell_quote(path) .. ")")
  return path
end

-- A socket connected to ADDRESS (tcp://HOST:PORT), timeout 5 s. Says hello
-- as ROLE unless ROLE is nil.
function M.connect(address, role)
  local host, port = address:match("^tcp://([^:]+):(%d+)$")
  local s = assert(socket.connect(host, tonumber(port)))
  s:settimeout(5)
  if role then assert(s:send(M.hello(role))) end
  return s
end

-- Reads one message from S: its header (a table) and its frames (strings),
-- or nil and luasocket's error ("closed", "timeout", ...).
function M.receive(s)
  local b, err = s:receive(4)
  if not b then return nil, err end
  local n = unle(b)
  local lens = {}
  for i = 1, n do
    b, err = s:receive(8)
    if not b then return nil, err end
    lens[i] = unle(b)
  end
  local parts = {}
  for i = 1, n do
    if lens[i] > 0 then
      parts[i], err = s:receive(lens[i])
      if not parts[i] then return nil, err end
    else
      parts[i] = ""
    end
  end
  return mp.decode(parts[1], #parts[1]), parts
end

-- Reads messages from S until it is closed (or TIMEOUT seconds, default
-- 5, pass); returns the headers read and the reason reading stopped.
function M.drain(s, timeout)
  s:settimeout(timeout or 5)
  local got = {}
  while true do
    local h, err = M.receive(s)
    if not h then return got, err end
    got[#got + 1] = h
  end
end

-- The message of the first {op = "error"} among headers GOT, or nil.
function M.error_of(got)
  for _, h in ipairs(got) do if h.op == "error" then return h.message end end
end

-- Resident memory of process PID in MB (VmRSS of /proc/PID/status).
function M.rss_mb(pid)
  local f = assert(io.open("/proc/" .. pid .. "/status"))
  local s = f:read("*a"); f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)")) / 1024
end

-- CPU time (user + system) of process PID so far, in seconds.
function M.cpu_s(pid)
  local f = assert(io.open("/proc/" .. pid .. "/stat"))
  local s = f:read("*a"); f:close()
  local rest = s:match("%) (.*)$")
  local fields = {}
  for x in rest:gmatch("%S+") do fields[#fields + 1] = x end
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100
end

function M.alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local s = f:read("*a"); f:close()
  return not s:match("%) Z ")
end

-- True when the programs under test are the sanitized build (its allocator
-- keeps freed memory in quarantine: RSS does not go back down).
M.sanitized = helpers.bin:find("build/san", 1, true) ~= nil

local function read_file(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("*a"); f:close()
  return s
end

-- Starts ldask-scheduler with ARGS (a shell fragment) under the shell
-- PREFIX (e.g. "ulimit -n 64;"). Returns {pid, address, log = path,
-- stop = function() -> exit status, log text}.
function M.start_scheduler(args, prefix)
  local dir = helpers.tmpdir()
  local tag = tostring(math.random(1, 1e9))
  local sfile, log = dir .. "/sched-" .. tag .. ".json", dir .. "/sched-" .. tag .. ".log"
  local cmd = (prefix or "") .. " exec " .. helpers.bin .. "/ldask-scheduler --port 0 --scheduler-file " ..
    sfile .. " " .. (args or "") .. " >" .. log .. " 2>&1"
  local p = io.popen("sh -c " .. helpers.shell_quote(cmd) .. " & echo $!")
  local pid = tonumber(p:read("*l")); p:close()
  local address
  for _ = 1, 500 do
    local s = read_file(sfile)
    address = s and s:match('"address"%s*:%s*"([^"]+)"')
    if address then break end
    socket.sleep(0.02)
  end
  assert(address, "the scheduler did not start: " .. tostring(read_file(log)))
  local sched = { pid = pid, address = address, log = log }
  -- Stops it with SIGTERM and waits for it (10 s at most); returns whether
  -- it exited by itself and its log.
  function sched.stop()
    os.execute("kill -TERM " .. pid .. " 2>/dev/null")
    local gone = false
    for _ = 1, 500 do
      if not M.alive(pid) then gone = true; break end
      socket.sleep(0.02)
    end
    if not gone then os.execute("kill -KILL " .. pid .. " 2>/dev/null") end
    return gone, read_file(log) or ""
  end
  return sched
end

-- Starts an ldask-worker of the scheduler at ADDRESS with ARGS; returns its
-- pid and log path.
function M.start_worker(address, args)
  local log = helpers.tmpdir() .. "/worker-" .. math.random(1, 1e9) .. ".log"
  local cmd = "exec " .. helpers.bin .. "/ldask-worker " .. address .. " --death-timeout 5 " ..
    (args or "") .. " >" .. log .. " 2>&1"
  local p = io.popen("sh -c " .. helpers.shell_quote(cmd) .. " & echo $!")
  local pid = tonumber(p:read("*l")); p:close()
  return pid, log
end

-- Whether LOG (text) holds a sanitizer report.
function M.sanitizer_report(log)
  return log:find("ERROR: AddressSanitizer", 1, true) or log:find("runtime error:", 1, true) or
    log:find("ERROR: LeakSanitizer", 1, true)
end

return M
