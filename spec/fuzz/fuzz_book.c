/* A libFuzzer target for the order book (`make fuzz-c`): the input bytes
 * are decoded into calls (limit and market orders, IOC, FOK and post-only
 * ones, cancels, amends, cancelling all of an account's orders, balance
 * edits) on an exchange of three instruments (three books) with four
 * accounts, and after every call it checks what must always hold:
 *   - asx_book_check on every book: levels sorted, totals and counts right,
 *     not crossed;
 *   - money and each instrument's stocks are conserved by trading (balance
 *     edits move the expected totals), and every balance stays within
 *     0..ASX_MAX_QTY;
 *   - an IOC order never rests, a post-only order never trades, a FOK
 *     order is filled whole or cancelled with nothing traded, and an amend
 *     changes exactly the order's amount;
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
#define N_BOOKS 3
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
  asx_book *books[N_BOOKS];
  asx_account acct[N_ACCOUNTS];
  int64_t positions[N_ACCOUNTS][N_BOOKS - 1];
  asx_order orders[MAX_ORDERS];
  int64_t placed[MAX_ORDERS]; /* each order's amount as placed */
  size_t n_orders;
  int64_t money, stocks[N_BOOKS]; /* the totals trading must conserve */
  unsigned __int128 volume[N_BOOKS]; /* the sums of the trade events */
} world;

static void check(world *w) {
  for (int b = 0; b < N_BOOKS; b++) {
    const char *broken = asx_book_check(w->books[b]);
    REQUIRE(broken == NULL, "asx_book_check of book %d: %s", b, broken);
  }

  int64_t money = 0, stocks[N_BOOKS] = {0};
  size_t resting = 0, book_resting = 0;
  for (int i = 0; i < N_ACCOUNTS; i++) {
    const asx_account *a = &w->acct[i];
    REQUIRE(a->money >= 0 && a->money <= ASX_MAX_QTY, "account %d money %lld",
            i, (long long)a->money);
    money += a->money;
    for (int b = 0; b < N_BOOKS; b++) {
      int64_t p = asx_account_position(a, (uint32_t)b);
      REQUIRE(p >= 0 && p <= ASX_MAX_QTY, "account %d position %d: %lld", i, b,
              (long long)p);
      stocks[b] += p;
    }
    resting += a->resting;
  }
  REQUIRE(money == w->money, "money %lld, expected %lld", (long long)money,
          (long long)w->money);
  for (int b = 0; b < N_BOOKS; b++) {
    REQUIRE(stocks[b] == w->stocks[b], "stocks %lld of %d, expected %lld",
            (long long)stocks[b], b, (long long)w->stocks[b]);
    book_resting += asx_book_resting(w->books[b]);
  }
  REQUIRE(resting == book_resting, "resting %zu, books %zu", resting,
          book_resting);

  size_t n_events;
  const asx_event *e = asx_book_events(w->books[0], &n_events);
  for (size_t i = 0; i < n_events; i++)
    if (e[i].type == ASX_EV_TRADE) {
      REQUIRE(e[i].amount > 0 && e[i].price > 0, "a trade of %lld at %lld",
              (long long)e[i].amount, (long long)e[i].price);
      REQUIRE(e[i].instrument < N_BOOKS, "a trade of instrument %u", e[i].instrument);
      w->volume[e[i].instrument] += (uint64_t)e[i].amount;
    }
  asx_book_clear_events(w->books[0]);
  for (int b = 0; b < N_BOOKS; b++) {
    const asx_stats *st = asx_book_stats(w->books[b]);
    unsigned __int128 volume = (unsigned __int128)st->volume.hi << 64 | st->volume.lo;
    REQUIRE(volume == w->volume[b], "stats volume of %d differs from the trades", b);
  }

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
  asx_book *book = w->books[byte(in) % N_BOOKS];
  int side = byte(in) % 2;
  int64_t price = market ? 0 : quantity(in);
  int64_t amount = quantity(in);
  /* Mostly plain orders; each type, and now and then a bad mix. */
  static const int kinds[8] = {0, 0, 0, ASX_IOC, ASX_FOK, ASX_POST_ONLY, 0,
                               ASX_IOC | ASX_FOK};
  int flags = kinds[byte(in) % 8];
  if (w->n_orders == MAX_ORDERS)
    return;

  int64_t product;
  int bad = amount < 1 || amount > ASX_MAX_QTY || price < 0 ||
            price > ASX_MAX_QTY ||
            __builtin_mul_overflow(price, amount, &product) ||
            product > ASX_MAX_QTY || flags == (ASX_IOC | ASX_FOK) ||
            (flags == ASX_POST_ONLY && price == 0);
  int full = !bad && price != 0 &&
             asx_book_level_amount(book, side, price) > ASX_MAX_QTY - amount;
  asx_stats before = *asx_book_stats(book);
  asx_order *o = &w->orders[w->n_orders];
  int rc = asx_book_submit_ex(book, o, a, side, price, amount, flags);
  if (bad || full) {
    REQUIRE(rc == (bad ? ASX_E_ARG : ASX_E_OVERFLOW),
            "submit(%d, %lld, %lld, %d) returned %d", side, (long long)price,
            (long long)amount, flags, rc);
    REQUIRE(memcmp(&before, asx_book_stats(book), sizeof(before)) == 0,
            "a refused order changed the statistics");
    REQUIRE(o->id == 0, "a refused order got an id");
    return;
  }
  REQUIRE(rc == 0, "submit(%d, %lld, %lld) returned %d", side,
          (long long)price, (long long)amount, rc);
  REQUIRE(o->status != ASX_NEW, "a submitted order is still new");
  REQUIRE(price != 0 || o->status != ASX_OPEN, "a market order rests");
  REQUIRE(o->instrument == asx_book_instrument(book), "an order of the wrong instrument");
  REQUIRE(!(flags & (ASX_IOC | ASX_FOK)) || o->status != ASX_OPEN, "an IOC or FOK order rests");
  REQUIRE(!(flags & ASX_POST_ONLY) || o->filled == 0, "a post-only order traded");
  REQUIRE(!(flags & ASX_FOK) || o->status == ASX_FILLED ||
              (o->filled == 0 && o->amount == amount && o->reason == ASX_CANCEL_FOK &&
               before.trades == asx_book_stats(book)->trades),
          "a FOK order neither filled whole nor left untouched (filled %lld of %lld)",
          (long long)o->filled, (long long)amount);
  w->placed[w->n_orders++] = amount;
}

