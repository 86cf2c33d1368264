-- bench/codec.lua: speed of the value codec (ldask.codec) — small values,
-- big tables of numbers, strings and records, and task payloads with a
-- shared function through a session — next to Python's pickle/cloudpickle
-- on the same shapes (what dask.distributed uses), run in the same process
-- run when /usr/bin/python3 is available. Usage: bin/ldask bench/codec.lua
local codec = require "ldask.codec"
local support = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "support.lua")

local clock, format = os.clock, string.format

local results = {}

local function report(name, value, unit, note)
  results[#results + 1] = { name, value, unit }
  print(format("%-42s %12.3f %-6s %s", name, value, unit, note or ""))
end

-- Best of REPEAT runs of FN, seconds of CPU time.
local function best(repeat_, fn) return support.best_of(repeat_, fn, clock) end

print("== ldask.codec")

-- Small values: encode + decode round trips. 1024 distinct values are
-- cycled so the compiler cannot hoist the work out of the loop.
local M1 = 1024
local small = {
  { "number", function(i) return i + 0.5 end },
  { "string", function(i) return "hello world " .. i end },
  { "short table", function(i) return { i, 2, "x", a = true } end },
}
for _, case in ipairs(small) do
  local vals, hs = {}, {}
  for i = 1, M1 do
    vals[i] = case[2](i)
    hs[i] = codec.encode(vals[i])
  end
  local n = 1000000
  local te = best(3, function() for i = 1, n do codec.encode(vals[i % M1 + 1]) end end)
  local td = best(3, function() for i = 1, n do codec.decode(hs[i % M1 + 1]) end end)
  local trt = best(3, function() for i = 1, n do codec.decode((codec.encode(vals[i % M1 + 1]))) end end)
  report("small " .. case[1] .. " encode", te / n * 1e9, "ns")
  report("small " .. case[1] .. " decode", td / n * 1e9, "ns")
  report("small " .. case[1] .. " round trip", trt / n * 1e9, "ns")
end

-- Big tables, built one at a time (the heap holds one case).
local N = 1000000
local line = "the quick brown fox jumps over the lazy dog, then sleeps %07d times a day"
local big = {
  { "1M numbers", function() local t = {} for i = 1, N do t[i] = i * 0.5 end return t end },
  { "1M strings", function() local t = {} for i = 1, N do t[i] = format("item-%07d", i) end return t end },
  { "1M text lines", function() local t = {} for i = 1, N do t[i] = format(line, i) end return t end },
  { "100k records", function()
    local t = {}
    for i = 1, 100000 do t[i] = { id = i, name = "name" .. i, score = i * 0.25, tags = { "a", "b" } } end
    return t
  end },
}
for _, case in ipairs(big) do
  local v = case[2]()
  local h
  local te = best(3, function() h = codec.encode(v) end)
  local td = best(3, function() codec.decode(h) end)
  local mb = #h / 1e6
  report("big " .. case[1] .. " encode", mb / te, "MB/s", format("(%.1f MB header)", mb))
  report("big " .. case[1] .. " decode", mb / td, "MB/s")
  v, h = nil, nil
  collectgarbage()
end

-- Task payloads: { inc, i } with a closure, one session for the graph.
local step = 1
local function inc(x) return x + step end
local NT = 100000
local headers = {}
local s
local te = best(3, function()
  s = codec.session()
  for i = 1, NT do headers[i] = s:encode({ inc, i }) end
end)
local fns = s:functions()
local td = best(3, function()
  local d = codec.decoder()
  d:add_functions(fns)
  for i = 1, NT do d:decode(headers[i]) end
end)
local bytes = 0
for i = 1, NT do bytes = bytes + #headers[i] end
report("task {closure, i} session encode", te / NT * 1e6, "us", format("(%.0f bytes/task)", bytes / NT))
report("task {closure, i} decoder decode", td / NT * 1e6, "us")
local tf = best(3, function() for _ = 1, 10000 do codec.encode(inc) end end)
report("closure encode without session", tf / 10000 * 1e6, "us")

-- A registered cdata value: a 1000-element float64 ndarray chunk (its data
-- is a buffer, not in the header).
do
  local ok, nd = pcall(require, "ldask.array.ndarray")
  if ok and nd.ones then
    local a = nd.ones({ 1000 }, "float64")
    local n = 100000
    local h, b = codec.encode(a)
    local tce = best(3, function() for _ = 1, n do codec.encode(a) end end)
    local tcd = best(3, function() for _ = 1, n do codec.decode(h, b) end end)
    report("ndarray chunk (1000 float64) encode", tce / n * 1e6, "us", format("(%d-byte header, %d buffer)", #h, #b))
    report("ndarray chunk (1000 float64) decode", tcd / n * 1e6, "us")
  else
    print("(ldask.array.ndarray not available: ndarray case skipped)")
  end
end

-- Python side
local py = [==[
import pickle, time, sys, gc
try:
    import cloudpickle
except ImportError:
    cloudpickle = None
def best(r, fn):
    t = 1e9
    for _ in range(r):
        gc.collect(); t0 = time.process_time(); fn(); t = min(t, time.process_time() - t0)
    return t
out = []
M1 = 1024
for name, mk in [("number", lambda i: i + 0.5), ("string", lambda i: "hello world %d" % i),
                 ("short table", lambda i: [i, 2, "x", {"a": True}])]:
    n = 300000
    vals = [mk(i) for i in range(1, M1 + 1)]
    hs = [pickle.dumps(v) for v in vals]
    te = best(3, lambda: [pickle.dumps(vals[i % M1]) for i in range(n)])
    td = best(3, lambda: [pickle.loads(hs[i % M1]) for i in range(n)])
    out.append(("small %s encode" % name, te / n * 1e9))
    out.append(("small %s decode" % name, td / n * 1e9))
    out.append(("small %s round trip" % name, (te + td) / n * 1e9))
N = 1000000
line = "the quick brown fox jumps over the lazy dog, then sleeps %07d times a day"
cases = [("1M numbers", lambda: [i * 0.5 for i in range(1, N + 1)]),
         ("1M strings", lambda: ["item-%07d" % i for i in range(1, N + 1)]),
         ("1M text lines", lambda: [line % i for i in range(1, N + 1)]),
         ("100k records", lambda: [{"id": i, "name": "name%d" % i, "score": i * 0.25, "tags": ["a", "b"]} for i in range(1, 100001)])]
for name, mk in cases:
    v = mk()
    h = pickle.dumps(v, protocol=5)
    te = best(3, lambda: pickle.dumps(v, protocol=5))
    td = best(3, lambda: pickle.loads(h))
    mb = len(h) / 1e6
    out.append(("big %s encode" % name, mb / te))
    out.append(("big %s decode" % name, mb / td))
    del v, h
try:
    import numpy as np
    a = np.ones(1000)
    n = 100000
    h = pickle.dumps(a, protocol=5)
    te = best(3, lambda: [pickle.dumps(a, protocol=5) for _ in range(n)])
    td = best(3, lambda: [pickle.loads(h) for _ in range(n)])
    out.append(("ndarray chunk (1000 float64) encode", te / n * 1e6))
    out.append(("ndarray chunk (1000 float64) decode", td / n * 1e6))
except ImportError:
    pass
if cloudpickle:
    step = 1
    def inc(x): return x + step
    NT = 100000
    hs = []
    te = best(3, lambda: hs.extend(cloudpickle.dumps((inc, i)) for i in range(NT)))
    td = best(3, lambda: [pickle.loads(h) for h in hs[:NT]])
    out.append(("task {closure, i} session encode", te / NT * 1e6))
    out.append(("task {closure, i} decoder decode", td / NT * 1e6))
    tf = best(3, lambda: [cloudpickle.dumps(inc) for _ in range(10000)])
    out.append(("closure encode without session", tf / 10000 * 1e6))
for k, v in out:
    print("%s\t%.6f" % (k, v))
]==]

local python = "/usr/bin/python3"
local f = io.open(python, "r")
if f then
  f:close()
  local path = os.tmpname()
  local pf = assert(io.open(path, "w"))
  pf:write(py)
  pf:close()
  print("== Python pickle / cloudpickle (same shapes, same run)")
  local p = io.popen(python .. " " .. path .. " 2>&1")
  local pyres = {}
  for line in p:lines() do
    local k, v = line:match("^(.-)\t([%d.e+-]+)$")
    if k then pyres[k] = tonumber(v) else print(line) end
  end
  p:close()
  os.remove(path)
  print(format("%-42s %12s %12s %-6s %s", "case", "ldask", "python", "unit", "ldask advantage"))
  for _, r in ipairs(results) do
    local pv = pyres[r[1]]
    if pv then
      local ratio = r[3] == "MB/s" and r[2] / pv or pv / r[2]
      print(format("%-42s %12.3f %12.3f %-6s %.2fx", r[1], r[2], pv, r[3], ratio))
    end
  end
else
  print("(no /usr/bin/python3: Python comparison skipped)")
end

local st = io.open("/proc/self/status")
if st then
  for line in st:lines() do
    if line:match("^VmHWM") then print("peak RSS: " .. line:match("(%d+ kB)")) end
  end
  st:close()
end
