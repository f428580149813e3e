/* Helpers shared by the cmocka tests of spec/c. Only test_*.c files there
 * are built as tests, so this header is included, never compiled alone;
 * everything in it is static inline. */
#ifndef ASX_TEST_UTIL_H
#define ASX_TEST_UTIL_H

#include <stdint.h>
#include <string.h>

#include "asx_book.h"

/* A book event with every field given, as the book would record it, of the
 * default instrument "STOCK". */
static inline asx_event ev(int type, double time, int64_t price, int64_t amount,
                           int64_t amount2, int64_t order, int64_t order2, uint32_t trader,
                           uint32_t trader2, int side, int reason) {
  asx_event e;
  memset(&e, 0, sizeof e);
  e.type = (uint8_t)type;
  e.time = time;
  e.price = price;
  e.amount = amount;
  e.amount2 = amount2;
  e.order = order;
  e.order2 = order2;
  e.trader = trader;
  e.trader2 = trader2;
  e.side = (uint8_t)side;
  e.reason = (uint8_t)reason;
  e.instrument_name = "STOCK";
  return e;
}

#endif
