-- ldask.visualize: draws a task graph with Graphviz. Nodes are tasks,
-- labelled by key, filled by execution order (light = early, dark = late);
-- edges go from a dependency to its user. Writes .dot itself; .svg and .png
-- go through the `dot` program, and without it the .dot is written instead
-- and the returned message says so.
local graph = require "ldask.graph"
local base = require "ldask.base"
local misuse = require("ldask.errors").misuse

local M = {}

local function label(key)
  local name, idx = graph.split_key(key)
  local prefix = name:gsub("%-%x%x%x%x%x%x%x%x+$", "")
  if #idx > 0 then
    local parts = {}
    for i, v in ipairs(idx) do parts[i] = tostring(v) end
    return prefix .. " (" .. table.concat(parts, ", ") .. ")"
  end
  return prefix
end

local function esc(s) return (s:gsub('\\', '\\\\'):gsub('"', '\\"')) end

-- Returns the DOT text of graph G (keys from KEYS): the graph as built,
-- or as the schedulers run it when opts.optimize_graph is true (as dask).
function M.to_dot(g, keys, opts)
  opts = opts or {}
  local flat = graph.flatten_keys(keys)
  local deps
  if opts.optimize_graph then g, deps = require("ldask.optimize").optimize(g, flat)
  else deps = graph.deps(g) end
  local ix = graph.index(g, deps)
  local seq = graph.order(ix)
  local n = ix.n
  local out = { "digraph ldask {", '  rankdir="BT";', '  node [shape=box, style="rounded,filled", fontname="Helvetica"];' }
  for p, i in ipairs(seq) do
    local shade = n > 1 and (p - 1) / (n - 1) or 0
    local light = math.floor(235 - 150 * shade)
    local color = string.format("#%02x%02xff", light, light)
    out[#out + 1] = string.format('  "%s" [label="%s", fillcolor="%s", tooltip="%s (order %d)"];',
      esc(ix.keys[i]), esc(label(ix.keys[i])), color, esc(ix.keys[i]), p - 1)
  end
  for i = 1, n do
    for _, d in ipairs(ix.deps[i]) do
      out[#out + 1] = string.format('  "%s" -> "%s";', esc(ix.keys[d]), esc(ix.keys[i]))
    end
  end
  out[#out + 1] = "}"
  return table.concat(out, "\n") .. "\n"
end

local function have_dot()
  local ok = os.execute("command -v dot >/dev/null 2>&1")
  return ok == 0 or ok == true
end

-- visualize(obj, filename, opts): OBJ is a collection, a delayed value, or
-- a list of them; FILENAME ends in .dot, .svg or .png (default
-- "mydask.svg"). OPTS: optimize_graph (default false: the graph as built).
-- Returns the path written and a message.
function M.visualize(obj, filename, opts)
  filename = filename or "mydask.svg"
  if type(filename) ~= "string" then misuse("ldask.visualize: filename must be a string, got " .. type(filename)) end
  if opts ~= nil and type(opts) ~= "table" then misuse("ldask.visualize: options must be a table, got " .. type(opts)) end
  local fmt = filename:match("%.(%w+)$")
  if fmt ~= "dot" and fmt ~= "svg" and fmt ~= "png" then
    misuse("ldask.visualize: filename must end in .dot, .svg or .png, got '" .. filename .. "'")
  end
  local objs = (type(obj) == "table" and getmetatable(obj) == nil) and obj or { obj }
  local layers, keys = {}, {}
  for _, o in ipairs(objs) do
    if not base.is_collection(o) then
      misuse("ldask.visualize: expected a collection or delayed value, got " .. type(o))
    end
    if o.__ldask_layers then for k, g in pairs(o:__ldask_layers()) do layers[k] = g end
    else layers[#layers + 1] = o:__ldask_graph() end
    keys[#keys + 1] = o:__ldask_keys()
  end
  local dot = M.to_dot(graph.flatten_layers(layers), keys, opts)
  local dotpath = fmt == "dot" and filename or filename:gsub("%.%w+$", ".dot")
  local f, err = io.open(dotpath, "w")
  if not f then misuse("ldask.visualize: " .. err) end
  f:write(dot); f:close()
  if fmt == "dot" then return dotpath, "wrote " .. dotpath end
  if not have_dot() then
    local msg = "Graphviz 'dot' is not installed: wrote " .. dotpath .. " instead of " .. filename
    io.stderr:write("ldask.visualize: ", msg, "\n")
    return dotpath, msg
  end
  local cmd = string.format("dot -T%s -o '%s' '%s'", fmt, filename:gsub("'", "'\\''"), dotpath:gsub("'", "'\\''"))
  local ok = os.execute(cmd)
  os.remove(dotpath)
  if not (ok == 0 or ok == true) then misuse("ldask.visualize: dot failed: " .. cmd) end
  return filename, "wrote " .. filename
end

-- The visualize method of every collection and delayed value:
-- x:visualize(filename, opts) draws x's graph (see visualize above).
function M.method(self, filename, opts) return M.visualize(self, filename, opts) end

return M
