-- Rockspec: `luarocks --lua-version 5.1 make --tree DIR ldask-scm-1.rockspec`
-- builds the native library with the Makefile and installs it with the Lua
-- modules and the programs; then `require "ldask"` works from plain luajit
-- with DIR's share/lua/5.1 and lib/lua/5.1 on its paths
-- (eval "$(luarocks --lua-version 5.1 path --bin --tree DIR)"). ldask runs
-- on LuaJIT, so luarocks must target Lua 5.1 (Debian's defaults to 5.2).
package = "ldask"
version = "scm-1"
source = { url = "git+file:///work/main" }
description = {
  summary = "Task graphs and parallel collections for Lua on a C runtime (dask for LuaJIT)",
  license = "MIT",
}
dependencies = { "lua >= 5.1, < 5.2" }
build = {
  type = "make",
  build_target = "all",
  install_target = "rock-install",
  install_variables = {
    LUADIR = "$(LUADIR)",
    LIBDIR = "$(LIBDIR)",
    BINDIR = "$(BINDIR)",
  },
}
