/* The scheduler (see asx_sched.h for the model): agents, wake-ups and
 * batches. Clocks and turns of the loop, signals, labels and the watchdog
 * have files of their own (asx_sched_int.h lists them).
 *
 * Data structures, indexed by agent number and grown together by
 * asx_sched_add, so that an agent costs about 45 bytes and no libuv handle:
 *   q         the wake-up queue (asx_wakeq.h): 44 bytes per agent and O(1)
 *             per wake-up however many agents there are;
 *   ag[a]     the queue's 32-byte entry for the agent, which also holds its
 *             splitmix64 state and the caller's pointer (asx_sched_udata:
 *             the Lua binding keeps the agent's coroutine there), so that a
 *             resume and the wake-up it sets touch one cache line;
 *   st[a]     its state, one byte;
 *   labels    names for messages, a few runs in all (asx_sched_label.c).
 *
 * Costs: wake, finish and each resume O(1) amortized.
 *
 * Batches. Each turn of the libuv loop (asx_sched_clock.c) runs at most
 * ASX_SCHED_BATCH wake-ups and then returns to the loop, so a signal, a
 * logger's socket or the REPL is served at least every few hundred
 * microseconds even when thousands of agents are due at the same instant.
 *
 * Deliberately not supported: more than one pending wake-up per agent,
 * moving a pending wake-up (finish the agent or let it run), and running two
 * sessions' batches inside each other.
 */
#include "asx_sched_int.h"
#include "asx_array.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#define ASX_SCHED_BATCH 1024
/* The prefetch pipeline along the queue's order (see prefetch_ahead): a
 * batch of PREFETCH_BATCH agents at once for the first two stages, the
 * entries PF_SLOT and the first lines PF_WALK places ahead; one agent a
 * resume for the span, PF_SPAN places ahead. */
#define PREFETCH_BATCH 16
#define PF_SPAN 12
#define PF_WALK 32
#define PF_SLOT 48
#define PF_END (PF_SLOT + PREFETCH_BATCH)
#define LINE 64
_Static_assert(PF_END < ASX_WAKEQ_AHEAD && PF_END == ASX__SCHED_PF_IDS,
               "the queue lists the whole pipeline even right after a pop");
_Static_assert(PF_SPAN + PREFETCH_BATCH <= PF_WALK &&
                   PF_WALK + PREFETCH_BATCH <= PF_SLOT,
               "each stage fetches what the one after it reads");
#define GOLDEN 0x9E3779B97F4A7C15ULL

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

/* The draws below share these, inlined: an agent's draw (asx_sched_draw,
 * several per order of a random trader) would otherwise cost three calls
 * through the library's PLT. */
static inline uint64_t next_rand(asx_sched *s, uint32_t agent) {
  uint64_t *state = agent < s->n ? &s->ag[agent].word : &s->session_rng;
  *state += GOLDEN;
  return mix64(*state);
}

static inline double unit_interval(uint64_t r) {
  return (double)(r >> 11) * 0x1.0p-53;
}

uint64_t asx_sched_rand(asx_sched *s, uint32_t agent) {
  return next_rand(s, agent);
}

double asx_sched_rand01(asx_sched *s, uint32_t agent) {
  return unit_interval(next_rand(s, agent));
}

uint64_t *asx_sched_rng_state(asx_sched *s, uint32_t agent) {
  return agent < s->n ? &s->ag[agent].word : &s->session_rng;
}

/* The scheduler asx_sched_draw uses: the one whose batch runs, else the
 * last one made (outside a batch) or run. Cleared when it is freed. */
static asx_sched *active;

double asx_sched_draw(void) {
  static uint64_t fallback = 0x853c49e6748fea9bULL;
  if (!active) {
    fallback += GOLDEN;
    return unit_interval(mix64(fallback));
  }
  return unit_interval(next_rand(active, active->current));
}

/* ---- batches ----------------------------------------------------------- */

/* Calls the courier at time t; it sets its next time itself. */
static void run_courier(asx_sched *s, double t) {
  assert(s->current == ASX_SCHED_NONE);
  s->now = s->resumed = t;
  s->courier_at = INFINITY;
  s->in_courier = 1;
  s->courier(s, s->data);
  s->in_courier = 0;
  STORE(s->current, ASX_SCHED_NONE);
}

/* Fetches the SPAN_LINES lines from line on, unrolled: the most a span of
 * ASX_SCHED_SPAN_MAX bytes can touch wherever it starts, so that a shorter
 * span costs a line or two fetched for nothing, never a loop over a count
 * the compiler does not know (which took as many instructions as the
 * fetches). */
