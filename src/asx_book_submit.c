/* Orders coming in and going out: submit with its checks and its two
 * paths (the plain limit order and everything else), cancel and amend. */
#include "asx_book_int.h"

/* Whether amount more at price on side s would push that level's total
 * past ASX_MAX_QTY. The side's peak answers almost every call. */
static int level_full(asx_book *b, int s, int64_t price, int64_t amount) {
  book_side *side = &b->sides[s];
  if (side->peak <= ASX_MAX_QTY - amount)
    return 0;
  const asx_level *lvl = asx__book_level_at(b, s, price);
  return lvl != NULL && lvl->total > ASX_MAX_QTY - amount;
}

/* Whether a limit order of side s at price would trade on arrival. */
static int crosses(const asx_book *b, int s, int64_t price) {
  int opp = s == ASX_BUY ? ASX_SELL : ASX_BUY;
  return b->sides[opp].best->key >= side_key(opp, price);
}

/* Below this, a price and an amount multiply within ASX_MAX_QTY (2^26 x
 * 2^26 = 2^52): such an order needs no overflow check. */
#define ASX_LEAN_QTY ((uint64_t)1 << 26)

/* Every check of an order, for those the common test does not pass and
 * while events are recorded: 0, or the error, with nothing changed. */
static inline __attribute__((always_inline)) int
submit_check(asx_book *b, asx_account *acct, int side, int64_t price,
             int64_t amount, int flags) {
  /* A product, checked for overflow, rather than a division. */
  int64_t notional;
  asx_venue *v = b->v;
  if ((side != ASX_BUY && side != ASX_SELL) || amount < 1 ||
      amount > ASX_MAX_QTY || price < 0 || price > ASX_MAX_QTY ||
      __builtin_mul_overflow(price, amount, &notional) ||
      notional > ASX_MAX_QTY || (acct->venue_ != NULL && acct->venue_ != v))
    return ASX_E_ARG;
  if (flags != 0 &&
      ((flags & ~(ASX_IOC | ASX_FOK | ASX_POST_ONLY)) != 0 ||
       (flags & (flags - 1)) != 0 || ((flags & ASX_POST_ONLY) && price == 0)))
    return ASX_E_ARG;
  if (!holds(acct, b->instrument))
    return ASX_E_ARG;
  /* Only a level that already holds orders can overflow, and then the order
   * cannot cross (the book is not crossed), so it would rest whole: the
   * check before anything changes is exact. */
  if (price != 0 && level_full(b, side, price, amount))
    return ASX_E_OVERFLOW;
  /* The account's order list links its exchange's orders only: an account
   * with orders in two exchanges would point into a freed one when either
   * goes. */
  acct->venue_ = v;
  return 0;
}

/* Takes a resting order out of its level and its account, and frees its
 * slot; its status is left for the caller to set. */
void asx__book_order_unlink(asx_book *b, asx_order *o) {
  asx_level *lvl = o->level_;
  assert(lvl != NULL && lvl->count > 0 && lvl->total >= o->amount);
  /* Links chosen by address rather than by branches, which a processor
   * cannot predict here: whether a neighbour exists is a coin toss. */
  *(o->prev_ != NULL ? &o->prev_->next_ : &lvl->head) = o->next_;
  *(o->next_ != NULL ? &o->next_->prev_ : &lvl->tail) = o->prev_;
  lvl->count--;
  lvl->total -= o->amount;
  /* Every other order's amount is positive. */
  assert((lvl->count == 0) == (lvl->head == NULL) &&
         (lvl->head == NULL) == (lvl->tail == NULL) &&
         (lvl->count == 0) == (lvl->total == 0) && lvl->total >= 0);
  int s = o->side;
  order_leave(b, o, o->acct_);
  if (lvl->count == 0)
    asx__book_level_emptied(b, s, lvl);
}

/* Ends the incoming order o without resting: the rest is cancelled. */
void asx__book_order_drop(asx_book *b, asx_order *o, int reason) {
  o->status = ASX_CANCELLED;
  o->reason = (uint8_t)reason;
  o->acct_ = NULL;
  asx__book_event_cancel(b, o, o->amount, reason);
}

/* Ends an order that crosses no further: a market order's rest is dropped,
 * never rested, and so is an IOC order's; a limit order's rests. Its side,
 * price and account are read from o, so that matching, which ends here by
 * a jump, keeps none of them across its loop. */
int asx__book_rest_or_drop(asx_book *b, asx_order *o, int flags) {
  int s = o->side;
  int64_t price = o->price;
  asx_account *a = o->acct_;
  if (price == 0 || (flags & ASX_IOC)) {
    asx__book_order_drop(b, o,
                         (flags & ASX_IOC) ? ASX_CANCEL_IOC : ASX_CANCEL_ASKED);
    return 0;
  }
  return rest_fast(b, o, s, price, a, 0);
}

