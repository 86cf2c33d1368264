-- Functional specs of authentication and encryption (docs/security.md):
-- real ldask-scheduler and ldask-worker processes on 127.0.0.1 with a
-- token, a local cluster's own token, the refusal of a non-loopback bind,
-- a TLS cluster with certificates made by the openssl command running the
-- distributed specs' kinds of workloads, and the names that reach a
-- worker's files.
local client = require "ldask.client"
local cluster_mod = require "ldask.client.cluster"
local helpers = require "helpers"
local mp = require "ldask.client.mp"
local socket = require "socket"
local ldask = require "ldask"

local opts = client.options
local bin = helpers.bin .. "/"
local sh = helpers.shell_quote

local function nap(s) socket.sleep(s) end

local read_all = helpers.read_all

-- Writes CONTENT to a fresh file of mode 0600 in the spec's directory.
local function secret_file(name, content)
  local path = helpers.tmpdir() .. "/" .. name
  os.execute("rm -f " .. sh(path) .. "; (umask 077; printf '%s' " .. sh(content) .. " > " .. sh(path) .. ")")
  return path
end

-- Starts CMD in the background (output to LOG); returns its pid.
local function spawn(cmd, log)
  local p = io.popen("sh -c " .. sh(cmd .. " > " .. sh(log) .. " 2>&1 & echo $!"))
  local pid = p:read("*l"); p:close()
  return pid
end

local eventually = helpers.eventually

-- Little-endian unsigned integer V in N bytes.
local function le(v, n)
  local b = {}
  for i = 1, n do b[i] = string.char(v % 256); v = math.floor(v / 256) end
  return table.concat(b)
end

