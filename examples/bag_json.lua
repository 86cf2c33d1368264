-- examples/bag_json.lua: the seed talk's bag example in Lua. Writes a few
-- JSON-lines files, then counts Alice's records, the frequencies of names,
-- and the total amount per name with foldby, in parallel.
--   ldask examples/bag_json.lua [workdir]
local cjson = require "cjson"
local bag = ldask.bag

local dir = arg[1] or os.tmpname() .. ".d"
os.execute("mkdir -p '" .. dir .. "'")
local names = { "Alice", "Bob", "Charlie", "Dan", "Edith" }
for f = 0, 3 do
  local out = assert(io.open(dir .. "/people-" .. f .. ".jsonl", "w"))
  for i = 1, 5000 do
    out:write(cjson.encode({ id = f * 5000 + i, name = names[(i * 7 + f) % 5 + 1], amount = i % 100 }), "\n")
  end
  out:close()
end

local opts = { scheduler = "threads" }
local b = bag.read_text(dir .. "/people-*.jsonl")

-- The seed's line: cjson travels to the executors by module reference, the
-- lambda by value.
print("Alice's records:", b:map(cjson.decode):filter(function(d) return d.name == "Alice" end):count():compute(opts))

for _, p in ipairs(b:map(cjson.decode):pluck("name"):frequencies({ sort = true }):compute(opts)) do
  print("", p[1], p[2])
end

local totals = bag.read_json(dir .. "/people-*.jsonl")
  :foldby("name", function(acc, d) return acc + d.amount end, 0, function(a, c) return a + c end)
  :compute(opts)
table.sort(totals, function(x, y) return x[1] < y[1] end)
for _, p in ipairs(totals) do print("total", p[1], p[2]) end

print("top 3 amounts:", table.concat(bag.read_json(dir .. "/people-*.jsonl"):pluck("amount"):topk(3):compute(opts), " "))
print("first record:", cjson.encode(bag.read_json(dir .. "/people-*.jsonl"):take(1, opts)[1]))
