/* Unit tests of the order book, the accounts and the matching engine with no
 * Lua: every rule of the README's trading semantics, with exact balances, exact order
 * fields and the exact events the book records, and the block pool that C
 * callers take their orders from.
 *
 * Each test gets a fresh book that records events, four accounts with ids
 * 101..104 (so that trader ids never look like order ids) and an order pool.
 * Every test ends with asx_book_check() == NULL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "asx_book.h"
#include "asx_pool.h"

typedef struct fx {
  asx_book *b;
  asx_pool *pool;
  asx_account t[4];
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  if (f == NULL)
    return -1;
  f->b = asx_book_new();
  f->pool = asx_pool_new(sizeof(asx_order));
  if (f->b == NULL || f->pool == NULL)
    return -1;
  for (int i = 0; i < 4; i++)
    f->t[i].id = (uint32_t)(101 + i);
  asx_book_record_events(f->b, 1);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  /* The book goes first: it still links the resting orders of the pool. */
  asx_book_free(f->b);
  asx_pool_free(f->pool);
  free(f);
  return 0;
}

/* Comparisons that name the field and print signed values, reported at the
 * caller's line. */
static void eq_at(int64_t got, int64_t want, const char *what,
                  const char *file, int line) {
  if (got != want) {
    print_error("%s is %lld, expected %lld\n", what, (long long)got,
                (long long)want);
    _fail(file, line);
  }
}
#define EQ(got, want) eq_at((int64_t)(got), (int64_t)(want), #got, __FILE__, __LINE__)

/* A 128-bit statistic against hi x 2^64 + lo. */
static void eq_u128_at(asx_u128 got, uint64_t hi, uint64_t lo,
                       const char *what, const char *file, int line) {
  if (got.hi != hi || got.lo != lo) {
    print_error("%s is %llu x 2^64 + %llu, expected %llu x 2^64 + %llu\n",
                what, (unsigned long long)got.hi, (unsigned long long)got.lo,
                (unsigned long long)hi, (unsigned long long)lo);
    _fail(file, line);
  }
}
#define EQ_U128(got, hi, lo) eq_u128_at((got), (hi), (lo), #got, __FILE__, __LINE__)

static void fund(asx_account *a, int64_t money, int64_t stocks) {
  assert_int_equal(asx_account_set(a, money, stocks), 0);
}

static asx_order *new_order(fx *f) {
  asx_order *o = asx_pool_get(f->pool);
  assert_non_null(o);
  memset(o, 0, sizeof(*o));
  return o;
}

static asx_order *place(fx *f, asx_account *a, int side, int64_t price,
                        int64_t amount) {
  asx_order *o = new_order(f);
  assert_int_equal(asx_book_submit(f->b, o, a, side, price, amount), 0);
  return o;
}
#define BUY(a, price, amount) place(f, (a), ASX_BUY, (price), (amount))
#define SELL(a, price, amount) place(f, (a), ASX_SELL, (price), (amount))

static void expect_order_at(const asx_order *o, int64_t id, int side,
                            int64_t price, int64_t amount, int64_t filled,
                            int status, uint32_t trader, const char *file,
                            int line) {
  eq_at(o->id, id, "id", file, line);
  eq_at(o->side, side, "side", file, line);
  eq_at(o->price, price, "price", file, line);
  eq_at(o->amount, amount, "amount", file, line);
  eq_at(o->filled, filled, "filled", file, line);
  eq_at(o->status, status, "status", file, line);
  eq_at(o->trader, trader, "trader", file, line);
  /* A slot is held exactly while the order rests. */
  if (status == ASX_OPEN && o->slot == 0) {
    print_error("a resting order has no slot\n");
    _fail(file, line);
  }
  if (status != ASX_OPEN)
    eq_at(o->slot, 0, "slot", file, line);
}
#define EXPECT_ORDER(o, id, side, price, amount, filled, status, trader)      \
  expect_order_at((o), (id), (side), (price), (amount), (filled), (status), \
                  (trader), __FILE__, __LINE__)

static void expect_account_at(const asx_account *a, int64_t money,
                              int64_t stocks, uint32_t resting,
                              const char *file, int line) {
  eq_at(a->money, money, "money", file, line);
  eq_at(a->stocks, stocks, "stocks", file, line);
  eq_at(a->resting, resting, "resting", file, line);
}
#define EXPECT_ACCOUNT(a, money, stocks, resting) \
  expect_account_at((a), (money), (stocks), (resting), __FILE__, __LINE__)

/* The events recorded since the last call, which it clears. */
static const asx_event *take_events(fx *f, size_t *n) {
  static asx_event copy[64];
  const asx_event *e = asx_book_events(f->b, n);
  assert_true(*n <= 64);
  if (*n > 0)
    memcpy(copy, e, *n * sizeof(*e));
  asx_book_clear_events(f->b);
  return copy;
}

static void expect_event_at(const asx_event *got, asx_event want,
                            const char *file, int line) {
  eq_at(got->type, want.type, "event type", file, line);
  eq_at(got->side, want.side, "event side", file, line);
  eq_at(got->price, want.price, "event price", file, line);
  eq_at(got->amount, want.amount, "event amount", file, line);
  eq_at(got->amount2, want.amount2, "event amount2", file, line);
  eq_at(got->order, want.order, "event order", file, line);
  eq_at(got->order2, want.order2, "event order2", file, line);
  eq_at(got->trader, want.trader, "event trader", file, line);
  eq_at(got->trader2, want.trader2, "event trader2", file, line);
  eq_at(got->reason, want.reason, "event reason", file, line);
  if (got->time != want.time) {
    print_error("event time is %g, expected %g\n", got->time, want.time);
    _fail(file, line);
  }
}
#define EXPECT_EVENT(e, ...) \
  expect_event_at((e), (asx_event){__VA_ARGS__}, __FILE__, __LINE__)

/* The events of one kind, spelled as the header documents their fields. */
#define EV_ORDER(id, trader_, side_, price_, amount_)                     \
  .type = ASX_EV_ORDER, .order = (id), .trader = (trader_), .side = (side_), \
  .price = (price_), .amount = (amount_)
#define EV_TRADE(buy, sell, buyer, seller, aggressor, price_, amount_)      \
  .type = ASX_EV_TRADE, .order = (buy), .order2 = (sell), .trader = (buyer), \
  .trader2 = (seller), .side = (aggressor), .price = (price_),              \
  .amount = (amount_)
#define EV_CANCEL(id, trader_, side_, left)                                 \
  .type = ASX_EV_CANCEL, .order = (id), .trader = (trader_), .side = (side_), \
  .amount = (left)
#define EV_TRIM(id, trader_, side_, price_, from, to, reason_)            \
  .type = ASX_EV_TRIM, .order = (id), .trader = (trader_), .side = (side_), \
  .price = (price_), .amount = (from), .amount2 = (to), .reason = (reason_)

static void expect_finished_at(fx *f, const asx_order *const *want, size_t n,
                               const char *file, int line) {
  size_t count;
  asx_order *const *got = asx_book_finished(f->b, &count);
  eq_at((int64_t)count, (int64_t)n, "finished count", file, line);
  for (size_t i = 0; i < n && i < count; i++)
    if (got[i] != want[i]) {
      print_error("finished[%zu] is order %lld, expected order %lld\n", i,
                  (long long)got[i]->id, (long long)want[i]->id);
      _fail(file, line);
    }
}
#define EXPECT_FINISHED(...)                                                \
  do {                                                                      \
    const asx_order *want_[] = {__VA_ARGS__};                               \
    expect_finished_at(f, want_, sizeof(want_) / sizeof(want_[0]), __FILE__, \
                       __LINE__);                                           \
  } while (0)

#define CHECK_BOOK(b) assert_null(asx_book_check(b))

/* Orders, ids and placement. */

static void test_ids_fields_and_nothing_reserved(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1], *c = &f->t[2];
  fund(a, 1000, 0);
  fund(b, 0, 50);

  asx_order *o1 = BUY(a, 9, 10);
  asx_order *o2 = SELL(b, 11, 5);
  asx_order *o3 = BUY(a, 8, 3);
  /* Nothing is reserved: an account with nothing may still place orders
   * that rest. */
  asx_order *o4 = BUY(c, 5, 1);
  asx_order *o5 = SELL(c, 20, 1);

  EXPECT_ORDER(o1, 1, ASX_BUY, 9, 10, 0, ASX_OPEN, 101);
  EXPECT_ORDER(o2, 2, ASX_SELL, 11, 5, 0, ASX_OPEN, 102);
  EXPECT_ORDER(o3, 3, ASX_BUY, 8, 3, 0, ASX_OPEN, 101);
  EXPECT_ORDER(o4, 4, ASX_BUY, 5, 1, 0, ASX_OPEN, 103);
  EXPECT_ORDER(o5, 5, ASX_SELL, 20, 1, 0, ASX_OPEN, 103);
  EXPECT_ACCOUNT(a, 1000, 0, 2);
  EXPECT_ACCOUNT(b, 0, 50, 1);
  EXPECT_ACCOUNT(c, 0, 0, 2);

  /* Slots are distinct among resting orders. */
  const asx_order *all[] = {o1, o2, o3, o4, o5};
  for (int i = 0; i < 5; i++)
    for (int j = i + 1; j < 5; j++)
      assert_int_not_equal(all[i]->slot, all[j]->slot);

  EQ(asx_book_resting(f->b), 5);
  EQ(asx_book_best_bid(f->b), 9);
  EQ(asx_book_best_ask(f->b), 11);
  EQ(asx_book_levels(f->b, ASX_BUY), 3);
  EQ(asx_book_levels(f->b, ASX_SELL), 2);

  const asx_stats *st = asx_book_stats(f->b);
  EQ(st->orders, 5);
  EQ(st->trades, 0);
  EQ_U128(st->volume, 0, 0);
  EQ_U128(st->notional, 0, 0);
  EQ(st->open, 0);
  EQ(st->high, 0);
  EQ(st->low, 0);
  EQ(st->last, 0);

  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 5);
  EXPECT_EVENT(&e[0], EV_ORDER(1, 101, ASX_BUY, 9, 10));
  EXPECT_EVENT(&e[1], EV_ORDER(2, 102, ASX_SELL, 11, 5));
  EXPECT_EVENT(&e[2], EV_ORDER(3, 101, ASX_BUY, 8, 3));
  EXPECT_EVENT(&e[3], EV_ORDER(4, 103, ASX_BUY, 5, 1));
  EXPECT_EVENT(&e[4], EV_ORDER(5, 103, ASX_SELL, 20, 1));
  CHECK_BOOK(f->b);
}

static void test_price_time_priority(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1], *c = &f->t[2];
  fund(a, 10000, 0);
  fund(b, 0, 100);
  fund(c, 0, 100);

  asx_order *s1 = SELL(b, 11, 5);
  asx_order *s2 = SELL(c, 10, 3);
  asx_order *s3 = SELL(b, 10, 4);
  asx_order *s4 = SELL(c, 12, 2);
  assert_ptr_equal(asx_book_level_first(f->b, ASX_SELL, 10), s2);
  assert_ptr_equal(asx_order_next(s2), s3);
  assert_null(asx_order_next(s3));
  take_events(f, &(size_t){0});

  /* The best price first, and at one price the oldest first; each fill at
   * the resting order's price. */
  asx_order *o = BUY(a, 11, 10);
  EXPECT_ORDER(o, 5, ASX_BUY, 11, 0, 10, ASX_FILLED, 101);
  EXPECT_ORDER(s2, 2, ASX_SELL, 10, 0, 3, ASX_FILLED, 103);
  EXPECT_ORDER(s3, 3, ASX_SELL, 10, 0, 4, ASX_FILLED, 102);
  EXPECT_ORDER(s1, 1, ASX_SELL, 11, 2, 3, ASX_OPEN, 102);
  EXPECT_ORDER(s4, 4, ASX_SELL, 12, 2, 0, ASX_OPEN, 103);
  EXPECT_FINISHED(s2, s3);

  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 4);
  EXPECT_EVENT(&e[0], EV_ORDER(5, 101, ASX_BUY, 11, 10));
  EXPECT_EVENT(&e[1], EV_TRADE(5, 2, 101, 103, ASX_BUY, 10, 3));
  EXPECT_EVENT(&e[2], EV_TRADE(5, 3, 101, 102, ASX_BUY, 10, 4));
  EXPECT_EVENT(&e[3], EV_TRADE(5, 1, 101, 102, ASX_BUY, 11, 3));

  EXPECT_ACCOUNT(a, 10000 - 30 - 40 - 33, 10, 0);
  EXPECT_ACCOUNT(b, 40 + 33, 93, 1);
  EXPECT_ACCOUNT(c, 30, 97, 1);
  EQ(asx_book_best_ask(f->b), 11);
  EQ(asx_book_best_bid(f->b), 0);
  EQ(asx_book_levels(f->b, ASX_SELL), 2);
  EQ(asx_book_level_amount(f->b, ASX_SELL, 11), 2);
  EQ(asx_book_level_amount(f->b, ASX_SELL, 10), 0);
  assert_null(asx_book_level_first(f->b, ASX_SELL, 10));
  CHECK_BOOK(f->b);

  /* The same on the bid side: the highest bid first, oldest first. */
  asx_order *b6 = BUY(a, 9, 2);
  asx_order *b7 = BUY(a, 10, 2);
  asx_order *b8 = BUY(a, 10, 2);
  take_events(f, &n);
  asx_order *s9 = SELL(c, 9, 5);
  EXPECT_ORDER(s9, 9, ASX_SELL, 9, 0, 5, ASX_FILLED, 103);
  EXPECT_ORDER(b7, 7, ASX_BUY, 10, 0, 2, ASX_FILLED, 101);
  EXPECT_ORDER(b8, 8, ASX_BUY, 10, 0, 2, ASX_FILLED, 101);
  EXPECT_ORDER(b6, 6, ASX_BUY, 9, 1, 1, ASX_OPEN, 101);
  e = take_events(f, &n);
  EQ(n, 4);
  EXPECT_EVENT(&e[0], EV_ORDER(9, 103, ASX_SELL, 9, 5));
  EXPECT_EVENT(&e[1], EV_TRADE(7, 9, 101, 103, ASX_SELL, 10, 2));
  EXPECT_EVENT(&e[2], EV_TRADE(8, 9, 101, 103, ASX_SELL, 10, 2));
  EXPECT_EVENT(&e[3], EV_TRADE(6, 9, 101, 103, ASX_SELL, 9, 1));
  EXPECT_ACCOUNT(a, 9897 - 20 - 20 - 9, 15, 1);
  EXPECT_ACCOUNT(c, 30 + 49, 92, 1);
  EQ(asx_book_best_bid(f->b), 9);
  CHECK_BOOK(f->b);
}

