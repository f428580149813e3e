/* The scheduler's Lua binding: agents as coroutines, `sleep` as a yield.
 *
 * core.scheduler(clock, seed) makes a scheduler object; sched:add(fn, arg,
 * name, number) makes one coroutine per agent that will call fn(arg) (a
 * trader's cycle, with the trader) and puts its first wake-up at the current
 * time, so agents start in the order they were added. sched:run() runs the
 * libuv loop until the session ends.
 *
 * resume_agent is the only function that calls lua_resume. An agent leaves
 * the coroutine in one of four ways, told apart there:
 *   - it called sleep: sleep stored the delay in the scheduler object and
 *     yielded; the agent's next wake-up is set;
 *   - it called coroutine.yield itself: a stray yield that nothing would
 *     ever answer; the agent fails with a message saying so;
 *   - its function returned: the agent has finished;
 *   - it raised: the agent fails; the message with a traceback of the dead
 *     coroutine goes to the error handler set by sched:on_error (the session
 *     cancels the agent's orders and prints it) and the session goes on.
 * Each coroutine is anchored once in the thread table (so that the garbage
 * collector keeps it) and its lua_State is kept in the scheduler's slot for
 * the agent (asx_sched_udata), so a resume reaches it without a table
 * look-up. A finished or failed agent's coroutine is dropped from both so
 * the garbage collector can take it.
 *
 * No allocation happens per resume: sleep's delay travels in a C field, and
 * the wake-up queue never grows past the number of agents.
 *
 * sleep, now and random are plain functions that find the scheduler that is
 * running (one at a time: a session cannot run inside an agent), so they can
 * be methods of asx.Trader and cost nothing per trader.
 */
#include "asx_lua.h"
#include "asx_logfile.h"
#include "asx_sched.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCHED_MT "asx.scheduler"

typedef struct lsched {
  asx_sched *s;
  lua_State *L;        /* the thread inside sched:run(), or NULL */
  lua_State *co;       /* the agent being resumed, or NULL */
  int threads_ref;     /* registry: { [agent + 1] = coroutine }, the anchor */
  int on_error_ref;    /* registry: function(agent, message) or LUA_NOREF */
  int on_finish_ref;   /* registry: function(agent) or LUA_NOREF */
  int sleep_req;       /* set by sleep just before it yields */
  double sleep_delay;
  int progress_ref;    /* registry: function() called every interval */
  double progress_interval;
  uv_timer_t *progress; /* malloc'd: it may outlive the userdata */
  int tick_ref;        /* registry: function(now) called each tick, or LUA_NOREF */
  double tick_interval;
  double next_tick;    /* session time of the next tick */
  char prog[64];
} lsched;

/* The scheduler whose agents are running, and the one that ran last (for
 * now() and random() called outside an agent). */
static lsched *running;
static lsched *last;

static lsched *check_sched(lua_State *L, int idx) {
  lsched *ls = luaL_checkudata(L, idx, SCHED_MT);
  if (!ls->s)
    luaL_error(L, "scheduler is closed");
  return ls;
}

/* Argument errors in the project's form, with the caller's position, the
 * value shown as lua/asx/check.lua's show does:
 * "file:line: bad argument #1 to 'sleep' (what, got value)". sleep and
 * random are methods (self:sleep(seconds)), so the value at stack index
 * narg is shown as argument narg - 1, whether or not the call was written
 * with a colon, which a tail call would hide from lua_getinfo anyway. */
static int arg_error(lua_State *L, int narg, const char *fname,
                     const char *expected) {
  char got[64];
  if (lua_type(L, narg) == LUA_TNUMBER) {
    double v = lua_tonumber(L, narg);
    if (v != v)
      strcpy(got, "nan");
    else if (isinf(v))
      strcpy(got, v > 0 ? "inf" : "-inf");
    else if (v == floor(v) && fabs(v) <= 1e15)
      snprintf(got, sizeof got, "%lld", (long long)v);
    else
      snprintf(got, sizeof got, "%.17g", v);
  } else {
    snprintf(got, sizeof got, "%s", luaL_typename(L, narg));
  }
  luaL_where(L, 1);
  lua_pushfstring(L, "bad argument #%d to '%s' (%s, got %s)", narg - 1, fname,
                  expected, got);
  lua_concat(L, 2);
  return lua_error(L);
}

