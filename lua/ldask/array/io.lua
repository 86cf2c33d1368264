--- ldask.array.io: .npy input and output. from_npy reads the header once and
-- makes one task per block that maps (contiguous blocks: no copy; the map is
-- dropped with the block) or reads its part of the file, so arrays far
-- larger than memory stream through. to_npy creates the file, then each
-- block's task writes its region with pwrite: the whole array is never in
-- memory.
-- @submodule ldask.array
local ffi = require "ffi"
local lib = require "ldask.native"
local core = require "ldask.array.core"
local nd = require "ldask.array.ndarray"
local K = require "ldask.array.kernels"
local base = require "ldask.base"
require "ldask.ffi.array"

local type, error, format, tonumber = type, error, string.format, tonumber

local M = {}

local function header(path, what)
  if type(path) ~= "string" then error(what .. ": path must be a string", 3) end
  local info = ffi.new("ld_npy_info")
  if lib.ld_npy_read_header(path, info) ~= 0 then
    error(what .. ": " .. ffi.string(lib.ld_array_errmsg()), 3)
  end
  local shape = {}
  for d = 0, info.ndim - 1 do shape[d + 1] = tonumber(info.shape[d]) end
  return { path = path, dtype = info.dtype, shape = shape, offset = tonumber(info.data_offset),
    fortran = info.fortran ~= 0 }
end

-- Size of PATH (part of the token, so a file rewritten with another size
-- gets new keys).
local function file_stamp(path)
  local f = io.open(path, "rb")
  local size = f and f:seek("end") or 0
  if f then f:close() end
  return size
end
M.file_stamp = file_stamp

-- The layer NAME of an array of CHUNKS read from storage: block (i, j, ...)
-- is the task {READ, H, start, shape} (the block's start and shape as lists).
function M.read_layer(name, chunks, read, h)
  local starts = {}
  for d = 1, #chunks do starts[d] = core.starts(chunks[d]) end
  local layer = {}
  core.each_block(core.numblocks(chunks), function(idx)
    local s, b = {}, {}
    for d = 1, #idx do s[d], b[d] = starts[d][idx[d] + 1], chunks[d][idx[d] + 1] end
    layer[#idx == 0 and name or core.bkey(name, idx)] = { read, h, s, b }
  end)
  return layer
end

--- from_npy(path, {chunks}): the array stored in a .npy file (little-endian,
-- C order). Default chunks: "auto" along axis 0, whole trailing axes when
-- they fit, so blocks are contiguous byte ranges.
-- @param path the file
-- @param[opt] opts `{ chunks = }`
-- @return an Array
function M.from_npy(path, opts)
  opts = opts or {}
  local h = header(path, "from_npy")
  local n = #h.shape
  local itemsize = nd.itemsize_of[h.dtype]
  local spec = opts.chunks
  if h.fortran then
    -- column-major data: the C-order array of reversed shape, transposed
    local rshape = {}
    for d = 1, n do rshape[d] = h.shape[n + 1 - d] end
    local rspec
    if spec ~= nil then
      local c = core.normalize_chunks(spec, h.shape, itemsize, "from_npy", 2)
      rspec = {}
      for d = 1, n do rspec[d] = c[n + 1 - d] end
    end
    local hr = { path = h.path, dtype = h.dtype, shape = rshape, offset = h.offset }
    local r = M.read_c_order(hr, rspec, itemsize)
    return require("ldask.array.slicing").transpose(r)
  end
  return M.read_c_order(h, spec, itemsize)
end

-- Array over the C-order data of header H. Default chunks: "auto" along
-- axis 0 and whole trailing axes, so blocks are contiguous byte ranges.
function M.read_c_order(h, spec, itemsize)
  if spec == nil then spec = M.contiguous_chunks(#h.shape) end
  local chunks = core.normalize_chunks(spec, h.shape, itemsize, "from_npy", 3)
  local name = core.name("from_npy", h.path, h.shape, h.dtype, chunks, file_stamp(h.path))
  local layer = M.read_layer(name, chunks, K.npy_read, h)
  return core.new(name, layer, chunks, h.dtype)
end

-- The array NAME whose one key counts the elements of X written by the
-- tasks {WRITE, H, start, block} (one per block of X, start a list).
function M.write_layer(name, x, write, h)
  local layer, keys, starts = {}, {}, {}
  for d = 1, x.ndim do starts[d] = core.starts(x.chunks[d]) end
  core.each_block(core.numblocks(x.chunks), function(idx)
    local s = {}
    for d = 1, #idx do s[d] = starts[d][idx[d] + 1] end
    local k = core.bkey(name .. "-block", idx)
    layer[k] = { write, h, s, x.ndim == 0 and x.name or core.bkey(x.name, idx) }
    keys[#keys + 1] = k
  end)
  layer[name] = { K.count, keys }
  return core.new(name, layer, {}, "int64", { x })
end

-- Default chunks of stored C-order data of NDIM axes: "auto" along axis 0,
-- trailing axes whole, so blocks are contiguous byte ranges.
function M.contiguous_chunks(ndim)
  local spec = {}
  for d = 1, ndim do spec[d] = d == 1 and "auto" or -1 end
  return spec
end

--- to_npy(x, path, opts): computes X block by block into the .npy file PATH
-- (created or truncated). OPTS as for compute. Returns the number of
-- elements written.
-- @param x an Array
-- @param path the file
-- @param[opt] opts options of compute
-- @return the number of elements written
function M.to_npy(x, path, opts)
  if not core.is_array(x) then error("to_npy: expected an array", 2) end
  if type(path) ~= "string" then error("to_npy: path must be a string", 2) end
  local info = ffi.new("ld_npy_info")
  local shape = ffi.new("int64_t[8]")
  for d = 1, x.ndim do shape[d - 1] = x.shape[d] end
  if lib.ld_npy_create(path, nd.dtype_code(x.dtype), x.ndim, shape, info) ~= 0 then
    error(ffi.string(lib.ld_array_errmsg()), 2)
  end
  local h = { path = path, dtype = info.dtype, shape = x.shape, offset = tonumber(info.data_offset) }
  local out = M.write_layer(core.name("to_npy", x.name, path), x, K.npy_write, h)
  return base.get(out:__ldask_graph(), out.name, opts)
end

M.store = M.to_npy

return M
