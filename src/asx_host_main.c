/* asx-host's main: a Lua state that finds asx's own Lua library, then
 * `require("asx.host").main(arg)`, whose return value is the exit status.
 * asx-sweep is the same program built with ASX_PROG "asx-sweep" and
 * ASX_MODULE "asx.sweep": both are launchers for their Lua module.
 *
 * The library is found relative to the executable, never the working
 * directory, so asx-host works from anywhere:
 *   - in the build tree (the executable sits in ASX_BUILD_DIR), Lua files
 *     come from the source tree and the native module from the build tree;
 *   - after `cmake --install`, from <prefix>/share/lua/5.1 and
 *     <prefix>/lib/lua/5.1, next to <prefix>/bin/asx-host.
 * Both go before the default paths, so an installed asx elsewhere on
 * LUA_PATH cannot shadow this one.
 *
 * asx-lua, built from this file with ASX_SCRIPT defined, runs a Lua script
 * the way `luajit script.lua args` does, in the same Lua state as asx-host
 * (its allocator and library paths): the benchmarks of sessions
 * (bench/host_bench.lua) run through it, so that they measure what
 * asx-host runs. It is a build tool, not installed.
 *
 * Memory. The Lua state is made with lua_newstate on asx_slab_alloc, which
 * keeps the small objects of a million agents on huge pages, side by side
 * as LuaJIT's own allocator cuts them but without its header per block
 * (asx_slab.c says why), and its collector paced for a large heap of
 * long-lived objects (main, below).
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asx_slab.h"

#ifndef ASX_VERSION
#define ASX_VERSION "unknown"
#endif
#ifndef ASX_PROG
#define ASX_PROG "asx-host"
#endif
#if !defined(ASX_MODULE) && !defined(ASX_SCRIPT)
#define ASX_MODULE "asx.host"
#endif

/* The directory holding the executable, without a trailing slash. */
static int exe_dir(char *buf, size_t size) {
  ssize_t n = readlink("/proc/self/exe", buf, size - 1);
  char *slash;
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  slash = strrchr(buf, '/');
  if (!slash)
    return 0;
  *slash = '\0';
  return 1;
}

static int same_dir(const char *a, const char *b) {
  char ra[PATH_MAX], rb[PATH_MAX];
  return realpath(a, ra) && realpath(b, rb) && strcmp(ra, rb) == 0;
}

/* Prepends path templates to package.path or package.cpath. */
static void prepend(lua_State *L, const char *field, const char *paths) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, field);
  lua_pushfstring(L, "%s;%s", paths, lua_tostring(L, -1));
  lua_setfield(L, -3, field);
  lua_pop(L, 2);
}

static void set_paths(lua_State *L, const char *dir) {
  char buf[4 * PATH_MAX];
#if defined(ASX_BUILD_DIR) && defined(ASX_SOURCE_LUA_DIR)
  if (same_dir(dir, ASX_BUILD_DIR)) {
    snprintf(buf, sizeof buf, "%s/?.lua;%s/?/init.lua", ASX_SOURCE_LUA_DIR,
             ASX_SOURCE_LUA_DIR);
    prepend(L, "path", buf);
    snprintf(buf, sizeof buf, "%s/?.so", ASX_BUILD_DIR);
    prepend(L, "cpath", buf);
    return;
  }
#endif
  snprintf(buf, sizeof buf, "%s/../share/lua/5.1/?.lua;%s/../share/lua/5.1/?/init.lua",
           dir, dir);
  prepend(L, "path", buf);
  snprintf(buf, sizeof buf, "%s/../lib/lua/5.1/?.so", dir);
  prepend(L, "cpath", buf);
}

/* Adds a traceback to errors that escape asx.host (they are bugs: the host
 * reports every expected failure itself). */
static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

static int at_panic(lua_State *L) {
  fprintf(stderr, ASX_PROG ": unprotected error in call to Lua API (%s)\n",
          lua_tostring(L, -1));
  return 0;
}

#ifdef ASX_SCRIPT
/* asx-lua SCRIPT ARGS...: runs SCRIPT with the arguments as `...` and in
 * arg, numbered as luajit numbers them (arg[0] the script, arg[-1] the
 * program). The exit status is 0, or 1 when the script raised. */
