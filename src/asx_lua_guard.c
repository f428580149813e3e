/* core.unyielding(fn, ...): fn(...) behind a C frame, which no yield
 * crosses.
 *
 * The exchange delivers its events to loggers from inside the call that
 * caused them (an agent's buy, say), so a logger runs on the agent's
 * coroutine. The delivery calls each logger under xpcall, which compiled
 * code runs without leaving the trace, but LuaJIT's xpcall lets a
 * coroutine.yield through: a logger that yields would suspend the agent in
 * the middle of a delivery, and the exchange would stay "delivering" for
 * good. A delivery on a coroutine therefore runs inside this call: the
 * lua_call from C is a boundary LuaJIT cannot yield across, so a yield (or
 * an agent's sleep) inside a logger is an error of the logger, raised where
 * it yielded and caught by the xpcall around it. Errors pass through as
 * they were raised; fn's results are returned.
 */
#include "asx_lua.h"

#include <lauxlib.h>

static int l_unyielding(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

int asx__lua_open_guard(lua_State *L) {
  lua_pushcfunction(L, l_unyielding);
  lua_setfield(L, -2, "unyielding");
  return 0;
}
