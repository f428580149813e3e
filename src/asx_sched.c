/* The scheduler (see asx_sched.h for the model).
 *
 * Data structures, indexed by agent number and grown together by
 * asx_sched_add, so that an agent costs about 35 bytes and no libuv handle:
 *   ag[a]     its splitmix64 state and the caller's pointer (asx_sched_udata:
 *             the Lua binding keeps the agent's coroutine there), in one
 *             16-byte slot, so that a resume touches one cache line;
 *   st[a]     its state, one byte;
 *   q         the wake-up queue (asx_wakeq.h): 16 bytes per agent and O(1)
 *             per wake-up however many agents there are;
 *   labels    runs of consecutive agents with consecutive numbers in one
 *             group, which is how sessions add them: a few runs in all.
 *
 * Costs: wake, finish and each resume O(1) amortized.
 *
 * Batches. Each turn of the libuv loop runs at most ASX_SCHED_BATCH wake-ups
 * and then returns to the loop, so a signal, a logger's socket or the REPL
 * is served at least every few hundred microseconds even when thousands of
 * agents are due at the same instant.
 *
 * Deliberately not supported: more than one pending wake-up per agent,
 * moving a pending wake-up (finish the agent or let it run), and running two
 * sessions' batches inside each other.
 */
#include "asx_sched.h"
#include "asx_array.h"
#include "asx_wakeq.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ASX_SCHED_BATCH 1024
/* How many agents ahead the prefetch function looks; the slots are
 * fetched one further. Deeper did not measure faster. */
#define PREFETCH_DEPTH 2
#define GOLDEN 0x9E3779B97F4A7C15ULL

/* What the scheduler keeps per agent for a resume, together so that one
 * cache line serves it: its generator and the caller's pointer. */
typedef struct agent_slot {
  uint64_t rng; /* splitmix64 state */
  void *udata;  /* see asx_sched_set_udata */
} agent_slot;

/* A run of labels: agents first .. first + count - 1 are in group, with
 * the numbers number .. number + count - 1. */
typedef struct label_run {
  uint32_t first, count, number;
  uint16_t group;
} label_run;

enum { S_NEW = 0, S_STARTED = 1, S_ENDED = 2 };

struct asx_sched {
  uv_loop_t *loop;
  asx_sched_resume_fn resume;
  asx_sched_prefetch_fn prefetch;
  asx_sched_end_fn on_end;
  void *data;
  int clock;
  int state;  /* S_NEW, S_STARTED, S_ENDED */
  int paused;
  /* Set by asx_sched_stop and by the signal handler, which thereby stops a
   * batch before its next resume. */
  volatile sig_atomic_t stop_req;
  int stepping;
  int in_batch; /* inside run_batch: the resume function is on the stack */
  int free_on_close;
  int handles_open;
  double now;
  double resumed;  /* the time of the wake-up run last, -1 before any */
  double duration; /* INFINITY when there is none */
  double speed;
  double step_target;
  /* Real clock: session time = base_time + (uv_hrtime() - base_hr) * speed,
   * rebased whenever the speed changes or a pause ends. */
  uint64_t base_hr;
  double base_time;

  asx_wakeq *q;

  uint32_t n, cap;
  agent_slot *ag;
  uint8_t *st;      /* ASX_AGENT_* */
  label_run *labels; /* sorted by first */
  uint32_t nlabels, labels_cap;
  char **groups;
  int ngroups;

  uint64_t seed;
  uint64_t session_rng;
  /* Both are read by the signal handlers and the watchdog thread, hence
   * stored and loaded as relaxed atomics (plain moves on the hot path). */
  uint64_t resumes;
  volatile uint32_t current;

  int catch_signals;
  volatile sig_atomic_t async_ready; /* the uv_async exists */
  const char *prog;
  volatile sig_atomic_t signal;
  struct sigaction old_int, old_term;
  asx_sched_quit_fn on_forced_quit;

  /* The watchdog (see asx_sched_watch). The thread and its report live
   * while the session is started; stuck_* describe the report asked of
   * the session's thread, where the position it found. */
  double stuck_after; /* seconds; 0: no warning */
  asx_sched_stuck_fn on_stuck;
  pthread_t session_thread, watchdog;
  int watchdog_on, watchdog_quit;
  pthread_mutex_t wd_mu;
  pthread_cond_t wd_cv;
  struct sigaction old_urg;
  int stuck_kind;
  double stuck_for;
  uint64_t stuck_resume;  /* the resume a report is due for (atomic) */
  uint64_t where_resume;  /* where[] describes this resume (atomic) */
  char where[256];

