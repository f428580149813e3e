/* The Lua module `asx.core`: what each binding file adds to it. */
#ifndef ASX_LUA_H
#define ASX_LUA_H

#include <lua.h>

/* Each adds its functions to the table on top of the stack. */
int asx__lua_open_sched(lua_State *L);
int asx__lua_open_repl(lua_State *L);
int asx__lua_open_guard(lua_State *L);
int asx__lua_open_httpd(lua_State *L);

#endif
