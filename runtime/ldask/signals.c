/* signals.c — SIGINT handling: interrupts the main Lua state through a debug
 * hook (set from the handler, cleared by the hook) and records the signal so
 * that waits in C (a compute waiting on executor threads) can notice it. */
#include "signals.h"

#include <lauxlib.h>
#include <signal.h>
#include <string.h>

static lua_State *g_main;
static volatile sig_atomic_t g_pending;

static void interrupt_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted");
}

static void on_sigint(int sig) {
  (void)sig;
  g_pending = 1;
  if (g_main != NULL)
    lua_sethook(g_main, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static int l_arm(lua_State *L) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  g_main = L;
  sigaction(SIGINT, &sa, NULL);
  return 0;
}

static int l_disarm(lua_State *L) {
  (void)L;
  signal(SIGINT, SIG_DFL);
  return 0;
}

static int l_pending(lua_State *L) {
  lua_pushboolean(L, g_pending != 0);
  g_pending = 0;
  return 1;
}

int ld_signals_open(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"arm", l_arm}, {"disarm", l_disarm}, {"pending", l_pending}, {NULL, NULL}};
  lua_newtable(L);
  luaL_register(L, NULL, fns);
  return 1;
}
