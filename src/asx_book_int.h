/* The order book's internals, shared by its files (src/asx_book*.c) and
 * by nothing else: the structures, and the small steps of the hot path,
 * which stay static inline here so that every file that takes an order
 * through them compiles them into its own path rather than calling out.
 * The design of the whole is at the top of asx_book.c. */
#ifndef ASX_BOOK_INT_H
#define ASX_BOOK_INT_H

#include "asx_book.h"
#include "asx_pool.h"

/* GCC's straight-line vectorizer pairs the book's neighbouring 64-bit
 * fields into vector registers, which costs more instructions than it saves
 * on these single updates. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-slp-vectorize")
#endif

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The book's functions shared between its files: hidden, so that a call
 * between them is a direct one, in the Lua module too. */
#define ASX__HIDDEN __attribute__((visibility("hidden")))

typedef struct asx_level {
  int64_t price;
  int64_t key;           /* side_key(its side, price) */
  int64_t total;         /* sum of the amounts of its orders */
  uint32_t count;        /* how many orders rest here */
  asx_order *head;       /* oldest */
  asx_order *tail;       /* newest */
  struct asx_book *book; /* so a cancel can tell this book's orders, O(1) */
} asx_level;

/* The best of a side without orders: below every level (and every limit,
 * -ASX_MAX_QTY at the lowest), at price 0, so that the best price needs no
 * test. Never written: nothing crosses it. */
ASX__HIDDEN extern asx_level asx__book_level_none;

/* The window spans this many prices (a multiple of 64: one bit a price). */
#define ASX_WINDOW 128
#define ASX_WINDOW_WORDS (ASX_WINDOW / 64)

/* A fill-or-kill check's copy of the balances of an account it meets. */
typedef struct asx_sim {
  asx_account *acct;
  int64_t money, stocks;
} asx_sim;

/* A resting order's place in its account's list (newest first), kept by
 * its slot once lists are (asx_venue.lists): the order, and the slots of
 * its neighbours (0: none). 16 bytes, so that the entries of many resting
 * orders share a line: a rest or a leave updates its neighbours' entries,
 * where links kept in the orders cost a line of another order each. */
typedef struct asx_alink {
  asx_order *order;
  uint32_t newer, older;
} asx_alink;

/* Slots are made this many at a time: the rare path that makes them is
 * taken once per chunk, and the free stack's memory is written only as
 * deep as it gets. Their list entries come in chunks of as many, which
 * never move (no entry is copied as slots grow in number) and whose memory
 * is not written until lists are kept. */
#define ASX_SLOT_CHUNK 1024

/* What the books of one exchange share. */
typedef struct asx_venue {
  int64_t next_id;
  double time;
  asx_clock_fn clock; /* NULL, or where time comes from */
  const void *clock_data;

  /* Slots identify resting orders with small integers, so the Lua side can
   * keep its orders alive in a plain array indexed by slot. The stack of
   * free slots holds every slot made and not taken: those never handed out
   * below (the lowest on top) and the ones given back above them, so that
   * a rest takes its top whichever it is. Slots are made a chunk at a time,
   * when the stack runs empty, so the stack's memory is written only as
   * deep as it gets, not to the arrays' capacity (a new book's replay
   * would otherwise fault in pages it never reads). */
  uint32_t *free_slots;
  size_t n_free_slots;
  size_t made_slots;     /* slots 1 .. made_slots exist */
  size_t cap_free_slots; /* the room of the slot arrays, made_slots or more */
  /* The list entries of slots 0 .. made_slots (slot_link), slot s in
   * chunk s / ASX_SLOT_CHUNK; the table has room for the chunks of
   * cap_free_slots. Slot 0's is written and never read, so that linking
   * an order at either end of a list needs no test. */
  asx_alink **alinks;
  size_t n_chunks;

  /* Resting orders that left during the current call. */
  asx_order **finished;
  size_t n_finished;

  int record;
  asx_event *events;
  size_t n_events;
  size_t cap_events;
  /* A record that finds limit_events held takes the slow path: the buffer
   * is full, or the sink's batch is there. */
  size_t limit_events;
  /* Buffers of abandoned deliveries (asx_book_abandon_events), freed with
   * the venue. */
  asx_event **abandoned;
  size_t n_abandoned;
  asx_event_sink sink;
  void *sink_data;
  size_t sink_batch;
  uint64_t sunk;

  uint32_t books;    /* made so far: the next instrument's number */
  uint32_t refs;     /* alive */
  struct asx_book *first_book; /* the books alive, by their next_book */
  /* Whether the accounts' lists of resting orders are kept: from the
   * first time one is asked for (asx_account_first). */
  int lists;
  /* The fill-or-kill check's copies (asx__book_fok_fills), one for each
   * account it meets: the incoming order's, and at most one per resting
   * order, so they have the slot arrays' room, cap_free_slots + 1. */
  asx_sim *sim;
  size_t n_sim;
#ifndef NDEBUG
  double clock_last; /* the clock's last reading: it never goes back */
#endif
} asx_venue;

