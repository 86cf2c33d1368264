-- spec/support/cdefcheck.lua: checks the ffi cdefs of lua/ldask/ffi/*.lua
-- against the C headers they mirror. It reads the `ffi.cdef [[...]]` blocks
-- of each file, and writes one C file that includes the real headers and
-- holds, for every declaration:
--   * struct/union: _Static_assert of sizeof, and of each field's offsetof
--     (the numbers LuaJIT computes from the cdef) and type (_Generic on a
--     pointer to the field against a pointer to the cdef's declared type);
--   * enum: _Static_assert of each constant's value;
--   * function: a pointer of the cdef's prototype initialised with the
--     real function (an incompatible prototype fails under -Werror);
--   * function-pointer typedef: _Generic against the cdef's type;
--   * the constants the ffi modules return (M.constants): their C enums.
-- The file is compiled with cc -fsyntax-only; every mismatch is a compile
-- error naming the declaration and the field. Used by
-- spec/unit/ffi_cdef_spec.lua.
local ffi = require "ffi"

local M = {}

-- Headers the cdefs mirror (core/ and runtime/ relative), plus libc.
M.headers = {
  "<stdbool.h>", "<stdlib.h>", "<unistd.h>", "<time.h>", "<msgpack.h>",
  '"util/buffer.h"', '"util/version.h"', '"util/hash.h"', '"util/strmap.h"',
  '"sched/order.h"', '"sched/optimize.h"', '"sched/engine.h"',
  '"array/ndarray.h"', '"array/kernels.h"', '"array/lapack.h"', '"io/npy.h"', '"io/h5.h"', '"io/zarr.h"', '"io/textblocks.h"', '"io/jsontape.h"',
  '"net/frame.h"', '"net/mp.h"', '"net/conn.h"', '"net/auth.h"', '"util/names.h"',
  '"frame/frame.h"', '"frame/csvblock.h"', '"ml/nearest.h"',
  '"pool.h"', '"xstate.h"', '"client_conn.h"', '"spawn.h"', '"wtask.h"',
}
M.include_dirs = { "core", "runtime/lib", "runtime/worker" }

-- Structs whose cdef names its fields differently from C: struct -> function
-- (cdef field name -> C field name). ld_ndarray's fields carry a trailing
-- underscore in the cdef (lua/ldask/ffi/array.lua).
M.renamed_fields = {
  ld_ndarray = function(n) return (n:gsub("_$", "")) end,
}
-- Structs whose cdef declares only their public leading fields (allocated
-- by C only): every declared field is checked, the size is not.
M.prefix_structs = { ld_jsontape = true }
-- Fields whose C type the cdef cannot spell (C11 atomics): "struct.field"
-- -> the C type they must have (same size and alignment as the cdef's).
M.c_field_types = { ["ld_buffer.refs"] = "atomic_int" }
-- cdef structs that mirror a C type of another name.
M.mirrors = { ld_bench_timespec = "struct timespec" }
M.field_names = { ld_bench_timespec = { tv_sec = "tv_sec", tv_nsec = "tv_nsec" } }

local function strip_comments(s)
  return (s:gsub("/%*.-%*/", " "):gsub("//[^\n]*", " "))
end

