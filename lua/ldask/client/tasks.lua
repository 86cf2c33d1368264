--- ldask.client.tasks: the Client methods that send tasks and data to the
-- cluster: submit, map (with client.options{key=, pure=, retries=,
-- priority=, workers=, resources=}), gather, scatter, cancel, and the compact call
-- form and function registration they share with ldask.client.graphs.
-- Installed into ldask.client's Client by install().
-- @submodule ldask.client
local codec = require "ldask.codec"
local graph = require "ldask.graph"
local tokenize = require "ldask.tokenize"
local future = require "ldask.client.future"
local mp = require "ldask.client.mp"
local S = require "ldask.client.state"
local STATUS, REFS, HAS_VALUE, VALUE, FETCH, ERR = S.STATUS, S.REFS, S.HAS_VALUE, S.VALUE, S.FETCH, S.ERR
local batch = require "ldask.client.batch"
local funcname_of = require("ldask.funcname").of
local replace_where = require("ldask.base").replace_where
local check_resources = require("ldask.annotations").check_resources

local type, error, tostring, pairs, ipairs, select, setmetatable, getmetatable, unpack, pcall, next =
  type, error, tostring, pairs, ipairs, select, setmetatable, getmetatable, unpack, pcall, next
local format, byte = string.format, string.byte
local tnew = require "table.new"
local EMPTY = mp.EMPTY
local MAP_CHUNK = 2000 -- tasks per update-graph of a map: the cluster starts on the first ones
local is_future, Future = future.is_future, future.Future

local T = {}

