--- ldask.client.layers: graphs holding compact layers (ldask.layer) on the
-- cluster, without the client writing the whole graph out first. The graph
-- is indexed and ordered as integers (ldask.scheduler.layered), then its
-- tasks are written out chunk by chunk in execution order, each chunk sent
-- as one update-graph and dropped; a task whose dependents come in a later
-- chunk is held (wanted) until they are sent. The client's memory is then
-- a few integers per task plus one chunk, so a graph of ten million tasks
-- runs from a laptop-sized client. Installed into ldask.client's Client.
-- @submodule ldask.client
local ffi = require "ffi"
local graph = require "ldask.graph"
local layer = require "ldask.layer"
local layered = require "ldask.scheduler.layered"
local future = require "ldask.client.future"
local misuse = require("ldask.errors").misuse
local call_task = require("ldask.task.payload").call_task

local type, getmetatable, pairs, ipairs, pcall, tostring, ceil, min =
  type, getmetatable, pairs, ipairs, pcall, tostring, math.ceil, math.min
local is_future = future.is_future

local M = {}

-- Tasks per update-graph message.
M.CHUNK = 5000
-- Chunks sent ahead of the cluster: before sending chunk c, the client
-- waits until the last task of chunk c - WINDOW is done, so that the
-- scheduler holds about CHUNK * WINDOW tasks, not the whole graph.
M.WINDOW = 40

local index_only = layered.index_only

function M.install(_, Client, strip_futures)
  -- Submits PLAIN (a graph) and COMPACT (its compact layers,
  -- ldask.scheduler.layered.split); returns futures for the flat list
  -- WANTED.
  function Client:_submit_layers(plain, compact, wanted, opts, level)
    local ix = layered.index(plain, compact, index_only) -- (raises at the user's line)
    local okk, seq, prios = pcall(graph.order, ix)
    if not okk then misuse("ldask.Client: " .. tostring(seq)) end
    local n, P, keys = ix.n, ix.nplain, ix.keys
    local offsets, cdeps = ix.offsets, ix.cdeps
    local C = M.CHUNK
    -- the chunk of each task, and the last chunk holding a dependent of it
    local chunkof = ffi.new("int32_t[?]", n)
    for p = 1, n do chunkof[seq[p] - 1] = ceil(p / C) end
    local lastneed = ffi.new("int32_t[?]", n)
    for i = 0, n - 1 do
      local c = chunkof[i]
      for e = offsets[i], offsets[i + 1] - 1 do
        local d = cdeps[e]
        if chunkof[d] < c and lastneed[d] < c then lastneed[d] = c end
      end
    end
    local inwant = {}
    for _, k in ipairs(wanted) do inwant[k] = true end
    local futs = {}
    for i, k in ipairs(wanted) do futs[i] = future.new(self, k) end
    local base = self.seq
    self.seq = base + n
    local release = {} -- chunk -> keys held until it is sent
    local marks = {} -- chunk -> future of its last task (pacing)
    local nchunks = ceil(n / C)
    local sent, err = pcall(function()
      for c = 1, nchunks do
        local tasks, want = {}, {}
        for p = (c - 1) * C + 1, min(n, c * C) do
          local i = seq[p]
          local id = i - 1
          local key, v, d
          if i <= P then
            key = keys[i]
            v = plain[key]
          else
            -- (a worker reads its inputs' keys as them; D: the same keys
            -- as the index's dependencies, in their order)
            local l, b = layered.block_of(ix, i)
            key = layer.key(l, b)
            v, d = layer.task_keys(l, b)
          end
          if not (is_future(v) and v.key == key) then -- (else already on the cluster)
            if not d then
              d = {}
              for e = offsets[id], offsets[id + 1] - 1 do d[#d + 1] = keys[cdeps[e] + 1] end
            end
            local sv = v
            if i <= P and type(v) == "table" and getmetatable(v) == nil then
              local fdeps = {}
              sv = strip_futures(v, fdeps)
              for _, k in ipairs(fdeps) do d[#d + 1] = k end
            end
            if type(sv) == "table" and getmetatable(sv) == nil and type(sv[1]) == "function" then
              local fh = self:_fn_hash(sv[1], level + 3)
              if fh then sv = call_task(fh, sv) end
            end
            tasks[#tasks + 1] = { key = key, value = sv, deps = d, order = base + prios[id] }
            local last = lastneed[id]
            if last > c then
              self:_ref(key)
              local r = release[last]
              if not r then r = {}; release[last] = r end
              r[#r + 1] = key
              want[#want + 1] = key
            elseif inwant[key] then
              want[#want + 1] = key
            end
          end
        end
        if #tasks > 0 then
          -- the chunk's last task, watched to pace the next chunks
          local mark = tasks[#tasks].key
          if want[#want] ~= mark then want[#want + 1] = mark end -- (wanted already if held or an output)
          marks[c] = future.new(self, mark)
          self:_send_tasks(tasks, 1, #tasks, want, opts, level + 3)
        end
        local w = marks[c - M.WINDOW]
        if w then
          marks[c - M.WINDOW] = nil
          self:_wait_keys({ w.key }, nil, "compute", level + 3, false)
          w:release()
        end
        local r = release[c]
        if r then
          for _, k in ipairs(r) do self:_unref(k) end
          release[c] = nil
          self:_flush_releases()
        end
      end
    end)
    for c, f in pairs(marks) do
      marks[c] = nil
      f:release()
    end
    if not sent then
      for _, r in pairs(release) do
        for _, k in ipairs(r) do self:_unref(k) end
      end
      self:_flush_releases()
      error(err, 0)
    end
    return futs
  end

  -- ldask.get's contract for a graph holding compact layers: the results
  -- of KEYS (a key or nested list) in the same shape.
  function Client:_get_layers(plain, compact, keys, opts)
    opts = opts or {}
    local futs = self:_submit_layers(plain, compact, graph.flatten_keys(keys), {}, 2)
    local values = self:gather(futs, opts.timeout)
    for _, f in ipairs(futs) do f:release() end
    self:_flush_releases()
    return require("ldask.client.graphs").reshape(keys, values, { i = 0 })
  end
end

return M
