--- ldask.ml.cluster: KMeans, dask-ml's way: k-means|| initialisation
-- (Bahmani et al.: a few rounds of oversampling points with probability
-- proportional to their squared distance, the candidates weighted and
-- reclustered in memory) then Lloyd iterations, each one block-wise pass
-- (per row block: sums, counts and inertia of the nearest-centre
-- assignment) with the centres on the client. On ndarrays the same code runs
-- on one block.
-- @module ldask.ml.cluster
local ffi = require "ffi"
local base = require "ldask.ml.base"
local nd = require "ldask.array.ndarray"
local errors = require "ldask.errors"

local type, ipairs, tostring, format, floor, log, min, max, huge =
  type, ipairs, tostring, string.format, math.floor, math.log, math.min, math.max, math.huge
local misuse = errors.misuse
local keep = base.keep
require "ldask.ffi.ml"
local C = require "ldask.native"

local M = {}

local function f64(a)
  if a.dtype ~= "float64" then return a:astype("float64") end
  return a:copy()
end

-- A float64 C-contiguous form of A, without a copy when it already is one
-- (read-only use).
local function view64(a)
  if a.dtype == "float64" and a:is_contiguous() then return a end
  return f64(a)
end

-- Squared distances of the rows of X (n x p) to the rows of C (k x p): an
-- n x k ndarray (BLAS: |x|^2 - 2 x.c + |c|^2, clamped at 0).
local function sqdist(x, c)
  x, c = view64(x), view64(c)
  local n, p, k = x.shape[1], x.shape[2], c.shape[1]
  local d = view64(x:dot(c.T))
  local dp, xp, cp = d:data(), x:data(), c:data()
  local cn = ffi.new("double[?]", k)
  for j = 0, k - 1 do
    local s = 0
    for t = 0, p - 1 do local v = cp[j * p + t]; s = s + v * v end
    cn[j] = s
  end
  for i = 0, n - 1 do
    local s = 0
    local row = i * p
    for t = 0, p - 1 do local v = xp[row + t]; s = s + v * v end
    local o = i * k
    for j = 0, k - 1 do
      local v = s - 2 * dp[o + j] + cn[j]
      dp[o + j] = v > 0 and v or 0
    end
  end
  keep(x, c)
  return d
end

-- Nearest centre of each row of X among the rows of C (in C, from the
-- BLAS product X C^T): labels (int32_t[n], 0-based) and squared distances
-- (double[n]); with SUMS (a k x p float64 ndarray) and COUNTS (int64_t[k])
-- each row is also added to its centre's sum and counted.
local function nearest_of(x, c, sums, counts)
  x, c = view64(x), view64(c)
  local n, p, k = x.shape[1], x.shape[2], c.shape[1]
  local xc = view64(x:dot(c.T))
  local lab, dist = ffi.new("int32_t[?]", n), ffi.new("double[?]", n)
  C.ld_ml_nearest(xc:data(), x:data(), c:data(), n, p, k, lab, dist, sums and sums:data() or nil, counts,
    ffi.new("double[?]", k))
  keep(x, c, xc, sums)
  return lab, dist
end

--- Task: one Lloyd step's partial of block X for centres C: {sums (k x p
-- ndarray), counts (Lua list), inertia}.
function M._lloyd_part(x, c)
  local n, p, k = x.shape[1], x.shape[2], c.shape[1]
  local sums = nd.zeros({ k, p }, "float64")
  local cnt = ffi.new("int64_t[?]", k)
  local _, dist = nearest_of(x, c, sums, cnt)
  local counts = {}
  for j = 1, k do counts[j] = tonumber(cnt[j - 1]) end
  local inertia = 0
  for i = 0, n - 1 do inertia = inertia + dist[i] end
  return { sums, counts, inertia }
end

--- Task: the inertia of block X for centres C.
function M._inertia_part(x, c)
  local _, dist = nearest_of(x, c)
  local s = 0
  for i = 0, x.shape[1] - 1 do s = s + dist[i] end
  return s
end

