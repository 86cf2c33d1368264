--- ldask.client.batch: the frames of one outgoing message with many task
-- payloads, and the fast path of Client:map. Plain payloads (the compact
-- call form of scalars) are encoded one after another into a single
-- string.buffer and handed to the network code as slices of it: no Lua
-- string per payload. Client:map's usual case (one registered function
-- over a list of scalars, constant scalar arguments) also skips the task
-- record per element: keys, futures and payloads go straight into
-- update-graph messages of columns, in chunks; the bytes on the wire are
-- those of the general path.
-- @submodule ldask.client
local ffi = require "ffi"
local sbuf = require "string.buffer"
local tnew = require "table.new"
require "ldask.ffi.buffer"
local lib = require "ldask.native"
local mp = require "ldask.client.mp"
local future = require "ldask.client.future"
local CALL = require("ldask.task.payload").CALL
local enc = require "ldask.codec.encode"
local S = require "ldask.client.state"
local STATUS, REFS, new_state = S.STATUS, S.REFS, S.new

local type, error, format, setmetatable = type, error, string.format, setmetatable
local ffi_string, ffi_cast = ffi.string, ffi.cast
local new_held = future.new_held

local M = {}

local PLAIN_PREFIX = enc.PLAIN_PREFIX
local ptr_array, len_array = ffi.typeof("const char *[?]"), ffi.typeof("size_t[?]")
local buffer_array = ffi.typeof("ld_buffer *[?]")
local u8p = ffi.typeof("const char *")
local BIG = 1048576 -- a payload buffer that grew past this is freed after a message

-- Frames: the frames of one message being built. Frame i is a slice of
-- the payload buffer (held[i] false: at offs[i], lens[i - 1] bytes) or
-- held[i], a string (copied when sent) or an ld_buffer * (sent uncopied).
-- Each sender owns one (one Lua state: one message at a time per owner).
local Frames = {}
Frames.__index = Frames

--- A new frame collector.
-- @return a Frames
function M.frames()
  return setmetatable({ pbuf = sbuf.new(), n = 0, held = {}, offs = {}, cap = 0 }, Frames)
end

--- Starts a new message's frames.
function Frames:reset()
  self.pbuf:reset()
  local held = self.held
  for i = 1, self.n do held[i] = nil end
  self.n = 0
end

--- Appends the plain header of V (plain data: ldask.codec.encode.plain's
-- bytes) as the next frame.
-- @param v the value
function Frames:add_plain(v)
  local pbuf = self.pbuf
  local at = #pbuf
  pbuf:put(PLAIN_PREFIX)
  pbuf:encode(v)
  local n = self.n + 1
  self.n = n
  self.held[n] = false
  self.offs[n] = at
  if n > self.cap then self:grow(n) end
  self.lens[n - 1] = #pbuf - at
end

--- Appends F (a string or an ld_buffer *) as the next frame.
-- @param f the frame
function Frames:add(f)
  local n = self.n + 1
  self.n = n
  self.held[n] = f
end

-- Makes room for at least N frames in the arrays handed to C.
function Frames:grow(n)
  local cap = self.cap
  if n <= cap then return end
  local c = cap > 0 and cap or 16
  while c < n do c = c * 2 end
  local l = len_array(c)
  if cap > 0 then ffi.copy(l, self.lens, cap * ffi.sizeof("size_t")) end
  self.ptrs, self.lens, self.bufs, self.cap = ptr_array(c), l, buffer_array(c), c
end

--- Sends header HS with the frames added since reset() through CLIENT's
-- connection, then resets; raises at LEVEL when the connection is gone.
-- @param client the Client
-- @param hs the msgpack header: a string, or a pointer with HLEN
-- @param level the caller's level, for the error
-- @param[opt] hlen the header's length when HS is a pointer
function Frames:send(client, hs, level, hlen)
  hlen = hlen or #hs
  local n, held, offs = self.n, self.held, self.offs
  if n > self.cap then self:grow(n) end
  local ptrs, lens, bufs = self.ptrs, self.lens, self.bufs
  local rc
  if n == 0 then
    rc = lib.ld_client_send(client.cl, hs, hlen, nil, 0)
  else
    local base = ffi_cast(u8p, (self.pbuf:ref()))
    for i = 1, n do
      local f = held[i]
      if f == false then
        ptrs[i - 1] = base + offs[i]
        bufs[i - 1] = nil
      elseif type(f) == "string" then
        ptrs[i - 1] = f
        lens[i - 1] = #f
        bufs[i - 1] = nil
      else
        bufs[i - 1] = f
      end
    end
    rc = lib.ld_client_send_parts(client.cl, hs, hlen, ptrs, lens, bufs, n)
    for i = 0, n - 1 do ptrs[i] = nil; bufs[i] = nil end -- (no stale references)
  end
  self:reset()
  if #self.pbuf > BIG then self.pbuf:free() end
  if rc ~= 0 then
    error("ldask.Client: lost the connection to the scheduler at " .. client.address .. ": " ..
      ffi_string(lib.ld_client_error(client.cl)), level + 1)
  end
