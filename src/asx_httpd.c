/* asx_httpd: see asx_httpd.h. libh2o does the HTTP; this file routes every
 * request to one callback and keeps the list of event streams.
 *
 * A stream is an h2o generator allocated in its request's memory pool, so
 * it lives exactly as long as the request: the pool's dispose hook unlinks
 * it from the server's list, whichever way the request ends (the client
 * left, or the server sent the final chunk). libh2o needs the bytes of a
 * chunk to stay put until it calls proceed, so a stream has the chunk in
 * flight (sending) and the bytes that came since (pending), sent on the
 * next proceed.
 *
 * libh2o 2.2 times out reading a request but never writing a response: a
 * client that asks and never reads would hold its connection, and what its
 * socket did not take, for ever. So every open connection is in the
 * server's list, and a sweep (one timer for the server, every tenth of the
 * write timeout) looks at each: how many bytes wait for its client (in
 * libuv's write queue, and in the kernel's send queue not yet acknowledged)
 * and how many its client's TCP has acknowledged (h2o's count of bytes
 * written less those waiting). A connection with bytes waiting and none
 * acknowledged for ASX_HTTPD_WRITE_SWEEPS sweeps in a row is cut.
 * Acknowledged, not taken by the kernel: the kernel's send buffer grows to
 * megabytes (4 MB at once on loopback) and, full, wakes the writer only
 * once a third of it has gone, which a client reading 100 KB a second
 * takes more than ten seconds to make room for, reading all along; what
 * its TCP acknowledges moves as soon as it reads at all.
 * Counting sweeps rather than time means a loop that was held up (a long
 * step of the session) costs a client one sweep, not its connection: the
 * loop polls its sockets between any two sweeps. Linux only (SIOCOUTQ),
 * as the rest of asx. */
#include "asx_httpd.h"
#include "asx_urlpath.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <linux/sockios.h>

#include <h2o.h>

typedef struct stream {
  h2o_generator_t gen; /* first: libh2o hands it back */
  h2o_req_t *req;
  asx_httpd *h;
  struct stream *prev, *next;
  char *sending;
  char *pending;
  size_t pending_len, pending_cap;
  int inflight; /* a chunk is with libh2o until proceed */
  int finish;   /* send the final chunk once nothing is in flight */
  int done;     /* the final chunk went, or the client left */
} stream;

/* An accepted connection's handle, with its server, so that closing it
 * (libh2o does, whichever way the connection ends) counts it out and takes
 * it off the server's list. */
typedef struct conn {
  uv_tcp_t tcp; /* first: libh2o's close callback has its address */
  asx_httpd *h;
  h2o_socket_t *sock; /* libh2o's, valid until the handle is closing */
  struct conn *prev, *next;
  uint64_t acked; /* bytes its client had acknowledged at the last sweep */
  int stalled;    /* sweeps since then that found bytes waiting */
} conn;

typedef struct handler {
  h2o_handler_t super;
  asx_httpd *h;
} handler;

struct asx_httpd_req {
  h2o_req_t *req;
  asx_httpd *h;
  int answered;
};

struct asx_httpd {
  h2o_globalconf_t config;
  h2o_context_t ctx;
  h2o_accept_ctx_t accept;
  uv_tcp_t listener;
  asx_httpd_cb cb;
  void *data;
  stream *streams;
  int nstreams; /* in the list */
  conn *conns;
  int nconns;   /* accepted and not yet closed: in the list */
  uv_timer_t sweeper; /* the write timeout's sweep (see the top) */
  char *post_path; /* the one path that takes POST (and only POST), or NULL */
  int post_on;     /* whether it takes POST now (else no method) */
  uint64_t dropped;
  int port;
  int closed;
};

static const char *reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 204: return "No Content";
  case 400: return "Bad Request";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 409: return "Conflict";
  case 503: return "Service Unavailable";
  default: return status < 500 ? "Error" : "Internal Server Error";
  }
}

static void unlink_stream(stream *st) {
  if (st->h == NULL)
    return;
  if (st->prev)
    st->prev->next = st->next;
  else
    st->h->streams = st->next;
  if (st->next)
    st->next->prev = st->prev;
  st->prev = st->next = NULL;
  st->h->nstreams--;
  st->h = NULL;
}

