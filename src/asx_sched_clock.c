/* The scheduler's clocks and the turns of the libuv loop that run its
 * batches (see asx_sched.h for the model and asx_sched.c for the batches):
 * a session's start, run, pause, step and stop, its duration and speed.
 *
 * The virtual clock runs a batch at every turn of the loop, from an idle
 * handle, and jumps to each wake-up's time. The real clock measures the time
 * (session time = base_time + elapsed * speed, rebased at each change of
 * speed or pause) and sleeps in a timer until the next wake-up is due; a
 * batch runs what is due by then, all at the measured time. A step runs the
 * wake-ups up to its end at their own times, then stays paused.
 */
#include "asx_sched_int.h"

#include <assert.h>
#include <float.h>
#include <math.h>

/* The time of the next wake-up or courier call, INFINITY when none is
 * pending. */
static double next_time(asx_sched *s) {
  uint32_t a = asx_wakeq_peek(s->q);
  double t = a == ASX_WAKEQ_NONE ? INFINITY : asx_wakeq_time(s->q, a);
  return s->courier_at < t ? s->courier_at : t;
}

/* Nothing will ever run again: no wake-up and no message in flight. */
static int nothing_pending(const asx_sched *s) {
  return asx_wakeq_len(s->q) == 0 && isinf(s->courier_at);
}

/* ---- clocks and turns -------------------------------------------------- */

static double real_now(const asx_sched *s) {
  double t;
  if (s->paused)
    return s->base_time;
  t = s->base_time + (double)(uv_hrtime() - s->base_hr) * 1e-9 * s->speed;
  /* At a speed near the largest double (speed(1e308)) the time overflows
   * in a second or two: it stays at the largest time, as a wake-up does,
   * where infinity made the per-second samplers loop for ever. */
  return t < DBL_MAX ? t : DBL_MAX;
}

static void rebase(asx_sched *s, double t) {
  s->base_time = t;
  s->base_hr = uv_hrtime();
}

static void on_close(uv_handle_t *h) {
  asx_sched *s = h->data;
  assert(s->handles_open > 0 && s->state == S_ENDED);
  if (--s->handles_open == 0 && s->free_on_close)
    asx_sched_free(s);
}

void asx__sched_end_session(asx_sched *s) {
  /* Never under a resume: the handles it closes are the batch's. */
  assert(!s->in_batch);
  if (s->state == S_ENDED)
    return;
  if (s->state == S_STARTED) {
    uv_close((uv_handle_t *)&s->idle, on_close);
    uv_close((uv_handle_t *)&s->timer, on_close);
    uv_close((uv_handle_t *)&s->async, on_close);
    s->async_ready = 0;
  }
  asx__sched_watchdog_stop(s);
  asx__sched_restore_signals(s);
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
void asx__sched_schedule_next(asx_sched *s) {
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
    if (nothing_pending(s))
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
  int more = asx__sched_run_batch(s, limit, 1);
  if (s->stop_req) {
    asx__sched_end_session(s);
    return;
  }
  if (more || !s->stepping)
    return; /* more to do, or an agent's pause ended the step */
  if (nothing_pending(s)) {
    asx__sched_end_session(s);
    return;
  }
  if (limit < s->step_target) {
    /* The step went past the duration. */
    s->now = limit;
    asx__sched_end_session(s);
    return;
  }
  s->now = s->step_target;
  s->stepping = 0;
  rebase(s, s->now);
  uv_idle_stop(&s->idle);
}

static void virtual_turn(asx_sched *s) {
  int more = asx__sched_run_batch(s, s->duration, 1);
  if (s->stop_req) {
    asx__sched_end_session(s);
    return;
  }
  if (more || s->paused || s->stepping)
    return;
  if (nothing_pending(s)) {
    asx__sched_end_session(s);
    return;
  }
  /* The next wake-up lies beyond the duration. */
  s->now = s->duration;
  asx__sched_end_session(s);
}

/* One batch of the wake-ups due by the measured time. When more are due
 * still, the next batch runs from the idle handle, not from a timer re-armed
 * at 0 ms: libuv runs such a timer again in the same pass over its timers,
 * so the loop would never poll, and a signal's uv_async or a logger's
 * socket would wait for as long as wake-ups keep coming due. */
static void real_turn(asx_sched *s) {
  double t = real_now(s);
  double limit = t < s->duration ? t : s->duration;
  int more = asx__sched_run_batch(s, limit, 0);
  if (s->stop_req) {
    asx__sched_end_session(s);
    return;
  }
  if (s->paused || s->stepping) {
    asx__sched_schedule_next(s);
    return;
  }
  if (more) {
    uv_timer_stop(&s->timer);
    uv_idle_start(&s->idle, on_idle);
    return;
  }
  if (nothing_pending(s)) {
    if (s->now < limit)
      s->now = limit;
    asx__sched_end_session(s);
    return;
  }
  if (next_time(s) > s->duration && t >= s->duration) {
    s->now = s->duration;
    asx__sched_end_session(s);
    return;
  }
  asx__sched_schedule_next(s);
}

/* The idle handle and the timer both come here: what runs depends on the
 * state, not on which handle fired. */
static void turn(asx_sched *s) {
  /* The handles exist only while the session is started. */
  assert(s->state == S_STARTED);
  if (s->stop_req)
    asx__sched_end_session(s);
  else if (s->stepping)
    step_turn(s);
  else if (s->paused)
    asx__sched_schedule_next(s);
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

/* ---- the public calls -------------------------------------------------- */

int asx_sched_set_duration(asx_sched *s, double duration) {
  if (isnan(duration))
    return ASX_E_ARG;
  s->duration = duration < 0 ? INFINITY : duration;
  asx__sched_schedule_next(s);
  return 0;
}

double asx_sched_duration(const asx_sched *s) { return s->duration; }

int asx_sched_set_speed(asx_sched *s, double speed) {
  if (!(speed > 0) || !isfinite(speed))
    return ASX_E_ARG;
  if (s->state == S_STARTED && s->clock == ASX_CLOCK_REAL && !s->paused)
    rebase(s, real_now(s));
  s->speed = speed;
  asx__sched_schedule_next(s);
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
    asx__sched_end_session(s);
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
  asx__sched_watchdog_start(s);
  asx__sched_schedule_next(s);
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
    asx__sched_end_session(s);
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
    asx__sched_schedule_next(s);
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
  asx__sched_schedule_next(s);
  return 0;
}

int asx_sched_step(asx_sched *s, double seconds) {
  if (!(seconds >= 0) || !isfinite(seconds))
    return ASX_E_ARG;
  if (s->state != S_STARTED || !s->paused || s->stepping)
    return ASX_E_STATE;
  s->step_target = s->now + seconds;
  s->stepping = 1;
  asx__sched_schedule_next(s);
  return 0;
}

int asx_sched_stepping(const asx_sched *s) { return s->stepping; }
