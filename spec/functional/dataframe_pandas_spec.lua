-- Cross-checks ldask.dataframe against pandas (an independent
-- implementation) when /usr/bin/python3 has pandas: Python writes seeded
-- CSV files (ints, floats with NaN, unicode and quoted strings with
-- missing values, bools, datetimes with NaT, a small-int key; a gzip copy;
-- a header-only file = an empty partition) and computes a battery of
-- results with pandas as JSON; ldask reads the same files in small blocks
-- (lines cut at block edges) and must agree. Skipped without pandas.
local cjson = require "cjson"
local ldask = require "ldask"
local dd = require "ldask.dataframe"
local pandas = require "pandas"

local GEN = [==[
import sys, json, os, gzip, shutil
import numpy as np, pandas as pd
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
n = 3000
words = ["alpha", "beta", "Grüße", "日本", "naïve", "x,y", 'say "hi"', ""]
df = pd.DataFrame({
  "i": rng.integers(-50, 1000, n),
  "f": np.round(rng.normal(0, 10, n), 3),
  "s": [words[j] for j in rng.integers(0, len(words), n)],
  "b": rng.integers(0, 2, n).astype(bool),
  "t": pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 90 * 86400, n), unit="s"),
  "k": rng.integers(0, 7, n),
})
df.loc[rng.integers(0, n, 100), "f"] = np.nan
df.loc[rng.integers(0, n, 50), "t"] = pd.NaT
df.loc[rng.integers(0, n, 60), "s"] = None
df.s = df.s.replace("", "NA")
for p in range(3):
    df.iloc[p * 1000:(p + 1) * 1000].to_csv(f"{out}/part-{p}.csv", index=False)
with open(f"{out}/part-0.csv", "rb") as a, gzip.open(f"{out}/gz.csv.gz", "wb") as b:
    shutil.copyfileobj(a, b)
df.iloc[0:0].to_csv(f"{out}/part-3.csv", index=False)
with open(f"{out}/mixed.csv", "w") as f:
    f.write("a,b\n")
    for i in range(1500):
        f.write("%d,%d\n" % (i, i * 2))
    f.write("oops,7\n")
    f.write("12,x\n")

d = pd.concat([pd.read_csv(f"{out}/part-{p}.csv", parse_dates=["t"]) for p in range(3)], ignore_index=True)
r = {}
def num(v):
    v = float(v)
    return None if v != v else v
r["len"] = len(d)
r["dtypes"] = {c: str(d[c].dtype) for c in d.columns}
for c in ("i", "f"):
    for a in ("sum", "mean", "count", "min", "max", "std", "var"):
        r[c + "_" + a] = num(getattr(d[c], a)())
r["s_count"] = int(d.s.count())
r["t_min"] = str(d.t.min()); r["t_max"] = str(d.t.max()); r["t_count"] = int(d.t.count())
r["filter_sum"] = int(d[d.f > 0.5].i.sum())
r["filter_len"] = int(len(d[d.f > 0.5]))
r["arith"] = num((d.i * 2 + d.f).sum())
r["div_mean"] = num((d.f / d.i).mean())
r["cmp_and"] = int(((d.i > 100) & (d.f < 0)).sum())
r["assign"] = num(d.assign(g=d.i * d.f).g.sum())
for fld in ("year", "month", "day", "hour", "minute", "second", "dayofweek"):
    r["dt_" + fld] = num(getattr(d.t.dt, fld).sum())
r["isna_f"] = int(d.f.isna().sum())
r["isna_s"] = int(d.s.isna().sum())
r["eq_s"] = int((d.s == "Grüße").sum())
r["ne_s"] = int((d.s != "日本").sum())
g = d.groupby("k")
for a in ("sum", "mean", "count", "min", "max", "std", "var"):
    r["gk_f_" + a] = [num(x) for x in getattr(g.f, a)().tolist()]
    r["gk_i_" + a] = [num(x) for x in getattr(g.i, a)().tolist()]
