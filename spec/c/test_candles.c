/* Unit tests of the candle fold (asx_candles): trades, orders and cancels
 * into one-second slots, the merge into coarser intervals when the session
 * outgrows its slots, and the book's records folded as a logger gets them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "asx_candles.h"
#include "test_util.h"

/* Asserts slot k's candle and counts. */
static void slot_is(const asx_candles *cs, size_t k, int64_t open, int64_t high, int64_t low,
                    int64_t close, int64_t volume, int64_t trades, int64_t orders,
                    int64_t cancels) {
  const asx_candle *c;
  assert_true(k < cs->count);
  c = &cs->slot[k];
  assert_int_equal(c->open, open);
  assert_int_equal(c->high, high);
  assert_int_equal(c->low, low);
  assert_int_equal(c->close, close);
  assert_int_equal(c->volume, volume);
  assert_int_equal(c->trades, trades);
  assert_int_equal(c->orders, orders);
  assert_int_equal(c->cancels, cancels);
}

static void test_one_second_slots(void **state) {
  asx_candles *cs = asx_candles_new(0);
  assert_non_null(cs);
  assert_true(cs->interval == 1);
  assert_int_equal(cs->count, 0);
  assert_int_equal(asx_candles_order(cs, 0.2), 0);
  assert_int_equal(asx_candles_trade(cs, 0.5, 10, 3), 0);
  assert_int_equal(asx_candles_trade(cs, 0.9, 12, 1), 0);
  assert_int_equal(asx_candles_trade(cs, 0.99, 9, 2), 0);
  assert_int_equal(asx_candles_trade(cs, 1.0, 11, 4), 0); /* a second starts its own */
  assert_int_equal(asx_candles_cancel(cs, 3.5), 0);
  assert_int_equal(cs->count, 4);
  slot_is(cs, 0, 10, 12, 9, 9, 6, 3, 1, 0);
  slot_is(cs, 1, 11, 11, 11, 11, 4, 1, 0, 0);
  slot_is(cs, 2, 0, 0, 0, 0, 0, 0, 0, 0); /* no event: no candle */
  slot_is(cs, 3, 0, 0, 0, 0, 0, 0, 0, 1);
  /* Before the latest event, and at a time that is not one. */
  assert_int_equal(asx_candles_trade(cs, 0.1, 20, 1), 0);
  assert_int_equal(asx_candles_order(cs, -1), 0);
  assert_int_equal(asx_candles_order(cs, NAN), 0);
  slot_is(cs, 0, 10, 20, 9, 20, 7, 4, 3, 0);
  assert_int_equal(cs->count, 4);
  asx_candles_free(cs);
  asx_candles_free(NULL);
}

static void test_coarser_intervals(void **state) {
  size_t n;
  const double *ladder = asx_candles_ladder(&n);
  asx_candles *cs = asx_candles_new(20);
  assert_int_equal(n, 6);
  assert_true(ladder[0] == 1 && ladder[1] == 10 && ladder[2] == 60 && ladder[5] == 86400);
  asx_candles_trade(cs, 0, 10, 1);
  asx_candles_trade(cs, 9.5, 14, 2);
  asx_candles_trade(cs, 10, 8, 1);
  asx_candles_order(cs, 19);
  assert_true(cs->interval == 1);
  assert_int_equal(cs->count, 20);
  /* Second 25 needs slot 25 of 20: ten-second candles. */
  asx_candles_trade(cs, 25, 7, 5);
  assert_true(cs->interval == 10);
  assert_int_equal(cs->count, 3);
  slot_is(cs, 0, 10, 14, 10, 14, 3, 2, 0, 0);
  slot_is(cs, 1, 8, 8, 8, 8, 1, 1, 1, 0);
  slot_is(cs, 2, 7, 7, 7, 7, 5, 1, 0, 0);
  /* Past 200 s: one-minute candles, the empty ones between kept empty. */
  asx_candles_trade(cs, 1000, 9, 1);
  assert_true(cs->interval == 60);
  assert_int_equal(cs->count, 17);
  slot_is(cs, 0, 10, 14, 7, 7, 9, 4, 1, 0);
  slot_is(cs, 8, 0, 0, 0, 0, 0, 0, 0, 0);
  slot_is(cs, 16, 9, 9, 9, 9, 1, 1, 0, 0);
  /* Beyond the last interval's slots, the last slot takes it. */
  asx_candles_cancel(cs, 1e12);
  assert_true(cs->interval == 86400);
  assert_int_equal(cs->count, 20);
  slot_is(cs, 0, 10, 14, 7, 9, 10, 5, 1, 0);
  slot_is(cs, 19, 0, 0, 0, 0, 0, 0, 0, 1);
  asx_candles_free(cs);
}

