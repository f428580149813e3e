/* The limit order book, the traders' accounts and the matching engine.
 *
 * The core knows nothing of Lua: the asx Lua library (lua/asx/exchange.lua,
 * trader.lua) reaches these functions through the FFI (the declarations
 * between the ASX_FFI markers are read verbatim, so keep them plain C with
 * no macros), and the cmocka tests in spec/c call them directly.
 *
 * Conventions: every call takes the book first. Quantities are int64_t and
 * stay within ASX_MAX_QTY (2^53 - 1), the integers a Lua number holds exactly.
 * Calls that can be refused return 0 on success or a negative ASX_E* code and
 * never change anything when they refuse.
 *
 * Instruments: a book trades one instrument. The books of one exchange (the
 * first from asx_book_new, the others from asx_book_new_instrument) share
 * order ids, slots, the clock and the event record, so one list of events
 * and one array of orders by slot serve them all; an account holds one
 * money and a position per instrument, and its orders may rest in any book
 * of its exchange.
 *
 * Arithmetic: every quantity the book keeps stays within ASX_MAX_QTY by a
 * check (prices, amounts, price x amount, balances, level totals), except
 * the running sums of the statistics (volume, notional), which are 128-bit
 * and cannot overflow, and the counters (ids, orders, trades), which are
 * 64-bit and would need centuries to overflow.
 */
#ifndef ASX_BOOK_H
#define ASX_BOOK_H

#include <stddef.h>
#include <stdint.h>

#include "asx_err.h"

#define ASX_MAX_QTY ((int64_t)9007199254740991) /* 2^53 - 1 */
/* The longest instrument name, in bytes. */
#define ASX_NAME_MAX 32

/* ASX_FFI_BEGIN */
enum {
  ASX_BUY = 0,
  ASX_SELL = 1,

  ASX_OPEN = 0,      /* resting in the book */
  ASX_FILLED = 1,    /* fully traded */
  ASX_CANCELLED = 2, /* ended any other way */
  ASX_NEW = 3,       /* not submitted yet */

  ASX_EV_TRADE = 0,
  ASX_EV_ORDER = 1,
  ASX_EV_CANCEL = 2,
  ASX_EV_TRIM = 3,
  ASX_EV_AMEND = 4,

  /* Order flags (asx_book_submit_ex): what is not filled at once is
   * cancelled (IOC); all at once or nothing (FOK); refused when it would
   * trade on arrival (POST_ONLY, limit orders only). */
  ASX_IOC = 1,
  ASX_FOK = 2,
  ASX_POST_ONLY = 4,

  /* Why an order was cancelled (asx_order.reason, the cancel event's). */
  ASX_CANCEL_ASKED = 0,     /* by its trader, or a market order's rest */
  ASX_CANCEL_IOC = 1,       /* an IOC order's rest */
  ASX_CANCEL_FOK = 2,       /* a FOK order that could not fill whole */
  ASX_CANCEL_POST_ONLY = 3, /* a post-only order that would have traded */
  ASX_CANCEL_REPLACE = 4,   /* replaced by a new order */
  ASX_CANCEL_TOO_LATE = 5,  /* a cancel that came after its order ended */

  ASX_TRIM_MONEY = 0,  /* the buyer could not pay for the fill */
  ASX_TRIM_STOCKS = 1, /* the seller did not hold the stocks */
  ASX_TRIM_LIMIT = 2   /* the fill would push a balance past ASX_MAX_QTY */
};

/* A trader's account. The owner (the Lua trader, or a C caller) allocates it
 * zeroed and must keep it alive while any order of its rests in a book. An
 * account serves one exchange for its whole life: the first order it places
 * binds it, and asx_book_submit refuses it in the books of any other.
 * It holds a position in instrument 0 (stocks) and, when positions is set,
 * in instruments 1 .. n_positions (positions[i - 1]); the caller owns that
 * array and keeps it alive with the account. It is 64 bytes: a C owner of
 * many accounts gains by aligning them to 64 (a cache line), so that an
 * order reads one line of its account, not two. */