--- Task: the M rows of block X farthest from their nearest row of C, as
-- a list of {squared distance, label, row values (a Lua list)}.
function M._far_part(x, c, m)
  x = view64(x)
  local lab, dist = nearest_of(x, c)
  local n, p = x.shape[1], x.shape[2]
  local top = {}
  for i = 0, n - 1 do
    local d = dist[i]
    if #top < m or d > top[#top][1] then
      local pos = #top + 1
      while pos > 1 and top[pos - 1][1] < d do pos = pos - 1 end
      table.insert(top, pos, { d, i })
      if #top > m then top[#top] = nil end
    end
  end
  local xp = x:data()
  for _, f in ipairs(top) do
    local row = {}
    for t = 0, p - 1 do row[t + 1] = xp[f[2] * p + t] end
    f[2], f[3] = lab[f[2]], row
  end
  keep(x)
  return top
end

--- Task: the squared distance of each row of block X to the nearest row
-- of C, or OLD's value when smaller (OLD: the previous distances or false).
-- @return a 1-D float64 ndarray
function M._d2_part(x, c, old)
  local _, dist = nearest_of(x, c)
  local n = x.shape[1]
  local out = nd.zeros({ n }, "float64")
  local op = out:data()
  if old then
    local ov = view64(old)
    local o = ov:data()
    for i = 0, n - 1 do op[i] = dist[i] < o[i] and dist[i] or o[i] end
    keep(ov)
  else
    for i = 0, n - 1 do op[i] = dist[i] end
  end
  return out
end

--- Task: the sum of a 1-D block.
function M._sum_part(a)
  local c = view64(a)
  local p, s = c:data(), 0
  for i = 0, c.shape[1] - 1 do s = s + p[i] end
  keep(c)
  return s
end

