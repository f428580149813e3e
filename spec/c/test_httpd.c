/* Unit tests of the HTTP server (asx_httpd) on a loop of the test's own,
 * with a plain libuv TCP client: what the callback is given, the methods
 * refused before it, event streams and what a client that does not read
 * costs. The loop is run until the client has what it waits for, with a
 * deadline, never for a fixed time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "asx_httpd.h"

/* What the callback saw last, and what it answers. */
typedef struct seen {
  int calls;
  char method[16], path[256], body[256];
  int stream; /* answer with a stream, not a response */
  int silent; /* do not answer */
} seen;

static void on_request(void *data, asx_httpd_req *req, const char *method, size_t method_len,
                       const char *path, size_t path_len, const char *body, size_t body_len) {
  seen *s = data;
  s->calls++;
  snprintf(s->method, sizeof s->method, "%.*s", (int)method_len, method);
  snprintf(s->path, sizeof s->path, "%.*s", (int)path_len, path);
  snprintf(s->body, sizeof s->body, "%.*s", (int)body_len, body);
  if (s->silent)
    return;
  if (s->stream)
    asx_httpd_stream(req);
  else
    asx_httpd_respond(req, 200, "text/plain", "hello\n", 6);
}

/* A client: one request, and the bytes of the answer as they come. */
typedef struct client {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  char request[512];
  char *got;
  size_t len, cap;
  int eof;
  int paused;
} client;

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  static char space[65536];
  buf->base = space;
  buf->len = sizeof space;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  client *c = s->data;
  if (n < 0) {
    c->eof = 1;
    uv_read_stop(s);
    return;
  }
  if (c->len + (size_t)n + 1 > c->cap) {
    c->cap = (c->len + (size_t)n + 1) * 2;
    c->got = realloc(c->got, c->cap);
    assert_non_null(c->got);
  }
  memcpy(c->got + c->len, buf->base, (size_t)n);
  c->len += (size_t)n;
  c->got[c->len] = '\0';
}

static void on_written(uv_write_t *w, int status) { assert_int_equal(status, 0); }

static void on_connect(uv_connect_t *req, int status) {
  client *c = req->data;
  uv_buf_t buf = uv_buf_init(c->request, (unsigned)strlen(c->request));
  assert_int_equal(status, 0);
  uv_write(&c->write, (uv_stream_t *)&c->tcp, &buf, 1, on_written);
  if (!c->paused)
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static client *request(uv_loop_t *loop, int port, const char *method, const char *path,
                       const char *body) {
  client *c = calloc(1, sizeof *c);
  struct sockaddr_in addr;
  assert_non_null(c);
  snprintf(c->request, sizeof c->request,
           "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
           method, path, strlen(body), body);
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  c->connect.data = c;
  uv_ip4_addr("127.0.0.1", port, &addr);
  uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&addr, on_connect);
  return c;
}

static void on_client_closed(uv_handle_t *h) {
  client *c = h->data;
  free(c->got);
  free(c);
}

