/* xstate.h — executor states: a fresh LuaJIT state with the standard
 * libraries and ldask loaded, and a string-in/string-out call into a Lua
 * module function. The thread pool runs one per thread; the codec specs use
 * one to prove that values and functions survive a trip between states.
 * An xstate is used by one thread at a time (it is not locked). */
#ifndef LDASK_XSTATE_H
#define LDASK_XSTATE_H

#include <lua.h>
#include <stddef.h>

typedef struct ld_xstate ld_xstate;

/* Creates a LuaJIT state with the standard libraries, package.path and
 * package.cpath set to PATH and CPATH (copied), the global `ldask` set to
 * require("ldask"), and require("ldask.task.state").start() run (every ffi
 * cdef, metatype and cdata codec loaded). Returns NULL when out of memory or when ldask cannot be
 * loaded; *err (if err != NULL) then points to a malloc'ed message the caller
 * frees. PATH or CPATH NULL keeps LuaJIT's default. */
ld_xstate *ld_xstate_new(const char *path, const char *cpath, char **err);

/* The state's lua_State; owned by the xstate. */
lua_State *ld_xstate_L(ld_xstate *xs);

/* Calls require(MODULE)[FN](input string) in the state; FN must return a
 * string. Returns 0 and *out, *outlen = malloc'ed copy of the result (caller
 * frees; it is also NUL-terminated), or -1 and *out = malloc'ed error message
 * with traceback (caller frees; *outlen is its length). The Lua stack is left
 * as it was found. */
int ld_xstate_call(ld_xstate *xs, const char *module, const char *fn, const char *in, size_t inlen,
                   char **out, size_t *outlen);

/* Closes the state. NULL is ignored. */
void ld_xstate_free(ld_xstate *xs);

#endif