/* Every order asx_book_submit does not take on its common path: flags, a
 * market order, large values, an account's first order, recorded events. */
static __attribute__((noinline)) int submit_any(asx_book *b, asx_order *o,
                                                asx_account *acct, int side,
                                                int64_t price, int64_t amount,
                                                int flags) {
  if (acct == NULL)
    return ASX_E_ARG;
  int err = submit_check(b, acct, side, price, amount, flags);
  if (err != 0)
    return err;
  asx_venue *v = b->v;
  clock_read(v);
  order_init(b, o, acct, side, price, amount, flags);
  asx_event *e;
  if (v->record && (e = event_push(b, ASX_EV_ORDER, o)) != NULL) {
    e->price = price;
    e->amount = amount;
  }
  if (flags != 0) {
    if ((flags & ASX_POST_ONLY) && crosses(b, side, price)) {
      asx__book_order_drop(b, o, ASX_CANCEL_POST_ONLY);
      return 0;
    }
    if ((flags & ASX_FOK) && !asx__book_fok_fills(b, o, side)) {
      asx__book_order_drop(b, o, ASX_CANCEL_FOK);
      return 0;
    }
  }
  int64_t limit = cross_limit(side, price);
  if (b->sides[side ^ 1].best->key >= limit)
    return v->record ? asx__book_submit_recorded(b, o, limit, flags)
                     : asx__book_submit_cross(b, o, limit, flags);
  /* A FOK order that passed its check crosses. */
  assert(!(flags & ASX_FOK));
  return asx__book_rest_or_drop(b, o, flags);
}

/* A plain limit order while events are recorded, one that passes
 * asx_book_submit's common test: submit_any's steps without the checks
 * that test made, nor those of flags. Its level cannot overflow (the
 * caller saw the side's peak with room for it). Returns 0. */
static int submit_lean_recorded(asx_book *b, asx_order *o, asx_account *acct,
                                int side, int64_t price, int64_t amount) {
  clock_read(b->v);
  order_init(b, o, acct, side, price, amount, 0);
  asx_event *e = event_push(b, ASX_EV_ORDER, o);
  if (e != NULL) {
    e->price = price;
    e->amount = amount;
  }
  int64_t limit = cross_limit(side, price);
  if (b->sides[side ^ 1].best->key >= limit)
    return asx__book_submit_recorded(b, o, limit, 0);
  return rest_fast(b, o, side, price, acct, 0);
}

/* submit_any for an order asx_book_submit passes on: with no flags, so
 * that every argument fits in a register and the call is a jump. */
static __attribute__((noinline)) int submit_other(asx_book *b, asx_order *o,
                                                  asx_account *acct, int side,
                                                  int64_t price,
                                                  int64_t amount) {
  return submit_any(b, o, acct, side, price, amount, 0);
}

/* An order that passed asx_book_submit's common test but for the record:
 * submit_lean_recorded unless its account does not hold the instrument or
 * its level might overflow. */
static __attribute__((noinline)) int
submit_recorded(asx_book *b, asx_order *o, asx_account *acct, int side,
                int64_t price, int64_t amount) {
  assert(b->v->record);
  uint32_t inst = b->instrument;
  if ((inst == 0 || holds(acct, inst)) &&
      (uint64_t)b->sides[side].peak + (uint64_t)amount <=
          (uint64_t)ASX_MAX_QTY)
    return submit_lean_recorded(b, o, acct, side, price, amount);
  return submit_any(b, o, acct, side, price, amount, 0);
}

/* The end of asx_book_submit for an order that crosses nothing, whose key
 * (minus the limit) it has found already. Inline: GCC saves the registers
 * a rest needs after the test that sends an order that crosses on, which
 * saves no register, and the rest takes the side and the key as found
 * rather than working them out again behind a jump (bench_book: 171.0
 * instructions an order against 172.4 out of line). */
static inline __attribute__((always_inline)) int
submit_rest(asx_book *b, asx_order *o, asx_account *acct, int side,
            int64_t price, int64_t amount, int64_t key) {
  /* Its level cannot overflow while the side's peak has room for the
   * amount; else submit_any looks at the level. */
  if (__builtin_expect((uint64_t)b->sides[side].peak + (uint64_t)amount >
                           (uint64_t)ASX_MAX_QTY,
                       0))
    return submit_other(b, o, acct, side, price, amount);
  order_fill_in(b, o, acct, side, price, amount, 0, ASX_OPEN);
  return rest_fast_key(b, o, side, price, key, acct, 1);
}

