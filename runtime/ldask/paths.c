/* paths.c — finds ldask's Lua modules and native library from the
 * executable's location, so the program runs from the build tree (bin/ or
 * a variant's build/san/bin/), or an install prefix, without LUA_PATH. */
#include "paths.h"

#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void parent_dir(char *path) {
  char *slash = strrchr(path, '/');
  if (slash != NULL && slash != path)
    *slash = '\0';
  else if (slash == path)
    path[1] = '\0';
}

static int exists_in(const char *dir, const char *rel) {
  char probe[PATH_MAX + 64];
  snprintf(probe, sizeof probe, "%s/%s", dir, rel);
  return access(probe, R_OK) == 0;
}

static void prepend(lua_State *L, const char *field, const char *dirs) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, field);
  lua_pushfstring(L, "%s;%s", dirs, lua_tostring(L, -1));
  lua_setfield(L, -3, field);
  lua_pop(L, 2);
}

static void set_global(lua_State *L, const char *name, const char *value) {
  lua_pushstring(L, value);
  lua_setglobal(L, name);
}

int ld_paths_setup(lua_State *L) {
  char exe[PATH_MAX], prefix[PATH_MAX], src[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return -1;
  exe[n] = '\0';
  parent_dir(exe); /* .../bin */
  snprintf(prefix, sizeof prefix, "%s", exe);
  parent_dir(prefix); /* the build output root or install prefix */
  set_global(L, "_LDASK_BIN", exe);

  char dirs[4 * PATH_MAX];
  if (exists_in(prefix, "lib/ldask/native.so")) {
    /* a build tree: the sources' lua/ is here or a few levels up */
    snprintf(src, sizeof src, "%s", prefix);
    for (int up = 0; up < 4 && !exists_in(src, "lua/ldask/init.lua"); up++) parent_dir(src);
    if (!exists_in(src, "lua/ldask/init.lua")) return -1;
    snprintf(dirs, sizeof dirs, "%s/lua/?.lua;%s/lua/?/init.lua", src, src);
    prepend(L, "path", dirs);
    snprintf(dirs, sizeof dirs, "%s/lib/?.so", prefix);
    prepend(L, "cpath", dirs);
    set_global(L, "_LDASK_ROOT", src);
  } else {
    snprintf(dirs, sizeof dirs, "%s/share/lua/5.1/?.lua;%s/share/lua/5.1/?/init.lua", prefix,
             prefix);
    prepend(L, "path", dirs);
    snprintf(dirs, sizeof dirs, "%s/lib/lua/5.1/?.so", prefix);
    prepend(L, "cpath", dirs);
    set_global(L, "_LDASK_ROOT", prefix);
  }
  return 0;
}
