-- ldask.bag.textio: text files for ldask.bag over core/io/textblocks: glob
-- expansion and block planning (in the user's process), streaming the lines
-- of one block into a pipeline with file:line error reports and JSON
-- decoding (in the executors), and streaming a partition out to a plain or
-- gzip file (to_textfiles).
local ffi = require "ffi"
local sbuf = require "string.buffer"
require "ldask.ffi.io"
local lib = require "ldask.native"

local ffi_string, ffi_new, ffi_gc = ffi.string, ffi.new, ffi.gc
local tonumber, tostring, type, error, pcall, pairs = tonumber, tostring, type, error, pcall, pairs

local M = {}

local ERRLEN = 1024
local PLAIN, GZIP = 0, 1

-- "infer" | "gzip" | nil/false/"none" -> is gzip? Raises naming WHAT on an
-- unknown compression.
function M.compression_of(path, compression, what)
  if compression == nil or compression == "infer" then return path:sub(-3) == ".gz" end
  if compression == "gzip" then return true end
  if compression == false or compression == "none" then return false end
  error(what .. ": unknown compression '" .. tostring(compression)
    .. "' (expected 'infer', 'gzip' or 'none')", 0)
end

-- Size in bytes of PATH, or nil, message.
function M.file_size(path)
  local err = ffi_new("char[?]", ERRLEN)
  local size = ffi_new("int64_t[1]")
  if lib.ld_text_file_size(path, size, err, ERRLEN) < 0 then return nil, ffi_string(err) end
  return tonumber(size[0])
end

-- Expands a glob. Returns a list of paths, or nil, message.
function M.glob(pattern)
  local err = ffi_new("char[?]", ERRLEN)
  local out = ffi_new("char*[1]")
  local count = ffi_new("size_t[1]")
  if lib.ld_text_glob(pattern, out, count, err, ERRLEN) < 0 then return nil, ffi_string(err) end
  local paths, p = {}, out[0]
  for i = 1, tonumber(count[0]) do
    local s = ffi_string(p)
    paths[i] = s
    p = p + #s + 1
  end
  lib.ld_text_free(out[0])
  return paths
end

-- Expands PATHS (a glob or a list of paths and globs) into a list of
-- existing files. Returns the list, or nil, message naming the pattern.
function M.expand(paths, what)
  if type(paths) == "string" then paths = { paths } end
  if type(paths) ~= "table" or #paths == 0 then
    return nil, what .. ": expected a path, a glob or a non-empty list of them, got "
      .. (type(paths) == "table" and "an empty list" or type(paths))
  end
  local files = {}
  for i = 1, #paths do
    local p = paths[i]
    if type(p) ~= "string" then return nil, what .. ": path " .. i .. " is a " .. type(p) .. ", not a string" end
    if p:find("[%*%?%[]") then
      local list, msg = M.glob(p)
      if not list then return nil, what .. ": " .. msg end
      for j = 1, #list do files[#files + 1] = list[j] end
    else
      local size, msg = M.file_size(p)
      if not size then return nil, what .. ": " .. msg end
      files[#files + 1] = p
    end
  end
  return files
end

-- Parses a block size: a number of bytes or a string like "64MB", "1MiB".
local units = { b = 1, kb = 1e3, mb = 1e6, gb = 1e9, kib = 1024, mib = 1024 ^ 2, gib = 1024 ^ 3 }
function M.parse_size(v, what)
  if type(v) == "number" then
    if v >= 1 and v % 1 == 0 then return v end
  elseif type(v) == "string" then
    local num, unit = v:lower():gsub("%s", ""):match("^([%d%.]+)(%a*)$")
    local mult = units[unit == "" and "b" or unit or "?"]
    if num and tonumber(num) and mult then
      local n = math.floor(tonumber(num) * mult)
      if n >= 1 then return n end
    end
  end
  error(what .. ": blocksize must be a positive number of bytes or a size like '64MB', got "
    .. tostring(v), 0)
end

-- Plans the blocks of FILES: a list of descriptors {path, start, stop,
-- gzip} (stop -1: to the end). OPTS: blocksize, compression.
function M.plan(files, opts, what)
  local blocksize = opts.blocksize and M.parse_size(opts.blocksize, what)
  local blocks = {}
  for _, path in ipairs(files) do
    local gz = M.compression_of(path, opts.compression, what)
    if gz or not blocksize then
      blocks[#blocks + 1] = { path = path, start = 0, stop = -1, gzip = gz }
    else
      local size = assert(M.file_size(path))
      local n = math.max(1, math.ceil(size / blocksize))
      for b = 0, n - 1 do
        local stop = (b == n - 1) and -1 or (b + 1) * blocksize
        blocks[#blocks + 1] = { path = path, start = b * blocksize, stop = stop, gzip = false }
      end
    end
  end
  return blocks
end

-- Lines before the first line of a block starting at byte START of PATH.
local function lines_before(path, start)
  if start <= 0 then return 0 end
  local err = ffi_new("char[?]", ERRLEN)
  local n = lib.ld_text_count_newlines(path, start - 1, err, ERRLEN)
  if n < 0 then return nil end
  return tonumber(n) + 1
end

local IOERR = {}

-- Streams the lines of block D into PUSH (which returns true to stop);
-- returns true when PUSH stopped it.
-- D: {path, start, stop, gzip, keep_newlines, json, on_error, include_path,
-- chunk}. Errors name the file and the 1-based line number.
function M.stream(d, push)
  local path = d.path
  local err = ffi_new("char[?]", ERRLEN)
  local pr = ffi_new("ld_textreader*[1]")
  local rc = lib.ld_textreader_open(path, d.gzip and GZIP or PLAIN, d.start or 0, d.stop or -1,
    d.chunk or (d.json and 131072 or 0), d.keep_newlines and 0 or 1, pr, err, ERRLEN)
  if rc < 0 then error("ldask.bag.read_text: " .. ffi_string(err), 0) end
  local r = ffi_gc(pr[0], lib.ld_textreader_close)
  local pdata = ffi_new("const char*[1]")
  local pstarts = ffi_new("const uint32_t*[1]")
  local plens = ffi_new("const uint32_t*[1]")
  local json = d.json
  local decode = json and require("cjson").decode
  local fast = json and require("ldask.bag.json").decoder()
  local skip = json and d.on_error == "skip"
  local with_path = d.include_path
  local cur, in_json, fb_line = 0, false, 0
  local skipped, first_bad, first_msg = 0, nil, nil
  local SKIP = IOERR

  local function loop()
    local before = 0
    local base, st, ln
    -- JSON: values come from the tape in order; lines outside its subset
    -- (and malformed ones) go through cjson here.
    local function fallback(line)
      local s = ffi_string(base + st[line], ln[line])
      if skip then
        local ok, v = pcall(decode, s)
        if ok then return v end
        skipped = skipped + 1
        if not first_bad then first_bad, first_msg = before + line + 1, v end
        return SKIP
      end
      fb_line, in_json = before + line + 1, true
      local v = decode(s)
      in_json = false
      return v
    end
    local function push_json(v)
      cur = cur + 1
      if v == SKIP then return end
      if with_path then v = { v, path } end
      return push(v)
    end
    while true do
      local n = tonumber(lib.ld_textreader_next(r, pdata, pstarts, plens))
      if n < 0 then error(IOERR, 0) end
      if n == 0 then return end
      base, st, ln = pdata[0], pstarts[0], plens[0]
      if not json then
        for i = 0, n - 1 do
          cur = before + i + 1
          local s = ffi_string(base + st[i], ln[i])
          if with_path then s = { s, path } end
          if push(s) then return true end
        end
      else
        fast.parse(base, st, ln, n)
        local _, stop = fast.each(base, n, push_json, fallback)
        if stop then return true end
      end
      before = before + n
    end
  end

  local ok, e = pcall(loop)
  local stopped = ok and e == true
  if not ok and type(e) == "string" then
    -- drop the position inside ldask.bag itself (where cjson.decode was called)
    e = e:gsub("^[^\n:]-ldask/bag/[%w_]+%.lua:%d+: ", "")
  end
  if not ok then
    if e == IOERR then
      local msg = ffi_string(lib.ld_textreader_error(r))
      lib.ld_textreader_close(ffi_gc(r, nil))
      error("ldask.bag.read_text: " .. msg, 0)
    end
    lib.ld_textreader_close(ffi_gc(r, nil))
    local lb = lines_before(path, d.start or 0)
    local where = path .. ":" .. (lb and tostring(lb + (in_json and fb_line or cur)) or "?")
    if in_json and json ~= "map" then
      error("ldask.bag.read_json: malformed JSON at " .. where .. ": " .. tostring(e), 0)
    end
    if type(e) ~= "string" then error(e, 0) end
    error(where .. ": " .. e, 0)
  end
  lib.ld_textreader_close(ffi_gc(r, nil))
  if d.counted then d.counted[1] = skipped end
  if skipped > 0 and not d.quiet then
    local lb = lines_before(path, d.start or 0)
    io.stderr:write(string.format(
      "ldask.bag.read_json: skipped %d malformed line(s) in %s (first at line %s: %s)\n",
      skipped, path, lb and tostring(lb + first_bad) or "?", tostring(first_msg)))
  end
  return stopped
end

-- Task: the number of lines of block D that are not valid JSON (cjson's
-- judgement), read through the same path as read_json with on_error="skip".
function M.count_malformed(d)
  local nd = {}
  for k, v in pairs(d) do nd[k] = v end
  nd.json, nd.on_error, nd.quiet, nd.include_path, nd.counted = true, "skip", true, nil, { 0 }
  M.stream(nd, function() end)
  return nd.counted[1]
end

-- Returns push, finish writing a partition to PATH (gzip when GZ): each
-- element a line; strings as is, numbers with tostring; finish -> PATH.
function M.writer(path, gz)
  local err = ffi_new("char[?]", ERRLEN)
  local pw = ffi_new("ld_textwriter*[1]")
  if lib.ld_textwriter_open(path, gz and GZIP or PLAIN, 0, pw, err, ERRLEN) < 0 then
    error("ldask.bag.to_textfiles: " .. ffi_string(err), 0)
  end
  local w = ffi_gc(pw[0], function(x) lib.ld_textwriter_close(x, nil, 0) end)
  local buf = sbuf.new()
  local n = 0
  local function flush()
    local ptr, len = buf:ref()
    if len > 0 and lib.ld_textwriter_write(w, ptr, len, err, ERRLEN) < 0 then
      lib.ld_textwriter_close(ffi_gc(w, nil), nil, 0)
      error("ldask.bag.to_textfiles: " .. ffi_string(err), 0)
    end
    buf:reset()
  end
  return function(x)
    n = n + 1
    local t = type(x)
    if t == "string" then buf:put(x, "\n")
    elseif t == "number" or t == "boolean" then buf:put(tostring(x), "\n")
    else
      lib.ld_textwriter_close(ffi_gc(w, nil), nil, 0)
      error("ldask.bag.to_textfiles: element " .. n .. " of the partition for " .. path .. " is a "
        .. t .. "; map it to a string first (e.g. with cjson.encode)", 0)
    end
    if #buf >= 1048576 then flush() end
  end, function()
    flush()
    if lib.ld_textwriter_close(ffi_gc(w, nil), err, ERRLEN) < 0 then
      error("ldask.bag.to_textfiles: " .. ffi_string(err), 0)
    end
    return path
  end
end

return M
