/* The scheduler: many agents, one thread, one libuv loop, two clocks.
 *
 * An agent is a small integer (from 0, in the order agents were added). The
 * scheduler knows nothing of what an agent is: when an agent's time comes it
 * calls the resume function given to asx_sched_new, and that function (the
 * Lua binding resumes a coroutine there) asks for the next wake-up with
 * asx_sched_wake or ends the agent with asx_sched_finish. An agent that
 * returns from the resume function without doing either has finished.
 *
 * Wake-ups live in one queue ordered by (time, seq) (asx_wakeq.h, O(1) per
 * wake-up); seq only grows, so equal times wake in the order they were set
 * and a virtual-clock run is repeatable. Each agent has at most one pending
 * wake-up, and ending an agent removes it: a finished or stopped agent is
 * never resumed again.
 *
 * Clocks. ASX_CLOCK_VIRTUAL is discrete-event: time jumps to the next wake-up
 * and batches of wake-ups run from a uv_idle handle, so the loop still polls
 * for I/O (signals, loggers, the REPL) between batches without blocking.
 * ASX_CLOCK_REAL measures session time as wall time since the run began,
 * times a speed factor, and sleeps in one uv_timer set to the next due
 * wake-up; while wake-ups are due, its batches too run from the idle handle,
 * so that the loop polls between them however far behind the agents are.
 * Neither clock uses a libuv handle per agent.
 *
 * A session ends when stopped, when no wake-up is pending and no agent runs,
 * or when the next wake-up lies beyond the duration (a wake-up at exactly the
 * duration still runs, but one set at that instant for that instant lies
 * beyond it); in the last case the clock ends at the duration. A stop on the
 * real clock ends it at the time measured then.
 *
 * Ownership: the caller owns the scheduler and frees it with asx_sched_free.
 * The scheduler owns its arrays and its libuv handles, which exist only
 * between the start of a session and its end.
 *
 * Calls that can be refused return 0 or a negative ASX_SCHED_E* code and
 * change nothing when they refuse.
 */
#ifndef ASX_SCHED_H
#define ASX_SCHED_H

#include <stdint.h>
#include <uv.h>

#include "asx_err.h"

enum {
  ASX_CLOCK_REAL = 0,
  ASX_CLOCK_VIRTUAL = 1
};

/* The life of an agent. Terminal states are FINISHED, FAILED and STOPPED. */
enum {
  ASX_AGENT_IDLE = 0,    /* added, no wake-up pending, not running */
  ASX_AGENT_WAITING = 1, /* a wake-up is pending */
  ASX_AGENT_RUNNING = 2, /* inside the resume function */
  ASX_AGENT_FINISHED = 3,
  ASX_AGENT_FAILED = 4,
  ASX_AGENT_STOPPED = 5
};

/* The state of the session as a whole. */
enum {
  ASX_SESSION_NEW = 0,    /* not started */
  ASX_SESSION_RUNNING = 1,
  ASX_SESSION_PAUSED = 2, /* started; advances only on asx_sched_step */
  ASX_SESSION_ENDED = 3
};


#define ASX_SCHED_NONE UINT32_MAX /* "no agent" */

typedef struct asx_sched asx_sched;

/* Called for each due wake-up with the agent's state ASX_AGENT_RUNNING and
 * asx_sched_now() at its time. This is the only place agents run. udata is
 * the agent's (asx_sched_udata) and rng its generator's state
 * (asx_sched_rng_state), handed over from the line the scheduler has just
 * read for the wake-up: a resume needs both, and a call for each cost a
 * million first turns some 18 instructions apiece. */
typedef void (*asx_sched_resume_fn)(asx_sched *s, uint32_t agent, void *udata,
                                    uint64_t *rng, void *data);

/* What a resume reads first, fetched into the cache while earlier agents
 * run: for the agent due to run a dozen turns ahead, at each resume, the
 * bytes from `before` bytes before the address its udata holds
 * (asx_sched_set_udata) to `after` bytes after it (the Lua binding: the
 * coroutine's state and what lies around it). A prefetch
 * never faults, so an agent's udata may point to memory since freed. The
 * scheduler itself fetches these agents' slots and the first line each
 * udata points to a few turns earlier still. 0 and 0 (the default): no
 * span is fetched. ASX_E_ARG for a span over ASX_SCHED_SPAN_MAX bytes. */
#define ASX_SCHED_SPAN_MAX 448 /* at most 8 cache lines, wherever it starts */
int asx_sched_prefetch_span(asx_sched *s, uint32_t before, uint32_t after);

/* The courier: messages in flight between the agents and what they act on
 * (the Lua binding carries orders that reach the book later than they were
 * sent). It is not an agent and needs no slot, no wake-up of its own and no
 * libuv handle: the scheduler keeps one time, that of the first message in
 * flight, and once it comes calls fn before any agent due at the same time,
 * with asx_sched_now() at that time and no agent current. fn delivers one
 * message and sets the time of the next with asx_sched_courier_at. While a
 * courier time is pending the session goes on, as for a wake-up; one beyond
 * the duration ends it like a wake-up would. */