  uv_idle_t idle;
  uv_timer_t timer;
  uv_async_t async;
};

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* ---- random numbers ---------------------------------------------------- */

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Each agent starts at a hashed point of the 2^64-long splitmix64 sequence,
 * so streams depend on the seed and the agent's position only, and two
 * agents' streams overlap with negligible probability. */
static uint64_t agent_seed(uint64_t seed, uint32_t agent) {
  return mix64(seed ^ mix64(((uint64_t)agent + 1) * 0xD1B54A32D192ED03ULL));
}

uint64_t asx_sched_rand(asx_sched *s, uint32_t agent) {
  uint64_t *state = agent < s->n ? &s->ag[agent].rng : &s->session_rng;
  *state += GOLDEN;
  return mix64(*state);
}

double asx_sched_rand01(asx_sched *s, uint32_t agent) {
  return (double)(asx_sched_rand(s, agent) >> 11) * 0x1.0p-53;
}

/* The scheduler asx_sched_draw uses: the one whose batch runs, else the
 * last one made or run. Cleared when it is freed. */
static asx_sched *active;

double asx_sched_draw(void) {
  static uint64_t fallback = 0x853c49e6748fea9bULL;
  if (!active) {
    fallback += GOLDEN;
    return (double)(mix64(fallback) >> 11) * 0x1.0p-53;
  }
  return asx_sched_rand01(active, active->current);
}

/* The time of the next wake-up, INFINITY when none is pending. */
static double next_time(asx_sched *s) {
  uint32_t a = asx_wakeq_peek(s->q);
  return a == ASX_WAKEQ_NONE ? INFINITY : asx_wakeq_time(s->q, a);
}

/* ---- clocks and batches ------------------------------------------------ */

static double real_now(const asx_sched *s) {
  if (s->paused)
    return s->base_time;
  return s->base_time + (double)(uv_hrtime() - s->base_hr) * 1e-9 * s->speed;
}

static void rebase(asx_sched *s, double t) {
  s->base_time = t;
  s->base_hr = uv_hrtime();
}

static void on_close(uv_handle_t *h) {
  asx_sched *s = h->data;
  if (--s->handles_open == 0 && s->free_on_close)
    asx_sched_free(s);
}

static void restore_signals(asx_sched *s);
static void watchdog_stop(asx_sched *s);

static void end_session(asx_sched *s) {
  if (s->state == S_ENDED)
    return;
  if (s->state == S_STARTED) {
    uv_close((uv_handle_t *)&s->idle, on_close);
    uv_close((uv_handle_t *)&s->timer, on_close);
    uv_close((uv_handle_t *)&s->async, on_close);
    s->async_ready = 0;
  }
  watchdog_stop(s);
  restore_signals(s);
  /* A stop on the real clock happens at the time measured then, not at
   * that of the last wake-up, which may lie long before. */
  if (s->stop_req && s->state == S_STARTED && s->clock == ASX_CLOCK_REAL &&
      !s->paused) {
    double t = real_now(s);
    if (t > s->duration)
      t = s->duration;
    if (t > s->now)
      s->now = t;
  }
  s->state = S_ENDED;
  s->stepping = 0;
  s->paused = 0;
  if (s->on_end)
    s->on_end(s, s->data);
}

/* Runs due wake-ups with time <= limit, at most ASX_SCHED_BATCH of them.
 * With jump set (virtual clock, or a step) the clock moves to each
 * wake-up's own time; otherwise (real clock) every wake-up of the batch runs
 * at time limit, which is the measured time. Returns 1 when it stopped for
 * the budget with more due, 0 when nothing more is due or it must stop. */
