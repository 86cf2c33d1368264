/* xstate.c — executor states (see xstate.h): creation of a LuaJIT state with
 * ldask loaded, and the protected string-in/string-out module call. */
#include "xstate.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

struct ld_xstate {
  lua_State *L;
};

/* Returns a malloc'ed copy of S (LEN bytes, NUL-terminated) or NULL. */
static char *dup_bytes(const char *s, size_t len) {
  char *p = malloc(len + 1);
  if (p == NULL) return NULL;
  if (len) memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

static void set_err(char **err, const char *msg, size_t len) {
  if (err != NULL) *err = dup_bytes(msg, len);
}

/* Message handler: the error value as a string, followed by a traceback. */
static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
      msg = lua_tostring(L, -1);
    } else {
      msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Runs in protected mode: sets package paths, requires ldask into _G, then
 * starts the state (ldask.task.state).
 * Stack: [1] path or nil, [2] cpath or nil. */
static int setup(lua_State *L) {
  luaL_openlibs(L);
  lua_getglobal(L, "package");
  if (!lua_isnil(L, 1)) {
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "path");
  }
  if (!lua_isnil(L, 2)) {
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "cpath");
  }
  lua_pop(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "ldask");
  lua_call(L, 1, 1);
  lua_setglobal(L, "ldask");
  /* The one start-up of every executor state (lua/ldask/task/state.lua):
   * the same cdefs, metatypes and cdata codecs whatever runs first. */
  lua_getglobal(L, "require");
  lua_pushliteral(L, "ldask.task.state");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "start");
  lua_call(L, 0, 0);
  lua_pop(L, 1);
  return 0;
}

ld_xstate *ld_xstate_new(const char *path, const char *cpath, char **err) {
  if (err != NULL) *err = NULL;
  ld_xstate *xs = malloc(sizeof *xs);
  if (xs == NULL) {
    static const char oom[] = "ld_xstate_new: out of memory";
    set_err(err, oom, sizeof oom - 1);
    return NULL;
  }
  xs->L = luaL_newstate();
  if (xs->L == NULL) {
    static const char oom[] = "ld_xstate_new: cannot create a Lua state (out of memory)";
    free(xs);
    set_err(err, oom, sizeof oom - 1);
    return NULL;
  }
  lua_State *L = xs->L;
  lua_pushcfunction(L, traceback);
  lua_pushcfunction(L, setup);
  if (path != NULL) {
    lua_pushstring(L, path);
  } else {
    lua_pushnil(L);
  }
  if (cpath != NULL) {
    lua_pushstring(L, cpath);
  } else {
    lua_pushnil(L);
  }
  if (lua_pcall(L, 2, 0, 1) != 0) {
    size_t len = 0;
    const char *msg = lua_tolstring(L, -1, &len);
    if (msg == NULL) msg = "unknown error", len = strlen(msg);
    if (err != NULL) {
      static const char prefix[] = "ld_xstate_new: cannot load ldask: ";
      char *m = malloc(sizeof prefix - 1 + len + 1);
      if (m != NULL) {
        memcpy(m, prefix, sizeof prefix - 1);
        memcpy(m + sizeof prefix - 1, msg, len);
        m[sizeof prefix - 1 + len] = '\0';
      }
      *err = m;
    }
    lua_close(L);
    free(xs);
    return NULL;
  }
  lua_settop(L, 0);
  return xs;
}

lua_State *ld_xstate_L(ld_xstate *xs) { return xs->L; }

/* Runs in protected mode. Stack: [1] module, [2] fn, [3] input.
 * Returns the function's string result. */
static int call_fn(lua_State *L) {
  const char *module = lua_tostring(L, 1);
  const char *fn = lua_tostring(L, 2);
  lua_getglobal(L, "require");
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  if (!lua_istable(L, -1)) {
    return luaL_error(L, "ld_xstate_call: module '%s' is a %s, not a table", module,
                      luaL_typename(L, -1));
  }
  lua_getfield(L, -1, fn);
  if (!lua_isfunction(L, -1)) {
    return luaL_error(L, "ld_xstate_call: %s.%s is a %s, not a function", module, fn,
                      luaL_typename(L, -1));
  }
  lua_pushvalue(L, 3);
  lua_call(L, 1, 1);
  if (lua_type(L, -1) != LUA_TSTRING) {
    return luaL_error(L, "ld_xstate_call: %s.%s returned a %s, not a string", module, fn,
                      luaL_typename(L, -1));
  }
  return 1;
}

int ld_xstate_call(ld_xstate *xs, const char *module, const char *fn, const char *in, size_t inlen,
                   char **out, size_t *outlen) {
  lua_State *L = xs->L;
  int top = lua_gettop(L);
  *out = NULL;
  if (outlen != NULL) *outlen = 0;
  if (!lua_checkstack(L, 8)) {
    static const char msg[] = "ld_xstate_call: Lua stack overflow";
    *out = dup_bytes(msg, sizeof msg - 1);
    if (outlen != NULL) *outlen = sizeof msg - 1;
    return -1;
  }
  lua_pushcfunction(L, traceback);
  lua_pushcfunction(L, call_fn);
  lua_pushstring(L, module != NULL ? module : "");
  lua_pushstring(L, fn != NULL ? fn : "");
  lua_pushlstring(L, in != NULL ? in : "", in != NULL ? inlen : 0);
  int status = lua_pcall(L, 3, 1, top + 1);
  size_t len = 0;
  const char *s = lua_tolstring(L, -1, &len);
  if (s == NULL) s = "(no error message)", len = strlen(s);
  char *copy = dup_bytes(s, len);
  lua_settop(L, top);
  if (copy == NULL) {
    /* Out of memory: no message can be returned either. */
    return -1;
  }
  *out = copy;
  if (outlen != NULL) *outlen = len;
  return status == 0 ? 0 : -1;
}

void ld_xstate_free(ld_xstate *xs) {
  if (xs == NULL) return;
  lua_close(xs->L);
  free(xs);
}
