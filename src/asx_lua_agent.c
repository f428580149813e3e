/* Agents as coroutines, `sleep` as a yield: the scheduler binding's resume
 * path (asx_lua_sched.h lists the binding's files).
 *
 * asx__lua_resume_agent is the only function that calls lua_resume. An agent leaves
 * the coroutine in one of four ways, told apart there:
 *   - it called sleep: sleep stored the delay in the scheduler object and
 *     yielded; the agent's next wake-up is set;
 *   - it yielded otherwise (coroutine.yield): a stray yield that nothing
 *     would ever answer; it is resumed at once with the yield raising an
 *     error where it was called (refuse_stray_yield), and leaves again
 *     by one of the other ways;
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
 * No allocation happens per resume: sleep's delay travels in a C field (the
 * sleep gate, below), and the wake-up queue never grows past the number of
 * agents.
 *
 * How an agent starts. Its coroutine holds its class's start, the cycle and
 * the trader (lua/asx/session.lua; sched:add's via), and start(cycle,
 * trader) calls the cycle by a tail call. Started in the cycle itself, an
 * agent's first turn ran in the interpreter up to the cycle's loop: LuaJIT
 * compiles the loop (its trace ends at the yield in sleep and the code
 * after it is stitched on), but never the cycle from its entry, since a
 * root trace that meets a loop inside it gives up ("inner loop in root
 * trace") and the entry is blacklisted after a dozen tries. So what a cycle
 * does before its loop was interpreted once per agent, and a metamethod
 * read there costs some 300 instructions: random_trader's
 * choices(self.exchange) made its first turn 1,240 instructions, of which
 * 1,000,000 agents pay a million in a half-second window. A side trace may
 * run into a loop that has its trace and link to it, so start's own trace
 * is recorded before any agent runs, from calls with no trader (session.lua's
 * warm): it tests that the trader is nil and returns. An agent's first turn
 * fails that test, and the side trace recorded at that exit runs the
 * cycle's first lines and goes on into the loop's trace: the whole turn is
 * compiled code, entered once, left once at the yield (first turn: 812
 * instructions under callgrind, 100,000 random traders at -d 0; 982 when
 * start called a C function to end its trace, with a second exit and entry
 * around the call). A tail call leaves no frame, so the cycle is still the
 * coroutine's bottom frame in tracebacks and debug.getinfo. Where the first
 * lines cannot be compiled (a closure made there, a function under
 * jit.off), the side trace is given up after a few tries and the first
 * turn pays the exit from start's trace, some 100 instructions, before the
 * interpreter runs them; each class has its own start so that this stays
 * with the class that causes it. The jit.flush() at the end of the first
 * turns (below) drops start's trace too: it is recorded again at once, for
 * agents added later.
 *
 * sleep, now and random are plain functions that find the scheduler that is
 * running (one at a time: a session cannot run inside an agent), so they can
 * be methods of asx.Trader and cost nothing per trader.
 */
#include "asx_fmt.h"
#include "asx_lua.h"
#include "asx_lua_sched.h"

#include <lauxlib.h>
#include <luajit.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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
    /* As the Lua side's check.show writes it: one formatter. */
    asx_fmt_double(got, lua_tonumber(L, narg));
  } else {
    snprintf(got, sizeof got, "%s", luaL_typename(L, narg));
  }
  luaL_where(L, 1);
  lua_pushfstring(L, "bad argument #%d to '%s' (%s, got %s)", narg - 1, fname,
                  expected, got);
  lua_concat(L, 2);
  return lua_error(L);
}

/* ---- the sleep gate ------------------------------------------------------ */

