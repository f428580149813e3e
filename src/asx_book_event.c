/* The event record of an exchange's books, and its sink: what the book
 * records as it works, for the loggers. A failure to grow the buffer drops
 * the event rather than the trade: the book must stay consistent whatever
 * happens to its observers. Recording an event (event_push) is inline in
 * asx_book_int.h: a call that trades records one per order and per fill. */
#include "asx_book_int.h"

#include <stdlib.h>
#include <string.h>

void asx_book_record_events(asx_book *b, int on) {
  asx_venue *v = b->v;
  v->record = on != 0;
  for (asx_book *each = v->first_book; each != NULL; each = each->next_book)
    asx__book_set_admits(each);
}

const asx_event *asx_book_events(const asx_book *b, size_t *count) {
  *count = b->v->n_events;
  return b->v->events;
}

void asx_book_clear_events(asx_book *b) { b->v->n_events = 0; }

const asx_event *const *asx_book_event_buffer(const asx_book *b) {
  return (const asx_event *const *)&b->v->events;
}

size_t *asx_book_event_count(asx_book *b) { return &b->v->n_events; }

static void set_limit(asx_venue *v) {
  v->limit_events = v->sink != NULL && v->sink_batch < v->cap_events
                        ? v->sink_batch
                        : v->cap_events;
}

int asx_book_abandon_events(asx_book *b) {
  asx_venue *v = b->v;
  v->n_events = 0;
  if (v->events == NULL)
    return 0;
  asx_event **kept =
      realloc(v->abandoned, (v->n_abandoned + 1) * sizeof(*kept));
  if (kept == NULL)
    return -1;
  v->abandoned = kept;
  kept[v->n_abandoned++] = v->events;
  v->events = NULL;
  v->cap_events = 0;
  set_limit(v);
  return 0;
}

void asx_book_set_sink(asx_book *b, asx_event_sink sink, void *data,
                       size_t batch) {
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
int asx__book_events_room(asx_venue *v) {
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

void asx__book_event_trim(asx_book *b, const asx_order *o, int64_t price,
                          int64_t from, int reason) {
  asx_event *e;
  if (!b->v->record || (e = event_push(b, ASX_EV_TRIM, o)) == NULL)
    return;
  e->price = price;
  e->amount = from;
  e->amount2 = o->amount;
  e->reason = (uint8_t)reason;
}

void asx__book_event_cancel(asx_book *b, const asx_order *o, int64_t left,
                            int reason) {
  asx_event *e;
  if (!b->v->record || (e = event_push(b, ASX_EV_CANCEL, o)) == NULL)
    return;
  e->amount = left;
  e->reason = (uint8_t)reason;
}