/* ---- the one resume ---------------------------------------------------- */

/* msg is len bytes: an error text may hold a NUL, and the log files keep
 * all of it. */
static void report_error(lsched *ls, uint32_t agent, lua_State *co,
                         const char *msg, size_t len) {
  lua_State *L = ls->L;
  int top = lua_gettop(L);
  lua_pushlstring(L, msg, len);
  lua_pushliteral(L, "\n");
  luaL_traceback(L, co, NULL, 0);
  lua_concat(L, 3);
  if (ls->on_error_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ls->on_error_ref);
    lua_pushinteger(L, (lua_Integer)agent + 1);
    lua_pushvalue(L, -3);
    if (lua_pcall(L, 2, 0, 0) != 0) {
      const char *e = lua_tostring(L, -1);
      fprintf(stderr, "asx: the agent error handler failed: %s\n", e ? e : "?");
    }
  } else {
    fprintf(stderr, "agent %u: %s\n", agent + 1, lua_tostring(L, -1));
  }
  lua_settop(L, top);
}

/* Calls the tick function with the session time, before the agent due at
 * that time runs: the book it sees is the one every earlier wake-up left,
 * which is the book at each tick passed since the last call. */
static void tick(lsched *ls, double now) {
  lua_State *L = ls->L;
  int top = lua_gettop(L);
  ls->next_tick = (floor(now / ls->tick_interval) + 1) * ls->tick_interval;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ls->tick_ref);
  lua_pushnumber(L, now);
  if (lua_pcall(L, 1, 0, 0) != 0) {
    const char *e = lua_tostring(L, -1);
    fprintf(stderr, "asx: the tick function failed: %s\n", e ? e : "?");
  }
  lua_settop(L, top);
}

/* Lets the garbage collector take agent's coroutine. */
static void drop_thread(lsched *ls, lua_State *L, uint32_t agent) {
  asx_sched_set_udata(ls->s, agent, NULL);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ls->threads_ref);
  lua_pushboolean(L, 0);
  lua_rawseti(L, -2, (int)agent + 1);
  lua_pop(L, 1);
}

static void resume_agent(asx_sched *s, uint32_t agent, void *data) {
  lsched *ls = data;
  lua_State *L = ls->L;
  lua_State *co = asx_sched_udata(s, agent);
  int nargs, status;

  if (!co) {
    asx_sched_finish(s, agent, ASX_AGENT_FAILED);
    return;
  }
  /* A new coroutine holds the function and its argument; a suspended one
   * is continued with no values (sleep returns nothing). */
  nargs = lua_status(co) == LUA_YIELD ? 0 : lua_gettop(co) - 1;
  if (ls->tick_ref != LUA_NOREF && asx_sched_now(s) >= ls->next_tick)
    tick(ls, asx_sched_now(s));
  ls->co = co;
  ls->sleep_req = 0;
  status = lua_resume(co, nargs);
  ls->co = NULL;

  if (status == LUA_YIELD && ls->sleep_req) {
    lua_settop(co, 0);
    /* A session stopped from inside the agent still accepts the wake-up;
     * it just never runs. */
    asx_sched_wake(s, agent, ls->sleep_delay);
    return;
  }
  if (status == LUA_YIELD) {
    asx_sched_finish(s, agent, ASX_AGENT_FAILED);
    static const char yielded[] =
        "coroutine.yield called in an agent's own coroutine (use "
        "self:sleep(seconds) to wait)";
    report_error(ls, agent, co, yielded, sizeof yielded - 1);
  } else if (status == 0) {
    asx_sched_finish(s, agent, ASX_AGENT_FINISHED);
    if (ls->on_finish_ref != LUA_NOREF) {
      int top = lua_gettop(L);
      lua_rawgeti(L, LUA_REGISTRYINDEX, ls->on_finish_ref);
      lua_pushinteger(L, (lua_Integer)agent + 1);
      if (lua_pcall(L, 1, 0, 0) != 0) {
        const char *e = lua_tostring(L, -1);
        fprintf(stderr, "asx: the agent finish handler failed: %s\n",
                e ? e : "?");
      }
      lua_settop(L, top);
    }
  } else {
    size_t len;
    const char *msg = lua_tolstring(co, -1, &len);
    asx_sched_finish(s, agent, ASX_AGENT_FAILED);
    if (!msg) {
      msg = lua_pushfstring(co, "(error object is a %s value)",
                            luaL_typename(co, -1));
      len = strlen(msg);
    }
    report_error(ls, agent, co, msg, len);
  }
  drop_thread(ls, L, agent);
}

