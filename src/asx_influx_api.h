/* The InfluxDB HTTP API of one server, by version (internal to the
 * InfluxDB logger, asx_influx.c): what its requests hold, and what a
 * server's answer says. 1.x writes to /write?db= after creating the
 * database through /query; 2.x writes to /api/v2/write?org=&bucket= with
 * a token.
 */
#ifndef ASX_INFLUX_API_H
#define ASX_INFLUX_API_H

#include "asx_http.h"
#include "asx_influx.h"

typedef struct asx__influx_api {
  char *write_url, *query_url, *create_body, *auth; /* malloc'd */
  const char *write_headers[4], *query_headers[2];  /* NULL-ended */
} asx__influx_api;

/* Why opts cannot make a logger (a static message), or NULL when they
 * can. */
const char *asx__influx_check_opts(const asx_influx_opts *opts);

/* Fills api for the server o describes (o as checked above); http escapes
 * the URLs' parts. Returns 0, or ASX_E_NOMEM (api then still needs
 * asx__influx_api_free). */
int asx__influx_api_init(asx__influx_api *api, const asx_influx_opts *o,
                         asx_http *http);
void asx__influx_api_free(asx__influx_api *api);

/* The server's message in an answer's body, from a JSON {"error":"..."}
 * (1.x) or {"message":"..."} (2.x), else the raw body without its line
 * ends. It unescapes and cuts body in place, and points into it. */
const char *asx__influx_server_message(char *body);

#endif
