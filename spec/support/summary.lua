-- spec/support/summary.lua: busted output handler. Prints what the
-- plain terminal handler prints, then the closing line "N passed, N failed"
-- (errors count as failures) that CI reads.
return function(options)
  local busted = require "busted"
  local base = require "busted.outputHandlers.plainTerminal" (options)
  busted.subscribe({ "suite", "end" }, function()
    local failed = base.failuresCount + base.errorsCount
    io.write(string.format("\n%d passed, %d failed\n", base.successesCount, failed))
    io.flush()
    return nil, true
  end)
  return base
end