/* Fetches an agent's lua_State into the cache before its turn (see
 * asx_sched_prefetch_fn): lua_resume starts by reading its first lines. */
static void prefetch_agent(asx_sched *s, uint32_t agent, void *data) {
  const char *co = asx_sched_udata(s, agent);
  (void)data;
  if (co != NULL) {
    __builtin_prefetch(co);
    __builtin_prefetch(co + 64);
  }
}

/* ---- agents that do not yield ------------------------------------------ */

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

/* Runs in the stuck agent (or whatever Lua code runs next) at its next
 * instruction: says which agent has not yielded and where it is, with a
 * traceback, once. A count hook fires only in interpreted code; in a loop
 * that LuaJIT has compiled it never does, and the watchdog then warns
 * without the position. */
static void stuck_hook(lua_State *L, lua_Debug *ar) {
  lsched *ls = running;
  char where[256] = "?", name[96];
  int kind;
  (void)ar;
  lua_sethook(L, displaced_hook, displaced_mask, displaced_count);
  if (!ls || (kind = asx_sched_stuck_claim(ls->s)) == ASX_STUCK_NONE)
    return; /* it yielded meanwhile, or the watchdog reported it */
  where_in_own_file(L, where, sizeof where);
  /* Kept before it is printed, for a second signal sent on reading it. */
  asx_sched_stuck_reported(ls->s, where);
  luaL_traceback(L, L, NULL, 0);
  fprintf(stderr, "%s: %s%s has not yielded for %.1f s, at %s%s\n%s\n",
          ls->prog[0] ? ls->prog : "asx",
          kind == ASX_STUCK_WARNING ? "warning: " : "",
          asx_sched_describe(ls->s, asx_sched_current(ls->s), name, sizeof name),
          asx_sched_stuck_for(ls->s), where,
          kind == ASX_STUCK_SIGNAL ? " (send the signal again to quit at once)" : "",
          lua_tostring(L, -1));
  fflush(stderr);
  lua_pop(L, 1);
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
  lsched *ls = check_sched(L, 1);
  double seconds = luaL_checknumber(L, 2);
  int rc = asx_sched_watch(ls->s, seconds, on_stuck);
  if (rc == ASX_E_ARG)
    return luaL_argerror(L, 2, "non-negative finite number of seconds expected");
  if (rc != 0)
    return luaL_error(L, "watch: the session has started");
  return 0;
}

/* ---- functions for agents ---------------------------------------------- */

/* An agent's method called with a dot (self.sleep(1)) has no trader as its
 * first argument: it names itself and the type it got, as the trader's
 * other methods do (asx.check's self_error). */
static int self_error(lua_State *L, const char *fname) {
  luaL_where(L, 1);
  lua_pushfstring(L, "bad argument #1 to '%s' (trader expected, got %s)", fname,
                  luaL_typename(L, 1));
  lua_concat(L, 2);
  return lua_error(L);
}

/* self:sleep(seconds): yields to resume_agent, which sets the wake-up. */
static int l_sleep(lua_State *L) {
  lsched *ls = running;
  double d;
  if (lua_type(L, 1) != LUA_TTABLE)
    return self_error(L, "sleep");
  if (lua_type(L, 2) != LUA_TNUMBER)
    return arg_error(L, 2, "sleep", "non-negative number of seconds expected");
  d = lua_tonumber(L, 2);
  if (!(d >= 0) || isinf(d))
    return arg_error(L, 2, "sleep", "non-negative number of seconds expected");
  if (!ls)
    return luaL_error(L, "sleep: no session is running (sleep works inside an agent's cycle)");
  if (ls->co != L)
    return luaL_error(L, "sleep: only an agent can sleep, in its cycle's own coroutine");
  /* lua_yield raises where the coroutine cannot yield (inside a logger):
   * the request stands only once it has not. */
  int rc = lua_yield(L, 0);
  ls->sleep_req = 1;
  ls->sleep_delay = d;
  return rc;
}

static int l_now(lua_State *L) {
  lsched *ls = running ? running : last;
  lua_pushnumber(L, ls ? asx_sched_now(ls->s) : 0);
  return 1;
}

