--- ldask.dataframe.csv: read_csv's planning (files, header, dtypes inferred
-- from a sample, line-aligned blocks) and its task function, which parses
-- one block in C (core/frame/csv.c) into a Frame of only the columns a
-- query needs.
local ffi = require "ffi"
local lib = require "ldask.native"
require "ldask.ffi.io"
local FT = require "ldask.ffi.frame"
local column = require "ldask.dataframe.column"
local frame = require "ldask.dataframe.frame"

local type, error, tostring, ipairs, pairs, tonumber = type, error, tostring, ipairs, pairs, tonumber
local format, concat, ceil, ffi_string, ffi_new = string.format, table.concat, math.ceil, ffi.string, ffi.new

local M = {}

local T = FT.types
local KIND_OF = { [T.float64] = "float64", [T.int64] = "int64", [T.bool] = "bool",
  [T.datetime] = "datetime64[ns]", [T.string] = "string" }
local DTYPE_ALIASES = {
  float64 = "float64", float = "float64", f8 = "float64", double = "float64",
  int64 = "int64", int = "int64", i8 = "int64", integer = "int64",
  bool = "bool", boolean = "bool",
  ["datetime64[ns]"] = "datetime64[ns]", datetime = "datetime64[ns]", datetime64 = "datetime64[ns]",
  string = "string", str = "string", object = "string", category = "string",
}
M.DTYPE_ALIASES = DTYPE_ALIASES

M.DEFAULT_NA = { "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
  "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null" }

local function errbuf() return ffi_new("char[512]") end

local function glob(pattern, level)
  local out, count, err = ffi_new("char *[1]"), ffi_new("size_t[1]"), errbuf()
  local rc = lib.ld_text_glob(pattern, out, count, err, 512)
  if rc ~= 0 then
    if rc == -6 then error(format("read_csv: no file matches '%s'", pattern), level + 1) end
    error("read_csv: " .. ffi_string(err), level + 1)
  end
  local paths, p = {}, out[0]
  for i = 1, tonumber(count[0]) do
    local s = ffi_string(p)
    paths[i] = s
    p = p + #s + 1
  end
  lib.ld_text_free(out[0])
  return paths
end

local function file_size(path, level)
  local sz, err = ffi_new("int64_t[1]"), errbuf()
  if lib.ld_text_file_size(path, sz, err, 512) ~= 0 then error("read_csv: " .. ffi_string(err), level + 1) end
  return tonumber(sz[0])
end

-- The first line of PATH (header), through the text reader (gzip too).
local function first_line(path, comp, level)
  local r, err = ffi_new("ld_textreader *[1]"), errbuf()
  if lib.ld_textreader_open(path, comp, 0, -1, 65536, 1, r, err, 512) ~= 0 then
    error("read_csv: " .. ffi_string(err), level + 1)
  end
  local data, starts, lens = ffi_new("const char *[1]"), ffi_new("const uint32_t *[1]"), ffi_new("const uint32_t *[1]")
  local n = lib.ld_textreader_next(r[0], data, starts, lens)
  local line
  if n > 0 then line = ffi_string(data[0] + starts[0][0], lens[0][0]) end
  lib.ld_textreader_close(r[0])
  return line
end