/* How an agent asks for its wake-up. Trader.sleep's common call (a trader
 * and a number of seconds: lua/asx/trader.lua) is made in Lua while the gate
 * is open, which it is only while the agent resumed here runs in its own
 * coroutine: it writes the delay and the request through the FFI and yields
 * with the raw coroutine.yield, a fast function of the VM, so no C function
 * runs between the agent's compiled code and this resume (10,000 sleepers:
 * about 75 instructions fewer per wake-up than through a lua_CFunction and
 * lua_yield). The gate is shut (lua/asx/guard.lua) while a coroutine of the
 * user's own runs inside an agent, through coroutine.resume or a function
 * from coroutine.wrap, so that its sleep takes the C path, which checks
 * which coroutine it is in and raises. Every other call goes to l_sleep,
 * which checks all and sets the same request once lua_yield has not raised.
 * A request stands only for the yield that follows it: the resume clears it
 * first, and the wrapped coroutine.yield clears it, so that a stray yield
 * after a sleep that could not yield (across a C call) is still refused.
 * Layout shared with lua/asx/guard.lua's cast. */
static struct {
  int open;     /* 1 while the resumed agent runs in its own coroutine */
  int req;      /* 1: the coming yield is a sleep of delay seconds */
  double delay;
} gate;

/* ---- the running agent's generator ---------------------------------------- */

/* While an agent runs, state points at its generator's state in the
 * scheduler (asx_sched_rng_state), NULL otherwise. Trader.random
 * (lua/asx/trader.lua) reads it through the FFI and makes the agent's draws
 * in compiled code, as asx_sched_draw would make them, with no call
 * (10,000 random traders: four draws a wake-up, each a C call that spilled
 * the trace's live registers). Adding agents may move the scheduler's
 * agents: the binding's add points it again (asx__lua_agents_moved).
 * Layout shared with lua/asx/trader.lua's cast. */
static struct {
  uint64_t *state;
} agent_rng;
static asx_sched *rng_sched; /* the scheduler of the agent it points into */

void asx__lua_agents_moved(void) {
  if (agent_rng.state)
    agent_rng.state =
        asx_sched_rng_state(rng_sched, asx_sched_current(rng_sched));
}

/* ---- the one resume ---------------------------------------------------- */

/* msg is len bytes: an error text may hold a NUL, and the log files keep
 * all of it. A traceback of co follows it, unless co is NULL. */
static void report_error(lsched *ls, uint32_t agent, lua_State *co,
                         const char *msg, size_t len) {
  lua_State *L = ls->L;
  int top = lua_gettop(L);
  lua_pushlstring(L, msg, len);
  if (co) {
    lua_pushliteral(L, "\n");
    luaL_traceback(L, co, NULL, 0);
    lua_concat(L, 3);
  }
  if (ls->on_error_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ls->on_error_ref);
    lua_pushinteger(L, (lua_Integer)agent + 1);
    lua_pushvalue(L, -3);
    int rc = lua_pcall(L, 2, 0, 0);
    if (rc == LUA_ERRMEM) {
      /* Memory a strategy keeps where asx cannot let go of it (a global)
       * leaves the handler none to name the agent: it is named from the
       * scheduler's labels and C buffers, with its message's first line,
       * rather than "asx: the agent error handler failed: not enough
       * memory" for an agent nobody could tell. */
      char name[96], line[320];
      int first = (int)strcspn(msg, "\n");
      asx_sched_describe(ls->s, agent, name, sizeof name);
      snprintf(line, sizeof line, "%s: %.*s (no memory was left to handle it)", name,
               first > 200 ? 200 : first, msg);
      asx__lua_put("", line);
    } else if (rc != 0) {
      char num[ASX__LUA_ERROR_TEXT_SIZE];
      asx__lua_put("asx: the agent error handler failed: ",
                   asx__lua_error_text(L, -1, num, sizeof num));
    }
  } else {
    char head[32];
    snprintf(head, sizeof head, "agent %u: ", agent + 1);
    asx__lua_put(head, lua_tostring(L, -1));
  }
  lua_settop(L, top);
}

/* report_error for the agent whose failed coroutine is co, its error on
 * top: run under lua_cpcall (see the end of asx__lua_resume_agent). */
typedef struct report_args {
  lsched *ls;
  uint32_t agent;
  lua_State *co;
} report_args;