#define SPAN_LINES ((ASX_SCHED_SPAN_MAX + 2 * (LINE - 1)) / LINE)
static inline void prefetch_span(const char *line) {
#pragma GCC unroll 8
  for (int k = 0; k < SPAN_LINES; k++)
    __builtin_prefetch(line + k * LINE);
}

/* With many agents each one's state is cold by its turn: its lines come
 * from memory, and its page's address from a walk of the page tables, which
 * a cache prefetch waits for before later instructions can retire. Fetched
 * one agent per resume, each resume would wait for one walk; fetched a
 * batch at once, the walks of the batch overlap. Along the queue's order,
 * in three stages, since each needs what the one before fetched: the
 * entries (ag: the queue reads the time there when the agent comes first,
 * and writes the next wake-up there after its resume) and the state bytes
 * of the agents PF_SLOT places ahead and the PREFETCH_BATCH after them (st
 * is a megabyte at a million agents, beyond the core's own cache: the store
 * of RUNNING waited for it a fifth of run_batch's time); a batch later,
 * the first line of what the entries point to (the walk), PF_WALK places
 * ahead; and the span each resume reads
 * (asx_sched_prefetch_span), PF_SPAN places ahead, one agent a resume
 * (prefetch_next). The span is not fetched by batches: sixteen agents' spans
 * at once are a hundred lines, more misses than the core keeps in flight,
 * and the rest were dropped (a million random traders: the coroutine's
 * first line still missed at a seventh of the samples with four agents a
 * batch and the stages a batch apart, when each stage waited too little).
 * Called every PREFETCH_BATCH resumes; the ids it lists serve the spans
 * until the next call (a wake-up set meanwhile that comes in between only
 * makes a span fetched for a later turn).
 *
 * Where a million agents' time still goes (the orders bench, 0.5 session
 * seconds, perf cpu-clock, 80a7fd3). On the 2-vCPU VM the benches run on,
 * a chain of dependent loads costs 35 ns a load within 1 MB, 270 to 390 ns
 * at 4 MB, 530 ns at 64 MB on huge pages (920 on small ones) and 1.3 us at
 * 1 GB (1.5): the L3 gives little, and huge pages cut misses of the TLB
 * without ending them, as if the host backed the guest's memory with small
 * pages. The prefetch of the coroutine here (the walk) is where a
 * resume's misses now wait: 65 to 78% of run_batch's samples fall on it,
 * even in the batch at time 0 whose agents lie in the order they were
 * made; the bucket head's prefetch in asx_wakeq_push 88% of that
 * function, and the node's load in gather_keys 88% of its. Moved, the
 * wait does not go: the walk spread over the resumes (one agent a resume,
 * PF_WALK ahead) made the run slower (CPU medians 0.90M orders/s against
 * 1.02M, six runs each), and without it the span's prefetch waited
 * instead (0.82M against 0.97M). That batch at time 0 (every agent's first
 * turn, no order placed) takes 0.14 to 0.21 of the run's 0.52 CPU seconds,
 * a cost a thousand agents do not pay; page faults on this thread are
 * 0.5% of its samples, LuaJIT's mprotect of its machine code (a shootdown
 * of the TLB on the allocator's other thread's core) another 0.5% (2.7%
 * on a loaded machine, where the IPI waits for that core). The
 * kernel's zeroing of the wake queue's ring as that batch's wake-ups
 * filled it, 7% of the batch (4.3% of a million random traders' run),
 * is done while agents are added (grow_ring in asx_wakeq.c), and so is
 * that of the rung the top then becomes (asx_wakeq_reserve).
 *
 * Instructions more than misses now make the gap from a thousand agents
 * (callgrind, run_batch inclusive, once the resume was handed its udata):
 * 1,000 random traders for 500 s take 1,900 instructions an order,
 * 1,000,000 for 0.5 s 3,230, for each of the million also has a first
 * turn, with no order, of about 810 (100,000 agents at -d 0, once the
 * first turn became one compiled trace, asx_lua_agent.c's "How an agent
 * starts": 3,520 and 980 before): LuaJIT 390 (the trace 214, lua_resume
 * 105, the exit at the yield 70), run_batch 104, the resume 70,
 * sched_wake and its push 104, wakeq_first and take 49, and 54 to deal
 * that instant's wake-ups from the top into a rung. A quiet machine ran
 * the million at 0.91 of the thousand's instructions per second (6.8
 * against 7.5 G/s at 1.92M and 3.93M orders/s, with 3,520 an order), so
 * the ratio, 0.49 then, would now be 0.59 (instructions per order) times
 * 0.91 (misses), 0.54. What is left of a first turn is what every turn costs
 * (the resume, the wake-up, the queue) plus the cycle's first lines. */
