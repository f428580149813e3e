/* The watchdog (see asx_sched_watch). An agent that does not yield holds
 * the session's thread: only another thread can notice, and only a signal
 * can make the session's thread say where the agent is. The watchdog
 * thread looks at the resume counter a few times a second; when one resume
 * lasts too long (or goes on after a stopping signal), it asks the
 * session's thread, with SIGURG, to run the stuck function, which arms a
 * debug hook. If no report comes (the hook cannot fire in compiled code),
 * the watchdog writes the warning itself, without the position.
 */
#include "asx_deadline.h"
#include "asx_sched_int.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
                   LOAD(s->stuck_kind) == ASX_STUCK_WARNING ? "warning: " : "",
                   asx_sched_describe(s, agent, name, sizeof name), asx_sched_stuck_for(s));
  if (n > 0)
    asx__sched_put(line);
}

/* Takes the report that slot holds for resume r, so that only one of the
 * hook and the watchdog makes it. */
static int claim_slot(uint64_t *slot, uint64_t r) {
  return __atomic_compare_exchange_n(slot, &r, UINT64_MAX, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

static int claim(asx_sched *s, uint64_t r) {
  return claim_slot(&s->stuck_resume, r);
}

/* The kind and time are published by the release store of the slot: the
 * hook that claims it (acquire) reads the ones of this report. */
static void ask_report(asx_sched *s, int kind, uint64_t resume, uint64_t ns) {
  STORE(s->stuck_kind, kind);
  STORE(s->stuck_ns, ns);
  __atomic_store_n(&s->stuck_resume, resume, __ATOMIC_RELEASE);
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
    ts = asx_deadline_in(WATCH_PERIOD_NS);
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
      /* The hook has not fired: the agent runs compiled code, or a C call
       * (string.rep, a read) that it may yet return from to interpreted
       * code, where the hook, still armed, then gives the position. */
      if (claim(s, r)) {
        report_unplaced(s, agent);
        __atomic_store_n(&s->stuck_late, r, __ATOMIC_RELEASE);
      }
      asked_at = 0;
    }
    if (asked_at)
      continue;
    if (!warned && s->stuck_after > 0 &&
        (double)(now - since) * 1e-9 >= s->stuck_after) {
      warned = 1;
      ask_report(s, ASX_STUCK_WARNING, r, now - since);
      asked_at = now;
    } else if (!told && s->signal) {
      if (!signal_at) {
        signal_at = now;
      } else if (now - signal_at >= SIGNAL_GRACE_NS) {
        told = 1;
        ask_report(s, ASX_STUCK_SIGNAL, r, now - since);
        asked_at = now;
      }
    }
  }
  pthread_mutex_unlock(&s->wd_mu);
  return NULL;
}

/* Starts the watchdog with the session, when there is something to watch
 * for: a warning, or signals that may wait for a stuck agent. */
void asx__sched_watchdog_start(asx_sched *s) {
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

void asx__sched_watchdog_stop(asx_sched *s) {
  if (!s->watchdog_on)
    return;
  pthread_mutex_lock(&s->wd_mu);
  s->watchdog_quit = 1;
  pthread_cond_signal(&s->wd_cv);
  pthread_mutex_unlock(&s->wd_mu);
  pthread_join(s->watchdog, NULL);
  s->watchdog_on = 0;
  assert(watch_target == s);
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
  uint64_t r = LOAD(s->resumes);
  if (LOAD(s->current) == ASX_SCHED_NONE ||
      !(claim(s, r) || claim_slot(&s->stuck_late, r)))
    return ASX_STUCK_NONE;
  return LOAD(s->stuck_kind);
}

double asx_sched_stuck_for(const asx_sched *s) { return (double)LOAD(s->stuck_ns) * 1e-9; }

void asx_sched_stuck_reported(asx_sched *s, const char *where) {
  size_t len = where ? strlen(where) : 0;
  if (len >= sizeof s->where)
    len = sizeof s->where - 1;
  /* Invalidated first: a second signal during the copy must not read a
   * half-written position as valid. The fence keeps the copy after the
   * invalidation, the release store keeps it before the publication (the
   * forced quit's handler loads where_resume with acquire: it may run on
   * another thread). */
  STORE(s->where_resume, UINT64_MAX);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  memcpy(s->where, where ? where : "", len);
  s->where[len] = '\0';
  __atomic_store_n(&s->where_resume, LOAD(s->resumes), __ATOMIC_RELEASE);
}


