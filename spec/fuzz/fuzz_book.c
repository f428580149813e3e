/* A libFuzzer target for the order book (`make fuzz-c`): the input bytes
 * are decoded into calls (limit and market orders, cancels, cancelling all
 * of an account's orders, balance edits) on one book with four accounts, and
 * after every call it checks what must always hold:
 *   - asx_book_check: levels sorted, totals and counts right, not crossed;
 *   - money and stocks are conserved by trading (balance edits move the
 *     expected totals), and every balance stays within 0..ASX_MAX_QTY;
 *   - a submit is refused exactly when its arguments are bad (ASX_E_ARG) or
 *     its level is full (ASX_E_OVERFLOW), and a refusal changes nothing;
 *   - every order's amount and filled add up to at most what was placed, and
 *     an order rests exactly when its status is ASX_OPEN;
 *   - the resting counts of the accounts add up to the book's, and the
 *     statistics' volume is the sum of the trade events.
 * A broken rule aborts with a message; the sanitizers catch the rest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asx_book.h"

#define N_ACCOUNTS 4
#define MAX_ORDERS 2048

/* The bytes left to decode; reading past the end gives zeros. */
typedef struct input {
  const uint8_t *p;
  size_t left;
} input;

static uint8_t byte(input *in) {
  if (in->left == 0)
    return 0;
  in->left--;
  return *in->p++;
}

/* A quantity, mostly of the kinds that find bugs: small numbers, values at
 * and around 2^53 - 1 and its divisors, and now and then a bad one. */
static int64_t quantity(input *in) {
  uint8_t kind = byte(in);
  uint8_t b = byte(in);
  switch (kind % 8) {
  case 0:
  case 1:
  case 2:
    return b % 32 + 1;
  case 3:
    return ((int64_t)b << 8 | byte(in)) + 1;
  case 4:
    return ASX_MAX_QTY - b % 4;
  case 5:
    return ASX_MAX_QTY / (b % 16 + 1);
  case 6: {
    int64_t v = 0;
    for (int i = 0; i < 7; i++)
      v = v << 8 | byte(in);
    return v & ASX_MAX_QTY;
  }
  default:
    /* Bad or edge values: the book must refuse them and change nothing. */
    switch (b % 5) {
    case 0:
      return 0;
    case 1:
      return -1;
    case 2:
      return ASX_MAX_QTY + 1;
    case 3:
      return INT64_MAX;
    default:
      return INT64_MIN;
    }
  }
}

#define REQUIRE(cond, ...)                                                  \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "fuzz_book: " __VA_ARGS__);                           \
      fprintf(stderr, " (%s)\n", #cond);                                    \
      abort();                                                              \
    }                                                                       \
  } while (0)

typedef struct world {
  asx_book *book;
  asx_account acct[N_ACCOUNTS];
  asx_order orders[MAX_ORDERS];
  int64_t placed[MAX_ORDERS]; /* each order's amount as placed */
  size_t n_orders;
  int64_t money, stocks;      /* the totals trading must conserve */
  unsigned __int128 volume;   /* the sum of the trade events */
} world;

static void check(world *w) {
  const char *broken = asx_book_check(w->book);
  REQUIRE(broken == NULL, "asx_book_check: %s", broken);

  int64_t money = 0, stocks = 0;
  size_t resting = 0;
  for (int i = 0; i < N_ACCOUNTS; i++) {
    const asx_account *a = &w->acct[i];
    REQUIRE(a->money >= 0 && a->money <= ASX_MAX_QTY, "account %d money %lld",
            i, (long long)a->money);
    REQUIRE(a->stocks >= 0 && a->stocks <= ASX_MAX_QTY,
            "account %d stocks %lld", i, (long long)a->stocks);
    money += a->money;
    stocks += a->stocks;
    resting += a->resting;
  }
  REQUIRE(money == w->money, "money %lld, expected %lld", (long long)money,
          (long long)w->money);
  REQUIRE(stocks == w->stocks, "stocks %lld, expected %lld",
          (long long)stocks, (long long)w->stocks);
  REQUIRE(resting == asx_book_resting(w->book), "resting %zu, book %zu",
          resting, asx_book_resting(w->book));

  size_t n_events;
  const asx_event *e = asx_book_events(w->book, &n_events);
  for (size_t i = 0; i < n_events; i++)
    if (e[i].type == ASX_EV_TRADE) {
      REQUIRE(e[i].amount > 0 && e[i].price > 0, "a trade of %lld at %lld",
              (long long)e[i].amount, (long long)e[i].price);
      w->volume += (uint64_t)e[i].amount;
    }
  asx_book_clear_events(w->book);
  const asx_stats *st = asx_book_stats(w->book);
  unsigned __int128 volume = (unsigned __int128)st->volume.hi << 64 | st->volume.lo;
  REQUIRE(volume == w->volume, "stats volume differs from the trades");

  for (size_t i = 0; i < w->n_orders; i++) {
    const asx_order *o = &w->orders[i];
    REQUIRE(o->amount >= 0 && o->filled >= 0 &&
                o->amount <= w->placed[i] - o->filled,
            "order %lld: amount %lld, filled %lld of %lld", (long long)o->id,
            (long long)o->amount, (long long)o->filled,
            (long long)w->placed[i]);
    REQUIRE((o->status == ASX_OPEN) == (o->slot != 0),
            "order %lld: status %d, slot %u", (long long)o->id, o->status,
            o->slot);
    REQUIRE(o->status != ASX_OPEN || o->amount > 0,
            "order %lld rests with nothing", (long long)o->id);
  }
}

