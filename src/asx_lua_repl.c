/* Lua binding of the line reader (src/asx_repl.h), used by lua/asx/repl/:
 *
 *   local r = core.repl_open{
 *     on_line = function(line) end,          -- line is nil at end of input;
 *                                            -- a string returned is printed
 *                                            -- on stderr
 *     on_interrupt = function(count) end,    -- optional: Ctrl-C at the prompt
 *     on_break = function() end,            -- optional: Ctrl-C while busy
 *     complete = function(word) return { "candidate", ... } end,  -- optional
 *     history = "/home/u/.asx_history",      -- optional, terminal mode only
 *     library = "@/usr/share/lua/5.1/asx/",  -- optional: code Ctrl-C lets finish
 *   }
 *   r:prompt("asx> ")   -- read the next line; callbacks run from the loop
 *   r:prompt("asx> ", ready)  -- the same once ready() returns true, asked
 *                             -- after every turn of the loop
 *   r:mode()            -- "tty", "pipe" or "file"
 *   r:unread()          -- input is left that no line took (asx_repl_unread)
 *   r:leftover()        -- that input, up to 64 KiB, and whether there was more
 *   r:print(text [, "stderr"])  -- output that keeps the prompt intact
 *   r:pcall(f, ...)     -- pcall(f, ...), with Ctrl-C interrupting f
 *   r:close()
 *
 * The callbacks run from libuv callbacks, outside any coroutine of the
 * caller, on a Lua thread of the reader's own: a line evaluated there may
 * call anything that does not yield. An error escaping a callback is printed
 * on stderr and the reader goes on; lua/asx/repl/ catches its own errors first.
 * While the reader is open the userdata pins itself in the registry, because
 * the C side holds a pointer to it.
 *
 * Ctrl-C while interruptible: the signal handler sets a debug hook (as the
 * stand-alone lua does), and the hook raises "interrupted" at the next call,
 * return or instruction count of interpreted Lua code that is not asx's own
 * library (the option library: its files' source prefix). Code that LuaJIT has
 * compiled into a trace never sees the hook; lua/asx/repl/init.lua keeps the
 * lines typed at the prompt out of the compiler for that reason. Outside a
 * line (an agent that holds the loop at the prompt, or during a step) the
 * hook raises in the agent that ran when Ctrl-C came, and in no other.
 * on_break runs from the loop afterwards, in any case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <lauxlib.h>
#include <lua.h>

#include "asx_err.h"
#include "asx_fmt.h"
#include "asx_lua.h"
#include "asx_lua_sched.h"
#include "asx_repl.h"

#define REPL_MT "asx.repl"

/* Memory kept aside for the end of the session: a line may keep nearly
 * all memory in a global, and end of input must still stop the session and
 * print its summary. It is a mapping of its own, never touched (so it
 * costs address space, not pages), unmapped when end of input comes, which
 * gives it back at once: a Lua object would wait for a collection that
 * itself needs memory, and malloc's free may keep the block for malloc. */
#define RESERVE_BYTES ((size_t)8 << 20)

struct call;

typedef struct lrepl {
  asx_repl *repl; /* NULL once closed */
  lua_State *T;   /* the thread callbacks run on */
  int calls;      /* callbacks running on T */
  int ref_self, ref_thread, ref_on_line, ref_on_interrupt, ref_complete;
  int ref_ready, ref_on_break;
  int ref_run;     /* run_call, made once: entering it allocates nothing */
  void *reserve;   /* RESERVE_BYTES, until end of input or close; or NULL */
  struct call *pending; /* what run_call runs */
  int asked;       /* the owner asked for the next line (r:prompt) */
  char last_prompt[64]; /* the prompt it asked with */
} lrepl;

/* Prints an error that escaped a callback. Only a string is shown: making
 * text of anything else would allocate, outside any protected call. */
