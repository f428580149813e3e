/* The price index of one side: the window of levels around the touch and
 * the sorted outer array beyond it, where an order finds its level, and
 * how the best level moves when one empties. The design and its
 * invariants are at the top of asx_book.c. */
#include "asx_book_int.h"

#include <stdlib.h>
#include <string.h>

/* Compaction waits for this many empty levels, so a small book never pays. */
#define ASX_COMPACT_MIN 32

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
    if (side->best != &asx__book_level_none && key < side->lo)
      return outer_get(b, side, key, price);
    /* The order will be the side's best (nothing with orders lies above
     * the window), or the side is empty: the window moves to centre on it.
     * What can fail comes first, so that a refusal leaves the window where
     * it was: room in the outer array for the levels with orders that
     * leave, and the new level (the moved window has none at key: it
     * covered nothing there before, and outer keys are below it). */
    if (side->best != &asx__book_level_none &&
        outer_reserve(side, ASX_WINDOW) != 0)
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

/* Makes the slot arrays room for cap slots: 0, or ASX_E_NOMEM with nothing
 * changed. New arrays rather than grown ones: the free stack is empty when
 * it runs out of room, and of the finished list only the current call's
 * entries are worth a copy. malloc's new memory is not written, so the
 * pages of the room not used yet are never faulted in. */
static int slots_room(asx_venue *v, size_t cap) {
  assert(v->n_free_slots == 0 && cap > v->cap_free_slots);
  uint32_t *slots = malloc(cap * sizeof(*slots));
  asx_order **finished = malloc(cap * sizeof(*finished));
  asx_sim *sim = malloc((cap + 1) * sizeof(*sim));
  /* The table of the list entries' chunks, grown last, so that nothing is
   * left to undo when it fails. */
  asx_alink **alinks =
      slots != NULL && finished != NULL && sim != NULL
          ? realloc(v->alinks, (cap / ASX_SLOT_CHUNK + 1) * sizeof(*alinks))
          : NULL;
  if (alinks == NULL) {
    free(slots);
    free(finished);
    free(sim);
    return ASX_E_NOMEM;
  }
  v->alinks = alinks;
  if (v->n_finished > 0)
    memcpy(finished, v->finished, v->n_finished * sizeof(*finished));
  free(v->free_slots);
  free(v->finished);
  free(v->sim);
  v->free_slots = slots;
  v->finished = finished;
  v->sim = sim;
  v->cap_free_slots = cap;
  return 0;
}

/* Makes more slots when every one is taken: 0, or ASX_E_NOMEM with nothing
 * changed. The free stack and the finished list have room for every slot
 * made, so neither ever holds more entries than its array takes. */
static __attribute__((noinline)) int slots_grow(asx_venue *v) {
  assert(v->n_free_slots == 0 && v->made_slots <= v->cap_free_slots);
  if (v->made_slots == v->cap_free_slots) {
    size_t cap = v->cap_free_slots ? v->cap_free_slots * 2 : ASX_SLOT_CHUNK;
    /* Slots are uint32_t; memory runs out long before they do. */
    if (cap > UINT32_MAX || slots_room(v, cap) != 0)
      return ASX_E_NOMEM;
  }
  size_t n = v->cap_free_slots - v->made_slots;
  n = n < ASX_SLOT_CHUNK ? n : ASX_SLOT_CHUNK;
  /* The chunks of the new slots' list entries (the table has room). */
  while (v->n_chunks <= (v->made_slots + n) / ASX_SLOT_CHUNK) {
    asx_alink *chunk = malloc(ASX_SLOT_CHUNK * sizeof(*chunk));
    if (chunk == NULL)
      return ASX_E_NOMEM;
    v->alinks[v->n_chunks++] = chunk;
  }
  /* The new slots, the lowest on top: they are handed out in order. */
  for (size_t slot = v->made_slots + n; slot > v->made_slots; slot--)
    v->free_slots[v->n_free_slots++] = (uint32_t)slot;
  v->made_slots += n;
  return 0;
}

/* Rests what is left of the limit order o on a level rest_fast does not
 * find or in a slot it does not have; when memory runs out, o is cancelled
 * instead. Returns 0. Its side, price and account are read from o, where
 * they are set already, so that rest_fast keeps fewer values for this call
 * (one register fewer to save on every order's rest). */
