/* The wake-up queue against the heap it replaced: long randomized runs of
 * pushes, pops and removes, the same operations on both, and every pop must
 * give the same id at the same time. The heap's order is the scheduler's
 * promise (time, then the order wake-ups were set), so an equal run means
 * the same agents wake in the same order, and same-seed sessions are
 * unchanged. The time distributions are a simulation's and an adversary's:
 * uniform sleeps, many equal times, sleep(0) storms, times spread over many
 * orders of magnitude, far-future outliers, and ties a rounding away. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "asx_wakeheap.h"
#include "asx_wakeq.h"

enum {
  DIST_UNIFORM,    /* sleep(random()) */
  DIST_EQUAL,      /* a few fixed delays: crowds of equal times */
  DIST_ZERO,       /* mostly sleep(0) */
  DIST_WIDE,       /* from 1e-9 to 1e9 seconds */
  DIST_OUTLIERS,   /* uniform, and now and then a billion seconds ahead */
  DIST_ULP,        /* a few ulps ahead: ties that rounding nearly makes */
  DIST_INTEGER,    /* whole seconds: crowds at each second */
  DIST_MIXED       /* each of the above in turn */
};
#define NDIST 7

typedef struct world {
  asx_wakeq *q;
  asx_wakeheap *h;
  uint64_t rng;
  uint32_t nids;    /* ids 0 .. nids - 1 exist */
  uint8_t *state;   /* 0 idle, 1 queued, 2 removed for good */
  uint32_t *queued; /* the queued ids, in no order, for picking a victim */
  uint32_t *where;  /* index in queued[] */
  uint32_t nqueued;
  double now;
  uint64_t pops;
} world;