static void report(lua_State *T, const char *where) {
  size_t len = 0;
  const char *msg =
      lua_type(T, -1) == LUA_TSTRING ? lua_tolstring(T, -1, &len) : NULL;
  fprintf(stderr, "asx repl: error in %s: ", where);
  fflush(stderr);
  if (msg)
    asx_fmt_terminal_write(2, msg, len);
  else
    fputs("(not a string)", stderr);
  fputs("\n", stderr);
  fflush(stderr);
  lua_pop(T, 1);
}

static void release_reserve(lrepl *u) {
  if (u->reserve)
    munmap(u->reserve, RESERVE_BYTES);
  u->reserve = NULL;
}

static void unref_all(lua_State *L, lrepl *u) {
  int *refs[] = { &u->ref_on_line, &u->ref_on_interrupt, &u->ref_complete,
                  &u->ref_ready, &u->ref_on_break, &u->ref_run,
                  &u->ref_thread, &u->ref_self };
  size_t i;
  for (i = 0; i < sizeof refs / sizeof refs[0]; i++) {
    luaL_unref(L, LUA_REGISTRYINDEX, *refs[i]);
    *refs[i] = LUA_NOREF;
  }
  u->T = NULL;
  release_reserve(u);
}

/* One call of a Lua callback. Everything in it that allocates runs inside
 * a protected call: an allocation can run a __gc metamethod, which may
 * raise, or fail for want of memory, and an error outside any protected
 * call would end the process or unwind through the loop. The call enters
 * run_call, made once at open, through lua_pcall, which allocates nothing
 * (lua_cpcall makes a closure each time, which a full memory refuses). An
 * error before the callback started (pushing the line) is not the
 * callback's: the call is tried again, or the line would be lost and the
 * reader left waiting for a prompt. */
enum { CALL_LINE, CALL_INTERRUPT, CALL_COMPLETE, CALL_READY, CALL_BREAK,
       CALL_COLLECT };

typedef struct call {
  lrepl *u;
  int kind;
  const char *text; /* the line (NULL at end of input) or the word */
  size_t len;
  int count;
  int ready;   /* CALL_READY's answer */
  int started; /* the Lua callback was called */
} call;

static void add_completions(lua_State *T, asx_repl *repl) {
  int i, n;
  if (!lua_istable(T, -1))
    return;
  n = (int)lua_objlen(T, -1);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(T, -1, i);
    if (lua_type(T, -1) == LUA_TSTRING)
      asx_repl_add_completion(repl, lua_tostring(T, -1));
    lua_pop(T, 1);
  }
}

static int run_call(lua_State *T) {
  lrepl *u = lua_touserdata(T, lua_upvalueindex(1));
  call *c = u->pending;
  switch (c->kind) {
  case CALL_LINE:
    lua_rawgeti(T, LUA_REGISTRYINDEX, u->ref_on_line);
    if (c->text)
      lua_pushlstring(T, c->text, c->len);
    else
      lua_pushnil(T);
    c->started = 1;
    lua_call(T, 1, 1);
    /* An error on_line had no memory left to print. */
    if (lua_type(T, -1) == LUA_TSTRING) {
      size_t len;
      const char *msg = lua_tolstring(T, -1, &len);
      fflush(stdout);
      fflush(stderr);
      asx_fmt_terminal_write(2, msg, len);
      asx_fmt_terminal_write(2, "\n", 1);
    }
    break;
  case CALL_INTERRUPT:
    lua_rawgeti(T, LUA_REGISTRYINDEX, u->ref_on_interrupt);
    lua_pushinteger(T, c->count);
    c->started = 1;
    lua_call(T, 1, 0);
    break;
  case CALL_COMPLETE:
    lua_rawgeti(T, LUA_REGISTRYINDEX, u->ref_complete);
    lua_pushlstring(T, c->text, c->len);
    c->started = 1;
    lua_call(T, 1, 1);
    add_completions(T, u->repl);
    break;
  case CALL_READY:
    lua_rawgeti(T, LUA_REGISTRYINDEX, u->ref_ready);
    c->started = 1;
    lua_call(T, 0, 1);
    c->ready = lua_toboolean(T, -1);
    break;
  case CALL_BREAK:
    lua_rawgeti(T, LUA_REGISTRYINDEX, u->ref_on_break);
    c->started = 1;
    lua_call(T, 0, 0);
    break;
  default: /* CALL_COLLECT: finalizers run, and may raise */
    c->started = 1;
    lua_gc(T, LUA_GCCOLLECT, 0);
    break;
  }
  return 0;
}

