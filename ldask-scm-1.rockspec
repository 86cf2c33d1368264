-- Rockspec: `luarocks make --tree DIR` builds the native library with the
-- Makefile and installs it with the Lua modules; then `require "ldask"`
-- works from plain luajit with DIR's share/lua/5.1 and lib/lua/5.1 on its
-- paths (eval "$(luarocks path --tree DIR)").
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
