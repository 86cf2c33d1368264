-- ldask.cli: the command line of the ldask program. Parses options, sets the
-- global `ldask` and `arg`, then runs a script, `-e` code, or the REPL.
-- Called by runtime/ldask/main.c with argv; returns the exit code.
local errors = require "ldask.errors"

local M = {}

local USAGE = [=[
usage: ldask [options] [script.lua [args...]]

  ldask                    interactive REPL
  ldask script.lua [args]  run a script (the global `ldask` is preloaded)
  ldask -e 'code'          run a chunk of Lua
  ldask -i script.lua      run a script, then the REPL

options:
  -e CODE                  execute CODE
  -i                       enter the REPL after running the script or -e code
  --nthreads N             executor threads of the local scheduler
  --scheduler NAME         local scheduler: threads | sync; or a cluster's
                           address tcp://HOST:PORT or tls://HOST:PORT (runs
                           on ldask-scheduler)
  --scheduler-file FILE    connect to the cluster whose scheduler wrote FILE
  --progress               show a progress bar for computations
  --report FILE            write a performance report of the script's
                           computations to FILE (one HTML file)
  --auth-token-file FILE   the cluster's token (also LDASK_AUTH_TOKEN_FILE)
  --tls-ca-file FILE, --tls-cert FILE, --tls-key FILE
                           TLS to the cluster (docs/security.md)
  (these may also follow the script; `--` after the script passes
   everything after it to the script unchanged)
  --version                print the version and exit
  -h, --help               print this help and exit
]=]

local function die(msg)
  io.stderr:write("ldask: ", msg, "\n")
  return 2
end

-- The connection's security options: option -> Client option.
local SECURITY = { ["--auth-token-file"] = "auth_token_file", ["--tls-ca-file"] = "tls_ca_file",
  ["--tls-cert"] = "tls_cert", ["--tls-key"] = "tls_key" }

-- Takes the run-time option at argv[i] (--progress, --nthreads N,
-- --scheduler NAME|ADDRESS, --scheduler-file FILE, the security options)
-- into OPTS. Returns the next index, false when argv[i] is no such option,
-- or nil, err.
local function take_runtime_option(argv, i, opts)
  local a = argv[i]
  if a == "--progress" then opts.config.progress = true; return i + 1 end
  if a == "--report" then
    if not argv[i + 1] or argv[i + 1] == "" then return nil, "--report needs a file name" end
    opts.report = argv[i + 1]
    return i + 2
  end
  if SECURITY[a] then
    if not argv[i + 1] then return nil, a .. " needs a file name" end
    opts.security[SECURITY[a]] = argv[i + 1]
    return i + 2
  end
  if a ~= "--nthreads" and a ~= "--scheduler" and a ~= "--scheduler-file" then return false end
  local v = argv[i + 1]
  if not v then return nil, a .. " needs an argument" end
  if a == "--scheduler-file" then
    opts.scheduler_file = v
  elseif a == "--nthreads" then
    local n = tonumber(v)
    if not n or n < 1 or n % 1 ~= 0 then
      return nil, "--nthreads expects a positive integer, got '" .. v .. "'"
    end
    opts.config.num_workers = n
  elseif v:match("^tcp://") or v:match("^tls://") then
    if not v:match("^t[cl][ps]://[^:/]+:%d+$") then
      return nil, "--scheduler expects an address tcp://HOST:PORT or tls://HOST:PORT, got '" .. v ..
        "' (see ldask --help)"
    end
    opts.address = v
  elseif v == "threads" or v == "sync" then
    opts.config.scheduler = v
  else
    return nil, "--scheduler expects threads, sync or a cluster's address tcp://HOST:PORT, got '"
      .. v .. "' (see ldask --help)"
  end
  return i + 2
end