__attribute__((noinline)) int asx__book_rest_slow(asx_book *b, asx_order *o) {
  int s = o->side;
  int64_t price = o->price;
  asx_account *a = o->acct_;
  asx_venue *v = b->v;
  /* A new slot reserves the room it will need when its order leaves. */
  if (v->n_free_slots == 0 && slots_grow(v) != 0) {
    asx__book_order_drop(b, o, ASX_CANCEL_ASKED);
    return 0;
  }
  book_side *side = &b->sides[s];
  int64_t key = side_key(s, price);
  asx_level *lvl = level_get(b, s, price);
  if (lvl == NULL) {
    asx__book_order_drop(b, o, ASX_CANCEL_ASKED);
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
    assert(key < side->lo && side->best != &asx__book_level_none);
  }
  return rest_finish(b, side, lvl, o, a, 0);
}

/* The best of a side whose window has no level with orders left: the
 * window moves down to centre on the best outer level, or the side is
 * empty. Out of line, so that asx__book_best_emptied and matching keep no
 * register across the move. */
__attribute__((noinline)) void asx__book_best_from_outer(asx_book *b,
                                                       book_side *side) {
  int top = -1;
  if (side->n > 0) {
    window_move(b, side, window_centre(side->levels[side->n - 1]->key));
    top = window_top(side);
  } else {
    side->peak = 0;
  }
  side->best = top >= 0 ? side->window[top] : &asx__book_level_none;
  /* The side has no orders left exactly when it has no best. */
  assert(best_is_top(side) &&
         (side->best != &asx__book_level_none || side->n == 0));
}

/* Called when the best level of a side, in the window, has just lost its
 * last order: the best moves to the next level with orders. */
__attribute__((noinline)) void
asx__book_best_emptied(asx_book *b, book_side *side) {
  uint64_t i = window_index(side, side->best->key);
  assert(side->best != &asx__book_level_none && side->best->count == 0 &&
         side->best->total == 0 && side->window[i] == side->best &&
         live_get(side, i));
  /* Empty window levels stay for the next order at their price. */
  live_clear(side, i);
  int top = window_top(side);
  if (__builtin_expect(top < 0, 0)) {
    asx__book_best_from_outer(b, side);
    return;
  }
  side->best = side->window[top];
  assert(best_is_top(side));
}

/* Called when a level has just lost its last order. */
void asx__book_level_emptied(asx_book *b, int s, asx_level *lvl) {
  book_side *side = &b->sides[s];
  assert(lvl->count == 0 && lvl->total == 0);
  uint64_t i = window_index(side, lvl->key);
  if (i < ASX_WINDOW) {
    if (lvl == side->best) {
      asx__book_best_emptied(b, side);
      return;
    }
    /* Empty window levels stay for the next order at their price. */
    assert(side->window[i] == lvl && live_get(side, i));
    live_clear(side, i);
    assert(side->best != &asx__book_level_none && side->best->key > lvl->key);
    return;
  }
  /* An outer level: emptied in the middle it stays, counted, until the
   * array is compacted; at the best end it is popped. */
  assert(lvl->key < side->lo && side->n > 0 &&
         side->best != &asx__book_level_none);
  if (side->levels[side->n - 1] != lvl) {
    side->empty++;
    if (side->empty >= ASX_COMPACT_MIN && side->empty * 2 > side->n)
      outer_compact(b, side);
    return;
  }
  asx_pool_put(b->level_pool, side->levels[--side->n]);
  outer_pop_empty(b, side);
}

/* The level at price on side s, with or without orders, or NULL. */
const asx_level *asx__book_level_at(const asx_book *b, int s, int64_t price) {
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
  const asx_level *lvl = asx__book_level_at(b, s, price);
  return lvl != NULL ? lvl->head : NULL;
}

asx_order *asx_order_next(const asx_order *o) { return o->next_; }

int64_t asx_book_level_amount(const asx_book *b, int s, int64_t price) {
  const asx_level *lvl = asx__book_level_at(b, s, price);
  return lvl != NULL ? lvl->total : 0;
}
