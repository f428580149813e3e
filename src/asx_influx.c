/* The InfluxDB logger: its queue of batches and its retry policy; the
 * design is in asx_influx.h, and the requests go through asx_http.h.
 *
 * States. A batch moves: fill (the producer appends) -> ready list (full, or
 * sent by the interval timer) -> in flight (the head of the ready list,
 * while the transport is busy) -> written or dropped. The producer never
 * touches a ready batch, so the body being sent stays put while in flight.
 * Everything runs on one thread: the producer's calls and the loop's
 * callbacks alternate, never overlap.
 */
#include "asx_influx.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "asx_err.h"
#include "asx_event.h"
#include "asx_http.h"
#include "asx_influx_api.h"

#define ERRBUF 512

typedef struct batch {
  struct batch *next;
  char *buf;
  size_t len, cap;
  int64_t points;
} batch;

enum { PHASE_CREATE_DB, PHASE_WRITE };

struct asx_influx {
  asx_influx_opts o; /* with the defaults filled in; strings are ours */
  asx__influx_api api; /* what to send, by version */
  asx_http *http;
  uv_loop_t *loop;
  uv_timer_t interval, retry, deadline;
  int handles_open; /* our libuv handles not yet closed */

  batch *fill;
  batch *ready_head, *ready_tail;
  batch *spare; /* emptied batches kept for reuse, linked by next */
  int64_t queued;

  int phase;
  int inflight_kind; /* PHASE_CREATE_DB or PHASE_WRITE */
  int backing_off;
  double backoff;    /* the next retry delay, seconds */
  int recreated;     /* the database was created again after a 404 */
  int deadline_hit;

  asx_event_fmt fmt; /* the line protocol, with the session tag */
  int64_t start_ns, last_ts, seq;

  int warned_behind, warned_down, warned_refused;
  char error[ERRBUF];
  asx_influx_stats st;
};

