-- Every ffi cdef (lua/ldask/ffi/*.lua) matches the C headers it mirrors:
-- sizes, field offsets and types of structs, enum values and function
-- prototypes, compiled against the real headers with cc (see
-- spec/support/cdefcheck.lua). A reordered or retyped field fails here.
local helpers = require "spec.support.helpers"
local check = require "spec.support.cdefcheck"
local ffi = require "ffi"

local root = helpers.root

local function sh(cmd) return helpers.sh(cmd .. " 2>&1") end

local function cc_available()
  local _, rc = sh("command -v cc")
  return rc == 0
end

-- Compiles C file PATH (syntax and static checks only); returns output, rc.
local function compile(path)
  local flags, rc = sh("pkg-config --cflags luajit libuv msgpack")
  assert(rc == 0, "pkg-config cannot find luajit, libuv and msgpack: " .. flags)
  local inc = {}
  for _, d in ipairs(check.include_dirs) do inc[#inc + 1] = "-I" .. helpers.shell_quote(root .. "/" .. d) end
  return sh("cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fsyntax-only " .. table.concat(inc, " ") .. " "
    .. flags:gsub("\n", " ") .. " " .. helpers.shell_quote(path))
end

local function ffi_files()
  local p = io.popen("ls " .. helpers.shell_quote(root .. "/lua/ldask/ffi") .. "/*.lua")
  local files = {}
  for line in p:lines() do files[#files + 1] = line end
  p:close()
  return files
end

describe("ffi cdefs against the C headers", function()
  it("finds cc (the check cannot run without it)", function()
    assert.is_true(cc_available(), "cc is not installed: the ffi cdef check needs a C compiler")
  end)

  it("every declaration of lua/ldask/ffi/*.lua matches its header", function()
    local files = ffi_files()
    assert.is_true(#files >= 9)
    local ndecl = 0
    for _, f in ipairs(files) do
      require("ldask.ffi." .. f:match("([^/]+)%.lua$"))
      ndecl = ndecl + #check.parse(check.cdefs_of(f))
    end
    assert.is_true(ndecl > 150, "too few declarations parsed: " .. ndecl)
    local c = check.write_c(files, helpers.tmpdir(), { constants = true })
    local out, rc = compile(c)
    assert.equal(0, rc, out)
  end)

  it("fails naming the field when a cdef reorders or retypes one", function()
    ffi.cdef [[
typedef struct ld_check_swapped { int32_t nbufs; int32_t kind; double num; char *data; size_t len; ld_buffer **bufs; } ld_check_swapped;
typedef struct ld_check_retyped { int64_t kind; int32_t nbufs; double num; char *data; size_t len; ld_buffer **bufs; } ld_check_retyped;
]]
    local lua = helpers.write_tmp("bad_cdef.lua", [==[
ffi.cdef [[
typedef struct ld_check_swapped { int32_t nbufs; int32_t kind; double num; char *data; size_t len; ld_buffer **bufs; } ld_check_swapped;
typedef struct ld_check_retyped { int64_t kind; int32_t nbufs; double num; char *data; size_t len; ld_buffer **bufs; } ld_check_retyped;
int ld_pool_size(ld_pool *p);
]]
]==])
    check.mirrors.ld_check_swapped, check.mirrors.ld_check_retyped = "ld_value", "ld_value"
    local ok, out, rc = pcall(function()
      return compile(check.write_c({ lua }, helpers.tmpdir()))
    end)
    check.mirrors.ld_check_swapped, check.mirrors.ld_check_retyped = nil, nil
    assert(ok, out)
    assert.is_not.equal(0, rc)
    assert.truthy(out:find("ld_check_swapped.nbufs: offset differs", 1, true), out)
    assert.truthy(out:find("ld_check_retyped: sizeof differs", 1, true), out)
    assert.truthy(out:find("ld_pool_size", 1, true), out) -- const dropped from the prototype
  end)

  it("checks the constants the ffi modules return against the C enums", function()
    local lines = check.constant_checks()
    assert.truthy(lines:find("_Static_assert(LD_VAL_FAST == 7,", 1, true), lines)
    assert.truthy(lines:find("_Static_assert(LD_NOT == 27,", 1, true), lines)
    assert.truthy(lines:find("_Static_assert(LD_SCHED_ECYCLE == -5,", 1, true), lines)
  end)

  it("parses fields, lists and function pointers", function()
    local d = check.parse([[typedef struct x { char *err, *tb; int64_t shape_[8]; void (*release)(void *ctx, size_t n); } x;
int f(const char *s, size_t n);]])
    assert.equal(4, #d[1].fields)
    assert.equal("tb", d[1].fields[2].name)
    assert.equal("char *tb", d[1].fields[2].decl)
    assert.equal("release", d[1].fields[4].name)
    assert.equal("func", d[2].kind)
    assert.equal("f", d[2].name)
  end)
end)
