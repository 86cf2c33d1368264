-- ldask.dataframe's .str methods, astype and isna against pandas (an
-- independent implementation) on seeded data: Python writes CSV files with
-- a low-cardinality text column (read as dictionary strings: the kernels
-- run once per category), a unique text column (plain strings when a file
-- is one block), unicode, whitespace and missing values, and computes the
-- expected results with pandas as JSON. Skipped without pandas.
local cjson = require "cjson"
local ldask = require "ldask"
local dd = require "ldask.dataframe"
local pandas = require "pandas"

local GEN = [==[
import sys, json, os
import numpy as np, pandas as pd
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(11)
n = 10000
words = ["  Alpha ", "beta", "BETA", "Grüße", "日本", "naïve", "Ωmega", "x,y", "ab12cd", "Éclair\t", "beta9"]
w = [words[j] for j in rng.integers(0, len(words), n)]
u = ["Id-%d %s" % (i, words[i % len(words)].strip()) for i in range(n)]
num = ["%d.%d" % (a, b) for a, b in zip(rng.integers(-99, 99, n), rng.integers(0, 9, n))]
ints = [str(x) for x in rng.integers(-1000, 1000, n)]
dates = [str(pd.Timestamp("2015-01-01") + pd.Timedelta(seconds=int(x))) for x in rng.integers(0, 86400 * 60, n)]
df = pd.DataFrame({"w": w, "u": u, "num": num, "ints": ints, "dates": dates, "v": rng.integers(0, 100, n)})
df.loc[rng.integers(0, n, 300), "w"] = None
df.loc[rng.integers(0, n, 100), "u"] = None
df.loc[rng.integers(0, n, 100), "num"] = None
df.loc[rng.integers(0, n, 100), "dates"] = None
for p in range(2):
    df.iloc[p * 5000:(p + 1) * 5000].to_csv(f"{out}/s-{p}.csv", index=False)
d = pd.concat([pd.read_csv(f"{out}/s-{p}.csv", dtype={"num": str, "ints": str, "dates": str}, keep_default_na=True)
               for p in range(2)], ignore_index=True)
r = {}
def strs(s): return [None if x is None or x != x else x for x in s.tolist()]
def nums(s): return [None if x != x else (int(x) if not isinstance(x, float) or x == int(x) else x) for x in s.tolist()]
def bools(s): return [None if x is None or x != x else bool(x) for x in s.tolist()]
for c in ("w", "u"):
    s = d[c]
    r[c + "_lower"] = strs(s.str.lower()); r[c + "_upper"] = strs(s.str.upper())
    r[c + "_strip"] = strs(s.str.strip()); r[c + "_lstrip"] = strs(s.str.lstrip())
    r[c + "_rstrip"] = strs(s.str.rstrip())
    r[c + "_len"] = nums(s.str.len())
    r[c + "_slice"] = strs(s.str.slice(1, 4)); r[c + "_slice_neg"] = strs(s.str.slice(-3))
    r[c + "_slice_step"] = strs(s.str.slice(None, None, 2)); r[c + "_slice_rev"] = strs(s.str.slice(None, None, -1))
    r[c + "_contains_re"] = bools(s.str.contains(r"a.\d"))
    r[c + "_contains_lit"] = bools(s.str.contains("x,y", regex=False))
    r[c + "_contains_icase"] = bools(s.str.contains("^be", case=False))
    r[c + "_startswith"] = bools(s.str.startswith("be")); r[c + "_endswith"] = bools(s.str.endswith("e"))
    r[c + "_strip_chars"] = strs(s.str.strip(" Ia"))
r["filter_sum"] = int(d[d.w.str.lower().str.strip() == "beta"].v.sum())
r["filter_contains"] = int(d[d.w.str.contains("ta", na=False)].v.sum())
r["groupby_lower"] = {k: int(v) for k, v in d.groupby(d.w.str.lower()).v.sum().items()}
r["num_float"] = nums(d.num.astype("float64"))
r["ints_int"] = nums(d.ints.astype("int64"))
r["dates_dt"] = [None if x is pd.NaT else str(x) for x in d.dates.astype("datetime64[ns]").tolist()]
r["isna"] = {c: int(v) for c, v in d.isna().sum().items()}
r["notna"] = {c: int(v) for c, v in d.notna().sum().items()}
json.dump(r, open(f"{out}/expected.json", "w"))
]==]

local have = pandas.available()
local dir, E

-- JSON nulls as Lua nils in a list of N values.
local function denull(list)
  local out = {}
  for i, v in ipairs(list) do if v ~= cjson.null then out[i] = v end end
  return out
end

local function same_list(expected, got, what)
  local n = #expected
  assert.equal(n, table.maxn(got) <= n and n or table.maxn(got), what .. " (length)")
  for i = 1, n do
    local e = expected[i]
    if e == cjson.null then e = nil end
    if e ~= got[i] then
      error(string.format("%s[%d]: ldask %s, pandas %s", what, i, tostring(got[i]), tostring(e)), 2)
    end
  end
end