static void prefetch_ahead(asx_sched *s) {
  uint32_t *ids = s->pf_ids;
  uint32_t n = asx_wakeq_ahead(s->q, ids, PF_END), i;
  s->pf_n = n;
  s->pf_pos = 0;
  for (i = PF_WALK; i < n && i < PF_WALK + PREFETCH_BATCH; i++)
    __builtin_prefetch(s->ag[ids[i]].ptr);
  for (i = PF_SLOT; i < n && i < PF_END; i++) {
    __builtin_prefetch(&s->ag[ids[i]], 1);
    __builtin_prefetch(&s->st[ids[i]], 1);
  }
}

/* Called once per resume: the span of the agent PF_SPAN turns ahead, and
 * the batch stages every PREFETCH_BATCH resumes. */
static inline void prefetch_next(asx_sched *s) {
  uint32_t i;
  if (s->pf_pos == PREFETCH_BATCH)
    prefetch_ahead(s);
  i = PF_SPAN + s->pf_pos++;
  if (i < s->pf_n) {
    uintptr_t u = (uintptr_t)s->ag[s->pf_ids[i]].ptr;
    if (u != 0)
      prefetch_span((const char *)((u - s->pf_before) & ~(uintptr_t)(LINE - 1)));
  }
}

/* Runs due wake-ups with time <= limit, at most ASX_SCHED_BATCH of them.
 * With jump set (virtual clock, or a step) the clock moves to each
 * wake-up's own time; otherwise (real clock) every wake-up of the batch runs
 * at time limit, which is the measured time. Returns 1 when it stopped for
 * the budget with more due, 0 when nothing more is due or it must stop. */
int asx__sched_run_batch(asx_sched *s, double limit, int jump) {
  int budget = ASX_SCHED_BATCH;
  assert(s->state == S_STARTED && !s->in_batch);
  s->in_batch = 1;
  active = s;
  for (;;) {
    double t;
    uint32_t a = asx_wakeq_first(s->q, &t);
    /* A message due at an instant arrives before the agents due then. */
    int courier = s->courier_at <= t;
    if (courier)
      t = s->courier_at;
    if (isinf(t) || t > limit)
      break;
    if (s->stop_req || (s->paused && !s->stepping)) {
      s->in_batch = 0;
      return 0;
    }
    if (budget-- == 0) {
      s->in_batch = 0;
      return 1;
    }
    if (courier) {
      run_courier(s, jump ? t : limit);
      continue;
    }
    asx_wakeq_take(s->q);
    if (s->pf_on)
      prefetch_next(s);
    assert(s->st[a] == ASX_AGENT_WAITING && s->current == ASX_SCHED_NONE);
    s->now = s->resumed = jump ? t : limit;
    s->st[a] = ASX_AGENT_RUNNING;
    STORE(s->current, a);
    STORE(s->resumes, s->resumes + 1);
    s->resume(s, a, s->ag[a].ptr, &s->ag[a].word, s->data);
    STORE(s->current, ASX_SCHED_NONE);
    /* Returning without sleeping is finishing. */
    if (s->st[a] == ASX_AGENT_RUNNING)
      s->st[a] = ASX_AGENT_FINISHED;
    /* A resume leaves its agent waiting again or ended, never idle. */
    assert(s->st[a] == ASX_AGENT_WAITING || s->st[a] >= ASX_AGENT_FINISHED);
  }
  s->in_batch = 0;
  return 0;
}

/* ---- the public calls -------------------------------------------------- */

int asx_sched_prefetch_span(asx_sched *s, uint32_t before, uint32_t after) {
  if (before > ASX_SCHED_SPAN_MAX || after > ASX_SCHED_SPAN_MAX - before)
    return ASX_E_ARG;
  s->pf_before = before;
  s->pf_on = before + after > 0;
  return 0;
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
  s->courier_at = INFINITY;
  s->speed = 1;
  s->seed = seed;
  s->session_rng = mix64(seed);
  s->current = ASX_SCHED_NONE;
  s->pf_pos = PREFETCH_BATCH; /* the first resume lists the agents ahead */
  s->where_resume = UINT64_MAX;
  s->stuck_resume = UINT64_MAX;
  s->stuck_late = UINT64_MAX;
  /* One made by an agent (a session of its own) does not take the draws
   * of the batch that runs, as the agents' fill notices make them. */
  if (!active || !active->in_batch)
    active = s;
  return s;
}

