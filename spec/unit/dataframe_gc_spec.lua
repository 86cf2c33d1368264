-- Unit spec of raw-pointer lifetimes in the dataframe kernels (the cause of
-- an intermittent wrong answer and crash, docs/architecture.md "Raw pointers
-- and their owners"): with the collector made to finish a cycle at almost
-- every allocation, compiled code that held a pointer into an ndarray no
-- later bytecode read saw that ndarray freed under it. The same pipeline
-- run several times must give the same, right answers: missing strings
-- stay missing through .str on dictionary columns; filters, sorts,
-- drop_duplicates and set_index (a shuffle) keep every row. (The code
-- before the fix crashed or lost missing values here within a round.)
local dd = require "ldask.dataframe"

local N = 20000
local WORDS = { "  Alpha ", "beta", "BETA", "Grüße", "naïve", "ab12cd", "beta9", "one" }

local function write_data(dir)
  local rnd = 7
  local function rand(k) -- (a small LCG: the data is the same on every run)
    rnd = (rnd * 1103515245 + 12345) % 2147483648
    return rnd % k
  end
  local missing, keys, nkeys = 0, {}, 0
  for p = 0, 1 do
    local f = assert(io.open(dir .. "/s-" .. p .. ".csv", "w"))
    f:write("w,v,k\n")
    for _ = 1, N do
      local w = ""
      if rand(20) == 0 then missing = missing + 1 else w = WORDS[rand(#WORDS) + 1] end
      local v, k = rand(100), rand(501)
      if not keys[k] then keys[k], nkeys = true, nkeys + 1 end
      f:write(w, ",", v, ",", k, "\n")
    end
    f:close()
  end
  return missing, nkeys
end

describe("dataframe kernels under a collector that runs at every allocation", function()
  local dir, missing, nkeys
  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p '" .. dir .. "'") == 0)
    missing, nkeys = write_data(dir)
  end)
  teardown(function()
    collectgarbage("setpause", 200)
    collectgarbage("setstepmul", 200)
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("gives the same right answers every round", function()
    collectgarbage("setpause", 1)
    collectgarbage("setstepmul", 10000)
    local d = dd.read_csv(dir .. "/s-*.csv", { blocksize = 30000 })
    local kept
    for round = 1, 3 do
      local e = d.w.str:endswith("e"):compute({ scheduler = "sync" }):to_table()
      local na = 0
      for i = 1, 2 * N do if e[i] == nil then na = na + 1 end end
      assert.equal(missing, na, "missing rows of .str.endswith, round " .. round)
      local k = d[d.v:gt(50)]:compute({ scheduler = "sync" })._n
      if kept then assert.equal(kept, k, "filter, round " .. round) end
      kept = k
    end
    local s = d:sort_values("v"):compute({ scheduler = "sync" })
    local v = s.v:to_table()
    assert.equal(2 * N, s._n)
    for i = 2, 2 * N do
      if v[i] < v[i - 1] then error(("sort_values: row %d out of order"):format(i)) end
    end
    assert.equal(nkeys, d:drop_duplicates({ subset = { "k" } }):compute({ scheduler = "sync" })._n)
    assert.equal(2 * N, d:set_index("k"):compute({ scheduler = "sync" })._n)
  end)
end)
