-- Specs of the errors a Lua user meets: misuse errors raised at the user's
-- line (whatever public entry point), nil functions named, cycles named key
-- by key on every local scheduler, and the message handler of the ldask
-- program (tracebacks without ldask's own frames).
local ldask = require "ldask"
local errors = require "ldask.errors"
local helpers = require "helpers"

local SPEC = debug.getinfo(1, "S").short_src

-- Calls FN and returns its error message (a string); fails when it succeeds.
local err_of = helpers.err_of

-- Asserts that FN raises at THIS spec file, line LINE, with a message
-- containing TEXT.
local function raises_here(line, text, fn)
  local e = err_of(fn)
  assert.equal(SPEC .. ":" .. line .. ":", e:match("^([^\n]-:%d+:)"), e)
  assert.matches(text, e, 1, true)
end

local function inc(x) return x + 1 end

describe("misuse errors", function()
  after_each(function() ldask.config.set { scheduler = "threads" } end)

  it("point at the user's line from every public entry point", function()
    local d = ldask.delayed(inc)(1)
    local cases = {
      { "key(s) not in the graph: 'b'", function() ldask.get({ a = 1 }, "b") end },
      { "graph must be a table", function() ldask.get(5, "a") end },
      { "unknown scheduler 'foo'", function() ldask.get({ a = 1 }, "a", { scheduler = "foo" }) end },
      { "unknown scheduler 'foo'", function() ldask.compute(d, { scheduler = "foo" }) end },
      { "unknown scheduler 'foo'", function() d:compute({ scheduler = "foo" }) end },
      { "options must be a table, got number", function() d:compute(5) end },
      { "unknown option 'schedular'", function() d:compute({ schedular = "sync" }) end },
      { "options must be a table", function() ldask.delayed(print, 5) end },
      { "expected a collection", function() ldask.visualize(5) end },
      { "must end in .dot", function() d:visualize("x.bmp") end },
      { "scheduler must be", function() ldask.config.set { scheduler = "foo" } end },
      { "scheduler must be", function() ldask.config.with({ scheduler = "x" }, print) end },
      { "num_workers must be a positive integer",
        function() d:compute({ scheduler = "threads", num_workers = 0 }) end },
    }
    for _, case in ipairs(cases) do
      local e = err_of(case[2])
      assert.matches(case[1], e, 1, true)
      assert.equal(SPEC, e:match("^([^\n]-):%d+:"), e)
    end
  end)

  it("name the line exactly", function()
    local l = debug.getinfo(1, "l").currentline + 1
    raises_here(l, "unknown scheduler", function() ldask.delayed(inc)(1):compute { scheduler = "x" } end)
    l = debug.getinfo(1, "l").currentline + 1
    raises_here(l, "not in the graph", function() ldask.get({ a = 1 }, { "a", { "zz" } }) end)
  end)

  it("name the fix of a nil function in a task", function()
    raises_here(debug.getinfo(1, "l").currentline, "task 'a' has nil as its function", function() ldask.get({ a = { nil, 1 } }, "a") end)
    local undefined_fn -- a misspelled name reads as nil
    local e = err_of(function() ldask.get({ b = 2, a = { undefined_fn, "b", 3 } }, "a") end)
    assert.matches("is the function defined, and spelled right", e, 1, true)
    assert.matches("ldask.quote", e, 1, true)
    e = err_of(function() ldask.task(nil, 1) end)
    assert.matches("ldask.task: the function (argument 1) must be a function, got nil: is it defined", e, 1, true)
    raises_here(debug.getinfo(1, "l").currentline, "ldask.delayed: got nil", function() ldask.delayed(undefined_fn) end)
    -- a quoted table with a nil first element is data
    assert.same({ nil, 1 }, ldask.get({ a = ldask.quote({ nil, 1 }) }, "a"))
  end)
end)

describe("cycle errors", function()
  local function f(x) return x end
  for _, sched in ipairs { "sync", "threads" } do
    for _, opt in ipairs { true, false } do
      it("name every key of the cycle on " .. sched .. " (optimize_graph=" .. tostring(opt) .. ")", function()
        local e = err_of(function()
          ldask.get({ k1 = { f, "k2" }, k2 = { f, "k1" } }, "k1", { scheduler = sched, optimize_graph = opt })
        end)
        assert.matches("cycle in the task graph", e, 1, true)
        assert.matches("'k1'", e, 1, true)
        assert.matches("'k2'", e, 1, true)
        assert.matches("^" .. SPEC:gsub("%p", "%%%0") .. ":%d+:", e)
        -- a longer cycle hanging off a requested key fuses into one task
        e = err_of(function()
          ldask.get({ a = { f, "b" }, b = { f, "c" }, c = { f, "a" }, d = { f, "a" } }, "d",
            { scheduler = sched, optimize_graph = opt })
        end)
        for _, k in ipairs { "a", "b", "c" } do assert.matches("'" .. k .. "'", e, 1, true) end
        assert.not_matches("'d'", e, 1, true)
        -- a requested key on a cycle: no task is a root; the task hanging
        -- below the cycle is not on it
        e = err_of(function()
          ldask.get({ a = { f, "b" }, b = { f, "a", "c" }, c = { f, 1 } }, "a", { scheduler = sched, optimize_graph = opt })
        end)
        assert.matches("cycle in the task graph: '([ab])' %-> '[ab]' %-> '%1'$", e)
        e = err_of(function() ldask.get({ a = { f, "a" }, z = { f, "a" } }, "z", { scheduler = sched, optimize_graph = opt }) end)
        assert.matches("cycle in the task graph: 'a' -> 'a'", e, 1, true)
      end)
    end
  end
end)

describe("the ldask program's message handler", function()
  it("keeps a misuse error's user frames and drops ldask's and the REPL's", function()
    local printed = {}
    local real_print = print
    _G.print = function(...) printed[#printed + 1] = table.concat({ ... }, "\t") end
    local ok = pcall(require("ldask.repl").eval, "ldask.get({a = 1}, 'b')")
    _G.print = real_print
    assert.is_true(ok)
    local msg = table.concat(printed, "\n")
    assert.matches("^stdin:1: ldask.get: key%(s%) not in the graph", msg)
    assert.matches("stdin:1: in main chunk", msg, 1, true)
    assert.not_matches(errors.ROOT, msg, 1, true)
    assert.not_matches("xpcall", msg, 1, true)
    assert.not_matches("errors_spec", msg, 1, true) -- the frames below the REPL
  end)

  it("keeps every frame of an error inside ldask itself", function()
    local ok, msg = xpcall(function() require("ldask.graph").split_key(nil) end, errors.traceback)
    assert.is_false(ok)
    assert.matches(errors.ROOT .. "graph.lua", msg, 1, true)
  end)

  it("passes a TaskError through", function()
    local te = errors.task_error("k", "boom", "")
    assert.equal(te, errors.traceback(te))
  end)
end)
