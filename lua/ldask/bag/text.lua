--- ldask.bag.text: text-file input and output of ldask.bag: read_text
-- (lines of files matched by globs, blocks aligned to lines, gzip through
-- zlib), read_json (JSON lines decoded with lua-cjson, errors naming file
-- and line), and Bag:to_textfiles (one file per partition, streamed).
-- @submodule ldask.bag
local graph = require "ldask.graph"
local core = require "ldask.bag.core"
local textio = require "ldask.bag.textio"
local aggregate = require "ldask.bag.aggregate"

local type, error, tostring, pairs, ipairs, pcall, setmetatable = type, error, tostring, pairs, ipairs, pcall, setmetatable
local key, quote = graph.key, graph.quote

local M = {}

local OPTS = {
  blocksize = true, compression = true, keep_newlines = true, include_path = true,
  on_error = true, chunk = true,
}

local function check_opts(opts, what)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(what .. ": options must be a table, got " .. type(opts), 3) end
  for k in pairs(opts) do
    if not OPTS[k] then error(what .. ": unknown option '" .. tostring(k) .. "'", 3) end
  end
  return opts
end

local function text_bag(prefix, paths, opts, json, what)
  local files, msg = textio.expand(paths, what)
  if not files then error(msg, 3) end
  local ok, blocks = pcall(textio.plan, files, opts, what)
  if not ok then error(blocks, 3) end
  local srcs, sig = {}, {}
  for i, b in ipairs(blocks) do
    b.keep_newlines = opts.keep_newlines or nil
    b.include_path = opts.include_path or nil
    b.json = json or nil
    b.on_error = opts.on_error
    b.chunk = opts.chunk
    local size = textio.file_size(b.path) or -1
    sig[i] = b.path .. ":" .. b.start .. ":" .. b.stop .. ":" .. size
    srcs[i] = quote(b)
  end
  local name = core.name(prefix, sig, opts.keep_newlines, opts.include_path, json, opts.on_error)
  return core.lazy(name, "text", srcs, {}, {})
end

--- ldask.bag.read_text(paths [, opts]): a bag of the lines of the files (a
-- glob, a path, or a list of them), without their line endings ("\n" or
-- "\r\n"; keep_newlines=true keeps them). One partition per file, or per
-- block of blocksize bytes (a number or "64MB") of an uncompressed file; a
-- line belongs to the block where it starts. compression: "infer" (by the
-- ".gz" extension, the default), "gzip" or "none"; a gzip file is one
-- partition. include_path=true gives {line, path} elements.
-- @param paths a glob, a path, or a list of them
-- @param[opt] opts `{ blocksize =, compression =, keep_newlines =, include_path = }`
-- @return a Bag
function M.read_text(paths, opts)
  opts = check_opts(opts, "ldask.bag.read_text")
  if opts.on_error ~= nil then error("ldask.bag.read_text: on_error applies to read_json only", 2) end
  return text_bag("read-text", paths, opts, false, "ldask.bag.read_text")
end

--- ldask.bag.read_json(paths [, opts]): JSON lines decoded with lua-cjson;
-- the options of read_text plus on_error = "raise" (default: a malformed
-- line is an error naming the file and line number) or "skip" (skipped; a
-- warning on stderr per partition gives the count and the first line, and
-- b:malformed() computes the total).
-- @param paths a glob, a path, or a list of them
-- @param[opt] opts the options of read_text and `on_error =`
-- @return a Bag
function M.read_json(paths, opts)
  opts = check_opts(opts, "ldask.bag.read_json")
  local oe = opts.on_error
  if oe ~= nil and oe ~= "raise" and oe ~= "skip" then
    error("ldask.bag.read_json: on_error must be 'raise' or 'skip', got " .. tostring(oe), 2)
  end
  if opts.keep_newlines then error("ldask.bag.read_json: keep_newlines does not apply to JSON lines", 2) end
  return text_bag("read-json", paths, opts, true, "ldask.bag.read_json")
