-- Functional spec: the API reference (docs/api/, made by `make doc` with
-- LDoc from the doc comments of lua/ldask/) is current and complete: a fresh
-- LDoc run into a temporary directory gives the committed pages byte for
-- byte, and every public function and method of the user-facing modules is
-- named on its module's page.
local helpers = require "helpers"

local root = helpers.root

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- Names of the functions in table T (not starting with "_"), minus SKIP.
local function functions_of(t, skip, out)
  out = out or {}
  for k, v in pairs(t) do
    if type(k) == "string" and type(v) == "function" and not k:match("^_") and not (skip and skip[k]) then
      out[#out + 1] = k
    end
  end
  table.sort(out)
  return out
end

-- The public functions of each page: { page, { names } }.
local function api()
  local ldask = require "ldask"
  local client = require "ldask.client"
  local future = require "ldask.client.future"
  local array = require "ldask.array"
  local acore = require "ldask.array.core"
  local nd = require "ldask.array.ndarray"
  local bag = require "ldask.bag"
  local delayed = require "ldask.delayed"
  local diag = require "ldask.diagnostics"
  local dd = require "ldask.dataframe"
  local dcore = require "ldask.dataframe.core"
  local pages = {
    { "ldask", functions_of(ldask) },
    { "ldask.config", functions_of(require "ldask.config") },
    { "ldask.delayed", functions_of({ delayed = delayed.delayed, from_collection = delayed.from_collection }) },
    -- the client: the module's functions, Client and Future methods
    { "ldask.client", functions_of(client.Future, nil, functions_of(client.Client, nil, functions_of(client))) },
    { "ldask.client", functions_of({ is_future = future.is_future }) },
    { "ldask.array", functions_of(acore.methods, { keys = true }, functions_of(array)) },
    { "ldask.array.ndarray", functions_of(nd.methods, nil,
      functions_of({ zeros = nd.zeros, ones = nd.ones, full = nd.full, from_table = nd.from_table,
        alloc = nd.alloc, concatenate = nd.concatenate, where = nd.where })) },
    { "ldask.bag", functions_of(bag.Item, nil, functions_of(bag.Bag, nil, functions_of(bag))) },
    -- callbacks_for and adapter are the schedulers' side of diagnostics
    { "ldask.diagnostics", functions_of(diag, { callbacks_for = true, adapter = true }) },
    { "ldask.dataframe", functions_of(dcore.df_methods, nil, functions_of(dcore.series_methods, nil,
      functions_of(dcore.scalar_methods, nil, functions_of(dd)))) },
  }
  -- ldask.ml (core): each module's functions and its classes' methods
  for _, m in ipairs({ "base", "preprocessing", "decomposition", "cluster", "metrics", "model_selection",
    "pipeline", "search" }) do
    local mod = require("ldask.ml." .. m)
    local names = functions_of(mod)
    if m == "base" then names = functions_of(mod.Base, nil, names) end
    for _, v in pairs(mod) do
      if type(v) == "table" and rawget(v, "__index") == v then names = functions_of(v, { new = true }, names) end
    end
    pages[#pages + 1] = { "ldask.ml." .. m, names }
  end
  return pages
end

describe("the API reference (docs/api)", function()
  it("is what `make doc` makes from the current doc comments", function()
    local ok = os.execute("command -v ldoc >/dev/null 2>&1")
    assert(ok == 0 or ok == true, "ldoc is not installed (sh scripts/deps.sh installs lua-ldoc)")
    local dir = helpers.tmpdir() .. "/api"
    local out, rc = helpers.run_sh(string.format("rm -rf %s && cd %s/docs/ldoc && ldoc -c config.ld -d %s . 2>&1",
      helpers.shell_quote(dir), helpers.shell_quote(root), helpers.shell_quote(dir)))
    assert.equal(0, rc, out)
    local diff = helpers.run_sh(string.format("diff -r %s %s/docs/api 2>&1",
      helpers.shell_quote(dir), helpers.shell_quote(root)))
    assert(diff == "", "docs/api is stale: run `make doc` and commit docs/api (diff of a fresh run, then the "
      .. "committed pages):\n" .. diff:sub(1, 3000))
  end)

  it("is linked from the README", function()
    assert.is_truthy(read(root .. "/README.md"):find("(docs/api/index.md)", 1, true))
  end)

  for _, page in ipairs(api()) do
    local name, fns = page[1], page[2]
    it("names every public function of " .. name .. " on " .. name .. "'s page", function()
      local text = read(root .. "/docs/api/modules/" .. name .. ".md")
      assert(text, "docs/api/modules/" .. name .. ".md is missing")
      local missing = {}
      for _, fn in ipairs(fns) do
        if not text:find("%f[%w_]" .. fn .. "%f[^%w_]") then missing[#missing + 1] = fn end
      end
      assert(#missing == 0, "not documented on docs/api/modules/" .. name .. ".md (add a `---` doc comment, "
        .. "then `make doc`): " .. table.concat(missing, ", "))
    end)
  end
end)