static int report_call(lua_State *L) {
  report_args *a = lua_touserdata(L, 1);
  char num[ASX__LUA_ERROR_TEXT_SIZE];
  size_t len;
  const char *msg;
  /* Whatever allocates does it on L, under the cpcall: a memory error
   * raised on the dead coroutine would find no protected call there. */
  /* An error object with a __tostring says what it is; another says its
   * type (asx__lua_error_text, the one wording). */
  lua_xmove(a->co, L, 1);
  if (asx__lua_error_text(L, -1, num, sizeof num) == num)
    lua_pushstring(L, num);
  msg = lua_tolstring(L, -1, &len);
  report_error(a->ls, a->agent, a->co, msg, len);
  return 0;
}

/* The collection after an agent ran out of memory, under lua_cpcall: it
 * can raise too (LuaJIT shrinks its string table, which such an agent
 * filled, into a new allocation; a finalizer of what the agent held may
 * raise), and raised outside any protected call it unwound through the
 * scheduler's loop up to asx-host's main ("asx-host: not enough memory",
 * status 1, no summary). */
static int collect_call(lua_State *L) {
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}

/* The session's on_no_memory handler for the agent, under lua_cpcall:
 * the trader's own fields let go of what the agent kept there (a trader
 * that keeps all it makes in self.keep), which the collection after could
 * not take while the session holds the trader. */
static int release_call(lua_State *L) {
  report_args *a = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, a->ls->on_no_memory_ref);
  lua_pushinteger(L, (lua_Integer)a->agent + 1);
  lua_call(L, 1, 0);
  return 0;
}

/* Lets go of what the agent kept in its trader, then collects; each under
 * lua_cpcall, whose own small allocation can fail too: then once more
 * after the collection has freed what the coroutine held. */
static void release_and_collect(lsched *ls, lua_State *L, uint32_t agent) {
  report_args a = {ls, agent, NULL};
  int released = ls->on_no_memory_ref == LUA_NOREF;
  if (!released) {
    released = lua_cpcall(L, release_call, &a) == 0;
    if (!released)
      lua_pop(L, 1);
  }
  asx__lua_drop_thread(ls, L, agent);
  if (lua_cpcall(L, collect_call, NULL) != 0)
    lua_pop(L, 1);
  if (released)
    return;
  if (lua_cpcall(L, release_call, &a) != 0) {
    lua_pop(L, 1);
    return;
  }
  if (lua_cpcall(L, collect_call, NULL) != 0)
    lua_pop(L, 1);
}

static const char no_memory[] = "not enough memory";

/* The report of an agent that ran out of memory, under lua_cpcall: the
 * message is a new string, and the handler's call may grow the stack. */
static int no_memory_call(lua_State *L) {
  report_args *a = lua_touserdata(L, 1);
  report_error(a->ls, a->agent, NULL, no_memory, sizeof no_memory - 1);
  return 0;
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
    char num[ASX__LUA_ERROR_TEXT_SIZE];
    asx__lua_put("asx: the tick function failed: ",
                 asx__lua_error_text(L, -1, num, sizeof num));
  }
  lua_settop(L, top);
}

/* Records the classes' starts again after the jit.flush() that ends the
 * agents' first turns (see "How an agent starts"): session.lua's
 * warm_starts, under a protected call. It only calls the starts with no
 * trader, so the one thing that can fail is an allocation: then agents
 * added later pay their first turns in the interpreter, and nothing else
 * changes. */
static void warm_starts(lua_State *L) {
  int top = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, "asx.warm_starts");
  if (lua_isfunction(L, -1))
    (void)lua_pcall(L, 0, 0, 0);
  lua_settop(L, top);
}

/* The courier (asx_sched_on_courier): the Lua function that delivers the
 * first message in flight (lua/asx/courier.lua), on the thread inside
 * sched:run(), never on an agent's coroutine, so that what it calls cannot
 * sleep. A tick due first is taken first, as before a resume. */