/* One side of the book. Prices are compared through a key, the price for
 * bids and its negation for asks, so that the best price has the highest
 * key on both sides. */
typedef struct book_side {
  /* The window: the levels at keys lo .. lo + ASX_WINDOW - 1 by key - lo,
   * NULL where no order came yet; bit i of live is set when window[i]
   * holds orders. */
  int64_t lo;
  asx_level *window[ASX_WINDOW];
  uint64_t live[ASX_WINDOW_WORDS];
  asx_level *best; /* the best level with orders, or asx__book_level_none */
  /* The outer array: the levels below the window, by key, best last. */
  asx_level **levels;
  size_t n;
  size_t cap;
  size_t empty; /* empty levels kept in the outer array */
  int64_t peak; /* the bitwise or of the totals its levels have had since
                   it was last empty: no level's total is above it, so
                   while an order fits under it, its level needs no
                   look-up (or-ed in one instruction, below 2^53 still) */
  /* Padding to a power of two, so that a side's address is its number
   * shifted rather than multiplied, on every order's path. */
  char pad_[2048 - 2 * sizeof(int64_t) -
            (ASX_WINDOW + 1) * sizeof(asx_level *) -
            ASX_WINDOW_WORDS * sizeof(uint64_t) - sizeof(asx_level **) -
            3 * sizeof(size_t)];
} book_side;
_Static_assert(sizeof(book_side) == 2048, "a side's size is a power of two");
_Static_assert(sizeof(asx_account) == 64, "an account is one cache line");

struct asx_book {
  book_side sides[2];
  asx_pool *level_pool;
  asx_venue *v;
  /* What asx_book_submit's common test compares an account's venue_ with:
   * v's address, with ASX__RECORDING set while events are recorded, so
   * that the one test also sends recorded orders their way
   * (asx__book_set_admits keeps it in step with v->record). */
  uint64_t admits;
  struct asx_book *next_book; /* the next of its venue's books */
  size_t resting;
  uint32_t instrument;
  char name[ASX_NAME_MAX + 1];
  asx_stats stats;
  uint64_t range; /* stats.high - stats.low, for matching's one test */
};

/* The top bit of a 64-bit word, which no address an account holds sets on
 * the platforms asx runs on, and which asx_book_submit's test of the
 * price, amount and side never sets. */
#define ASX__RECORDING ((uint64_t)1 << 63)

/* Sets b->admits from its venue's record (asx_book_event.c). */
static inline void asx__book_set_admits(asx_book *b) {
  b->admits = (uint64_t)(uintptr_t)b->v ^ (b->v->record ? ASX__RECORDING : 0);
}

/* The price index (asx_book_index.c). */
ASX__HIDDEN const asx_level *asx__book_level_at(const asx_book *b, int s,
                                                int64_t price);
