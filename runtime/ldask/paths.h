/* paths.h — locating ldask's Lua modules and native library. */
#ifndef LDASK_PATHS_H
#define LDASK_PATHS_H
#include <lua.h>

/* Prepends ldask's module directories to package.path and package.cpath of
 * L: the build tree (ROOT/lua, ROOT/lib) when the executable runs from one,
 * else the install layout (ROOT/share/lua/5.1, ROOT/lib/lua/5.1), where ROOT
 * is the parent of the executable's directory. Sets the global
 * _LDASK_ROOT. Returns 0, or -1 when the executable cannot be located. */
int ld_paths_setup(lua_State *L);

#endif