-- The cdef blocks of the Lua file at PATH, concatenated.
function M.cdefs_of(path)
  local f = assert(io.open(path))
  local src = f:read("*a")
  f:close()
  local out = {}
  for _, body in src:gmatch("ffi%.cdef%s*%[(=*)%[(.-)%]%1%]") do out[#out + 1] = body end
  return strip_comments(table.concat(out, "\n"))
end

-- Splits S on SEP (one char) at bracket depth 0.
local function split_top(s, sep)
  local parts, depth, start = {}, 0, 1
  for i = 1, #s do
    local c = s:sub(i, i)
    if c == "(" or c == "{" or c == "[" then
      depth = depth + 1
    elseif c == ")" or c == "}" or c == "]" then
      depth = depth - 1
    elseif c == sep and depth == 0 then
      parts[#parts + 1] = s:sub(start, i - 1)
      start = i + 1
    end
  end
  parts[#parts + 1] = s:sub(start)
  return parts
end
M.split_top = split_top

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- The declared name of declarator text D ("int64_t shape_[8]",
-- "void (*release)(void *ctx)", "char *err") and D with that name replaced
-- by REPL.
local function declarator(d, repl)
  local fp = d:match("%(%s*%*+%s*([%a_][%w_]*)%s*%)")
  if fp then
    local s, e = d:find("%(%s*%*+%s*" .. fp .. "%s*%)")
    local inner = d:sub(s, e):gsub(fp, repl)
    return fp, d:sub(1, s - 1) .. inner .. d:sub(e + 1)
  end
  local head = d:gsub("%b[]", "")
  local name = head:match("([%a_][%w_]*)%s*$")
  local pos = d:find(name .. "%s*[%[]") or d:find(name .. "%s*$")
  return name, d:sub(1, pos - 1) .. repl .. d:sub(pos + #name)
end

-- Parses the fields of a struct body: list of { name, decl } where decl is
-- a full declaration of that one field ("int64_t shape_[8]").
local function fields_of(body)
  local out = {}
  for _, line in ipairs(split_top(body, ";")) do
    line = trim(line)
    if line ~= "" then
      local parts = split_top(line, ",")
      local first = trim(parts[1])
      local name, marked = declarator(first, "\1")
      -- the base type: the first declarator up to its name, without pointers
      local base = trim(marked:sub(1, marked:find("\1", 1, true) - 1):gsub("[%*%s]+$", ""))
      out[#out + 1] = { name = name, decl = first }
      for i = 2, #parts do
        local d = trim(parts[i])
        out[#out + 1] = { name = declarator(d, ""), decl = base .. " " .. d }
      end
    end
  end
  return out
end

-- Parses cdef text into declarations:
-- { kind = "struct"|"enum"|"func"|"fntype", name, ... }.
function M.parse(text)
  local decls = {}
  for _, d in ipairs(split_top(text, ";")) do
    d = trim(d:gsub("%s+", " "))
    if d ~= "" then
      local tag, body, alias = d:match("^typedef (%a+) [%w_]* ?(%b{}) ?([%w_]+)$")
      if not tag then tag, body, alias = d:match("^typedef (%a+) ?(%b{}) ?([%w_]+)$") end
      if tag == "struct" or tag == "union" then
        decls[#decls + 1] = { kind = "struct", name = alias, fields = fields_of(body:sub(2, -2)) }
      elseif tag == "enum" then
        local consts = {}
        for _, c in ipairs(split_top(body:sub(2, -2), ",")) do
          local k, v = c:match("([%a_][%w_]*)%s*=%s*(%S+)")
          if k then consts[#consts + 1] = { k, v } end
        end
        decls[#decls + 1] = { kind = "enum", name = alias, consts = consts }
      elseif d:match("^typedef struct [%w_]+ [%w_]+$") or d:match("^struct [%w_]+$") then
        -- opaque or forward declaration: nothing to compare
      elseif d:match("^typedef ") then
        local decl = d:gsub("^typedef ", "")
        local name = declarator(decl, "")
        decls[#decls + 1] = { kind = "fntype", name = name, decl = decl }
      elseif d:find("__asm__", 1, true) then
        -- a renamed libc symbol (checked through its struct, if any)
      else
        local name = d:match("([%a_][%w_]*)%s*%b()$")
        if not name then error("cdefcheck: cannot parse declaration: " .. d) end
        decls[#decls + 1] = { kind = "func", name = name, decl = d }
      end
    end
  end
  return decls
end

local function c_ident(s) return (s:gsub("[^%w_]", "_")) end

-- The C checks of declarations DECLS (parsed from FILE), using ffi for the
-- numbers (the cdefs must already be loaded in this state).
function M.checks(decls, file)
  local out = {}
  local function add(s) out[#out + 1] = s end
  for _, d in ipairs(decls) do
    local where = file .. ": " .. d.name
    if d.kind == "struct" then
      local cty = M.mirrors[d.name] or d.name
      local rename = M.renamed_fields[d.name]
      local names = M.field_names[d.name]
      if not M.prefix_structs[d.name] then
        add(("_Static_assert(sizeof(%s) == %d, \"%s: sizeof differs from the cdef (%d)\");")
          :format(cty, ffi.sizeof(d.name), where, ffi.sizeof(d.name)))
      end
      for _, f in ipairs(d.fields) do
        local cf = names and names[f.name] or rename and rename(f.name) or f.name
        local off = ffi.offsetof(d.name, f.name)
        add(("_Static_assert(offsetof(%s, %s) == %d, \"%s.%s: offset differs from the cdef (%d)\");")
          :format(cty, cf, off, where, f.name, off))
        if not M.mirrors[d.name] then
          local _, ptr = declarator(f.decl, "(*)")
          local forced = M.c_field_types[d.name .. "." .. f.name]
          if forced then ptr = forced .. " (*)" end
          add(("_Static_assert(_Generic(&((%s *)0)->%s, %s: 1, default: 0), \"%s.%s: type differs from the cdef (%s)\");")
            :format(cty, cf, ptr, where, f.name, f.decl:gsub('"', "")))
        end
      end
    elseif d.kind == "enum" then
      for _, c in ipairs(d.consts) do
        add(("_Static_assert(%s == %s, \"%s: %s differs from the cdef (%s)\");"):format(c[1], c[2], where, c[1], c[2]))
      end
    elseif d.kind == "fntype" then
      local _, ptr = declarator(d.decl, "(*)")
      add(("_Static_assert(_Generic((%s *)0, %s: 1, default: 0), \"%s: type differs from the cdef\");")
        :format(d.name, ptr, where))
    elseif d.kind == "func" then
      local var = "ldask_check_" .. c_ident(file) .. "_" .. d.name
      local ptr = d.decl:gsub("([%a_][%w_]*)(%s*%b()%s*)$", "(*const " .. var .. ")%2")
      add(("%s = %s; /* %s */"):format(ptr, d.name, where))
    end
  end
  return table.concat(out, "\n")
end

-- The constants the ffi modules return, as the C enums name them:
-- { module, field of the returned table (nil: the table itself), function
-- Lua name -> C name }.
local upper = string.upper
local function prefixed(p, special)
  return function(k) return special and special[k] or p .. upper(k) end
end
M.constants = {
  { "ldask.ffi.pool", nil, prefixed("LD_VAL_") },
  { "ldask.ffi.sched", nil, function(k)
    if k:match("^EV_") then return "LD_" .. k end
    if k:match("^ERR_") then return "LD_" .. k end
    if k ~= "ERRED" and k:match("^E%u") then return "LD_SCHED_" .. k end
    if k:match("^STATUS_") then return "LD_SCHED_" .. k:sub(8) end
    if k == "RUNNING" or k == "DONE" or k == "STUCK" then return "LD_SCHED_" .. k end
    return "LD_TASK_" .. k
  end },
  { "ldask.ffi.array", "dtypes", prefixed("", { float64 = "LD_F64", float32 = "LD_F32", int64 = "LD_I64",
    int32 = "LD_I32", uint8 = "LD_U8", bool = "LD_BOOL" }) },
  { "ldask.ffi.array", "binop", prefixed("LD_", { bitwise_and = "LD_AND", bitwise_or = "LD_OR",
    bitwise_xor = "LD_XOR" }) },
  { "ldask.ffi.array", "unop", prefixed("LD_", { negative = "LD_NEG", logical_not = "LD_NOT" }) },
  { "ldask.ffi.array", "redop", prefixed("LD_R") },
  { "ldask.ffi.array", "rand", prefixed("LD_RAND_") },
  { "ldask.ffi.storage", "zarr_codec", prefixed("LD_ZARR_") },
  { "ldask.ffi.util", "opt", prefixed("LD_OPT_") },
}

-- _Static_asserts of every constant of M.constants.
function M.constant_checks()
  local out = {}
  for _, c in ipairs(M.constants) do
    local t = require(c[1])
    if c[2] then t = t[c[2]] end
    local keys = {}
    for k, v in pairs(t) do
      if type(v) == "number" then keys[#keys + 1] = k end
    end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local cname = c[3](k)
      out[#out + 1] = ("_Static_assert(%s == %d, \"%s%s.%s: differs from %s\");")
        :format(cname, t[k], c[1], c[2] and "." .. c[2] or "", k, cname)
    end
  end
  return table.concat(out, "\n")
end

-- Writes the C file for the Lua files PATHS into DIR (and the constants
-- when OPTS.constants); returns its path.
function M.write_c(paths, dir, opts)
  local parts = { "/* generated by spec/support/cdefcheck.lua */", "#include <stddef.h>" }
  for _, h in ipairs(M.headers) do parts[#parts + 1] = "#include " .. h end
  for _, p in ipairs(paths) do
    parts[#parts + 1] = "/* " .. p .. " */"
    parts[#parts + 1] = M.checks(M.parse(M.cdefs_of(p)), p:match("[^/]+$"))
  end
  if opts and opts.constants then parts[#parts + 1] = M.constant_checks() end
  local path = dir .. "/cdefcheck.c"
  local f = assert(io.open(path, "w"))
  f:write(table.concat(parts, "\n"), "\n")
  f:close()
  return path
end

return M