ASX__HIDDEN void asx__book_best_emptied(asx_book *b, book_side *side);
ASX__HIDDEN void asx__book_best_from_outer(asx_book *b, book_side *side);
ASX__HIDDEN void asx__book_level_emptied(asx_book *b, int s, asx_level *lvl);

/* Resting orders (asx_book_index.c, asx_book_submit.c). */
ASX__HIDDEN void asx__book_order_unlink(asx_book *b, asx_order *o);
ASX__HIDDEN void asx__book_order_drop(asx_book *b, asx_order *o, int reason);
ASX__HIDDEN int asx__book_rest_slow(asx_book *b, asx_order *o);
ASX__HIDDEN int asx__book_rest_or_drop(asx_book *b, asx_order *o, int flags);

/* Matching (asx_book_match.c). */
ASX__HIDDEN int asx__book_submit_cross(asx_book *b, asx_order *o, int64_t limit,
                                       int flags);
ASX__HIDDEN int asx__book_submit_plain(asx_book *b, asx_order *o,
                                       asx_account *acct, int side,
                                       int64_t price, int64_t amount);
ASX__HIDDEN int asx__book_submit_recorded(asx_book *b, asx_order *o,
                                          int64_t limit, int flags);
ASX__HIDDEN int asx__book_fok_fills(asx_book *b, const asx_order *o, int s);

/* The resting orders of one level, of each level of a side (the window's,
 * then the outer array's), for the walks over a whole book. */
static inline const asx_level *side_level(const book_side *side, size_t i) {
  return i < ASX_WINDOW ? side->window[i] : side->levels[i - ASX_WINDOW];
}

/* The event record (asx_book_event.c). */
ASX__HIDDEN int asx__book_events_room(asx_venue *v);
ASX__HIDDEN void asx__book_event_trim(asx_book *b, const asx_order *o,
                                      int64_t price, int64_t from, int reason);
ASX__HIDDEN void asx__book_event_cancel(asx_book *b, const asx_order *o,
                                        int64_t left, int reason);

static inline asx_alink *slot_link(const asx_venue *v, uint32_t slot) {
  return &v->alinks[slot / ASX_SLOT_CHUNK][slot % ASX_SLOT_CHUNK];
}

/* Event times follow the clock, so they never go back while one clock
 * drives the book; asx_book_set_time and a new clock may set any time. */
static inline void clock_read(asx_venue *v) {
  double t;
  if (v->clock != NULL && (t = v->clock(v->clock_data)) >= 0) {
#ifndef NDEBUG
    assert(t >= v->clock_last);
    v->clock_last = t;
#endif
    v->time = t;
  }
}

static inline void u128_add(asx_u128 *v, uint64_t x) {
  v->lo += x;
  v->hi += v->lo < x;
}

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* An account's position in an instrument it holds. Picked without a
 * branch (the address is computed as an integer, so that it is defined
 * whatever positions holds): with several instruments, which one the next
 * order trades is a coin toss. */
static inline int64_t *position(asx_account *a, uint32_t instrument) {
  uintptr_t other = (uintptr_t)a->positions +
                    ((uintptr_t)instrument - 1) * sizeof(*a->positions);
  return instrument == 0 ? &a->stocks : (int64_t *)other;
}

static inline int holds(const asx_account *a, uint32_t instrument) {
  uint32_t held = a->positions != NULL ? a->n_positions : 0;
  return instrument <= held;
}

/* Inline: a call that trades records one event per order and per fill. */
static inline asx_event *event_push(asx_book *b, int type, const asx_order *o) {
  asx_venue *v = b->v;
  if (v->n_events >= v->limit_events && asx__book_events_room(v) != 0)
    return NULL;
  asx_event *e = &v->events[v->n_events++];
  memset(e, 0, sizeof(*e));
  e->time = v->time;
  e->type = (uint8_t)type;
  e->order = o->id;
  e->trader = o->trader;
  e->side = o->side;
  e->instrument = b->instrument;
  e->instrument_name = b->name;
  return e;
}

