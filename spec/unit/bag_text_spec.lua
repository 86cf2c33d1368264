-- Specs of ldask.bag's text input and output: read_text blocks aligned to
-- lines (boundary cases), gzip, read_json and its malformed-line errors,
-- to_textfiles, and the C reader of core/io/textblocks through the FFI.
local bag = require "ldask.bag"
local helpers = require "helpers"
local textio = require "ldask.bag.textio"
local cjson = require "cjson"

local schedulers = { "sync" }
if pcall(require, "ldask.scheduler.threads") then schedulers[#schedulers + 1] = "threads" end

for _, sched in ipairs(schedulers) do
local o = { scheduler = sched }

local function write(name, content) return helpers.write_tmp(name, content) end

local function gzip(name, content)
  local path = write(name, content)
  assert(os.execute("gzip -f " .. helpers.shell_quote(path)) == 0 or true)
  return path .. ".gz"
end

-- Every blocksize from 1 to the file size + 1 gives the same lines.
local function check_all_blocksizes(path, expected)
  local size = assert(textio.file_size(path))
  for bs = 1, size + 1 do
    local b = bag.read_text(path, { blocksize = bs })
    assert.same(expected, b:compute(o), "blocksize " .. bs)
    assert.equal(#expected, b:count():compute(o), "count, blocksize " .. bs)
  end
end

describe("ldask.bag.read_text on " .. sched, function()
  it("never splits or duplicates a line at any block size", function()
    check_all_blocksizes(write("plain.txt", "alpha\nbeta\ngamma\n"), { "alpha", "beta", "gamma" })
  end)

  it("keeps a last line without a trailing newline", function()
    check_all_blocksizes(write("nonl.txt", "one\ntwo"), { "one", "two" })
  end)

  it("strips CRLF line endings and keeps empty lines", function()
    check_all_blocksizes(write("crlf.txt", "a\r\n\r\nbb\r\nc\n\n"), { "a", "", "bb", "c", "" })
  end)

  it("keeps line endings on request", function()
    local p = write("keep.txt", "a\r\nb\nc")
    assert.same({ "a\r\n", "b\n", "c" }, bag.read_text(p, { keep_newlines = true }):compute(o))
  end)

  it("reads an empty file as an empty partition", function()
    local p = write("empty.txt", "")
    local b = bag.read_text(p, { blocksize = 10 })
    assert.equal(1, b.npartitions)
    assert.same({}, b:compute(o))
  end)

  it("handles a block size smaller than a line and a line exactly at a boundary", function()
    local p = write("long.txt", string.rep("x", 50) .. "\n" .. "yy\n" .. string.rep("z", 30))
    local b = bag.read_text(p, { blocksize = 7 })
    assert.equal(12, b.npartitions) -- 84 bytes / 7
    assert.same({ string.rep("x", 50), "yy", string.rep("z", 30) }, b:compute(o))
    -- "abc\n" ends at byte 4, so the second line starts exactly at block 2
    check_all_blocksizes(write("exact.txt", "abc\ndef\nghi\n"), { "abc", "def", "ghi" })
  end)

  it("reads lines longer than the reader's chunk", function()
    local long = string.rep("q", 5000)
    local p = write("chunk.txt", "a\n" .. long .. "\nb\n")
    assert.same({ "a", long, "b" }, bag.read_text(p, { chunk = 64 }):compute(o))
  end)

  it("reads globs and lists of files in order, one partition per file by default", function()
    write("g-1.log", "one\ntwo\n")
    write("g-2.log", "three\n")
    local b = bag.read_text(helpers.tmpdir() .. "/g-*.log")
    assert.equal(2, b.npartitions)
    assert.same({ "one", "two", "three" }, b:compute(o))
    local l = bag.read_text({ helpers.tmpdir() .. "/g-2.log", helpers.tmpdir() .. "/g-1.log" })
    assert.same({ "three", "one", "two" }, l:compute(o))
    local wp = bag.read_text(helpers.tmpdir() .. "/g-2.log", { include_path = true }):compute(o)
    assert.same({ { "three", helpers.tmpdir() .. "/g-2.log" } }, wp)
    assert.equal(2, bag.read_text(helpers.tmpdir() .. "/g-*.log", { blocksize = "4B" }):take(2, o)[2] and 2)
  end)

  it("reads gzip files through zlib as one partition each", function()
    local lines = {}
    for i = 1, 2000 do lines[i] = "line " .. i end
    local gz = gzip("z.txt", table.concat(lines, "\n") .. "\n")
    local b = bag.read_text(gz, { blocksize = 100 })
    assert.equal(1, b.npartitions)
    assert.same(lines, b:compute(o))
    assert.same({ "line 1", "line 2" }, b:take(2, o))
  end)

  it("names the pattern of an empty glob and a missing file", function()
    assert.error_matches(function() bag.read_text(helpers.tmpdir() .. "/nothing-*.txt") end,
      "ldask.bag.read_text: no file matches '.*/nothing%-%*%.txt'")
    assert.error_matches(function() bag.read_text(helpers.tmpdir() .. "/missing.txt") end,
      "ldask.bag.read_text: .*/missing%.txt: No such file or directory")
    assert.error_matches(function() bag.read_text({}) end, "empty list")
    assert.error_matches(function() bag.read_text(write("bs.txt", "x"), { blocksize = "big" }) end, "blocksize must be")
    assert.error_matches(function() bag.read_text(write("c.txt", "x"), { compression = "lzma" }) end,
      "unknown compression 'lzma'")
    assert.error_matches(function() bag.read_text("x", { bogus = 1 }) end, "unknown option 'bogus'")
  end)

  it("reports a corrupt gzip file naming it", function()
    local p = write("bad.gz", "\31\139\8\0\0\0\0\0\0\3garbage-garbage-garbage")
    assert.error_matches(function() bag.read_text(p):compute(o) end, "bad%.gz")
  end)
end)

describe("ldask.bag.read_json on " .. sched, function()
  local good = '{"name":"Alice","v":1}\n{"name":"Bob","v":2}\n'
  local bad = good .. "{not json\n" .. '{"name":"Alice","v":3}\n'

  it("decodes JSON lines with lua-cjson", function()
    local p = write("good.jsonl", good)
    assert.same({ { name = "Alice", v = 1 }, { name = "Bob", v = 2 } }, bag.read_json(p):compute(o))
  end)

  it("names the file and line number of a malformed line, in any block", function()
    local p = write("bad.jsonl", bad)
    for _, bs in ipairs({ 1000, 30, 50 }) do
      assert.error_matches(function() bag.read_json(p, { blocksize = bs }):count():compute(o) end,
        "malformed JSON at .*bad%.jsonl:3: Expected")
    end
  end)

  it("skips and counts malformed lines with on_error='skip'", function()
    local p = write("skip.jsonl", bad)
    local b = bag.read_json(p, { on_error = "skip" })
    assert.equal(3, b:count():compute(o))
    assert.equal(2, b:filter(function(d) return d.name == "Alice" end):count():compute(o))
    assert.error_matches(function() bag.read_json(p, { on_error = "ignore" }) end, "on_error must be 'raise' or 'skip'")
    assert.equal(1, b:malformed():compute(o))
    assert.equal(1, b:filter(function() return false end):malformed():compute(o))
    assert.equal(0, bag.read_json(write("ok.jsonl", good)):malformed():compute(o))
    assert.equal(1, bag.read_text(p):map(cjson.decode):malformed():compute(o))
    assert.error_matches(function() bag.read_text(p):malformed() end, "does not come from read_json")
  end)

  it("runs the seed's line: map(cjson.decode):filter(...):count()", function()
    local p = write("seed.jsonl", good .. '{"name":"Alice","v":3}\n')
    local b = bag.read_text(p)
    assert.equal(2, b:map(cjson.decode):filter(function(d) return d.name == "Alice" end):count():compute(o))
    local fr = b:map(cjson.decode):pluck("name"):frequencies({ sort = true }):compute(o)
    assert.same({ { "Alice", 2 }, { "Bob", 1 } }, fr)
  end)

  it("reports errors of user functions on text with file and line", function()
    local p = write("seedbad.jsonl", bad)
    assert.error_matches(function() bag.read_text(p):map(cjson.decode):count():compute(o) end,
      "seedbad%.jsonl:3: Expected object key")
  end)
end)

describe("bag:to_textfiles on " .. sched, function()
  it("writes one file per partition and reads back, plain and gzip", function()
    local dir = helpers.tmpdir()
    local b = bag.from_sequence({ "a", "b", "c", 4, true }, { npartitions = 2 })
    local files = b:to_textfiles(dir .. "/out-*.txt")
    assert.same({ dir .. "/out-0.txt", dir .. "/out-1.txt" }, files)
    local f = assert(io.open(dir .. "/out-0.txt", "rb"))
    assert.equal("a\nb\nc\n", f:read("*a"))
    f:close()
    assert.same({ "a", "b", "c", "4", "true" }, bag.read_text(dir .. "/out-*.txt"):compute(o))
    local gz = b:to_textfiles(dir .. "/gz-*.txt.gz")
    local fh = assert(io.open(gz[1], "rb"))
    assert.equal("\31\139", fh:read(2))
    fh:close()
    assert.same({ "a", "b", "c", "4", "true" }, bag.read_text(dir .. "/gz-*.txt.gz"):compute(o))
  end)

  it("creates missing directories, as dask does, and names one it cannot create", function()
    local dir = helpers.tmpdir()
    local b = bag.from_sequence({ 1, 2, 3 }, { npartitions = 2 })
    assert.same({ dir .. "/a/b/0.txt", dir .. "/a/b/1.txt" }, b:to_textfiles(dir .. "/a/b/*.txt"))
    assert.same({ "1", "2", "3" }, bag.read_text(dir .. "/a/b/*.txt"):compute(o))
    local f = assert(io.open(dir .. "/file", "wb"))
    f:close()
    local ok, err = pcall(function() return b:to_textfiles(dir .. "/file/sub/*.txt") end)
    assert.is_false(ok)
    assert.matches("cannot create directory " .. dir:gsub("%p", "%%%0") .. "/file", tostring(err))
  end)

  it("accepts a name function and a list, and delays with compute=false", function()
    local dir = helpers.tmpdir()
    local b = bag.from_sequence({ "x", "y" }, { npartitions = 2 })
    assert.same({ dir .. "/n0.txt", dir .. "/n1.txt" }, b:to_textfiles(function(i) return dir .. "/n" .. i .. ".txt" end))
    local la, lb = dir .. "/" .. sched .. "-l-a.txt", dir .. "/" .. sched .. "-l-b.txt"
    local item = b:to_textfiles({ la, lb }, { compute = false })
    assert.is_nil(io.open(la))
    assert.same({ la, lb }, item:compute(o))
    assert.same({ "x", "y" }, bag.read_text(dir .. "/" .. sched .. "-l-*.txt"):compute(o))
  end)

  it("refuses elements that are not text and paths without '*'", function()
    local dir = helpers.tmpdir()
    local b = bag.from_sequence({ "x", {} }, { npartitions = 2 })
    assert.error_matches(function() b:to_textfiles(dir .. "/t-*.txt", o) end, "element 1 of the partition for .*t%-1%.txt is a table")
    assert.error_matches(function() b:to_textfiles(dir .. "/plain.txt") end, "needs a '%*'")
  end)
end)
end
