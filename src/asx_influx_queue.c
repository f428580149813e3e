/* The InfluxDB logger's queue of points (see asx_influx_int.h for the
 * files of the logger and the states of a batch): each event or point
 * becomes a line of line protocol with a unique timestamp, appended to the
 * batch being filled; a full batch goes to the ready list and wakes the
 * requests (asx_influx.c). At most max_points wait; beyond that a point is
 * dropped and counted, so a slow server never makes the queue grow.
 */
#include "asx_influx_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asx_err.h"

typedef asx__influx_batch batch;

int64_t asx_wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void asx__influx_queue_init(asx_influx *ix) {
  ix->start_ns = asx_wall_ns();
  asx_event_fmt_init(&ix->fmt, ASX_EVENT_LINE);
}

int asx_influx_set_session(asx_influx *ix, const char *session, int64_t start_ns) {
  if (!ix || (session && strlen(session) > 256)) return ASX_E_ARG;
  asx_event_fmt_session(&ix->fmt, session ? session : "", session ? strlen(session) : 0, 1);
  ix->start_ns = start_ns;
  return 0;
}

/* ---- batches ------------------------------------------------------------ */

static batch *batch_new(asx_influx *ix) {
  batch *b = ix->spare;
  if (b) {
    ix->spare = b->next;
    b->len = 0;
    b->points = 0;
    b->next = NULL;
    return b;
  }
  b = calloc(1, sizeof *b);
  if (!b) return NULL;
  /* About 150 bytes a point; the buffer grows if the guess is short. */
  b->cap = (size_t)ix->o.batch_size * 160 + 256;
  b->buf = malloc(b->cap);
  if (!b->buf) {
    free(b);
    return NULL;
  }
  return b;
}

/* Emptied batches are kept for reuse rather than freed: a batch buffer is
 * big enough for malloc to map it afresh each time, and touching new pages
 * for every batch costs the exchange more than formatting the points. There
 * are never more than max_points / batch_size + 1 batches, so memory stays
 * bounded by the queue's bound. */
static void batch_recycle(asx_influx *ix, batch *b) {
  b->next = ix->spare;
  ix->spare = b;
}

static int batch_reserve(batch *b, size_t need) {
  if (b->cap - b->len >= need) return 0;
  size_t cap = b->cap * 2;
  while (cap - b->len < need) cap *= 2;
  char *p = realloc(b->buf, cap);
  if (!p) return -1;
  b->buf = p;
  b->cap = cap;
  return 0;
}

static void ready_push(asx_influx *ix, batch *b) {
  b->next = NULL;
  if (ix->ready_tail) ix->ready_tail->next = b;
  else ix->ready_head = b;
  ix->ready_tail = b;
}

static batch *ready_pop(asx_influx *ix) {
  batch *b = ix->ready_head;
  if (b) {
    ix->ready_head = b->next;
    if (!ix->ready_head) ix->ready_tail = NULL;
  }
  return b;
}

void asx__influx_seal(asx_influx *ix) {
  if (ix->fill && ix->fill->points) {
    ready_push(ix, ix->fill);
    ix->fill = NULL;
  }
}

void asx__influx_batch_done(asx_influx *ix, int64_t lost) {
  batch *b = ready_pop(ix);
  ix->st.written += b->points - lost;
  ix->st.dropped += lost;
  ix->queued -= b->points;
  batch_recycle(ix, b);
}

static void batch_free(batch *b) {
  free(b->buf);
  free(b);
}

void asx__influx_queue_free(asx_influx *ix) {
  batch *b;
  while ((b = ready_pop(ix))) batch_free(b);
  if (ix->fill) batch_free(ix->fill);
  ix->fill = NULL;
  while ((b = ix->spare)) {
    ix->spare = b->next;
    batch_free(b);
  }
}

/* ---- points ------------------------------------------------------------- */

/* Makes room for one point of at most need bytes; NULL when it must be
 * dropped (the queue is full, or no memory). */
