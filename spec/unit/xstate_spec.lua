-- Specs of ldask.xstate (runtime/lib/xstate.c): separate executor states.
local xstate = require "ldask.xstate"

describe("ldask.xstate", function()
  it("calls a module function in a separate state and returns its string", function()
    local xs = assert(xstate.new())
    assert.equal("ABC", xs:call("string", "upper", "abc"))
    assert.equal("", xs:call("string", "upper", ""))
    local big = string.rep("a\0b", 100000)
    assert.equal(big:upper(), xs:call("string", "upper", big))
    xs:close()
  end)

  it("has its own globals and loaded modules", function()
    package.loaded["xstate_probe_mod"] = { f = function(s) return s .. "!" end }
    local xs = assert(xstate.new())
    local out, err = xs:call("xstate_probe_mod", "f", "x")
    package.loaded["xstate_probe_mod"] = nil
    assert.is_nil(out)
    assert.matches("module 'xstate_probe_mod' not found", err, 1, true)
    -- ldask is loaded there and its version matches ours
    assert.equal(ldask.version, xs:call("ldask.xstate", "_probe_version", ""))
  end)

  it("returns nil and the message with a traceback when the function raises", function()
    local xs = assert(xstate.new())
    local out, err = xs:call("string", "rep", "x") -- rep without a count raises
    assert.is_nil(out)
    assert.matches("bad argument #2", err, 1, true)
    assert.matches("stack traceback", err, 1, true)
    out, err = xs:call("string", "len", "abc")
    assert.is_nil(out)
    assert.matches("string.len returned a number, not a string", err, 1, true)
    out, err = xs:call("string", "nosuch", "abc")
    assert.is_nil(out)
    assert.matches("string.nosuch is a nil, not a function", err, 1, true)
    -- the state is still usable after errors
    assert.equal("OK", xs:call("string", "upper", "ok"))
  end)

  it("fails to create with a clear message when ldask cannot be loaded", function()
    local xs, err = xstate.new { path = "/nonexistent/?.lua", cpath = "/nonexistent/?.so" }
    assert.is_nil(xs)
    assert.matches("cannot load ldask", err, 1, true)
    assert.matches("module 'ldask' not found", err, 1, true)
  end)

  it("refuses misuse at the caller's level", function()
    local xs = assert(xstate.new())
    assert.has_error(function() xs:call("string", "upper", 12) end, "xstate:call: bytes must be a string, got number")
    assert.has_error(function() xstate.new("x") end, "xstate.new: opts must be a table, got string")
    xs:close()
    xs:close() -- closing twice is harmless
    assert.has_error(function() xs:call("string", "upper", "a") end, "xstate:call: the state is closed")
  end)

  it("many states can be created and collected", function()
    for _ = 1, 20 do
      local xs = assert(xstate.new())
      assert.equal("A", xs:call("string", "upper", "a"))
    end
    collectgarbage()
    collectgarbage()
  end)
end)
