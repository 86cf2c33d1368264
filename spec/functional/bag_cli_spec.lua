-- Functional specs of ldask.bag: scripts run by bin/ldask as a user runs
-- them (the global ldask preloaded), on the threaded scheduler when it is
-- there, with real files, gzip written by zlib and read by gzip(1).
local helpers = require "helpers"

local sched = pcall(require, "ldask.scheduler.threads") and "threads" or "sync"

local function script(name, body)
  return helpers.write_tmp(name, "local SCHED = " .. string.format("%q", sched) .. "\n" .. body)
end

local function records(n)
  local names = { "Alice", "Bob", "Charlie" }
  local out = {}
  for i = 1, n do
    out[i] = string.format('{"id": %d, "name": "%s", "amount": %.2f, "tags": ["t%d"]}', i,
      names[(i - 1) % 3 + 1], (i % 17) * 1.25, i % 4)
  end
  return table.concat(out, "\n") .. "\n"
end

describe("ldask.bag from the ldask program", function()
  it("runs the seed's JSON pipeline over several files", function()
    local dir = helpers.tmpdir()
    os.execute("mkdir -p " .. dir .. "/fj")
    for f = 0, 2 do helpers.write_tmp("fj/part-" .. f .. ".jsonl", records(300)) end
    local path = script("seed.lua", [[
local cjson = require "cjson"
local b = ldask.bag.read_text(arg[1] .. "/fj/*.jsonl", { blocksize = 4000 })
local n = b:map(cjson.decode):filter(function(d) return d.name == "Alice" end):count():compute{ scheduler = SCHED }
local fr = b:map(cjson.decode):pluck("name"):frequencies{ sort = true }:compute{ scheduler = SCHED }
local s = ldask.bag.read_json(arg[1] .. "/fj/*.jsonl"):pluck("amount"):sum():compute{ scheduler = SCHED }
print(b.npartitions > 3, n, fr[1][1], fr[1][2], string.format("%.2f", s))
]])
    local out, code = helpers.run_ldask(path .. " " .. dir .. " 2>&1")
    assert.equal(0, code, out)
    local expect_sum = 0
    for i = 1, 300 do expect_sum = expect_sum + (i % 17) * 1.25 end
    assert.equal(string.format("true\t300\tAlice\t300\t%.2f\n", expect_sum * 3), out)
  end)

  it("fails a script with the file and line of a malformed record", function()
    local dir = helpers.tmpdir()
    os.execute("mkdir -p " .. dir .. "/bad")
    helpers.write_tmp("bad/a.jsonl", records(5) .. "{\"name\": oops}\n" .. records(2))
    local path = script("bad.lua", [[
print(ldask.bag.read_json(arg[1] .. "/bad/*.jsonl"):count():compute{ scheduler = SCHED })
]])
    local out, code = helpers.run_ldask(path .. " " .. dir .. " 2>&1")
    assert.is_not.equal(0, code)
    assert.matches("malformed JSON at .*/bad/a%.jsonl:6:", out)
  end)

  it("writes gzip files that gzip(1) reads, one per partition", function()
    local dir = helpers.tmpdir()
    os.execute("mkdir -p " .. dir .. "/gzout")
    local path = script("gz.lua", [[
local b = ldask.bag.range(1000, { npartitions = 3 }):map(function(i) return "line " .. i end)
local files = b:to_textfiles(arg[1] .. "/gzout/part-*.txt.gz", { scheduler = SCHED })
print(#files)
]])
    local out, code = helpers.run_ldask(path .. " " .. dir .. " 2>&1")
    assert.equal(0, code, out)
    assert.equal("3\n", out)
    local p = io.popen("zcat " .. dir .. "/gzout/part-0.txt.gz " .. dir .. "/gzout/part-1.txt.gz "
      .. dir .. "/gzout/part-2.txt.gz | wc -l; zcat " .. dir .. "/gzout/part-2.txt.gz | tail -1")
    local res = p:read("*a")
    p:close()
    assert.equal("1000\nline 999\n", res)
  end)
end)
