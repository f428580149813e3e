/* asx_deadline.h: the deadline pthread_cond_timedwait takes, a short
 * period from now. asx's helper threads (the scheduler's watchdog, the log
 * files' writer, the prompt's watch on a held loop) each wait on a
 * condition with a period, waking to look again when it passes. */
#ifndef ASX_DEADLINE_H
#define ASX_DEADLINE_H

#include <time.h>

/* CLOCK_REALTIME, which a default condition variable measures against,
 * plus ns nanoseconds (less than a second). */
static inline struct timespec asx_deadline_in(long ns) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += ns;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

#endif
