/* HTTP POST requests with libcurl's multi interface, driven by a libuv loop:
 * uv_poll on curl's sockets and a uv_timer for curl's timeouts, so a
 * request never blocks the thread that runs the loop. One request is in
 * flight at a time. This is the transport under the InfluxDB logger
 * (asx_influx.c): it sends what it is given and says how that went; what to
 * send, and what to do about a failure, is the caller's.
 *
 * Threads: one, the loop's. The completion callback runs from the loop.
 */
#ifndef ASX_HTTP_H
#define ASX_HTTP_H

#include <stddef.h>
#include <uv.h>

#include "asx_err.h"

/* The most of a response body kept: all of it but a hostile server's. An
 * InfluxDB that refuses lines of a batch quotes every one in its answer,
 * and the logger counts them there. */
#define ASX_HTTP_BODY_MAX (64u << 20)

typedef struct asx_http asx_http;

/* How a request ended. ok is 1 when a response came, whatever its status;
 * else err says why there was none (no connection, a timeout). status is
 * the HTTP status (0 without a response); body is the response body (its
 * first ASX_HTTP_BODY_MAX bytes, or as much as memory held), NUL-terminated,
 * which the callback may cut up in place. */
typedef void (*asx_http_done_cb)(void *data, int ok, long status, const char *err, char *body);

/* A transport on loop. timeout (seconds) bounds the connection and each
 * request; user and password, when user is not NULL or empty, are sent as
 * basic authentication (both copied). done is called with data after each
 * request. Returns 0 and the transport in *out, which the caller frees
 * with asx_http_free; or ASX_E_IO (libcurl failed to initialise) or
 * ASX_E_NOMEM, with a static reason in *err. */
int asx_http_new(uv_loop_t *loop, double timeout, const char *user, const char *password,
                 asx_http_done_cb done, void *data, asx_http **out, const char **err);

/* Starts a POST of len bytes of body to url, with headers (a NULL-ended
 * array of "Name: value" lines; copied). body must stay put until done is
 * called. Returns 0, or (nothing started) ASX_E_STATE when a request is in
 * flight, ASX_E_NOMEM, or ASX_E_IO when curl refused it. */
int asx_http_post(asx_http *h, const char *url, const char *const *headers, const char *body,
                  size_t len);

/* Whether a request is in flight. */
int asx_http_busy(const asx_http *h);

/* s percent-encoded for a URL or a form, in a new string the caller frees;
 * NULL when out of memory. */
char *asx_http_escape(asx_http *h, const char *s);

/* Drops the request in flight (done is not called), closes the handles on
 * the loop, runs the loop until libuv has closed them, and frees h. Call it
 * outside uv_run. */
void asx_http_free(asx_http *h);

/* As asx_http_free, but runs no loop, for a caller inside a loop callback:
 * h's memory goes with the last of its handles, once the loop has closed
 * them. */
void asx_http_abandon(asx_http *h);

#endif
