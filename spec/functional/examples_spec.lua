-- Functional specs: the examples run end to end through bin/ldask.
local helpers = require "helpers"

describe("examples", function()
  it("sum_blocks sums an array in blocks through a delayed graph", function()
    local out, code = helpers.run_ldask(helpers.root .. "/examples/sum_blocks.lua 16 1000 2>&1")
    assert.equal(0, code, out)
    assert.matches("sum of 0..15999 in 16 blocks = 127992000 (expected 127992000)", out, 1, true)
  end)

  it("make_pipeline writes its report from files made by earlier tasks", function()
    local dir = helpers.tmpdir() .. "/pipe"
    local out, code = helpers.run_ldask(helpers.root .. "/examples/make_pipeline.lua " .. dir .. " 2>&1")
    assert.equal(0, code, out)
    assert.matches("files=8 lines=8000", out, 1, true)
    assert.is_truthy(io.open(dir .. "/raw8.stats"))
  end)

  it("cluster_futures estimates pi with futures on a local cluster", function()
    local out, code = helpers.run_ldask(helpers.root .. "/examples/cluster_futures.lua 3 20000 2>&1")
    assert.equal(0, code, out)
    assert.matches("batch 3/3: %d+ hits", out)
    local pi = tonumber(out:match("pi ~ ([%d.]+) from 60000 samples on 2 workers"))
    assert.is_truthy(pi, out)
    assert.is_true(math.abs(pi - math.pi) < 0.1, out)
  end)

  it("dataframe_csv runs the seed's groupby line on generated CSV files", function()
    local dir = helpers.tmpdir() .. "/dfex"
    local out, code = helpers.run_ldask(helpers.root .. "/examples/dataframe_csv.lua " .. dir .. " 2000 2>&1")
    assert.equal(0, code, out)
    assert.matches("npartitions=5, timestamp: datetime64[ns]", out, 1, true)
    assert.matches("timestamp\n1 +[%d.]+\n2 +[%d.]+\n3 +[%d.]+\n4 +[%d.]+\n5 +[%d.]+\nName: volume, dtype: float64", out)
    assert.matches("volume of trades above 250:%s+%d+", out)
  end)
end)