/* math.random's contract: random() in [0, 1), random(m) in [1, m],
 * random(m, n) in [m, n]. Arguments follow self when called as a method. */
static int random_args(lua_State *L, int first, const char *fname, double r) {
  int n = lua_gettop(L) - first + 1;
  double lo, hi;
  if (n <= 0) {
    lua_pushnumber(L, r);
    return 1;
  }
  if (n > 2)
    return luaL_error(L, "bad argument #3 to '%s' (at most two numbers expected)", fname);
  if (n == 1) {
    lo = 1;
    if (lua_type(L, first) != LUA_TNUMBER)
      return arg_error(L, first, fname, "number expected");
    hi = floor(lua_tonumber(L, first));
  } else {
    if (lua_type(L, first) != LUA_TNUMBER)
      return arg_error(L, first, fname, "number expected");
    if (lua_type(L, first + 1) != LUA_TNUMBER)
      return arg_error(L, first + 1, fname, "number expected");
    lo = floor(lua_tonumber(L, first));
    hi = floor(lua_tonumber(L, first + 1));
  }
  if (!(lo <= hi) || isinf(hi - lo))
    return arg_error(L, n == 1 ? first : first + 1, fname, "interval is empty");
  lua_pushnumber(L, floor(r * (hi - lo + 1)) + lo);
  return 1;
}

/* The running agent's generator, else the last session's (see
 * asx_sched_draw); lua/asx/session.lua has the same through the FFI for
 * compiled code. */
static int l_random(lua_State *L) {
  return random_args(L, 2, "random", asx_sched_draw());
}

/* Wall-clock seconds from an arbitrary origin, monotonic. */
static int l_hrtime(lua_State *L) {
  lua_pushnumber(L, (lua_Number)uv_hrtime() * 1e-9);
  return 1;
}

static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* ---- the scheduler object ---------------------------------------------- */

static int l_scheduler(lua_State *L) {
  const char *clock = luaL_checkstring(L, 1);
  double seed = luaL_checknumber(L, 2);
  int c;
  lsched *ls;
  if (strcmp(clock, "real") == 0)
    c = ASX_CLOCK_REAL;
  else if (strcmp(clock, "virtual") == 0)
    c = ASX_CLOCK_VIRTUAL;
  else
    return luaL_argerror(L, 1, "'real' or 'virtual' expected");
  if (!(seed >= 0 && seed <= 9007199254740991.0) || seed != floor(seed))
    return luaL_argerror(L, 2, "integer seed within 0 .. 2^53 - 1 expected");
  ls = lua_newuserdata(L, sizeof *ls);
  memset(ls, 0, sizeof *ls);
  ls->threads_ref = ls->on_error_ref = ls->progress_ref = LUA_NOREF;
  ls->on_finish_ref = ls->tick_ref = LUA_NOREF;
  luaL_getmetatable(L, SCHED_MT);
  lua_setmetatable(L, -2);
  ls->s = asx_sched_new(NULL, c, (uint64_t)seed, resume_agent, ls);
  if (!ls->s)
    return luaL_error(L, "scheduler: out of memory");
  asx_sched_set_prefetch(ls->s, prefetch_agent);
  lua_newtable(L);
  ls->threads_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  last = ls;
  return 1;
}

static void free_handle(uv_handle_t *h) { free(h); }

/* The progress callback runs from the loop between batches, on the thread
 * inside sched:run(); an error in it is printed and the session goes on. */
