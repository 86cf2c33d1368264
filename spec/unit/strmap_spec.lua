-- Unit specs of core/util/strmap (the scheduler's and worker's key tables):
-- random puts, gets and deletes checked against a Lua table.
local ffi = require "ffi"
require "ldask.ffi.sched"
local lib = require "ldask.native"

describe("strmap", function()
  it("agrees with a Lua table through 20000 random operations", function()
    local m = ffi.new("ld_strmap")
    lib.ld_strmap_init(m)
    local keep = {} -- the key strings must outlive their entries
    local ref = {}
    local count = 0
    math.randomseed(7)
    for _ = 1, 20000 do
      local k = "key," .. math.random(1, 3000)
      local op = math.random(1, 3)
      if op == 1 then
        local v = math.random(1, 1e6)
        if not ref[k] then count = count + 1 end
        keep[k] = k
        ref[k] = v
        assert.equal(0, lib.ld_strmap_put(m, keep[k], #k, ffi.cast("void *", v)))
      elseif op == 2 then
        local got = lib.ld_strmap_get(m, k, #k)
        if ref[k] then
          assert.equal(ref[k], tonumber(ffi.cast("intptr_t", got)))
        else
          assert.is_true(got == nil)
        end
      else
        local got = lib.ld_strmap_del(m, k, #k)
        if ref[k] then
          assert.equal(ref[k], tonumber(ffi.cast("intptr_t", got)))
          ref[k] = nil
          count = count - 1
        else
          assert.is_true(got == nil)
        end
      end
      assert.equal(count, tonumber(m.count))
    end
    -- iteration visits every live entry once
    local i = ffi.new("size_t[1]")
    local seen = 0
    while true do
      local s = lib.ld_strmap_next(m, i)
      if s == nil then break end
      local k = ffi.string(s.key, s.len)
      assert.equal(ref[k], tonumber(ffi.cast("intptr_t", s.val)))
      seen = seen + 1
    end
    assert.equal(count, seen)
    lib.ld_strmap_free(m)
  end)

  it("adds only absent keys with ld_strmap_add", function()
    local m = ffi.new("ld_strmap")
    lib.ld_strmap_init(m)
    local k = "key"
    assert.equal(0, lib.ld_strmap_add(m, k, 3, ffi.cast("void *", 1)))
    assert.equal(1, lib.ld_strmap_add(m, k, 3, ffi.cast("void *", 2)))
    assert.equal(1, tonumber(ffi.cast("intptr_t", lib.ld_strmap_get(m, k, 3))))
    assert.equal(1, tonumber(m.count))
    lib.ld_strmap_free(m)
  end)

  it("handles keys with NUL bytes and the empty key", function()
    local m = ffi.new("ld_strmap")
    lib.ld_strmap_init(m)
    local a, b, e = "a\0b", "a\0c", ""
    lib.ld_strmap_put(m, a, 3, ffi.cast("void *", 1))
    lib.ld_strmap_put(m, b, 3, ffi.cast("void *", 2))
    lib.ld_strmap_put(m, e, 0, ffi.cast("void *", 3))
    assert.equal(1, tonumber(ffi.cast("intptr_t", lib.ld_strmap_get(m, a, 3))))
    assert.equal(2, tonumber(ffi.cast("intptr_t", lib.ld_strmap_get(m, b, 3))))
    assert.equal(3, tonumber(ffi.cast("intptr_t", lib.ld_strmap_get(m, e, 0))))
    assert.is_true(lib.ld_strmap_get(m, "a", 1) == nil)
    lib.ld_strmap_free(m)
  end)
end)
