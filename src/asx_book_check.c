/* The book's invariants, checked by walking all of it (for tests; Debug
 * builds also assert them as they change, at a constant cost). */
#include "asx_book_int.h"

/* Whether the resting order o has its place in its account's list, newest
 * first. */
static int in_list(const asx_venue *v, const asx_order *o) {
  const asx_alink *l = slot_link(v, o->slot);
  if (l->order != o)
    return 0;
  if (l->newer == 0 ? o->acct_->newest_ != o->slot
                    : slot_link(v, l->newer)->older != o->slot)
    return 0;
  return l->older == 0 || (slot_link(v, l->older)->newer == o->slot &&
                           slot_link(v, l->older)->order->id < o->id);
}

/* The checks of one level: its orders, total and count. Adds its count to
 * *resting. */
static const char *level_check(const asx_venue *v, const asx_level *lvl,
                               int s, int64_t peak, size_t *resting) {
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
    /* Its account's list, newest first, when lists are kept. */
    if (o->slot == 0 || o->slot > v->made_slots)
      return "a resting order has no slot";
    if (v->lists && !in_list(v, o))
      return "an order is out of its account's list";
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
      if ((err = level_check(b->v, lvl, s, side->peak, &resting)) != NULL)
        return err;
      if (live != (lvl->count > 0))
        return "a window bit differs from its level";
      if (live)
        top = lvl;
    }
    if (side->best != (top != NULL ? top : &asx__book_level_none))
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
      if ((err = level_check(b->v, lvl, s, side->peak, &resting)) != NULL)
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
