-- ldask.bag.json: the fast path for JSON lines. core/io/jsontape tokenizes
-- a chunk of lines in C; this builds the Lua values from the tape (tables
-- presized, short strings interned once per partition). Lines outside the
-- tape's strict subset (escapes in strings, deep nesting, ...) and every
-- malformed line are decoded by lua-cjson itself, so each result and each
-- error message is exactly cjson.decode's: equal tables without
-- metatables, cjson.null for null, doubles for numbers (correctly rounded,
-- as strtod gives them), the last value for a repeated key.
local ffi = require "ffi"
local cjson = require "cjson"
require "ldask.ffi.io"
local lib = require "ldask.native"
local tnew = require "table.new"

local ffi_string, ffi_gc, error, tonumber = ffi.string, ffi.gc, error, tonumber
local null, cjson_decode = cjson.null, cjson.decode

local M = {}

local OBJ, ARR, END, KEY, STR, NUM, TRUE, FALSE, NULL = 1, 2, 3, 4, 5, 6, 7, 8, 9

-- Makes the constructor of objects of shape SID: a function (vals, base)
-- -> {[k1] = vals[base], [k2] = vals[base + 1], ...}: a table template with
-- constant keys, which LuaJIT fills far faster than key-by-key inserts.
local function make_ctor(tape, sid, strs, intern)
  local first, n = tape.shape_first[sid], tape.shape_n[sid]
  local parts = {}
  for j = 0, n - 1 do
    local id = tape.shape_keys[first + j]
    local k = strs[id] or intern(id)
    parts[#parts + 1] = string.format("[%q] = v[b + %d]", k, j)
  end
  local src = "return function(v, b) return { " .. table.concat(parts, ", ") .. " } end"
  return assert(loadstring(src, "=ldask.bag.json shape"))()
end

-- Builders by their code, shared by the partitions run in this Lua state.
local prog_cache, prog_cache_n = {}, 0

-- Makes the builder of lines of signature SID: straight-line code that
-- reads the line's tokens at fixed offsets from its first token t:
-- function(t, num, S) return {["id"] = num[t + 2], ["name"] = S(t + 4), ...} end
-- where S(i) is the string of token i.
local function make_prog(tape, sid, strs, intern)
  local first, n = tape.sig_first[sid], tape.sig_n[sid]
  local codes = {}
  for j = 0, n - 1 do codes[j] = tape.sig_codes[first + j] end
  local pos = 0
  local function gen()
    local code = codes[pos]
    local kind, extra = code % 16, math.floor(code / 16)
    local at = pos
    pos = pos + 1
    if kind == NUM then return "num[t + " .. at .. "]" end
    if kind == STR then return "S(t + " .. at .. ")" end
    if kind == TRUE then return "true" end
    if kind == FALSE then return "false" end
    if kind == NULL then return "null" end
    local parts = {}
    if kind == ARR then
      for j = 1, extra do parts[j] = gen() end
    elseif kind == OBJ then
      local kf, kn = tape.shape_first[extra], tape.shape_n[extra]
      for j = 0, kn - 1 do
        local id = tape.shape_keys[kf + j]
        pos = pos + 1 -- the KEY token
        parts[#parts + 1] = string.format("[%q] = ", strs[id] or intern(id)) .. gen()
      end
    else
      error("ldask.bag.json: bad signature code " .. tostring(code), 0)
    end
    pos = pos + 1 -- END
    return "{ " .. table.concat(parts, ", ") .. " }"
  end
  local body = gen()
  local prog = prog_cache[body]
  if not prog then
    local src = "local null = ...\nreturn function(t, num, S) return " .. body .. " end"
    prog = assert(loadstring(src, "=ldask.bag.json signature"))(null)
    prog_cache_n = prog_cache_n + 1
    if prog_cache_n > 4096 then prog_cache, prog_cache_n = {}, 1 end
    prog_cache[body] = prog
  end
  return prog, n
end

-- Returns a decoder: parse(data, starts, lens, n) tokenizes a chunk of n
-- lines (the text reader's arrays; data must stay valid while values are
-- read); value(i, data) returns the value of line i (0-based) or nil when
-- that line must be decoded with cjson.
function M.decoder()
  local tape = lib.ld_jsontape_new()
  if tape == nil then error("ldask.bag.json: out of memory", 2) end
  tape = ffi_gc(tape, lib.ld_jsontape_free)
  local strs, ctors, progs, prog_n = {}, {}, {}, {}
  local stk_c, stk_m, stk_n, stk_k, stk_f = {}, {}, {}, {}, {}
  local vals = {} -- values of the open shaped objects
  local kind, ival, off, len, num, lf, shape, lsig
  local cur_data -- the chunk being read (for S)

  local function intern(id)
    local s = ffi_string(tape.arena + tape.str_off[id], tape.str_len[id])
    strs[id] = s
    return s
  end

  local function parse(data, starts, lens, n)
    if lib.ld_jsontape_parse(tape, data, starts, lens, n) < 0 then
      error("ldask.bag.read_json: out of memory tokenizing JSON lines", 0)
    end
    kind, ival, off, len, num = tape.kind, tape.ival, tape.off, tape.len, tape.num
    lf, shape, lsig = tape.line_first, tape.shape, tape.line_sig
  end

  -- The string of token I (interned ones made once).
  local function S(i)
    local id = ival[i]
    local s = strs[id]
    if s then return s end
    if id >= 0 then return intern(id) end
    return ffi_string(cur_data + off[i], len[i])
  end

  -- mode: 0 array, 1 object (key by key), 2 shaped object (values on vals)
  local function value(line, data)
    local t = lf[line]
    if t < 0 then return nil end
    local sp, cur, mode, n, key, ctor, vtop = 0, nil, 0, 0, nil, nil, 0
    while true do
      local k = kind[t]
      if k == KEY then
        if mode == 1 then
          local id = ival[t]
          if id >= 0 then key = strs[id] or intern(id) else key = ffi_string(data + off[t], len[t]) end
        end
      elseif k == OBJ or k == ARR then
        sp = sp + 1
        stk_c[sp], stk_m[sp], stk_n[sp], stk_k[sp], stk_f[sp] = cur, mode, n, key, ctor
        n = vtop
        if k == ARR then
          cur, mode = tnew(ival[t], 0), 0
          n = 0
        else
          local sid = shape[t]
          if sid >= 0 then
            ctor = ctors[sid]
            if not ctor then
              ctor = make_ctor(tape, sid, strs, intern)
              ctors[sid] = ctor
            end
            cur, mode = nil, 2 -- n: where its values start on vals, minus one
          else
            cur, mode = tnew(0, ival[t]), 1
          end
        end
      else
        local v
        if k == STR then
          local id = ival[t]
          if id >= 0 then v = strs[id] or intern(id) else v = ffi_string(data + off[t], len[t]) end
        elseif k == NUM then
          v = num[t]
        elseif k == END then
          if mode == 2 then
            v = ctor(vals, n + 1)
            vtop = n
          else
            v = cur
          end
          cur, mode, n, key, ctor = stk_c[sp], stk_m[sp], stk_n[sp], stk_k[sp], stk_f[sp]
          stk_c[sp], stk_k[sp] = nil, nil
          sp = sp - 1
        elseif k == TRUE then
          v = true
        elseif k == FALSE then
          v = false
        else
          v = null
        end
        if sp == 0 then return v end
        if mode == 2 then
          vtop = vtop + 1
          vals[vtop] = v
        elseif mode == 1 then
          cur[key] = v
        else
          n = n + 1
          cur[n] = v
        end
      end
      t = t + 1
    end
  end

  -- Pushes the values of lines FIRST .. NLINES-1 of the parsed chunk, in
  -- order, to PUSH(v, line) (stops when it returns true). Lines outside the
  -- subset are passed to FALLBACK(line) which returns their value. One flat
  -- loop over the tokens (no loop nested in another, so it compiles well).
  -- Returns the number of lines consumed and whether push asked to stop.
  local function each(data, nlines, push, fallback)
    local line = 0
    local sp, cur, mode, n, key, ctor, vtop = 0, nil, 0, 0, nil, nil, 0
    local t = 0
    cur_data = data
    while line < nlines do
      if sp == 0 and lsig[line] >= 0 then
        local sid = lsig[line]
        local prog = progs[sid]
        if not prog then
          prog, prog_n[sid] = make_prog(tape, sid, strs, intern)
          progs[sid] = prog
        end
        local v = prog(t, num, S)
        t = t + prog_n[sid]
        line = line + 1
        if push(v) then return line, true end
      elseif sp == 0 and lf[line] < 0 then
        local v = fallback(line)
        line = line + 1
        if push(v) then return line, true end
      else
        local k = kind[t]
        t = t + 1
        if k == KEY then
          if mode == 1 then
            local id = ival[t - 1]
            if id >= 0 then key = strs[id] or intern(id) else key = ffi_string(data + off[t - 1], len[t - 1]) end
          end
        elseif k == OBJ or k == ARR then
          sp = sp + 1
          stk_c[sp], stk_m[sp], stk_n[sp], stk_k[sp], stk_f[sp] = cur, mode, n, key, ctor
          n = vtop
          if k == ARR then
            cur, mode = tnew(ival[t - 1], 0), 0
            n = 0
          else
            local sid = shape[t - 1]
            if sid >= 0 then
              ctor = ctors[sid]
              if not ctor then
                ctor = make_ctor(tape, sid, strs, intern)
                ctors[sid] = ctor
              end
              cur, mode = nil, 2
            else
              cur, mode = tnew(0, ival[t - 1]), 1
            end
          end
        else
          local v
          if k == STR then
            local id = ival[t - 1]
            if id >= 0 then v = strs[id] or intern(id) else v = ffi_string(data + off[t - 1], len[t - 1]) end
          elseif k == NUM then
            v = num[t - 1]
          elseif k == END then
            if mode == 2 then
              v = ctor(vals, n + 1)
              vtop = n
            else
              v = cur
            end
            cur, mode, n, key, ctor = stk_c[sp], stk_m[sp], stk_n[sp], stk_k[sp], stk_f[sp]
            stk_c[sp], stk_k[sp] = nil, nil
            sp = sp - 1
          elseif k == TRUE then
            v = true
          elseif k == FALSE then
            v = false
          else
            v = null
          end
          if sp == 0 then
            line = line + 1
            if push(v) then return line, true end
          elseif mode == 2 then
            vtop = vtop + 1
            vals[vtop] = v
          elseif mode == 1 then
            cur[key] = v
          else
            n = n + 1
            cur[n] = v
          end
        end
      end
    end
    return line, false
  end

  return { parse = parse, value = value, each = each }
end

local one -- decoder for single strings
local starts0 = ffi.new("uint32_t[1]")
local lens1 = ffi.new("uint32_t[1]")

-- Decodes the string S exactly as cjson.decode does (fast path first).
-- GENERIC: use the token-by-token builder only (for tests of both paths).
function M.decode(s, generic)
  one = one or M.decoder()
  lens1[0] = #s
  local data = ffi.cast("const char *", s)
  one.parse(data, starts0, lens1, 1)
  local v
  if generic then
    v = one.value(0, data)
    if v == nil then return cjson_decode(s) end
    return v
  end
  local FALLBACK = starts0
  one.each(data, 1, function(x) v = x end, function() return FALLBACK end)
  if v == FALLBACK then return cjson_decode(s) end
  return v
end

return M
