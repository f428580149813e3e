/* Unit tests of the richer markets in the C core, with no Lua: several
 * instruments (one book each, one money and a position per instrument per
 * account), the order types (IOC, FOK, post-only) and amending, each with
 * exact balances, order fields and the events recorded.
 *
 * Each test gets an exchange of two books, ACME (instrument 0) and BOLT
 * (instrument 1), recording events, and four accounts with ids 101..104
 * that hold both instruments. Every test ends with both books checked. */
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
  asx_book *acme, *bolt;
  asx_pool *pool;
  asx_account t[4];
  int64_t bolt_of[4]; /* each account's BOLT position */
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  if (f == NULL)
    return -1;
  f->acme = asx_book_new();
  f->bolt = f->acme ? asx_book_new_instrument(f->acme) : NULL;
  f->pool = asx_pool_new(sizeof(asx_order));
  if (f->bolt == NULL || f->pool == NULL)
    return -1;
  if (asx_book_set_name(f->acme, "ACME") != 0 || asx_book_set_name(f->bolt, "BOLT") != 0)
    return -1;
  for (int i = 0; i < 4; i++) {
    f->t[i].id = (uint32_t)(101 + i);
    f->t[i].positions = &f->bolt_of[i];
    f->t[i].n_positions = 1;
  }
  asx_book_record_events(f->acme, 1);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  assert_null(asx_book_check(f->acme));
  assert_null(asx_book_check(f->bolt));
  asx_book_free(f->bolt);
  asx_book_free(f->acme);
  asx_pool_free(f->pool);
  free(f);
  return 0;
}

static void eq_at(int64_t got, int64_t want, const char *what, const char *file, int line) {
  if (got != want) {
    print_error("%s is %lld, expected %lld\n", what, (long long)got, (long long)want);
    _fail(file, line);
  }
}
#define EQ(got, want) eq_at((int64_t)(got), (int64_t)(want), #got, __FILE__, __LINE__)

/* money, ACME, BOLT and resting orders of an account. */
#define EXPECT_ACCOUNT(a, money_, acme, bolt, resting_) \
  do {                                                   \
    EQ((a)->money, money_);                              \
    EQ(asx_account_position((a), 0), acme);              \
    EQ(asx_account_position((a), 1), bolt);              \
    EQ((a)->resting, resting_);                          \
  } while (0)

static void fund(asx_account *a, int64_t money, int64_t acme, int64_t bolt) {
  assert_int_equal(asx_account_set(a, money, acme), 0);
  assert_int_equal(asx_account_set_position(a, 1, bolt), 0);
}

static asx_order *submit(fx *f, asx_book *b, asx_account *a, int side, int64_t price,
                         int64_t amount, int flags) {
  asx_order *o = asx_pool_get(f->pool);
  assert_non_null(o);
  memset(o, 0, sizeof(*o));
  assert_int_equal(asx_book_submit_ex(b, o, a, side, price, amount, flags), 0);
  return o;
}

/* The events recorded since the last call, which it clears. */
static const asx_event *take(fx *f, size_t *n) {
  static asx_event copy[64];
  const asx_event *e = asx_book_events(f->bolt, n);
  assert_true(*n <= 64);
  if (*n > 0)
    memcpy(copy, e, *n * sizeof(*e));
  asx_book_clear_events(f->acme);
  return copy;
}

/* An order's outcome: amount left, filled, status and cancel reason. */
#define EXPECT_ORDER(o, amount_, filled_, status_, reason_) \
  do {                                                      \
    EQ((o)->amount, amount_);                               \
    EQ((o)->filled, filled_);                               \
    EQ((o)->status, status_);                               \
    EQ((o)->reason, reason_);                               \
  } while (0)

/* Instruments. */

