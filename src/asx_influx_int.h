/* The InfluxDB logger's insides, shared by the files that make it up
 * (internal: nothing else includes this header):
 *   asx_influx.c        the requests: the logger's life, what to send when,
 *                       the retry policy, flush and close;
 *   asx_influx_queue.c  the points: line protocol with unique timestamps,
 *                       the batches they wait in, and the bound on memory;
 *   asx_influx_api.c    what the requests hold, by server version.
 *
 * States. A batch moves: fill (the producer appends) -> ready list (full, or
 * sealed by the interval timer or a flush) -> in flight (the head of the
 * ready list, while the transport is busy) -> written or dropped. The
 * producer never touches a ready batch, so the body being sent stays put
 * while in flight. Everything runs on one thread: the producer's calls and
 * the loop's callbacks alternate, never overlap.
 */
#ifndef ASX_INFLUX_INT_H
#define ASX_INFLUX_INT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "asx_event.h"
#include "asx_http.h"
#include "asx_influx.h"
#include "asx_influx_api.h"

#define ASX__INFLUX_ERRBUF 512

typedef struct asx__influx_batch {
  struct asx__influx_batch *next;
  char *buf;
  size_t len, cap;
  int64_t points;
} asx__influx_batch;

enum { ASX__INFLUX_CREATE_DB, ASX__INFLUX_WRITE };

struct asx_influx {
  asx_influx_opts o; /* with the defaults filled in; strings are ours */

  /* The requests (asx_influx.c). */
  asx__influx_api api; /* what to send, by version */
  asx_http *http;
  uv_loop_t *loop;
  uv_timer_t interval, retry, deadline;
  int handles_open;  /* our libuv handles not yet closed */
  int abandoned;     /* freed by the last handle's close (asx_influx_abandon) */
  int phase;         /* ASX__INFLUX_CREATE_DB or ASX__INFLUX_WRITE */
  int inflight_kind; /* the phase of the request in flight */
  int backing_off;
  double backoff;    /* the next retry delay, seconds */
  int recreated;     /* the database was created again after a 404 */
  int deadline_hit;
  int warned_down, warned_refused;

  /* The queue (asx_influx_queue.c); asx_influx.c reads ready_head, the
   * batch to send, and queued. */
  asx__influx_batch *fill;
  asx__influx_batch *ready_head, *ready_tail;
  asx__influx_batch *spare; /* emptied batches kept for reuse, linked by next */
  int64_t queued;
  asx_event_fmt fmt; /* the line protocol, with the session tag */
  int64_t start_ns, last_ts, seq;
  int warned_behind;

  char error[ASX__INFLUX_ERRBUF];
  asx_influx_stats st;
};

/* ---- asx_influx.c ---- */

/* Starts the next request when there is one to start and nothing stands in
 * the way (a request in flight, or a backoff delay running). */
void asx__influx_kick(asx_influx *ix);

/* Keeps the message (fmt with a and b) as the latest error and prints it
 * on stderr the first time something of its kind (*once) happens, so a
 * long outage is one line. */
void asx__influx_report(asx_influx *ix, int *once, const char *fmt, const char *a,
                        const char *b);

/* ---- asx_influx_queue.c ---- */

/* Points go on the line protocol with no session tag, their timestamps
 * counted from now. */
void asx__influx_queue_init(asx_influx *ix);

/* Moves a partly filled batch to the ready list, to be sent without
 * waiting for it to fill. */
void asx__influx_seal(asx_influx *ix);

/* The server has answered for the batch at the head of the ready list:
 * all but lost of its points (0 <= lost <= its points) were written. The
 * batch leaves the queue. */
void asx__influx_batch_done(asx_influx *ix, int64_t lost);

/* Frees every batch, whatever its state; the queue is then unusable. */
void asx__influx_queue_free(asx_influx *ix);

#endif