static int run_batch(asx_sched *s, double limit, int jump) {
  int budget = ASX_SCHED_BATCH;
  s->in_batch = 1;
  active = s;
  for (;;) {
    uint32_t a = asx_wakeq_peek(s->q), next;
    double t;
    if (a == ASX_WAKEQ_NONE || (t = asx_wakeq_time(s->q, a)) > limit)
      break;
    if (s->stop_req || (s->paused && !s->stepping)) {
      s->in_batch = 0;
      return 0;
    }
    if (budget-- == 0) {
      s->in_batch = 0;
      return 1;
    }
    asx_wakeq_pop(s->q);
    /* With many agents each one's state is cold by its turn, so it is
     * fetched ahead, in stages along the queue's order (which holds unless
     * this agent sleeps for less): the slot of the agent PREFETCH_DEPTH + 1
     * from here, and through the slot of the one before it, fetched a turn
     * ago, what that one's resume will read first (the prefetch function). */
    next = s->prefetch != NULL ? asx_wakeq_peek(s->q) : ASX_WAKEQ_NONE;
    if (next != ASX_WAKEQ_NONE) {
      uint32_t ahead = next, slot;
      for (int k = 1; k < PREFETCH_DEPTH; k++) {
        uint32_t a2 = asx_wakeq_hint_after(s->q, ahead);
        if (a2 == ASX_WAKEQ_NONE)
          break;
        ahead = a2;
      }
      slot = asx_wakeq_hint_after(s->q, ahead);
      if (slot < s->n)
        __builtin_prefetch(&s->ag[slot]);
      s->prefetch(s, ahead, s->data);
    }
    assert(s->st[a] == ASX_AGENT_WAITING && s->current == ASX_SCHED_NONE);
    s->now = s->resumed = jump ? t : limit;
    s->st[a] = ASX_AGENT_RUNNING;
    STORE(s->current, a);
    STORE(s->resumes, s->resumes + 1);
    s->resume(s, a, s->data);
    STORE(s->current, ASX_SCHED_NONE);
    /* Returning without sleeping is finishing. */
    if (s->st[a] == ASX_AGENT_RUNNING)
      s->st[a] = ASX_AGENT_FINISHED;
  }
  s->in_batch = 0;
  return 0;
}

static void on_idle(uv_idle_t *h);
static void on_timer(uv_timer_t *h);

static void arm_timer(asx_sched *s, double delta) {
  double ms = delta > 0 ? ceil(delta / s->speed * 1000.0) : 0;
  if (delta > 0 && ms < 1)
    ms = 1;
  if (ms > 1e15)
    ms = 1e15;
  uv_timer_start(&s->timer, on_timer, (uint64_t)ms, 0);
}

/* Makes the loop come back to the scheduler when there is work: the idle
 * handle for the virtual clock, a stop or a step; the timer otherwise. */
static void schedule_next(asx_sched *s) {
  if (s->state != S_STARTED || s->in_batch)
    return;
  if (s->stop_req || s->stepping || (s->clock == ASX_CLOCK_VIRTUAL && !s->paused)) {
    uv_idle_start(&s->idle, on_idle);
    return;
  }
  uv_idle_stop(&s->idle);
  if (s->paused) {
    uv_timer_stop(&s->timer);
    return;
  }
  {
    double t = real_now(s);
    double next = next_time(s);
    if (asx_wakeq_len(s->q) == 0)
      arm_timer(s, 0);
    else if (next > s->duration)
      arm_timer(s, s->duration - t);
    else
      arm_timer(s, next - t);
  }
}

/* A step, from the idle handle: the wake-ups up to the step's end run at
 * their own times, in batches; then the clock stays at the end, paused. */
static void step_turn(asx_sched *s) {
  double limit = s->step_target < s->duration ? s->step_target : s->duration;
  int more = run_batch(s, limit, 1);
  if (s->stop_req) {
    end_session(s);
    return;
  }
  if (more || !s->stepping)
    return; /* more to do, or an agent's pause ended the step */
  if (asx_wakeq_len(s->q) == 0) {
    end_session(s);
    return;
  }
  if (limit < s->step_target) {
    /* The step went past the duration. */
    s->now = limit;
    end_session(s);
    return;
  }
  s->now = s->step_target;
  s->stepping = 0;
  rebase(s, s->now);
  uv_idle_stop(&s->idle);
}

static void virtual_turn(asx_sched *s) {
  int more = run_batch(s, s->duration, 1);
  if (s->stop_req) {
    end_session(s);
    return;
  }
  if (more || s->paused || s->stepping)
    return;
  if (asx_wakeq_len(s->q) == 0) {
    end_session(s);
    return;
  }
  /* The next wake-up lies beyond the duration. */
  s->now = s->duration;
  end_session(s);
}

/* One batch of the wake-ups due by the measured time. When more are due
 * still, the next batch runs from the idle handle, not from a timer re-armed
 * at 0 ms: libuv runs such a timer again in the same pass over its timers,
 * so the loop would never poll, and a signal's uv_async or a logger's
 * socket would wait for as long as wake-ups keep coming due. */
static void real_turn(asx_sched *s) {
  double t = real_now(s);
  double limit = t < s->duration ? t : s->duration;
  int more = run_batch(s, limit, 0);
  if (s->stop_req) {
    end_session(s);
    return;
  }
  if (s->paused || s->stepping) {
    schedule_next(s);
    return;
  }
  if (more) {
    uv_timer_stop(&s->timer);
    uv_idle_start(&s->idle, on_idle);
    return;
  }
  if (asx_wakeq_len(s->q) == 0) {
    if (s->now < limit)
      s->now = limit;
    end_session(s);
    return;
  }
  if (next_time(s) > s->duration && t >= s->duration) {
    s->now = s->duration;
    end_session(s);
    return;
  }
  schedule_next(s);
}

