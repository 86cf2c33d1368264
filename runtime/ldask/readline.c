/* readline.c — the Lua binding of libedit's readline for the REPL: one job,
 * reading an edited line with history. The REPL logic lives in
 * lua/ldask/repl.lua. */
#include "readline.h"

#include <editline/readline.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <unistd.h>

static int l_readline(lua_State *L) {
  const char *prompt = luaL_optstring(L, 1, "> ");
  char *line = readline(prompt);
  if (line == NULL) return 0;
  lua_pushstring(L, line);
  free(line);
  return 1;
}

static int l_add_history(lua_State *L) {
  add_history(luaL_checkstring(L, 1));
  return 0;
}

static int l_read_history(lua_State *L) {
  lua_pushboolean(L, read_history(luaL_checkstring(L, 1)) == 0);
  return 1;
}

static int l_write_history(lua_State *L) {
  lua_pushboolean(L, write_history(luaL_checkstring(L, 1)) == 0);
  return 1;
}

static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

int ld_readline_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"readline", l_readline},
                                 {"add_history", l_add_history},
                                 {"read_history", l_read_history},
                                 {"write_history", l_write_history},
                                 {"isatty", l_isatty},
                                 {NULL, NULL}};
  lua_newtable(L);
  luaL_register(L, NULL, fns);
  return 1;
}
