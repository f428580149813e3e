/* core.guard(obj, "method", ...): a protected call of obj:method(...), for
 * user code that must not yield.
 *
 * The exchange delivers its events to loggers from inside the call that
 * caused them (an agent's buy, say), so a logger runs on the agent's
 * coroutine. LuaJIT's own pcall lets a coroutine.yield through: a logger
 * that yields would suspend the agent in the middle of a delivery, and the
 * exchange would stay "delivering" for good. guard makes the call through
 * lua_pcall from C instead, a boundary LuaJIT cannot yield across, so a
 * yield (or an agent's sleep) inside the method is an error of the method,
 * raised where it yielded. The method is looked up inside the protected
 * call too, so an __index that raises is the object's error as well.
 *
 * Returns true when the method returned (its results are dropped), else
 * false, the error value as raised, and a traceback ("stack traceback:
 * \n\t...") of the method's own frames, from where the error was raised
 * down to the method: the frames below belong to whoever was delivering,
 * not to the culprit.
 */
#include "asx_lua.h"

#include <lauxlib.h>

/* Runs under lua_pcall with obj, name, args...: obj[name](obj, args...). */
static int call_method(lua_State *L) {
  lua_pushvalue(L, 2);
  lua_gettable(L, 1);
  lua_replace(L, 2);
  lua_pushvalue(L, 1);
  lua_insert(L, 3);
  lua_remove(L, 1);
  lua_call(L, lua_gettop(L) - 1, 0);
  return 0;
}

/* Appends one traceback line for the frame ar, in luaL_traceback's form. */
static void add_frame(luaL_Buffer *b, lua_State *L, lua_Debug *ar) {
  lua_pushfstring(L, "\n\t%s:", ar->short_src);
  luaL_addvalue(b);
  if (ar->currentline > 0) {
    lua_pushfstring(L, "%d:", ar->currentline);
    luaL_addvalue(b);
  }
  if (*ar->namewhat != '\0')
    lua_pushfstring(L, " in function '%s'", ar->name);
  else if (*ar->what == 'm')
    lua_pushliteral(L, " in main chunk");
  else if (*ar->what == 'C')
    lua_pushliteral(L, " in ?");
  else
    lua_pushfstring(L, " in function <%s:%d>", ar->short_src, ar->linedefined);
  luaL_addvalue(b);
}

/* The message handler: runs where the error was raised, before the stack
 * unwinds. Returns { error value, traceback } (a table only on an error, so
 * a call that succeeds allocates nothing). */
static int on_error(lua_State *L) {
  lua_Debug ar;
  luaL_Buffer b;
  int level, end;
  /* Level 0 is this handler; call_method's frame ends the traceback. */
  for (end = 1; lua_getstack(L, end, &ar); end++) {
    int is_guard;
    lua_getinfo(L, "f", &ar);
    is_guard = lua_tocfunction(L, -1) == call_method;
    lua_pop(L, 1);
    if (is_guard)
      break;
  }
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "stack traceback:");
  for (level = 1; level < end && lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Snl", &ar);
    add_frame(&b, L, &ar);
  }
  luaL_pushresult(&b);
  lua_createtable(L, 2, 0);
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, 1);
  lua_insert(L, -2);
  lua_rawseti(L, -2, 2);
  return 1;
}

static int l_guard(lua_State *L) {
  int nargs = lua_gettop(L);
  int status;
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_insert(L, 2);
  status = lua_pcall(L, nargs, 0, 1);
  if (status == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  if (status == LUA_ERRRUN && lua_istable(L, -2)) {
    lua_rawgeti(L, -2, 1);
    lua_rawgeti(L, -3, 2);
    return 3;
  }
  /* Out of memory, or the handler itself failed: no traceback. */
  lua_pushvalue(L, -2);
  return 2;
}

int asx__lua_open_guard(lua_State *L) {
  lua_pushcfunction(L, on_error);
  lua_pushcfunction(L, call_method);
  lua_pushcclosure(L, l_guard, 2);
  lua_setfield(L, -2, "guard");
  return 0;
}
