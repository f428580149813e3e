/* The limit order book and its matching engine.
 *
 * Data structures
 *   A price level (struct asx_level) holds the orders resting at one price in
 *   a doubly-linked list, oldest first, with their total amount and count.
 *   Levels come from a pool. Prices are compared through a key, the price
 *   for bids and its negation for asks, so that the best price has the
 *   highest key on both sides. Each side keeps its levels in two places:
 *   - the window: an array of ASX_WINDOW level pointers indexed by key - lo,
 *     which covers the prices around the touch, where almost every order
 *     arrives (as in the QuantCup 2011 winner's flat price array, but sliding
 *     so that its size does not depend on the price range), with a bitmap of
 *     the slots whose level holds orders;
 *   - the outer array: the levels below the window (worse prices), sorted by
 *     key with the best last.
 *   Every resting order also sits in a list of its account, so one trader's
 *   orders are found without scanning the book.
 *
 * Invariants
 *   - A level lives in the window when the window covers its price, else in
 *     the outer array: every outer key is below lo.
 *   - When a side has orders, its best level is in the window (side->best,
 *     the highest set bit of the bitmap): the window moves up to centre on an
 *     order that would rest above it, and down to centre on the best outer
 *     level when its own last level with orders empties.
 *   - An empty level may stay in the window, until the window moves away
 *     from its price. In the outer array, one emptied in the middle stays,
 *     counted in side->empty, until an order comes to its price or the array
 *     is compacted (when empty levels outnumber the others); the outer
 *     array's last level is never empty.
 *   - A level's total is always the sum of its orders' amounts and every
 *     resting amount is positive.
 *   - The book is never crossed: an order rests only once nothing opposite
 *     crosses its price.
 *   Debug builds assert each of these where a change could break it, at a
 *   constant cost (the touched level, bit or neighbours); release builds
 *   define NDEBUG and pay nothing. asx_book_check walks the whole book.
 *
 * Costs
 *   best bid/ask O(1) (side->best); cancel O(1) amortized; placing an order
 *   in the window O(1), and O(log L + L) among L outer levels (binary search
 *   and insertion); O(1) per fill, plus finding the next best level when one
 *   empties: a scan of the bitmap's ASX_WINDOW / 64 words. The window moves
 *   in O(ASX_WINDOW) plus the levels it hands over, and only once the touch
 *   has moved by half its width. Matching is a loop, never recursion, so one
 *   order may sweep any number of resting orders.
 *
 * The hot path
 *   The benchmark's stream (bench/c/bench_book.c) is what the common path is
 *   shaped for: orders within a few ticks of the touch, half of them
 *   crossing. What a processor cannot predict there is the side of the next
 *   order, whether it crosses, whether a fill ends the resting order and
 *   whether a level empties, so the code branches on as few of these as it
 *   can: one match loop serves both sides (a fill's changes take the
 *   incoming side's sign), every balance rule of a fill is one test with
 *   the rare cases out of line (fill_limited), and a rest sets its level's
 *   bit and the best by data rather than by a test of the level's count.
 *   A plain limit order (no flags, no events recorded, values far below
 *   ASX_MAX_QTY, its account bound already) is admitted by one test in
 *   submit_plain; everything else takes submit_any, which checks an order
 *   once whether events are recorded or not. Matching
 *   (submit_cross) and the rare rests (rest_slow) are out of line and
 *   reached by tail calls, so that an order that crosses nothing saves few
 *   registers; the statistics take a submit's fills once, at its end.
 *   Orders keep their own links: matching reads an order's line anyway, and
 *   links kept by slot in an array of the book's (64-byte orders) cost more
 *   than they saved, one more line per fill and per rest.
 *
 * Memory
 *   The book never allocates orders: callers own them (a pool in C, the
 *   garbage collector in Lua). Levels come from a pool; the window holds at
 *   most ASX_WINDOW per side, so memory follows the levels in use, not the
 *   price range. The outer arrays, the free slot stack and the event buffer
 *   only grow to their peak size, so the steady state allocates nothing.
 *
 * Accounts
 *   Nothing is reserved when an order is placed. Money and stocks are checked
 *   at each fill, the buyer's money first, and a short side's order is trimmed
 *   for good (README.md, "Semantics"). An account has one money for all
 *   instruments and a position per instrument.
 *
 * Instruments
 *   One book per instrument, each with its own levels, pool and statistics;
 *   what the books of an exchange share (ids, slots, clock, event record, the
 *   orders finished by a call) is their venue, freed with the last book.
 *
 * Order types
 *   IOC cancels the rest instead of resting it. FOK first runs the match on
 *   copies of the balances it would touch (fok_fills, rule for rule the
 *   same as match_side) and trades only when the whole amount would fill,
 *   so a refused FOK order changes nothing, not even the trims matching
 *   would have made. Post-only is refused when the opposite best crosses
 *   its price. An amend reduces a resting order in place, keeping its place.
 *
 * Arithmetic
 *   No signed operation can overflow. Amounts, prices, their products,
 *   balances and level totals stay within ASX_MAX_QTY: submit checks the
 *   order and the total of the level it could rest on, a fill is bounded by
 *   the buyer's money and the seller's stocks and stops where a receiving
 *   balance would pass ASX_MAX_QTY. The statistics' sums are 128-bit.
 *
 * Deliberately not supported: raising an order's amount in place (it would
 * jump the queue: cancel and place again), stop orders, hidden quantities.
 */
#include "asx_book.h"
#include "asx_pool.h"

/* GCC's straight-line vectorizer pairs the book's neighbouring 64-bit
 * fields into vector registers, which costs more instructions than it saves
 * on these single updates. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-slp-vectorize")
#endif

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct asx_level {
  int64_t price;
  int64_t key;      /* side_key(its side, price) */
  int64_t total;    /* sum of the amounts of its orders */
  uint32_t count;   /* how many orders rest here */
  asx_order *head;  /* oldest */
  asx_order *tail;  /* newest */
  struct asx_book *book; /* so a cancel can tell this book's orders, O(1) */
} asx_level;

/* The best of a side without orders: below every level (and every limit,
 * -ASX_MAX_QTY at the lowest), at price 0, so that the best price needs no
 * test. Never written: nothing crosses it. */
static asx_level level_none = {.key = INT64_MIN};

/* The window spans this many prices (a multiple of 64: one bit a price). */
#define ASX_WINDOW 128
#define ASX_WINDOW_WORDS (ASX_WINDOW / 64)

