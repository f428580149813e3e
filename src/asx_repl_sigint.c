/* Ctrl-C and the line reader (asx_repl_int.h lists the reader's files).
 *
 * The terminal's ISIG flag is cleared in libedit's edit mode, so at
 * the prompt Ctrl-C arrives as a key rather than as SIGINT: it is bound to a
 * function of ours, and no signal handler of the host has to know about the
 * prompt. While a line is evaluated, or its `step` runs, the terminal is in
 * cooked mode again and Ctrl-C is a SIGINT (at the prompt too, while an
 * agent holds the loop: asx_repl_held.c). The reader's own handler, put in
 * front of the session's when the reader opens, takes the first one: it is
 * meant for the line, not for the session, and the owner hears of it twice,
 * at once (on_signal, to arm a debug hook) and from the loop (on_break, by
 * a uv_async). Any SIGINT the reader does not take is handed to the handler
 * that was there before. libedit's own signal handling is off
 * (rl_catch_signals = 0): it would re-raise signals to the whole process
 * group and fight libuv's handlers.
 */
#include "asx_repl_int.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

/* The handler that was installed when the reader opened (the session's),
 * and whether ours is installed. */
static struct sigaction prev_sigint;
static int sigint_ours;

/* Hands a signal we do not take to the handler before ours, as if ours
 * were not there. */
static void pass_on(int signo, siginfo_t *info, void *uctx) {
  if (prev_sigint.sa_flags & SA_SIGINFO) {
    prev_sigint.sa_sigaction(signo, info, uctx);
  } else if (prev_sigint.sa_handler == SIG_DFL) {
    signal(signo, SIG_DFL);
    raise(signo);
  } else if (prev_sigint.sa_handler != SIG_IGN) {
    prev_sigint.sa_handler(signo);
  }
}

/* Async-signal-safe: it only sets flags, calls on_signal (which must be
 * safe too) and wakes the loop. */
static void on_sigint(int signo, siginfo_t *info, void *uctx) {
  asx_repl *r = asx__repl_open_one;
  /* At the prompt a SIGINT comes from the terminal only while the loop is
   * held (asx_repl_held.c); from elsewhere (kill) it is the session's. */
  int at_prompt = r && r->state == ST_READING &&
                  __atomic_load_n(&r->isig_on, __ATOMIC_ACQUIRE);
  if (!r || (r->state != ST_HELD && !at_prompt) || r->break_pending) {
    /* The session's handler stops the session, or quits at once: a quit
     * must not leave the user's shell in the prompt's raw mode, and the
     * prompt has no future either way. tcsetattr is async-signal-safe. */
    if (at_prompt && r->have_cooked)
      (void)tcsetattr(r->fd, TCSANOW, &r->cooked);
    pass_on(signo, info, uctx);
    return;
  }
  r->break_pending = 1;
  /* The terminal echoed "^C"; what the owner prints next (the error, the
   * prompt) starts on a line of its own. At the prompt nothing was echoed
   * (raw mode): "^C" says it was heard, in case what runs never sees the
   * interrupt (compiled code), and what is printed next redraws the prompt
   * below it. */
  if (write(STDOUT_FILENO, at_prompt ? "^C" : "\n", at_prompt ? 2 : 1) < 0) {
    /* Nothing to be done about it here. */
  }
  if (r->cb.on_signal)
    r->cb.on_signal(r->cb.data, r->interruptible && !at_prompt);
  uv_async_send(&r->brk);
}

void asx__repl_on_break(uv_async_t *h) {
  asx_repl *r = h->data;
  if (!r->break_pending || r->state == ST_CLOSED)
    return;
  r->break_pending = 0;
  if (r->cb.on_break)
    r->cb.on_break(r->cb.data);
}

void asx__repl_sigint_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigint;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGINT, &sa, &prev_sigint) == 0)
    sigint_ours = 1;
}

/* Puts the previous handler back, unless someone replaced ours meanwhile
 * (the session restores its own predecessor when it ends): theirs is the
 * newer wish. */
void asx__repl_sigint_restore(void) {
  struct sigaction cur;
  if (!sigint_ours)
    return;
  sigint_ours = 0;
  if (sigaction(SIGINT, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
      cur.sa_sigaction == on_sigint)
    sigaction(SIGINT, &prev_sigint, NULL);
}

void asx_repl_interruptible(asx_repl *r, int on) { r->interruptible = on != 0; }
