--- ldask.array.linalg: matrix product of 2-D arrays (dot / matmul). The
-- inner axis is unified, then each output block (i, j) is one task that
-- accumulates A[i, k] @ B[k, j] over k into one buffer with BLAS gemm
-- (beta = 1), so no partial products are materialized; transposed blocks
-- (x.T) go to BLAS as transposed views without copies.
-- @submodule ldask.array
local core = require "ldask.array.core"
local nd = require "ldask.array.ndarray"
local K = require "ldask.array.kernels"
local rechunk = require "ldask.array.rechunk"

local error, format = error, string.format

local M = {}

--- dot(a, b) (also matmul): matrix product of 2-D arrays; 1-D operands are treated as a
-- row (left) or column (right) vector and that axis is dropped from the
-- result, like NumPy (1-D with 1-D gives a 0-d array).
-- @param a an Array
-- @param b an Array
-- @return an Array
function M.dot(a, b)
  if not core.is_array(a) or not core.is_array(b) then error("dot: expected two arrays", 2) end
  if a.ndim < 1 or a.ndim > 2 or b.ndim < 1 or b.ndim > 2 then
    error(format("dot: only 1-D and 2-D arrays are supported, got shapes %s and %s", nd.shape_str(a.shape),
      nd.shape_str(b.shape)), 2)
  end
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

return M
