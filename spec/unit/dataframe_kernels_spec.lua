-- Unit spec of the second dataframe milestone's in-memory kernels: row
-- hashes (both string forms alike, -0.0 = 0.0), hash splits (every row in
-- one piece, order kept), the hash join's pairs for each `how`, NaN keys
-- matching, drop_duplicates' keep rules, the .str kernels on edge cases
-- (empty strings, negative slices, regex translation) and the shuffle's
-- stage plan against a brute-force routing of every row.
local ffi = require "ffi"
local column = require "ldask.dataframe.column"
local frame = require "ldask.dataframe.frame"
local hashpart = require "ldask.dataframe.hashpart"
local merge = require "ldask.dataframe.merge"
local strings = require "ldask.dataframe.strings"
local shuffle = require "ldask.dataframe.shuffle"

local I64P = ffi.typeof("int64_t *")

local function col(vals, n, kind) return column.from_values(vals, n or #vals, kind, "spec") end

local function hashes(c)
  local h = hashpart.row_hash({ c }, c.n)
  local p = ffi.cast("uint64_t *", column.ptr(h, I64P))
  local out = {}
  for i = 0, c.n - 1 do out[i + 1] = tostring(p[i]) end
  return out
end

describe("dataframe kernels", function()
  it("hash strings alike in plain and dictionary form, and -0.0 like 0.0", function()
    local plain = col({ "a", "Grüße", "a", nil, "" }, 5, "string")
    local codes = column.alloc(5, "int32")
    local cp = column.ptr(codes, ffi.typeof("int32_t *"))
    cp[0], cp[1], cp[2], cp[3], cp[4] = 0, 1, 0, -1, 2
    local dict = column.dict(codes, col({ "a", "Grüße", "" }), 5)
    assert.same(hashes(plain), hashes(dict))
    local h = hashes(plain)
    assert.equal(h[1], h[3])
    assert.are_not.equal(h[1], h[2])
    local f = hashes(col({ 0.0, -0.0, 1.5 }, 3, "float64"))
    assert.equal(f[1], f[2])
  end)

  it("splits a frame into pieces holding every row once, in order", function()
    local n = 200
    local k, v = {}, {}
    for i = 1, n do k[i] = (i * 7) % 13; v[i] = i end
    local f = frame.new({ "k", "v" }, { k = col(k, n, "int64"), v = col(v, n, "int64") }, n)
    local parts = hashpart.split(f, { f._cols.k }, 5)
    assert.equal(5, #parts)
    local seen, where = 0, {}
    for p, part in ipairs(parts) do
      local ks, vs = frame.values(part._cols.k), frame.values(part._cols.v)
      for i = 1, #vs do
        seen = seen + 1
        if i > 1 then assert.is_true(vs[i - 1] < vs[i], "order kept") end
        assert.is_true(where[ks[i]] == nil or where[ks[i]] == p, "a key in one piece")
        where[ks[i]] = p
      end
    end
    assert.equal(n, seen)
  end)

  it("joins with pandas' pairs for every how; NaN keys match", function()
    local l = frame.new({ "k", "a" }, { k = col({ 1, 2, 2, nil }, 4, "float64"), a = col({ 10, 20, 21, 30 }) }, 4)
    local r = frame.new({ "k", "b" }, { k = col({ 2, 3, nil }, 3, "float64"), b = col({ 200, 300, 400 }) }, 3)
    local function run(how)
      local spec = { how = how, left_on = { "k" }, right_on = { "k" },
        names = { { "k", "k", "k" }, { "a", "l", "a" }, { "b", "r", "b" } } }
      local m = merge.merge_frames(spec, l, r)
      return m:to_rows()
    end
    assert.same({ { k = 2, a = 20, b = 200 }, { k = 2, a = 21, b = 200 }, { a = 30, b = 400 } }, run("inner"))
    assert.same({ { k = 1, a = 10 }, { k = 2, a = 20, b = 200 }, { k = 2, a = 21, b = 200 }, { a = 30, b = 400 } },
      run("left"))
    assert.same({ { k = 2, a = 20, b = 200 }, { k = 2, a = 21, b = 200 }, { k = 3, b = 300 }, { a = 30, b = 400 } },
      run("right"))
    assert.equal(5, #run("outer"))
  end)

  it("drop_duplicates keeps first, last or none; missing values are equal", function()
    local f = frame.new({ "k", "v" }, { k = col({ "a", "b", "a", nil, nil }, 5, "string"), v = col({ 1, 2, 3, 4, 5 }) }, 5)
    assert.same({ 1, 2, 4 }, frame.values(merge.dedupe(f, { "k" }, "first")._cols.v))
    assert.same({ 2, 3, 5 }, frame.values(merge.dedupe(f, { "k" }, "last")._cols.v))
    assert.same({ 2 }, frame.values(merge.dedupe(f, { "k" }, false)._cols.v))
  end)

  it(".str kernels: empty strings, negative slices and steps, \\d in patterns", function()
    local c = col({ "", "abc", "日本語", nil }, 4, "string")
    local function vals(m, args) return frame.values(strings.apply(c, m, args or {})) end
    assert.same({ 0, 3, 3 }, vals("len"))
    assert.same({ "", "bc", "本語" }, vals("slice", { start = -2 }))
    assert.same({ "", "cba", "語本日" }, vals("slice", { step = -1 }))
    assert.same({ "", "ac", "日語" }, vals("slice", { step = 2 }))
    local d = col({ "a1", "bb", "c22" }, 3, "string")
    assert.same({ true, false, true }, frame.values(strings.apply(d, "contains", { pat = "\\d", regex = true, case = true })))
    assert.same({ false, false, true }, frame.values(strings.apply(d, "contains", { pat = "\\d{2}", regex = true, case = true })))
    assert.same({ false, false, false }, frame.values(strings.apply(d, "contains", { pat = ".", regex = false, case = true })))
    assert.same({ "A1", "BB", "C22" }, frame.values(strings.apply(d, "upper", {})))
  end)

  it("routes every row to its output partition through the shuffle's stages", function()
    for _, n in ipairs({ 5, 40, 70 }) do
      local stages, k = shuffle.plan(n)
      local grid = k ^ stages
      -- a row of output p starts in any grid cell and must end in cell p
      for p = 0, n - 1, 7 do
        local cell = (p * 31 + 3) % grid
        for s = 0, stages - 1 do
          local step = k ^ s
          local want = math.floor(p / step) % k -- the split sends it to piece `want`
          local d = math.floor(cell / step) % k
          cell = cell + (want - d) * step -- the join of the cell whose digit s is `want` takes it
        end
        assert.equal(p, cell, "n " .. n .. " output " .. p)
      end
    end
  end)
end)
