/* luaopen_asx_core: the native half of `require "asx"`.
 *
 * Quick calls that never yield and never call back into Lua (submit an
 * order, read the best price) go through the FFI: the module hands Lua the
 * exact declarations the core was compiled with, as `cdef`. Functions that
 * yield or resume coroutines are classic lua_CFunctions added by the other
 * asx_lua_*.c files. */
#include "asx_lua.h"
#include "asx_ffi_cdef.h"

#include <lauxlib.h>

/* Binding files that are not part of this build yet are skipped, so each
 * concept can land on its own. */
#pragma weak asx__lua_open_sched
#pragma weak asx__lua_open_repl

int luaopen_asx_core(lua_State *L) {
  lua_newtable(L);
  lua_pushlstring(L, asx_ffi_cdef, sizeof(asx_ffi_cdef) - 1);
  lua_setfield(L, -2, "cdef");
  if (asx__lua_open_sched != NULL)
    asx__lua_open_sched(L);
  if (asx__lua_open_repl != NULL)
    asx__lua_open_repl(L);
  asx__lua_open_guard(L);
  return 1;
}
