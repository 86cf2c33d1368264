--- ldask.client.map_plain: the fast path of Client:map for its usual case:
-- one registered function over a list of scalars (numbers, strings,
-- booleans) with constant scalar arguments. No task record per element:
-- the keys, their futures and the payloads (the compact call form, encoded
-- into one string.buffer) go straight into update-graph messages of
-- columns, in chunks, the same bytes on the wire as the general path.
-- @submodule ldask.client
local ffi = require "ffi"
local sbuf = require "string.buffer"
local tnew = require "table.new"
local lib = require "ldask.native"
local mp = require "ldask.client.mp"
local future = require "ldask.client.future"
local CALL = require("ldask.task.payload").CALL

local type, error, format, ffi_string = type, error, string.format, ffi.string
local new_future = future.new

local M = {}

local enc = require "ldask.codec.encode"
local PLAIN_PREFIX = string.char(enc.VERSION, enc.PLAIN) -- a plain header's first bytes
local ptr_array, len_array = ffi.typeof("const char *[?]"), ffi.typeof("size_t[?]")
local u8p = ffi.typeof("const char *")

local pbuf = sbuf.new() -- the payloads of one chunk (one map at a time: one Lua state)
local ptrs, lens, cap = nil, nil, 0 -- frame arrays, grown to the largest chunk
local offs = {}

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
-- element i is the call form { CALL, FH, FLAGS, SEQ[i], EXTRA[1..N] },
-- its priority PBASE + ORDER0 + i. Raises at LEVEL when the connection is
-- gone.
local function send_chunk(self, keys, seq, tmpl, first, last, pbase, order0, opts, level)
  local n = last - first + 1
  if n > cap then
    cap = n
    ptrs, lens = ptr_array(n), len_array(n)
  end
  pbuf:reset()
  local put, encode = pbuf.put, pbuf.encode
  local at = 0
  for i = first, last do
    tmpl[4] = seq[i]
    put(pbuf, PLAIN_PREFIX)
    encode(pbuf, tmpl)
    local e = #pbuf
    offs[i - first] = at
    lens[i - first] = e - at
    at = e
  end
  local base = pbuf:ref()
  base = ffi.cast(u8p, base)
  for j = 0, n - 1 do ptrs[j] = base + offs[j] end
  local hs = mp.update_graph_flat(keys, first, last, pbase, order0, opts.retries, opts.workers, opts.resources)
  local rc = lib.ld_client_send_parts(self.cl, hs, #hs, ptrs, lens, nil, n)
  pbuf:reset()
  if #pbuf > 1048576 then pbuf:free() end
  if rc ~= 0 then
    error("ldask.Client: lost the connection to the scheduler at " .. self.address .. ": " ..
      ffi_string(lib.ld_client_error(self.cl)), level + 1)
  end
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
    futs[i] = new_future(self, key)
    -- a key cancelled before (cancel, restart) is computed again: its
    -- futures wait for the new result, as in dask
    local st = states[key]
    if st.status == "cancelled" then st.status = "pending" end
  end
  local tmpl = tnew(5 + n, 0) -- (array part: indices 0 .. 4 + n)
  tmpl[1], tmpl[2], tmpl[3] = CALL, fh, flags
  for j = 1, n do tmpl[4 + j] = extra[j] end
  local pbase = -(opts.priority or 0) * 4294967296
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
