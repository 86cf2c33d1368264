-- examples/bag_wordcount.lua: word count over text files with ldask.bag:
-- read lines in blocks, split into words, count with frequencies, show the
-- ten most common, and write the counts out as gzip text, one file per
-- partition.
--   ldask examples/bag_wordcount.lua [files-glob] [outdir]
local bag = ldask.bag

local glob = arg[1] or "README.md"
local outdir = arg[2] or os.tmpname() .. ".d"
os.execute("mkdir -p '" .. outdir .. "'")

local words = bag.read_text(glob, { blocksize = "64KB" })
  :map(function(line)
    local w = {}
    for word in line:lower():gmatch("[%a']+") do w[#w + 1] = word end
    return w
  end)
  :flatten()

local counts = words:frequencies({ sort = true })
local top = counts:take(10, { scheduler = "threads" })
for i, p in ipairs(top) do print(string.format("%2d. %-16s %d", i, p[1], p[2])) end

local files = counts:repartition(1)
  :map(function(p) return p[1] .. "\t" .. p[2] end)
  :to_textfiles(outdir .. "/counts-*.txt.gz", { scheduler = "threads" })
print("wrote " .. table.concat(files, ", "))