static void client_free(client *c) {
  uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

/* Runs the loop until *done is true, for ten seconds at most. */
static void run_until(uv_loop_t *loop, const int *done) {
  uint64_t deadline = uv_hrtime() + 10000000000u;
  while (!*done && uv_hrtime() < deadline)
    uv_run(loop, UV_RUN_NOWAIT);
  assert_true(*done);
}

static int has(const client *c, const char *text) { return c->got && strstr(c->got, text); }

/* How many times text occurs in what the client got. */
static int count(const client *c, const char *text) {
  int n = 0;
  const char *p = c->got;
  while (p && (p = strstr(p, text)) != NULL) {
    n++;
    p += strlen(text);
  }
  return n;
}

/* Runs the loop until the client got text. */
static void run_until_has(uv_loop_t *loop, const client *c, const char *text) {
  uint64_t deadline = uv_hrtime() + 10000000000u;
  while (!has(c, text) && uv_hrtime() < deadline)
    uv_run(loop, UV_RUN_NOWAIT);
  if (!has(c, text))
    fail_msg("no '%s' in: %s", text, c->got ? c->got : "(nothing)");
}

/* The server lives until the process ends (see asx_httpd_close); the
 * tests keep it here, reachable. */
static asx_httpd *servers[8];
static int nservers;

static asx_httpd *open_server(uv_loop_t *loop, seen *s) {
  const char *err = NULL;
  asx_httpd *h = NULL;
  assert_int_equal(asx_httpd_open(loop, "127.0.0.1", 0, on_request, s, &h, &err), 0);
  assert_non_null(h);
  assert_null(err);
  assert_true(asx_httpd_port(h) > 0);
  servers[nservers++] = h;
  return h;
}

static void test_requests_reach_the_callback(void **state) {
  uv_loop_t *loop = uv_default_loop();
  seen s = {0};
  asx_httpd *h = open_server(loop, &s);
  client *c = request(loop, asx_httpd_port(h), "GET", "/api/book?depth=3", "");
  run_until(loop, &c->eof);
  assert_int_equal(s.calls, 1);
  assert_string_equal(s.method, "GET");
  assert_string_equal(s.path, "/api/book?depth=3");
  assert_string_equal(s.body, "");
  assert_true(has(c, "HTTP/1.1 200 OK\r\n"));
  assert_true(has(c, "content-type: text/plain\r\n"));
  assert_true(has(c, "cache-control: no-store\r\n"));
  assert_true(has(c, "transfer-encoding: chunked\r\n\r\n6\r\nhello\n\r\n0\r\n\r\n"));
  client_free(c);

  /* The absolute form (RFC 9112 3.2.2), which a server must accept, names
   * the same path: it was given whole ("http://localhost:8080/api/book"
   * normalised, a 404 for the live page). */
  c = request(loop, asx_httpd_port(h), "GET", "http://localhost:8080/api/./book?depth=3", "");
  run_until(loop, &c->eof);
  assert_string_equal(s.path, "/api/book?depth=3");
  assert_true(has(c, "HTTP/1.1 200 OK\r\n"));
  client_free(c);
  c = request(loop, asx_httpd_port(h), "GET", "HTTP://localhost?x=1", "");
  run_until(loop, &c->eof);
  assert_string_equal(s.path, "/?x=1");
  client_free(c);
  /* A path that only looks like one stays a path. */
  c = request(loop, asx_httpd_port(h), "GET", "/http://localhost/api/book", "");
  run_until(loop, &c->eof);
  assert_string_equal(s.path, "/http:/localhost/api/book");
  client_free(c);
  assert_int_equal(s.calls, 4);

  /* A callback that does not answer: 500. */
  s.silent = 1;
  c = request(loop, asx_httpd_port(h), "HEAD", "/", "");
  run_until(loop, &c->eof);
  assert_int_equal(s.calls, 5);
  assert_string_equal(s.method, "HEAD");
  assert_true(has(c, "HTTP/1.1 500 Internal Server Error\r\n"));
  client_free(c);
  asx_httpd_close(h);
}

/* Sends method path to h and checks the 405 answer: its Allow header
 * (allow, which may be empty) and its body. */
static void check_refused(uv_loop_t *loop, asx_httpd *h, const char *method, const char *path,
                          const char *allow, const char *body) {
  char line[64];
  client *c = request(loop, asx_httpd_port(h), method, path, "{\"action\":\"pause\"}");
  run_until(loop, &c->eof);
  assert_true(has(c, "HTTP/1.1 405 Method Not Allowed\r\n"));
  snprintf(line, sizeof line, "\r\nallow: %s\r\n", allow);
  assert_true(has(c, line));
  assert_int_equal(count(c, "\r\nallow:"), 1);
  if (strcmp(method, "HEAD") != 0)
    assert_true(has(c, body));
  client_free(c);
}

static void test_methods_refused(void **state) {
  uv_loop_t *loop = uv_default_loop();
  seen s = {0};
  asx_httpd *h = open_server(loop, &s);
  static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
  client *c;
  size_t i;
  /* Read-only: nothing but GET and HEAD reaches the callback. */
  for (i = 0; i < sizeof methods / sizeof methods[0]; i++)
    check_refused(loop, h, methods[i], "/api/control", "GET, HEAD", "read-only: GET only\n");
  assert_int_equal(s.calls, 0);

  /* With a POST path: POST there (whatever the query) and nowhere else, and
   * no other method there (RFC 9110: a 405 lists what the resource takes). */
  assert_int_equal(asx_httpd_set_post(h, "/api/control", 1), 0);
  c = request(loop, asx_httpd_port(h), "POST", "/api/control?x=1", "{\"action\":\"pause\"}");
  run_until(loop, &c->eof);
  assert_int_equal(s.calls, 1);
  assert_string_equal(s.method, "POST");
  assert_string_equal(s.body, "{\"action\":\"pause\"}");
  assert_true(has(c, "HTTP/1.1 200 OK\r\n"));
  client_free(c);
  check_refused(loop, h, "POST", "/api/controls", "GET, HEAD", "GET, or POST /api/control\n");
  check_refused(loop, h, "POST", "/", "GET, HEAD", "GET, or POST /api/control\n");
  check_refused(loop, h, "PUT", "/", "GET, HEAD", "GET, or POST /api/control\n");
  check_refused(loop, h, "GET", "/api/control", "POST", "POST only\n");
  check_refused(loop, h, "HEAD", "/api/control?x=1", "POST", "");
  check_refused(loop, h, "PUT", "/api/control", "POST", "POST only\n");
  assert_int_equal(s.calls, 1);

  /* The path kept but off (--http without --http-control): it takes no
   * method, which an empty Allow says; the rest is as read-only. */
  assert_int_equal(asx_httpd_set_post(h, "/api/control", 0), 0);
  check_refused(loop, h, "POST", "/api/control", "", "read-only: GET only\n");
  check_refused(loop, h, "GET", "/api/control", "", "read-only: GET only\n");
  check_refused(loop, h, "DELETE", "/", "GET, HEAD", "read-only: GET only\n");
  c = request(loop, asx_httpd_port(h), "GET", "/api/controls", "");
  run_until(loop, &c->eof);
  assert_true(has(c, "HTTP/1.1 200 OK\r\n"));
  client_free(c);
  assert_int_equal(s.calls, 2);
  assert_int_equal(asx_httpd_set_post(h, NULL, 0), 0);
  check_refused(loop, h, "POST", "/api/control", "GET, HEAD", "read-only: GET only\n");
  c = request(loop, asx_httpd_port(h), "GET", "/api/control", "");
  run_until(loop, &c->eof);
  assert_true(has(c, "HTTP/1.1 200 OK\r\n"));
  client_free(c);
  assert_int_equal(s.calls, 3);
  asx_httpd_close(h);
}

static void test_streams(void **state) {
  uv_loop_t *loop = uv_default_loop();
  seen s = {.stream = 1};
  asx_httpd *h = open_server(loop, &s);
  client *a = request(loop, asx_httpd_port(h), "GET", "/api/stream", "");
  client *b = request(loop, asx_httpd_port(h), "GET", "/api/stream", "");
  uint64_t deadline;
  run_until_has(loop, a, ": asx\n\n");
  run_until_has(loop, b, ": asx\n\n");
  assert_true(has(a, "HTTP/1.1 200 OK\r\n"));
  assert_true(has(a, "content-type: text/event-stream\r\n"));
  assert_int_equal(asx_httpd_broadcast(h, "event: book\ndata: 1\n\n", 21), 2);
  run_until_has(loop, a, "event: book\ndata: 1\n\n");
  run_until_has(loop, b, "event: book\ndata: 1\n\n");
  /* A client that leaves is no longer written to, once the server has
   * seen it go (a write fails). */
  client_free(b);
  deadline = uv_hrtime() + 10000000000u;
  while (asx_httpd_broadcast(h, ": ping\n\n", 8) != 1 && uv_hrtime() < deadline)
    uv_run(loop, UV_RUN_NOWAIT);
  assert_int_equal(asx_httpd_broadcast(h, "event: book\ndata: 2\n\n", 21), 1);
  run_until_has(loop, a, "event: book\ndata: 2\n\n");
  /* Closing ends the stream: the client sees the end of the response. */
  asx_httpd_close(h);
  run_until(loop, &a->eof);
  assert_true(has(a, "\r\n0\r\n\r\n"));
  assert_int_equal(asx_httpd_dropped(h), 0);
  client_free(a);
}

/* A client that reads nothing holds ASX_HTTPD_STREAM_MAX bytes at most;
 * the rest is dropped for it and counted, and what it got is whole. */
static void test_slow_client(void **state) {
  uv_loop_t *loop = uv_default_loop();
  seen s = {.stream = 1};
  asx_httpd *h = open_server(loop, &s);
  client *c = request(loop, asx_httpd_port(h), "GET", "/api/stream", "");
  static char chunk[65536];
  uint64_t deadline;
  int i;
  run_until_has(loop, c, ": asx\n\n");
  memset(chunk, 'x', sizeof chunk);
  chunk[sizeof chunk - 1] = '\n';
  /* Without the loop running, the first chunk is handed to the socket,
   * the next 16 wait (ASX_HTTPD_STREAM_MAX), the last 15 are dropped. */
  for (i = 0; i < 32; i++)
    assert_int_equal(asx_httpd_broadcast(h, chunk, sizeof chunk), 1);
  assert_int_equal(ASX_HTTPD_STREAM_MAX, 16 * sizeof chunk);
  assert_int_equal(asx_httpd_dropped(h), 15 * sizeof chunk);
  /* Once the client reads, what waited goes, and later events too. */
  asx_httpd_broadcast(h, "event: end\n\n", 12);
  assert_int_equal(asx_httpd_dropped(h), 15 * sizeof chunk + 12);
  run_until_has(loop, c, "xxx\n");
  deadline = uv_hrtime() + 10000000000u;
  while (count(c, "xxx\n") < 17 && uv_hrtime() < deadline)
    uv_run(loop, UV_RUN_NOWAIT);
  assert_int_equal(count(c, "xxx\n"), 17);
  asx_httpd_broadcast(h, "event: end\n\n", 12);
  run_until_has(loop, c, "event: end\n\n");
  assert_int_equal(asx_httpd_dropped(h), 15 * sizeof chunk + 12);
  asx_httpd_close(h);
  run_until(loop, &c->eof);
  client_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_requests_reach_the_callback),
      cmocka_unit_test(test_methods_refused),
      cmocka_unit_test(test_streams),
      cmocka_unit_test(test_slow_client),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  uv_run(uv_default_loop(), UV_RUN_NOWAIT);
  return rc;
}