/* The common order, a plain limit order, takes a path of its own: one test
 * admits it, and what it does not do inline it reaches by tail calls, so
 * that an order that crosses nothing saves few registers. While events are
 * recorded it goes on to submit_recorded, which does not test it again;
 * without a record the clock need not be read (only events carry its
 * time). */
int asx_book_submit(asx_book *b, asx_order *o, asx_account *acct, int side,
                    int64_t price, int64_t amount) {
  if (__builtin_expect(acct == NULL, 0))
    return ASX_E_ARG;
  /* One test of bits combined without branches: a price and amount far
   * below ASX_MAX_QTY (so no product overflows; a market order's price 0
   * fails it), a valid side, an account bound to this exchange while no
   * events are recorded (b->admits); then whether the account holds the
   * instrument (every account holds instrument 0). A price or an amount
   * of ASX_LEAN_QTY or more leaves a bit after the shift, a side above 1
   * another, and another exchange is a non-zero xor: or-ed into one word,
   * they need no flag of their own, and so no register saved for one. The
   * word is ASX__RECORDING alone for an order that fails only because
   * events are recorded: no other term reaches that bit. */
  uint64_t big = ((uint64_t)price - 1) | ((uint64_t)amount - 1);
  _Static_assert(ASX_LEAN_QTY == (uint64_t)1 << 26, "the shift tests it");
  uint64_t bad = (big >> 26) | ((unsigned)side >> 1) |
                 ((uint64_t)(uintptr_t)acct->venue_ ^ b->admits);
  if (__builtin_expect(bad != 0, 0)) {
    if (bad == ASX__RECORDING)
      return submit_recorded(b, o, acct, side, price, amount);
    return submit_other(b, o, acct, side, price, amount);
  }
  uint32_t inst = b->instrument;
  if (__builtin_expect(inst != 0 && !holds(acct, inst), 0))
    return submit_other(b, o, acct, side, price, amount);
  assert(!b->v->record);
  /* cross_limit for a limit order, picked by a conditional move; the
   * side, 0 or 1 here, indexes the opposite side unsigned (no extension). */
  unsigned opp = (unsigned)side ^ 1;
  int64_t limit = opp != 0 ? -price : price;
  assert(limit == cross_limit(side, price));
  if (b->sides[opp].best->key >= limit) {
    /* An order that crosses has no level of its own side at its price
     * (the book is not crossed), so no level of it can overflow. */
    return asx__book_submit_plain(b, o, acct, side, price, amount);
  }
  return submit_rest(b, o, acct, side, price, amount, -limit);
}

int asx_book_submit_ex(asx_book *b, asx_order *o, asx_account *acct, int side,
                       int64_t price, int64_t amount, int flags) {
  return submit_any(b, o, acct, side, price, amount, flags);
}

/* Whether o rests in this book (not another one: the level tells). */
static inline int rests_here(const asx_book *b, const asx_order *o) {
  return o != NULL && o->status == ASX_OPEN && o->level_ != NULL &&
         o->level_->book == b;
}

int asx_book_cancel_why(asx_book *b, asx_order *o, int reason) {
  if (!rests_here(b, o))
    return 0;
  clock_read(b->v);
  b->v->n_finished = 0;
  asx__book_order_unlink(b, o);
  o->status = ASX_CANCELLED;
  o->reason = (uint8_t)reason;
  b->stats.cancels++;
  asx__book_event_cancel(b, o, o->amount, reason);
  return 1;
}

int asx_book_cancel(asx_book *b, asx_order *o) {
  return asx_book_cancel_why(b, o, ASX_CANCEL_ASKED);
}

int asx_book_cancel_late(asx_book *b, const asx_order *o) {
  if (o->status == ASX_OPEN)
    return 0;
  clock_read(b->v);
  b->v->n_finished = 0;
  asx__book_event_cancel(b, o, 0, ASX_CANCEL_TOO_LATE);
  return 1;
}

int asx_book_amend(asx_book *b, asx_order *o, int64_t amount) {
  if (amount < 1 || amount > ASX_MAX_QTY)
    return ASX_E_ARG;
  if (!rests_here(b, o))
    return 0;
  if (amount > o->amount)
    return ASX_E_ARG;
  clock_read(b->v);
  b->v->n_finished = 0;
  int64_t from = o->amount;
  o->level_->total -= from - amount;
  o->amount = amount;
  assert(o->level_->total > 0);
  asx_event *e;
  if (b->v->record && (e = event_push(b, ASX_EV_AMEND, o)) != NULL) {
    e->price = o->price;
    e->amount = from;
    e->amount2 = amount;
  }
  return 1;
}
