local M = {}
function M.from_zarr() error("todo") end
function M.to_zarr() error("todo") end
return M