static void on_progress(uv_timer_t *t) {
  lsched *ls = t->data;
  lua_State *L;
  if (!ls || !ls->L || ls->progress_ref == LUA_NOREF)
    return;
  L = ls->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ls->progress_ref);
  if (lua_pcall(L, 0, 0, 0) != 0) {
    fprintf(stderr, "asx: progress callback failed: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

/* sched:on_tick(fn, seconds): calls fn(now) once the session time reaches
 * each multiple of `seconds` (from 0), just before the first agent due at
 * or after it runs; ticks with no wake-up between them make one call. It
 * costs one comparison per resume and adds no agent, so it changes neither
 * the order of wake-ups nor any generator. */
static int l_on_tick(lua_State *L) {
  lsched *ls = check_sched(L, 1);
  double every = luaL_checknumber(L, 3);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!(every > 0 && every < HUGE_VAL))
    return luaL_argerror(L, 3, "positive number of seconds expected");
  luaL_unref(L, LUA_REGISTRYINDEX, ls->tick_ref);
  lua_pushvalue(L, 2);
  ls->tick_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  ls->tick_interval = every;
  ls->next_tick = (floor(asx_sched_now(ls->s) / every)) * every;
  return 0;
}

/* sched:on_progress(fn, seconds): calls fn every `seconds` of wall time
 * while the session runs (the real clock's speed does not apply). */
static int l_on_progress(lua_State *L) {
  lsched *ls = check_sched(L, 1);
  double every = luaL_checknumber(L, 3);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!(every >= 0.001) || isinf(every))
    return luaL_argerror(L, 3, "interval of at least 0.001 seconds expected");
  luaL_unref(L, LUA_REGISTRYINDEX, ls->progress_ref);
  lua_pushvalue(L, 2);
  ls->progress_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  ls->progress_interval = every;
  return 0;
}

static int l_gc(lua_State *L) {
  lsched *ls = luaL_checkudata(L, 1, SCHED_MT);
  if (ls->s) {
    asx_sched_free(ls->s);
    ls->s = NULL;
  }
  luaL_unref(L, LUA_REGISTRYINDEX, ls->threads_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, ls->on_error_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, ls->progress_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, ls->on_finish_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, ls->tick_ref);
  ls->threads_ref = ls->on_error_ref = ls->progress_ref = LUA_NOREF;
  ls->on_finish_ref = ls->tick_ref = LUA_NOREF;
  if (ls->progress) {
    ls->progress->data = NULL;
    uv_close((uv_handle_t *)ls->progress, free_handle);
    ls->progress = NULL;
  }
  if (last == ls)
    last = NULL;
  if (running == ls)
    running = NULL;
  return 0;
}

/* sched:add(fn, arg [, name, number]) -> agent (from 1) */
static int l_add(lua_State *L) {
  lsched *ls = check_sched(L, 1);
  uint32_t agent;
  lua_State *co;
  int rc;
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (lua_isnoneornil(L, 3))
    luaL_argerror(L, 3, "value expected");
  rc = asx_sched_add(ls->s, 1, &agent);
  if (rc != 0)
    return luaL_error(L, "add: too many agents or out of memory");
  if (lua_type(L, 4) == LUA_TSTRING) {
    int g = asx_sched_group(ls->s, lua_tostring(L, 4));
    if (g >= 0)
      asx_sched_label(ls->s, agent, g, (uint32_t)luaL_optinteger(L, 5, agent + 1));
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, ls->threads_ref);
  co = lua_newthread(L);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_xmove(L, co, 2);
  lua_rawseti(L, -2, (int)agent + 1);
  asx_sched_set_udata(ls->s, agent, co);
  asx_sched_wake(ls->s, agent, 0);
  lua_pushinteger(L, (lua_Integer)agent + 1);
  return 1;
}

static int l_run(lua_State *L) {
  lsched *ls = check_sched(L, 1);
  lsched *prev = running;
  if (ls->L)
    return luaL_error(L, "run: this session is running already");
  if (running)
    return luaL_error(L, "run: another session is running (sessions do not nest)");
  lua_settop(L, 1);
  ls->L = L;
  running = ls;
  last = ls;
  if (ls->progress_ref != LUA_NOREF) {
    uint64_t ms = (uint64_t)(ls->progress_interval * 1000);
    if (!ls->progress) {
      ls->progress = malloc(sizeof *ls->progress);
      if (ls->progress) {
        uv_timer_init(uv_default_loop(), ls->progress);
        /* It must not keep the loop alive on its own. */
        uv_unref((uv_handle_t *)ls->progress);
      }
    }
    if (ls->progress) {
      ls->progress->data = ls;
      uv_timer_start(ls->progress, on_progress, ms, ms);
    }
  }
  asx_sched_run(ls->s);
  /* A report's hook that never fired (the agent was in compiled code) is
   * not left behind. */
  if (lua_gethook(L) == stuck_hook)
    lua_sethook(L, displaced_hook, displaced_mask, displaced_count);
  if (ls->progress)
    uv_timer_stop(ls->progress);
  running = prev;
  ls->L = NULL;
  return 0;
}

static int l_stop(lua_State *L) {
  asx_sched_stop(check_sched(L, 1)->s);
  return 0;
}

