/* Accounts: the balances the book checks and moves at each fill, an
 * account's position in each instrument, and the list of its resting
 * orders. */
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

asx_order *asx_account_first(const asx_account *acct) { return acct->orders_; }

asx_order *asx_account_next(const asx_order *o) { return o->anext_; }