static void test_books_share_ids_not_levels(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 1000, 0, 0);
  fund(b, 0, 10, 10);
  EQ(asx_book_instrument(f->acme), 0);
  EQ(asx_book_instrument(f->bolt), 1);
  assert_string_equal(asx_book_name(f->bolt), "BOLT");

  asx_order *s1 = submit(f, f->bolt, b, ASX_SELL, 20, 5, 0);
  asx_order *s2 = submit(f, f->acme, b, ASX_SELL, 30, 5, 0);
  EQ(s1->id, 1);
  EQ(s2->id, 2);
  EQ(s1->instrument, 1);
  EQ(s2->instrument, 0);
  EQ(asx_book_best_ask(f->bolt), 20);
  EQ(asx_book_best_ask(f->acme), 30);
  EQ(asx_book_resting(f->bolt), 1);
  EQ(s1->slot == s2->slot, 0); /* slots are the exchange's */

  asx_order *o = submit(f, f->bolt, a, ASX_BUY, 25, 3, 0);
  EXPECT_ORDER(o, 0, 3, ASX_FILLED, 0);
  EXPECT_ACCOUNT(a, 1000 - 60, 0, 3, 0);
  EXPECT_ACCOUNT(b, 60, 10, 7, 2);
  EQ(asx_book_stats(f->bolt)->trades, 1);
  EQ(asx_book_stats(f->acme)->trades, 0);

  /* One list of events, each naming its instrument. */
  size_t n;
  const asx_event *e = take(f, &n);
  EQ(n, 4);
  EQ(e[0].instrument, 1);
  assert_string_equal(e[0].instrument_name, "BOLT");
  EQ(e[1].instrument, 0);
  assert_string_equal(e[1].instrument_name, "ACME");
  EQ(e[3].type, ASX_EV_TRADE);
  EQ(e[3].instrument, 1);

  /* A cancel in the wrong book changes nothing. */
  EQ(asx_book_cancel(f->acme, s1), 0);
  EQ(asx_book_cancel(f->bolt, s1), 1);
  EXPECT_ACCOUNT(b, 60, 10, 7, 1);
}

/* One money for all instruments, checked at each fill: what a trade in
 * ACME spent is not there for BOLT. */
static void test_money_across_instruments(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 100, 0, 0);
  fund(b, 0, 10, 10);
  submit(f, f->acme, a, ASX_BUY, 10, 6, 0);
  asx_order *bid = submit(f, f->bolt, a, ASX_BUY, 10, 6, 0);
  submit(f, f->acme, b, ASX_SELL, 10, 6, 0);
  EXPECT_ACCOUNT(a, 40, 6, 0, 1);
  asx_order *s = submit(f, f->bolt, b, ASX_SELL, 10, 6, 0);
  /* The resting BOLT bid could pay for 4 only, and was trimmed to them. */
  EQ(bid->status, ASX_FILLED);
  EQ(bid->filled, 4);
  EXPECT_ORDER(s, 2, 4, ASX_OPEN, 0);
  EXPECT_ACCOUNT(a, 0, 6, 4, 0);
  EXPECT_ACCOUNT(b, 100, 4, 6, 1);
  size_t n;
  const asx_event *e = take(f, &n);
  EQ(e[n - 2].type, ASX_EV_TRIM);
  EQ(e[n - 2].reason, ASX_TRIM_MONEY);
  EQ(e[n - 2].instrument, 1);
}