static void amend(world *w, input *in) {
  if (w->n_orders == 0)
    return;
  size_t hi = byte(in);
  asx_order *o = &w->orders[(hi << 8 | byte(in)) % w->n_orders];
  int64_t amount = quantity(in);
  int64_t before = o->amount;
  int open = o->status == ASX_OPEN;
  int rc = asx_book_amend(w->books[o->instrument], o, amount);
  int bad = amount < 1 || amount > ASX_MAX_QTY || (open && amount > before);
  REQUIRE(rc == (bad ? ASX_E_ARG : open), "amend of order %lld to %lld returned %d",
          (long long)o->id, (long long)amount, rc);
  REQUIRE(o->amount == (rc == 1 ? amount : before), "amend changed the amount wrongly");
}

static void cancel_all(world *w, asx_account *a) {
  for (asx_order *o = asx_account_first(a); o != NULL;) {
    asx_order *next = asx_account_next(o);
    REQUIRE(asx_book_cancel(w->books[o->instrument], o) == 1,
            "a listed order did not cancel");
    o = next;
  }
  REQUIRE(a->resting == 0 && asx_account_first(a) == NULL,
          "orders left after cancelling them all");
}

static void set_balance(world *w, input *in) {
  asx_account *a = &w->acct[byte(in) % N_ACCOUNTS];
  /* Less one, so that 0 comes up as often as 1 does for an amount. */
  uint32_t instrument = byte(in) % N_BOOKS;
  int64_t money = quantity(in), stocks = quantity(in);
  money -= money > INT64_MIN;
  stocks -= stocks > INT64_MIN;
  asx_account before = *a;
  int64_t held = asx_account_position(a, instrument);
  int good = money >= 0 && money <= ASX_MAX_QTY && stocks >= 0 &&
             stocks <= ASX_MAX_QTY;
  int rc = asx_account_set(a, money, a->stocks);
  if (rc == 0)
    rc = asx_account_set_position(a, instrument, stocks);
  REQUIRE(rc == (good ? 0 : ASX_E_ARG), "setting a balance returned %d", rc);
  if (!good) {
    REQUIRE(a->stocks == before.stocks && asx_account_position(a, instrument) == held,
            "a refused balance changed the account");
    w->money += a->money - before.money;
    return;
  }
  w->money += money - before.money;
  w->stocks[instrument] += stocks - held;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static world w;
  memset(&w, 0, sizeof(w));
  w.books[0] = asx_book_new();
  for (int b = 1; b < N_BOOKS; b++)
    w.books[b] = w.books[0] ? asx_book_new_instrument(w.books[0]) : NULL;
  if (w.books[N_BOOKS - 1] == NULL)
    abort();
  asx_book_record_events(w.books[0], 1);
  for (int i = 0; i < N_ACCOUNTS; i++) {
    w.acct[i].id = (uint32_t)(i + 1);
    w.acct[i].positions = w.positions[i];
    w.acct[i].n_positions = N_BOOKS - 1;
    asx_account_set(&w.acct[i], 1000, 100);
    for (int b = 1; b < N_BOOKS; b++)
      asx_account_set_position(&w.acct[i], (uint32_t)b, 100);
  }
  w.money = N_ACCOUNTS * 1000;
  for (int b = 0; b < N_BOOKS; b++)
    w.stocks[b] = N_ACCOUNTS * 100;

  input in = {data, size};
  while (in.left > 0) {
    switch (byte(&in) % 9) {
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
        REQUIRE(asx_book_cancel(w.books[o->instrument], o) == was_open,
                "cancel of order %lld (status %d)", (long long)o->id,
                o->status);
        REQUIRE(o->status == (was_open ? ASX_CANCELLED : o->status),
                "a cancelled order is %d", o->status);
      }
      break;
    case 6:
      cancel_all(&w, &w.acct[byte(&in) % N_ACCOUNTS]);
      break;
    case 7:
      amend(&w, &in);
      break;
    default:
      set_balance(&w, &in);
      break;
    }
    check(&w);
  }
  for (int b = 0; b < N_BOOKS; b++)
    asx_book_free(w.books[b]);
  return 0;
}
