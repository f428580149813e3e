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

/* Sorts a list linked by anext_ by id, oldest first: a merge sort of runs
 * that double in length each pass (no recursion, no memory). */
static asx_order *sort_by_id(asx_order *list) {
  for (size_t run = 1;; run *= 2) {
    asx_order *p = list, *tail = NULL;
    size_t merges = 0;
    list = NULL;
    while (p != NULL) {
      merges++;
      asx_order *q = p;
      size_t np = 0, nq = run;
      while (np < run && q != NULL) {
        np++;
        q = q->anext_;
      }
      while (np > 0 || (nq > 0 && q != NULL)) {
        asx_order *e;
        if (np > 0 && (nq == 0 || q == NULL || p->id < q->id)) {
          e = p;
          p = p->anext_;
          np--;
        } else {
          e = q;
          q = q->anext_;
          nq--;
        }
        *(tail != NULL ? &tail->anext_ : &list) = e;
        tail = e;
      }
      p = q;
    }
    if (tail != NULL)
      tail->anext_ = NULL;
    if (merges <= 1)
      return list;
  }
}

/* Makes every account's list of the orders resting in v's books, and
 * keeps them from now on. Orders rest in the order of their ids, so a
 * list made by pushing them oldest first is the one the rests would have
 * made, newest first. */
static void lists_make(asx_venue *v) {
  asx_order *all = NULL;
  for (asx_book *b = v->first_book; b != NULL; b = b->next_book) {
    for (int s = 0; s < 2; s++) {
      const book_side *side = &b->sides[s];
      for (size_t i = 0; i < ASX_WINDOW + side->n; i++) {
        const asx_level *lvl = side_level(side, i);
        for (asx_order *o = lvl != NULL ? lvl->head : NULL; o != NULL;
             o = o->next_) {
          o->acct_->orders_ = NULL;
          o->anext_ = all;
          all = o;
        }
      }
    }
  }
  for (asx_order *o = sort_by_id(all), *next; o != NULL; o = next) {
    next = o->anext_;
    account_push(o->acct_, o);
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
  return acct->orders_;
}

asx_order *asx_account_next(const asx_order *o) {
  /* A resting order's account has its list once one was asked for. */
  if (o->status != ASX_OPEN || o->acct_ == NULL || !o->acct_->venue_->lists)
    return NULL;
  return o->anext_;
}