static batch *room_for_point(asx_influx *ix, size_t need) {
  if (ix->queued >= ix->o.max_points) {
    ix->st.dropped++;
    /* Said once: formatting the message per dropped point would make a
     * slow server slow the exchange down too. */
    if (ix->warned_behind) return NULL;
    char n[24];
    asx_fmt_int64(n, ix->o.max_points);
    asx__influx_report(ix, &ix->warned_behind,
                       "behind: %s points are waiting to be written; dropping points%s", n,
                       " until the server catches up");
    return NULL;
  }
  if (!ix->fill && !(ix->fill = batch_new(ix))) {
    ix->st.dropped++;
    return NULL;
  }
  if (batch_reserve(ix->fill, need)) {
    ix->st.dropped++;
    return NULL;
  }
  return ix->fill;
}

/* The timestamps InfluxDB stores (its minimum and maximum times). */
#define TS_MIN (INT64_MIN + 2)
#define TS_MAX (INT64_MAX - 1)

/* The session start plus time seconds, in ns, within TS_MIN .. TS_MAX:
 * both come from the user (a message's time, the start option), and their
 * sum in int64 could overflow. NaN counts as the earliest time. */
static int64_t ts_at(int64_t start, double time) {
  double ns = time * 1e9;
  int64_t off, ts;
  if (ns < -0x1p63 || !(ns == ns))
    off = INT64_MIN;
  else if (ns >= 0x1p63)
    off = INT64_MAX;
  else
    off = llround(ns);
  if (__builtin_add_overflow(start, off, &ts))
    ts = off > 0 ? TS_MAX : TS_MIN;
  return ts < TS_MIN ? TS_MIN : ts > TS_MAX ? TS_MAX : ts;
}

/* Ends a point's line with its seq field and its timestamp: the session
 * start plus its session time, or one ns after the previous point's when
 * that is not later (asx_influx.h says why), up to the last instant
 * InfluxDB stores. */
static char *put_ts(asx_influx *ix, char *p, double time) {
  int64_t ts = ts_at(ix->start_ns, time);
  if (ts <= ix->last_ts) ts = ix->last_ts < TS_MAX ? ix->last_ts + 1 : TS_MAX;
  ix->last_ts = ts;
  p = memcpy(p, ",seq=", 5), p += 5;
  p += asx_fmt_int64(p, ++ix->seq);
  *p++ = 'i';
  *p++ = ' ';
  p += asx_fmt_int64(p, ts);
  *p++ = '\n';
  return p;
}

static void point_added(asx_influx *ix, batch *b, char *end) {
  b->len = (size_t)(end - b->buf);
  b->points++;
  ix->queued++;
  if (b->points >= ix->o.batch_size) {
    ready_push(ix, b);
    ix->fill = NULL;
    asx__influx_kick(ix);
  }
}

int64_t asx_influx_events(asx_influx *ix, const asx_event *events, size_t n) {
  if (!ix || (!events && n)) return ASX_E_ARG;
  size_t need = asx_event_max_len(&ix->fmt) + 64;
  int64_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const asx_event *e = &events[i];
    if (!asx_event_is_book_type(e->type)) continue;
    batch *b = room_for_point(ix, need);
    if (!b) continue;
    char *p = asx_event_encode(&ix->fmt, b->buf + b->len, e);
    p = put_ts(ix, p, e->time);
    point_added(ix, b, p);
    k++;
  }
  return k;
}

int asx_influx_point(asx_influx *ix, const char *text, size_t len, double time) {
  if (!ix || !text || !len || memchr(text, '\n', len) || !memchr(text, ' ', len))
    return ASX_E_ARG;
  batch *b = room_for_point(ix, len + 64);
  if (!b) return 0;
  char *p = b->buf + b->len;
  memcpy(p, text, len);
  p = put_ts(ix, p + len, time);
  point_added(ix, b, p);
  return 1;
}

char *asx__influx_pending_text(const asx_influx *ix) {
  size_t n = 1;
  for (batch *b = ix->ready_head; b; b = b->next) n += b->len;
  if (ix->fill) n += ix->fill->len;
  char *s = malloc(n), *p = s;
  if (!s) return NULL;
  for (batch *b = ix->ready_head; b; b = b->next) p = memcpy(p, b->buf, b->len), p += b->len;
  if (ix->fill) p = memcpy(p, ix->fill->buf, ix->fill->len), p += ix->fill->len;
  *p = '\0';
  return s;
}