static void test_positions_and_binding(void **state) {
  fx *f = *state;
  asx_account plain = {.id = 7}; /* holds instrument 0 only */
  EQ(asx_account_set(&plain, 100, 5), 0);
  EQ(asx_account_position(&plain, 0), 5);
  EQ(asx_account_position(&plain, 1), -1);
  EQ(asx_account_set_position(&plain, 1, 3), ASX_E_ARG);
  EQ(asx_account_set_position(&plain, 0, -1), ASX_E_ARG);
  EQ(asx_account_set_position(&plain, 0, ASX_MAX_QTY + 1), ASX_E_ARG);
  EQ(asx_account_set_position(&plain, 0, 8), 0);
  EQ(plain.stocks, 8);

  /* A book beyond the account's positions refuses it, changing nothing. */
  asx_order o;
  memset(&o, 0, sizeof o);
  EQ(asx_book_submit(f->bolt, &o, &plain, ASX_BUY, 10, 1), ASX_E_ARG);
  EQ(o.id, 0);
  EQ(asx_book_stats(f->bolt)->orders, 0);

  /* An account of this exchange is refused by another's books. */
  fund(&f->t[0], 100, 0, 0);
  asx_order *bid = submit(f, f->bolt, &f->t[0], ASX_BUY, 10, 1, 0);
  asx_book *other = asx_book_new();
  assert_non_null(other);
  memset(&o, 0, sizeof o);
  EQ(asx_book_submit(other, &o, &f->t[0], ASX_BUY, 10, 1), ASX_E_ARG);
  asx_book_free(other);
  EQ(asx_book_cancel(f->bolt, bid), 1);

  /* Names: letters, digits, '_', '.', '-', 1 to 32 bytes. */
  EQ(asx_book_set_name(f->bolt, ""), ASX_E_ARG);
  EQ(asx_book_set_name(f->bolt, NULL), ASX_E_ARG);
  EQ(asx_book_set_name(f->bolt, "A B"), ASX_E_ARG);
  EQ(asx_book_set_name(f->bolt, "a,b"), ASX_E_ARG);
  EQ(asx_book_set_name(f->bolt, "ABCDEFGHIJABCDEFGHIJABCDEFGHIJABC"), ASX_E_ARG);
  assert_string_equal(asx_book_name(f->bolt), "BOLT");
  EQ(asx_book_set_name(f->bolt, "ABCDEFGHIJABCDEFGHIJABCDEFGHIJ.-"), 0);
  asx_book *third = asx_book_new_instrument(f->acme);
  assert_non_null(third);
  EQ(asx_book_instrument(third), 2);
  assert_string_equal(asx_book_name(third), "STOCK");
  asx_book_free(third);
}

/* Order types. */

static void test_ioc(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 1000, 0, 0);
  fund(b, 0, 10, 0);
  submit(f, f->acme, b, ASX_SELL, 10, 2, 0);
  submit(f, f->acme, b, ASX_SELL, 11, 2, 0);
  take(f, &(size_t){0});
  asx_order *o = submit(f, f->acme, a, ASX_BUY, 11, 6, ASX_IOC);
  EXPECT_ORDER(o, 2, 4, ASX_CANCELLED, ASX_CANCEL_IOC);
  EQ(o->slot, 0);
  EXPECT_ACCOUNT(a, 1000 - 20 - 22, 4, 0, 0);
  EXPECT_ACCOUNT(b, 42, 6, 0, 0);
  EQ(asx_book_best_bid(f->acme), 0);
  size_t n;
  const asx_event *e = take(f, &n);
  EQ(n, 4);
  EQ(e[3].type, ASX_EV_CANCEL);
  EQ(e[3].amount, 2);
  EQ(e[3].reason, ASX_CANCEL_IOC);
  EQ(asx_book_stats(f->acme)->cancels, 0);

  /* Filled whole, an IOC order is simply filled; finding nothing, it is
   * cancelled whole. */
  submit(f, f->acme, b, ASX_SELL, 12, 1, 0);
  o = submit(f, f->acme, a, ASX_BUY, 12, 1, ASX_IOC);
  EXPECT_ORDER(o, 0, 1, ASX_FILLED, 0);
  o = submit(f, f->acme, a, ASX_BUY, 12, 3, ASX_IOC);
  EXPECT_ORDER(o, 3, 0, ASX_CANCELLED, ASX_CANCEL_IOC);
  EXPECT_ACCOUNT(a, 1000 - 42 - 12, 5, 0, 0);
}

/* A resting seller without the stocks is trimmed as always, and the IOC
 * order goes on to the next one. */