/* An order's side, status, flags and reason are neighbouring bytes: an
 * incoming order gets all four in one store (a store of each, and of the
 * status again once it rests, cost three instructions more an order). */
_Static_assert(offsetof(asx_order, status) == offsetof(asx_order, side) + 1 &&
                   offsetof(asx_order, flags) == offsetof(asx_order, side) + 2 &&
                   offsetof(asx_order, reason) == offsetof(asx_order, side) + 3,
               "side, status, flags and reason are one word");

/* order_init but for the slot, which an order that rests at once gets from
 * the rest (rest_fast with fresh set), and with the status given: ASX_NEW,
 * or ASX_OPEN for an order that is about to rest. */
static inline __attribute__((always_inline)) void
order_fill_in(asx_book *b, asx_order *o, asx_account *acct, int side,
              int64_t price, int64_t amount, int flags, int status) {
  /* First: a store of bytes may alias anything, which would be read
   * again after it. */
  const uint8_t bytes[4] = {(uint8_t)side, (uint8_t)status, (uint8_t)flags,
                            ASX_CANCEL_ASKED};
  memcpy((unsigned char *)o + offsetof(asx_order, side), bytes, sizeof(bytes));
  asx_venue *v = b->v;
  /* Ids only grow: time priority and the event record rely on it. */
  assert(v->next_id > 0 && v->next_id < INT64_MAX);
  o->id = v->next_id++;
  o->price = price;
  o->amount = amount;
  o->filled = 0;
  o->trader = acct->id;
  o->instrument = b->instrument;
  o->acct_ = acct;
  v->n_finished = 0;
  b->stats.orders++;
}

/* Fills in the incoming order o once its checks have passed. Its links
 * are set only if it rests: most orders never do, or leave at once. */
static inline __attribute__((always_inline)) void
order_init(asx_book *b, asx_order *o, asx_account *acct, int side,
           int64_t price, int64_t amount, int flags) {
  order_fill_in(b, o, acct, side, price, amount, flags, ASX_NEW);
  o->slot = 0;
}

/* Keys and the window's bits. */

/* The sort key puts the best price highest on both sides. */
static inline int64_t side_key(int side, int64_t price) {
  return side == ASX_BUY ? price : -price;
}

/* The key an opposite level must reach to cross an order of side s at price:
 * side_key(the opposite side, price), by a sign rather than a branch on the
 * side (a coin toss); a market order (price 0) crosses every level. */
static inline int64_t cross_limit(int s, int64_t price) {
  int64_t buying = -(int64_t)(s == ASX_BUY); /* -1 or 0 */
  int64_t limit = price != 0 ? (price ^ buying) - buying : -ASX_MAX_QTY;
  assert(price == 0 || limit == side_key(s ^ 1, price));
  return limit;
}

/* The window index of a key: below ASX_WINDOW when the window covers it. */
static inline uint64_t window_index(const book_side *side, int64_t key) {
  return (uint64_t)(key - side->lo);
}

static inline void live_set(book_side *side, uint64_t i) {
  side->live[i / 64] |= (uint64_t)1 << (i % 64);
}

static inline void live_clear(book_side *side, uint64_t i) {
  side->live[i / 64] &= ~((uint64_t)1 << (i % 64));
}

static inline int live_get(const book_side *side, uint64_t i) {
  return (side->live[i / 64] >> (i % 64)) & 1;
}

/* The highest window index whose level holds orders, or -1. Both words are
 * read and the answer picked without a branch to mispredict: the window is
 * centred on the touch, at the boundary of its two words, so which word
 * holds the next best is a coin toss. The mask is hidden from the compiler,
 * which otherwise turns the pick back into a branch on the word (about
 * one mispredicted an emptied best in the benchmark's replay). Written
 * for two words, an empty window (rare) tested first: 17 instructions
 * where a loop over the words took 24. */
