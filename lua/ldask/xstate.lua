-- ldask.xstate: executor states from Lua — a separate LuaJIT state (its own
-- globals, its own loaded modules) with ldask loaded, called with bytes in
-- and bytes out. Used by the codec specs and anything that must prove a value
-- crosses states; the thread pool uses the same C API (runtime/lib/xstate.h).
local ffi = require "ffi"
require "ldask.ffi.xstate"
local lib = require "ldask.native"
local C = ffi.C

local ffi_string, ffi_gc, ffi_new = ffi.string, ffi.gc, ffi.new
local type, error, setmetatable, tostring = type, error, setmetatable, tostring

local M = {}

local XState = {}
XState.__index = XState

--- Creates a state whose package.path/cpath are the caller's (or opts.path,
-- opts.cpath when given). Returns the object, or nil, err when ldask cannot
-- be loaded in it.
function M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then error("xstate.new: opts must be a table, got " .. type(opts), 2) end
  local path = opts and opts.path or package.path
  local cpath = opts and opts.cpath or package.cpath
  if type(path) ~= "string" then error("xstate.new: opts.path must be a string, got " .. type(path), 2) end
  if type(cpath) ~= "string" then error("xstate.new: opts.cpath must be a string, got " .. type(cpath), 2) end
  local err = ffi_new("char *[1]")
  local xs = lib.ld_xstate_new(path, cpath, err)
  if xs == nil then
    local msg = "cannot create an executor state"
    if err[0] ~= nil then
      msg = ffi_string(err[0])
      C.free(err[0])
    end
    return nil, msg
  end
  return setmetatable({ xs = ffi_gc(xs, lib.ld_xstate_free) }, XState)
end

--- Calls require(module)[fn](bytes) in the state. Returns the string result,
-- or nil, err (message with the traceback from the state) when it raised.
function XState:call(module, fn, bytes)
  if self.xs == nil then error("xstate:call: the state is closed", 2) end
  if type(module) ~= "string" then error("xstate:call: module must be a string, got " .. type(module), 2) end
  if type(fn) ~= "string" then error("xstate:call: fn must be a string, got " .. type(fn), 2) end
  if type(bytes) ~= "string" then error("xstate:call: bytes must be a string, got " .. type(bytes), 2) end
  local out = ffi_new("char *[1]")
  local outlen = ffi_new("size_t[1]")
  local rc = lib.ld_xstate_call(self.xs, module, fn, bytes, #bytes, out, outlen)
  local s
  if out[0] ~= nil then
    s = ffi_string(out[0], outlen[0])
    C.free(out[0])
  end
  if rc ~= 0 then return nil, s or "xstate:call: out of memory" end
  return s
end

--- Closes the state now (otherwise the garbage collector does it).
function XState:close()
  if self.xs ~= nil then
    lib.ld_xstate_free(ffi_gc(self.xs, nil))
    self.xs = nil
  end
end

--- Used by the specs: ldask's version as seen from inside a state.
function M._probe_version() return require("ldask").version end

--- Used by the specs: "true" when module NAME is loaded in the state.
function M._probe_loaded(name) return tostring(package.loaded[name] ~= nil) end

--- Used by the specs: tostring of the global NAME inside a state.
function M._probe_global(name) return tostring(rawget(_G, name)) end

XState.__tostring = function(self) return "ldask.xstate(" .. tostring(self.xs) .. ")" end

return M