static int run_script(lua_State *L, int argc, char **argv) {
  if (argc < 2) {
    fputs("usage: " ASX_PROG " SCRIPT [ARGS...]\n", stderr);
    return 2;
  }
  lua_createtable(L, argc - 2, 2);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");
  lua_pushcfunction(L, traceback);
  if (luaL_loadfile(L, argv[1]) != 0) {
    fprintf(stderr, ASX_PROG ": %s\n", lua_tostring(L, -1));
    return 1;
  }
  for (int i = 2; i < argc; i++)
    lua_pushstring(L, argv[i]);
  if (lua_pcall(L, argc - 2, 0, 1) != 0) {
    fprintf(stderr, ASX_PROG ": %s\n", lua_tostring(L, -1));
    return 1;
  }
  return 0;
}
#else
/* Runs require(ASX_MODULE).main(arg); its result is the exit status. */
static int run_module(lua_State *L, int argc, char **argv, const char *dir) {
  /* arg as the luajit command line makes it: arg[0] the program. */
  lua_createtable(L, argc, 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_pushliteral(L, ASX_VERSION);
  lua_setfield(L, -2, "version");
  /* Where the executable is: asx-sweep runs the asx-host next to it. */
  if (dir[0]) {
    lua_pushstring(L, dir);
    lua_setfield(L, -2, "bindir");
  }
  lua_setglobal(L, "arg");

  lua_pushcfunction(L, traceback);
  lua_getglobal(L, "require");
  lua_pushliteral(L, ASX_MODULE);
  if (lua_pcall(L, 1, 1, 1) != 0) {
    fprintf(stderr, ASX_PROG ": %s\n", lua_tostring(L, -1));
    return 1;
  }
  lua_getfield(L, -1, "main");
  lua_getglobal(L, "arg");
  if (lua_pcall(L, 1, 1, 1) != 0) {
    fprintf(stderr, ASX_PROG ": %s\n", lua_tostring(L, -1));
    return 1;
  }
  return lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : 0;
}
#endif

/* SIGPIPE's handler: a write to a pipe whose reader left then fails with
 * EPIPE, as a full disk's does, where the signal's default action ended
 * the process with the rows its log files still held in memory (a
 * strategy that prints, piped into head). A handler, unlike SIG_IGN, is
 * not inherited by the programs that os.execute and io.popen start. */
static void on_sigpipe(int signo) { (void)signo; }

/* A standard output or error that was closed (`2>&-`) is opened on
 * /dev/null: else the first file opened took its number, a log file, and
 * the messages and the summary meant for it went into the log. */
static void keep_standard_streams(void) {
  for (int fd = 1; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
      continue;
    int null = open("/dev/null", O_RDWR);
    if (null >= 0 && null != fd) {
      dup2(null, fd);
      close(null);
    }
  }
}

int main(int argc, char **argv) {
  asx_slab *slab;
  lua_State *L;
  char dir[PATH_MAX];
  int status;
  keep_standard_streams();
  slab = asx_slab_new();
  L = slab ? lua_newstate(asx_slab_alloc, slab) : NULL;
  if (!L) {
    fputs(ASX_PROG ": cannot create a Lua state (out of memory)\n", stderr);
    asx_slab_free(slab);
    return 1;
  }
  lua_atpanic(L, at_panic);
  {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPIPE, &sa, NULL);
  }
  /* The collector starts a cycle once the heap has grown to three times
   * what the last one left, where LuaJIT's default is twice. A session's
   * heap is mostly long-lived objects (agents, resting orders), which each
   * cycle marks and sweeps again, a cache miss per object, to reclaim the
   * little that died: 10,000 random traders for 300 session seconds spent
   * a quarter of their samples in LuaJIT's runtime, mostly the collector,
   * and with this pace about 7% fewer of all their samples, for a peak
   * resident set 7% larger (202 -> 216 MB); a million idle agents take
   * as many bytes each as before. A strategy that makes much garbage may
   * hold up to half as much more memory than at the default pace;
   * collectgarbage("setpause", 200) restores it. */
  lua_gc(L, LUA_GCSETPAUSE, 300);
  luaL_openlibs(L);
  if (exe_dir(dir, sizeof dir))
    set_paths(L, dir);
  else
    dir[0] = '\0';

#ifdef ASX_SCRIPT
  status = run_script(L, argc, argv);
#else
  status = run_module(L, argc, argv, dir);
#endif
  /* Closing runs every finalizer (the book, the loggers' files), so that
   * nothing is left half-written and leak checkers see a clean exit. */
  fflush(stdout);
  lua_close(L);
  asx_slab_free(slab);
  return status;
}