/* What the books of one exchange share. */
typedef struct asx_venue {
  int64_t next_id;
  double time;
  asx_clock_fn clock; /* NULL, or where time comes from */
  const void *clock_data;

  /* Slots identify resting orders with small integers, so the Lua side can
   * keep its orders alive in a plain array indexed by slot. */
  uint32_t *free_slots;
  size_t n_free_slots;
  size_t cap_free_slots;
  uint32_t next_slot;

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
  asx_event_sink sink;
  void *sink_data;
  size_t sink_batch;
  uint64_t sunk;

  uint32_t books; /* made so far: the next instrument's number */
  uint32_t refs;  /* alive */
  uint64_t sim_mark; /* the current fill-or-kill check (fok_fills) */
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
  asx_level *best; /* the best level with orders; &level_none when none */
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
  char pad_[2048 - 2 * sizeof(int64_t) - (ASX_WINDOW + 1) * sizeof(asx_level *) -
            ASX_WINDOW_WORDS * sizeof(uint64_t) - sizeof(asx_level **) -
            3 * sizeof(size_t)];
} book_side;
_Static_assert(sizeof(book_side) == 2048, "a side's size is a power of two");

struct asx_book {
  book_side sides[2];
  asx_pool *level_pool;
  asx_venue *v;
  size_t resting;
  uint32_t instrument;
  char name[ASX_NAME_MAX + 1];
  asx_stats stats;
};

/* Compaction waits for this many empty levels, so a small book never pays. */
#define ASX_COMPACT_MIN 32

static asx_book *book_new(asx_venue *v) {
  asx_book *b = calloc(1, sizeof(*b));
  if (b == NULL)
    return NULL;
  b->level_pool = asx_pool_new(sizeof(asx_level));
  if (b->level_pool == NULL) {
    free(b);
    return NULL;
  }
  b->v = v;
  b->sides[ASX_BUY].best = b->sides[ASX_SELL].best = &level_none;
  b->instrument = v->books++;
  v->refs++;
  memcpy(b->name, "STOCK", sizeof("STOCK"));
  return b;
}

asx_book *asx_book_new(void) {
  asx_venue *v = calloc(1, sizeof(*v));
  if (v == NULL)
    return NULL;
  v->next_id = 1;
  asx_book *b = book_new(v);
  if (b == NULL)
    free(v);
  return b;
}

asx_book *asx_book_new_instrument(asx_book *first) {
  /* Instruments are uint32_t; memory runs out long before they do. */
  if (first == NULL || first->v->books == UINT32_MAX)
    return NULL;
  return book_new(first->v);
}

uint32_t asx_book_instrument(const asx_book *b) { return b->instrument; }

const char *asx_book_name(const asx_book *b) { return b->name; }

int asx_book_set_name(asx_book *b, const char *name) {
  size_t n = name != NULL ? strlen(name) : 0;
  if (n < 1 || n > ASX_NAME_MAX)
    return ASX_E_ARG;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
      return ASX_E_ARG;
  }
  memcpy(b->name, name, n + 1);
  return 0;
}