static void test_book_records(void **state) {
  asx_event evs[] = {
      ev(ASX_EV_ORDER, 0.5, 10, 3, 0, 1, 0, 1, 0, ASX_SELL, 0),
      ev(ASX_EV_ORDER, 0.5, 0, 2, 0, 2, 0, 2, 0, ASX_BUY, 0),
      ev(ASX_EV_TRADE, 0.5, 10, 2, 0, 2, 1, 2, 1, ASX_BUY, 0),
      ev(ASX_EV_TRIM, 0.5, 10, 5, 2, 2, 0, 2, 0, ASX_BUY, ASX_TRIM_MONEY),
      ev(ASX_EV_CANCEL, 1.25, 0, 1, 0, 1, 0, 1, 0, ASX_SELL, 0),
  };
  asx_candles *cs = asx_candles_new(0);
  assert_int_equal(asx_candles_consume(cs, evs, 5), 0);
  assert_int_equal(asx_candles_consume(cs, evs, 0), 0);
  assert_int_equal(cs->count, 2);
  slot_is(cs, 0, 10, 10, 10, 10, 2, 1, 2, 0);
  slot_is(cs, 1, 0, 0, 0, 0, 0, 0, 0, 1);
  asx_candles_free(cs);

  /* Records at a time beyond the slots merge them, the ones after too. */
  asx_event later[] = {
      ev(ASX_EV_TRADE, 0.5, 10, 1, 0, 2, 1, 2, 1, ASX_BUY, 0),
      ev(ASX_EV_TRADE, 0.5, 11, 1, 0, 2, 1, 2, 1, ASX_BUY, 0),
      ev(ASX_EV_ORDER, 3, 0, 2, 0, 3, 0, 2, 0, ASX_BUY, 0),
      ev(ASX_EV_TRADE, 3, 9, 2, 0, 3, 1, 2, 1, ASX_BUY, 0),
      ev(ASX_EV_TRADE, 12, 8, 1, 0, 3, 1, 2, 1, ASX_BUY, 0),
  };
  cs = asx_candles_new(2);
  assert_int_equal(asx_candles_consume(cs, later, 5), 0);
  /* Another instrument's records are passed over. */
  later[0].instrument = 1;
  later[0].price = 1000;
  assert_int_equal(asx_candles_consume(cs, later, 1), 0);
  assert_true(cs->interval == 10);
  assert_int_equal(cs->count, 2);
  slot_is(cs, 0, 10, 11, 9, 9, 4, 3, 1, 0);
  slot_is(cs, 1, 8, 8, 8, 8, 1, 1, 0, 0);
  asx_candles_free(cs);
}

/* A day of one-second events stays within the default slots. */
static void test_bounded(void **state) {
  asx_candles *cs = asx_candles_new(0);
  double t;
  int64_t volume = 0, trades = 0;
  size_t k;
  for (t = 0; t < 86400; t += 0.5)
    asx_candles_trade(cs, t, 100 + (int64_t)t % 7, 1);
  assert_true(cs->interval == 10);
  assert_int_equal(cs->count, 8640);
  for (k = 0; k < cs->count; k++) {
    volume += cs->slot[k].volume;
    trades += cs->slot[k].trades;
  }
  assert_int_equal(volume, 172800);
  assert_int_equal(trades, 172800);
  slot_is(cs, 0, 100, 106, 100, 102, 20, 20, 0, 0);
  asx_candles_free(cs);
}

/* A fold made with any size keeps its slots when a time far past them
 * cannot get one: the array's size never wraps (SIZE_MAX slots asked a
 * realloc of 0 bytes, which freed the slots still in use); and a slot's
 * volume takes more than 2^63 shares without overflowing. */
static void test_huge(void **state) {
  asx_candles *cs = asx_candles_new(SIZE_MAX);
  const int64_t max = 9007199254740991; /* 2^53 - 1 */
  double volume = 0;
  (void)state;
  assert_non_null(cs);
  assert_int_equal(asx_candles_trade(cs, 0.5, 10, 1), 0);
  assert_int_equal(asx_candles_trade(cs, 3, 11, 1), 0);
  /* Merged into daily slots, then refused. */
  assert_int_equal(asx_candles_trade(cs, 1e300, 12, 1), ASX_E_NOMEM);
  assert_int_equal(asx_candles_trade(cs, 3, 13, 1), 0);
  assert_true(cs->interval == 86400);
  slot_is(cs, 0, 10, 13, 10, 13, 3, 3, 0, 0);
  asx_candles_free(cs);

  cs = asx_candles_new(0);
  for (int i = 0; i < 1100; i++) {
    assert_int_equal(asx_candles_trade(cs, 0.5, 10, max), 0);
    volume += (double)max;
  }
  assert_true(cs->slot[0].volume == volume && volume > 9.2e18);
  assert_int_equal(cs->slot[0].trades, 1100);
  asx_candles_free(cs);
}

/* Times just below and at each interval's edges land in the slot of
 * floor(t / interval), whatever slot was found before: after the slot of
 * the interval's start, at each edge, at interval 1, 10, 60 and 3600. */
