/* Matching: an incoming order against the opposite side, fill by fill,
 * with the rules of money and stocks (README.md, "Semantics"), and the
 * fill-or-kill check, which runs the same rules on copies of the balances. */
#include "asx_book_int.h"

/* Trims an order to a smaller amount for good, keeping its level's total. */
static void order_trim(asx_book *b, asx_order *o, int64_t to, int64_t price,
                       int reason) {
  int64_t from = o->amount;
  assert(to >= 0 && to <= from);
  /* A resting order's level keeps its total; the incoming order has none
   * (its links are not set before it rests). */
  if (o->status == ASX_OPEN) {
    o->level_->total -= from - to;
    assert(o->level_->total >= 0);
  }
  o->amount = to;
  asx__book_event_trim(b, o, price, from, reason);
}

/* Counts a fill at price for cost in b's statistics. A new high or low is
 * rare once trading has begun, so both are one branch almost never taken:
 * a price outside low .. high is one whose distance above low, unsigned,
 * is more than b->range (high - low). Before the first trade open, high,
 * low and range are 0, and a price is above 0, so the first trade takes
 * the branch and sets all four. */
static inline __attribute__((always_inline)) void
stats_fill(asx_book *b, int64_t price, int64_t cost) {
  asx_stats *st = &b->stats;
  st->trades++;
  u128_add(&st->notional, (uint64_t)cost);
  st->last = price;
  if (__builtin_expect((uint64_t)(price - st->low) > b->range, 0)) {
    if (st->low == 0) /* the first trade */
      st->open = st->low = st->high = price;
    else if (price < st->low)
      st->low = price;
    else
      st->high = price;
    b->range = (uint64_t)(st->high - st->low);
  }
  assert(b->range == (uint64_t)(st->high - st->low) &&
         (st->trades == 0 || (st->low <= price && price <= st->high)));
}

/* What a fill that meets a balance limit does, when it does not trade
 * (fill_limited). */
enum { FILL_NEXT = -1, FILL_STOP = -2 };

/* The rules of a fill that meets a limit: the buyer's money first (the buy
 * order shrinks to what it can pay, for good), then the seller's stocks
 * (the sell order likewise), then the room left in the receiving balances:
 * a fill must not push them past ASX_MAX_QTY. Such a balance is far beyond
 * any market this book serves, so the incoming order simply stops there; a
 * self-trade moves no balance and needs no room. Returns the quantity that
 * trades, the balances moved already; or FILL_NEXT when the resting order r
 * was trimmed to nothing and has left, FILL_STOP when the incoming order o
 * is cancelled. Out of line: a funded book never comes here; it reads the
 * side and the instrument itself, so that matching keeps fewer values
 * across the call. */
static __attribute__((noinline)) int64_t
fill_limited(asx_book *b, asx_order *o, asx_order *r, int64_t price) {
  int s = o->side;
  uint32_t inst = b->instrument;
  asx_order *buy = s == ASX_BUY ? o : r;
  asx_order *sell = s == ASX_BUY ? r : o;
  asx_account *buyer = buy->acct_, *seller = sell->acct_;
  int64_t *buyer_stocks = position(buyer, inst);
  int64_t *seller_stocks = position(seller, inst);
  int64_t qty = min64(o->amount, r->amount), cost;
  /* The product is checked although it cannot overflow (qty is at most the
   * resting order's amount, whose product with its price was checked). */
  if (__builtin_mul_overflow(price, qty, &cost) || cost > buyer->money) {
    int64_t afford = buyer->money / price;
    order_trim(b, buy, afford, price, ASX_TRIM_MONEY);
    qty = afford;
    cost = price * qty;
  }
  if (qty > *seller_stocks) {
    order_trim(b, sell, *seller_stocks, price, ASX_TRIM_STOCKS);
    qty = *seller_stocks;
    cost = price * qty;
  }
  if (qty == 0) {
    if (o->amount == 0) {
      o->status = ASX_CANCELLED;
      return FILL_STOP;
    }
    /* The resting order was trimmed to nothing: it leaves without trading
     * and matching goes on. */
    r->status = ASX_CANCELLED;
    asx__book_order_unlink(b, r);
    return FILL_NEXT;
  }
  /* cost <= money <= ASX_MAX_QTY, so the sums cannot overflow. */
  if (buyer != seller && (seller->money > ASX_MAX_QTY - cost ||
                          *buyer_stocks > ASX_MAX_QTY - qty)) {
    qty = min64((ASX_MAX_QTY - seller->money) / price,
                ASX_MAX_QTY - *buyer_stocks);
    if (qty == 0) {
      order_trim(b, o, 0, price, ASX_TRIM_LIMIT);
      o->status = ASX_CANCELLED;
      return FILL_STOP;
    }
    cost = price * qty;
  }
  buyer->money -= cost;
  seller->money += cost;
  *buyer_stocks += qty;
  *seller_stocks -= qty;
  return qty;
}

