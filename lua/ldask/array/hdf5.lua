--- ldask.array.hdf5: HDF5 datasets as arrays (core/io/h5.c over Debian's
-- libhdf5). from_hdf5 reads only the metadata when the graph is built; each
-- block's task reads its hyperslab (a contiguous, uncompressed little-endian
-- dataset is read like a .npy file: mapped or pread without HDF5). to_hdf5
-- creates the dataset once, then each block's task writes its hyperslab.
-- @submodule ldask.array
local ffi = require "ffi"
local lib = require "ldask.native"
local core = require "ldask.array.core"
local nd = require "ldask.array.ndarray"
local K = require "ldask.array.kernels"
local aio = require "ldask.array.io"
local base = require "ldask.base"
require "ldask.ffi.storage"

local type, error, format, tonumber, pairs, ipairs, floor, ceil, min, max, sort, tostring =
  type, error, string.format, tonumber, pairs, ipairs, math.floor, math.ceil, math.min, math.max,
  table.sort, tostring
local ffi_string = ffi.string

local M = {}

local function cerr(what, level) error(what .. ": " .. ffi_string(lib.ld_array_errmsg()), level + 1) end

local function i64(t, n)
  local a = ffi.new("int64_t[8]")
  for i = 1, n or #t do a[i - 1] = t[i] end
  return a
end

-- The plain table a task carries (H): path, dataset, dtype code, shape, raw
-- offset (-1: through HDF5).
local function header(path, dset, info)
  local shape, chunks = {}, nil
  for d = 0, info.ndim - 1 do shape[d + 1] = tonumber(info.shape[d]) end
  if info.chunked ~= 0 then
    chunks = {}
    for d = 0, info.ndim - 1 do chunks[d + 1] = tonumber(info.chunks[d]) end
  end
  return { path = path, dset = dset, dtype = info.dtype, shape = shape, chunks = chunks,
    raw = tonumber(info.raw_offset), stored = ffi_string(info.stored) }
end

local function cinfo(h)
  local info = ffi.new("ld_h5_info")
  info.dtype, info.ndim, info.raw_offset = h.dtype, #h.shape, h.raw
  for d = 1, #h.shape do info.shape[d - 1] = h.shape[d] end
  return info
end

local function check_names(what, path, dset, level)
  if type(path) ~= "string" then error(what .. ": path must be a string, got " .. type(path), level + 1) end
  if type(dset) ~= "string" or dset == "" then
    error(what .. ": the dataset must be a path in the file like \"/x\", got " .. tostring(dset), level + 1)
  end
end

-- The last error, without the .npy layer's prefix when H's bytes were
-- read or written directly (the dataset named instead).
local function raw_message(h)
  local msg = ffi_string(lib.ld_array_errmsg())
  if h.raw < 0 then return msg end
  return (msg:gsub("^%a*_?npy: ", "")) .. " (dataset " .. h.dset .. ")"
end

-- Task: the block of dataset H at START with SHAPE.
function M.read_block(h, start, shape)
  local out = nd.empty_struct()
  local rc
  if h.raw >= 0 then
    local info = K.npy_info({ dtype = h.dtype, shape = h.shape, offset = h.raw })
    rc = lib.ld_npy_read_block(h.path, info, i64(start), i64(shape), out)
  else
    rc = lib.ld_h5_read(h.path, h.dset, cinfo(h), i64(start), i64(shape), out)
  end
  if rc ~= 0 then error("from_hdf5: " .. raw_message(h), 0) end
  return out
end

-- Task: writes block X at START into dataset H; returns its element count.
function M.write_block(h, start, x)
  local rc
  if h.raw >= 0 then
    rc = lib.ld_npy_write_block(h.path, K.npy_info({ dtype = h.dtype, shape = h.shape, offset = h.raw }),
      i64(start), x)
  else
    rc = lib.ld_h5_write(h.path, h.dset, cinfo(h), i64(start), x)
  end
  if rc ~= 0 then error("to_hdf5: " .. raw_message(h), 0) end
  return x.size
end