static void test_ioc_with_trimming(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1], *c = &f->t[2];
  fund(a, 1000, 0, 0);
  fund(b, 0, 0, 5);
  fund(c, 0, 0, 5);
  asx_order *rb = submit(f, f->bolt, b, ASX_SELL, 10, 5, 0);
  asx_order *rc = submit(f, f->bolt, c, ASX_SELL, 10, 5, 0);
  EQ(asx_account_set_position(b, 1, 2), 0);
  take(f, &(size_t){0});
  asx_order *o = submit(f, f->bolt, a, ASX_BUY, 10, 9, ASX_IOC);
  EXPECT_ORDER(o, 2, 7, ASX_CANCELLED, ASX_CANCEL_IOC);
  EXPECT_ORDER(rb, 0, 2, ASX_FILLED, 0);
  EXPECT_ORDER(rc, 0, 5, ASX_FILLED, 0);
  EXPECT_ACCOUNT(a, 930, 0, 7, 0);
  EXPECT_ACCOUNT(b, 20, 0, 0, 0);
  EXPECT_ACCOUNT(c, 50, 0, 0, 0);
  size_t n;
  const asx_event *e = take(f, &n);
  /* order, trim b 5 -> 2, trade 2, trade 5, cancel 2 */
  EQ(n, 5);
  EQ(e[1].type, ASX_EV_TRIM);
  EQ(e[1].amount, 5);
  EQ(e[1].amount2, 2);
  EQ(e[4].type, ASX_EV_CANCEL);
  EQ(e[4].reason, ASX_CANCEL_IOC);
}

static void test_fok_fills_whole(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 1000, 0, 0);
  fund(b, 0, 10, 0);
  submit(f, f->acme, b, ASX_SELL, 10, 3, 0);
  submit(f, f->acme, b, ASX_SELL, 11, 3, 0);
  asx_order *o = submit(f, f->acme, a, ASX_BUY, 11, 5, ASX_FOK);
  EXPECT_ORDER(o, 0, 5, ASX_FILLED, 0);
  EXPECT_ACCOUNT(a, 1000 - 30 - 22, 5, 0, 0);
  EXPECT_ACCOUNT(b, 52, 5, 0, 1);
  EQ(asx_book_level_amount(f->acme, ASX_SELL, 11), 1);
}

/* Not enough at the limit: the order is cancelled and nothing trades. */
static void test_fok_not_enough(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 1000, 0, 0);
  fund(b, 0, 10, 0);
  submit(f, f->acme, b, ASX_SELL, 10, 3, 0);
  submit(f, f->acme, b, ASX_SELL, 12, 3, 0);
  take(f, &(size_t){0});
  asx_order *o = submit(f, f->acme, a, ASX_BUY, 11, 5, ASX_FOK);
  EXPECT_ORDER(o, 5, 0, ASX_CANCELLED, ASX_CANCEL_FOK);
  EXPECT_ACCOUNT(a, 1000, 0, 0, 0);
  EXPECT_ACCOUNT(b, 0, 10, 0, 2);
  size_t n;
  const asx_event *e = take(f, &n);
  EQ(n, 2);
  EQ(e[0].type, ASX_EV_ORDER);
  EQ(e[1].type, ASX_EV_CANCEL);
  EQ(e[1].amount, 5);
  EQ(e[1].reason, ASX_CANCEL_FOK);
  /* A market FOK order sweeps any price, all or nothing. */
  o = submit(f, f->acme, a, ASX_BUY, 0, 7, ASX_FOK);
  EXPECT_ORDER(o, 7, 0, ASX_CANCELLED, ASX_CANCEL_FOK);
  o = submit(f, f->acme, a, ASX_BUY, 0, 6, ASX_FOK);
  EXPECT_ORDER(o, 0, 6, ASX_FILLED, 0);
  EXPECT_ACCOUNT(a, 1000 - 66, 6, 0, 0);
}

/* The buyer's money runs out in the middle of the sweep: matching would
 * trade the first level and trim the order, so nothing trades. */
