/* Stopping a session from outside, in the binding: the signals that stop
 * it (sched:catch_signals, sched:signal) and the report on an agent that
 * does not yield (sched:watch), which names the strategy's own line.
 */
#include "asx_logfile.h"
#include "asx_lua.h"
#include "asx_lua_sched.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

/* The position to name: the innermost line of the file the coroutine's
 * own function (the agent's cycle) comes from, so that a strategy stuck
 * in a call to the library is named at its own line; else the innermost
 * line of Lua code. */
static void where_in_own_file(lua_State *L, char *where, size_t size) {
  lua_Debug d;
  char own[LUA_IDSIZE] = "";
  int level = 0;
  while (lua_getstack(L, level + 1, &d))
    level++;
  if (lua_getstack(L, level, &d) && lua_getinfo(L, "S", &d))
    snprintf(own, sizeof own, "%s", d.short_src);
  for (int pass = 0; pass < 2; pass++) {
    for (level = 0; lua_getstack(L, level, &d); level++) {
      lua_getinfo(L, "Sl", &d);
      if (d.currentline > 0 && (pass == 1 || strcmp(d.short_src, own) == 0)) {
        snprintf(where, size, "%s:%d", d.short_src, d.currentline);
        return;
      }
    }
  }
}

/* A debug hook of the program's that the stuck report displaced, put back
 * once the report's hook has run (hooks belong to the Lua state). */
static lua_Hook displaced_hook;
static int displaced_mask, displaced_count;

/* The report's parts, made without allocating, for report_text. */
typedef struct {
  lua_State *at; /* the stuck agent's coroutine, or NULL */
  const char *prog, *kind, *name, *seconds, *where, *signal_hint;
} stuck_report;

/* Writes the report with the traceback of the stuck agent's coroutine. Its
 * text and the traceback allocate, and an allocation can raise (memory
 * running out, a finalizer that raises): it runs under lua_cpcall, since
 * the hook fires in whatever Lua code runs next, which may be code that C
 * calls outside any protected call, where the error would unwind through
 * C frames. The string that lua_tostring reads is the result of
 * lua_concat, on the stack until the call returns: no conversion, nothing
 * freed under it. */
static int report_text(lua_State *L) {
  const stuck_report *r = lua_touserdata(L, 1);
  if (r->at)
    luaL_traceback(L, r->at, NULL, 0);
  else
    lua_pushliteral(L, "stack traceback:");
  /* The name, the file and the traceback are the user's text. */
  lua_pushfstring(L, "%s: %s%s has not yielded for %s%s%s%s\n", r->prog, r->kind, r->name,
                  r->seconds, r->where[0] ? ", at " : " (where is not known)", r->where,
                  r->signal_hint);
  lua_insert(L, -2);
  lua_concat(L, 2);
  asx__lua_put("", lua_tostring(L, -1));
  return 0;
}

/* Runs in the stuck agent (or whatever Lua code runs next) at its next
 * instruction: says which agent has not yielded and where it is, with a
 * traceback, once. A count hook fires only in interpreted code; in a loop
 * that LuaJIT has compiled it never does, and the watchdog then warns
 * without the position. */
