--- ldask.client.state: the record a client keeps per key it holds (its
-- futures' shared state), as a small array: one allocation of ~100 bytes
-- where a table of named fields took two of ~250 (a map of 20,000 futures
-- makes 20,000 of them). Fields by index:
--   STATUS    "pending", "finished", "error", "cancelled" or "lost"
--   REFS      futures (and waits) of this client holding the key
--   HAS_VALUE true once VALUE is here (VALUE may be nil or false)
--   VALUE     the result, fetched or come along with keys-finished
--   FETCH     true while a fetch waits for a value not come along
--   ERR       the error (a ldask.errors TaskError) of a failed key
--   CALLBACKS done callbacks waiting: { {fn, future}, ... }
-- @submodule ldask.client
local M = {
  STATUS = 1, REFS = 2, HAS_VALUE = 3, VALUE = 4, FETCH = 5, ERR = 6, CALLBACKS = 7,
}

--- A new record: pending, no reference, no value.
-- @return the record
function M.new()
  -- (every slot present: the array part is sized once, with the record)
  return { "pending", 0, false, false, false, false, false }
end

return M
