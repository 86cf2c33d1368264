-- ldask.scheduler.layered: the index of a graph holding compact layers
-- (ldask.layer) for the threaded scheduler, without writing their tasks
-- out. The plain tasks are indexed as usual (ids 0..P-1, through the
-- prepare function of ldask.scheduler.threads); each compact layer takes
-- the next range of ids, its dependencies computed as integers straight
-- into the CSR arrays the engine reads, and its template encoded once
-- (ldask.scheduler.threads gives the range one payload of kind LAYER;
-- ldask.scheduler.executor fills the template in for each task). Keys of
-- compact tasks exist only when asked for (outputs, errors, events).
local ffi = require "ffi"
local layer = require "ldask.layer"
local misuse = require("ldask.errors").misuse

local type, pairs, ipairs, error, tonumber, tostring, setmetatable, sort, min =
  type, pairs, ipairs, error, tonumber, tostring, setmetatable, table.sort, math.min
local ffi_new, ffi_copy = ffi.new, ffi.copy
local is_layer = layer.is_layer

local M = {}

-- A prepare function for M.index that only indexes (no payloads): for the
-- sync scheduler and the client.
function M.index_only(g, _, _, extern) return require("ldask.graph").index(g, nil, nil, extern) end

-- The compact layer and block index (0-based) of 1-based position I of
-- layered index IX (I > ix.nplain).
function M.block_of(ix, i)
  local ranges = ix.ranges
  local r = ix.last_range -- (positions are read in runs: the last range first)
  if r and r.first <= i - 1 and i - 1 < r.first + r.layer.n then return r.layer, i - 1 - r.first end
  local lo, hi = 1, #ranges
  while lo < hi do
    local mid = math.floor((lo + hi + 1) / 2)
    if ranges[mid].first <= i - 1 then lo = mid else hi = mid - 1 end
  end
  r = ranges[lo]
  ix.last_range = r
  return r.layer, i - 1 - r.first
end

--- Splits LAYERS (name -> graph or compact layer) into the plain graph (a
-- new table, or nil when there is no compact layer) and the list of
-- compact layers, sorted by name.
function M.split(layers)
  local compact, plain = {}, {}
  for _, g in pairs(layers) do
    if is_layer(g) then
      compact[#compact + 1] = g
    else
      for k, v in pairs(g) do plain[k] = v end
    end
  end
  if #compact == 0 then return nil end
  sort(compact, function(a, b) return a.name < b.name end)
  return plain, compact
end

-- Builds the index of PLAIN (a graph) plus the COMPACT layers: what
-- PREPARE(g, deps, optimize_keys, extern) returns for PLAIN, with n, keys,
-- index, offsets, cdeps and ndeps covering every task, nplain (P) and
-- ranges = {{first (0-based id), layer}}. Raises naming a missing layer or
-- key a compact layer depends on.
function M.index(plain, compact, prepare)
  local P = 0
  for _ in pairs(plain) do P = P + 1 end
  local byname, at = {}, P
  for _, l in ipairs(compact) do
    byname[l.name] = { l, at }
    at = at + l.n
  end
  local N = at
  if N > 2 ^ 31 - 2 then misuse("ldask: a graph of " .. N .. " tasks is more than the engine holds (2^31 - 2)") end
  -- 1-based position of a compact task's key, or nil
  local function extern(k)
    if type(k) ~= "string" then return nil end
    local name, i = k:match("^(.*),(%d+)$")
    local e = name and byname[name]
    if not e then return nil end
    local n = tonumber(i)
    if n >= e[1].n or tostring(n) ~= i then return nil end
    return e[2] + n + 1
  end
  local ix = prepare(plain, nil, nil, extern)
  assert(ix.n == P)
  local index = ix.index
  -- the id (0-based) of a dependency given by key K of layer L
  local function id_of(k, l)
    local i = index[k]
    if not i then misuse("ldask: layer '" .. l.name .. "' depends on missing key '" .. tostring(k) .. "'") end
    return i - 1
  end
  local total = ix.offsets[P]
  for _, l in ipairs(compact) do
    for _, inp in ipairs(l.inputs) do total = total + (inp.kind == "fanin" and inp.n or l.n) end
  end
  local offsets = ffi_new("int32_t[?]", N + 1)
  local cdeps = ffi_new("int32_t[?]", total > 0 and total or 1)
  ffi_copy(offsets, ix.offsets, (P + 1) * 4)
  ffi_copy(cdeps, ix.cdeps, ix.offsets[P] * 4)
  local m = ix.offsets[P]
  local ranges = {}
  for _, l in ipairs(compact) do
    local first = byname[l.name][2]
    ranges[#ranges + 1] = { first = first, layer = l }
    local ins = l.inputs
    local nin = #ins
    -- per input: 1 same (compact), 2 one key, 3 fan-in (compact), 4 by key
    local kind, bases, ks = {}, {}, {}
    for j = 1, nin do
      local inp = ins[j]
      local e = inp.name and byname[inp.name]
      if inp.kind == "key" then
        kind[j], bases[j] = 2, id_of(inp.key, l)
      elseif e then
        if e[1].n ~= inp.n then
          misuse("ldask: layer '" .. l.name .. "' expects " .. inp.n .. " blocks of '" .. inp.name .. "', which has " .. e[1].n)
        end
        kind[j], bases[j], ks[j] = inp.kind == "same" and 1 or 3, e[2], inp.k
      else
        kind[j] = 4 -- a layer written out as plain tasks: by key
      end
    end
    local n = l.n
    if nin == 1 and kind[1] == 1 then
      local b = bases[1]
      for i = 0, n - 1 do
        offsets[first + i] = m
        cdeps[m] = b + i
        m = m + 1
      end
    elseif nin == 0 then
      for i = 0, n - 1 do offsets[first + i] = m end
    else
      for i = 0, n - 1 do
        offsets[first + i] = m
        for j = 1, nin do
          local kj = kind[j]
          if kj == 1 then
            cdeps[m] = bases[j] + i
            m = m + 1
          elseif kj == 2 then
            cdeps[m] = bases[j]
            m = m + 1
          elseif kj == 3 then
            local k, b = ks[j], bases[j]
            for d = i * k, min((i + 1) * k, ins[j].n) - 1 do
              cdeps[m] = b + d
              m = m + 1
            end
          else
            local dk = layer.dep_keys({ inputs = { ins[j] } }, i)
            for d = 1, #dk do
              cdeps[m] = id_of(dk[d], l)
              m = m + 1
            end
          end
        end
      end
    end
  end
  offsets[N] = m
  assert(m <= total)
  -- keys of compact tasks, made when read
  local pkeys = ix.keys
  setmetatable(pkeys, { __index = function(_, i)
    if type(i) ~= "number" or i <= P or i > N then return nil end
    local l, b = M.block_of(ix, i)
    return l.name .. "," .. b
  end })
  ix.n, ix.nplain, ix.ranges = N, P, ranges
  ix.offsets, ix.cdeps, ix.ndeps = offsets, cdeps, m
  rawset(ix, "deps", nil)
  return ix
end

return M