for a in ("first", "last"):
    r["gk_f_" + a] = [num(x) for x in getattr(g.f, a)().tolist()]
    r["gk_s_" + a] = [None if x != x else x for x in getattr(g.s, a)().tolist()]
    r["gk_t_" + a] = [str(x) for x in getattr(g.t, a)().tolist()]
r["gk_size"] = [int(x) for x in g.size().tolist()]
r["gk_keys"] = [int(x) for x in g.size().index.tolist()]
gm = d.groupby(["k", "b"]).f.mean()
r["gm_k"] = [int(a) for a, b in gm.index.tolist()]; r["gm_b"] = [bool(b) for a, b in gm.index.tolist()]
r["gm_mean"] = [num(x) for x in gm.tolist()]
gm2 = d.groupby([d.t.dt.month, "s"]).i.sum()
r["gm2_month"] = [int(a) for a, b in gm2.index.tolist()]; r["gm2_s"] = [b for a, b in gm2.index.tolist()]
r["gm2_sum"] = [int(x) for x in gm2.tolist()]
gs = d.groupby("s")
r["gs_keys"] = gs.f.mean().index.tolist()
r["gs_mean"] = [num(x) for x in gs.f.mean().tolist()]
r["gs_size"] = [int(x) for x in gs.size().tolist()]
gd = d.groupby(d.t.dt.day)
r["gd_keys"] = [int(x) for x in gd.i.mean().index.tolist()]
r["gd_mean"] = [num(x) for x in gd.i.mean().tolist()]
gb = d.groupby("b")
r["gb_sum"] = [num(x) for x in gb.i.sum().tolist()]
agg = g.agg({"f": ["min", "max"], "i": "mean"})
r["agg_f_min"] = [num(x) for x in agg[("f", "min")].tolist()]
r["agg_f_max"] = [num(x) for x in agg[("f", "max")].tolist()]
r["agg_i_mean"] = [num(x) for x in agg[("i", "mean")].tolist()]
r["head_i"] = [int(x) for x in d.i.head(3).tolist()]
r["head_s"] = [None if x != x else x for x in d.s.head(8).tolist()]
r["fltr_gk"] = [num(x) for x in d[d.f > 0].groupby("k").i.sum().tolist()]
r["fillna_sum"] = num(d.f.fillna(-1.5).sum())
r["fillna_s"] = int((d.s.fillna("zz") == "zz").sum())
r["dropna_len"] = len(d.dropna())
r["dropna_s_len"] = len(d.dropna(subset=["s"]))
r["dropna_f_sum"] = num(d.f.dropna().sum())
vc = d.k.value_counts()
r["vc_keys"] = [int(x) for x in vc.index.tolist()]; r["vc_counts"] = [int(x) for x in vc.tolist()]
vs = d.s.value_counts()
r["vs"] = {k: int(v) for k, v in vs.items()}
r["nunique_s"] = int(d.s.nunique()); r["nunique_k"] = int(d.k.nunique()); r["nunique_f"] = int(d.f.nunique())
r["rename_sum"] = int(d.rename(columns={"i": "j"}).j.sum())
r["arr_sum"] = num(d[d.f > 0].f.to_numpy().sum()); r["arr_len"] = int((d.f > 0).sum())
r["arr_i_mean"] = num(d.i.to_numpy().mean())
few = d[d.i > 990]
r["few_len"] = len(few); r["few_sum"] = num(few.f.sum()); r["few_mean"] = num(few.f.mean())
r["few_gk"] = [num(x) for x in few.groupby("k").f.max().tolist()]
r["few_gk_keys"] = [int(x) for x in few.groupby("k").f.max().index.tolist()]
r["few_head"] = [int(x) for x in few.i.head(4).tolist()]
d2 = pd.read_csv(f"{out}/part-0.csv", usecols=["s", "k"], na_values=["alpha"])
r["usecols_cols"] = list(d2.columns)
r["na_values_isna"] = int(d2.s.isna().sum())
dz = pd.read_csv(f"{out}/gz.csv.gz")
r["gz_sum"] = int(dz.i.sum()); r["gz_len"] = len(dz)
r["isin_len"] = int(d.k.isin([1, 3, 5]).sum()); r["isin_s"] = int(d.s.isin(["beta", "日本"]).sum())
r["between_len"] = int(d.i.between(100, 200).sum())
r["centered_sum"] = num((d.f - d.f.mean()).abs().sum())
r["above_mean_len"] = int(len(d[d.i > d.i.mean()]))
r["map_sum"] = num(d.i.map(lambda v: v * 0.5 + 1).sum())
r["map_s_len"] = int(d.s.dropna().map(len).sum())
r["unique_k"] = [int(x) for x in sorted(d.k.unique())]
r["unique_s_n"] = int(len(d.s.dropna().unique()))
r["concat_len"] = len(pd.concat([d, d[d.k == 2]])); r["concat_sum"] = int(pd.concat([d, d[d.k == 2]]).i.sum())
r["mp_sum"] = num(d.assign(z=d.i * 2)[d.f > 0].z.sum())
json.dump(r, open(f"{out}/expected.json", "w"))
]==]

