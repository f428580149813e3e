/* Loggers must not wait: what keeps a logger's coroutine.yield or sleep
 * from suspending the call that delivers to it.
 *
 * The exchange delivers its events to loggers from inside the call that
 * caused them (an agent's buy, say), so a logger runs on the agent's
 * coroutine, under the xpcall of guard.send (lua/asx/guard.lua), which
 * LuaJIT lets a yield through: a logger that yielded would suspend the
 * agent in the middle of a delivery. A C frame around each delivery would
 * stop the yield, but entering one (and finding out whether the caller is
 * a coroutine at all) makes compiled code leave its trace, for every call
 * that trades. So the yields check instead: the exchange counts the sends
 * under way in asx__lua_sends (through the FFI, which compiled code writes
 * in place), and coroutine.yield (wrapped by guard.lua) and an agent's
 * sleep, when the count is not 0, look for guard.send on their own
 * coroutine's stack. Found, the yield is the logger's error, raised where
 * it yielded; not found, the yield is another coroutine's (one a logger
 * resumed) and goes ahead. The count only spares the look when no send is
 * under way: a count left high by an error that escaped a delivery costs a
 * look per yield, never a wrong answer.
 */
#include "asx_lua.h"

#include <lauxlib.h>

int asx__lua_sends;

/* Where guard.lua keeps guard.send, the frame a send runs under. */
static const char SEND_KEY[] = "asx.guard.send";

int asx__lua_in_send(lua_State *L) {
  lua_Debug ar;
  int found = 0;
  lua_getfield(L, LUA_REGISTRYINDEX, SEND_KEY);
  for (int level = 0; !found && lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "f", &ar);
    found = lua_rawequal(L, -1, -2);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return found;
}

/* core.in_send(): whether the running coroutine is inside a send. */
static int l_in_send(lua_State *L) {
  lua_pushboolean(L, asx__lua_in_send(L));
  return 1;
}

/* core.seam(): nothing. A Lua function LuaJIT cannot compile, so that
 * compiled code calling it ends its trace there and goes on in another. */
static int l_seam(lua_State *L) {
  (void)L;
  return 0;
}

int asx__lua_open_guard(lua_State *L) {
  lua_pushcfunction(L, l_seam);
  lua_setfield(L, -2, "seam");
  lua_pushcfunction(L, l_in_send);
  lua_setfield(L, -2, "in_send");
  lua_pushlightuserdata(L, &asx__lua_sends);
  lua_setfield(L, -2, "sends");
  lua_pushstring(L, ASX__LUA_LOGGER_WAITS);
  lua_setfield(L, -2, "LOGGER_WAITS");
  lua_pushstring(L, ASX__LUA_STRAY_YIELD);
  lua_setfield(L, -2, "STRAY_YIELD");
  lua_pushstring(L, SEND_KEY);
  lua_setfield(L, -2, "SEND_KEY");
  return 0;
}