/* Matches the incoming order o, of side s, against the opposite side
 * (side), whose best level lvl reaches limit (the key a level must reach to cross; -ASX_MAX_QTY, below
 * every level, for a market order), while it crosses. Returns with
 * o->amount the rest, o->filled what traded, and o->status ASX_CANCELLED
 * when it was stopped (trimmed to nothing or by a balance limit).
 * The side of the next order is a coin toss a processor cannot predict, so
 * nothing here branches on it: a fill's cost and quantity become the
 * incoming account's changes by a sign, and the resting account's by the
 * opposite one. inst and record are constants in the common copies. The
 * caller passes s, side and lvl: asx__book_submit_plain has the side in a
 * register, where reading it back from o after the order's word was
 * stored cost about one instruction an order more in bench_book. */
static inline __attribute__((always_inline)) void
match(asx_book *b, asx_order *o, int s, book_side *side, asx_level *lvl,
      int64_t limit, uint32_t inst, int record) {
  /* One register for the side: without this, the compiler keeps its
   * index, its offset and its address, each spilled across the loop. */
  __asm__("" : "+r"(side));
  assert(s == o->side && side == &b->sides[s ^ 1] && lvl == side->best);
  assert(lvl->key >= limit && o->filled == 0);
  asx_account *incoming = o->acct_;
  int64_t *own = position(incoming, inst);
  /* sign is -1 when buying, else 1: the incoming account's money moves by
   * sign x cost and its stocks by -sign x qty, the resting one's by the
   * opposite. */
  int64_t sign = 1 - 2 * (int64_t)(s == ASX_BUY);
  /* What has traded is o->amount - left: o->amount keeps the amount the
   * order came with, less what fill_limited trims, until the end (in
   * memory rather than a register the loop would spill). */
  int64_t left = o->amount;
  /* The statistics take each fill's count, cost and price as it comes
   * (see stats_fill), and the amount once at the end. */
  asx_order *r = lvl->head;
  int64_t price = lvl->price;
  for (;;) {
    assert(lvl->count > 0 && lvl->head == r && lvl->total > 0 &&
           price == lvl->price);
    asx_account *other = r->acct_;
    int64_t *theirs = position(other, inst);
    int64_t qty = min64(left, r->amount);
    /* No overflow: qty is at most r's amount, and r's price x amount was
     * checked when it came. */
    int64_t cost = price * qty;
    int64_t money = cost * sign; /* the incoming account's change */
    int64_t sold = qty * sign;   /* the stocks it gives */
    int64_t own_money = incoming->money + money;
    int64_t own_stocks = *own - sold;
    int64_t their_money = other->money - money;
    int64_t their_stocks = *theirs + sold;
    /* A fill that leaves every balance within 0 .. ASX_MAX_QTY, between two
     * accounts, is a plain one, which matching's rules leave whole: one
     * test, which a funded book always passes. */
    uint64_t all = (uint64_t)(own_money | own_stocks | their_money |
                              their_stocks);
    /* all >> 53 is all > ASX_MAX_QTY with no constant to hold. */
    _Static_assert(ASX_MAX_QTY == ((int64_t)1 << 53) - 1, "a shift tests it");
    if (__builtin_expect(((all >> 53) != 0) | (incoming == other), 0)) {
      int64_t base = o->amount;
      o->amount = left;
      qty = fill_limited(b, o, r, price);
      base += o->amount - left;
      left = o->amount;
      o->amount = base;
      if (qty == FILL_STOP)
        break;
      if (qty == FILL_NEXT) /* r has left without trading */
        goto next_level;
      cost = price * qty;
    } else {
      incoming->money = own_money;
      *own = own_stocks;
      other->money = their_money;
      *theirs = their_stocks;
    }

    left -= qty;
    /* fill_limited may have trimmed r. */
    int64_t theirs_left = r->amount - qty;
    r->amount = theirs_left;
    r->filled += qty;
    lvl->total -= qty;
    assert(incoming->money >= 0 && *own >= 0 && other->money >= 0 &&
           *theirs >= 0 && r->amount >= 0);
    assert(incoming->money <= ASX_MAX_QTY && *own <= ASX_MAX_QTY &&
           other->money <= ASX_MAX_QTY && *theirs <= ASX_MAX_QTY);
    stats_fill(b, price, cost);

    asx_event *e;
    if (record) {
      asx_order *buy = s == ASX_BUY ? o : r, *sell = s == ASX_BUY ? r : o;
      if ((e = event_push(b, ASX_EV_TRADE, buy)) != NULL) {
        e->price = price;
        e->amount = qty;
        e->order2 = sell->id;
        e->trader2 = sell->trader;
        e->side = (uint8_t)s;
      }
    }

    if (theirs_left == 0) {
      /* The level's oldest order is filled: the next one, at the same
       * price, matches next without another look at the side. */
      r->status = ASX_FILLED;
      asx_order *next = head_pop(b, lvl, r, other);
      if (next != NULL) {
        r = next;
        if (left == 0)
          break;
        continue;
      }
      /* asx__book_best_emptied, inline but for the window's move. */
      live_clear(side, window_index(side, lvl->key));
      int top = window_top(side);
      if (__builtin_expect(top < 0, 0))
        asx__book_best_from_outer(b, side);
      else
        side->best = side->window[top];
      assert(best_is_top(side));
    }
    /* Else the incoming order is done, but for fill_limited's rare fill
     * that leaves both orders short of 0. */
    if (left == 0)
      break;
  next_level:
    lvl = side->best;
    if (lvl->key < limit)
      break;
    r = lvl->head;
    price = lvl->price;
  }
  int64_t got = o->amount - left;
  o->amount = left;
  o->filled = got;
  u128_add(&b->stats.volume, (uint64_t)got);
}