-- Default blocks over a chunked dataset: whole multiples of the dataset's
-- chunks, grown evenly (in log space) over the axes towards AUTO_BYTES, no
-- larger than the shape (dask's "auto" with previous_chunks).
local function chunk_multiples(shape, chunks, itemsize)
  local n = #shape
  local block, open = {}, {}
  for d = 1, n do
    block[d] = min(max(chunks[d], 1), max(shape[d], 1))
    if block[d] < shape[d] then open[#open + 1] = d end
  end
  local limit = core.AUTO_BYTES / itemsize
  for _ = 1, n + 1 do
    local total = 1
    for d = 1, n do total = total * block[d] end
    if #open == 0 or total * 2 > limit then break end
    local factor = (limit / total) ^ (1 / #open)
    local still = {}
    for _, d in ipairs(open) do
      local c = chunks[d]
      local want = max(block[d], floor(block[d] * factor / c) * c)
      block[d] = min(want, shape[d])
      if block[d] < shape[d] then still[#still + 1] = d end
    end
    if #still == #open then break end
    open = still
  end
  return block
end

--- from_hdf5(path, dataset, {chunks}): the array stored in dataset DATASET
-- ("/x", groups allowed) of the HDF5 file PATH. Only the metadata is read
-- now; each block's task reads its hyperslab. Default chunks: the dataset's
-- own chunking grown by whole multiples towards ~128 MiB blocks (for a
-- contiguous dataset: "auto" along axis 0, trailing axes whole). dtypes:
-- float64/32 (float16 reads as float32), int64/32 (int16, int8, uint16 as
-- int32, uint32 as int64), uint8, h5py's bool; any byte order.
-- @param path the file
-- @param dataset the dataset's path in the file
-- @param[opt] opts `{ chunks = }`
-- @return an Array
function M.from_hdf5(path, dataset, opts)
  check_names("from_hdf5", path, dataset, 2)
  opts = opts or {}
  if type(opts) ~= "table" then error("from_hdf5: options must be a table", 2) end
  local info = ffi.new("ld_h5_info")
  if lib.ld_h5_info_read(path, dataset, info) ~= 0 then cerr("from_hdf5", 2) end
  local h = header(path, dataset, info)
  local itemsize = nd.itemsize_of[h.dtype]
  local spec = opts.chunks
  if spec == nil then
    if h.chunks then
      spec = chunk_multiples(h.shape, h.chunks, itemsize)
    else
      spec = aio.contiguous_chunks(#h.shape)
    end
  end
  local chunks = core.normalize_chunks(spec, h.shape, itemsize, "from_hdf5", 2)
  local name = core.name("from_hdf5", path, dataset, h.shape, h.dtype, chunks, aio.file_stamp(path))
  local layer = aio.read_layer(name, chunks, M.read_block, h)
  return core.new(name, layer, chunks, h.dtype)
end

local STORE_KEYS = { chunks = true, compression = true, compression_opts = true }

-- The write layer of X into PATH:DSET (creates the dataset now). Returns the
-- Array whose one key counts the elements written.
local function store(x, path, dset, opts, level)
  if not core.is_array(x) then error("to_hdf5: expected an array for " .. tostring(dset), level + 1) end
  check_names("to_hdf5", path, dset, level + 1)
  local n = x.ndim
  local cspec = opts.chunks
  if cspec == nil then cspec = true end
  local cbuf = nil
  if cspec == true then
    if n > 0 then
      cbuf = {}
      for d = 1, n do cbuf[d] = max(x.chunks[d][1] or 1, 1) end
    end
  elseif type(cspec) == "table" then
    if #cspec ~= n then
      error(format("to_hdf5: %d chunk sizes for a %d-d array", #cspec, n), level + 1)
    end
    cbuf = {}
    for d = 1, n do
      local c = cspec[d]
      if type(c) ~= "number" or c < 1 or c ~= floor(c) then
        error(format("to_hdf5: chunk size %s on axis %d must be a positive integer", tostring(c), d - 1),
          level + 1)
      end
      cbuf[d] = c
    end
  elseif cspec ~= false then
    error("to_hdf5: chunks must be true (the array's blocks), false (contiguous) or a list of sizes", level + 1)
  end
  local gzip = -1
  local comp = opts.compression
  if comp == "gzip" then
    gzip = opts.compression_opts or 4
    if type(gzip) ~= "number" or gzip < 0 or gzip > 9 or gzip ~= floor(gzip) then
      error("to_hdf5: compression_opts (the gzip level) must be an integer 0-9, got " .. tostring(gzip), level + 1)
    end
    if n == 0 then error("to_hdf5: a 0-d array cannot be compressed (HDF5 needs chunks)", level + 1) end
    if cspec == false then error("to_hdf5: compression needs chunks (chunks = false asked for none)", level + 1) end
  elseif comp ~= nil then
    error("to_hdf5: unsupported compression " .. tostring(comp) .. " (supported: \"gzip\")", level + 1)
  end
  local info = ffi.new("ld_h5_info")
  if lib.ld_h5_create(path, dset, nd.dtype_code(x.dtype), n, i64(x.shape, n), cbuf and i64(cbuf, n) or nil,
      gzip, info) ~= 0 then
    cerr("to_hdf5", level + 1)
  end
  local h = header(path, dset, info)
  return aio.write_layer(core.name("to_hdf5", x.name, path, dset), x, M.write_block, h)
end

--- to_hdf5(path, dataset, x[, opts]) or to_hdf5(path, {[dataset] = x, ...}[, opts]):
-- writes arrays into datasets of the HDF5 file PATH (created when missing),
-- block by block: the dataset is created first (an existing one of the same
-- shape and dtype is reused, as h5py's require_dataset), then each block's
-- task writes its hyperslab. OPTS: `chunks` (true: the array's blocks, the
-- default; false: contiguous; or a list of sizes), `compression = "gzip"`,
-- `compression_opts` (level 0-9, default 4), and the options of compute.
-- On a cluster every worker must see the file (a shared file system).
-- @param path the file
-- @param dataset the dataset's path in the file (or a table dataset -> array)
-- @param[opt] x the array
-- @param[opt] opts options
-- @return the number of elements written
function M.to_hdf5(path, dataset, x, opts)
  local outs = {}
  if type(dataset) == "table" and not core.is_array(dataset) then
    opts = x
    local names = {}
    for k in pairs(dataset) do names[#names + 1] = k end
    sort(names, function(a, b) return tostring(a) < tostring(b) end)
    opts = opts or {}
    for _, k in ipairs(names) do outs[#outs + 1] = store(dataset[k], path, k, opts, 2) end
  else
    opts = opts or {}
    if type(opts) ~= "table" then error("to_hdf5: options must be a table", 2) end
    outs[1] = store(x, path, dataset, opts, 2)
  end
  local compute_opts = {}
  for k, v in pairs(opts) do if not STORE_KEYS[k] then compute_opts[k] = v end end
  local out = outs[1]
  if #outs > 1 then
    local keys = {}
    for i, o in ipairs(outs) do keys[i] = o.name end
    local name = core.name("to_hdf5", keys)
    out = core.new(name, { [name] = { K.count, keys } }, {}, "int64", outs)
  end
  return base.get(out:__ldask_graph(), out.name, compute_opts)
end

return M
