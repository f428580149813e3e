/* luaopen_asx_core: the native half of `require "asx"`.
 *
 * Quick calls that never yield and never call back into Lua (submit an
 * order, read the best price) go through the FFI: the module hands Lua the
 * exact declarations the core was compiled with, as `cdef`. Functions that
 * yield or resume coroutines are classic lua_CFunctions added by the other
 * asx_lua_*.c files. */
#include "asx_err.h"
#include "asx_ffi_cdef.h"
#include "asx_fmt.h"
#include "asx_lua.h"

#include <lauxlib.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

const char *asx__lua_error_text(lua_State *L, int idx, char *buf, size_t size) {
  if (idx < 0)
    idx = lua_gettop(L) + idx + 1;
  if (lua_type(L, idx) == LUA_TSTRING)
    return lua_tostring(L, idx);
  if (lua_type(L, idx) == LUA_TNUMBER) {
    char num[32];
    asx_fmt_double(num, lua_tonumber(L, idx));
    snprintf(buf, size, "%s", num);
    return buf;
  }
  /* User code may raise anything. Its own __tostring (an error object
   * made to be read) runs under lua_pcall, which catches what it raises,
   * memory errors too; the metafield's name is interned, so looking it up
   * allocates nothing. */
  if (luaL_getmetafield(L, idx, "__tostring")) {
    lua_pushvalue(L, idx);
    if (lua_pcall(L, 1, 1, 0) == 0 && lua_type(L, -1) == LUA_TSTRING) {
      lua_replace(L, idx);
      return lua_tostring(L, idx);
    }
    lua_pop(L, 1);
  }
  snprintf(buf, size, "(error object is a %s value)", luaL_typename(L, idx));
  return buf;
}

/* core.error_text(e): asx__lua_error_text for Lua (check.error_text). */
static int l_error_text(lua_State *L) {
  char buf[ASX__LUA_ERROR_TEXT_SIZE];
  const char *text;
  lua_settop(L, 1);
  text = asx__lua_error_text(L, 1, buf, sizeof buf);
  if (text == buf)
    lua_pushstring(L, buf);
  else
    lua_pushvalue(L, 1);
  return 1;
}

void asx__lua_put(const char *head, const char *text) {
  size_t hl = strlen(head), tl, n;
  char *buf;
  if (!text)
    text = "?";
  tl = strlen(text);
  /* One write, as fprintf made it: a signal that quits at once (a second
   * Ctrl-C) then finds whole lines before its own. */
  buf = malloc(hl + 4 * tl + 1);
  if (!buf) {
    fputs(head, stderr);
    asx_fmt_terminal_write(2, text, tl);
    fputc('\n', stderr);
    return;
  }
  memcpy(buf, head, hl);
  n = hl + asx_fmt_terminal(buf + hl, text, tl);
  buf[n++] = '\n';
  fwrite(buf, 1, n, stderr);
  free(buf);
}

/* The error codes as an enum the FFI can parse: LuaJIT's cdef has no
 * preprocessor, so the X-macro is expanded here, from the same list. */
#define XX(name, code, message) "  ASX_E_" #name " = " #code ",\n"
static const char err_cdef[] = "enum {\n" ASX_ERRNO_MAP(XX) "};\n";
#undef XX

/* core.process_memory(path): whether writing to path could reach a
 * process's memory: a file of procfs (/proc/self/mem, by whatever path
 * leads there) or a memory device (/dev/mem, /dev/kmem, /dev/port). The
 * sandbox of asx-host (lua/asx/sandbox.lua) opens neither for writing. */
static int l_process_memory(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct statfs fs;
  struct stat st;
  int found = statfs(path, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
  if (!found && stat(path, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1)
    found = minor(st.st_rdev) == 1 || minor(st.st_rdev) == 2 || minor(st.st_rdev) == 4;
  lua_pushboolean(L, found);
  return 1;
}

int luaopen_asx_core(lua_State *L) {
  lua_newtable(L);
  lua_pushlstring(L, err_cdef, sizeof(err_cdef) - 1);
  lua_pushlstring(L, asx_ffi_cdef, sizeof(asx_ffi_cdef) - 1);
  lua_concat(L, 2);
  lua_setfield(L, -2, "cdef");
  lua_pushcfunction(L, l_process_memory);
  lua_setfield(L, -2, "process_memory");
  lua_pushcfunction(L, l_error_text);
  lua_setfield(L, -2, "error_text");
  asx__lua_open_sched(L);
  asx__lua_open_repl(L);
  asx__lua_open_httpd(L);
  asx__lua_open_guard(L);
  return 1;
}