/* The idle handle and the timer both come here: what runs depends on the
 * state, not on which handle fired. */
static void turn(asx_sched *s) {
  if (s->stop_req)
    end_session(s);
  else if (s->stepping)
    step_turn(s);
  else if (s->paused)
    schedule_next(s);
  else if (s->clock == ASX_CLOCK_VIRTUAL)
    virtual_turn(s);
  else
    real_turn(s);
}

static void on_idle(uv_idle_t *h) { turn(h->data); }
static void on_timer(uv_timer_t *h) { turn(h->data); }

static void on_async(uv_async_t *h) {
  asx_sched_stop(h->data);
}

/* ---- signals ----------------------------------------------------------- */

/* One session at a time can own the signals: the handler needs a global. */
static asx_sched *volatile sig_target;
static volatile sig_atomic_t sig_hits;

static void put(const char *str) {
  size_t len = strlen(str);
  while (len > 0) {
    ssize_t w = write(2, str, len);
    if (w <= 0)
      return;
    str += w;
    len -= (size_t)w;
  }
}

static void on_signal(int signo) {
  asx_sched *s = sig_target;
  const char *prog = s && s->prog ? s->prog : "asx";
  if (++sig_hits == 1 && s) {
    s->signal = signo;
    s->stop_req = 1;
    put(prog);
    put(signo == SIGINT ? ": interrupted" : ": terminated");
    put(", stopping (send it again to quit at once)\n");
    /* Before the session starts there is no loop to wake:
     * asx_sched_start sees s->signal and ends the session at once. */
    if (s->async_ready)
      uv_async_send(&s->async);
    return;
  }
  put(prog);
  put(": quitting at once");
  if (s && LOAD(s->current) != ASX_SCHED_NONE) {
    char buf[96];
    put(" while ");
    put(asx_sched_describe(s, LOAD(s->current), buf, sizeof buf));
    put(" was running");
    if (LOAD(s->where_resume) == LOAD(s->resumes)) {
      put(" at ");
      put(s->where);
    }
  }
  put("\n");
  if (s && s->on_forced_quit)
    s->on_forced_quit();
  _exit(128 + signo);
}

static void install_signals(asx_sched *s) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sig_hits = 0;
  sig_target = s;
  sigaction(SIGINT, &sa, &s->old_int);
  sigaction(SIGTERM, &sa, &s->old_term);
}

static void restore_signals(asx_sched *s) {
  if (sig_target != s)
    return;
  sigaction(SIGINT, &s->old_int, NULL);
  sigaction(SIGTERM, &s->old_term, NULL);
  sig_target = NULL;
}

int asx_sched_catch_signals(asx_sched *s, int on, const char *prog) {
  on = on != 0;
  if (s->state == S_ENDED)
    return ASX_E_STATE;
  s->prog = prog;
  if (on == s->catch_signals)
    return 0;
  if (on && sig_target && sig_target != s)
    return ASX_E_STATE; /* another session has them */
  /* Installed now rather than at start, so that a signal sent as soon as
   * the caller says it is ready is never lost to the default action. */
  if (on)
    install_signals(s);
  else
    restore_signals(s);
  s->catch_signals = on;
  return 0;
}

int asx_sched_signal(const asx_sched *s) { return s->signal; }

void asx_sched_on_forced_quit(asx_sched *s, asx_sched_quit_fn fn) {
  s->on_forced_quit = fn;
}

/* ---- the watchdog ------------------------------------------------------ */

/* An agent that does not yield holds the session's thread: only another
 * thread can notice, and only a signal can make the session's thread say
 * where the agent is. The watchdog thread looks at the resume counter a
 * few times a second; when one resume lasts too long (or goes on after a
 * stopping signal), it asks the session's thread, with SIGURG, to run the
 * stuck function, which arms a debug hook (see asx_sched_watch). If no
 * report comes (the hook cannot fire in compiled code), the watchdog
 * writes the warning itself, without the position. */

#define WATCH_PERIOD_NS 100000000L  /* how often the watchdog looks */
#define SIGNAL_GRACE_NS 300000000ULL /* a stop's wait before it says where */
#define REPORT_WAIT_NS 500000000ULL  /* the wait for the hook's report */

static asx_sched *volatile watch_target;

static void on_urg(int signo) {
  asx_sched *s = watch_target;
  int saved = errno;
  (void)signo;
  if (s && s->on_stuck && LOAD(s->current) != ASX_SCHED_NONE &&
      LOAD(s->resumes) == LOAD(s->stuck_resume))
    s->on_stuck(s, LOAD(s->current), s->data);
  errno = saved;
}