static int l_sched_now(lua_State *L) {
  lua_pushnumber(L, asx_sched_now(check_sched(L, 1)->s));
  return 1;
}

static int l_duration(lua_State *L) {
  lsched *ls = check_sched(L, 1);
  if (!lua_isnoneornil(L, 2)) {
    double d = luaL_checknumber(L, 2);
    if (!(d >= 0))
      return luaL_argerror(L, 2, "non-negative number expected");
    asx_sched_set_duration(ls->s, d);
  }
  lua_pushnumber(L, asx_sched_duration(ls->s));
  return 1;
}

static int l_speed(lua_State *L) {
  lsched *ls = check_sched(L, 1);
  if (!lua_isnoneornil(L, 2)) {
    double x = luaL_checknumber(L, 2);
    if (asx_sched_set_speed(ls->s, x) != 0)
      return luaL_argerror(L, 2, "positive finite number expected");
  }
  lua_pushnumber(L, asx_sched_speed(ls->s));
  return 1;
}

static int l_pause(lua_State *L) {
  lsched *ls = check_sched(L, 1);
  lua_pushboolean(L, asx_sched_pause(ls->s, lua_isnone(L, 2) || lua_toboolean(L, 2)) == 0);
  return 1;
}

static int l_step(lua_State *L) {
  lsched *ls = check_sched(L, 1);
  double d = luaL_checknumber(L, 2);
  int rc = asx_sched_step(ls->s, d);
  if (rc == ASX_E_ARG)
    return luaL_argerror(L, 2, "non-negative finite number expected");
  lua_pushboolean(L, rc == 0);
  return 1;
}

static int l_stepping(lua_State *L) {
  lua_pushboolean(L, asx_sched_stepping(check_sched(L, 1)->s));
  return 1;
}

static const char *const agent_states[] = {"idle",     "waiting", "running",
                                           "finished", "failed",  "stopped"};
static const char *const session_states[] = {"new", "running", "paused", "ended"};

static int l_state(lua_State *L) {
  lsched *ls = check_sched(L, 1);
  if (lua_isnoneornil(L, 2)) {
    lua_pushstring(L, session_states[asx_sched_session_state(ls->s)]);
  } else {
    lua_Integer a = luaL_checkinteger(L, 2);
    int st = a >= 1 && a <= (lua_Integer)asx_sched_count(ls->s)
                 ? asx_sched_state(ls->s, (uint32_t)(a - 1))
                 : -1;
    if (st < 0)
      return luaL_argerror(L, 2, "agent number expected");
    lua_pushstring(L, agent_states[st]);
  }
  return 1;
}

/* Counts of agents in each state, as a table (one pass over the states). */
static int l_counts(lua_State *L) {
  lsched *ls = check_sched(L, 1);
  lua_Integer counts[6] = {0};
  uint32_t n = asx_sched_count(ls->s);
  for (uint32_t a = 0; a < n; a++)
    counts[asx_sched_state(ls->s, a)]++;
  lua_createtable(L, 0, 6);
  for (int i = 0; i < 6; i++) {
    lua_pushinteger(L, counts[i]);
    lua_setfield(L, -2, agent_states[i]);
  }
  return 1;
}

/* sched:finish(agent [, "stopped"|"failed"]): ends an agent that is not
 * running; its coroutine is dropped. Returns false when it had ended. */
static int l_finish(lua_State *L) {
  lsched *ls = check_sched(L, 1);
  lua_Integer a = luaL_checkinteger(L, 2);
  const char *how = luaL_optstring(L, 3, "stopped");
  int st = strcmp(how, "failed") == 0 ? ASX_AGENT_FAILED : ASX_AGENT_STOPPED;
  if (a < 1 || a > (lua_Integer)asx_sched_count(ls->s))
    return luaL_argerror(L, 2, "agent number expected");
  if (asx_sched_state(ls->s, (uint32_t)(a - 1)) == ASX_AGENT_RUNNING)
    return luaL_error(L, "finish: agent %d is running; it can stop itself by returning", (int)a);
  if (asx_sched_finish(ls->s, (uint32_t)(a - 1), st) != 0) {
    lua_pushboolean(L, 0);
    return 1;
  }
  drop_thread(ls, L, (uint32_t)(a - 1));
  lua_pushboolean(L, 1);
  return 1;
}

