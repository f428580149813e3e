/* The scheduler (see asx_sched.h for the model).
 *
 * Data structures, indexed by agent number and grown together by
 * asx_sched_add, so that an agent costs 32 bytes and no libuv handle:
 *   ag[a]     its state, 1 + its wake-up's index in the heap (0 when none)
 *             and its splitmix64 state, in one 16-byte slot;
 *   heap      one 16-byte {time, agent, seq} entry per agent at most;
 *   group[a], number[a]  its label, allocated only once an agent is named.
 * The heap has the smallest (time, seq) at index 0. It is 4-ary and laid
 * out so that the four children of a node fill exactly one cache line:
 * with a million agents nearly every level of a sift is a cache miss, so
 * the depth (halved against a binary heap) and the lines touched per level
 * are what cost. Its capacity is kept at the number of agents (each has at
 * most one wake-up), so scheduling never allocates. seq is 32 bits and is
 * renumbered by rank before it would wrap (see renumber).
 *
 * Costs: wake O(log4 n), removing an agent's wake-up O(log4 n) through
 * pos[]. The entry of the agent being resumed stays at the root while it
 * runs, so a resume followed by another sleep costs a single sift-down.
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

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ASX_SCHED_BATCH 1024
#define GOLDEN 0x9E3779B97F4A7C15ULL

/* 16 bytes, so that the four children of a node fill one 64-byte cache
 * line (the heap is laid out so that each group of siblings is aligned). */
typedef struct wake {
  double time;
  uint32_t agent;
  uint32_t seq;
} wake;

/* What the scheduler keeps per agent, together so that one cache line
 * serves a resume: its generator, its heap position and its state. */
typedef struct agent_slot {
  uint64_t rng; /* splitmix64 state */
  uint32_t pos; /* 1 + its wake-up's index in the heap, or 0 */
  uint8_t st;   /* ASX_AGENT_* */
} agent_slot;

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
  int stop_req;
  int stepping;
  int in_batch; /* inside run_batch: the resume function is on the stack */
  int free_on_close;
  int handles_open;
  double now;
  double duration; /* INFINITY when there is none */
  double speed;
  double step_target;
  /* Real clock: session time = base_time + (uv_hrtime() - base_hr) * speed,
   * rebased whenever the speed changes or a pause ends. */
  uint64_t base_hr;
  double base_time;

  wake *heap;       /* heap_mem + 3: see heap_alloc */
  void *heap_mem;
  uint32_t heap_len;
  uint32_t seq;     /* the next wake-up's; renumbered before it wraps */

  uint32_t n, cap;
  agent_slot *ag;
  uint16_t *group;
  uint32_t *number;
  char **groups;
  int ngroups;

  uint64_t seed;
  uint64_t session_rng;
  uint64_t resumes;
  /* Read by the signal handler, hence volatile. */
  volatile uint32_t current;

  int catch_signals;
  volatile sig_atomic_t async_ready; /* the uv_async exists */
  const char *prog;
  volatile sig_atomic_t signal;
  struct sigaction old_int, old_term;

  uv_idle_t idle;
  uv_timer_t timer;
  uv_async_t async;
};

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

/* ---- the heap ---------------------------------------------------------- */

/* Times are finite and never negative (nor -0), so their IEEE bit
 * patterns order like the times themselves, and (time, seq) compares as
 * one 128-bit integer: a compare the compiler turns into flags and
 * conditional moves rather than branches, which matters because heap
 * compares on random times are mispredicted half the time. */
static inline int before(const wake *a, const wake *b) {
  uint64_t ta, tb;
  memcpy(&ta, &a->time, sizeof ta);
  memcpy(&tb, &b->time, sizeof tb);
  __extension__ typedef unsigned __int128 u128;
  return (((u128)ta << 32) | a->seq) < (((u128)tb << 32) | b->seq);
}

static void heap_set(asx_sched *s, uint32_t i, wake w) {
  s->heap[i] = w;
  s->ag[w.agent].pos = i + 1;
}

static void sift_up(asx_sched *s, uint32_t i, wake w) {
  while (i > 0) {
    uint32_t p = (i - 1) / 4;
    if (!before(&w, &s->heap[p]))
      break;
    heap_set(s, i, s->heap[p]);
    i = p;
  }
  heap_set(s, i, w);
}

/* The smallest of the children c .. c+3 (those below n). */
static inline uint32_t min_child(const wake *h, uint32_t c, uint32_t n) {
  uint32_t a, b;
  if (c + 3 < n) {
    a = before(&h[c + 1], &h[c]) ? c + 1 : c;
    b = before(&h[c + 3], &h[c + 2]) ? c + 3 : c + 2;
    return before(&h[b], &h[a]) ? b : a;
  }
  a = c;
  for (b = c + 1; b < n; b++)
    a = before(&h[b], &h[a]) ? b : a;
  return a;
}