static void test_fok_money_runs_out_mid_sweep(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 50, 0, 0);
  fund(b, 0, 10, 0);
  asx_order *r1 = submit(f, f->acme, b, ASX_SELL, 10, 3, 0);
  asx_order *r2 = submit(f, f->acme, b, ASX_SELL, 11, 3, 0);
  take(f, &(size_t){0});
  asx_order *o = submit(f, f->acme, a, ASX_BUY, 11, 5, ASX_FOK); /* costs 52 */
  EXPECT_ORDER(o, 5, 0, ASX_CANCELLED, ASX_CANCEL_FOK);
  EXPECT_ACCOUNT(a, 50, 0, 0, 0);
  EXPECT_ACCOUNT(b, 0, 10, 0, 2);
  EXPECT_ORDER(r1, 3, 0, ASX_OPEN, 0);
  EXPECT_ORDER(r2, 3, 0, ASX_OPEN, 0);
  size_t n;
  take(f, &n);
  EQ(n, 2); /* the order and its cancel: no trim, no trade */
  /* 4 at 10 and 11 cost 41 + ... within 50: that fills. */
  o = submit(f, f->acme, a, ASX_BUY, 11, 4, ASX_FOK);
  EXPECT_ORDER(o, 0, 4, ASX_FILLED, 0);
  EXPECT_ACCOUNT(a, 50 - 41, 4, 0, 0);
}

/* Resting orders the sweep would trim count for what they can give; a
 * refused FOK order trims nothing, an accepted one trims as matching does. */
static void test_fok_counts_resting_trims(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1], *c = &f->t[2];
  fund(a, 1000, 0, 0);
  fund(b, 0, 0, 5);
  fund(c, 0, 0, 5);
  asx_order *rb = submit(f, f->bolt, b, ASX_SELL, 10, 5, 0);
  submit(f, f->bolt, c, ASX_SELL, 10, 2, 0);
  submit(f, f->bolt, c, ASX_SELL, 10, 2, 0);
  EQ(asx_account_set_position(b, 1, 1), 0);
  EQ(asx_account_set_position(c, 1, 3), 0);
  take(f, &(size_t){0});
  /* b gives 1, c gives 2 then 1 (its position runs out): 4, not 5. */
  asx_order *o = submit(f, f->bolt, a, ASX_BUY, 10, 5, ASX_FOK);
  EXPECT_ORDER(o, 5, 0, ASX_CANCELLED, ASX_CANCEL_FOK);
  EXPECT_ORDER(rb, 5, 0, ASX_OPEN, 0);
  size_t n;
  take(f, &n);
  EQ(n, 2);
  o = submit(f, f->bolt, a, ASX_BUY, 10, 4, ASX_FOK);
  EXPECT_ORDER(o, 0, 4, ASX_FILLED, 0);
  EXPECT_ACCOUNT(a, 960, 0, 4, 0);
  EXPECT_ACCOUNT(b, 10, 0, 0, 0);
  EXPECT_ACCOUNT(c, 30, 0, 0, 1); /* its second order keeps 1 */
  EQ(asx_book_resting(f->bolt), 1);
  /* A FOK sell needs the seller's own stocks. (The bid first meets c's
   * order, which c cannot serve any more: it leaves, trimmed.) */
  submit(f, f->bolt, a, ASX_BUY, 10, 3, 0);
  o = submit(f, f->bolt, b, ASX_SELL, 10, 1, ASX_FOK);
  EXPECT_ORDER(o, 1, 0, ASX_CANCELLED, ASX_CANCEL_FOK);
  EQ(asx_account_set_position(b, 1, 1), 0);
  o = submit(f, f->bolt, b, ASX_SELL, 10, 1, ASX_FOK);
  EXPECT_ORDER(o, 0, 1, ASX_FILLED, 0);
}

/* Each FOK check starts afresh: an account meets its own balances, not
 * those an earlier check copied for another account at the same place. */