typedef struct asx_account {
  int64_t money;  /* public, read-write through asx_account_set */
  int64_t stocks; /* public, read-write through asx_account_set */
  uint32_t id;    /* public, read-only: the trader id */
  uint32_t resting; /* read-only: how many of its orders rest, in all books */
  uint32_t newest_; /* private: the slot of its newest resting order, 0 for
                       none (kept once lists are asked for) */
  uint32_t pad_;
  struct asx_venue *venue_;  /* private: its exchange, NULL until its first order */
  int64_t *positions;    /* public, set once before the first order */
  uint32_t n_positions;  /* public, set once with positions */
  int32_t tag; /* public, the owner's: the book never reads it (the Lua library
                  keeps the number of the account's exchange) */
  uint32_t sim_; /* private: its entry in a fill-or-kill check */
  uint32_t agent; /* public, the owner's: the book never reads it (the Lua
                     library keeps the number of the session the trader
                     was last added to as an agent, 0 for none) */
} asx_account;

struct asx_level;

/* An order. The caller owns the memory (a pool in C, the garbage collector
 * in Lua) and must keep it alive while it rests (status ASX_OPEN); the book
 * links resting orders into its levels and unlinks them when they end. The
 * links of its level live in the order itself: matching reads its line
 * anyway, so following them costs no other line, and a rest writes no
 * other memory of the book's (asx_book.c, "The hot path", on the 64-byte
 * order tried without them). Its account's list, which most callers never
 * ask for, links it by its slot instead, in an array of the book's: 80
 * bytes, where links of its own made it 96. */
typedef struct asx_order {
  int64_t id;      /* read-only: set by asx_book_submit, from 1 per exchange */
  int64_t price;   /* read-only: 0 for a market order */
  int64_t amount;  /* read-only: what can still trade */
  int64_t filled;  /* read-only: what has traded */
  uint32_t trader; /* read-only: the owner's account id */
  uint8_t side;    /* read-only: ASX_BUY or ASX_SELL */
  uint8_t status;  /* read-only: ASX_OPEN, ASX_FILLED, ASX_CANCELLED */
  uint8_t flags;   /* read-only: ASX_IOC, ASX_FOK, ASX_POST_ONLY */
  uint8_t reason;  /* read-only: ASX_CANCEL_* once cancelled */
  uint32_t slot;   /* read-only: while resting, a small integer unique among
                      the exchange's resting orders (from 1); 0 otherwise */
  uint32_t instrument; /* read-only: its book's instrument */
  /* Private: acct_ is set while the book works on the order; the links
   * are meaningful only while it rests. Its account's list, kept once
   * asked for, links it by its slot in an array of the book's. */
  asx_account *acct_;
  struct asx_order *prev_, *next_;   /* in its level, oldest first */
  struct asx_level *level_;
} asx_order;

/* One event the book records while it works: a trade, an accepted order, a
 * cancel, a trim (an order trimmed to 0 gets no CANCEL event) or an amend;
 * the books of one exchange record into one list. Which
 * member carries which field of each type is the table in asx_event.h,
 * which every encoder and the Lua messages are made from. time is the
 * book's clock when the event happened. */
typedef struct asx_event {
  double time;
  int64_t price;
  int64_t amount;
  int64_t amount2;
  int64_t order;
  int64_t order2;
  uint32_t trader;
  uint32_t trader2;
  uint8_t type;
  uint8_t side;
  uint8_t reason;
  uint8_t pad_;
  uint32_t instrument;
  const char *instrument_name; /* its book's name, valid while the book lives */
} asx_event;

/* An unsigned 128-bit integer, lo + hi x 2^64, in a form the FFI reads. A
 * sum of at most 2^64 terms below 2^53 fits, so it never wraps. */
typedef struct asx_u128 {
  uint64_t lo, hi;
} asx_u128;

/* Running statistics of the book, kept whether or not events are recorded. */
typedef struct asx_stats {
  int64_t orders;   /* accepted orders */
  int64_t cancels;
  int64_t trades;
  asx_u128 volume;   /* shares traded */
  asx_u128 notional; /* sum of price x amount */
  int64_t open, high, low, last; /* trade prices; 0 before the first trade */
} asx_stats;

typedef struct asx_book asx_book;

/* A new exchange's first book: instrument 0, named "STOCK". */
asx_book *asx_book_new(void);
/* A book for the next instrument of book's exchange (numbered from 1 in the
 * order made), named "STOCK" until asx_book_set_name; NULL when memory runs
 * out. It shares ids, slots, the clock and the event record with book. */
asx_book *asx_book_new_instrument(asx_book *book);
/* Frees the book. Orders still resting are marked ASX_CANCELLED and must
 * still be alive; their accounts are not touched (a garbage collector may
 * have freed them), so free the books of an exchange together, once its
 * accounts will not be used again. What they share goes with the last. */
