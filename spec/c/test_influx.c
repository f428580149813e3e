/* Unit tests of the InfluxDB logger: the exact line protocol, unique
 * timestamps, the requests it makes (against a tiny HTTP server on a thread
 * of this test), refusals, an unreachable server and the bounded queue. */
#define _GNU_SOURCE /* memmem, strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "asx_err.h"
#include "asx_http.h"
#include "asx_influx.h"
#include "test_util.h"

/* A new logger, or NULL with the reason in *err; the code agrees. */
static asx_influx *new_influx(const asx_influx_opts *o, const char **err) {
  asx_influx *ix = NULL;
  int rc = asx_influx_new(o, &ix, err);
  assert_true(rc == 0 ? ix != NULL : rc < 0 && ix == NULL);
  return ix;
}

static asx_influx_opts v1_opts(const char *url) {
  asx_influx_opts o;
  memset(&o, 0, sizeof o);
  o.version = ASX_INFLUX_V1;
  o.url = url;
  o.db = "test db";
  o.quiet = 1;
  return o;
}

static void test_line_protocol(void **state) {
  asx_influx_opts o = v1_opts("http://127.0.0.1:1");
  asx_influx *ix = new_influx(&o, NULL);
  assert_non_null(ix);
  assert_int_equal(asx_influx_set_session(ix, "run 1,a=b", 1000000000000000000), 0);
  asx_event evs[6] = {
    ev(ASX_EV_ORDER, 0.5, 10, 3, 0, 1, 0, 1, 0, ASX_SELL, 0),
    ev(ASX_EV_ORDER, 1.25, 0, 2, 0, 2, 0, 2, 0, ASX_BUY, 0),
    ev(ASX_EV_TRADE, 1.25, 10, 2, 0, 2, 1, 2, 1, ASX_BUY, 0),
    ev(ASX_EV_TRADE, 1.25, 11, 1, 0, 2, 3, 2, 4, ASX_BUY, 0),
    ev(ASX_EV_TRIM, 1.25, 10, 5, 4, 3, 0, 2, 0, ASX_BUY, ASX_TRIM_STOCKS),
    ev(ASX_EV_CANCEL, 2, 0, 1, 0, 1, 0, 1, 0, ASX_SELL, 0),
  };
  assert_int_equal(asx_influx_events(ix, evs, 6), 6);
  assert_int_equal(asx_influx_point(ix, "agent,session=x,state=started id=3i", 35, 1.25), 1);
  assert_int_equal(asx_influx_point(ix, "no fields", 9, 0), 1);
  assert_int_equal(asx_influx_point(ix, "nofields", 8, 0), ASX_E_ARG);
  assert_int_equal(asx_influx_point(ix, "a b=1\nc d=2", 11, 0), ASX_E_ARG);
  char *text = asx__influx_pending_text(ix);
  /* Three events share session time 1.25: their timestamps step by 1 ns,
   * and a later point at an earlier time still gets a larger one. */
  assert_string_equal(text,
    "order,instrument=STOCK,session=run\\ 1\\,a\\=b,side=sell,trader=1 id=1i,price=10i,amount=3i,seq=1i "
    "1000000000500000000\n"
    "order,instrument=STOCK,session=run\\ 1\\,a\\=b,side=buy,trader=2 id=2i,amount=2i,seq=2i "
    "1000000001250000000\n"
    "exchange,aggressor=buy,buyer=2,instrument=STOCK,seller=1,session=run\\ 1\\,a\\=b price=10i,amount=2i,"
    "buy_order=2i,sell_order=1i,seq=3i 1000000001250000001\n"
    "exchange,aggressor=buy,buyer=2,instrument=STOCK,seller=4,session=run\\ 1\\,a\\=b price=11i,amount=1i,"
    "buy_order=2i,sell_order=3i,seq=4i 1000000001250000002\n"
    "trim,instrument=STOCK,reason=stocks,session=run\\ 1\\,a\\=b,side=buy,trader=2 id=3i,price=10i,from=5i,"
    "to=4i,seq=5i 1000000001250000003\n"
    "cancel,instrument=STOCK,session=run\\ 1\\,a\\=b,side=sell,trader=1 id=1i,remaining=1i,seq=6i "
    "1000000002000000000\n"
    "agent,session=x,state=started id=3i,seq=7i 1000000002000000001\n"
    "no fields,seq=8i 1000000002000000002\n");
  free(text);
  asx_influx_stats st;
  asx_influx_stats_get(ix, &st);
  assert_int_equal(st.queued, 8);
  assert_int_equal(st.written, 0);
  /* Nothing listens on port 1: a zero timeout drops everything at close. */
  assert_int_equal(asx_influx_close(ix, 0), 8);
}

