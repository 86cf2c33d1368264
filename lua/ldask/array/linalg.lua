--- ldask.array.linalg: products of arrays: dot / matmul, tensordot, outer
-- and einsum. For dot the inner axis is unified, then each output block
-- (i, j) is one task that accumulates A[i, k] @ B[k, j] over k into one
-- buffer with BLAS gemm (beta = 1), so no partial products are
-- materialized; transposed blocks (x.T) go to BLAS as transposed views
-- without copies. tensordot does the same over any contracted axes
-- (per block pair: transpose, reshape, gemm). An ndarray operand (as dask
-- accepts numpy arrays) becomes an array chunked to match the other one.
-- The factorizations (da.linalg) are in linalg_qr.lua and linalg_solve.lua.
-- @submodule ldask.array
local core = require "ldask.array.core"
local nd = require "ldask.array.ndarray"
local K = require "ldask.array.kernels"
local ND = require "ldask.array.ndlinalg"
local rechunk = require "ldask.array.rechunk"

local error, format, type, ipairs, pairs, tostring, sort =
  error, string.format, type, ipairs, pairs, tostring, table.sort

local M = {}

-- An ndarray operand as an array whose axes take CHUNKS[d] where given
-- (a list of block sizes matching that axis) and are whole elsewhere.
local function as_array(v, chunks, what, level)
  if core.is_array(v) then return v end
  if nd.is_ndarray(v) then
    local c = {}
    for d = 1, v.ndim do
      local want = chunks and chunks[d]
      c[d] = (want and core.sum(want) == v.shape[d]) and want or -1
    end
    return require("ldask.array.creation").from_ndarray(v, { chunks = c })
  end
  error(format("%s: expected arrays or ndarrays, got %s", what, type(v)), level + 1)
end
M.as_array = as_array

--- dot(a, b) (also matmul): matrix product of 2-D arrays; 1-D operands are treated as a
-- row (left) or column (right) vector and that axis is dropped from the
-- result, like NumPy (1-D with 1-D gives a 0-d array). Either operand may
-- be an ndarray (it is chunked to match the other).
-- @param a an Array or an ndarray
-- @param b an Array or an ndarray
-- @return an Array
function M.dot(a, b)
  if not core.is_array(a) and not core.is_array(b) then
    error("dot: expected two arrays (one may be an ndarray)", 2)
  end
  if not core.is_array(a) then
    a = as_array(a, nd.is_ndarray(a) and (a.ndim == 1 and { b.chunks[1] } or { nil, b.chunks[1] }), "dot", 2)
  elseif not core.is_array(b) then
    b = as_array(b, { a.chunks[a.ndim] }, "dot", 2)
  end
  if a.ndim < 1 or a.ndim > 2 or b.ndim < 1 or b.ndim > 2 then
    error(format("dot: only 1-D and 2-D arrays are supported, got shapes %s and %s", nd.shape_str(a.shape),
      nd.shape_str(b.shape)), 2)
  end
  core.check_known(a, "dot", 2)
  core.check_known(b, "dot", 2)
  if a.ndim == 1 or b.ndim == 1 then
    local slicing = require "ldask.array.slicing"
    local a2 = a.ndim == 1 and slicing.expand_dims(a, 0) or a
    local b2 = b.ndim == 1 and slicing.expand_dims(b, 1) or b
    if a2.shape[2] ~= b2.shape[1] then
      error(format("dot: shapes %s and %s not aligned: %d != %d", nd.shape_str(a.shape), nd.shape_str(b.shape),
        a2.shape[2], b2.shape[1]), 2)
    end
    local r = M.dot(a2, b2)
    local spec = { a.ndim == 1 and 0 or ":", b.ndim == 1 and 0 or ":" }
    return slicing.getitem(r, spec, 2)
  end
  if a.shape[2] ~= b.shape[1] then
    error(format("dot: shapes %s and %s not aligned: %d (axis 1) != %d (axis 0)", nd.shape_str(a.shape),
      nd.shape_str(b.shape), a.shape[2], b.shape[1]), 2)
  end
  local inner = rechunk.refine({ a.chunks[2], b.chunks[1] })
  a = rechunk.rechunk(a, { a.chunks[1], inner })
  b = rechunk.rechunk(b, { inner, b.chunks[2] })
  local dt = nd.promote(nd.dtype_code(a.dtype), nd.dtype_code(b.dtype))
  local out_dt = dt
  if dt == 5 then error("dot: bool arrays are not supported (cast with astype first)", 2) end
  local dtype = nd.dtype_names[out_dt]
  local name = core.name("dot", a.name, b.name)
  local layer = {}
  local nk = #inner
  for i = 0, #a.chunks[1] - 1 do
    for j = 0, #b.chunks[2] - 1 do
      local as, bs = {}, {}
      for k = 0, nk - 1 do
        as[k + 1] = core.bkey(a.name, { i, k })
        bs[k + 1] = core.bkey(b.name, { k, j })
      end
      layer[core.bkey(name, { i, j })] = { K.dot_sum, as, bs, dtype }
    end
  end
  return core.new(name, layer, { a.chunks[1], b.chunks[2] }, dtype, { a, b })
