/* The InfluxDB HTTP API, by version (see asx_influx_api.h): what the
 * logger's requests hold, and what a server's answer says.
 */
#include "asx_influx_api.h"

#include <stdlib.h>
#include <string.h>

static char *dupstr(const char *s) {
  return s ? strdup(s) : NULL;
}

static char *concat(const char *a, const char *b, const char *c, const char *d,
                    const char *e, const char *f) {
  const char *parts[6] = {a, b, c, d, e, f};
  size_t n = 1;
  for (int i = 0; i < 6; i++) n += parts[i] ? strlen(parts[i]) : 0;
  char *s = malloc(n);
  if (!s) return NULL;
  s[0] = '\0';
  for (int i = 0; i < 6; i++)
    if (parts[i]) strcat(s, parts[i]);
  return s;
}

/* name as an InfluxQL identifier between double quotes: a quote or a
 * backslash in it is escaped with a backslash (InfluxQL's scanner reads
 * both escapes in a quoted identifier), so that a database called a"b is
 * created as that name instead of making the statement a syntax error.
 * Control characters are refused earlier, with the option's name: a line
 * break ends a quoted identifier. */
static char *influxql_ident(const char *name) {
  size_t n = 3;
  for (const char *p = name; *p; p++) n += (*p == '"' || *p == '\\') ? 2 : 1;
  char *s = malloc(n), *q = s;
  if (!s) return NULL;
  *q++ = '"';
  for (const char *p = name; *p; p++) {
    if (*p == '"' || *p == '\\') *q++ = '\\';
    *q++ = *p;
  }
  *q++ = '"';
  *q = '\0';
  return s;
}

const char *asx__influx_check_opts(const asx_influx_opts *opts) {
  if (!opts || !opts->url || strncmp(opts->url, "http", 4) != 0)
    return "url must start with http:// or https://";
  if (opts->version == ASX_INFLUX_V1) {
    if (!opts->db || !*opts->db) return "1.x needs a database name (db)";
  } else if (opts->version == ASX_INFLUX_V2) {
    if (!opts->org || !*opts->org || !opts->bucket || !*opts->bucket)
      return "2.x needs an org and a bucket";
    if (!opts->token || !*opts->token) return "2.x needs a token";
  } else {
    return "version must be 1 or 2";
  }
  if (opts->batch_size < 0 || opts->max_points < 0 || !(opts->flush_interval >= 0) ||
      !(opts->timeout >= 0) || !(opts->retry_min >= 0) || !(opts->retry_max >= 0))
    return "negative option";
  return NULL;
}

int asx__influx_api_init(asx__influx_api *api, const asx_influx_opts *o,
                         asx_http *http) {
  /* The base URL without a trailing slash, so "http://h:8086/" works. */
  char *base = dupstr(o->url);
  if (!base) return ASX_E_NOMEM;
  size_t n = strlen(base);
  while (n && base[n - 1] == '/') base[--n] = '\0';
  if (o->version == ASX_INFLUX_V1) {
    char *db = asx_http_escape(http, o->db);
    char *ident = influxql_ident(o->db);
    char *q = ident ? concat("CREATE DATABASE ", ident, NULL, NULL, NULL, NULL) : NULL;
    char *qe = q ? asx_http_escape(http, q) : NULL;
    api->write_url = db ? concat(base, "/write?db=", db, "&precision=ns", NULL, NULL) : NULL;
    api->query_url = concat(base, "/query", NULL, NULL, NULL, NULL);
    api->create_body = qe ? concat("q=", qe, NULL, NULL, NULL, NULL) : NULL;
    free(db);
    free(qe);
    free(q);
    free(ident);
  } else {
    char *org = asx_http_escape(http, o->org);
    char *bucket = asx_http_escape(http, o->bucket);
    api->write_url = org && bucket ? concat(base, "/api/v2/write?org=", org, "&bucket=", bucket,
                                            "&precision=ns")
                                   : NULL;
    free(org);
    free(bucket);
  }
  free(base);
  /* curl would send "Expect: 100-continue" for big bodies and wait for the
   * answer; the servers do not need it, so it is switched off. */
  api->write_headers[0] = "Content-Type: text/plain; charset=utf-8";
  api->write_headers[1] = "Expect:";
  if (o->version == ASX_INFLUX_V2) {
    api->auth = concat("Authorization: Token ", o->token, NULL, NULL, NULL, NULL);
    api->write_headers[2] = api->auth;
  }
  api->query_headers[0] = "Content-Type: application/x-www-form-urlencoded";
  if (!api->write_url) return ASX_E_NOMEM;
  if (o->version == ASX_INFLUX_V1 && !(api->query_url && api->create_body)) return ASX_E_NOMEM;
  if (o->version == ASX_INFLUX_V2 && !api->auth) return ASX_E_NOMEM;
  return 0;
}

void asx__influx_api_free(asx__influx_api *api) {
  free(api->write_url);
  free(api->query_url);
  free(api->create_body);
  free(api->auth);
  memset(api, 0, sizeof *api);
}

/* The value of a hex digit, or -1. */
static int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Undoes, in place, the escapes of the JSON string that starts at p (after
 * its opening quote) up to its closing quote, where it ends it; returns p.
 * A \uXXXX becomes its UTF-8 (at most three bytes for the six read), and
 * one that is NUL or half of a surrogate pair U+FFFD, so that the text
 * stays a C string of valid UTF-8. */
static char *json_unescape(char *p) {
  char *q = p, *w = p;
  while (*q && *q != '"') {
    if (*q != '\\' || !q[1]) {
      *w++ = *q++;
      continue;
    }
    q++;
    char c = *q++;
    switch (c) {
    case 'n': *w++ = '\n'; break;
    case 't': *w++ = '\t'; break;
    case 'r': *w++ = '\r'; break;
    case 'b': *w++ = '\b'; break;
    case 'f': *w++ = '\f'; break;
    case 'u': {
      long u = 0;
      int i;
      for (i = 0; i < 4 && hex(q[i]) >= 0; i++) u = u * 16 + hex(q[i]);
      if (i < 4) { /* not an escape after all: kept as written */
        *w++ = 'u';
        break;
      }
      q += 4;
      if (u == 0 || (u >= 0xD800 && u <= 0xDFFF)) u = 0xFFFD;
      if (u < 0x80) {
        *w++ = (char)u;
      } else if (u < 0x800) {
        *w++ = (char)(0xC0 | (u >> 6));
        *w++ = (char)(0x80 | (u & 0x3F));
      } else {
        *w++ = (char)(0xE0 | (u >> 12));
        *w++ = (char)(0x80 | ((u >> 6) & 0x3F));
        *w++ = (char)(0x80 | (u & 0x3F));
      }
      break;
    }
    default: *w++ = c; /* \" \\ \/ */
    }
  }
  *w = '\0';
  return p;
}

const char *asx__influx_server_message(char *body) {
  char *p = strstr(body, "\"error\":\"");
  if (p) return json_unescape(p + 9);
  p = strstr(body, "\"message\":\""); /* 2.x puts it there */
  if (p) return json_unescape(p + 11);
  size_t n = strlen(body);
  while (n && (body[n - 1] == '\n' || body[n - 1] == '\r')) body[--n] = '\0';
  return body;
}