void asx_book_free(asx_book *book);
/* Frees the book as asx_book_free does, but reads no order: for a caller
 * whose resting orders may be freed already (the Lua binding's, once
 * nothing reaches its exchange: the orders no one holds are collected by
 * then). An order resting then stays ASX_OPEN and points into freed
 * memory: it must never be given to a book again. */
void asx_book_free_orphaned(asx_book *book);

/* The instrument's number and name. A name is 1 to ASX_NAME_MAX letters,
 * digits, '_', '.' or '-' (so every output writes it as it is); else
 * ASX_E_ARG and nothing changes. The name is copied. */
uint32_t asx_book_instrument(const asx_book *book);
const char *asx_book_name(const asx_book *book);
int asx_book_set_name(asx_book *book, const char *name);

/* The clock stamped on events: clock(data) when a clock is set (a
 * session's scheduler provides one, asx_sched_clock_time), else the time
 * last set or read, 0 at first. The book reads its clock once per cancel
 * and per submit that records events (only events carry the time; a submit
 * may read it otherwise too), and in asx_book_time; a negative reading (a
 * clock that has no time yet) leaves the book's own. data must stay valid
 * while the clock is set.
 * Setting a clock, or NULL for none, first keeps the current clock's time. */
typedef double (*asx_clock_fn)(const void *data);
void asx_book_set_clock(asx_book *book, asx_clock_fn clock, const void *data);
void asx_book_set_time(asx_book *book, double time);
double asx_book_time(const asx_book *book);

/* Recording events costs a copy per event; it is off until a logger asks. */
void asx_book_record_events(asx_book *book, int on);
/* The events recorded since the last asx_book_clear_events, oldest first.
 * The pointer stays valid until the next call that changes the book. */
const asx_event *asx_book_events(const asx_book *book, size_t *count);
void asx_book_clear_events(asx_book *book);
/* Where the exchange keeps its records and their count, for a reader that
 * reads them in place after each call with no call into C: both addresses
 * stay the same while the book lives, the buffer they point at may move
 * (read it again each time). Setting the count to 0 clears the records, as
 * asx_book_clear_events does. */
const asx_event *const *asx_book_event_buffer(const asx_book *book);
size_t *asx_book_event_count(asx_book *book);
/* Drops the records of a delivery that cannot complete (its reader is
 * suspended for good in a coroutine Lua code may still resume) and keeps
 * their buffer, freed with the book, instead of reusing or growing it: a
 * reader resumed later reads the records it had, never freed memory. The
 * next record starts a new buffer. 0, or -1 when memory runs out: the
 * records are dropped all the same, but the buffer stays in use. */
int asx_book_abandon_events(asx_book *book);

/* A consumer of the records in C, in batches: sink(data, events, n) folds
 * events[0 .. n - 1] and returns how many it took, n unless it failed. */
typedef size_t (*asx_event_sink)(void *data, const asx_event *events, size_t n);
/* While a sink is set, a record that finds batch records held hands them to
 * the sink first, in the middle of a call if need be, and the book keeps
 * only what the sink did not take: records then wait for the caller's
 * delivery (asx_book_events) only while fewer than batch are held. A sink
 * that fails is unset, keeping the records it did not take. NULL unsets;
 * data must stay valid while the sink is set. Shared by the exchange's
 * books, like the record itself. */
void asx_book_set_sink(asx_book *book, asx_event_sink sink, void *data, size_t batch);
/* The records the sink took since the last call, which starts the count
 * again from 0. */
uint64_t asx_book_take_sunk(asx_book *book);

const asx_stats *asx_book_stats(const asx_book *book);
/* The double nearest to v (ties to even): exact up to 2^53, and beyond that
 * as exact as a Lua number can be. */
double asx_u128_double(asx_u128 v);

/* Checks money and stocks for an account; 0 or ASX_E_ARG (negative or
 * above ASX_MAX_QTY). Nothing changes when it refuses. */
int asx_account_set(asx_account *acct, int64_t money, int64_t stocks);
/* The position in an instrument (-1 beyond the account's), and its setter:
 * 0, or ASX_E_ARG for a bad value or instrument, changing nothing. */
int64_t asx_account_position(const asx_account *acct, uint32_t instrument);
int asx_account_set_position(asx_account *acct, uint32_t instrument,
                             int64_t stocks);

