-- ldask.dataframe's second groupby milestone against pandas on seeded data:
-- split_out (hash-partitioned output: every key in exactly one output
-- partition, each partition sorted), groupby nunique, and custom
-- Aggregation(chunk, agg, finalize) as dask's dd.Aggregation, alone and
-- mixed with built-in statistics; on sync, threads and a local cluster.
-- Skipped without pandas.
local cjson = require "cjson"
local ldask = require "ldask"
local dd = require "ldask.dataframe"
local pandas = require "pandas"

local GEN = [==[
import sys, json, os
import numpy as np, pandas as pd
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(5)
n = 8000
names = ["n%04d" % i for i in range(1500)] + ["Grüße", "日本"]
df = pd.DataFrame({
  "k": rng.integers(0, 2500, n),
  "s": [names[j] for j in rng.integers(0, len(names), n)],
  "x": np.round(rng.normal(0, 5, n), 2),
  "y": rng.integers(0, 12, n),
})
df.loc[rng.integers(0, n, 300), "x"] = np.nan
df.loc[rng.integers(0, n, 100), "s"] = None
for p in range(4):
    df.iloc[p * 2000:(p + 1) * 2000].to_csv(f"{out}/g-{p}.csv", index=False)
d = pd.concat([pd.read_csv(f"{out}/g-{p}.csv") for p in range(4)], ignore_index=True)
def num(v):
    v = float(v)
    return None if v != v else v
r = {}
g = d.groupby("k")
r["k_mean"] = {str(k): num(v) for k, v in g.x.mean().items()}
r["k_sum_y"] = {str(k): int(v) for k, v in g.y.sum().items()}
r["s_size"] = {k: int(v) for k, v in d.groupby("s").size().items()}
r["y_nunique_x"] = {str(k): int(v) for k, v in d.groupby("y").x.nunique().items()}
r["y_nunique_s"] = {str(k): int(v) for k, v in d.groupby("y").s.nunique().items()}
r["s_nunique_y"] = {k: int(v) for k, v in d.groupby("s").y.nunique().items()}
r["k_nunique_y"] = {str(k): int(v) for k, v in d.groupby("k").y.nunique().items()}
r["y_range"] = {str(k): num(v) for k, v in d.groupby("y").x.agg(lambda s: s.max() - s.min()).items()}
r["y_mean"] = {str(k): num(v) for k, v in d.groupby("y").x.mean().items()}
r["y_max"] = {str(k): num(v) for k, v in d.groupby("y").x.max().items()}
r["y_sumsq"] = {str(k): num(v) for k, v in d.groupby("y").x.agg(lambda s: (s * s).sum()).items()}
r["s_mean_x"] = {k: num(v) for k, v in d.groupby("s").x.mean().items()}
m = d.groupby(["y", "s"]).k.nunique()
r["ys_nunique_k"] = {"%d|%s" % kv: int(v) for kv, v in m.items()}
m2 = d.groupby(["y", "s"]).k.agg(lambda s: s.max() - s.min())
r["ys_range_k"] = {"%d|%s" % kv: int(v) for kv, v in m2.items()}
json.dump(r, open(f"{out}/expected.json", "w"))
]==]

local have = pandas.available()
local dir, E

local close = pandas.close