end

--- b:malformed(): an Item, the number of lines of the bag's JSON files that
-- are not valid JSON (for a bag read with read_json, whatever operations
-- follow; with on_error="skip" these are the lines that were skipped). Reads
-- the files again when computed.
-- @function Bag:malformed
-- @return an Item (compute it)
function core.Bag:malformed()
  if not core.is_bag(self) then error("bag.malformed: call it as b:malformed()", 2) end
  local kind, srcs = core.source(self)
  if kind ~= "text" or not srcs[1] or not srcs[1][1].json then
    error("bag.malformed: the bag does not come from read_json (or read_text():map(cjson.decode))", 2)
  end
  local name = core.name("malformed", self.name)
  local own, keys = {}, {}
  for i = 1, #srcs do
    keys[i] = key(name .. "-part", i - 1)
    own[keys[i]] = { textio.count_malformed, srcs[i] }
  end
  own[key(name, 0)] = { aggregate.finalize, quote({ k = "count" }), keys }
  return setmetatable({ name = name, key = key(name, 0), _layers = { [name] = own } }, core.Item)
end

--- b:to_textfiles(path [, {compression=, compute=true}]): writes partition i
-- to its own file: PATH with "*" replaced by i (0-based), a function
-- path(i) -> name, or a list of npartitions names. Elements are strings
-- (numbers and booleans are converted), one per line. gzip when the name
-- ends in ".gz" (compression="infer", the default) or compression="gzip".
-- Returns the list of files written, or with compute=false an Item that
-- writes them when computed.
-- @function Bag:to_textfiles
-- @param path a name with "*", a function of i, or a list of names
-- @param[opt] opts `{ compression =, compute = true }`
-- @return the list of files written, or an Item
function core.Bag:to_textfiles(path, opts)
  if not core.is_bag(self) then error("bag.to_textfiles: call it as b:to_textfiles(...)", 2) end
  opts = opts or {}
  local n = self.npartitions
  local names = {}
  if type(path) == "string" then
    if not path:find("*", 1, true) and n > 1 then
      error("bag.to_textfiles: path '" .. path .. "' needs a '*' (replaced by the partition number) for "
        .. n .. " partitions", 2)
    end
    for i = 1, n do names[i] = (path:gsub("%*", tostring(i - 1))) end
  elseif type(path) == "function" then
    for i = 1, n do
      local nm = path(i - 1)
      if type(nm) ~= "string" then
        error("bag.to_textfiles: the name function returned a " .. type(nm) .. " for partition " .. (i - 1), 2)
      end
      names[i] = nm
    end
  elseif type(path) == "table" then
    if #path ~= n then
      error("bag.to_textfiles: " .. #path .. " names given for " .. n .. " partitions", 2)
    end
    for i = 1, n do names[i] = path[i] end
  else
    error("bag.to_textfiles: path must be a string with '*', a function or a list, got " .. type(path), 2)
  end
  local gz = {}
  for i = 1, n do
    local ok, v = pcall(textio.compression_of, names[i], opts.compression, "bag.to_textfiles")
    if not ok then error(v, 2) end
    gz[i] = v
  end
  local name = core.name("to-textfiles", self.name, names, gz)
  local tasks, dl = core.partition_tasks(self, function(i)
    return { k = "write", path = names[i], compression = gz[i] }
  end)
  local own, keys = {}, {}
  for i = 1, n do
    keys[i] = key(name .. "-part", i - 1)
    own[keys[i]] = tasks[i]
  end
  local fin = key(name, 0)
  own[fin] = { aggregate.concat_values, keys }
  local layers = core.copy_layers(dl)
  layers[name] = own
  local item = setmetatable({ name = name, key = fin, _layers = layers }, core.Item)
  if opts.compute == false then return item end
  return item:compute({ scheduler = opts.scheduler })
end

return M
