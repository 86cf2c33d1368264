-- Specs of ldask.bag.json, the fast JSON-lines path (core/io/jsontape.c +
-- generated builders): every result and every error must be exactly
-- cjson.decode's, on hand-written edge cases and on random and mutated
-- documents, through both the signature builders and the token builder.
local json = require "ldask.bag.json"
local cjson = require "cjson"
local bag = require "ldask.bag"
local helpers = require "helpers"

local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) == "number" then
    if a ~= a then return b ~= b end
    return a == b and (a ~= 0 or 1 / a == 1 / b)
  end
  if type(a) ~= "table" then return a == b end
  if getmetatable(a) ~= getmetatable(b) then return false end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

-- Checks S against cjson on both paths; returns true when they agree.
local function agrees(s)
  local ok1, v1 = pcall(cjson.decode, s)
  for _, generic in ipairs({ false, true }) do
    local ok2, v2 = pcall(json.decode, s, generic)
    if ok1 ~= ok2 then return false, "ok differs" end
    if ok1 and not same(v1, v2) then return false, "value differs" end
    if not ok1 and v1 ~= v2 then return false, "message differs: " .. tostring(v2) end
  end
  return true
end

local cases = {
  '{"id": 0, "name": "Bob", "amount": -72.49, "tags": ["b", "b"]}', "[]", "{}", " [ 1 , 2 ] ", '"x"', "12",
  "-0", "-0.0", "0", "0.5", "1e5", "1E-3", "123456789012345", "1234567890123456", "0.1", "-1.25", "01", "1.",
  ".5", "[1,]", '{"a":1,}', '{"a":1,"a":2}', "true", "false", "null", "nul", "tru", "fals", "[true,false,null]",
  '{"a":{"b":{"c":[1,[2,[3]]]}}}', '"a\\nb"', '"\\u00e9"', '"é"', '{"a" : "b" }', '{"a":"b"} x', "", "  ",
  "[1 2]", '{"a" 1}', "0x10", "NaN", "-", "[-]", "1.5e", '"unterminated', '{"k":}', "3.14159265358979",
  "9007199254740993", "[[[[[[[]]]]]]]", '{"":""}', '"\t"', "2.2250738585072014e-308",
  "[1.7976931348623157e308]", "0.30000000000000004", "123.456", "-999999999999.999", '"a\0b"',
  '{"k":"a very long string value that is not interned at all"}', '{"a long key that is not interned": 1}',
  string.rep("[", 300) .. string.rep("]", 300), '{"x":[{"y":1},{"y":2,"z":[]}]}', '[{"a":1},{"a":1,"b":2}]',
}

describe("ldask.bag.json", function()
  it("agrees with cjson.decode on edge cases", function()
    for _, s in ipairs(cases) do
      local ok, why = agrees(s)
      assert(ok, string.format("%q: %s", s, tostring(why)))
    end
  end)

  it("agrees with cjson.decode on random and mutated documents", function()
    math.randomseed(20261125)
    local function rv(d)
      local r = math.random(8)
      if d > 4 then r = math.random(4) end
      if r == 1 then return math.random(-1e6, 1e6) / (10 ^ math.random(0, 6)) end
      if r == 2 then
        local t = {}
        for i = 1, math.random(0, 30) do t[i] = string.char(math.random(32, 126)) end
        return table.concat(t)
      end
      if r == 3 then return math.random(2) == 1 end
      if r == 4 then return math.random() * 10 ^ math.random(-20, 20) end
      if r <= 6 then
        local t = {}
        for i = 1, math.random(0, 4) do t[i] = rv(d + 1) end
        return t
      end
      local t = {}
      for _ = 1, math.random(0, 4) do t["k" .. math.random(10)] = rv(d + 1) end
      return t
    end
    for _ = 1, 3000 do
      local s = cjson.encode(rv(0))
      if math.random(3) == 1 and #s > 0 then
        local pos = math.random(#s)
        s = s:sub(1, pos - 1) .. string.char(math.random(0, 127)) .. s:sub(pos + 1)
      end
      local ok, why = agrees(s)
      assert(ok, string.format("%q: %s", s, tostring(why)))
    end
  end)

  it("reads files through the fast path with the same values as cjson", function()
    local lines = {}
    for i = 1, 500 do
      lines[i] = cjson.encode({ id = i, name = ({ "Ann", "Bo", "Cy" })[i % 3 + 1], v = i / 8,
        tags = (i % 5 == 0) and {} or { "t" .. (i % 4), "u" }, nested = { deep = { i } } })
    end
    lines[#lines + 1] = '{"esc": "a\\"b", "uni": "\\u00e9t\\u00e9", "n": null}'
    lines[#lines + 1] = '[1, 2.5e3, -0.0, 12345678901234567890]'
    local path = helpers.write_tmp("fast.jsonl", table.concat(lines, "\n") .. "\n")
    local expected = {}
    for i, l in ipairs(lines) do expected[i] = cjson.decode(l) end
    for _, sched in ipairs({ "sync", "threads" }) do
      if sched == "sync" or pcall(require, "ldask.scheduler.threads") then
        local got = bag.read_json(path, { blocksize = 3000 }):compute({ scheduler = sched })
        assert.equal(#expected, #got)
        for i = 1, #expected do assert(same(expected[i], got[i]), "line " .. i .. " on " .. sched) end
        local via_map = bag.read_text(path):map(cjson.decode):compute({ scheduler = sched })
        for i = 1, #expected do assert(same(expected[i], via_map[i]), "map line " .. i) end
      end
    end
  end)
end)