int64_t asx_wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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
static void batch_free(asx_influx *ix, batch *b) {
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

/* ---- messages ----------------------------------------------------------- */

/* Keeps msg as the latest error and prints it on stderr the first time
 * something of its kind (*once) happens, so a long outage is one line. */
static void report(asx_influx *ix, int *once, const char *fmt, const char *a, const char *b) {
  snprintf(ix->error, sizeof ix->error, fmt, a, b);
  if (*once) return;
  *once = 1;
  if (!ix->o.quiet) fprintf(stderr, "asx: influxdb: %s\n", ix->error);
}

/* ---- requests ----------------------------------------------------------- */

static void kick(asx_influx *ix);
static void retry_later(asx_influx *ix);

/* Sends the database creation, or the batch at the head of the ready list,
 * which stays there until the server has answered. A request the transport
 * cannot start (curl refused it, or memory ran out) never reaches
 * request_done: it counts as a failure and waits for the backoff, as a
 * request that found no server does, and its batch stays at the head to be
 * sent once, whole, by the retry. */
static void start_request(asx_influx *ix) {
  ix->inflight_kind = ix->phase;
  int rc;
  if (ix->phase == PHASE_CREATE_DB) {
    rc = asx_http_post(ix->http, ix->api.query_url, ix->api.query_headers,
                       ix->api.create_body, strlen(ix->api.create_body));
  } else {
    batch *b = ix->ready_head;
    rc = asx_http_post(ix->http, ix->api.write_url, ix->api.write_headers, b->buf,
                       b->len);
  }
  if (rc == 0) return;
  ix->st.failures++;
  report(ix, &ix->warned_down, "cannot start a request to %s (%s); retrying with backoff",
         ix->o.url, asx_strerror(rc));
  retry_later(ix);
}

/* Starts the next request when there is one to start and nothing stands in
 * the way (a request in flight, or a backoff delay running). */
static void kick(asx_influx *ix) {
  if (asx_http_busy(ix->http) || ix->backing_off) return;
  if (ix->phase == PHASE_CREATE_DB || ix->ready_head) start_request(ix);
}

static void on_retry(uv_timer_t *t) {
  asx_influx *ix = t->data;
  ix->backing_off = 0;
  kick(ix);
}

static void retry_later(asx_influx *ix) {
  ix->backing_off = 1;
  uv_timer_start(&ix->retry, on_retry, (uint64_t)(ix->backoff * 1000), 0);
  ix->backoff *= 2;
  if (ix->backoff > ix->o.retry_max) ix->backoff = ix->o.retry_max;
}

/* What the transport says of each request: the policy. */
static void request_done(void *data, int ok, long status, const char *err, char *body) {
  asx_influx *ix = data;
  ix->st.requests++;
  int creating = ix->inflight_kind == PHASE_CREATE_DB;

  if (ok && status >= 200 && status < 300) {
    ix->backoff = ix->o.retry_min;
    if (creating) {
      ix->phase = PHASE_WRITE;
    } else {
      batch *b = ready_pop(ix);
      ix->st.written += b->points;
      ix->queued -= b->points;
      batch_free(ix, b);
    }
    kick(ix);
    return;
  }
  ix->st.failures++;
  char what[64];
  if (!ok || status >= 500 || status == 408 || status == 429) {
    /* The server is down or slow: the points stay queued for a retry. */
    const char *why = ok ? asx__influx_server_message(body) : err;
    if (ok) {
      snprintf(what, sizeof what, "HTTP %ld", status);
      report(ix, &ix->warned_down, "cannot write (%s: %s); retrying with backoff", what, why);
    } else {
      report(ix, &ix->warned_down, "cannot reach the server at %s (%s); retrying with backoff",
             ix->o.url, why);
    }
    retry_later(ix);
    return;
  }
  const char *msg = asx__influx_server_message(body);
  if (!creating && ix->o.version == ASX_INFLUX_V1 && status == 404 && !ix->recreated &&
      strstr(msg, "database not found")) {
    /* The database went away (or was never there, if creating it was
     * refused quietly): create it once more and resend. */
    ix->recreated = 1;
    ix->phase = PHASE_CREATE_DB;
    kick(ix);
    return;
  }
  /* The message keeps the server's own words, for the summary and the
   * tests; the URL is not in it, so neither is anything secret. */
  snprintf(what, sizeof what, "%s (HTTP %ld)", creating ? "database creation" : "write", status);
  report(ix, &ix->warned_refused, "the server refused the %s: %s", what, msg);
  if (creating) {
    ix->phase = PHASE_WRITE; /* try the writes anyway; they say why */
  } else {
    batch *b = ready_pop(ix);
    int64_t lost = b->points;
    /* A 1.x "partial write" stored all but the points it names as dropped. */
    const char *d = strstr(msg, "dropped=");
    if (d && strstr(msg, "partial write")) {
      int64_t n = strtoll(d + 8, NULL, 10);
      if (n >= 0 && n <= b->points) lost = n;
    }
    ix->st.written += b->points - lost;
    ix->st.dropped += lost;
    ix->queued -= b->points;
    batch_free(ix, b);
  }
  kick(ix);
}

static void on_handle_closed(uv_handle_t *h) {
  asx_influx *ix = h->data;
  ix->handles_open--;
}

static void on_interval(uv_timer_t *t) {
  asx_influx *ix = t->data;
  if (ix->fill && ix->fill->points) {
    ready_push(ix, ix->fill);
    ix->fill = NULL;
  }
  kick(ix);
}

/* ---- construction ------------------------------------------------------- */

static void free_strings(asx_influx *ix) {
  free((char *)ix->o.url);
  free((char *)ix->o.db);
  free((char *)ix->o.user);
  free((char *)ix->o.password);
  free((char *)ix->o.org);
  free((char *)ix->o.bucket);
  free((char *)ix->o.token);
  asx__influx_api_free(&ix->api);
}

/* Copies opts into ix->o with the defaults filled in; 0 or ASX_E_NOMEM. */
static int take_opts(asx_influx *ix, const asx_influx_opts *opts) {
  ix->o = *opts;
  if (!ix->o.batch_size) ix->o.batch_size = 5000;
  if (!ix->o.flush_interval) ix->o.flush_interval = 1;
  if (!ix->o.max_points) ix->o.max_points = 200000;
  if (ix->o.max_points < ix->o.batch_size) ix->o.max_points = ix->o.batch_size;
  if (!ix->o.timeout) ix->o.timeout = 10;
  if (!ix->o.retry_min) ix->o.retry_min = 0.1;
  if (!ix->o.retry_max) ix->o.retry_max = 10;
  if (ix->o.retry_max < ix->o.retry_min) ix->o.retry_max = ix->o.retry_min;
  const char **strings[] = {&ix->o.url, &ix->o.db, &ix->o.user, &ix->o.password,
                            &ix->o.org, &ix->o.bucket, &ix->o.token};
  int ok = 1;
  for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
    const char *given = *strings[i];
    *strings[i] = given ? strdup(given) : NULL;
    if (given && !*strings[i]) ok = 0;
  }
  return ok ? 0 : ASX_E_NOMEM;
}