static void stream_dispose(void *p) {
  stream *st = p;
  unlink_stream(st);
  free(st->sending);
  free(st->pending);
  st->sending = st->pending = NULL;
}

/* Hands libh2o the pending bytes, or the final chunk, when it can take them. */
static void flush(stream *st) {
  if (st->inflight || st->done)
    return;
  free(st->sending);
  st->sending = NULL;
  if (st->pending_len > 0) {
    h2o_iovec_t buf = h2o_iovec_init(st->pending, st->pending_len);
    st->sending = st->pending;
    st->pending = NULL;
    st->pending_len = st->pending_cap = 0;
    st->inflight = 1;
    if (st->finish)
      st->done = 1;
    h2o_send(st->req, &buf, 1, st->finish ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
  } else if (st->finish) {
    st->done = 1;
    h2o_send(st->req, NULL, 0, H2O_SEND_STATE_FINAL);
  }
}

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req) {
  stream *st = (stream *)gen;
  st->inflight = 0;
  flush(st);
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req) {
  stream *st = (stream *)gen;
  st->done = 1;
  unlink_stream(st);
}

/* Appends bytes to a stream's pending buffer; 0, or -1 when they would pass
 * ASX_HTTPD_STREAM_MAX (or memory ran out) and were dropped. */
static int append(stream *st, const char *bytes, size_t len) {
  if (st->pending_len + len > ASX_HTTPD_STREAM_MAX)
    return -1;
  if (st->pending_len + len > st->pending_cap) {
    size_t cap = st->pending_cap ? st->pending_cap : 4096;
    char *p;
    while (cap < st->pending_len + len)
      cap *= 2;
    if ((p = realloc(st->pending, cap)) == NULL)
      return -1;
    st->pending = p;
    st->pending_cap = cap;
  }
  memcpy(st->pending + st->pending_len, bytes, len);
  st->pending_len += len;
  return 0;
}

/* Whether the request is to the POST path (its query aside): path is the
 * normalised one (on_req). */
static int at_post_path(const asx_httpd *h, h2o_iovec_t path) {
  size_t len;
  if (h->post_path == NULL)
    return 0;
  for (len = 0; len < path.len && path.base[len] != '?'; len++)
    ;
  return h2o_memis(path.base, len, h->post_path, strlen(h->post_path));
}

/* The methods the request's path takes, as its Allow header lists them:
 * the POST path POST only (or nothing, while it is off), any other GET and
 * HEAD. */
static const char *methods_of(const asx_httpd *h, h2o_iovec_t path) {
  if (at_post_path(h, path))
    return h->post_on ? "POST" : "";
  return "GET, HEAD";
}

/* Whether the request's method may reach the callback. */
static int allowed(const asx_httpd *h, const h2o_req_t *req, h2o_iovec_t path) {
  const h2o_iovec_t *m = &req->method;
  if (at_post_path(h, path))
    return h->post_on && h2o_memis(m->base, m->len, H2O_STRLIT("POST"));
  return h2o_memis(m->base, m->len, H2O_STRLIT("GET")) ||
         h2o_memis(m->base, m->len, H2O_STRLIT("HEAD"));
}

/* 405, with the methods the path takes in Allow (RFC 9110: an empty one
 * for a resource that configuration turned off), and in the body what the
 * server takes. */
static void refuse(asx_httpd *h, h2o_req_t *req, h2o_iovec_t path) {
  asx_httpd_req r = {req, h, 0};
  const char *text = "read-only: GET only\n", *allow = methods_of(h, path);
  char *buf;
  if (h->post_on && at_post_path(h, path)) {
    text = "POST only\n";
  } else if (h->post_on) {
    size_t len = strlen(h->post_path) + 32;
    buf = h2o_mem_alloc_pool(&req->pool, len);
    snprintf(buf, len, "GET, or POST %s\n", h->post_path);
    text = buf;
  }
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
  asx_httpd_respond(&r, 405, "text/plain; charset=utf-8", text, strlen(text));
}

/* The request target less its scheme and authority, when it came in the
 * absolute form ("GET http://host:8080/api/book", RFC 9112 3.2.2), which a
 * server must accept (a proxy sends it) and libh2o leaves as it came: its
 * path, "/api/book" there, was no route (404). */