/* A session time or start that would put a timestamp past int64 (a
 * message's time of 9e9 s, 285 years) overflowed the sum, undefined
 * behaviour (the sanitizer build aborted): the timestamp stays within the
 * range InfluxDB stores, at its last instant. */
static void test_timestamps_stay_in_range(void **state) {
  asx_influx_opts o = v1_opts("http://127.0.0.1:1");
  asx_influx *ix = new_influx(&o, NULL);
  assert_non_null(ix);
  assert_int_equal(asx_influx_set_session(ix, "s", 1000000000000000000), 0);
  assert_int_equal(asx_influx_point(ix, "a b=1", 5, 9e9), 1);
  assert_int_equal(asx_influx_point(ix, "a b=2", 5, 1e300), 1);
  assert_int_equal(asx_influx_set_session(ix, "s", INT64_MIN), 0);
  assert_int_equal(asx_influx_point(ix, "a b=3", 5, -1e300), 1);
  char *text = asx__influx_pending_text(ix);
  assert_string_equal(text,
    "a b=1,seq=1i 9223372036854775806\n"
    "a b=2,seq=2i 9223372036854775806\n"
    "a b=3,seq=3i 9223372036854775806\n");
  free(text);
  asx_influx_close(ix, 0);
}

/* A logger ended from inside a loop callback (a Lua finalizer while a
 * session runs) must not run the loop: closing it ran the session's
 * scheduler again from inside an agent. Abandoned, it runs nothing there,
 * and the loop's next turn closes its handles and frees it (LeakSanitizer
 * says whether it does). */
static int abandon_ran;

static void abandon_now(uv_timer_t *t) {
  asx_influx_abandon(t->data);
  abandon_ran = 1;
  uv_close((uv_handle_t *)t, NULL);
}

static void test_abandon_inside_the_loop(void **state) {
  asx_influx_opts o = v1_opts("http://127.0.0.1:1");
  asx_influx *ix = new_influx(&o, NULL);
  uv_timer_t t;
  assert_non_null(ix);
  assert_int_equal(asx_influx_point(ix, "a b=1", 5, 0), 1);
  uv_timer_init(uv_default_loop(), &t);
  t.data = ix;
  uv_timer_start(&t, abandon_now, 0, 0);
  uv_run(uv_default_loop(), UV_RUN_DEFAULT);
  assert_int_equal(abandon_ran, 1);
}

static void test_bad_options(void **state) {
  const char *err = NULL;
  asx_influx *ix = NULL;
  asx_influx_opts o = v1_opts("ftp://x");
  assert_int_equal(asx_influx_new(&o, &ix, &err), ASX_E_ARG);
  assert_string_equal(err, "url must start with http:// or https://");
  o = v1_opts("http://x");
  o.db = "";
  assert_int_equal(asx_influx_new(&o, &ix, &err), ASX_E_ARG);
  assert_string_equal(err, "1.x needs a database name (db)");
  memset(&o, 0, sizeof o);
  o.version = ASX_INFLUX_V2;
  o.url = "http://x";
  o.org = "o";
  o.bucket = "b";
  assert_int_equal(asx_influx_new(&o, &ix, &err), ASX_E_ARG);
  assert_string_equal(err, "2.x needs a token");
  o.version = 3;
  assert_int_equal(asx_influx_new(&o, &ix, &err), ASX_E_ARG);
  assert_string_equal(err, "version must be 1 or 2");
  assert_null(ix);
}

/* ---- a tiny HTTP server on a thread ------------------------------------- */

typedef struct server {
  int fd, port;
  pthread_t thread;
  int status;       /* the status it answers */
  const char *body; /* and the body */
  int requests;     /* requests to serve before it stops */
  char log[1 << 16]; /* the requests it got: request line, headers, body */
  size_t log_len;
} server;