void asx__lua_run_courier(asx_sched *s, void *data) {
  lsched *ls = data;
  lua_State *L = ls->L;
  int top;
  if (!L || ls->courier_ref == LUA_NOREF)
    return;
  if (ls->tick_ref != LUA_NOREF && asx_sched_now(s) >= ls->next_tick)
    tick(ls, asx_sched_now(s));
  top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ls->courier_ref);
  if (lua_pcall(L, 0, 0, 0) != 0) {
    char num[ASX__LUA_ERROR_TEXT_SIZE];
    asx__lua_put("asx: the courier failed: ",
                 asx__lua_error_text(L, -1, num, sizeof num));
  }
  lua_settop(L, top);
}

/* A yield that is not sleep never suspends an agent: a coroutine.yield in
 * the agent's own coroutine has nothing to answer it, and one inside a
 * logger that the wrapped coroutine.yield did not refuse (one saved before
 * asx was loaded, a C function's lua_yield, a built-in logger's method
 * replaced) would leave the agent in the middle of a delivery, its records
 * half sent, for code holding the coroutine to resume after the book has
 * moved on. So the agent is resumed at once, with a count hook that raises
 * the error at its first instruction, where it yielded: a logger's yield
 * is then the logger's error, as the wrapped yield makes it, and the
 * agent's own fails the agent (unless it catches it). The hook displaced
 * (hooks are the Lua state's) is put back first; if a signal's hook
 * displaces this one before it fires, the yield just returns. */
static const char STRAY_YIELD[] = ASX__LUA_STRAY_YIELD;
static char refused_message[LUA_IDSIZE + 128];
static lua_Hook refused_displaced;
static int refused_mask, refused_count;
/* 1 from the arming until the hook fires or is taken back: a yield made by
 * a tail call from the coroutine's bottom frame (a cycle ending in `return
 * coroutine.yield()`) leaves no instruction to run when it is resumed, so
 * the hook stays armed past the agent's end, and fired in the next Lua code
 * anywhere, asx's own included (the agent finish handler failed, the agent
 * counted finished). */
static int refused_armed;

static void refuse_yield(lua_State *L, lua_Debug *ar) {
  (void)ar;
  refused_armed = 0;
  lua_sethook(L, refused_displaced, refused_mask, refused_count);
  lua_pushstring(L, refused_message);
  lua_error(L);
}

/* Arms the hook for the next resume of co, which yielded otherwise than by
 * sleep. A logger's error names the line of its yield, as the wrapped
 * yield's does (taken before the resume: the hook fires at the next
 * instruction, perhaps on another line); the agent's own keeps the form it
 * has always had (its traceback has the line). */
static void refuse_stray_yield(lua_State *co) {
  lua_Debug ar;
  int found = 0;
  if (!(asx__lua_sends > 0 && asx__lua_in_send(co))) {
    snprintf(refused_message, sizeof refused_message, "%s", STRAY_YIELD);
  } else {
    /* Level 0 is the yielding function, 1 its caller: the first with a
     * line is the logger's call to it. */
    for (int level = 0; level < 2 && !found && lua_getstack(co, level, &ar); level++)
      found = lua_getinfo(co, "Sl", &ar) && ar.currentline > 0;
    if (found)
      snprintf(refused_message, sizeof refused_message, "%s:%d: %s",
               ar.short_src, ar.currentline, ASX__LUA_LOGGER_WAITS);
    else
      snprintf(refused_message, sizeof refused_message, "%s",
               ASX__LUA_LOGGER_WAITS);
  }
  lua_settop(co, 0);
  refused_displaced = lua_gethook(co);
  refused_mask = lua_gethookmask(co);
  refused_count = lua_gethookcount(co);
  refused_armed = 1;
  lua_sethook(co, refuse_yield, LUA_MASKCOUNT, 1);
}

