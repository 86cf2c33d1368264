/* fuzz_codec.c — libFuzzer harness of the value codec's decoder
 * (lua/ldask/codec/decode.lua) in an embedded LuaJIT state, as an
 * executor decodes a task's payload: fuzz/codec_harness.lua loads the
 * codec; each input gives the buffers and the header (first byte: number
 * of buffers, 0..3; then their u16 lengths; their bytes; the rest is the
 * header). A crash, a sanitizer report or a decode error that is not a
 * codec.decode message fails. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "util/buffer.h"

#ifndef LDASK_SRC_ROOT
#define LDASK_SRC_ROOT "."
#endif

static lua_State *L;
static int fn_ref;
static unsigned long iterations;

/* Lua line coverage for libFuzzer (the Lua code is not compiled with
 * coverage): each line run bumps a counter picked by (chunk, line), a
 * libFuzzer extra counter, so inputs reaching new decoder lines are kept. */
__attribute__((section("__libfuzzer_extra_counters"))) static uint8_t lua_lines[8192];

static void line_hook(lua_State *l, lua_Debug *ar) {
  if (lua_getinfo(l, "S", ar) == 0) return;
  uintptr_t h = (uintptr_t)ar->source * 31u + (uintptr_t)ar->currentline * 2654435761u;
  uint8_t *c = &lua_lines[(h >> 4) % sizeof lua_lines];
  if (*c < 255) (*c)++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  L = luaL_newstate();
  fz_check(L != NULL, "luaL_newstate");
  luaL_openlibs(L);
  const char *root = getenv("LDASK_SRC_ROOT");
  if (root == NULL) root = LDASK_SRC_ROOT;
  char path[4096];
  snprintf(path, sizeof path, "%s/fuzz/codec_harness.lua", root);
  fz_check(luaL_loadfile(L, path) == 0, "loading %s: %s", path, lua_tostring(L, -1));
  lua_pushstring(L, root);
  fz_check(lua_pcall(L, 1, 1, 0) == 0, "running %s: %s", path, lua_tostring(L, -1));
  fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_sethook(L, line_hook, LUA_MASKLINE, 0);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_in in = {data, size};
  int n = fz_u8(&in) & 3;
  size_t lens[3];
  ld_buffer *bufs[3];
  for (int i = 0; i < n; i++) lens[i] = fz_u16(&in);
  for (int i = 0; i < n; i++) {
    const uint8_t *p;
    lens[i] = fz_take(&in, lens[i], &p);
    bufs[i] = ld_buffer_new(lens[i]);
    fz_check(bufs[i] != NULL, "allocation");
    if (lens[i]) memcpy(bufs[i]->data, p, lens[i]);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, fn_ref);
  lua_pushlstring(L, (const char *)in.p, in.n);
  lua_pushlightuserdata(L, bufs);
  lua_pushinteger(L, n);
  fz_check(lua_pcall(L, 3, 1, 0) == 0, "%s", lua_tostring(L, -1));
  lua_pop(L, 1);
  /* A value still holding one of the buffers (a view awaiting its
   * finalizer) lives in LuaJIT's own heap, which LeakSanitizer does not
   * scan: collect it now, else the buffer is reported as leaked. */
  int held = 0;
  for (int i = 0; i < n; i++) held |= atomic_load(&bufs[i]->refs) > 1;
  if (held) lua_gc(L, LUA_GCCOLLECT, 0);
  for (int i = 0; i < n; i++) ld_buffer_release(bufs[i]);
  if (++iterations % 256 == 0) { /* finalizers drop references */
    lua_gc(L, LUA_GCCOLLECT, 0);
    int kb = lua_gc(L, LUA_GCCOUNT, 0);
    if (getenv("FUZZ_CODEC_VERBOSE") && iterations % 65536 == 0)
      fprintf(stderr, "fuzz_codec: %lu inputs, Lua heap %d KB\n", iterations, kb);
    fz_check(kb < (256 << 10), "the Lua heap holds %d KB after a full collection", kb);
  }
  return 0;
}
