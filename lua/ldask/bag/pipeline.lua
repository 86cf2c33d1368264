-- ldask.bag.pipeline: the per-partition engine of ldask.bag, run by the
-- executors. A partition task is {run, ops, sink, kind, src}: it streams the
-- elements of a source (a Lua array, a range, or a block of a text file)
-- through the fused element operations OPS (map, filter, pluck, flatten,
-- ...) into one SINK (collect, count, sum, frequencies, foldby, take, ...)
-- in a single pass, with no intermediate table per step. Also the other
-- partition-level task functions (repartition, groupby, accumulate, ...);
-- the combine steps of reductions are in ldask.bag.aggregate.
local textio = require "ldask.bag.textio"
local bit = require "bit"

local type, error, tostring = type, error, tostring
local unpack, sort, floor = unpack, table.sort, math.floor

local M = {}

-- Describes V for error messages.
local function show(v)
  local t = type(v)
  if t == "string" then
    if #v > 60 then v = v:sub(1, 57) .. "..." end
    return string.format("%q", v)
  end
  if t == "number" or t == "boolean" or t == "nil" then return tostring(v) end
  return t
end
M.show = show

-- Checks that K is usable as a grouping key (equal values give equal keys
-- in every Lua state). Returns K or raises naming WHAT.
local function hashable(k, what)
  local t = type(k)
  if t == "string" or t == "boolean" then return k end
  if t == "number" then
    if k ~= k then error(what .. ": key is NaN", 0) end
    return k
  end
  error(what .. ": key must be a string, number or boolean, got " .. t
    .. (t == "nil" and "" or " (" .. show(k) .. ")"), 0)
end
M.hashable = hashable

-- Returns a getter for a field or index: a function is used as is.
local function getter(key, default, has_default, what)
  if type(key) == "function" then return key end
  if has_default then
    return function(x)
      if type(x) ~= "table" then error(what .. ": element is a " .. type(x) .. ", not a table", 0) end
      local v = x[key]
      if v == nil then return default end
      return v
    end
  end
  return function(x)
    if type(x) ~= "table" then error(what .. ": element is a " .. type(x) .. ", not a table", 0) end
    local v = x[key]
    if v == nil then error(what .. ": element has no field " .. show(key), 0) end
    return v
  end
end
M.getter = getter

