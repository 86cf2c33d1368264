--- ldask.dataframe.strings: the `.str` methods on string columns (lower,
-- upper, len, contains, startswith, endswith, strip, lstrip, rstrip,
-- slice), run in C (core/frame/str.c). A plain column is processed over
-- its offsets and bytes; a dictionary column runs the kernel once per
-- category, then string results keep the codes (remapped when transformed
-- categories collide, "A" and "a" lowered) and numeric results are gathered
-- through the codes. Missing strings stay missing: a string result keeps
-- the validity mask, len gives an int64 with a mask and the predicates a
-- bool with a mask (`na =` fills it). See docs/dataframe.md.
local ffi = require "ffi"
local lib = require "ldask.native"
local FT = require "ldask.ffi.frame"
local column = require "ldask.dataframe.column"
local aggregate_factorize -- (lazy: ldask.dataframe.aggregate requires kernels)

local type, error, tostring, tonumber, ipairs = type, error, tostring, tonumber, ipairs
local format = string.format
local ptr, u8, alloc = column.ptr, column.u8, column.alloc
local I64P, U8P, I32P, CHARP = ffi.typeof("int64_t *"), ffi.typeof("uint8_t *"), ffi.typeof("int32_t *"),
  ffi.typeof("const char *")
local MODES = FT.str_modes
local NONE = column.NAT

local M = {}

--- The methods and the kind of their result.
M.METHODS = { lower = "string", upper = "string", strip = "string", lstrip = "string", rstrip = "string",
  slice = "string", len = "int64", contains = "bool", startswith = "bool", endswith = "bool" }

local function bytes_of(c) return ffi.cast(CHARP, ptr(c.data, U8P)) end

-- Plain column C transformed by strmap SM.
local function map_plain(c, sm)
  local off, b = ptr(c.offsets, I64P), bytes_of(c)
  local total = tonumber(lib.ld_fr_str_map(off, b, c.n, sm, nil, nil))
  local noff, nb = alloc(c.n + 1, "int64"), alloc(total, "uint8")
  lib.ld_fr_str_map(off, b, c.n, sm, ptr(noff, I64P), ffi.cast("char *", ptr(nb, U8P)))
  return column.strings(noff, nb, c.valid, c.n)
end