/* The warning without a position, from the watchdog thread. */
static void report_unplaced(asx_sched *s, uint32_t agent) {
  char name[96], line[256];
  int n = snprintf(line, sizeof line,
                   "%s: %s%s has not yielded for %.1f s (in compiled code: "
                   "where is not known)\n",
                   s->prog ? s->prog : "asx",
                   s->stuck_kind == ASX_STUCK_WARNING ? "warning: " : "",
                   asx_sched_describe(s, agent, name, sizeof name), s->stuck_for);
  if (n > 0)
    put(line);
}

/* Takes the report due for resume r, so that only one of the hook and the
 * watchdog makes it. */
static int claim(asx_sched *s, uint64_t r) {
  return __atomic_compare_exchange_n(&s->stuck_resume, &r, UINT64_MAX, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

static void ask_report(asx_sched *s, int kind, uint64_t resume, double seconds) {
  s->stuck_kind = kind;
  s->stuck_for = seconds;
  STORE(s->stuck_resume, resume);
  pthread_kill(s->session_thread, SIGURG);
}

static void *watchdog_main(void *arg) {
  asx_sched *s = arg;
  uint64_t seen = 0, since = 0, signal_at = 0, asked_at = 0;
  int warned = 0, told = 0;
  pthread_mutex_lock(&s->wd_mu);
  while (!s->watchdog_quit) {
    struct timespec ts;
    uint64_t now, r;
    uint32_t agent;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += WATCH_PERIOD_NS;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&s->wd_cv, &s->wd_mu, &ts);
    if (s->watchdog_quit)
      break;
    now = uv_hrtime();
    r = LOAD(s->resumes);
    agent = LOAD(s->current);
    if (agent == ASX_SCHED_NONE || r != seen) {
      seen = r;
      since = now;
      signal_at = asked_at = 0;
      warned = told = 0;
      continue;
    }
    /* The same resume still runs. */
    if (asked_at && now - asked_at >= REPORT_WAIT_NS) {
      if (claim(s, r))
        report_unplaced(s, agent);
      asked_at = 0;
    }
    if (asked_at)
      continue;
    if (!warned && s->stuck_after > 0 &&
        (double)(now - since) * 1e-9 >= s->stuck_after) {
      warned = 1;
      ask_report(s, ASX_STUCK_WARNING, r, (double)(now - since) * 1e-9);
      asked_at = now;
    } else if (!told && s->signal) {
      if (!signal_at) {
        signal_at = now;
      } else if (now - signal_at >= SIGNAL_GRACE_NS) {
        told = 1;
        ask_report(s, ASX_STUCK_SIGNAL, r, (double)(now - since) * 1e-9);
        asked_at = now;
      }
    }
  }
  pthread_mutex_unlock(&s->wd_mu);
  return NULL;
}

/* Starts the watchdog with the session, when there is something to watch
 * for: a warning, or signals that may wait for a stuck agent. */
static void watchdog_start(asx_sched *s) {
  struct sigaction sa;
  sigset_t all, old;
  if (s->watchdog_on || (s->stuck_after <= 0 && !s->catch_signals) || watch_target)
    return;
  s->session_thread = pthread_self();
  s->watchdog_quit = 0;
  STORE(s->where_resume, UINT64_MAX);
  pthread_mutex_init(&s->wd_mu, NULL);
  pthread_cond_init(&s->wd_cv, NULL);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_urg;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  watch_target = s;
  sigaction(SIGURG, &sa, &s->old_urg);
  /* The watchdog takes no signal: they are for the session's thread. */
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  s->watchdog_on = pthread_create(&s->watchdog, NULL, watchdog_main, s) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (!s->watchdog_on) {
    sigaction(SIGURG, &s->old_urg, NULL);
    watch_target = NULL;
    pthread_mutex_destroy(&s->wd_mu);
    pthread_cond_destroy(&s->wd_cv);
  }
}

static void watchdog_stop(asx_sched *s) {
  if (!s->watchdog_on)
    return;
  pthread_mutex_lock(&s->wd_mu);
  s->watchdog_quit = 1;
  pthread_cond_signal(&s->wd_cv);
  pthread_mutex_unlock(&s->wd_mu);
  pthread_join(s->watchdog, NULL);
  s->watchdog_on = 0;
  /* A SIGURG already sent finds no target, or the handler of before. */
  watch_target = NULL;
  sigaction(SIGURG, &s->old_urg, NULL);
  pthread_mutex_destroy(&s->wd_mu);
  pthread_cond_destroy(&s->wd_cv);
}

int asx_sched_watch(asx_sched *s, double seconds, asx_sched_stuck_fn fn) {
  if (!(seconds >= 0) || isinf(seconds))
    return ASX_E_ARG;
  if (s->state != S_NEW)
    return ASX_E_STATE;
  s->stuck_after = seconds;
  s->on_stuck = fn;
  return 0;
}

int asx_sched_stuck_claim(asx_sched *s) {
  if (LOAD(s->current) == ASX_SCHED_NONE || !claim(s, LOAD(s->resumes)))
    return ASX_STUCK_NONE;
  return s->stuck_kind;
}

double asx_sched_stuck_for(const asx_sched *s) { return s->stuck_for; }

void asx_sched_stuck_reported(asx_sched *s, const char *where) {
  size_t len = where ? strlen(where) : 0;
  if (len >= sizeof s->where)
    len = sizeof s->where - 1;
  /* Invalidated first: a second signal during the copy must not read a
   * half-written position as valid. */
  STORE(s->where_resume, UINT64_MAX);
  memcpy(s->where, where ? where : "", len);
  s->where[len] = '\0';
  STORE(s->where_resume, LOAD(s->resumes));
}


/* ---- labels ------------------------------------------------------------ */

int asx_sched_group(asx_sched *s, const char *name) {
  char **g;
  char *copy;
  size_t len;
  for (int i = 0; i < s->ngroups; i++)
    if (strcmp(s->groups[i], name) == 0)
      return i;
  if (s->ngroups >= UINT16_MAX)
    return ASX_E_ARG;
  len = strlen(name);
  copy = malloc(len + 1);
  g = copy ? realloc(s->groups, sizeof *g * (size_t)(s->ngroups + 1)) : NULL;
  if (!g) {
    free(copy);
    return ASX_E_NOMEM;
  }
  memcpy(copy, name, len + 1);
  s->groups = g;
  s->groups[s->ngroups] = copy;
  return s->ngroups++;
}

int asx_sched_label(asx_sched *s, uint32_t agent, int group, uint32_t number) {
  label_run *last = s->nlabels ? &s->labels[s->nlabels - 1] : NULL;
  if (agent >= s->n || group < 0 || group >= s->ngroups)
    return ASX_E_ARG;
  if (last && agent < last->first + last->count)
    return ASX_E_STATE;
  if (last && agent == last->first + last->count && group == last->group &&
      number == last->number + last->count) {
    last->count++;
    return 0;
  }
  if (s->nlabels == s->labels_cap) {
    uint32_t cap = s->labels_cap ? s->labels_cap * 2 : 8;
    label_run *l = realloc(s->labels, cap * sizeof *l);
    if (!l)
      return ASX_E_NOMEM;
    s->labels = l;
    s->labels_cap = cap;
  }
  s->labels[s->nlabels].first = agent;
  s->labels[s->nlabels].count = 1;
  s->labels[s->nlabels].number = number;
  s->labels[s->nlabels].group = (uint16_t)group;
  s->nlabels++;
  return 0;
}

/* The run that labels agent, or NULL. */
static const label_run *find_label(const asx_sched *s, uint32_t agent) {
  uint32_t lo = 0, hi = s->nlabels;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (s->labels[mid].first <= agent)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0 || agent - s->labels[lo - 1].first >= s->labels[lo - 1].count)
    return NULL;
  return &s->labels[lo - 1];
}