static void test_fill_at_resting_price(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 1000, 0);
  fund(b, 0, 100);

  /* An aggressive sell trades at the resting bid... */
  asx_order *bid = BUY(a, 12, 5);
  asx_order *s = SELL(b, 10, 5);
  EXPECT_ORDER(bid, 1, ASX_BUY, 12, 0, 5, ASX_FILLED, 101);
  EXPECT_ORDER(s, 2, ASX_SELL, 10, 0, 5, ASX_FILLED, 102);
  EXPECT_ACCOUNT(a, 940, 5, 0);
  EXPECT_ACCOUNT(b, 60, 95, 0);

  /* ...and an aggressive buy at the resting ask. */
  asx_order *ask = SELL(b, 10, 5);
  asx_order *o = BUY(a, 12, 5);
  EXPECT_ORDER(ask, 3, ASX_SELL, 10, 0, 5, ASX_FILLED, 102);
  EXPECT_ORDER(o, 4, ASX_BUY, 12, 0, 5, ASX_FILLED, 101);
  EXPECT_ACCOUNT(a, 890, 10, 0);
  EXPECT_ACCOUNT(b, 110, 90, 0);

  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 6);
  EXPECT_EVENT(&e[2], EV_TRADE(1, 2, 101, 102, ASX_SELL, 12, 5));
  EXPECT_EVENT(&e[5], EV_TRADE(4, 3, 101, 102, ASX_BUY, 10, 5));
  EQ(asx_book_resting(f->b), 0);
  CHECK_BOOK(f->b);
}

static void test_limit_rest_rests(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 1000, 0);
  fund(b, 0, 100);

  asx_order *s = SELL(b, 10, 4);
  asx_order *o = BUY(a, 10, 10);
  EXPECT_ORDER(s, 1, ASX_SELL, 10, 0, 4, ASX_FILLED, 102);
  EXPECT_ORDER(o, 2, ASX_BUY, 10, 6, 4, ASX_OPEN, 101);
  EXPECT_ACCOUNT(a, 960, 4, 1);
  EXPECT_ACCOUNT(b, 40, 96, 0);
  EQ(asx_book_best_bid(f->b), 10);
  EQ(asx_book_best_ask(f->b), 0);
  EQ(asx_book_level_amount(f->b, ASX_BUY, 10), 6);
  assert_ptr_equal(asx_book_level_first(f->b, ASX_BUY, 10), o);

  /* Orders that do not cross both rest. */
  asx_order *s2 = SELL(b, 11, 5);
  EXPECT_ORDER(s2, 3, ASX_SELL, 11, 5, 0, ASX_OPEN, 102);
  EQ(asx_book_best_bid(f->b), 10);
  EQ(asx_book_best_ask(f->b), 11);
  EQ(asx_book_stats(f->b)->trades, 1);
  CHECK_BOOK(f->b);
}

static void test_amount_filled_status(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 1000, 0);
  fund(b, 0, 100);

  asx_order *s = SELL(b, 10, 10);
  EXPECT_ORDER(s, 1, ASX_SELL, 10, 10, 0, ASX_OPEN, 102);
  uint32_t slot = s->slot;
  BUY(a, 10, 3);
  EXPECT_ORDER(s, 1, ASX_SELL, 10, 7, 3, ASX_OPEN, 102);
  EQ(s->slot, slot);
  EQ(asx_book_level_amount(f->b, ASX_SELL, 10), 7);
  BUY(a, 10, 3);
  EXPECT_ORDER(s, 1, ASX_SELL, 10, 4, 6, ASX_OPEN, 102);
  asx_order *last = BUY(a, 10, 4);
  EXPECT_ORDER(s, 1, ASX_SELL, 10, 0, 10, ASX_FILLED, 102);
  EXPECT_ORDER(last, 4, ASX_BUY, 10, 0, 4, ASX_FILLED, 101);
  EXPECT_ACCOUNT(a, 900, 10, 0);
  EXPECT_ACCOUNT(b, 100, 90, 0);
  EQ(asx_book_resting(f->b), 0);
  EQ(asx_book_levels(f->b, ASX_SELL), 0);
  CHECK_BOOK(f->b);
}

/* Self-trades. */

static void test_self_trade(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0];
  fund(a, 1000, 10);

  asx_order *s = SELL(a, 10, 4);
  asx_order *o = BUY(a, 10, 6);
  EXPECT_ORDER(s, 1, ASX_SELL, 10, 0, 4, ASX_FILLED, 101);
  EXPECT_ORDER(o, 2, ASX_BUY, 10, 2, 4, ASX_OPEN, 101);
  EXPECT_ACCOUNT(a, 1000, 10, 1);
  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 3);
  EXPECT_EVENT(&e[2], EV_TRADE(2, 1, 101, 101, ASX_BUY, 10, 4));
  const asx_stats *st = asx_book_stats(f->b);
  EQ(st->trades, 1);
  EQ_U128(st->volume, 0, 4);
  EQ_U128(st->notional, 0, 40);
  CHECK_BOOK(f->b);
}

static void test_self_trade_needs_money(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0];
  fund(a, 5, 10);

  asx_order *s = SELL(a, 10, 3);
  asx_order *o = BUY(a, 10, 3);
  EXPECT_ORDER(o, 2, ASX_BUY, 10, 0, 0, ASX_CANCELLED, 101);
  EXPECT_ORDER(s, 1, ASX_SELL, 10, 3, 0, ASX_OPEN, 101);
  EXPECT_ACCOUNT(a, 5, 10, 1);
  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 3);
  EXPECT_EVENT(&e[2], EV_TRIM(2, 101, ASX_BUY, 10, 3, 0, ASX_TRIM_MONEY));
  EQ(asx_book_best_bid(f->b), 0);
  EQ(asx_book_stats(f->b)->trades, 0);
  CHECK_BOOK(f->b);
}

static void test_self_trade_needs_stocks(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0];
  fund(a, 1000, 0);

  asx_order *b = BUY(a, 10, 3);
  asx_order *o = SELL(a, 10, 3);
  EXPECT_ORDER(o, 2, ASX_SELL, 10, 0, 0, ASX_CANCELLED, 101);
  EXPECT_ORDER(b, 1, ASX_BUY, 10, 3, 0, ASX_OPEN, 101);
  EXPECT_ACCOUNT(a, 1000, 0, 1);
  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 3);
  EXPECT_EVENT(&e[2], EV_TRIM(2, 101, ASX_SELL, 10, 3, 0, ASX_TRIM_STOCKS));
  EQ(asx_book_best_ask(f->b), 0);
  CHECK_BOOK(f->b);
}

/* Trims. */

static void test_trim_incoming_buyer(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 30, 0);
  fund(b, 0, 10);

  /* Trimmed to floor(money / fill price), the fill price and not the limit:
   * 30 / 10 = 3, where 30 / 12 would be 2. */
  asx_order *s = SELL(b, 10, 10);
  asx_order *o = BUY(a, 12, 10);
  EXPECT_ORDER(o, 2, ASX_BUY, 12, 0, 3, ASX_FILLED, 101);
  EXPECT_ORDER(s, 1, ASX_SELL, 10, 7, 3, ASX_OPEN, 102);
  EXPECT_ACCOUNT(a, 0, 3, 0);
  EXPECT_ACCOUNT(b, 30, 7, 1);
  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 4);
  EXPECT_EVENT(&e[0], EV_ORDER(1, 102, ASX_SELL, 10, 10));
  EXPECT_EVENT(&e[1], EV_ORDER(2, 101, ASX_BUY, 12, 10));
  EXPECT_EVENT(&e[2], EV_TRIM(2, 101, ASX_BUY, 10, 10, 3, ASX_TRIM_MONEY));
  EXPECT_EVENT(&e[3], EV_TRADE(2, 1, 101, 102, ASX_BUY, 10, 3));
  EQ(asx_book_level_amount(f->b, ASX_SELL, 10), 7);
  EQ(asx_book_best_bid(f->b), 0);
  CHECK_BOOK(f->b);
}

static void test_trim_resting_buyer(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 35, 0);
  fund(b, 0, 10);

  asx_order *o = BUY(a, 10, 10);
  asx_order *s = SELL(b, 10, 10);
  EXPECT_ORDER(o, 1, ASX_BUY, 10, 0, 3, ASX_FILLED, 101);
  EXPECT_ORDER(s, 2, ASX_SELL, 10, 7, 3, ASX_OPEN, 102);
  EXPECT_ACCOUNT(a, 5, 3, 0);
  EXPECT_ACCOUNT(b, 30, 7, 1);
  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 4);
  EXPECT_EVENT(&e[2], EV_TRIM(1, 101, ASX_BUY, 10, 10, 3, ASX_TRIM_MONEY));
  EXPECT_EVENT(&e[3], EV_TRADE(1, 2, 101, 102, ASX_SELL, 10, 3));
  EQ(asx_book_best_bid(f->b), 0);
  EQ(asx_book_best_ask(f->b), 10);
  EQ(asx_book_level_amount(f->b, ASX_SELL, 10), 7);
  CHECK_BOOK(f->b);
}

static void test_trim_incoming_seller(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 1000, 0);
  fund(b, 0, 3);

  asx_order *o = BUY(a, 10, 10);
  asx_order *s = SELL(b, 10, 10);
  EXPECT_ORDER(s, 2, ASX_SELL, 10, 0, 3, ASX_FILLED, 102);
  EXPECT_ORDER(o, 1, ASX_BUY, 10, 7, 3, ASX_OPEN, 101);
  EXPECT_ACCOUNT(a, 970, 3, 1);
  EXPECT_ACCOUNT(b, 30, 0, 0);
  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 4);
  EXPECT_EVENT(&e[2], EV_TRIM(2, 102, ASX_SELL, 10, 10, 3, ASX_TRIM_STOCKS));
  EXPECT_EVENT(&e[3], EV_TRADE(1, 2, 101, 102, ASX_SELL, 10, 3));
  EQ(asx_book_level_amount(f->b, ASX_BUY, 10), 7);
  EQ(asx_book_best_ask(f->b), 0);
  CHECK_BOOK(f->b);
}

static void test_trim_resting_seller(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 1000, 0);
  fund(b, 0, 3);

  asx_order *s = SELL(b, 10, 10);
  asx_order *o = BUY(a, 10, 10);
  EXPECT_ORDER(s, 1, ASX_SELL, 10, 0, 3, ASX_FILLED, 102);
  EXPECT_ORDER(o, 2, ASX_BUY, 10, 7, 3, ASX_OPEN, 101);
  EXPECT_ACCOUNT(a, 970, 3, 1);
  EXPECT_ACCOUNT(b, 30, 0, 0);
  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 4);
  EXPECT_EVENT(&e[2], EV_TRIM(1, 102, ASX_SELL, 10, 10, 3, ASX_TRIM_STOCKS));
  EXPECT_EVENT(&e[3], EV_TRADE(2, 1, 101, 102, ASX_BUY, 10, 3));
  EQ(asx_book_best_bid(f->b), 10);
  EQ(asx_book_best_ask(f->b), 0);
  CHECK_BOOK(f->b);
}