typedef void (*asx_sched_courier_fn)(asx_sched *s, void *data);
void asx_sched_on_courier(asx_sched *s, asx_sched_courier_fn fn);
/* Sets the courier's time: >= now, or INFINITY for no message in flight.
 * ASX_E_ARG for an earlier time or NaN, ASX_E_STATE without a courier
 * function or once the session has ended; nothing changes then. */
int asx_sched_courier_at(asx_sched *s, double time);
double asx_sched_courier_time(const asx_sched *s);
/* Inside the courier function only: code that runs on behalf of agent (a
 * handler of the agent's own) draws from its generator and is the current
 * agent for asx_sched_current and the stuck-agent watchdog, as in a resume
 * of its own; ASX_SCHED_NONE ends that. ASX_E_STATE outside the courier,
 * ASX_E_ARG for an agent that does not exist. */
int asx_sched_act_for(asx_sched *s, uint32_t agent);

/* Called once when the session ends, after the last resume. Optional. */
typedef void (*asx_sched_end_fn)(asx_sched *s, void *data);

/* A new scheduler on loop (NULL: uv_default_loop()). seed seeds every
 * agent's random generator. Returns NULL when out of memory or when clock or
 * resume is invalid. */
asx_sched *asx_sched_new(uv_loop_t *loop, int clock, uint64_t seed,
                         asx_sched_resume_fn resume, void *data);

/* Frees the scheduler. Must not be called from the resume function. If the
 * session is still started its handles are closed first and the memory is
 * released by their close callbacks on the next turn of the loop. */
void asx_sched_free(asx_sched *s);

void asx_sched_on_end(asx_sched *s, asx_sched_end_fn fn);

/* Adds n agents in state IDLE; *first receives the first one's number. */
int asx_sched_add(asx_sched *s, uint32_t n, uint32_t *first);
uint32_t asx_sched_count(const asx_sched *s);

/* Sets agent's wake-up at now + delay. delay must be finite and >= 0; the
 * agent must be IDLE or RUNNING (a pending wake-up is not silently moved).
 * A delay of 0 runs after every wake-up already due now; a sum past the
 * largest double is that largest double (DBL_MAX). */
int asx_sched_wake(asx_sched *s, uint32_t agent, double delay);

/* Moves agent's wake-up, when it is the next due, to now + delay if that
 * is sooner: the REPL's `me` sleeps in one wake-up to the end of a step
 * with nothing else to run, and a pause that cut the step short would
 * otherwise leave the clock to jump there at the next resume. Only the
 * next wake-up can move (asx_wakeq.h: a removed entry stays linked), and
 * it moves at no cost. Returns 0, ASX_E_ARG, ASX_E_STATE when agent is
 * not waiting or another wake-up (or a message) comes first, or
 * ASX_E_NOMEM as asx_sched_wake (then the agent is idle, with no wake-up). */
int asx_sched_rewake(asx_sched *s, uint32_t agent, double delay);

/* Ends an agent with a terminal state and removes its pending wake-up. An
 * agent already ended keeps its first terminal state (returns E_STATE). */
int asx_sched_finish(asx_sched *s, uint32_t agent, int state);

int asx_sched_state(const asx_sched *s, uint32_t agent);

/* One pointer per agent for the caller (NULL until set), kept in the slot
 * a resume reads anyway: the Lua binding keeps the agent's coroutine there,
 * so that a resume needs no table look-up. The scheduler never uses it. */
int asx_sched_set_udata(asx_sched *s, uint32_t agent, void *udata);
void *asx_sched_udata(const asx_sched *s, uint32_t agent);

/* The agent inside the resume function, or ASX_SCHED_NONE. */
uint32_t asx_sched_current(const asx_sched *s);

/* Session time in seconds: the time of the wake-up being run, and after the
 * session ended the time it ended at. */
double asx_sched_now(const asx_sched *s);

/* The session ends once the next wake-up lies beyond duration. A negative
 * or infinite duration (the default) means no limit. */
int asx_sched_set_duration(asx_sched *s, double duration);
double asx_sched_duration(const asx_sched *s);

/* Real clock only: session seconds per wall second (> 0, default 1). */
int asx_sched_set_speed(asx_sched *s, double speed);
double asx_sched_speed(const asx_sched *s);

int asx_sched_clock(const asx_sched *s);
int asx_sched_session_state(const asx_sched *s);

/* Starts the session without blocking: the loop's owner drives it. */
int asx_sched_start(asx_sched *s);

/* Starts the session if needed and runs the loop until the session ends.
 * Must not be called from inside the loop (a libuv callback). */
int asx_sched_run(asx_sched *s);

/* Ends the session: no agent is resumed again. Safe from the resume
 * function (the running agent finishes its turn first). */
void asx_sched_stop(asx_sched *s);

/* Pauses (on = 1) or resumes (on = 0) a started session. While paused the
 * session advances only through asx_sched_step. Pausing during a step ends
 * the step where it got to. */
int asx_sched_pause(asx_sched *s, int on);

/* While paused: runs every wake-up up to now + seconds, then leaves the clock
 * at now + seconds, still paused. It happens on the loop, in batches;
 * asx_sched_stepping tells whether it is still under way. */
