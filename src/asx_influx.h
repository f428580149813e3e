/* InfluxDB line protocol over HTTP: the agents' thread only formats points
 * into memory, and the requests run from the libuv loop's callbacks, through
 * the transport of asx_http.h (libcurl on the loop). The logger is the queue
 * and the policy: what to send, when, and what to do when it fails (its
 * files are listed in asx_influx_int.h). Nothing
 * here ever waits on the network unless asked to (asx_influx_flush and
 * asx_influx_close, at the end).
 *
 * Targets. InfluxDB 1.x: POST {url}/write?db=DB&precision=ns, with basic
 * authentication when a user is given; the database is created first with
 * POST {url}/query q=CREATE DATABASE "DB" (a no-op when it exists), and again
 * if a write says it is missing. InfluxDB 2.x: POST
 * {url}/api/v2/write?org=ORG&bucket=BUCKET&precision=ns with the header
 * Authorization: Token TOKEN. The token is never printed nor kept in an
 * error message.
 *
 * Points. Measurement = event type; the tags and fields are those of the
 * event table in asx_event.h (trader ids, sides, the trim reason and the
 * session are tags; integers have the i suffix), plus the field seq, the
 * event's number in this logger (from 1). InfluxDB keeps one
 * point per measurement, tag set and timestamp, so two trades of one sweep
 * at the same session time would overwrite each other. We make every
 * timestamp unique instead of adding a unique tag (a tag per point would
 * make a new series per point and blow up the server's index): a point's
 * timestamp is the session start (wall clock, ns) plus its session time in
 * ns, or the previous point's timestamp plus 1 ns when that is not larger,
 * within the times InfluxDB stores (a sum past them is its first or last
 * instant).
 * Timestamps thus strictly increase across all measurements, events keep
 * their order, and a burst of n events at one instant spreads over n ns.
 *
 * Batching and memory. Points go into batches of batch_size; a full batch
 * is sent at once, a partial one every flush_interval. One request is in
 * flight at a time, so points arrive in order. At most max_points wait in
 * memory; beyond that new points are dropped and counted, and stderr says
 * once that the logger is behind. A failed request (no connection, a
 * timeout, HTTP 5xx, 408 or 429, or one the transport could not start) is
 * retried with exponential backoff from retry_min to retry_max seconds. A refused request (another 4xx: a wrong
 * database, a bad token, a malformed point) is not retried: its points are
 * dropped, and the server's message is printed once and kept for
 * asx_influx_error.
 *
 * The loop. All handles live on uv_default_loop(). Timers are unreferenced,
 * so an idle logger never keeps a loop alive. asx_influx_flush and
 * asx_influx_close run the loop themselves: call them outside uv_run (after
 * a session, or from a plain process), never from a loop callback.
 */
#ifndef ASX_INFLUX_H
#define ASX_INFLUX_H

#include <stddef.h>
#include <stdint.h>

#include "asx_book.h"

/* ASX_FFI_BEGIN */
enum {
  ASX_INFLUX_V1 = 1,
  ASX_INFLUX_V2 = 2
};

/* Options; zero means the default given for each field. The strings are
 * copied by asx_influx_new. */
typedef struct asx_influx_opts {
  int version;          /* ASX_INFLUX_V1 or ASX_INFLUX_V2 */
  const char *url;      /* http://host:port, optionally with a path prefix */
  const char *db;       /* 1.x: required */
  const char *user;     /* 1.x: optional, with password */
  const char *password;
  const char *org;      /* 2.x: required */
  const char *bucket;   /* 2.x: required */
  const char *token;    /* 2.x: required */
  int64_t batch_size;   /* points per request; 5000 */
  double flush_interval; /* seconds between sends of a partial batch; 1 */
  int64_t max_points;   /* points kept in memory at most; 200,000 (about 30 MB) */
  double timeout;       /* seconds per request; 10 */
  double retry_min;     /* first retry delay, seconds; 0.1 */
  double retry_max;     /* longest retry delay, seconds; 10 */
  int quiet;            /* non-zero: print nothing on stderr */
} asx_influx_opts;

typedef struct asx_influx_stats {
  int64_t written;  /* points the server accepted */
  int64_t dropped;  /* points lost: queue full, refused, or left at close */
  int64_t queued;   /* points waiting or in flight */
  int64_t requests; /* requests completed, successful or not */
  int64_t failures; /* requests that failed, were refused or could not start */
} asx_influx_stats;

typedef struct asx_influx asx_influx;

/* A new logger in *out, which the caller owns and ends with
 * asx_influx_close; it sends nothing yet. Returns 0, or ASX_E_ARG (bad
 * options), ASX_E_NOMEM or ASX_E_IO, with a static reason in *err. */
int asx_influx_new(const asx_influx_opts *opts, asx_influx **out, const char **err);

/* The session tag (copied, escaped as a tag value; NULL or "" for none, the
 * default) and the wall-clock time in ns since the epoch at session time 0
 * (the default is when the logger was made). 0 or ASX_E_ARG. */
int asx_influx_set_session(asx_influx *ix, const char *session, int64_t start_ns);

/* Formats the book's events as points; returns how many were queued (the
 * others were dropped because the queue is full). */
int64_t asx_influx_events(asx_influx *ix, const asx_event *events, size_t n);

/* Queues one point made elsewhere: text is "measurement,tags fields" (the
 * caller escapes it); seq and the timestamp for session time are added.
 * Returns 1 when queued, 0 when dropped, or ASX_E_ARG. */
int asx_influx_point(asx_influx *ix, const char *text, size_t len, double time);

/* Sends what is queued and runs the loop until it is written, refused or
 * dropped, or until timeout seconds have passed. Returns the number of
 * points still queued (0 when all went). */
int64_t asx_influx_flush(asx_influx *ix, double timeout);

/* Flushes with that timeout, counts what is left as dropped, releases the
 * handles and frees ix. Returns the points dropped at close. */
int64_t asx_influx_close(asx_influx *ix, double timeout);
/* Closes ix without sending anything more, for a logger that its owner let
 * go unclosed (the Lua logger's finalizer, outside a running loop): what is
 * queued is dropped, and said on stderr unless quiet. */
void asx_influx_discard(asx_influx *ix);

/* Ends ix from inside a loop callback (the finalizer of a logger collected
 * while a session runs), where asx_influx_close must not run the loop: what
 * is queued is dropped (and said on stderr unless quiet), the handles close,
 * and ix's memory goes once the loop has closed them. */
void asx_influx_abandon(asx_influx *ix);

void asx_influx_stats_get(const asx_influx *ix, asx_influx_stats *out);

/* The latest error the server or the network reported, or NULL. */
const char *asx_influx_error(const asx_influx *ix);

/* The wall clock in ns since the epoch. */
int64_t asx_wall_ns(void);
/* ASX_FFI_END */

/* For tests: the text of the queued batches, oldest first, joined, in a new
 * string the caller frees. */
char *asx__influx_pending_text(const asx_influx *ix);

#endif
