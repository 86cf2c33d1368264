-- ldask.array.ndview: the views of the ndarray type, which share their
-- array's buffer: transpose, slicing by index specs (docs/array.md),
-- reshape (a view of contiguous data, else of a copy), expand_dims,
-- squeeze, broadcast_to; and the axis, slice and index-spec normalization
-- the kernels and ldask.array share. Installed into the ndarray module by
-- lua/ldask/array/ndarray.lua (which passes its internals), so both form
-- one module: require "ldask.array.ndarray", not this file.
local lib = require "ldask.native"

local type, tonumber, tostring, error, ipairs = type, tonumber, tostring, error, ipairs
local floor, format, min, max = math.floor, string.format, math.min, math.max

-- M: the ndarray module; I: its internals (empty, view, cerr, shape_of,
-- shape_str). Sets M.norm_axis, M.norm_slice, M.parse_index; returns the
-- view functions by name (transpose, slice, is_contig, copy, reshape,
-- expand_dims, squeeze, broadcast_to).
return function(M, I)
  local empty, view, cerr, shape_of, shape_str = I.empty, I.view, I.cerr, I.shape_of, I.shape_str

  local function norm_axis(ax, nd, what, level)
    if type(ax) ~= "number" or ax ~= floor(ax) then
      error(format("%s: axis %s is not an integer", what, tostring(ax)), level + 1)
    end
    local a = ax < 0 and ax + nd or ax
    if a < 0 or a >= nd then
      error(format("%s: axis %d out of range for a %d-d array", what, ax, nd), level + 1)
    end
    return a
  end
  M.norm_axis = norm_axis

  -- Transposed view; AXES a permutation (0-based), default reversed.
  local function transpose(a, axes)
    local nd = a.ndim_
    local v = view(a)
    if axes == nil then
      axes = {}
      for d = 1, nd do axes[d] = nd - d end
    end
    if #axes ~= nd then
      error(format("transpose: %d axes given for a %d-d array", #axes, nd), 2)
    end
    local seen = {}
    for d = 1, nd do
      local ax = norm_axis(axes[d], nd, "transpose", 2)
      if seen[ax] then error("transpose: repeated axis " .. ax, 2) end
      seen[ax] = true
      v.shape_[d - 1] = a.shape_[ax]
      v.strides_[d - 1] = a.strides_[ax]
    end
    return v
  end

  -- Normalizes slice (start, stop, step) for a dimension of size N like
  -- Python; returns start, count, step.
  local function norm_slice(start, stop, step, n, what, axis, level)
    step = step or 1
    if step == 0 then error(format("%s: slice step cannot be zero (axis %d)", what, axis), level + 1) end
    local lo, hi
    if step > 0 then
      if start == nil then lo = 0 else lo = start < 0 and max(start + n, 0) or min(start, n) end
      if stop == nil then hi = n else hi = stop < 0 and max(stop + n, 0) or min(stop, n) end
      local cnt = hi > lo and floor((hi - lo + step - 1) / step) or 0
      return lo, cnt, step
    else
      if start == nil then lo = n - 1 else lo = start < 0 and max(start + n, -1) or min(start, n - 1) end
      if stop == nil then hi = -1 else hi = stop < 0 and max(stop + n, -1) or min(stop, n - 1) end
      local cnt = lo > hi and floor((lo - hi - step - 1) / -step) or 0
      return lo, cnt, step
    end
  end
  M.norm_slice = norm_slice

  -- Parses one index spec of the slicing form (see docs/array.md):
  --   integer i          → pick (dimension dropped)
  --   {start, stop, step} (nil entries allowed, use false or nil) → slice
  --   ":" or true         → the whole axis
  -- Returns kind ("int" | "slice"), values.
  local function parse_index(spec, what, axis, level)
    local t = type(spec)
    if t == "number" then
      if spec ~= floor(spec) then error(format("%s: index %s at axis %d is not an integer", what, spec, axis), level + 1) end
      return "int", spec
    end
    if spec == ":" or spec == true then return "slice", nil, nil, 1 end
    if t == "table" then
      local s, e, st = spec[1], spec[2], spec[3]
      if s == false then s = nil end
      if e == false then e = nil end
      if st == false then st = nil end
      for _, x in ipairs({ s or 0, e or 0, st or 1 }) do
        if type(x) ~= "number" or x ~= floor(x) then
          error(format("%s: slice bound %s at axis %d is not an integer", what, tostring(x), axis), level + 1)
        end
      end
      return "slice", s, e, st
    end
    error(format("%s: bad index %s at axis %d (use an integer, {start, stop, step} or \":\")",
      what, tostring(spec), axis), level + 1)
  end
  M.parse_index = parse_index

  -- View selecting SPECS (a list of index specs, one per leading axis; the
  -- rest are whole). Integers drop their axis.
  local function slice(a, specs)
    local nd = a.ndim_
    if type(specs) ~= "table" then error("slice: expected a list of index specs", 2) end
    if #specs > nd then
      error(format("slice: %d indices for a %d-d array of shape %s", #specs, nd, shape_str(shape_of(a))), 2)
    end
    local v = view(a)
    local off = a.offset_
    local od = 0
    for d = 0, nd - 1 do
      local n = tonumber(a.shape_[d])
      local kind, s, e, st = "slice", nil, nil, 1
      if specs[d + 1] ~= nil then kind, s, e, st = parse_index(specs[d + 1], "slice", d, 2) end
      if kind == "int" then
        local i = s < 0 and s + n or s
        if i < 0 or i >= n then
          error(format("slice: index %d out of range for axis %d with size %d (shape %s)", s, d, n,
            shape_str(shape_of(a))), 2)
        end
        off = off + i * a.strides_[d]
      else
        local lo, cnt, step = norm_slice(s, e, st, n, "slice", d, 2)
        if cnt > 0 then off = off + lo * a.strides_[d] end
        v.shape_[od] = cnt
        v.strides_[od] = a.strides_[d] * step
        od = od + 1
      end
    end
    v.ndim_ = od
    v.offset_ = off
    return v
  end

  local function is_contig(a) return lib.ld_nd_is_contiguous(a) == 1 end

  -- C-contiguous copy (or A itself when already contiguous and FORCE unset).
  local function copy(a, force)
    local out = empty()
    if lib.ld_nd_astype(a, a.dtype_, out) ~= 0 then cerr("copy", 2) end
    return out
  end

  -- Reshape: a view when A is contiguous, else a copy. One dimension may be -1.
  local function reshape(a, shape)
    local size = tonumber(lib.ld_nd_size(a))
    local known, neg = 1, nil
    local s = {}
    for i = 1, #shape do
      local x = shape[i]
      if x == -1 then
        if neg then error("reshape: only one dimension can be -1", 2) end
        neg = i
      elseif type(x) ~= "number" or x < 0 or x ~= floor(x) then
        error(format("reshape: bad dimension %s in %s", tostring(x), tostring(shape)), 2)
      else known = known * x end
      s[i] = x
    end
    if neg then
      if known == 0 or size % known ~= 0 then
        error(format("reshape: cannot reshape array of size %d into shape %s", size, shape_str(s)), 2)
      end
      s[neg] = size / known
    elseif known ~= size then
      error(format("reshape: cannot reshape array of size %d (shape %s) into shape %s", size,
        shape_str(shape_of(a)), shape_str(s)), 2)
    end
    if #s > 8 then error("reshape: at most 8 dimensions", 2) end
    local src = is_contig(a) and a or copy(a)
    local v = view(src)
    v.ndim_ = #s
    local st = 1
    for d = #s, 1, -1 do
      v.shape_[d - 1] = s[d]
      v.strides_[d - 1] = st
      st = st * s[d]
    end
    return v
  end

  -- View with size-1 axes inserted at AXIS (0-based in the result).
  local function expand_dims(a, axis)
    local nd = a.ndim_
    local ax = norm_axis(axis, nd + 1, "expand_dims", 2)
    local v = view(a)
    v.ndim_ = nd + 1
    for d = nd, ax + 1, -1 do
      v.shape_[d] = a.shape_[d - 1]
      v.strides_[d] = a.strides_[d - 1]
    end
    v.shape_[ax] = 1
    v.strides_[ax] = 0
    return v
  end

  -- View with the size-1 axes in AXES (list, or all when nil) removed.
  local function squeeze(a, axes)
    local nd = a.ndim_
    local drop = {}
    if axes == nil then
      for d = 0, nd - 1 do if a.shape_[d] == 1 then drop[d] = true end end
    else
      if type(axes) == "number" then axes = { axes } end
      for _, ax in ipairs(axes) do
        local d = norm_axis(ax, nd, "squeeze", 2)
        if a.shape_[d] ~= 1 then
          error(format("squeeze: axis %d has size %d, not 1 (shape %s)", ax, tonumber(a.shape_[d]),
            shape_str(shape_of(a))), 2)
        end
        drop[d] = true
      end
    end
    local v = view(a)
    local od = 0
    for d = 0, nd - 1 do
      if not drop[d] then
        v.shape_[od] = a.shape_[d]
        v.strides_[od] = a.strides_[d]
        od = od + 1
      end
    end
    v.ndim_ = od
    return v
  end

  -- Broadcast view of A to SHAPE (stride 0 on broadcast axes).
  local function broadcast_to(a, shape)
    local nd, n = a.ndim_, #shape
    if n < nd then
      error(format("broadcast_to: cannot broadcast shape %s to %s", shape_str(shape_of(a)), shape_str(shape)), 2)
    end
    local v = view(a)
    v.ndim_ = n
    for d = n - 1, 0, -1 do
      local ad = d - (n - nd)
      if ad >= 0 then
        local s = a.shape_[ad]
        if s == shape[d + 1] then
          v.shape_[d], v.strides_[d] = s, a.strides_[ad]
        elseif s == 1 then
          v.shape_[d], v.strides_[d] = shape[d + 1], 0
        else
          error(format("broadcast_to: cannot broadcast shape %s to %s", shape_str(shape_of(a)), shape_str(shape)), 2)
        end
      else
        v.shape_[d], v.strides_[d] = shape[d + 1], 0
      end
    end
    return v
  end

  return {
    transpose = transpose, slice = slice, is_contig = is_contig, copy = copy, reshape = reshape,
    expand_dims = expand_dims, squeeze = squeeze, broadcast_to = broadcast_to,
  }
end
