--- ldask.bag: parallel pipelines over Lua values (dask.bag for Lua). A Bag
-- is a list of partitions (Lua arrays) computed lazily by a task graph;
-- element operations fuse into one pass per partition. See docs/bag.md.
--   local bag = require "ldask.bag"   (or ldask.bag)
--   bag.read_text("logs/*.json"):map(cjson.decode):filter(f):count():compute()
-- @module ldask.bag
local core = require "ldask.bag.core"
local creation = require "ldask.bag.creation"
local transforms = require "ldask.bag.transforms"
local text = require "ldask.bag.text"
require "ldask.bag.reductions"
require "ldask.bag.groupby"

local M = {}

M.Bag = core.Bag
M.Item = core.Item
M.is_bag = core.is_bag
M.is_item = core.is_item

M.from_sequence = creation.from_sequence
M.range = creation.range
M.from_delayed = creation.from_delayed
M.read_text = text.read_text
M.read_json = text.read_json
M.concat = transforms.concat
M.zip = transforms.zip

return M
