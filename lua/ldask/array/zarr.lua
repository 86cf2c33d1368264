--- ldask.array.zarr: zarr v2 directory stores as arrays. from_zarr reads
-- and bounds the .zarray metadata when the graph is built; each block's
-- task reads the chunk files it overlaps (core/io/zarr.c: libblosc, zlib;
-- a missing chunk file is the fill value). to_zarr writes .zarray and
-- .zattrs first, then each block's task writes its one chunk file.
-- @submodule ldask.array
local ffi = require "ffi"
local cjson = require "cjson"
local lib = require "ldask.native"
local core = require "ldask.array.core"
local nd = require "ldask.array.ndarray"
local K = require "ldask.array.kernels"
local aio = require "ldask.array.io"
local base = require "ldask.base"
local S = require "ldask.ffi.storage"

local type, error, format, tostring, tonumber, pairs, ipairs, floor, max, concat, pcall =
  type, error, string.format, tostring, tonumber, pairs, ipairs, math.floor, math.max,
  table.concat, pcall
local huge = math.huge
local ffi_string = ffi.string

local M = {}

-- zarr dtype strings -> ldask dtype name and byte order (true: big-endian)
local DTYPES = {
  ["<f8"] = { "float64", false }, [">f8"] = { "float64", true },
  ["<f4"] = { "float32", false }, [">f4"] = { "float32", true },
  ["<i8"] = { "int64", false }, [">i8"] = { "int64", true },
  ["<i4"] = { "int32", false }, [">i4"] = { "int32", true },
  ["|u1"] = { "uint8", false }, ["<u1"] = { "uint8", false }, [">u1"] = { "uint8", false },
  ["|b1"] = { "bool", false }, ["<b1"] = { "bool", false }, [">b1"] = { "bool", false },
}
local WRITE_DTYPE = { float64 = "<f8", float32 = "<f4", int64 = "<i8", int32 = "<i4", uint8 = "|u1",
  bool = "|b1" }
local BLOSC_NAMES = { lz4 = true, lz4hc = true, blosclz = true, zstd = true, zlib = true, snappy = true }
-- Bounds on untrusted metadata: dimension sizes (exact doubles) and blocks.
local MAX_DIM = 2 ^ 53
local MAX_BLOCKS = 1e7

local function cerr(what, level) error(what .. ": " .. ffi_string(lib.ld_array_errmsg()), level + 1) end

