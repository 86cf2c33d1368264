--- ldask.dataframe.hashpart: hash partitioning of in-memory frames, for
-- groupby's split_out and the task shuffle (merge, set_index,
-- drop_duplicates). Row hashes over key columns come from C
-- (core/frame/hash.c: strings hash by their bytes in both string forms, so
-- equal keys land in the same output partition whatever partition and form
-- they come from); a stable counting sort groups the rows by output.
local ffi = require "ffi"
local lib = require "ldask.native"
local column = require "ldask.dataframe.column"
local frame = require "ldask.dataframe.frame"

local ipairs, tonumber = ipairs, tonumber
local ptr, u8, alloc = column.ptr, column.u8, column.alloc
local I64P, F64P, U8P, I32P, U64P, CHARP = ffi.typeof("int64_t *"), ffi.typeof("double *"),
  ffi.typeof("uint8_t *"), ffi.typeof("int32_t *"), ffi.typeof("uint64_t *"), ffi.typeof("const char *")

local M = {}

-- Folds the hashes of column C into ACC (uint64 pointer, C.n entries).
local function hash_into(c, acc)
  local n = c.n
  if c.kind == "string" then
    if c.codes then
      local cats = c.cats
      local ch = alloc(math.max(cats.n, 1), "int64")
      lib.ld_fr_hash_str(ptr(cats.offsets, I64P), ffi.cast(CHARP, ptr(cats.data, U8P)), nil, cats.n,
        ffi.cast(U64P, ptr(ch, I64P)), 0)
      lib.ld_fr_hash_codes(ptr(c.codes, I32P), n, ffi.cast(U64P, ptr(ch, I64P)), acc)
    else
      lib.ld_fr_hash_str(ptr(c.offsets, I64P), ffi.cast(CHARP, ptr(c.data, U8P)), u8(c.valid), n, acc, 1)
    end
  elseif c.kind == "float64" then
    lib.ld_fr_hash_f64(ptr(c.data, F64P), n, acc)
  elseif c.kind == "bool" then
    lib.ld_fr_hash_i64(ptr(c.data:astype("int64"), I64P), u8(c.valid), n, acc)
  else
    local v = c.valid
    if c.kind == "datetime64[ns]" then v = nil end -- (NaT hashes as its value: all alike)
    lib.ld_fr_hash_i64(ptr(c.data, I64P), u8(v), n, acc)
  end
end

--- Row hashes (an int64 ndarray holding uint64 bits) of the key columns KEYS (a list).
function M.row_hash(keys, n)
  local h = alloc(math.max(n, 1), "int64")
  local hp = ffi.cast(U64P, ptr(h, I64P))
  ffi.fill(hp, 8 * n, 0)
  for _, c in ipairs(keys) do hash_into(c, hp) end
  return h
end

--- Splits frame F into NPARTS frames by the hash of its key columns KEYS
-- (columns of F, or its index): a list of NPARTS frames (rows in their
-- original order within each).
function M.split(f, keys, nparts)
  local n = f._n
  local h = M.row_hash(keys, n)
  local idx = alloc(math.max(n, 1), "int64")
  local bounds = alloc(nparts + 1, "int64")
  lib.ld_fr_partition_rows(ffi.cast(U64P, ptr(h, I64P)), n, nparts, ptr(idx, I64P), ptr(bounds, I64P))
  local bp, at = ptr(bounds, I64P), {}
  for p = 0, nparts do at[p] = tonumber(bp[p]) end
  local out = {}
  for p = 0, nparts - 1 do
    local lo, k = at[p], at[p + 1] - at[p]
    local cols = {}
    for _, name in ipairs(f._names) do cols[name] = column.take(f._cols[name], idx, k, lo) end
    out[p + 1] = frame.new(f._names, cols, k, f._index and column.take(f._index, idx, k, lo), f._index_name)
  end
  column.keep(h, bounds)
  return out
end

--- Task: item J (1-based) of list L (a split's output partition).
function M.pick(l, j) return l[j] end

return M