end

M.matmul = M.dot

-- The contracted axes of tensordot's AXES argument as two 0-based lists.
local function tensordot_axes(a, b, axes, level)
  level = level + 1
  if axes == nil then axes = 2 end
  local aa, bb = {}, {}
  if type(axes) == "number" then
    if axes < 0 or axes > a.ndim or axes > b.ndim or axes ~= math.floor(axes) then
      error(format("tensordot: axes=%s does not fit shapes %s and %s", tostring(axes), nd.shape_str(a.shape),
        nd.shape_str(b.shape)), level)
    end
    for i = 1, axes do
      aa[i] = a.ndim - axes + i - 1
      bb[i] = i - 1
    end
  elseif type(axes) == "table" and #axes == 2 then
    local x, y = axes[1], axes[2]
    if type(x) == "number" then x = { x } end
    if type(y) == "number" then y = { y } end
    if type(x) ~= "table" or type(y) ~= "table" or #x ~= #y then
      error("tensordot: axes must be a number or two lists of the same length, e.g. {{1}, {0}}", level)
    end
    for i = 1, #x do
      aa[i] = nd.norm_axis(x[i], a.ndim, "tensordot", level)
      bb[i] = nd.norm_axis(y[i], b.ndim, "tensordot", level)
    end
  else
    error("tensordot: axes must be a number or two lists of the same length, e.g. {{1}, {0}}", level)
  end
  local seen_a, seen_b = {}, {}
  for i = 1, #aa do
    if seen_a[aa[i]] or seen_b[bb[i]] then error("tensordot: repeated axis in axes", level) end
    seen_a[aa[i]], seen_b[bb[i]] = true, true
    if a.shape[aa[i] + 1] ~= b.shape[bb[i] + 1] then
      error(format("tensordot: shape mismatch for sum: axis %d of %s (%d) and axis %d of %s (%d)", aa[i],
        nd.shape_str(a.shape), a.shape[aa[i] + 1], bb[i], nd.shape_str(b.shape), b.shape[bb[i] + 1]), level)
    end
  end
  return aa, bb
end

