-- fuzz/workload.lua: the client side of fuzz/record.py's recording: a
-- small tour of the distributed ops (submit, map, dependencies, errors,
-- scatter, gather, who_has, cancel, run, upload_file, arrays, a bag), run
-- against the scheduler address given as arg[1] (the recording proxy).
local ldask = require "ldask"
local client = ldask.Client(arg[1])

local function inc(x) return x + 1 end
local function add(a, b) return a + b end
local a = client:submit(inc, 1)
local b = client:submit(inc, a)
local c = client:submit(add, a, b)
assert(c:result() == 5)
local fs = client:map(inc, { 1, 2, 3, 4 })
assert(#client:gather(fs) == 4)
local bad = client:submit(function() error("boom") end)
pcall(function() return bad:result() end)
local dep_bad = client:submit(inc, bad)
pcall(function() return dep_bad:result() end)
local sc = client:scatter({ 10, 20, { x = "a table", y = { 1, 2 } } })
local s2 = client:submit(function(t) return t.x .. "!" end, sc[3])
assert(s2:result() == "a table!")
client:who_has(sc)
local slow = client:submit(function() local s = 0 for i = 1, 1e6 do s = s + i end return s end)
client:cancel({ slow })
client:run(function() return 1 end)
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)
local f = io.open(dir .. "/fuzzmod.lua", "w")
f:write("return { answer = 42 }\n")
f:close()
client:upload_file(dir .. "/fuzzmod.lua")
os.execute("rm -rf " .. dir)
local u = client:submit(function() return require("fuzzmod").answer end)
assert(u:result() == 42)
local da = require "ldask.array"
local x = da.ones({ 40, 40 }, { chunks = 20 })
-- pcall: an array task on a worker may fail (see docs/fuzzing.md); its
-- traffic is recorded either way
local _, total = pcall(function() return client:compute((x + x:transpose()):sum()):result() end)
local bag = require "ldask.bag"
local words = bag.from_sequence({ "a b", "b c", "c d a" }, { npartitions = 2 })
client:compute(words:map(function(s) return #s end):sum()):result()
client:close()
print("workload done", total)