static void submit(world *w, input *in, int market) {
  asx_account *a = &w->acct[byte(in) % N_ACCOUNTS];
  int side = byte(in) % 2;
  int64_t price = market ? 0 : quantity(in);
  int64_t amount = quantity(in);
  if (w->n_orders == MAX_ORDERS)
    return;

  int64_t product;
  int bad = amount < 1 || amount > ASX_MAX_QTY || price < 0 ||
            price > ASX_MAX_QTY ||
            __builtin_mul_overflow(price, amount, &product) ||
            product > ASX_MAX_QTY;
  int full = !bad && price != 0 &&
             asx_book_level_amount(w->book, side, price) > ASX_MAX_QTY - amount;
  asx_stats before = *asx_book_stats(w->book);
  asx_order *o = &w->orders[w->n_orders];
  int rc = asx_book_submit(w->book, o, a, side, price, amount);
  if (bad || full) {
    REQUIRE(rc == (bad ? ASX_E_ARG : ASX_E_OVERFLOW),
            "submit(%d, %lld, %lld) returned %d", side, (long long)price,
            (long long)amount, rc);
    REQUIRE(memcmp(&before, asx_book_stats(w->book), sizeof(before)) == 0,
            "a refused order changed the statistics");
    REQUIRE(o->id == 0, "a refused order got an id");
    return;
  }
  REQUIRE(rc == 0, "submit(%d, %lld, %lld) returned %d", side,
          (long long)price, (long long)amount, rc);
  REQUIRE(o->status != ASX_NEW, "a submitted order is still new");
  REQUIRE(price != 0 || o->status != ASX_OPEN, "a market order rests");
  w->placed[w->n_orders++] = amount;
}

static void cancel_all(world *w, asx_account *a) {
  for (asx_order *o = asx_account_first(a); o != NULL;) {
    asx_order *next = asx_account_next(o);
    REQUIRE(asx_book_cancel(w->book, o) == 1, "a listed order did not cancel");
    o = next;
  }
  REQUIRE(a->resting == 0 && asx_account_first(a) == NULL,
          "orders left after cancelling them all");
}

static void set_balance(world *w, input *in) {
  asx_account *a = &w->acct[byte(in) % N_ACCOUNTS];
  /* Less one, so that 0 comes up as often as 1 does for an amount. */
  int64_t money = quantity(in), stocks = quantity(in);
  money -= money > INT64_MIN;
  stocks -= stocks > INT64_MIN;
  asx_account before = *a;
  int good = money >= 0 && money <= ASX_MAX_QTY && stocks >= 0 &&
             stocks <= ASX_MAX_QTY;
  int rc = asx_account_set(a, money, stocks);
  REQUIRE(rc == (good ? 0 : ASX_E_ARG), "asx_account_set returned %d", rc);
  if (!good) {
    REQUIRE(memcmp(&before, a, sizeof(before)) == 0,
            "a refused balance changed the account");
    return;
  }
  w->money += money - before.money;
  w->stocks += stocks - before.stocks;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static world w;
  memset(&w, 0, sizeof(w));
  w.book = asx_book_new();
  if (w.book == NULL)
    return 0;
  asx_book_record_events(w.book, 1);
  for (int i = 0; i < N_ACCOUNTS; i++) {
    w.acct[i].id = (uint32_t)(i + 1);
    asx_account_set(&w.acct[i], 1000, 100);
  }
  w.money = N_ACCOUNTS * 1000;
  w.stocks = N_ACCOUNTS * 100;

  input in = {data, size};
  while (in.left > 0) {
    switch (byte(&in) % 8) {
    case 0:
    case 1:
    case 2:
      submit(&w, &in, 0);
      break;
    case 3:
      submit(&w, &in, 1);
      break;
    case 4:
    case 5:
      if (w.n_orders > 0) {
        size_t hi = byte(&in);
        size_t i = (hi << 8 | byte(&in)) % w.n_orders;
        asx_order *o = &w.orders[i];
        int was_open = o->status == ASX_OPEN;
        REQUIRE(asx_book_cancel(w.book, o) == was_open,
                "cancel of order %lld (status %d)", (long long)o->id,
                o->status);
        REQUIRE(o->status == (was_open ? ASX_CANCELLED : o->status),
                "a cancelled order is %d", o->status);
      }
      break;
    case 6:
      cancel_all(&w, &w.acct[byte(&in) % N_ACCOUNTS]);
      break;
    default:
      set_balance(&w, &in);
      break;
    }
    check(&w);
  }
  asx_book_free(w.book);
  return 0;
}
