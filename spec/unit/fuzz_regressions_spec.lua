-- spec/unit/fuzz_regressions_spec.lua: the fuzzers' reproducers that reach
-- Lua (fuzz/regressions/, docs/fuzzing.md) replayed through the public API:
-- each malformed codec header and .npy file gets a clear error, never a
-- crash or a huge allocation. (make fuzz-regress replays every one of them
-- in the sanitized harnesses too.)
local codec = require "ldask.codec"
local da = require "ldask.array"

local root = debug.getinfo(1, "S").source:sub(2):match("(.*)/spec/unit/") or "."

local function files(dir)
  local out = {}
  local p = io.popen("ls '" .. root .. "/fuzz/regressions/" .. dir .. "' 2>/dev/null")
  for f in p:lines() do out[#out + 1] = root .. "/fuzz/regressions/" .. dir .. "/" .. f end
  p:close()
  return out
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

describe("fuzz regressions", function()
  it("has the reproducers", function()
    assert.is_true(#files("codec") >= 2)
    assert.is_true(#files("npy") >= 2)
  end)

  it("codec: each malformed header is refused with a codec.decode message", function()
    for _, path in ipairs(files("codec")) do
      local d = read(path)
      -- the harness format: byte 1 = number of buffers (none in these)
      assert.equal(0, d:byte(1) % 4, path)
      local before = collectgarbage("count")
      local ok, err = pcall(codec.decode, d:sub(2), nil)
      assert.is_false(ok, path)
      assert.matches("^codec%.decode: malformed header", err, nil, path)
      assert.is_true(collectgarbage("count") - before < 4096, path .. " allocated too much")
    end
  end)

  it("codec: table sizes are checked against the header's bytes", function()
    -- a plain header of one table announcing 2^20 array slots in 9 bytes
    local h = "\1P\10\255\0\0\16\0"
    local ok, err = pcall(codec.decode, h, nil)
    assert.is_false(ok)
    assert.matches("announces 1048576 array", err)
    -- and a real table still decodes
    local v = codec.decode(codec.encode({ 1, 2, { x = 0 / 0 } }))
    assert.equal(2, v[2])
    assert.is_true(v[3].x ~= v[3].x)
  end)

  it("npy: shapes whose size overflows or empty arrays of huge axes are refused or empty", function()
    for _, path in ipairs(files("npy")) do
      local ok, x = pcall(da.from_npy, path)
      if ok then
        assert.equal(0, x.size, path)
      else
        assert.matches("npy", tostring(x), nil, path)
      end
    end
  end)
end)