/* Async-signal-safe: no stdio, no allocation. */
static char *append(char *p, char *end, const char *str) {
  while (*str && p < end)
    *p++ = *str++;
  return p;
}

static char *append_u32(char *p, char *end, uint32_t v) {
  char digits[10];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n > 0 && p < end)
    *p++ = digits[--n];
  return p;
}

char *asx_sched_describe(const asx_sched *s, uint32_t agent, char *buf,
                         size_t size) {
  char *p = buf, *end;
  const label_run *l = agent < s->n ? find_label(s, agent) : NULL;
  if (size == 0)
    return buf;
  end = buf + size - 1;
  if (l) {
    p = append(p, end, s->groups[l->group]);
    p = append(p, end, "#");
    p = append_u32(p, end, l->number + (agent - l->first));
  } else {
    p = append(p, end, "agent ");
    p = append_u32(p, end, agent);
  }
  *p = '\0';
  return buf;
}

/* ---- the public calls -------------------------------------------------- */

void asx_sched_set_prefetch(asx_sched *s, asx_sched_prefetch_fn prefetch) {
  s->prefetch = prefetch;
}

asx_sched *asx_sched_new(uv_loop_t *loop, int clock, uint64_t seed,
                         asx_sched_resume_fn resume, void *data) {
  asx_sched *s;
  if (!resume || (clock != ASX_CLOCK_REAL && clock != ASX_CLOCK_VIRTUAL))
    return NULL;
  s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->q = asx_wakeq_new();
  if (!s->q) {
    free(s);
    return NULL;
  }
  s->loop = loop ? loop : uv_default_loop();
  s->clock = clock;
  s->resume = resume;
  s->data = data;
  s->resumed = -1;
  s->duration = INFINITY;
  s->speed = 1;
  s->seed = seed;
  s->session_rng = mix64(seed);
  s->current = ASX_SCHED_NONE;
  s->where_resume = UINT64_MAX;
  s->stuck_resume = UINT64_MAX;
  active = s;
  return s;
}

