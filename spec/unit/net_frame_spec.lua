-- Unit specs of core/net framing and msgpack headers, through the FFI:
-- encode -> decode round trips, chunked input, truncated and garbage input.
local ffi = require "ffi"
require "ldask.ffi.net"
local lib = require "ldask.native"
local mp = require "ldask.client.mp"

local function buf_of(s)
  local b = lib.ld_buffer_new(#s)
  ffi.copy(b.data, s, #s)
  return b
end

-- Encodes header string H and frame strings into wire bytes.
local function wire(h, frames)
  frames = frames or {}
  local bufs = ffi.new("ld_buffer*[?]", #frames + 1)
  for i, f in ipairs(frames) do bufs[i - 1] = buf_of(f) end
  local m = lib.ld_msg_make(h, #h, bufs, #frames)
  for i = 1, #frames do lib.ld_buffer_release(bufs[i - 1]) end
  local enc = lib.ld_msg_encode(m)
  assert.equal(tonumber(lib.ld_msg_wire_size(m)), tonumber(enc.size))
  lib.ld_msg_free(m)
  local s = ffi.string(enc.data, enc.size)
  lib.ld_buffer_release(enc)
  return s
end

local function frames_of(m)
  local t = {}
  for i = 0, m.nframes - 1 do t[#t + 1] = ffi.string(m.frames[i].data, m.frames[i].size) end
  return t
end

local function new_reader() return ffi.gc(lib.ld_frame_reader_new(), lib.ld_frame_reader_free) end

describe("net framing", function()
  it("round-trips a header and raw frames, including empty ones", function()
    local big = string.rep("x", 100000)
    local s = wire("HDR", { "abc", "", big })
    assert.equal(4 + 8 * 4 + 3 + 3 + 0 + 100000, #s)
    local r = new_reader()
    assert.equal(0, lib.ld_frame_reader_feed(r, s, #s))
    local m = lib.ld_frame_reader_next(r)
    assert.is_not_nil(m)
    assert.same({ "HDR", "abc", "", big }, frames_of(m))
    lib.ld_msg_free(m)
    assert.is_nil(lib.ld_frame_reader_next(r) ~= nil and true or nil)
    assert.equal(0, lib.ld_frame_reader_partial(r))
  end)

  it("reassembles messages fed one byte at a time, several back to back", function()
    local s = wire("one", { "A" }) .. wire("two") .. wire("three", { "BB", "CCC" })
    local r = new_reader()
    for i = 1, #s do
      assert.equal(0, lib.ld_frame_reader_feed(r, s:sub(i, i), 1))
    end
    local got = {}
    while true do
      local m = lib.ld_frame_reader_next(r)
      if m == nil then break end
      got[#got + 1] = frames_of(m)
      lib.ld_msg_free(m)
    end
    assert.same({ { "one", "A" }, { "two" }, { "three", "BB", "CCC" } }, got)
  end)

  it("holds a truncated message as partial, without producing it", function()
    local s = wire("header", { "payload" })
    local r = new_reader()
    assert.equal(0, lib.ld_frame_reader_feed(r, s, #s - 3))
    assert.is_true(lib.ld_frame_reader_next(r) == nil)
    assert.equal(1, lib.ld_frame_reader_partial(r))
    assert.equal(0, lib.ld_frame_reader_feed(r, s:sub(-3), 3))
    local m = lib.ld_frame_reader_next(r)
    assert.same({ "header", "payload" }, frames_of(m))
    lib.ld_msg_free(m)
  end)

  it("refuses a zero or huge frame count with a message", function()
    local r = new_reader()
    assert.is_true(lib.ld_frame_reader_feed(r, "\0\0\0\0", 4) < 0)
    assert.matches("frame count 0 not in 1..65536", ffi.string(lib.ld_frame_reader_error(r)))
    -- and refuses everything after
    assert.is_true(lib.ld_frame_reader_feed(r, "x", 1) < 0)
    r = new_reader()
    assert.is_true(lib.ld_frame_reader_feed(r, "\255\255\255\255", 4) < 0)
    assert.matches("frame count 4294967295", ffi.string(lib.ld_frame_reader_error(r)))
  end)

  it("refuses a frame length over the limit", function()
    local r = new_reader()
    local s = "\1\0\0\0" .. "\0\0\0\0\0\0\0\64" -- header of 2^62 bytes
    assert.is_true(lib.ld_frame_reader_feed(r, s, #s) < 0)
    assert.matches("frame 0 length 4611686018427387904 exceeds the limit",
      ffi.string(lib.ld_frame_reader_error(r)))
    r = new_reader()
    s = "\1\0\0\0" .. "\0\0\0\0\0\0\0\0"
    assert.is_true(lib.ld_frame_reader_feed(r, s, #s) < 0)
    assert.matches("empty header frame", ffi.string(lib.ld_frame_reader_error(r)))
  end)

  it("survives random garbage without crashing", function()
    math.randomseed(42)
    for _ = 1, 200 do
      local n = math.random(1, 64)
      local t = {}
      for i = 1, n do t[i] = string.char(math.random(0, 255)) end
      local s = table.concat(t)
      local r = lib.ld_frame_reader_new()
      local rc = lib.ld_frame_reader_feed(r, s, #s)
      assert.is_true(rc == 0 or rc < 0)
      lib.ld_frame_reader_free(r)
    end
  end)
end)

describe("net framing budgets", function()
  local function le(v, n)
    local b = {}
    for i = 1, n do b[i] = string.char(v % 256); v = math.floor(v / 256) end
    return table.concat(b)
  end
  local function budgets()
    local mm, mb, held = ffi.new("uint64_t[1]"), ffi.new("uint64_t[1]"), ffi.new("uint64_t[1]")
    lib.ld_frame_budgets(mm, mb, held)
    return tonumber(mm[0]), tonumber(mb[0]), tonumber(held[0])
  end

  it("holds memory for the bytes received, not for the lengths announced", function()
    local _, _, held0 = budgets()
    local r = new_reader()
    -- a header of 3 bytes and a frame of 1 GiB announced, 3 MB of it sent
    local s = le(2, 4) .. le(3, 8) .. le(2 ^ 30, 8) .. "HDR"
    assert.equal(0, lib.ld_frame_reader_feed(r, s, #s))
    local mb = string.rep("m", 2 ^ 20)
    for _ = 1, 3 do assert.equal(0, lib.ld_frame_reader_feed(r, mb, #mb)) end
    local _, _, held3 = budgets()
    for _ = 1, 3 do assert.equal(0, lib.ld_frame_reader_feed(r, mb, #mb)) end
    local _, _, held = budgets()
    -- a frame over 4 MiB starts with 4 MiB, doubles as bytes come: 4 MiB
    -- for 3 MiB received, 8 for 6
    assert.is_true(held3 - held0 >= 4 * 2 ^ 20 and held3 - held0 <= 4 * 2 ^ 20 + 4096,
      "held " .. (held3 - held0))
    assert.is_true(held - held0 >= 8 * 2 ^ 20 and held - held0 <= 8 * 2 ^ 20 + 4096,
      "held " .. (held - held0))
    assert.equal(1, lib.ld_frame_reader_partial(r))
    lib.ld_frame_reader_free(ffi.gc(r, nil))
    local _, _, after = budgets()
    assert.equal(held0, after)
  end)

  it("completes grown frames (heap, mapped) with their bytes in order, then holds nothing", function()
    local _, _, held0 = budgets()
    local function big(n) -- N blocks of 100,000 bytes, each its own letter
      local parts = {}
      for i = 1, n do parts[i] = string.rep(string.char(65 + i % 26), 100000) end
      return table.concat(parts)
    end
    -- 10 MB: grown on the heap 4 -> 8 -> 10 MiB; 40 MB: a mapping (mremap)
    local a, b = big(100), big(400)
    local s = wire("H", { a, "tail", b })
    local r = new_reader()
    for i = 1, #s, 65536 do
      local j = math.min(#s, i + 65535)
      assert.equal(0, lib.ld_frame_reader_feed(r, s:sub(i, j), j - i + 1))
    end
    local m = lib.ld_frame_reader_next(r)
    local got = frames_of(m)
    assert.equal(4, #got)
    assert.equal("H", got[1])
    assert.is_true(got[2] == a, "the 10 MB frame differs")
    assert.equal("tail", got[3])
    assert.is_true(got[4] == b, "the 40 MB frame differs")
    assert.equal(0, tonumber(ffi.cast("uintptr_t", m.frames[1].data)) % 64)
    assert.equal(0, tonumber(ffi.cast("uintptr_t", m.frames[3].data)) % 64)
    lib.ld_msg_free(m)
    local _, _, held = budgets()
    assert.equal(held0, held)
  end)

  it("refuses a message over the reader's limit, naming it", function()
    local r = new_reader()
    lib.ld_frame_reader_set_limits(r, 100, 4)
    local s = le(2, 4) .. le(10, 8) .. le(200, 8)
    assert.is_true(lib.ld_frame_reader_feed(r, s, #s) < 0)
    assert.matches("frame 1 of 200 bytes makes the message larger than the maximum message " ..
      "size of 100 bytes %(max%-message%-size%)", ffi.string(lib.ld_frame_reader_error(r)))
    r = new_reader()
    lib.ld_frame_reader_set_limits(r, 100, 4)
    assert.is_true(lib.ld_frame_reader_feed(r, le(5, 4), 4) < 0)
    assert.matches("frame count 5 not in 1..4", ffi.string(lib.ld_frame_reader_error(r)))
  end)

  it("refuses what would pass the process's receive budget, and gives it back", function()
    local mm, mb, held0 = budgets()
    local M = 2 ^ 20
    lib.ld_frame_set_budgets(mm, held0 + 12.5 * M)
    local ok, err = pcall(function()
      -- a message larger than the whole budget: refused from its lengths
      local r = new_reader()
      local s = le(2, 4) .. le(3, 8) .. le(2 ^ 30, 8)
      assert.is_true(lib.ld_frame_reader_feed(r, s, #s) < 0)
      assert.matches("larger than the process's receive budget of %d+ bytes %(max%-buffered%)",
        ffi.string(lib.ld_frame_reader_error(r)))
      -- two messages that fit alone but not together (a frame over 4 MiB
      -- starts with 4 MiB and doubles as bytes come)
      local a, b = new_reader(), new_reader()
      s = le(2, 4) .. le(3, 8) .. le(10 * M, 8) .. "HDR"
      assert.equal(0, lib.ld_frame_reader_feed(a, s, #s))
      assert.equal(0, lib.ld_frame_reader_feed(b, s, #s)) -- 4 + 4 MiB held
      local chunk = string.rep("m", M)
      for _ = 1, 5 do assert.equal(0, lib.ld_frame_reader_feed(a, chunk, #chunk)) end -- a: 8
      for _ = 1, 4 do assert.equal(0, lib.ld_frame_reader_feed(b, chunk, #chunk)) end
      assert.is_true(lib.ld_frame_reader_feed(b, chunk, #chunk) < 0) -- b would grow to 8: 16
      assert.matches("the process's receive budget is used up", ffi.string(lib.ld_frame_reader_error(b)))
      lib.ld_frame_reader_free(ffi.gc(a, nil))
      local _, _, held = budgets()
      assert.equal(held0, held)
    end)
    lib.ld_frame_set_budgets(mm, mb)
    assert(ok, err)
  end)

  it("feeds one message at a time when asked (a handshake changes the limits)", function()
    local s = wire("one") .. wire("two", { "x" })
    local r = new_reader()
    local used = ffi.new("size_t[1]")
    assert.equal(0, lib.ld_frame_reader_feed_one(r, s, #s, used))
    assert.equal(4 + 8 + 3, tonumber(used[0]))
    local m = lib.ld_frame_reader_next(r)
    assert.same({ "one" }, frames_of(m))
    lib.ld_msg_free(m)
    assert.is_true(lib.ld_frame_reader_next(r) == nil)
    local rest = s:sub(tonumber(used[0]) + 1)
    assert.equal(0, lib.ld_frame_reader_feed_one(r, rest, #rest, used))
    assert.equal(#rest, tonumber(used[0]))
    m = lib.ld_frame_reader_next(r)
    assert.same({ "two", "x" }, frames_of(m))
    lib.ld_msg_free(m)
  end)
end)

describe("net msgpack headers", function()
  it("round-trips nested maps, arrays, numbers, strings and booleans", function()
    local h = { op = "update-graph", n = 3, neg = -7, x = 1.5, ok = true, no = false,
      tasks = { { key = "a,0", deps = mp.array({}) }, { key = "b", deps = { "a,0" } } },
      bin = "\0\1\2" }
    local s = mp.encode(h)
    local d = assert(mp.decode(s))
    assert.same(h, d)
  end)

  it("reports truncated and non-map headers as errors", function()
    local s = mp.encode({ op = "x", list = { 1, 2, 3 } })
    local d, err = mp.decode(s:sub(1, -2))
    assert.is_nil(d)
    assert.matches("truncated msgpack", err)
    d, err = mp.decode(s .. "\1")
    assert.is_nil(d)
    assert.matches("1 trailing bytes", err)
    d, err = mp.decode("\147\1\2\3") -- the array [1,2,3]
    assert.is_nil(d)
    assert.matches("expected a msgpack map", err)
    d, err = mp.decode("\193") -- never used byte
    assert.is_nil(d)
    assert.matches("invalid msgpack", err)
  end)

  it("refuses values it cannot encode, naming where", function()
    assert.has_error(function() mp.encode({ op = "x", f = print }) end,
      "msgpack header: cannot encode a function at header.f")
  end)

  -- Found by fuzz/fuzz_frame and fuzz_sched_ops (docs/fuzzing.md).
  local function rss_mb()
    local f = io.open("/proc/self/statm")
    local _, res = f:read("*n", "*n")
    f:close()
    return res * 4096 / 2 ^ 20
  end

  it("allocates as bytes arrive, not at announced sizes", function()
    local r = new_reader()
    local before = rss_mb()
    -- 3 frames: a header of 3 bytes, then 1 GiB and 2 GiB announced (within
    -- the default maximum message of 4 GiB), 1000 bytes sent
    local prefix = "\3\0\0\0" .. "\3\0\0\0\0\0\0\0" .. "\0\0\0\64\0\0\0\0" .. "\0\0\0\128\0\0\0\0"
    assert.equal(0, lib.ld_frame_reader_feed(r, prefix .. "HDR" .. string.rep("y", 1000), #prefix + 1003))
    assert.equal(1, lib.ld_frame_reader_partial(r))
    assert.is_true(lib.ld_frame_reader_next(r) == nil)
    assert.is_true(rss_mb() - before < 50)
    -- 512 GiB announced: refused from the lengths alone, nothing allocated
    r = new_reader()
    prefix = "\2\0\0\0" .. "\3\0\0\0\0\0\0\0" .. "\0\0\0\0\128\0\0\0"
    assert.is_true(lib.ld_frame_reader_feed(r, prefix .. "HDR", #prefix + 3) < 0)
    assert.matches("larger than the maximum message size", ffi.string(lib.ld_frame_reader_error(r)))
    assert.is_true(rss_mb() - before < 50)
  end)

  it("reassembles large frames fed in small chunks", function()
    local big = {}
    for i = 1, 30000 do big[i] = string.char(i % 251) end
    big = table.concat(big):rep(10) -- 300 KB: staged, then its own buffer
    local s = wire("H", { big, "tail" })
    local r = new_reader()
    local i = 1
    while i <= #s do
      local n = math.min(7919, #s - i + 1)
      assert.equal(0, lib.ld_frame_reader_feed(r, s:sub(i, i + n - 1), n))
      i = i + n
    end
    local m = lib.ld_frame_reader_next(r)
    assert.is_true(m ~= nil)
    assert.same({ "H", big, "tail" }, frames_of(m))
    lib.ld_msg_free(m)
  end)

  it("refuses a header announcing more elements than its bytes", function()
    -- a map of 2^30 entries in 5 bytes
    local d, err = mp.decode("\223\64\0\0\0")
    assert.is_nil(d)
    assert.matches("truncated msgpack %(5 bytes%): a map or array announces more elements", err)
  end)
end)