static void stuck_hook(lua_State *L, lua_Debug *ar) {
  lsched *ls = asx__lua_running;
  char where[256] = "", name[96], seconds[32], line[512];
  stuck_report r;
  int kind;
  uint32_t agent;
  (void)ar;
  lua_sethook(L, displaced_hook, displaced_mask, displaced_count);
  if (!ls || (kind = asx_sched_stuck_claim(ls->s)) == ASX_STUCK_NONE)
    return; /* it yielded meanwhile, or the watchdog reported it */
  agent = asx_sched_current(ls->s);
  r.at = L;
  /* The agent's turn ended in the C call it was stuck in (the call raised,
   * or returned from the agent's last line): the hook fires in the next Lua
   * code to run, the session's, which is not where the agent was. Its
   * coroutine, kept until its end is handled, still holds its frames. */
  if (!ls->co)
    r.at = asx_sched_udata(ls->s, agent);
  if (r.at)
    where_in_own_file(r.at, where, sizeof where);
  /* Kept before it is printed, for a second signal sent on reading it. */
  asx_sched_stuck_reported(ls->s, where[0] ? where : "?");
  snprintf(seconds, sizeof seconds, "%.1f s", asx_sched_stuck_for(ls->s));
  r.prog = ls->prog[0] ? ls->prog : "asx";
  r.kind = kind == ASX_STUCK_WARNING ? "warning: " : "";
  r.name = asx_sched_describe(ls->s, agent, name, sizeof name);
  r.seconds = seconds;
  r.where = where;
  r.signal_hint = kind == ASX_STUCK_SIGNAL ? " (send the signal again to quit at once)" : "";
  if (lua_cpcall(L, report_text, &r) != 0) {
    /* No memory for the traceback: the line alone, from C buffers. */
    lua_pop(L, 1);
    snprintf(line, sizeof line, "%s: %s%s has not yielded for %s%s%s%s", r.prog, r.kind, r.name, r.seconds,
             where[0] ? ", at " : " (where is not known)", where, r.signal_hint);
    asx__lua_put("", line);
  }
  fflush(stderr);
}

/* The scheduler's stuck function (see asx_sched_watch): in a signal
 * handler, so it only arms the hook. lua_sethook is safe there; the hooks
 * are the Lua state's, so the running agent's coroutine stands for all. */
static void on_stuck(asx_sched *s, uint32_t agent, void *data) {
  lsched *ls = data;
  lua_State *co = ls->co;
  (void)s;
  (void)agent;
  if (!co)
    return;
  if (lua_gethook(co) != stuck_hook) {
    displaced_hook = lua_gethook(co);
    displaced_mask = lua_gethookmask(co);
    displaced_count = lua_gethookcount(co);
  }
  lua_sethook(co, stuck_hook, LUA_MASKCOUNT, 1);
}

/* sched:watch(seconds): warn about an agent that runs that long without
 * yielding (0: never); also says where an agent is that a stopping signal
 * waits for. Before the session starts. */
static int l_watch(lua_State *L) {
  lsched *ls = asx__lua_check_sched(L, 1);
  double seconds = luaL_checknumber(L, 2);
  int rc = asx_sched_watch(ls->s, seconds, on_stuck);
  if (rc == ASX_E_ARG)
    return luaL_argerror(L, 2, "non-negative finite number of seconds expected");
  if (rc != 0)
    return luaL_error(L, "watch: the session has started");
  return 0;
}
/* After a session: a report's hook that never fired (the agent was in
 * compiled code) is not left behind. */
void asx__lua_unhook_stuck(lua_State *L) {
  if (lua_gethook(L) == stuck_hook)
    lua_sethook(L, displaced_hook, displaced_mask, displaced_count);
}

/* ---- signals ----------------------------------------------------------- */

/* A forced quit lets the log files' writes under way end first (at most a
 * second), so that the exit cuts no line in two. */
static void quiesce_logs(void) { asx_logfile_quiesce(1.0); }

static int l_catch_signals(lua_State *L) {
  lsched *ls = asx__lua_check_sched(L, 1);
  const char *prog = luaL_optstring(L, 2, "asx");
  snprintf(ls->prog, sizeof ls->prog, "%s", prog);
  if (asx_sched_catch_signals(ls->s, 1, ls->prog) != 0)
    return luaL_error(L, "catch_signals: the session is running");
  asx_sched_on_forced_quit(ls->s, quiesce_logs);
  return 0;
}

static int l_signal(lua_State *L) {
  int sig = asx_sched_signal(asx__lua_check_sched(L, 1)->s);
  if (sig)
    lua_pushinteger(L, sig);
  else
    lua_pushnil(L);
  return 1;
}


static const luaL_Reg watch_methods[] = {
    {"watch", l_watch}, {"catch_signals", l_catch_signals},
    {"signal", l_signal}, {NULL, NULL}};

void asx__lua_open_watch(lua_State *L) {
  luaL_register(L, NULL, watch_methods);
}