-- Splits a header LINE on SEP (quotes removed).
local function split_header(line, sep, quote)
  local out, i, n = {}, 1, #line
  while i <= n + 1 do
    local c = line:sub(i, i)
    if c == quote and quote ~= "" then
      local j, buf = i + 1, {}
      while j <= n do
        local d = line:sub(j, j)
        if d == quote then
          if line:sub(j + 1, j + 1) == quote then buf[#buf + 1] = quote; j = j + 2
          else j = j + 1; break end
        else buf[#buf + 1] = d; j = j + 1 end
      end
      out[#out + 1] = concat(buf)
      local k = line:find(sep, j, true)
      if not k then break end
      i = k + 1
    else
      local k = line:find(sep, i, true)
      out[#out + 1] = line:sub(i, (k or n + 1) - 1)
      if not k then break end
      i = k + 1
    end
  end
  return out
end

-- NUL-separated missing-value strings for C ("" is always missing there).
local function na_string(list)
  local out = {}
  for _, v in ipairs(list) do if v ~= "" then out[#out + 1] = v end end
  return concat(out, "\0") .. "\0\0"
end

-- Fills a ld_csv_spec for BLOCK.
local function spec_for(block, plan, fields, outs, ncols)
  local s = ffi_new("ld_csv_spec")
  s.path = block.path
  s.compression = block.comp
  s.start, s.stop = block.start, block.stop
  s.sep, s.quote = plan.sep:byte(), plan.quote:byte() or 0
  s.skip_header = block.header and 1 or 0
  s.nfields = plan.nfields
  s.ncols = ncols
  s.fields = fields
  s.out = outs
  s.na = plan.na
  s.dict_max = plan.dict_max
  return s
end

local function compression_of(path, comp, level)
  if comp == "infer" or comp == nil then return path:match("%.gz$") and 1 or 0 end
  if comp == "gzip" then return 1 end
  if comp == false or comp == "none" then return 0 end
  error(format("read_csv: unknown compression %s (expected 'infer', 'gzip' or nil)", tostring(comp)), level + 1)
end

local OPTS = { blocksize = true, sep = true, header = true, usecols = true, dtype = true,
  parse_dates = true, na_values = true, compression = true, sample = true, names = true,
  keep_default_na = true, quotechar = true, delimiter = true }

--- Plans read_csv over URLPATH (a glob, a path or a list of them): the
-- files, column names, dtypes and blocks. Raises at LEVEL on bad input.
function M.plan(urlpath, opts, level)
  level = (level or 1) + 1
  opts = opts or {}
  if type(opts) ~= "table" then error("read_csv: options must be a table, got " .. type(opts), level) end
  for k in pairs(opts) do
    if not OPTS[k] then error(format("read_csv: unknown option '%s'", tostring(k)), level) end
  end
  local patterns = type(urlpath) == "table" and urlpath or { urlpath }
  if type(urlpath) ~= "string" and type(urlpath) ~= "table" then
    error("read_csv: expected a path, a glob or a list of them, got " .. type(urlpath), level)
  end
  local paths = {}
  for _, p in ipairs(patterns) do
    if type(p) ~= "string" then error("read_csv: a path must be a string, got " .. type(p), level) end
    for _, f in ipairs(glob(p, level)) do paths[#paths + 1] = f end
  end
  local sep = opts.sep or opts.delimiter or ","
  if type(sep) ~= "string" or #sep ~= 1 then
    error(format("read_csv: sep must be one character, got %s", tostring(sep)), level)
  end
  local quote = opts.quotechar or '"'
  local header = opts.header
  if header == nil then header = 0 end
  if header ~= 0 and header ~= false and header ~= nil then
    error("read_csv: header must be 0 (the first line) or false (no header line)", level)
  end
  local hasheader = header == 0
  local blocksize = opts.blocksize
  if blocksize == nil then blocksize = 64 * 2 ^ 20 end
  if blocksize ~= false and (type(blocksize) ~= "number" or blocksize <= 0) then
    error("read_csv: blocksize must be a positive number of bytes or false (one block per file)", level)
  end
  local na = {}
  if opts.keep_default_na ~= false then for _, v in ipairs(M.DEFAULT_NA) do na[#na + 1] = v end end
  if opts.na_values ~= nil then
    local nv = type(opts.na_values) == "table" and opts.na_values or { opts.na_values }
    for _, v in ipairs(nv) do na[#na + 1] = tostring(v) end
  end
  local comp0 = compression_of(paths[1], opts.compression, level)
  local line = first_line(paths[1], comp0, level)
  if line == nil then error(format("read_csv: %s is empty (no header line)", paths[1]), level) end
  local fieldnames = split_header(line, sep, quote)
  local names
  if opts.names then
    names = opts.names
    if #names ~= #fieldnames then
      error(format("read_csv: %d names for %d fields", #names, #fieldnames), level)
    end
  elseif hasheader then names = fieldnames
  else
    names = {}
    for i = 1, #fieldnames do names[i] = tostring(i - 1) end
  end
  local pos = {}
  for i, n in ipairs(names) do pos[n] = i end
  local plan = { sep = sep, quote = quote, nfields = #names, na = na_string(na), dict_max = 4096,
    names = names, pos = pos }
  -- parse_dates and dtype
  local wantdt = {}
  if opts.parse_dates ~= nil then
    if type(opts.parse_dates) ~= "table" then
      error("read_csv: parse_dates must be a list of column names", level)
    end
    for _, n in ipairs(opts.parse_dates) do
      if not pos[n] then
        error(format("read_csv: parse_dates names '%s', which is not a column (columns: %s)", tostring(n),
          concat(names, ", ")), level)
      end
      wantdt[n] = true
    end
  end
  local forced = {}
  if opts.dtype ~= nil then
    if type(opts.dtype) == "string" then
      for _, n in ipairs(names) do forced[n] = opts.dtype end
    elseif type(opts.dtype) == "table" then
      for n, d in pairs(opts.dtype) do
        if not pos[n] then
          error(format("read_csv: dtype names '%s', which is not a column (columns: %s)", tostring(n),
            concat(names, ", ")), level)
        end
        forced[n] = d
      end
    else
      error("read_csv: dtype must be a dtype name or a table {column = dtype}", level)
    end
    for n, d in pairs(forced) do
      local k = DTYPE_ALIASES[d]
      if not k then
        error(format("read_csv: unknown dtype '%s' for column '%s' (expected float64, int64, bool, "
          .. "datetime64[ns] or string)", tostring(d), tostring(n)), level)
      end
      forced[n] = k
    end
  end
  -- blocks
  local blocks = {}
  for _, path in ipairs(paths) do
    local comp = compression_of(path, opts.compression, level)
    if comp == 1 or blocksize == false then
      blocks[#blocks + 1] = { path = path, comp = comp, start = 0, stop = -1, header = hasheader }
    else
      local size = file_size(path, level)
      local nb = math.max(1, ceil(size / blocksize))
      for b = 0, nb - 1 do
        local start = b * blocksize
        local stop = (b == nb - 1) and -1 or (b + 1) * blocksize
        blocks[#blocks + 1] = { path = path, comp = comp, start = start, stop = stop,
          header = hasheader and b == 0 }
      end
    end
  end
  plan.blocks = blocks
  -- infer dtypes from the first block's head
  local nf = #names
  local types = ffi_new("int32_t[?]", nf)
  for i, n in ipairs(names) do types[i - 1] = wantdt[n] and T.datetime or T.auto end
  local b1 = { path = paths[1], comp = comp0, start = 0, stop = -1, header = hasheader }
  local s = spec_for(b1, plan, nil, nil, 0)
  local rc = lib.ld_csv_infer(s, opts.sample or 1000, nf, types)
  if rc < 0 then error("read_csv: " .. ffi_string(s.err), level) end
  local dtypes = {}
  for i, n in ipairs(names) do
    dtypes[n] = forced[n] or (wantdt[n] and "datetime64[ns]") or KIND_OF[types[i - 1]]
  end
  plan.dtypes = dtypes
  plan.forced = forced -- the dtypes the user gave (an error about them says so)
  -- usecols
  local cols = names
  if opts.usecols ~= nil then
    if type(opts.usecols) ~= "table" then error("read_csv: usecols must be a list of column names", level) end
    cols = {}
    for _, n in ipairs(opts.usecols) do
      if not pos[n] then
        error(format("read_csv: usecols names '%s', which is not a column (columns: %s)", tostring(n),
          concat(names, ", ")), level)
      end
    end
    for _, n in ipairs(names) do
      for _, u in ipairs(opts.usecols) do if u == n then cols[#cols + 1] = n end end
    end
  end
  plan.columns = cols
  return plan
end

-- The 1-based line number in the file of line LINE (0-based) of BLOCK.
local function file_line(block, line)
  if block.start == 0 then return line + 1 end
  local err = errbuf()
  local nl = tonumber(lib.ld_text_count_newlines(block.path, block.start, err, 512))
  local f = io.open(block.path, "rb")
  local before = 0
  if f then
    f:seek("set", block.start - 1)
    local c = f:read(1)
    f:close()
    if c ~= "\n" then before = 1 end
  end
  return nl + before + line + 1
end

local ND_OF = { float64 = "float64", int64 = "int64", bool = "bool", ["datetime64[ns]"] = "int64" }

--- Task: parses BLOCK of PLAN into a Frame of the columns WANT (names in
-- file order).
function M.read_block(plan, block, want)
  local ncols = #want
  local fields = ffi_new("int32_t[?]", math.max(ncols, 1))
  local outs = ffi_new("ld_csv_out[?]", math.max(ncols, 1))
  for k, name in ipairs(want) do
    fields[k - 1] = plan.pos[name] - 1
    outs[k - 1].type = column.CTYPE[plan.dtypes[name]]
  end
  local s = spec_for(block, plan, fields, outs, ncols)
  local rc = lib.ld_csv_read(s)
  if rc ~= 0 then
    if rc == -10 then
      local name = want[s.err_col + 1]
      local dt = plan.dtypes[name]
      local why = plan.forced and plan.forced[name] and "the dtype given for it"
        or ("dtypes were inferred from the first lines of " .. plan.blocks[1].path)
      error(format("read_csv: %s line %d, column '%s': value '%s' does not fit dtype %s "
        .. "(%s). Give the column's dtype: "
        .. "read_csv(..., { dtype = { [\"%s\"] = \"%s\" } })", block.path, file_line(block, tonumber(s.err_line)),
        name, ffi_string(s.err_value), dt, why, name,
        (dt == "int64" and ffi_string(s.err_value):match("^%s*[-+]?[%d.eE+-]+%s*$")) and "float64" or "string"), 0)
    elseif rc == -11 then
      error(format("read_csv: %s line %d: %s (a field with the separator must be quoted)", block.path,
        file_line(block, tonumber(s.err_line)), ffi_string(s.err)), 0)
    end
    error("read_csv: " .. ffi_string(s.err), 0)
  end
  local n = tonumber(s.nrows)
  local cols = {}
  for k, name in ipairs(want) do
    local o = outs[k - 1]
    local kind = plan.dtypes[name]
    local valid = o.valid ~= nil and column.nd_from_buffer(o.valid, "bool", n) or nil
    if kind == "string" then
      if o.dict ~= 0 then
        local nc = tonumber(o.ncats)
        local cats = column.strings(column.nd_from_buffer(o.offsets, "int64", nc + 1),
          column.nd_from_buffer(o.cats, "uint8", tonumber(o.nbytes)), nil, nc)
        cols[name] = column.dict(column.nd_from_buffer(o.data, "int32", n), cats, n)
      else
        cols[name] = column.strings(column.nd_from_buffer(o.offsets, "int64", n + 1),
          column.nd_from_buffer(o.data, "uint8", tonumber(o.nbytes)), valid, n)
      end
    else
      cols[name] = column.new({ kind = kind, n = n, data = column.nd_from_buffer(o.data, ND_OF[kind], n),
        valid = valid })
    end
  end
  local names = {}
  for i, nme in ipairs(want) do names[i] = nme end
  return frame.new(names, cols, n)
end

return M