/* Ends the incoming order o once matching is done: filled, stopped, or its
 * rest dropped (a market or IOC order) or rested. Returns 0. */
static inline __attribute__((always_inline)) int
cross_end(asx_book *b, asx_order *o, int flags) {
  if (o->status == ASX_CANCELLED) {
    assert(!(flags & ASX_FOK));
    o->acct_ = NULL;
    return 0;
  }
  if (o->amount == 0) {
    o->status = ASX_FILLED;
    o->acct_ = NULL;
    return 0;
  }
  assert(!(flags & ASX_FOK));
  return asx__book_rest_or_drop(b, o, flags);
}

/* asx__book_submit_cross while events are recorded, with the same two
 * copies (a session with a logger records every order). */
__attribute__((noinline)) int
asx__book_submit_recorded(asx_book *b, asx_order *o, int64_t limit,
                          int flags) {
  assert(b->v->record);
  int s = o->side;
  book_side *side = &b->sides[s ^ 1];
  asx_level *lvl = side->best;
  if (b->instrument == 0)
    match(b, o, s, side, lvl, limit, 0, 1);
  else
    match(b, o, s, side, lvl, limit, b->instrument, 1);
  return cross_end(b, o, flags);
}

/* Matches the incoming order o, whose opposite best crosses limit, then
 * ends it, while no events are recorded. Returns 0. Out of line, so that
 * the orders that cross nothing (half of them) pay for none of the
 * registers matching needs; with few arguments, so that the call is a
 * jump. Instrument 0 has a copy of its own, where every account's position
 * is at the same place, and the others another; recorded events take a
 * function of their own (asx__book_submit_recorded), so that neither copy
 * keeps what events need. */
__attribute__((noinline)) int
asx__book_submit_cross(asx_book *b, asx_order *o, int64_t limit, int flags) {
  assert(!b->v->record);
  int s = o->side;
  book_side *side = &b->sides[s ^ 1];
  asx_level *lvl = side->best;
  if (b->instrument == 0)
    match(b, o, s, side, lvl, limit, 0, 0);
  else
    match(b, o, s, side, lvl, limit, b->instrument, 0);
  return cross_end(b, o, flags);
}

/* A plain limit order that crosses, from asx_book_submit once its test has
 * passed: filled in here rather than there, so that asx_book_submit keeps
 * nothing across its checks and jumps here with its arguments as they
 * came, and matching's saved registers serve the filling in too. */