/* Places an order for acct: a limit order at price, or a market order when
 * price is 0. amount and price must be within 1..ASX_MAX_QTY and price x
 * amount too, and acct must not be bound to another book, else ASX_E_ARG
 * and nothing changes (o->id stays 0). A limit order that would rest on a
 * level of its side whose total cannot take its amount within ASX_MAX_QTY
 * gets ASX_E_OVERFLOW, and nothing changes either: such an order cannot
 * cross (its side rests at its price), so it would rest whole.
 * The order matches at once; o tells the outcome: o->status is ASX_OPEN when
 * a rest was left in the book, where the caller must keep o alive. o must
 * not be resting already (its memory is overwritten). */
int asx_book_submit(asx_book *book, asx_order *o, asx_account *acct,
                    int side, int64_t price, int64_t amount);
/* asx_book_submit with flags (ASX_IOC, ASX_FOK, ASX_POST_ONLY; at most one,
 * POST_ONLY for a limit order only, else ASX_E_ARG). An IOC order's rest is
 * cancelled rather than rested. A FOK order is checked before anything
 * trades, against the same rules of money and stocks that matching applies:
 * it fills whole or is cancelled with nothing traded and nothing trimmed. A
 * post-only order that would cross is cancelled the same way. Cancelled
 * orders say why in o->reason, like their CANCEL event; an account whose
 * positions do not reach the book's instrument gets ASX_E_ARG. */
int asx_book_submit_ex(asx_book *book, asx_order *o, asx_account *acct,
                       int side, int64_t price, int64_t amount, int flags);

/* The resting orders that left the book during the last submit or cancel
 * (filled, trimmed to nothing, or cancelled), so that a C caller that takes
 * its orders from a pool can return them. The incoming order is not listed.
 * Valid until the next call that changes the book. */
asx_order *const *asx_book_finished(const asx_book *book, size_t *count);

/* Cancels a resting order: 1 when it was resting (now ASX_CANCELLED), 0
 * when it was not (filled, cancelled, or never placed). O(1). */
int asx_book_cancel(asx_book *book, asx_order *o);
/* asx_book_cancel with a reason (ASX_CANCEL_*) for the order and its event. */
int asx_book_cancel_why(asx_book *book, asx_order *o, int reason);
/* For a cancel that arrives after its order ended (filled or cancelled):
 * records a CANCEL event of o, remaining 0, reason ASX_CANCEL_TOO_LATE, and
 * changes nothing else. 1 when o ended, 0 when it still rests (nothing
 * recorded). */
int asx_book_cancel_late(asx_book *book, const asx_order *o);

/* Reduces a resting order's amount to amount, keeping its time priority.
 * 1 when done, 0 when o does not rest in this book, ASX_E_ARG when amount
 * is not within 1 .. o->amount (nothing changes then). */
int asx_book_amend(asx_book *book, asx_order *o, int64_t amount);

/* The best prices, or 0 when that side is empty. O(1). */
int64_t asx_book_best_bid(const asx_book *book);
int64_t asx_book_best_ask(const asx_book *book);

/* Walks the non-empty levels of one side from the best price outwards.
 * Returns how many were written, at most max. */
size_t asx_book_depth(const asx_book *book, int side, int64_t *prices,
                      int64_t *amounts, uint32_t *counts, size_t max);

/* The number of non-empty levels on one side. */
size_t asx_book_levels(const asx_book *book, int side);

/* The oldest resting order at a price, or NULL; asx_order_next gives the
 * next one at the same price, in time priority. */
asx_order *asx_book_level_first(const asx_book *book, int side, int64_t price);
asx_order *asx_order_next(const asx_order *o);

/* The first of an account's resting orders (newest first) and the next one,
 * of an order that rests; used to list or cancel one trader's orders
 * without a scan. The exchange keeps these lists from the first call of
 * asx_account_first on (for any of its accounts): that call makes them all
 * at once, O(R log R) for the R orders resting in its books, and then every
 * rest and every leave keeps them, O(1) each. Until then no list is kept,
 * so that placing and filling orders pays nothing for lists no caller
 * reads (each order's leave would write into two other orders: a line
 * each, seldom in the cache). */
asx_order *asx_account_first(const asx_account *acct);
asx_order *asx_account_next(const asx_order *o);

/* The total resting amount at a price (0 when none). */
int64_t asx_book_level_amount(const asx_book *book, int side, int64_t price);

/* How many orders rest in the book (this instrument's). */
size_t asx_book_resting(const asx_book *book);
/* Checks the book's invariants (for tests): levels sorted, totals equal the
 * sums of their orders, every resting amount positive, not crossed. Returns
 * NULL when they hold, else a static description of the first broken one. */
const char *asx_book_check(const asx_book *book);
/* ASX_FFI_END */


#endif
