/* Unit tests of the scheduler with no Lua: each agent follows a script of
 * sleeps, and every resume is recorded as (agent, time), so the tests can
 * compare the whole run with exact values. The virtual clock drives every
 * test that checks times; the one real-clock test checks order only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <string.h>

#include "asx_sched.h"
#include "asx_wakeq.h"

#define MAX_AGENTS 16
#define MAX_STEPS 16
#define MAX_LOG 256

typedef struct run {
  /* script[a][k]: the delay agent a sleeps after its k-th resume; a
   * negative value ends the script (the agent returns). */
  double script[MAX_AGENTS][MAX_STEPS];
  int step[MAX_AGENTS];
  uint32_t log_agent[MAX_LOG];
  double log_time[MAX_LOG];
  int nlog;
  /* Optional actions on a given resume (by log index). */
  int stop_at;      /* asx_sched_stop when this resume happens */
  int finish_at;    /* asx_sched_finish(finish_agent) at this resume */
  int pause_at;     /* asx_sched_pause(s, 1) at this resume */
  uint32_t finish_agent;
  int ended;
} run;

static void resume(asx_sched *s, uint32_t agent, void *udata,
                   uint64_t *rng, void *data) {
  run *r = data;
  double delay;
  assert_int_equal(asx_sched_current(s), agent);
  assert_int_equal(asx_sched_state(s, agent), ASX_AGENT_RUNNING);
  assert_true(r->nlog < MAX_LOG);
  r->log_agent[r->nlog] = agent;
  r->log_time[r->nlog] = asx_sched_now(s);
  if (r->nlog == r->stop_at)
    asx_sched_stop(s);
  if (r->nlog == r->pause_at)
    assert_int_equal(asx_sched_pause(s, 1), 0);
  if (r->nlog == r->finish_at)
    assert_int_equal(asx_sched_finish(s, r->finish_agent, ASX_AGENT_STOPPED), 0);
  r->nlog++;
  delay = r->script[agent][r->step[agent]++];
  if (delay >= 0)
    assert_int_equal(asx_sched_wake(s, agent, delay), 0);
}

static void on_end(asx_sched *s, void *data) {
  run *r = data;
  r->ended++;
}

/* Sets agent a's script from a list ending with -1. */
static void script(run *r, uint32_t a, ...) {
  va_list ap;
  int k = 0;
  va_start(ap, a);
  for (;;) {
    double d = va_arg(ap, double);
    r->script[a][k++] = d;
    if (d < 0)
      break;
  }
  va_end(ap);
}

static asx_sched *make(run *r, int clock, uint32_t agents) {
  asx_sched *s;
  uint32_t first = 99;
  memset(r, 0, sizeof *r);
  r->stop_at = r->finish_at = r->pause_at = -1;
  s = asx_sched_new(NULL, clock, 42, resume, r);
  assert_non_null(s);
  asx_sched_on_end(s, on_end);
  assert_int_equal(asx_sched_add(s, agents, &first), 0);
  assert_int_equal(first, 0);
  return s;
}

/* Starts every agent at time 0 in position order, as the session does. */
static void start_all(asx_sched *s) {
  for (uint32_t a = 0; a < asx_sched_count(s); a++)
    assert_int_equal(asx_sched_wake(s, a, 0), 0);
}

static void expect(const run *r, int n, const uint32_t *agents,
                   const double *times) {
  assert_int_equal(r->nlog, n);
  for (int i = 0; i < n; i++) {
    assert_int_equal(r->log_agent[i], agents[i]);
    assert_true(r->log_time[i] == times[i]);
  }
}

/* Internal, for this test: where the next seq starts. */
void asx__sched_set_seq(asx_sched *s, uint32_t seq);

static void test_seq_renumbering_keeps_fifo(void **state) {
  run r;
  asx_sched *s = make(&r, ASX_CLOCK_VIRTUAL, 5);
  /* seq runs out during the run: the pending wake-ups are renumbered in
   * order, and ties still wake in the order they were set. */
  asx__sched_set_seq(s, ASX__WAKEQ_SEQ_LIMIT - 3);
  script(&r, 0, 0.5, 0.5, -1.0);
  script(&r, 1, 0.5, 0.5, -1.0);
  script(&r, 2, 0.5, 0.5, -1.0);
  script(&r, 3, 0.5, 0.5, -1.0);
  script(&r, 4, 0.5, 0.5, -1.0);
  start_all(s);
  assert_int_equal(asx_sched_run(s), 0);
  {
    const uint32_t a[] = {0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4};
    const double t[] = {0, 0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5, 0.5, 1, 1, 1, 1, 1};
    expect(&r, 15, a, t);
  }
  asx_sched_free(s);
}

static void test_wake_order(void **state) {
  run r;
  asx_sched *s = make(&r, ASX_CLOCK_VIRTUAL, 3);
  script(&r, 0, 0.75, 0.5, -1.0);
  script(&r, 1, 0.25, -1.0);
  script(&r, 2, 0.5, 1.0, -1.0);
  start_all(s);
  assert_int_equal(asx_sched_run(s), 0);
  {
    const uint32_t a[] = {0, 1, 2, 1, 2, 0, 0, 2};
    const double t[] = {0, 0, 0, 0.25, 0.5, 0.75, 1.25, 1.5};
    expect(&r, 8, a, t);
  }
  assert_true(asx_sched_now(s) == 1.5);
  assert_int_equal(r.ended, 1);
  assert_int_equal(asx_sched_session_state(s), ASX_SESSION_ENDED);
  for (uint32_t a = 0; a < 3; a++)
    assert_int_equal(asx_sched_state(s, a), ASX_AGENT_FINISHED);
  assert_int_equal(asx_sched_resumes(s), 8);
  asx_sched_free(s);
}

