-- ldask.dataframe's conversions against pandas on seeded data: read_json
-- (JSON lines with nulls, missing keys, unicode, ints mixed with floats),
-- from_bag (dicts and lists), from_array (1-d and 2-d, against numpy),
-- to_csv (one file per partition, read back by pandas), to_bag and
-- describe; read_json on sync, threads and a local cluster. Skipped
-- without pandas.
local cjson = require "cjson"
local ldask = require "ldask"
local dd = require "ldask.dataframe"
local pandas = require "pandas"

local GEN = [==[
import sys, json, os
import numpy as np, pandas as pd
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(9)
n = 3000
words = ["alpha", "Grüße", "日本", 'q"uote', "x,y"]
with open(f"{out}/d.jsonl", "w") as f:
    for i in range(n):
        r = {"i": int(rng.integers(-100, 100)), "f": float(np.round(rng.normal(0, 3), 3)) if i % 5 else int(i),
             "s": words[int(rng.integers(0, len(words)))], "b": bool(rng.integers(0, 2))}
        if i % 11 == 0: r["f"] = None
        if i % 13 == 0: del r["s"]
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
d = pd.read_json(f"{out}/d.jsonl", lines=True)
r = {}
r["len"] = len(d)
r["i_sum"] = int(d.i.sum()); r["f_sum"] = float(d.f.sum()); r["f_count"] = int(d.f.count())
r["s_count"] = int(d.s.count()); r["b_sum"] = int(d.b.sum())
r["g_mean"] = {k: float(v) for k, v in d.groupby("s").f.mean().items()}
desc = d[["i", "f"]].describe()
r["describe"] = {c: [float(x) for x in desc[c].tolist()] for c in desc.columns}
r["describe_index"] = list(desc.index)
a = np.arange(60, dtype=float).reshape(20, 3) * 1.5
np.save(f"{out}/a.npy", a)
r["arr_col_sums"] = [float(x) for x in a.sum(axis=0)]
json.dump(r, open(f"{out}/expected.json", "w"))
]==]

local have = pandas.available()
local dir, E

local close = pandas.close