__attribute__((noinline)) int
asx__book_submit_plain(asx_book *b, asx_order *o, asx_account *acct, int side,
                       int64_t price, int64_t amount) {
  assert(!b->v->record);
  order_init(b, o, acct, side, price, amount, 0);
  /* cross_limit for a limit order, by a sign: a conditional expression
   * here becomes a branch on the side (a coin toss). */
  int64_t buying = -(int64_t)(side == ASX_BUY);
  int64_t limit = (price ^ buying) - buying;
  assert(limit == cross_limit(side, price));
  book_side *opp = &b->sides[(unsigned)side ^ 1];
  asx_level *lvl = opp->best;
  if (b->instrument == 0)
    match(b, o, side, opp, lvl, limit, 0, 0);
  else
    match(b, o, side, opp, lvl, limit, b->instrument, 0);
  return cross_end(b, o, 0);
}

/* A fill-or-kill check works on copies of an account's balances, made on
 * first use in the check: the venue's entries, found again through the
 * account's sim_ (a sparse set: an entry counts when it is among those of
 * this check and names the account, so a check starts with none by setting
 * their count to 0). */
static inline asx_sim *sim_entry(asx_venue *v, asx_account *a,
                                 uint32_t inst) {
  if (a->sim_ < v->n_sim && v->sim[a->sim_].acct == a)
    return &v->sim[a->sim_];
  assert(v->n_sim <= v->made_slots);
  a->sim_ = (uint32_t)v->n_sim;
  asx_sim *e = &v->sim[v->n_sim++];
  e->acct = a;
  e->money = a->money;
  e->stocks = *position(a, inst);
  return e;
}

/* Whether the incoming order o, of side s, would fill whole: matching run
 * on copies of the balances, changing nothing in the book or the accounts.
 * Each rule of matching is here in the same order; where matching would
 * trim or stop the incoming order, it cannot fill whole. A resting order
 * matching would trim to nothing is passed over, as matching drops it. The
 * levels are walked from the best: the window's from its top, then the
 * outer array's from its end. */
int asx__book_fok_fills(asx_book *b, const asx_order *o, int s) {
  int opp = s == ASX_BUY ? ASX_SELL : ASX_BUY;
  const book_side *side = &b->sides[opp];
  uint32_t inst = b->instrument;
  asx_venue *v = b->v;
  /* With no slot made yet, nothing rests in the exchange. */
  if (v->made_slots == 0)
    return 0;
  v->n_sim = 0;
  asx_sim *incoming = sim_entry(v, o->acct_, inst);
  int64_t limit = o->price != 0 ? side_key(opp, o->price) : INT64_MIN;
  int64_t need = o->amount;

  for (size_t i = ASX_WINDOW + side->n; i-- > 0;) {
    const asx_level *lvl =
        i >= side->n ? side->window[i - side->n] : side->levels[i];
    if (lvl == NULL || lvl->count == 0)
      continue;
    if (lvl->key < limit)
      return 0;
    int64_t price = lvl->price;
    for (const asx_order *r = lvl->head; r != NULL; r = r->next_) {
      asx_sim *other = sim_entry(v, r->acct_, inst);
      asx_sim *buyer = s == ASX_BUY ? incoming : other;
      asx_sim *seller = s == ASX_BUY ? other : incoming;
      int64_t qty = min64(need, r->amount);
      int64_t cost;
      /* Matching trims the buy order, then the sell order: the incoming
       * one when it is on that side, whoever the accounts are. */
      if (__builtin_mul_overflow(price, qty, &cost) ||
          cost > buyer->money) {
        if (s == ASX_BUY)
          return 0;
        qty = buyer->money / price;
      }
      if (qty > seller->stocks) {
        if (s == ASX_SELL)
          return 0;
        qty = seller->stocks;
      }
      if (qty == 0)
        continue;
      cost = price * qty;
      if (buyer != seller && (seller->money > ASX_MAX_QTY - cost ||
                              buyer->stocks > ASX_MAX_QTY - qty))
        return 0;
      buyer->money -= cost;
      seller->money += cost;
      buyer->stocks += qty;
      seller->stocks -= qty;
      need -= qty;
      if (need == 0)
        return 1;
    }
  }
  return 0;
}
