--- ldask.client.datasets: published datasets (dask's Client.publish_dataset
-- and friends). A dataset is a named value held by the scheduler — futures,
-- tables of futures, or a collection (array, bag, dataframe, delayed),
-- persisted first — that outlives the client that published it and is
-- shared by every client of the cluster: get_dataset gives back the same
-- kind of collection backed by futures (persist semantics). The scheduler
-- keeps the data of the futures inside until the dataset is unpublished
-- (runtime/scheduler/coord.c). docs/distributed.md, "Shared clusters".
-- @submodule ldask.client
local coord = require "ldask.client.coord"
local is_future = require("ldask.client.future").is_future

local type, error, tostring, pairs, ipairs = type, error, tostring, pairs, ipairs
local sort = table.sort

local D = {}

-- Adds the methods to CLIENT (the Client metatable). SHARED: check (a
-- method's argument and state check).
function D.install(Client, shared)
  local check = shared.check

  -- Publishes VALUE under NAME (collections persisted first).
  local function publish_one(self, name, value, override, level)
    if type(name) ~= "string" or name == "" then
      error("Client:publish_dataset: a dataset name must be a non-empty string, got " .. type(name), level + 1)
    end
    if value == nil then error("Client:publish_dataset: dataset '" .. name .. "' has no value (nil)", level + 1) end
    local base = require "ldask.base"
    local held = value
    if base.is_collection(value) and not is_future(value) then held = self:persist(value) end
    coord.request(self, { kind = "dataset", action = "publish", name = name, override = override == true },
      true, held, "Client:publish_dataset", level + 1)
  end

  --- publish_dataset(name, value [, {override =}]) or publish_dataset{name =
  -- value, ...}: publishes values (futures, tables of futures, collections:
  -- persisted first) under names on the scheduler, for any client of the
  -- cluster (get_dataset), until unpublished; the data stays on the
  -- cluster after this client closes. Raises when a name is taken, unless
  -- override = true.
  -- @param name a name, or a table `{ name = value, ... }`
  -- @param[opt] value the value (with a name)
  -- @param[opt] opts `{ override = true }`
  -- @usage local c = ldask.Client()
  -- c:publish_dataset("x", ldask.array.ones({1000}, {chunks = 100}))
  -- local other = ldask.Client(c.address)   -- another user of the cluster
  -- print(other:get_dataset("x"):sum():compute())   --> 1000
  -- other:close(); c:close()
  function Client:publish_dataset(name, value, opts)
    check(self, "publish_dataset")
    if type(name) == "table" then
      local override = type(value) == "table" and value.override or false
      local names = {}
      for k in pairs(name) do
        if type(k) ~= "string" then error("Client:publish_dataset: dataset names must be strings, got a " .. type(k) .. " key", 2) end
        names[#names + 1] = k
      end
      if #names == 0 then error("Client:publish_dataset: no dataset given", 2) end
      sort(names)
      for _, k in ipairs(names) do publish_one(self, k, name[k], override, 2) end
      return
    end
    if opts ~= nil and type(opts) ~= "table" then error("Client:publish_dataset: options must be a table, got " .. type(opts), 2) end
    publish_one(self, name, value, opts and opts.override, 2)
  end

  --- get_dataset(name [, {timeout =}]): the dataset published under NAME,
  -- as futures of this client (a collection comes back as the same kind of
  -- collection backed by futures). Raises when there is none (with a
  -- timeout: waits up to that many seconds for it to be published).
  -- @param name the dataset's name
  -- @param[opt] opts `{ timeout = seconds }`
  -- @return the value
  function Client:get_dataset(name, opts)
    check(self, "get_dataset")
    if type(name) ~= "string" then error("Client:get_dataset: name must be a string, got " .. type(name), 2) end
    local timeout = type(opts) == "table" and opts.timeout or nil
    local deadline = timeout and self._now() + timeout
    while true do
      local r = coord.request(self, { kind = "dataset", action = "get", name = name }, false, nil,
        "Client:get_dataset", 2, true)
      if r.ok then return r.decoded end
      if not deadline or self._now() >= deadline then error("Client:get_dataset: " .. tostring(r.message), 2) end
      self:_poll(0.05)
    end
  end

  --- list_datasets(): the names of the published datasets, sorted.
  -- @return a list of names
  function Client:list_datasets()
    check(self, "list_datasets")
    local names = coord.request(self, { kind = "dataset", action = "list", name = "" }, false, nil,
      "Client:list_datasets", 2).names or {}
    sort(names)
    return names
  end

  --- unpublish_dataset(name): removes the dataset; its data goes once no
  -- client holds futures of it. Raises when there is none.
  -- @param name the dataset's name
  function Client:unpublish_dataset(name)
    check(self, "unpublish_dataset")
    if type(name) ~= "string" then error("Client:unpublish_dataset: name must be a string, got " .. type(name), 2) end
    coord.request(self, { kind = "dataset", action = "unpublish", name = name }, false, nil, "Client:unpublish_dataset", 2)
  end

end

return D