describe("ldask.dataframe io: read_json, from_bag, from_array, to_csv, to_bag, describe against pandas", function()
  setup(function()
    if not have then return end
    dir, E = pandas.generate(GEN, "dfio")
  end)

  local function skip() return pandas.skip(have) end
  local function df() return dd.read_json(dir .. "/d.jsonl", { blocksize = 20000 }) end

  it("read_json: JSON lines in blocks, nulls and missing keys as missing values", function()
    if skip() then return end
    local d = df()
    assert.is_true(d.npartitions > 4)
    assert.same({ "b", "f", "i", "s" }, d.columns)
    assert.same({ b = "bool", f = "float64", i = "int64", s = "string" }, d.dtypes)
    assert.equal(E.len, d:len())
    assert.equal(E.i_sum, d.i:sum():compute())
    close(d.f:sum():compute(), E.f_sum, "f sum")
    assert.equal(E.f_count, d.f:count():compute())
    assert.equal(E.s_count, d.s:count():compute())
    assert.equal(E.b_sum, d.b:astype("int64"):sum():compute())
    local g = d:groupby("s").f:mean():compute():to_dict()
    for k, v in pairs(E.g_mean) do close(g[k], v, "groupby(s).f.mean " .. k) end
  end)

  it("read_json: a value that does not fit the inferred column names it and the dtype= fix", function()
    if skip() then return end
    local p = dir .. "/bad.jsonl"
    local f = assert(io.open(p, "w"))
    for i = 1, 3000 do f:write('{"a": ', i, '}\n') end
    f:write('{"a": "oops"}\n')
    f:close()
    local d = dd.read_json(p, { blocksize = 4000 })
    assert.equal("int64", d.dtypes.a)
    local ok, err = pcall(function() return d.a:sum():compute() end)
    assert.is_false(ok)
    assert.matches("column 'a': value oops (a string) does not fit dtype int64", tostring(err), 1, true)
    assert.equal(1, dd.read_json(p, { dtype = { a = "string" }, blocksize = 4000 }).a:eq("oops"):astype("int64"):sum():compute())
  end)

  it("describe: count, mean, std, min, quartiles (linear interpolation), max", function()
    if skip() then return end
    local r = df()[{ "i", "f" }]:describe()
    assert.same(E.describe_index, r:index_values())
    for _, c in ipairs({ "i", "f" }) do
      local got = r[c]:to_table()
      for j, v in ipairs(E.describe[c]) do close(got[j], v, "describe " .. c .. " " .. E.describe_index[j]) end
    end
  end)

  it("from_bag of dicts and lists, to_bag back", function()
    if skip() then return end
    local b = ldask.bag.from_sequence({ { x = 1, y = "a" }, { x = 2 }, { x = 3, y = "c" }, { x = 4.5, y = "d" } },
      { npartitions = 2 })
    local d0 = dd.from_bag(b) -- (dtypes from the first partition: x is int64 there)
    assert.equal("int64", d0.dtypes.x)
    local ok, err = pcall(function() return d0.x:sum():compute() end)
    assert.is_false(ok)
    assert.matches("column 'x': 4.5 is not an integer (dtype int64; give dtype = {[\"x\"] = \"float64\"})",
      tostring(err), 1, true)
    local d = dd.from_bag(b, { dtype = { x = "float64" } })
    assert.same({ "x", "y" }, d.columns)
    assert.equal(10.5, d.x:sum():compute())
    assert.equal(3, d.y:count():compute())
    local t = dd.from_bag(ldask.bag.from_sequence({ { 1, "a" }, { 2, "b" } }), { columns = { "n", "c" } })
    assert.same({ 1, 2 }, t.n:compute():to_table())
    local rows = d:to_bag():compute()
    assert.same({ 1, "a" }, rows[1])
    assert.same({ x = 3, y = "c" }, d:to_bag({ format = "dict" }):compute()[3])
    local j = df():to_bag({ format = "dict" })
    assert.equal(E.len, j:count():compute())
  end)

  it("from_array: a 2-d array's columns and a 1-d array's series, checked against numpy", function()
    if skip() then return end
    local a = ldask.array.from_npy(dir .. "/a.npy", { chunks = { 6, 2 } })
    local d = dd.from_array(a, { columns = { "p", "q", "r" } })
    assert.equal(4, d.npartitions)
    local s = d:sum()
    assert.same(E.arr_col_sums, s:to_table())
    local one = dd.from_array(ldask.array.arange(10, { chunks = 3 }), { name = "v" })
    assert.equal(45, one:sum():compute())
    assert.equal("v", one.name)
    local ok, err = pcall(function() local x = dd.from_array({}); return x end)
    assert.matches("from_array: expected an ldask.array", tostring(err), 1, true)
  end)

  it("to_csv: one file per partition (* numbered), read back by pandas", function()
    if skip() then return end
    local d = df()
    local files = d:to_csv(dir .. "/out-*.csv")
    assert.equal(d.npartitions, #files)
    assert.truthy(files[1]:find("out%-0+%.csv$"))
    local py = dir .. "/check.py"
    local f = assert(io.open(py, "w"))
    f:write("import sys, glob, json, pandas as pd\n",
      "d = pd.concat([pd.read_csv(p) for p in sorted(glob.glob(sys.argv[1] + '/out-*.csv'))])\n",
      "print(json.dumps({'len': len(d), 'i': int(d.i.sum()), 'f': float(d.f.sum()), 's': int(d.s.count()),",
      " 'cols': list(d.columns)}))\n")
    f:close()
    local p = io.popen("/usr/bin/python3 " .. py .. " " .. dir)
    local out = cjson.decode(p:read("*a"))
    p:close()
    assert.equal(E.len, out.len)
    assert.equal(E.i_sum, out.i)
    close(out.f, E.f_sum, "to_csv f")
    assert.equal(E.s_count, out.s)
    assert.same({ "b", "f", "i", "s" }, out.cols)
  end)

  it("read_json on sync, threads and a local cluster", function()
    if skip() then return end
    local q = df():groupby("s").f:mean()
    local c = ldask.Client({ n_workers = 2, threads_per_worker = 1 })
    local ok, err = pcall(function()
      for _, sch in ipairs({ "sync", "threads", "distributed" }) do
        local g = q:compute({ scheduler = sch }):to_dict()
        for k, v in pairs(E.g_mean) do close(g[k], v, sch .. " " .. k) end
      end
    end)
    c:close()
    if not ok then error(err, 0) end
  end)
end)
