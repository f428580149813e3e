/* The scheduler's insides, shared by the files that make it up (internal:
 * nothing outside these files includes this header):
 *   asx_sched.c           agents, wake-ups and batches: the model of
 *                         asx_sched.h;
 *   asx_sched_clock.c     the clocks, and the turns of the libuv loop that
 *                         run the batches: start, pause, step and stop;
 *   asx_sched_signal.c    SIGINT and SIGTERM: a graceful stop, then a
 *                         forced quit (asx_sched_catch_signals);
 *   asx_sched_label.c     agents' names for the messages (asx_sched_group,
 *                         asx_sched_label, asx_sched_describe);
 *   asx_sched_watchdog.c  the thread that notices an agent that does not
 *                         yield (asx_sched_watch).
 * The struct is one, so that a resume touches the fields it needs in one
 * place; each group of fields below says which file owns it. The other
 * files only read the fields of the scheduler they are told about.
 */
#ifndef ASX_SCHED_INT_H
#define ASX_SCHED_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <uv.h>

#include "asx_sched.h"
#include "asx_wakeq.h"

/* A run of labels: agents first .. first + count - 1 are in group, with
 * the numbers number .. number + count - 1. */
typedef struct label_run {
  uint32_t first, count, number;
  uint16_t group;
} label_run;

enum { S_NEW = 0, S_STARTED = 1, S_ENDED = 2 };

/* How many of the agents due next the prefetch lists (asx_sched.c). */
#define ASX__SCHED_PF_IDS 64

struct asx_sched {
  uv_loop_t *loop;
  asx_sched_resume_fn resume;
  uintptr_t pf_before; /* asx_sched_prefetch_span's before */
  int pf_on;           /* a span is set */
  /* The agents due next, as the last prefetch_ahead listed them (pf_n of
   * them), and the resumes since: asx_sched.c. */
  uint32_t pf_pos, pf_n;
  uint32_t pf_ids[ASX__SCHED_PF_IDS];
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
  /* The courier (asx_sched_on_courier): its time, INFINITY when nothing is
   * in flight, and whether it is running. */
  asx_sched_courier_fn courier;
  double courier_at;
  int in_courier;

  uint32_t n, cap;
  /* What a resume reads of agent a, in the wake-up queue's entry for it
   * (asx_wakeq_entries, moved by asx_sched_add): its generator's
   * splitmix64 state in ag[a].word, the caller's pointer
   * (asx_sched_set_udata) in ag[a].ptr. */
  asx_wakeq_entry *ag;
  uint8_t *st;      /* ASX_AGENT_* */
  /* asx_sched_label.c. Other threads and signal handlers read these
   * (asx_sched_describe): each array is published before its count, and
   * the arrays it replaced stay allocated, on retired, until the end. */
  label_run *labels; /* sorted by first */
  uint32_t nlabels, labels_cap;
  char **groups;
  int ngroups, groups_cap;
  struct asx__retired *retired;

  uint64_t seed;
  uint64_t session_rng;
  /* Both are read by the signal handlers and the watchdog thread, hence
   * stored and loaded as relaxed atomics (plain moves on the hot path). */
  uint64_t resumes;
  volatile uint32_t current;

  /* asx_sched_signal.c; asx_sched_clock.c reads signal and sets
   * async_ready. */
  int catch_signals;
  volatile sig_atomic_t async_ready; /* the uv_async exists */
  const char *prog;
  volatile sig_atomic_t signal;
  struct sigaction old_int, old_term, old_hup;
  asx_sched_quit_fn on_forced_quit;

  /* asx_sched_watchdog.c (see asx_sched_watch). The thread and its report
   * live while the session is started; stuck_* describe the report asked
   * of the session's thread, where the position it found. */
  double stuck_after; /* seconds; 0: no warning */
  asx_sched_stuck_fn on_stuck;
  pthread_t session_thread, watchdog;
  int watchdog_on, watchdog_quit;
  pthread_mutex_t wd_mu;
  pthread_cond_t wd_cv;
  struct sigaction old_urg;
  /* The watchdog writes the kind and time of a report, then publishes it
   * with a release store of stuck_resume (or stuck_late); the session's
   * thread reads them after claiming that slot (acquire). They are atomics
   * all the same: the watchdog may ask again (a signal after a warning)
   * while a late hook reads them. */
  int stuck_kind;         /* atomic */
  uint64_t stuck_ns;      /* how long the agent had run (atomic) */
  uint64_t stuck_resume;  /* the resume a report is due for (atomic) */
  uint64_t stuck_late;    /* the resume the watchdog warned about without
                             a position, which a hook that fires later in
                             it still gives (atomic) */
  uint64_t where_resume;  /* where[] describes this resume (atomic) */
  char where[256];

  uv_idle_t idle;
  uv_timer_t timer;
  uv_async_t async;
};

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* asx_sched.c: runs due wake-ups with time <= limit, at most a batch of
 * them (jump: each at its own time, else all at limit). Returns 1 when it
 * stopped for the budget with more due, 0 when nothing more is due or it
 * must stop. */
int asx__sched_run_batch(asx_sched *s, double limit, int jump);

/* asx_sched_clock.c: ends the session (never under a resume), and makes
 * the loop come back to the scheduler when there is work. */
void asx__sched_end_session(asx_sched *s);
void asx__sched_schedule_next(asx_sched *s);

/* asx_sched_signal.c: gives SIGINT and SIGTERM back to their previous
 * handlers, when s has them. */
void asx__sched_restore_signals(asx_sched *s);
/* Writes str whole to stderr, control characters escaped as
 * asx_fmt_terminal does; async-signal-safe. */
void asx__sched_put(const char *str);

/* asx_sched_label.c: frees the groups' names and the label runs. */
void asx__sched_free_labels(asx_sched *s);

/* asx_sched_watchdog.c: starts the watchdog thread with the session when
 * there is something to watch for, and stops it when the session ends. */
void asx__sched_watchdog_start(asx_sched *s);
void asx__sched_watchdog_stop(asx_sched *s);

#endif
