/* The InfluxDB logger's requests: its life, what to send when, and what
 * to do when a request fails. The design is in asx_influx.h, the files
 * that make up the logger in asx_influx_int.h; the points wait in the
 * queue of asx_influx_queue.c, and the requests go through asx_http.h.
 */
#include "asx_influx_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asx_err.h"

/* ---- messages ----------------------------------------------------------- */

void asx__influx_report(asx_influx *ix, int *once, const char *fmt, const char *a,
                        const char *b) {
  snprintf(ix->error, sizeof ix->error, fmt, a, b);
  /* One line, for the summary and stderr: a server's message may hold
   * several (one per line of the batch it could not parse). */
  for (char *c = ix->error; *c; c++)
    if (*c == '\n' || *c == '\r') *c = ' ';
  if (*once) return;
  *once = 1;
  if (!ix->o.quiet) fprintf(stderr, "asx: influxdb: %s\n", ix->error);
}

/* ---- requests ----------------------------------------------------------- */

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
  if (ix->phase == ASX__INFLUX_CREATE_DB) {
    rc = asx_http_post(ix->http, ix->api.query_url, ix->api.query_headers,
                       ix->api.create_body, strlen(ix->api.create_body));
  } else {
    asx__influx_batch *b = ix->ready_head;
    rc = asx_http_post(ix->http, ix->api.write_url, ix->api.write_headers, b->buf,
                       b->len);
  }
  if (rc == 0) return;
  ix->st.failures++;
  asx__influx_report(ix, &ix->warned_down,
                     "cannot start a request to %s (%s); retrying with backoff", ix->o.url,
                     asx_strerror(rc));
  retry_later(ix);
}

void asx__influx_kick(asx_influx *ix) {
  if (asx_http_busy(ix->http) || ix->backing_off) return;
  if (ix->phase == ASX__INFLUX_CREATE_DB || ix->ready_head) start_request(ix);
}

static void on_retry(uv_timer_t *t) {
  asx_influx *ix = t->data;
  ix->backing_off = 0;
  asx__influx_kick(ix);
}

static void retry_later(asx_influx *ix) {
  ix->backing_off = 1;
  uv_timer_start(&ix->retry, on_retry, (uint64_t)(ix->backoff * 1000), 0);
  ix->backoff *= 2;
  if (ix->backoff > ix->o.retry_max) ix->backoff = ix->o.retry_max;
}

/* The last occurrence of needle in s, or NULL. */
static const char *last(const char *s, const char *needle) {
  const char *found = NULL;
  for (const char *p = s; (p = strstr(p, needle)) != NULL; p++) found = p;
  return found;
}

