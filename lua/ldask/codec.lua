--- ldask.codec: the value codec between Lua states — task payloads and task
-- results become a header string plus ld_buffer references, and come back
-- in another lua_State (another thread, another process). Functions travel
-- as bytecode with their upvalues and the user globals they use; modules and
-- library functions by name; registered cdata types with their buffers
-- uncopied. See docs/codec.md for the rules and the header format.
-- @module ldask.codec
local ffi = require "ffi"
require "ldask.ffi.util"
local lib = require "ldask.native"
local enc = require "ldask.codec.encode"
local dec = require "ldask.codec.decode"
local index = require "ldask.codec.index"
local cdatareg = require "ldask.codec.cdata"

local type, error, pcall, setmetatable, getmetatable, pairs, tostring =
  type, error, pcall, setmetatable, getmetatable, pairs, tostring
local ffi_string = ffi.string
local is_plain, plain, new_encoder, general = enc.is_plain, enc.plain, enc.new_encoder, enc.general
local RESTART = enc.RESTART
local PROTO_PREFIX = "\1B" -- a session entry holding a function's bytecode
local decode_raw, fast = dec.decode, dec.fast

local M = {}

M.VERSION = enc.VERSION

local hexbuf = ffi.new("char[33]")
local function hash_hex(s)
  lib.ld_hash128_hex(s, #s, hexbuf)
  return ffi_string(hexbuf, 32)
end
M.hash = hash_hex

-- Encodes through the general path, retrying once with a rebuilt module
-- index when a value was refused (a module loaded since the last build may
-- make it shippable by reference). Raises refusals at LEVEL.
local function encode_general(v, session, what, level)
  -- A graph's session (codec.session{graph = true}) checks for newly
  -- loaded modules once: the graph is encoded in one go. A long-lived
  -- session (a client's) checks on every value: a module loaded since its
  -- last value (ldask.array after a plain submit) must travel by name, not
  -- as a copy of its functions. (A stale index would not be refused: the
  -- module's functions would silently travel by value.)
  if session == nil or not session.once then
    index.refresh()
  elseif not session.refreshed then
    index.refresh()
    session.refreshed = true
  end
  local E = new_encoder(what, session)
  local ok, h = pcall(general, E, v)
  if not ok and h == RESTART then
    -- a table embedded as plain turned out to be shared: no embedding
    E = new_encoder(what, session, true)
    ok, h = pcall(general, E, v)
  end
  if not ok then
    if type(h) ~= "table" or not h.refuse then error(h, 0) end
    index.rebuild()
    E = new_encoder(what, session, not E.embed)
    ok, h = pcall(general, E, v)
    if not ok and h == RESTART then
      E = new_encoder(what, session, true)
      ok, h = pcall(general, E, v)
    end
    if not ok then
      if type(h) == "table" and h.refuse then error(h.refuse, level + 1) end
      error(h, 0)
    end
  end
  return h, E.bufs
end

local Session = {}
Session.__index = Session

--- Encodes V (see the module doc). Returns header, buffers: each buffer is an
-- ld_buffer * holding one reference, released when the cdata is collected
-- (ffi.gc); to hand a reference to C, retain it or clear its finalizer.
-- SESSION (optional) shares functions across the values of one graph.
-- @param v the value
-- @param[opt] session a session (codec.session())
-- @param[opt] what names V in errors
-- @return header (a string) and buffers (a list of ld_buffer *)
function M.encode(v, session, what)
  if session ~= nil then
    if getmetatable(session) ~= Session then error("codec.encode: session must come from codec.session()", 2) end
    return session:encode(v, what)
  end
  if is_plain(v) then return plain(v), {} end
  return encode_general(v, nil, what, 2)
end

--- Decodes HEADER with BUFFERS (array of ld_buffer *; the codec retains what
-- the decoded value keeps, the caller keeps its own references).
-- @param header the header
-- @param buffers the buffers
-- @return the value
function M.decode(header, buffers)
  if type(header) == "string" then
    local v, ok = fast(header)
    if ok then return v end
  end
  local ok, v = pcall(decode_raw, header, buffers, nil)
  if not ok then error("codec.decode: " .. tostring(v), 2) end
  return v
end

--- Raises (at the caller's level) when V or anything reachable from it cannot
-- travel; WHAT names it in the message ("task 'inc-1'"). Returns true.
-- @param v the value
-- @param[opt] what names V in the message
-- @return true
function M.check(v, what)
  if what ~= nil and type(what) ~= "string" then error("codec.check: what must be a string, got " .. type(what), 2) end
  if is_plain(v) then return true end
  encode_general(v, nil, what, 2)
  return true
end

--- A new encoding session. OPTS (optional): { graph = true } for a session
-- that encodes one graph in one go (the index of loaded modules is checked
-- once, not at every value).
-- @param[opt] opts `{ graph = true }`
-- @return a Session
function M.session(opts)
  if opts ~= nil and type(opts) ~= "table" then error("codec.session: opts must be a table, got " .. type(opts), 2) end
  local s = setmetatable({ byfn = setmetatable({}, { __mode = "k" }), blobs = {}, count = 0,
    once = opts ~= nil and opts.graph == true }, Session)
  -- Function encodings refer to their bytecode by hash: closures of one
  -- prototype (a factory's products) share one copy of it.
  s.proto_ref = function(info)
    local h = info.phash
    if h == nil then
      h = hash_hex(PROTO_PREFIX .. info.bytecode)
      info.phash = h
    end
    if s.blobs[h] == nil then s.blobs[h] = PROTO_PREFIX .. info.bytecode end
    return { h }
  end
  return s
end

--- Like codec.encode; functions are referred to by content hash and their
-- encodings collected in s:functions(). WHAT names V in refusals.
-- @param v the value
-- @param[opt] what names V in refusals
-- @return header and buffers
function Session:encode(v, what)
  if is_plain(v) then return plain(v), {} end
  return encode_general(v, self, what, 2)
end

--- { [hash] = encoded function } for every function this session encoded.
-- @return a table `{ [hash] = encoded function }`
function Session:functions()
  local t = {}
  for h, blob in pairs(self.blobs) do t[h] = blob end
  return t
end

-- Called by the encoder for each Lua function reached in a value encoded by
-- this session: returns the wrapper { 7, hash }, or nil to encode the
-- function inline (when it carries buffers, which blobs cannot hold).
function Session:function_ref(f, E, parent, how, name)
  local h = self.byfn[f]
  if h then return { 7, h } end
  local E2 = new_encoder(E.what, nil, not E.embed)
  E2.proto_ref = self.proto_ref
  E2.parent = setmetatable({ [f] = { parent, how, name } }, { __index = E.parent })
  local blob = general(E2, f, parent, how, name)
  if #E2.bufs > 0 then return nil end
  h = hash_hex(blob)
  if self.blobs[h] == nil then
    self.blobs[h] = blob
    self.count = self.count + 1
  end
  self.byfn[f] = h
  return { 7, h }
end

local Decoder = {}
Decoder.__index = Decoder

--- A decoding context: a cache of decoded functions by content hash, to keep
-- as long as the executor state.
-- @return a Decoder
function M.decoder()
  local d = setmetatable({ blobs = {}, fns = {} }, Decoder)
  d.protos = {}
  d.resolve = function(h, kind)
    if kind == "proto" then
      local bc = d.protos[h]
      if bc ~= nil then return bc end
      local blob = d.blobs[h]
      if blob == nil then error("function prototype " .. h .. " is unknown to this decoder (d:add_functions first)", 0) end
      if blob:sub(1, 2) ~= PROTO_PREFIX then error("entry " .. h .. " is not a function prototype", 0) end
      if hash_hex(blob) ~= h then error("function prototype " .. h .. " does not match its content hash", 0) end
      bc = blob:sub(3)
      d.protos[h] = bc
      d.blobs[h] = nil
      return bc
    end
    local f = d.fns[h]
    if f ~= nil then return f end
    local blob = d.blobs[h]
    if blob == nil then error("function " .. h .. " is unknown to this decoder (d:add_functions first)", 0) end
    if hash_hex(blob) ~= h then error("function " .. h .. " does not match its content hash", 0) end
    f = decode_raw(blob, nil, d.resolve)
    if type(f) ~= "function" then error("function " .. h .. " decodes to a " .. type(f), 0) end
    d.fns[h] = f
    d.blobs[h] = nil
    return f
  end
  return d
end

--- Adds encoded functions { [hash] = bytes } (from s:functions()).
-- @param t a table `{ [hash] = bytes }`
function Decoder:add_functions(t)
  if type(t) ~= "table" then error("decoder:add_functions: expected a table, got " .. type(t), 2) end
  for h, blob in pairs(t) do
    if type(h) ~= "string" or type(blob) ~= "string" then
      error("decoder:add_functions: entries must be hash string -> bytes string", 2)
    end
    if self.fns[h] == nil then self.blobs[h] = blob end
  end
end

--- Decodes HEADER, BUFFERS, resolving session functions from the cache.
-- @param header the header
-- @param buffers the buffers
-- @return the value
function Decoder:decode(header, buffers)
  if type(header) == "string" then
    local v, ok = fast(header)
    if ok then return v end
  end
  local ok, v = pcall(decode_raw, header, buffers, self.resolve)
  if not ok then error("codec.decode: " .. tostring(v), 2) end
  return v
end

--- Number of functions decoded and cached.
-- @return a number
function Decoder:cached()
  local n = 0
  for _ in pairs(self.fns) do n = n + 1 end
  return n
end

--- Registers a cdata type: HANDLERS = { encode = function(obj) -> table,
-- buffers end, decode = function(table, buffers) -> obj, name = optional
-- string, module = optional require name that registers it }. decode gets
-- borrowed ld_buffer * and must retain the ones the object keeps.
-- @param ctype the ctype (ffi.typeof)
-- @param handlers `{ encode =, decode =, name =, module = }`
function M.register_cdata(ctype, handlers)
  cdatareg.register(ctype, handlers, 2)
end

--- Makes V (a table, function or userdata) travel by NAME: the decoding state
-- gets its own value registered under NAME (after require(MODULE) if given).
-- @param name the name
-- @param v a table, function or userdata
-- @param[opt] module the module to require in the decoding state
function M.register(name, v, module)
  if type(name) ~= "string" then error("codec.register: name must be a string, got " .. type(name), 2) end
  local tv = type(v)
  if tv ~= "table" and tv ~= "function" and tv ~= "userdata" and tv ~= "cdata" then
    error("codec.register: value must be a table, function, userdata or cdata, got " .. tv, 2)
  end
  if module ~= nil and type(module) ~= "string" then error("codec.register: module must be a string", 2) end
  index.register(name, v, module)
end

return M