-- Numeric result of plain column C: int64 lengths or bool predicates.
local function scan_plain(c, method, args)
  local off, b = ptr(c.offsets, I64P), bytes_of(c)
  if method == "len" then
    local out = alloc(c.n, "int64")
    lib.ld_fr_str_len(off, b, c.n, ptr(out, I64P))
    return column.numeric("int64", out, c.valid)
  end
  local out = alloc(c.n, "bool")
  if method == "contains" then
    local err = ffi.new("char[256]")
    local rc = lib.ld_fr_str_contains(off, b, c.n, args.pat, #args.pat, args.regex and 1 or 0,
      args.case and 0 or 1, ptr(out, U8P), err, 256)
    if rc ~= 0 then
      error(format(".str.contains: bad pattern '%s': %s", args.pat, ffi.string(err)), 0)
    end
  else
    lib.ld_fr_str_affix(off, b, c.n, args.pat, #args.pat, method == "endswith" and 1 or 0, ptr(out, U8P))
  end
  return column.numeric("bool", out, c.valid)
end

-- The strmap of METHOD with ARGS.
local function strmap(method, args)
  local sm = ffi.new("ld_fr_strmap")
  sm.mode = MODES[method]
  if args.chars then sm.chars, sm.nchars = args.chars, #args.chars end
  sm.start = args.start or NONE
  sm.stop = args.stop or NONE
  sm.step = args.step or 1
  return sm, args.chars -- (keeps the chars string alive with the struct)
end

-- A dictionary column of CODES over new categories CATS, whose values may
-- repeat: equal categories merged, the codes remapped.
local function redict(codes, cats, n)
  aggregate_factorize = aggregate_factorize or require("ldask.dataframe.aggregate").factorize
  local map, ng, first = aggregate_factorize(cats)
  if ng == cats.n then return column.dict(codes, cats, n) end
  local ncodes = alloc(n, "int32")
  lib.ld_fr_codes_remap(ptr(codes, I32P), n, ptr(map, I64P), ptr(ncodes, I32P))
  return column.dict(ncodes, column.take(cats, first, ng), n)
end

-- Column C with the missing rows of string column S marked missing
-- (numeric results gathered through dictionary codes).
local function gather_codes(res, s)
  local idx = alloc(s.n, "int64")
  local ip, cp = ptr(idx, I64P), ptr(s.codes, I32P)
  for i = 0, s.n - 1 do ip[i] = cp[i] end
  return column.take_opt(res, idx, s.n)
end

--- Applies METHOD (a key of M.METHODS) with ARGS to string column C.
-- ARGS: contains {pat, regex, case}, startswith/endswith {pat}, strips
-- {chars}, slice {start, stop, step}. Errors are level-0 messages (the
-- task's error names the user's call).
function M.apply(c, method, args)
  if c.kind ~= "string" then
    error(format(".str.%s: the column is %s, not string", method, c.kind), 0)
  end
  local kind = M.METHODS[method]
  if kind == "string" then
    local sm, chars = strmap(method, args)
    local r
    if c.codes then
      r = redict(c.codes, map_plain(c.cats, sm), c.n)
    else
      r = map_plain(c, sm)
    end
    column.keep(chars)
    return r
  end
  if c.codes then
    local res = scan_plain(c.cats, method, args)
    return gather_codes(res, c)
  end
  return scan_plain(c, method, args)
end

--- Fills the missing values of a bool predicate result R with NA (a boolean).
function M.fill_na(r, na)
  if na == nil or not r.valid then return r end
  local d, vp = r.data:copy(), u8(r.valid)
  local dp = ptr(d, U8P)
  for i = 0, r.n - 1 do if vp[i] == 0 then dp[i] = na and 1 or 0 end end
  return column.numeric("bool", d)
end

--- Checks and normalizes the arguments of METHOD as the user gave them
-- (... of s.str:method(...)); errors at LEVEL.
function M.check_args(method, level, a, b, c)
  level = level + 1
  local args = {}
  if method == "contains" then
    if type(a) ~= "string" then error(format(".str.contains: expected a pattern string, got %s", type(a)), level) end
    local o = b or {}
    if type(o) ~= "table" then error(".str.contains: options must be a table {regex =, case =, na =}", level) end
    args.pat = a
    args.regex = o.regex ~= false
    args.case = o.case ~= false
    args.na = o.na
    if args.regex or not args.case then -- (a bad pattern fails here, at the user's line)
      local err = ffi.new("char[256]")
      if lib.ld_fr_str_contains(nil, nil, 0, a, #a, args.regex and 1 or 0, args.case and 0 or 1, nil, err, 256) ~= 0 then
        error(format(".str.contains: bad pattern '%s': %s", a, ffi.string(err)), level)
      end
    end
  elseif method == "startswith" or method == "endswith" then
    if type(a) ~= "string" then error(format(".str.%s: expected a string, got %s", method, type(a)), level) end
    args.pat = a
    args.na = type(b) == "table" and b.na or nil
  elseif method == "strip" or method == "lstrip" or method == "rstrip" then
    if a ~= nil then
      if type(a) ~= "string" then error(format(".str.%s: to_strip must be a string", method), level) end
      if a:find("[\128-\255]") then
        error(format(".str.%s: to_strip must be ASCII characters, got '%s'", method, a), level)
      end
      args.chars = a
    end
  elseif method == "slice" then
    for _, v in ipairs({ { "start", a }, { "stop", b }, { "step", c } }) do
      local x = v[2]
      if x ~= nil and (type(x) ~= "number" or x % 1 ~= 0) then
        error(format(".str.slice: %s must be an integer or nil, got %s", v[1], tostring(x)), level)
      end
      args[v[1]] = x
    end
    if args.step == 0 then error(".str.slice: step cannot be zero", level) end
  end
  return args
end

return M
