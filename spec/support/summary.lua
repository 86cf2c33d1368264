-- spec/support/summary.lua: busted output handler. Prints what the
-- plain terminal handler prints, then the closing line "N passed, N failed"
-- (errors count as failures, and so do pending specs: a spec that cannot
-- run, e.g. for a missing Python package, fails loudly) that CI reads.
return function(options)
  local busted = require "busted"
  local base = require "busted.outputHandlers.plainTerminal" (options)
  busted.subscribe({ "suite", "end" }, function()
    local pending = base.pendingsCount or 0
    local failed = base.failuresCount + base.errorsCount + pending
    if pending > 0 then
      io.write(string.format("\n%d pending spec(s) counted as failed: each says above what it lacks\n", pending))
    end
    io.write(string.format("\n%d passed, %d failed\n", base.successesCount, failed))
    io.flush()
    return nil, true
  end)
  return base
end
