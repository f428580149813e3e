/* The matching engine's benchmark: replays a splitmix64 order
 * stream through the C API and prints `name: value` lines. Only the replay
 * is timed; the median of 5 runs is reported. The stream runs once on one
 * instrument and once spread over 8 (each order's instrument drawn with it,
 * every account holding all 8). */
#include "asx_book.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N_ORDERS 200000
#define N_TRADERS 1000
#define MID 50
#define RUNS 5
#define N_INSTRUMENTS 8

typedef struct {
  uint8_t side;
  int64_t price;
  int64_t amount;
  uint32_t trader;
  uint32_t instrument;
} order_spec;

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Wall time, and the CPU time of this thread: on a shared machine the
 * second leaves out the time other processes held the processor. */
static double clock_sec(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static order_spec stream[N_ORDERS];
/* Aligned to a cache line, as asx_book.h advises: one line an account. */
static _Alignas(64) asx_account accounts[N_TRADERS];
static int64_t positions[N_TRADERS][N_INSTRUMENTS - 1];

/* The median orders per second of RUNS replays over n_books instruments,
 * and in *per_cpu_sec the median per CPU second; *last gets the statistics
 * of the last run's first book. */
static double replay(asx_order *orders, int n_books, asx_stats *last,
                     double *per_cpu_sec) {
  assert(n_books > 0 && (n_books & (n_books - 1)) == 0);
  double times[RUNS], cpu[RUNS];
  for (int run = 0; run < RUNS; run++) {
    asx_book *books[N_INSTRUMENTS];
    books[0] = asx_book_new();
    for (int b = 1; b < n_books; b++)
      books[b] = asx_book_new_instrument(books[0]);
    /* Funded so that nothing is ever trimmed: every order could fill. */
    for (int t = 0; t < N_TRADERS; t++) {
      accounts[t] = (asx_account){0};
      accounts[t].id = (uint32_t)t + 1;
      accounts[t].positions = positions[t];
      accounts[t].n_positions = N_INSTRUMENTS - 1;
      asx_account_set(&accounts[t], (int64_t)1 << 40, (int64_t)1 << 30);
      for (uint32_t b = 1; b < N_INSTRUMENTS; b++)
        asx_account_set_position(&accounts[t], b, (int64_t)1 << 30);
    }
    /* n_books is a power of two: a mask picks the book, where a division
     * would cost the replay more than some submits. */
    uint32_t mask = (uint32_t)n_books - 1;
    double t0 = clock_sec(CLOCK_MONOTONIC);
    double c0 = clock_sec(CLOCK_THREAD_CPUTIME_ID);
    for (int i = 0; i < N_ORDERS; i++) {
      const order_spec *s = &stream[i];
      asx_book_submit(books[s->instrument & mask], &orders[i],
                      &accounts[s->trader], s->side, s->price, s->amount);
    }
    times[run] = clock_sec(CLOCK_MONOTONIC) - t0;
    cpu[run] = clock_sec(CLOCK_THREAD_CPUTIME_ID) - c0;
    *last = *asx_book_stats(books[0]);
    for (int b = 0; b < n_books; b++)
      asx_book_free(books[b]);
  }
  qsort(times, RUNS, sizeof(times[0]), cmp_double);
  qsort(cpu, RUNS, sizeof(cpu[0]), cmp_double);
  *per_cpu_sec = N_ORDERS / cpu[RUNS / 2];
  return N_ORDERS / times[RUNS / 2];
}

int main(void) {
  uint64_t state = 12345;
  int64_t d = (int64_t)floor(sqrt((double)MID));
  for (int i = 0; i < N_ORDERS; i++) {
    uint64_t r = splitmix64(&state);
    stream[i].side = (uint8_t)(r & 1);
    stream[i].price = MID - d + (int64_t)((r >> 1) % (uint64_t)(2 * d + 1));
    stream[i].amount = 1 + (int64_t)((r >> 16) % 10);
    stream[i].trader = (uint32_t)((r >> 32) % N_TRADERS);
    stream[i].instrument = (uint32_t)((r >> 48) % N_INSTRUMENTS);
  }

  asx_stats last = {0}, spread = {0};
  /* The orders' memory is laid out before the clock starts, like the
   * stream: an array indexed by order, as in the QuantCup engine. */
  asx_order *orders = calloc(N_ORDERS, sizeof(*orders));
  double one_cpu, eight_cpu;
  double one = replay(orders, 1, &last, &one_cpu);
  double eight = replay(orders, N_INSTRUMENTS, &spread, &eight_cpu);
  free(orders);
  printf("book.orders_per_sec: %.0f\n", one);
  printf("book.orders_per_sec.instruments_8: %.0f\n", eight);
  printf("book.orders_per_cpu_sec: %.0f\n", one_cpu);
  printf("book.orders_per_cpu_sec.instruments_8: %.0f\n", eight_cpu);
  printf("book.trades: %lld\n", (long long)last.trades);
  printf("book.volume: %.0f\n", asx_u128_double(last.volume));
  printf("book.notional: %.0f\n", asx_u128_double(last.notional));
  return 0;
}
