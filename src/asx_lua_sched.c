/* The scheduler's Lua binding: the scheduler object, through which a
 * session is set up and controlled.
 *
 * core.scheduler(clock, seed) makes a scheduler object; sched:add(fn, arg,
 * name, number) makes one coroutine per agent that will call fn(arg) (a
 * trader's cycle, with the trader) and puts its first wake-up at the current
 * time, so agents start in the order they were added. sched:run() runs the
 * libuv loop until the session ends. How agents run is in asx_lua_agent.c;
 * signals and stuck agents in asx_lua_watch.c.
 */
#include "asx_lua.h"
#include "asx_lua_sched.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

lsched *asx__lua_running;
pthread_mutex_t asx__lua_running_mu = PTHREAD_MUTEX_INITIALIZER;
lsched *asx__lua_last;

lsched *asx__lua_check_sched(lua_State *L, int idx) {
  lsched *ls = luaL_checkudata(L, idx, SCHED_MT);
  if (!ls->s)
    luaL_error(L, "scheduler is closed");
  return ls;
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

/* What an agent's resume reads first, fetched ahead by the scheduler
 * (asx_sched_prefetch_span): lua_resume reads the coroutine's lua_State and
 * the top frames of its stack, and the agent's code its trader table
 * (self) and the table's hash part, where the trader keeps its account
 * (lua/asx/private.lua), and its order its account. lua_newthread allocates
 * the stack right after the state, and a session adds an agent right after
 * making its trader, whose account is made just before its table, so all
 * of them usually lie in the few hundred bytes around the state: from
 * RESUME_BEFORE bytes before it (the account, the table and its hash part:
 * with asx-host's allocator the account's fields start 176 bytes before
 * the state for two agents in three, 64 for the others) to RESUME_AFTER
 * after. Where they do not, the prefetch fetches a few lines for
 * nothing. */
#define RESUME_BEFORE 192
#define RESUME_AFTER 256

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
  ls->on_finish_ref = ls->tick_ref = ls->courier_ref = LUA_NOREF;
  ls->on_no_memory_ref = LUA_NOREF;
  luaL_getmetatable(L, SCHED_MT);
  lua_setmetatable(L, -2);
  ls->s = asx_sched_new(NULL, c, (uint64_t)seed, asx__lua_resume_agent, ls);
  if (!ls->s)
    return luaL_error(L, "scheduler: out of memory");
  asx_sched_prefetch_span(ls->s, RESUME_BEFORE, RESUME_AFTER);
  lua_newtable(L);
  ls->threads_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  asx__lua_last = ls;
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
    char num[ASX__LUA_ERROR_TEXT_SIZE];
    asx__lua_put("asx: progress callback failed: ",
                 asx__lua_error_text(L, -1, num, sizeof num));
    lua_pop(L, 1);
  }
}

/* sched:on_tick(fn, seconds): calls fn(now) once the session time reaches
 * each multiple of `seconds` (from 0), just before the first agent due at
 * or after it runs; ticks with no wake-up between them make one call. It
 * costs one comparison per resume and adds no agent, so it changes neither
 * the order of wake-ups nor any generator. */
