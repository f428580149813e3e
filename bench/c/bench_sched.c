/* The wake-up queue against the heap it replaced, with no Lua: the classic
 * "hold" benchmark of priority queues. n ids wait at uniform times in
 * [0, 1); each operation pops the first and pushes it back at its time plus
 * a uniform [0, 1) sleep, which is what n agents that sleep(random()) ask
 * of the scheduler. After n untimed operations (a steady state), three runs
 * of max(n, 1,000,000) operations are timed; the median is printed as
 * sched.<structure>.ops_per_sec.n_<n>. */
#include "asx_wakeheap.h"
#include "asx_wakeq.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define RUNS 3

static uint64_t rng = 12345;

static double unit(void) {
  uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-53;
}

static double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* One structure's benchmark, written once for both through a macro: the
 * two have the same calls under different prefixes. */
#define HOLD(prefix, name)                                                    \
  static double hold_##prefix(uint32_t n) {                                   \
    double times[RUNS];                                                       \
    uint64_t ops = n > 1000000 ? n : 1000000;                                 \
    asx_##prefix *q = asx_##prefix##_new();                                   \
    if (!q || asx_##prefix##_reserve(q, n) != 0) {                            \
      fprintf(stderr, "bench_sched: out of memory\n");                        \
      exit(1);                                                                \
    }                                                                         \
    for (uint32_t id = 0; id < n; id++)                                       \
      asx_##prefix##_push(q, id, unit());                                     \
    for (int run = -1; run < RUNS; run++) {                                   \
      uint64_t count = run < 0 ? n : ops;                                     \
      double t0 = now_sec();                                                  \
      for (uint64_t i = 0; i < count; i++) {                                  \
        uint32_t id = asx_##prefix##_pop(q);                                  \
        asx_##prefix##_push(q, id, asx_##prefix##_time(q, id) + unit());      \
      }                                                                       \
      if (run >= 0)                                                           \
        times[run] = now_sec() - t0;                                          \
    }                                                                         \
    asx_##prefix##_free(q);                                                   \
    qsort(times, RUNS, sizeof times[0], cmp_double);                          \
    printf("sched.%s.ops_per_sec.n_%u: %.0f\n", name, n,                      \
           (double)ops / times[RUNS / 2]);                                    \
    return times[RUNS / 2];                                                   \
  }

HOLD(wakeheap, "heap")
HOLD(wakeq, "ladder")

int main(void) {
  static const uint32_t sizes[] = {1000, 10000, 100000, 1000000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    hold_wakeheap(sizes[i]);
    hold_wakeq(sizes[i]);
  }
  return 0;
}
