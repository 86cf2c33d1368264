/* paths.h — locating ldask's Lua modules and native library. */
#ifndef LDASK_PATHS_H
#define LDASK_PATHS_H
#include <lua.h>

/* Prepends ldask's module directories to package.path and package.cpath of
 * L. PREFIX is the parent of the executable's directory. In a build tree
 * (PREFIX/lib/ldask/native.so exists) modules come from the nearest
 * SRC/lua at or above PREFIX and the library from PREFIX/lib; otherwise
 * from the install layout PREFIX/share/lua/5.1 and PREFIX/lib/lua/5.1.
 * Sets the globals _LDASK_ROOT (the source tree or prefix) and _LDASK_BIN
 * (the executable's directory). Returns 0, or -1 when nothing is found. */
int ld_paths_setup(lua_State *L);

#endif