-- Adds the methods to CLIENT (the Client metatable) and M (the ldask.client
-- module: options, Options). SHARED holds the module's own helpers: check
-- (argument and state check of a method), raise_state, fire.
function T.install(M, Client, shared)
  local check, raise_state, fire = shared.check, shared.raise_state, shared.fire

  -- Replaces futures inside V (plain tables are searched) by their keys and
  -- records them in DEPS. Tables without futures stay as they are. (No
  -- closure per call: creating one stops LuaJIT's trace of the caller, which
  -- left every submit interpreted.)
  local strip_deps -- the DEPS of the strip_futures call in progress
  local function strip_one(f)
    local deps = strip_deps
    if not deps[f.key] then deps[f.key] = true; deps[#deps + 1] = f.key end
    return f.key
  end
  local function strip_futures(v, deps)
    if type(v) ~= "table" then return v, false end
    strip_deps = deps
    local r, has = replace_where(v, is_future, strip_one)
    strip_deps = nil
    return r, has
  end

  local plain_header = require("ldask.codec.encode").plain
  local CALL -- the compact call form's marker (below)

  -- True when list A (a table without metatable) holds only numbers,
  -- strings and booleans at 1..#A and nothing else (a tree task's keys).
  local function flat_list(a)
    if getmetatable(a) ~= nil then return false end
    local n = #a
    for j = 1, n do
      local tj = type(a[j])
      if tj ~= "number" and tj ~= "string" and tj ~= "boolean" then return false end
    end
    return next(a, n > 0 and n or nil) == nil
  end

  -- True when V is a call form {CALL, hash, flags, arg...} built here whose
  -- arguments are all nil, booleans, numbers or strings, or flat lists of
  -- them in arguments flagged 'r' (lists made for this task alone, such as
  -- a tree task's input keys: a user's table keeps the codec, which keeps
  -- a table passed twice one table): plain data, whose codec encoding
  -- needs no check of the whole tree and no session.
  local function plain_call(v)
    if type(v) ~= "table" or v[1] ~= CALL or getmetatable(v) ~= nil then return false end
    local flags = v[3]
    if type(flags) ~= "string" or type(v[2]) ~= "string" then return false end
    for i = 4, 3 + #flags do
      local a = v[i]
      local ta = type(a)
      if ta ~= "number" and ta ~= "string" and ta ~= "boolean" and ta ~= "nil"
        and not (ta == "table" and byte(flags, i - 3) == 114 and flat_list(a)) then return false end
    end
    return true
  end

  -- Encodes task value V under KEY: returns nframes and appends the frames.
  function Client:_encode(v, key, frames, level)
    if plain_call(v) then
      frames[#frames + 1] = plain_header(v)
      return 1
    end
    self.session_used = true -- it may have encoded new functions
    local ok, h, bufs = pcall(self.session.encode, self.session, v)
    if not ok then
      -- again, for a message that names the task
      ok, h = pcall(self.session.encode, self.session, v, "task '" .. key .. "'")
      error("ldask.Client: cannot ship task '" .. key .. "': " .. tostring(h), level + 1)
    end
    frames[#frames + 1] = h
    local nb = #bufs
    for i = 1, nb do frames[#frames + 1] = bufs[i] end
    return 1 + nb
  end

  -- Registers the functions the session encoded since the last call (only
  -- the session can have added any).
  function Client:_send_functions(level)
    if not self.session_used then return end
    self.session_used = false
    local names, frames = {}, {}
    for h, blob in pairs(self.session.blobs) do
      if not self.sent_fns[h] then
        self.sent_fns[h] = true
        names[#names + 1] = h
        frames[#frames + 1] = blob
      end
    end
    if #names > 0 then self:_send({ op = "register-functions", names = names }, frames, level + 1) end
  end

  -- The compact call form {CALL, function hash, flags, arg...} (see
  -- ldask.task.payload): the function travels once, by register-functions, and
  -- plain arguments take the codec's fast path.
  CALL = require("ldask.task.payload").CALL

  -- Content hash of F in this client's codec session, or nil when F cannot
  -- travel as a shared blob (then tasks carry it inline).
  function Client:_fn_hash(f, level)
    local cache = self.fn_hash
    if not cache then cache = setmetatable({}, { __mode = "k" }); self.fn_hash = cache end
    local h = cache[f]
    if h == nil then
      self.session_used = true
      local ok, err = pcall(self.session.encode, self.session, f, "the function of a task")
      if not ok then
        err = tostring(err):gsub("^[^:\n]*:%d+: ", "")
        error("ldask.Client: " .. err, level + 1)
      end
      h = self.session.byfn and self.session.byfn[f] or false
      cache[f] = h
    end
    return h or nil
  end

  -- Builds the task for f(args...) (N arguments), collecting futures into DEPS.
  local LITERALS = setmetatable({}, { __index = function(t, n)
    local s = string.rep("l", n); t[n] = s; return s
  end })

  local function call_task(fh, f, args, n, deps)
    local t, refs
    if fh then
      t = { CALL, fh, false }
      for i = 1, n do
        local a, has = strip_futures(args[i], deps)
        if has then refs = refs or {}; refs[i] = true end
        t[3 + i] = a
      end
      if refs then
        local flags = {}
        for i = 1, n do flags[i] = refs[i] and "r" or "l" end
        t[3] = table.concat(flags)
      else
        t[3] = LITERALS[n]
      end
      return t
    end
    t = { f }
    for i = 1, n do
      local a, has = strip_futures(args[i], deps)
      if not has and type(a) == "table" and getmetatable(a) == nil then a = graph.quote(a) end
      t[i + 1] = a
    end
    return t
  end

  -- Options of a call without any (read only).
  local NO_OPTS = setmetatable({}, { __newindex = function() error("NO_OPTS is read-only", 2) end })

  local function check_opts(opts, what, level)
    if opts == nil then return {} end
    if type(opts) ~= "table" then error(what .. ": options must be a table, got " .. type(opts), level + 1) end
    if opts.retries ~= nil and (type(opts.retries) ~= "number" or opts.retries < 0 or opts.retries % 1 ~= 0) then
      error(what .. ": retries must be an integer >= 0, got " .. tostring(opts.retries), level + 1)
    end
    if opts.priority ~= nil and type(opts.priority) ~= "number" then
      error(what .. ": priority must be a number, got " .. type(opts.priority), level + 1)
    end
    if opts.workers ~= nil then
      if type(opts.workers) == "string" then opts.workers = { opts.workers } end
      if type(opts.workers) ~= "table" then
        error(what .. ": workers must be a name/address or a list of them, got " .. type(opts.workers), level + 1)
      end
    end
    if opts.key ~= nil and type(opts.key) ~= "string" then
      error(what .. ": key must be a string, got " .. type(opts.key), level + 1)
    end
    if opts.resources ~= nil then check_resources(opts.resources, what, level + 1) end
    return opts
  end

  -- Scheduler priority: user priority first (higher first), then ORDER.
  local prio = batch.priority

  -- Sends TASKS[FIRST..LAST] ({key, value, deps, order}) as one
  -- update-graph whose wanted keys are WANT.
  function Client:_send_tasks(tasks, first, last, want, opts, level)
    local nfs, prios = {}, {}
    local keys = self.keys
    local fr = batch.tasks
    fr:reset()
    for i = first, last do
      local t = tasks[i]
      local v = t.value
      if plain_call(v) then
        fr:add_plain(v)
        nfs[i] = 1
      else
        local frames = {}
        local nf = self:_encode(v, t.key, frames, level + 1)
        for j = 1, nf do fr:add(frames[j]) end
        nfs[i] = nf
      end
      prios[i] = prio(opts, t.order)
      -- a key cancelled before (cancel, restart) is computed again: its
      -- futures wait for the new result, as in dask
      local st = keys[t.key]
      if st and st[STATUS] == "cancelled" then st[STATUS] = "pending" end
    end
    self:_send_functions(level + 1)
    local hs, hlen = mp.update_graph(tasks, first, last, nfs, prios, opts.retries, opts.workers, want, opts.resources)
    fr:send(self, hs, level + 1, hlen)
  end

  -- Sends TASKS ({key, value, deps, order}) as update-graphs; WANTED keys.
  -- Independent tasks (map: WANTED[i] is the key of TASKS[i]) go out in
  -- chunks of CHUNK, so that the cluster starts while the rest are still
  -- being encoded; without CHUNK, in one message.
  function Client:_update_graph(tasks, wanted, opts, level, chunk)
    chunk = chunk or #tasks
    if chunk >= #tasks then
      self:_send_tasks(tasks, 1, #tasks, wanted, opts, level + 1)
      return
    end
    local first = 1
    while first <= #tasks do
      local last = math.min(#tasks, first + chunk - 1)
      local want = {}
      for i = first, last do want[#want + 1] = wanted[i] end
      self:_send_tasks(tasks, first, last, want, opts, level + 1)
      first = last + 1
    end
  end

  --- submit(f, ...[, opts]) runs f(...) on the cluster; returns a Future.
  -- Futures among the arguments are replaced by their results (the data stays
  -- on the workers). The last argument may be an options table made with
  -- Client.options{key=, pure=, retries=, priority=, workers=, resources=}
  -- (resources = {GPU = 1}: it runs only on a worker with those resources).
  -- @param f the function
  -- @param ... its arguments, then optionally an options table
  -- @return a Future
  -- @usage local c = ldask.Client()
  -- local f = c:submit(function(x, y) return x + y end, 1, 2)
  -- print(f:result())   --> 3
  -- c:close()
  function Client:submit(f, ...)
    check(self, "submit")
    if type(f) ~= "function" then error("Client:submit: expected a function, got " .. type(f), 2) end
    local n = select("#", ...)
    local args = { ... }
    local opts = NO_OPTS
    if n > 0 and getmetatable(args[n]) == M.Options then opts = args[n]; args[n] = nil; n = n - 1 end
    opts = check_opts(opts, "Client:submit", 2)
    -- futures can only hide in tables: without any, no search and no deps
    local deps = EMPTY
    for i = 1, n do
      if type(args[i]) == "table" then deps = {}; break end
    end
    local task = call_task(self:_fn_hash(f, 2), f, args, n, deps)
    local key = opts.key
    if not key then
      if opts.pure == false then
        local u = (self.nunique or 0) + 1
        self.nunique = u
        self.uid = self.uid or tokenize.unique()
        key = funcname_of(f, 2) .. "-" .. self.uid .. "-" .. u
      else
        key = funcname_of(f, 2) .. "-" .. tokenize.tokenize(f, unpack(args, 1, n))
      end
    end
    self.seq = self.seq + 1
    local fut = future.new(self, key)
    self:_update_graph({ { key = key, value = task, deps = deps, order = self.seq } }, { key }, opts, 2)
    return fut
  end

  -- Options for submit/map: Client.options{key=, pure=, retries=, priority=, workers=, resources=}.
  M.Options = { __name = "ldask.Client.options" }
  --- Marks a table as the options of a call (the last argument of submit, map,
  -- run, compute, persist): `client.options{ key =, pure =, retries =,
  -- priority =, workers =, resources = }`.
  -- Also `c.options`.
  -- @param[opt] t the options
  -- @return T, marked
  function M.options(t) return setmetatable(t or {}, M.Options) end
  Client.options = M.options

  -- map(f, seq1, seq2, ...[, opts]) submits f(seq1[i], seq2[i], ...) for
  -- every i, zipping the sequences as dask's client.map (plain tables; they
  -- must have the same length); other arguments (numbers, strings, ...)
  -- are passed to every call. A list of futures, sent in one message.
  function Client:map(f, seq, ...)
    check(self, "map")
    if type(f) ~= "function" then error("Client:map: expected a function, got " .. type(f), 2) end
    if type(seq) ~= "table" or getmetatable(seq) ~= nil then
      error("Client:map: expected a list to map over, got " .. (is_future(seq) and "a future" or type(seq)), 2)
    end
    local n = select("#", ...)
    local extra = { ... }
    local opts = {}
    if n > 0 and getmetatable(extra[n]) == M.Options then opts = extra[n]; extra[n] = nil; n = n - 1 end
    opts = check_opts(opts, "Client:map", 2)
    -- the zipped sequences among the extra arguments (positions in extra)
    local zipped = {}
    for j = 1, n do
      local a = extra[j]
      if type(a) == "table" and getmetatable(a) == nil then
        if #a ~= #seq then
          error(format("Client:map: the sequences have different lengths (%d and %d, argument %d): "
            .. "map zips them element by element", #seq, #a, j + 2), 2)
        end
        zipped[#zipped + 1] = j
      end
    end
    local prefix = funcname_of(f, 2) .. "-"
    -- Pure keys: the hash of the function and the constant arguments, then
    -- the element(s) (a lone integer as itself, anything else hashed): the
    -- same call gives the same key. Otherwise a fresh token and the index.
    local consts = {}
    for j = 1, n do consts[j] = (type(extra[j]) == "table" and getmetatable(extra[j]) == nil) and "seq" or extra[j] end
    local base, pure
    if opts.key then base = opts.key .. "-"
    elseif opts.pure ~= false then base = prefix .. tokenize.tokenize(f, unpack(consts, 1, n)) .. "-"; pure = true
    else base = prefix .. tokenize.unique() .. "-" end
    local tasks, wanted, futs = {}, {}, {}
    local fh = self:_fn_hash(f, 2)
    local args = { nil, unpack(extra, 1, n) }
    -- Scalars with constant arguments free of futures (the usual case) make
    -- their call form directly, without a search for futures.
    local plain_extra = fh ~= nil
    for j = 1, n do
      if type(extra[j]) == "table" then plain_extra = false end
    end
    local flags = LITERALS[n + 1]
    local nz = #zipped
    if plain_extra and nz == 0 and batch.takes(seq) and batch.takes_args(extra, n) then
      return batch.map(self, fh, flags, seq, extra, n, base, pure, tokenize.tokenize, opts, MAP_CHUNK, 2)
    end
    for i = 1, #seq do
      local deps, task
      local v = seq[i]
      if plain_extra and type(v) ~= "table" then
        deps = EMPTY
        task = { CALL, fh, flags, v, unpack(extra, 1, n) }
      else
        deps = {}
        args[1] = v
        for z = 1, nz do local j = zipped[z]; args[j + 1] = extra[j][i] end
        task = call_task(fh, f, args, n + 1, deps)
      end
      local key
      if not pure then key = base .. i
      elseif nz > 0 then
        local el = { v }
        for z = 1, nz do el[z + 1] = extra[zipped[z]][i] end
        key = base .. tokenize.tokenize(el)
      elseif type(v) == "number" and v == v and v % 1 == 0 and v > -2 ^ 53 and v < 2 ^ 53 then
        key = base .. format("%d", v)
      else
        key = base .. tokenize.tokenize(v)
      end
      self.seq = self.seq + 1
      tasks[i] = { key = key, value = task, deps = deps, order = self.seq }
      wanted[i] = key
      futs[i] = future.new(self, key)
    end
    if #tasks > 0 then self:_update_graph(tasks, wanted, opts, 2, MAP_CHUNK) end
    return futs
  end

  -- Calls FN(f) for every future in V: V itself, or inside plain tables
  -- (searched as strip_futures does, keyed tables too).
  local function each_future(v, fn)
    if is_future(v) then fn(v); return end
    if type(v) ~= "table" or getmetatable(v) ~= nil then return end
    for _, x in pairs(v) do each_future(x, fn) end
  end
  T.each_future = each_future

  -- V with every future replaced by VALUE(f), in the same nesting (other
  -- values stay as they are; tables without futures are not copied).
  local function replace_futures(v, value) return replace_where(v, is_future, value) end
  T.replace_futures = replace_futures

  local function gather_held(self, fs, keys, timeout)
    self:_poll(0)
    self:_fetch(keys, timeout, "Client:gather", 5)
    local st_of = {}
    for _, k in ipairs(keys) do
      local st = self:_state(k)
      if not st[HAS_VALUE] then raise_state(k, st, 5) end
      st_of[k] = st
    end
    return (replace_futures(fs, function(f) return st_of[f.key][VALUE] end))
  end

  -- The values of LIST (as gather_list), its keys held (STS[i]: the state
  -- of LIST[i]'s key). LEVEL: of the user's call, as _fetch and raise_state
  -- count it from here.
  local function gather_held_list(self, list, sts, timeout, level)
    self:_poll(0)
    local n = #list
    local ask, ask_st, na = nil, nil, 0
    for i = 1, n do
      local st = sts[i]
      if not st[HAS_VALUE] then
        if not ask then ask, ask_st = {}, {} end
        na = na + 1
        ask[na], ask_st[na] = list[i].key, st
      end
    end
    if ask then self:_fetch(ask, timeout, "Client:gather", level, ask_st) end
    local out = tnew(n, 0)
    for i = 1, n do
      local st = sts[i]
      if not st[HAS_VALUE] then raise_state(list[i].key, st, level) end
      if st[HAS_VALUE] then out[i] = st[VALUE] end
    end
    return out
  end

  -- gather of LIST (a plain list of this client's live futures, first
  -- checked by list_of_mine): the values in a new list. Each key is held
  -- (one more reference, as _holding does) while this waits: a done
  -- callback run by the wait may release a future of the list.
  local function gather_list(self, list, timeout, level)
    local n, states = #list, self.keys
    local sts = tnew(n, 0)
    for i = 1, n do
      local st = states[list[i].key] -- (its future holds it: it exists)
      st[REFS] = st[REFS] + 1
      sts[i] = st
    end
    local ok, out = pcall(gather_held_list, self, list, sts, timeout, level + 3)
    for i = 1, n do
      local st = sts[i]
      if st[REFS] > 1 then st[REFS] = st[REFS] - 1 else self:_unref(list[i].key) end
    end
    if not ok then error(out, 0) end
    return out
  end

  -- True when FS is a non-empty plain list of futures of SELF, none
  -- released (gather's common case).
  local function list_of_mine(self, fs)
    if type(fs) ~= "table" or getmetatable(fs) ~= nil then return false end
    local n = #fs
    if n == 0 or next(fs, n) ~= nil then return false end
    for i = 1, n do
      local f = fs[i]
      if getmetatable(f) ~= Future or f.client ~= self or f.released then return false end
    end
    return true
  end

  --- gather(futures [, timeout]): the results in the same nesting: a future
  -- gives its value; lists and keyed tables of futures (nested too) give
  -- the same tables of values; other values pass through unchanged (dask).
  -- Raises the first task error.
  -- @param fs a Future, or a list or keyed table of them (nested too)
  -- @param[opt] timeout seconds to wait at most
  -- @return the results
  function Client:gather(fs, timeout)
    check(self, "gather")
    if timeout ~= nil and (type(timeout) ~= "number" or timeout < 0) then
      error("Client:gather: timeout must be a number of seconds >= 0, got " .. tostring(timeout), 2)
    end
    if list_of_mine(self, fs) then return gather_list(self, fs, timeout, 2) end
    local keys, seen, bad = {}, {}, nil
    each_future(fs, function(f)
      if f.client ~= self then bad = bad or ("the future of '" .. f.key .. "' belongs to another client") end
      if f.released then bad = bad or ("the future of '" .. f.key .. "' was released") end
      if not seen[f.key] then seen[f.key] = true; keys[#keys + 1] = f.key end
    end)
    if bad then error("Client:gather: " .. bad, 2) end
    return self:_holding(keys, gather_held, self, fs, keys, timeout)
  end

  -- The key of a scattered value: "scatter-" and its hash.
  local function scatter_key(v) return "scatter-" .. tokenize.tokenize(v) end

  local function check_scatter_value(v, where, level)
    if v == nil then
      error("Client:scatter: nothing to scatter" .. where .. " (nil): pass a value, a list or a keyed table", level + 1)
    end
    if type(v) == "function" then
      error("Client:scatter: cannot scatter a function" .. where
        .. ": scatter sends data; run a function with client:submit(f, ...)", level + 1)
    end
    if is_future(v) then
      error("Client:scatter: the value" .. where .. " is already a future (of '" .. v.key .. "')", level + 1)
    end
  end

  --- scatter(value, list or keyed table [, opts]): sends data to the workers;
  -- returns finished futures of it in the same shape: a future for a
  -- value, a list of futures for a list, a table of futures under the same
  -- keys for a keyed table (string keys become the futures' keys, as in
  -- dask). opts.workers restricts where it goes.
  -- @param values a value, a list or a keyed table of values (not nil, not a function)
  -- @param[opt] opts `client.options{ workers = }`
  -- @return finished futures, in the same shape
  function Client:scatter(values, opts)
    check(self, "scatter")
    if opts ~= nil and type(opts) ~= "table" then error("Client:scatter: options must be a table, got " .. type(opts), 2) end
    opts = opts or {}
    local shape -- "single", "list" or "keyed"
    if type(values) ~= "table" or getmetatable(values) ~= nil then
      check_scatter_value(values, "", 2)
      shape = "single"
    elseif next(values) == nil then
      return {}
    else
      local n, all = #values, true
      for k in pairs(values) do
        if not (type(k) == "number" and k >= 1 and k <= n and k % 1 == 0) then all = false; break end
      end
      shape = all and "list" or "keyed"
    end
    local names, list = {}, {}
    if shape == "single" then
      names[1], list[1] = 1, values
    elseif shape == "list" then
      for i = 1, #values do names[i], list[i] = i, values[i] end
    else
      for k in pairs(values) do names[#names + 1] = k end
      table.sort(names, function(a, b)
        if type(a) ~= type(b) then return type(a) < type(b) end
        return a < b
      end)
      for i, k in ipairs(names) do list[i] = values[k] end
    end
    local recs, frames, futs, seen = {}, {}, {}, {}
    for i, v in ipairs(list) do
      local name = names[i]
      check_scatter_value(v, shape == "single" and "" or " at [" .. (type(name) == "string" and format("%q", name) or tostring(name)) .. "]", 2)
      local key = (shape == "keyed" and type(name) == "string") and name or scatter_key(v)
      local f = future.new(self, key)
      futs[i] = f
      if not seen[key] then
        seen[key] = true
        local ok, h, bufs = pcall(codec.encode, v, nil, "scattered value " .. tostring(name))
        if not ok then error("Client:scatter: " .. tostring(h), 2) end
        frames[#frames + 1] = h
        local nbytes = #h
        for _, b in ipairs(bufs) do frames[#frames + 1] = b; nbytes = nbytes + tonumber(b.size) end
        recs[#recs + 1] = { key = key, nframes = 1 + #bufs, nbytes = nbytes }
        local st = self:_state(key)
        if st[STATUS] == "cancelled" then st[STATUS] = "pending" end
      end
    end
    local workers = opts.workers
    if type(workers) == "string" then workers = { workers } end
    self:_send({ op = "scatter", keys = mp.array(recs), workers = workers }, frames, 2)
    -- as dask: the futures are finished when scatter returns
    local keys = {}
    for i, r in ipairs(recs) do keys[i] = r.key end
    self:_wait_keys(keys, opts.timeout or 60, "Client:scatter", 2)
    for _, k in ipairs(keys) do
      local st = self:_state(k)
      if st[STATUS] == "error" then error(st[ERR], 0) end
    end
    if shape == "single" then return futs[1] end
    if shape == "list" then return futs end
    local out = {}
    for i, k in ipairs(names) do out[k] = futs[i] end
    return out
  end

  -- cancel(future or list): stops them (and what depends on them). A
  -- finished future is marked cancelled too and its data released by this
  -- client, as in dask.
  function Client:cancel(fs)
    check(self, "cancel")
    local list = future.list_of(fs, "Client:cancel", 2)
    local keys, done = {}, {}
    for i, f in ipairs(list) do
      keys[i] = f.key
      local st = self:_state(f.key)
      if st[STATUS] ~= "cancelled" then
        if st[STATUS] ~= "pending" then done[#done + 1] = f.key end
        st[STATUS] = "cancelled"
        st[VALUE], st[HAS_VALUE], st[ERR], st[FETCH] = nil, nil, nil, nil
        fire(st)
      end
    end
    self:_send({ op = "cancel", keys = keys }, nil, 2)
    if #done > 0 then self:_send({ op = "release-keys", keys = done }, nil, 2) end
  end

  -- Graphs and collections: get, compute, persist (ldask.client.graphs).
  require("ldask.client.graphs").install(M, Client, strip_futures)
end

return T
