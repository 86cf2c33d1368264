--- ldask.array.ndmath: the kernel operations of the ndarray type (NumPy-like
-- promotion, elementwise binary/unary operations, where, casts, reductions,
-- arg reductions, matmul, assignment, concatenation, block assembly,
-- counter-based random blocks, ramps) over the C kernels of core/array.
-- Installed into the ndarray module by lua/ldask/array/ndarray.lua (which
-- passes its internals), so both form one module: require
-- "ldask.array.ndarray", not this file.
-- @submodule ldask.array.ndarray
local ffi = require "ffi"
local lib = require "ldask.native"
local E = require "ldask.ffi.array"

local type, tonumber, error, ipairs, next, getmetatable = type, tonumber, error, ipairs, next, getmetatable
local floor, huge, format, max = math.floor, math.huge, string.format, math.max

return function(M, I)
  local empty, alloc, cerr, shape_of, shape_str, to_i64arr = I.empty, I.alloc, I.cerr, I.shape_of,
    I.shape_str, I.to_i64arr
  local view, squeeze, reshape, is_nd, dtype_code, norm_axis = I.view, I.squeeze, I.reshape, I.is_nd,
    I.dtype_code, I.norm_axis
  local DTNAMES = M.dtype_names


  -- Result dtype of mixing dtype codes A and B (NumPy-like promotion).
  local RANK = { [5] = 0, [4] = 1, [3] = 2, [2] = 3 }
  local function promote(a, b)
    if a == b then return a end
    if a == 0 or b == 0 then return 0 end
    if a == 1 or b == 1 then
      local o = a == 1 and b or a
      return (o == 2 or o == 3) and 0 or 1
    end
    return RANK[a] > RANK[b] and a or b
  end
  M.promote = promote

  -- dtype a Lua scalar V takes next to an array of dtype code DT (NumPy's
  -- weak scalars: the array's kind wins unless the scalar needs a float).
  local function scalar_dtype(v, dt)
    if type(v) == "boolean" then return dt end
    if not M.is_int_value(v) then
      return (dt == 0 or dt == 1) and dt or 0
    end
    if dt == 5 then return 2 end
    return dt
  end
  M.scalar_dtype = scalar_dtype

  local function scalar(v, dt)
    local a = alloc({}, dt)
    if type(v) == "boolean" then v = v and 1 or 0 end
    lib.ld_nd_fill(a, v, (v == v and v ~= huge and v ~= -huge) and v or 0)
    return a
  end
  M.scalar = scalar

  -- NumPy's casting rules between dtype codes: "unsafe" (any), "same_kind"
  -- (safe, or float to float, or signed integer to signed integer), "safe"
  -- (no loss: bool to anything, uint8 to wider integers and floats, int32
  -- to int64/float64, int64 to float64, float32 to float64).
  local SAFE = {
    [5] = { [0] = true, true, true, true, true, true },
    [4] = { [0] = true, [1] = true, [2] = true, [3] = true, [4] = true },
    [3] = { [0] = true, [2] = true, [3] = true },
    [2] = { [0] = true, [2] = true },
    [1] = { [0] = true, [1] = true },
    [0] = { [0] = true },
  }
  local function can_cast(from, to, casting, level)
    if casting == nil or casting == "unsafe" then return true end
    if casting ~= "safe" and casting ~= "same_kind" then
      error("astype: casting must be 'unsafe', 'same_kind' or 'safe', got " .. tostring(casting), (level or 1) + 1)
    end
    if SAFE[from][to] then return true end
    if casting == "same_kind" then
      local function kind(c) return (c == 0 or c == 1) and "f" or (c == 2 or c == 3) and "i" or c == 4 and "u" or "b" end
      return kind(from) == kind(to) or (kind(from) == "u" and kind(to) == "i")
    end
    return false
  end
  M.can_cast = can_cast

  -- astype(a, dtype, casting): converted copy; CASTING as in NumPy (default
  -- "unsafe"); a cast the rule forbids is an error naming both dtypes.
  local function astype(a, dtype, casting)
    local code = dtype_code(dtype, "astype", 2)
    if not can_cast(a.dtype_, code, casting, 2) then
      error(format("astype: cannot cast %s to %s under the '%s' casting rule (shape %s)", DTNAMES[a.dtype_],
        DTNAMES[code], casting, shape_str(shape_of(a))), 2)
    end
    local out = empty()
    if lib.ld_nd_astype(a, code, out) ~= 0 then cerr("astype", 2) end
    return out
  end

  local function as_dtype(a, code)
    if a.dtype_ == code then return a end
    local out = empty()
    if lib.ld_nd_astype(a, code, out) ~= 0 then cerr("astype", 3) end
    return out
  end

  local BINOP = E.binop
  local CMP = { eq = true, ne = true, lt = true, le = true, gt = true, ge = true }
  local LOGIC = { ["and"] = true, ["or"] = true, xor = true }
  local BITWISE = { bitwise_and = true, bitwise_or = true, bitwise_xor = true }
  local LOGIC_NAME = { ["and"] = "logical_and", ["or"] = "logical_or", xor = "logical_xor" }
  M.LOGIC_NAME = LOGIC_NAME

  -- dtype code of the result operands of binary OP on dtype codes A, B.
  -- Logical operations work on truth values (any dtype, cast to bool first,
  -- like numpy's logical_and); bitwise ones on integers and bools only.
  local function binary_dtype(op, a, b, level)
    if LOGIC[op] then return 5 end
    local d = promote(a, b)
    if op == "div" and d ~= 0 and d ~= 1 then return 0 end
    if d == 5 and not CMP[op] and not BITWISE[op] and op ~= "maximum" and op ~= "minimum" then return 2 end
    if BITWISE[op] and (d == 0 or d == 1) then
      error(format("%s: not supported for dtype %s (bitwise operations need integers or bools; "
        .. "logical_%s works on any dtype)", op, DTNAMES[d], op:sub(9)), (level or 2) + 1)
    end
    return d
  end
  M.binary_dtype = binary_dtype

  -- numpy refuses negative integer exponents of integers (the result is not
  -- an integer): raises when OP is pow, the operands compute in integer
  -- dtype code D and the exponent Y (a number or an ndarray) has one.
  local function check_pow(op, d, y, level)
    if op ~= "pow" or d == 0 or d == 1 then return end
    local neg
    if type(y) == "number" then neg = y < 0
    elseif is_nd(y) and (y.dtype_ == 2 or y.dtype_ == 3) and lib.ld_nd_size(y) > 0 then
      local out = empty()
      if lib.ld_nd_reduce(E.redop.min, y, 2 ^ y.ndim_ - 1, out) ~= 0 then cerr(nil, level + 1) end
      neg = ffi.cast(y.dtype_ == 2 and "int64_t *" or "int32_t *", out.buf_.data)[0] < 0
    end
    if neg then
      error("power: Integers to negative integer powers are not allowed. (Convert the base to float "
        .. "first: x:astype(\"float64\") ^ y)", level + 1)
    end
  end
  M.check_pow = check_pow

  -- Binary elementwise OP (a name of ldask.ffi.array binop) between X and Y
  -- (ndarrays or Lua numbers/booleans), with broadcasting and promotion.
  local function binary(op, x, y)
    local code = BINOP[op]
    if not code then error("binary: unknown operation " .. tostring(op), 2) end
    local xa, ya = is_nd(x), is_nd(y)
    local dx, dy
    if xa and ya then dx, dy = x.dtype_, y.dtype_
    elseif xa then
      if type(y) ~= "number" and type(y) ~= "boolean" then
        error(format("%s: operand of type %s (expected ndarray, number or boolean)", op, type(y)), 2)
      end
      dx = x.dtype_; dy = scalar_dtype(y, dx)
      if type(y) == "boolean" then dy = 5 end
    elseif ya then
      if type(x) ~= "number" and type(x) ~= "boolean" then
        error(format("%s: operand of type %s (expected ndarray, number or boolean)", op, type(x)), 2)
      end
      dy = y.dtype_; dx = scalar_dtype(x, dy)
      if type(x) == "boolean" then dx = 5 end
    else
      error(op .. ": needs at least one ndarray operand", 2)
    end
    local d = binary_dtype(op, dx, dy, 2)
    check_pow(op, d, y, 2)
    if not xa then x = scalar(x, d) end
    if not ya then y = scalar(y, d) end
    x, y = as_dtype(x, d), as_dtype(y, d)
    local out = empty()
    if lib.ld_nd_binary(code, x, y, out) ~= 0 then cerr(nil, 2) end
    return out
  end
  M.binary = binary

  local UNOP = E.unop
  local INT_OK = { negative = true, abs = true, sign = true, square = true }
  local BOOL_OUT = { isnan = true, isinf = true, isfinite = true }

  -- Unary elementwise OP (a name of ldask.ffi.array unop) of A. Math on
  -- integer or bool input computes in float64 (like NumPy); isnan & co. of
  -- integers are all false / true.
  local function unary(op, a)
    local code = UNOP[op]
    if not code then error("unary: unknown operation " .. tostring(op), 2) end
    if not is_nd(a) then error(op .. ": expected an ndarray, got " .. type(a), 2) end
    local dt = a.dtype_
    if op == "logical_not" then a = as_dtype(a, 5)
    elseif dt ~= 0 and dt ~= 1 then
      if BOOL_OUT[op] then
        local shape = shape_of(a)
        return M.full(shape, op == "isfinite", "bool")
      end
      if dt == 5 and INT_OK[op] then a = as_dtype(a, 2)
      elseif not INT_OK[op] then a = as_dtype(a, 0) end
    end
    local out = empty()
    if lib.ld_nd_unary(code, a, out) ~= 0 then cerr(nil, 2) end
    return out
  end
  M.unary = unary

  --- where(cond, x, y): elementwise choice with broadcasting.
  -- @param c a bool ndarray (or one that converts)
  -- @param x an ndarray or a number
  -- @param y an ndarray or a number
  -- @return an ndarray
  function M.where(c, x, y)
    if not is_nd(c) then c = scalar(c, 5) end
    c = as_dtype(c, 5)
    local dx = is_nd(x) and x.dtype_ or nil
    local dy = is_nd(y) and y.dtype_ or nil
    if not dx and not dy then
      dx = scalar_dtype(x, 2); if type(x) == "boolean" then dx = 5 end
      dy = scalar_dtype(y, 2); if type(y) == "boolean" then dy = 5 end
    elseif not dx then dx = type(x) == "boolean" and 5 or scalar_dtype(x, dy)
    elseif not dy then dy = type(y) == "boolean" and 5 or scalar_dtype(y, dx) end
    local d = promote(dx, dy)
    x = is_nd(x) and as_dtype(x, d) or scalar(x, d)
    y = is_nd(y) and as_dtype(y, d) or scalar(y, d)
    local out = empty()
    if lib.ld_nd_where(c, x, y, out) ~= 0 then cerr(nil, 2) end
    return out
  end

  -- Arguments of a reduction: (axis, keepdims, opts) positionally, or one
  -- options table {axis =, keepdims =, ddof =, split_every = ...} in place
  -- of AXIS (or of KEEPDIMS). Returns axis, keepdims, opts (never nil).
  function M.reduction_args(axis, keepdims, opts)
    if type(axis) == "table" and getmetatable(axis) == nil and axis[1] == nil and next(axis) ~= nil then
      opts = axis
      return opts.axis, opts.keepdims, opts
    end
    if type(keepdims) == "table" then
      opts = keepdims
      return axis, opts.keepdims, opts
    end
    return axis, keepdims, opts or {}
  end

  -- isclose(x, y, rtol, atol, equal_nan) as numpy.isclose: finite pairs
  -- are close when |x - y| <= atol + rtol * |y|, infinities only when equal
  -- (inf is close to inf), NaNs only with EQUAL_NAN. X, Y: ndarrays or
  -- numbers (at least one ndarray); computed in float64; gives bool.
  function M.isclose(x, y, rtol, atol, equal_nan)
    if is_nd(x) then x = as_dtype(x, 0) end
    if is_nd(y) then y = as_dtype(y, 0) end
    local tol = is_nd(y) and binary("add", binary("mul", unary("abs", y), rtol), atol) or atol + rtol * math.abs(y)
    local close = binary("le", unary("abs", binary("sub", x, y)), tol)
    local function fin(v) return is_nd(v) and unary("isfinite", v) or (v - v == 0) end
    local function nan(v) return is_nd(v) and unary("isnan", v) or v ~= v end
    local r = M.where(binary("and", fin(x), fin(y)), close, binary("eq", x, y))
    if equal_nan then r = binary("or", r, binary("and", nan(x), nan(y))) end
    return r
  end

  -- Axis list (0-based, normalized, sorted) and bit mask from AXIS (nil = all,
  -- a number, or a list).
  local function axes_of(axis, nd, what, level)
    local list, mask = {}, 0
    if axis == nil then
      for d = 0, nd - 1 do list[#list + 1] = d end
    else
      if type(axis) == "number" then axis = { axis } end
      if type(axis) ~= "table" then error(what .. ": axis must be a number or a list", level + 1) end
      local seen = {}
      for _, ax in ipairs(axis) do
        local d = norm_axis(ax, nd, what, level + 1)
        if seen[d] then error(format("%s: duplicate axis %d", what, ax), level + 1) end
        seen[d] = true
        list[#list + 1] = d
      end
      table.sort(list)
    end
    for _, d in ipairs(list) do mask = mask + 2 ^ d end
    return list, mask
  end
  M.axes_of = axes_of

  local REDOP = E.redop

  -- Raw C reduction (accumulator dtypes, keepdims shape).
  local function reduce_raw(op, a, mask)
    local out = empty()
    if lib.ld_nd_reduce(REDOP[op], a, mask, out) ~= 0 then cerr(nil, 3) end
    return out
  end
  M.reduce_raw = reduce_raw

  local function drop_axes(a, list, keepdims)
    if keepdims then return a end
    if #list == 0 then return a end
    return squeeze(a, list)
  end

  -- NumPy result dtype of reduction OP on dtype code DT.
  local function reduce_dtype(op, dt)
    if op == "sum" or op == "prod" then return (dt == 0 or dt == 1) and dt or 2 end
    if op == "mean" or op == "var" or op == "std" then return dt == 1 and 1 or 0 end
    if op == "any" or op == "all" then return 5 end
    if op == "argmin" or op == "argmax" or op == "nanargmin" or op == "nanargmax" then return 2 end
    return dt
  end
  M.reduce_dtype = reduce_dtype

  -- Reduction OP (sum prod min max any all mean var std) of A over AXIS (nil,
  -- number or list) with KEEPDIMS; DDOF for var/std.
  local function reduce(a, op, axis, keepdims, ddof)
    local nd = a.ndim_
    local list, mask = axes_of(axis, nd, op, 2)
    local dt = a.dtype_
    if REDOP[op] then
      local r = reduce_raw(op, a, mask)
      return drop_axes(as_dtype(r, reduce_dtype(op, dt)), list, keepdims)
    end
    local n = 1
    for _, d in ipairs(list) do n = n * tonumber(a.shape_[d]) end
    if op == "mean" then
      local s = reduce_raw("sum", as_dtype(a, (dt == 1) and 1 or 0), mask)
      local r = binary("div", s, n)
      return drop_axes(as_dtype(r, reduce_dtype(op, dt)), list, keepdims)
    elseif op == "var" or op == "std" then
      local x = as_dtype(a, 0)
      local mu = binary("div", reduce_raw("sum", x, mask), n)
      local dev = binary("sub", x, mu)
      local m2 = reduce_raw("sum", binary("mul", dev, dev), mask)
      local r = binary("div", m2, max(n - (ddof or 0), 0))
      if op == "std" then r = unary("sqrt", r) end
      return drop_axes(as_dtype(r, reduce_dtype(op, dt)), list, keepdims)
    end
    error("reduce: unknown reduction " .. tostring(op), 2)
  end
  M.reduce = reduce

  -- argmin/argmax (nanargmin/nanargmax: NaNs skipped) of A along AXIS
  -- (nil: over the flattened array). Returns indices (int64) and values
  -- (keepdims shapes when KEEPDIMS). An all-NaN slice of a nan variant is
  -- an error (as in numpy) unless PARTIAL (a block's partial: its value is
  -- then NaN and the combine skips it).
  local function argreduce(a, op, axis, keepdims, partial)
    local nan = op == "nanargmin" or op == "nanargmax"
    local mode = (op == "argmax" or op == "nanargmax") and 1 or 0
    if nan and (a.dtype_ == 0 or a.dtype_ == 1) then mode = mode + 2 end
    local src, ax = a, axis
    if axis == nil then
      src = reshape(a, { -1 })
      ax = 0
    else
      ax = norm_axis(axis, a.ndim_, op, 2)
    end
    local idx, val = empty(), empty()
    if lib.ld_nd_argreduce(mode, src, ax, idx, val) ~= 0 then cerr(nil, 2) end
    if mode >= 2 and not partial and M.any_nan(val) then
      error(op .. ": All-NaN slice encountered", 2)
    end
    if not keepdims then
      idx, val = squeeze(idx, { ax }), squeeze(val, { ax })
    elseif axis == nil then
      local ones = {}
      for d = 1, a.ndim_ do ones[d] = 1 end
      idx, val = reshape(idx, ones), reshape(val, ones)
    end
    return idx, val
  end
  M.argreduce = argreduce

  -- True when the float ndarray A holds a NaN.
  function M.any_nan(a)
    if a.dtype_ ~= 0 and a.dtype_ ~= 1 then return false end
    local out = empty()
    if lib.ld_nd_unary(UNOP.isnan, a, out) ~= 0 then cerr(nil, 2) end
    local r = reduce_raw("any", out, 2 ^ out.ndim_ - 1)
    return ffi.cast("uint8_t *", r.buf_.data)[r.offset_] ~= 0
  end


  -- Matrix product of 2-D arrays (float dtypes through BLAS).
  local function matmul(a, b)
    if not is_nd(a) or not is_nd(b) then error("matmul: expected two ndarrays", 2) end
    if a.ndim_ ~= 2 or b.ndim_ ~= 2 or a.shape_[1] ~= b.shape_[0] then
      error(format("matmul: shapes %s and %s not aligned (need (m, k) @ (k, n))",
        shape_str(shape_of(a)), shape_str(shape_of(b))), 2)
    end
    local d = promote(a.dtype_, b.dtype_)
    local rd = d
    if d == 5 then d = 2 end
    local out = empty()
    if lib.ld_nd_matmul(as_dtype(a, d), as_dtype(b, d), out) ~= 0 then cerr(nil, 2) end
    if rd == 5 then out = as_dtype(binary("ne", out, 0), 5) end
    return out
  end
  M.matmul = matmul

  -- C += A @ B (C contiguous, same dtype as the promoted inputs).
  function M.matmul_acc(a, b, c)
    local d = c.dtype_
    if lib.ld_nd_matmul_acc(as_dtype(a, d), as_dtype(b, d), c) ~= 0 then cerr(nil, 2) end
    return c
  end

  -- Copies SRC (ndarray or scalar) into the view DST (broadcast, converted).
  function M.assign(dst, src)
    if M.is_broadcast(dst) then
      error("assign: the target is a broadcast (read-only) view; write into a copy", 2)
    end
    if not is_nd(src) then src = scalar(src, dst.dtype_) end
    if lib.ld_nd_assign(dst, src) ~= 0 then cerr(nil, 2) end
    return dst
  end

  --- Joins ARRAYS (a list of ndarrays with equal shapes off AXIS) along AXIS.
  -- @param arrays a list of ndarrays
  -- @param axis an axis
  -- @return an ndarray
  function M.concatenate(arrays, axis)
    axis = axis or 0
    local n = #arrays
    if n == 0 then error("concatenate: need at least one array", 2) end
    local first = arrays[1]
    local nd = first.ndim_
    if nd == 0 then error("concatenate: zero-dimensional arrays cannot be concatenated", 2) end
    local ax = norm_axis(axis, nd, "concatenate", 2)
    local shape = shape_of(first)
    local d = first.dtype_
    local total = 0
    for i = 1, n do
      local a = arrays[i]
      if a.ndim_ ~= nd then
        error(format("concatenate: array %d has %d dims, array 1 has %d", i, a.ndim_, nd), 2)
      end
      for k = 0, nd - 1 do
        if k ~= ax and a.shape_[k] ~= first.shape_[k] then
          error(format("concatenate: shapes %s and %s differ off axis %d", shape_str(shape),
            shape_str(shape_of(a)), ax), 2)
        end
      end
      total = total + tonumber(a.shape_[ax])
      d = promote(d, a.dtype_)
    end
    shape[ax + 1] = total
    local out = alloc(shape, d)
    local pos = 0
    for i = 1, n do
      local a = arrays[i]
      local len = tonumber(a.shape_[ax])
      local v = view(out)
      v.shape_[ax] = len
      v.offset_ = out.offset_ + pos * out.strides_[ax]
      if len > 0 and lib.ld_nd_assign(v, a) ~= 0 then cerr("concatenate", 2) end
      pos = pos + len
    end
    return out
  end

  -- Assembles a grid of blocks (nested Lua lists, NDIM levels, blocks of
  -- NDIM dims) into one new array: one allocation, each block copied once
  -- into its region. Block shapes must agree along each grid row/column.
  function M.block(grid, ndim)
    if ndim == 0 then return grid end
    -- block sizes along each axis from the first row/column of the grid
    local sizes, starts = {}, {}
    for d = 1, ndim do
      local g = grid
      for _ = 1, d - 1 do g = g[1] end
      local list, st, pos = {}, {}, 0
      for i = 1, #g do
        local b = g[i]
        for _ = d + 1, ndim do b = b[1] end
        if not is_nd(b) then error("block: grid entry is not an ndarray", 2) end
        list[i] = tonumber(b.shape_[d - 1])
        st[i] = pos
        pos = pos + list[i]
      end
      sizes[d], starts[d] = pos, st
    end
    local dt
    local function scan(g, depth)
      for i = 1, #g do
        if depth == ndim then dt = dt and promote(dt, g[i].dtype_) or g[i].dtype_
        else scan(g[i], depth + 1) end
      end
    end
    scan(grid, 1)
    local out = alloc(sizes, dt)
    local idx = {}
    local function place(g, depth)
      for i = 1, #g do
        idx[depth] = i
        if depth < ndim then place(g[i], depth + 1)
        else
          local b = g[i]
          if b.ndim_ ~= ndim then
            error(format("block: a block has %d dims, expected %d", b.ndim_, ndim), 3)
          end
          local v = view(out)
          local off = out.offset_
          for d = 1, ndim do
            v.shape_[d - 1] = b.shape_[d - 1]
            off = off + starts[d][idx[d]] * out.strides_[d - 1]
          end
          v.offset_ = off
          if lib.ld_nd_size(b) > 0 and lib.ld_nd_assign(v, b) ~= 0 then cerr("block", 3) end
        end
      end
    end
    place(grid, 1)
    return out
  end

  -- Counter-based random block: SHAPE block at global START (with STEP) of an
  -- array of GSHAPE; KIND uniform|normal|integers.
  function M.random_block(kind, dtype, seed, gshape, start, step, shape, p1, p2)
    local a = alloc(shape, dtype)
    local nd = #shape
    local st = step or {}
    local steps = {}
    for i = 1, nd do steps[i] = st[i] or 1 end
    if lib.ld_nd_random(a, E.rand[kind], seed, to_i64arr(gshape, nd), to_i64arr(start, nd),
        to_i64arr(steps, nd), p1, p2) ~= 0 then
      cerr(nil, 2)
    end
    return a
  end

  -- arange-like fill: START + i*STEP for i in 0..N-1.
  function M.ramp(n, start, step, dtype)
    local a = alloc({ n }, dtype)
    lib.ld_nd_ramp(a, start, step)
    return a
  end


  -- Cumulative sum/product (OP "cumsum" | "cumprod") of A along AXIS (nil:
  -- over the flattened array).
  function M.cumulate(a, op, axis)
    if type(axis) == "table" then axis = axis.axis end
    local src, ax = a, axis
    if axis == nil then
      src = reshape(a, { -1 })
      ax = 0
    else
      ax = norm_axis(axis, a.ndim_, op, 2)
    end
    local out = empty()
    if lib.ld_nd_cumulate(op == "cumprod" and 1 or 0, src, ax, out) ~= 0 then cerr(nil, 2) end
    return out
  end

  -- Counts of A's values in BINS equal bins over [LO, HI] (int64 vector).
  function M.histogram(a, bins, lo, hi)
    local out = empty()
    if lib.ld_nd_histogram(a, bins, lo, hi, out) ~= 0 then cerr(nil, 2) end
    return out
  end

  M.astype = astype
end