static h2o_iovec_t origin_form(h2o_iovec_t t) {
  size_t i = 0;
  if (t.len == 0 || !((t.base[0] | 0x20) >= 'a' && (t.base[0] | 0x20) <= 'z'))
    return t;
  while (i < t.len && (((t.base[i] | 0x20) >= 'a' && (t.base[i] | 0x20) <= 'z') ||
                       (t.base[i] >= '0' && t.base[i] <= '9') || t.base[i] == '+' ||
                       t.base[i] == '-' || t.base[i] == '.'))
    i++;
  if (t.len - i < 3 || memcmp(t.base + i, "://", 3) != 0)
    return t;
  for (i += 3; i < t.len && t.base[i] != '/' && t.base[i] != '?'; i++)
    ;
  return h2o_iovec_init(t.base + i, t.len - i);
}

/* The request's path normalised (asx_urlpath.h), its query after it as it
 * came, in the request's pool, in *out; or a 400 answered and -1, for a bad
 * percent-escape in the path. Routes and the POST path are matched on what
 * this gives, and the callback has it, so no spelling of a path reaches
 * another route than the one it names. */
static int normalize(asx_httpd *h, h2o_req_t *req, h2o_iovec_t *out) {
  h2o_iovec_t target = origin_form(req->path);
  const char *q = memchr(target.base, '?', target.len);
  size_t len = q ? (size_t)(q - target.base) : target.len, bad = 0;
  size_t query = target.len - len;
  char *buf = h2o_mem_alloc_pool(&req->pool, len + 2 + query);
  int n = asx_urlpath_normalize(target.base, len, buf, &bad);
  if (n < 0) {
    asx_httpd_req r = { req, h, 0 };
    char text[96];
    int tl = snprintf(text, sizeof text, "path: '%%' at byte %zu is not followed by two hex digits\n", bad);
    asx_httpd_respond(&r, 400, "text/plain; charset=utf-8", text, (size_t)tl);
    return -1;
  }
  memcpy(buf + n, target.base + len, query);
  *out = h2o_iovec_init(buf, (size_t)n + query);
  return 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req) {
  asx_httpd *h = ((handler *)self)->h;
  asx_httpd_req r = { req, h, 0 };
  h2o_iovec_t path;
  /* A connection that outlives the server (keep-alive) may send another
   * request after asx_httpd_close: the callback's data (the binding's
   * object) may be gone by then, so the callback is not called. */
  if (h->closed) {
    static const char gone[] = "the server is closed\n";
    asx_httpd_respond(&r, 503, "text/plain; charset=utf-8", gone, sizeof gone - 1);
    return 0;
  }
  /* Each open connection may hold a whole response its client does not
   * read (libh2o keeps what the socket did not take), so past the cap a
   * request is answered 503 and its connection closed after it. */
  if (h->nconns > ASX_HTTPD_CONNS_MAX) {
    static const char full[] = "too many connections open\n";
    req->http1_is_persistent = 0;
    asx_httpd_respond(&r, 503, "text/plain; charset=utf-8", full, sizeof full - 1);
    return 0;
  }
  if (normalize(h, req, &path) != 0)
    return 0;
  if (!allowed(h, req, path)) {
    refuse(h, req, path);
    return 0;
  }
  h->cb(h->data, &r, req->method.base, req->method.len, path.base, path.len,
        req->entity.base, req->entity.base ? req->entity.len : 0);
  if (!r.answered)
    asx_httpd_respond(&r, 500, "text/plain; charset=utf-8", "no answer\n", 10);
  return 0;
}

static void on_conn_closed(uv_handle_t *handle) {
  conn *c = (conn *)handle;
  if (c->prev)
    c->prev->next = c->next;
  else
    c->h->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->h->nconns--;
  free(c);
}

/* Cuts a connection from under libh2o, which owns it and has no call to
 * close it: once both ways are shut, the pending write fails (EPIPE) at the
 * loop's next poll and libh2o closes the connection as for a client that
 * left, ending its request (a stream's stop) and calling on_conn_closed.
 * SO_LINGER 0 makes that close a reset, which drops at once what the
 * kernel still holds for the client instead of trying to deliver it. */
