-- spec/support/helpers.lua: shared helpers of the specs: locating the build
-- tree, running bin/ldask as a child process, temporary files, the
-- benchmarks' anchor graph.
local M = {}

-- root: the source tree; bin: where the programs under test live (bin/, or
-- build/san/bin/ for the sanitized variant).
M.root = (_LDASK_ROOT or os.getenv("LDASK_ROOT") or ".")
M.bin = (_LDASK_BIN or (M.root .. "/bin"))
M.ldask = M.bin .. "/ldask"

-- Runs FN(cluster, client) on a fresh local cluster of N workers
-- (ldask.client.cluster.start with COPTS, n_workers = N) once they have
-- registered; the client and the cluster are always stopped, also when FN
-- fails (its error is raised again).
function M.with_cluster(n, fn, copts)
  local client = require "ldask.client"
  copts = copts or {}
  copts.n_workers = n
  local cl = require("ldask.client.cluster").start(copts)
  local c
  local ok, err = pcall(function()
    c = client(cl.address, { set_as_default = false })
    if n > 0 then c:wait_for_workers(n, 20) end
    fn(cl, c)
  end)
  if c then pcall(c.close, c) end
  cl:stop()
  if not ok then error(err, 0) end
end

-- The anchor graph of the benchmarks (bench/support.lua): N inc tasks and a
-- fan-in-8 tree of add. Returns the graph, the root key and the task count.
function M.anchor_graph(n) return dofile(M.root .. "/bench/support.lua").anchor_graph(n) end

-- The benchmarks' shared functions (bench/support.lua): inc, add, sum_list.
M.bench = dofile(M.root .. "/bench/support.lua")

-- Starts a cluster of N workers on 127.0.0.1 and a client of it, set as
-- the default; returns both (stop with M.stop_cluster).
function M.cluster_client(n)
  local cl = require("ldask.client.cluster").start({ n_workers = n })
  local c = require("ldask.client")(cl.address, { set_as_default = false })
  c:wait_for_workers(n, 20)
  c:set_as_default()
  return cl, c
end

-- Closes client C and stops cluster CL (either may be nil).
function M.stop_cluster(cl, c)
  if c then pcall(c.close, c) end
  if cl then cl:stop() end
end

-- A graph of N tasks "PREFIX,i" = {F, i}; returns it and its keys.
function M.graph_of(n, prefix, f)
  local g, keys = {}, {}
  for i = 1, n do
    local k = prefix .. "," .. i
    g[k] = { f, i }
    keys[i] = k
  end
  return g, keys
end

-- True when /usr/bin/python3 has numpy (the specs that cross-check against
-- numpy are pending without it).
function M.have_numpy()
  local rc = os.execute("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1")
  return rc == 0 or rc == true
end

-- The contents of file PATH, or "" when it cannot be read.
function M.read_all(path)
  local f = io.open(path)
  if not f then return "" end
  local s = f:read("*a"); f:close()
  return s
end

-- Waits up to SECONDS (default 10) for FN() to be true; returns its last
-- value.
function M.eventually(fn, seconds)
  local socket = require "socket"
  local deadline = socket.gettime() + (seconds or 10)
  repeat
    if fn() then return true end
    socket.sleep(0.05)
  until socket.gettime() > deadline
  return fn()
end

-- The message of FN's error (FN must fail), as a string.
function M.err_of(fn)
  local ok, e = pcall(fn)
  if ok then error("expected an error", 2) end
  return tostring(e)
end

function M.shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- This process's scratch folder: under $LDASK_SPEC_TMP when spec/run.lua
-- runs the whole suite (removed after a green run), else in /tmp.
local tmpdir
function M.tmpdir()
  if not tmpdir then
    local root = os.getenv("LDASK_SPEC_TMP")
    if not root or root == "" then root = "/tmp" end
    local p = io.popen("mktemp -d '" .. root .. "/ldask-spec.XXXXXX'")
    tmpdir = p:read("*l"); p:close()
  end
  return tmpdir
end

function M.write_tmp(name, content)
  local path = M.tmpdir() .. "/" .. name
  local f = assert(io.open(path, "wb")); f:write(content); f:close()
  return path
end

-- Runs shell command CMD; returns its stdout (and stderr when CMD says
-- 2>&1) and exit code.
function M.sh(cmd)
  local p = io.popen(cmd .. "; echo \"@@rc=$?\"")
  local out = p:read("*a")
  p:close()
  local body, rc = out:match("^(.*)@@rc=(%d+)\n$")
  return body, tonumber(rc)
end
M.run_sh = M.sh

-- Runs `bin/ldask ARGS` (a shell fragment) with STDIN as its input; returns
-- its stdout and exit code.
function M.run_ldask(args, stdin)
  local inpath = M.write_tmp("stdin.txt", stdin or "")
  return M.run_sh(M.ldask .. " " .. args .. " < " .. inpath)
end

return M