--- Task: the rows of block X (block number B, first row START[B+1]) whose
-- global indices are in the sorted list IDX: an ndarray (m x p).
function M._rows_part(x, b, starts, idx)
  local lo = starts[b + 1]
  local hi = lo + x.shape[1]
  local rows = {}
  for _, g in ipairs(idx) do if g >= lo and g < hi then rows[#rows + 1] = g - lo end end
  x = view64(x)
  local p = x.shape[2]
  local out = nd.zeros({ #rows, p }, "float64")
  local op, xp = out:data(), x:data()
  for r, i in ipairs(rows) do for t = 0, p - 1 do op[(r - 1) * p + t] = xp[i * p + t] end end
  keep(x)
  return out
end

--- Task: k-means|| sampling of block X (block B): rows drawn with
-- probability min(1, L * d^2 / PHI), d^2 the block D2 of distances to the
-- candidates, with the generator of (SEED, round R, B).
function M._sample_part(x, d2, b, l, phi, seed, r)
  x = view64(x)
  local dv = view64(d2)
  local dist = dv:data()
  local g = base.rng(seed * 7919 + r * 104729 + b)
  local p = x.shape[2]
  local rows = {}
  for i = 0, x.shape[1] - 1 do
    if g:random() < l * dist[i] / phi then rows[#rows + 1] = i end
  end
  local out = nd.zeros({ #rows, p }, "float64")
  local op, xp = out:data(), x:data()
  for r2, i in ipairs(rows) do for t = 0, p - 1 do op[(r2 - 1) * p + t] = xp[i * p + t] end end
  keep(x, dv)
  return out
end

--- Task: how many rows of block X are nearest to each row of C (Lua list).
function M._count_part(x, c)
  local lab = nearest_of(x, c)
  local counts = {}
  for j = 1, c.shape[1] do counts[j] = 0 end
  for i = 0, x.shape[1] - 1 do counts[lab[i] + 1] = counts[lab[i] + 1] + 1 end
  return counts
end

-- Rows of the ndarrays in LIST stacked (m x p).
local function vstack(list, p)
  local n = 0
  for _, a in ipairs(list) do n = n + a.shape[1] end
  local out = nd.zeros({ n, p }, "float64")
  local op, o = out:data(), 0
  for _, a in ipairs(list) do
    local ap = a:data()
    for i = 0, a.size - 1 do op[o + i] = ap[i] end
    o = o + a.size
  end
  return out
end

-- ---------------------------------------------------------------------------
-- In-memory weighted k-means (the reclustering of k-means|| candidates)

-- Weighted k-means++ seeding then Lloyd on the candidates CAND (m x p) with
-- weights W (Lua list); returns k x p centres.
local function weighted_kmeans(cand, w, k, g, max_iter)
  local m, p = cand.shape[1], cand.shape[2]
  local cp = cand:data()
  local chosen = {}
  -- first centre: drawn by weight
  local tot = 0
  for i = 1, m do tot = tot + w[i] end
  local function draw(weights, total)
    local u, acc = g:random() * total, 0
    for i = 1, m do
      acc = acc + weights[i]
      if u < acc then return i - 1 end
    end
    return m - 1
  end
  chosen[1] = draw(w, tot)
  local d2 = {}
  for i = 1, m do d2[i] = huge end
  local centers = nd.zeros({ k, p }, "float64")
  local ctr = centers:data()
  for c = 1, k do
    local r = chosen[c]
    for t = 0, p - 1 do ctr[(c - 1) * p + t] = cp[r * p + t] end
    if c == k then break end
    local wd, s = {}, 0
    for i = 1, m do
      local dd = 0
      for t = 0, p - 1 do local v = cp[(i - 1) * p + t] - cp[r * p + t]; dd = dd + v * v end
      if dd < d2[i] then d2[i] = dd end
      wd[i] = w[i] * d2[i]
      s = s + wd[i]
    end
    chosen[c + 1] = s > 0 and draw(wd, s) or g:int(m)
  end
  -- weighted Lloyd
  for _ = 1, max_iter do
    local lab = nearest_of(cand, centers)
    local sums = nd.zeros({ k, p }, "float64")
    local sp = sums:data()
    local cnt = {}
    for j = 1, k do cnt[j] = 0 end
    for i = 0, m - 1 do
      local j = lab[i]
      cnt[j + 1] = cnt[j + 1] + w[i + 1]
      for t = 0, p - 1 do sp[j * p + t] = sp[j * p + t] + w[i + 1] * cp[i * p + t] end
    end
    local shift = 0
    for j = 0, k - 1 do
      if cnt[j + 1] > 0 then
        for t = 0, p - 1 do
          local v = sp[j * p + t] / cnt[j + 1]
          local dd = v - ctr[j * p + t]
          shift = shift + dd * dd
          ctr[j * p + t] = v
        end
      end
    end
    if shift == 0 then break end
  end
  return centers
end

-- ---------------------------------------------------------------------------
-- KMeans

--- KMeans{n_clusters = 8, init = "k-means||", oversampling_factor = 2,
-- init_max_iter = false, max_iter = 300, tol = 1e-4, random_state =
-- false}: k-means clustering. init: "k-means||" (scalable, dask-ml's),
-- "random" (k distinct rows) or a k x p ndarray of starting centres.
-- Lloyd iterations stop when the squared shift of the centres is at most
-- tol x the mean variance of the features (scikit-learn's rule). An empty
-- cluster takes the row farthest from its centre, as scikit-learn's.
-- Fitted: `cluster_centers_`, `inertia_`, `n_iter_`, `labels_` (an ldask
-- array, lazy, for array input; an int64 ndarray for ndarrays). `predict` gives int64 labels, `transform`
-- the distances to the centres, `score` minus the inertia.
-- @table KMeans
local KMeans = base.estimator("KMeans", {
  n_clusters = 8, init = "k-means||", oversampling_factor = 2, init_max_iter = false, max_iter = 300,
  tol = 1e-4, random_state = false, algorithm = "lloyd", n_init = 1,
}, { module = "ldask.ml.cluster", type = "clusterer", predict_dtype = "int64" })
M.KMeans = KMeans

function KMeans._check_params(self)
  local p = self.params
  if type(p.n_clusters) ~= "number" or p.n_clusters < 1 or p.n_clusters ~= floor(p.n_clusters) then
    misuse("KMeans: n_clusters must be a positive integer, got " .. tostring(p.n_clusters))
  end
  if p.init ~= "k-means||" and p.init ~= "random" and not nd.is_ndarray(p.init) then
    misuse("KMeans: init must be 'k-means||', 'random' or an ndarray of centres, got " .. tostring(p.init))
  end
  if type(p.max_iter) ~= "number" or p.max_iter < 1 then misuse("KMeans: max_iter must be a positive integer") end
end

-- Rows IDX (Lua list of global row indices) of X (array or ndarray).
local function fetch_rows(x, idx)
  local sorted = {}
  for i, v in ipairs(idx) do sorted[i] = v end
  table.sort(sorted)
  local parts = base.partials_indexed(M._rows_part, { x }, base.row_starts(x), sorted)
  local rows = vstack(parts, x.shape[2])
  -- back in the order of IDX
  local pos = {}
  for i, v in ipairs(sorted) do pos[v] = pos[v] or i - 1 end
  local out = nd.zeros({ #idx, x.shape[2] }, "float64")
  local op, rp, p = out:data(), rows:data(), x.shape[2]
  for i, v in ipairs(idx) do for t = 0, p - 1 do op[(i - 1) * p + t] = rp[pos[v] * p + t] end end
  return out
end

-- The distances D2 (nil at first) updated with the candidates C, for X:
-- an ndarray, or a persisted 1-D array with X's row blocks.
local function update_d2(x, d2, c)
  if nd.is_ndarray(x) then return M._d2_part(x, c, d2 or false) end
  local graph = require "ldask.graph"
  local acore = require "ldask.array.core"
  local name = "kmeans-d2-" .. require("ldask.tokenize").tokenize(x.name, d2 and d2.name or false, c)
  local layer = {}
  for b = 0, #x.chunks[1] - 1 do
    layer[graph.key(name, b)] = { M._d2_part, graph.key(x.name, b, 0), c, d2 and graph.key(d2.name, b) or false }
  end
  local out = acore.new(name, layer, { x.chunks[1] }, "float64", d2 and { x, d2 } or { x })
  return (require("ldask").persist(out))
end

-- The sum of D2 (ndarray or array).
local function total_of(d2)
  local s = 0
  for _, v in ipairs(base.partials(M._sum_part, { d2 })) do s = s + v end
  return s
end

-- k distinct random row indices of N rows.
local function distinct_rows(g, n, k)
  local seen, out = {}, {}
  while #out < k do
    local r = g:int(n)
    if not seen[r] then seen[r] = true; out[#out + 1] = r end
  end
  return out
end

-- k-means|| initial centres of X (n x p).
local function init_scalable(self, x, g, seed)
  local k = self.params.n_clusters
  local n, p = x.shape[1], x.shape[2]
  local centers = fetch_rows(x, { g:int(n) })
  -- d2: each row's squared distance to the nearest candidate so far, kept
  -- (persisted) between rounds, so a round measures only its new candidates
  local d2 = update_d2(x, nil, centers)
  local phi = total_of(d2)
  local rounds = self.params.init_max_iter or max(1, min(5, floor(log(max(phi, 2)) + 0.5)))
  local l = self.params.oversampling_factor * k
  for r = 1, rounds do
    if phi <= 0 then break end
    local new = base.partials_indexed(M._sample_part, { x, d2 }, l, phi, seed, r)
    local picked = vstack(new, p)
    if picked.shape[1] > 0 then
      centers = vstack({ centers, picked }, p)
      if r < rounds then
        d2 = update_d2(x, d2, picked)
        phi = total_of(d2)
      end
    end
  end
  if centers.shape[1] < k then
    -- too few candidates (tiny data or phi 0): add random rows
    local extra = fetch_rows(x, distinct_rows(g, n, min(n, k)))
    centers = vstack({ centers, extra }, p)
  end
  local w = {}
  for j = 1, centers.shape[1] do w[j] = 0 end
  for _, counts in ipairs(base.partials(M._count_part, { x }, centers)) do
    for j, c in ipairs(counts) do w[j] = w[j] + c end
  end
  return weighted_kmeans(centers, w, k, g, 300)
end

-- sklearn's relocation of empty clusters: each empty cluster takes one of
-- the rows farthest from their centre (farthest first), which leaves its old
-- cluster. SUMS (k x p ndarray) and COUNTS (Lua list) are updated in place.
local function relocate_empty(x, centers, sums, counts)
  local empty = {}
  for j, c in ipairs(counts) do if c == 0 then empty[#empty + 1] = j - 1 end end
  if #empty == 0 then return end
  local far = {}
  for _, part in ipairs(base.partials(M._far_part, { x }, centers, #empty)) do
    for _, f in ipairs(part) do far[#far + 1] = f end
  end
  table.sort(far, function(a, b) return a[1] > b[1] end)
  local p = sums.shape[2]
  local sp = sums:data()
  for i, j in ipairs(empty) do
    local f = far[i]
    if not f then break end
    local old, row = f[2], f[3]
    for t = 0, p - 1 do
      sp[old * p + t] = sp[old * p + t] - row[t + 1]
      sp[j * p + t] = row[t + 1]
    end
    counts[old + 1] = counts[old + 1] - 1
    counts[j + 1] = 1
  end
end

-- Fits on X (an array with whole columns, persisted, or an ndarray).
local function fit_any(self, x)
  local k = self.params.n_clusters
  local n, p = x.shape[1], x.shape[2]
  if k > n then misuse(format("KMeans: n_samples=%d should be >= n_clusters=%d", n, k)) end
  local seed = self.params.random_state or 0
  local g = base.rng(seed)
  local init = self.params.init
  local centers
  if nd.is_ndarray(init) then
    if init.ndim ~= 2 or init.shape[1] ~= k or init.shape[2] ~= p then
      misuse(format("KMeans: init has shape %s, expected (%d, %d)", nd.shape_str(init.shape), k, p))
    end
    centers = f64(init)
  elseif init == "random" then
    centers = fetch_rows(x, distinct_rows(g, n, k))
  else
    centers = init_scalable(self, x, g, seed)
  end
  -- sklearn's tolerance: tol times the mean variance of the features
  local var
  if nd.is_ndarray(x) then var = x:var(0):mean():item() else var = x:var(0):mean():compute() end
  local tol = self.params.tol * var
  local iters, last_inertia, shift = 0, nil, huge
  for it = 1, self.params.max_iter do
    iters = it
    local sums = nd.zeros({ k, p }, "float64")
    local counts = {}
    for j = 1, k do counts[j] = 0 end
    local inertia = 0
    for _, part in ipairs(base.partials(M._lloyd_part, { x }, centers)) do
      sums = sums + part[1]
      for j = 1, k do counts[j] = counts[j] + part[2][j] end
      inertia = inertia + part[3]
    end
    relocate_empty(x, centers, sums, counts)
    local new = f64(centers)
    local np_, sp, cp = new:data(), sums:data(), centers:data()
    shift = 0
    for j = 0, k - 1 do
      if counts[j + 1] > 0 then
        for t = 0, p - 1 do
          local v = sp[j * p + t] / counts[j + 1]
          local dd = v - cp[j * p + t]
          shift = shift + dd * dd
          np_[j * p + t] = v
        end
      end
    end
    last_inertia = inertia
    centers = new
    if shift <= tol then break end
  end
  self.cluster_centers_ = centers
  self.n_iter_ = iters
  if shift == 0 then
    self.inertia_ = last_inertia
  else
    local s = 0
    for _, v in ipairs(base.partials(M._inertia_part, { x }, centers)) do s = s + v end
    self.inertia_ = s
  end
end

function KMeans._fit(self, X)
  fit_any(self, view64(X))
  self.labels_ = KMeans._predict(self, X)
end

function KMeans._fit_array(self, X)
  local ldask = require "ldask"
  local x = ldask.persist(X)
  fit_any(self, x)
  self.n_features_in_ = X.shape[2]
  self.labels_ = base.rowwise(self, "_predict", x, nil, "int64")
end

function KMeans._predict(self, X)
  local lab = nearest_of(X, self.cluster_centers_)
  local out = nd.zeros({ X.shape[1] }, "int64")
  local op = out:data()
  for i = 0, X.shape[1] - 1 do op[i] = lab[i] end
  return out
end

function KMeans._n_out(self) return self.params.n_clusters end

function KMeans._transform(self, X)
  return sqdist(X, self.cluster_centers_):sqrt()
end

function KMeans._score(self, X)
  local s = 0
  for _, v in ipairs(base.partials(M._inertia_part, { view64(X) }, self.cluster_centers_)) do s = s + v end
  return -s
end

function KMeans._score_array(self, X)
  local s = 0
  for _, v in ipairs(base.partials(M._inertia_part, { X }, self.cluster_centers_)) do s = s + v end
  return -s
end

return M