local have = pandas.available()
local dir, E

local function close(a, b, what)
  if a == nil or b == nil then
    assert.are.equal(b, a, what)
    return
  end
  local tol = 1e-9 * math.max(1, math.abs(b))
  if math.abs(a - b) > tol then
    error(string.format("%s: ldask %.17g, pandas %.17g", what, a, b), 2)
  end
end

local function close_list(a, b, what)
  assert.are.equal(#b, #a, what .. " (length)")
  for i = 1, #b do close(a[i], b[i], what .. "[" .. i .. "]") end
end

describe("ldask.dataframe against pandas", function()
  setup(function()
    if not have then return end
    dir, E = pandas.generate(GEN, "dfpandas")
  end)

  local function df()
    return dd.read_csv(dir .. "/part-*.csv", { parse_dates = { "t" }, blocksize = 20000 })
  end

  local function skip() return pandas.skip(have) end

  it("reads the files in line-aligned blocks with pandas' dtypes and length", function()
    if skip() then return end
    local d = df()
    assert.is_true(d.npartitions > 4)
    assert.same({ "i", "f", "s", "b", "t", "k" }, d.columns)
    assert.same({ i = "int64", f = "float64", s = "string", b = "bool", t = "datetime64[ns]", k = "int64" }, d.dtypes)
    assert.equal(E.len, d:len())
    assert.equal(E.len, dd.len(d:compute()))
  end)

  it("reductions: sum, mean, count, min, max, std, var (NaN skipped)", function()
    if skip() then return end
    local d = df()
    for _, c in ipairs({ "i", "f" }) do
      for _, a in ipairs({ "sum", "mean", "count", "min", "max", "std", "var" }) do
        close(d[c][a](d[c]):compute(), E[c .. "_" .. a], c .. "." .. a)
      end
    end
    assert.equal(E.s_count, d.s:count():compute())
    assert.equal(E.t_count, d.t:count():compute())
    local col = require "ldask.dataframe.column"
    assert.equal(E.t_min, col.format_datetime(d.t:min():compute()))
    assert.equal(E.t_max, col.format_datetime(d.t:max():compute()))
  end)

  it("filters, arithmetic, comparisons, assign, isna", function()
    if skip() then return end
    local d = df()
    local m = d[d.f:gt(0.5)]
    assert.equal(E.filter_sum, m.i:sum():compute())
    assert.equal(E.filter_len, m:len())
    close((d.i * 2 + d.f):sum():compute(), E.arith, "i*2+f")
    close((d.f / d.i):mean():compute(), E.div_mean, "f/i")
    assert.equal(E.cmp_and, d.i:gt(100):and_(d.f:lt(0)):astype("int64"):sum():compute())
    close(d:assign({ g = d.i * d.f }).g:sum():compute(), E.assign, "assign")
    assert.equal(E.isna_f, d.f:isna():astype("int64"):sum():compute())
    assert.equal(E.isna_s, d.s:isna():astype("int64"):sum():compute())
    assert.equal(E.eq_s, d.s:eq("Grüße"):astype("int64"):sum():compute())
    assert.equal(E.ne_s, d.s:ne("日本"):astype("int64"):sum():compute())
  end)

  it("fillna, dropna, rename, drop", function()
    if skip() then return end
    local d = df()
    close(d.f:fillna(-1.5):sum():compute(), E.fillna_sum, "fillna")
    assert.equal(E.fillna_s, d.s:fillna("zz"):eq("zz"):astype("int64"):sum():compute())
    assert.equal(E.dropna_len, d:dropna():len())
    assert.equal(E.dropna_s_len, d:dropna({ subset = { "s" } }):len())
    close(d.f:dropna():sum():compute(), E.dropna_f_sum, "dropna sum")
    assert.equal(E.rename_sum, d:rename({ columns = { i = "j" } }).j:sum():compute())
    assert.same({ "i", "s", "b", "t", "k" }, d:drop({ "f" }).columns)
  end)

  it("to_array: a series as an ldask.array with one block per partition", function()
    if skip() then return end
    local d = df()
    local a = d[d.f:gt(0)].f:to_array()
    assert.equal(E.arr_len, a.shape[1])
    assert.equal(d.npartitions, #a.chunks[1])
    close(a:sum():compute(), E.arr_sum, "array sum")
    close(d.i:to_array():mean():compute(), E.arr_i_mean, "array mean")
  end)

  it("value_counts and nunique", function()
    if skip() then return end
    local d = df()
    local vc = d.k:value_counts():compute()
    assert.same(E.vc_counts, vc:to_table())
    assert.same(E.vc_keys, vc:index_values())
    assert.same(E.vs, d.s:value_counts():compute():to_dict())
    assert.equal(E.nunique_s, d.s:nunique():compute())
    assert.equal(E.nunique_k, d.k:nunique():compute())
    assert.equal(E.nunique_f, d.f:nunique():compute())
  end)

  it(".dt fields skip NaT", function()
    if skip() then return end
    local d = df()
    for _, f in ipairs({ "year", "month", "day", "hour", "minute", "second", "dayofweek" }) do
      close(d.t.dt[f]:sum():compute(), E["dt_" .. f], "dt." .. f)
    end
  end)

  it("groupby on an int column: every aggregation, sorted keys", function()
    if skip() then return end
    local d = df()
    local g = d:groupby("k")
    for _, a in ipairs({ "sum", "mean", "count", "min", "max", "std", "var" }) do
      close_list(g.f[a](g.f):compute():to_table(), E["gk_f_" .. a], "groupby(k).f." .. a)
      close_list(g.i[a](g.i):compute():to_table(), E["gk_i_" .. a], "groupby(k).i." .. a)
    end
    for _, a in ipairs({ "first", "last" }) do
      close_list(g.f[a](g.f):compute():to_table(), E["gk_f_" .. a], "groupby(k).f." .. a)
      assert.same(E["gk_s_" .. a], g.s[a](g.s):compute():to_table())
      assert.same(E["gk_t_" .. a], g.t[a](g.t):compute():to_table())
    end
    local sz = g:size():compute()
    assert.same(E.gk_size, sz:to_table())
    assert.same(E.gk_keys, sz:index_values())
    -- split_every 2: a deeper tree, the same result
    local g2 = d:groupby("k", { split_every = 2 })
    close_list(g2.f:mean():compute():to_table(), E.gk_f_mean, "split_every=2")
  end)

  it("groupby on unicode strings with missing values, a derived series and bools", function()
    if skip() then return end
    local d = df()
    local r = d:groupby("s").f:mean():compute()
    assert.same(E.gs_keys, r:index_values())
    close_list(r:to_table(), E.gs_mean, "groupby(s).f.mean")
    assert.same(E.gs_size, d:groupby("s"):size():compute():to_table())
    local r2 = d:groupby(d.t.dt.day).i:mean():compute()
    assert.same(E.gd_keys, r2:index_values())
    close_list(r2:to_table(), E.gd_mean, "groupby(t.dt.day).i.mean")
    close_list(d:groupby("b").i:sum():compute():to_table(), E.gb_sum, "groupby(b).i.sum")
    close_list(d[d.f:gt(0)]:groupby("k").i:sum():compute():to_table(), E.fltr_gk, "filtered groupby")
  end)

  it("empty partitions: a filter that leaves most partitions empty", function()
    if skip() then return end
    local d = df()
    local few = d[d.i:gt(990)]
    assert.equal(E.few_len, few:len())
    close(few.f:sum():compute(), E.few_sum, "sum")
    close(few.f:mean():compute(), E.few_mean, "mean")
    local g = few:groupby("k").f:max():compute()
    assert.same(E.few_gk_keys, g:index_values())
    close_list(g:to_table(), E.few_gk, "groupby max")
    assert.same(E.few_head, few.i:head(4):to_table())
    local none = d[d.i:gt(5000)]
    assert.equal(0, none:len())
    assert.equal(0, none.f:count():compute())
    local m = none.f:mean():compute()
    assert.is_true(m ~= m, "the mean of nothing is NaN")
    assert.equal(0, dd.len(none:groupby("k").f:sum():compute()))
    assert.equal(0, dd.len(none:compute()))
  end)

  it("groupby on several keys (columns and derived series), sorted lexicographically", function()
    if skip() then return end
    local d = df()
    local r = d:groupby({ "k", "b" }).f:mean():compute()
    assert.same({ "k", "b", "f" }, r.columns)
    assert.same(E.gm_k, r.k:to_table())
    assert.same(E.gm_b, r.b:to_table())
    close_list(r.f:to_table(), E.gm_mean, "groupby([k, b]).f.mean")
    local r2 = d:groupby({ d.t.dt.month, "s" }, { split_every = 3 }).i:sum():compute()
    assert.same(E.gm2_month, r2.t:to_table())
    assert.same(E.gm2_s, r2.s:to_table())
    assert.same(E.gm2_sum, r2.i:to_table())
  end)

  it("isin, between, map, unique, concat, a reduction as an operand, an in-memory assign in map_partitions", function()
    if skip() then return end
    local d = df()
    assert.equal(E.isin_len, d.k:isin { 1, 3, 5 }:astype("int64"):sum():compute())
    assert.equal(E.isin_s, d.s:isin { "beta", "日本" }:astype("int64"):sum():compute())
    assert.equal(E.between_len, d.i:between(100, 200):astype("int64"):sum():compute())
    close((d.f - d.f:mean()):abs():sum():compute(), E.centered_sum, "centered_sum")
    assert.equal(E.above_mean_len, d[d.i:gt(d.i:mean())]:len())
    close(d.i:map(function(v) return v * 0.5 + 1 end):sum():compute(), E.map_sum, "map_sum")
    -- characters, as Python's len (UTF-8 lead bytes)
    assert.equal(E.map_s_len, d.s:map(function(v) return select(2, v:gsub("[^\128-\191]", "")) end)
      :sum():compute())
    assert.same(E.unique_k, d.k:unique():compute():to_table())
    assert.equal(E.unique_s_n, dd.len(d.s:unique():compute()))
    local c = dd.concat { d, d[d.k:eq(2)] }
    assert.equal(d.npartitions * 2, c.npartitions)
    assert.equal(E.concat_len, c:len())
    assert.equal(E.concat_sum, c.i:sum():compute())
    local m = d:map_partitions(function(p) return p:assign { z = p.i * 2 }[p.f:gt(0)] end)
    close(m.z:sum():compute(), E.mp_sum, "mp_sum")
  end)

  it("agg of several aggregations", function()
    if skip() then return end
    local d = df()
    local r = d:groupby("k"):agg({ f = { "min", "max" }, i = "mean" }):compute()
    assert.same({ "f_min", "f_max", "i" }, r.columns)
    close_list(r.f_min:to_table(), E.agg_f_min, "agg f min")
    close_list(r.f_max:to_table(), E.agg_f_max, "agg f max")
    close_list(r.i:to_table(), E.agg_i_mean, "agg i mean")
  end)

  it("head reads the first partition only; strings keep quotes, commas and unicode", function()
    if skip() then return end
    local d = df()
    local h = d:head(8)
    assert.equal(8, dd.len(h))
    local s = h.s:to_table()
    for i = 1, 8 do
      if E.head_s[i] == cjson.null then assert.is_nil(s[i]) else assert.equal(E.head_s[i], s[i]) end
    end
    assert.same(E.head_i, d.i:head(3):to_table())
  end)

  it("usecols, na_values, gzip", function()
    if skip() then return end
    local d = dd.read_csv(dir .. "/part-0.csv", { usecols = { "s", "k" }, na_values = { "alpha" } })
    assert.same(E.usecols_cols, d.columns)
    assert.equal(E.na_values_isna, d.s:isna():astype("int64"):sum():compute())
    local z = dd.read_csv(dir .. "/gz.csv.gz")
    assert.equal(1, z.npartitions)
    assert.equal(E.gz_sum, z.i:sum():compute())
    assert.equal(E.gz_len, z:len())
  end)

  it("a value that does not fit its inferred column names file, line, column and the dtype= fix", function()
    if skip() then return end
    local d = dd.read_csv(dir .. "/mixed.csv", { blocksize = 4000 })
    assert.equal("int64", d.dtypes.a)
    local ok, err = pcall(function() return d.a:sum():compute() end)
    assert.is_false(ok)
    err = tostring(err)
    assert.matches("mixed.csv line 1502, column 'a': value 'oops' does not fit dtype int64", err, 1, true)
    assert.matches('dtype = { ["a"] = "string" }', err, 1, true)
    local ok2, err2 = pcall(function() return d.b:sum():compute() end)
    assert.is_false(ok2)
    assert.matches("line 1503, column 'b': value 'x'", tostring(err2), 1, true)
    assert.matches("dtypes were inferred from the first lines of", tostring(err2), 1, true)
    -- a dtype the user gave is named as theirs, not as inferred
    local given = dd.read_csv(dir .. "/mixed.csv", { dtype = { b = "int64" }, blocksize = 4000 })
    local ok3, err3 = pcall(function() return given.b:sum():compute() end)
    assert.is_false(ok3)
    assert.matches("column 'b': value 'x' does not fit dtype int64 (the dtype given for it)", tostring(err3), 1, true)
    -- forced by dtype=: strings, then the values compare as text
    local s = dd.read_csv(dir .. "/mixed.csv", { dtype = { a = "string", b = "string" }, blocksize = 4000 })
    assert.equal(1, s.a:eq("oops"):astype("int64"):sum():compute())
    assert.equal(1502, s.a:count():compute())
  end)

  it("the same results on the sync, threads and a local cluster", function()
    if skip() then return end
    local d = df()
    local q = d:groupby("k").f:mean()
    local s = d[d.f:gt(0.5)].i:sum()
    local c = ldask.Client({ n_workers = 2, threads_per_worker = 1 })
    local ok, err = pcall(function()
      for _, sch in ipairs({ "sync", "threads", "distributed" }) do
        close_list(q:compute({ scheduler = sch }):to_table(), E.gk_f_mean, sch)
        assert.equal(E.filter_sum, s:compute({ scheduler = sch }))
      end
    end)
    c:close()
    if not ok then error(err, 0) end
  end)
end)
