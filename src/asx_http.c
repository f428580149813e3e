/* HTTP requests on the libuv loop; the model is in asx_http.h.
 *
 * curl tells which sockets to watch (on_socket) and when to call it back
 * (on_curl_timer); libuv watches them and calls curl_multi_socket_action,
 * after which finished requests are read from curl's message queue
 * (check_done). Every poll handle is listed in socks until its close
 * starts, so that asx_http_free can close any that curl forgot.
 */
#include "asx_http.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

typedef struct sockctx {
  uv_poll_t poll;
  curl_socket_t fd;
  struct asx_http *h;
  struct sockctx *prev, *next; /* in h->socks while the poll is open */
} sockctx;

struct asx_http {
  CURLM *multi;
  CURL *easy;
  uv_loop_t *loop;
  uv_timer_t curl_timer;
  int handles_open; /* our libuv handles not yet closed */
  sockctx *socks;   /* polls on curl's sockets, open and not closing */
  struct curl_slist *headers; /* of the request in flight */
  int inflight;     /* a request is in the multi handle */
  int abandoned;    /* freed by the last handle's close (asx_http_abandon) */
  asx_http_done_cb done;
  void *data;
  char *body; /* the response so far, NUL-terminated; NULL until one came */
  size_t body_len, body_cap;
  char curl_err[CURL_ERROR_SIZE];
};

/* Keeps the response body, in a buffer that grows with it up to
 * ASX_HTTP_BODY_MAX; what does not fit (or finds no memory) is skipped. */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *data) {
  asx_http *h = data;
  size_t n = size * nmemb, room = ASX_HTTP_BODY_MAX - h->body_len;
  if (n < room) room = n;
  if (h->body_len + room + 1 > h->body_cap) {
    size_t cap = h->body_cap ? h->body_cap : 4096;
    while (cap < h->body_len + room + 1) cap *= 2;
    char *p = realloc(h->body, cap);
    if (!p) return n;
    h->body = p;
    h->body_cap = cap;
  }
  memcpy(h->body + h->body_len, ptr, room);
  h->body_len += room;
  h->body[h->body_len] = '\0';
  return n;
}

static void check_done(asx_http *h) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(h->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    CURLcode rc = m->data.result;
    long status = 0;
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(h->multi, h->easy);
    h->inflight = 0;
    const char *err = rc == CURLE_OK ? NULL : h->curl_err[0] ? h->curl_err : curl_easy_strerror(rc);
    /* The callback may start the next request, which reuses the buffers. */
    char none[1] = "";
    h->done(h->data, rc == CURLE_OK, status, err, h->body ? h->body : none);
  }
}

static void on_poll(uv_poll_t *p, int status, int events) {
  sockctx *c = p->data;
  int flags = 0, running;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  curl_multi_socket_action(c->h->multi, c->fd, flags, &running);
  check_done(c->h);
}

static void free_http(asx_http *h) {
  curl_slist_free_all(h->headers);
  free(h->body);
  free(h);
}

static void on_sock_closed(uv_handle_t *handle) {
  sockctx *c = handle->data;
  asx_http *h = c->h;
  free(c);
  if (--h->handles_open == 0 && h->abandoned) free_http(h);
}

static void sock_close(asx_http *h, sockctx *c) {
  if (c->prev) c->prev->next = c->next;
  else h->socks = c->next;
  if (c->next) c->next->prev = c->prev;
  uv_poll_stop(&c->poll);
  uv_close((uv_handle_t *)&c->poll, on_sock_closed);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp) {
  asx_http *h = userp;
  sockctx *c = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (c) {
      sock_close(h, c);
      curl_multi_assign(h->multi, fd, NULL);
    }
    return 0;
  }
  if (!c) {
    c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->fd = fd;
    c->h = h;
    if (uv_poll_init_socket(h->loop, &c->poll, fd) != 0) {
      free(c);
      return -1;
    }
    c->poll.data = c;
    h->handles_open++;
    c->next = h->socks;
    if (h->socks) h->socks->prev = c;
    h->socks = c;
    curl_multi_assign(h->multi, fd, c);
  }
  int events = 0;
  if (what != CURL_POLL_OUT) events |= UV_READABLE;
  if (what != CURL_POLL_IN) events |= UV_WRITABLE;
  uv_poll_start(&c->poll, events, on_poll);
  return 0;
}