/* Returns 0, or -1 with the error on T's stack. A callback may call another
 * (on_line's r:prompt asks ready()), so each try names its call again. */
static int try_call(call *c) {
  lua_State *T = c->u->T;
  int tries;
  for (tries = 0; tries < 10; tries++) {
    c->started = 0;
    c->u->pending = c;
    lua_rawgeti(T, LUA_REGISTRYINDEX, c->u->ref_run);
    if (lua_pcall(T, 0, 0, 0) == 0)
      return 0;
    if (c->started || tries == 9)
      break;
    lua_pop(T, 1);
  }
  return -1;
}

/* A close during a call (quit() typed at the prompt) leaves T and u
 * pinned until the call is over: T runs the call, and unpinned, a
 * collection inside a coroutine that the rest of the line runs would free
 * it under the call. pin returns T, which unpin needs after a close. */
static lua_State *pin(lrepl *u) {
  u->calls++;
  return u->T;
}

static void unpin(lrepl *u, lua_State *T) {
  if (--u->calls == 0 && !u->repl)
    unref_all(T, u);
}

/* Returns 0, or -1 after reporting the error. */
static int protected_call(call *c, const char *where) {
  lua_State *T = pin(c->u);
  int rc = try_call(c);
  if (rc != 0)
    report(T, c->started ? where : "calling it");
  unpin(c->u, T);
  return rc;
}

static int cb_ready(void *data);

/* The next prompt when the callback that should have asked for it did not
 * (it failed before r:prompt, for want of memory): as r:prompt would have
 * asked, once ready() says so when the owner gave one, so that a piped line
 * never runs inside a step the failed line started. */
static void prompt_again(lrepl *u, const char *prompt) {
  if (u->ref_ready != LUA_NOREF)
    asx_repl_prompt_when(u->repl, prompt, cb_ready, u);
  else
    asx_repl_prompt(u->repl, prompt);
}

/* A line needs memory before on_line runs (its string). When none is left
 * (a global keeps nearly all of it), the garbage is collected and the line
 * tried again; failing that, it is dropped with a word on stderr. Whatever
 * on_line did, the next line is asked for unless on_line asked for it: a
 * prompt that never comes leaves the reader waiting for ever, end of input
 * unread. End of input (line NULL, which needs no memory) frees the
 * reserve first. */
static void cb_line(void *data, const char *line, size_t len) {
  call c = { data, CALL_LINE, line, len, 0, 0, 0 };
  call collect = { data, CALL_COLLECT, NULL, 0, 0, 0, 0 };
  lrepl *u = c.u;
  lua_State *T;
  int rc;
  if (!u->T)
    return;
  T = pin(u);
  u->asked = 0;
  if (!line)
    release_reserve(u);
  rc = try_call(&c);
  if (rc != 0 && !c.started) {
    lua_pop(T, 1);
    if (try_call(&collect) != 0)
      lua_pop(T, 1);
    rc = try_call(&c);
  }
  if (rc != 0)
    report(T, c.started ? "on_line" : "reading the line (it was not run)");
  if (line && u->repl && !u->asked)
    prompt_again(u, u->last_prompt);
  unpin(u, T);
}

