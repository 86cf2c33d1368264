--- ldask.dataframe.inmemory: the pandas-like operations of an in-memory
-- Frame and FrameSeries (one partition, what compute returns, what a
-- map_partitions function or a custom Aggregation receives): the same names
-- as the lazy collections' (assign, filter and `f[mask]`, fillna, dropna,
-- rename, drop, comparisons and logic as methods, isna, astype, len),
-- applied now through the partition kernels the lazy graphs run.
-- Installed into ldask.dataframe.frame's method tables when that module
-- loads, so every executor state has them.
-- @module ldask.dataframe.inmemory
local type, error, ipairs, pairs, tostring, table_sort = type, error, ipairs, pairs, tostring, table.sort
local format = string.format

local M = {}

local function kernels() return require "ldask.dataframe.kernels" end

--- Adds the methods to FRAME's method tables (ldask.dataframe.frame).
-- @param frame the ldask.dataframe.frame module
function M.install(frame)
  local fm, sm = frame.frame_methods, frame.series_methods
  local is_series = frame.is_series

  local function mask_of(mask, what)
    if not is_series(mask) then
      error(format("%s: the mask must be an in-memory bool series, got %s", what, type(mask)), 3)
    end
    return mask
  end

  --- f:assign{z = series or scalar, ...}: a frame with those columns set
  -- (new ones after the others, in name order, as the lazy assign).
  function fm.assign(f, t)
    if type(t) ~= "table" then error("assign: expected a table {name = series or scalar}", 2) end
    local names, values = {}, {}
    for k in pairs(t) do
      if type(k) ~= "string" then error("assign: column names must be strings, got " .. type(k), 2) end
      names[#names + 1] = k
    end
    table_sort(names)
    for i, k in ipairs(names) do values[i] = t[k] end
    return kernels().assign(f, names, values)
  end
  --- f:filter(mask) or f[mask]: the rows where the bool series MASK is true.
  function fm.filter(f, mask) return kernels().filter(f, mask_of(mask, "filter")) end
  function sm.filter(s, mask) return kernels().filter(s, mask_of(mask, "filter")) end
  function fm.fillna(f, v) return kernels().fillna(f, v) end
  function sm.fillna(s, v) return kernels().fillna(s, v) end
  --- f:dropna() or f:dropna{subset = {...}}: rows without missing values.
  function fm.dropna(f, opts) return kernels().dropna(f, opts and opts.subset) end
  function sm.dropna(s) return kernels().dropna(s) end
  --- f:rename{old = new} (or {columns = {...}}).
  function fm.rename(f, map)
    if type(map) ~= "table" then error("rename: expected a table {old = new}", 2) end
    return kernels().rename_columns(f, map.columns or map)
  end
  --- f:drop{"x", ...} (or a name): the frame without those columns.
  function fm.drop(f, names)
    if type(names) == "string" then names = { names } end
    local gone, keep = {}, {}
    for _, n in ipairs(names) do
      if not f._cols[n] then error(format("drop: no column '%s'", tostring(n)), 2) end
      gone[n] = true
    end
    for _, n in ipairs(f._names) do if not gone[n] then keep[#keep + 1] = n end end
    return fm.select(f, keep)
  end
  function fm.len(f) return f._n end
  function sm.len(s) return s._col.n end
  function sm.astype(s, kind) return kernels().astype(s, kind) end
  for _, op in ipairs { "isna", "notna", "abs" } do
    sm[op] = function(s) return kernels().unary(op, s) end
  end
  function sm.invert(s) return kernels().unary("not", s) end
  -- arithmetic, comparisons and logic as methods (Lua cannot overload `<`
  -- between a table and a number), as on the lazy Series
  for _, op in ipairs { "add", "sub", "mul", "div", "floordiv", "mod", "pow", "eq", "ne", "lt", "le", "gt", "ge" } do
    sm[op] = function(a, b)
      local name = (is_series(a) and a._name) or (is_series(b) and b._name) or nil
      return kernels().binary(op, a, b, name)
    end
  end
  for name, op in pairs { and_ = "and", or_ = "or", xor = "xor" } do
    sm[name] = function(a, b) return kernels().binary(op, a, b, a._name) end
  end
end

return M