/* Exactly enough money and stocks trade in full; one short trims by one. */
static void test_trim_boundaries(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 70, 0);
  fund(b, 0, 10);

  asx_order *s1 = SELL(b, 7, 10);
  asx_order *o2 = BUY(a, 7, 10);
  EXPECT_ORDER(o2, 2, ASX_BUY, 7, 0, 10, ASX_FILLED, 101);
  EXPECT_ORDER(s1, 1, ASX_SELL, 7, 0, 10, ASX_FILLED, 102);
  EXPECT_ACCOUNT(a, 0, 10, 0);
  EXPECT_ACCOUNT(b, 70, 0, 0);

  fund(a, 69, 0);
  fund(b, 0, 10);
  asx_order *s3 = SELL(b, 7, 10);
  asx_order *o4 = BUY(a, 7, 10);
  EXPECT_ORDER(o4, 4, ASX_BUY, 7, 0, 9, ASX_FILLED, 101);
  EXPECT_ORDER(s3, 3, ASX_SELL, 7, 1, 9, ASX_OPEN, 102);
  EXPECT_ACCOUNT(a, 6, 9, 0);
  EXPECT_ACCOUNT(b, 63, 1, 1);
  assert_int_equal(asx_book_cancel(f->b, s3), 1);

  fund(a, 1000, 0);
  fund(b, 0, 9);
  asx_order *s5 = SELL(b, 7, 10);
  asx_order *o6 = BUY(a, 7, 10);
  EXPECT_ORDER(s5, 5, ASX_SELL, 7, 0, 9, ASX_FILLED, 102);
  EXPECT_ORDER(o6, 6, ASX_BUY, 7, 1, 9, ASX_OPEN, 101);
  EXPECT_ACCOUNT(a, 937, 9, 1);
  EXPECT_ACCOUNT(b, 63, 0, 0);
  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 12);
  EXPECT_EVENT(&e[5], EV_TRIM(4, 101, ASX_BUY, 7, 10, 9, ASX_TRIM_MONEY));
  EXPECT_EVENT(&e[10], EV_TRIM(5, 102, ASX_SELL, 7, 10, 9, ASX_TRIM_STOCKS));
  CHECK_BOOK(f->b);
}

static void test_buyer_checked_first_and_trims_permanent(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1], *c = &f->t[2];
  fund(a, 0, 0);
  fund(b, 0, 0);

  /* Both short: the buyer's money is checked first, its order is trimmed
   * to nothing and stops, and the seller's order is left untouched. */
  asx_order *s1 = SELL(b, 10, 10);
  asx_order *o2 = BUY(a, 10, 10);
  EXPECT_ORDER(o2, 2, ASX_BUY, 10, 0, 0, ASX_CANCELLED, 101);
  EXPECT_ORDER(s1, 1, ASX_SELL, 10, 10, 0, ASX_OPEN, 102);
  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 3);
  EXPECT_EVENT(&e[2], EV_TRIM(2, 101, ASX_BUY, 10, 10, 0, ASX_TRIM_MONEY));
  EQ(asx_book_best_bid(f->b), 0);

  /* Both short but not broke: the buyer is trimmed to 6, then the seller to
   * the 4 it holds; 4 trade and the rest of the buy rests. */
  fund(a, 60, 0);
  fund(b, 0, 4);
  asx_order *o3 = BUY(a, 10, 10);
  EXPECT_ORDER(o3, 3, ASX_BUY, 10, 2, 4, ASX_OPEN, 101);
  EXPECT_ORDER(s1, 1, ASX_SELL, 10, 0, 4, ASX_FILLED, 102);
  EXPECT_ACCOUNT(a, 20, 4, 1);
  EXPECT_ACCOUNT(b, 40, 0, 0);
  e = take_events(f, &n);
  EQ(n, 4);
  EXPECT_EVENT(&e[0], EV_ORDER(3, 101, ASX_BUY, 10, 10));
  EXPECT_EVENT(&e[1], EV_TRIM(3, 101, ASX_BUY, 10, 10, 6, ASX_TRIM_MONEY));
  EXPECT_EVENT(&e[2], EV_TRIM(1, 102, ASX_SELL, 10, 10, 4, ASX_TRIM_STOCKS));
  EXPECT_EVENT(&e[3], EV_TRADE(3, 1, 101, 102, ASX_BUY, 10, 4));
  EQ(asx_book_level_amount(f->b, ASX_BUY, 10), 2);
  CHECK_BOOK(f->b);

  /* A trim is permanent: with money again, the buy still trades only the 2
   * it kept, and the seller's rest rests. */
  fund(a, 1000, 4);
  fund(c, 0, 100);
  asx_order *s4 = SELL(c, 10, 10);
  EXPECT_ORDER(o3, 3, ASX_BUY, 10, 0, 6, ASX_FILLED, 101);
  EXPECT_ORDER(s4, 4, ASX_SELL, 10, 8, 2, ASX_OPEN, 103);
  EXPECT_ACCOUNT(a, 980, 6, 0);
  EXPECT_ACCOUNT(c, 20, 98, 1);
  EQ(asx_book_best_bid(f->b), 0);
  EQ(asx_book_best_ask(f->b), 10);
  CHECK_BOOK(f->b);
}

static void test_resting_trimmed_to_zero_leaves(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1], *c = &f->t[2], *d = &f->t[3];
  fund(a, 1000, 0);
  fund(b, 0, 0);
  fund(c, 0, 5);
  fund(d, 0, 0);

  asx_order *s1 = SELL(b, 10, 5);
  asx_order *s2 = SELL(c, 10, 5);
  asx_order *s3 = SELL(d, 11, 5);
  take_events(f, &(size_t){0});

  /* Sellers without stocks leave the book without trading; the matching
   * goes on past them and the rest of the buy rests. */
  asx_order *o = BUY(a, 11, 10);
  EXPECT_ORDER(s1, 1, ASX_SELL, 10, 0, 0, ASX_CANCELLED, 102);
  EXPECT_ORDER(s2, 2, ASX_SELL, 10, 0, 5, ASX_FILLED, 103);
  EXPECT_ORDER(s3, 3, ASX_SELL, 11, 0, 0, ASX_CANCELLED, 104);
  EXPECT_ORDER(o, 4, ASX_BUY, 11, 5, 5, ASX_OPEN, 101);
  EXPECT_FINISHED(s1, s2, s3);
  EXPECT_ACCOUNT(a, 950, 5, 1);
  EXPECT_ACCOUNT(b, 0, 0, 0);
  EXPECT_ACCOUNT(c, 50, 0, 0);
  EXPECT_ACCOUNT(d, 0, 0, 0);
  assert_null(asx_account_first(b));
  assert_null(asx_account_first(d));
  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 4);
  EXPECT_EVENT(&e[0], EV_ORDER(4, 101, ASX_BUY, 11, 10));
  EXPECT_EVENT(&e[1], EV_TRIM(1, 102, ASX_SELL, 10, 5, 0, ASX_TRIM_STOCKS));
  EXPECT_EVENT(&e[2], EV_TRADE(4, 2, 101, 103, ASX_BUY, 10, 5));
  EXPECT_EVENT(&e[3], EV_TRIM(3, 104, ASX_SELL, 11, 5, 0, ASX_TRIM_STOCKS));
  const asx_stats *st = asx_book_stats(f->b);
  EQ(st->trades, 1);
  EQ_U128(st->volume, 0, 5);
  EQ(st->cancels, 0);
  EQ(asx_book_best_ask(f->b), 0);
  EQ(asx_book_levels(f->b, ASX_SELL), 0);
  EQ(asx_book_best_bid(f->b), 11);
  EQ(asx_book_resting(f->b), 1);
  CHECK_BOOK(f->b);

  /* The same for a resting buyer without money. */
  asx_order *o5 = BUY(b, 11, 4);
  fund(d, 0, 10);
  take_events(f, &n);
  asx_order *s6 = SELL(d, 11, 10);
  EXPECT_ORDER(o, 4, ASX_BUY, 11, 0, 10, ASX_FILLED, 101);
  EXPECT_ORDER(o5, 5, ASX_BUY, 11, 0, 0, ASX_CANCELLED, 102);
  EXPECT_ORDER(s6, 6, ASX_SELL, 11, 5, 5, ASX_OPEN, 104);
  EXPECT_FINISHED(o, o5);
  EXPECT_ACCOUNT(a, 895, 10, 0);
  EXPECT_ACCOUNT(b, 0, 0, 0);
  EXPECT_ACCOUNT(d, 55, 5, 1);
  e = take_events(f, &n);
  EQ(n, 3);
  EXPECT_EVENT(&e[1], EV_TRADE(4, 6, 101, 104, ASX_SELL, 11, 5));
  EXPECT_EVENT(&e[2], EV_TRIM(5, 102, ASX_BUY, 11, 4, 0, ASX_TRIM_MONEY));
  EQ(asx_book_best_bid(f->b), 0);
  EQ(asx_book_best_ask(f->b), 11);
  CHECK_BOOK(f->b);
}

static void test_incoming_trimmed_to_zero_stops(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1], *c = &f->t[2], *d = &f->t[3];
  fund(a, 1000, 0);
  fund(b, 0, 0);
  fund(c, 0, 10);
  fund(d, 25, 0);

  /* A seller without stocks: its limit order stops and does not rest. */
  asx_order *o1 = BUY(a, 10, 5);
  asx_order *o2 = SELL(b, 9, 5);
  EXPECT_ORDER(o2, 2, ASX_SELL, 9, 0, 0, ASX_CANCELLED, 102);
  EXPECT_ORDER(o1, 1, ASX_BUY, 10, 5, 0, ASX_OPEN, 101);
  size_t n;
  asx_book_finished(f->b, &n);
  EQ(n, 0);
  const asx_event *e = take_events(f, &n);
  EQ(n, 3);
  EXPECT_EVENT(&e[2], EV_TRIM(2, 102, ASX_SELL, 10, 5, 0, ASX_TRIM_STOCKS));
  EQ(asx_book_best_ask(f->b), 0);
  EQ(asx_book_resting(f->b), 1);

  /* A buyer who runs out of money after a first fill: trimmed to nothing
   * at the second, it stops there and does not rest, though it is a limit
   * order whose price still crosses. */
  asx_order *s3 = SELL(c, 20, 2);
  asx_order *s4 = SELL(c, 11, 2);
  take_events(f, &n);
  asx_order *o5 = BUY(d, 25, 10);
  EXPECT_ORDER(o5, 5, ASX_BUY, 25, 0, 2, ASX_CANCELLED, 104);
  EXPECT_ORDER(s4, 4, ASX_SELL, 11, 0, 2, ASX_FILLED, 103);
  EXPECT_ORDER(s3, 3, ASX_SELL, 20, 2, 0, ASX_OPEN, 103);
  EXPECT_ACCOUNT(d, 3, 2, 0);
  EXPECT_ACCOUNT(c, 22, 8, 1);
  e = take_events(f, &n);
  EQ(n, 3);
  EXPECT_EVENT(&e[1], EV_TRADE(5, 4, 104, 103, ASX_BUY, 11, 2));
  EXPECT_EVENT(&e[2], EV_TRIM(5, 104, ASX_BUY, 20, 8, 0, ASX_TRIM_MONEY));
  EQ(asx_book_best_bid(f->b), 10);
  EQ(asx_book_levels(f->b, ASX_BUY), 1);
  EQ(asx_book_best_ask(f->b), 20);
  CHECK_BOOK(f->b);
}

/* Market orders. */

static void test_market_buy_sweeps_and_drops_rest(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1], *c = &f->t[2];
  fund(a, 1000, 0);
  fund(b, 0, 100);
  fund(c, 0, 100);

  SELL(b, 10, 2);
  SELL(b, 11, 3);
  SELL(c, 12, 4);
  take_events(f, &(size_t){0});
  asx_order *o = BUY(a, 0, 20);
  EXPECT_ORDER(o, 4, ASX_BUY, 0, 11, 9, ASX_CANCELLED, 101);
  EXPECT_ACCOUNT(a, 1000 - 20 - 33 - 48, 9, 0);
  EXPECT_ACCOUNT(b, 53, 95, 0);
  EXPECT_ACCOUNT(c, 48, 96, 0);
  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 5);
  EXPECT_EVENT(&e[0], EV_ORDER(4, 101, ASX_BUY, 0, 20));
  EXPECT_EVENT(&e[1], EV_TRADE(4, 1, 101, 102, ASX_BUY, 10, 2));
  EXPECT_EVENT(&e[2], EV_TRADE(4, 2, 101, 102, ASX_BUY, 11, 3));
  EXPECT_EVENT(&e[3], EV_TRADE(4, 3, 101, 103, ASX_BUY, 12, 4));
  EXPECT_EVENT(&e[4], EV_CANCEL(4, 101, ASX_BUY, 11));
  /* A market order never rests. */
  EQ(asx_book_best_bid(f->b), 0);
  EQ(asx_book_best_ask(f->b), 0);
  EQ(asx_book_resting(f->b), 0);
  assert_int_equal(asx_book_cancel(f->b, o), 0);
  CHECK_BOOK(f->b);
}

