/* SIGINT, SIGTERM and SIGHUP (see asx_sched_catch_signals): the first
 * stops the session before the next resume, a second quits the process at
 * once and says which agent was running. Everything the handler does is
 * async-signal-safe: it writes with write(2) (its control characters
 * escaped, asx_fmt_terminal_write), names the agent with
 * asx_sched_describe, and wakes the loop with uv_async_send.
 */
#include "asx_sched_int.h"
#include "asx_fmt.h"

#include <assert.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* One session at a time can own the signals: the handler needs a global. */
static asx_sched *volatile sig_target;
static volatile sig_atomic_t sig_hits;

void asx__sched_put(const char *str) {
  /* The agents' names are their classes', which user code chose. */
  asx_fmt_terminal_write(2, str, strlen(str));
}

static void on_signal(int signo) {
  asx_sched *s = sig_target;
  const char *prog = s && s->prog ? s->prog : "asx";
  if (++sig_hits == 1 && s) {
    s->signal = signo;
    s->stop_req = 1;
    asx__sched_put(prog);
    asx__sched_put(signo == SIGINT ? ": interrupted" : signo == SIGHUP ? ": hangup" : ": terminated");
    asx__sched_put(", stopping (send it again to quit at once)\n");
    /* Before the session starts there is no loop to wake:
     * asx_sched_start sees s->signal and ends the session at once. */
    if (s->async_ready)
      uv_async_send(&s->async);
    return;
  }
  asx__sched_put(prog);
  asx__sched_put(": quitting at once");
  if (s && LOAD(s->current) != ASX_SCHED_NONE) {
    char buf[96];
    asx__sched_put(" while ");
    asx__sched_put(asx_sched_describe(s, LOAD(s->current), buf, sizeof buf));
    asx__sched_put(" was running");
    if (__atomic_load_n(&s->where_resume, __ATOMIC_ACQUIRE) == LOAD(s->resumes)) {
      asx__sched_put(" at ");
      asx__sched_put(s->where);
    }
  }
  asx__sched_put("\n");
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
  assert(sig_target == NULL);
  sig_hits = 0;
  sig_target = s;
  sigaction(SIGINT, &sa, &s->old_int);
  sigaction(SIGTERM, &sa, &s->old_term);
  /* A terminal that closes (a lost SSH connection) sends SIGHUP: the
   * session stops as on SIGTERM, its loggers flushed, where the default
   * action lost the rows still in memory. Under nohup it stays ignored. */
  sigaction(SIGHUP, NULL, &s->old_hup);
  if (s->old_hup.sa_handler != SIG_IGN)
    sigaction(SIGHUP, &sa, NULL);
}

void asx__sched_restore_signals(asx_sched *s) {
  if (sig_target != s)
    return;
  sigaction(SIGINT, &s->old_int, NULL);
  sigaction(SIGTERM, &s->old_term, NULL);
  sigaction(SIGHUP, &s->old_hup, NULL);
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
    asx__sched_restore_signals(s);
  s->catch_signals = on;
  return 0;
}

int asx_sched_signal(const asx_sched *s) { return s->signal; }

void asx_sched_on_forced_quit(asx_sched *s, asx_sched_quit_fn fn) {
  s->on_forced_quit = fn;
}

