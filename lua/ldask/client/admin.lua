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