static uint64_t next64(world *w) {
  uint64_t z = (w->rng += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static double unit(world *w) { return (double)(next64(w) >> 11) * 0x1.0p-53; }

static double delay(world *w, int dist) {
  if (dist == DIST_MIXED)
    dist = (int)(next64(w) % NDIST);
  switch (dist) {
  case DIST_UNIFORM:
    return unit(w);
  case DIST_EQUAL: {
    static const double d[] = {0.25, 0.5, 1.0, 1.0, 1.0};
    return d[next64(w) % 5];
  }
  case DIST_ZERO:
    return next64(w) % 10 < 8 ? 0 : unit(w);
  case DIST_WIDE:
    return exp((unit(w) * 40 - 20) * log(10.0) / 2.2);
  case DIST_OUTLIERS:
    return next64(w) % 500 == 0 ? 1e9 * (1 + unit(w)) : unit(w);
  case DIST_ULP: {
    double t = w->now;
    for (uint64_t k = next64(w) % 4; k > 0; k--)
      t = nextafter(t, INFINITY);
    return t - w->now;
  }
  default:
    return (double)(next64(w) % 4);
  }
}

static void world_init(world *w, uint32_t nids, uint64_t seed) {
  memset(w, 0, sizeof *w);
  w->rng = seed;
  w->nids = nids;
  w->q = asx_wakeq_new();
  w->h = asx_wakeheap_new();
  assert_non_null(w->q);
  assert_non_null(w->h);
  assert_int_equal(asx_wakeq_reserve(w->q, nids), 0);
  assert_int_equal(asx_wakeheap_reserve(w->h, nids), 0);
  w->state = calloc(nids, 1);
  w->queued = calloc(nids, sizeof *w->queued);
  w->where = calloc(nids, sizeof *w->where);
  assert_non_null(w->state);
  assert_non_null(w->queued);
  assert_non_null(w->where);
}

static void world_free(world *w) {
  asx_wakeq_free(w->q);
  asx_wakeheap_free(w->h);
  free(w->state);
  free(w->queued);
  free(w->where);
}

static void push(world *w, uint32_t id, double t) {
  if (t == 0)
    t = 0;
  assert_int_equal(w->state[id], 0);
  assert_int_equal(asx_wakeq_push(w->q, id, t), 0);
  assert_int_equal(asx_wakeheap_push(w->h, id, t), 0);
  w->state[id] = 1;
  w->where[id] = w->nqueued;
  w->queued[w->nqueued++] = id;
}

static void unlist(world *w, uint32_t id) {
  uint32_t last = w->queued[--w->nqueued];
  w->queued[w->where[id]] = last;
  w->where[last] = w->where[id];
}

/* Pops from both and checks they agree; returns the id. */
static uint32_t pop(world *w) {
  uint32_t peeked = asx_wakeq_peek(w->q);
  uint32_t a = asx_wakeq_pop(w->q);
  uint32_t b = asx_wakeheap_pop(w->h);
  assert_int_equal(a, peeked);
  assert_int_equal(a, b);
  if (a == ASX_WAKEQ_NONE)
    return a;
  assert_true(asx_wakeq_time(w->q, a) == asx_wakeheap_time(w->h, b));
  w->now = asx_wakeq_time(w->q, a);
  w->state[a] = 0;
  unlist(w, a);
  w->pops++;
  return a;
}

static void remove_id(world *w, uint32_t id) {
  asx_wakeq_remove(w->q, id);
  asx_wakeheap_remove(w->h, id);
  w->state[id] = 2;
  unlist(w, id);
}

/* A scheduler's life: everyone starts at now, then each pop sleeps again
 * (or, now and then, finishes), some pops stop another agent, and ids
 * never used join later. Ends by draining both. */
static void run(int dist, uint32_t nids, uint32_t start, uint64_t ops,
                uint64_t seed) {
  world w;
  uint32_t fresh = start;
  world_init(&w, nids, seed);
  for (uint32_t id = 0; id < start; id++)
    push(&w, id, 0);
  for (uint64_t i = 0; i < ops && w.nqueued > 0; i++) {
    uint32_t id = pop(&w);
    uint64_t r = next64(&w) % 1000;
    assert_int_equal(asx_wakeq_len(w.q), w.nqueued);
    assert_int_equal(asx_wakeheap_len(w.h), w.nqueued);
    if (r < 15 && w.nqueued > 0)
      remove_id(&w, w.queued[next64(&w) % w.nqueued]);
    if (r < 5 && fresh < nids)
      push(&w, fresh++, w.now + delay(&w, dist));
    if (r >= 995)
      continue; /* finished: idle for good */
    push(&w, id, w.now + delay(&w, dist));
  }
  while (w.nqueued > 0)
    pop(&w);
  assert_int_equal(pop(&w), ASX_WAKEQ_NONE);
  assert_int_equal(asx_wakeq_len(w.q), 0);
  world_free(&w);
}

static void test_uniform(void **state) { run(DIST_UNIFORM, 30000, 20000, 300000, 1); }
static void test_equal_times(void **state) { run(DIST_EQUAL, 30000, 20000, 300000, 2); }
static void test_sleep_zero(void **state) { run(DIST_ZERO, 3000, 2000, 300000, 3); }
static void test_wide_range(void **state) { run(DIST_WIDE, 30000, 20000, 300000, 4); }
static void test_far_outliers(void **state) { run(DIST_OUTLIERS, 30000, 20000, 300000, 5); }
static void test_ulp_ties(void **state) { run(DIST_ULP, 3000, 2000, 200000, 6); }
static void test_integer_times(void **state) { run(DIST_INTEGER, 30000, 20000, 300000, 7); }
static void test_mixed(void **state) { run(DIST_MIXED, 30000, 20000, 400000, 8); }

/* A small population that grows and shrinks to nothing and back, so that
 * the queue empties and starts again many times. */
static void test_empty_and_refill(void **state) {
  world w;
  world_init(&w, 200000, 9);
  for (int round = 0; round < 200; round++) {
    uint32_t base = (uint32_t)round * 1000;
    for (uint32_t k = 0; k < 1000; k++)
      push(&w, base + k, w.now + delay(&w, DIST_MIXED));
    for (uint32_t k = 0; k < 300; k++)
      remove_id(&w, w.queued[next64(&w) % w.nqueued]);
    while (w.nqueued > 0)
      pop(&w);
    assert_int_equal(asx_wakeq_peek(w.q), ASX_WAKEQ_NONE);
  }
  world_free(&w);
}

/* Pushes earlier than what was popped last: not what a scheduler does, but
 * the order must hold anyway. */
static void test_pushes_into_the_past(void **state) {
  world w;
  world_init(&w, 20000, 10);
  for (uint32_t id = 0; id < 10000; id++)
    push(&w, id, 1000 + 1000 * unit(&w));
  for (int i = 0; i < 100000; i++) {
    uint32_t id = pop(&w);
    push(&w, id, 2000 * unit(&w));
  }
  while (w.nqueued > 0)
    pop(&w);
  world_free(&w);
}

/* seq runs out in both (at different values): the queued entries are
 * renumbered by rank, and ties still come out in the order they were set. */
static void test_seq_renumbering(void **state) {
  world w;
  world_init(&w, 5000, 11);
  for (uint32_t id = 0; id < 4000; id++)
    push(&w, id, (double)(id % 7));
  for (int round = 0; round < 3; round++) {
    asx__wakeq_set_seq(w.q, ASX__WAKEQ_SEQ_LIMIT - 1000);
    asx__wakeheap_set_seq(w.h, UINT32_MAX - 1500);
    for (int i = 0; i < 20000; i++) {
      uint32_t id = pop(&w);
      push(&w, id, w.now + delay(&w, DIST_MIXED));
    }
  }
  while (w.nqueued > 0)
    pop(&w);
  world_free(&w);
}

/* What the scheduler prefetches by: right after a pop, asx_wakeq_ahead
 * lists the ids that come out next, in their order, ASX_WAKEQ_AHEAD - 1 of
 * them while as many are queued, however the entries are spread. */
static void test_ahead_lists_what_comes_next(void **state) {
  static const int dists[] = {DIST_UNIFORM, DIST_EQUAL, DIST_WIDE, DIST_OUTLIERS};
  for (int d = 0; d < 4; d++) {
    world w;
    uint32_t ids[ASX_WAKEQ_AHEAD], popped[ASX_WAKEQ_AHEAD];
    world_init(&w, 10000, 12 + (uint64_t)d);
    for (uint32_t id = 0; id < 10000; id++)
      push(&w, id, delay(&w, dists[d]));
    for (int round = 0; round < 3000 || w.nqueued > 0; round++) {
      uint32_t n, k;
      popped[0] = pop(&w);
      n = asx_wakeq_ahead(w.q, ids, ASX_WAKEQ_AHEAD - 1);
      assert_int_equal(n, w.nqueued < ASX_WAKEQ_AHEAD - 1 ? w.nqueued
                                                         : ASX_WAKEQ_AHEAD - 1);
      k = n > 0 ? 1 + (uint32_t)(next64(&w) % n) : 0;
      for (uint32_t i = 0; i < k; i++) {
        popped[i + 1] = pop(&w);
        assert_int_equal(popped[i + 1], ids[i]);
      }
      /* The first rounds sleep again; then the queue drains. */
      for (uint32_t i = 0; round < 3000 && i <= k; i++)
        push(&w, popped[i], w.now + delay(&w, dists[d]));
    }
    world_free(&w);
  }
}

/* A population that starts together: every id pushed at one time, some
 * removed before the first pop, sleep(0) storms among the pops, and a
 * second start together once the first drained, as a session's agents
 * start at its first instant. */
static void test_starting_together(void **state) {
  world w;
  world_init(&w, 6000, 13);
  for (int wave = 0; wave < 3; wave++) {
    double t0 = wave * 5.0;
    for (uint32_t id = 0; id < 6000; id++)
      if (w.state[id] == 0)
        push(&w, id, t0);
    for (uint32_t id = wave; id < 6000; id += 7)
      if (w.state[id] == 1)
        remove_id(&w, id);
    for (int i = 0; w.nqueued > 0; i++) {
      uint32_t id = pop(&w);
      if (i % 3 == 0)
        push(&w, id, w.now); /* sleep(0) */
      else if (i % 3 == 1 && w.now < t0 + 2)
        push(&w, id, w.now + delay(&w, DIST_UNIFORM));
    }
    /* The removed ones stay removed: only the others start again. */
  }
  world_free(&w);
}

/* The owner's words of each entry are the owner's: the queue leaves them
 * as they were set through pushes, pops and removals, sets those of new
 * ids to 0, and keeps them when a reserve moves the entries, across the
 * sizes where the arrays go from malloc's to mappings of their own. */
static void test_owner_words(void **state) {
  static const uint32_t sizes[] = {1000, 100000, 300000, 700000};
  asx_wakeq *q = asx_wakeq_new();
  uint32_t n = 0;
  assert_non_null(q);
  for (int k = 0; k < 4; k++) {
    asx_wakeq_entry *e;
    assert_int_equal(asx_wakeq_reserve(q, sizes[k]), 0);
    e = asx_wakeq_entries(q);
    for (uint32_t id = 0; id < n; id++) {
      assert_true(e[id].word == (uint64_t)id * 0x9E3779B97F4A7C15ULL);
      assert_ptr_equal(e[id].ptr, (void *)(uintptr_t)(id + 1));
    }
    for (uint32_t id = n; id < sizes[k]; id++) {
      assert_true(e[id].word == 0);
      assert_null(e[id].ptr);
      e[id].word = (uint64_t)id * 0x9E3779B97F4A7C15ULL;
      e[id].ptr = (void *)(uintptr_t)(id + 1);
      /* Each round later than the last, as a scheduler's clock goes. */
      assert_int_equal(asx_wakeq_push(q, id, 100.0 * k + id % 13), 0);
    }
    for (uint32_t id = n; id < sizes[k]; id += 97)
      asx_wakeq_remove(q, id);
    n = sizes[k];
    while (asx_wakeq_pop(q) != ASX_WAKEQ_NONE)
      ;
  }
  asx_wakeq_free(q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_uniform),
      cmocka_unit_test(test_equal_times),
      cmocka_unit_test(test_sleep_zero),
      cmocka_unit_test(test_wide_range),
      cmocka_unit_test(test_far_outliers),
      cmocka_unit_test(test_ulp_ties),
      cmocka_unit_test(test_integer_times),
      cmocka_unit_test(test_mixed),
      cmocka_unit_test(test_empty_and_refill),
      cmocka_unit_test(test_pushes_into_the_past),
      cmocka_unit_test(test_seq_renumbering),
      cmocka_unit_test(test_ahead_lists_what_comes_next),
      cmocka_unit_test(test_starting_together),
      cmocka_unit_test(test_owner_words),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
