/* asx_httpd: a small HTTP/1.1 server on the session's libuv loop, built on
 * libh2o (Debian's libh2o, compiled with libuv), for `asx-host --http`.
 *
 * GET and HEAD requests go to one callback, and POST requests to the one
 * path that takes them (asx_httpd_set_post), which takes no other method;
 * any other request is refused with 405 and the methods its path takes
 * (Allow) before the callback, so a read-only server cannot be driven by a
 * request whatever the callback does. The callback answers before returning:
 * with asx_httpd_respond (a whole response), or with asx_httpd_stream, which
 * keeps it open as a server-sent-events stream. asx_httpd_broadcast then
 * writes the same bytes to every open stream. A stream whose client reads
 * slower than the session writes holds at most ASX_HTTPD_STREAM_MAX bytes
 * waiting; what would go past that is dropped for that client (and
 * counted), so a slow browser never slows the session or grows its memory.
 *
 * At most ASX_HTTPD_CONNS_MAX connections are served at once: past that a
 * request gets 503 and its connection is closed, so that clients that ask
 * and never read cannot hold the session's memory without bound. A
 * connection whose response waits and whose client takes nothing of it for
 * ASX_HTTPD_WRITE_TIMEOUT_MS is cut, so that such clients do not hold those
 * slots for ever either.
 *
 * Request bodies are read whole before the callback (libh2o 2.2 does so).
 * Nothing here knows Lua; src/asx_lua_httpd.c binds it.
 */
#ifndef ASX_HTTPD_H
#define ASX_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "asx_err.h"

#define ASX_HTTPD_STREAM_MAX (1u << 20)
/* Streams open at once: one more is answered 503, so that clients that
 * open streams and never read cannot make the session's memory grow past
 * ASX_HTTPD_STREAMS_MAX * ASX_HTTPD_STREAM_MAX. */
#define ASX_HTTPD_STREAMS_MAX 64
/* Connections open at once past which a request is answered 503 and its
 * connection closed: a client that asks for the page (about 230 KB) and
 * never reads keeps what its socket did not take, so this bounds that
 * memory. Twice the streams, so that streams fill up first and leave room
 * for the pages and API requests of their browsers. */
#define ASX_HTTPD_CONNS_MAX (2 * ASX_HTTPD_STREAMS_MAX)
/* A request's headers and body must come whole within this many
 * milliseconds of the server starting to wait for it, or its connection is
 * closed (slow clients, and connections that never send one). */
#define ASX_HTTPD_REQ_TIMEOUT_MS 10000
/* A connection with response bytes waiting for its client, whose client
 * has acknowledged none of them for this many milliseconds (to within a
 * tenth: it is looked at ASX_HTTPD_WRITE_SWEEPS times in that span), is
 * cut, so that clients that ask and never read free their slots
 * (ASX_HTTPD_CONNS_MAX) and what waits for them. A client that reads,
 * however slowly, is never cut: each byte it takes starts the span again.
 * The request timeout's figure: a browser that reads at all takes bytes
 * within milliseconds, so ten seconds with none taken is a client that
 * stopped (or a machine that went to sleep), and clients that never read
 * lock others out for ten seconds at most. */
#define ASX_HTTPD_WRITE_TIMEOUT_MS 10000
#define ASX_HTTPD_WRITE_SWEEPS 10

typedef struct asx_httpd asx_httpd;
/* One request being answered; valid only during the callback. */
typedef struct asx_httpd_req asx_httpd_req;

typedef void (*asx_httpd_cb)(void *data, asx_httpd_req *req, const char *method, size_t method_len,
                            const char *path, size_t path_len, const char *body, size_t body_len);

/* Listens on host (an IPv4 or IPv6 address) and port (0: any free port) on
 * loop. Returns 0 and the server in *out; or ASX_E_ARG (not an address),
 * ASX_E_NOMEM or ASX_E_IO (cannot listen there), with a static message in
 * *err. The listener does not keep the loop alive. The process ignores
 * SIGPIPE from then on, so that a client that leaves does not end it. */
int asx_httpd_open(uv_loop_t *loop, const char *host, int port, asx_httpd_cb cb, void *data,
                   asx_httpd **out, const char **err);
/* The port it listens on. */
int asx_httpd_port(const asx_httpd *h);
/* Makes path (exactly, the query aside) the one that takes POST requests,
 * and no other method: with on, they reach the callback; without, the path
 * takes no method at all (405 with an empty Allow, as RFC 9110 answers for
 * a resource that configuration turned off). NULL: no such path (the
 * default), POST refused everywhere. 0, or ASX_E_NOMEM (nothing changed). */
int asx_httpd_set_post(asx_httpd *h, const char *path, int on);
/* Sets the write timeout (ASX_HTTPD_WRITE_TIMEOUT_MS by default), for a
 * test that cannot wait ten seconds; under 10 ms acts as 10. */
void asx_httpd_set_write_timeout(asx_httpd *h, uint64_t ms);
/* Answers req with status, a Content-Type and body (copied). */
void asx_httpd_respond(asx_httpd_req *req, int status, const char *content_type, const char *body,
                      size_t len);
/* Answers req with a text/event-stream that stays open until the client
 * goes or the server closes; a HEAD request gets its headers only, and one
 * past ASX_HTTPD_STREAMS_MAX open streams a 503. */
void asx_httpd_stream(asx_httpd_req *req);
/* Writes len bytes (copied) to every open stream; returns how many streams
 * there are. */
int asx_httpd_broadcast(asx_httpd *h, const char *bytes, size_t len);
/* Bytes dropped so far for streams whose clients read too slowly. */
uint64_t asx_httpd_dropped(const asx_httpd *h);
/* Ends every stream and stops listening; the streams' last bytes go as the
 * loop runs on. For a caller inside a loop callback (an agent, a request),
 * which must not run the loop again. The memory stays, as below. */
void asx_httpd_end(asx_httpd *h);
/* asx_httpd_end, then runs the loop (outside uv_run only: never from a loop
 * callback) until the streams' last bytes are written, for a second at most.
 * Connections still open then are cut when the process exits; the server's
 * memory is kept until then, since they refer to it. From the call on, the
 * callback is never called again: a request that such a connection sends
 * is answered 503. */
void asx_httpd_close(asx_httpd *h);

#endif