static void cut(conn *c) {
  struct linger now = {1, 0};
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
    return;
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
  shutdown(fd, SHUT_RDWR);
}

static void on_sweep(uv_timer_t *t) {
  asx_httpd *h = t->data;
  conn *c;
  for (c = h->conns; c; c = c->next) {
    uint64_t waiting, acked;
    uv_os_fd_t fd;
    int unacked = 0;
    if (uv_is_closing((uv_handle_t *)&c->tcp))
      continue;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 || ioctl(fd, SIOCOUTQ, &unacked) != 0)
      unacked = 0;
    waiting = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + (uint64_t)unacked;
    acked = (uint64_t)c->sock->bytes_written - waiting;
    if (waiting == 0 || acked != c->acked) {
      c->acked = acked;
      c->stalled = 0;
    } else if (++c->stalled == ASX_HTTPD_WRITE_SWEEPS) {
      cut(c);
    }
  }
}

static void on_connection(uv_stream_t *listener, int status) {
  asx_httpd *h = listener->data;
  conn *c;
  h2o_socket_t *sock;
  if (status != 0 || h->closed)
    return;
  if ((c = malloc(sizeof *c)) == NULL)
    return;
  uv_tcp_init(listener->loop, &c->tcp);
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
    return;
  }
  c->h = h;
  c->acked = 0;
  c->stalled = 0;
  c->prev = NULL;
  c->next = h->conns;
  if (h->conns)
    h->conns->prev = c;
  h->conns = c;
  h->nconns++;
  c->sock = sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_closed);
  h2o_accept(&h->accept, sock);
}

int asx_httpd_open(uv_loop_t *loop, const char *host, int port, asx_httpd_cb cb, void *data,
                   asx_httpd **out, const char **err) {
  asx_httpd *h;
  h2o_hostconf_t *hostconf;
  h2o_pathconf_t *pathconf;
  handler *hd;
  struct sockaddr_storage addr;
  int namelen = sizeof addr;
  *out = NULL;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0) {
    *err = "not an IP address";
    return ASX_E_ARG;
  }
  if ((h = calloc(1, sizeof *h)) == NULL) {
    *err = "out of memory";
    return ASX_E_NOMEM;
  }
  /* A browser that leaves makes the next write to its socket fail; on
   * Linux that also raises SIGPIPE, whose default action would end the
   * session. Ignored, the write fails with EPIPE and libh2o closes that
   * connection only. */
  signal(SIGPIPE, SIG_IGN);
  h->cb = cb;
  h->data = data;
  uv_tcp_init(loop, &h->listener);
  h->listener.data = h;
  if (uv_tcp_bind(&h->listener, (struct sockaddr *)&addr, 0) != 0 ||
      uv_listen((uv_stream_t *)&h->listener, 64, on_connection) != 0) {
    *err = "cannot listen there (address in use, or not this machine's)";
    /* The handle is closed by the next turn of the loop, which frees it. */
    uv_close((uv_handle_t *)&h->listener, (uv_close_cb)free);
    return ASX_E_IO;
  }
  uv_unref((uv_handle_t *)&h->listener);
  uv_tcp_getsockname(&h->listener, (struct sockaddr *)&addr, &namelen);
  h->port = ntohs(addr.ss_family == AF_INET ? ((struct sockaddr_in *)&addr)->sin_port
                                             : ((struct sockaddr_in6 *)&addr)->sin6_port);

  h2o_config_init(&h->config);
  h->config.max_request_entity_size = 65536;
  /* libh2o 2.2 closes a connection whose request (headers and body) has not
   * come whole this long after it began waiting for it, however slowly its
   * bytes trickle in (its timer is not restarted by them): a client that
   * sends a byte at a time, or never ends its headers, holds a connection
   * that long only. Set here rather than left to libh2o's default so the
   * README's figure is this one. */
  h->config.http1.req_timeout = ASX_HTTPD_REQ_TIMEOUT_MS;
  hostconf = h2o_config_register_host(&h->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  pathconf = h2o_config_register_path(hostconf, "/", 0);
  hd = (handler *)h2o_create_handler(pathconf, sizeof *hd);
  hd->super.on_req = on_req;
  hd->h = h;
  h2o_context_init(&h->ctx, loop, &h->config);
  h->accept.ctx = &h->ctx;
  h->accept.hosts = h->config.hosts;
  uv_timer_init(loop, &h->sweeper);
  h->sweeper.data = h;
  asx_httpd_set_write_timeout(h, ASX_HTTPD_WRITE_TIMEOUT_MS);
  uv_unref((uv_handle_t *)&h->sweeper);
  *out = h;
  return 0;
}