static void test_fok_checks_do_not_mix_accounts(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1], *c = &f->t[2], *d = &f->t[3];
  fund(a, 1000, 1, 0);
  fund(b, 0, 1, 0);
  fund(c, 1000, 0, 0);
  fund(d, 0, 1, 0);
  /* Nothing rests in the exchange yet. */
  asx_order *o = submit(f, f->acme, a, ASX_BUY, 10, 1, ASX_FOK);
  EXPECT_ORDER(o, 1, 0, ASX_CANCELLED, ASX_CANCEL_FOK);
  /* a meets b: a's balances come first in the check. */
  submit(f, f->acme, b, ASX_SELL, 10, 1, 0);
  o = submit(f, f->acme, a, ASX_BUY, 10, 1, ASX_FOK);
  EXPECT_ORDER(o, 0, 1, ASX_FILLED, 0);
  EXPECT_ACCOUNT(a, 990, 2, 0, 0);
  /* c comes first now, and a's order after d's: a must give its own 2
   * stocks, not c's none. */
  submit(f, f->acme, d, ASX_SELL, 10, 1, 0);
  submit(f, f->acme, a, ASX_SELL, 11, 1, 0);
  o = submit(f, f->acme, c, ASX_BUY, 11, 2, ASX_FOK);
  EXPECT_ORDER(o, 0, 2, ASX_FILLED, 0);
  EXPECT_ACCOUNT(c, 1000 - 21, 2, 0, 0);
  EXPECT_ACCOUNT(a, 1001, 1, 0, 0);
  EXPECT_ACCOUNT(d, 10, 0, 0, 0);
}

/* A FOK order against its own trader's resting order: the self-trade
 * moves no balance but needs the money and the stocks, as matching does. */
static void test_fok_self_trade(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0];
  fund(a, 10, 5, 0);
  submit(f, f->acme, a, ASX_SELL, 10, 2, 0);
  asx_order *o = submit(f, f->acme, a, ASX_BUY, 10, 2, ASX_FOK);
  EXPECT_ORDER(o, 2, 0, ASX_CANCELLED, ASX_CANCEL_FOK); /* 20 > 10 */
  o = submit(f, f->acme, a, ASX_BUY, 10, 1, ASX_FOK);
  EXPECT_ORDER(o, 0, 1, ASX_FILLED, 0);
  EXPECT_ACCOUNT(a, 10, 5, 0, 1);
}

static void test_post_only_at_the_touch(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 1000, 0, 0);
  fund(b, 0, 10, 0);
  submit(f, f->acme, b, ASX_SELL, 10, 3, 0);
  take(f, &(size_t){0});
  asx_order *o = submit(f, f->acme, a, ASX_BUY, 10, 2, ASX_POST_ONLY);
  EXPECT_ORDER(o, 2, 0, ASX_CANCELLED, ASX_CANCEL_POST_ONLY);
  EXPECT_ACCOUNT(a, 1000, 0, 0, 0);
  size_t n;
  const asx_event *e = take(f, &n);
  EQ(n, 2);
  EQ(e[1].reason, ASX_CANCEL_POST_ONLY);
  o = submit(f, f->acme, a, ASX_BUY, 9, 2, ASX_POST_ONLY);
  EXPECT_ORDER(o, 2, 0, ASX_OPEN, 0);
  EQ(asx_book_best_bid(f->acme), 9);
  /* On the sell side: at the bid it would trade, above it rests. */
  o = submit(f, f->acme, b, ASX_SELL, 9, 1, ASX_POST_ONLY);
  EXPECT_ORDER(o, 1, 0, ASX_CANCELLED, ASX_CANCEL_POST_ONLY);
  o = submit(f, f->acme, b, ASX_SELL, 10, 1, ASX_POST_ONLY);
  EXPECT_ORDER(o, 1, 0, ASX_OPEN, 0);
  EXPECT_ACCOUNT(b, 0, 10, 0, 2);
}

