-- examples/dataframe_csv.lua: the seed talk's dataframe line in Lua.
-- Writes daily CSV files of trades (timestamp, symbol, price, volume), then
--   df = dd.read_csv('data/2015-*-*.csv')
--   df.groupby(df.timestamp.day).volume.mean()
-- as ldask.dataframe, on the threaded scheduler.
--   ldask examples/dataframe_csv.lua [workdir] [rows per day]
local dd = ldask.dataframe

local dir = arg[1] or os.tmpname() .. ".d"
local rows = tonumber(arg[2]) or 20000
os.execute("mkdir -p '" .. dir .. "/data'")
local names = { "Alice", "Bob", "Charlie", "Dan", "Edith", "Frank" }
local seed = 42
local function rand() -- a small LCG: the same files on every run
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed / 2147483648
end
for day = 1, 5 do
  local out = assert(io.open(string.format("%s/data/2015-01-%02d.csv", dir, day), "w"))
  out:write("timestamp,symbol,price,volume\n")
  for i = 0, rows - 1 do
    local s = math.floor(i * 86400 / rows)
    out:write(string.format("2015-01-%02d %02d:%02d:%02d,%s,%.4f,%d\n", day, s / 3600, s / 60 % 60, s % 60,
      names[math.floor(rand() * #names) + 1], 10 + rand() * 490, math.floor(rand() * 10000) + 1))
  end
  out:close()
end

local df = dd.read_csv(dir .. "/data/2015-*-*.csv", { parse_dates = { "timestamp" } })
print(df)
print(df:head(3))
print()

-- The seed's line
print(df:groupby(df.timestamp.dt.day).volume:mean():compute())
print()

print(df:groupby("symbol"):agg({ price = { "min", "max" }, volume = "sum" }):compute())
print()
print("volume of trades above 250:", df[df.price:gt(250)].volume:sum():compute())
