-- Unit specs of the client's fast paths (lua/ldask/client/): update-graph
-- headers written field by field decode to the same table as the generic
-- encoder's, and the client's cull + index finds what optimize.cull and
-- graph.index find.
local mp = require "ldask.client.mp"
local graphs = require "ldask.client.graphs"
local graph = require "ldask.graph"
local optimize = require "ldask.optimize"

local function sorted(t)
  local c = {}
  for i, v in ipairs(t) do c[i] = v end
  table.sort(c)
  return c
end

describe("client update-graph headers", function()
  local tasks = {
    { key = "a-1", deps = {} },
    { key = "b-2", deps = { "a-1" } },
    { key = "c-3", deps = { "a-1", "b-2" } },
  }

  it("are columns, with dependencies inside the message as indices", function()
    local nf, pr = { 1, 2, 1 }, { 5, -4294967296 + 6, 7.5 }
    local h = mp.decode(mp.update_graph(tasks, 1, 3, nf, pr, 2, { "w1", "w2" }, { "c-3", "b-2" }))
    assert.same({
      op = "update-graph", keys = { "a-1", "b-2", "c-3" }, nframes = { 1, 2, 1 },
      priority = { 5, -4294967296 + 6, 7 }, ndeps = { 0, 1, 2 }, deps = { 0, 0, 1 },
      retries = 2, workers = { "w1", "w2" }, wanted = { "c-3", "b-2" },
    }, h)
  end)

  it("writes a slice without retries or workers; keys outside it by name", function()
    local h = mp.decode(mp.update_graph(tasks, 2, 3, { nil, 1, 1 }, { nil, 1, 2 }, nil, nil, {}))
    assert.equal("update-graph", h.op)
    assert.same({ "b-2", "c-3" }, h.keys)
    assert.same({ 1, 2 }, h.ndeps)
    assert.same({ "a-1", "a-1", 0 }, h.deps)
    assert.is_nil(h.retries)
    assert.is_nil(h.workers)
    assert.same({}, h.wanted)
  end)

  it("leaves out deps when no task has any", function()
    local h = mp.decode(mp.update_graph({ { key = "x", deps = {} } }, 1, 1, { 1 }, { 3 }, nil, nil, { "x" }))
    assert.is_nil(h.deps)
    assert.same({ 0 }, h.ndeps)
  end)

  it("refuses a key that msgpack headers cannot carry, naming the field", function()
    local bad = { { key = "k", deps = { function() end } } }
    assert.has_error(function() mp.update_graph(bad, 1, 1, { 1 }, { 1 }, nil, nil, {}) end,
      "msgpack header: cannot encode a function at header.key")
  end)
end)

describe("client header decoding", function()
  it("decodes header after header with one reader, each into its own table", function()
    local a = mp.decode(mp.encode({ op = "a", keys = { "x", "y" } }))
    local b = mp.decode(mp.encode({ op = "b", n = 3 }))
    assert.same({ op = "a", keys = { "x", "y" } }, a)
    assert.same({ op = "b", n = 3 }, b)
  end)

  it("refuses bytes that are not one msgpack map, saying why", function()
    local h, err = mp.decode("\145\1") -- an array
    assert.is_nil(h)
    assert.matches("expected a msgpack map", err)
    h, err = mp.decode(mp.encode({ op = "x" }) .. "\1")
    assert.is_nil(h)
    assert.matches("1 trailing bytes", err)
    h, err = mp.decode("\129\162o")
    assert.is_nil(h)
    assert.matches("truncated", err)
    -- and still decodes afterwards
    assert.same({ op = "ok" }, mp.decode(mp.encode({ op = "ok" })))
  end)
end)

describe("client cull and index", function()
  local function inc(x) return x + 1 end
  local function add(...) local s = 0 for i = 1, select("#", ...) do s = s + select(i, ...) end return s end

  local function check(g, keys)
    local out, deps, ix = graphs.cull_index(g, keys)
    local out2, deps2 = optimize.cull(g, keys)
    local ix2 = graph.index(out2, deps2)
    local n = 0
    for k, v in pairs(out2) do
      n = n + 1
      assert.equal(v, out[k])
      assert.same(sorted(deps2[k]), sorted(deps[k]))
    end
    for k in pairs(out) do assert.is_not_nil(out2[k], k) end
    assert.equal(n, ix.n)
    assert.equal(ix2.n, ix.n)
    -- the index agrees with the deps: CSR rows hold the dependency indices
    for i = 1, ix.n do
      local row = {}
      for p = ix.offsets[i - 1], ix.offsets[i] - 1 do row[#row + 1] = ix.keys[ix.cdeps[p] + 1] end
      assert.same(sorted(deps[ix.keys[i]]), sorted(row))
      assert.equal(i, ix.index[ix.keys[i]])
    end
    -- and orders like graph.index's
    local order = graph.order(ix)
    local pos = {}
    for p, i in ipairs(order) do pos[ix.keys[i]] = p end
    for k, d in pairs(deps) do
      for _, dk in ipairs(d) do assert.is_true(pos[dk] < pos[k], dk .. " before " .. k) end
    end
  end

  it("finds the same tasks and dependencies as optimize.cull + graph.index", function()
    local g = {
      x = 1, y = { inc, "x" }, z = { add, "x", "y", "x", 3, "not-a-key" },
      nested = { add, { inc, "y" }, "z" }, r = { inc, graph.ref("z") },
      alias = "r", tbl = { add, "x", unused = "y" }, q = { inc, graph.quote("x") },
      unused = { inc, 5 },
    }
    check(g, { "alias", "nested", "tbl", "q" })
    check(g, { "z" })
  end)

  it("handles wide fan-ins and repeated arguments", function()
    local g, t = {}, { add }
    for i = 1, 100 do g["k" .. i] = i; t[#t + 1] = "k" .. i; t[#t + 1] = "k" .. ((i % 7) + 1) end
    g.total = t
    check(g, { "total" })
    local _, deps = graphs.cull_index(g, { "total" })
    assert.equal(100, #deps.total)
  end)

  it("reports a reference to a missing key like graph.task_deps", function()
    local g = { a = { inc, graph.ref("nope") } }
    assert.has_error(function() graphs.cull_index(g, { "a" }) end, "task 'a' depends on missing key 'nope'")
  end)
end)