end

-- The frames of update-graph messages (tasks) of every client.
M.tasks = M.frames()

--- The priority column's value for a task of a call with options OPTS,
-- the ORDER-th this client submitted: the user's priority first (higher
-- runs sooner), then submission order, as dask.
-- @param opts the call's checked options
-- @param order its submission number
-- @return the value
function M.priority(opts, order) return -(opts.priority or 0) * 4294967296 + order end

--- True when every element of SEQ (a list) can take this path: a number,
-- a string or a boolean.
-- @param seq the list
-- @return boolean
function M.takes(seq)
  for i = 1, #seq do
    local tv = type(seq[i])
    if tv ~= "number" and tv ~= "string" and tv ~= "boolean" then return false end
  end
  return true
end

--- True when the N constant arguments EXTRA[1..N] can take this path:
-- numbers, strings, booleans or nil.
-- @param extra the list
-- @param n its length
-- @return boolean
function M.takes_args(extra, n)
  for j = 1, n do
    local tv = type(extra[j])
    if tv ~= "number" and tv ~= "string" and tv ~= "boolean" and tv ~= "nil" then return false end
  end
  return true
end

-- Sends keys FIRST..LAST of KEYS as one update-graph: the payload of
-- element i is TMPL (the call form) with SEQ[i] as its first argument, its
-- priority PBASE + ORDER0 + i. Raises at LEVEL when the connection is gone.
local function send_chunk(self, keys, seq, tmpl, first, last, pbase, order0, opts, level)
  local fr = M.tasks
  fr:reset()
  for i = first, last do
    tmpl[4] = seq[i]
    fr:add_plain(tmpl)
  end
  local hs, hlen = mp.update_graph_flat(keys, first, last, pbase, order0, opts.retries, opts.workers, opts.resources)
  fr:send(self, hs, level + 1, hlen)
end

--- Submits FH (the registered hash of the function) over SEQ (M.takes
-- was true) with the N constant scalar arguments EXTRA; keys BASE .. i
-- (PURE: BASE .. the element, a lone integer as itself, else TOKEN(el)).
-- Returns the list of futures; the update-graphs go out in chunks of
-- CHUNK. OPTS: the call's checked options (priority, retries, workers,
-- resources).
function M.map(self, fh, flags, seq, extra, n, base, pure, token, opts, chunk, level)
  local nseq = #seq
  local keys, futs = tnew(nseq, 0), tnew(nseq, 0)
  local states = self.keys
  for i = 1, nseq do
    local key
    if not pure then key = base .. i
    else
      local v = seq[i]
      if type(v) == "number" and v == v and v % 1 == 0 and v > -2 ^ 53 and v < 2 ^ 53 then
        key = base .. format("%d", v)
      else
        key = base .. token(v)
      end
    end
    keys[i] = key
    -- (Client:_ref, inline)
    local st = states[key]
    if not st then st = new_state(); states[key] = st end
    st[REFS] = st[REFS] + 1
    -- a key cancelled before (cancel, restart) is computed again: its
    -- futures wait for the new result, as in dask
    if st[STATUS] == "cancelled" then st[STATUS] = "pending" end
    futs[i] = new_held(self, key)
  end
  local tmpl = tnew(5 + n, 0) -- (array part: indices 0 .. 4 + n)
  tmpl[1], tmpl[2], tmpl[3] = CALL, fh, flags
  for j = 1, n do tmpl[4 + j] = extra[j] end
  local pbase = M.priority(opts, 0)
  local order0 = self.seq
  self.seq = order0 + nseq
  self:_send_functions(level + 1)
  local first = 1
  while first <= nseq do
    local last = first + chunk - 1
    if last > nseq then last = nseq end
    send_chunk(self, keys, seq, tmpl, first, last, pbase, order0, opts, level + 1)
    first = last + 1
  end
  return futs
end

return M
