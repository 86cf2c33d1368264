-- ldask.dataframe's shuffled operations against pandas on seeded data:
-- merge (inner, left, right, outer; on one key, on two, left_on/right_on,
-- broadcast and shuffled, missing keys matching as in pandas, suffixes),
-- join on an index, drop_duplicates (first, last, none), set_index
-- (divisions known, each partition inside its division) and sort_values;
-- the task shuffle's stages on many partitions; sync, threads and a local
-- cluster. Rows are compared as sorted lists of canonical text (the row
-- order of a shuffled result is not pandas'). Skipped without pandas.
local cjson = require "cjson"
local ldask = require "ldask"
local dd = require "ldask.dataframe"
local pandas = require "pandas"
local shuffle = require "ldask.dataframe.shuffle"

local GEN = [==[
import sys, json, os
import numpy as np, pandas as pd
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(3)
nl, nr = 6000, 1500
left = pd.DataFrame({"k": rng.integers(0, 800, nl).astype(float), "s": ["s%d" % x for x in rng.integers(0, 40, nl)],
                     "a": rng.integers(0, 1000, nl), "x": np.round(rng.normal(0, 1, nl), 3)})
left.loc[rng.integers(0, nl, 40), "k"] = np.nan
right = pd.DataFrame({"k": rng.integers(400, 1200, nr).astype(float), "s": ["s%d" % x for x in rng.integers(0, 60, nr)],
                      "b": rng.integers(0, 50, nr), "x": np.round(rng.normal(5, 1, nr), 3)})
right.loc[rng.integers(0, nr, 10), "k"] = np.nan
for p in range(6):
    left.iloc[p * 1000:(p + 1) * 1000].to_csv(f"{out}/l-{p}.csv", index=False)
for p in range(3):
    right.iloc[p * 500:(p + 1) * 500].to_csv(f"{out}/r-{p}.csv", index=False)
L = pd.concat([pd.read_csv(f"{out}/l-{p}.csv") for p in range(6)], ignore_index=True)
R = pd.concat([pd.read_csv(f"{out}/r-{p}.csv") for p in range(3)], ignore_index=True)
def canon(v):
    if v is None or (isinstance(v, float) and v != v): return "NA"
    if isinstance(v, str): return v
    return "%.10g" % float(v)
def rows(d, cols):
    return sorted("|".join(canon(r[c]) for c in cols) for r in d.to_dict("records"))
r = {}
for how in ("inner", "left", "right", "outer"):
    m = L.merge(R, on="k", how=how)
    r["m_" + how] = rows(m, list(m.columns)); r["m_cols"] = list(m.columns)
    m2 = L.merge(R, on=["k", "s"], how=how)
    r["m2_" + how] = rows(m2, list(m2.columns)); r["m2_cols"] = list(m2.columns)
m3 = L.merge(R, left_on="a", right_on="b", how="inner", suffixes=("_l", "_r"))
r["m3"] = rows(m3, list(m3.columns)); r["m3_cols"] = list(m3.columns)
R1 = R.drop_duplicates(subset=["k"]).dropna(subset=["k"]).set_index("k")
j = L.join(R1[["b"]], on="k", how="left")
r["join"] = rows(j, ["k", "s", "a", "x", "b"])
for keep in ("first", "last", False):
    dd_ = L.drop_duplicates(subset=["s", "k"], keep=keep)
    r["dd_" + str(keep)] = rows(dd_, list(L.columns))
r["dd_all"] = rows(L.drop_duplicates(), list(L.columns))
si = L.set_index("a").sort_index()
r["si_index"] = [int(x) for x in si.index.tolist()]
r["si_rows"] = rows(si.reset_index(), ["a", "k", "s", "x"])
sv = L.sort_values("x")
r["sv_x"] = [float(x) for x in sv.x.tolist()]
r["sv_desc_a"] = [int(x) for x in L.sort_values("a", ascending=False).a.tolist()]
r["sv_k"] = [None if x != x else float(x) for x in L.sort_values("k").k.tolist()]
r["sv_s"] = L.sort_values("s").s.tolist()
r["sv_s_desc"] = L.sort_values("s", ascending=False).s.tolist()
ss = L.set_index("s").sort_index()
r["si_s"] = ss.index.tolist()
few = L[L.a > 990]
fm = few.merge(R, on="k", how="outer")
r["few_outer"] = rows(fm, list(fm.columns))
r["few_sorted"] = [int(x) for x in few.sort_values("a").a.tolist()]
r["few_dedup"] = rows(few.drop_duplicates(subset=["s"]), list(L.columns))
json.dump(r, open(f"{out}/expected.json", "w"))
]==]

local have = pandas.available()
local dir, E

local function canon(v)
  if v == nil then return "NA" end
  if type(v) == "string" then return v end
  if type(v) == "boolean" then return v and "1" or "0" end
  return string.format("%.10g", v)
end

-- Sorted canonical rows of in-memory frame F over COLS (default: its columns).
local function rows(f, cols)
  cols = cols or f.columns
  local t = f:to_columns()
  if cols[1] and not t[cols[1]] and f:index_values() then t[cols[1]] = f:index_values() end
  local out = {}
  for i = 1, dd.len(f) do
    local parts = {}
    for j, c in ipairs(cols) do parts[j] = canon(t[c][i]) end
    out[i] = table.concat(parts, "|")
  end
  table.sort(out)
  return out
end

local function same_rows(expected, got, what)
  assert.equal(#expected, #got, what .. ": row count")
  for i = 1, #expected do
    if expected[i] ~= got[i] then
      error(string.format("%s: row %d differs: ldask '%s', pandas '%s'", what, i, got[i], expected[i]), 2)
    end
  end
end

describe("ldask.dataframe shuffle: merge, join, drop_duplicates, set_index, sort_values against pandas", function()
  setup(function()
    if not have then return end
    dir, E = pandas.generate(GEN, "dfshuffle")
  end)

  local function left() return dd.read_csv(dir .. "/l-*.csv") end
  local function right() return dd.read_csv(dir .. "/r-*.csv") end
  local function skip() return pandas.skip(have) end

  it("plans dask's stages: at most MAX_BRANCH inputs per join task", function()
    for _, n in ipairs({ 2, 7, 32, 33, 100, 1024, 1025, 5000 }) do
      local stages, k = shuffle.plan(n)
      assert.is_true(k <= shuffle.MAX_BRANCH, n .. ": k " .. k)
      assert.is_true(k ^ stages >= n, n .. ": grid")
      assert.is_true(k == 1 or (k - 1) ^ stages < n or stages == 1, n .. ": smallest k")
    end
    assert.same({ 1, 32 }, { shuffle.plan(32) })
    assert.same({ 2, 6 }, { shuffle.plan(33) })
  end)

  it("merge on one key, every how (shuffled: 6 and 3 partitions; NaN keys match)", function()
    if skip() then return end
    local l, r = left(), right()
    assert.equal(6, l.npartitions)
    for _, how in ipairs({ "inner", "left", "right", "outer" }) do
      local m = l:merge(r, { on = "k", how = how })
      assert.equal(6, m.npartitions)
      assert.same(E.m_cols, m.columns)
      same_rows(E["m_" .. how], rows(m:compute()), "merge " .. how)
    end
  end)

  it("merge on two keys, and left_on/right_on with suffixes", function()
    if skip() then return end
    local l, r = left(), right()
    for _, how in ipairs({ "inner", "outer" }) do
      local m = dd.merge(l, r, { on = { "k", "s" }, how = how })
      assert.same(E.m2_cols, m.columns)
      same_rows(E["m2_" .. how], rows(m:compute()), "merge2 " .. how)
    end
    local m3 = l:merge(r, { left_on = "a", right_on = "b", suffixes = { "_l", "_r" } })
    assert.same(E.m3_cols, m3.columns)
    same_rows(E.m3, rows(m3:compute()), "left_on/right_on")
  end)

  it("broadcast when one side is one partition; the same rows as shuffled", function()
    if skip() then return end
    local l = left()
    local r1 = right():repartition({ npartitions = 1 })
    assert.equal(1, r1.npartitions)
    local m = l:merge(r1, { on = "k", how = "left" })
    assert.equal(6, m.npartitions)
    same_rows(E.m_left, rows(m:compute()), "broadcast left")
    for k in pairs(m:__ldask_graph()) do
      assert.is_nil(tostring(k):find("shuffle", 1, true), "a broadcast merge has no shuffle: " .. tostring(k))
    end
    same_rows(E.m_inner, rows(l:merge(r1, { on = "k" }):compute()), "broadcast inner")
  end)

  it("join on the other frame's index", function()
    if skip() then return end
    local l, r = left(), right()
    local r1 = r:drop_duplicates({ subset = "k" }):dropna({ subset = { "k" } }):set_index("k")
    local j = l:join(r1[{ "b" }], { on = "k" })
    same_rows(E.join, rows(j:compute(), { "k", "s", "a", "x", "b" }), "join")
  end)

  it("drop_duplicates keeps the first, the last or no repeated row", function()
    if skip() then return end
    local l = left()
    same_rows(E.dd_first, rows(l:drop_duplicates({ subset = { "s", "k" } }):compute()), "keep first")
    same_rows(E.dd_last, rows(l:drop_duplicates({ subset = { "s", "k" }, keep = "last" }):compute()), "keep last")
    same_rows(E.dd_False, rows(l:drop_duplicates({ subset = { "s", "k" }, keep = false }):compute()), "keep false")
    same_rows(E.dd_all, rows(l:drop_duplicates():compute()), "all columns")
  end)

  it("set_index: approximate quantile divisions, each partition sorted inside its division", function()
    if skip() then return end
    local l = left()
    local si = l:set_index("a")
    assert.is_not_nil(si.divisions)
    assert.equal(si.npartitions + 1, #si.divisions)
    for i = 2, #si.divisions do assert.is_true(si.divisions[i - 1] < si.divisions[i]) end
    local total = 0
    for i = 0, si.npartitions - 1 do
      local p = si:get_partition(i):compute()
      local idx = p:index_values()
      total = total + #idx
      for j, v in ipairs(idx) do
        assert.is_true(v >= si.divisions[i + 1] and v <= si.divisions[i + 2], "partition " .. i .. " holds " .. v)
        if j > 1 then assert.is_true(idx[j - 1] <= v) end
      end
      assert.is_true(#idx > 300, "balanced partitions: " .. #idx)
    end
    assert.equal(6000, total)
    local c = si:compute()
    assert.same(E.si_index, c:index_values())
    assert.same({ "k", "s", "x" }, c.columns)
    same_rows(E.si_rows, rows(c, { "a", "k", "s", "x" }), "set_index rows")
  end)

  it("sort_values ascending and descending, missing values last", function()
    if skip() then return end
    local l = left()
    assert.same(E.sv_x, l:sort_values("x"):compute().x:to_table())
    assert.same(E.sv_desc_a, l:sort_values("a", { ascending = false }):compute().a:to_table())
    local k = l:sort_values("k"):compute().k:to_table()
    for i = 1, #E.sv_k do
      local e = E.sv_k[i]
      if e == cjson.null then e = nil end
      assert.equal(e, k[i], "sort_values(k) row " .. i)
    end
  end)

  it("sort_values and set_index on strings (byte order, as Python's)", function()
    if skip() then return end
    local l = left()
    assert.same(E.sv_s, l:sort_values("s"):compute().s:to_table())
    assert.same(E.sv_s_desc, l:sort_values("s", { ascending = false }):compute().s:to_table())
    local si = l:set_index("s")
    assert.is_true(si.npartitions > 1)
    assert.equal("string", type(si.divisions[1]))
    assert.same(E.si_s, si:compute():index_values())
  end)

  it("empty partitions: a filter that leaves most partitions empty, then shuffled", function()
    if skip() then return end
    local l, r = left(), right()
    local few = l[l.a:gt(990)]
    same_rows(E.few_outer, rows(few:merge(r, { on = "k", how = "outer" }):compute()), "few outer merge")
    assert.same(E.few_sorted, few:sort_values("a"):compute().a:to_table())
    same_rows(E.few_dedup, rows(few:drop_duplicates({ subset = "s" }):compute()), "few drop_duplicates")
    local none = l[l.a:gt(5000)]
    assert.equal(0, dd.len(none:merge(r, { on = "k" }):compute()))
    assert.equal(0, dd.len(none:drop_duplicates():compute()))
  end)

  it("bad arguments fail at the caller's line", function()
    if skip() then return end
    local l, r = left(), right()
    local ok, err = pcall(function() local m = l:merge(r, { how = "cross" }); return m end)
    assert.matches("dataframe_shuffle_spec.lua:%d+: merge: how must be inner, left, right or outer", tostring(err))
    ok, err = pcall(function() local m = l:merge(r, { on = "nope" }); return m end)
    assert.matches("merge: left: no column 'nope'", tostring(err), 1, true)
    ok, err = pcall(function() local m = l:merge(r, { left_on = "s", right_on = "b" }); return m end)
    assert.matches("merge: key 1 is string on the left and int64 on the right", tostring(err), 1, true)
    ok, err = pcall(function() local m = l:drop_duplicates({ keep = "middle" }); return m end)
    assert.matches("dataframe_shuffle_spec.lua:%d+: drop_duplicates: keep must be", tostring(err))
    ok, err = pcall(function() local m = l:sort_values("zz"); return m end)
    assert.matches("dataframe_shuffle_spec.lua:%d+: sort_values: no column 'zz'", tostring(err))
    assert.is_false(ok)
  end)

  it("the same results on sync, threads and a local cluster (a shuffle of many partitions)", function()
    if skip() then return end
    local l = dd.read_csv(dir .. "/l-*.csv", { blocksize = 2500 })
    local r = right()
    assert.is_true(l.npartitions > 32, "more partitions than one stage takes: " .. l.npartitions)
    local m = l:merge(r, { on = "k", how = "outer" })
    local d = l:drop_duplicates({ subset = { "s", "k" } })
    local c = ldask.Client({ n_workers = 2, threads_per_worker = 1 })
    local ok, err = pcall(function()
      for _, sch in ipairs({ "sync", "threads", "distributed" }) do
        same_rows(E.m_outer, rows(m:compute({ scheduler = sch })), sch .. " merge")
        same_rows(E.dd_first, rows(d:compute({ scheduler = sch })), sch .. " drop_duplicates")
      end
    end)
    c:close()
    if not ok then error(err, 0) end
  end)
end)