static void test_bad_flags(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0];
  fund(a, 1000, 0, 0);
  asx_order o;
  int bad[] = {ASX_IOC | ASX_FOK, ASX_IOC | ASX_POST_ONLY, ASX_FOK | ASX_POST_ONLY, 8, -1};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    memset(&o, 0, sizeof o);
    EQ(asx_book_submit_ex(f->acme, &o, a, ASX_BUY, 10, 1, bad[i]), ASX_E_ARG);
    EQ(o.id, 0);
  }
  EQ(asx_book_submit_ex(f->acme, &o, a, ASX_BUY, 0, 1, ASX_POST_ONLY), ASX_E_ARG);
  EQ(asx_book_stats(f->acme)->orders, 0);
  size_t n;
  take(f, &n);
  EQ(n, 0);
}

/* Amend and the cancel reasons. */

static void test_amend_keeps_priority(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1], *c = &f->t[2];
  fund(a, 0, 0, 10);
  fund(b, 0, 0, 10);
  fund(c, 1000, 0, 0);
  asx_order *first = submit(f, f->bolt, a, ASX_SELL, 10, 5, 0);
  asx_order *second = submit(f, f->bolt, b, ASX_SELL, 10, 5, 0);
  take(f, &(size_t){0});
  EQ(asx_book_amend(f->bolt, first, 2), 1);
  EXPECT_ORDER(first, 2, 0, ASX_OPEN, 0);
  EQ(asx_book_level_amount(f->bolt, ASX_SELL, 10), 7);
  size_t n;
  const asx_event *e = take(f, &n);
  EQ(n, 1);
  EQ(e[0].type, ASX_EV_AMEND);
  EQ(e[0].order, first->id);
  EQ(e[0].price, 10);
  EQ(e[0].amount, 5);
  EQ(e[0].amount2, 2);
  EQ(e[0].instrument, 1);

  /* Increasing, zero, or an order that does not rest here: refused. */
  EQ(asx_book_amend(f->bolt, first, 3), ASX_E_ARG);
  EQ(asx_book_amend(f->bolt, first, 0), ASX_E_ARG);
  EQ(asx_book_amend(f->bolt, first, -1), ASX_E_ARG);
  EQ(asx_book_amend(f->acme, first, 1), 0);
  EXPECT_ORDER(first, 2, 0, ASX_OPEN, 0);
  take(f, &n);
  EQ(n, 0);

  /* The amended order still trades first. */
  asx_order *o = submit(f, f->bolt, c, ASX_BUY, 10, 3, 0);
  EXPECT_ORDER(o, 0, 3, ASX_FILLED, 0);
  EXPECT_ORDER(first, 0, 2, ASX_FILLED, 0);
  EXPECT_ORDER(second, 4, 1, ASX_OPEN, 0);
  EXPECT_ACCOUNT(a, 20, 0, 8, 0);
  EXPECT_ACCOUNT(b, 10, 0, 9, 1);
  EQ(asx_book_amend(f->bolt, first, 1), 0);
}

static void test_cancel_reasons(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 1000, 0, 0);
  fund(b, 0, 5, 0);
  asx_order *o = submit(f, f->acme, a, ASX_BUY, 10, 2, 0);
  take(f, &(size_t){0});
  EQ(asx_book_cancel_why(f->acme, o, ASX_CANCEL_REPLACE), 1);
  EXPECT_ORDER(o, 2, 0, ASX_CANCELLED, ASX_CANCEL_REPLACE);
  EQ(asx_book_stats(f->acme)->cancels, 1);
  /* A cancel that comes too late records that and changes nothing. */
  EQ(asx_book_cancel_late(f->acme, o), 1);
  asx_order *r = submit(f, f->acme, a, ASX_BUY, 10, 2, 0);
  EQ(asx_book_cancel_late(f->acme, r), 0);
  size_t n;
  const asx_event *e = take(f, &n);
  EQ(n, 3);
  EQ(e[0].reason, ASX_CANCEL_REPLACE);
  EQ(e[0].amount, 2);
  EQ(e[1].type, ASX_EV_CANCEL);
  EQ(e[1].order, o->id);
  EQ(e[1].amount, 0);
  EQ(e[1].reason, ASX_CANCEL_TOO_LATE);
  EQ(asx_book_stats(f->acme)->cancels, 1);
  EQ(asx_book_cancel(f->acme, r), 1);
  EXPECT_ORDER(r, 2, 0, ASX_CANCELLED, ASX_CANCEL_ASKED);
}