/* As for a line: the next prompt comes, whatever on_interrupt did. */
static void cb_interrupt(void *data, int count) {
  call c = { data, CALL_INTERRUPT, NULL, 0, count, 0, 0 };
  lrepl *u = c.u;
  if (!u->T)
    return;
  u->asked = 0;
  if (u->ref_on_interrupt != LUA_NOREF) {
    lua_State *T = pin(u);
    if (try_call(&c) != 0)
      report(T, c.started ? "on_interrupt" : "calling it");
    if (u->repl && !u->asked)
      prompt_again(u, u->last_prompt);
    unpin(u, T);
  } else if (u->repl) {
    prompt_again(u, u->last_prompt);
  }
}

/* The source names of asx's own Lua files begin with this (repl_open's
 * library): "@/.../lua/asx/". */
static char library[4096];

/* Whether asx's own Lua code runs above the line typed at the prompt (or
 * anywhere, outside one): a call to the library is not interrupted half
 * way, since a delivery to the loggers cut short would leave the exchange
 * refusing every order as if a logger traded, and a logger interrupted
 * would be detached as failed. */
static int in_library(lua_State *L) {
  lua_Debug where;
  size_t n = strlen(library);
  if (n == 0)
    return 0;
  for (int level = 0; lua_getstack(L, level, &where); level++) {
    if (!lua_getinfo(L, "S", &where))
      continue;
    if (strncmp(where.source, "=stdin", 6) == 0)
      return 0;
    if (strncmp(where.source, library, n) == 0)
      return 1;
  }
  return 0;
}

/* An interrupt meant for an agent (Ctrl-C while it holds the loop, at the
 * prompt or during a step) is for the resume that ran when it came: the
 * scheduler and its resume count then. A hook that has not fired when that
 * agent yields must not fail the next one. */
static lsched *volatile agent_sched;
static volatile uint64_t agent_resume;

/* Raises "stdin:3: interrupted", naming the line typed at the prompt that
 * was running (luaL_error's level 1 means nothing inside a hook), or else
 * the innermost Lua line: a global read goes through the REPL's own
 * environment function, which is not what the user wants to hear of. While
 * the library runs, the hook waits: it fires again at the next call, return
 * or instruction. */
static void hook_interrupt(lua_State *L, lua_Debug *ar) {
  lua_Debug where;
  int level, typed;
  char at[LUA_IDSIZE + 16] = "";
  lsched *target = agent_sched;
  (void)ar;
  if (target && (asx__lua_running != target ||
                 asx_sched_resumes(target->s) != agent_resume)) {
    lua_sethook(L, NULL, 0, 0); /* that agent has yielded since */
    agent_sched = NULL;
    return;
  }
  if (in_library(L))
    return;
  agent_sched = NULL;
  lua_sethook(L, NULL, 0, 0);
  for (level = 0; lua_getstack(L, level, &where); level++) {
    if (!lua_getinfo(L, "Sl", &where) || where.currentline <= 0)
      continue;
    typed = strncmp(where.source, "=stdin", 6) == 0;
    if (typed || at[0] == '\0')
      snprintf(at, sizeof at, "%s:%d: ", where.short_src, where.currentline);
    if (typed)
      break;
  }
  lua_pushfstring(L, "%sinterrupted", at);
  lua_error(L);
}

/* In the signal handler: lua_sethook is the one Lua call that is safe
 * there (it only stores the hook and its mask). Hooks are the Lua state's,
 * so the hook set on the reader's thread fires in an agent as well. Outside
 * a line, only an agent that is running is interrupted. */
