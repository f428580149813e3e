/* Accounts: the balances the book checks and moves at each fill, an
 * account's position in each instrument, and the list of its resting
 * orders, kept once asked for. */
#include "asx_book_int.h"

int asx_account_set(asx_account *acct, int64_t money, int64_t stocks) {
  if (money < 0 || money > ASX_MAX_QTY || stocks < 0 || stocks > ASX_MAX_QTY)
    return ASX_E_ARG;
  acct->money = money;
  acct->stocks = stocks;
  return 0;
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

int asx__book_account_push(asx_venue *v, asx_account *a, asx_order *o) {
  uint32_t slot = o->slot, older = a->newest_;
  *slot_link(v, slot) = (asx_alink){.order = o, .newer = 0, .older = older};
  slot_link(v, older)->newer = slot; /* slot 0's when it is the first */
  a->newest_ = slot;
  return 0;
}

/* Sorts a list of slots linked by their entries' older by the ids of their
 * orders, oldest first: a merge sort of runs that double in length each
 * pass (no recursion, no memory). */
static uint32_t sort_by_id(const asx_venue *v, uint32_t list) {
  for (size_t run = 1;; run *= 2) {
    uint32_t p = list, tail = 0;
    size_t merges = 0;
    list = 0;
    while (p != 0) {
      merges++;
      uint32_t q = p;
      size_t np = 0, nq = run;
      while (np < run && q != 0) {
        np++;
        q = slot_link(v, q)->older;
      }
      while (np > 0 || (nq > 0 && q != 0)) {
        uint32_t e;
        if (np > 0 && (nq == 0 || q == 0 ||
                       slot_link(v, p)->order->id < slot_link(v, q)->order->id)) {
          e = p;
          p = slot_link(v, p)->older;
          np--;
        } else {
          e = q;
          q = slot_link(v, q)->older;
          nq--;
        }
        *(tail != 0 ? &slot_link(v, tail)->older : &list) = e;
        tail = e;
      }
      p = q;
    }
    if (tail != 0)
      slot_link(v, tail)->older = 0;
    if (merges <= 1)
      return list;
  }
}

/* Makes every account's list of the orders resting in v's books, and
 * keeps them from now on. Orders rest in the order of their ids, so a
 * list made by pushing them oldest first is the one the rests would have
 * made, newest first. */
static void lists_make(asx_venue *v) {
  uint32_t all = 0;
  for (asx_book *b = v->first_book; b != NULL; b = b->next_book) {
    for (int s = 0; s < 2; s++) {
      const book_side *side = &b->sides[s];
      for (size_t i = 0; i < ASX_WINDOW + side->n; i++) {
        const asx_level *lvl = side_level(side, i);
        for (asx_order *o = lvl != NULL ? lvl->head : NULL; o != NULL;
             o = o->next_) {
          o->acct_->newest_ = 0;
          asx_alink *l = slot_link(v, o->slot);
          l->order = o;
          l->older = all;
          all = o->slot;
        }
      }
    }
  }
  for (uint32_t slot = sort_by_id(v, all), next; slot != 0; slot = next) {
    asx_order *o = slot_link(v, slot)->order;
    next = slot_link(v, slot)->older;
    asx__book_account_push(v, o->acct_, o);
  }
  v->lists = 1;
}

asx_order *asx_account_first(const asx_account *acct) {
  /* Without a venue, the account never placed an order. */
  asx_venue *v = acct->venue_;
  if (v == NULL)
    return NULL;
  if (!v->lists)
    lists_make(v);
  return acct->newest_ != 0 ? slot_link(v, acct->newest_)->order : NULL;
}

asx_order *asx_account_next(const asx_order *o) {
  /* A resting order's account has its list once one was asked for. */
  if (o->status != ASX_OPEN || o->acct_ == NULL || !o->acct_->venue_->lists)
    return NULL;
  const asx_venue *v = o->acct_->venue_;
  uint32_t older = slot_link(v, o->slot)->older;
  return older != 0 ? slot_link(v, older)->order : NULL;
}