void asx_httpd_set_write_timeout(asx_httpd *h, uint64_t ms) {
  uint64_t every = ms / ASX_HTTPD_WRITE_SWEEPS;
  if (every == 0)
    every = 1;
  uv_timer_start(&h->sweeper, on_sweep, every, every);
}

int asx_httpd_port(const asx_httpd *h) { return h->port; }

int asx_httpd_set_post(asx_httpd *h, const char *path, int on) {
  char *copy = NULL;
  if (path != NULL && (copy = strdup(path)) == NULL)
    return ASX_E_NOMEM;
  free(h->post_path);
  h->post_path = copy;
  h->post_on = path != NULL && on;
  return 0;
}

static void start(h2o_req_t *req, int status, const char *content_type) {
  req->res.status = status;
  req->res.reason = reason(status);
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                 strlen(content_type));
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                 H2O_STRLIT("no-store"));
}

void asx_httpd_respond(asx_httpd_req *r, int status, const char *content_type, const char *body,
                      size_t len) {
  if (r->answered)
    return;
  r->answered = 1;
  start(r->req, status, content_type);
  h2o_send_inline(r->req, body, len);
}

void asx_httpd_stream(asx_httpd_req *r) {
  stream *st;
  asx_httpd *h = r->h;
  static const char hello[] = ": asx\n\n";
  if (r->answered)
    return;
  /* HEAD asks for the headers only (RFC 9110): a stream's body never ends,
   * so it is answered as a response with an empty one. */
  if (h2o_memis(r->req->method.base, r->req->method.len, H2O_STRLIT("HEAD"))) {
    asx_httpd_respond(r, 200, "text/event-stream", "", 0);
    return;
  }
  if (h->nstreams >= ASX_HTTPD_STREAMS_MAX) {
    static const char full[] = "too many streams open\n";
    asx_httpd_respond(r, 503, "text/plain; charset=utf-8", full, sizeof full - 1);
    return;
  }
  r->answered = 1;
  st = h2o_mem_alloc_shared(&r->req->pool, sizeof *st, stream_dispose);
  memset(st, 0, sizeof *st);
  st->gen.proceed = on_proceed;
  st->gen.stop = on_stop;
  st->req = r->req;
  st->h = h;
  st->next = h->streams;
  if (h->streams)
    h->streams->prev = st;
  h->streams = st;
  h->nstreams++;
  start(r->req, 200, "text/event-stream");
  h2o_start_response(r->req, &st->gen);
  append(st, hello, sizeof hello - 1);
  flush(st);
}

int asx_httpd_broadcast(asx_httpd *h, const char *bytes, size_t len) {
  int n = 0;
  stream *st, *next;
  for (st = h->streams; st; st = next) {
    next = st->next;
    n++;
    if (st->done || st->finish)
      continue;
    if (append(st, bytes, len) != 0)
      h->dropped += len;
    else
      flush(st);
  }
  return n;
}

uint64_t asx_httpd_dropped(const asx_httpd *h) { return h->dropped; }

void asx_httpd_end(asx_httpd *h) {
  stream *st, *next;
  if (h->closed)
    return;
  h->closed = 1;
  for (st = h->streams; st; st = next) {
    next = st->next;
    st->finish = 1;
    flush(st);
  }
  uv_close((uv_handle_t *)&h->listener, NULL);
}

void asx_httpd_close(asx_httpd *h) {
  uint64_t deadline;
  if (h->closed)
    return;
  asx_httpd_end(h);
  /* The final chunks reach the clients before the caller goes on (and
   * maybe exits): a second at most, for a client that stopped reading. */
  deadline = uv_hrtime() + 1000000000u;
  while (h->streams && uv_hrtime() < deadline)
    uv_run(h->ctx.loop, UV_RUN_NOWAIT);
  /* The server's own memory stays: connections still open refer to its
   * context, and they end with the process. */
}
