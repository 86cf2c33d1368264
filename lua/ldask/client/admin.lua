--- ldask.client.admin: cluster administration from a client —
-- get_versions (the versions of ldask and of the libraries it runs on, in
-- the client, the scheduler and every worker; check = true raises naming
-- a mismatch). Installed into ldask.client's Client by install().
-- docs/distributed.md, "Shared clusters".
-- @submodule ldask.client
local ffi = require "ffi"

local type, error, tostring, pairs, ipairs, pcall = type, error, tostring, pairs, ipairs, pcall
local sort, concat = table.sort, table.concat

local A = {}

-- The library versions of this process (the client, or a worker's
-- executor state): ldask, protocol, LuaJIT, libuv, OpenSSL, msgpack-c
-- (read from the libraries this process runs on).
local function local_versions()
  local v = { ldask = require("ldask").version, luajit = jit and jit.version or "?" }
  -- the C libraries are in this process (the ldask runtime links them)
  pcall(ffi.cdef, [[
    const char *uv_version_string(void);
    const char *OpenSSL_version(int t);
    const char *msgpack_version(void);
  ]])
  -- (through ldask's native library, whose dependencies they are, else
  -- the process's own symbols)
  local native = require "ldask.native"
  local function get(f, ...)
    for _, ns in ipairs({ native, ffi.C }) do
      local ok, s = pcall(function(...) return ffi.string(ns[f](...)) end, ...)
      if ok then return s end
    end
    return "?"
  end
  v.libuv = get("uv_version_string")
  v.openssl = get("OpenSSL_version", 0)
  v.msgpack = get("msgpack_version")
  return v
end
A.local_versions = local_versions

-- Keys compared by check = true.
local CHECKED = { "ldask", "luajit", "libuv", "openssl", "msgpack" }

--- The first difference in VERSIONS (get_versions' table) between the
-- client, the scheduler and the workers, as a message naming the package
-- and who runs what; nil when they all agree.
-- @param versions `{ client =, scheduler =, workers = { [address] = } }`
-- @return a message or nil
function A.mismatch(versions)
  local addrs = {}
  for a in pairs(versions.workers or {}) do addrs[#addrs + 1] = a end
  sort(addrs)
  for _, k in ipairs(CHECKED) do
    local who = {}
    local function add(name, v)
      local x = tostring(v and v[k])
      if not who[x] then who[x] = {}; who[#who + 1] = x end
      who[x][#who[x] + 1] = name
    end
    add("client", versions.client)
    add("scheduler", versions.scheduler)
    for _, a in ipairs(addrs) do add("worker " .. a, versions.workers[a]) end
    if #who > 1 then
      local parts = {}
      for _, x in ipairs(who) do parts[#parts + 1] = concat(who[x], ", ") .. " " .. x end
      return "version mismatch for " .. k .. ": " .. concat(parts, "; ")
    end
  end
  return nil
end

function A.install(Client, shared)
  local check = shared.check
  local is_future = require("ldask.client.future").is_future

  -- Waits until the scheduler has no copies pending (TIMEOUT seconds).
  local function wait_copies(self, timeout, what, level)
    local deadline = self._now() + timeout
    while true do
      local info = self:_request({ op = "identity" }, level + 1)
      if (info.transfers_pending or 0) == 0 then return end
      if self._now() > deadline then
        error(what .. ": " .. info.transfers_pending .. " copies still pending after " .. timeout .. " s", level + 1)
      end
      self:_poll(0.02)
    end
  end

  local function check_timeout(t, what, level)
    if t ~= nil and (type(t) ~= "number" or t <= 0) then
      error(what .. ": timeout must be a number of seconds > 0, got " .. tostring(t), level + 1)
    end
  end

  --- replicate(futures [, n [, timeout]]): copies the data of FUTURES (a
  -- future or a list) to N workers each (default: every worker), the
  -- least loaded first; returns once the copies are made (TIMEOUT seconds,
  -- default 60). Finished futures only; others are left as they are.
  -- @param futures a Future or a list of them
  -- @param[opt] n copies wanted of each (>= 1)
  -- @param[opt] timeout seconds
  -- @return the number of copies made
  function Client:replicate(futures, n, timeout)
    check(self, "replicate")
    local list = is_future(futures) and { futures } or futures
    if type(list) ~= "table" then error("Client:replicate: expected a future or a list of futures, got " .. type(futures), 2) end
    local keys = {}
    for i, f in ipairs(list) do
      if not is_future(f) then error("Client:replicate: item " .. i .. " is a " .. type(f) .. ", not a future", 2) end
      keys[i] = f.key
    end
    if n ~= nil and (type(n) ~= "number" or n < 1 or n % 1 ~= 0) then
      error("Client:replicate: n must be an integer >= 1, got " .. tostring(n), 2)
    end
    check_timeout(timeout, "Client:replicate", 2)
    n = n or #self:_request({ op = "identity" }, 2).workers
    local r = self:_request({ op = "replicate", keys = keys, n = n }, 2)
    wait_copies(self, timeout or 60, "Client:replicate", 2)
    return r.started
  end

  --- rebalance([timeout]): moves results from the workers holding more
  -- bytes than the mean to those holding less (results held by one worker;
  -- each move copies, then drops the old copy); returns the number of
  -- results moved once done (TIMEOUT seconds, default 60).
  -- @param[opt] timeout seconds
  -- @return the number of results moved
  function Client:rebalance(timeout)
    check(self, "rebalance")
    check_timeout(timeout, "Client:rebalance", 2)
    local r = self:_request({ op = "rebalance" }, 2)
    wait_copies(self, timeout or 60, "Client:rebalance", 2)
    return r.started
  end

  --- get_versions([{check =}]): { client = {...}, scheduler = {...},
  -- workers = { [address] = {...} } }, each { ldask, luajit, libuv, openssl,
  -- msgpack } (the scheduler also its protocol). check = true raises when
  -- any of them differs between the client, the scheduler and a worker,
  -- naming the package and who runs what.
  -- @param[opt] opts `{ check = true }`
  -- @return a table as above
  function Client:get_versions(opts)
    check(self, "get_versions")
    if opts ~= nil and type(opts) ~= "table" then error("Client:get_versions: options must be a table, got " .. type(opts), 2) end
    local r = self:_request({ op = "versions" }, 2)
    local sched = {}
    for k, v in pairs(r) do if k ~= "op" and k ~= "id" then sched[k] = v end end
    local workers = self:run(local_versions)
    local out = { client = local_versions(), scheduler = sched, workers = workers }
    if opts and opts.check then
      local msg = A.mismatch(out)
      if msg then error("Client:get_versions: " .. msg, 2) end
    end
    return out
  end
end

return A
