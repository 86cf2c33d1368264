-- examples/make_pipeline.lua: a Make-like pipeline. Each task reads input
-- files and writes an output file, returning its path; dependencies are the
-- paths of earlier tasks, so the graph orders the steps and independent
-- steps may run in parallel.
--   ldask examples/make_pipeline.lua [workdir]
local dir = arg[1] or os.tmpname() .. ".d"
os.execute("mkdir -p '" .. dir .. "'")

local function write(path, text)
  local f = assert(io.open(path, "w")); f:write(text); f:close()
  return path
end
local function read(path) local f = assert(io.open(path)); local s = f:read("*a"); f:close(); return s end

-- step 1: raw data files
local raw = ldask.delayed(function(d, i)
  local lines = {}
  for j = 1, 1000 do lines[j] = tostring((i * 7919 + j * 104729) % 1000) end
  return write(d .. "/raw" .. i .. ".txt", table.concat(lines, "\n") .. "\n")
end, { name = "raw" })

-- step 2: per-file statistics
local stats = ldask.delayed(function(path)
  local n, s = 0, 0
  for line in io.lines(path) do n = n + 1; s = s + tonumber(line) end
  return write(path:gsub("%.txt$", ".stats"), string.format("%d %d\n", n, s))
end, { name = "stats" })

-- step 3: the report from every statistics file
local report = ldask.delayed(function(d, paths)
  local n, s = 0, 0
  for _, p in ipairs(paths) do
    local a, b = read(p):match("(%d+) (%d+)")
    n, s = n + tonumber(a), s + tonumber(b)
  end
  return write(d .. "/report.txt", string.format("files=%d lines=%d mean=%.3f\n", #paths, n, s / n))
end, { name = "report" })

local outs = {}
for i = 1, 8 do outs[i] = stats(raw(dir, i)) end
local final = report(dir, outs)
local path = final:compute()
io.write("wrote ", path, ": ", read(path))