static void *serve(void *arg) {
  server *s = arg;
  int served = 0;
  while (served < s->requests) {
    int c = accept(s->fd, NULL, NULL);
    if (c < 0) break;
    char buf[1 << 16];
    size_t have = 0;
    while (served < s->requests) {
      /* Read one request: the head, then Content-Length bytes of body. */
      char *end;
      while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
        ssize_t r = read(c, buf + have, sizeof buf - have);
        if (r <= 0) goto next_conn;
        have += (size_t)r;
      }
      size_t head = (size_t)(end - buf) + 4;
      char *cl = strcasestr(buf, "content-length:");
      size_t len = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
      while (have < head + len) {
        ssize_t r = read(c, buf + have, sizeof buf - have);
        if (r <= 0) goto next_conn;
        have += (size_t)r;
      }
      memcpy(s->log + s->log_len, buf, head + len);
      s->log_len += head + len;
      s->log[s->log_len++] = '|';
      s->log[s->log_len] = '\0';
      memmove(buf, buf + head + len, have - head - len);
      have -= head + len;
      char resp[1 << 14];
      int n = snprintf(resp, sizeof resp,
                       "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\n\r\n%s",
                       s->status, strlen(s->body), s->body);
      if (write(c, resp, (size_t)n) != n) break;
      served++;
    }
  next_conn:
    close(c);
  }
  return NULL;
}

static server *server_start(int status, const char *body, int requests) {
  server *s = calloc(1, sizeof *s);
  s->status = status;
  s->body = body;
  s->requests = requests;
  s->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t alen = sizeof a;
  getsockname(s->fd, (struct sockaddr *)&a, &alen);
  s->port = ntohs(a.sin_port);
  assert_int_equal(listen(s->fd, 8), 0);
  pthread_create(&s->thread, NULL, serve, s);
  return s;
}

/* Waits for the server to serve its requests; the caller frees s after
 * reading its log. */
static void server_stop(server *s) {
  pthread_join(s->thread, NULL);
  close(s->fd);
}