static void test_market_sell_filled(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *c = &f->t[2];
  fund(a, 1000, 0);
  fund(c, 0, 100);

  asx_order *b1 = BUY(a, 10, 3);
  asx_order *b2 = BUY(a, 9, 3);
  take_events(f, &(size_t){0});
  asx_order *o = SELL(c, 0, 4);
  EXPECT_ORDER(o, 3, ASX_SELL, 0, 0, 4, ASX_FILLED, 103);
  EXPECT_ORDER(b1, 1, ASX_BUY, 10, 0, 3, ASX_FILLED, 101);
  EXPECT_ORDER(b2, 2, ASX_BUY, 9, 2, 1, ASX_OPEN, 101);
  EXPECT_ACCOUNT(a, 1000 - 39, 4, 1);
  EXPECT_ACCOUNT(c, 39, 96, 0);
  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 3);
  EXPECT_EVENT(&e[0], EV_ORDER(3, 103, ASX_SELL, 0, 4));
  EXPECT_EVENT(&e[1], EV_TRADE(1, 3, 101, 103, ASX_SELL, 10, 3));
  EXPECT_EVENT(&e[2], EV_TRADE(2, 3, 101, 103, ASX_SELL, 9, 1));
  EQ(asx_book_best_bid(f->b), 9);
  EQ(asx_book_best_ask(f->b), 0);
  CHECK_BOOK(f->b);
}

static void test_market_empty_side(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0];
  fund(a, 1000, 100);

  asx_order *o1 = BUY(a, 0, 5);
  asx_order *o2 = SELL(a, 0, 7);
  EXPECT_ORDER(o1, 1, ASX_BUY, 0, 5, 0, ASX_CANCELLED, 101);
  EXPECT_ORDER(o2, 2, ASX_SELL, 0, 7, 0, ASX_CANCELLED, 101);
  EXPECT_ACCOUNT(a, 1000, 100, 0);
  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 4);
  EXPECT_EVENT(&e[0], EV_ORDER(1, 101, ASX_BUY, 0, 5));
  EXPECT_EVENT(&e[1], EV_CANCEL(1, 101, ASX_BUY, 5));
  EXPECT_EVENT(&e[2], EV_ORDER(2, 101, ASX_SELL, 0, 7));
  EXPECT_EVENT(&e[3], EV_CANCEL(2, 101, ASX_SELL, 7));
  EQ(asx_book_resting(f->b), 0);
  EQ(asx_book_stats(f->b)->orders, 2);
  CHECK_BOOK(f->b);
}

static void test_market_trims(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1], *c = &f->t[2];
  fund(a, 55, 0);
  fund(b, 0, 100);
  fund(c, 1000, 3);

  /* A market buy pays 30 for 3 at 10, then can afford 25 / 11 = 2. */
  SELL(b, 10, 3);
  asx_order *s2 = SELL(b, 11, 5);
  take_events(f, &(size_t){0});
  asx_order *o = BUY(a, 0, 100);
  EXPECT_ORDER(o, 3, ASX_BUY, 0, 0, 5, ASX_FILLED, 101);
  EXPECT_ORDER(s2, 2, ASX_SELL, 11, 3, 2, ASX_OPEN, 102);
  EXPECT_ACCOUNT(a, 3, 5, 0);
  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 4);
  EXPECT_EVENT(&e[1], EV_TRADE(3, 1, 101, 102, ASX_BUY, 10, 3));
  EXPECT_EVENT(&e[2], EV_TRIM(3, 101, ASX_BUY, 11, 97, 2, ASX_TRIM_MONEY));
  EXPECT_EVENT(&e[3], EV_TRADE(3, 2, 101, 102, ASX_BUY, 11, 2));

  /* A market sell is trimmed to the stocks its seller holds. */
  asx_order *b4 = BUY(c, 9, 10);
  take_events(f, &n);
  asx_order *o5 = SELL(a, 0, 50);
  EXPECT_ORDER(o5, 5, ASX_SELL, 0, 0, 5, ASX_FILLED, 101);
  EXPECT_ORDER(b4, 4, ASX_BUY, 9, 5, 5, ASX_OPEN, 103);
  EXPECT_ACCOUNT(a, 48, 0, 0);
  EXPECT_ACCOUNT(c, 955, 8, 1);
  e = take_events(f, &n);
  EQ(n, 3);
  EXPECT_EVENT(&e[1], EV_TRIM(5, 101, ASX_SELL, 9, 50, 5, ASX_TRIM_STOCKS));
  EXPECT_EVENT(&e[2], EV_TRADE(4, 5, 103, 101, ASX_SELL, 9, 5));
  CHECK_BOOK(f->b);
}

/* The records of an abandoned delivery stay where they were, for a reader
 * still holding their address, while the book records on in a new buffer
 * (under ASan a read of a freed one fails). */
static void test_abandoned_events_kept(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0];
  fund(a, 1000000, 1000);
  SELL(a, 50, 3);
  size_t n;
  const asx_event *held = asx_book_events(f->b, &n);
  EQ(n, 1);
  EQ(asx_book_abandon_events(f->b), 0);
  EQ(asx_book_events(f->b, &n) != held, 1);
  EQ(n, 0);
  /* More records than the first buffer held. */
  for (int i = 0; i < 600; i++)
    SELL(a, 100 + i, 1);
  asx_book_events(f->b, &n);
  EQ(n, 600);
  EXPECT_EVENT(&held[0], EV_ORDER(1, 101, ASX_SELL, 50, 3));
  CHECK_BOOK(f->b);
}

/* The records and their count read in place: what asx_book_events gives,
 * as the buffer moves when it grows; a count set to 0 clears them. */
static void test_events_read_in_place(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0];
  fund(a, 1000000, 1000);
  const asx_event *const *buffer = asx_book_event_buffer(f->b);
  size_t *count = asx_book_event_count(f->b);
  size_t n;
  for (int i = 0; i < 600; i++) {
    SELL(a, 100 + i, 1);
    EQ(*buffer == asx_book_events(f->b, &n), 1);
    EQ(*count, n);
    EQ(n, (size_t)i + 1);
  }
  EXPECT_EVENT(&(*buffer)[599], EV_ORDER(600, 101, ASX_SELL, 699, 1));
  *count = 0;
  asx_book_events(f->b, &n);
  EQ(n, 0);
  SELL(a, 50, 3);
  EQ(*count, 1);
  EXPECT_EVENT(&(*buffer)[0], EV_ORDER(601, 101, ASX_SELL, 50, 3));
  CHECK_BOOK(f->b);
}

/* One order sweeps a million resting orders: the matching is a loop. */
static void test_sweep_a_million(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1], *c = &f->t[2];
  enum { N = 1000000, LEVELS = 1000 };
  const int64_t notional = (int64_t)(N / LEVELS) * (LEVELS * (LEVELS + 1) / 2);
  asx_book_record_events(f->b, 0);
  fund(a, notional, 0);
  fund(b, 0, N);

  for (int i = 0; i < N; i++)
    SELL(b, 1 + i % LEVELS, 1);
  EQ(asx_book_resting(f->b), N);
  EQ(asx_book_levels(f->b, ASX_SELL), LEVELS);
  EQ(asx_book_level_amount(f->b, ASX_SELL, 1), N / LEVELS);
  CHECK_BOOK(f->b);

  asx_order *o = BUY(a, LEVELS, N);
  EXPECT_ORDER(o, N + 1, ASX_BUY, LEVELS, 0, N, ASX_FILLED, 101);
  EXPECT_ACCOUNT(a, 0, N, 0);
  EXPECT_ACCOUNT(b, notional, 0, 0);
  const asx_stats *st = asx_book_stats(f->b);
  EQ(st->trades, N);
  EQ_U128(st->volume, 0, N);
  EQ_U128(st->notional, 0, notional);
  EQ(st->open, 1);
  EQ(st->low, 1);
  EQ(st->high, LEVELS);
  EQ(st->last, LEVELS);
  EQ(asx_book_resting(f->b), 0);
  EQ(asx_book_levels(f->b, ASX_SELL), 0);
  CHECK_BOOK(f->b);

  /* Every resting order that left is listed, so the pool gets them all
   * back. The oldest traded first. */
  size_t n;
  asx_order *const *done = asx_book_finished(f->b, &n);
  EQ(n, N);
  EQ(done[0]->id, 1);
  EQ(done[N - 1]->id, N);
  for (size_t i = 0; i < n; i++) {
    assert_true(done[i]->status == ASX_FILLED);
    asx_pool_put(f->pool, done[i]);
  }
  asx_pool_put(f->pool, o);

  /* A market sell sweeps a million bids and drops what is left. */
  fund(c, 0, 2 * N);
  for (int i = 0; i < N; i++)
    BUY(b, 1 + i % LEVELS, 1);
  asx_order *m = SELL(c, 0, 2 * N);
  EXPECT_ORDER(m, 2 * N + 2, ASX_SELL, 0, N, N, ASX_CANCELLED, 103);
  EXPECT_ACCOUNT(b, 0, N, 0);
  EXPECT_ACCOUNT(c, notional, N, 0);
  EQ(st->trades, 2 * N);
  EQ(st->last, 1);
  EQ(asx_book_resting(f->b), 0);
  CHECK_BOOK(f->b);
}

/* Bad arguments change nothing, ids included. */
static void test_bad_arguments(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *c = &f->t[2];
  fund(a, 1000, 10);
  asx_order *first = BUY(a, 5, 1);
  EXPECT_ORDER(first, 1, ASX_BUY, 5, 1, 0, ASX_OPEN, 101);
  take_events(f, &(size_t){0});

  const asx_stats before = *asx_book_stats(f->b);
  const asx_account acct_before = *a;
  const int64_t half = ASX_MAX_QTY / 2;
  const struct {
    int side;
    int64_t price, amount;
  } bad[] = {
      {ASX_BUY, 5, 0},
      {ASX_BUY, 5, -1},
      {ASX_SELL, 5, INT64_MIN},
      {ASX_BUY, 5, ASX_MAX_QTY + 1},
      {ASX_BUY, 5, INT64_MAX},
      {ASX_BUY, -1, 1},
      {ASX_SELL, INT64_MIN, 1},
      {ASX_BUY, ASX_MAX_QTY + 1, 1},
      {ASX_SELL, INT64_MAX, 1},
      {ASX_BUY, 2, half + 1},           /* price x amount = 2^53 */
      {ASX_SELL, ASX_MAX_QTY, 2},
      {ASX_BUY, 3037000500, 3037000500}, /* the product overflows int64 */
      {ASX_BUY, 0, 0},                   /* market */
      {ASX_SELL, 0, -5},
      {ASX_BUY, 0, ASX_MAX_QTY + 1},
      {2, 5, 1},
      {-1, 5, 1},
      {255, 5, 1},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    asx_order o, pattern;
    memset(&o, 0xab, sizeof(o));
    memcpy(&pattern, &o, sizeof(o));
    int rc = asx_book_submit(f->b, &o, a, bad[i].side, bad[i].price,
                             bad[i].amount);
    if (rc != ASX_E_ARG)
      fail_msg("case %zu: returned %d, expected ASX_E_ARG", i, rc);
    if (memcmp(&o, &pattern, sizeof(o)) != 0)
      fail_msg("case %zu: the order was written", i);
  }
  /* No account. */
  asx_order o;
  memset(&o, 0, sizeof(o));
  assert_int_equal(asx_book_submit(f->b, &o, NULL, ASX_BUY, 5, 1), ASX_E_ARG);
  EQ(o.id, 0);

  assert_memory_equal(asx_book_stats(f->b), &before, sizeof(before));
  assert_memory_equal(a, &acct_before, sizeof(acct_before));
  size_t n;
  asx_book_events(f->b, &n);
  EQ(n, 0);
  EQ(asx_book_resting(f->b), 1);
  EQ(asx_book_best_bid(f->b), 5);
  EQ(asx_book_best_ask(f->b), 0);
  EXPECT_ORDER(first, 1, ASX_BUY, 5, 1, 0, ASX_OPEN, 101);
  CHECK_BOOK(f->b);

  /* The limits themselves are good, and the ids go on from 2. */
  asx_order *o2 = BUY(a, 1, ASX_MAX_QTY);
  asx_order *o3 = SELL(a, ASX_MAX_QTY, 1);
  asx_order *o4 = SELL(a, 6, ASX_MAX_QTY / 6);
  asx_order *o5 = BUY(c, 0, ASX_MAX_QTY);
  EXPECT_ORDER(o2, 2, ASX_BUY, 1, ASX_MAX_QTY, 0, ASX_OPEN, 101);
  EXPECT_ORDER(o3, 3, ASX_SELL, ASX_MAX_QTY, 1, 0, ASX_OPEN, 101);
  EXPECT_ORDER(o4, 4, ASX_SELL, 6, ASX_MAX_QTY / 6, 0, ASX_OPEN, 101);
  /* c has no money: its market buy is trimmed to nothing. */
  EXPECT_ORDER(o5, 5, ASX_BUY, 0, 0, 0, ASX_CANCELLED, 103);
  EQ(asx_book_level_amount(f->b, ASX_BUY, 1), ASX_MAX_QTY);
  EQ(asx_book_stats(f->b)->orders, 5);
  CHECK_BOOK(f->b);
}

