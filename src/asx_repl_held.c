/* Ctrl-C at the prompt while the loop is held (asx_repl_int.h lists the
 * reader's files).
 *
 * At the prompt the terminal is in libedit's raw mode with ISIG off: Ctrl-C
 * is a key, read in order with the others, and clears the line. But the
 * keys are read by the loop, and an agent that loops without yielding on
 * the real clock holds the loop: the key would wait in the terminal for
 * ever, and the user could not get control back. So a thread of the
 * reader's asks the owner a few times a second whether the loop is held
 * (the held callback: an agent has run for a while without yielding); once
 * it is, with the prompt up, the thread turns the terminal's ISIG on, with
 * NOFLSH so that the keys typed meanwhile stay: Ctrl-C is then a SIGINT,
 * which the reader's handler takes as it takes one while a line runs
 * (asx_repl_sigint.c). The loop turns ISIG off again at its next turn (a
 * prepare handle), before it reads a key. Both sides change the terminal
 * under one mutex; libedit's own changes happen on the loop, which is not
 * turning while the thread changes it.
 */
#include "asx_deadline.h"
#include "asx_repl_int.h"

#include <time.h>

#define HELD_LOOK_NS 50000000L /* how often the thread asks */

/* On the loop, at every turn: the terminal as the prompt wants it. */
static void on_turn(uv_prepare_t *h) {
  asx_repl *r = h->data;
  struct termios t;
  if (!__atomic_load_n(&r->isig_on, __ATOMIC_ACQUIRE))
    return;
  pthread_mutex_lock(&r->held_mu);
  if (r->isig_on) {
    r->isig_on = 0;
    /* libedit left raw mode meanwhile (a key ended the line while the
     * loop was held in it): cooked mode has ISIG on, and keeps it. */
    if (r->installed && tcgetattr(r->fd, &t) == 0) {
      t.c_lflag &= ~(tcflag_t)ISIG;
      if (!r->noflsh_was)
        t.c_lflag &= ~(tcflag_t)NOFLSH;
      (void)tcsetattr(r->fd, TCSANOW, &t);
    }
  }
  pthread_mutex_unlock(&r->held_mu);
}

static void *held_main(void *arg) {
  asx_repl *r = arg;
  struct termios t;
  pthread_mutex_lock(&r->held_mu);
  while (!r->held_quit) {
    struct timespec ts = asx_deadline_in(HELD_LOOK_NS);
    pthread_cond_timedwait(&r->held_cv, &r->held_mu, &ts);
    if (r->held_quit || r->isig_on || !__atomic_load_n(&r->prompt_up, __ATOMIC_ACQUIRE) ||
        !r->cb.held(r->cb.data))
      continue;
    if (tcgetattr(r->fd, &t) != 0)
      continue;
    r->noflsh_was = (t.c_lflag & NOFLSH) != 0;
    t.c_lflag |= ISIG | NOFLSH;
    if (tcsetattr(r->fd, TCSANOW, &t) == 0)
      __atomic_store_n(&r->isig_on, 1, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&r->held_mu);
  return NULL;
}

/* On the loop, when libedit is about to set the prompt's terminal up: what
 * the thread did to the terminal before is undone by that. */
void asx__repl_held_reset(asx_repl *r) {
  if (!r->held_on)
    return;
  pthread_mutex_lock(&r->held_mu);
  r->isig_on = 0;
  pthread_mutex_unlock(&r->held_mu);
}

int asx__repl_held_start(asx_repl *r) {
  sigset_t all, old;
  if (!r->cb.held)
    return 0;
  r->have_cooked = tcgetattr(r->fd, &r->cooked) == 0;
  pthread_mutex_init(&r->held_mu, NULL);
  pthread_cond_init(&r->held_cv, NULL);
  uv_prepare_init(r->loop, &r->turn);
  r->turn.data = r;
  r->handles++;
  uv_prepare_start(&r->turn, on_turn);
  uv_unref((uv_handle_t *)&r->turn);
  /* The thread takes no signal: SIGINT is for the loop's thread. */
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  r->held_on = pthread_create(&r->held_thread, NULL, held_main, r) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return 0;
}

void asx__repl_held_stop(asx_repl *r) {
  if (!r->cb.held)
    return;
  if (r->held_on) {
    pthread_mutex_lock(&r->held_mu);
    r->held_quit = 1;
    pthread_cond_signal(&r->held_cv);
    pthread_mutex_unlock(&r->held_mu);
    pthread_join(r->held_thread, NULL);
    r->held_on = 0;
  }
  on_turn(&r->turn);
  uv_close((uv_handle_t *)&r->turn, asx__repl_on_closed);
  pthread_mutex_destroy(&r->held_mu);
  pthread_cond_destroy(&r->held_cv);
}