--- tensordot(a, b, axes): numpy.tensordot: AXES is a number N (the last N
-- axes of a with the first N of b, default 2) or two lists of 0-based axes
-- `{{1, 2}, {0, 1}}`. Each output block sums, over the blocks of the
-- contracted axes, the tensordot of block pairs (transposed, reshaped,
-- BLAS gemm).
-- @param a an Array or an ndarray
-- @param b an Array or an ndarray
-- @param[opt] axes a number or two lists of axes
-- @return an Array: the free axes of a, then those of b
function M.tensordot(a, b, axes)
  if not core.is_array(a) and not core.is_array(b) then
    error("tensordot: expected two arrays (one may be an ndarray)", 2)
  end
  if not core.is_array(a) then a = as_array(a, nil, "tensordot", 2) end
  if not core.is_array(b) then b = as_array(b, nil, "tensordot", 2) end
  core.check_known(a, "tensordot", 2)
  core.check_known(b, "tensordot", 2)
  local aa, bb = tensordot_axes(a, b, axes, 2)
  local dt = nd.promote(nd.dtype_code(a.dtype), nd.dtype_code(b.dtype))
  if dt == 5 then error("tensordot: bool arrays are not supported (cast with astype first)", 2) end
  local dtype = nd.dtype_names[dt]
  -- unify the chunks of each contracted pair
  local wa, wb = {}, {}
  for d = 1, a.ndim do wa[d] = a.chunks[d] end
  for d = 1, b.ndim do wb[d] = b.chunks[d] end
  for i = 1, #aa do
    local c = rechunk.refine({ a.chunks[aa[i] + 1], b.chunks[bb[i] + 1] })
    wa[aa[i] + 1], wb[bb[i] + 1] = c, c
  end
  a, b = rechunk.rechunk(a, wa), rechunk.rechunk(b, wb)
  local ca, cb = {}, {}
  for i = 1, #aa do ca[aa[i]], cb[bb[i]] = i, i end
  local fa, fb, chunks = {}, {}, {}
  for d = 0, a.ndim - 1 do if not ca[d] then fa[#fa + 1] = d; chunks[#chunks + 1] = a.chunks[d + 1] end end
  for d = 0, b.ndim - 1 do if not cb[d] then fb[#fb + 1] = d; chunks[#chunks + 1] = b.chunks[d + 1] end end
  local cnb = {}
  for i = 1, #aa do cnb[i] = #a.chunks[aa[i] + 1] end
  local name = core.name("tensordot", a.name, b.name, aa, bb)
  local layer = {}
  local function add(oidx)
    local as, bs = {}, {}
    local function each_contracted(cidx)
      local ia, ib = {}, {}
      for i, d in ipairs(fa) do ia[d + 1] = oidx[i] end
      for i, d in ipairs(fb) do ib[d + 1] = oidx[#fa + i] end
      for i = 1, #aa do ia[aa[i] + 1], ib[bb[i] + 1] = cidx[i], cidx[i] end
      as[#as + 1] = a.ndim == 0 and a.name or core.bkey(a.name, ia)
      bs[#bs + 1] = b.ndim == 0 and b.name or core.bkey(b.name, ib)
    end
    if #aa == 0 then each_contracted({}) else core.each_block(cnb, each_contracted) end
    local key = #chunks == 0 and name or core.bkey(name, oidx)
    layer[key] = { ND.tensordot_sum, as, bs, aa, bb, dtype }
  end
  if #chunks == 0 then add({}) else core.each_block(core.numblocks(chunks), add) end
  return core.new(name, layer, chunks, dtype, { a, b })
end

--- outer(a, b): the outer product of the flattened a and b, shape (a.size, b.size).
-- @param a an Array or an ndarray
-- @param b an Array or an ndarray
-- @return an Array
function M.outer(a, b)
  a, b = as_array(a, nil, "outer", 2), as_array(b, nil, "outer", 2)
  local slicing = require "ldask.array.slicing"
  local ra = a.ndim == 1 and a or slicing.reshape(a, { -1 })
  local rb = b.ndim == 1 and b or slicing.reshape(b, { -1 })
  local r = require("ldask.array.elemwise").binary("mul", slicing.expand_dims(ra, 1), slicing.expand_dims(rb, 0), 2)
  return r
end

-- einsum -------------------------------------------------------------------------

local function letters_of(term, what, level)
  local list, seen = {}, {}
  for ch in term:gmatch(".") do
    if not ch:match("%a") then
      error(format("einsum: %s: '%s' is not supported (subscripts are letters; no '...' broadcasting)", what, ch),
        level + 1)
    end
    if seen[ch] then
      error(format("einsum: %s repeats index '%s' (diagonals and traces are not supported; use da.diagonal "
        .. "forms or a reduction)", what, ch), level + 1)
    end
    seen[ch] = true
    list[#list + 1] = ch
  end
  return list
end

local function index_of(list)
  local t = {}
  for i, c in ipairs(list) do t[c] = i end
  return t
end

-- Sums X (indexed by LETTERS) over the letters not in KEEP; returns the new
-- array and letters.
local function sum_out(x, letters, keep, level)
  local axes, rest = {}, {}
  for i, c in ipairs(letters) do
    if keep[c] then rest[#rest + 1] = c else axes[#axes + 1] = i - 1 end
  end
  if #axes == 0 then return x, letters end
  local r = require("ldask.array.reductions").reduction(x, "sum", axes, false, nil, level + 1)
  return r, rest
end

-- Reorders X's axes (LETTERS) to the order of OUT.
local function to_order(x, letters, out)
  local pos = index_of(letters)
  local perm, same = {}, true
  for i, c in ipairs(out) do
    perm[i] = pos[c] - 1
    if perm[i] ~= i - 1 then same = false end
  end
  if same then return x end
  return require("ldask.array.slicing").transpose(x, perm)
end

-- Two operands into the letters OUT (every letter of OUT is in A or B).
local function pair(a, la, b, lb, out, level)
  local keep = index_of(out)
  local ib, ia = index_of(lb), index_of(la)
  -- letters only in one operand and not kept are summed first
  local ka, kb = {}, {}
  for c in pairs(keep) do ka[c], kb[c] = true, true end
  for _, c in ipairs(la) do if ib[c] then ka[c] = true end end
  for _, c in ipairs(lb) do if ia[c] then kb[c] = true end end
  a, la = sum_out(a, la, ka, level)
  b, lb = sum_out(b, lb, kb, level)
  ia, ib = index_of(la), index_of(lb)
  local contracted, batch = {}, false
  for _, c in ipairs(la) do
    if ib[c] then
      if keep[c] then batch = true else contracted[#contracted + 1] = c end
    end
  end
  if not batch then
    local axa, axb = {}, {}
    for i, c in ipairs(contracted) do axa[i], axb[i] = ia[c] - 1, ib[c] - 1 end
    local r = M.tensordot(a, b, { axa, axb })
    local letters = {}
    for _, c in ipairs(la) do if not ib[c] then letters[#letters + 1] = c end end
    for _, c in ipairs(lb) do if not ia[c] then letters[#letters + 1] = c end end
    return to_order(r, letters, out)
  end
  -- shared output letters: broadcast both to all letters, multiply, sum
  local all = {}
  for _, c in ipairs(out) do all[#all + 1] = c end
  for _, c in ipairs(contracted) do all[#all + 1] = c end
  local slicing = require "ldask.array.slicing"
  local function spread(x, lx)
    local have = index_of(lx)
    local sub = {}
    for _, c in ipairs(all) do if have[c] then sub[#sub + 1] = c end end
    x = to_order(x, lx, sub)
    for i, c in ipairs(all) do if not have[c] then x = slicing.expand_dims(x, i - 1) end end
    return x
  end
  local prod = require("ldask.array.elemwise").binary("mul", spread(a, la), spread(b, lb), level + 1)
  local r = sum_out(prod, all, keep, level)
  return r
end

--- einsum(subscripts, a, b, ...): numpy.einsum for the common forms:
-- explicit ("ij,jk->ik") or implicit ("ij,jk": the letters seen once, in
-- alphabetical order) output, any number of operands (contracted two at a
-- time, left to right), sums over letters absent from the output,
-- transposes ("ij->ji"), batch letters kept in the output ("bij,bjk->bik").
-- Not supported (a clear error): '...' broadcasting and a letter repeated in
-- one operand (diagonals, traces).
-- @param subscripts the subscripts string
-- @param ... Arrays (or ndarrays)
-- @return an Array
function M.einsum(subscripts, ...)
  local ops = { ... }
  if type(subscripts) ~= "string" then error("einsum: the first argument must be the subscripts string", 2) end
  local spec = subscripts:gsub("%s", "")
  local lhs, rhs = spec:match("^(.-)%->(.*)$")
  if not lhs then lhs = spec end
  local terms = {}
  for t in (lhs .. ","):gmatch("([^,]*),") do terms[#terms + 1] = t end
  if #terms ~= #ops then
    error(format("einsum: %d operands for %d subscripts in '%s'", #ops, #terms, subscripts), 2)
  end
  local lets, sizes, count = {}, {}, {}
  for i, t in ipairs(terms) do
    ops[i] = as_array(ops[i], nil, "einsum", 2)
    lets[i] = letters_of(t, "operand " .. i, 2)
    if #lets[i] ~= ops[i].ndim then
      error(format("einsum: operand %d has %d axes (shape %s) but subscripts '%s'", i, ops[i].ndim,
        nd.shape_str(ops[i].shape), t), 2)
    end
    for d, c in ipairs(lets[i]) do
      local s = ops[i].shape[d]
      if sizes[c] and sizes[c] ~= s and sizes[c] ~= 1 and s ~= 1 then
        error(format("einsum: index '%s' has sizes %d and %d", c, sizes[c], s), 2)
      end
      sizes[c] = sizes[c] and math.max(sizes[c], s) or s
      count[c] = (count[c] or 0) + 1
    end
  end
  local out
  if rhs then
    out = letters_of(rhs, "the output", 2)
    for _, c in ipairs(out) do
      if not sizes[c] then error(format("einsum: output index '%s' is not in any operand", c), 2) end
    end
  else
    out = {}
    for c, n in pairs(count) do if n == 1 then out[#out + 1] = c end end
    sort(out)
  end
  local keep_final = index_of(out)
  local x, lx = ops[1], lets[1]
  if #ops == 1 then
    local r, lr = sum_out(x, lx, keep_final, 2)
    return to_order(r, lr, out)
  end
  for k = 2, #ops do
    -- letters needed after this step: the output's and the later operands'
    local need = {}
    for c in pairs(keep_final) do need[c] = true end
    for j = k + 1, #ops do for _, c in ipairs(lets[j]) do need[c] = true end end
    local res, seen = {}, {}
    for _, src in ipairs({ lx, lets[k] }) do
      for _, c in ipairs(src) do
        if need[c] and not seen[c] then seen[c] = true; res[#res + 1] = c end
      end
    end
    if k == #ops then res = out end
    x, lx = pair(x, lx, ops[k], lets[k], res, 2), res
  end
  return x
end

return M