static void test_account_set_bounds(void **state) {
  (void)state;
  asx_account a;
  memset(&a, 0, sizeof(a));
  assert_int_equal(asx_account_set(&a, 0, 0), 0);
  EQ(a.money, 0);
  EQ(a.stocks, 0);
  assert_int_equal(asx_account_set(&a, ASX_MAX_QTY, ASX_MAX_QTY), 0);
  EQ(a.money, ASX_MAX_QTY);
  EQ(a.stocks, ASX_MAX_QTY);
  assert_int_equal(asx_account_set(&a, 7, 9), 0);

  const int64_t bad[][2] = {
      {-1, 0}, {0, -1}, {ASX_MAX_QTY + 1, 0}, {0, ASX_MAX_QTY + 1},
      {INT64_MIN, 0}, {0, INT64_MAX}, {-1, -1}, {5, -5},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(asx_account_set(&a, bad[i][0], bad[i][1]), ASX_E_ARG);
    EQ(a.money, 7);
    EQ(a.stocks, 9);
  }
}

/* Cancels. */

static void test_cancel(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 1000, 100);
  fund(b, 1000, 0);

  asx_order *o1 = BUY(a, 10, 5);
  take_events(f, &(size_t){0});
  assert_int_equal(asx_book_cancel(f->b, o1), 1);
  EXPECT_ORDER(o1, 1, ASX_BUY, 10, 5, 0, ASX_CANCELLED, 101);
  EXPECT_FINISHED(o1);
  EXPECT_ACCOUNT(a, 1000, 100, 0);
  assert_null(asx_account_first(a));
  EQ(asx_book_best_bid(f->b), 0);
  EQ(asx_book_resting(f->b), 0);
  EQ(asx_book_stats(f->b)->cancels, 1);
  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 1);
  EXPECT_EVENT(&e[0], EV_CANCEL(1, 101, ASX_BUY, 5));

  /* Twice: nothing more happens. */
  assert_int_equal(asx_book_cancel(f->b, o1), 0);
  EQ(asx_book_stats(f->b)->cancels, 1);
  asx_book_events(f->b, &n);
  EQ(n, 0);

  /* A partly filled order keeps what it filled; the event gives what was
   * left. */
  asx_order *o2 = SELL(a, 20, 10);
  asx_order *o3 = BUY(b, 20, 4);
  EXPECT_ORDER(o3, 3, ASX_BUY, 20, 0, 4, ASX_FILLED, 102);
  take_events(f, &n);
  assert_int_equal(asx_book_cancel(f->b, o2), 1);
  EXPECT_ORDER(o2, 2, ASX_SELL, 20, 6, 4, ASX_CANCELLED, 101);
  e = take_events(f, &n);
  EQ(n, 1);
  EXPECT_EVENT(&e[0], EV_CANCEL(2, 101, ASX_SELL, 6));
  EXPECT_ACCOUNT(a, 1080, 96, 0);

  /* A filled order, a market order, a refused order, a fresh order and
   * NULL are not resting. */
  assert_int_equal(asx_book_cancel(f->b, o3), 0);
  asx_order *m = BUY(b, 0, 3);
  EXPECT_ORDER(m, 4, ASX_BUY, 0, 3, 0, ASX_CANCELLED, 102);
  assert_int_equal(asx_book_cancel(f->b, m), 0);
  asx_order *fresh = new_order(f);
  assert_int_equal(asx_book_cancel(f->b, fresh), 0);
  fresh->status = ASX_NEW;
  assert_int_equal(asx_book_cancel(f->b, fresh), 0);
  assert_int_equal(asx_book_submit(f->b, fresh, a, ASX_BUY, 0, 0), ASX_E_ARG);
  assert_int_equal(asx_book_cancel(f->b, fresh), 0);
  assert_int_equal(asx_book_cancel(f->b, NULL), 0);
  EQ(asx_book_stats(f->b)->cancels, 2);

  /* Another book's order (an account is used with one book only). */
  asx_book *other = asx_book_new();
  assert_non_null(other);
  asx_account elsewhere_acct = {.id = 201};
  asx_order elsewhere;
  memset(&elsewhere, 0, sizeof(elsewhere));
  assert_int_equal(
      asx_book_submit(other, &elsewhere, &elsewhere_acct, ASX_BUY, 7, 2), 0);
  EXPECT_ORDER(&elsewhere, 1, ASX_BUY, 7, 2, 0, ASX_OPEN, 201);
  assert_int_equal(asx_book_cancel(f->b, &elsewhere), 0);
  EXPECT_ORDER(&elsewhere, 1, ASX_BUY, 7, 2, 0, ASX_OPEN, 201);
  EQ(elsewhere_acct.resting, 1);
  EQ(asx_book_best_bid(other), 7);
  EQ(asx_book_stats(f->b)->cancels, 2);
  assert_null(asx_book_check(other));
  assert_int_equal(asx_book_cancel(other, &elsewhere), 1);
  EQ(elsewhere_acct.resting, 0);
  EQ(asx_book_best_bid(other), 0);
  assert_null(asx_book_check(other));
  asx_book_free(other);
  CHECK_BOOK(f->b);
}

/* An account's resting orders are linked through it, so it serves one book:
 * another book refuses it, and nothing changes there. */
static void test_account_serves_one_book(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0];
  fund(a, 1000, 10);
  asx_order *mine = SELL(a, 12, 3);
  EQ(mine->status, ASX_OPEN);

  asx_book *other = asx_book_new();
  assert_non_null(other);
  asx_order o;
  memset(&o, 0, sizeof(o));
  assert_int_equal(asx_book_submit(other, &o, a, ASX_BUY, 7, 2), ASX_E_ARG);
  EQ(o.id, 0);
  EQ(asx_book_stats(other)->orders, 0);
  EQ(asx_book_resting(other), 0);
  EQ(a->resting, 1);
  assert_ptr_equal(asx_account_first(a), mine);
  asx_book_free(other);

  /* Its own book still takes it. */
  EQ(BUY(a, 11, 1)->status, ASX_OPEN);
  EQ(a->resting, 2);
  CHECK_BOOK(f->b);
}

static void test_cancel_keeps_time_priority(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 0, 100);
  fund(b, 1000, 0);

  asx_order *s1 = SELL(a, 10, 1);
  asx_order *s2 = SELL(a, 10, 2);
  asx_order *s3 = SELL(a, 10, 3);
  asx_order *s4 = SELL(a, 10, 4);
  assert_int_equal(asx_book_cancel(f->b, s2), 1);
  assert_ptr_equal(asx_book_level_first(f->b, ASX_SELL, 10), s1);
  assert_ptr_equal(asx_order_next(s1), s3);
  assert_ptr_equal(asx_order_next(s3), s4);
  assert_null(asx_order_next(s4));
  EQ(asx_book_level_amount(f->b, ASX_SELL, 10), 8);
  assert_int_equal(asx_book_cancel(f->b, s1), 1);
  assert_int_equal(asx_book_cancel(f->b, s4), 1);
  assert_ptr_equal(asx_book_level_first(f->b, ASX_SELL, 10), s3);
  assert_null(asx_order_next(s3));
  EQ(asx_book_level_amount(f->b, ASX_SELL, 10), 3);
  CHECK_BOOK(f->b);

  /* A new order at that price comes after the survivor. */
  asx_order *s5 = SELL(a, 10, 5);
  asx_order *o = BUY(b, 10, 4);
  EXPECT_ORDER(s3, 3, ASX_SELL, 10, 0, 3, ASX_FILLED, 101);
  EXPECT_ORDER(s5, 5, ASX_SELL, 10, 4, 1, ASX_OPEN, 101);
  EXPECT_ORDER(o, 6, ASX_BUY, 10, 0, 4, ASX_FILLED, 102);
  EQ(asx_book_stats(f->b)->cancels, 3);
  CHECK_BOOK(f->b);
}

/* Levels, depth and the best prices as levels empty and fill again. */
static void test_levels_and_depth(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0];
  fund(a, 0, 0);

  asx_order *bids[101];
  for (int p = 1; p <= 100; p++) {
    bids[p] = BUY(a, p, 1 + p % 3);
    if (p % 10 == 0)
      BUY(a, p, 10); /* a second order on some levels */
  }
  asx_order *ask = SELL(a, 200, 7);
  EQ(asx_book_levels(f->b, ASX_BUY), 100);
  EQ(asx_book_levels(f->b, ASX_SELL), 1);
  EQ(asx_book_best_bid(f->b), 100);
  EQ(asx_book_best_ask(f->b), 200);

  int64_t prices[200], amounts[200];
  uint32_t counts[200];
  EQ(asx_book_depth(f->b, ASX_BUY, prices, amounts, counts, 3), 3);
  EQ(prices[0], 100);
  EQ(amounts[0], 1 + 100 % 3 + 10);
  EQ(counts[0], 2);
  EQ(prices[1], 99);
  EQ(amounts[1], 1);
  EQ(counts[1], 1);
  EQ(prices[2], 98);
  EQ(amounts[2], 3);
  EQ(asx_book_depth(f->b, ASX_SELL, prices, amounts, counts, 200), 1);
  EQ(prices[0], 200);
  EQ(amounts[0], 7);
  EQ(counts[0], 1);
  /* Any array may be left out, and a bad side has no levels. */
  EQ(asx_book_depth(f->b, ASX_BUY, NULL, NULL, NULL, 200), 100);
  EQ(asx_book_depth(f->b, ASX_BUY, prices, NULL, NULL, 0), 0);
  EQ(asx_book_depth(f->b, 2, prices, amounts, counts, 200), 0);
  EQ(asx_book_levels(f->b, 2), 0);
  assert_null(asx_book_level_first(f->b, 2, 100));
  EQ(asx_book_level_amount(f->b, 2, 100), 0);
  assert_null(asx_book_level_first(f->b, ASX_BUY, 150));
  EQ(asx_book_level_amount(f->b, ASX_BUY, 150), 0);
  EQ(asx_book_level_amount(f->b, ASX_SELL, 100), 0);
  CHECK_BOOK(f->b);

  /* Empty the levels 2..61 below the best, one by one: the levels, the
   * depth and the best bid follow after every cancel. */
  for (int p = 2; p <= 61; p++) {
    while (asx_book_level_first(f->b, ASX_BUY, p) != NULL)
      assert_int_equal(
          asx_book_cancel(f->b, asx_book_level_first(f->b, ASX_BUY, p)), 1);
    EQ(asx_book_levels(f->b, ASX_BUY), 100 - (p - 1));
    EQ(asx_book_level_amount(f->b, ASX_BUY, p), 0);
    EQ(asx_book_best_bid(f->b), 100);
    CHECK_BOOK(f->b);
  }
  EQ(asx_book_depth(f->b, ASX_BUY, prices, amounts, counts, 200), 40);
  for (int i = 0; i < 39; i++)
    EQ(prices[i], 100 - i);
  EQ(prices[39], 1);
  EQ(amounts[39], 2);

  /* Prices that were emptied take orders again. */
  asx_order *again = BUY(a, 30, 4);
  BUY(a, 61, 5);
  EQ(asx_book_levels(f->b, ASX_BUY), 42);
  assert_ptr_equal(asx_book_level_first(f->b, ASX_BUY, 30), again);
  EQ(asx_book_level_amount(f->b, ASX_BUY, 30), 4);
  EQ(asx_book_depth(f->b, ASX_BUY, prices, amounts, NULL, 200), 42);
  EQ(prices[39], 61);
  EQ(amounts[39], 5);
  EQ(prices[40], 30);
  EQ(prices[41], 1);
  CHECK_BOOK(f->b);

  /* Emptying the best level uncovers the next non-empty one, past any
   * emptied behind it. */
  for (int p = 62; p <= 100; p++) {
    while (asx_book_level_first(f->b, ASX_BUY, p) != NULL)
      assert_int_equal(
          asx_book_cancel(f->b, asx_book_level_first(f->b, ASX_BUY, p)), 1);
    CHECK_BOOK(f->b);
  }
  EQ(asx_book_best_bid(f->b), 61);
  assert_int_equal(asx_book_cancel(f->b, asx_book_level_first(f->b, ASX_BUY, 61)), 1);
  EQ(asx_book_best_bid(f->b), 30);
  EQ(asx_book_levels(f->b, ASX_BUY), 2);
  assert_int_equal(asx_book_cancel(f->b, again), 1);
  EQ(asx_book_best_bid(f->b), 1);
  assert_int_equal(asx_book_cancel(f->b, bids[1]), 1);
  EQ(asx_book_best_bid(f->b), 0);
  EQ(asx_book_levels(f->b, ASX_BUY), 0);
  EQ(asx_book_depth(f->b, ASX_BUY, prices, amounts, counts, 200), 0);
  EQ(asx_book_resting(f->b), 1);
  assert_int_equal(asx_book_cancel(f->b, ask), 1);
  EQ(asx_book_best_ask(f->b), 0);
  EQ(asx_book_resting(f->b), 0);
  CHECK_BOOK(f->b);
}