describe("ldask.dataframe .str, astype and isna against pandas", function()
  setup(function()
    if not have then return end
    dir, E = pandas.generate(GEN, "dfstr")
  end)

  local DT = { dtype = { num = "string", ints = "string", dates = "string" } }
  -- small blocks: every text column in dictionary form
  local function small()
    return dd.read_csv(dir .. "/s-*.csv", { dtype = DT.dtype, blocksize = 30000 })
  end
  -- a block per file: the unique column "u" is plain strings
  local function whole()
    return dd.read_csv(dir .. "/s-*.csv", { dtype = DT.dtype, blocksize = false })
  end

  local function skip() return pandas.skip(have) end

  local function check_str(d, c, form)
    local s = d[c]
    local st = s.str
    local what = form .. " " .. c
    for _, m in ipairs({ "lower", "upper", "strip", "lstrip", "rstrip", "len" }) do
      same_list(E[c .. "_" .. m], st[m](st):compute():to_table(), what .. ".str." .. m)
    end
    same_list(E[c .. "_slice"], st:slice(1, 4):compute():to_table(), what .. " slice(1, 4)")
    same_list(E[c .. "_slice_neg"], st:slice(-3):compute():to_table(), what .. " slice(-3)")
    same_list(E[c .. "_slice_step"], st:slice(nil, nil, 2):compute():to_table(), what .. " slice step 2")
    same_list(E[c .. "_slice_rev"], st:slice(nil, nil, -1):compute():to_table(), what .. " slice step -1")
    same_list(E[c .. "_contains_re"], st:contains("a.\\d"):compute():to_table(), what .. " contains regex")
    same_list(E[c .. "_contains_lit"], st:contains("x,y", { regex = false }):compute():to_table(),
      what .. " contains literal")
    same_list(E[c .. "_contains_icase"], st:contains("^be", { case = false }):compute():to_table(),
      what .. " contains case=false")
    same_list(E[c .. "_startswith"], st:startswith("be"):compute():to_table(), what .. " startswith")
    same_list(E[c .. "_endswith"], st:endswith("e"):compute():to_table(), what .. " endswith")
    same_list(E[c .. "_strip_chars"], st:strip(" Ia"):compute():to_table(), what .. " strip(chars)")
  end

  it("on dictionary strings (the kernels run once per category)", function()
    if skip() then return end
    local d = small()
    assert.is_true(d.npartitions > 2)
    assert.is_not_nil(d.w:head(3)._col.codes, "w is read as dictionary strings")
    assert.is_not_nil(d.u:head(3)._col.codes, "u in small blocks: dictionary strings")
    check_str(d, "w", "dict")
    check_str(d, "u", "dict")
  end)

  it("on plain strings (offsets and bytes)", function()
    if skip() then return end
    local d = whole()
    assert.equal(2, d.npartitions)
    assert.is_nil(d.u:head(3)._col.codes, "u in one block per file: plain strings")
    check_str(d, "u", "plain")
  end)

  it("in filters and as a groupby key (lowered categories merged)", function()
    if skip() then return end
    local d = small()
    assert.equal(E.filter_sum, d[d.w.str:lower().str:strip():eq("beta")].v:sum():compute())
    assert.equal(E.filter_contains, d[d.w.str:contains("ta", { na = false })].v:sum():compute())
    local g = d:groupby(d.w.str:lower()).v:sum():compute():to_dict()
    assert.same(E.groupby_lower, g)
  end)

  it("astype parses text into numbers and datetimes; isna/notna on a frame", function()
    if skip() then return end
    local d = small()
    same_list(E.num_float, d.num:astype("float64"):compute():to_table(), "astype float64")
    same_list(E.ints_int, d.ints:astype("int64"):compute():to_table(), "astype int64")
    same_list(E.dates_dt, d.dates:astype("datetime64[ns]"):compute():to_table(), "astype datetime")
    local na = d:isna():sum()
    local nn = d:notna():sum()
    for c, v in pairs(E.isna) do
      assert.equal(v, na:to_dict()[c], "isna " .. c)
      assert.equal(E.notna[c], nn:to_dict()[c], "notna " .. c)
    end
    assert.same(d.columns, d:isna().columns)
    local ok, err = pcall(function() return d.w:astype("int64"):compute() end)
    assert.is_false(ok)
    assert.matches("does not parse as int64", tostring(err), 1, true)
  end)

  it("bad calls fail at the caller's line with what was wrong", function()
    if skip() then return end
    local d = small()
    local line
    local ok, err = pcall(function()
      line = debug.getinfo(1, "l").currentline; local r = d.w.str:contains("["); return r
    end)
    assert.is_false(ok)
    assert.matches("dataframe_str_spec.lua:" .. line .. ": .str.contains: bad pattern '['", tostring(err), 1, true)
    ok, err = pcall(function() return d.v.str:lower() end)
    assert.is_false(ok)
    assert.matches(".str: the series 'v' is int64, not string", tostring(err), 1, true)
    ok, err = pcall(function() return d.w.str:slice(0, 2, 0) end)
    assert.matches("step cannot be zero", tostring(err), 1, true)
    ok, err = pcall(function() return d.w.str:title() end)
    assert.matches(".str has no method 'title'", tostring(err), 1, true)
  end)

  it("the same results on sync, threads and a local cluster", function()
    if skip() then return end
    local d = small()
    local q = d[d.w.str:contains("ta", { na = false })].v:sum()
    local l = d.u.str:len():sum()
    local expect_len = 0
    for _, v in ipairs(E.u_len) do if v ~= cjson.null then expect_len = expect_len + v end end
    local c = ldask.Client({ n_workers = 2, threads_per_worker = 1 })
    local ok, err = pcall(function()
      for _, sch in ipairs({ "sync", "threads", "distributed" }) do
        assert.equal(E.filter_contains, q:compute({ scheduler = sch }), sch)
        assert.equal(expect_len, l:compute({ scheduler = sch }), sch)
      end
    end)
    c:close()
    if not ok then error(err, 0) end
  end)
end)
