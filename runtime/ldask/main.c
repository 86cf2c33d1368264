/* main.c — the ldask program: creates the main LuaJIT state, points its
 * module paths at the build tree or the install prefix, registers the
 * readline binding, and hands argv to the Lua entry point ldask.cli.main,
 * which parses options and runs a script, -e code or the REPL. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>

#include "paths.h"
#include "readline.h"
#include "signals.h"

/* Message handler: appends a traceback to string errors. */
static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (lua_isnoneornil(L, 1)) return 1; /* error() with no message: exit quietly */
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Makes require(NAME) return the table OPEN builds. */
static void preload(lua_State *L, const char *name, lua_CFunction open) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, open);
  lua_setfield(L, -2, name);
  lua_pop(L, 2);
}

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "ldask: cannot create a Lua state (out of memory)\n");
    return 1;
  }
  luaL_openlibs(L);
  if (ld_paths_setup(L) != 0) {
    fprintf(stderr, "ldask: cannot locate the ldask Lua modules\n");
    lua_close(L);
    return 1;
  }
  preload(L, "ldask.readline", ld_readline_open);
  preload(L, "ldask.signals", ld_signals_open);

  lua_pushcfunction(L, traceback);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "ldask.cli");
  int status = lua_pcall(L, 1, 1, 1);
  if (status == 0) {
    lua_getfield(L, -1, "main");
    lua_remove(L, -2);
    lua_createtable(L, argc, 0);
    for (int i = 0; i < argc; i++) {
      lua_pushstring(L, argv[i]);
      lua_rawseti(L, -2, i);
    }
    status = lua_pcall(L, 1, 1, 1);
  }
  int code;
  if (status != 0) {
    if (!lua_isnil(L, -1)) fprintf(stderr, "ldask: %s\n", lua_tostring(L, -1));
    code = 1;
  } else {
    code = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  }
  fflush(stdout);
  lua_close(L);
  return code;
}