static int l_on_tick(lua_State *L) {
  lsched *ls = asx__lua_check_sched(L, 1);
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

/* sched:on_courier(fn): fn() delivers the first message in flight when
 * its time comes (see asx_sched_on_courier) and sets the next time with
 * sched:courier_at. */
static int l_on_courier(lua_State *L) {
  lsched *ls = asx__lua_check_sched(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  luaL_unref(L, LUA_REGISTRYINDEX, ls->courier_ref);
  lua_pushvalue(L, 2);
  ls->courier_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  asx_sched_on_courier(ls->s, asx__lua_run_courier);
  return 0;
}

/* sched:courier_at(time | nil): the time of the first message in flight;
 * nil when there is none. False once the session has ended. */
static int l_courier_at(lua_State *L) {
  lsched *ls = asx__lua_check_sched(L, 1);
  double t = lua_isnoneornil(L, 2) ? HUGE_VAL : luaL_checknumber(L, 2);
  int rc = asx_sched_courier_at(ls->s, t);
  if (rc == ASX_E_ARG)
    return luaL_argerror(L, 2, "time not before the session's expected");
  lua_pushboolean(L, rc == 0);
  return 1;
}

/* sched:act_for(agent | nil): inside the courier, the code that follows
 * runs for that agent (its generator, sched:current()); nil ends it. */
static int l_act_for(lua_State *L) {
  lsched *ls = asx__lua_check_sched(L, 1);
  uint32_t a = ASX_SCHED_NONE;
  int rc;
  if (!lua_isnoneornil(L, 2)) {
    lua_Integer i = luaL_checkinteger(L, 2);
    if (i < 1 || i > (lua_Integer)asx_sched_count(ls->s))
      return luaL_argerror(L, 2, "agent number expected");
    a = (uint32_t)(i - 1);
  }
  rc = asx_sched_act_for(ls->s, a);
  if (rc != 0)
    return luaL_error(L, "act_for: only inside the courier");
  return 0;
}

/* sched:on_progress(fn, seconds): calls fn every `seconds` of wall time
 * while the session runs (the real clock's speed does not apply). */
static int l_on_progress(lua_State *L) {
  lsched *ls = asx__lua_check_sched(L, 1);
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

/* Address space held while the agents run and given back when they have,
 * for what the session does after them (the summary, the loggers' last
 * lines): a strategy that keeps all it can get where asx cannot let go of
 * it (a global: asx__lua_resume_agent frees an agent's locals and its
 * trader's own fields) leaves none, and asx-host ended with "asx-host: not
 * enough memory" and no summary. Mapped, never touched, so it costs no
 * memory, only room under a limit of the address space (ulimit -v); a
 * limit of the resident memory (a cgroup's) it does not help with. */
#define RUN_RESERVE ((size_t)8 << 20)

static void hold_reserve(lsched *ls) {
  if (ls->reserve)
    return;
  ls->reserve = mmap(NULL, RUN_RESERVE, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (ls->reserve == MAP_FAILED)
    ls->reserve = NULL;
}

static void give_back_reserve(lsched *ls) {
  if (ls->reserve)
    munmap(ls->reserve, RUN_RESERVE);
  ls->reserve = NULL;
}

static int l_gc(lua_State *L) {
  lsched *ls = luaL_checkudata(L, 1, SCHED_MT);
  /* An error that unwound through sched:run() left it held. */
  give_back_reserve(ls);
  /* Before the scheduler is freed: the prompt's watch reads it through
   * asx__lua_running from its own thread, under the lock. A session left
   * running (an error that unwound through sched:run()) is still there. */
  pthread_mutex_lock(&asx__lua_running_mu);
  if (asx__lua_running == ls)
    asx__lua_running = NULL;
  pthread_mutex_unlock(&asx__lua_running_mu);
  if (ls->s) {
    asx_sched_free(ls->s);
    ls->s = NULL;
  }
  luaL_unref(L, LUA_REGISTRYINDEX, ls->threads_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, ls->on_error_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, ls->progress_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, ls->on_finish_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, ls->tick_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, ls->courier_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, ls->on_no_memory_ref);
  ls->threads_ref = ls->on_error_ref = ls->progress_ref = LUA_NOREF;
  ls->on_finish_ref = ls->tick_ref = ls->courier_ref = LUA_NOREF;
  ls->on_no_memory_ref = LUA_NOREF;
  if (ls->progress) {
    ls->progress->data = NULL;
    uv_close((uv_handle_t *)ls->progress, free_handle);
    ls->progress = NULL;
  }
  if (asx__lua_last == ls)
    asx__lua_last = NULL;
  return 0;
}

/* sched:add(fn, arg [, name, number [, via]]) -> agent (from 1). With
 * via, a Lua function, the coroutine starts as via(fn, arg), which is to
 * call fn(arg) (the session's start: see asx_lua_agent.c, "How an agent
 * starts"). */
static int l_add(lua_State *L) {
  lsched *ls = asx__lua_check_sched(L, 1);
  uint32_t agent;
  lua_State *co;
  int rc, via;
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (lua_isnoneornil(L, 3))
    luaL_argerror(L, 3, "value expected");
  via = !lua_isnoneornil(L, 6);
  if (via)
    luaL_checktype(L, 6, LUA_TFUNCTION);
  rc = asx_sched_add(ls->s, 1, &agent);
  asx__lua_agents_moved();
  if (rc != 0)
    return luaL_error(L, "add: too many agents or out of memory");
  if (lua_type(L, 4) == LUA_TSTRING) {
    int g = asx_sched_group(ls->s, lua_tostring(L, 4));
    if (g >= 0)
      asx_sched_label(ls->s, agent, g, (uint32_t)luaL_optinteger(L, 5, agent + 1));
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, ls->threads_ref);
  co = lua_newthread(L);
  if (via)
    lua_pushvalue(L, 6);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_xmove(L, co, 2 + via);
  lua_rawseti(L, -2, (int)agent + 1);
  asx_sched_set_udata(ls->s, agent, co);
  asx_sched_wake(ls->s, agent, 0);
  lua_pushinteger(L, (lua_Integer)agent + 1);
  return 1;
}

static int l_run(lua_State *L) {
  lsched *ls = asx__lua_check_sched(L, 1);
  lsched *prev = asx__lua_running;
  if (ls->L)
    return luaL_error(L, "run: this session is running already");
  if (asx__lua_running)
    return luaL_error(L, "run: another session is running (sessions do not nest)");
  lua_settop(L, 1);
  ls->L = L;
  pthread_mutex_lock(&asx__lua_running_mu);
  asx__lua_running = ls;
  pthread_mutex_unlock(&asx__lua_running_mu);
  asx__lua_last = ls;
  if (ls->progress_ref != LUA_NOREF) {
    /* At most a billion seconds: milliseconds past what uint64_t holds
     * would convert to anything (0: at once). */
    uint64_t ms = (uint64_t)(fmin(ls->progress_interval, 1e9) * 1000);
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
  hold_reserve(ls);
  asx_sched_run(ls->s);
  give_back_reserve(ls);
  asx__lua_unhook_stuck(L);
  if (ls->progress)
    uv_timer_stop(ls->progress);
  pthread_mutex_lock(&asx__lua_running_mu);
  asx__lua_running = prev;
  pthread_mutex_unlock(&asx__lua_running_mu);
  ls->L = NULL;
  return 0;
}

static int l_stop(lua_State *L) {
  asx_sched_stop(asx__lua_check_sched(L, 1)->s);
  return 0;
}

static int l_sched_now(lua_State *L) {
  lua_pushnumber(L, asx_sched_now(asx__lua_check_sched(L, 1)->s));
  return 1;
}

static int l_duration(lua_State *L) {
  lsched *ls = asx__lua_check_sched(L, 1);
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
  lsched *ls = asx__lua_check_sched(L, 1);
  if (!lua_isnoneornil(L, 2)) {
    double x = luaL_checknumber(L, 2);
    if (asx_sched_set_speed(ls->s, x) != 0)
      return luaL_argerror(L, 2, "positive finite number expected");
  }
  lua_pushnumber(L, asx_sched_speed(ls->s));
  return 1;
}

static int l_pause(lua_State *L) {
  lsched *ls = asx__lua_check_sched(L, 1);
  lua_pushboolean(L, asx_sched_pause(ls->s, lua_isnone(L, 2) || lua_toboolean(L, 2)) == 0);
  return 1;
}

static int l_step(lua_State *L) {
  lsched *ls = asx__lua_check_sched(L, 1);
  double d = luaL_checknumber(L, 2);
  int rc = asx_sched_step(ls->s, d);
  if (rc == ASX_E_ARG)
    return luaL_argerror(L, 2, "non-negative finite number expected");
  lua_pushboolean(L, rc == 0);
  return 1;
}

/* sched:rewake(agent, delay): see asx_sched_rewake; false when the
 * wake-up could not move. */
static int l_rewake(lua_State *L) {
  lsched *ls = asx__lua_check_sched(L, 1);
  lua_Integer a = luaL_checkinteger(L, 2);
  double d = luaL_checknumber(L, 3);
  if (a < 1 || a > (lua_Integer)asx_sched_count(ls->s))
    return luaL_argerror(L, 2, "agent number expected");
  lua_pushboolean(L, asx_sched_rewake(ls->s, (uint32_t)(a - 1), d) == 0);
  return 1;
}

static int l_stepping(lua_State *L) {
  lua_pushboolean(L, asx_sched_stepping(asx__lua_check_sched(L, 1)->s));
  return 1;
}

static const char *const agent_states[] = {"idle",     "waiting", "running",
                                           "finished", "failed",  "stopped"};
static const char *const session_states[] = {"new", "running", "paused", "ended"};

static int l_state(lua_State *L) {
  lsched *ls = asx__lua_check_sched(L, 1);
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
  lsched *ls = asx__lua_check_sched(L, 1);
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
  lsched *ls = asx__lua_check_sched(L, 1);
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
  asx__lua_drop_thread(ls, L, (uint32_t)(a - 1));
  lua_pushboolean(L, 1);
  return 1;
}

static int l_current(lua_State *L) {
  uint32_t a = asx_sched_current(asx__lua_check_sched(L, 1)->s);
  if (a == ASX_SCHED_NONE)
    lua_pushnil(L);
  else
    lua_pushinteger(L, (lua_Integer)a + 1);
  return 1;
}

/* sched:set_cycle(agent, fn) -> true when the agent had not had its first
 * turn: its coroutine then starts in fn, in place of the function add gave
 * it (lua/asx/session.lua: a class's cycle redefined at the prompt before
 * the first step). A coroutine that has started has frames or has yielded;
 * one that has ended, no values; those are left as they are. */
static int l_set_cycle(lua_State *L) {
  lsched *ls = asx__lua_check_sched(L, 1);
  lua_Integer i = luaL_checkinteger(L, 2);
  lua_State *co;
  lua_Debug ar;
  luaL_checktype(L, 3, LUA_TFUNCTION);
  if (i < 1 || i > (lua_Integer)asx_sched_count(ls->s))
    return luaL_argerror(L, 2, "agent number expected");
  co = asx_sched_udata(ls->s, (uint32_t)(i - 1));
  if (co == NULL || lua_status(co) != 0 || lua_getstack(co, 0, &ar) || lua_gettop(co) < 2) {
    lua_pushboolean(L, 0);
    return 1;
  }
  /* [via,] fn, arg: fn is below the argument. */
  lua_pushvalue(L, 3);
  lua_xmove(L, co, 1);
  lua_replace(co, lua_gettop(co) - 2);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_count(lua_State *L) {
  lua_pushinteger(L, asx_sched_count(asx__lua_check_sched(L, 1)->s));
  return 1;
}

static int l_resumes(lua_State *L) {
  lua_pushnumber(L, (lua_Number)asx_sched_resumes(asx__lua_check_sched(L, 1)->s));
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
  set_handler(L, &asx__lua_check_sched(L, 1)->on_error_ref);
  return 0;
}

/* sched:on_finish(fn): fn(agent) when an agent's function returns. */
static int l_on_finish(lua_State *L) {
  set_handler(L, &asx__lua_check_sched(L, 1)->on_finish_ref);
  return 0;
}

/* sched:on_no_memory(fn): fn(agent) when an agent ran out of memory,
 * before its coroutine is collected and its failure reported: it lets go
 * of what the agent kept where it outlives the coroutine (lua/asx/
 * session.lua). It must not allocate: memory is exhausted when it runs. */
static int l_on_no_memory(lua_State *L) {
  set_handler(L, &asx__lua_check_sched(L, 1)->on_no_memory_ref);
  return 0;
}

/* sched:clock_source(): the scheduler as the data of asx_sched_clock_time,
 * for a book's clock (lua/asx/exchange.lua holds this object while the book
 * reads it, so the scheduler outlives the reads). */
static int l_clock_source(lua_State *L) {
  lua_pushlightuserdata(L, asx__lua_check_sched(L, 1)->s);
  return 1;
}

/* sched:random([m [, n]]): the session's own generator, not an agent's. */
static int l_sched_random(lua_State *L) {
  lsched *ls = asx__lua_check_sched(L, 1);
  return asx__lua_random_args(L, 2, "random", asx_sched_rand01(ls->s, ASX_SCHED_NONE));
}

static const luaL_Reg sched_methods[] = {
    {"add", l_add},         {"run", l_run},
    {"stop", l_stop},       {"now", l_sched_now},
    {"duration", l_duration}, {"speed", l_speed},
    {"pause", l_pause},     {"step", l_step},
    {"stepping", l_stepping}, {"rewake", l_rewake}, {"state", l_state},
    {"counts", l_counts},   {"finish", l_finish},
    {"set_cycle", l_set_cycle},
    {"current", l_current}, {"count", l_count},
    {"resumes", l_resumes}, {"on_error", l_on_error},
    {"on_finish", l_on_finish}, {"on_no_memory", l_on_no_memory},
    {"clock_source", l_clock_source}, {"random", l_sched_random},
    {"on_progress", l_on_progress}, {"on_tick", l_on_tick},
    {"on_courier", l_on_courier}, {"courier_at", l_courier_at},
    {"act_for", l_act_for},
    {NULL, NULL}};

/* What asx.core gains from this file. */
static const luaL_Reg module_functions[] = {
    {"scheduler", l_scheduler}, {"hrtime", l_hrtime}, {"isatty", l_isatty},
    {NULL, NULL}};

int asx__lua_open_sched(lua_State *L) {
  /* The methods live apart from the metatable, which Lua code cannot
   * reach: calling __gc by hand would free a scheduler that a book's clock
   * still reads. */
  if (luaL_newmetatable(L, SCHED_MT)) {
    lua_newtable(L);
    luaL_register(L, NULL, sched_methods);
    asx__lua_open_watch(L);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  luaL_register(L, NULL, module_functions);
  asx__lua_open_agent(L);
  return 0;
}
