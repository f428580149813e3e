/* asx_candles: the book's event records folded into candles as they come,
 * for the report page (`asx-host --report`, the live page of --http).
 *
 * One slot per interval of session time, whatever happened in it: slot k
 * holds the trades, orders and cancels with k x interval <= time <
 * (k + 1) x interval, so memory grows with session time, not with trades.
 * The interval starts at the ladder's first (1 s); when a time needs more
 * than max_slots slots, every slot is merged into the next interval of the
 * ladder (1 s, 10 s, 1 min, 5 min, 1 h, 1 d), each a whole multiple of the
 * one before, so a merged candle is exactly the candle of the coarser
 * interval. At the last interval, times beyond max_slots x 1 d (over fifty
 * years at the default) count in the last slot.
 *
 * Folding an event is a few stores into the slots' array, with no
 * allocation but when the session enters a new stretch of time (the array
 * doubles). A trade sets the candle's prices and adds its amount to the
 * volume; an order or a cancel adds one to its count; a trim changes
 * nothing. A slot whose trades count is 0 has no candle: its prices are 0.
 *
 * A fold follows one instrument (instrument, 0 by default: prices of
 * different instruments do not mix, and the page follows the default one)
 * and passes over the others' records; one asx_candles per instrument would
 * draw them all.
 * Nothing here knows Lua; lua/asx/report/candles.lua reads the slots
 * through the FFI.
 */
#ifndef ASX_CANDLES_H
#define ASX_CANDLES_H

#include <stddef.h>
#include <stdint.h>

#include "asx_book.h"
#include "asx_err.h"

/* ASX_FFI_BEGIN */
enum { ASX_CANDLES_MAX_SLOTS = 20000 };

/* One interval's figures. Read-only outside asx_candles.c. */
typedef struct asx_candle {
  int64_t open, high, low, close; /* prices of the first, highest, lowest, last trade */
  double volume; /* the trades' amounts (exact to 2^53; no sum overflows) */
  int64_t trades, orders, cancels;
} asx_candle;

/* Read-only outside asx_candles.c: interval and count change as events
 * come; slot points at count candles, the first at time 0, and moves when
 * the array grows (read it again after each fold). */
typedef struct asx_candles {
  uint32_t instrument; /* public, read-write: the instrument whose records it folds */
  double interval;     /* seconds per slot */
  size_t count;    /* slots opened: up to the latest event's */
  asx_candle *slot;
  size_t cap_;
  size_t max_slots_;
  int rung_;
  /* The slot last found, for the times from hit_lo_ to below hit_hi_. */
  size_t hit_;
  double hit_lo_, hit_hi_;
} asx_candles;

/* The intervals of the ladder, finest first, in seconds; *count is set to
 * how many. The array is static. */
const double *asx_candles_ladder(size_t *count);

/* Makes an empty fold that keeps at most max_slots slots (0: the default,
 * ASX_CANDLES_MAX_SLOTS; at least 2). Returns NULL when out of memory. The
 * caller owns it and frees it with asx_candles_free. */
asx_candles *asx_candles_new(size_t max_slots);
void asx_candles_free(asx_candles *cs);

/* Folds n of the book's records of cs's instrument (trades, orders,
 * cancels; trims and other types change nothing). Returns 0, or ASX_E_NOMEM: the records from the
 * one that could not be placed on are left out. */
int asx_candles_consume(asx_candles *cs, const asx_event *ev, size_t n);
/* asx_candles_consume as a book's sink (asx_event_sink, asx_book.h): cs is
 * an asx_candles; returns how many records it took, n unless memory ran out
 * on the one after. */
size_t asx_candles_take(void *cs, const asx_event *ev, size_t n);

/* One trade, order or cancel at session time t (seconds, >= 0; a negative
 * or NaN time counts at 0). 0, or ASX_E_NOMEM (nothing changed). */
int asx_candles_trade(asx_candles *cs, double t, int64_t price, int64_t amount);
int asx_candles_order(asx_candles *cs, double t);
int asx_candles_cancel(asx_candles *cs, double t);
/* ASX_FFI_END */

#endif