static int window_top(const book_side *side) {
  _Static_assert(ASX_WINDOW_WORDS == 2, "the window is two words");
  uint64_t low = side->live[0], high = side->live[1];
  /* An empty window is rare (the best moves to the outer levels): one
   * predictable test, and then each word's bit scan needs no answer of
   * its own for an empty word. */
  if (__builtin_expect((low | high) == 0, 0))
    return -1;
  /* 63 - clz, written so that GCC keeps the bit scan's own answer. */
  int top_low = 63 ^ __builtin_clzll(low | 1);
  int top_high = 64 + (63 ^ __builtin_clzll(high | 1));
  int keep = -(high != 0);
  __asm__("" : "+r"(keep));
  return top_low ^ ((top_low ^ top_high) & keep);
}

/* Whether side->best is the window's highest level with orders, or
 * asx__book_level_none with no bit set: the window's few words, for the
 * asserts. */
static inline int best_is_top(const book_side *side) {
  int top = window_top(side);
  return top < 0 ? side->best == &asx__book_level_none
                 : side->best == side->window[top] && side->best->count > 0;
}

/* Whether the best bid reaches the best ask, which the book never allows. */
static inline int crossed(const asx_book *b) {
  const asx_level *bid = b->sides[ASX_BUY].best, *ask = b->sides[ASX_SELL].best;
  return bid != &asx__book_level_none && ask != &asx__book_level_none &&
         bid->price >= ask->price;
}

/* An order at a level: the steps of joining and leaving it that the hot
 * path takes inline. */

/* Puts the resting order o first in its account a's list
 * (asx_book_account.c). Returns 0. Out of line, and reached by a tail call
 * from the end of a rest, so that a rest saves no register for it. */
ASX__HIDDEN int asx__book_account_push(asx_venue *v, asx_account *a,
                                       asx_order *o);

/* Takes a resting order out of its account a (o->acct_, which matching
 * has in a register) and frees its slot, once it has left its level; its
 * status is left for the caller to set, and its links, which mean nothing
 * once it has left, as they were. */
static inline __attribute__((always_inline)) void
order_leave(asx_book *b, asx_order *o, asx_account *a) {
  assert(a == o->acct_ && o->slot != 0 && a->resting > 0 && b->resting > 0);
  asx_venue *v = b->v;
  if (v->lists) {
    const asx_alink *l = slot_link(v, o->slot);
    uint32_t newer = l->newer, older = l->older;
    assert(l->order == o && (newer != 0 || a->newest_ == o->slot));
    slot_link(v, older)->newer = newer;
    *(newer != 0 ? &slot_link(v, newer)->older : &a->newest_) = older;
  }
  a->resting--;

  /* The slot stack and the finished list have room: neither holds more
   * entries than there are slots, and both grew with them. */
  v->free_slots[v->n_free_slots++] = o->slot;
  v->finished[v->n_finished++] = o;
  b->resting--;
  o->slot = 0;
  o->acct_ = NULL;
}

/* Takes the filled order r of account a, the oldest of the best level lvl,
 * out of the book: asx__book_order_unlink for the one order matching
 * removes. Returns
 * the level's next order, or NULL when r was its last; then the caller
 * moves the side's best (asx__book_best_emptied). */
static inline __attribute__((always_inline)) asx_order *
head_pop(asx_book *b, asx_level *lvl, asx_order *r, asx_account *a) {
  assert(lvl->head == r && r->prev_ == NULL && r->amount == 0);
  asx_order *next = r->next_;
  lvl->head = next;
  lvl->count--;
  order_leave(b, r, a);
  /* Whether r was the last is the test the caller makes next. */
  if (next != NULL)
    next->prev_ = NULL;
  else
    lvl->tail = NULL;
  assert((lvl->count == 0) == (lvl->head == NULL) &&
         (lvl->head == NULL) == (lvl->tail == NULL) &&
         (lvl->count == 0) == (lvl->total == 0) && lvl->total >= 0);
  return next;
}

/* Joins the order o to the tail of lvl (time priority: the newest is
 * last), with the slot on top of the free stack, which is not empty. */