-- Parses argv (0-based as given by C) into options. The script's name goes
-- to opts.script, its arguments to opts.script_args. ldask's run-time
-- options may also follow the script (`ldask script.lua --progress`); after
-- a `--` there, everything goes to the script unchanged.
function M.parse(argv)
  local opts = { exec = {}, config = {}, script_args = {}, security = {} }
  local i = 1
  while argv[i] do
    local a = argv[i]
    local nxt, err = take_runtime_option(argv, i, opts)
    if nxt == nil then return nil, err end
    if nxt then i = nxt
    elseif a == "-e" then
      if not argv[i + 1] then return nil, "-e needs an argument" end
      opts.exec[#opts.exec + 1] = argv[i + 1]; i = i + 2
    elseif a == "-i" then opts.interactive = true; i = i + 1
    elseif a == "--version" or a == "-v" then opts.version = true; i = i + 1
    elseif a == "-h" or a == "--help" then opts.help = true; i = i + 1
    elseif a == "--" then opts.script = argv[i + 1]; opts.script_at = i + 1; i = i + 2; break
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return nil, "unknown option '" .. a .. "' (see ldask --help)"
    else
      opts.script = a; opts.script_at = i; i = i + 1; break
    end
  end
  local passthrough = false
  while opts.script and argv[i] do
    local a = argv[i]
    if passthrough then
      opts.script_args[#opts.script_args + 1] = a; i = i + 1
    elseif a == "--" then
      passthrough = true; i = i + 1
    else
      local nxt, err = take_runtime_option(argv, i, opts)
      if nxt == nil then return nil, err end
      if nxt then i = nxt else opts.script_args[#opts.script_args + 1] = a; i = i + 1 end
    end
  end
  return opts
end

-- Builds the global `arg` as the lua program does: arg[0] the script,
-- arg[1..n] its arguments, negative indices the interpreter and options.
local function make_arg(argv, opts)
  local t = {}
  local at = opts.script_at or (#argv + 1)
  for i = 0, at - 1 do t[i - at] = argv[i] end
  t[0] = opts.script
  for k, v in ipairs(opts.script_args) do t[k] = v end
  return t
end

local function run_chunk(chunk, ...)
  local ok, err = xpcall(chunk, errors.traceback, ...)
  if not ok then
    io.stderr:write("ldask: ", tostring(err), "\n")
    return false
  end
  return true
end

function M.main(argv)
  local opts, err = M.parse(argv)
  if not opts then return die(err) end
  local ldask = require "ldask"
  if opts.version then
    print("ldask " .. ldask.version .. " (" .. jit.version .. ")")
    return 0
  end
  if opts.help then io.write(USAGE); return 0 end
  for k, v in pairs(opts.config) do ldask.config.set { [k] = v } end
  _G.ldask = ldask
  _G.arg = make_arg(argv, opts)
  if next(opts.security) and not (opts.address or opts.scheduler_file) then
    return die("--auth-token-file and --tls-* are for a cluster: give --scheduler tcp://HOST:PORT or --scheduler-file FILE too")
  end
  if opts.address or opts.scheduler_file then
    local ok, err
    local copts = { scheduler_file = opts.scheduler_file }
    for k, v in pairs(opts.security) do copts[k] = v end
    ok, err = pcall(ldask.Client, opts.address, copts)
    if not ok then io.stderr:write("ldask: ", tostring(err), "\n"); return 1 end
  end
  local signals = require "ldask.signals"
  signals.arm()
  -- the -e code and the script; returns an exit code, or nil to go on
  local function run_all()
    for _, code in ipairs(opts.exec) do
      local chunk, cerr = loadstring(code, "=(command line)")
      if not chunk then return die(cerr) end
      if not run_chunk(chunk) then return 1 end
    end
    if opts.script then
      local chunk, cerr
      if opts.script == "-" then chunk, cerr = loadstring(io.read("*a"), "=stdin")
      else chunk, cerr = loadfile(opts.script) end
      if not chunk then return die(cerr) end
      local ok = run_chunk(chunk, unpack(_G.arg, 1, #_G.arg))
      if not ok and not opts.interactive then return 1 end
    end
  end
  local code
  if opts.report then
    local ok, rerr = pcall(ldask.diagnostics.performance_report, opts.report, function() code = run_all() end)
    if not ok then io.stderr:write("ldask: --report: ", tostring(rerr), "\n"); return 1 end
  else
    code = run_all()
  end
  if code then return code end
  if opts.interactive or (not opts.script and #opts.exec == 0) then
    return require("ldask.repl").run()
  end
  return 0
end

return M
