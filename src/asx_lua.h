/* The Lua module `asx.core`: what each binding file adds to it. */
#ifndef ASX_LUA_H
#define ASX_LUA_H

#include <lua.h>

/* Each adds its functions to the table on top of the stack. */
int asx__lua_open_sched(lua_State *L);
int asx__lua_open_repl(lua_State *L);
int asx__lua_open_guard(lua_State *L);
int asx__lua_open_httpd(lua_State *L);

/* The sends to loggers under way (asx_lua_guard.c), and whether L's own
 * stack holds one: a yield there is the logger's error, with this message. */
extern int asx__lua_sends;
int asx__lua_in_send(lua_State *L);
/* Writes head, then text (NULL: "?") with its control characters escaped
 * (asx_fmt_terminal), then a line break, to stderr: text is an error or a
 * name that user code chose, which must not drive the user's terminal.
 * asx_lua_core.c. */
void asx__lua_put(const char *head, const char *text);
/* The error value at idx as text: the one wording of an error value, for
 * C and (as core.error_text, check.error_text) for Lua. A string is its own
 * bytes; a number is written into buf (ASX__LUA_ERROR_TEXT_SIZE bytes) by
 * asx_fmt_double; a value whose __tostring gives a string is replaced at
 * idx by that string; anything else is "(error object is a table value)"
 * (its type) in buf, never an address. Nothing is allocated outside a
 * protected call: these run where a memory error would find none (a
 * libuv callback). asx_lua_core.c. */
#define ASX__LUA_ERROR_TEXT_SIZE 64
const char *asx__lua_error_text(lua_State *L, int idx, char *buf, size_t size);

#define ASX__LUA_LOGGER_WAITS "a logger must not yield (coroutine.yield or sleep inside a logger)"
/* A coroutine.yield in an agent's own coroutine, which nothing answers. */
#define ASX__LUA_STRAY_YIELD "coroutine.yield called in an agent's own coroutine (use self:sleep(seconds) to wait)"

#endif