-- One framed message with just a header (docs/protocol.md, "Framing").
local function frame(t)
  local h = mp.encode(t)
  return le(1, 4) .. le(#h, 8) .. h
end

-- Everything the peer at S sends until it closes (or 5 s pass).
local function drain(s)
  s:settimeout(5)
  local got = {}
  while true do
    local chunk, _, partial = s:receive(4096)
    got[#got + 1] = chunk or partial or ""
    if not chunk then break end
  end
  return table.concat(got)
end

describe("a cluster with a token", function()
  local dir, token, wrong, spid, sfile, address, wpid
  setup(function()
    dir = helpers.tmpdir()
    token = secret_file("token", "0123456789abcdef0123456789abcdef\n")
    wrong = secret_file("wrong", "fedcba9876543210fedcba9876543210\n")
    sfile = dir .. "/sec-scheduler.json"
    os.remove(sfile)
    spid = spawn(bin .. "ldask-scheduler --port 0 --scheduler-file " .. sfile .. " --auth-token-file " .. token,
      dir .. "/sec-scheduler.log")
    assert.is_true(eventually(function()
      address = read_all(sfile):match('"address"%s*:%s*"([^"]+)"')
      return address ~= nil
    end))
    wpid = spawn(bin .. "ldask-worker " .. address .. " --name good --auth-token-file " .. token,
      dir .. "/sec-worker.log")
  end)
  teardown(function()
    if wpid then os.execute("kill " .. wpid .. " 2>/dev/null") end
    if spid then os.execute("kill " .. spid .. " 2>/dev/null") end
  end)

  it("computes for a client and a worker that know it", function()
    local c = client(address, { auth_token_file = token, set_as_default = false })
    c:wait_for_workers(1, 20)
    assert.equal(42, c:submit(function(x) return x + 1 end, 41):result(10))
    c:close()
  end)

  it("lets the ldask program in with --auth-token-file, and only with it", function()
    local code = sh("print('got ' .. require('ldask.client').current():submit(function() return 6 * 7 end):result(10))")
    local out, rc = helpers.run_sh(helpers.ldask .. " --scheduler " .. address .. " --auth-token-file " .. token ..
      " -e " .. code .. " 2>&1")
    assert.equal(0, rc, out)
    assert.matches("got 42", out, 1, true)
    out, rc = helpers.run_sh(helpers.ldask .. " --scheduler " .. address .. " -e " .. code .. " 2>&1")
    assert.equal(1, rc)
    assert.matches("requires the cluster's token and this client has none", out, 1, true)
    out, rc = helpers.run_sh(helpers.ldask .. " --auth-token-file " .. token .. " -e 'print(1)' 2>&1")
    assert.equal(2, rc)
    assert.matches("give --scheduler tcp://HOST:PORT or --scheduler-file FILE too", out, 1, true)
  end)

  it("refuses a client without it, naming what is missing", function()
    local ok, err = pcall(client, address, { set_as_default = false, timeout = 5 })
    assert.is_false(ok)
    assert.matches("authentication required: the scheduler at " .. address ..
      " requires the cluster's token and this client has none", err, 1, true)
  end)

  it("refuses a client with a wrong token, which never learns a result", function()
    local ok, err = pcall(client, address, { auth_token_file = wrong, set_as_default = false, timeout = 5 })
    assert.is_false(ok)
    assert.matches("authentication failed: the client at tcp://127.0.0.1:%d+ does not know this scheduler's token", err)
    assert.is_true(eventually(function()
      return read_all(dir .. "/sec-scheduler.log"):find("refused tcp://127.0.0.1:%d+: authentication failed") ~= nil
    end))
  end)

  it("refuses a raw client before reading any op after its hello", function()
    local host, port = address:match("^tcp://([^:]+):(%d+)$")
    local s = assert(socket.connect(host, tonumber(port)))
    s:send(frame({ op = "hello", protocol = 2, version = "0.1.0", role = "client" }))
    s:send(frame({ op = "identity", id = 1 }))
    local got = drain(s)
    s:close()
    assert.matches("this scheduler requires the cluster's token and the client at", got, 1, true)
    assert.is_nil(got:find("scheduler_info", 1, true))
    assert.is_nil(got:find("welcome", 1, true))
  end)

  it("refuses a worker without it or with a wrong one: the worker exits saying why", function()
    local out = io.popen(bin .. "ldask-worker " .. address .. " --name intruder --death-timeout 5 2>&1; echo rc=$?"):read("*a")
    assert.matches("the scheduler at " .. address .. " requires the cluster's token and this worker has none", out, 1, true)
    assert.matches("rc=1", out, 1, true)
    out = io.popen(bin .. "ldask-worker " .. address .. " --name intruder --death-timeout 5 --auth-token-file " ..
      wrong .. " 2>&1; echo rc=$?"):read("*a")
    assert.matches("refused by the scheduler at " .. address .. ": authentication failed", out, 1, true)
    assert.matches("rc=1", out, 1, true)
    local c = client(address, { auth_token_file = token, set_as_default = false })
    for _, w in ipairs(c:scheduler_info().workers) do assert.not_equal("intruder", w.name) end
    c:close()
  end)

  it("refuses a peer fetch without it: the worker's data stays there", function()
    local c = client(address, { auth_token_file = token, set_as_default = false })
    c:wait_for_workers(1, 20)
    local f = c:submit(function() return "SECRET-" .. "PAYLOAD" end, opts { key = "secret-key" })
    assert.equal("SECRET-PAYLOAD", f:result(10))
    local peer = c:scheduler_info().workers[1].address
    local host, port = peer:match("^tcp://([^:]+):(%d+)$")
    local s = assert(socket.connect(host, tonumber(port)))
    s:send(frame({ op = "hello", protocol = 2, version = "0.1.0", role = "peer" }))
    s:send(frame({ op = "get-data", keys = { "secret-key" } }))
    local got = drain(s)
    s:close()
    assert.matches("this worker requires the cluster's token and the peer at", got, 1, true)
    assert.is_nil(got:find("SECRET-PAYLOAD", 1, true))
    -- peers that know the token still fetch from each other
    local w2 = spawn(bin .. "ldask-worker " .. address .. " --name second --auth-token-file " .. token,
      dir .. "/sec-worker2.log")
    local ok, err = pcall(function()
      c:wait_for_workers(2, 20)
      local g = c:submit(function(x) return #x end, f, opts { workers = "second" })
      assert.equal(14, g:result(10))
    end)
    os.execute("kill " .. w2)
    c:close()
    assert.is_true(ok, err)
    assert.matches("refused peer tcp://127.0.0.1:%d+: authentication required", read_all(dir .. "/sec-worker.log"))
  end)

  it("refuses token files that are not secret or too short", function()
    local open = helpers.write_tmp("open-token", "0123456789abcdef0123456789abcdef")
    os.execute("chmod 644 " .. sh(open))
    local out = io.popen(bin .. "ldask-scheduler --port 0 --auth-token-file " .. open .. " 2>&1; echo rc=$?"):read("*a")
    assert.matches("can be read or written by other users (mode 0644): run chmod 600", out, 1, true)
    assert.matches("rc=2", out, 1, true)
    local short = secret_file("short-token", "abc")
    out = io.popen(bin .. "ldask-worker " .. address .. " --auth-token-file " .. short .. " 2>&1; echo rc=$?"):read("*a")
    assert.matches("is too short (3 bytes; at least 16 needed", out, 1, true)
    local ok, err = pcall(client, address, { auth_token_file = dir .. "/missing", set_as_default = false })
    assert.is_false(ok)
    assert.matches("cannot read the auth token file '" .. dir .. "/missing'", err, 1, true)
    ok, err = pcall(client, address, { auth_token_file = 7 })
    assert.matches("auth_token_file must be a file name", err, 1, true)
  end)
end)

describe("a local cluster", function()
  it("makes a random token of its own, readable by its owner only", function()
    local c = ldask.Client({ n_workers = 1, set_as_default = false })
    local ok, err = pcall(function()
      local tf = c.cluster.token_file
      assert.matches("^%x+$", read_all(tf):match("^(%x+)\n$") or "")
      assert.equal(64, #read_all(tf):match("^(%x+)"))
      local mode = io.popen("stat -c %a " .. sh(tf)):read("*l")
      assert.equal("600", mode)
      assert.equal(3, c:submit(function() return 3 end):result(10))
      -- another client of this process finds it; one without it is refused
      local c2 = client(c.address, { set_as_default = false })
      assert.equal(4, c2:submit(function() return 4 end):result(10))
      c2:close()
      local code = "local ok, e = pcall(require('ldask.client'), '" .. c.address ..
        "', {timeout = 5}) print(ok, e)"
      local out = io.popen(helpers.ldask .. " -e " .. sh(code) .. " 2>&1"):read("*a")
      assert.matches("requires the cluster's token and this client has none", out, 1, true)
      -- two clusters have different tokens
      local c3 = ldask.Client({ n_workers = 0, set_as_default = false })
      local other = read_all(c3.cluster.token_file)
      c3:close()
      assert.not_equal(read_all(tf), other)
    end)
    c:close()
    assert.is_true(ok, err)
  end)
end)

describe("listening beyond this machine", function()
  it("is refused without a token or TLS, saying why", function()
    local out = io.popen(bin .. "ldask-scheduler --host 0.0.0.0 --port 0 2>&1; echo rc=$?"):read("*a")
    assert.matches("refusing to listen on 0.0.0.0 without authentication", out, 1, true)
    assert.matches("--insecure", out, 1, true)
    assert.matches("rc=2", out, 1, true)
    out = io.popen(bin .. "ldask-worker tcp://127.0.0.1:1 --host 10.11.12.13 2>&1; echo rc=$?"):read("*a")
    assert.matches("refusing to listen on 10.11.12.13 without authentication", out, 1, true)
    assert.matches("rc=2", out, 1, true)
  end)

  it("is allowed by --insecure with a warning (the rule itself: no port is opened here)", function()
    local ffi = require "ffi"
    local lib = require "ldask.native"
    ffi.cdef [[
      typedef struct { const char *token_file, *tls_ca_file, *tls_cert, *tls_key; int insecure; } spec_sec_opts;
      int ld_sec_check_bind(const void *s, const spec_sec_opts *o, const char *host, const char *prog,
                            char *err, size_t errlen);
    ]]
    local err = ffi.new("char[512]")
    local o = ffi.new("spec_sec_opts")
    assert.equal(0, lib.ld_sec_check_bind(nil, o, "127.0.0.1", "spec", err, 512))
    assert.equal(0, lib.ld_sec_check_bind(nil, o, "localhost", "spec", err, 512))
    assert.equal(-1, lib.ld_sec_check_bind(nil, o, "192.0.2.1", "spec", err, 512))
    assert.matches("refusing to listen on 192.0.2.1", ffi.string(err), 1, true)
    o.insecure = 1
    assert.equal(0, lib.ld_sec_check_bind(nil, o, "192.0.2.1", "spec", err, 512))
    local out = io.popen(bin .. "ldask-scheduler --insecure --bogus 2>&1; echo rc=$?"):read("*a")
    assert.matches("unknown option or missing argument '--bogus'", out, 1, true) -- --insecure was taken
  end)
end)

-- Makes a CA and certificates signed by it for NAMES in DIR (openssl).
local function make_certs(dir, names)
  local cmds = {
    "cd " .. sh(dir),
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem " ..
      "-days 2 -subj /CN=ldask-spec-ca",
  }
  for _, n in ipairs(names) do
    cmds[#cmds + 1] = "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " .. n ..
      ".key -out " .. n .. ".csr -subj /CN=" .. n
    cmds[#cmds + 1] = "openssl x509 -req -in " .. n .. ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -out " ..
      n .. ".pem -days 2"
  end
  local _, rc = helpers.run_sh("(" .. table.concat(cmds, " && ") .. ") >/dev/null 2>&1")
  assert.equal(0, rc)
end

describe("a TLS cluster", function()
  local dir, cl, c
  setup(function()
    dir = helpers.tmpdir() .. "/tls"
    os.execute("mkdir -p " .. sh(dir))
    make_certs(dir, { "member", "client", "stranger" })
    -- the stranger's certificate comes from another CA
    os.execute("cd " .. sh(dir) .. " && mkdir -p other && cd other && " ..
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem " ..
      "-days 2 -subj /CN=other-ca >/dev/null 2>&1 && openssl x509 -req -in ../stranger.csr -CA ca.pem " ..
      "-CAkey ca.key -CAcreateserial -out ../stranger.pem -days 2 >/dev/null 2>&1")
    cl = cluster_mod.start({ n_workers = 2, tls_ca_file = dir .. "/ca.pem", tls_cert = dir .. "/member.pem",
      tls_key = dir .. "/member.key" })
    c = client(cl.address, { tls_ca_file = dir .. "/ca.pem", tls_cert = dir .. "/client.pem",
      tls_key = dir .. "/client.key", set_as_default = false })
    c:wait_for_workers(2, 20)
  end)
  teardown(function()
    if c then pcall(c.close, c) end
    if cl then cl:stop() end
  end)

  it("has tls:// addresses", function()
    assert.matches("^tls://127%.0%.0%.1:%d+$", cl.address)
    for _, w in ipairs(c:scheduler_info().workers) do assert.matches("^tls://127%.0%.0%.1:%d+$", w.address) end
  end)

  it("runs submit, map and gather, with data moving between workers", function()
    assert.equal(42, c:submit(function(x) return x + 1 end, 41):result(10))
    assert.same({ 2, 4, 6, 8, 10 }, c:gather(c:map(function(x) return 2 * x end, { 1, 2, 3, 4, 5 })))
    local a = c:submit(function() return string.rep("ab", 2e6) end, opts { workers = "local-1", pure = false })
    local b = c:submit(function() return 7 end, opts { workers = "local-2", pure = false })
    local s = c:submit(function(x, y) return #x + y end, a, b, opts { workers = "local-2", pure = false })
    assert.equal(4e6 + 7, s:result(20))
    assert.equal(4e6, #a:result(20))
  end)

  it("computes a graph and delayed values", function()
    local inc = function(x) return x + 1 end
    local g = { a = { inc, 1 }, b = { inc, "a" }, c = { function(x, y) return x * y end, "a", "b" } }
    assert.same({ 6, { 2, 3 } }, c:get(g, { "c", { "a", "b" } }))
    local d = ldask.delayed(function(x, y) return x + y end)(ldask.delayed(inc)(1), 10)
    assert.equal(12, c:compute(d):result(10))
  end)

  it("computes an array like the sync scheduler", function()
    local da = require "ldask.array"
    local dist = require "ldask.client.scheduler"
    local prev = client.current()
    c:set_as_default()
    local x = da.random.random({ 300, 200 }, { chunks = { 100, 100 }, seed = 5 })
    local y = (x:dot(x.T)):sum(0)
    local r = ldask.compute(y, { scheduler = dist })
    -- (equal to rounding: BLAS's summation order depends on its threads)
    local ref = y:compute({ scheduler = "sync" })
    assert.is_true(((r - ref):abs() / ref:abs()):max():item() < 1e-12)
    if prev and prev ~= c then prev:set_as_default() end
  end)

  it("refuses a plain client, one without certificates and one of another CA", function()
    local ok, err = pcall(client, (cl.address:gsub("^tls", "tcp")), { set_as_default = false, timeout = 5 })
    assert.is_false(ok)
    assert.matches("this scheduler uses TLS: connect to tls://", err, 1, true)
    ok, err = pcall(client, cl.address, { set_as_default = false, timeout = 5 })
    assert.matches("a tls:// address needs TLS settings", err, 1, true)
    ok, err = pcall(client, cl.address, { tls_ca_file = dir .. "/ca.pem", tls_cert = dir .. "/stranger.pem",
      tls_key = dir .. "/stranger.key", set_as_default = false, timeout = 5 })
    assert.is_false(ok)
    assert.matches("unknown ca", err, 1, true)
    ok, err = pcall(client, cl.address, { tls_ca_file = dir .. "/ca.pem", tls_cert = dir .. "/missing.pem",
      set_as_default = false, timeout = 5 })
    assert.matches("cannot load the TLS certificate (--tls-cert) from '" .. dir .. "/missing.pem'", err, 1, true)
  end)
end)

describe("names that reach a worker's files", function()
  local lib = require "ldask.native"
  local ffi = require "ffi"
  require "ldask.ffi.client"

  it("are Lua identifiers, checked by one rule", function()
    local why = ffi.new("char[160]")
    for _, good in ipairs({ "mod", "_x1", "A_b_C" }) do
      assert.equal(1, lib.ld_valid_file_name(good, #good, why, 160), good)
    end
    for _, bad in ipairs({ "", "a\\b", "a/b", "..", ".hidden", "1x", "a b", "a\0b", "a.b", ("x"):rep(201) }) do
      assert.equal(0, lib.ld_valid_file_name(bad, #bad, why, 160), bad)
    end
    lib.ld_valid_file_name("a\\b", 3, why, 160)
    assert.equal("'a\\b' is not a module name (it has a byte other than a letter, a digit or '_'; " ..
      "NAME must be a Lua identifier)", ffi.string(why))
  end)

  it("are refused by the scheduler before it keeps them for later workers", function()
    local cl2 = cluster_mod.start({ n_workers = 0, auth = false }) -- this spec speaks the wire
    local ok, err = pcall(function()
      local host, port = cl2.address:match("^tcp://([^:]+):(%d+)$")
      local s = assert(socket.connect(host, tonumber(port)))
      s:send(frame({ op = "hello", protocol = 2, version = "0.1.0", role = "client" }))
      local h = mp.encode({ op = "upload-file", id = 1, name = "a\\b" })
      s:send(le(2, 4) .. le(#h, 8) .. le(3, 8) .. h .. "x=1")
      s:settimeout(0.5)
      local got = {}
      repeat
        local chunk, _, partial = s:receive(4096)
        got[#got + 1] = chunk or partial or ""
      until not chunk
      s:close()
      assert.matches("upload-file: 'a\\b' is not a module name", table.concat(got), 1, true)
      -- a worker joining later is not sent it
      cl2:add_worker()
      local c2 = client(cl2.address, { set_as_default = false })
      c2:wait_for_workers(1, 20)
      assert.equal(1, c2:submit(function() return 1 end):result(10))
      c2:close()
      assert.is_nil((cl2:log(1) or ""):find("upload", 1, true))
    end)
    cl2:stop()
    assert.is_true(ok, err)
  end)
end)
