/* What the scheduler's binding files share (internal to them):
 *   asx_lua_sched.c  the scheduler object: a session's set-up and control;
 *   asx_lua_agent.c  the one resume, and the functions agents call (sleep,
 *                    now, random);
 *   asx_lua_watch.c  stopping from outside: signals, and the report on an
 *                    agent that does not yield.
 */
#ifndef ASX_LUA_SCHED_H
#define ASX_LUA_SCHED_H

#include "asx_sched.h"

#include <lua.h>
#include <pthread.h>

#define SCHED_MT "asx.scheduler"

#define SCHED_MT "asx.scheduler"

/* lsched.opening: no agent has run yet; agents' first turns are running;
 * what LuaJIT compiled during them has been dropped (asx_lua_agent.c). */
enum { OPENING_NOT_YET, OPENING_NOW, OPENING_DONE };

typedef struct lsched {
  asx_sched *s;
  lua_State *L;        /* the thread inside sched:run(), or NULL */
  lua_State *co;       /* the agent being resumed, or NULL */
  int threads_ref;     /* registry: { [agent + 1] = coroutine }, the anchor */
  int on_error_ref;    /* registry: function(agent, message) or LUA_NOREF */
  int on_finish_ref;   /* registry: function(agent) or LUA_NOREF */
  int on_no_memory_ref; /* registry: function(agent) or LUA_NOREF */
  int opening;         /* agents' first turns and their one jit.flush(): OPENING_* */
  int progress_ref;    /* registry: function() called every interval */
  double progress_interval;
  uv_timer_t *progress; /* malloc'd: it may outlive the userdata */
  int tick_ref;        /* registry: function(now) called each tick, or LUA_NOREF */
  double tick_interval;
  double next_tick;    /* session time of the next tick */
  int courier_ref;     /* registry: function() delivering a message, or LUA_NOREF */
  void *reserve;       /* address space held while sched:run() runs, or NULL */
  char prog[64];
} lsched;


/* The scheduler whose agents are running, and the one that ran last (for
 * now() and random() called outside an agent). Hidden: the resume path
 * reads them as directly as a file's own statics. */
extern lsched *asx__lua_running __attribute__((visibility("hidden")));
/* Held while asx__lua_running changes, and by another thread for as long
 * as it reads through it (the prompt's watch on a held loop): a session
 * that ended may be collected at once after. */
extern pthread_mutex_t asx__lua_running_mu __attribute__((visibility("hidden")));
extern lsched *asx__lua_last __attribute__((visibility("hidden")));

/* asx_lua_sched.c: the scheduler at stack index idx, or a Lua error. */
lsched *asx__lua_check_sched(lua_State *L, int idx);

/* asx_lua_agent.c: the scheduler's resume function; lets the
 * garbage collector take an agent's coroutine; math.random's contract on
 * the arguments from stack index first, with the draw r; and sleep, now
 * and random added to the module table on top of the stack. */
void asx__lua_resume_agent(asx_sched *s, uint32_t agent, void *udata,
                           uint64_t *rng, void *data);
/* The scheduler's courier function: calls the courier_ref function. */
void asx__lua_run_courier(asx_sched *s, void *data);
void asx__lua_drop_thread(lsched *ls, lua_State *L, uint32_t agent);
/* asx_lua_agent.c: to be called after asx_sched_add, which may move the
 * agents while one of them runs (Trader.random reads its generator there). */
void asx__lua_agents_moved(void);
int asx__lua_random_args(lua_State *L, int first, const char *fname, double r);
void asx__lua_open_agent(lua_State *L);

/* asx_lua_watch.c: watch, catch_signals and signal added to the methods
 * table on top of the stack; and, after a session, removes a report's
 * hook that never fired. */
void asx__lua_open_watch(lua_State *L);
void asx__lua_unhook_stuck(lua_State *L);

#endif