/* Lets the garbage collector take agent's coroutine. */
void asx__lua_drop_thread(lsched *ls, lua_State *L, uint32_t agent) {
  asx_sched_set_udata(ls->s, agent, NULL);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ls->threads_ref);
  lua_pushboolean(L, 0);
  lua_rawseti(L, -2, (int)agent + 1);
  lua_pop(L, 1);
}

void asx__lua_resume_agent(asx_sched *s, uint32_t agent, void *udata,
                           uint64_t *rng, void *data) {
  lsched *ls = data;
  lua_State *L = ls->L;
  lua_State *co = udata;
  int nargs, status;

  if (!co) {
    asx_sched_finish(s, agent, ASX_AGENT_FAILED);
    return;
  }
  if (ls->tick_ref != LUA_NOREF && asx_sched_now(s) >= ls->next_tick)
    tick(ls, asx_sched_now(s));
  /* A new coroutine holds the function and its argument; a suspended one
   * is continued with no values (sleep returns nothing). Any other was run
   * to its end by code that resumed it itself (coroutine.resume on the
   * coroutine it found with coroutine.running): nothing is left to resume. */
  status = lua_status(co);
  if (status != LUA_YIELD && (status != 0 || lua_gettop(co) == 0)) {
    static const char ended[] =
        "the agent's coroutine was resumed by other code (coroutine.resume) "
        "and ended there";
    asx_sched_finish(s, agent, ASX_AGENT_FAILED);
    report_error(ls, agent, co, ended, sizeof ended - 1);
    asx__lua_drop_thread(ls, L, agent);
    return;
  }
  nargs = status == LUA_YIELD ? 0 : lua_gettop(co) - 1;
  /* What LuaJIT compiles during agents' first turns follows a session that
   * has not started: above all, the code after sleep is compiled the first
   * time any agent comes back from it, which is the session's very first
   * decision, in an empty book with caches still empty, and every later
   * turn leaves that trace for side traces. So the resume of an agent that
   * slept, after first turns, drops what LuaJIT compiled (jit.flush()),
   * once, and it compiles again from the session under way (random
   * traders: about 70 instructions fewer per order). Once per scheduler:
   * agents spawned as the session runs do not flush again, which would
   * drop all compiled code at each spawn. */
  if (status != LUA_YIELD) {
    if (ls->opening == OPENING_NOT_YET)
      ls->opening = OPENING_NOW;
  } else if (ls->opening == OPENING_NOW) {
    ls->opening = OPENING_DONE;
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_FLUSH);
    warm_starts(L);
  }
  ls->co = co;
  rng_sched = s;
  agent_rng.state = rng;
  gate.req = 0;
  gate.open = 1;
  status = lua_resume(co, nargs);
  while (status == LUA_YIELD && !gate.req) {
    refuse_stray_yield(co);
    gate.open = 1;
    status = lua_resume(co, 0);
  }
  if (refused_armed) {
    /* The refused yield was the agent's last act: it fails with the error
     * the hook would have raised, and the hook is taken back. */
    refused_armed = 0;
    lua_sethook(co, refused_displaced, refused_mask, refused_count);
    if (status == 0) {
      lua_settop(co, 0);
      lua_pushstring(co, refused_message);
      status = LUA_ERRRUN;
    }
  }
  gate.open = 0;
  agent_rng.state = NULL;
  ls->co = NULL;

  if (status == LUA_YIELD) {
    /* sleep yields no values, so the stack is empty already; the check
     * costs less than the call. */
    if (lua_gettop(co) != 0)
      lua_settop(co, 0);
    /* A session stopped from inside the agent still accepts the wake-up;
     * it just never runs. sleep checks its delay, but the gate is memory
     * that Lua code can write (the FFI view of lua/asx/guard.lua): a
     * request sleep did not make, with a delay the queue refuses, fails
     * the agent rather than leave it neither waiting nor finished. */
    if (asx_sched_wake(s, agent, gate.delay) != ASX_E_ARG)
      return;
    lua_pushliteral(co, "sleep: the wake-up's delay is not a non-negative "
                        "finite number of seconds");
    status = LUA_ERRRUN;
  }
  if (status == 0) {
    asx_sched_finish(s, agent, ASX_AGENT_FINISHED);
    if (ls->on_finish_ref != LUA_NOREF) {
      int top = lua_gettop(L);
      lua_rawgeti(L, LUA_REGISTRYINDEX, ls->on_finish_ref);
      lua_pushinteger(L, (lua_Integer)agent + 1);
      if (lua_pcall(L, 1, 0, 0) != 0) {
        char num[ASX__LUA_ERROR_TEXT_SIZE];
        asx__lua_put("asx: the agent finish handler failed: ",
                     asx__lua_error_text(L, -1, num, sizeof num));
      }
      lua_settop(L, top);
    }
    asx__lua_drop_thread(ls, L, agent);
    return;
  }
  asx_sched_finish(s, agent, ASX_AGENT_FAILED);
  /* The error's report is made outside the agent, under lua_cpcall: out
   * of memory there (an agent that kept all it could get, then raised an
   * error whose text and traceback need more) unwound through the
   * scheduler's loop, a libuv callback, up to asx-host's main. */
  if (status != LUA_ERRMEM) {
    report_args a = {ls, agent, co};
    if (lua_cpcall(L, report_call, &a) == 0) {
      asx__lua_drop_thread(ls, L, agent);
      return;
    }
    lua_pop(L, 1);
  }
  {
    /* Out of memory, in the agent or in its report: what the agent held
     * becomes garbage with its coroutine and its trader's own fields, and
     * is collected before the report allocates again. No traceback: the
     * coroutine is gone. Each under lua_cpcall; should the report fail
     * too, the line is written without Lua. */
    report_args a = {ls, agent, NULL};
    release_and_collect(ls, L, agent);
    if (lua_cpcall(L, no_memory_call, &a) != 0) {
      char head[32];
      lua_pop(L, 1);
      snprintf(head, sizeof head, "agent %u: ", agent + 1);
      asx__lua_put(head, no_memory);
    }
  }
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

