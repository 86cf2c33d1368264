--- ldask.array.keep: the one way Lua code keeps ndarrays alive while it
-- uses pointers into their memory (docs/architecture.md, "Raw pointers and
-- their owners"). `keep(a, b)` returns its arguments; called after the last
-- use of pointers into A and B, it is a read of them that keeps them live up
-- to there: LuaJIT's compiled code keeps only the values that later bytecode
-- reads, so an ndarray whose last use was taking a pointer into it can be
-- freed by the next allocation while the pointer is still in use (and a
-- tail call `return f(p)` drops the caller's owners the same way).
local function keep(...) return ... end
return keep