int asx_sched_step(asx_sched *s, double seconds);
int asx_sched_stepping(const asx_sched *s);

/* Resumes made so far (a cheap progress counter). */
uint64_t asx_sched_resumes(const asx_sched *s);

/* The next number of agent's generator (splitmix64, seeded from the
 * session seed and the agent's number); ASX_SCHED_NONE draws from the
 * session's own generator. */
uint64_t asx_sched_rand(asx_sched *s, uint32_t agent);
/* The same draw as a double in [0, 1) with 53 random bits. */
double asx_sched_rand01(asx_sched *s, uint32_t agent);
/* The state of agent's generator (ASX_SCHED_NONE: the session's), for a
 * binding that makes the running agent's draws itself, as asx_sched_rand01
 * makes them (splitmix64: add the golden gamma, mix, keep 53 bits). Valid
 * until asx_sched_add, which may move the agents. */
uint64_t *asx_sched_rng_state(asx_sched *s, uint32_t agent);

/* ASX_FFI_BEGIN */
/* A draw in [0, 1) for the agent that is running now, from its own
 * generator; outside agents, from the session generator of the scheduler
 * whose batch runs, else the one that ran or was made last. A plain call
 * with no arguments, so that the Lua side reaches it through the FFI from
 * compiled traces. */
double asx_sched_draw(void);
/* A book's clock (asx_book_set_clock) that follows a session: sched is the
 * asx_sched, and the time is that of the wake-up run last, or -1 before the
 * first one (the book then keeps its own). */
double asx_sched_clock_time(const void *sched);
/* ASX_FFI_END */

/* Names agents for the message printed when a second signal kills the
 * process: asx_sched_group returns the index of a name (copied), and
 * asx_sched_label gives an agent a group and a number ("name#number").
 * Agents are labelled in the order they were added, each at most once
 * (else E_STATE): labels are kept as runs of consecutive agents with
 * consecutive numbers, a few bytes for a whole strategy's agents. */
int asx_sched_group(asx_sched *s, const char *name);
int asx_sched_label(asx_sched *s, uint32_t agent, int group, uint32_t number);
/* Writes "name#number" (or "agent N") for agent into buf; returns buf. */
char *asx_sched_describe(const asx_sched *s, uint32_t agent, char *buf,
                         size_t size);

/* Makes SIGINT, SIGTERM and SIGHUP stop this session gracefully while it is
 * started (on = 1), with prog prefixing the messages. The handler is a real
 * sigaction handler: the first signal stops the session before the next
 * resume, waking the loop through a uv_async; a second one writes which
 * agent was running (and where, when a report said so: asx_sched_watch) and
 * calls _exit(128 + signal), so an agent that never yields cannot make the
 * process unkillable. The previous handlers come back when the session
 * ends. */
int asx_sched_catch_signals(asx_sched *s, int on, const char *prog);
/* The signal that stopped the session, or 0. */
int asx_sched_signal(const asx_sched *s);

/* Called by a second signal just before it exits the process, in the
 * signal handler: it must be async-signal-safe (asx-host lets the log
 * files' writes under way end, so that no line is cut). */
typedef void (*asx_sched_quit_fn)(void);
void asx_sched_on_forced_quit(asx_sched *s, asx_sched_quit_fn fn);

/* Agents that do not yield. While the session is started, a watchdog
 * thread looks a few times a second at how long the running agent has
 * run. It asks for a report once an agent has run `seconds` of wall time
 * without returning (0, the default: never), and once a stopping signal
 * has waited 0.3 s for the running agent (when signals are caught).
 *
 * The report is made by fn, called in a SIGURG handler on the thread that
 * started the session, with the agent that is stuck: only what is safe in
 * a signal handler may happen there (the Lua binding arms a debug hook,
 * which is safe there, and reports from the hook). The reporter claims the
 * report with asx_sched_stuck_claim, and gives the agent's position
 * ("file:line") to asx_sched_stuck_reported, for the message of a second
 * signal. When nobody claims the report within half a second, the
 * watchdog writes the warning itself, without the position; a hook that
 * fires later in the same resume (the agent was in a long C call) may
 * still claim it, and gives the position then. Set before
 * the session starts; fn may be NULL. */
typedef void (*asx_sched_stuck_fn)(asx_sched *s, uint32_t agent, void *data);
int asx_sched_watch(asx_sched *s, double seconds, asx_sched_stuck_fn fn);

enum {
  ASX_STUCK_NONE = 0,    /* no report is due (the agent has yielded since) */
  ASX_STUCK_WARNING = 1, /* it ran past the warning time */
  ASX_STUCK_SIGNAL = 2   /* a stopping signal waits for it */
};
/* Takes the report due now for the running agent: returns what it is
 * about, or ASX_STUCK_NONE when none is due (the agent has yielded since,
 * or the report was made). asx_sched_stuck_for says how long the agent had
 * run when the report was asked for (seconds of wall time). */
int asx_sched_stuck_claim(asx_sched *s);
double asx_sched_stuck_for(const asx_sched *s);
void asx_sched_stuck_reported(asx_sched *s, const char *where);

#endif