-- Builds the push function: OPS applied in order, then NXT. A push returns
-- true to stop the stream (take).
-- EXTRAS: the partition's extra inputs (items' values, other bags'
-- partitions) that ops refer to by slot; CHECKS: functions to run once the
-- source is exhausted (zipped bags of unequal lengths); INDEX: the
-- partition number.
local function chain(ops, nxt, extras, checks, index)
  local push = nxt
  for i = #ops, 1, -1 do
    local op, down = ops[i], push
    local k = op.k
    if k == "map" and op.slots then
      local f, na = op.f, op.nargs
      local a, seqs = {}, {}
      for j = 1, na do a[j] = op.args[j] end
      for j, sl in pairs(op.slots) do
        local v = extras[sl[1]]
        if sl[2] == "item" then
          a[j] = v
        else
          if type(v) ~= "table" then error("bag.map: argument " .. (j + 1) .. " is not a partition", 0) end
          seqs[#seqs + 1] = { j, v }
        end
      end
      local cnt, ns = 0, #seqs
      push = function(x)
        cnt = cnt + 1
        for s = 1, ns do
          local sq = seqs[s]
          local arr = sq[2]
          if cnt > #arr then
            error("bag.map: partition " .. index .. " of the bag in argument " .. (sq[1] + 1) .. " has "
              .. #arr .. " elements, fewer than the mapped bag's", 0)
          end
          a[sq[1]] = arr[cnt]
        end
        local y = f(x, unpack(a, 1, na))
        if y == nil then error("bag.map: the function returned nil (a bag cannot hold nil)", 0) end
        return down(y)
      end
      if ns > 0 then
        checks[#checks + 1] = function()
          for s = 1, ns do
            local sq = seqs[s]
            if #sq[2] ~= cnt then
              error("bag.map: partition " .. index .. " of the bag in argument " .. (sq[1] + 1) .. " has "
                .. #sq[2] .. " elements, the mapped bag's has " .. cnt, 0)
            end
          end
        end
      end
    elseif k == "map" then
      local f, args, na = op.f, op.args, op.nargs or 0
      if na == 0 then
        push = function(x)
          local y = f(x)
          if y == nil then error("bag.map: the function returned nil (a bag cannot hold nil)", 0) end
          return down(y)
        end
      else
        push = function(x)
          local y = f(x, unpack(args, 1, na))
          if y == nil then error("bag.map: the function returned nil (a bag cannot hold nil)", 0) end
          return down(y)
        end
      end
    elseif k == "filter" then
      local f = op.f
      push = function(x) if f(x) then return down(x) end end
    elseif k == "remove" then
      local f = op.f
      push = function(x) if not f(x) then return down(x) end end
    elseif k == "pluck" and op.keys then
      local getters, nk = {}, #op.keys
      for j = 1, nk do getters[j] = getter(op.keys[j], op.default, op.has_default, "bag.pluck") end
      push = function(x)
        local out = {}
        for j = 1, nk do out[j] = getters[j](x) end
        return down(out)
      end
    elseif k == "pluck" then
      local g = getter(op.key, op.default, op.has_default, "bag.pluck")
      push = function(x) return down(g(x)) end
    elseif k == "join" then
      -- dask's Bag.join: {other element, element} for every other element
      -- whose key equals the element's; OTHER is indexed once per partition
      local other = op.other or extras[op.slot]
      if type(other) ~= "table" then error("bag.join: the other collection is not an array", 0) end
      local on_self = getter(op.on_self, nil, false, "bag.join")
      local on_other = getter(op.on_other, nil, false, "bag.join")
      local index
      push = function(x)
        if not index then
          index = {}
          for j = 1, #other do
            local y = other[j]
            local kk = hashable(on_other(y), "bag.join")
            local list = index[kk]
            if not list then list = {}; index[kk] = list end
            list[#list + 1] = y
          end
        end
        local kx = on_self(x)
        local list = kx ~= nil and kx == kx and index[kx]
        if list then
          for j = 1, #list do if down({ list[j], x }) then return true end end
        end
      end
    elseif k == "sample" then
      -- xorshift32 seeded by (seed, partition): reproducible per partition
      local prob = op.prob
      local state = (op.seed * 2654435761 + index * 40503 + 1) % 4294967296
      if state == 0 then state = 1 end
      local bxor, lshift, rshift, tobit = bit.bxor, bit.lshift, bit.rshift, bit.tobit
      state = tobit(state)
      push = function(x)
        state = bxor(state, lshift(state, 13))
        state = bxor(state, rshift(state, 17))
        state = bxor(state, lshift(state, 5))
        local u = (state % 4294967296) / 4294967296
        if u < prob then return down(x) end
      end
    elseif k == "flatten" then
      push = function(x)
        if type(x) ~= "table" then error("bag.flatten: element is a " .. type(x) .. ", not an array", 0) end
        for j = 1, #x do if down(x[j]) then return true end end
      end
    elseif k == "starmap" then
      local f = op.f
      push = function(x)
        if type(x) ~= "table" then error("bag.starmap: element is a " .. type(x) .. ", not an array", 0) end
        local y = f(unpack(x, 1, x.n or #x))
        if y == nil then error("bag.starmap: the function returned nil (a bag cannot hold nil)", 0) end
        return down(y)
      end
    else
      error("bag pipeline: unknown operation '" .. tostring(k) .. "'", 0)
    end
  end
  return push
end
M.chain = chain

-- Sinks: each returns push(x) and finish() -> the partition's result.
local sinks = {}

function sinks.collect()
  local out, n = {}, 0
  return function(x) n = n + 1; out[n] = x end, function() return out end
end

function sinks.take(s)
  local out, n, limit = {}, 0, s.n
  if limit <= 0 then return function() return true end, function() return out end end
  return function(x)
    n = n + 1; out[n] = x
    return n >= limit
  end, function() return out end
end

function sinks.count()
  local n = 0
  return function() n = n + 1 end, function() return n end
end

local function number_check(what)
  return function(x)
    error(what .. ": element is a " .. type(x) .. " (" .. show(x) .. "), not a number", 0)
  end
end

function sinks.sum()
  local s, bad = 0, number_check("bag.sum")
  return function(x)
    if type(x) ~= "number" then bad(x) end
    s = s + x
  end, function() return s end
end

-- min/max partials: {n, value}.
function sinks.min()
  local n, m = 0, nil
  return function(x)
    if n == 0 or x < m then m = x end
    n = n + 1
  end, function() return { n, m } end
end

function sinks.max()
  local n, m = 0, nil
  return function(x)
    if n == 0 or x > m then m = x end
    n = n + 1
  end, function() return { n, m } end
end

-- Moments partial {n, mean, m2} (Welford), combined with Chan's formula.
function sinks.moments()
  local n, mean, m2, bad = 0, 0, 0, number_check("bag.mean/var/std")
  return function(x)
    if type(x) ~= "number" then bad(x) end
    n = n + 1
    local d = x - mean
    mean = mean + d / n
    m2 = m2 + d * (x - mean)
  end, function() return { n, mean, m2 } end
end

function sinks.any()
  local r = false
  return function(x) if x then r = true; return true end end, function() return r end
end

function sinks.all()
  local r = true
  return function(x) if not x then r = false; return true end end, function() return r end
end

-- Frequencies partial: {keys = {k1, ...} in first-seen order, counts = {[k] = n}}.
function sinks.frequencies()
  local counts, keys, n = {}, {}, 0
  return function(x)
    local c = counts[x]
    if c then counts[x] = c + 1
    else
      hashable(x, "bag.frequencies")
      n = n + 1; keys[n] = x; counts[x] = 1
    end
  end, function() return { keys = keys, counts = counts } end
end

-- Distinct partial: array of first occurrences (by key when given).
function sinks.distinct(s)
  local seen, out, n = {}, {}, 0
  local key = s.key and getter(s.key, nil, false, "bag.distinct")
  return function(x)
    local k = x
    if key then k = key(x) end
    if seen[k] == nil then
      hashable(k, "bag.distinct")
      seen[k] = true
      n = n + 1; out[n] = x
    end
  end, function() return out end
end

-- Foldby partial: {keys = {...} first-seen order, acc = {[k] = value}}.
function sinks.foldby(s)
  local key = getter(s.key, nil, false, "bag.foldby")
  local binop, has_init, init = s.binop, s.has_initial, s.initial
  local acc, keys, n = {}, {}, 0
  return function(x)
    local k = key(x)
    local a = acc[k]
    if a == nil then
      hashable(k, "bag.foldby")
      n = n + 1; keys[n] = k
      if has_init then a = binop(init, x) else a = x end
    else
      a = binop(a, x)
    end
    if a == nil then error("bag.foldby: binop returned nil for key " .. show(k), 0) end
    acc[k] = a
  end, function() return { keys = keys, acc = acc } end
end

-- Fold partial: {has, value}.
function sinks.fold(s)
  local binop, has, v = s.binop, s.has_initial, s.initial
  return function(x)
    if has then v = binop(v, x) else v = x; has = true end
  end, function() return { has, v } end
end

-- Binary min-heap of size K on key values: the K largest elements.
function sinks.topk(s)
  local k = s.n
  local key = s.key and getter(s.key, nil, false, "bag.topk")
  local hk, hv, n = {}, {}, 0
  local function down(i)
    while true do
      local l = 2 * i; local r = l + 1; local m = i
      if l <= n and hk[l] < hk[m] then m = l end
      if r <= n and hk[r] < hk[m] then m = r end
      if m == i then return end
      hk[i], hk[m] = hk[m], hk[i]; hv[i], hv[m] = hv[m], hv[i]
      i = m
    end
  end
  return function(x)
    local kx = x
    if key then kx = key(x) end
    if n < k then
      n = n + 1; hk[n] = kx; hv[n] = x
      local i = n
      while i > 1 do
        local p = floor(i / 2)
        if hk[i] < hk[p] then
          hk[i], hk[p] = hk[p], hk[i]; hv[i], hv[p] = hv[p], hv[i]; i = p
        else break end
      end
    elseif k > 0 and kx > hk[1] then
      hk[1] = kx; hv[1] = x; down(1)
    end
  end, function()
    local idx = {}
    for i = 1, n do idx[i] = i end
    sort(idx, function(a, b) return hk[a] > hk[b] end)
    local out = {}
    for i = 1, n do out[i] = hv[idx[i]] end
    return out
  end
end

-- Hash partitioning for groupby: N arrays of elements by key hash.
function sinks.split(s)
  local key = getter(s.key, nil, false, "bag.groupby")
  local nout = s.nout
  local bucket_of = M.bucket_of
  local buckets, counts = {}, {}
  for j = 1, nout do buckets[j] = {}; counts[j] = 0 end
  return function(x)
    local b = bucket_of(key(x), nout)
    local c = counts[b] + 1
    counts[b] = c
    buckets[b][c] = x
  end, function() return buckets end
end

-- Collects the partition, then calls a function on the whole array:
-- map_partitions (result: a new partition) and reduction (a partial).
function sinks.apply(s)
  local push, finish = sinks.collect()
  local f, args, na, what = s.f, s.args, s.nargs or 0, s.what
  return push, function()
    local r = f(finish(), unpack(args or {}, 1, na))
    if s.partition and type(r) ~= "table" then
      error(what .. ": the function returned a " .. type(r) .. ", expected an array (a partition)", 0)
    end
    return r
  end
end

-- Streams the partition to a text file (to_textfiles); result: the path.
function sinks.write(s)
  return textio.writer(s.path, s.compression)
end

M.sinks = sinks

-- Stable bucket 1..n for a grouping key.
local hash_string
function M.bucket_of(k, n)
  local t = type(k)
  if t == "number" then
    if k == floor(k) and k > -2 ^ 53 and k < 2 ^ 53 then return k % n + 1 end
    hashable(k, "bag.groupby")
    return hash_string(string.format("%.17g", k), n)
  elseif t == "string" then
    return hash_string(k, n)
  elseif t == "boolean" then
    return (k and 1 or 0) % n + 1
  end
  hashable(k, "bag.groupby")
end

do
  local ffi = require "ffi"
  require "ldask.ffi.util"
  local lib = require "ldask.native"
  local tonumber = tonumber
  hash_string = function(s, n) return tonumber(lib.ld_hash64(s, #s, 0) % n) + 1 end
end

-- The source of partition I (0-based) of the integers 0 .. N-1 in NP
-- partitions (ldask.bag.range): {first, last + 1}.
function M.range_bounds(n, np, i) return { floor(i * n / np), floor((i + 1) * n / np) } end

-- The partition task: streams SRC (of KIND "list", "range" or "text")
-- through OPS into SINK and returns the sink's result. EXTRAS: the values
-- of the items and partitions of other bags the operations read; INDEX: the
-- partition number.
function M.run(ops, sink, kind, src, extras, index)
  local make = sinks[sink.k]
  if not make then error("bag pipeline: unknown sink '" .. tostring(sink.k) .. "'", 0) end
  local push, finish = make(sink)
  local checks = {}
  push = chain(ops, push, extras, checks, index or 0)
  local stopped = false
  if kind == "list" then
    if type(src) ~= "table" then
      error("bag: a partition must be an array, got a " .. type(src), 0)
    end
    for i = 1, #src do if push(src[i]) then stopped = true; break end end
  elseif kind == "range" then
    for i = src[1], src[2] - 1 do if push(i) then stopped = true; break end end
  elseif kind == "text" then
    stopped = textio.stream(src, push)
  else
    error("bag pipeline: unknown source kind '" .. tostring(kind) .. "'", 0)
  end
  if not stopped then for i = 1, #checks do checks[i]() end end
  return finish()
end

-- accumulate, per partition: running values of BINOP from PREV (the
-- previous partition's result, nil for the first) or INITIAL. Returns
-- {values, last, has_last}.
function M.accumulate_part(binop, has_initial, initial, part, prev)
  local out, n = {}, 0
  local acc, have
  if prev then
    acc, have = prev[2], prev[3]
  elseif has_initial then
    acc, have = initial, true
    n = 1
    out[1] = initial
  end
  for i = 1, #part do
    local x = part[i]
    if have then
      acc = binop(acc, x)
      if acc == nil then error("bag.accumulate: binop returned nil", 0) end
    else
      acc, have = x, true
    end
    n = n + 1
    out[n] = acc
  end
  return { out, acc, have }
end

-- The first field of T.
function M.first(t) return t[1] end

-- Packs its arguments into an array (zip).
function M.pack(...) return { ... } end

-- Cartesian product of partition A with all partitions PARTS (product).
function M.product(a, parts)
  local out, n = {}, 0
  for i = 1, #a do
    local x = a[i]
    for p = 1, #parts do
      local part = parts[p]
      for j = 1, #part do n = n + 1; out[n] = { x, part[j] } end
    end
  end
  return out
end

-- Concatenates partitions (repartition, compute of a bag).
function M.concat(parts)
  local out, n = {}, 0
  for i = 1, #parts do
    local p = parts[i]
    for j = 1, #p do n = n + 1; out[n] = p[j] end
  end
  return out
end

-- Piece PIECE (0-based) of NPIECES of partition PART (repartition).
function M.slice(part, piece, npieces)
  local len = #part
  local lo = floor(piece * len / npieces) + 1
  local hi = floor((piece + 1) * len / npieces)
  local out = {}
  for i = lo, hi do out[i - lo + 1] = part[i] end
  return out
end

-- groupby, second stage: bucket J of every split, grouped by key in
-- first-seen order: an array of {key, {values...}}.
function M.group(j, key, splits)
  local g = getter(key, nil, false, "bag.groupby")
  local groups, order, n = {}, {}, 0
  for i = 1, #splits do
    local b = splits[i][j]
    for e = 1, #b do
      local x = b[e]
      local k = g(x)
      local grp = groups[k]
      if not grp then grp = {}; groups[k] = grp; n = n + 1; order[n] = k end
      grp[#grp + 1] = x
    end
  end
  local out = {}
  for i = 1, n do out[i] = { order[i], groups[order[i]] } end
  return out
end

return M
