-- Specs of ldask.funcname: the key prefixes of tasks made for a function.
local ldask = require "ldask"
local funcname = require "ldask.funcname"

describe("funcname", function()
  it("names a function by the local, upvalue, global or library field holding it", function()
    local function triple(x) return 3 * x end
    assert.equal("triple", funcname.of(triple))
    local up = function() end
    local function user() return funcname.of(up) end
    assert.equal("up", user())
    _G.ldask_spec_global_fn = function() end
    assert.equal("ldask_spec_global_fn", funcname.of(_G.ldask_spec_global_fn))
    _G.ldask_spec_global_fn = nil
    assert.equal("sqrt", funcname.of(math.sqrt))
  end)

  it("falls back to FILE-LINE of the definition, and to call for non-functions", function()
    local t = {}
    local line = debug.getinfo(1, "l").currentline + 1
    t.f = function() end
    assert.equal("funcname_spec-" .. line, funcname.of(t.f))
    assert.equal("call", funcname.of(setmetatable({}, { __call = function() end })))
  end)

  it("keeps the first name found, so every key of a function has one prefix", function()
    local function first() end
    assert.equal("first", funcname.of(first))
    local second = first
    assert.equal("first", funcname.of(second))
  end)

  it("gives delayed keys the name the caller uses", function()
    local function inc(x) return x + 1 end
    assert.matches("^inc%-%x+$", ldask.delayed(inc)(1):key())
    assert.matches("^floor%-%x+$", ldask.delayed(math.floor)(1.5):key())
  end)
end)