static inline __attribute__((always_inline)) void
level_append(asx_venue *v, asx_level *lvl, asx_order *o) {
  assert(v->n_free_slots > 0);
  o->slot = v->free_slots[--v->n_free_slots];
  assert(lvl->price == o->price &&
         (lvl->tail == NULL || lvl->tail->id < o->id));
  assert((lvl->count == 0) == (lvl->head == NULL) &&
         (lvl->count == 0) == (lvl->total == 0));
  o->level_ = lvl;
  o->prev_ = lvl->tail;
  o->next_ = NULL;
  *(lvl->tail != NULL ? &lvl->tail->next_ : &lvl->head) = o;
  lvl->tail = o;
  lvl->count++;
  lvl->total += o->amount;
}

/* The last steps of a rest, once o has joined its level lvl: the side's
 * peak, the counts and its account's list (newest first, when lists are
 * kept). Returns 0, for the rest to return. */
static inline __attribute__((always_inline)) int
rest_finish(asx_book *b, book_side *side, asx_level *lvl, asx_order *o,
            asx_account *a, int fresh) {
  side->peak |= lvl->total;
  assert(lvl->total > 0 && lvl->total <= ASX_MAX_QTY &&
         side->best != &asx__book_level_none && side->best->key >= lvl->key);
  a->resting++;
  b->resting++;
  if (!fresh)
    o->status = ASX_OPEN;
  assert(o->status == ASX_OPEN);
  /* Nothing opposite crosses it: matching went first. */
  assert(!crossed(b));
  asx_venue *v = b->v;
  return v->lists ? asx__book_account_push(v, a, o) : 0;
}

/* Rests what is left of the limit order o, of side s at price (whose key,
 * side_key(s, price), the caller may have found already) for account
 * a; what is rare (a new level, no free slot) goes to asx__book_rest_slow, by a
 * tail call, so that the common path saves no registers. With fresh set, o
 * came from order_fill_in with status ASX_OPEN and no slot: the common path
 * writes the slot once, as a resting order's, and the rare one sets both
 * as order_init does. Returns 0. */
static inline __attribute__((always_inline)) int
rest_fast_key(asx_book *b, asx_order *o, int s, int64_t price, int64_t key,
              asx_account *a, int fresh) {
  assert(fresh ? o->status == ASX_OPEN : (o->status == ASX_NEW && o->slot == 0));
  assert(o->price > 0 && o->amount > 0);
  assert(s == o->side && price == o->price && a == o->acct_);
  asx_venue *v = b->v;
  book_side *side = &b->sides[(unsigned)s];
  /* One register for the side (see match). */
  __asm__("" : "+r"(side));
  assert(key == side_key(s, price));
  uint64_t i = window_index(side, key);
  /* Almost every order rests on a level the window already holds, in a
   * free slot: one predictable test for both. */
  if (__builtin_expect((i >= ASX_WINDOW) | (v->n_free_slots == 0), 0) ||
      __builtin_expect(side->window[i] == NULL, 0)) {
    if (fresh) {
      o->status = ASX_NEW;
      o->slot = 0;
    }
    return asx__book_rest_slow(b, o);
  }
  asx_level *lvl = side->window[i];
  level_append(v, lvl, o);
  /* Whether the level was empty is a coin toss, so neither its bit nor
   * the best is set under that test: the bit of a level with orders is
   * set already, and such a level is not above the best. */
  assert(live_get(side, i) == (lvl->count > 1));
  live_set(side, i);
  side->best = key > side->best->key ? lvl : side->best;
  assert(best_is_top(side));
  return rest_finish(b, side, lvl, o, a, fresh);
}

/* rest_fast_key for a caller that has not found the key. */
static inline __attribute__((always_inline)) int
rest_fast(asx_book *b, asx_order *o, int s, int64_t price, asx_account *a,
          int fresh) {
  return rest_fast_key(b, o, s, price, side_key(s, price), a, fresh);
}

#endif