/* The levels near the touch live in a window indexed by price, the others
 * in a sorted array beyond it: the touch may jump any distance, levels may
 * empty on either side of the window's edges, and the book must read the
 * same whichever structure holds a level. */
static void test_window_moves_with_the_touch(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 1000000000, 0);
  fund(b, 0, 1000);
  const int64_t max = ASX_MAX_QTY;
  int64_t prices[8], amounts[8];

  /* The best bid jumps from 1 to near 2^53 and back down as it empties. */
  asx_order *low = BUY(a, 1, 2);
  asx_order *mid = BUY(a, 1000000, 3);
  asx_order *top = BUY(a, max, 1);
  EQ(asx_book_best_bid(f->b), max);
  EQ(asx_book_levels(f->b, ASX_BUY), 3);
  EQ(asx_book_depth(f->b, ASX_BUY, prices, amounts, NULL, 8), 3);
  EQ(prices[0], max);
  EQ(prices[1], 1000000);
  EQ(prices[2], 1);
  EQ(amounts[2], 2);
  EQ(asx_book_level_amount(f->b, ASX_BUY, 1), 2);
  EQ(asx_book_level_amount(f->b, ASX_BUY, 1000000), 3);
  CHECK_BOOK(f->b);
  assert_int_equal(asx_book_cancel(f->b, top), 1);
  EQ(asx_book_best_bid(f->b), 1000000);
  CHECK_BOOK(f->b);
  assert_int_equal(asx_book_cancel(f->b, mid), 1);
  EQ(asx_book_best_bid(f->b), 1);
  assert_ptr_equal(asx_book_level_first(f->b, ASX_BUY, 1), low);
  CHECK_BOOK(f->b);

  /* The best ask jumps from near 2^53 down to 2, and a sell at 1 fills the
   * bid at 1, which leaves the buy side empty. */
  asx_order *far = SELL(b, max, 1);
  asx_order *near = SELL(b, max - 1, 1);
  SELL(b, 2, 4);
  EQ(asx_book_best_ask(f->b), 2);
  EQ(asx_book_depth(f->b, ASX_SELL, prices, NULL, NULL, 8), 3);
  EQ(prices[0], 2);
  EQ(prices[1], max - 1);
  EQ(prices[2], max);
  CHECK_BOOK(f->b);
  asx_order *hit = SELL(b, 1, 2);
  EQ(hit->status, ASX_FILLED);
  EQ(low->status, ASX_FILLED);
  EQ(asx_book_best_bid(f->b), 0);
  EQ(asx_book_levels(f->b, ASX_BUY), 0);
  CHECK_BOOK(f->b);
  /* A buy that takes the ask at 2 uncovers the asks near 2^53. */
  EQ(b->money, 2);
  BUY(a, 2, 4);
  EQ(asx_book_best_ask(f->b), max - 1);
  CHECK_BOOK(f->b);
  assert_int_equal(asx_book_cancel(f->b, near), 1);
  EQ(asx_book_best_ask(f->b), max);
  assert_int_equal(asx_book_cancel(f->b, far), 1);
  EQ(asx_book_best_ask(f->b), 0);
  EQ(asx_book_resting(f->b), 0);
  CHECK_BOOK(f->b);

  /* A bid at every price from 1000 to 1300: wherever the window's edges
   * fall, emptying the best level one price at a time uncovers the next. */
  asx_order *bids[301];
  for (int i = 0; i <= 300; i++)
    bids[i] = BUY(a, 1000 + i, 1);
  EQ(asx_book_levels(f->b, ASX_BUY), 301);
  CHECK_BOOK(f->b);
  for (int i = 300; i > 0; i--) {
    assert_int_equal(asx_book_cancel(f->b, bids[i]), 1);
    EQ(asx_book_best_bid(f->b), 1000 + i - 1);
    EQ(asx_book_levels(f->b, ASX_BUY), i);
    CHECK_BOOK(f->b);
  }
  /* Bids again from the bottom up, each the new best, then emptied from
   * the bottom: the best stays while levels below it empty. */
  for (int i = 1; i <= 300; i++) {
    bids[i] = BUY(a, 1000 + i, 1);
    EQ(asx_book_best_bid(f->b), 1000 + i);
    CHECK_BOOK(f->b);
  }
  for (int i = 0; i < 300; i++) {
    assert_int_equal(asx_book_cancel(f->b, bids[i]), 1);
    EQ(asx_book_best_bid(f->b), 1300);
    EQ(asx_book_levels(f->b, ASX_BUY), 300 - i);
    CHECK_BOOK(f->b);
  }
  /* Refill 1000..1299 below the best, then one sell sweeps all 301 levels
   * in price order, from inside the window to far beyond it. */
  for (int i = 0; i < 300; i++)
    bids[i] = BUY(a, 1000 + i, 1);
  EQ(asx_book_levels(f->b, ASX_BUY), 301);
  CHECK_BOOK(f->b);
  int64_t trades = asx_book_stats(f->b)->trades;
  asx_order *sweep = SELL(b, 1000, 400);
  EQ(sweep->filled, 301);
  EQ(sweep->amount, 99);
  EQ(sweep->status, ASX_OPEN);
  EQ(asx_book_stats(f->b)->trades - trades, 301);
  EQ(asx_book_stats(f->b)->last, 1000);
  EQ(asx_book_best_bid(f->b), 0);
  EQ(asx_book_best_ask(f->b), 1000);
  EQ(asx_book_levels(f->b, ASX_SELL), 1);
  CHECK_BOOK(f->b);
}

static int has_order(const asx_account *a, const asx_order *want) {
  for (const asx_order *o = asx_account_first(a); o != NULL;
       o = asx_account_next(o))
    if (o == want)
      return 1;
  return 0;
}

static size_t count_orders(const asx_account *a) {
  size_t n = 0;
  for (const asx_order *o = asx_account_first(a); o != NULL;
       o = asx_account_next(o))
    n++;
  return n;
}

static void test_account_lists(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 1000, 10);
  fund(b, 1000, 10);

  assert_null(asx_account_first(a));
  asx_order *o1 = BUY(a, 1, 1);
  asx_order *o2 = BUY(a, 2, 1);
  asx_order *o3 = SELL(a, 10, 1);
  asx_order *o4 = SELL(b, 11, 1);
  EQ(count_orders(a), 3);
  EQ(a->resting, 3);
  assert_true(has_order(a, o1) && has_order(a, o2) && has_order(a, o3));
  EQ(count_orders(b), 1);
  assert_ptr_equal(asx_account_first(b), o4);

  assert_int_equal(asx_book_cancel(f->b, o2), 1);
  EQ(count_orders(a), 2);
  EQ(a->resting, 2);
  assert_true(has_order(a, o1) && has_order(a, o3) && !has_order(a, o2));

  /* b's buy fills a's sell, which leaves a's list; b's own order never
   * rested. */
  asx_order *o5 = BUY(b, 10, 1);
  EXPECT_ORDER(o5, 5, ASX_BUY, 10, 0, 1, ASX_FILLED, 102);
  EQ(count_orders(a), 1);
  assert_ptr_equal(asx_account_first(a), o1);
  assert_null(asx_account_next(o1));
  EQ(count_orders(b), 1);
  EXPECT_ACCOUNT(a, 1010, 9, 1);
  EXPECT_ACCOUNT(b, 990, 11, 1);
  CHECK_BOOK(f->b);
}

/* An account's list is made when first asked for, from orders resting in
 * slots of several of the book's chunks of 1,024, and kept from then on
 * through rests, cancels and fills, newest first, whatever chunk each
 * order's slot is in. */
static void test_account_lists_over_chunks(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1], *c = &f->t[2];
  fund(a, 100000, 0);
  fund(b, 100000, 0);
  fund(c, 0, 100);
  enum { N = 2500 };
  asx_order *o[N];
  /* Alternate accounts, so that each list's neighbours are two slots
   * apart and cross the chunks' boundaries. */
  for (int i = 0; i < N; i++)
    o[i] = BUY(i % 2 == 0 ? a : b, 1 + i % 7, 1);
  CHECK_BOOK(f->b);
  /* a's orders, newest first: o[2498], o[2496], ... o[0]. */
  const asx_order *p = asx_account_first(a);
  for (int i = N - 2; i >= 0; i -= 2, p = asx_account_next(p))
    assert_ptr_equal(p, o[i]);
  assert_null(p);
  EQ(count_orders(b), N / 2);
  CHECK_BOOK(f->b);
  /* Cancels at both ends and across chunk boundaries (slots 1024, 1025,
   * 2048, 2049). */
  int gone[] = {0, 1, 1022, 1023, 1024, 2046, 2047, 2048, N - 2, N - 1};
  for (size_t k = 0; k < sizeof(gone) / sizeof(gone[0]); k++)
    assert_int_equal(asx_book_cancel(f->b, o[gone[k]]), 1);
  EQ(count_orders(a), N / 2 - 6);
  EQ(count_orders(b), N / 2 - 4);
  assert_ptr_equal(asx_account_first(a), o[N - 4]);
  assert_ptr_equal(asx_account_first(b), o[N - 3]);
  CHECK_BOOK(f->b);
  /* A new order of a's takes the slot given back last and is first in
   * a's list. */
  asx_order *again = BUY(a, 3, 1);
  EQ(again->slot, N); /* o[N - 1]'s */
  assert_ptr_equal(asx_account_first(a), again);
  assert_ptr_equal(asx_account_next(again), o[N - 4]);
  /* c sells into the best level (7): its oldest orders fill and leave
   * their lists. */
  asx_order *sell = SELL(c, 7, 3);
  EQ(sell->filled, 3);
  EQ(count_orders(a) + count_orders(b), N - 10 + 1 - 3);
  EQ(a->resting + b->resting, N - 10 + 1 - 3);
  CHECK_BOOK(f->b);
}

/* Slots are handed out from 1 upwards, past the first growth of the slot
 * arrays too, and the last one given back is the first taken again: the
 * Lua side indexes its resting orders by slot in a plain array, which
 * stays as short as the number of orders resting. The book makes its slots
 * 1,024 at a time: a slot given back when all those made are taken comes
 * first, and the next new one follows the last made. */
static void test_slot_numbers(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0];
  fund(a, 10000, 0);
  enum { N = 2060 };
  asx_order *o[N];
  for (int i = 0; i < N; i++) {
    o[i] = BUY(a, 1 + i % 5, 1);
    EQ(o[i]->slot, i + 1);
    if (i == 1023) {
      assert_int_equal(asx_book_cancel(f->b, o[9]), 1);
      o[9] = BUY(a, 2, 1);
      EQ(o[9]->slot, 10);
    }
  }
  assert_int_equal(asx_book_cancel(f->b, o[4]), 1);
  assert_int_equal(asx_book_cancel(f->b, o[699]), 1);
  EQ(o[4]->slot, 0);
  EQ(BUY(a, 3, 1)->slot, 700);
  EQ(BUY(a, 3, 1)->slot, 5);
  EQ(BUY(a, 3, 1)->slot, N + 1);
  EQ(asx_book_resting(f->b), N + 1);
  CHECK_BOOK(f->b);
}

/* Events are recorded only when asked, stamped with the book's clock. */
/* A clock that reads a double it is given; negative means "no time yet". */
static double read_clock(const void *data) { return *(const double *)data; }

/* With a clock set, events take its time at each submit and cancel; a
 * negative reading leaves the book's own time, and removing the clock keeps
 * the time it gave last. */
