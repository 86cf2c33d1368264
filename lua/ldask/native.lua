-- ldask.native: the native library (lib/ldask/native.so: core/ and
-- runtime/lib/), loaded once through the FFI. Inside the ldask program it is
-- already mapped; from plain luajit it is found on package.cpath as
-- "ldask.native". C declarations live in lua/ldask/ffi/, one file per
-- subsystem; require the one you use before touching its symbols.
local ffi = require "ffi"

local path = package.searchpath("ldask.native", package.cpath)
if not path then
  error("ldask: native library ldask/native.so not found on package.cpath (" .. package.cpath .. ")")
end
return ffi.load(path)