/* What the transport says of each request: the policy. */
static void request_done(void *data, int ok, long status, const char *err, char *body) {
  asx_influx *ix = data;
  ix->st.requests++;
  int creating = ix->inflight_kind == ASX__INFLUX_CREATE_DB;

  if (ok && status >= 200 && status < 300) {
    ix->backoff = ix->o.retry_min;
    if (creating) {
      ix->phase = ASX__INFLUX_WRITE;
    } else {
      asx__influx_batch_done(ix, 0);
    }
    asx__influx_kick(ix);
    return;
  }
  ix->st.failures++;
  char what[64];
  if (!ok || status >= 500 || status == 408 || status == 429) {
    /* The server is down or slow: the points stay queued for a retry. */
    const char *why = ok ? asx__influx_server_message(body) : err;
    if (ok) {
      snprintf(what, sizeof what, "HTTP %ld", status);
      asx__influx_report(ix, &ix->warned_down, "cannot write (%s: %s); retrying with backoff",
                         what, why);
    } else {
      asx__influx_report(ix, &ix->warned_down,
                         "cannot reach the server at %s (%s); retrying with backoff", ix->o.url,
                         why);
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
    ix->phase = ASX__INFLUX_CREATE_DB;
    asx__influx_kick(ix);
    return;
  }
  /* The message keeps the server's own words, for the summary and the
   * tests; the URL is not in it, so neither is anything secret. */
  snprintf(what, sizeof what, "%s (HTTP %ld)", creating ? "database creation" : "write", status);
  asx__influx_report(ix, &ix->warned_refused, "the server refused the %s: %s", what, msg);
  if (creating) {
    ix->phase = ASX__INFLUX_WRITE; /* try the writes anyway; they say why */
  } else {
    int64_t points = ix->ready_head->points, lost = points;
    /* A 1.x "partial write" stored all but the points it names as dropped
     * at the end (" dropped=N") and the lines it could not parse, which it
     * quotes one a line ("unable to parse '...': why"); the quoted lines
     * hold no line break (InfluxDB escapes it), so a line that starts so
     * is one lost point, whatever the points' own text says. */
    const char *d = last(msg, " dropped=");
    if (d && strstr(msg, "partial write")) {
      int64_t n = strtoll(d + 9, NULL, 10);
      for (const char *u = msg; (u = strstr(u, "unable to parse '")) != NULL; u++)
        if (u == msg || u[-1] == '\n' || (u - msg >= 15 && !memcmp(u - 15, "partial write: ", 15)))
          n++;
      if (n >= 0 && n <= points) lost = n;
    }
    asx__influx_batch_done(ix, lost);
  }
  asx__influx_kick(ix);
}

static void on_handle_closed(uv_handle_t *h) {
  asx_influx *ix = h->data;
  if (--ix->handles_open == 0 && ix->abandoned) free(ix);
}

static void on_interval(uv_timer_t *t) {
  asx_influx *ix = t->data;
  asx__influx_seal(ix);
  asx__influx_kick(ix);
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

/* A wait in seconds as the timers and curl take it: at most a billion
 * seconds (about 32 years), and so never a count of milliseconds past what
 * uint64_t or long hold (flush(1e300) converted one and did not wait). */
static double wait_at_most(double seconds) {
  return seconds < 1e9 ? seconds : 1e9;
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
  ix->o.flush_interval = wait_at_most(ix->o.flush_interval);
  ix->o.timeout = wait_at_most(ix->o.timeout);
  ix->o.retry_min = wait_at_most(ix->o.retry_min);
  ix->o.retry_max = wait_at_most(ix->o.retry_max);
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
  ix->phase = ix->o.version == ASX_INFLUX_V1 ? ASX__INFLUX_CREATE_DB : ASX__INFLUX_WRITE;
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

  asx__influx_queue_init(ix);
  *out = ix;
  return 0;
}

/* ---- flush and close ---------------------------------------------------- */

static void on_deadline(uv_timer_t *t) {
  asx_influx *ix = t->data;
  ix->deadline_hit = 1;
}

int64_t asx_influx_flush(asx_influx *ix, double timeout) {
  if (!ix) return ASX_E_ARG;
  asx__influx_seal(ix);
  asx__influx_kick(ix);
  ix->deadline_hit = 0;
  if (!(timeout > 0)) timeout = 0;
  timeout = wait_at_most(timeout);
  /* The loop's clock is only updated when it runs; after a long stretch of
   * agents' work it lags, and a deadline set from it would pass at once. */
  uv_update_time(ix->loop);
  uv_timer_start(&ix->deadline, on_deadline, (uint64_t)(timeout * 1000), 0);
  /* The deadline timer is referenced, so each uv_run returns after some
   * event at the latest when the deadline passes. */
  while ((ix->ready_head || asx_http_busy(ix->http) || ix->phase == ASX__INFLUX_CREATE_DB) &&
         !ix->deadline_hit)
    uv_run(ix->loop, UV_RUN_ONCE);
  uv_timer_stop(&ix->deadline);
  return ix->queued;
}

/* Counts what is queued as dropped, releases the handles and frees ix;
 * returns the points dropped. */
static int64_t shut(asx_influx *ix) {
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
  asx__influx_queue_free(ix);
  free_strings(ix);
  free(ix);
  return left;
}

/* Says on stderr, unless quiet, what a logger collected unclosed dropped. */
static void say_dropped(int quiet, int64_t left) {
  if (left > 0 && !quiet)
    fprintf(stderr, "asx: influxdb: %lld points dropped: the logger was collected before it was "
                    "closed (its close() sends them)\n", (long long)left);
}

int64_t asx_influx_close(asx_influx *ix, double timeout) {
  if (!ix) return 0;
  asx_influx_flush(ix, timeout);
  return shut(ix);
}

void asx_influx_discard(asx_influx *ix) {
  if (!ix) return;
  int quiet = ix->o.quiet;
  say_dropped(quiet, shut(ix));
}

void asx_influx_abandon(asx_influx *ix) {
  if (!ix) return;
  say_dropped(ix->o.quiet, ix->queued);
  /* The timers are closing: the last one's callback frees ix. */
  ix->abandoned = 1;
  uv_timer_t *timers[3] = {&ix->interval, &ix->retry, &ix->deadline};
  for (int i = 0; i < 3; i++) uv_close((uv_handle_t *)timers[i], on_handle_closed);
  asx_http_abandon(ix->http);
  ix->http = NULL;
  asx__influx_queue_free(ix);
  free_strings(ix);
}

void asx_influx_stats_get(const asx_influx *ix, asx_influx_stats *out) {
  *out = ix->st;
  out->queued = ix->queued;
}

const char *asx_influx_error(const asx_influx *ix) {
  return ix->error[0] ? ix->error : NULL;
}
