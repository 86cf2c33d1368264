-- ldask.dataframe without pandas: the C value parsers (numbers exact
-- against strtod, ISO date-times against os.time arithmetic), the in-memory
-- frame (access, printing, tables of rows and columns), from_table,
-- map_partitions, head, and errors that name what was wrong at the
-- user's line.
local ffi = require "ffi"
local lib = require "ldask.native"
require "ldask.ffi.frame"
local ldask = require "ldask"
local dd = require "ldask.dataframe"
local column = require "ldask.dataframe.column"

local function parse_f64(s)
  local out = ffi.new("double[1]")
  if lib.ld_parse_f64(s, #s, out) ~= 0 then return nil end
  return out[0]
end

local function parse_dt(s)
  local out = ffi.new("int64_t[1]")
  if lib.ld_parse_datetime(s, #s, out) ~= 0 then return nil end
  return out[0]
end

describe("the C value parsers", function()
  it("parse decimals exactly as strtod does (fast path and fallback)", function()
    math.randomseed(11)
    local forms = { "%.4f", "%.1f", "%.17g", "%.3e", "%.10f", "%.0f", "%.15g" }
    for i = 1, 20000 do
      local v = (math.random() - 0.5) * 10 ^ math.random(-30, 30)
      local s = string.format(forms[i % #forms + 1], v)
      assert.equal(tonumber(s), parse_f64(s), s)
    end
    for _, s in ipairs({ "0", "-0.0", "+1.5", "1e22", "1e23", "9007199254740993", "123456789012345678901234",
      "0.1", "  42 ", "1.7976931348623157e308", "4.9e-324", "inf", "-inf", "nan", ".5", "5." }) do
      local want = tonumber((s:gsub("^%s+", ""):gsub("%s+$", "")))
      local got = parse_f64(s)
      if want ~= want then assert.is_true(got ~= got, s) else assert.equal(want, got, s) end
    end
    for _, s in ipairs({ "", "abc", "1.2.3", "1e", "0x10", "1,5", "--1" }) do
      assert.is_nil(parse_f64(s), s)
    end
  end)

  it("parse ISO date-times into ns since the epoch", function()
    local ns = 1000000000LL
    assert.equal(0LL, parse_dt("1970-01-01"))
    assert.equal(1420070400LL * ns, parse_dt("2015-01-01 00:00:00"))
    assert.equal((1420070400LL + 3661) * ns + 500000000LL, parse_dt("2015-01-01T01:01:01.5"))
    assert.equal(951782400LL * ns, parse_dt("2000-02-29"))
    assert.equal(-86400LL * ns, parse_dt("1969-12-31"))
    assert.equal((1420070400LL + 60) * ns, parse_dt("2015-01-01 00:01Z"))
    for _, s in ipairs({ "2015-13-01", "2015-02-30", "2015-1-1", "2001-02-29", "2015-01-01 24:00:00",
      "2015-01-01x", "yesterday" }) do
      assert.is_nil(parse_dt(s), s)
    end
    assert.equal("2015-01-01 01:01:01.500000000", column.format_datetime(parse_dt("2015-01-01T01:01:01.5")))
  end)
end)

describe("read_csv edge cases", function()
  local helpers = require "helpers"
  local function write(name, text)
    local path = helpers.tmpdir() .. "/" .. name
    local f = assert(io.open(path, "wb")); f:write(text); f:close()
    return path
  end

  it("CRLF, quotes with escapes and separators, blank lines, short lines, no final newline", function()
    local path = write("edge.csv", 'a,b,c\r\n1,"x, ""y""",2.5\r\n\r\n2,plain,\r\n3,"multi word",-1e3')
    local f = dd.read_csv(path):compute()
    assert.same({ 1, 2, 3 }, f.a:to_table())
    assert.same({ 'x, "y"', "plain", "multi word" }, f.b:to_table())
    assert.same({ 2.5, nil, -1000 }, f.c:to_table())
    local short = write("short.csv", "a,b,c\n1,2\n3,4,5\n")
    assert.same({ nil, 5 }, dd.read_csv(short):compute().c:to_table())
    local long = write("long.csv", "a,b\n1,2\n3,4,5\n")
    local ok, err = pcall(function() return dd.read_csv(long).a:sum():compute() end)
    assert.is_false(ok)
    assert.matches("long.csv line 3: expected 2 fields, saw 3", tostring(err), 1, true)
  end)

  it("a file of exactly one page ending in a number without a newline", function()
    local lines = { "x,y" }
    local size = 4
    local i = 0
    while size < 4096 - 16 do
      i = i + 1
      local l = string.format("%d,%d.25", i, i)
      lines[#lines + 1] = l
      size = size + #l + 1
    end
    local text = table.concat(lines, "\n") .. "\n"
    text = text .. string.rep("7", 4096 - #text - 2) .. ",9"
    assert.equal(4096, #text)
    local path = write("page.csv", text)
    for _, bs in ipairs({ 1000, false }) do
      local d = dd.read_csv(path, { blocksize = bs, dtype = { x = "float64", y = "float64" } })
      local r = d:compute()
      assert.equal(i + 1, dd.len(r))
      assert.equal(9, r.y:to_table()[i + 1])
    end
  end)

  it("gzip files are one partition each; sep and header = false; names", function()
    local path = write("semi.csv", "1;a\n2;b\n")
    local d = dd.read_csv(path, { sep = ";", header = false })
    assert.same({ "0", "1" }, d.columns)
    assert.same({ "a", "b" }, d["1"]:compute():to_table())
    local n = dd.read_csv(path, { sep = ";", header = false, names = { "k", "v" } })
    assert.same({ 1, 2 }, n.k:compute():to_table())
    os.execute("gzip -kf " .. path)
    local z = dd.read_csv(path .. ".gz", { sep = ";", header = false, blocksize = 2 })
    assert.equal(1, z.npartitions)
    assert.same({ "a", "b" }, z["1"]:compute():to_table())
  end)
end)

describe("the in-memory frame", function()
  local f = dd.from_table({ a = { 1, 2, 3 }, b = { 1.5, nil, -2.25 }, c = { "x", nil, "héllo" } }):compute()

  it("gives columns, length, rows and columns as Lua tables", function()
    assert.equal(3, dd.len(f))
    assert.same({ "a", "b", "c" }, f.columns)
    assert.same({ a = "int64", b = "float64", c = "string" }, f.dtypes)
    assert.same({ 1, 2, 3 }, f.a:to_table())
    assert.same({ 1, 2, 3 }, f["a"]:to_table())
    assert.same({ { a = 1, b = 1.5, c = "x" }, { a = 2 }, { a = 3, b = -2.25, c = "héllo" } }, f:to_rows())
    assert.same({ a = { 1, 2, 3 }, b = { 1.5, nil, -2.25 }, c = { "x", nil, "héllo" } }, f:to_columns())
    assert.same({ 1.5, 2, 3 }, { f.a:to_array():astype("float64"):tolist()[1] + 0.5, 2, 3 })
  end)

  it("prints like pandas: aligned columns, NaN, the elided middle rows", function()
    assert.equal(table.concat({
      "   a      b      c",
      "0  1   1.50      x",
      "1  2    NaN    NaN",
      "2  3  -2.25  héllo" }, "\n"), tostring(f):gsub("héllo", "héllo"))
    local t = {}
    for i = 1, 100 do t[i] = i - 1 end
    local big = tostring(dd.from_table({ x = t }):compute())
    assert.matches("^     x\n0    0\n", big)
    assert.matches("\n%.%.  %.%.\n95  95\n", big)
    assert.matches("%[100 rows x 1 columns%]$", big)
    assert.matches("Name: b, dtype: float64$", tostring(f.b))
  end)
end)

describe("the in-memory frame's pandas-like operations", function()
  local f = dd.from_table({ v = { 1, 2, 3, 4 }, w = { 1.5, nil, 3.5, 4.5 }, s = { "a", "b", "c", "d" } },
    { npartitions = 2, n = 4 }):compute()

  it("assigns, filters by masks, fills and drops missing values, renames and drops columns", function()
    local a = f:assign { z = f.v * 2, c = 1 }
    assert.same({ "s", "v", "w", "c", "z" }, a.columns)
    assert.same({ 2, 4, 6, 8 }, a.z:to_table())
    assert.same({ 3, 4 }, f[f.v:gt(2)].v:to_table())
    assert.same({ "a", "b", "d" }, f:filter(f.v:le(2):or_(f.v:eq(4))).s:to_table())
    assert.same({ 1.5, 0, 3.5, 4.5 }, f:fillna { w = 0 }.w:to_table())
    assert.same({ 1, 3, 4 }, f:dropna().v:to_table())
    assert.same({ 1, 3, 4 }, f.v[f.w:notna()]:to_table())
    assert.same({ "vv", "w" }, f:rename { v = "vv" }:drop("s").columns)
    assert.same({ false, true, false, false }, f.w:isna():to_table())
    assert.equal(4, f:len())
    assert.same({ 0.5, 1, 1.5, 2 }, (f.v:astype("float64") / 2):to_table())
    assert.has_error(function() f:drop("nope") end, "drop: no column 'nope'")
  end)

  it("prints groupbys and accessors by what they are", function()
    local d = dd.from_table({ k = { "a" }, v = { 1 } })
    assert.equal("ldask.dataframe.GroupBy<by=k, npartitions=1>", tostring(d:groupby("k")))
    assert.equal("ldask.dataframe.GroupBy<by=k, selected .v, npartitions=1>", tostring(d:groupby("k").v))
    assert.equal("ldask.dataframe .str accessor of series 'k'", tostring(d.k.str))
  end)

  it("names the fix for Lua's traps: == between a table and a number, #", function()
    local ok, err = pcall(function() return f[f.v == 3] end)
    assert.is_false(ok)
    assert.matches("dataframe_core_spec.lua:%d+: Frame indexed with a boolean: .*write df%[df.x:eq%(3%)%]", err)
    local d = dd.from_table({ v = { 1, 2 } })
    ok, err = pcall(function() return d[d.v == 3] end)
    assert.matches("dataframe_core_spec.lua:%d+: DataFrame indexed with a boolean", err)
    ok, err = pcall(function() return d.v[d.v == 3] end)
    assert.matches("dataframe_core_spec.lua:%d+: Series indexed with a boolean", err)
    assert.equal(4, f:len())
  end)

  it("serves map_partitions functions written as for pandas", function()
    local d = dd.from_table({ v = { 1, 2, 3, 4 } }, { npartitions = 2 })
    local m = d:map_partitions(function(p) return p:assign { z = p.v * 10 }[p.v:ne(3)] end)
    assert.same({ "v", "z" }, m.columns)
    assert.same({ 10, 20, 40 }, m.z:compute({ scheduler = "threads" }):to_table())
  end)
end)

describe("ldask.dataframe collections", function()
  local d = dd.from_table({ k = { 1, 2, 1, 2, 3, 1 }, v = { 1, 2, 3, 4, 5, 6 }, w = { 0.5, 1.5, 2.5, 3.5, 4.5, 5.5 } },
    { npartitions = 3 })

  it("from rows, select, head, len, map_partitions", function()
    local r = dd.from_table({ { x = 1, y = "a" }, { x = 2, y = "b" } })
    assert.same({ "x", "y" }, r.columns)
    assert.same({ "a", "b" }, r.y:compute():to_table())
    assert.same({ "v", "k" }, d[{ "v", "k" }].columns)
    local named = dd.from_table({ count = { 1, 2 }, sum = { 3, 4 } })
    assert.same({ 1, 2 }, named:col("count"):compute():to_table())
    assert.equal(7, named:col("sum"):sum():compute())
    assert.same({ 1, 2, 1, 2 }, d:head(4).k:to_table())
    assert.equal(6, d:len())
    local m = d:map_partitions(function(p) return p.v end)
    assert.equal("int64", m.dtype)
    assert.same({ 1, 2, 3, 4, 5, 6 }, m:compute():to_table())
    local m2 = d:map_partitions(function(p, k) return p.v end, 2, { meta = { name = "z", dtype = "int64" } })
    assert.equal("z", m2.name)
  end)

  it("takes reductions, Delayed values and futures as lazy operands", function()
    -- a reduction not yet computed, in arithmetic and filters (dask's df.v - df.v.mean())
    assert.same({ -2.5, -1.5, -0.5, 0.5, 1.5, 2.5 }, (d.v - d.v:mean()):compute():to_table())
    assert.equal("float64", (d.v - d.v:mean()).dtype)
    assert.equal("int64", (d.v - d.v:min()).dtype)
    assert.same({ 4, 5, 6 }, d[d.v:gt(d.v:mean())].v:compute():to_table())
    assert.same({ 6, 12, 18, 24, 30, 36 }, d:assign { z = d.v * d.v:max() }.z:compute():to_table())
    for _, sched in ipairs { "sync", "threads" } do
      local o = { scheduler = sched }
      local ten = ldask.delayed(function() return 10 end)()
      assert.equal(210, d:map_partitions(function(p, k) return p.v * k end, ten,
        { meta = { name = "v", dtype = "int64" } }):sum():compute(o), sched)
      assert.same({ -5, -4, -3, -2, -1, 0 }, d:map_partitions(function(p, m) return p.v - m end, d.v:max(),
        { meta = { name = "v", dtype = "int64" } }):compute(o):to_table(), sched)
    end
    -- no dtype to combine with, no meta to infer: errors that name the fix
    local dl = ldask.delayed(function() return 1 end)()
    local ok, err = pcall(function() return d.v - dl end)
    assert.is_false(ok)
    assert.matches("sub: Delayed%(.-%) has no known dtype to combine with a Series: compute it first", err)
    assert.matches("dataframe_core_spec.lua", err, 1, true)
    ok, err = pcall(function() return d:map_partitions(function(p) return p end, dl) end)
    assert.is_false(ok)
    assert.matches("map_partitions: argument 2 is lazy", err, 1, true)
    assert.matches("meta", err, 1, true)
  end)

  it("groupby size and agg with split_every, sorted by key", function()
    local s = d:groupby("k", { split_every = 2 }):size():compute()
    assert.same({ 1, 2, 3 }, s:index_values())
    assert.same({ 3, 2, 1 }, s:to_table())
    local a = d:groupby("k"):agg({ v = { "sum", "max" }, w = "mean" }):compute()
    assert.same({ 10, 6, 5 }, a.v_sum:to_table())
    assert.same({ 6, 4, 5 }, a.v_max:to_table())
    assert.same({ 17 / 6, 2.5, 4.5 }, a.w:to_table())
    assert.same({ [1] = 10, [2] = 6, [3] = 5 }, d:groupby("k").v:sum():compute():to_dict())
  end)

  it("datetimes: fields, floor, comparisons with ISO strings", function()
    local t = dd.from_table({ t = { "2015-01-01 10:30:00", "2015-01-03 23:59:59", nil, "2016-02-29" } },
      { dtype = { t = "datetime64[ns]" }, npartitions = 2 })
    assert.same({ 10, 23, nil, 0 }, t.t.dt.hour:compute():to_table())
    assert.same({ 3, 5, nil, 0 }, t.t.dt.dayofweek:compute():to_table())
    assert.same({ "2015-01-01 10:00:00", "2015-01-03 23:00:00", nil, "2016-02-29 00:00:00" },
      t.t.dt:floor("h"):compute():to_table())
    assert.equal(2, t.t:ge("2015-01-02"):astype("int64"):sum():compute())
    local ok, err = pcall(function() local r = t.t:gt("tomorrow"); return r end)
    assert.matches("gt: 'tomorrow' is not an ISO date%-time", err)
  end)

  it("raises at the user's line naming what was wrong", function()
    local line = debug.getinfo(1, "l").currentline
    local ok, err = pcall(function() local r = d.nope; return r end)
    assert.is_false(ok)
    assert.matches("no column or method 'nope' %(columns: k, v, w%)", err)
    ok, err = pcall(function() local r = d:groupby("zz"); return r end)
    assert.matches("dataframe_core_spec.lua:" .. (line + 4) .. ": groupby: no column 'zz'", err)
    ok, err = pcall(function() local r = d[d.v]; return r end)
    assert.matches("filter: the mask must be a bool Series, got dtype int64", err)
    ok, err = pcall(function() local r = d.v.dt.day; return r end)
    assert.matches("%.dt: the series 'v' is int64, not datetime64%[ns%]", err)
    ok, err = pcall(function() local r = dd.read_csv("/nonexistent/*.csv"); return r end)
    assert.matches("dataframe_core_spec.lua:%d+: read_csv: no file matches '/nonexistent/%*%.csv'", err)
    ok, err = pcall(function() local r = dd.from_table({ x = { 1, "a" } }); return r end)
    assert.matches("dataframe_core_spec.lua:%d+: from_table: column 'x': mixed value types", err)
    ok, err = pcall(function() local r = d.v + "a"; return r end)
    assert.matches("dataframe_core_spec.lua:%d+: add: not supported between int64 and string", err)
    ok, err = pcall(function() local r = d:groupby("k").v:agg("median"); return r end)
    assert.matches("agg: unknown aggregation median", err)
  end)
end)
