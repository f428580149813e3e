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
 *   Once any caller asks for one (asx_account_first), every resting order
 *   also sits in a list of its account, newest first, so one trader's
 *   orders are found without scanning the book; until then no list is kept,
 *   and the first ask makes them all from the resting orders, sorted by id.
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
 *   asx_book_submit; everything else takes submit_any, which checks an
 *   order once whether events are recorded or not. An order that crosses
 *   leaves asx_book_submit before it saves a register, by a jump with its
 *   arguments as they came, to matching (asx__book_submit_plain, which
 *   fills the order in); a rest is done inline (submit_rest, whose rare
 *   cases go on to asx__book_rest_slow), with the side and key the test
 *   found, its registers saved only on its own path.
 *   Matching keeps the level it walks and takes the next order of that
 *   level without another look at the side; the statistics take each
 *   fill's price by one branch almost never taken (a price outside the
 *   low .. high seen, by an unsigned distance from low against high -
 *   low, which the book keeps), which costs fewer instructions than a
 *   maximum and a minimum of the first and last prices at each order's
 *   end, and the amount once.
 *   When the best level empties (a third of the fills in the benchmark),
 *   the next best is picked inline from the window's two words by a mask
 *   (window_top): GCC made branches of it, and which word holds the next
 *   best is a coin toss, the window being centred on the touch (0.15
 *   mispredicted branches an order fewer for 2.2 instructions more).
 *   Whether events are recorded is not a test of its own: the book's
 *   admits word, which the common test compares with the account's
 *   venue, has its top bit set while they are, and an incoming order's
 *   side, status, flags and reason are written as one word. These three
 *   took bench_book from 181.4 to 173.4 instructions an order (both
 *   replays, the book's functions, callgrind); the inline rest, one test
 *   for a new high or low, window_top for two words and matching given
 *   the side and the opposite best rather than reading them back took it
 *   to 168.7. Tried and left out, each more instructions: the
 *   limit and the opposite best passed from asx_book_submit to matching
 *   (the registers they come in cost two moves, 173.8), the resting
 *   order's amount kept in a register across a fill (a spill, +0.4), the
 *   instrument read again at each fill in the copy for instruments other
 *   than 0 (+3.6), and GCC's register allocator options (-fira-*,
 *   -fsched-pressure: nothing or worse). What is left is mostly memory:
 *   perf puts most of asx_book_submit's samples on the account's line
 *   and most of a rest's on the first store to the incoming order.
 *   The lists of accounts are what an order's leave costs most in memory:
 *   linked through the orders, its two neighbours in its account's list
 *   were other orders, a line each and seldom in the cache. So they are
 *   kept only once asked for (a C caller that never lists a trader's
 *   orders pays nothing; the replay of the benchmark is about a tenth
 *   faster without them), and by slot, in entries of 16 bytes that the
 *   book keeps in chunks (asx_alink): the neighbours' entries share lines,
 *   and an order is 80 bytes rather than 96, which the Lua library's
 *   collector allocates, sweeps and frees for every order that rests
 *   (about a tenth fewer last-level misses in the Lua replay, a sixth
 *   fewer written lines in the C one, the same instructions). A rest
 *   reaches the list by a tail call, so that it saves no register for it.
 *   The level's links stay in the order: matching reads an order's line
 *   anyway. A 64-byte order (one line in a caller's aligned array, 88
 *   bytes a cdata in LuaJIT's allocator where 96-byte ones take 120) with
 *   its level, the order before it and its list kept by slot was tried: a
 *   rest wrote the slot's entry, in a chunk found through a table (6
 *   instructions more a rest), and saved registers for it, 184.6
 *   instructions an order against 178.5 and 5 to 8% slower by CPU time in
 *   C, while the Lua replay took 604 instead of 594 (its collector's
 *   smaller objects gave about 15% fewer last-level misses, a few percent
 *   in CPU time, within this VM's noise). One array of entries instead of
 *   chunks was slower still: each doubling copied the entries and faulted
 *   in fresh pages (about 2 us each on this VM) in the replay.
 *
 * Memory
 *   The book never allocates orders: callers own them (a pool in C, the
 *   garbage collector in Lua). Levels come from a pool; the window holds at
 *   most ASX_WINDOW per side, so memory follows the levels in use, not the
 *   price range. The outer arrays, the free slot stack and the event buffer
 *   only grow to their peak size, so the steady state allocates nothing.
 *   Slots are made 1,024 at a time, when the free ones run out, into arrays
 *   whose room doubles: the stack is written only as deep as it gets, so a
 *   new book does not fault in pages of room it has not used. The slots'
 *   list entries come in chunks of 1,024 made with them, never moved, and
 *   written only once lists are kept.
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
 *   copies of the balances it would touch (asx__book_fok_fills, rule for
 *   rule the same as matching) and trades only when the whole amount would
 *   fill, so a refused FOK order changes nothing, not even the trims
 *   matching would have made. Post-only is refused when the opposite best
 *   crosses its price. An amend reduces a resting order in place, keeping
 *   its place.
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
 *
 * Files
 *   asx_book.c          this design; a book's life, its clock, statistics
 *   asx_book_int.h      the structures and the hot path's inline steps
 *   asx_book_index.c    the price index: window, outer array, the best level
 *   asx_book_submit.c   orders in and out: checks, submit, cancel, amend
 *   asx_book_match.c    matching, its balance rules, the fill-or-kill check
 *   asx_book_account.c  accounts and positions
 *   asx_book_event.c    the event record and its sink
 *   asx_book_check.c    the invariants, walked whole (for tests)
 */
#include "asx_book_int.h"

#include <stdlib.h>
#include <string.h>

/* Never written: nothing crosses it. */
asx_level asx__book_level_none = {.key = INT64_MIN};

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
  b->sides[ASX_BUY].best = b->sides[ASX_SELL].best = &asx__book_level_none;
  b->instrument = v->books++;
  v->refs++;
  b->next_book = v->first_book;
  v->first_book = b;
  asx__book_set_admits(b);
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

/* Levels whose orders asx_book_free walks at once. */
#define ASX_FREE_LISTS 64

/* Marks the orders of lists[0 .. n - 1], each a level's list from its
 * head, cancelled: a step of each list in turn, so that the fetches of
 * orders of different levels overlap (a list's next order is known only
 * once its current one has arrived, and few of them are in the cache). */
static void cancel_lists(asx_order **lists, size_t n) {
  while (n > 0) {
    for (size_t i = 0; i < n;) {
      asx_order *o = lists[i], *next = o->next_;
      o->status = ASX_CANCELLED;
      o->slot = 0;
      o->level_ = NULL;
      o->prev_ = o->next_ = NULL;
      o->acct_ = NULL;
      if (next != NULL)
        lists[i++] = next;
      else
        lists[i] = lists[--n];
    }
  }
}

void asx_book_free(asx_book *b) {
  if (b == NULL)
    return;
  /* Orders still resting belong to their callers; they are only marked
   * cancelled so that nothing points into freed levels. Their accounts are
   * not touched: a garbage collector may already have freed them, and an
   * account is used with one book only. */
  asx_order *lists[ASX_FREE_LISTS];
  size_t n = 0;
  for (int s = 0; s < 2; s++) {
    book_side *side = &b->sides[s];
    for (size_t i = 0; i < ASX_WINDOW + side->n; i++) {
      const asx_level *lvl = side_level(side, i);
      if (lvl == NULL || lvl->head == NULL)
        continue;
      lists[n++] = lvl->head;
      if (n == ASX_FREE_LISTS) {
        cancel_lists(lists, n);
        n = 0;
      }
    }
  }
  cancel_lists(lists, n);
  asx_book_free_orphaned(b);
}

void asx_book_free_orphaned(asx_book *b) {
  if (b == NULL)
    return;
  for (int s = 0; s < 2; s++)
    free(b->sides[s].levels);
  asx_pool_free(b->level_pool);
  asx_venue *v = b->v;
  asx_book **at = &v->first_book;
  while (*at != b)
    at = &(*at)->next_book;
  *at = b->next_book;
  free(b);
  if (--v->refs > 0)
    return;
  free(v->free_slots);
  free(v->finished);
  free(v->sim);
  for (size_t i = 0; i < v->n_chunks; i++)
    free(v->alinks[i]);
  free(v->alinks);
  free(v->events);
  for (size_t i = 0; i < v->n_abandoned; i++)
    free(v->abandoned[i]);
  free(v->abandoned);
  free(v);
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

const asx_stats *asx_book_stats(const asx_book *b) { return &b->stats; }

double asx_u128_double(asx_u128 v) {
  /* The compiler's conversion rounds once, to nearest; summing two doubles
   * would round twice. */
  return (double)(((unsigned __int128)v.hi << 64) | v.lo);
}

asx_order *const *asx_book_finished(const asx_book *b, size_t *count) {
  *count = b->v->n_finished;
  return b->v->finished;
}

size_t asx_book_resting(const asx_book *b) { return b->resting; }
