/* asx_candles: see asx_candles.h. */
#include "asx_candles.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double ladder[] = {1, 10, 60, 300, 3600, 86400};
#define LADDER_LEN (sizeof ladder / sizeof ladder[0])

const double *asx_candles_ladder(size_t *count) {
  *count = LADDER_LEN;
  return ladder;
}

asx_candles *asx_candles_new(size_t max_slots) {
  asx_candles *cs = calloc(1, sizeof *cs);
  if (cs == NULL)
    return NULL;
  cs->max_slots_ = max_slots == 0 ? ASX_CANDLES_MAX_SLOTS : max_slots < 2 ? 2 : max_slots;
  cs->interval = ladder[0];
  return cs;
}

void asx_candles_free(asx_candles *cs) {
  if (cs == NULL)
    return;
  free(cs->slot);
  free(cs);
}

/* Folds candle b, which comes after a in time, into a. */
static void merge(asx_candle *a, const asx_candle *b) {
  a->orders += b->orders;
  a->cancels += b->cancels;
  if (b->trades == 0)
    return;
  if (a->trades == 0) {
    a->open = b->open;
    a->high = b->high;
    a->low = b->low;
  } else {
    if (b->high > a->high)
      a->high = b->high;
    if (b->low < a->low)
      a->low = b->low;
  }
  a->close = b->close;
  a->volume += b->volume;
  a->trades += b->trades;
}

/* Merges the slots into the next interval of the ladder, in place: slot i
 * goes to i / ratio, which is never after i. */
static void coarsen(asx_candles *cs) {
  size_t ratio, i, n;
  cs->hit_lo_ = cs->hit_hi_ = NAN; /* no time is in the slot last found */
  cs->rung_++;
  ratio = (size_t)(ladder[cs->rung_] / cs->interval);
  cs->interval = ladder[cs->rung_];
  n = cs->count == 0 ? 0 : (cs->count - 1) / ratio + 1;
  for (i = 0; i < cs->count; i++) {
    size_t k = i / ratio;
    if (k == i)
      continue;
    if (i % ratio == 0)
      cs->slot[k] = cs->slot[i];
    else
      merge(&cs->slot[k], &cs->slot[i]);
  }
  /* An empty fold has no array yet. */
  if (cs->count > n)
    memset(cs->slot + n, 0, (cs->count - n) * sizeof *cs->slot);
  cs->count = n;
}

/* Remembers slot k for the times that floor(t / interval) puts in it: from
 * k x interval (exact), and below (k + 1) x interval less a relative 2^-50,
 * which the quotient's rounding cannot carry to k + 1. */
static void remember(asx_candles *cs, double k) {
  cs->hit_ = (size_t)k;
  cs->hit_lo_ = k * cs->interval;
  cs->hit_hi_ = (k + 1) * cs->interval * (1 - 0x1p-50);
}

/* The slot of time t, opening the empty ones up to it; NULL when out of
 * memory. */
static asx_candle *slot_at(asx_candles *cs, double t) {
  double k;
  size_t i;
  if (!(t > 0))
    t = 0;
  /* Times come in order, most in the slot of the time before. */
  if (t >= cs->hit_lo_ && t < cs->hit_hi_)
    return &cs->slot[cs->hit_];
  k = floor(t / cs->interval);
  if (k < (double)cs->count) {
    remember(cs, k);
    return &cs->slot[(size_t)k];
  }
  while (k >= (double)cs->max_slots_ && cs->rung_ + 1 < (int)LADDER_LEN) {
    coarsen(cs);
    k = floor(t / cs->interval);
  }
  /* Times past the last slot count in it: not remembered. */
  if (k >= (double)cs->max_slots_)
    i = cs->max_slots_ - 1;
  else
    i = (size_t)k;
  if (i >= cs->cap_) {
    size_t cap = cs->cap_ ? cs->cap_ : 64;
    asx_candle *p;
    /* Doubled up to what max_slots_ allows, whatever size it was made
     * with: a size that wrapped past SIZE_MAX would shrink the array (or,
     * at 0, free it) under the slots still in use. */
    while (cap <= i && cap <= SIZE_MAX / 2)
      cap *= 2;
    if (cap <= i || cap > cs->max_slots_)
      cap = cs->max_slots_;
    if (cap > SIZE_MAX / sizeof *p || (p = realloc(cs->slot, cap * sizeof *p)) == NULL)
      return NULL;
    memset(p + cs->cap_, 0, (cap - cs->cap_) * sizeof *p);
    cs->slot = p;
    cs->cap_ = cap;
  }
  if (i >= cs->count)
    cs->count = i + 1;
  assert(cs->count <= cs->cap_ && cs->cap_ <= cs->max_slots_);
  if ((double)i == k)
    remember(cs, k);
  return &cs->slot[i];
}

static void add_trade(asx_candle *c, int64_t price, int64_t amount) {
  if (c->trades == 0) {
    c->open = c->high = c->low = price;
  } else {
    if (price > c->high)
      c->high = price;
    if (price < c->low)
      c->low = price;
  }
  c->close = price;
  c->volume += (double)amount;
  c->trades++;
}

int asx_candles_trade(asx_candles *cs, double t, int64_t price, int64_t amount) {
  asx_candle *c = slot_at(cs, t);
  if (c == NULL)
    return ASX_E_NOMEM;
  add_trade(c, price, amount);
  return 0;
}

int asx_candles_order(asx_candles *cs, double t) {
  asx_candle *c = slot_at(cs, t);
  if (c == NULL)
    return ASX_E_NOMEM;
  c->orders++;
  return 0;
}

int asx_candles_cancel(asx_candles *cs, double t) {
  asx_candle *c = slot_at(cs, t);
  if (c == NULL)
    return ASX_E_NOMEM;
  c->cancels++;
  return 0;
}

/* The records of one call mostly share a time: the slot found for one
 * serves the next ones at the same time. Finding a slot may merge the
 * slots, so it is looked up again for another time. */
int asx_candles_consume(asx_candles *cs, const asx_event *ev, size_t n) {
  return asx_candles_take(cs, ev, n) == n ? 0 : ASX_E_NOMEM;
}

size_t asx_candles_take(void *data, const asx_event *ev, size_t n) {
  asx_candles *cs = data;
  asx_candle *c = NULL;
  double last = NAN; /* equal to no time */
  size_t i;
  for (i = 0; i < n; i++) {
    const asx_event *e = &ev[i];
    if (e->instrument != cs->instrument ||
        (e->type != ASX_EV_TRADE && e->type != ASX_EV_ORDER && e->type != ASX_EV_CANCEL))
      continue;
    if (!(e->time == last)) {
      last = e->time;
      if (last >= cs->hit_lo_ && last < cs->hit_hi_)
        c = &cs->slot[cs->hit_];
      else if ((c = slot_at(cs, last)) == NULL)
        return i;
    }
    switch (e->type) {
    case ASX_EV_TRADE: add_trade(c, e->price, e->amount); break;
    case ASX_EV_ORDER: c->orders++; break;
    default: c->cancels++; break;
    }
  }
  return n;
}