static void cb_signal(void *data, int line) {
  lrepl *u = data;
  lsched *ls = asx__lua_running;
  if (!u->T)
    return;
  if (line) {
    agent_sched = NULL;
  } else {
    if (!ls || asx_sched_current(ls->s) == ASX_SCHED_NONE)
      return;
    agent_resume = asx_sched_resumes(ls->s);
    agent_sched = ls;
  }
  lua_sethook(u->T, hook_interrupt, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* On the loop, once the interrupt has been taken: an agent's hook that did
 * not fire (the agent ran compiled code, and has yielded) goes. */
static void cb_break(void *data) {
  call c = { data, CALL_BREAK, NULL, 0, 0, 0, 0 };
  if (agent_sched && c.u->T && lua_gethook(c.u->T) == hook_interrupt) {
    lua_sethook(c.u->T, NULL, 0, 0);
    agent_sched = NULL;
  }
  if (c.u->T && c.u->ref_on_break != LUA_NOREF)
    protected_call(&c, "on_break");
}

/* From the reader's thread (asx_repl.h's held), with the prompt up: whether
 * the agent that runs has run since the last looks without yielding. The
 * fields are read as the stuck-agent watchdog reads them, from another
 * thread, under the lock that keeps the running session from ending (and
 * being collected) meanwhile. */
static int cb_held(void *data) {
  static lsched *seen;
  static uint64_t seen_resume;
  static int looks;
  lsched *ls;
  uint64_t r = 0;
  int running;
  (void)data;
  pthread_mutex_lock(&asx__lua_running_mu);
  ls = asx__lua_running;
  running = ls && asx_sched_current(ls->s) != ASX_SCHED_NONE;
  if (running)
    r = asx_sched_resumes(ls->s);
  pthread_mutex_unlock(&asx__lua_running_mu);
  if (!running) {
    seen = NULL;
    return 0;
  }
  if (ls != seen || r != seen_resume) {
    seen = ls;
    seen_resume = r;
    looks = 0;
    return 0;
  }
  /* Four looks, 0.2 s: a turn that long keeps the keys waiting. */
  return ++looks >= 4;
}

static void cb_complete(void *data, const char *word) {
  call c = { data, CALL_COMPLETE, word, strlen(word), 0, 0, 0 };
  if (c.u->T && c.u->ref_complete != LUA_NOREF)
    protected_call(&c, "complete");
}

/* Checks a callback field before anything is allocated, so that a bad
 * argument leaves no registry references behind. */
static void check_fn(lua_State *L, const char *field, int required) {
  lua_getfield(L, 1, field);
  if (!(lua_isfunction(L, -1) || (!required && lua_isnil(L, -1))))
    luaL_error(L, "bad argument #1 to 'repl_open' (function expected for "
                  "field '%s', got %s)",
               field, luaL_typename(L, -1));
  lua_pop(L, 1);
}

static int opt_ref(lua_State *L, const char *field) {
  lua_getfield(L, 1, field);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return LUA_NOREF;
  }
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

static int l_repl_open(lua_State *L) {
  lrepl *u;
  const char *history = NULL, *err = NULL;
  asx_repl_callbacks cb;
  int rc;
  luaL_checktype(L, 1, LUA_TTABLE);
  check_fn(L, "on_line", 1);
  check_fn(L, "on_interrupt", 0);
  check_fn(L, "complete", 0);
  check_fn(L, "on_break", 0);
  lua_getfield(L, 1, "history");
  if (!lua_isnil(L, -1) && lua_toboolean(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING)
      return luaL_error(L, "bad argument #1 to 'repl_open' (string expected "
                           "for field 'history', got %s)",
                        luaL_typename(L, -1));
    history = lua_tostring(L, -1);
  }
  /* The history string stays on the stack, so it lives until the end. */
  lua_getfield(L, 1, "library");
  if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
    return luaL_error(L, "bad argument #1 to 'repl_open' (string expected "
                         "for field 'library', got %s)",
                      luaL_typename(L, -1));
  snprintf(library, sizeof library, "%s", lua_isnil(L, -1) ? "" : lua_tostring(L, -1));
  lua_pop(L, 1);

  u = lua_newuserdata(L, sizeof *u);
  memset(u, 0, sizeof *u);
  u->ref_self = u->ref_thread = u->ref_on_line = LUA_NOREF;
  u->ref_on_interrupt = u->ref_complete = u->ref_ready = LUA_NOREF;
  u->ref_on_break = u->ref_run = LUA_NOREF;
  luaL_getmetatable(L, REPL_MT);
  lua_setmetatable(L, -2);

  u->ref_on_line = opt_ref(L, "on_line");
  u->ref_on_interrupt = opt_ref(L, "on_interrupt");
  u->ref_complete = opt_ref(L, "complete");
  u->ref_on_break = opt_ref(L, "on_break");
  u->T = lua_newthread(L);
  u->ref_thread = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushlightuserdata(L, u);
  lua_pushcclosure(L, run_call, 1);
  u->ref_run = luaL_ref(L, LUA_REGISTRYINDEX);
  u->reserve = mmap(NULL, RESERVE_BYTES, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (u->reserve == MAP_FAILED)
    u->reserve = NULL;

  cb.on_line = cb_line;
  cb.on_interrupt = cb_interrupt;
  cb.on_complete = cb_complete;
  cb.on_signal = cb_signal;
  cb.on_break = cb_break;
  cb.held = cb_held;
  cb.data = u;
  rc = asx_repl_open(uv_default_loop(), 0, history, &cb, &u->repl, &err);
  if (rc < 0) {
    unref_all(L, u);
    lua_pushnil(L);
    lua_pushfstring(L, "%s (%s)", err ? err : "cannot open", asx_strerror(rc));
    return 2;
  }
  lua_pushvalue(L, -1);
  u->ref_self = luaL_ref(L, LUA_REGISTRYINDEX);
  return 1;
}

static lrepl *check_open(lua_State *L, const char *fn) {
  lrepl *u = luaL_checkudata(L, 1, REPL_MT);
  if (!u->repl)
    luaL_error(L, "bad argument #1 to '%s' (line reader is closed)", fn);
  return u;
}

/* An error in ready() counts as ready: a prompt that never comes back
 * would leave the user with no way to type quit(). Running out of memory
 * is not ready()'s error but the state's (a line keeps nearly all of it in
 * a global): it goes unsaid, as the line that took the memory said it. */
static int cb_ready(void *data) {
  call c = { data, CALL_READY, NULL, 0, 0, 0, 0 };
  lrepl *u = c.u;
  lua_State *T;
  int rc;
  if (!u->T || u->ref_ready == LUA_NOREF)
    return 1;
  T = pin(u);
  rc = try_call(&c);
  if (rc != 0) {
    if (lua_type(T, -1) == LUA_TSTRING && strcmp(lua_tostring(T, -1), "not enough memory") == 0)
      lua_pop(T, 1);
    else
      report(T, c.started ? "prompt's ready function" : "calling it");
  }
  unpin(u, T);
  return rc != 0 || c.ready;
}

static int l_prompt(lua_State *L) {
  lrepl *u = check_open(L, "prompt");
  const char *prompt = luaL_optstring(L, 2, "");
  int ref;
  u->asked = 1;
  snprintf(u->last_prompt, sizeof u->last_prompt, "%s", prompt);
  if (lua_isnoneornil(L, 3)) {
    asx_repl_prompt(u->repl, prompt);
    return 0;
  }
  luaL_checktype(L, 3, LUA_TFUNCTION);
  /* The new reference first: luaL_ref may raise (it can allocate), and the
   * old one must not be freed twice when the call is tried again. */
  lua_pushvalue(L, 3);
  ref = luaL_ref(L, LUA_REGISTRYINDEX);
  luaL_unref(L, LUA_REGISTRYINDEX, u->ref_ready);
  u->ref_ready = ref;
  asx_repl_prompt_when(u->repl, prompt, cb_ready, u);
  return 0;
}

/* r:print(text [, "stderr"]): see asx_repl_print. */
static int l_print(lua_State *L) {
  lrepl *u = check_open(L, "print");
  size_t len;
  const char *text = luaL_checklstring(L, 2, &len);
  const char *stream = luaL_optstring(L, 3, "stdout");
  FILE *out;
  if (strcmp(stream, "stdout") == 0)
    out = stdout;
  else if (strcmp(stream, "stderr") == 0)
    out = stderr;
  else
    return luaL_argerror(L, 3, "'stdout' or 'stderr' expected");
  asx_repl_print(u->repl, out, text, len);
  return 0;
}

/* r:pcall(f, ...): pcall(f, ...) during which Ctrl-C interrupts f. The
 * window opens and closes here in C, where no hook can fire: closed from
 * Lua, a Ctrl-C just before the closing call would raise in that call,
 * outside any pcall. Closing also removes a hook that a Ctrl-C set but no
 * Lua code met yet: it must not fire in whatever runs next. */
static int l_pcall(lua_State *L) {
  lrepl *u = check_open(L, "pcall");
  int rc;
  luaL_checktype(L, 2, LUA_TFUNCTION);
  asx_repl_interruptible(u->repl, 1);
  rc = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
  if (u->repl) /* f may have closed the reader (quit) */
    asx_repl_interruptible(u->repl, 0);
  if (lua_gethook(L) == hook_interrupt)
    lua_sethook(L, NULL, 0, 0);
  lua_pushboolean(L, rc == 0);
  lua_replace(L, 1);
  return lua_gettop(L);
}

static int l_mode(lua_State *L) {
  lrepl *u = check_open(L, "mode");
  switch (asx_repl_mode(u->repl)) {
  case ASX_REPL_TTY: lua_pushliteral(L, "tty"); break;
  case ASX_REPL_PIPE: lua_pushliteral(L, "pipe"); break;
  default: lua_pushliteral(L, "file"); break;
  }
  return 1;
}

static int l_reading(lua_State *L) {
  lrepl *u = check_open(L, "reading");
  lua_pushboolean(L, asx_repl_reading(u->repl));
  return 1;
}

static int l_unread(lua_State *L) {
  lrepl *u = check_open(L, "unread");
  lua_pushboolean(L, asx_repl_unread(u->repl));
  return 1;
}

/* r:leftover() -> text, more: up to LEFTOVER_MAX bytes of the input left
 * (asx_repl_leftover); more is true when there was more. */
#define LEFTOVER_MAX 65536
static int l_leftover(lua_State *L) {
  lrepl *u = check_open(L, "leftover");
  char *buf = malloc(LEFTOVER_MAX);
  size_t n;
  int more;
  if (buf == NULL)
    return luaL_error(L, "leftover: not enough memory");
  n = asx_repl_leftover(u->repl, buf, LEFTOVER_MAX, &more);
  lua_pushlstring(L, buf, n);
  free(buf);
  lua_pushboolean(L, more);
  return 2;
}

/* Safe to call twice and from __gc. */
static int l_close(lua_State *L) {
  lrepl *u = luaL_checkudata(L, 1, REPL_MT);
  if (u->repl) {
    asx_repl_close(u->repl);
    u->repl = NULL;
    if (!u->calls)
      unref_all(L, u);
  }
  return 0;
}

int asx__lua_open_repl(lua_State *L) {
  static const luaL_Reg methods[] = {
    { "prompt", l_prompt },   { "mode", l_mode }, { "reading", l_reading },
    { "print", l_print },     { "pcall", l_pcall },       { "unread", l_unread },
    { "leftover", l_leftover },
    { "close", l_close },     { NULL, NULL }
  };
  if (luaL_newmetatable(L, REPL_MT)) {
    lua_newtable(L);
    luaL_register(L, NULL, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__gc");
    /* Hidden from getmetatable: Lua code could replace the __gc with one
     * that raises, which crashes LuaJIT when it runs. */
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_repl_open);
  lua_setfield(L, -2, "repl_open");
  return 0;
}
