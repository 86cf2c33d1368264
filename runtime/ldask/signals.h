/* signals.h — Ctrl-C for the ldask program. */
#ifndef LDASK_SIGNALS_H
#define LDASK_SIGNALS_H
#include <lua.h>

/* The loader of the module "ldask.signals" (main.c puts it in package.preload): arm() installs a
 * SIGINT handler that interrupts running Lua code with the error "interrupted" (as the luajit
 * program does); disarm() restores the default action; pending() returns true once per SIGINT
 * received since the last call. */
int ld_signals_open(lua_State *L);

#endif