static void test_slot_edges(void **state) {
  static const double first[] = {1e3, 1e5, 1e6, 1e7};
  static int64_t want[ASX_CANDLES_MAX_SLOTS];
  for (size_t r = 0; r < sizeof first / sizeof first[0]; r++) {
    asx_candles *cs = asx_candles_new(0);
    asx_event e[3];
    double iv;
    size_t k, n = 0;
    assert_int_equal(asx_candles_order(cs, first[r]), 0);
    iv = cs->interval;
    memset(want, 0, sizeof want);
    want[(size_t)floor(first[r] / iv)]++;
    for (k = 1; k < 1500; k++) {
      double t[3] = {(double)(k - 1) * iv + iv / 2, nextafter((double)k * iv, 0), (double)k * iv};
      for (int j = 0; j < 3; j++) {
        e[j] = ev(ASX_EV_ORDER, t[j], 10, 1, 0, 1, 0, 1, 0, ASX_BUY, 0);
        want[(size_t)floor(t[j] / iv)]++;
      }
      /* By the fold of the records and by the single calls, alternately. */
      if (k % 2)
        assert_int_equal(asx_candles_take(cs, e, 3), 3);
      else
        for (int j = 0; j < 3; j++)
          assert_int_equal(asx_candles_order(cs, t[j]), 0);
      n += 3;
    }
    assert_true(cs->interval == iv);
    for (k = 0; k < cs->count; k++)
      assert_int_equal(cs->slot[k].orders, want[k]);
    assert_int_equal(n, 3 * 1499);
    asx_candles_free(cs);
  }
}

/* A sink that takes at most `room` more records, then fails. */
typedef struct sink_fx {
  asx_candles *cs;
  size_t room, calls, seen;
} sink_fx;

static size_t limited_sink(void *data, const asx_event *ev, size_t n) {
  sink_fx *s = data;
  size_t take = n < s->room ? n : s->room;
  s->calls++;
  s->seen += n;
  s->room -= take;
  return asx_candles_take(s->cs, ev, take);
}

/* The book hands its records to a sink once the batch is held, keeps what
 * the sink did not take, and unsets a sink that failed. */
static void test_book_sink(void **state) {
  asx_book *b = asx_book_new();
  asx_account a = {0};
  asx_order o[10];
  sink_fx s = {asx_candles_new(0), 6, 0, 0};
  size_t n;
  const asx_event *evs;
  a.id = 7;
  a.money = 1000;
  asx_book_record_events(b, 1);
  asx_book_set_sink(b, limited_sink, &s, 4);
  for (int i = 0; i < 4; i++)
    assert_int_equal(asx_book_submit(b, &o[i], &a, ASX_BUY, 1 + i, 1), 0);
  /* Four held: the next record hands them over first. */
  asx_book_events(b, &n);
  assert_int_equal(n, 4);
  assert_int_equal(s.calls, 0);
  assert_int_equal(asx_book_submit(b, &o[4], &a, ASX_BUY, 5, 1), 0);
  evs = asx_book_events(b, &n);
  assert_int_equal(n, 1);
  assert_int_equal(evs[0].order, o[4].id);
  assert_int_equal(s.calls, 1);
  assert_int_equal(s.cs->slot[0].orders, 4);
  assert_int_equal(asx_book_take_sunk(b), 4);
  assert_int_equal(asx_book_take_sunk(b), 0);
  /* The sink takes 2 of the next 4 and fails: the other 2 stay, in order,
   * and the record grows from there, the sink unset. */
  for (int i = 5; i < 8; i++)
    assert_int_equal(asx_book_submit(b, &o[i], &a, ASX_BUY, 1 + i, 1), 0);
  assert_int_equal(asx_book_submit(b, &o[8], &a, ASX_BUY, 9, 1), 0);
  assert_int_equal(s.calls, 2);
  evs = asx_book_events(b, &n);
  assert_int_equal(n, 3);
  assert_int_equal(evs[0].order, o[6].id);
  assert_int_equal(evs[1].order, o[7].id);
  assert_int_equal(evs[2].order, o[8].id);
  assert_int_equal(asx_book_take_sunk(b), 2);
  assert_int_equal(asx_book_submit(b, &o[9], &a, ASX_BUY, 10, 1), 0);
  assert_int_equal(s.calls, 2);
  asx_book_events(b, &n);
  assert_int_equal(n, 4);
  assert_int_equal(s.cs->slot[0].orders, 6);
  assert_int_equal(s.seen, 8);
  asx_book_free(b);
  asx_candles_free(s.cs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_second_slots),
      cmocka_unit_test(test_coarser_intervals),
      cmocka_unit_test(test_book_records),
      cmocka_unit_test(test_bounded),
      cmocka_unit_test(test_huge),
      cmocka_unit_test(test_slot_edges),
      cmocka_unit_test(test_book_sink),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