static void test_clock(void **state) {
  (void)state;
  asx_book *book = asx_book_new();
  assert_non_null(book);
  asx_account a = {.id = 1}, b = {.id = 2};
  fund(&a, 1000, 0);
  fund(&b, 0, 100);
  asx_order o1, o2;
  size_t n;
  double now = -1;

  asx_book_record_events(book, 1);
  asx_book_set_time(book, 0.5);
  asx_book_set_clock(book, read_clock, &now);
  assert_true(asx_book_time(book) == 0.5);
  assert_int_equal(asx_book_submit(book, &o1, &b, ASX_SELL, 10, 5), 0);
  now = 3.25;
  assert_true(asx_book_time(book) == 3.25);
  assert_int_equal(asx_book_submit(book, &o2, &a, ASX_BUY, 10, 2), 0);
  now = 4;
  assert_int_equal(asx_book_cancel(book, &o1), 1);
  const asx_event *e = asx_book_events(book, &n);
  EQ(n, 4);
  assert_true(e[0].time == 0.5);
  assert_true(e[1].time == 3.25 && e[2].time == 3.25);
  assert_true(e[3].time == 4);

  asx_book_set_clock(book, NULL, NULL);
  now = 9;
  assert_true(asx_book_time(book) == 4);
  asx_book_free(book);
}

/* Freeing a book marks every order still resting cancelled, with no slot:
 * here 150 levels of two orders on each side, in the window and beyond it,
 * more levels than the walk takes at once. The accounts are not touched. */
static void test_free_cancels_resting(void **state) {
  (void)state;
  asx_book *book = asx_book_new();
  assert_non_null(book);
  asx_account a = {.id = 7};
  fund(&a, 1000000, 1000);
  static asx_order orders[2][150][2];
  memset(orders, 0, sizeof(orders));
  for (int64_t p = 0; p < 150; p++)
    for (int k = 0; k < 2; k++) {
      assert_int_equal(asx_book_submit(book, &orders[ASX_BUY][p][k], &a,
                                       ASX_BUY, 1 + p, 1), 0);
      assert_int_equal(asx_book_submit(book, &orders[ASX_SELL][p][k], &a,
                                       ASX_SELL, 1000 + p, 1), 0);
    }
  EQ(asx_book_resting(book), 600);
  EQ(asx_book_levels(book, ASX_BUY), 150);
  asx_book_free(book);
  for (int s = 0; s < 2; s++)
    for (int p = 0; p < 150; p++)
      for (int k = 0; k < 2; k++) {
        EQ(orders[s][p][k].status, ASX_CANCELLED);
        EQ(orders[s][p][k].slot, 0);
        EQ(orders[s][p][k].amount, 1);
      }
  EXPECT_ACCOUNT(&a, 1000000, 1000, 600);
}

/* asx_book_free_orphaned reads no order: the orders resting in the book
 * are freed first, as a garbage collector frees those no one holds, and
 * ASan sees any read of them. The book of a second instrument goes too. */
static void test_free_orphaned_reads_no_order(void **state) {
  (void)state;
  asx_book *book = asx_book_new();
  assert_non_null(book);
  asx_book *other = asx_book_new_instrument(book);
  assert_non_null(other);
  asx_account a = {.id = 7};
  fund(&a, 1000000, 1000);
  asx_order *orders = calloc(400, sizeof(asx_order));
  assert_non_null(orders);
  for (int64_t i = 0; i < 200; i++) {
    assert_int_equal(
        asx_book_submit(book, &orders[2 * i], &a, ASX_BUY, 1 + i, 1), 0);
    assert_int_equal(
        asx_book_submit(book, &orders[2 * i + 1], &a, ASX_SELL, 1000 + i, 1),
        0);
  }
  EQ(asx_book_resting(book), 400);
  free(orders);
  asx_book_free_orphaned(other);
  asx_book_free_orphaned(book);
}

static void test_events_and_time(void **state) {
  (void)state;
  asx_book *book = asx_book_new();
  assert_non_null(book);
  asx_account a = {.id = 7}, b = {.id = 8};
  fund(&a, 1000, 0);
  fund(&b, 0, 100);
  asx_order o1, o2, o3;
  size_t n;

  EQ(asx_book_time(book), 0);
  assert_int_equal(asx_book_submit(book, &o1, &b, ASX_SELL, 10, 5), 0);
  asx_book_events(book, &n);
  EQ(n, 0);

  asx_book_record_events(book, 1);
  asx_book_set_time(book, 1.5);
  assert_true(asx_book_time(book) == 1.5);
  assert_int_equal(asx_book_submit(book, &o2, &a, ASX_BUY, 10, 2), 0);
  asx_book_set_time(book, 2.25);
  assert_int_equal(asx_book_cancel(book, &o1), 1);
  const asx_event *e = asx_book_events(book, &n);
  EQ(n, 3);
  EXPECT_EVENT(&e[0], .time = 1.5, EV_ORDER(2, 7, ASX_BUY, 10, 2));
  EXPECT_EVENT(&e[1], .time = 1.5, EV_TRADE(2, 1, 7, 8, ASX_BUY, 10, 2));
  EXPECT_EVENT(&e[2], .time = 2.25, EV_CANCEL(1, 8, ASX_SELL, 3));

  asx_book_clear_events(book);
  asx_book_events(book, &n);
  EQ(n, 0);

  /* Recording off again: nothing is recorded, the statistics go on. */
  asx_book_record_events(book, 0);
  assert_int_equal(asx_book_submit(book, &o3, &a, ASX_BUY, 3, 1), 0);
  asx_book_events(book, &n);
  EQ(n, 0);
  EQ(asx_book_stats(book)->orders, 3);
  EQ(asx_book_stats(book)->cancels, 1);
  EQ(asx_book_stats(book)->trades, 1);
  assert_null(asx_book_check(book));
  asx_book_free(book);
  /* Freeing the book lets go of its resting orders (and leaves the
   * accounts alone: a garbage collector may have freed them already). */
  EQ(o3.status, ASX_CANCELLED);
  EQ(o3.slot, 0);
  EQ(o3.amount, 1);
}

static void test_stats(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 10000, 0);
  fund(b, 0, 1000);

  const int64_t px[] = {10, 12, 8, 11};
  const int64_t qty[] = {3, 1, 5, 2};
  for (int i = 0; i < 4; i++) {
    SELL(b, px[i], qty[i]);
    BUY(a, px[i], qty[i]);
  }
  BUY(a, 0, 1);       /* a market order on an empty side */
  SELL(b, 0, 1);  /* and another */
  asx_order *o = new_order(f);
  assert_int_equal(asx_book_submit(f->b, o, a, ASX_BUY, 5, 0), ASX_E_ARG);
  const asx_stats *st = asx_book_stats(f->b);
  EQ(st->orders, 10);
  EQ(st->trades, 4);
  EQ_U128(st->volume, 0, 3 + 1 + 5 + 2);
  EQ_U128(st->notional, 0, 30 + 12 + 40 + 22);
  EQ(st->open, 10);
  EQ(st->high, 12);
  EQ(st->low, 8);
  EQ(st->last, 11);
  EXPECT_ACCOUNT(a, 10000 - 104, 11, 0);
  EXPECT_ACCOUNT(b, 104, 989, 0);
  CHECK_BOOK(f->b);
}

/* The sums of the statistics are 128-bit: 2050 self-trades of 2^53 - 1
 * shares at 1 pass 2^64, and nothing wraps. */
static void test_stats_sums_never_wrap(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0];
  asx_book_record_events(f->b, 0);
  fund(a, ASX_MAX_QTY, ASX_MAX_QTY);
  for (int i = 0; i < 2050; i++) {
    asx_order *s = SELL(a, 1, ASX_MAX_QTY);
    asx_order *o = BUY(a, 1, ASX_MAX_QTY);
    assert_int_equal(o->status, ASX_FILLED);
    asx_pool_put(f->pool, s);
    asx_pool_put(f->pool, o);
    if (i == 1024) {
      /* Past INT64_MAX, where the signed sums used to wrap. */
      const asx_stats *st = asx_book_stats(f->b);
      EQ_U128(st->volume, 0, 1025 * (uint64_t)ASX_MAX_QTY);
      assert_true(asx_u128_double(st->volume) == 1025.0 * 9007199254740991.0);
    }
  }
  /* 2050 x (2^53 - 1) = 2^64 + 2^54 - 2050. */
  const asx_stats *st = asx_book_stats(f->b);
  EQ(st->trades, 2050);
  EQ_U128(st->volume, 1, ((uint64_t)1 << 54) - 2050);
  EQ_U128(st->notional, 1, ((uint64_t)1 << 54) - 2050);
  /* The nearest double: the step there is 4096, and 2046 rounds down. */
  assert_true(asx_u128_double(st->volume) ==
              18446744073709551616.0 + 18014398509479936.0 - 4096.0);
  EXPECT_ACCOUNT(a, ASX_MAX_QTY, ASX_MAX_QTY, 0);
  CHECK_BOOK(f->b);
}

/* The conversion to a Lua number rounds once, to nearest, ties to even. */
static void test_u128_double(void **state) {
  const double two53 = 9007199254740992.0, two64 = 18446744073709551616.0;
  assert_true(asx_u128_double((asx_u128){0, 0}) == 0.0);
  assert_true(asx_u128_double((asx_u128){(uint64_t)ASX_MAX_QTY, 0}) ==
              9007199254740991.0);
  assert_true(asx_u128_double((asx_u128){((uint64_t)1 << 53) + 1, 0}) == two53);
  assert_true(asx_u128_double((asx_u128){((uint64_t)1 << 53) + 3, 0}) ==
              two53 + 4.0);
  assert_true(asx_u128_double((asx_u128){UINT64_MAX, 0}) == two64);
  assert_true(asx_u128_double((asx_u128){2049, 1}) == two64 + 4096.0);
  /* Adding the two words as doubles would round lo up to 2^63 + 2048 and
   * then tie; one rounding of the whole gives the right answer. */
  assert_true(asx_u128_double((asx_u128){((uint64_t)1 << 63) + 1025, 1}) ==
              two64 + two64 / 2);
  assert_true(asx_u128_double((asx_u128){((uint64_t)1 << 63) + 2049, 1}) ==
              two64 + two64 / 2 + 4096.0);
  assert_true(asx_u128_double((asx_u128){0, UINT64_MAX}) ==
              two64 * two64 - two64);
}

/* A limit order that would rest on a level whose total cannot take it is
 * refused, changing nothing; a level may hold exactly 2^53 - 1. */
static void test_level_total_limit(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1], *c = &f->t[2];
  const int64_t half = ASX_MAX_QTY / 2; /* 2^52 - 1 */
  fund(a, 0, ASX_MAX_QTY);
  fund(b, ASX_MAX_QTY, 0);
  fund(c, 0, 100);
  asx_order *b1 = BUY(b, 1, ASX_MAX_QTY - 1);
  asx_order *b2 = BUY(a, 1, 1);
  asx_order *s3 = SELL(a, 2, half);
  asx_order *s4 = SELL(b, 2, half);
  asx_order *s5 = SELL(a, 2, 1);
  EQ(asx_book_level_amount(f->b, ASX_BUY, 1), ASX_MAX_QTY);
  EQ(asx_book_level_amount(f->b, ASX_SELL, 2), ASX_MAX_QTY);
  size_t n;
  take_events(f, &n);

  const asx_stats before = *asx_book_stats(f->b);
  const asx_account a_before = *a;
  const struct {
    int side;
    int64_t price, amount;
  } full[] = {
      {ASX_BUY, 1, 1},
      {ASX_BUY, 1, ASX_MAX_QTY},
      {ASX_SELL, 2, 1},
      {ASX_SELL, 2, half},
  };
  for (size_t i = 0; i < sizeof(full) / sizeof(full[0]); i++) {
    asx_order o;
    memset(&o, 0, sizeof(o));
    int rc = asx_book_submit(f->b, &o, a, full[i].side, full[i].price,
                             full[i].amount);
    if (rc != ASX_E_OVERFLOW)
      fail_msg("case %zu: returned %d, expected ASX_E_OVERFLOW", i, rc);
    EQ(o.id, 0);
  }
  assert_memory_equal(asx_book_stats(f->b), &before, sizeof(before));
  assert_memory_equal(a, &a_before, sizeof(a_before));
  asx_book_events(f->b, &n);
  EQ(n, 0);
  EQ(asx_book_resting(f->b), 5);
  CHECK_BOOK(f->b);

  /* Trading against a full level is fine, and makes room on it. */
  asx_order *o6 = SELL(c, 0, 5);
  EXPECT_ORDER(o6, 6, ASX_SELL, 0, 0, 5, ASX_FILLED, 103);
  EXPECT_ORDER(b1, 1, ASX_BUY, 1, ASX_MAX_QTY - 6, 5, ASX_OPEN, 102);
  asx_order *b7 = BUY(a, 1, 5);
  EXPECT_ORDER(b7, 7, ASX_BUY, 1, 5, 0, ASX_OPEN, 101);
  asx_order o;
  memset(&o, 0, sizeof(o));
  assert_int_equal(asx_book_submit(f->b, &o, a, ASX_BUY, 1, 1), ASX_E_OVERFLOW);
  /* So does a cancel. */
  assert_int_equal(asx_book_cancel(f->b, s5), 1);
  asx_order *s8 = SELL(b, 2, 1);
  EXPECT_ORDER(s8, 8, ASX_SELL, 2, 1, 0, ASX_OPEN, 102);
  EXPECT_ORDER(b2, 2, ASX_BUY, 1, 1, 0, ASX_OPEN, 101);
  EXPECT_ORDER(s3, 3, ASX_SELL, 2, half, 0, ASX_OPEN, 101);
  EXPECT_ORDER(s4, 4, ASX_SELL, 2, half, 0, ASX_OPEN, 102);
  EQ(asx_book_level_amount(f->b, ASX_BUY, 1), ASX_MAX_QTY);
  EQ(asx_book_level_amount(f->b, ASX_SELL, 2), ASX_MAX_QTY);
  EQ(asx_book_stats(f->b)->orders, 8);
  CHECK_BOOK(f->b);
}