local function read_text(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function write_text(path, text, level)
  local f, err = io.open(path, "wb")
  if not f then error("to_zarr: cannot write " .. tostring(err), level + 1) end
  f:write(text)
  f:close()
end

local function is_int(v) return type(v) == "number" and v == floor(v) and v >= 0 and v < MAX_DIM end

-- The fill value of .zarray field V for DTYPE (nil when V is null).
local function parse_fill(v, dtype, where, level)
  if v == nil or v == cjson.null then return nil end
  local float = dtype == "float64" or dtype == "float32"
  if dtype == "bool" then
    if v == true or v == false then return v end
    if v == 0 or v == 1 then return v == 1 end
  elseif type(v) == "number" and (float or v == floor(v)) then
    return v
  elseif float and type(v) == "string" then
    if v == "NaN" then return 0 / 0 end
    if v == "Infinity" then return huge end
    if v == "-Infinity" then return -huge end
  end
  error(format("%s: fill_value %s is not a %s value", where, tostring(v), dtype), level + 1)
end

-- Reads and checks DIR/.zarray. Returns the metadata table tasks carry.
local function read_meta(dir, level)
  local where = dir .. "/.zarray"
  local text = read_text(where)
  if text == nil then
    local what = read_text(dir .. "/.zgroup") and "is a zarr group, not an array (name the array inside)"
      or "has no .zarray (not a zarr v2 array)"
    error(format("from_zarr: %s %s", dir, what), level + 1)
  end
  local ok, z = pcall(cjson.decode, text)
  if not ok or type(z) ~= "table" then
    error(format("from_zarr: %s is not valid JSON: %s", where, tostring(z)), level + 1)
  end
  local function bad(msg, ...) error(format("from_zarr: %s: " .. msg, where, ...), level + 2) end
  if z.zarr_format ~= 2 then bad("zarr_format %s is not 2", tostring(z.zarr_format)) end
  local dt = type(z.dtype) == "string" and DTYPES[z.dtype]
  if not dt then
    bad("unsupported dtype %s (supported: <f8 <f4 <i8 <i4 |u1 |b1 and their > forms)", tostring(z.dtype))
  end
  local shape, chunks = z.shape, z.chunks
  if type(shape) ~= "table" or type(chunks) ~= "table" or #shape ~= #chunks or #shape > 8 then
    bad("shape and chunks must be lists of the same length (at most 8)")
  end
  local itemsize = nd.itemsize_of[nd.dtype_code(dt[1])]
  local cbytes, nblocks = itemsize, 1
  for d = 1, #shape do
    if not is_int(shape[d]) then bad("bad shape entry %s", tostring(shape[d])) end
    if not is_int(chunks[d]) or chunks[d] < 1 then bad("bad chunks entry %s", tostring(chunks[d])) end
    cbytes = cbytes * chunks[d]
    if cbytes > 2147483000 then bad("chunks of more than 2 GB are not supported") end
    nblocks = nblocks * math.ceil(shape[d] / chunks[d])
  end
  if z.order ~= "C" and z.order ~= "F" then bad("order %s is not \"C\" or \"F\"", tostring(z.order)) end
  if z.filters ~= nil and z.filters ~= cjson.null and (type(z.filters) ~= "table" or #z.filters > 0) then
    bad("filters are not supported")
  end
  local sep = z.dimension_separator
  if sep == nil or sep == cjson.null then sep = "." end
  if sep ~= "." and sep ~= "/" then bad("dimension_separator %s is not \".\" or \"/\"", tostring(sep)) end
  local m = { dir = dir, dtype = dt[1], swap = dt[2], fortran = z.order == "F", shape = {}, chunks = {},
    sep = sep, codec = "none", level = 0, shuffle = 0, blocksize = 0, cname = "", nblocks = nblocks }
  for d = 1, #shape do m.shape[d], m.chunks[d] = shape[d], chunks[d] end
  local c = z.compressor
  if c ~= nil and c ~= cjson.null then
    if type(c) ~= "table" then bad("bad compressor") end
    local id = c.id
    if id == "blosc" then
      m.codec, m.cname = "blosc", c.cname or "lz4"
      if not BLOSC_NAMES[m.cname] then bad("unknown blosc cname %s", tostring(m.cname)) end
      m.level, m.shuffle, m.blocksize = c.clevel or 5, c.shuffle or 1, c.blocksize or 0
    elseif id == "zlib" or id == "gzip" then
      m.codec, m.level = id, c.level or 1
    else
      bad("unsupported compressor %s (supported: blosc, zlib, gzip, none)", tostring(id))
    end
  end
  m.fill = parse_fill(z.fill_value, m.dtype, "from_zarr: " .. where, level + 1)
  return m
end

local function cmeta(m)
  local c = ffi.new("ld_zarr_meta")
  c.dtype, c.swap, c.fortran, c.ndim = nd.dtype_code(m.dtype), m.swap and 1 or 0, m.fortran and 1 or 0, #m.chunks
  for d = 1, #m.chunks do c.chunks[d - 1] = m.chunks[d] end
  c.codec, c.level, c.shuffle, c.blocksize = S.zarr_codec[m.codec], m.level, m.shuffle, m.blocksize
  ffi.copy(c.cname, m.cname, math.min(#m.cname, 15))
  return c
end

-- The file of chunk CIDX (0-based list) of store M.
local function chunk_path(m, cidx)
  if #cidx == 0 then return m.dir .. "/0" end
  return m.dir .. "/" .. concat(cidx, m.sep)
end

local function fill_of(m) return m.fill == nil and 0 or m.fill end

-- Reads chunk CIDX of M: an ndarray of the chunk shape, or nil when the
-- chunk file is missing.
local function read_chunk(m, cidx, c)
  local out = nd.empty_struct()
  local rc = lib.ld_zarr_read_chunk(chunk_path(m, cidx), c or cmeta(m), out)
  if rc < 0 then error("from_zarr: " .. ffi_string(lib.ld_array_errmsg()), 0) end
  if rc == 1 then return nil end
  return out
end

-- Task: the block of store M at START with SHAPE (assembled from the chunks
-- it overlaps; a block that lies in one chunk is a view of it).
function M.read_block(m, start, shape)
  local n, ch = #shape, m.chunks
  local lo, hi, within = {}, {}, {}
  for d = 1, n do
    if shape[d] == 0 then return nd.alloc(shape, m.dtype) end
    lo[d] = floor(start[d] / ch[d])
    hi[d] = floor((start[d] + shape[d] - 1) / ch[d])
    within[d] = { start[d] - lo[d] * ch[d], start[d] - lo[d] * ch[d] + shape[d] }
  end
  local one = true
  for d = 1, n do if lo[d] ~= hi[d] then one = false end end
  local c = cmeta(m)
  if one then
    local a = read_chunk(m, lo, c)
    if a == nil then return K.full(shape, fill_of(m), m.dtype) end
    return n == 0 and a or a:slice(within)
  end
  local out = nd.alloc(shape, m.dtype)
  local cidx = {}
  for d = 1, n do cidx[d] = lo[d] end
  while true do
    local src, dst = {}, {}
    for d = 1, n do
      local c0 = cidx[d] * ch[d]
      local a, b = max(c0, start[d]), math.min(c0 + ch[d], start[d] + shape[d])
      src[d], dst[d] = { a - c0, b - c0 }, { a - start[d], b - start[d] }
    end
    local a = read_chunk(m, cidx, c)
    nd.assign(out:slice(dst), a and a:slice(src) or fill_of(m))
    local d = n
    while d >= 1 do
      cidx[d] = cidx[d] + 1
      if cidx[d] <= hi[d] then break end
      cidx[d] = lo[d]
      d = d - 1
    end
    if d < 1 then break end
  end
  return out
end

--- from_zarr(dir[, component][, opts]): the array of the zarr v2 directory
-- store DIR (or of its array COMPONENT, a path inside DIR). Default chunks:
-- the store's chunks (`opts.chunks` as for the other creation functions; a
-- block may span several chunk files). dtypes `<f8 <f4 <i8 <i4 |u1 |b1` and
-- big-endian forms; compressors blosc, zlib, gzip or none; C or F order;
-- missing chunk files read as fill_value.
-- @param dir the store's directory
-- @param[opt] component the array's path inside the store
-- @param[opt] opts `{ chunks = }`
-- @return an Array
function M.from_zarr(dir, component, opts)
  if type(dir) ~= "string" then error("from_zarr: the store must be a directory path, got " .. type(dir), 2) end
  if type(component) == "table" and opts == nil then component, opts = nil, component end
  if component ~= nil then
    if type(component) ~= "string" then error("from_zarr: component must be a string", 2) end
    dir = dir .. "/" .. component
  end
  opts = opts or {}
  local m = read_meta(dir, 2)
  local spec = opts.chunks
  if spec == nil then
    spec = {}
    for d = 1, #m.shape do spec[d] = math.min(m.chunks[d], max(m.shape[d], 1)) end
    if m.nblocks > MAX_BLOCKS then
      error(format("from_zarr: %s has %d chunks: pass larger chunks ({chunks = ...}, multiples of %s)",
        dir, m.nblocks, nd.shape_str(m.chunks)), 2)
    end
  end
  local itemsize = nd.itemsize_of[nd.dtype_code(m.dtype)]
  local chunks = core.normalize_chunks(spec, m.shape, itemsize, "from_zarr", 2)
  local name = core.name("from_zarr", dir, m, chunks, aio.file_stamp(dir .. "/.zarray"))
  m.nblocks = nil
  return core.new(name, aio.read_layer(name, chunks, M.read_block, m), chunks, m.dtype)
end

-- Task: writes block X (at START, a whole number of chunks in) as its chunk
-- file; edge blocks are padded to the chunk shape with the fill value.
function M.write_block(m, start, x)
  local idx = {}
  for d = 1, #m.chunks do idx[d] = floor(start[d] / m.chunks[d]) end
  local full = true
  for d = 1, #m.chunks do if x.shape[d] ~= m.chunks[d] then full = false end end
  local chunk = x
  if not full then
    chunk = nd.full(m.chunks, fill_of(m), m.dtype)
    local region = {}
    for d = 1, #m.chunks do region[d] = { 0, x.shape[d] } end
    nd.assign(chunk:slice(region), x)
  end
  if lib.ld_zarr_write_chunk(chunk_path(m, idx), cmeta(m), chunk) ~= 0 then
    error("to_zarr: " .. ffi_string(lib.ld_array_errmsg()), 0)
  end
  return x.size
end

-- The compressor of OPTS.compressor as store metadata fields.
local function compressor_of(spec, itemsize, level)
  if spec == nil then spec = "blosc" end
  if spec == false or spec == "none" then return { codec = "none", level = 0, shuffle = 0, blocksize = 0, cname = "" } end
  if type(spec) == "string" then spec = { id = spec } end
  if type(spec) ~= "table" then error("to_zarr: bad compressor " .. tostring(spec), level + 1) end
  local id = spec.id
  if id == "blosc" then
    local cname = spec.cname or "lz4"
    if not BLOSC_NAMES[cname] then error("to_zarr: unknown blosc cname " .. tostring(cname), level + 1) end
    local clevel, shuffle = spec.clevel or 5, spec.shuffle or 1
    if not is_int(clevel) or clevel > 9 then error("to_zarr: blosc clevel must be 0-9", level + 1) end
    if shuffle ~= -1 and shuffle ~= 0 and shuffle ~= 1 and shuffle ~= 2 then
      error("to_zarr: blosc shuffle must be -1, 0, 1 or 2", level + 1)
    end
    if shuffle == -1 then shuffle = itemsize == 1 and 2 or 1 end
    return { codec = "blosc", cname = cname, level = clevel, shuffle = shuffle, blocksize = spec.blocksize or 0 }
  elseif id == "zlib" or id == "gzip" then
    local lv = spec.level or 1
    if not is_int(lv) or lv > 9 then error("to_zarr: " .. id .. " level must be 0-9", level + 1) end
    return { codec = id, level = lv, shuffle = 0, blocksize = 0, cname = "" }
  end
  error("to_zarr: unsupported compressor " .. tostring(id) .. " (blosc, zlib, gzip or \"none\")", level + 1)
end

local function json_number(v, dtype)
  if dtype == "bool" then return v and "true" or "false" end
  if type(v) == "boolean" then v = v and 1 or 0 end
  if v ~= v then return '"NaN"' end
  if v == huge then return '"Infinity"' end
  if v == -huge then return '"-Infinity"' end
  if dtype == "float64" or dtype == "float32" then
    local s = format("%.17g", v)
    if not s:find("[%.eE]") then s = s .. ".0" end
    return s
  end
  return format("%d", v)
end

-- The .zarray text of store M (zarr's layout: sorted keys, 4 spaces).
local function zarray_text(m)
  local comp = "null"
  if m.codec == "blosc" then
    comp = format('{\n        "blocksize": %d,\n        "clevel": %d,\n        "cname": "%s",\n'
      .. '        "id": "blosc",\n        "shuffle": %d\n    }', m.blocksize, m.level, m.cname, m.shuffle)
  elseif m.codec ~= "none" then
    comp = format('{\n        "id": "%s",\n        "level": %d\n    }', m.codec, m.level)
  end
  local function list(t)
    if #t == 0 then return "[]" end
    local p = {}
    for i, v in ipairs(t) do p[i] = format("%d", v) end
    return "[\n        " .. concat(p, ",\n        ") .. "\n    ]"
  end
  return format('{\n    "chunks": %s,\n    "compressor": %s,\n    "dimension_separator": "%s",\n'
    .. '    "dtype": "%s",\n    "fill_value": %s,\n    "filters": null,\n    "order": "%s",\n'
    .. '    "shape": %s,\n    "zarr_format": 2\n}', list(m.chunks), comp, m.sep, WRITE_DTYPE[m.dtype],
    m.fill == nil and "null" or json_number(m.fill, m.dtype), m.fortran and "F" or "C", list(m.shape))
end

local STORE_KEYS = { chunks = true, compressor = true, order = true, fill_value = true, component = true,
  overwrite = true, attrs = true, dimension_separator = true }

--- to_zarr(x, dir[, opts]): writes X into a zarr v2 directory store DIR
-- (created), one task per chunk file. OPTS: `chunks` (rechunk first; the
-- chunks must be regular, as in dask), `compressor` ("blosc" — lz4, zarr's
-- default —, "zlib", "gzip", "none" or false, or a table `{id =, cname =,
-- clevel =, shuffle =, level =}`), `order` ("C" or "F"), `fill_value`
-- (default 0, false for bool; NaN allowed for floats), `component` (a
-- path inside DIR: groups are created), `overwrite` (true to replace an
-- existing array), `attrs` (a table written to .zattrs),
-- `dimension_separator` ("." or "/"), and the options of compute.
-- @param x an Array
-- @param dir the store's directory
-- @param[opt] opts options
-- @return the number of elements written
function M.to_zarr(x, dir, opts)
  if not core.is_array(x) then error("to_zarr: expected an array", 2) end
  if type(dir) ~= "string" then error("to_zarr: the store must be a directory path, got " .. type(dir), 2) end
  opts = opts or {}
  if type(opts) ~= "table" then error("to_zarr: options must be a table", 2) end
  if opts.chunks ~= nil then x = x:rechunk(opts.chunks) end
  local n = x.ndim
  local chunks = {}
  for d = 1, n do
    local c = x.chunks[d]
    for i = 2, #c - 1 do
      if c[i] ~= c[1] then
        error(format("to_zarr: irregular chunks on axis %d (%s): zarr needs equal chunks; "
          .. "pass {chunks = ...} or call x:rechunk first", d - 1, concat(c, ", ")), 2)
      end
    end
    if #c > 1 and c[#c] > c[1] then
      error(format("to_zarr: the last chunk on axis %d (%d) is larger than the others (%d); "
        .. "pass {chunks = ...} or call x:rechunk first", d - 1, c[#c], c[1]), 2)
    end
    chunks[d] = max(c[1], 1)
  end
  local order = opts.order or "C"
  if order ~= "C" and order ~= "F" then error("to_zarr: order must be \"C\" or \"F\"", 2) end
  local sep = opts.dimension_separator or "."
  if sep ~= "." and sep ~= "/" then error("to_zarr: dimension_separator must be \".\" or \"/\"", 2) end
  local fill = opts.fill_value
  if fill == nil then fill = x.dtype == "bool" and false or 0 end
  fill = parse_fill(fill, x.dtype, "to_zarr", 2)
  local itemsize = nd.itemsize_of[nd.dtype_code(x.dtype)]
  local m = compressor_of(opts.compressor, itemsize, 2)
  local bytes = itemsize
  for d = 1, n do bytes = bytes * chunks[d] end
  if bytes > 2147483000 then error("to_zarr: chunks of more than 2 GB: pass smaller chunks", 2) end
  local root = dir
  if opts.component ~= nil then
    if type(opts.component) ~= "string" then error("to_zarr: component must be a string", 2) end
    dir = dir .. "/" .. opts.component
  end
  if read_text(dir .. "/.zarray") and not opts.overwrite then
    error("to_zarr: " .. dir .. " already holds a zarr array (pass overwrite = true to replace it)", 2)
  end
  if lib.ld_zarr_mkdirs(dir) ~= 0 then cerr("to_zarr", 2) end
  if opts.component ~= nil then
    -- every directory from the root to the array's parent is a group
    local parts = {}
    for part in opts.component:gmatch("[^/]+") do parts[#parts + 1] = part end
    local g = root
    for i = 0, #parts - 1 do
      if i > 0 then g = g .. "/" .. parts[i] end
      write_text(g .. "/.zgroup", '{\n    "zarr_format": 2\n}', 2)
    end
  end
  m.dir, m.dtype, m.swap, m.fortran, m.sep, m.fill = dir, x.dtype, false, order == "F", sep, fill
  m.shape, m.chunks = x.shape, chunks
  write_text(dir .. "/.zarray", zarray_text(m), 2)
  local attrs = opts.attrs or {}
  if type(attrs) ~= "table" then error("to_zarr: attrs must be a table", 2) end
  local ok, text = pcall(cjson.encode, attrs)
  if not ok then error("to_zarr: attrs cannot be written as JSON: " .. tostring(text), 2) end
  write_text(dir .. "/.zattrs", text, 2)
  local out = aio.write_layer(core.name("to_zarr", x.name, dir, m), x, M.write_block, m)
  local compute_opts = {}
  for k, v in pairs(opts) do if not STORE_KEYS[k] then compute_opts[k] = v end end
  return base.get(out:__ldask_graph(), out.name, compute_opts)
end

return M
