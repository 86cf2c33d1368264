/* paths.c — finds ldask's Lua modules from the executable's location, so the
 * program runs from the build tree or an install prefix without LUA_PATH. */
#include "paths.h"

#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void parent_dir(char *path) {
  char *slash = strrchr(path, '/');
  if (slash != NULL && slash != path) *slash = '\0';
  else if (slash == path) path[1] = '\0';
}

static int exists(const char *path) { return access(path, R_OK) == 0; }

static void prepend(lua_State *L, const char *field, const char *dirs) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, field);
  lua_pushfstring(L, "%s;%s", dirs, lua_tostring(L, -1));
  lua_setfield(L, -3, field);
  lua_pop(L, 2);
}

int ld_paths_setup(lua_State *L) {
  char root[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", root, sizeof root - 1);
  if (n <= 0) return -1;
  root[n] = '\0';
  parent_dir(root); /* bin/ */
  parent_dir(root); /* root */

  char probe[PATH_MAX + 64], dirs[4 * PATH_MAX];
  snprintf(probe, sizeof probe, "%s/lua/ldask/init.lua", root);
  if (exists(probe)) {
    snprintf(dirs, sizeof dirs, "%s/lua/?.lua;%s/lua/?/init.lua", root, root);
    prepend(L, "path", dirs);
    snprintf(dirs, sizeof dirs, "%s/lib/?.so", root);
    prepend(L, "cpath", dirs);
  } else {
    snprintf(dirs, sizeof dirs, "%s/share/lua/5.1/?.lua;%s/share/lua/5.1/?/init.lua", root, root);
    prepend(L, "path", dirs);
    snprintf(dirs, sizeof dirs, "%s/lib/lua/5.1/?.so", root);
    prepend(L, "cpath", dirs);
  }
  lua_pushstring(L, root);
  lua_setglobal(L, "_LDASK_ROOT");
  return 0;
}