void asx_sched_free(asx_sched *s) {
  if (!s)
    return;
  if (active == s)
    active = NULL;
  restore_signals(s);
  if (s->state == S_STARTED) {
    /* The handles belong to the loop until their close callbacks ran. */
    s->on_end = NULL;
    s->free_on_close = 1;
    end_session(s);
    return;
  }
  if (s->handles_open > 0) {
    s->free_on_close = 1;
    return;
  }
  for (int i = 0; i < s->ngroups; i++)
    free(s->groups[i]);
  free(s->groups);
  asx_wakeq_free(s->q);
  free(s->ag);
  free(s->st);
  free(s->labels);
  free(s);
}

void asx_sched_on_end(asx_sched *s, asx_sched_end_fn fn) { s->on_end = fn; }

int asx_sched_add(asx_sched *s, uint32_t n, uint32_t *first) {
  uint32_t need;
  if (n == 0 || n > ASX_SCHED_NONE - 1 - s->n)
    return ASX_E_ARG;
  need = s->n + n;
  if (need > s->cap) {
    uint32_t cap = s->cap ? s->cap : 64;
    while (cap < need)
      cap = cap > ASX_SCHED_NONE / 2 ? ASX_SCHED_NONE - 1 : cap * 2;
    /* Each array is grown on its own; a failure leaves the larger ones
     * behind, which is harmless because cap only moves once all succeed. */
    if (!asx__array_grow((void **)&s->ag, cap, sizeof *s->ag) ||
        !asx__array_grow((void **)&s->st, cap, sizeof *s->st) ||
        asx_wakeq_reserve(s->q, cap) != 0)
      return ASX_E_NOMEM;
    s->cap = cap;
  }
  for (uint32_t a = s->n; a < need; a++) {
    s->st[a] = ASX_AGENT_IDLE;
    s->ag[a].rng = agent_seed(s->seed, a);
    s->ag[a].udata = NULL;
  }
  if (first)
    *first = s->n;
  s->n = need;
  return 0;
}

uint32_t asx_sched_count(const asx_sched *s) { return s->n; }

void asx__sched_set_seq(asx_sched *s, uint32_t seq) {
  asx__wakeq_set_seq(s->q, seq);
}

int asx_sched_wake(asx_sched *s, uint32_t agent, double delay) {
  double t;
  if (agent >= s->n || !(delay >= 0) || !isfinite(delay))
    return ASX_E_ARG;
  if (s->st[agent] != ASX_AGENT_IDLE && s->st[agent] != ASX_AGENT_RUNNING)
    return ASX_E_STATE;
  t = s->now + delay;
  if (!isfinite(t))
    return ASX_E_ARG;
  /* At the duration's own instant, an agent asking to run again at that
   * instant (sleep(0), or a delay too small to move the clock) would run
   * again and again and the session would never end: its wake-up lies
   * just beyond the end instead. */
  if (s->in_batch && s->now >= s->duration && t <= s->duration)
    t = nextafter(s->duration, INFINITY);
  if (t == 0)
    t = 0; /* -0 would sort after every positive time */
  if (asx_wakeq_push(s->q, agent, t) != 0)
    return ASX_E_NOMEM;
  s->st[agent] = ASX_AGENT_WAITING;
  /* Only a wake-up set from outside a batch can be earlier than what the
   * loop is waiting for; inside a batch the caller re-arms afterwards. */
  if (s->clock == ASX_CLOCK_REAL && !s->in_batch &&
      asx_wakeq_peek(s->q) == agent)
    schedule_next(s);
  return 0;
}

int asx_sched_finish(asx_sched *s, uint32_t agent, int state) {
  if (agent >= s->n || state < ASX_AGENT_FINISHED || state > ASX_AGENT_STOPPED)
    return ASX_E_ARG;
  if (s->st[agent] >= ASX_AGENT_FINISHED)
    return ASX_E_STATE;
  if (s->st[agent] == ASX_AGENT_WAITING)
    asx_wakeq_remove(s->q, agent);
  s->st[agent] = (uint8_t)state;
  return 0;
}

