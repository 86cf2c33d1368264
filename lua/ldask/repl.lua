-- ldask.repl: the interactive prompt. Reads lines with line editing and
-- history (libedit through ldask.readline), evaluates them as expressions
-- first and statements second, continues incomplete input on the next line,
-- and pretty-prints results: ldask objects show their key or status.
local pretty = require "ldask.pretty"
local traceback = require("ldask.errors").traceback

local M = {}

local HISTORY = (os.getenv("HOME") or ".") .. "/.ldask_history"

local function reader()
  local ok, rl = pcall(require, "ldask.readline")
  if ok and rl.isatty(0) then
    rl.read_history(HISTORY)
    return function(prompt) return rl.readline(prompt) end,
      function(line) rl.add_history(line); rl.write_history(HISTORY) end
  end
  return function(prompt)
    io.write(prompt); io.flush()
    return io.read("*l")
  end, function() end
end

-- Compiles one input: as an expression first, so expressions print, else
-- as a statement. Returns chunk, or nil, err, incomplete. The expression
-- is an argument of select, not a tail call, so that the input's frame
-- stays on the stack: errors name its line (stdin:1:).
function M.compile(src)
  local chunk = loadstring("return select(1, " .. src .. "\n)", "=stdin")
  if chunk then return chunk end
  local err
  chunk, err = loadstring(src, "=stdin")
  if chunk then return chunk end
  -- incomplete as a statement (`for i = 1, 3 do`) or as an expression
  -- (`1 +`, whose statement form fails earlier, at its first symbol)
  -- (as lua.c: the message ends at <eof>; "'<eof>' expected near '='" is
  -- an error, not an unfinished input)
  local _, experr = loadstring("return " .. src, "=stdin")
  local function at_eof(e) return e ~= nil and e:find("<eof>'?$") ~= nil end
  return nil, err, at_eof(err) or at_eof(experr)
end

local function print_results(n, ...)
  if n == 0 then return end
  local parts = {}
  for i = 1, n do parts[i] = pretty.format((select(i, ...))) end
  print(table.concat(parts, "\t"))
end

-- Evaluates one complete input; prints results or the error.
function M.eval(src)
  local chunk, err = M.compile(src)
  if not chunk then print(err); return false end
  local res = { xpcall(chunk, traceback) }
  if not res[1] then print(res[2]); return false end
  print_results(select("#", unpack(res, 1, table.maxn(res))) - 1, unpack(res, 2, table.maxn(res)))
  return true
end

function M.run()
  local read, remember = reader()
  local ldask = require "ldask"
  print("ldask " .. ldask.version .. " — " .. jit.version .. "; Ctrl-D to quit")
  -- connected to a cluster (--scheduler, or a client made at the prompt):
  -- where its dashboard is, once per client
  local shown = setmetatable({}, { __mode = "k" })
  local function show_dashboard()
    local cmod = package.loaded["ldask.client"]
    local client = cmod and cmod.current()
    if not client or shown[client] then return end
    shown[client] = true
    local ok, link = pcall(client.dashboard_link, client)
    if ok and link then print("dashboard: " .. link) end
  end
  show_dashboard()
  local buf
  while true do
    local line = read(buf and ">> " or "> ")
    if line == nil then io.write("\n"); return 0 end
    buf = buf and (buf .. "\n" .. line) or line
    local chunk, err, incomplete = M.compile(buf)
    if chunk or not incomplete then
      if buf:match("%S") then remember(buf) end
      if chunk then
        local res = { n = 0 }
        local function pack(ok, ...) res.ok = ok; res.n = select("#", ...); for i = 1, res.n do res[i] = (select(i, ...)) end end
        pack(xpcall(chunk, traceback))
        if res.ok then print_results(res.n, unpack(res, 1, res.n))
        else print(tostring(res[1])) end
        show_dashboard()
      else
        print(err)
      end
      buf = nil
    end
  end
end

return M