void asx_sched_free(asx_sched *s) {
  if (!s)
    return;
  assert(!s->in_batch);
  if (active == s)
    active = NULL;
  asx__sched_restore_signals(s);
  if (s->state == S_STARTED) {
    /* The handles belong to the loop until their close callbacks ran. */
    s->on_end = NULL;
    s->free_on_close = 1;
    asx__sched_end_session(s);
    return;
  }
  if (s->handles_open > 0) {
    s->free_on_close = 1;
    return;
  }
  asx__sched_free_labels(s);
  asx_wakeq_free(s->q);
  asx__array_free(s->st, s->cap, sizeof *s->st);
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
    /* The queue first: it keeps the room it made even when st cannot
     * grow, and st is grown last, so that it is cap long whenever cap
     * moved. Even a reserve that failed may have moved the entries. */
    int rc = asx_wakeq_reserve(s->q, cap);
    s->ag = asx_wakeq_entries(s->q);
    if (rc != 0 || !asx__array_grow((void **)&s->st, s->cap, cap, sizeof *s->st))
      return ASX_E_NOMEM;
    s->cap = cap;
  }
  for (uint32_t a = s->n; a < need; a++) {
    s->st[a] = ASX_AGENT_IDLE;
    s->ag[a].word = agent_seed(s->seed, a);
    s->ag[a].ptr = NULL;
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
  /* Past the largest time (sleep(1e308) twice) is at the largest time:
   * the sum overflows to infinity, which the queue does not take, where
   * each delay alone was fine. */
  t = s->now + delay;
  if (!isfinite(t))
    t = DBL_MAX;
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
    asx__sched_schedule_next(s);
  return 0;
}

int asx_sched_rewake(asx_sched *s, uint32_t agent, double delay) {
  double t;
  if (agent >= s->n || !(delay >= 0) || !isfinite(delay))
    return ASX_E_ARG;
  if (s->st[agent] != ASX_AGENT_WAITING || asx_wakeq_first(s->q, &t) != agent ||
      s->courier_at <= t)
    return ASX_E_STATE;
  if (t <= s->now + delay)
    return 0;
  asx_wakeq_take(s->q);
  s->st[agent] = ASX_AGENT_IDLE;
  return asx_sched_wake(s, agent, delay);
}

int asx_sched_finish(asx_sched *s, uint32_t agent, int state) {
  if (agent >= s->n || state < ASX_AGENT_FINISHED || state > ASX_AGENT_STOPPED)
    return ASX_E_ARG;
  if (s->st[agent] >= ASX_AGENT_FINISHED)
    return ASX_E_STATE;
  if (s->st[agent] == ASX_AGENT_WAITING)
    asx_wakeq_remove(s->q, agent);
  /* Only the resume function may end the agent that runs (its own). */
  assert(s->st[agent] != ASX_AGENT_RUNNING || s->in_batch);
  s->st[agent] = (uint8_t)state;
  return 0;
}

int asx_sched_state(const asx_sched *s, uint32_t agent) {
  return agent < s->n ? s->st[agent] : ASX_E_ARG;
}

int asx_sched_set_udata(asx_sched *s, uint32_t agent, void *udata) {
  if (agent >= s->n)
    return ASX_E_ARG;
  s->ag[agent].ptr = udata;
  return 0;
}

void *asx_sched_udata(const asx_sched *s, uint32_t agent) {
  return agent < s->n ? s->ag[agent].ptr : NULL;
}

void asx_sched_on_courier(asx_sched *s, asx_sched_courier_fn fn) {
  s->courier = fn;
}

int asx_sched_courier_at(asx_sched *s, double time) {
  if (!s->courier || s->state == S_ENDED)
    return ASX_E_STATE;
  if (!(time >= s->now))
    return ASX_E_ARG;
  s->courier_at = time;
  /* As for a wake-up: only a time set from outside a batch can be earlier
   * than what the loop is waiting for. */
  if (s->clock == ASX_CLOCK_REAL && !s->in_batch)
    asx__sched_schedule_next(s);
  return 0;
}

double asx_sched_courier_time(const asx_sched *s) { return s->courier_at; }

int asx_sched_act_for(asx_sched *s, uint32_t agent) {
  if (!s->in_courier)
    return ASX_E_STATE;
  if (agent != ASX_SCHED_NONE && agent >= s->n)
    return ASX_E_ARG;
  /* A new "resume" for the watchdog, so that a handler that does not
   * return is told apart from the turn before it. */
  if (agent != ASX_SCHED_NONE)
    STORE(s->resumes, s->resumes + 1);
  STORE(s->current, agent);
  return 0;
}

uint32_t asx_sched_current(const asx_sched *s) { return LOAD(s->current); }
double asx_sched_now(const asx_sched *s) { return s->now; }

double asx_sched_clock_time(const void *sched) {
  return ((const asx_sched *)sched)->resumed;
}

uint64_t asx_sched_resumes(const asx_sched *s) {
  return LOAD(((asx_sched *)s)->resumes);
}