int asx_influx_new(const asx_influx_opts *opts, asx_influx **out, const char **err) {
  static const char *dummy;
  if (!err) err = &dummy;
  *out = NULL;
  if ((*err = asx__influx_check_opts(opts))) return ASX_E_ARG;
  asx_influx *ix = calloc(1, sizeof *ix);
  if (!ix) {
    *err = "out of memory";
    return ASX_E_NOMEM;
  }
  ix->loop = uv_default_loop();
  *err = "out of memory";
  int rc = take_opts(ix, opts);
  /* On failure the transport says why in *err. */
  if (rc == 0)
    rc = asx_http_new(ix->loop, ix->o.timeout, ix->o.user, ix->o.password, request_done, ix,
                      &ix->http, err);
  if (rc == 0 && (rc = asx__influx_api_init(&ix->api, &ix->o, ix->http)) != 0)
    *err = "out of memory";
  if (rc != 0) {
    asx_http_free(ix->http);
    free_strings(ix);
    free(ix);
    return rc;
  }
  /* 1.x creates the database before the first write; 2.x buckets are
   * made by their owner. */
  ix->phase = ix->o.version == ASX_INFLUX_V1 ? PHASE_CREATE_DB : PHASE_WRITE;
  ix->backoff = ix->o.retry_min;
  uv_timer_t *timers[3] = {&ix->interval, &ix->retry, &ix->deadline};
  for (int i = 0; i < 3; i++) {
    uv_timer_init(ix->loop, timers[i]);
    timers[i]->data = ix;
    ix->handles_open++;
  }
  /* Only the flush deadline keeps the loop alive: an idle logger must not
   * stop a host's loop from ending. */
  uv_unref((uv_handle_t *)&ix->interval);
  uv_unref((uv_handle_t *)&ix->retry);
  uint64_t every = (uint64_t)(ix->o.flush_interval * 1000);
  uv_timer_start(&ix->interval, on_interval, every ? every : 1, every ? every : 1);

  ix->start_ns = asx_wall_ns();
  asx_event_fmt_init(&ix->fmt, ASX_EVENT_LINE);
  *out = ix;
  return 0;
}

int asx_influx_set_session(asx_influx *ix, const char *session, int64_t start_ns) {
  if (!ix || (session && strlen(session) > 256)) return ASX_E_ARG;
  asx_event_fmt_session(&ix->fmt, session ? session : "", session ? strlen(session) : 0, 1);
  ix->start_ns = start_ns;
  return 0;
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
    report(ix, &ix->warned_behind,
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

static char *put_ts(asx_influx *ix, char *p, double time) {
  int64_t ts = ix->start_ns + (int64_t)llround(time * 1e9);
  if (ts <= ix->last_ts) ts = ix->last_ts + 1;
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
    kick(ix);
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

/* ---- flush and close ---------------------------------------------------- */

static void on_deadline(uv_timer_t *t) {
  asx_influx *ix = t->data;
  ix->deadline_hit = 1;
}

int64_t asx_influx_flush(asx_influx *ix, double timeout) {
  if (!ix) return ASX_E_ARG;
  if (ix->fill && ix->fill->points) {
    ready_push(ix, ix->fill);
    ix->fill = NULL;
  }
  kick(ix);
  ix->deadline_hit = 0;
  if (!(timeout > 0)) timeout = 0;
  /* The loop's clock is only updated when it runs; after a long stretch of
   * agents' work it lags, and a deadline set from it would pass at once. */
  uv_update_time(ix->loop);
  uv_timer_start(&ix->deadline, on_deadline, (uint64_t)(timeout * 1000), 0);
  /* The deadline timer is referenced, so each uv_run returns after some
   * event at the latest when the deadline passes. */
  while ((ix->ready_head || asx_http_busy(ix->http) || ix->phase == PHASE_CREATE_DB) &&
         !ix->deadline_hit)
    uv_run(ix->loop, UV_RUN_ONCE);
  uv_timer_stop(&ix->deadline);
  return ix->queued;
}

int64_t asx_influx_close(asx_influx *ix, double timeout) {
  if (!ix) return 0;
  asx_influx_flush(ix, timeout);
  int64_t left = ix->queued;
  ix->st.dropped += left;
  ix->queued = 0;
  /* The timers are closed first, so that none starts a request while the
   * transport closes (which runs the loop). */
  uv_timer_t *timers[3] = {&ix->interval, &ix->retry, &ix->deadline};
  for (int i = 0; i < 3; i++) uv_close((uv_handle_t *)timers[i], on_handle_closed);
  asx_http_free(ix->http);
  /* Closing completes in the loop; ix must outlive every close callback. */
  while (ix->handles_open > 0) uv_run(ix->loop, UV_RUN_NOWAIT);
  batch *b;
  while ((b = ready_pop(ix))) {
    free(b->buf);
    free(b);
  }
  if (ix->fill) {
    free(ix->fill->buf);
    free(ix->fill);
  }
  while (ix->spare) {
    b = ix->spare;
    ix->spare = b->next;
    free(b->buf);
    free(b);
  }
  free_strings(ix);
  free(ix);
  return left;
}

void asx_influx_stats_get(const asx_influx *ix, asx_influx_stats *out) {
  *out = ix->st;
  out->queued = ix->queued;
}

const char *asx_influx_error(const asx_influx *ix) {
  return ix->error[0] ? ix->error : NULL;
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