-- In-memory series S (by key) against the pandas dict EXP (string keys).
local function close_dict(s, exp, what)
  local r = s:to_dict()
  local n = 0
  for k, v in pairs(exp) do
    n = n + 1
    local got = r[tonumber(k) or k]
    if got == nil then got = r[k] end
    close(got, v, what .. "[" .. k .. "]")
  end
  assert.equal(n, #s:index_values(), what .. ": number of groups")
end

describe("ldask.dataframe groupby: split_out, nunique, Aggregation against pandas", function()
  setup(function()
    if not have then return end
    dir, E = pandas.generate(GEN, "dfgroupby")
  end)

  local function df() return dd.read_csv(dir .. "/g-*.csv", { blocksize = 15000 }) end
  local function skip() return pandas.skip(have) end

  local custom_mean = dd.Aggregation("custom_mean",
    function(g) return g:count(), g:sum() end,
    function(c, s) return c:sum(), s:sum() end,
    function(c, s) return s / c end)
  local range = dd.Aggregation("range",
    function(g) return g:max(), g:min() end,
    function(mx, mn) return mx:max(), mn:min() end,
    function(mx, mn) return mx - mn end)

  it("split_out hash-partitions the groups: each key once, every output partition sorted", function()
    if skip() then return end
    local d = df()
    assert.is_true(d.npartitions >= 8)
    local r = d:groupby("k", { split_out = 4, split_every = 3 }).x:mean()
    assert.equal(4, r.npartitions)
    local seen, total = {}, 0
    for j = 0, 3 do
      local part = r:get_partition(j):compute()
      local keys = part:index_values()
      assert.is_true(#keys > 100, "partition " .. j .. " has few groups: " .. #keys)
      for i, k in ipairs(keys) do
        assert.is_nil(seen[k], "key " .. k .. " in two partitions")
        seen[k] = true
        if i > 1 then assert.is_true(keys[i - 1] < k, "partition " .. j .. " sorted") end
      end
      total = total + #keys
    end
    close_dict(r:compute(), E.k_mean, "split_out mean")
    close_dict(d:groupby("k", { split_out = 3 }).y:sum():compute(), E.k_sum_y, "split_out sum")
    close_dict(d:groupby("s", { split_out = 5 }):size():compute(), E.s_size, "split_out size (strings)")
  end)

  it("groupby nunique (missing values not counted; a group with none gives 0)", function()
    if skip() then return end
    local d = df()
    close_dict(d:groupby("y").x:nunique():compute(), E.y_nunique_x, "y.x.nunique")
    close_dict(d:groupby("y").s:nunique():compute(), E.y_nunique_s, "y.s.nunique")
    close_dict(d:groupby("s").y:nunique():compute(), E.s_nunique_y, "s.y.nunique")
    close_dict(d:groupby("k", { split_out = 3 }).y:nunique():compute(), E.k_nunique_y,
      "k.y.nunique split_out")
    local f = d:groupby("y")[{ "x", "s" }]:nunique():compute()
    assert.same({ "x", "s" }, f.columns)
    close_dict(f.x, E.y_nunique_x, "frame nunique x")
  end)

  it("groupby nunique and a custom Aggregation on several keys", function()
    if skip() then return end
    local d = df()
    local function check(f, col, what)
      local ys, ss, vs = f.y:to_table(), f.s:to_table(), f[col]:to_table()
      local n = 0
      for i = 1, #vs do
        n = n + 1
        assert.equal(E.ys_nunique_k[ys[i] .. "|" .. ss[i]], vs[i], what .. " " .. ys[i] .. "|" .. ss[i])
      end
      local m = 0
      for _ in pairs(E.ys_nunique_k) do m = m + 1 end
      assert.equal(m, n, what .. ": groups")
    end
    local f = d:groupby({ "y", "s" }).k:nunique():compute()
    assert.same({ "y", "s", "k" }, f.columns)
    check(f, "k", "nunique")
    local a = d:groupby({ "y", "s" }):agg({ k = { "nunique", "max" } }):compute()
    assert.same({ "y", "s", "k_nunique", "k_max" }, a.columns)
    check(a, "k_nunique", "agg nunique")
    -- a custom Aggregation on several keys, split_out and a deep tree
    local range = dd.Aggregation("range", function(g) return g:max(), g:min() end,
      function(mx, mn) return mx:max(), mn:min() end, function(mx, mn) return mx - mn end)
    local c = d:groupby({ "y", "s" }, { split_out = 2, split_every = 2 }):agg({ k = { range, "nunique" } }):compute()
    assert.same({ "y", "s", "k_range", "k_nunique" }, c.columns)
    local ys, ss, rg = c.y:to_table(), c.s:to_table(), c.k_range:to_table()
    for i = 1, #rg do assert.equal(E.ys_range_k[ys[i] .. "|" .. ss[i]], rg[i], "range " .. ys[i] .. "|" .. ss[i]) end
    check(c, "k_nunique", "custom beside nunique")
  end)

  it("a custom Aggregation: alone, in agg{} beside built-ins, through a deep tree", function()
    if skip() then return end
    local d = df()
    close_dict(d:groupby("y").x:agg(custom_mean):compute(), E.y_mean, "custom mean")
    close_dict(d:groupby("y", { split_every = 2 }).x:agg(range):compute(), E.y_range, "range")
    close_dict(d:groupby("s", { split_out = 2 }).x:agg(custom_mean):compute(), E.s_mean_x,
      "custom mean by string, split_out")
    local f = d:groupby("y"):agg({ x = { custom_mean, "max", "nunique", range } }):compute()
    assert.same({ "x_custom_mean", "x_max", "x_nunique", "x_range" }, f.columns)
    close_dict(f.x_custom_mean, E.y_mean, "mixed: custom")
    close_dict(f.x_max, E.y_max, "mixed: max")
    close_dict(f.x_nunique, E.y_nunique_x, "mixed: nunique")
    close_dict(f.x_range, E.y_range, "mixed: range")
  end)

  it("bad Aggregations and options fail at the caller's line", function()
    if skip() then return end
    local d = df()
    local ok, err = pcall(function() local a = dd.Aggregation("x", 1, 2); return a end)
    assert.is_false(ok)
    assert.matches("dataframe_groupby_spec.lua:%d+: Aggregation 'x': chunk and agg must be functions", tostring(err))
    ok, err = pcall(function() local g = d:groupby("y", { split_out = 0 }); return g end)
    assert.matches("dataframe_groupby_spec.lua:%d+: groupby: split_out must be a positive integer", tostring(err))
    local bad = dd.Aggregation("bad", function() return 1 end, function(s) return s end)
    ok, err = pcall(function() return d:groupby("y").x:agg(bad):compute() end)
    assert.is_false(ok)
    assert.matches("Aggregation 'bad': chunk must return in-memory series", tostring(err), 1, true)
  end)

  it("the same results on sync, threads and a local cluster", function()
    if skip() then return end
    local d = df()
    local q1 = d:groupby("k", { split_out = 3 }).x:mean()
    local q2 = d:groupby("y").x:agg(range)
    local q3 = d:groupby("y").s:nunique()
    local c = ldask.Client({ n_workers = 2, threads_per_worker = 1 })
    local ok, err = pcall(function()
      for _, sch in ipairs({ "sync", "threads", "distributed" }) do
        close_dict(q1:compute({ scheduler = sch }), E.k_mean, sch .. " split_out")
        close_dict(q2:compute({ scheduler = sch }), E.y_range, sch .. " Aggregation")
        close_dict(q3:compute({ scheduler = sch }), E.y_nunique_s, sch .. " nunique")
      end
    end)
    c:close()
    if not ok then error(err, 0) end
  end)
end)