int asx_sched_state(const asx_sched *s, uint32_t agent) {
  return agent < s->n ? s->st[agent] : ASX_E_ARG;
}

int asx_sched_set_udata(asx_sched *s, uint32_t agent, void *udata) {
  if (agent >= s->n)
    return ASX_E_ARG;
  s->ag[agent].udata = udata;
  return 0;
}

void *asx_sched_udata(const asx_sched *s, uint32_t agent) {
  return agent < s->n ? s->ag[agent].udata : NULL;
}

uint32_t asx_sched_current(const asx_sched *s) { return LOAD(s->current); }
double asx_sched_now(const asx_sched *s) { return s->now; }

double asx_sched_clock_time(const void *sched) {
  return ((const asx_sched *)sched)->resumed;
}

int asx_sched_set_duration(asx_sched *s, double duration) {
  if (isnan(duration))
    return ASX_E_ARG;
  s->duration = duration < 0 ? INFINITY : duration;
  schedule_next(s);
  return 0;
}

double asx_sched_duration(const asx_sched *s) { return s->duration; }

int asx_sched_set_speed(asx_sched *s, double speed) {
  if (!(speed > 0) || !isfinite(speed))
    return ASX_E_ARG;
  if (s->state == S_STARTED && s->clock == ASX_CLOCK_REAL && !s->paused)
    rebase(s, real_now(s));
  s->speed = speed;
  schedule_next(s);
  return 0;
}

double asx_sched_speed(const asx_sched *s) { return s->speed; }
int asx_sched_clock(const asx_sched *s) { return s->clock; }

int asx_sched_session_state(const asx_sched *s) {
  if (s->state == S_NEW)
    return ASX_SESSION_NEW;
  if (s->state == S_ENDED)
    return ASX_SESSION_ENDED;
  return s->paused ? ASX_SESSION_PAUSED : ASX_SESSION_RUNNING;
}

int asx_sched_start(asx_sched *s) {
  if (s->state != S_NEW)
    return ASX_E_STATE;
  if (s->stop_req || s->signal) {
    end_session(s);
    return 0;
  }
  uv_idle_init(s->loop, &s->idle);
  uv_timer_init(s->loop, &s->timer);
  uv_async_init(s->loop, &s->async, on_async);
  s->idle.data = s->timer.data = s->async.data = s;
  s->async_ready = 1;
  s->handles_open = 3;
  s->state = S_STARTED;
  /* A signal that came after the check above but before the async handle
   * existed could not wake the loop. */
  if (s->signal)
    s->stop_req = 1;
  rebase(s, s->now);
  watchdog_start(s);
  schedule_next(s);
  return 0;
}

int asx_sched_run(asx_sched *s) {
  int rc;
  if (s->in_batch)
    return ASX_E_STATE;
  if (s->state == S_NEW && (rc = asx_sched_start(s)) != 0)
    return rc;
  while (s->state != S_ENDED || s->handles_open > 0)
    uv_run(s->loop, UV_RUN_ONCE);
  return 0;
}

void asx_sched_stop(asx_sched *s) {
  s->stop_req = 1;
  if (s->state == S_STARTED && !s->in_batch)
    end_session(s);
}

int asx_sched_pause(asx_sched *s, int on) {
  on = on != 0;
  if (s->state == S_ENDED)
    return ASX_E_STATE;
  if (on && s->stepping) {
    /* Pausing cuts a step short (Ctrl-C at the REPL): the clock stays
     * at the last wake-up the step ran. */
    s->stepping = 0;
    rebase(s, s->now);
    schedule_next(s);
    return 0;
  }
  if (on == s->paused)
    return 0;
  if (s->state == S_STARTED && s->clock == ASX_CLOCK_REAL) {
    if (on) {
      double t = real_now(s);
      if (t > s->now)
        s->now = t;
    }
  }
  s->paused = on;
  rebase(s, s->now);
  schedule_next(s);
  return 0;
}

int asx_sched_step(asx_sched *s, double seconds) {
  if (!(seconds >= 0) || !isfinite(seconds))
    return ASX_E_ARG;
  if (s->state != S_STARTED || !s->paused || s->stepping)
    return ASX_E_STATE;
  s->step_target = s->now + seconds;
  s->stepping = 1;
  schedule_next(s);
  return 0;
}

int asx_sched_stepping(const asx_sched *s) { return s->stepping; }
uint64_t asx_sched_resumes(const asx_sched *s) {
  return LOAD(((asx_sched *)s)->resumes);
}