void asx_book_free(asx_book *b) {
  if (b == NULL)
    return;
  /* Orders still resting belong to their callers; they are only marked
   * cancelled so that nothing points into freed levels. Their accounts are
   * not touched: a garbage collector may already have freed them, and an
   * account is used with one book only. */
  for (int s = 0; s < 2; s++) {
    book_side *side = &b->sides[s];
    for (size_t i = 0; i < ASX_WINDOW + side->n; i++) {
      asx_level *lvl =
          i < ASX_WINDOW ? side->window[i] : side->levels[i - ASX_WINDOW];
      for (asx_order *o = lvl != NULL ? lvl->head : NULL; o != NULL;) {
        asx_order *next = o->next_;
        o->status = ASX_CANCELLED;
        o->slot = 0;
        o->level_ = NULL;
        o->prev_ = o->next_ = o->aprev_ = o->anext_ = NULL;
        o->acct_ = NULL;
        o = next;
      }
    }
    free(side->levels);
  }
  asx_pool_free(b->level_pool);
  asx_venue *v = b->v;
  free(b);
  if (--v->refs > 0)
    return;
  free(v->free_slots);
  free(v->finished);
  free(v->events);
  free(v);
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

void asx_book_set_clock(asx_book *b, asx_clock_fn clock, const void *data) {
  clock_read(b->v);
  b->v->clock = clock;
  b->v->clock_data = data;
#ifndef NDEBUG
  b->v->clock_last = 0;
#endif
}

void asx_book_set_time(asx_book *b, double time) { b->v->time = time; }

double asx_book_time(const asx_book *b) {
  const asx_venue *v = b->v;
  double t = v->clock != NULL ? v->clock(v->clock_data) : -1;
  return t >= 0 ? t : v->time;
}

void asx_book_record_events(asx_book *b, int on) { b->v->record = on != 0; }

const asx_event *asx_book_events(const asx_book *b, size_t *count) {
  *count = b->v->n_events;
  return b->v->events;
}

void asx_book_clear_events(asx_book *b) { b->v->n_events = 0; }

static void set_limit(asx_venue *v) {
  v->limit_events = v->sink != NULL && v->sink_batch < v->cap_events ? v->sink_batch
                                                                     : v->cap_events;
}

void asx_book_set_sink(asx_book *b, asx_event_sink sink, void *data, size_t batch) {
  asx_venue *v = b->v;
  v->sink = sink;
  v->sink_data = data;
  v->sink_batch = batch > 0 ? batch : 1;
  set_limit(v);
}

uint64_t asx_book_take_sunk(asx_book *b) {
  uint64_t n = b->v->sunk;
  b->v->sunk = 0;
  return n;
}

const asx_stats *asx_book_stats(const asx_book *b) { return &b->stats; }

double asx_u128_double(asx_u128 v) {
  /* The compiler's conversion rounds once, to nearest; summing two doubles
   * would round twice. */
  return (double)(((unsigned __int128)v.hi << 64) | v.lo);
}

static inline void u128_add(asx_u128 *v, uint64_t x) {
  v->lo += x;
  v->hi += v->lo < x;
}

asx_order *const *asx_book_finished(const asx_book *b, size_t *count) {
  *count = b->v->n_finished;
  return b->v->finished;
}

size_t asx_book_resting(const asx_book *b) { return b->resting; }

int asx_account_set(asx_account *acct, int64_t money, int64_t stocks) {
  if (money < 0 || money > ASX_MAX_QTY || stocks < 0 || stocks > ASX_MAX_QTY)
    return ASX_E_ARG;
  acct->money = money;
  acct->stocks = stocks;
  return 0;
}

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

int64_t asx_account_position(const asx_account *acct, uint32_t instrument) {
  if (!holds(acct, instrument))
    return -1;
  return *position((asx_account *)acct, instrument);
}

int asx_account_set_position(asx_account *acct, uint32_t instrument,
                             int64_t stocks) {
  if (!holds(acct, instrument) || stocks < 0 || stocks > ASX_MAX_QTY)
    return ASX_E_ARG;
  *position(acct, instrument) = stocks;
  return 0;
}

/* Events. A failure to grow the buffer drops the event rather than the
 * trade: the book must stay consistent whatever happens to its observers. */

/* Hands the records held to the sink, keeping those it did not take. */
static void sink_drain(asx_venue *v) {
  size_t n = v->n_events;
  size_t took = v->sink(v->sink_data, v->events, n);
  if (took > n)
    took = n;
  v->sunk += took;
  if (took < n) {
    memmove(v->events, v->events + took, (n - took) * sizeof(*v->events));
    v->sink = NULL;
  }
  v->n_events = n - took;
  set_limit(v);
}

/* Makes room for one more record: drains to the sink when its batch is
 * held, grows the buffer when full. 0, or -1 when memory runs out. */
static int events_room(asx_venue *v) {
  if (v->sink != NULL && v->n_events >= v->sink_batch)
    sink_drain(v);
  if (v->n_events == v->cap_events) {
    size_t cap = v->cap_events ? v->cap_events * 2 : 256;
    asx_event *events = realloc(v->events, cap * sizeof(*events));
    if (events == NULL)
      return -1;
    v->events = events;
    v->cap_events = cap;
    set_limit(v);
  }
  return 0;
}

/* Inline: a call that trades records one event per order and per fill. */
static inline asx_event *event_push(asx_book *b, int type, const asx_order *o) {
  asx_venue *v = b->v;
  if (v->n_events >= v->limit_events && events_room(v) != 0)
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

static void event_trim(asx_book *b, const asx_order *o, int64_t price,
                       int64_t from, int reason) {
  asx_event *e;
  if (!b->v->record || (e = event_push(b, ASX_EV_TRIM, o)) == NULL)
    return;
  e->price = price;
  e->amount = from;
  e->amount2 = o->amount;
  e->reason = (uint8_t)reason;
}

static void event_cancel(asx_book *b, const asx_order *o, int64_t left,
                         int reason) {
  asx_event *e;
  if (!b->v->record || (e = event_push(b, ASX_EV_CANCEL, o)) == NULL)
    return;
  e->amount = left;
  e->reason = (uint8_t)reason;
}

/* Levels. */

/* The sort key puts the best price highest on both sides. */
static inline int64_t side_key(int side, int64_t price) {
  return side == ASX_BUY ? price : -price;
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

/* The highest window index whose level holds orders, or -1. Every word is
 * read and the answer picked without a branch to mispredict. */
static int window_top(const book_side *side) {
  int top = -1;
  for (int w = 0; w < ASX_WINDOW_WORDS; w++) {
    uint64_t bits = side->live[w];
    int high = w * 64 + 63 - __builtin_clzll(bits | 1);
    top ^= (top ^ high) & -(bits != 0);
  }
  return top;
}

/* Whether side->best is the window's highest level with orders, or
 * level_none with no bit set: the window's few words, for the asserts. */
static inline int best_is_top(const book_side *side) {
  int top = window_top(side);
  return top < 0 ? side->best == &level_none
                 : side->best == side->window[top] && side->best->count > 0;
}

static asx_level *level_new(asx_book *b, int64_t price, int64_t key) {
  asx_level *lvl = asx_pool_get(b->level_pool);
  if (lvl == NULL)
    return NULL;
  memset(lvl, 0, sizeof(*lvl));
  lvl->price = price;
  lvl->key = key;
  lvl->book = b;
  return lvl;
}

/* The index in the outer array of the level at key, or of where it would
 * be inserted, and whether it exists. */
static size_t outer_find(const book_side *side, int64_t key, int *found) {
  size_t lo = 0, hi = side->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (side->levels[mid]->key < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = lo < side->n && side->levels[lo]->key == key;
  return lo;
}

/* Makes room in the outer array for extra more levels: 0 or -1. */
static int outer_reserve(book_side *side, size_t extra) {
  if (side->n + extra <= side->cap)
    return 0;
  size_t cap = side->cap ? side->cap : 64;
  while (cap < side->n + extra)
    cap *= 2;
  asx_level **levels = realloc(side->levels, cap * sizeof(*levels));
  if (levels == NULL)
    return -1;
  side->levels = levels;
  side->cap = cap;
  return 0;
}

/* The outer level at key for an order to rest on, made if needed. */
static asx_level *outer_get(asx_book *b, book_side *side, int64_t key,
                            int64_t price) {
  int found;
  size_t i = outer_find(side, key, &found);
  assert(key < side->lo);
  if (found) {
    asx_level *lvl = side->levels[i];
    if (lvl->count == 0)
      side->empty--;
    return lvl;
  }
  if (outer_reserve(side, 1) != 0)
    return NULL;
  asx_level *lvl = level_new(b, price, key);
  if (lvl == NULL)
    return NULL;
  memmove(&side->levels[i + 1], &side->levels[i],
          (side->n - i) * sizeof(*side->levels));
  side->levels[i] = lvl;
  side->n++;
  /* Sorted around the insertion; the rest was sorted before it. */
  assert((i == 0 || side->levels[i - 1]->key < key) &&
         (i + 1 == side->n || side->levels[i + 1]->key > key));
  return lvl;
}

/* Pops the empty levels at the best end of the outer array, so that its
 * last level holds orders again. */
static void outer_pop_empty(asx_book *b, book_side *side) {
  while (side->n > 0 && side->levels[side->n - 1]->count == 0) {
    asx_pool_put(b->level_pool, side->levels[--side->n]);
    side->empty--;
  }
}

static void outer_compact(asx_book *b, book_side *side) {
  size_t j = 0;
  for (size_t i = 0; i < side->n; i++) {
    asx_level *lvl = side->levels[i];
    if (lvl->count == 0)
      asx_pool_put(b->level_pool, lvl);
    else
      side->levels[j++] = lvl;
  }
  side->n = j;
  side->empty = 0;
}

/* Slides the window to start at key lo. A level that leaves it goes to the
 * outer array when it holds orders, else back to the pool; outer levels it
 * now covers move into it. The caller guarantees that no level with orders
 * leaves above the new window (the window moves up, or down only once it
 * holds no orders), so the levels that leave are worse than the new window
 * and better than every outer level: they append at the outer array's best
 * end, in order, where the caller has made room for ASX_WINDOW of them.
 * O(ASX_WINDOW) plus the levels that move. */
static void window_move(asx_book *b, book_side *side, int64_t lo) {
  asx_level *old[ASX_WINDOW];
  memcpy(old, side->window, sizeof(old));
  memset(side->window, 0, sizeof(side->window));
  memset(side->live, 0, sizeof(side->live));
  int64_t old_lo = side->lo;
  side->lo = lo;
  for (size_t i = 0; i < ASX_WINDOW; i++) {
    asx_level *lvl = old[i];
    if (lvl == NULL)
      continue;
    uint64_t j = window_index(side, old_lo + (int64_t)i);
    if (j < ASX_WINDOW) {
      side->window[j] = lvl;
      if (lvl->count > 0)
        live_set(side, j);
    } else if (lvl->count > 0) {
      /* It leaves below the new window, better than every outer level. */
      assert(lvl->key < lo && side->n < side->cap &&
             (side->n == 0 || side->levels[side->n - 1]->key < lvl->key));
      side->levels[side->n++] = lvl;
    } else {
      asx_pool_put(b->level_pool, lvl);
    }
  }
  /* Outer keys are below the old window, so only a window that moved down
   * covers some: the best end of the array. */
  while (side->n > 0) {
    asx_level *lvl = side->levels[side->n - 1];
    uint64_t j = window_index(side, lvl->key);
    if (j >= ASX_WINDOW)
      break;
    side->n--;
    side->window[j] = lvl;
    if (lvl->count > 0)
      live_set(side, j);
    else
      side->empty--;
  }
  outer_pop_empty(b, side);
}

/* Where the window starts when it moves to put key at its centre: orders
 * arrive on both sides of the touch. */
static inline int64_t window_centre(int64_t key) {
  return key - ASX_WINDOW / 2;
}

/* The level for an order to rest on at price, made if needed; NULL when
 * memory runs out, and then nothing has changed. */
static inline __attribute__((always_inline)) asx_level *
level_get(asx_book *b, int s, int64_t price) {
  book_side *side = &b->sides[s];
  int64_t key = side_key(s, price);
  uint64_t i = window_index(side, key);
  if (i >= ASX_WINDOW) {
    if (side->best != &level_none && key < side->lo)
      return outer_get(b, side, key, price);
    /* The order will be the side's best (nothing with orders lies above
     * the window), or the side is empty: the window moves to centre on it.
     * What can fail comes first, so that a refusal leaves the window where
     * it was: room in the outer array for the levels with orders that
     * leave, and the new level (the moved window has none at key: it
     * covered nothing there before, and outer keys are below it). */
    if (side->best != &level_none && outer_reserve(side, ASX_WINDOW) != 0)
      return NULL;
    asx_level *lvl = level_new(b, price, key);
    if (lvl == NULL)
      return NULL;
    window_move(b, side, window_centre(key));
    side->window[window_index(side, key)] = lvl;
    return lvl;
  }
  asx_level *lvl = side->window[i];
  if (lvl == NULL) {
    lvl = level_new(b, price, key);
    if (lvl == NULL)
      return NULL;
    side->window[i] = lvl;
  }
  return lvl;
}

/* Called when the best level of a side, in the window at index i, has just
 * lost its last order: the best moves to the next level with orders. */
static __attribute__((noinline)) void best_emptied(asx_book *b,
                                                    book_side *side,
                                                    uint64_t i) {
  assert(side->best != &level_none && side->best->count == 0 &&
         side->best->total == 0 && side->window[i] == side->best &&
         live_get(side, i));
  /* Empty window levels stay for the next order at their price. */
  live_clear(side, i);
  int top = window_top(side);
  if (__builtin_expect(top < 0, 0)) {
    if (side->n > 0) {
      /* The window ran out of orders: it moves down to centre on the best
       * outer level. */
      window_move(b, side, window_centre(side->levels[side->n - 1]->key));
      top = window_top(side);
    } else {
      side->peak = 0;
    }
  }
  side->best = top >= 0 ? side->window[top] : &level_none;
  /* The side has no orders left exactly when it has no best. */
  assert(best_is_top(side) && (side->best != &level_none || side->n == 0));
}

/* Called when a level has just lost its last order. */
static void level_emptied(asx_book *b, int s, asx_level *lvl) {
  book_side *side = &b->sides[s];
  assert(lvl->count == 0 && lvl->total == 0);
  uint64_t i = window_index(side, lvl->key);
  if (i < ASX_WINDOW) {
    if (lvl == side->best) {
      best_emptied(b, side, i);
      return;
    }
    /* Empty window levels stay for the next order at their price. */
    assert(side->window[i] == lvl && live_get(side, i));
    live_clear(side, i);
    assert(side->best != &level_none && side->best->key > lvl->key);
    return;
  }
  /* An outer level: emptied in the middle it stays, counted, until the
   * array is compacted; at the best end it is popped. */
  assert(lvl->key < side->lo && side->n > 0 && side->best != &level_none);
  if (side->levels[side->n - 1] != lvl) {
    side->empty++;
    if (side->empty >= ASX_COMPACT_MIN && side->empty * 2 > side->n)
      outer_compact(b, side);
    return;
  }
  asx_pool_put(b->level_pool, side->levels[--side->n]);
  outer_pop_empty(b, side);
}

/* Takes a resting order out of its account and frees its slot, once it has
 * left its level; its status is left for the caller to set. */
static inline __attribute__((always_inline)) void order_leave(asx_book *b,
                                                              asx_order *o) {
  assert(o->slot != 0 && o->acct_->resting > 0 && b->resting > 0);
  asx_account *a = o->acct_;
  /* By address, like the level's links: whether the order is its account's
   * newest is a coin toss. */
  *(o->aprev_ != NULL ? &o->aprev_->anext_ : &a->orders_) = o->anext_;
  if (o->anext_ != NULL)
    o->anext_->aprev_ = o->aprev_;
  a->resting--;

  /* The slot stack and the finished list have room: neither holds more
   * entries than slots were handed out, and both grew when each was. */
  asx_venue *v = b->v;
  v->free_slots[v->n_free_slots++] = o->slot;
  v->finished[v->n_finished++] = o;
  b->resting--;
  o->slot = 0;
  o->prev_ = o->next_ = o->aprev_ = o->anext_ = NULL;
  o->level_ = NULL;
  o->acct_ = NULL;
}

/* Takes a resting order out of its level and its account, and frees its
 * slot; its status is left for the caller to set. */
static void order_unlink(asx_book *b, asx_order *o) {
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
  order_leave(b, o);
  if (lvl->count == 0)
    level_emptied(b, s, lvl);
}

/* Takes the filled order r, the oldest of the best level lvl of side s, out
 * of the book: order_unlink for the one order matching removes. */
static inline __attribute__((always_inline)) void
best_pop(asx_book *b, int s, asx_level *lvl, asx_order *r) {
  assert(lvl == b->sides[s].best && lvl->head == r && r->prev_ == NULL &&
         r->amount == 0);
  asx_order *next = r->next_;
  lvl->head = next;
  *(next != NULL ? &next->prev_ : &lvl->tail) = NULL;
  lvl->count--;
  assert((lvl->count == 0) == (lvl->head == NULL) &&
         (lvl->head == NULL) == (lvl->tail == NULL) &&
         (lvl->count == 0) == (lvl->total == 0) && lvl->total >= 0);
  order_leave(b, r);
  if (lvl->count == 0) {
    book_side *side = &b->sides[s];
    best_emptied(b, side, window_index(side, lvl->key));
  }
}

/* Joins the order o to the tail of lvl (time priority: the newest is
 * last), with a slot: a recycled one or a new one, picked without a branch
 * (whether one is free is a coin toss). The slot stack is never empty of
 * memory, so reading its top is safe even when it holds no slot. */
static inline __attribute__((always_inline)) void
level_append(asx_venue *v, asx_level *lvl, asx_order *o) {
  size_t n_free = v->n_free_slots;
  size_t top = n_free - (n_free != 0);
  uint32_t recycled = v->free_slots[top];
  o->slot = n_free != 0 ? recycled : v->next_slot + 1;
  v->next_slot += n_free == 0;
  v->n_free_slots = top;
  assert(lvl->price == o->price && (lvl->tail == NULL || lvl->tail->id < o->id));
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

/* Makes room for one more slot when every one handed out is taken: 0, or
 * ASX_E_NOMEM with nothing changed. A new slot reserves the room it will
 * need when its order leaves: the free stack and the finished list grow
 * with the slots, so neither ever holds more entries than they have. */
static inline int slot_room(const asx_venue *v) {
  return (v->next_slot < v->cap_free_slots) | (v->n_free_slots != 0);
}

static __attribute__((noinline)) int slots_grow(asx_venue *v) {
  assert(!slot_room(v));
  size_t cap = v->cap_free_slots ? v->cap_free_slots * 2 : 1024;
  /* Slots are uint32_t; memory runs out long before they do. */
  if (cap > UINT32_MAX)
    return ASX_E_NOMEM;
  uint32_t *slots = realloc(v->free_slots, cap * sizeof(*slots));
  if (slots == NULL)
    return ASX_E_NOMEM;
  v->free_slots = slots;
  asx_order **finished = realloc(v->finished, cap * sizeof(*finished));
  if (finished == NULL)
    return ASX_E_NOMEM;
  v->finished = finished;
  v->cap_free_slots = cap;
  return 0;
}

/* Whether the best bid reaches the best ask, which the book never allows. */
static inline int crossed(const asx_book *b) {
  const asx_level *bid = b->sides[ASX_BUY].best, *ask = b->sides[ASX_SELL].best;
  return bid != &level_none && ask != &level_none && bid->price >= ask->price;
}

/* The last steps of a rest, once o has joined its level lvl: the side's
 * peak, its account's list (newest first) and the counts. */
static inline __attribute__((always_inline)) void
rest_finish(asx_book *b, book_side *side, asx_level *lvl, asx_order *o,
            asx_account *a) {
  side->peak |= lvl->total;
  assert(lvl->total > 0 && lvl->total <= ASX_MAX_QTY &&
         side->best != &level_none && side->best->key >= lvl->key);
  o->aprev_ = NULL;
  o->anext_ = a->orders_;
  if (a->orders_ != NULL)
    a->orders_->aprev_ = o;
  a->orders_ = o;
  a->resting++;
  b->resting++;
  o->status = ASX_OPEN;
  /* Nothing opposite crosses it: matching went first. */
  assert(!crossed(b));
}

/* Ends the incoming order o without resting: the rest is cancelled. */
static void order_drop(asx_book *b, asx_order *o, int reason) {
  o->status = ASX_CANCELLED;
  o->reason = (uint8_t)reason;
  o->acct_ = NULL;
  event_cancel(b, o, o->amount, reason);
}

/* Rests what is left of the limit order o, of side s at price for account
 * a, on a level rest_fast does not find or in a slot it does not have; when
 * memory runs out, o is cancelled instead. Returns 0. */
static __attribute__((noinline)) int rest_slow(asx_book *b, asx_order *o,
                                               int s, int64_t price,
                                               asx_account *a) {
  asx_venue *v = b->v;
  /* A new slot reserves the room it will need when its order leaves. */
  if (!slot_room(v) && slots_grow(v) != 0) {
    order_drop(b, o, ASX_CANCEL_ASKED);
    return 0;
  }
  book_side *side = &b->sides[s];
  int64_t key = side_key(s, price);
  asx_level *lvl = level_get(b, s, price);
  if (lvl == NULL) {
    order_drop(b, o, ASX_CANCEL_ASKED);
    return 0;
  }
  int had_orders = lvl->count > 0;
  level_append(v, lvl, o);
  uint64_t i = window_index(side, key); /* the window may have moved */
  if (i < ASX_WINDOW) {
    assert(live_get(side, i) == had_orders);
    (void)had_orders;
    live_set(side, i);
    if (key > side->best->key)
      side->best = lvl;
    assert(best_is_top(side));
  } else {
    /* An outer level is worse than the best, which is in the window. */
    assert(key < side->lo && side->best != &level_none);
  }
  rest_finish(b, side, lvl, o, a);
  return 0;
}

/* Rests what is left of the limit order o, of side s at price for account
 * a; what is rare (a new level, no free slot) goes to rest_slow, by a tail
 * call, so that the common path saves no registers. Returns 0. */
static inline __attribute__((always_inline)) int
rest_fast(asx_book *b, asx_order *o, int s, int64_t price, asx_account *a) {
  assert(o->level_ == NULL && o->slot == 0 && o->price > 0 && o->amount > 0);
  assert(s == o->side && price == o->price && a == o->acct_);
  asx_venue *v = b->v;
  book_side *side = &b->sides[s];
  int64_t key = side_key(s, price);
  uint64_t i = window_index(side, key);
  /* Almost every order rests on a level the window already holds, in a
   * free slot: one predictable test for both. */
  if (__builtin_expect((i >= ASX_WINDOW) | !slot_room(v), 0) ||
      __builtin_expect(side->window[i] == NULL, 0))
    return rest_slow(b, o, s, price, a);
  asx_level *lvl = side->window[i];
  level_append(v, lvl, o);
  /* Whether the level was empty is a coin toss, so neither its bit nor
   * the best is set under that test: the bit of a level with orders is
   * set already, and such a level is not above the best. */
  assert(live_get(side, i) == (lvl->count > 1));
  live_set(side, i);
  side->best = key > side->best->key ? lvl : side->best;
  assert(best_is_top(side));
  rest_finish(b, side, lvl, o, a);
  return 0;
}

/* Trims an order to a smaller amount for good, keeping its level's total. */
static void order_trim(asx_book *b, asx_order *o, int64_t to, int64_t price,
                       int reason) {
  int64_t from = o->amount;
  assert(to >= 0 && to <= from);
  if (o->level_ != NULL) {
    o->level_->total -= from - to;
    assert(o->level_->total >= 0);
  }
  o->amount = to;
  event_trim(b, o, price, from, reason);
}

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

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
 * is cancelled. Out of line: a funded book never comes here. */
static __attribute__((noinline)) int64_t
fill_limited(asx_book *b, asx_order *o, asx_order *r, int s, int64_t price,
             uint32_t inst) {
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
    order_unlink(b, r);
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

/* Matches the incoming order o against the opposite side, whose best level
 * reaches limit (the key a level must reach to cross; -ASX_MAX_QTY, below
 * every level, for a market order), while it crosses. Returns with
 * o->amount the rest, o->filled what traded, and o->status ASX_CANCELLED
 * when it was stopped (trimmed to nothing or by a balance limit).
 * The side of the next order is a coin toss a processor cannot predict, so
 * nothing here branches on it: a fill's cost and quantity become the
 * incoming account's changes by a sign, and the resting account's by the
 * opposite one. */
static inline __attribute__((always_inline)) void
match(asx_book *b, asx_order *o, int64_t limit, uint32_t inst) {
  int s = o->side, opp = s ^ 1;
  book_side *side = &b->sides[opp];
  asx_level *lvl = side->best;
  assert(lvl->key >= limit && o->filled == 0);
  asx_account *incoming = o->acct_;
  int64_t *own = position(incoming, inst);
  /* neg is -1 when buying, else 0: (x ^ neg) - neg is -x when buying. */
  int64_t neg = -(int64_t)(s == ASX_BUY);
  int64_t left = o->amount;
  /* Read once: stores through the orders' byte fields could alias them. */
  const int record = b->v->record;
  /* The statistics take each fill's count, amount and cost as it comes,
   * and the prices once at the end: matching walks from the best level
   * outwards, so the prices traded lie between the first and the last.
   * first is the price of the level matched while nothing has traded. */
  asx_stats *st = &b->stats;
  const int64_t trades_before = st->trades;
  int64_t first = lvl->price;
  do {
    int64_t price = lvl->price;
    assert(lvl->count > 0 && lvl->head != NULL && lvl->total > 0);
    asx_order *r = lvl->head;
    asx_account *other = r->acct_;
    int64_t *theirs = position(other, inst);
    int64_t qty = min64(left, r->amount);
    /* No overflow: qty is at most r's amount, and r's price x amount was
     * checked when it came. */
    int64_t cost = price * qty;
    int64_t money = (cost ^ neg) - neg; /* the incoming account's change */
    int64_t stocks = (qty ^ ~neg) - ~neg;
    int64_t own_money = incoming->money + money;
    int64_t own_stocks = *own + stocks;
    int64_t their_money = other->money - money;
    int64_t their_stocks = *theirs - stocks;
    /* A fill that leaves every balance within 0 .. ASX_MAX_QTY, between two
     * accounts, is a plain one, which matching's rules leave whole: one
     * test, which a funded book always passes. */
    if (__builtin_expect(((uint64_t)(own_money | own_stocks | their_money |
                                     their_stocks) > (uint64_t)ASX_MAX_QTY) |
                             (incoming == other),
                         0)) {
      o->amount = left;
      qty = fill_limited(b, o, r, s, price, inst);
      left = o->amount;
      if (qty == FILL_STOP)
        break;
      if (qty == FILL_NEXT) {
        lvl = side->best;
        first = st->trades == trades_before ? lvl->price : first;
        continue;
      }
      cost = price * qty;
    } else {
      incoming->money = own_money;
      *own = own_stocks;
      other->money = their_money;
      *theirs = their_stocks;
    }

    left -= qty;
    o->filled += qty;
    /* fill_limited may have trimmed r. */
    int64_t theirs_left = r->amount - qty;
    r->amount = theirs_left;
    r->filled += qty;
    lvl->total -= qty;
    assert(incoming->money >= 0 && *own >= 0 && other->money >= 0 &&
           *theirs >= 0 && r->amount >= 0);
    assert(incoming->money <= ASX_MAX_QTY && *own <= ASX_MAX_QTY &&
           other->money <= ASX_MAX_QTY && *theirs <= ASX_MAX_QTY);
    st->trades++;
    u128_add(&st->notional, (uint64_t)cost);
    st->last = price;

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
      r->status = ASX_FILLED;
      best_pop(b, opp, lvl, r);
    }
    if (left == 0)
      break;
    lvl = side->best;
  } while (lvl->key >= limit);
  o->amount = left;
  if (st->trades == trades_before)
    return;
  int64_t high = first > st->last ? first : st->last;
  int64_t low = first < st->last ? first : st->last;
  if (trades_before == 0) {
    st->open = first;
    st->high = high;
    st->low = low;
  }
  st->high = high > st->high ? high : st->high;
  st->low = low < st->low ? low : st->low;
  u128_add(&st->volume, (uint64_t)o->filled);
}


/* The level at price on side s, with or without orders, or NULL. */
static const asx_level *level_at(const asx_book *b, int s, int64_t price) {
  if ((s != ASX_BUY && s != ASX_SELL) || price < 1 || price > ASX_MAX_QTY)
    return NULL;
  const book_side *side = &b->sides[s];
  int64_t key = side_key(s, price);
  uint64_t i = window_index(side, key);
  if (i < ASX_WINDOW)
    return side->window[i];
  int found;
  size_t j = outer_find(side, key, &found);
  return found ? side->levels[j] : NULL;
}

/* Whether amount more at price on side s would push that level's total
 * past ASX_MAX_QTY. The side's peak answers almost every call. */
static int level_full(asx_book *b, int s, int64_t price, int64_t amount) {
  book_side *side = &b->sides[s];
  if (side->peak <= ASX_MAX_QTY - amount)
    return 0;
  const asx_level *lvl = level_at(b, s, price);
  return lvl != NULL && lvl->total > ASX_MAX_QTY - amount;
}

/* A fill-or-kill check works on copies of an account's balances, made on
 * first use in the check. */
static inline asx_account *sim_account(asx_account *a, uint32_t inst,
                                       uint64_t mark) {
  if (a->sim_mark_ != mark) {
    a->sim_mark_ = mark;
    a->sim_money_ = a->money;
    a->sim_stocks_ = *position(a, inst);
  }
  return a;
}

/* Whether the incoming order o, of side s, would fill whole: match_side run
 * on copies of the balances, changing nothing in the book or the accounts.
 * Each rule of match_side is here in the same order; where matching would
 * trim or stop the incoming order, it cannot fill whole. A resting order
 * matching would trim to nothing is passed over, as matching drops it. The
 * levels are walked from the best: the window's from its top, then the
 * outer array's from its end. */
static int fok_fills(asx_book *b, const asx_order *o, int s) {
  int opp = s == ASX_BUY ? ASX_SELL : ASX_BUY;
  const book_side *side = &b->sides[opp];
  uint32_t inst = b->instrument;
  uint64_t mark = ++b->v->sim_mark;
  asx_account *incoming = sim_account(o->acct_, inst, mark);
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
      asx_account *other = sim_account(r->acct_, inst, mark);
      asx_account *buyer = s == ASX_BUY ? incoming : other;
      asx_account *seller = s == ASX_BUY ? other : incoming;
      int64_t qty = min64(need, r->amount);
      int64_t cost;
      /* Matching trims the buy order, then the sell order: the incoming
       * one when it is on that side, whoever the accounts are. */
      if (__builtin_mul_overflow(price, qty, &cost) || cost > buyer->sim_money_) {
        if (s == ASX_BUY)
          return 0;
        qty = buyer->sim_money_ / price;
      }
      if (qty > seller->sim_stocks_) {
        if (s == ASX_SELL)
          return 0;
        qty = seller->sim_stocks_;
      }
      if (qty == 0)
        continue;
      cost = price * qty;
      if (buyer != seller && (seller->sim_money_ > ASX_MAX_QTY - cost ||
                              buyer->sim_stocks_ > ASX_MAX_QTY - qty))
        return 0;
      buyer->sim_money_ -= cost;
      seller->sim_money_ += cost;
      buyer->sim_stocks_ += qty;
      seller->sim_stocks_ -= qty;
      need -= qty;
      if (need == 0)
        return 1;
    }
  }
  return 0;
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

/* Fills in the incoming order o once its checks have passed. */
static inline __attribute__((always_inline)) void
order_init(asx_book *b, asx_order *o, asx_account *acct, int side,
           int64_t price, int64_t amount, int flags) {
  asx_venue *v = b->v;
  /* Ids only grow: time priority and the event record rely on it. */
  assert(v->next_id > 0 && v->next_id < INT64_MAX);
  o->id = v->next_id++;
  o->price = price;
  o->amount = amount;
  o->filled = 0;
  o->trader = acct->id;
  o->side = (uint8_t)side;
  o->status = ASX_NEW;
  o->flags = (uint8_t)flags;
  o->reason = ASX_CANCEL_ASKED;
  o->slot = 0;
  o->instrument = b->instrument;
  o->acct_ = acct;
  o->prev_ = o->next_ = o->aprev_ = o->anext_ = NULL;
  o->level_ = NULL;
  v->n_finished = 0;
  b->stats.orders++;
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

/* Ends an order that crosses no further: a market order's rest is dropped,
 * never rested, and so is an IOC order's; a limit order's rests. */
static inline int rest_or_drop(asx_book *b, asx_order *o, int s, int64_t price,
                               asx_account *a, int flags) {
  if (price == 0 || (flags & ASX_IOC)) {
    order_drop(b, o, (flags & ASX_IOC) ? ASX_CANCEL_IOC : ASX_CANCEL_ASKED);
    return 0;
  }
  return rest_fast(b, o, s, price, a);
}

/* Matches the incoming order o, whose opposite best crosses limit, then
 * ends it: filled, stopped, or its rest dropped (a market or IOC order) or
 * rested. Returns 0. Out of line, so that the orders that cross nothing
 * (half of them) pay for none of the registers matching needs; with few
 * arguments, so that the call is a jump. Instrument 0 has a copy of its
 * own, where every account's position is at the same place. */
static __attribute__((noinline)) int submit_cross(asx_book *b, asx_order *o,
                                                  int64_t limit, int flags) {
  asx_account *acct = o->acct_;
  int s = o->side;
  int64_t price = o->price;
  if (b->instrument == 0)
    match(b, o, limit, 0);
  else
    match(b, o, limit, b->instrument);
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
  return rest_or_drop(b, o, s, price, acct, flags);
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
      order_drop(b, o, ASX_CANCEL_POST_ONLY);
      return 0;
    }
    if ((flags & ASX_FOK) && !fok_fills(b, o, side)) {
      order_drop(b, o, ASX_CANCEL_FOK);
      return 0;
    }
  }
  int64_t limit = cross_limit(side, price);
  if (b->sides[side ^ 1].best->key >= limit)
    return submit_cross(b, o, limit, flags);
  /* A FOK order that passed its check crosses. */
  assert(!(flags & ASX_FOK));
  return rest_or_drop(b, o, side, price, acct, flags);
}

/* The common order, a plain limit order, takes a path of its own: one test
 * admits it, and what it does not do inline it reaches by tail calls, so
 * that an order that crosses nothing saves few registers. */
static __attribute__((noinline)) int submit_plain(asx_book *b, asx_order *o,
                                                  asx_account *acct, int side,
                                                  int64_t price,
                                                  int64_t amount) {
  asx_venue *v = b->v;
  /* One test of bits combined without branches: a price and amount far
   * below ASX_MAX_QTY (so no product overflows; a market order's price 0
   * fails it), a valid side, an account bound to this exchange and holding
   * its instrument, a side whose peak has room for the amount (its level
   * cannot overflow). */
  uint64_t small = ((uint64_t)price - 1) | ((uint64_t)amount - 1);
  if (__builtin_expect(((unsigned)side > 1) | (small >= ASX_LEAN_QTY) |
                           (acct->venue_ != v) | !holds(acct, b->instrument) |
                           ((uint64_t)b->sides[side & 1].peak +
                                (uint64_t)amount >
                            (uint64_t)ASX_MAX_QTY),
                       0))
    return submit_any(b, o, acct, side, price, amount, 0);
  order_init(b, o, acct, side, price, amount, 0);
  int64_t limit = cross_limit(side, price);
  if (b->sides[side ^ 1].best->key >= limit)
    return submit_cross(b, o, limit, 0);
  return rest_fast(b, o, side, price, acct);
}

/* Recorded events take the general path, which checks an order once;
 * without a record the clock need not be read (only events carry its
 * time), and a plain order takes its own. This function saves no
 * registers, so that both are a jump away. */
int asx_book_submit(asx_book *b, asx_order *o, asx_account *acct, int side,
                    int64_t price, int64_t amount) {
  if (__builtin_expect(b->v->record | (acct == NULL), 0))
    return submit_any(b, o, acct, side, price, amount, 0);
  return submit_plain(b, o, acct, side, price, amount);
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
  order_unlink(b, o);
  o->status = ASX_CANCELLED;
  o->reason = (uint8_t)reason;
  b->stats.cancels++;
  event_cancel(b, o, o->amount, reason);
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
  event_cancel(b, o, 0, ASX_CANCEL_TOO_LATE);
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

int64_t asx_book_best_bid(const asx_book *b) {
  return b->sides[ASX_BUY].best->price;
}

int64_t asx_book_best_ask(const asx_book *b) {
  return b->sides[ASX_SELL].best->price;
}

size_t asx_book_depth(const asx_book *b, int s, int64_t *prices,
                      int64_t *amounts, uint32_t *counts, size_t max) {
  if (s != ASX_BUY && s != ASX_SELL)
    return 0;
  const book_side *side = &b->sides[s];
  size_t k = 0;
  /* The window from its top, then the outer array from its end. */
  for (size_t i = ASX_WINDOW + side->n; i-- > 0 && k < max;) {
    const asx_level *lvl =
        i < side->n ? side->levels[i] : side->window[i - side->n];
    if (lvl == NULL || lvl->count == 0)
      continue;
    if (prices != NULL)
      prices[k] = lvl->price;
    if (amounts != NULL)
      amounts[k] = lvl->total;
    if (counts != NULL)
      counts[k] = lvl->count;
    k++;
  }
  return k;
}

size_t asx_book_levels(const asx_book *b, int s) {
  if (s != ASX_BUY && s != ASX_SELL)
    return 0;
  const book_side *side = &b->sides[s];
  size_t live = 0;
  for (int w = 0; w < ASX_WINDOW_WORDS; w++)
    live += (size_t)__builtin_popcountll(side->live[w]);
  return live + side->n - side->empty;
}

asx_order *asx_book_level_first(const asx_book *b, int s, int64_t price) {
  const asx_level *lvl = level_at(b, s, price);
  return lvl != NULL ? lvl->head : NULL;
}

asx_order *asx_order_next(const asx_order *o) { return o->next_; }

int64_t asx_book_level_amount(const asx_book *b, int s, int64_t price) {
  const asx_level *lvl = level_at(b, s, price);
  return lvl != NULL ? lvl->total : 0;
}

asx_order *asx_account_first(const asx_account *acct) { return acct->orders_; }

asx_order *asx_account_next(const asx_order *o) { return o->anext_; }

/* The checks of one level: its orders, total and count. Adds its count to
 * *resting. */
static const char *level_check(const asx_level *lvl, int s, int64_t peak,
                               size_t *resting) {
  int64_t total = 0;
  uint32_t count = 0;
  const asx_order *prev = NULL;
  for (const asx_order *o = lvl->head; o != NULL; o = o->next_) {
    if (o->amount <= 0)
      return "a resting amount is not positive";
    if (o->amount > ASX_MAX_QTY - total)
      return "a level total passes ASX_MAX_QTY";
    if (o->price != lvl->price || o->side != s || o->level_ != lvl ||
        o->status != ASX_OPEN || o->prev_ != prev)
      return "an order is linked into the wrong level";
    if (prev != NULL && prev->id >= o->id)
      return "orders at one price out of time priority";
    total += o->amount;
    count++;
    prev = o;
  }
  if (lvl->tail != prev)
    return "a level's tail is wrong";
  if (total != lvl->total)
    return "a level total differs from the sum of its orders";
  if (total > peak)
    return "a level total is above its side's peak";
  if (count != lvl->count)
    return "a level count differs from its orders";
  *resting += count;
  return NULL;
}

const char *asx_book_check(const asx_book *b) {
  size_t resting = 0;
  const char *err;
  for (int s = 0; s < 2; s++) {
    const book_side *side = &b->sides[s];
    const asx_level *top = NULL;
    for (uint64_t i = 0; i < ASX_WINDOW; i++) {
      const asx_level *lvl = side->window[i];
      int live = live_get(side, i);
      if (lvl == NULL) {
        if (live)
          return "a window bit is set with no level";
        continue;
      }
      if (lvl->key != side_key(s, lvl->price))
        return "a level's key is wrong";
      if (lvl->key != side->lo + (int64_t)i)
        return "a window level is at the wrong index";
      if ((err = level_check(lvl, s, side->peak, &resting)) != NULL)
        return err;
      if (live != (lvl->count > 0))
        return "a window bit differs from its level";
      if (live)
        top = lvl;
    }
    if (side->best != (top != NULL ? top : &level_none))
      return "the best level is not the window's best";
    size_t empty = 0;
    for (size_t i = 0; i < side->n; i++) {
      const asx_level *lvl = side->levels[i];
      if (lvl->key != side_key(s, lvl->price))
        return "a level's key is wrong";
      if (i > 0 && side->levels[i - 1]->key >= lvl->key)
        return "levels out of order";
      if (lvl->key >= side->lo)
        return "an outer level is not below the window";
      if ((err = level_check(lvl, s, side->peak, &resting)) != NULL)
        return err;
      if (lvl->count == 0)
        empty++;
    }
    if (empty != side->empty)
      return "the empty level count is wrong";
    if (side->n > 0 && side->levels[side->n - 1]->count == 0)
      return "the best outer level is empty";
    if (side->n > 0 && top == NULL)
      return "orders rest beyond an empty window";
  }
  if (resting != b->resting)
    return "the resting count is wrong";
  if (crossed(b))
    return "the book is crossed";
  return NULL;
}