/* self:sleep(seconds): yields to asx__lua_resume_agent, which sets the wake-up. */
static int l_sleep(lua_State *L) {
  lsched *ls = asx__lua_running;
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
  /* A logger called from the agent's call runs on its coroutine, but must
   * not wait (asx_lua_guard.c). */
  if (asx__lua_sends > 0 && asx__lua_in_send(L))
    return luaL_error(L, "%s", ASX__LUA_LOGGER_WAITS);
  /* lua_yield raises where the coroutine cannot yield: the request stands
   * only once it has not. */
  int rc = lua_yield(L, 0);
  gate.req = 1;
  gate.delay = d;
  return rc;
}

static int l_now(lua_State *L) {
  lsched *ls = asx__lua_running ? asx__lua_running : asx__lua_last;
  lua_pushnumber(L, ls ? asx_sched_now(ls->s) : 0);
  return 1;
}

/* math.random's contract: random() in [0, 1), random(m) in [1, m],
 * random(m, n) in [m, n]. Arguments follow self when called as a method. */
int asx__lua_random_args(lua_State *L, int first, const char *fname, double r) {
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
 * asx_sched_draw); Trader.random (lua/asx/trader.lua) is the same in Lua
 * for compiled code. */
static int l_random(lua_State *L) {
  return asx__lua_random_args(L, 2, "random", asx_sched_draw());
}

static const luaL_Reg agent_functions[] = {
    {"sleep", l_sleep},   {"now", l_now}, {"random", l_random},
    {NULL, NULL}};

void asx__lua_open_agent(lua_State *L) {
  luaL_register(L, NULL, agent_functions);
  lua_pushlightuserdata(L, &gate);
  lua_setfield(L, -2, "sleep_gate");
  lua_pushlightuserdata(L, &agent_rng);
  lua_setfield(L, -2, "agent_rng");
}