static void on_curl_timeout(uv_timer_t *t) {
  asx_http *h = t->data;
  int running;
  curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(h);
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *userp) {
  asx_http *h = userp;
  if (timeout_ms < 0) uv_timer_stop(&h->curl_timer);
  /* curl asks not to be called back from here, so even a zero timeout goes
   * through the loop. */
  else uv_timer_start(&h->curl_timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
  return 0;
}

int asx_http_new(uv_loop_t *loop, double timeout, const char *user, const char *password,
                 asx_http_done_cb done, void *data, asx_http **out, const char **err) {
  static const char *dummy;
  if (!err) err = &dummy;
  *out = NULL;
  static int curl_ready;
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
      *err = "libcurl failed to initialise";
      return ASX_E_IO;
    }
    curl_ready = 1;
  }
  asx_http *h = calloc(1, sizeof *h);
  if (h) {
    h->easy = curl_easy_init();
    h->multi = curl_multi_init();
  }
  if (!h || !h->easy || !h->multi) {
    *err = "out of memory";
    if (h && h->easy) curl_easy_cleanup(h->easy);
    if (h && h->multi) curl_multi_cleanup(h->multi);
    free(h);
    return ASX_E_NOMEM;
  }
  h->loop = loop;
  h->done = done;
  h->data = data;
  CURL *e = h->easy;
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->curl_err);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout * 1000));
  if (user && *user) {
    /* curl copies them. */
    curl_easy_setopt(e, CURLOPT_USERNAME, user);
    curl_easy_setopt(e, CURLOPT_PASSWORD, password ? password : "");
  }
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
  uv_timer_init(loop, &h->curl_timer);
  h->curl_timer.data = h;
  h->handles_open++;
  /* Waiting on curl alone must not keep a host's loop alive. */
  uv_unref((uv_handle_t *)&h->curl_timer);
  *out = h;
  return 0;
}

int asx_http_post(asx_http *h, const char *url, const char *const *headers, const char *body,
                  size_t len) {
  if (h->inflight) return ASX_E_STATE;
  curl_slist_free_all(h->headers);
  h->headers = NULL;
  for (; *headers; headers++) {
    struct curl_slist *l = curl_slist_append(h->headers, *headers);
    if (!l) return ASX_E_NOMEM;
    h->headers = l;
  }
  CURL *e = h->easy;
  /* A long answer's buffer is not kept for the next one. */
  if (h->body_cap > 65536) {
    free(h->body);
    h->body = NULL;
    h->body_cap = 0;
  }
  h->body_len = 0;
  if (h->body) h->body[0] = '\0';
  h->curl_err[0] = '\0';
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  if (curl_multi_add_handle(h->multi, e) != CURLM_OK) return ASX_E_IO;
  h->inflight = 1;
  return 0;
}

int asx_http_busy(const asx_http *h) {
  return h->inflight;
}

char *asx_http_escape(asx_http *h, const char *s) {
  char *c = curl_easy_escape(h->easy, s, 0);
  if (!c) return NULL;
  size_t n = strlen(c) + 1;
  char *out = malloc(n);
  if (out) memcpy(out, c, n);
  curl_free(c);
  return out;
}

static void on_timer_closed(uv_handle_t *handle) {
  asx_http *h = handle->data;
  if (--h->handles_open == 0 && h->abandoned) free_http(h);
}

/* Drops the request in flight and starts closing every handle. */
static void close_all(asx_http *h) {
  if (h->inflight) curl_multi_remove_handle(h->multi, h->easy);
  curl_easy_cleanup(h->easy);
  /* Cleaning the multi handle closes its sockets, which calls on_socket
   * with CURL_POLL_REMOVE for each: the polls are closed there. */
  curl_multi_cleanup(h->multi);
  /* Should curl not have said so for every socket, the polls left would
   * keep the loop below waiting forever: they are closed here. */
  while (h->socks) sock_close(h, h->socks);
  uv_close((uv_handle_t *)&h->curl_timer, on_timer_closed);
}

void asx_http_free(asx_http *h) {
  if (!h) return;
  close_all(h);
  /* Closing completes in the loop; h must outlive every close callback. */
  while (h->handles_open > 0) uv_run(h->loop, UV_RUN_NOWAIT);
  free_http(h);
}

void asx_http_abandon(asx_http *h) {
  if (!h) return;
  /* The timer at least is closing: its callback frees h. */
  h->abandoned = 1;
  close_all(h);
}