/* Places w at i or below, where w is not before i's parent. Floyd's way:
 * the hole goes down to a leaf along the smallest children (three compares
 * a level and no compare with w), then w rises from there. A re-inserted
 * wake-up is usually among the latest, so it rises little, and this does
 * a quarter fewer compares than stopping early would. */
static void sift_down(asx_sched *s, uint32_t i, wake w) {
  uint32_t n = s->heap_len;
  for (;;) {
    uint32_t c = 4 * i + 1, best;
    if (c >= n)
      break;
    best = min_child(s->heap, c, n);
    heap_set(s, i, s->heap[best]);
    i = best;
  }
  sift_up(s, i, w);
}

static void heap_remove(asx_sched *s, uint32_t i) {
  wake last;
  s->ag[s->heap[i].agent].pos = 0;
  last = s->heap[--s->heap_len];
  if (i == s->heap_len)
    return;
  if (i > 0 && before(&last, &s->heap[(i - 1) / 4]))
    sift_up(s, i, last);
  else
    sift_down(s, i, last);
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

static void end_session(asx_sched *s) {
  if (s->state == S_ENDED)
    return;
  if (s->state == S_STARTED) {
    uv_close((uv_handle_t *)&s->idle, on_close);
    uv_close((uv_handle_t *)&s->timer, on_close);
    uv_close((uv_handle_t *)&s->async, on_close);
    s->async_ready = 0;
  }
  restore_signals(s);
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
  while (s->heap_len > 0 && s->heap[0].time <= limit) {
    wake w;
    if (s->stop_req || (s->paused && !s->stepping)) {
      s->in_batch = 0;
      return 0;
    }
    if (budget-- == 0) {
      s->in_batch = 0;
      return 1;
    }
    /* The wake-up stays at the root while its agent runs: when the agent
     * sleeps again asx_sched_wake reuses the entry with one sift-down,
     * instead of a pop and a push. Nothing can get before it meanwhile,
     * since every new wake-up is at now or later, with a larger seq. */
    w = s->heap[0];
    /* With many agents each one's coroutine is cold by its turn. The next
     * to run is most likely the smallest child of the root, whatever this
     * one sleeps for, so its state is fetched while this one runs. */
    if (s->prefetch != NULL && s->heap_len > 1)
      s->prefetch(s, s->heap[min_child(s->heap, 1, s->heap_len)].agent,
                  s->data);
    s->now = jump ? w.time : limit;
    s->ag[w.agent].st = ASX_AGENT_RUNNING;
    s->current = w.agent;
    s->resumes++;
    s->resume(s, w.agent, s->data);
    s->current = ASX_SCHED_NONE;
    if (s->ag[w.agent].st == ASX_AGENT_RUNNING) {
      /* It returned without sleeping: it has finished. */
      heap_remove(s, s->ag[w.agent].pos - 1);
      s->ag[w.agent].st = ASX_AGENT_FINISHED;
    }
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
    if (s->heap_len == 0)
      arm_timer(s, 0);
    else if (s->heap[0].time > s->duration)
      arm_timer(s, s->duration - t);
    else
      arm_timer(s, s->heap[0].time - t);
  }
}

static void on_idle(uv_idle_t *h) {
  asx_sched *s = h->data;
  int more;
  if (s->stop_req) {
    end_session(s);
    return;
  }
  if (s->stepping) {
    double limit = s->step_target < s->duration ? s->step_target : s->duration;
    more = run_batch(s, limit, 1);
    if (s->stop_req) {
      end_session(s);
      return;
    }
    if (more || !s->stepping)
      return; /* more to do, or an agent's pause ended the step */
    if (s->heap_len == 0) {
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
    return;
  }
  if (s->paused || s->clock != ASX_CLOCK_VIRTUAL) {
    schedule_next(s);
    return;
  }
  more = run_batch(s, s->duration, 1);
  if (s->stop_req) {
    end_session(s);
    return;
  }
  if (more || s->paused || s->stepping)
    return;
  if (s->heap_len == 0) {
    end_session(s);
    return;
  }
  /* The next wake-up lies beyond the duration. */
  s->now = s->duration;
  end_session(s);
}

static void on_timer(uv_timer_t *h) {
  asx_sched *s = h->data;
  double t, limit;
  int more;
  if (s->stop_req) {
    end_session(s);
    return;
  }
  if (s->paused || s->stepping) {
    schedule_next(s);
    return;
  }
  t = real_now(s);
  limit = t < s->duration ? t : s->duration;
  more = run_batch(s, limit, 0);
  if (s->stop_req) {
    end_session(s);
    return;
  }
  if (more) {
    arm_timer(s, 0);
    return;
  }
  if (s->paused || s->stepping) {
    schedule_next(s);
    return;
  }
  if (s->heap_len == 0) {
    if (s->now < limit)
      s->now = limit;
    end_session(s);
    return;
  }
  if (s->heap[0].time > s->duration && t >= s->duration) {
    s->now = s->duration;
    end_session(s);
    return;
  }
  schedule_next(s);
}

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
  if (s && s->current != ASX_SCHED_NONE) {
    char buf[96];
    put(" while ");
    put(asx_sched_describe(s, s->current, buf, sizeof buf));
    put(" was running");
  }
  put("\n");
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
    return ASX_SCHED_E_STATE;
  s->prog = prog;
  if (on == s->catch_signals)
    return 0;
  if (on && sig_target && sig_target != s)
    return ASX_SCHED_E_STATE; /* another session has them */
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

/* ---- labels ------------------------------------------------------------ */

int asx_sched_group(asx_sched *s, const char *name) {
  char **g;
  char *copy;
  size_t len;
  for (int i = 0; i < s->ngroups; i++)
    if (strcmp(s->groups[i], name) == 0)
      return i;
  if (s->ngroups >= UINT16_MAX)
    return ASX_SCHED_E_ARG;
  len = strlen(name);
  copy = malloc(len + 1);
  g = copy ? realloc(s->groups, sizeof *g * (size_t)(s->ngroups + 1)) : NULL;
  if (!g) {
    free(copy);
    return ASX_SCHED_E_NOMEM;
  }
  memcpy(copy, name, len + 1);
  s->groups = g;
  s->groups[s->ngroups] = copy;
  return s->ngroups++;
}

int asx_sched_label(asx_sched *s, uint32_t agent, int group, uint32_t number) {
  if (agent >= s->n || group < 0 || group >= s->ngroups)
    return ASX_SCHED_E_ARG;
  if (!s->group) {
    uint16_t *g = calloc(s->cap, sizeof *g);
    uint32_t *num = calloc(s->cap, sizeof *num);
    if (!g || !num) {
      free(g);
      free(num);
      return ASX_SCHED_E_NOMEM;
    }
    /* Group 0xffff marks agents that were never labelled. */
    memset(g, 0xff, s->cap * sizeof *g);
    s->group = g;
    s->number = num;
  }
  s->group[agent] = (uint16_t)group;
  s->number[agent] = number;
  return 0;
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
  if (size == 0)
    return buf;
  end = buf + size - 1;
  if (agent < s->n && s->group && s->group[agent] < s->ngroups) {
    p = append(p, end, s->groups[s->group[agent]]);
    p = append(p, end, "#");
    p = append_u32(p, end, s->number[agent]);
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
  s->loop = loop ? loop : uv_default_loop();
  s->clock = clock;
  s->resume = resume;
  s->data = data;
  s->duration = INFINITY;
  s->speed = 1;
  s->seed = seed;
  s->session_rng = mix64(seed);
  s->current = ASX_SCHED_NONE;
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
  free(s->heap_mem);
  free(s->ag);
  free(s->group);
  free(s->number);
  free(s);
}

void asx_sched_on_end(asx_sched *s, asx_sched_end_fn fn) { s->on_end = fn; }

/* The heap array starts 3 entries (48 bytes) into a 64-byte aligned block,
 * so that entry 1, and every group of siblings 4i+1 .. 4i+4 after it,
 * begins on a cache line. */
static int heap_alloc(asx_sched *s, uint32_t cap) {
  size_t bytes = ((size_t)cap + 3) * sizeof(wake);
  void *mem = aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!mem)
    return 0;
  if (s->heap_len)
    memcpy((wake *)mem + 3, s->heap, s->heap_len * sizeof(wake));
  free(s->heap_mem);
  s->heap_mem = mem;
  s->heap = (wake *)mem + 3;
  return 1;
}

static int grow(void **p, size_t n, size_t size) {
  void *q = realloc(*p, n * size);
  if (!q)
    return 0;
  *p = q;
  return 1;
}

int asx_sched_add(asx_sched *s, uint32_t n, uint32_t *first) {
  uint32_t need;
  if (n == 0 || n > ASX_SCHED_NONE - 1 - s->n)
    return ASX_SCHED_E_ARG;
  need = s->n + n;
  if (need > s->cap) {
    uint32_t cap = s->cap ? s->cap : 64;
    while (cap < need)
      cap = cap > ASX_SCHED_NONE / 2 ? ASX_SCHED_NONE - 1 : cap * 2;
    /* Each array is grown on its own; a failure leaves the larger ones
     * behind, which is harmless because cap only moves once all succeed. */
    if (!grow((void **)&s->ag, cap, sizeof *s->ag) || !heap_alloc(s, cap) ||
        (s->group && !grow((void **)&s->group, cap, sizeof *s->group)) ||
        (s->number && !grow((void **)&s->number, cap, sizeof *s->number)))
      return ASX_SCHED_E_NOMEM;
    if (s->group)
      memset(s->group + s->cap, 0xff, (cap - s->cap) * sizeof *s->group);
    s->cap = cap;
  }
  for (uint32_t a = s->n; a < need; a++) {
    s->ag[a].st = ASX_AGENT_IDLE;
    s->ag[a].pos = 0;
    s->ag[a].rng = agent_seed(s->seed, a);
  }
  if (first)
    *first = s->n;
  s->n = need;
  return 0;
}

uint32_t asx_sched_count(const asx_sched *s) { return s->n; }

static int by_time_seq(const void *a, const void *b) {
  return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

/* Gives the pending wake-ups the numbers 0 .. n-1 in their order, so that
 * the 32-bit seq never wraps: once every 4 billion wake-ups, O(n log n).
 * A sorted array is a valid heap, so only the positions change. */
static void renumber(asx_sched *s) {
  qsort(s->heap, s->heap_len, sizeof *s->heap, by_time_seq);
  for (uint32_t i = 0; i < s->heap_len; i++) {
    s->heap[i].seq = i;
    s->ag[s->heap[i].agent].pos = i + 1;
  }
  s->seq = s->heap_len;
}

void asx__sched_set_seq(asx_sched *s, uint32_t seq) { s->seq = seq; }

int asx_sched_wake(asx_sched *s, uint32_t agent, double delay) {
  wake w;
  if (agent >= s->n || !(delay >= 0) || !isfinite(delay))
    return ASX_SCHED_E_ARG;
  if (s->ag[agent].st != ASX_AGENT_IDLE && s->ag[agent].st != ASX_AGENT_RUNNING)
    return ASX_SCHED_E_STATE;
  w.time = s->now + delay;
  if (!isfinite(w.time))
    return ASX_SCHED_E_ARG;
  if (w.time == 0)
    w.time = 0; /* -0 would sort after every positive time */
  if (s->seq == UINT32_MAX)
    renumber(s);
  w.seq = s->seq++;
  w.agent = agent;
  s->ag[agent].st = ASX_AGENT_WAITING;
  if (s->ag[agent].pos) {
    /* A running agent's entry is still in the heap (see run_batch), and
     * its new time is not earlier: it can only move down. */
    sift_down(s, s->ag[agent].pos - 1, w);
  } else {
    sift_up(s, s->heap_len++, w);
  }
  /* Only a wake-up set from outside a batch can be earlier than what the
   * loop is waiting for; inside a batch the caller re-arms afterwards. */
  if (s->clock == ASX_CLOCK_REAL && !s->in_batch && s->ag[agent].pos == 1)
    schedule_next(s);
  return 0;
}

int asx_sched_finish(asx_sched *s, uint32_t agent, int state) {
  if (agent >= s->n || state < ASX_AGENT_FINISHED || state > ASX_AGENT_STOPPED)
    return ASX_SCHED_E_ARG;
  if (s->ag[agent].st >= ASX_AGENT_FINISHED)
    return ASX_SCHED_E_STATE;
  if (s->ag[agent].pos)
    heap_remove(s, s->ag[agent].pos - 1);
  s->ag[agent].st = (uint8_t)state;
  return 0;
}

int asx_sched_state(const asx_sched *s, uint32_t agent) {
  return agent < s->n ? s->ag[agent].st : ASX_SCHED_E_ARG;
}

uint32_t asx_sched_current(const asx_sched *s) { return s->current; }
double asx_sched_now(const asx_sched *s) { return s->now; }

int asx_sched_set_duration(asx_sched *s, double duration) {
  if (isnan(duration))
    return ASX_SCHED_E_ARG;
  s->duration = duration < 0 ? INFINITY : duration;
  schedule_next(s);
  return 0;
}

double asx_sched_duration(const asx_sched *s) { return s->duration; }

int asx_sched_set_speed(asx_sched *s, double speed) {
  if (!(speed > 0) || !isfinite(speed))
    return ASX_SCHED_E_ARG;
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
    return ASX_SCHED_E_STATE;
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
  schedule_next(s);
  return 0;
}

int asx_sched_run(asx_sched *s) {
  int rc;
  if (s->in_batch)
    return ASX_SCHED_E_STATE;
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
    return ASX_SCHED_E_STATE;
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
    return ASX_SCHED_E_ARG;
  if (s->state != S_STARTED || !s->paused || s->stepping)
    return ASX_SCHED_E_STATE;
  s->step_target = s->now + seconds;
  s->stepping = 1;
  schedule_next(s);
  return 0;
}

int asx_sched_stepping(const asx_sched *s) { return s->stepping; }
uint64_t asx_sched_resumes(const asx_sched *s) { return s->resumes; }