static int l_current(lua_State *L) {
  uint32_t a = asx_sched_current(check_sched(L, 1)->s);
  if (a == ASX_SCHED_NONE)
    lua_pushnil(L);
  else
    lua_pushinteger(L, (lua_Integer)a + 1);
  return 1;
}

static int l_count(lua_State *L) {
  lua_pushinteger(L, asx_sched_count(check_sched(L, 1)->s));
  return 1;
}

static int l_resumes(lua_State *L) {
  lua_pushnumber(L, (lua_Number)asx_sched_resumes(check_sched(L, 1)->s));
  return 1;
}

/* Keeps the function at stack index 2 in the registry, in place of the one
 * *ref held. */
static void set_handler(lua_State *L, int *ref) {
  luaL_checktype(L, 2, LUA_TFUNCTION);
  luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  lua_settop(L, 2);
  *ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* sched:on_error(fn): fn(agent, message) when an agent raises. */
static int l_on_error(lua_State *L) {
  set_handler(L, &check_sched(L, 1)->on_error_ref);
  return 0;
}

/* sched:on_finish(fn): fn(agent) when an agent's function returns. */
static int l_on_finish(lua_State *L) {
  set_handler(L, &check_sched(L, 1)->on_finish_ref);
  return 0;
}

/* sched:clock_source(): the scheduler as the data of asx_sched_clock_time,
 * for a book's clock (lua/asx/init.lua holds this object while the book
 * reads it, so the scheduler outlives the reads). */
static int l_clock_source(lua_State *L) {
  lua_pushlightuserdata(L, check_sched(L, 1)->s);
  return 1;
}

/* A forced quit lets the log files' writes under way end first (at most a
 * second), so that the exit cuts no line in two. */
static void quiesce_logs(void) { asx_logfile_quiesce(1.0); }

static int l_catch_signals(lua_State *L) {
  lsched *ls = check_sched(L, 1);
  const char *prog = luaL_optstring(L, 2, "asx");
  snprintf(ls->prog, sizeof ls->prog, "%s", prog);
  if (asx_sched_catch_signals(ls->s, 1, ls->prog) != 0)
    return luaL_error(L, "catch_signals: the session is running");
  asx_sched_on_forced_quit(ls->s, quiesce_logs);
  return 0;
}

static int l_signal(lua_State *L) {
  int sig = asx_sched_signal(check_sched(L, 1)->s);
  if (sig)
    lua_pushinteger(L, sig);
  else
    lua_pushnil(L);
  return 1;
}

/* sched:random([m [, n]]): the session's own generator, not an agent's. */
static int l_sched_random(lua_State *L) {
  lsched *ls = check_sched(L, 1);
  return random_args(L, 2, "random", asx_sched_rand01(ls->s, ASX_SCHED_NONE));
}

static const luaL_Reg sched_methods[] = {
    {"add", l_add},         {"run", l_run},
    {"stop", l_stop},       {"now", l_sched_now},
    {"duration", l_duration}, {"speed", l_speed},
    {"pause", l_pause},     {"step", l_step},
    {"stepping", l_stepping}, {"state", l_state},
    {"counts", l_counts},   {"finish", l_finish},
    {"current", l_current}, {"count", l_count},
    {"resumes", l_resumes}, {"on_error", l_on_error},
    {"on_finish", l_on_finish},
    {"clock_source", l_clock_source}, {"catch_signals", l_catch_signals},
    {"signal", l_signal},   {"random", l_sched_random},
    {"on_progress", l_on_progress}, {"on_tick", l_on_tick},
    {"watch", l_watch},
    {NULL, NULL}};

/* What asx.core gains from this file. */
static const luaL_Reg module_functions[] = {
    {"scheduler", l_scheduler}, {"sleep", l_sleep},   {"now", l_now},
    {"random", l_random},       {"hrtime", l_hrtime}, {"isatty", l_isatty},
    {NULL, NULL}};

int asx__lua_open_sched(lua_State *L) {
  /* The methods live apart from the metatable, which Lua code cannot
   * reach: calling __gc by hand would free a scheduler that a book's clock
   * still reads. */
  if (luaL_newmetatable(L, SCHED_MT)) {
    lua_newtable(L);
    luaL_register(L, NULL, sched_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  luaL_register(L, NULL, module_functions);
  return 0;
}