/* A fill that would push a balance past 2^53 - 1 stops the incoming order. */
static void test_balance_limit(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1], *c = &f->t[2], *d = &f->t[3];

  /* The seller's money: 2 shares at 2 fit in ASX_MAX_QTY - 5, a third does
   * not. */
  fund(a, 100, 0);
  fund(b, ASX_MAX_QTY - 5, 10);
  asx_order *s1 = SELL(b, 2, 10);
  asx_order *o2 = BUY(a, 2, 10);
  EXPECT_ORDER(o2, 2, ASX_BUY, 2, 0, 2, ASX_CANCELLED, 101);
  EXPECT_ORDER(s1, 1, ASX_SELL, 2, 8, 2, ASX_OPEN, 102);
  EXPECT_ACCOUNT(a, 96, 2, 0);
  EXPECT_ACCOUNT(b, ASX_MAX_QTY - 1, 8, 1);
  size_t n;
  const asx_event *e = take_events(f, &n);
  EQ(n, 4);
  EXPECT_EVENT(&e[2], EV_TRADE(2, 1, 101, 102, ASX_BUY, 2, 2));
  EXPECT_EVENT(&e[3], EV_TRIM(2, 101, ASX_BUY, 2, 8, 0, ASX_TRIM_LIMIT));
  EQ(asx_book_best_bid(f->b), 0);
  assert_int_equal(asx_book_cancel(f->b, s1), 1);
  take_events(f, &n);

  /* The buyer's stocks. */
  fund(c, 1000, ASX_MAX_QTY - 3);
  fund(d, 0, 10);
  asx_order *s3 = SELL(d, 1, 10);
  asx_order *o4 = BUY(c, 1, 10);
  EXPECT_ORDER(o4, 4, ASX_BUY, 1, 0, 3, ASX_CANCELLED, 103);
  EXPECT_ORDER(s3, 3, ASX_SELL, 1, 7, 3, ASX_OPEN, 104);
  EXPECT_ACCOUNT(c, 997, ASX_MAX_QTY, 0);
  EXPECT_ACCOUNT(d, 3, 7, 1);
  e = take_events(f, &n);
  EQ(n, 4);
  EXPECT_EVENT(&e[2], EV_TRADE(4, 3, 103, 104, ASX_BUY, 1, 3));
  EXPECT_EVENT(&e[3], EV_TRIM(4, 103, ASX_BUY, 1, 7, 0, ASX_TRIM_LIMIT));
  CHECK_BOOK(f->b);

  /* The limit stops an incoming sell too, with nothing traded. */
  asx_order *o5 = BUY(c, 1, 1);
  EXPECT_ORDER(o5, 5, ASX_BUY, 1, 0, 0, ASX_CANCELLED, 103);
  assert_int_equal(asx_book_cancel(f->b, s3), 1);
  asx_order *b6 = BUY(a, 1, 5);
  fund(d, ASX_MAX_QTY, 7);
  take_events(f, &n);
  asx_order *o7 = SELL(d, 0, 5);
  EXPECT_ORDER(o7, 7, ASX_SELL, 0, 0, 0, ASX_CANCELLED, 104);
  EXPECT_ORDER(b6, 6, ASX_BUY, 1, 5, 0, ASX_OPEN, 101);
  EXPECT_ACCOUNT(d, ASX_MAX_QTY, 7, 0);
  e = take_events(f, &n);
  EQ(n, 2);
  EXPECT_EVENT(&e[1], EV_TRIM(7, 104, ASX_SELL, 1, 5, 0, ASX_TRIM_LIMIT));
  CHECK_BOOK(f->b);
}

/* A self-trade moves no balance, so it trades even at the limits. */
static void test_self_trade_at_limits(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0];
  fund(a, ASX_MAX_QTY, ASX_MAX_QTY);
  asx_order *s = SELL(a, 3, 5);
  asx_order *o = BUY(a, 3, 5);
  EXPECT_ORDER(o, 2, ASX_BUY, 3, 0, 5, ASX_FILLED, 101);
  EXPECT_ORDER(s, 1, ASX_SELL, 3, 0, 5, ASX_FILLED, 101);
  EXPECT_ACCOUNT(a, ASX_MAX_QTY, ASX_MAX_QTY, 0);
  EQ(asx_book_stats(f->b)->trades, 1);
  CHECK_BOOK(f->b);
}

/* Random orders and cancels between a few traders: after every call the
 * invariants hold, money and stocks are conserved, the finished list names
 * exactly the resting orders that left, and the orders go back to the pool
 * and come out again. */
static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void test_random_invariants(void **state) {
  fx *f = *state;
  enum { TRADERS = 4, OPS = 60000, MAXOPEN = 4096 };
  asx_book_record_events(f->b, 0);
  for (int i = 0; i < TRADERS; i++)
    fund(&f->t[i], 3000, 300);
  asx_order **open = calloc(MAXOPEN, sizeof(*open));
  assert_non_null(open);
  size_t n_open = 0;
  uint64_t rng = 12345;
  int64_t next_id = 1;

  for (int op = 0; op < OPS; op++) {
    uint64_t r = rng_next(&rng);
    asx_account *acct = &f->t[r % TRADERS];
    unsigned kind = (unsigned)(r >> 8) % 100;
    asx_order *incoming = NULL;
    if (kind < 30 && n_open > 0) {
      asx_order *victim = open[(r >> 16) % n_open];
      assert_int_equal(asx_book_cancel(f->b, victim), 1);
    } else {
      int side = (int)((r >> 40) & 1);
      int64_t price = kind < 38 ? 0 : 90 + (int64_t)((r >> 16) % 41);
      int64_t amount = 1 + (int64_t)((r >> 32) % 20);
      incoming = place(f, acct, side, price, amount);
      EQ(incoming->id, next_id);
      next_id++;
    }

    /* Exactly the orders that stopped resting are listed as finished, in
     * the order they left, which need not be the order of this array. */
    size_t n_done;
    asx_order *const *done = asx_book_finished(f->b, &n_done);
    size_t kept = 0;
    for (size_t i = 0; i < n_open; i++) {
      if (open[i]->status == ASX_OPEN) {
        open[kept++] = open[i];
        continue;
      }
      size_t j = 0;
      while (j < n_done && done[j] != open[i])
        j++;
      if (j == n_done)
        fail_msg("after call %d: order %lld left but is not listed", op,
                 (long long)open[i]->id);
    }
    EQ(n_done, n_open - kept);
    for (size_t i = 0; i < n_done; i++)
      asx_pool_put(f->pool, done[i]);
    n_open = kept;
    if (incoming != NULL) {
      if (incoming->status == ASX_OPEN) {
        assert_true(n_open < MAXOPEN);
        open[n_open++] = incoming;
      } else {
        asx_pool_put(f->pool, incoming);
      }
    }

    const char *err = asx_book_check(f->b);
    if (err != NULL)
      fail_msg("after call %d: %s", op, err);
    EQ(asx_book_resting(f->b), n_open);
    int64_t money = 0, stocks = 0;
    size_t listed = 0;
    for (int i = 0; i < TRADERS; i++) {
      assert_true(f->t[i].money >= 0 && f->t[i].stocks >= 0);
      money += f->t[i].money;
      stocks += f->t[i].stocks;
      EQ(count_orders(&f->t[i]), f->t[i].resting);
      listed += f->t[i].resting;
    }
    EQ(money, TRADERS * 3000);
    EQ(stocks, TRADERS * 300);
    EQ(listed, n_open);
  }

  /* The depth adds up to the resting orders. */
  int64_t total[2] = {0, 0};
  for (size_t i = 0; i < n_open; i++)
    total[open[i]->side] += open[i]->amount;
  for (int s = 0; s < 2; s++) {
    int64_t amounts[64];
    uint32_t counts[64];
    size_t levels = asx_book_depth(f->b, s, NULL, amounts, counts, 64);
    EQ(levels, asx_book_levels(f->b, s));
    int64_t sum = 0;
    for (size_t i = 0; i < levels; i++)
      sum += amounts[i];
    EQ(sum, total[s]);
  }
  assert_true(asx_book_stats(f->b)->trades > 1000);
  free(open);
}

/* The pool. */

static void test_pool(void **state) {
  (void)state;
  enum { N = 1000 };
  asx_pool *pool = asx_pool_new(24);
  assert_non_null(pool);
  char *blocks[N];
  for (int i = 0; i < N; i++) {
    blocks[i] = asx_pool_get(pool);
    assert_non_null(blocks[i]);
    assert_int_equal((uintptr_t)blocks[i] % 16, 0);
    /* The whole block is the caller's. */
    memset(blocks[i], i & 0xff, 24);
  }
  for (int i = 0; i < N; i++)
    for (int j = 0; j < 24; j++)
      assert_int_equal((unsigned char)blocks[i][j], i & 0xff);

  /* Returned blocks come back, the last returned first. */
  asx_pool_put(pool, blocks[10]);
  asx_pool_put(pool, blocks[20]);
  assert_ptr_equal(asx_pool_get(pool), blocks[20]);
  assert_ptr_equal(asx_pool_get(pool), blocks[10]);

  /* After all are returned, N more gets reuse them and take nothing new. */
  for (int i = 0; i < N; i++)
    asx_pool_put(pool, blocks[i]);
  for (int i = 0; i < N; i++) {
    char *p = asx_pool_get(pool);
    assert_ptr_equal(p, blocks[N - 1 - i]);
  }
  asx_pool_free(pool); /* frees blocks still out, too */

  /* Blocks smaller than a link still work. */
  pool = asx_pool_new(1);
  assert_non_null(pool);
  char *p = asx_pool_get(pool), *q = asx_pool_get(pool);
  assert_non_null(p);
  assert_non_null(q);
  assert_ptr_not_equal(p, q);
  assert_int_equal((uintptr_t)p % 16, 0);
  assert_int_equal((uintptr_t)q % 16, 0);
  asx_pool_put(pool, p);
  assert_ptr_equal(asx_pool_get(pool), p);
  asx_pool_free(pool);
  asx_pool_free(NULL);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_ids_fields_and_nothing_reserved),
      T(test_price_time_priority),
      T(test_fill_at_resting_price),
      T(test_limit_rest_rests),
      T(test_amount_filled_status),
      T(test_self_trade),
      T(test_self_trade_needs_money),
      T(test_self_trade_needs_stocks),
      T(test_trim_incoming_buyer),
      T(test_trim_resting_buyer),
      T(test_trim_incoming_seller),
      T(test_trim_resting_seller),
      T(test_trim_boundaries),
      T(test_buyer_checked_first_and_trims_permanent),
      T(test_resting_trimmed_to_zero_leaves),
      T(test_incoming_trimmed_to_zero_stops),
      T(test_market_buy_sweeps_and_drops_rest),
      T(test_market_sell_filled),
      T(test_market_empty_side),
    T(test_abandoned_events_kept),
    T(test_events_read_in_place),
      T(test_market_trims),
      T(test_sweep_a_million),
      T(test_bad_arguments),
      cmocka_unit_test(test_account_set_bounds),
      T(test_cancel),
      T(test_account_serves_one_book),
      T(test_cancel_keeps_time_priority),
      T(test_levels_and_depth),
      T(test_window_moves_with_the_touch),
      T(test_account_lists),
      T(test_account_lists_over_chunks),
      T(test_slot_numbers),
      cmocka_unit_test(test_free_cancels_resting),
      cmocka_unit_test(test_free_orphaned_reads_no_order),
      cmocka_unit_test(test_events_and_time),
      cmocka_unit_test(test_clock),
      T(test_stats),
      T(test_stats_sums_never_wrap),
      cmocka_unit_test(test_u128_double),
      T(test_level_total_limit),
      T(test_balance_limit),
      T(test_self_trade_at_limits),
      T(test_random_invariants),
      cmocka_unit_test(test_pool),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