static void test_fifo_ties(void **state) {
  run r;
  asx_sched *s = make(&r, ASX_CLOCK_VIRTUAL, 5);
  /* All agents wake at 0.5; they were set in position order at time 0, so
   * they wake in that order. Then agent 3 sleeps 0 and runs after the
   * others already due at 0.5, and agent 1's sleep(0) after that. */
  script(&r, 0, 0.5, -1.0);
  script(&r, 1, 0.5, 0.0, -1.0);
  script(&r, 2, 0.5, -1.0);
  script(&r, 3, 0.5, 0.0, -1.0);
  script(&r, 4, 0.5, -1.0);
  start_all(s);
  assert_int_equal(asx_sched_run(s), 0);
  {
    const uint32_t a[] = {0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 1, 3};
    const double t[] = {0, 0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    expect(&r, 12, a, t);
  }
  asx_sched_free(s);
}

static void test_sleep_zero_yields_to_ready_agents(void **state) {
  run r;
  asx_sched *s = make(&r, ASX_CLOCK_VIRTUAL, 3);
  script(&r, 0, 0.0, 0.0, -1.0);
  script(&r, 1, -1.0);
  script(&r, 2, -1.0);
  start_all(s);
  assert_int_equal(asx_sched_run(s), 0);
  {
    const uint32_t a[] = {0, 1, 2, 0, 0};
    const double t[] = {0, 0, 0, 0, 0};
    expect(&r, 5, a, t);
  }
  asx_sched_free(s);
}

static void test_duration_boundary(void **state) {
  run r;
  asx_sched *s = make(&r, ASX_CLOCK_VIRTUAL, 2);
  /* Agent 0 wakes at exactly 1.0, which still runs; agent 1's next wake-up
   * at 1.125 lies beyond the duration, so the session ends at 1.0. */
  script(&r, 0, 1.0, 5.0, -1.0);
  script(&r, 1, 0.625, 0.5, -1.0);
  assert_int_equal(asx_sched_set_duration(s, 1.0), 0);
  start_all(s);
  assert_int_equal(asx_sched_run(s), 0);
  {
    const uint32_t a[] = {0, 1, 1, 0};
    const double t[] = {0, 0, 0.625, 1.0};
    expect(&r, 4, a, t);
  }
  assert_true(asx_sched_now(s) == 1.0);
  assert_int_equal(asx_sched_state(s, 0), ASX_AGENT_WAITING);
  assert_int_equal(asx_sched_state(s, 1), ASX_AGENT_WAITING);
  asx_sched_free(s);
}

static void test_duration_ends_clock_at_duration(void **state) {
  run r;
  asx_sched *s = make(&r, ASX_CLOCK_VIRTUAL, 1);
  script(&r, 0, 10.0, -1.0);
  assert_int_equal(asx_sched_set_duration(s, 2.5), 0);
  start_all(s);
  assert_int_equal(asx_sched_run(s), 0);
  assert_int_equal(r.nlog, 1);
  assert_true(asx_sched_now(s) == 2.5);
  asx_sched_free(s);
}

/* The courier: message times to deliver, in order; each delivery is
 * logged as agent COURIER. */
#define COURIER 99u
static double courier_times[8];
static int courier_next, courier_count;
static run *courier_run;

static void courier(asx_sched *s, void *data) {
  run *r = data;
  assert_ptr_equal(r, courier_run);
  assert_int_equal(asx_sched_current(s), ASX_SCHED_NONE);
  assert_true(asx_sched_courier_time(s) == INFINITY);
  r->log_agent[r->nlog] = COURIER;
  r->log_time[r->nlog++] = asx_sched_now(s);
  /* Code run for agent 1 is that agent's, for its generator and the
   * watchdog; then no agent is current again. */
  assert_int_equal(asx_sched_act_for(s, 1), 0);
  assert_int_equal(asx_sched_current(s), 1);
  assert_int_equal(asx_sched_act_for(s, ASX_SCHED_NONE), 0);
  assert_int_equal(asx_sched_act_for(s, 7), ASX_E_ARG);
  courier_next++;
  assert_int_equal(asx_sched_courier_at(s, courier_next < courier_count
                                               ? courier_times[courier_next]
                                               : INFINITY),
                   0);
}

static asx_sched *make_courier(run *r, int n, const double *times) {
  asx_sched *s = make(r, ASX_CLOCK_VIRTUAL, 2);
  courier_run = r;
  courier_next = 0;
  courier_count = n;
  memcpy(courier_times, times, (size_t)n * sizeof *times);
  assert_int_equal(asx_sched_courier_at(s, 1.0), ASX_E_STATE); /* no courier yet */
  asx_sched_on_courier(s, courier);
  assert_int_equal(asx_sched_courier_at(s, NAN), ASX_E_ARG);
  assert_int_equal(asx_sched_courier_at(s, times[0]), 0);
  assert_int_equal(asx_sched_act_for(s, 0), ASX_E_STATE); /* not inside it */
  return s;
}

static void test_courier_runs_before_agents_due_then(void **state) {
  run r;
  const double times[] = {0.25, 0.5, 0.5, 2.0};
  asx_sched *s = make_courier(&r, 4, times);
  script(&r, 0, 0.5, 0.5, -1.0);
  script(&r, 1, 0.5, -1.0);
  start_all(s);
  assert_int_equal(asx_sched_run(s), 0);
  {
    /* Messages due at 0.5 come before the agents due then; the session
     * goes on after the agents until the last message at 2.0. */
    const uint32_t a[] = {0, 1, COURIER, COURIER, COURIER, 0, 1, 0};
    const double t[] = {0, 0, 0.25, 0.5, 0.5, 0.5, 0.5, 1.0, 2.0};
    assert_int_equal(r.nlog, 9);
    for (int i = 0; i < 8; i++)
      assert_int_equal(r.log_agent[i], a[i]);
    assert_int_equal(r.log_agent[8], COURIER);
    for (int i = 0; i < 9; i++)
      assert_true(r.log_time[i] == t[i]);
  }
  assert_true(asx_sched_now(s) == 2.0);
  /* Courier calls are not resumes; act_for counts one for the watchdog. */
  assert_int_equal(asx_sched_resumes(s), 5 + 4);
  assert_int_equal(asx_sched_courier_at(s, 3.0), ASX_E_STATE); /* ended */
  asx_sched_free(s);
}

static void test_courier_beyond_the_duration(void **state) {
  run r;
  const double times[] = {1.0, 3.0};
  asx_sched *s = make_courier(&r, 2, times);
  script(&r, 0, -1.0);
  script(&r, 1, -1.0);
  assert_int_equal(asx_sched_set_duration(s, 2.0), 0);
  start_all(s);
  assert_int_equal(asx_sched_run(s), 0);
  assert_int_equal(r.nlog, 3);
  assert_int_equal(r.log_agent[2], COURIER);
  assert_true(r.log_time[2] == 1.0);
  assert_true(asx_sched_now(s) == 2.0);
  assert_true(asx_sched_courier_time(s) == 3.0);
  asx_sched_free(s);
}

static void test_stop_from_agent(void **state) {
  run r;
  asx_sched *s = make(&r, ASX_CLOCK_VIRTUAL, 3);
  script(&r, 0, 1.0, 1.0, -1.0);
  script(&r, 1, 1.0, 1.0, -1.0);
  script(&r, 2, 1.0, 1.0, -1.0);
  r.stop_at = 4; /* agent 1 at time 1 */
  start_all(s);
  assert_int_equal(asx_sched_run(s), 0);
  {
    const uint32_t a[] = {0, 1, 2, 0, 1};
    const double t[] = {0, 0, 0, 1.0, 1.0};
    expect(&r, 5, a, t);
  }
  assert_true(asx_sched_now(s) == 1.0);
  assert_int_equal(r.ended, 1);
  /* No agent runs again, even when the loop turns. */
  uv_run(uv_default_loop(), UV_RUN_NOWAIT);
  assert_int_equal(r.nlog, 5);
  asx_sched_free(s);
}

static void test_finished_agent_is_never_resumed(void **state) {
  run r;
  asx_sched *s = make(&r, ASX_CLOCK_VIRTUAL, 3);
  script(&r, 0, 0.25, 0.25, -1.0);
  script(&r, 1, 0.5, 0.5, -1.0);
  script(&r, 2, 0.75, -1.0);
  /* At agent 0's second resume, agent 1 (waiting for 0.5) is stopped. */
  r.finish_at = 3;
  r.finish_agent = 1;
  start_all(s);
  assert_int_equal(asx_sched_run(s), 0);
  {
    const uint32_t a[] = {0, 1, 2, 0, 0, 2};
    const double t[] = {0, 0, 0, 0.25, 0.5, 0.75};
    expect(&r, 6, a, t);
  }
  assert_int_equal(asx_sched_state(s, 1), ASX_AGENT_STOPPED);
  assert_int_equal(asx_sched_finish(s, 1, ASX_AGENT_FAILED), ASX_E_STATE);
  assert_int_equal(asx_sched_wake(s, 1, 0), ASX_E_STATE);
  asx_sched_free(s);
}

static void test_pause_and_step(void **state) {
  run r;
  uv_loop_t *loop = uv_default_loop();
  asx_sched *s = make(&r, ASX_CLOCK_VIRTUAL, 2);
  script(&r, 0, 0.25, 0.25, 0.25, 0.25, -1.0);
  script(&r, 1, 0.5, 0.5, -1.0);
  start_all(s);
  assert_int_equal(asx_sched_pause(s, 1), 0);
  assert_int_equal(asx_sched_start(s), 0);
  assert_int_equal(asx_sched_session_state(s), ASX_SESSION_PAUSED);
  /* Paused: turning the loop runs nothing. */
  uv_run(loop, UV_RUN_NOWAIT);
  uv_run(loop, UV_RUN_NOWAIT);
  assert_int_equal(r.nlog, 0);

  assert_int_equal(asx_sched_step(s, 0.5), 0);
  assert_int_equal(asx_sched_step(s, 0.5), ASX_E_STATE);
  while (asx_sched_stepping(s))
    uv_run(loop, UV_RUN_NOWAIT);
  {
    /* At 0.5 agent 1 wakes first: it set its wake-up earlier, at 0. */
    const uint32_t a[] = {0, 1, 0, 1, 0};
    const double t[] = {0, 0, 0.25, 0.5, 0.5};
    expect(&r, 5, a, t);
  }
  assert_true(asx_sched_now(s) == 0.5);
  assert_int_equal(asx_sched_session_state(s), ASX_SESSION_PAUSED);

  /* A step with nothing due still moves the clock. */
  assert_int_equal(asx_sched_step(s, 0.125), 0);
  while (asx_sched_stepping(s))
    uv_run(loop, UV_RUN_NOWAIT);
  assert_int_equal(r.nlog, 5);
  assert_true(asx_sched_now(s) == 0.625);

  /* Resuming runs the rest to the end. */
  assert_int_equal(asx_sched_pause(s, 0), 0);
  assert_int_equal(asx_sched_run(s), 0);
  {
    const uint32_t a[] = {0, 1, 0, 1, 0, 0, 1, 0};
    const double t[] = {0, 0, 0.25, 0.5, 0.5, 0.75, 1.0, 1.0};
    expect(&r, 8, a, t);
  }
  assert_int_equal(asx_sched_step(s, 1), ASX_E_STATE);
  asx_sched_free(s);
}

static void test_pause_ends_a_step(void **state) {
  run r;
  uv_loop_t *loop = uv_default_loop();
  asx_sched *s = make(&r, ASX_CLOCK_VIRTUAL, 1);
  script(&r, 0, 0.25, 0.25, 0.25, 0.25, 0.25, -1.0);
  start_all(s);
  assert_int_equal(asx_sched_pause(s, 1), 0);
  assert_int_equal(asx_sched_start(s), 0);

  /* From outside the loop, before the step ran anything. */
  assert_int_equal(asx_sched_step(s, 10), 0);
  assert_int_equal(asx_sched_pause(s, 1), 0);
  assert_int_equal(asx_sched_stepping(s), 0);
  uv_run(loop, UV_RUN_NOWAIT);
  assert_int_equal(r.nlog, 0);
  assert_true(asx_sched_now(s) == 0);

  /* From an agent, during the step: the clock stays at that wake-up. */
  r.pause_at = 2;
  assert_int_equal(asx_sched_step(s, 10), 0);
  for (int i = 0; i < 100 && asx_sched_stepping(s); i++)
    uv_run(loop, UV_RUN_NOWAIT);
  assert_int_equal(asx_sched_stepping(s), 0);
  assert_int_equal(r.nlog, 3);
  assert_true(asx_sched_now(s) == 0.5);
  assert_int_equal(asx_sched_session_state(s), ASX_SESSION_PAUSED);

  /* The session goes on from there. */
  assert_int_equal(asx_sched_step(s, 0.25), 0);
  while (asx_sched_stepping(s))
    uv_run(loop, UV_RUN_NOWAIT);
  assert_int_equal(r.nlog, 4);
  assert_true(asx_sched_now(s) == 0.75);
  assert_int_equal(r.ended, 0);
  asx_sched_stop(s);
  asx_sched_free(s);
  uv_run(loop, UV_RUN_DEFAULT);
}

/* The REPL's `me` sleeps to the end of a step in one wake-up; a pause that
 * cut the step short moves that wake-up back to where the step stopped, or
 * the next resume would jump the clock to the old end. */
static void test_rewake_moves_the_next_wake_up(void **state) {
  run r;
  uv_loop_t *loop = uv_default_loop();
  asx_sched *s = make(&r, ASX_CLOCK_VIRTUAL, 2);
  script(&r, 0, 100.0, 1.0, -1.0);
  script(&r, 1, 0.5, -1.0);
  start_all(s);
  assert_int_equal(asx_sched_pause(s, 1), 0);
  assert_int_equal(asx_sched_start(s), 0);
  r.pause_at = 2; /* agent 1, at 0.5: agent 0 sleeps until 100 */
  assert_int_equal(asx_sched_step(s, 100), 0);
  for (int i = 0; i < 100 && asx_sched_stepping(s); i++)
    uv_run(loop, UV_RUN_NOWAIT);
  assert_true(asx_sched_now(s) == 0.5);
  /* Agent 1 has ended: only the next wake-up moves. */
  assert_int_equal(asx_sched_rewake(s, 1, 0), ASX_E_STATE);
  assert_int_equal(asx_sched_rewake(s, 0, -1), ASX_E_ARG);
  assert_int_equal(asx_sched_rewake(s, 0, 0), 0);
  assert_int_equal(asx_sched_state(s, 0), ASX_AGENT_WAITING);
  /* Not sooner: nothing moves. */
  assert_int_equal(asx_sched_rewake(s, 0, 5), 0);
  assert_int_equal(asx_sched_pause(s, 0), 0);
  assert_int_equal(asx_sched_run(s), 0);
  {
    const uint32_t a[] = {0, 1, 1, 0, 0};
    const double t[] = {0, 0, 0.5, 0.5, 1.5};
    expect(&r, 5, a, t);
  }
  asx_sched_free(s);
}

static void test_real_clock_pause_and_step(void **state) {
  run r;
  uv_loop_t *loop = uv_default_loop();
  asx_sched *s = make(&r, ASX_CLOCK_REAL, 2);
  /* Paused, the real clock does not move either; a step runs what is due
   * up to its end at the wake-ups' own times, as on the virtual clock. */
  script(&r, 0, 0.25, 0.5, -1.0);
  script(&r, 1, 0.375, -1.0);
  start_all(s);
  assert_int_equal(asx_sched_pause(s, 1), 0);
  assert_int_equal(asx_sched_start(s), 0);
  assert_int_equal(asx_sched_step(s, 0.5), 0);
  while (asx_sched_stepping(s))
    uv_run(loop, UV_RUN_NOWAIT);
  {
    const uint32_t a[] = {0, 1, 0, 1};
    const double t[] = {0, 0, 0.25, 0.375};
    expect(&r, 4, a, t);
  }
  assert_true(asx_sched_now(s) == 0.5);
  assert_int_equal(asx_sched_session_state(s), ASX_SESSION_PAUSED);
  /* Resumed at a fast speed, the rest runs from 0.5 on. */
  assert_int_equal(asx_sched_set_speed(s, 1000), 0);
  assert_int_equal(asx_sched_pause(s, 0), 0);
  assert_int_equal(asx_sched_run(s), 0);
  assert_int_equal(r.nlog, 5);
  assert_int_equal(r.log_agent[4], 0);
  assert_true(r.log_time[4] >= 0.75);
  asx_sched_free(s);
}

static void test_bad_arguments(void **state) {
  run r;
  asx_sched *s = make(&r, ASX_CLOCK_VIRTUAL, 1);
  assert_null(asx_sched_new(NULL, 7, 1, resume, NULL));
  assert_null(asx_sched_new(NULL, ASX_CLOCK_REAL, 1, NULL, NULL));
  assert_int_equal(asx_sched_wake(s, 0, -1), ASX_E_ARG);
  assert_int_equal(asx_sched_wake(s, 0, NAN), ASX_E_ARG);
  assert_int_equal(asx_sched_wake(s, 0, INFINITY), ASX_E_ARG);
  assert_int_equal(asx_sched_wake(s, 1, 0), ASX_E_ARG);
  assert_int_equal(asx_sched_state(s, 0), ASX_AGENT_IDLE);
  assert_int_equal(asx_sched_wake(s, 0, 0), 0);
  assert_int_equal(asx_sched_wake(s, 0, 0), ASX_E_STATE);
  assert_int_equal(asx_sched_set_speed(s, 0), ASX_E_ARG);
  assert_int_equal(asx_sched_set_speed(s, -2), ASX_E_ARG);
  assert_int_equal(asx_sched_set_duration(s, NAN), ASX_E_ARG);
  assert_int_equal(asx_sched_add(s, 0, NULL), ASX_E_ARG);
  assert_int_equal(asx_sched_finish(s, 0, ASX_AGENT_WAITING), ASX_E_ARG);
  assert_int_equal(asx_sched_step(s, 1), ASX_E_STATE);
  asx_sched_free(s);
}

static void test_random_streams(void **state) {
  run r;
  asx_sched *a = make(&r, ASX_CLOCK_VIRTUAL, 3);
  asx_sched *b = asx_sched_new(NULL, ASX_CLOCK_VIRTUAL, 42, resume, &r);
  asx_sched *c = asx_sched_new(NULL, ASX_CLOCK_VIRTUAL, 43, resume, &r);
  uint64_t x0, x1;
  assert_int_equal(asx_sched_add(b, 3, NULL), 0);
  assert_int_equal(asx_sched_add(c, 3, NULL), 0);
  /* The same seed and position give the same stream, whatever the order
   * in which agents draw. */
  x0 = asx_sched_rand(a, 2);
  x1 = asx_sched_rand(a, 2);
  (void)asx_sched_rand(b, 0);
  assert_true(asx_sched_rand(b, 2) == x0);
  assert_true(asx_sched_rand(b, 2) == x1);
  assert_true(x0 != x1);
  assert_true(asx_sched_rand(a, 1) != asx_sched_rand(b, 0));
  assert_true(asx_sched_rand(c, 2) != x0);
  for (int i = 0; i < 1000; i++) {
    double d = asx_sched_rand01(a, 0);
    assert_true(d >= 0 && d < 1);
  }
  asx_sched_free(a);
  asx_sched_free(b);
  asx_sched_free(c);
}

static void test_labels(void **state) {
  run r;
  char buf[64];
  asx_sched *s = make(&r, ASX_CLOCK_VIRTUAL, 2);
  int g = asx_sched_group(s, "random_trader");
  assert_int_equal(g, 0);
  assert_int_equal(asx_sched_group(s, "random_trader"), 0);
  assert_int_equal(asx_sched_label(s, 1, g, 17), 0);
  assert_string_equal(asx_sched_describe(s, 1, buf, sizeof buf), "random_trader#17");
  assert_string_equal(asx_sched_describe(s, 0, buf, sizeof buf), "agent 0");
  assert_string_equal(asx_sched_describe(s, 1, buf, 7), "random");
  /* Labels survive growth. */
  assert_int_equal(asx_sched_add(s, 1000, NULL), 0);
  assert_string_equal(asx_sched_describe(s, 1, buf, sizeof buf), "random_trader#17");
  assert_string_equal(asx_sched_describe(s, 900, buf, sizeof buf), "agent 900");
  /* Agents added one after the other with numbers one after the other, as
   * a session labels them, and a second group, then a gap. */
  for (uint32_t a = 2; a < 500; a++)
    assert_int_equal(asx_sched_label(s, a, g, 16 + a), 0);
  assert_int_equal(asx_sched_group(s, "market_maker"), 1);
  for (uint32_t a = 500; a < 600; a++)
    assert_int_equal(asx_sched_label(s, a, 1, a - 499), 0);
  assert_int_equal(asx_sched_label(s, 700, g, 5), 0);
  assert_string_equal(asx_sched_describe(s, 2, buf, sizeof buf), "random_trader#18");
  assert_string_equal(asx_sched_describe(s, 499, buf, sizeof buf), "random_trader#515");
  assert_string_equal(asx_sched_describe(s, 500, buf, sizeof buf), "market_maker#1");
  assert_string_equal(asx_sched_describe(s, 599, buf, sizeof buf), "market_maker#100");
  assert_string_equal(asx_sched_describe(s, 600, buf, sizeof buf), "agent 600");
  assert_string_equal(asx_sched_describe(s, 700, buf, sizeof buf), "random_trader#5");
  assert_string_equal(asx_sched_describe(s, 701, buf, sizeof buf), "agent 701");
  /* Past the arrays' first room (the old ones are kept until the end for
   * the threads that may read them: ASan checks they are freed then). */
  for (uint32_t i = 0; i < 20; i++) {
    char name[3] = {'g', (char)('a' + i), '\0'};
    int gi = asx_sched_group(s, name);
    assert_int_equal(gi, 2 + (int)i);
    assert_int_equal(asx_sched_label(s, 800 + i, gi, 1), 0);
  }
  assert_string_equal(asx_sched_describe(s, 819, buf, sizeof buf), "gt#1");
  assert_string_equal(asx_sched_describe(s, 499, buf, sizeof buf), "random_trader#515");
  /* Labels go in the order agents were added, each once. */
  assert_int_equal(asx_sched_label(s, 650, g, 1), ASX_E_STATE);
  assert_int_equal(asx_sched_label(s, 700, g, 1), ASX_E_STATE);
  assert_string_equal(asx_sched_describe(s, 700, buf, sizeof buf), "random_trader#5");
  asx_sched_free(s);
}

static void resume_reads_udata(asx_sched *s, uint32_t agent, void *udata,
                               uint64_t *rng, void *data) {
  int *seen = data;
  /* The resume is handed the agent's udata and generator state. */
  assert_ptr_equal(udata, asx_sched_udata(s, agent));
  assert_ptr_equal(rng, asx_sched_rng_state(s, agent));
  seen[agent] = *(int *)udata;
}

static void test_udata(void **state) {
  int seen[3] = {0, 0, 0}, values[3] = {10, 20, 30};
  asx_sched *s = asx_sched_new(NULL, ASX_CLOCK_VIRTUAL, 1, resume_reads_udata, seen);
  assert_int_equal(asx_sched_add(s, 3, NULL), 0);
  assert_null(asx_sched_udata(s, 0));
  assert_null(asx_sched_udata(s, 3));
  assert_int_equal(asx_sched_set_udata(s, 3, values), ASX_E_ARG);
  for (uint32_t a = 0; a < 3; a++) {
    assert_int_equal(asx_sched_set_udata(s, a, &values[a]), 0);
    assert_int_equal(asx_sched_wake(s, a, 0.5 * a), 0);
  }
  /* Kept through growth. */
  assert_int_equal(asx_sched_add(s, 5000, NULL), 0);
  assert_ptr_equal(asx_sched_udata(s, 2), &values[2]);
  assert_null(asx_sched_udata(s, 4000));
  assert_int_equal(asx_sched_run(s), 0);
  assert_int_equal(seen[0], 10);
  assert_int_equal(seen[1], 20);
  assert_int_equal(seen[2], 30);
  asx_sched_free(s);
}

/* The order of a run of 300 agents that sleep pseudo-random delays, with
 * their udata set (every third one NULL) and the given prefetch span. */
typedef struct order_run {
  uint32_t order[6000];
  int n;
} order_run;

static void resume_records(asx_sched *s, uint32_t agent, void *udata,
                           uint64_t *rng, void *data) {
  order_run *o = data;
  uint32_t x = (agent * 2654435761u) ^ (uint32_t)o->n * 40503u;
  o->order[o->n++] = agent;
  if (o->n < 6000 - 300)
    assert_int_equal(asx_sched_wake(s, agent, (double)(x % 1000) / 997.0), 0);
}

static void run_with_span(order_run *o, uint32_t before, uint32_t after) {
  static char blocks[300][512];
  asx_sched *s = asx_sched_new(NULL, ASX_CLOCK_VIRTUAL, 1, resume_records, o);
  o->n = 0;
  assert_int_equal(asx_sched_prefetch_span(s, before, after), 0);
  assert_int_equal(asx_sched_add(s, 300, NULL), 0);
  for (uint32_t a = 0; a < 300; a++) {
    asx_sched_set_udata(s, a, a % 3 == 0 ? NULL : &blocks[a][256]);
    asx_sched_wake(s, a, 0);
  }
  assert_int_equal(asx_sched_run(s), 0);
  asx_sched_free(s);
}

/* Fetching ahead is only a hint: with a span or without, the same agents
 * run in the same order. A span past the limit is refused. */
static void test_prefetch_span_changes_nothing(void **state) {
  static order_run plain, spanned;
  asx_sched *s = asx_sched_new(NULL, ASX_CLOCK_VIRTUAL, 1, resume_records, &plain);
  assert_int_equal(asx_sched_prefetch_span(s, ASX_SCHED_SPAN_MAX, 1), ASX_E_ARG);
  assert_int_equal(asx_sched_prefetch_span(s, 1, ASX_SCHED_SPAN_MAX), ASX_E_ARG);
  assert_int_equal(asx_sched_prefetch_span(s, 200, ASX_SCHED_SPAN_MAX - 200), 0);
  asx_sched_free(s);
  run_with_span(&plain, 0, 0);
  run_with_span(&spanned, 72, 256);
  assert_true(plain.n > 5000);
  assert_int_equal(spanned.n, plain.n);
  assert_memory_equal(spanned.order, plain.order, sizeof plain.order[0] * (size_t)plain.n);
}

/* A random workload over many agents: each resume checks that (time, order
 * of setting) only grows, and some resumes stop a random other agent, which
 * exercises removal from the middle of the heap. */
typedef struct heap_run {
  uint64_t set_order[1000];
  uint64_t next_order;
  double last_time;
  uint64_t last_order;
  uint64_t x;
  int resumes;
} heap_run;

static uint64_t lcg(heap_run *h) {
  h->x = h->x * 6364136223846793005ULL + 1442695040888963407ULL;
  return h->x >> 33;
}

static void heap_resume(asx_sched *s, uint32_t agent, void *udata,
                        uint64_t *rng, void *data) {
  heap_run *h = data;
  double now = asx_sched_now(s);
  assert_true(now > h->last_time ||
              (now == h->last_time && h->set_order[agent] > h->last_order) ||
              h->resumes == 0);
  h->last_time = now;
  h->last_order = h->set_order[agent];
  h->resumes++;
  if (lcg(h) % 10 == 0) {
    uint32_t victim = (uint32_t)(lcg(h) % 1000);
    if (victim != agent)
      asx_sched_finish(s, victim, ASX_AGENT_STOPPED);
  }
  h->set_order[agent] = h->next_order++;
  assert_int_equal(asx_sched_wake(s, agent, (double)(lcg(h) % 8) * 0.125), 0);
}

static void test_many_agents_heap(void **state) {
  heap_run h;
  asx_sched *s;
  memset(&h, 0, sizeof h);
  h.x = 7;
  s = asx_sched_new(NULL, ASX_CLOCK_VIRTUAL, 1, heap_resume, &h);
  assert_int_equal(asx_sched_add(s, 1000, NULL), 0);
  for (uint32_t a = 0; a < 1000; a++) {
    h.set_order[a] = h.next_order++;
    assert_int_equal(asx_sched_wake(s, a, 0), 0);
  }
  assert_int_equal(asx_sched_set_duration(s, 50), 0);
  assert_int_equal(asx_sched_run(s), 0);
  assert_true(h.resumes > 1000);
  assert_true(asx_sched_now(s) == 50);
  asx_sched_free(s);
}

static void test_real_clock_order(void **state) {
  run r;
  asx_sched *s = make(&r, ASX_CLOCK_REAL, 3);
  /* A fast clock keeps the test short; only the order is checked. */
  assert_int_equal(asx_sched_set_speed(s, 1000), 0);
  script(&r, 0, 2.0, -1.0);
  script(&r, 1, 1.0, -1.0);
  script(&r, 2, 3.0, 50.0, -1.0);
  assert_int_equal(asx_sched_set_duration(s, 4.0), 0);
  start_all(s);
  assert_int_equal(asx_sched_run(s), 0);
  assert_int_equal(r.nlog, 6);
  assert_int_equal(r.log_agent[3], 1);
  assert_int_equal(r.log_agent[4], 0);
  assert_int_equal(r.log_agent[5], 2);
  assert_true(r.log_time[3] >= 1.0 && r.log_time[4] >= 2.0 && r.log_time[5] >= 3.0);
  assert_true(asx_sched_now(s) == 4.0);
  asx_sched_free(s);
}

/* ---- agents that are always due ---------------------------------------- */

/* Agents that sleep `delay` after every resume, for good. At resume number
 * act_at one of them acts (stops the session from outside through a
 * uv_async, or raises SIGINT); a run that goes on far past that fails
 * instead of hanging. */
#define SPIN_LIMIT 5000000

typedef struct spin_run {
  double delay;
  uint64_t resumes, act_at;
  int action; /* SPIN_* */
  double last_time;
  uv_async_t async;
  asx_sched *s;
} spin_run;

enum { SPIN_NONE, SPIN_ASYNC, SPIN_SIGINT };

static void spin_resume(asx_sched *s, uint32_t agent, void *udata,
                        uint64_t *rng, void *data) {
  spin_run *r = data;
  r->resumes++;
  r->last_time = asx_sched_now(s);
  if (r->resumes > SPIN_LIMIT)
    fail_msg("the session did not stop (%llu resumes)", (unsigned long long)r->resumes);
  if (r->resumes == r->act_at && r->action == SPIN_ASYNC)
    uv_async_send(&r->async);
  if (r->resumes == r->act_at && r->action == SPIN_SIGINT)
    raise(SIGINT);
  assert_int_equal(asx_sched_wake(s, agent, r->delay), 0);
}

static void spin_stop(uv_async_t *h) {
  spin_run *r = h->data;
  asx_sched_stop(r->s);
  uv_close((uv_handle_t *)h, NULL);
}

static asx_sched *spin_make(spin_run *r, int clock, uint32_t agents) {
  memset(r, 0, sizeof *r);
  r->s = asx_sched_new(NULL, clock, 1, spin_resume, r);
  assert_non_null(r->s);
  assert_int_equal(asx_sched_add(r->s, agents, NULL), 0);
  for (uint32_t a = 0; a < agents; a++)
    assert_int_equal(asx_sched_wake(r->s, a, 0), 0);
  return r->s;
}

static void test_real_clock_serves_the_loop_while_always_due(void **state) {
  spin_run r;
  /* Agents that sleep(0) are due at every instant. The loop must still
   * poll between batches, or nothing else on it (a signal's uv_async, a
   * logger's socket) is ever served: here a uv_async stops the session. */
  asx_sched *s = spin_make(&r, ASX_CLOCK_REAL, 3);
  uv_async_init(uv_default_loop(), &r.async, spin_stop);
  r.async.data = &r;
  r.action = SPIN_ASYNC;
  r.act_at = 5000; /* a few batches in */
  assert_int_equal(asx_sched_run(s), 0);
  /* The async is served at the end of the batch that sent it. */
  assert_true(r.resumes >= 5000 && r.resumes < 5000 + 2 * 1024);
  assert_int_equal(asx_sched_session_state(s), ASX_SESSION_ENDED);
  asx_sched_free(s);
  uv_run(uv_default_loop(), UV_RUN_NOWAIT);
}

static void test_signal_stops_after_the_running_agent(void **state) {
  spin_run r;
  /* SIGINT stops the session before the next resume, even in the middle
   * of a batch of agents that are always due. */
  asx_sched *s = spin_make(&r, ASX_CLOCK_REAL, 3);
  assert_int_equal(asx_sched_catch_signals(s, 1, "test_sched"), 0);
  r.action = SPIN_SIGINT;
  r.act_at = 3000;
  assert_int_equal(asx_sched_run(s), 0);
  assert_int_equal(r.resumes, 3000);
  assert_int_equal(asx_sched_signal(s), SIGINT);
  asx_sched_free(s);
}

static void test_sleep_zero_at_the_duration_ends(void **state) {
  run r;
  asx_sched *s = make(&r, ASX_CLOCK_VIRTUAL, 2);
  /* At exactly the duration an agent runs once more; when it asks to run
   * again at that same instant (sleep(0)), the session ends instead of
   * running it forever. Agent 1 is due at the duration too, and runs. */
  script(&r, 0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
         0.0, -1.0);
  script(&r, 1, 1.0, 0.0, -1.0);
  assert_int_equal(asx_sched_set_duration(s, 1.0), 0);
  start_all(s);
  assert_int_equal(asx_sched_run(s), 0);
  {
    const uint32_t a[] = {0, 1, 0, 1};
    const double t[] = {0, 0, 1.0, 1.0};
    expect(&r, 4, a, t);
  }
  assert_true(asx_sched_now(s) == 1.0);
  assert_int_equal(asx_sched_state(s, 0), ASX_AGENT_WAITING);
  assert_int_equal(asx_sched_state(s, 1), ASX_AGENT_WAITING);
  asx_sched_free(s);
}

static void test_real_clock_sleep_zero_at_the_duration_ends(void **state) {
  spin_run r;
  /* The real clock reaches the duration while agents keep sleeping 0:
   * the wake-ups then all fall at the duration itself. */
  asx_sched *s = spin_make(&r, ASX_CLOCK_REAL, 2);
  assert_int_equal(asx_sched_set_speed(s, 1000), 0);
  assert_int_equal(asx_sched_set_duration(s, 20), 0); /* 20 ms of wall time */
  assert_int_equal(asx_sched_run(s), 0);
  assert_true(r.last_time == 20);
  assert_true(asx_sched_now(s) == 20);
  asx_sched_free(s);
}

static void stop_timer(uv_timer_t *t) {
  asx_sched_stop(t->data);
  uv_close((uv_handle_t *)t, NULL);
}

static void test_real_clock_stop_takes_the_time_of_the_stop(void **state) {
  spin_run r;
  uv_timer_t t;
  /* The only agent sleeps for 1000 s of session time (a second of wall
   * time at speed 1000); the session is stopped during that sleep, after
   * 100 ms of wall time: its clock is where the stop found it, not at the
   * last wake-up (its first, at the start), and not beyond the duration. */
  asx_sched *s = spin_make(&r, ASX_CLOCK_REAL, 1);
  r.delay = 1000;
  assert_int_equal(asx_sched_set_speed(s, 1000), 0);
  assert_int_equal(asx_sched_set_duration(s, 5000), 0);
  assert_int_equal(asx_sched_start(s), 0);
  uv_timer_init(uv_default_loop(), &t);
  t.data = s;
  /* The loop's cached time may be old: the timer counts from now. */
  uv_update_time(uv_default_loop());
  uv_timer_start(&t, stop_timer, 100, 0);
  assert_int_equal(asx_sched_run(s), 0);
  assert_int_equal(r.resumes, 1);
  assert_true(asx_sched_now(s) > r.last_time);
  assert_true(asx_sched_now(s) >= 100 && asx_sched_now(s) < 5000);
  asx_sched_free(s);
  uv_run(uv_default_loop(), UV_RUN_NOWAIT);
}

/* ---- agents that do not yield ------------------------------------------ */

typedef struct stuck_run {
  volatile sig_atomic_t called, agent, kind;
  double stuck_for;
} stuck_run;

static stuck_run stuck;

/* The stuck function, in the SIGURG handler: it claims the report, as the
 * Lua binding's hook does. */
static void on_stuck(asx_sched *s, uint32_t agent, void *data) {
  (void)data;
  stuck.agent = (sig_atomic_t)agent;
  stuck.kind = asx_sched_stuck_claim(s);
  stuck.stuck_for = asx_sched_stuck_for(s);
  asx_sched_stuck_reported(s, "here:1");
  stuck.called++;
}

/* Agent 1 runs until the watchdog has called the stuck function (or 10 s
 * of wall time pass); the others return at once. */
static void stuck_resume(asx_sched *s, uint32_t agent, void *udata,
                         uint64_t *rng, void *data) {
  uint64_t t0 = uv_hrtime();
  (void)s;
  (void)data;
  if (agent != 1)
    return;
  while (!stuck.called && uv_hrtime() - t0 < 10000000000ULL) {
  }
}

static void test_watchdog_reports_an_agent_that_does_not_yield(void **state) {
  asx_sched *s = asx_sched_new(NULL, ASX_CLOCK_VIRTUAL, 1, stuck_resume, NULL);
  memset(&stuck, 0, sizeof stuck);
  assert_int_equal(asx_sched_watch(s, -1, on_stuck), ASX_E_ARG);
  assert_int_equal(asx_sched_watch(s, INFINITY, on_stuck), ASX_E_ARG);
  assert_int_equal(asx_sched_watch(s, 0.1, on_stuck), 0);
  assert_int_equal(asx_sched_add(s, 3, NULL), 0);
  for (uint32_t a = 0; a < 3; a++)
    assert_int_equal(asx_sched_wake(s, a, 0), 0);
  assert_int_equal(asx_sched_run(s), 0);
  /* Called once, on this thread, about agent 1, while it ran. */
  assert_int_equal(stuck.called, 1);
  assert_int_equal(stuck.agent, 1);
  assert_int_equal(stuck.kind, ASX_STUCK_WARNING);
  assert_true(stuck.stuck_for >= 0.1);
  /* The report was taken: none is due any more. */
  assert_int_equal(asx_sched_stuck_claim(s), ASX_STUCK_NONE);
  assert_int_equal(asx_sched_watch(s, 1, on_stuck), ASX_E_STATE);
  asx_sched_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wake_order),
      cmocka_unit_test(test_seq_renumbering_keeps_fifo),
      cmocka_unit_test(test_fifo_ties),
      cmocka_unit_test(test_sleep_zero_yields_to_ready_agents),
      cmocka_unit_test(test_duration_boundary),
      cmocka_unit_test(test_duration_ends_clock_at_duration),
      cmocka_unit_test(test_courier_runs_before_agents_due_then),
      cmocka_unit_test(test_courier_beyond_the_duration),
      cmocka_unit_test(test_stop_from_agent),
      cmocka_unit_test(test_finished_agent_is_never_resumed),
      cmocka_unit_test(test_pause_and_step),
      cmocka_unit_test(test_pause_ends_a_step),
      cmocka_unit_test(test_rewake_moves_the_next_wake_up),
      cmocka_unit_test(test_real_clock_pause_and_step),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_random_streams),
      cmocka_unit_test(test_labels),
      cmocka_unit_test(test_udata),
      cmocka_unit_test(test_many_agents_heap),
      cmocka_unit_test(test_real_clock_order),
      cmocka_unit_test(test_real_clock_serves_the_loop_while_always_due),
      cmocka_unit_test(test_signal_stops_after_the_running_agent),
      cmocka_unit_test(test_sleep_zero_at_the_duration_ends),
      cmocka_unit_test(test_real_clock_sleep_zero_at_the_duration_ends),
      cmocka_unit_test(test_real_clock_stop_takes_the_time_of_the_stop),
      cmocka_unit_test(test_watchdog_reports_an_agent_that_does_not_yield),
      cmocka_unit_test(test_prefetch_span_changes_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