static void test_v2_request(void **state) {
  server *s = server_start(204, "", 1);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", s->port);
  asx_influx_opts o;
  memset(&o, 0, sizeof o);
  o.version = ASX_INFLUX_V2;
  o.url = url;
  o.org = "my org";
  o.bucket = "b&1";
  o.token = "s3cret";
  o.quiet = 1;
  asx_influx *ix = new_influx(&o, NULL);
  assert_non_null(ix);
  asx_influx_set_session(ix, "1", 5);
  asx_event e = ev(ASX_EV_TRADE, 0, 10, 2, 0, 2, 1, 2, 1, ASX_SELL, 0);
  assert_int_equal(asx_influx_events(ix, &e, 1), 1);
  assert_int_equal(asx_influx_flush(ix, 5), 0);
  asx_influx_stats st;
  asx_influx_stats_get(ix, &st);
  assert_int_equal(st.written, 1);
  assert_int_equal(st.dropped, 0);
  assert_int_equal(st.requests, 1);
  assert_int_equal(asx_influx_close(ix, 1), 0);
  server_stop(s);
  /* The request line, the headers that matter, and the exact body. */
  assert_non_null(strstr(s->log, "POST /api/v2/write?org=my%20org&bucket=b%261&precision=ns "
                                  "HTTP/1.1\r\n"));
  assert_non_null(strstr(s->log, "\r\nAuthorization: Token s3cret\r\n"));
  assert_non_null(strstr(s->log, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
  assert_null(strstr(s->log, "Expect:"));
  assert_non_null(strstr(s->log, "\r\n\r\nexchange,aggressor=sell,buyer=2,instrument=STOCK,seller=1,session=1 "
                                  "price=10i,amount=2i,buy_order=2i,sell_order=1i,seq=1i 5\n|"));
  free(s);
}

static void test_v1_create_then_write_in_batches(void **state) {
  server *s = server_start(204, "", 3);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", s->port);
  asx_influx_opts o = v1_opts(url);
  o.user = "u";
  o.password = "p";
  o.batch_size = 2;
  asx_influx *ix = new_influx(&o, NULL);
  assert_non_null(ix);
  asx_influx_set_session(ix, "1", 0);
  for (int i = 1; i <= 3; i++) {
    asx_event e = ev(ASX_EV_CANCEL, i, 0, 1, 0, i, 0, 1, 0, ASX_BUY, 0);
    assert_int_equal(asx_influx_events(ix, &e, 1), 1);
  }
  assert_int_equal(asx_influx_flush(ix, 5), 0);
  asx_influx_stats st;
  asx_influx_stats_get(ix, &st);
  assert_int_equal(st.written, 3);
  assert_int_equal(st.requests, 3);
  assert_int_equal(asx_influx_close(ix, 1), 0);
  server_stop(s);
  const char *want =
    "POST /query HTTP/1.1\r\n";
  assert_memory_equal(s->log, want, strlen(want));
  /* Basic authentication of u:p. */
  assert_non_null(strstr(s->log, "Authorization: Basic dTpw\r\n"));
  assert_non_null(strstr(s->log, "\r\n\r\nq=CREATE%20DATABASE%20%22test%20db%22|POST "
                                  "/write?db=test%20db&precision=ns HTTP/1.1\r\n"));
  assert_non_null(strstr(s->log, "id=1i,remaining=1i,seq=1i 1000000000\n"
                                  "cancel,instrument=STOCK,session=1,side=buy,trader=1 id=2i,remaining=1i,seq=2i "
                                  "2000000000\n|POST /write"));
  assert_non_null(strstr(s->log, "id=3i,remaining=1i,seq=3i 3000000000\n|"));
  free(s);
}

static void test_refused_write_is_reported(void **state) {
  server *s = server_start(400, "{\"error\":\"partial write: field type conflict\"}", 2);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", s->port);
  asx_influx_opts o = v1_opts(url);
  asx_influx *ix = new_influx(&o, NULL);
  asx_event e = ev(ASX_EV_CANCEL, 1, 0, 1, 0, 1, 0, 1, 0, ASX_BUY, 0);
  asx_influx_events(ix, &e, 1);
  asx_influx_events(ix, &e, 1);
  assert_int_equal(asx_influx_flush(ix, 5), 0);
  asx_influx_stats st;
  asx_influx_stats_get(ix, &st);
  assert_int_equal(st.written, 0);
  assert_int_equal(st.dropped, 2);
  assert_int_equal(st.failures, 2);
  assert_string_equal(asx_influx_error(ix),
                      "the server refused the write (HTTP 400): partial write: field type "
                      "conflict");
  assert_int_equal(asx_influx_close(ix, 1), 0);
  server_stop(s);
  free(s);
}

/* A 1.x partial write stored the points it could parse: it quotes each
 * line it could not, one a line ("unable to parse '...': why"), and names
 * the points it dropped for other reasons at the end (dropped=N). Those
 * lines are lost points too, whatever the quoted lines hold and however
 * long the answer. */
static void test_partial_write_counts_unparsed_lines(void **state) {
  static char body[8192];
  char pad[3001];
  memset(pad, 'a', sizeof pad - 1);
  pad[sizeof pad - 1] = '\0';
  snprintf(body, sizeof body,
           "{\"error\":\"partial write: unable to parse 'note,session=1 "
           "x=\\\"unable to parse 'q' dropped=9 %s\\\" 1': invalid field format\\n"
           "unable to parse 'b': invalid field format\\nunable to parse '\\u0009c': bad "
           "dropped=1\"}",
           pad);
  server *s = server_start(400, body, 2);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", s->port);
  asx_influx_opts o = v1_opts(url);
  asx_influx *ix = new_influx(&o, NULL);
  asx_event e = ev(ASX_EV_CANCEL, 1, 0, 1, 0, 1, 0, 1, 0, ASX_BUY, 0);
  for (int i = 0; i < 6; i++) asx_influx_events(ix, &e, 1);
  assert_int_equal(asx_influx_flush(ix, 5), 0);
  asx_influx_stats st;
  asx_influx_stats_get(ix, &st);
  assert_int_equal(st.written, 2);
  assert_int_equal(st.dropped, 4);
  /* The message stays on one line, its escapes undone. */
  assert_non_null(strstr(asx_influx_error(ix), "the server refused the write (HTTP 400): partial write: "
                                               "unable to parse 'note,session=1 x=\"unable to parse"));
  assert_null(strchr(asx_influx_error(ix), '\n'));
  assert_int_equal(asx_influx_close(ix, 1), 0);
  server_stop(s);
  free(s);
}

/* The transport as the logger sees it: the link wraps asx_http_post
 * (CMakeLists.txt), so that the next `refusals` requests are refused before
 * they start, as curl refuses a handle it cannot add. */
int __real_asx_http_post(asx_http *h, const char *url, const char *const *headers,
                         const char *body, size_t len);
int __wrap_asx_http_post(asx_http *h, const char *url, const char *const *headers,
                         const char *body, size_t len);
static int refusals, posts;

int __wrap_asx_http_post(asx_http *h, const char *url, const char *const *headers,
                         const char *body, size_t len) {
  posts++;
  if (refusals > 0) {
    refusals--;
    return ASX_E_IO;
  }
  return __real_asx_http_post(h, url, headers, body, len);
}

/* A request the transport cannot start is retried after the backoff, as a
 * failed one is, not at the next flush interval (an hour here): the flush
 * ends with the batch written whole, once. */
static void test_refused_start_retries_with_backoff(void **state) {
  server *s = server_start(204, "", 1);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", s->port);
  asx_influx_opts o;
  memset(&o, 0, sizeof o);
  o.version = ASX_INFLUX_V2;
  o.url = url;
  o.org = "o";
  o.bucket = "b";
  o.token = "t";
  o.quiet = 1;
  o.flush_interval = 3600;
  o.retry_min = 0.01;
  o.retry_max = 0.02;
  asx_influx *ix = new_influx(&o, NULL);
  assert_non_null(ix);
  asx_influx_set_session(ix, "1", 0);
  for (int i = 1; i <= 2; i++) {
    asx_event e = ev(ASX_EV_CANCEL, i, 0, 1, 0, i, 0, 1, 0, ASX_BUY, 0);
    assert_int_equal(asx_influx_events(ix, &e, 1), 1);
  }
  refusals = 2;
  posts = 0;
  assert_int_equal(asx_influx_flush(ix, 5), 0);
  asx_influx_stats st;
  asx_influx_stats_get(ix, &st);
  assert_int_equal(posts, 3);
  assert_int_equal(st.failures, 2);
  assert_int_equal(st.requests, 1);
  assert_int_equal(st.written, 2);
  assert_int_equal(st.dropped, 0);
  char want[160];
  snprintf(want, sizeof want,
           "cannot start a request to %s (input/output error); retrying with backoff", url);
  assert_string_equal(asx_influx_error(ix), want);
  assert_int_equal(asx_influx_close(ix, 1), 0);
  server_stop(s);
  /* One request, with both points once. */
  const char *body = strstr(s->log, "\r\n\r\n");
  assert_non_null(body);
  assert_string_equal(body,
    "\r\n\r\ncancel,instrument=STOCK,session=1,side=buy,trader=1 id=1i,remaining=1i,seq=1i 1000000000\n"
    "cancel,instrument=STOCK,session=1,side=buy,trader=1 id=2i,remaining=1i,seq=2i 2000000000\n|");
  free(s);
}

/* A port where nothing listens: the points stay queued through retries,
 * the queue bound drops the excess, and close drops what is left. */
static void test_unreachable_and_bounded(void **state) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (struct sockaddr *)&a, sizeof a);
  socklen_t alen = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &alen);
  close(fd); /* the port is now free and closed */
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
  asx_influx_opts o = v1_opts(url);
  o.batch_size = 10;
  o.max_points = 100;
  o.retry_min = 0.01;
  o.retry_max = 0.02;
  asx_influx *ix = new_influx(&o, NULL);
  for (int i = 0; i < 150; i++) {
    asx_event e = ev(ASX_EV_CANCEL, i, 0, 1, 0, i, 0, 1, 0, ASX_BUY, 0);
    asx_influx_events(ix, &e, 1);
  }
  asx_influx_stats st;
  asx_influx_stats_get(ix, &st);
  assert_int_equal(st.queued, 100);
  assert_int_equal(st.dropped, 50);
  assert_int_equal(asx_influx_flush(ix, 0.1), 100);
  asx_influx_stats_get(ix, &st);
  assert_true(st.failures >= 2); /* it retried */
  assert_non_null(strstr(asx_influx_error(ix), "cannot reach the server at http://127.0.0.1:"));
  assert_int_equal(asx_influx_close(ix, 0), 100);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_line_protocol),
    cmocka_unit_test(test_timestamps_stay_in_range),
    cmocka_unit_test(test_abandon_inside_the_loop),
    cmocka_unit_test(test_bad_options),
    cmocka_unit_test(test_v2_request),
    cmocka_unit_test(test_v1_create_then_write_in_batches),
    cmocka_unit_test(test_refused_write_is_reported),
    cmocka_unit_test(test_partial_write_counts_unparsed_lines),
    cmocka_unit_test(test_unreachable_and_bounded),
    cmocka_unit_test(test_refused_start_retries_with_backoff),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
