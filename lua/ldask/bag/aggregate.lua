-- ldask.bag.aggregate: the combine and finalize steps of ldask.bag's
-- reductions, run by the executors: partial results of the partition sinks
-- (ldask.bag.pipeline) are combined level by level of the reduction tree,
-- then finalized into the user's value (or a one-partition bag's array).
local pipeline = require "ldask.bag.pipeline"

local type, error, tostring = type, error, tostring
local sort, sqrt = table.sort, math.sqrt
local getter, show, sinks = pipeline.getter, pipeline.show, pipeline.sinks

local M = {}

-- Aggregates: combine(list of partials) -> partial; finalize(partial) -> value.
local agg = {}

agg.count = { combine = function(ps) local s = 0; for i = 1, #ps do s = s + ps[i] end; return s end }
agg.sum = agg.count

local function minmax(name, better)
  return {
    combine = function(ps)
      local n, m = 0, nil
      for i = 1, #ps do
        local p = ps[i]
        if p[1] > 0 then
          if n == 0 or better(p[2], m) then m = p[2] end
          n = n + p[1]
        end
      end
      return { n, m }
    end,
    finalize = function(p)
      if p[1] == 0 then error("bag." .. name .. ": the bag is empty", 0) end
      return p[2]
    end,
  }
end
agg.min = minmax("min", function(a, b) return a < b end)
agg.max = minmax("max", function(a, b) return a > b end)

agg.moments = {
  combine = function(ps)
    local n, mean, m2 = 0, 0, 0
    for i = 1, #ps do
      local p = ps[i]
      local nb = p[1]
      if nb > 0 then
        local nn = n + nb
        local d = p[2] - mean
        mean = mean + d * nb / nn
        m2 = m2 + p[3] + d * d * n * nb / nn
        n = nn
      end
    end
    return { n, mean, m2 }
  end,
}

agg.any = { combine = function(ps) for i = 1, #ps do if ps[i] then return true end end; return false end }
agg.all = { combine = function(ps) for i = 1, #ps do if not ps[i] then return false end end; return true end }

agg.frequencies = {
  combine = function(ps)
    local counts, keys, n = {}, {}, 0
    for i = 1, #ps do
      local p = ps[i]
      local pk, pc = p.keys, p.counts
      for j = 1, #pk do
        local k = pk[j]
        local c = counts[k]
        if c then counts[k] = c + pc[k] else n = n + 1; keys[n] = k; counts[k] = pc[k] end
      end
    end
    return { keys = keys, counts = counts }
  end,
}

agg.distinct = {
  combine = function(ps, s)
    local seen, out, n = {}, {}, 0
    local key = s.key and getter(s.key, nil, false, "bag.distinct")
    for i = 1, #ps do
      local p = ps[i]
      for j = 1, #p do
        local x = p[j]
        local k = x
        if key then k = key(x) end
        if not seen[k] then seen[k] = true; n = n + 1; out[n] = x end
      end
    end
    return out
  end,
}

agg.foldby = {
  combine = function(ps, s, final)
    local combine = s.combine or s.binop
    local has_ci = s.has_combine_initial
    local acc, keys, n = {}, {}, 0
    for i = 1, #ps do
      local p = ps[i]
      local pk, pa = p.keys, p.acc
      for j = 1, #pk do
        local k = pk[j]
        local a = acc[k]
        if a == nil then
          n = n + 1; keys[n] = k
          if has_ci and final then a = combine(s.combine_initial, pa[k]) else a = pa[k] end
        else
          a = combine(a, pa[k])
        end
        if a == nil then error("bag.foldby: combine returned nil for key " .. show(k), 0) end
        acc[k] = a
      end
    end
    return { keys = keys, acc = acc }
  end,
}

agg.fold = {
  combine = function(ps, s)
    local combine = s.combine or s.binop
    local has, v = false, nil
    for i = 1, #ps do
      local p = ps[i]
      if p[1] then
        if has then v = combine(v, p[2]) else v = p[2]; has = true end
      end
    end
    return { has, v }
  end,
  finalize = function(p, s)
    if not p[1] then
      if s.has_initial then return s.initial end
      error("bag.fold: the bag is empty and no initial value was given", 0)
    end
    return p[2]
  end,
}

agg.topk = {
  combine = function(ps, s)
    local all, n = {}, 0
    for i = 1, #ps do local p = ps[i]; for j = 1, #p do n = n + 1; all[n] = p[j] end end
    local push, finish = sinks.topk(s)
    for i = 1, n do push(all[i]) end
    return finish()
  end,
}

agg.take = {
  combine = function(ps, s)
    local out, n = {}, 0
    for i = 1, #ps do
      local p = ps[i]
      for j = 1, #p do
        if n >= s.n then return out end
        n = n + 1; out[n] = p[j]
      end
    end
    return out
  end,
}

-- reduction(perpartition, aggregate): the user's aggregate at every level.
agg.apply = { combine = function(ps, s) return s.aggregate(ps) end }

M.agg = agg

-- Task: combines partials PS (a list) of sink S; FINAL: also finalizes.
function M.combine(spec, ps)
  local a = agg[spec.k]
  if not a then error("bag pipeline: no aggregate for '" .. tostring(spec.k) .. "'", 0) end
  return a.combine(ps, spec, false)
end

function M.finalize(spec, ps)
  local a = agg[spec.k]
  local p
  if spec.k == "apply" then return spec.aggregate(ps) end
  p = a.combine(ps, spec, true)
  if a.finalize then return a.finalize(p, spec) end
  return p
end

-- Finalizers of derived reductions.
function M.mean(p)
  if p[1] == 0 then error("bag.mean: the bag is empty", 0) end
  return p[2]
end

function M.var(p, ddof)
  local d = p[1] - ddof
  if d <= 0 then error("bag.var: " .. p[1] .. " element(s) is too few for ddof=" .. ddof, 0) end
  return p[3] / d
end

function M.std(p, ddof) return sqrt(M.var(p, ddof)) end

-- Result partitions of frequencies/foldby: arrays of {key, value} pairs.
function M.freq_pairs(p, sort_desc)
  local keys, counts = p.keys, p.counts
  local out = {}
  for i = 1, #keys do out[i] = { keys[i], counts[keys[i]] } end
  if sort_desc then
    sort(out, function(a, b)
      if a[2] ~= b[2] then return a[2] > b[2] end
      local ta, tb = type(a[1]), type(b[1])
      if ta ~= tb then return ta < tb end
      if ta == "boolean" then return (a[1] and 1 or 0) < (b[1] and 1 or 0) end
      return a[1] < b[1]
    end)
  end
  return out
end

function M.fold_pairs(p)
  local keys, acc = p.keys, p.acc
  local out = {}
  for i = 1, #keys do out[i] = { keys[i], acc[keys[i]] } end
  return out
end

-- The list of VALUES as is (to_textfiles: the paths written).
function M.concat_values(values) return values end

return M