/* An account's resting orders in both books, newest first. */
static void expect_list(const asx_account *a, const asx_order *const *want,
                        size_t n) {
  const asx_order *o = asx_account_first(a);
  for (size_t i = 0; i < n; i++, o = asx_account_next(o))
    assert_ptr_equal(o, want[i]);
  assert_null(o);
}

/* The lists are made when one is first asked for, from the orders resting
 * then in every book of the exchange, newest first as if they had been
 * kept all along; from then on every rest and leave keeps them. */
static void test_account_lists_made_when_asked(void **state) {
  fx *f = *state;
  asx_account *a = &f->t[0], *b = &f->t[1];
  fund(a, 1000, 10, 10);
  fund(b, 1000, 10, 10);
  asx_order *a1 = submit(f, f->acme, a, ASX_BUY, 5, 1, 0);
  asx_order *b1 = submit(f, f->bolt, b, ASX_SELL, 9, 2, 0);
  asx_order *a2 = submit(f, f->bolt, a, ASX_BUY, 4, 1, 0);
  asx_order *a3 = submit(f, f->acme, a, ASX_SELL, 8, 3, 0);
  asx_order *a4 = submit(f, f->bolt, a, ASX_BUY, 6, 1, 0);
  asx_order *b2 = submit(f, f->acme, b, ASX_BUY, 5, 1, 0);
  /* a's oldest BOLT buy is cancelled and a's ACME sell filled in part,
   * before any list is asked for. */
  EQ(asx_book_cancel(f->bolt, a2), 1);
  asx_order *b3 = submit(f, f->acme, b, ASX_BUY, 8, 1, 0);
  EXPECT_ORDER(b3, 0, 1, ASX_FILLED, ASX_CANCEL_ASKED);

  expect_list(a, (const asx_order *[]){a4, a3, a1}, 3);
  expect_list(b, (const asx_order *[]){b2, b1}, 2);
  EQ(a->resting, 3);
  assert_null(asx_book_check(f->acme));
  assert_null(asx_book_check(f->bolt));

  /* Kept from now on: a rest joins at the front, a fill and a cancel leave. */
  asx_order *a5 = submit(f, f->acme, a, ASX_BUY, 3, 1, 0);
  asx_order *b4 = submit(f, f->acme, b, ASX_BUY, 9, 2, 0);
  EXPECT_ORDER(b4, 0, 2, ASX_FILLED, ASX_CANCEL_ASKED);
  EXPECT_ORDER(a3, 0, 3, ASX_FILLED, ASX_CANCEL_ASKED);
  EQ(asx_book_cancel(f->acme, a1), 1);
  expect_list(a, (const asx_order *[]){a5, a4}, 2);
  expect_list(b, (const asx_order *[]){b2, b1}, 2);
  /* An order that does not rest has no next. */
  assert_null(asx_account_next(a1));
  EXPECT_ACCOUNT(a, 1000 + 8 * 3, 10 - 3, 10, 2);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_books_share_ids_not_levels),
      T(test_money_across_instruments),
      T(test_positions_and_binding),
      T(test_ioc),
      T(test_ioc_with_trimming),
      T(test_fok_fills_whole),
      T(test_fok_not_enough),
      T(test_fok_money_runs_out_mid_sweep),
      T(test_fok_counts_resting_trims),
      T(test_fok_checks_do_not_mix_accounts),
    T(test_fok_self_trade),
      T(test_post_only_at_the_touch),
      T(test_bad_flags),
      T(test_amend_keeps_priority),
      T(test_cancel_reasons),
      T(test_account_lists_made_when_asked),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
